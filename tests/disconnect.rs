//! Disconnection: when `send`/`recv` (blocking or not) return `Disconnected`, and
//! when they must not.
//!
//! - A peer process killed with `SIGKILL`: a side blocked in the kernel returns
//!   `Disconnected` once its only peer is killed (`killed_*_disconnects_a_blocked_*`;
//!   the delay is printed, never asserted). On the message queue, a sender that keeps
//!   sending sees its receiver process killed or dropped before the queue could fill
//!   (`a_sending_sender_sees_its_receiver_process_gone_on_the_queue`).
//! - The creator removes the channel while peers use it: ring receivers still drain
//!   what the segment holds, blocked and non-blocking peers see `Disconnected`, the
//!   key is free (`removal_*`).
//! - Disconnection is a state: seen only after a peer had connected (before that,
//!   operations wait: `Timeout`, `Empty`, `Full`), drained first, ended by a new peer;
//!   dropping the last peer wakes a blocked side.
//!
//! (A killed SPSC holder's role coming back is in `tests/roles.rs`; an MPMC producer
//! killed mid-claim in `tests/mpmc_recovery.rs`; a producer killed mid-stream, and
//! peers killed inside a zero-copy send or receive, in `tests/multiprocess.rs`
//! (`killed_producer_disconnects_and_frees_the_role`, `*_killed_while_*`).)
//!
//! Every check that applies to both transports is one generic body
//! `fn case(t: Transport)` instantiated per transport by `per_transport!`
//! (`shm_ring::*`, `msgq::*`, listed at the end); the plain `#[test]`s are ring-only,
//! each saying why, or child roles: this test binary re-executes itself in a role
//! (`child_*` tests, which return at once in a normal run).
//!
//! Hygiene: every channel is created by the parent (its handle removes the kernel
//! objects, also while unwinding from a failed assertion); children are [`Kid`]s,
//! killed and reaped on drop. Every wait has a watchdog; no assertion is made on how
//! fast anything is.

#[macro_use]
mod support;

use std::fs;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use support::{
    create_unique, env, env_key, env_path, open, path_env, role, wait_file, wait_until, Kid, Msg,
    TempDir, WATCHDOG,
};
use sysvring::{
    AnyChannel, Builder, Error, Flavor, Key, RecvTimeoutError, SendTimeoutError, Transport,
    TryRecvError, TrySendError,
};

/// Top byte of every key this file makes.
const TAG: u8 = 0x3c;

/// Watchdog of the killed-peer tests (`killed_*_disconnects_a_blocked_*`): how long a
/// blocked call may take to see its killed peer before the test fails. Never an
/// assertion on speed.
const DISCONNECT_WATCHDOG: Duration = Duration::from_secs(10);

/// A channel of `T` at a fresh key of this file, on transport `t`.
fn make<T: sysvring::Message>(t: Transport, flavor: Flavor, cap: usize) -> AnyChannel<T> {
    create_unique::<T>(TAG, |b| b.transport(t).flavor(flavor).capacity(cap))
}

// -------------------------------------------------------------------------------------
// A blocked side returns Disconnected once its only peer is killed
// -------------------------------------------------------------------------------------

/// Child: opens the channel at `KEY`, connects one side (`SIDE`: `send` or `recv`),
/// creates `READY` and sleeps until killed, never sending or receiving.
#[test]
fn child_idle_peer() {
    if role().as_deref() != Some("idle_peer") {
        return;
    }
    let ch = Builder::<Msg>::new(env_key()).open().expect("open");
    let side: String = env("SIDE");
    let _tx = (side == "send").then(|| ch.sender().expect("sender"));
    let _rx = (side == "recv").then(|| ch.receiver().expect("receiver"));
    fs::write(env_path("READY"), b"").expect("write READY");
    thread::sleep(WATCHDOG * 2);
}

#[derive(Debug, Clone, Copy)]
enum Blocked {
    Recv,
    RecvTimeout,
    Send,
    SendTimeout,
}

