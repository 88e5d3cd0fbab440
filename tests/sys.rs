//! Kernel-backed integration tests of `sysvring::sys`.
//!
//! Every test makes its own objects (`Key::private()` or a key of this file,
//! [`support::key`]) and registers them with a [`support::Guard`], which removes them
//! even when the test panics. Child processes are either re-executions of this binary
//! in a role ([`support::Kid`]) or, where the child must change its credentials, forks
//! that only make syscalls ([`support::fork_child`]).

mod support;

use std::io;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use support::{env, fork_child, fresh, key, role, wait_until, Guard, Kid, WATCHDOG};
use sysvring::sys::{
    current_pid, pid_alive, process_start_time, Key, Limits, MsgQueue, RecvSelect, SemOp, SemSet,
    Shm,
};

/// Top byte of every key this file makes.
const TAG: u8 = 0x2f;

// ---------------------------------------------------------------------------------------
// Keys, IPC_EXCL and missing keys
// ---------------------------------------------------------------------------------------

#[test]
fn ipc_excl_on_an_existing_key_is_already_exists() {
    let mut g = Guard::new();
    let (key, shm) = fresh(TAG, |k| Shm::create(k, 4096, 0o600));
    let shm = g.shm(shm);
    let e = Shm::create(key, 4096, 0o600).unwrap_err();
    assert!(e.is_already_exists(), "{e}");
    assert_eq!(e.call(), "shmget");
    // Without IPC_EXCL the existing segment is returned, and open finds it too.
    assert_eq!(Shm::open_or_create(key, 4096, 0o600).unwrap(), shm);
    assert_eq!(Shm::open(key).unwrap(), shm);

    let sem = g.sem(SemSet::create(key, 2, 0o600).unwrap());
    let e = SemSet::create(key, 2, 0o600).unwrap_err();
    assert!(e.is_already_exists(), "{e}");
    assert_eq!(e.call(), "semget");
    let opened = SemSet::open(key).unwrap();
    assert_eq!(opened.id(), sem.id());
    assert_eq!(opened.len(), 2);

    let q = g.msg(MsgQueue::create(key, 0o600).unwrap());
    let e = MsgQueue::create(key, 0o600).unwrap_err();
    assert!(e.is_already_exists(), "{e}");
    assert_eq!(e.call(), "msgget");
    assert_eq!(MsgQueue::open(key).unwrap(), q);

    // The key is recorded in IPC_STAT.
    assert_eq!(shm.stat().unwrap().perm.key, key.raw());
    assert_eq!(sem.stat().unwrap().perm.key, key.raw());
    assert_eq!(q.stat().unwrap().perm.key, key.raw());
}

#[test]
fn private_keys_always_create_new_objects() {
    let mut g = Guard::new();
    let a = g.shm(Shm::create(Key::private(), 64, 0o600).unwrap());
    let b = g.shm(Shm::create(Key::private(), 64, 0o600).unwrap());
    assert_ne!(a, b);
    assert_eq!(a.stat().unwrap().perm.key, 0);
    let e = Shm::open(Key::private()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(SemSet::open(Key::private()).is_err());
    assert!(MsgQueue::open(Key::private()).is_err());
}

#[test]
fn opening_a_missing_key_is_not_found() {
    let key = key(TAG);
    let e = Shm::open(key).unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.call(), "shmget");
    let e = SemSet::open(key).unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.call(), "semget");
    let e = MsgQueue::open(key).unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.call(), "msgget");
}

#[test]
fn ftok_keys_from_a_file_and_a_missing_path() {
    let path = std::env::temp_dir().join(format!("sysvring-test-ftok-{}", std::process::id()));
    std::fs::write(&path, b"").unwrap();
    let a = Key::from_path(&path, 1);
    let b = Key::from_path(&path, 2);
    let again = Key::from_path(&path, 1);
    std::fs::remove_file(&path).unwrap();
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, again.unwrap());
    assert_ne!(a, b);
    assert!(!a.is_private());

    let e = Key::from_path(&path, 1).unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.call(), "ftok");
    assert!(e.to_string().starts_with("ftok: "), "{e}");
}

// ---------------------------------------------------------------------------------------
// Permissions: a child that drops to nobody (65534)
// ---------------------------------------------------------------------------------------

const NOBODY: u32 = 65534;

/// Drops every credential to `NOBODY`; only syscalls (for a forked child).
fn become_nobody() -> bool {
    // SAFETY: plain credential syscalls; setgroups gets an empty list.
    unsafe {
        libc::setgroups(0, std::ptr::null()) == 0
            && libc::setgid(NOBODY) == 0
            && libc::setuid(NOBODY) == 0
            && libc::geteuid() == NOBODY
    }
}

