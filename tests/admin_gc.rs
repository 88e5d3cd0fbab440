//! The library's garbage collection after crashes (`sysvring::admin`: `list`, `gc`,
//! `remove`) with real processes and real `SIGKILL`:
//!
//! - [`every_user_killed_then_gc_finds_and_removes_the_channel`]: creator, sender and
//!   receiver all killed; `admin` sees the channel unused and removes it (only it),
//!   never a foreign object;
//! - [`admin_counts_every_attached_process_and_gc_spares_an_open_channel`]: a channel
//!   this process holds open is in use, whoever created it;
//! - [`gc_leaves_a_foreign_zeroed_semaphore_set_alone`]: a regression guard.
//!
//! The real, host-wide `gc` (and the CLI's `gc`) runs in `cli/tests/gc.rs`, alone in
//! a private IPC namespace: here `gc` is only ever a dry run, and removal is per
//! channel (`admin::remove`), so tests running in parallel are never disturbed.
//!
//! This test binary re-executes itself in a role (`child_*` tests, which return at
//! once in a normal run). Hygiene: a channel created by a child is guarded by a
//! [`Guard`] (`listed_at`), foreign objects by theirs; children are [`Kid`]s, killed
//! and reaped on drop. Every wait has a watchdog.

#[macro_use]
mod support;

use std::collections::HashSet;
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use support::{
    env, env_key, env_path, exit_child, fresh, key, path_env, proc_sysvipc, role, wait_file, Guard,
    Kid, Msg, TempDir, WATCHDOG,
};
use sysvring::admin::{self, ChannelInfo};
use sysvring::sys::{MsgQueue, SemSet, Shm};
use sysvring::{Builder, Error, Key, Transport};

/// Top byte of every key this file makes.
const TAG: u8 = 0x3b;

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::ShmRing => "shm",
        Transport::MessageQueue => "msgq",
        Transport::Auto => "auto",
    }
}

fn transport_from(s: &str) -> Transport {
    match s {
        "shm" => Transport::ShmRing,
        "msgq" => Transport::MessageQueue,
        _ => panic!("transport {s}"),
    }
}

// -------------------------------------------------------------------------------------
// Every user killed: admin sees the channel unused and removes it (only it)
// -------------------------------------------------------------------------------------

/// Child: creates the channel at `KEY` on transport `T` (exit code 17 when the key
/// is taken), connects a sender, sends 3 messages, creates `READY` and sleeps until
/// killed. `keep()` is not needed: a killed process runs no destructor.
#[test]
fn child_gc_creator() {
    if role().as_deref() != Some("gc_creator") {
        return;
    }
    let t = transport_from(&env::<String>("T"));
    let ch = match Builder::<Msg>::new(env_key())
        .capacity(16)
        .transport(t)
        .create()
    {
        Ok(ch) => ch,
        Err(Error::AlreadyExists) => exit_child(17),
        Err(e) => panic!("create: {e}"),
    };
    let tx = ch.sender().expect("sender");
    for i in 0..3 {
        tx.send(Msg::new(i)).expect("send");
    }
    fs::write(env_path("READY"), b"").expect("write READY");
    thread::sleep(WATCHDOG * 2);
}

/// Child: opens the channel at `KEY`, connects a receiver, receives one message,
/// creates `READY` and sleeps until killed.
#[test]
fn child_gc_receiver() {
    if role().as_deref() != Some("gc_receiver") {
        return;
    }
    let ch = Builder::<Msg>::new(env_key()).open().expect("open");
    let rx = ch.receiver().expect("receiver");
    let m = rx.recv_timeout(WATCHDOG).expect("recv");
    assert_eq!(m, Msg::new(0));
    fs::write(env_path("READY"), b"").expect("write READY");
    thread::sleep(WATCHDOG * 2);
}