/// Blocks in `call` in a thread of this process, SIGKILLs the only peer, and returns
/// the delay from the kill to the call's return. Fails unless the call returns the
/// disconnection within [`DISCONNECT_WATCHDOG`].
fn blocked_until_peer_killed(t: Transport, call: Blocked) -> Duration {
    let dir = TempDir::new("crash-blocked");
    let ch = create_unique::<Msg>(TAG, |b| b.capacity(4).flavor(Flavor::Spsc).transport(t));
    let receiving = matches!(call, Blocked::Recv | Blocked::RecvTimeout);
    let rx = receiving.then(|| ch.receiver().unwrap());
    let tx = (!receiving).then(|| ch.sender().unwrap());
    let ready = dir.path().join("peer.ready");
    let mut peer = Kid::spawn(
        "child_idle_peer",
        "idle_peer",
        &[
            ("KEY", ch.key().raw().to_string()),
            ("SIDE", if receiving { "send" } else { "recv" }.to_string()),
            path_env("READY", &ready),
        ],
    );
    wait_file(&mut peer, &ready);
    if let Some(tx) = &tx {
        let mut n = 0;
        while tx.try_send(Msg::new(n)).is_ok() {
            n += 1;
        }
        assert!(n >= 1 && tx.is_full(), "{t:?}: could not fill the channel");
    }
    let (done_tx, done_rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let long = Duration::from_secs(30);
        let r: Result<(), String> = match (call, rx, tx) {
            (Blocked::Recv, Some(rx), _) => match rx.recv() {
                Err(_) => Ok(()),
                Ok(m) => Err(format!("received {m:?}")),
            },
            (Blocked::RecvTimeout, Some(rx), _) => match rx.recv_timeout(long) {
                Err(RecvTimeoutError::Disconnected) => Ok(()),
                r => Err(format!("{r:?}")),
            },
            (Blocked::Send, _, Some(tx)) => match tx.send(Msg::new(u64::MAX)) {
                Err(_) => Ok(()),
                Ok(()) => Err("sent into a full channel".into()),
            },
            (Blocked::SendTimeout, _, Some(tx)) => match tx.send_timeout(Msg::new(1), long) {
                Err(SendTimeoutError::Disconnected(_)) => Ok(()),
                r => Err(format!("{r:?}")),
            },
            _ => unreachable!(),
        };
        let _ = done_tx.send((r, Instant::now()));
    });
    // Long past the spin budget: the call sleeps in the kernel by now.
    thread::sleep(Duration::from_millis(300));
    assert!(
        done_rx.try_recv().is_err(),
        "{t:?} {call:?} returned before its peer was killed"
    );
    let killed = Instant::now();
    peer.kill();
    let (r, at) = done_rx.recv_timeout(DISCONNECT_WATCHDOG).unwrap_or_else(|_| {
        panic!("watchdog: {t:?} {call:?} still blocked {DISCONNECT_WATCHDOG:?} after its only peer was SIGKILLed")
    });
    worker.join().expect("worker");
    if let Err(e) = r {
        panic!("{t:?} {call:?}: expected Disconnected, got {e}");
    }
    let delay = at.saturating_duration_since(killed);
    eprintln!("{t:?} {call:?}: Disconnected {delay:?} after the SIGKILL of the only peer");
    delay
}

/// A receiver blocked in `recv()` (and in `recv_timeout(30 s)`) whose only sender
/// process is SIGKILLed returns `Disconnected`; both transports. The delay is printed.
fn killed_sender_disconnects_a_blocked_receiver(t: Transport) {
    if role().is_some() {
        return;
    }
    blocked_until_peer_killed(t, Blocked::Recv);
    blocked_until_peer_killed(t, Blocked::RecvTimeout);
}