/// Bits of the forked child's exit code, one per check that failed.
mod perm_bits {
    pub const CREDS: i32 = 1;
    pub const SHM: i32 = 2;
    pub const SEM: i32 = 4;
    pub const MSG: i32 = 8;
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn an_unprivileged_process_is_refused_0600_and_allowed_0606() {
    if !running_as_root() {
        eprintln!("skipped: needs root to drop to uid {NOBODY}");
        return;
    }
    let mut g = Guard::new();
    let closed = key(TAG);
    let open = key(TAG);
    g.shm(Shm::create(closed, 4096, 0o600).unwrap());
    g.sem(SemSet::create(closed, 1, 0o600).unwrap());
    g.msg(MsgQueue::create(closed, 0o600).unwrap());
    g.shm(Shm::create(open, 4096, 0o606).unwrap());
    let open_sem = g.sem(SemSet::create(open, 1, 0o606).unwrap());
    let open_q = g.msg(MsgQueue::create(open, 0o606).unwrap());

    // The child reports each check as a bit of its exit code. It makes only syscalls:
    // the errors it sees carry a raw errno (no allocation after fork).
    let mut refused = fork_child(|| {
        use perm_bits::*;
        if !become_nobody() {
            return CREDS;
        }
        let mut bad = 0;
        // shmget(key, 0, 0) asks for no permission bits, so the kernel's check is at
        // attach (IPC_STAT, then shmat).
        match Shm::open(closed).map(|s| s.attach(false)) {
            Ok(Err(e)) if e.is_permission_denied() && e.raw_os_error() == Some(libc::EACCES) => {}
            _ => bad |= SHM,
        }
        match SemSet::open(closed) {
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => {}
            _ => bad |= SEM,
        }
        match MsgQueue::open(closed).map(|q| (q.send(1, b"x", true), q.stat())) {
            Ok((Err(a), Err(b)))
                if a.raw_os_error() == Some(libc::EACCES)
                    && b.raw_os_error() == Some(libc::EACCES) => {}
            _ => bad |= MSG,
        }
        bad
    });
    assert_eq!(refused.exit_code(), 0, "bits: 1 creds, 2 shm, 4 sem, 8 msg");

    let mut allowed = fork_child(|| {
        use perm_bits::*;
        if !become_nobody() {
            return CREDS;
        }
        let mut bad = 0;
        match Shm::open(open).and_then(|s| s.attach(false)) {
            Ok(a) => a.write(0, b"nobody was here"),
            Err(_) => bad |= SHM,
        }
        match SemSet::open(open).and_then(|s| s.op(&[SemOp::new(0, 1)])) {
            Ok(()) => {}
            Err(_) => bad |= SEM,
        }
        match MsgQueue::open(open).and_then(|q| q.send(7, b"hi", true)) {
            Ok(()) => {}
            Err(_) => bad |= MSG,
        }
        bad
    });
    assert_eq!(allowed.exit_code(), 0, "bits: 1 creds, 2 shm, 4 sem, 8 msg");

    let a = Shm::open(open).unwrap().attach(true).unwrap();
    let mut buf = [0u8; 15];
    a.read(0, &mut buf);
    assert_eq!(&buf, b"nobody was here");
    assert_eq!(open_sem.get_val(0).unwrap(), 1);
    let mut m = [0u8; 8];
    assert_eq!(open_q.recv(&mut m, RecvSelect::Any, true).unwrap(), (7, 2));
    assert_eq!(open_q.stat().unwrap().lspid, allowed.pid());
}

#[test]
fn ipc_set_changes_owner_and_mode() {
    let mut g = Guard::new();
    // Root hands the objects to nobody; anyone else keeps them (an owner who gave them
    // away could no longer IPC_STAT them).
    let owner = if running_as_root() {
        NOBODY
    } else {
        current_uid()
    };
    let shm = g.shm(Shm::create(Key::private(), 64, 0o600).unwrap());
    shm.set(owner, owner, 0o640).unwrap();
    let st = shm.stat().unwrap();
    assert_eq!(
        (st.perm.uid, st.perm.gid, st.perm.mode & 0o777),
        (owner, owner, 0o640)
    );
    assert_eq!(st.perm.cuid, current_uid());

    let q = g.msg(MsgQueue::create(Key::private(), 0o600).unwrap());
    q.set_owner(owner, owner, 0o620).unwrap();
    let st = q.stat().unwrap();
    assert_eq!((st.perm.uid, st.perm.mode & 0o777), (owner, 0o620));
    let e = shm.set(owner, owner, 0o1600).unwrap_err();
    assert_eq!(
        e.kind(),
        io::ErrorKind::InvalidInput,
        "bits beyond 0o777: {e}"
    );
}

fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

// ---------------------------------------------------------------------------------------
// SEM_UNDO
// ---------------------------------------------------------------------------------------

/// Child role: `+1` with `SEM_UNDO` on semaphore 0 and, in the same atomic call, `+1`
/// without undo on semaphore 1 (the parent's proof that the child got there). Then it
/// either returns (normal exit) or sleeps until it is killed.
fn undo_child(role: &str) {
    let sem = SemSet::from_id(env::<i32>("SYSVRING_SEM_ID")).unwrap();
    sem.op(&[SemOp::new(0, 1).undo(), SemOp::new(1, 1)])
        .unwrap();
    if role == "hold" {
        // Bounded: the parent kills us long before this ends.
        thread::sleep(WATCHDOG);
        panic!("undo child was not killed");
    }
}

#[test]
fn sem_undo_is_reverted_when_a_child_exits_normally() {
    if let Some(r) = role() {
        return undo_child(&r);
    }
    let mut g = Guard::new();
    let sem = g.sem(SemSet::create(Key::private(), 2, 0o600).unwrap());
    let mut child = Kid::spawn(
        "sem_undo_is_reverted_when_a_child_exits_normally",
        "exit",
        &[("SYSVRING_SEM_ID", sem.id().to_string())],
    );
    child.wait_ok();
    assert_eq!(sem.get_val(1).unwrap(), 1, "the child made its operation");
    assert_eq!(sem.get_val(0).unwrap(), 0, "exit undid the SEM_UNDO +1");
    assert_eq!(
        sem.get_pid(0).unwrap(),
        child.pid(),
        "the undo is the child's"
    );
}

#[test]
fn sem_undo_is_reverted_when_a_child_is_sigkilled() {
    if let Some(r) = role() {
        return undo_child(&r);
    }
    let mut g = Guard::new();
    let sem = g.sem(SemSet::create(Key::private(), 2, 0o600).unwrap());
    let mut child = Kid::spawn(
        "sem_undo_is_reverted_when_a_child_is_sigkilled",
        "hold",
        &[("SYSVRING_SEM_ID", sem.id().to_string())],
    );
    // Wait for the child's marker, then check its +1 is still in place while it lives.
    sem.op_timeout(&[SemOp::new(1, -1)], WATCHDOG).unwrap();
    assert_eq!(sem.get_val(0).unwrap(), 1);
    assert!(pid_alive(child.pid()));
    child.kill();
    let st = child.wait();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(libc::SIGKILL));
    assert_eq!(
        sem.get_val(0).unwrap(),
        0,
        "the kernel undid the killed child's +1"
    );
}