/// One row of `/proc/sysvipc/{shm,sem,msg}`: (kind, key, id).
type IpcRow = (&'static str, i32, i32);

fn sysvipc() -> HashSet<IpcRow> {
    proc_sysvipc()
        .into_iter()
        .map(|o| (o.kind, o.key, o.id))
        .collect()
}

/// The rows of a channel's objects.
fn rows_of(i: &ChannelInfo) -> Vec<(&'static str, i32)> {
    let mut v = Vec::new();
    v.extend(i.shm_id.map(|id| ("shm", id)));
    v.extend(i.sem_id.map(|id| ("sem", id)));
    v.extend(i.msg_id.map(|id| ("msg", id)));
    v
}

fn listed(k: Key) -> Option<ChannelInfo> {
    admin::list()
        .expect("admin::list")
        .into_iter()
        .find(|i| i.key == k)
}

/// Objects that are not sysvring channels, at keys of this file: gc must leave them
/// alone. Removed on drop (by its guard).
struct Foreign {
    shm: Shm,
    sem: SemSet,
    msg: MsgQueue,
    _guard: Guard,
}

impl Foreign {
    fn create() -> Foreign {
        let mut g = Guard::new();
        let shm = g.shm(fresh(TAG, |k| Shm::create(k, 4096, 0o600)).1);
        let sem = g.sem(fresh(TAG, |k| SemSet::create(k, 3, 0o600)).1);
        let msg = g.msg(fresh(TAG, |k| MsgQueue::create(k, 0o600)).1);
        Foreign {
            shm,
            sem,
            msg,
            _guard: g,
        }
    }

    fn rows(&self) -> Vec<(&'static str, i32)> {
        vec![
            ("shm", self.shm.id()),
            ("sem", self.sem.id()),
            ("msg", self.msg.id()),
        ]
    }

    fn all_there(&self) -> bool {
        self.shm.stat().is_ok() && self.sem.stat().is_ok() && self.msg.stat().is_ok()
    }
}

fn present(rows: &HashSet<IpcRow>, kind: &str, id: i32) -> bool {
    rows.iter().any(|&(k, _, i)| k == kind && i == id)
}

/// The creator (a child, also the sender) and the receiver (another child) of a
/// channel are both SIGKILLed. Before: `admin::list()` shows 1 sender and 1 receiver.
/// After: 0 and 0, nothing attached, creator dead, so not in use; `admin::gc(true, true)`
/// (dry run) lists it, and none of the foreign objects (a raw segment, a raw
/// semaphore set and a raw queue at other keys). `admin` has no gc filtered by key,
/// and the real `gc(false)` removes *every* unused sysvring object on the host, which
/// would break tests running in parallel, so the channel is removed with
/// `admin::remove(&info, false)` (what gc does per channel); the real gc is exercised
/// by `cli/tests/gc.rs`, alone in its binary. Afterwards none of the
/// channel's objects is in `/proc/sysvipc`, the foreign ones are, and once they are
/// removed too nothing this test made is left.
fn every_user_killed_then_gc_finds_and_removes_the_channel(t: Transport) {
    if role().is_some() {
        return;
    }
    let dir = TempDir::new("crash-gc");
    let before = sysvipc();
    let foreign = Foreign::create();
    let ready = dir.path().join("creator.ready");
    let (mut creator, k) = (0..64)
        .find_map(|_| {
            let k = key(TAG);
            let mut kid = Kid::spawn(
                "child_gc_creator",
                "gc_creator",
                &[
                    ("KEY", k.raw().to_string()),
                    ("T", transport_name(t).to_string()),
                    path_env("READY", &ready),
                ],
            );
            let deadline = Instant::now() + WATCHDOG;
            loop {
                if ready.exists() {
                    return Some((kid, k));
                }
                if let Some(st) = kid.exited() {
                    assert_eq!(st.code(), Some(17), "creator failed:\n{}", kid.output());
                    return None;
                }
                assert!(Instant::now() < deadline, "watchdog: creator");
                thread::sleep(Duration::from_millis(1));
            }
        })
        .expect("a free key for the channel");
    let mut leftovers = Guard::new();
    leftovers.listed_at(k);
    let rready = dir.path().join("receiver.ready");
    let mut receiver = Kid::spawn(
        "child_gc_receiver",
        "gc_receiver",
        &[("KEY", k.raw().to_string()), path_env("READY", &rready)],
    );
    wait_file(&mut receiver, &rready);

    let live = listed(k).expect("the channel is listed");
    assert_eq!(live.transport, t);
    assert_eq!((live.senders, live.receivers), (1, 1), "{t:?} live counts");
    assert!(live.in_use() && live.creator_alive, "{t:?}: {live:?}");
    if t == Transport::ShmRing {
        // Exactly 2 (creator and receiver): see
        // `admin_counts_every_attached_process_and_gc_spares_an_open_channel`.
        assert!(
            live.attached >= 1,
            "creator and receiver attached: {live:?}"
        );
    }
    let dry = admin::gc(true, true).expect("gc dry run").removed;
    assert!(
        !dry.iter().any(|i| i.key == k),
        "{t:?}: gc would remove a channel in use"
    );

    creator.kill();
    receiver.kill();

    let dead = listed(k).expect("the channel is still listed after the kill");
    assert_eq!(
        (dead.senders, dead.receivers, dead.attached),
        (0, 0, 0),
        "{t:?}: the kernel undid the killed users' presence: {dead:?}"
    );
    assert!(!dead.creator_alive && !dead.in_use(), "{t:?}: {dead:?}");
    assert_eq!(dead.len, 2, "{t:?}: 3 sent, 1 received");
    let dry = admin::gc(true, true).expect("gc dry run").removed;
    let mine = dry
        .iter()
        .find(|i| i.key == k)
        .unwrap_or_else(|| panic!("{t:?}: gc(dry run) does not list the dead channel"));
    assert_eq!(rows_of(mine), rows_of(&dead));
    for i in &dry {
        for row in foreign.rows() {
            assert!(
                !rows_of(i).contains(&row),
                "gc would remove a foreign object {row:?}: {i:?}"
            );
        }
    }
    admin::remove(&dead, false).expect("remove the unused channel");

    assert!(listed(k).is_none(), "{t:?}: still listed after removal");
    let now = sysvipc();
    for (kind, id) in rows_of(&dead) {
        assert!(!present(&now, kind, id), "{t:?}: {kind} {id} left behind");
    }
    assert!(
        now.iter().all(|&(_, key, _)| key != k.raw()),
        "{t:?}: key left"
    );
    assert!(foreign.all_there(), "a foreign object did not survive");
    let foreign_rows = foreign.rows();
    drop(foreign);
    let after = sysvipc();
    // Others' tests may come and go meanwhile: compare what this test made.
    for &(kind, key, id) in after.difference(&before) {
        let ours = foreign_rows.contains(&(kind, id))
            || rows_of(&dead).contains(&(kind, id))
            || key == k.raw();
        assert!(!ours, "{t:?}: {kind} {id} (key {key:#x}) left behind");
    }
    eprintln!(
        "{t:?}: /proc/sysvipc had {} objects before, {} after",
        before.len(),
        after.len()
    );
}
// The real, host-wide `gc` runs in cli/tests/gc.rs, alone in its binary.

// -------------------------------------------------------------------------------------
// A channel in use is never collected; foreign objects never are
// -------------------------------------------------------------------------------------

/// Child: creates the channel at `KEY` (a ring), gives up ownership (`keep`) and
/// exits, leaving it to whoever opens it.
#[test]
fn child_keep_creator() {
    if role().as_deref() != Some("keep_creator") {
        return;
    }
    let ch = match Builder::<Msg>::new(env_key())
        .transport(Transport::ShmRing)
        .create()
    {
        Ok(ch) => ch,
        Err(Error::AlreadyExists) => exit_child(17),
        Err(e) => panic!("create: {e}"),
    };
    ch.keep();
}

/// `admin::list()` counts the processes attached to a ring segment: one process (this
/// one) holding an open `Channel` handle, whose creator has exited, is `attached: 1`
/// and `in_use()`, so `gc` must not list it. (`inspect_shm` takes `IPC_STAT` before
/// its own attach, then subtracts its own attachment from that count.)
#[test]
fn admin_counts_every_attached_process_and_gc_spares_an_open_channel() {
    if role().is_some() {
        return;
    }
    let k = (0..64)
        .map(|_| key(TAG))
        .find(|&k| {
            let mut kid = Kid::spawn(
                "child_keep_creator",
                "keep_creator",
                &[("KEY", k.raw().to_string())],
            );
            match kid.wait().code() {
                Some(0) => true,
                Some(17) => false,
                _ => panic!("creator failed:\n{}", kid.output()),
            }
        })
        .expect("a free key");
    let mut leftovers = Guard::new();
    leftovers.listed_at(k);
    let ch = Builder::<Msg>::new(k).open().expect("open");
    let info = listed(k).expect("listed");
    let dry = admin::gc(true, true).expect("gc dry run").removed;
    drop(ch);
    assert_eq!(info.attached, 1, "this process is attached: {info:?}");
    assert!(info.in_use());
    assert!(
        !dry.iter().any(|i| i.key == k),
        "gc would remove a channel this process has open"
    );
}

/// A semaphore set of another program that happens to have as many semaphores as a
/// message-queue channel's header (25), all still 0 as `semget` makes them, is not a
/// sysvring channel: `gc` must not list (remove) it.
#[test]
fn gc_leaves_a_foreign_zeroed_semaphore_set_alone() {
    if role().is_some() {
        return;
    }
    let mut g = Guard::new();
    let set = g.sem(fresh(TAG, |k| SemSet::create(k, 25, 0o600)).1);
    let dry = admin::gc(true, true).expect("gc dry run").removed;
    assert!(
        !dry.iter().any(|i| i.sem_id == Some(set.id())),
        "gc would remove a foreign semaphore set: {:?}",
        dry.iter().find(|i| i.sem_id == Some(set.id()))
    );
}
// -------------------------------------------------------------------------------------
// The cases above that run on both transports
// -------------------------------------------------------------------------------------

per_transport!(every_user_killed_then_gc_finds_and_removes_the_channel);