/// A sender blocked in `send()` (and in `send_timeout(30 s)`) on a full channel whose
/// only receiver process is SIGKILLed returns the disconnection; both transports.
fn killed_receiver_disconnects_a_blocked_sender(t: Transport) {
    if role().is_some() {
        return;
    }
    blocked_until_peer_killed(t, Blocked::Send);
    blocked_until_peer_killed(t, Blocked::SendTimeout);
}

/// Child: opens the channel at `KEY`, connects a receiver, creates `READY` and receives
/// (so the queue never fills) until killed, or, at the message `STOP`, drops the
/// receiver, creates `DROPPED` and sleeps until killed.
#[test]
fn child_draining_peer() {
    if role().as_deref() != Some("draining_peer") {
        return;
    }
    let ch = Builder::<Msg>::new(env_key()).open().expect("open");
    let rx = ch.receiver().expect("receiver");
    fs::write(env_path("READY"), b"").expect("write READY");
    while let Ok(m) = rx.recv_timeout(WATCHDOG) {
        if m.id == STOP {
            drop(rx);
            fs::write(env_path("DROPPED"), b"").expect("write DROPPED");
            thread::sleep(WATCHDOG * 2);
            return;
        }
    }
}

/// The message that makes `child_draining_peer` drop its receiver.
const STOP: u64 = u64::MAX;

/// How long a queue sender that keeps sending may take to see its only receiver gone
/// before the test fails (the promise is 200 ms; this is a hang guard, not a speed
/// check).
const SENDING_WATCHDOG: Duration = Duration::from_secs(2);

/// Message queue only: a sender that keeps sending into a queue with room (`send`,
/// then `try_send`) sees `Disconnected` after its only receiver, in another process,
/// is SIGKILLed or drops its receiver: the presence check its sends make (the kernel's
/// live count, at most every 10 ms) finds it, not a full queue (asserted: the queue
/// never fills after the receiver goes). The delay is printed. The ring's sends read
/// only its shared mirror, which a killed receiver cannot clear: a ring sender sees a
/// killed receiver once the ring is full (`killed_receiver_disconnects_a_blocked_sender`).
#[test]
fn a_sending_sender_sees_its_receiver_process_gone_on_the_queue() {
    for dropped in [false, true] {
        for call in ["send", "try_send"] {
            let what = format!(
                "{call}, receiver {}",
                if dropped { "dropped" } else { "killed" }
            );
            let dir = TempDir::new("gone-while-sending");
            let ch = create_unique::<Msg>(TAG, |b| {
                b.capacity(256)
                    .flavor(Flavor::Spsc)
                    .transport(Transport::MessageQueue)
            });
            let tx = ch.sender().unwrap();
            let cap = tx.capacity();
            let (ready, gone) = (dir.path().join("ready"), dir.path().join("dropped"));
            let mut peer = Kid::spawn(
                "child_draining_peer",
                "draining_peer",
                &[
                    ("KEY", ch.key().raw().to_string()),
                    path_env("READY", &ready),
                    path_env("DROPPED", &gone),
                ],
            );
            wait_file(&mut peer, &ready);
            // Whether `m` was sent; `false` on Disconnected. A full queue (the receiver
            // fell behind) is waited out, before the receiver goes only.
            let send = |m: Msg| match call {
                "send" => tx.send(m).is_ok(),
                _ => loop {
                    match tx.try_send(m) {
                        Ok(()) => break true,
                        Err(TrySendError::Disconnected(_)) => break false,
                        Err(TrySendError::Full(_)) => thread::sleep(Duration::from_millis(1)),
                    }
                },
            };
            for n in 0..50 {
                assert!(
                    send(Msg::new(n)),
                    "{what}: Disconnected while the receiver lives"
                );
                thread::sleep(Duration::from_millis(1));
            }
            if dropped {
                assert!(send(Msg::new(STOP)), "{what}");
                wait_file(&mut peer, &gone);
            } else {
                peer.kill();
            }
            let left = Instant::now();
            // Nothing drains the queue from here on.
            let queued = tx.len();
            let mut after = 0;
            while send(Msg::new(after as u64)) {
                after += 1;
                assert!(
                    after + queued < cap,
                    "{what}: the queue filled ({cap} messages) before the sender saw its receiver gone"
                );
                assert!(
                    left.elapsed() < SENDING_WATCHDOG,
                    "watchdog: {what}: still sending {SENDING_WATCHDOG:?} after the receiver went"
                );
                thread::sleep(Duration::from_millis(1));
            }
            eprintln!(
                "{what}: Disconnected {:?} and {after} sends after the receiver went",
                left.elapsed()
            );
        }
    }
}