#[test]
fn sem_undo_binary_lock_in_this_process() {
    let mut g = Guard::new();
    let sem = g.sem(SemSet::create(Key::private(), 1, 0o600).unwrap());
    sem.set_val(0, 1).unwrap();
    // A binary lock taken and given back with undo leaves a zero adjustment.
    sem.op(&[SemOp::new(0, -1).undo()]).unwrap();
    assert_eq!(sem.get_val(0).unwrap(), 0);
    let e = sem.op(&[SemOp::new(0, -1).nowait()]).unwrap_err();
    assert!(e.is_would_block(), "{e}");
    sem.op(&[SemOp::new(0, 1).undo()]).unwrap();
    assert_eq!(sem.get_val(0).unwrap(), 1);
}

#[test]
fn setval_clears_every_processs_undo_adjustment() {
    let mut g = Guard::new();
    let sem = g.sem(SemSet::create(Key::private(), 2, 0o600).unwrap());
    // The child adds 1 with undo, says so on semaphore 1, and waits there for the go.
    let mut child = fork_child(|| {
        if sem
            .op(&[SemOp::new(0, 1).undo(), SemOp::new(1, 1)])
            .is_err()
        {
            return 1;
        }
        match sem.op_timeout(&[SemOp::new(1, -2)], WATCHDOG) {
            Ok(()) => 0,
            Err(_) => 2,
        }
    });
    wait_until("the child's +1", || sem.get_val(1).unwrap() == 1);
    assert_eq!(sem.get_val(0).unwrap(), 1);
    sem.set_val(0, 5).unwrap();
    sem.op(&[SemOp::new(1, 1)]).unwrap();
    assert_eq!(child.exit_code(), 0);
    assert_eq!(
        sem.get_val(0).unwrap(),
        5,
        "SETVAL dropped the child's adjustment"
    );
}

