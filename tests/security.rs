//! Permissions and ownership: default mode 0600, group access by `.mode()`, refusal of
//! a key squatted by another user (unless `.trust_owner(uid)`), and the companion
//! objects checked to belong to the segment's creator.
//!
//! Children that act as another user are re-executed copies of this binary that drop
//! to uid/gid 65534 first (the suite runs as root in CI; without root these tests say
//! so and return).

#[macro_use]
mod support;

use support::{create_unique, env, exit_child, key, role, Guard, Kid};
use sysvring::sys::{SemSet, Shm};
use sysvring::{Builder, Error, Flavor, Key, Transport};

const NOBODY: u32 = 65534;

/// Top byte of every key this file makes.
const TAG: u8 = 0x31;

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Drops to `NOBODY`, keeping `extra_group` as a supplementary group.
fn become_nobody(extra_group: Option<u32>) {
    let groups: Vec<libc::gid_t> = extra_group.into_iter().collect();
    // SAFETY: plain credential syscalls; `groups` outlives setgroups.
    let ok = unsafe {
        libc::setgroups(groups.len(), groups.as_ptr()) == 0
            && libc::setgid(NOBODY) == 0
            && libc::setuid(NOBODY) == 0
    };
    assert!(ok, "could not drop to uid {NOBODY}");
}

fn key_from_env() -> Key {
    Key::from_raw(env("SECURITY_KEY"))
}

fn transport_from_env() -> Transport {
    match env::<i32>("SECURITY_TRANSPORT") {
        0 => Transport::ShmRing,
        _ => Transport::MessageQueue,
    }
}

fn transport_code(t: Transport) -> String {
    (if t == Transport::ShmRing { "0" } else { "1" }).to_string()
}

fn default_mode_is_0600_and_never_world_writable(t: Transport) {
    if role().is_some() {
        return;
    }
    let ch = Builder::<u64>::new(Key::private())
        .transport(t)
        .create()
        .unwrap();
    let sem = SemSet::from_id(ch.sem_id()).unwrap().stat().unwrap();
    assert_eq!(sem.perm.mode & 0o777, 0o600, "{t:?} semaphores");
    if let Some(id) = ch.shm_id() {
        assert_eq!(Shm::from_id(id).stat().unwrap().perm.mode & 0o777, 0o600);
    }
    if let Some(id) = ch.msg_id() {
        let q = sysvring::sys::MsgQueue::from_id(id).stat().unwrap();
        assert_eq!(q.perm.mode & 0o777, 0o600);
    }
}

/// The rest of what `default_mode_is_0600_and_never_world_writable` checked once, on
/// the default transport: an explicit `.mode(0o660)` is kept, setuid bits refused.
#[test]
fn explicit_mode_is_kept_and_special_bits_refused() {
    if role().is_some() {
        return;
    }
    let ch = Builder::<u64>::new(Key::private())
        .mode(0o660)
        .create()
        .unwrap();
    let st = Shm::from_id(ch.shm_id().unwrap()).stat().unwrap();
    assert_eq!(st.perm.mode & 0o777, 0o660);
    assert!(Builder::<u64>::new(Key::private())
        .mode(0o4600)
        .create()
        .is_err());
}

/// Child: as nobody, open the channel and report what happened in the exit code:
/// 0 opened and sent, 10 PermissionDenied, 20 anything else.
#[test]
fn child_open_as_nobody() {
    let Some(r) = role() else { return };
    let group = (r == "in-group").then_some(0);
    become_nobody(group);
    let code = match Builder::<u64>::new(key_from_env())
        .open()
        .and_then(|ch| ch.sender())
    {
        Ok(tx) => match tx.try_send(7) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("send: {e:?}");
                20
            }
        },
        Err(Error::PermissionDenied) => 10,
        Err(e) => {
            eprintln!("open: {e}");
            20
        }
    };
    exit_child(code);
}

fn open_as_nobody(key: Key, t: Transport, in_group: bool) -> i32 {
    let envs = [
        ("SECURITY_KEY", key.raw().to_string()),
        ("SECURITY_TRANSPORT", transport_code(t)),
    ];
    let mut c = Kid::spawn(
        "child_open_as_nobody",
        if in_group { "in-group" } else { "outsider" },
        &envs,
    );
    let st = c.wait();
    let out = c.output();
    let code = st.code().unwrap_or(-1);
    assert!(code == 0 || code == 10, "child failed ({st}):\n{out}");
    code
}

