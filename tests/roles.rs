//! Roles: connecting a side (`sender()`, `receiver()`). An SPSC channel has one
//! sender and one receiver role, a second is `RoleTaken` and dropping one hands it
//! back; MPMC admits many of each; connecting and disconnecting churn stays within
//! the kernel's `SEM_UNDO` limits; and the role of a SIGKILLed SPSC holder is free
//! at once, even before the killed process is reaped
//! ([`killed_spsc_sender_role_is_taken_over_at_once`]).
//!
//! Every case runs on both transports: one generic body `fn case(t: Transport)`
//! instantiated per transport by `per_transport!` (`shm_ring::*`, `msgq::*`, listed
//! at the end). This test binary re-executes itself in a role (`child_role_taker`,
//! which returns at once in a normal run).
//!
//! Hygiene: every channel is created by the parent (its handle removes the kernel
//! objects, also while unwinding from a failed assertion); children are [`Kid`]s,
//! killed and reaped on drop. Every wait has a watchdog; no assertion is made on how
//! fast anything is.

#[macro_use]
mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;

use support::{
    create_unique, env, env_key, env_path, exit_child, open, path_env, role, wait_until, Kid, Msg,
    TempDir, WATCHDOG,
};
use sysvring::{AnyChannel, Builder, Error, Flavor, Transport, TryRecvError};

/// Top byte of every key this file makes.
const TAG: u8 = 0x3d;

/// A channel of `T` at a fresh key of this file, on transport `t`.
fn make<T: sysvring::Message>(t: Transport, flavor: Flavor, cap: usize) -> AnyChannel<T> {
    create_unique::<T>(TAG, |b| b.transport(t).flavor(flavor).capacity(cap))
}

// -------------------------------------------------------------------------------------
// One SPSC role each, many MPMC sides, churn
// -------------------------------------------------------------------------------------

fn role_taken_for_a_second_spsc_sender_or_receiver(t: Transport) {
    let ch = make::<u64>(t, Flavor::Spsc, 16);
    let other = open::<u64>(ch.key()).unwrap();
    let tx = ch.sender().unwrap();
    let rx = other.receiver().unwrap();
    for c in [&ch, &other] {
        assert!(matches!(c.sender(), Err(Error::RoleTaken)), "{t:?}");
        assert!(matches!(c.receiver(), Err(Error::RoleTaken)), "{t:?}");
    }
    let st = ch.stats();
    assert_eq!((st.senders, st.receivers), (1, 1));
    // Dropping a role hands it back.
    drop(tx);
    drop(rx);
    let tx = other.sender().unwrap();
    let rx = ch.receiver().unwrap();
    tx.send(1).unwrap();
    assert_eq!(rx.recv(), Ok(1));
}

fn mpmc_allows_many_senders_and_receivers(t: Transport) {
    let ch = make::<u64>(t, Flavor::Mpmc, 16);
    let other = open::<u64>(ch.key()).unwrap();
    let txs: Vec<_> = (0..4)
        .map(|i| if i % 2 == 0 { &ch } else { &other }.sender().unwrap())
        .collect();
    let rxs: Vec<_> = (0..4)
        .map(|i| if i % 2 == 0 { &ch } else { &other }.receiver().unwrap())
        .collect();
    let st = ch.stats();
    assert_eq!((st.senders, st.receivers), (4, 4), "{t:?}");
    for (i, tx) in txs.iter().enumerate() {
        tx.send(i as u64).unwrap();
    }
    let mut got: Vec<u64> = rxs.iter().map(|rx| rx.recv().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2, 3]);
}

/// Connecting and disconnecting are balanced `SEM_UNDO` operations: churning far past
/// the kernel's per-process adjustment limit (±32767) keeps working.
fn connect_disconnect_churn_stays_within_sem_undo_limits(t: Transport) {
    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
        let ch = make::<u64>(t, flavor, 2);
        for i in 0..33_000u32 {
            let r = if i % 2 == 0 {
                ch.sender().map(drop)
            } else {
                ch.receiver().map(drop)
            };
            r.unwrap_or_else(|e| panic!("{t:?} {flavor:?}: connect #{i}: {e}"));
        }
        let st = ch.stats();
        assert_eq!((st.senders, st.receivers), (0, 0), "{t:?} {flavor:?}");
        let (tx, rx) = (ch.sender().unwrap(), ch.receiver().unwrap());
        tx.send(1).unwrap();
        assert_eq!(rx.recv(), Ok(1));
    }
}

// -------------------------------------------------------------------------------------
// A killed SPSC sender's (receiver's) role is taken over at once
// -------------------------------------------------------------------------------------

/// `SIGKILL`s a child without reaping it.
fn sigkill(pid: i32) {
    // SAFETY: signalling our own child, not yet reaped (its pid cannot be reused).
    let r = unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
}