// ---------------------------------------------------------------------------------------
// Message type selection
// ---------------------------------------------------------------------------------------

#[test]
fn msgrcv_selection_any_type_upto_except() {
    let mut g = Guard::new();
    let q = g.msg(MsgQueue::create(Key::private(), 0o600).unwrap());
    let sent: [(i64, &[u8]); 7] = [
        (1, b"a1"),
        (3, b"c1"),
        (2, b"b1"),
        (1, b"a2"),
        (3, b"c2"),
        (2, b"b2"),
        (5, b"e1"),
    ];
    for (t, d) in sent {
        q.send(t, d, true).unwrap();
    }
    assert_eq!(q.stat().unwrap().qnum, 7);
    let mut buf = [0u8; 16];
    let mut take = |sel: RecvSelect| -> (i64, String) {
        let (t, n) = q.recv(&mut buf, sel, true).unwrap();
        (t, String::from_utf8(buf[..n].to_vec()).unwrap())
    };
    // Type(t): the first message of exactly type t, in send order within the type.
    assert_eq!(take(RecvSelect::Type(3)), (3, "c1".into()));
    assert_eq!(take(RecvSelect::Type(3)), (3, "c2".into()));
    // UpTo(t): the lowest type <= t, first of that type (not the first in the queue).
    assert_eq!(take(RecvSelect::UpTo(2)), (1, "a1".into()));
    // Except(t): the first message in the queue whose type is not t.
    assert_eq!(take(RecvSelect::Except(1)), (2, "b1".into()));
    // Any: the first message in the queue, whatever its type.
    assert_eq!(take(RecvSelect::Any), (1, "a2".into()));
    assert_eq!(take(RecvSelect::UpTo(4)), (2, "b2".into()));

    // Only "e1" (type 5) is left: selections that exclude it find nothing.
    for sel in [
        RecvSelect::UpTo(4),
        RecvSelect::Type(9),
        RecvSelect::Except(5),
    ] {
        let e = q.recv(&mut buf, sel, true).unwrap_err();
        assert!(e.is_would_block(), "{sel:?}: {e}");
        assert_eq!(e.call(), "msgrcv");
    }
    assert_eq!(q.recv(&mut buf, RecvSelect::Any, true).unwrap(), (5, 2));
    assert_eq!(&buf[..2], b"e1");
    assert_eq!(q.stat().unwrap().qnum, 0);

    // Types are positive.
    for sel in [
        RecvSelect::Type(0),
        RecvSelect::Type(-1),
        RecvSelect::UpTo(0),
        RecvSelect::Except(-3),
    ] {
        let e = q.recv(&mut buf, sel, true).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{sel:?}");
    }
}

#[test]
fn msgrcv_short_buffer_leaves_the_message() {
    let mut g = Guard::new();
    let q = g.msg(MsgQueue::create(Key::private(), 0o600).unwrap());
    q.send(4, b"0123456789", true).unwrap();
    let mut small = [0u8; 4];
    let e = q.recv(&mut small, RecvSelect::Any, true).unwrap_err();
    assert_eq!(e.call(), "msgrcv");
    assert_eq!(q.stat().unwrap().qnum, 1, "never truncated silently");
    let mut big = [0u8; 10];
    assert_eq!(
        q.recv(&mut big, RecvSelect::Type(4), true).unwrap(),
        (4, 10)
    );
    assert_eq!(&big, b"0123456789");
}

#[test]
fn a_blocked_msgsnd_waits_for_room() {
    let mut g = Guard::new();
    let q = g.msg(MsgQueue::create(Key::private(), 0o600).unwrap());
    q.set_qbytes(16).unwrap();
    q.send(1, &[1u8; 16], true).unwrap();
    let e = q.send(1, &[2u8; 8], true).unwrap_err();
    assert!(e.is_would_block(), "{e}");
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || tx.send(q.send(1, &[3u8; 8], false)).unwrap());
    // The sender is blocked until we make room.
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    let mut buf = [0u8; 16];
    assert_eq!(q.recv(&mut buf, RecvSelect::Any, true).unwrap(), (1, 16));
    rx.recv_timeout(WATCHDOG).expect("watchdog").unwrap();
    t.join().unwrap();
    assert_eq!(q.recv(&mut buf, RecvSelect::Any, true).unwrap(), (1, 8));
}

// ---------------------------------------------------------------------------------------
// Attachments across processes
// ---------------------------------------------------------------------------------------