// -------------------------------------------------------------------------------------
// Removal while peers use the channel
// -------------------------------------------------------------------------------------

/// Child: opens the channel at `KEY`, connects a receiver, waits until the channel
/// was removed (the key is free), then drains exactly `COUNT` messages and sees
/// `Disconnected`.
#[test]
fn child_drain_after_removal() {
    if role().as_deref() != Some("drain_after_removal") {
        return;
    }
    let key = Key::from_raw(support::env("KEY"));
    let count: u64 = support::env("COUNT");
    let ch = Builder::<u64>::new(key).open().expect("open");
    let rx = ch.receiver().expect("receiver");
    wait_until("the creator removes the channel", || {
        matches!(Builder::<u64>::new(key).open(), Err(Error::NotFound))
    });
    for i in 0..count {
        assert_eq!(rx.recv_timeout(WATCHDOG), Ok(i));
    }
    assert_eq!(
        rx.recv_timeout(WATCHDOG),
        Err(RecvTimeoutError::Disconnected)
    );
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

/// Ring only (also the next test): a removed segment stays mapped until its last
/// detach, so receivers drain it; removing a message queue destroys the messages in
/// it (see `removal_disconnects_blocked_and_non_blocking_peers` for what both do).
#[test]
fn removal_while_a_receiver_process_holds_messages() {
    const COUNT: u64 = 100;
    let ch = make::<u64>(Transport::ShmRing, Flavor::Spsc, 128);
    let tx = ch.sender().unwrap();
    for i in 0..COUNT {
        tx.send(i).unwrap();
    }
    let mut kid = Kid::spawn(
        "child_drain_after_removal",
        "drain_after_removal",
        &[
            ("KEY", ch.key().raw().to_string()),
            ("COUNT", COUNT.to_string()),
        ],
    );
    wait_until("the receiver connects", || ch.stats().receivers == 1);
    ch.remove().unwrap();
    assert!(!ch.is_owner());
    // The sender sees the removal at once.
    assert!(matches!(
        tx.try_send(COUNT),
        Err(TrySendError::Disconnected(_))
    ));
    assert!(tx.send(COUNT).is_err());
    kid.wait_ok();
}

#[test]
fn removal_while_a_receiver_thread_holds_messages() {
    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
        let ch = make::<u64>(Transport::ShmRing, flavor, 64);
        let tx = ch.sender().unwrap();
        let rx = open::<u64>(ch.key()).unwrap().receiver().unwrap();
        for i in 0..10 {
            tx.send(i).unwrap();
        }
        ch.remove().unwrap();
        // The mapping outlives the removal: everything still arrives, then the end.
        let got: Vec<u64> = (0..10).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(got, (0..10).collect::<Vec<_>>(), "{flavor:?}");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(
            rx.recv_timeout(WATCHDOG),
            Err(RecvTimeoutError::Disconnected)
        );
        assert!(ch.sender().is_err(), "connecting to a removed channel");
    }
}

/// Waits until a peer thread (which connected on `side_count` becoming 1) is blocked:
/// the ring counts its sleep; the message queue's waiter only polls, so give it time
/// to have started waiting.
fn wait_blocked(t: Transport, ch: &AnyChannel<u64>, connected: impl Fn(&AnyChannel<u64>) -> bool) {
    wait_until("the peer connects", || connected(ch));
    // Ring only: `sleeps` is a counter in the ring's shared control lines.
    if t == Transport::ShmRing {
        wait_until("the peer sleeps", || ch.stats().sleeps >= 1);
    } else {
        thread::sleep(Duration::from_millis(50));
    }
}