/// The state letter of a task (`Z` for a zombie) from its `stat` file, `None` when
/// gone.
fn task_state(stat: &Path) -> Option<char> {
    let s = fs::read_to_string(stat).ok()?;
    s[s.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Whether every thread of process `pid` has exited (zombies or gone): the kernel
/// has then run the process's exit work, `SEM_UNDO` adjustments included, even if
/// the parent has not reaped it yet. (The leader alone turning `Z` is not enough:
/// the other threads may still be exiting, and the undo runs when the last one does.)
fn all_threads_exited(pid: i32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    tasks
        .flatten()
        .all(|t| matches!(task_state(&t.path().join("stat")), Some('Z' | 'X') | None))
}

/// Exit code of a role child that got `RoleTaken`.
const ROLE_TAKEN_EXIT: i32 = 42;

/// Child: opens `KEY` and takes the sender role (`SIDE=send`: then sends messages
/// `FIRST..FIRST+COUNT`) or the receiver role (`SIDE=recv`: receives `COUNT` messages,
/// checking they are `FIRST..`); exits with [`ROLE_TAKEN_EXIT`] on `RoleTaken`. Then
/// creates `READY` and sleeps until killed.
#[test]
fn child_role_taker() {
    if role().as_deref() != Some("role_taker") {
        return;
    }
    let ch = Builder::<Msg>::new(env_key()).open().expect("open");
    let first: u64 = env("FIRST");
    let count: u64 = env("COUNT");
    let taken = |e: Error| -> ! {
        eprintln!("role: {e}");
        exit_child(if matches!(e, Error::RoleTaken) {
            ROLE_TAKEN_EXIT
        } else {
            1
        })
    };
    let side: String = env("SIDE");
    let _keep: Box<dyn std::any::Any> = if side == "send" {
        let tx = ch.sender().unwrap_or_else(|e| taken(e));
        for i in first..first + count {
            tx.send(Msg::new(i)).expect("send");
        }
        Box::new(tx)
    } else {
        let rx = ch.receiver().unwrap_or_else(|e| taken(e));
        for i in first..first + count {
            assert_eq!(rx.recv_timeout(WATCHDOG).expect("recv"), Msg::new(i));
        }
        Box::new(rx)
    };
    fs::write(env_path("READY"), b"").expect("write READY");
    thread::sleep(WATCHDOG * 2);
}

fn spawn_role_taker(
    dir: &TempDir,
    ch: &AnyChannel<Msg>,
    side: &str,
    first: u64,
    count: u64,
    name: &str,
) -> (Kid, PathBuf) {
    let ready = dir.path().join(format!("{name}.ready"));
    let kid = Kid::spawn(
        "child_role_taker",
        "role_taker",
        &[
            ("KEY", ch.key().raw().to_string()),
            ("SIDE", side.to_string()),
            ("FIRST", first.to_string()),
            ("COUNT", count.to_string()),
            path_env("READY", &ready),
        ],
    );
    (kid, ready)
}

/// Waits for a role taker to be ready, failing with a clear message on `RoleTaken`.
fn wait_role(kid: &mut Kid, ready: &Path, what: &str) {
    wait_until(what, || {
        if let Some(st) = kid.exited() {
            assert_ne!(
                st.code(),
                Some(ROLE_TAKEN_EXIT),
                "{what}: RoleTaken, the killed holder's role was not given back:\n{}",
                kid.output()
            );
            panic!("{what}: exited with {st}:\n{}", kid.output());
        }
        ready.exists()
    });
}

/// SIGKILLs `kid` and waits until all its threads have exited, *not* reaping it: the
/// kernel runs the `SEM_UNDO` adjustments in `exit`, before the process becomes a
/// zombie.
fn kill_leave_zombie(kid: &Kid) {
    sigkill(kid.pid());
    wait_until("the killed child becomes a zombie", || {
        all_threads_exited(kid.pid())
    });
}

/// SPSC, both transports: a sender process (holding the exclusive role) is SIGKILLed;
/// a restarted sender process takes the role with its first `sender()` call, no
/// `RoleTaken` and no retry, while the killed one is still an unreaped zombie, and its
/// messages follow the killed one's in order. Then the same for the receiver role
/// (nothing is lost: the killed receiver was idle), and the parent itself takes the
/// sender role at once after the restarted sender is killed too.
fn killed_spsc_sender_role_is_taken_over_at_once(t: Transport) {
    if role().is_some() {
        return;
    }
    let dir = TempDir::new("crash-role");
    let ch = create_unique::<Msg>(TAG, |b| b.capacity(64).flavor(Flavor::Spsc).transport(t));

    // Sender role.
    let rx = ch.receiver().unwrap();
    let (mut a, ready) = spawn_role_taker(&dir, &ch, "send", 0, 5, "sender-a");
    wait_role(&mut a, &ready, "first sender");
    for i in 0..5 {
        assert_eq!(rx.recv_timeout(WATCHDOG), Ok(Msg::new(i)), "{t:?}");
    }
    assert!(matches!(ch.sender(), Err(Error::RoleTaken)), "{t:?}");
    kill_leave_zombie(&a);
    assert_eq!(ch.stats().senders, 0, "{t:?}: presence undone at exit");
    let (mut b, ready) = spawn_role_taker(&dir, &ch, "send", 5, 5, "sender-b");
    wait_role(&mut b, &ready, "restarted sender");
    for i in 5..10 {
        assert_eq!(rx.recv_timeout(WATCHDOG), Ok(Msg::new(i)), "{t:?}");
    }
    b.kill();
    drop(a); // reaps the zombie
    let tx = ch.sender().expect("the parent takes the role at once");

    // Receiver role.
    for i in 0..6 {
        tx.send(Msg::new(i)).unwrap();
    }
    drop(rx);
    let (mut c, ready) = spawn_role_taker(&dir, &ch, "recv", 0, 3, "receiver-c");
    wait_role(&mut c, &ready, "first receiver");
    kill_leave_zombie(&c);
    let (mut d, ready) = spawn_role_taker(&dir, &ch, "recv", 3, 3, "receiver-d");
    wait_role(&mut d, &ready, "restarted receiver");
    d.kill();
    drop(c);
    let rx = ch
        .receiver()
        .expect("the parent takes the receiver role at once");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{t:?}");
}

// -------------------------------------------------------------------------------------
// The cases above that run on both transports
// -------------------------------------------------------------------------------------

per_transport!(
    role_taken_for_a_second_spsc_sender_or_receiver,
    mpmc_allows_many_senders_and_receivers,
    connect_disconnect_churn_stays_within_sem_undo_limits,
    killed_spsc_sender_role_is_taken_over_at_once,
);