/// Child role: attach, write our pid into our slot, report in on semaphore 0, wait on
/// semaphore 1 for the parent's go, detach and exit.
fn nattch_child() {
    let shm = Shm::from_id(env::<i32>("SYSVRING_SHM_ID"));
    let sem = SemSet::from_id(env::<i32>("SYSVRING_SEM_ID")).unwrap();
    let slot = env::<i32>("SYSVRING_SLOT") as usize;
    let a = shm.attach(false).unwrap();
    a.write(slot * 4, &current_pid().to_ne_bytes());
    sem.op(&[SemOp::new(0, 1)]).unwrap();
    sem.op_timeout(&[SemOp::new(1, -1)], WATCHDOG).unwrap();
    drop(a);
}

#[test]
fn nattch_counts_attachments_of_several_processes() {
    if role().is_some() {
        return nattch_child();
    }
    let mut g = Guard::new();
    let shm = g.shm(Shm::create(Key::private(), 4096, 0o600).unwrap());
    let sem = g.sem(SemSet::create(Key::private(), 2, 0o600).unwrap());
    assert_eq!(shm.stat().unwrap().nattch, 0);

    let mut children: Vec<_> = (0..3)
        .map(|slot| {
            Kid::spawn(
                "nattch_counts_attachments_of_several_processes",
                "attach",
                &[
                    ("SYSVRING_SHM_ID", shm.id().to_string()),
                    ("SYSVRING_SEM_ID", sem.id().to_string()),
                    ("SYSVRING_SLOT", slot.to_string()),
                ],
            )
        })
        .collect();
    // All three have attached and now wait on semaphore 1.
    sem.op_timeout(&[SemOp::new(0, -3)], WATCHDOG).unwrap();
    wait_until("three waiters on semaphore 1", || {
        sem.get_ncnt(1).unwrap() == 3
    });
    // The counts are awaited, not asserted once: other tests of this binary fork
    // (to spawn their children) while we hold an attachment, and a forked child holds
    // a copy of it until it execs.
    let nattch = || shm.stat().unwrap().nattch;
    wait_until("three attachments", || nattch() == 3);
    let mine = shm.attach(true).unwrap();
    wait_until("four attachments", || nattch() == 4);
    for (slot, c) in children.iter().enumerate() {
        let mut pid = [0u8; 4];
        mine.read(slot * 4, &mut pid);
        assert_eq!(i32::from_ne_bytes(pid), c.pid());
    }
    drop(mine);
    wait_until("ours detached", || nattch() == 3);

    sem.op(&[SemOp::new(1, 3)]).unwrap();
    for c in &mut children {
        c.wait_ok();
    }
    wait_until("every child detached", || nattch() == 0);
    // The last detach was a child's exit (or, if another test forked while we were
    // attached, that fork's exec): never ours, never nobody.
    let st = shm.stat().unwrap();
    assert!(
        st.lpid != 0 && st.lpid != std::process::id() as i32,
        "{st:?}"
    );
}

#[test]
fn a_removed_segment_lives_until_its_last_detach() {
    let (_, shm) = fresh(TAG, |k| Shm::create(k, 4096, 0o600));
    let mut g = Guard::new();
    g.shm(shm);
    let a = shm.attach(false).unwrap();
    a.write(0, b"still here");
    shm.remove().unwrap();
    let st = shm.stat().unwrap();
    assert!(st.is_marked_for_removal());
    assert_eq!(st.perm.key, 0, "the key is freed at once");
    let mut buf = [0u8; 10];
    a.read(0, &mut buf);
    assert_eq!(&buf, b"still here");
    drop(a);
    // Awaited: a child that another test of this binary forks while we are attached
    // holds a copy of the attachment until it execs.
    wait_until("the last detach destroys it", || {
        shm.stat().is_err_and(|e| e.is_removed())
    });
}

#[test]
fn read_only_attachment_and_bounds() {
    let mut g = Guard::new();
    let shm = g.shm(Shm::create(Key::private(), 100, 0o600).unwrap());
    let ro = shm.attach(true).unwrap();
    assert!(ro.is_read_only());
    assert_eq!(ro.len(), 100);
    assert_eq!(ro.shm(), shm);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ro.write(0, b"x")));
    assert!(
        r.is_err(),
        "writing through SHM_RDONLY panics instead of faulting"
    );
    let rw = shm.attach(false).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rw.write(99, b"xy")));
    assert!(r.is_err(), "out-of-bounds write panics");
    let mut buf = [0u8; 2];
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rw.read(usize::MAX, &mut buf)
    }));
    assert!(r.is_err(), "overflowing read panics");
}

// ---------------------------------------------------------------------------------------
// Removal under a blocked waiter (EIDRM), timeouts
// ---------------------------------------------------------------------------------------