fn removal_wakes_blocked_peers_with_disconnected(t: Transport) {
    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
        // A receiver blocked on an empty channel.
        let ch = make::<u64>(t, flavor, 4);
        let _tx = ch.sender().unwrap();
        let opened = open::<u64>(ch.key()).unwrap();
        let blocked = thread::spawn(move || {
            let rx = opened.receiver().unwrap();
            rx.recv_timeout(WATCHDOG)
        });
        wait_blocked(t, &ch, |ch| ch.stats().receivers == 1);
        ch.remove().unwrap();
        assert_eq!(
            blocked.join().unwrap(),
            Err(RecvTimeoutError::Disconnected),
            "{flavor:?}"
        );

        // A sender blocked on a full channel.
        let ch = make::<u64>(t, flavor, 4);
        let _rx = ch.receiver().unwrap();
        let opened = open::<u64>(ch.key()).unwrap();
        let blocked = thread::spawn(move || {
            let tx = opened.sender().unwrap();
            while tx.try_send(0).is_ok() {}
            tx.send_timeout(1, WATCHDOG)
        });
        wait_blocked(t, &ch, |ch| {
            ch.stats().senders == 1 && ch.len() == ch.capacity()
        });
        ch.remove().unwrap();
        assert!(
            matches!(
                blocked.join().unwrap(),
                Err(SendTimeoutError::Disconnected(1))
            ),
            "{flavor:?}"
        );
    }
}

/// Removal under a blocked receiver and a sender: both end in `Disconnected`, from
/// blocking and non-blocking calls alike, and the key is free.
fn removal_disconnects_blocked_and_non_blocking_peers(t: Transport) {
    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
        let ch = make::<u64>(t, flavor, 4);
        let tx = ch.sender().unwrap();
        let rx = open::<u64>(ch.key()).unwrap().receiver().unwrap();
        let blocked = thread::spawn(move || (rx.recv_timeout(WATCHDOG), rx));
        thread::sleep(Duration::from_millis(50));
        ch.remove().unwrap();
        let (r, rx) = blocked.join().unwrap();
        assert_eq!(r, Err(RecvTimeoutError::Disconnected), "{t:?} {flavor:?}");
        assert_eq!(
            rx.try_recv(),
            Err(TryRecvError::Disconnected),
            "{t:?} {flavor:?}"
        );
        assert!(
            tx.try_send(1).unwrap_err().is_disconnected(),
            "{t:?} {flavor:?}"
        );
        assert!(matches!(open::<u64>(ch.key()), Err(Error::NotFound)));
    }
}

// -------------------------------------------------------------------------------------
// Disconnection: a state, seen only after a peer had connected
// -------------------------------------------------------------------------------------

fn before_any_peer_connected_operations_wait_instead_of_disconnecting(t: Transport) {
    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
        let what = format!("{t:?} {flavor:?}");
        // No sender ever: a receiver waits (Timeout, Empty), never Disconnected.
        let ch = make::<u64>(t, flavor, 2);
        let rx = ch.receiver().unwrap();
        let timeout = Duration::from_millis(250);
        assert_eq!(
            rx.recv_timeout(timeout),
            Err(RecvTimeoutError::Timeout),
            "{what}"
        );
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{what}");
        assert_eq!(rx.recv_batch(&mut [0; 4]), Ok(0), "{what}");
        drop(rx);

        // No receiver ever: a sender fills the ring, then waits (Timeout, Full).
        let ch = make::<u64>(t, flavor, 2);
        let tx = ch.sender().unwrap();
        while tx.try_send(1).is_ok() {}
        assert!(
            matches!(
                tx.send_timeout(2, timeout),
                Err(SendTimeoutError::Timeout(2))
            ),
            "{what}"
        );
        assert!(
            matches!(tx.try_send(3), Err(TrySendError::Full(3))),
            "{what}"
        );
        assert_eq!(tx.send_batch(&[4]), Ok(0), "{what}");
    }
}

