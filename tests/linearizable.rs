//! Non-blocking calls are linearizable: a `try_recv` after a completed `send` does not
//! say `Empty` because another producer is mid-publish, and a `try_send` does not say
//! `Full` because a receiver is mid-read, as long as the peer in flight gets a CPU
//! within the documented bound (its own file, so no busy test of another file
//! competes for the CPUs meanwhile).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use support::{create_unique, role};
use sysvring::{Flavor, Transport, TryRecvError, TrySendError};

const TAG: u8 = 0x34;

/// Four threads each send one message and then `try_recv`: a completed `send` is
/// never answered with `Empty` because another thread's publish is in flight. Here a
/// fifth thread holds a claimed slot at the head (inside `send_with`) until every
/// sender has sent; each `try_recv` must wait for it rather than report `Empty`.
#[test]
fn try_recv_waits_for_an_in_flight_publish() {
    if role().is_some() {
        return;
    }
    for round in 0..50 {
        let ch = create_unique::<u64>(TAG, |b| {
            b.capacity(16)
                .flavor(Flavor::Mpmc)
                .transport(Transport::ShmRing)
        });
        let go = Arc::new(AtomicBool::new(false));
        let claimed = Arc::new(Barrier::new(2));
        let holder = {
            let tx = ch.sender().unwrap();
            let (go, claimed) = (go.clone(), claimed.clone());
            thread::spawn(move || {
                tx.send_with(|slot| {
                    claimed.wait();
                    while !go.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    *slot = 1000;
                })
                .unwrap();
            })
        };
        claimed.wait();
        let start = Arc::new(Barrier::new(4));
        let workers: Vec<_> = (0..4u64)
            .map(|i| {
                let tx = ch.sender().unwrap();
                let rx = ch.receiver().unwrap();
                let (go, start) = (go.clone(), start.clone());
                thread::spawn(move || {
                    tx.send(i).unwrap();
                    start.wait();
                    go.store(true, Ordering::Release);
                    rx.try_recv()
                })
            })
            .collect();
        for w in workers {
            let r = w.join().unwrap();
            assert!(
                r.is_ok(),
                "round {round}: try_recv after a completed send said {r:?}"
            );
        }
        holder.join().unwrap();
    }
}

/// The mirror: a receiver holds the slot a sender needs (inside `recv_with`) while
/// `len() < capacity()`; `try_send` waits for its release instead of saying `Full`.
#[test]
fn try_send_waits_for_an_in_flight_release() {
    if role().is_some() {
        return;
    }
    let ch = create_unique::<u64>(TAG, |b| {
        b.capacity(2)
            .flavor(Flavor::Mpmc)
            .transport(Transport::ShmRing)
    });
    let tx = ch.sender().unwrap();
    // Keeps the channel connected between rounds (each round's receivers go).
    let _rx = ch.receiver().unwrap();
    for round in 0..50u64 {
        tx.send(round).unwrap();
        tx.send(round).unwrap();
        let go = Arc::new(AtomicBool::new(false));
        let claimed = Arc::new(Barrier::new(2));
        let reader = {
            let rx = ch.receiver().unwrap();
            let (go, claimed) = (go.clone(), claimed.clone());
            thread::spawn(move || {
                rx.recv_with(|m| {
                    claimed.wait();
                    while !go.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    *m
                })
                .unwrap()
            })
        };
        claimed.wait();
        // One message was claimed: the channel holds one, capacity is two.
        assert!(ch.len() < ch.capacity());
        go.store(true, Ordering::Release);
        let r = tx.try_send(round + 1);
        assert!(
            r.is_ok(),
            "round {round}: try_send with room said {:?}",
            r.map_err(|e| matches!(e, TrySendError::Full(_)))
        );
        assert_eq!(reader.join().unwrap(), round);
        let rx = ch.receiver().unwrap();
        assert_eq!(rx.try_recv(), Ok(round));
        assert_eq!(rx.try_recv(), Ok(round + 1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }
}