/// Polls until thread `tid` of this process is asleep (state `S` in /proc).
fn wait_until_sleeping(tid: i32) {
    let path = format!("/proc/self/task/{tid}/stat");
    wait_until("the waiter to block", || {
        std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, r)| r.trim_start().starts_with('S'))
            })
            .unwrap_or(false)
    });
}

fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

#[test]
fn a_thread_blocked_in_semop_sees_removal() {
    let mut g = Guard::new();
    let sem = g.sem(SemSet::create(Key::private(), 1, 0o600).unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(sem.op(&[SemOp::new(0, -1)])).unwrap());
    wait_until("the thread to wait on the semaphore", || {
        sem.get_ncnt(0).unwrap() == 1
    });
    sem.remove().unwrap();
    let e = rx.recv_timeout(WATCHDOG).expect("watchdog").unwrap_err();
    assert!(e.is_removed(), "{e}");
    assert_eq!(e.raw_os_error(), Some(libc::EIDRM), "{e}");
    assert_eq!(e.call(), "semop");
}

#[test]
fn a_thread_blocked_in_semtimedop_sees_removal() {
    let mut g = Guard::new();
    let sem = g.sem(SemSet::create(Key::private(), 1, 0o600).unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        tx.send(sem.op_timeout(&[SemOp::new(0, -1)], WATCHDOG))
            .unwrap()
    });
    wait_until("the thread to wait on the semaphore", || {
        sem.get_ncnt(0).unwrap() == 1
    });
    sem.remove().unwrap();
    let e = rx.recv_timeout(WATCHDOG).expect("watchdog").unwrap_err();
    assert!(e.is_removed(), "{e}");
    assert!(!e.is_timeout(), "{e}");
}

#[test]
fn a_thread_blocked_in_msgrcv_sees_removal() {
    let mut g = Guard::new();
    let q = g.msg(MsgQueue::create(Key::private(), 0o600).unwrap());
    let (tid_tx, tid_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        tid_tx.send(gettid()).unwrap();
        let mut buf = [0u8; 8];
        tx.send(q.recv(&mut buf, RecvSelect::Any, false)).unwrap();
    });
    wait_until_sleeping(tid_rx.recv_timeout(WATCHDOG).expect("watchdog"));
    q.remove().unwrap();
    let e = rx.recv_timeout(WATCHDOG).expect("watchdog").unwrap_err();
    assert!(e.is_removed(), "{e}");
    assert_eq!(e.call(), "msgrcv");
}

#[test]
fn a_child_blocked_in_msgrcv_or_semop_sees_removal() {
    let mut g = Guard::new();
    let q = g.msg(MsgQueue::create(Key::private(), 0o600).unwrap());
    let sem = g.sem(SemSet::create(Key::private(), 2, 0o600).unwrap());
    // The child announces itself on semaphore 1, then blocks in msgrcv; after that
    // fails, it blocks on semaphore 0. Exit code 0 means it saw removal both times.
    let mut child = fork_child(|| {
        if sem.op(&[SemOp::new(1, 1)]).is_err() {
            return 1;
        }
        let mut buf = [0u8; 8];
        match q.recv(&mut buf, RecvSelect::Any, false) {
            Err(e) if e.is_removed() => {}
            _ => return 2,
        }
        match sem.op(&[SemOp::new(0, -1)]) {
            Err(e) if e.raw_os_error() == Some(libc::EIDRM) => 0,
            _ => 3,
        }
    });
    sem.op_timeout(&[SemOp::new(1, -1)], WATCHDOG).unwrap();
    let pid = child.pid();
    wait_until("the child to block in msgrcv", || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, r)| r.trim_start().starts_with('S'))
            })
            .unwrap_or(false)
    });
    q.remove().unwrap();
    wait_until("the child to wait on the semaphore", || {
        sem.get_ncnt(0).unwrap() == 1
    });
    sem.remove().unwrap();
    assert_eq!(child.exit_code(), 0);
}

#[test]
fn op_timeout_times_out() {
    let mut g = Guard::new();
    let sem = g.sem(SemSet::create(Key::private(), 1, 0o600).unwrap());
    let t = Duration::from_millis(50);
    let start = Instant::now();
    let e = sem.op_timeout(&[SemOp::new(0, -1)], t).unwrap_err();
    assert!(start.elapsed() >= t, "returned before the timeout");
    assert!(e.is_timeout(), "{e}");
    assert!(!e.is_would_block(), "{e}");
    assert_eq!(e.call(), "semtimedop");
    // Zero timeout: an immediate poll.
    assert!(sem
        .op_timeout(&[SemOp::new(0, -1)], Duration::ZERO)
        .unwrap_err()
        .is_timeout());
    // With IPC_NOWAIT it is a would-block, not a timeout.
    let e = sem
        .op_timeout(&[SemOp::new(0, -1).nowait()], t)
        .unwrap_err();
    assert!(e.is_would_block(), "{e}");
    // And it succeeds at once when it can.
    sem.op(&[SemOp::new(0, 2)]).unwrap();
    sem.op_timeout(&[SemOp::new(0, -2)], t).unwrap();
    assert_eq!(sem.get_val(0).unwrap(), 0);
}