fn disconnected_is_a_state_that_a_new_peer_ends(t: Transport) {
    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
        let what = format!("{t:?} {flavor:?}");
        let ch = make::<u64>(t, flavor, 4);
        let rx = ch.receiver().unwrap();
        let tx = ch.sender().unwrap();
        tx.send(1).unwrap();
        drop(tx);
        // Drained first, then disconnected, by every receiving call.
        assert_eq!(rx.recv(), Ok(1), "{what}");
        assert_eq!(rx.recv(), Err(sysvring::RecvError), "{what}");
        assert_eq!(
            rx.recv_timeout(WATCHDOG),
            Err(RecvTimeoutError::Disconnected),
            "{what}"
        );
        assert_eq!(
            rx.recv_batch(&mut [0; 4]),
            Err(sysvring::RecvError),
            "{what}"
        );
        assert_eq!(rx.iter().count(), 0, "{what}");
        // A restarted producer makes it live again.
        let tx = ch.sender().unwrap();
        tx.send(2).unwrap();
        assert_eq!(rx.recv(), Ok(2), "{what}");

        // The same for senders once every receiver is gone; the message comes back.
        drop(rx);
        assert_eq!(tx.send(3).map_err(|e| e.into_inner()), Err(3), "{what}");
        assert!(
            matches!(tx.try_send(4), Err(TrySendError::Disconnected(4))),
            "{what}"
        );
        assert!(
            matches!(
                tx.send_timeout(5, WATCHDOG),
                Err(SendTimeoutError::Disconnected(5))
            ),
            "{what}"
        );
        assert!(tx.send_batch(&[6]).is_err(), "{what}");
        assert!(tx.send_with(|m| *m = 7).is_err(), "{what}");
        let rx = ch.receiver().unwrap();
        tx.send(8).unwrap();
        assert_eq!(rx.recv(), Ok(8), "{what}");
    }
}

fn dropping_the_last_peer_wakes_a_blocked_side(t: Transport) {
    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
        let what = format!("{t:?} {flavor:?}");
        let ch = make::<u64>(t, flavor, 2);
        let (tx, rx) = (ch.sender().unwrap(), ch.receiver().unwrap());
        // A receiver blocked on an empty channel; the only sender leaves.
        let blocked = thread::spawn(move || (rx.recv_timeout(WATCHDOG), rx));
        thread::sleep(Duration::from_millis(50));
        drop(tx);
        let (r, rx) = blocked.join().unwrap();
        assert_eq!(r, Err(RecvTimeoutError::Disconnected), "{what}");

        // A sender blocked on a full channel; the only receiver leaves.
        let tx = ch.sender().unwrap();
        while tx.try_send(1).is_ok() {}
        let blocked = thread::spawn(move || tx.send_timeout(9, WATCHDOG));
        thread::sleep(Duration::from_millis(50));
        drop(rx);
        assert!(
            matches!(
                blocked.join().unwrap(),
                Err(SendTimeoutError::Disconnected(9))
            ),
            "{what}"
        );
    }
}

// -------------------------------------------------------------------------------------
// The cases above that run on both transports
// -------------------------------------------------------------------------------------

per_transport!(
    killed_sender_disconnects_a_blocked_receiver,
    killed_receiver_disconnects_a_blocked_sender,
    removal_wakes_blocked_peers_with_disconnected,
    removal_disconnects_blocked_and_non_blocking_peers,
    before_any_peer_connected_operations_wait_instead_of_disconnecting,
    disconnected_is_a_state_that_a_new_peer_ends,
    dropping_the_last_peer_wakes_a_blocked_side,
);