fn another_user_is_refused_0600_and_admitted_to_0660_in_the_group(t: Transport) {
    if role().is_some() {
        return;
    }
    if !root() {
        eprintln!("skipped: needs root to drop to uid {NOBODY}");
        return;
    }
    let ch = create_unique::<u64>(TAG, |b| b.transport(t));
    let key = ch.key();
    let _rx = ch.receiver().unwrap();
    assert_eq!(
        open_as_nobody(key, t, true),
        10,
        "{t:?}: 0600 must refuse another user"
    );
    drop(_rx);
    drop(ch);

    let ch = create_unique::<u64>(TAG, |b| b.transport(t).mode(0o660));
    let key = ch.key();
    let rx = ch.receiver().unwrap();
    assert_eq!(
        open_as_nobody(key, t, false),
        10,
        "{t:?}: 0660 refuses outside the group"
    );
    assert_eq!(
        open_as_nobody(key, t, true),
        0,
        "{t:?}: 0660 admits the group"
    );
    assert_eq!(rx.try_recv(), Ok(7));
}

/// Child: as nobody, create a channel at the key with a perfectly valid header and
/// keep it (no removal when the handle goes). It returns normally (it used to call
/// `process::exit` from libtest's test thread, which can SIGSEGV: see
/// `support::exit_child`).
#[test]
fn child_squat_as_nobody() {
    let Some(_) = role() else { return };
    become_nobody(None);
    let ch = Builder::<u64>::new(key_from_env())
        .transport(transport_from_env())
        .flavor(Flavor::Spsc)
        .mode(0o666)
        .create()
        .expect("create as nobody");
    ch.keep();
}

fn a_key_squatted_by_another_user_is_refused_unless_trusted(t: Transport) {
    if role().is_some() {
        return;
    }
    if !root() {
        eprintln!("skipped: needs root to drop to uid {NOBODY}");
        return;
    }
    let key = key(TAG);
    let mut guard = Guard::new();
    let envs = [
        ("SECURITY_KEY", key.raw().to_string()),
        ("SECURITY_TRANSPORT", transport_code(t)),
    ];
    let mut squatter = Kid::spawn("child_squat_as_nobody", "squat", &envs);
    let status = squatter.wait();
    let out = squatter.output();
    // Whatever happens below, the squatter's objects go (also when it failed
    // after making some of them).
    if let Ok(s) = Shm::open(key) {
        guard.shm(s);
    }
    if let Ok(s) = SemSet::open(key) {
        guard.sem(s);
    }
    if !status.success() {
        // The queue of a queue channel is found only through its header.
        if let Ok(Some(id)) = Builder::<u64>::new(key)
            .trust_owner(NOBODY)
            .open()
            .map(|c| c.msg_id())
        {
            guard.msg(sysvring::sys::MsgQueue::from_id(id));
        }
        panic!("{t:?}: squatter failed with {status}:\n{out}");
    }
    let r = Builder::<u64>::new(key).open();
    match r {
        Err(e @ Error::Untrusted { creator_uid }) => {
            assert_eq!(creator_uid, NOBODY, "{t:?}");
            // The message names the uid and the fix.
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("uid {NOBODY}"))
                    && msg.contains(&format!(".trust_owner({NOBODY})")),
                "{t:?}: {msg}"
            );
            let io = std::io::Error::from(e);
            assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);
        }
        r => panic!("{t:?}: squatted key: {r:?}"),
    }
    let ch = Builder::<u64>::new(key)
        .trust_owner(NOBODY)
        .open()
        .expect("trusted owner");
    assert_eq!(ch.transport(), t);
    // The message queue of a queue channel is found through its header.
    if let Some(id) = ch.msg_id() {
        guard.msg(sysvring::sys::MsgQueue::from_id(id));
    }
    ch.remove().unwrap();
}

per_transport!(
    default_mode_is_0600_and_never_world_writable,
    another_user_is_refused_0600_and_admitted_to_0660_in_the_group,
    a_key_squatted_by_another_user_is_refused_unless_trusted,
);