#[test]
fn op_timeout_is_woken_by_a_post() {
    let mut g = Guard::new();
    let sem = g.sem(SemSet::create(Key::private(), 1, 0o600).unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        tx.send(sem.op_timeout(&[SemOp::new(0, -1)], WATCHDOG))
            .unwrap()
    });
    wait_until("the waiter", || sem.get_ncnt(0).unwrap() == 1);
    sem.op(&[SemOp::new(0, 1)]).unwrap();
    rx.recv_timeout(WATCHDOG).expect("watchdog").unwrap();
    assert_eq!(sem.get_val(0).unwrap(), 0);
}

#[test]
fn semop_applies_all_operations_or_none() {
    let mut g = Guard::new();
    let sem = g.sem(SemSet::create(Key::private(), 2, 0o600).unwrap());
    sem.set_all(&[1, 0]).unwrap();
    let e = sem
        .op(&[SemOp::new(0, -1).nowait(), SemOp::new(1, -1).nowait()])
        .unwrap_err();
    assert!(e.is_would_block(), "{e}");
    assert_eq!(sem.get_all().unwrap(), vec![1, 0], "nothing was applied");
    // Wait-for-zero on semaphore 1 succeeds, together with taking semaphore 0.
    sem.op(&[SemOp::new(0, -1), SemOp::new(1, 0)]).unwrap();
    assert_eq!(sem.get_all().unwrap(), vec![0, 0]);
}

// ---------------------------------------------------------------------------------------
// Bad input and removed objects give clear errors
// ---------------------------------------------------------------------------------------

#[test]
fn bad_sizes_are_clear_errors() {
    let e = Shm::create(Key::private(), 0, 0o600).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    assert_eq!(e.call(), "shmget");
    assert!(e.to_string().contains("size"), "{e}");

    let shmmax = Limits::read().unwrap().shmmax;
    if let Some(size) = shmmax.checked_add(1).and_then(|s| usize::try_from(s).ok()) {
        let e = Shm::create(Key::private(), size, 0o600).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
        assert_eq!(e.call(), "shmget");
    }

    // An existing segment opened for more than its size.
    let mut g = Guard::new();
    let (key, shm) = fresh(TAG, |k| Shm::create(k, 4096, 0o600));
    g.shm(shm);
    let e = Shm::open_or_create(key, 8192, 0o600).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");

    let e = SemSet::create(Key::private(), 0, 0o600).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    assert_eq!(e.call(), "semget");

    for mode in [0o1000, 0o4600, 0o10000] {
        assert_eq!(
            Shm::create(Key::private(), 64, mode).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(SemSet::create(Key::private(), 1, mode).is_err());
        assert!(MsgQueue::create(Key::private(), mode).is_err());
    }
}

#[test]
fn ftok_with_a_zero_project_id_is_refused() {
    let e = Key::from_path("/", 0).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(e.call(), "ftok");
    assert!(Key::from_path("/", 0x300).is_err(), "low 8 bits are 0");
    assert!(Key::from_path("/tmp\0x", 1).is_err(), "NUL in the path");
}

#[test]
fn semaphore_index_out_of_range_is_a_clear_error() {
    let mut g = Guard::new();
    let sem = g.sem(SemSet::create(Key::private(), 3, 0o600).unwrap());
    for e in [
        sem.get_val(3).unwrap_err(),
        sem.set_val(3, 1).unwrap_err(),
        sem.get_ncnt(u16::MAX).unwrap_err(),
        sem.op(&[SemOp::new(0, 1), SemOp::new(3, 1)]).unwrap_err(),
        sem.op_timeout(&[SemOp::new(9, -1)], WATCHDOG).unwrap_err(),
    ] {
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("out of range"), "{e}");
    }
    assert_eq!(
        sem.get_val(0).unwrap(),
        0,
        "the valid op of a bad call was not applied"
    );
    assert_eq!(sem.op(&[]).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    assert!(sem.op(&[SemOp::new(0, 0); 33]).is_err());
    assert_eq!(
        sem.set_all(&[1, 2]).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    let e = sem.set_val(0, 32768).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ERANGE), "{e}");
    sem.set_val(0, 32767).unwrap();
    let e = sem.op(&[SemOp::new(0, 1)]).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ERANGE), "SEMVMX: {e}");
}

#[test]
fn a_message_longer_than_msgmax_is_a_clear_error() {
    let mut g = Guard::new();
    let q = g.msg(MsgQueue::create(Key::private(), 0o600).unwrap());
    let msgmax = Limits::read().unwrap().msgmax as usize;
    let e = q.send(1, &vec![0u8; msgmax + 1], true).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
    assert!(!e.is_removed(), "{e}");
    assert_eq!(e.call(), "msgsnd");
    // Exactly msgmax fits when the queue's budget allows it.
    if q.stat().unwrap().qbytes >= msgmax as u64 {
        q.send(1, &vec![7u8; msgmax], true).unwrap();
        let mut buf = vec![0u8; msgmax];
        assert_eq!(
            q.recv(&mut buf, RecvSelect::Any, true).unwrap(),
            (1, msgmax)
        );
    }
    for t in [0, -5] {
        let e = q.send(t, b"x", true).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    }
}

#[test]
fn operations_on_removed_objects_report_removal() {
    let shm = Shm::create(Key::private(), 4096, 0o600).unwrap();
    let sem = SemSet::create(Key::private(), 1, 0o600).unwrap();
    let q = MsgQueue::create(Key::private(), 0o600).unwrap();
    let mut g = Guard::new();
    g.shm(shm);
    g.sem(sem);
    g.msg(q);
    shm.remove().unwrap();
    sem.remove().unwrap();
    q.remove().unwrap();

    let mut buf = [0u8; 4];
    let errors = [
        shm.attach(false).unwrap_err(),
        shm.stat().unwrap_err(),
        shm.remove().unwrap_err(),
        sem.op(&[SemOp::new(0, 1)]).unwrap_err(),
        sem.op_timeout(&[SemOp::new(0, -1)], WATCHDOG).unwrap_err(),
        sem.get_val(0).unwrap_err(),
        sem.stat().unwrap_err(),
        sem.remove().unwrap_err(),
        q.send(1, b"x", true).unwrap_err(),
        q.recv(&mut buf, RecvSelect::Any, false).unwrap_err(),
        q.stat().unwrap_err(),
        q.remove().unwrap_err(),
    ];
    for e in errors {
        assert!(e.is_removed(), "{e}");
        assert!(!e.is_timeout() && !e.is_would_block(), "{e}");
        assert!(e.raw_os_error().is_some(), "{e}");
        // The message names the call.
        assert!(e.to_string().starts_with(e.call()), "{e}");
    }
    assert!(SemSet::from_id(sem.id()).unwrap_err().is_removed());
}

#[test]
fn sys_errors_convert_into_io_errors() {
    let e = SemSet::open(key(TAG)).unwrap_err();
    let io: io::Error = e.into();
    assert_eq!(io.kind(), io::ErrorKind::NotFound);
    assert_eq!(io.raw_os_error(), Some(libc::ENOENT));
    let e = Shm::create(Key::private(), 0, 0o600).unwrap_err();
    let io: io::Error = e.into();
    assert_eq!(io.kind(), io::ErrorKind::InvalidInput);
    assert!(io.to_string().contains("shmget"), "{io}");
}

// ---------------------------------------------------------------------------------------
// Process identity
// ---------------------------------------------------------------------------------------

#[test]
fn a_dead_child_is_not_alive_and_has_no_start_time() {
    let mut child = fork_child(|| 0);
    let pid = child.pid();
    assert_eq!(child.exit_code(), 0);
    assert!(!pid_alive(pid), "a reaped child is gone");
    assert_eq!(process_start_time(pid), None);
    assert!(pid_alive(current_pid()));
    assert_eq!(current_pid(), std::process::id() as i32);
    assert!(process_start_time(current_pid()).is_some());
}

#[test]
fn unique_keys_are_distinct_and_listed_in_proc() {
    let a = key(TAG);
    let b = key(TAG);
    assert_ne!(a, b);
    assert!(!a.is_private() && a.raw() > 0);
    // A scratch object with the key is visible in /proc/sysvipc while it exists.
    let mut g = Guard::new();
    let q = g.msg(MsgQueue::create(a, 0o600).unwrap());
    assert!(support::proc_sysvipc()
        .iter()
        .any(|o| o.kind == "msg" && o.key == a.raw() && o.id == q.id()));
    drop(g);
    assert!(!support::proc_sysvipc().iter().any(|o| o.key == a.raw()));
}
