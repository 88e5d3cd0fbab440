//! Model test: random sequences of non-blocking operations on a real channel (sender
//! and receiver in this thread) checked step by step against a `VecDeque`, for both
//! flavours and both transports from one generic body ([`run`]); every case is
//! instantiated per transport by `per_transport!` (`shm_ring::*`, `msgq::*`).
//!
//! Capacities 1..=100, exact (the ring behind may have a power of two of slots; the
//! model, a `VecDeque` bounded at exactly the requested capacity, says when the
//! channel is full), sequences up to 2000 operations, so the indices wrap around the
//! ring many times. Every channel is made at `Key::private()` and removed when
//! its creator handle drops (also when a case fails).

#[macro_use]
mod support;

use std::collections::VecDeque;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use sysvring::{
    Builder, Flavor, Key, RecvTimeoutError, SendTimeoutError, Transport, TryRecvError, TrySendError,
};

/// One step of a sequence.
#[derive(Debug, Clone)]
enum Op {
    TrySend,
    TryRecv,
    /// `send_batch` of this many fresh messages (may exceed the free space).
    SendBatch(usize),
    /// `recv_batch` into a buffer of this length.
    RecvBatch(usize),
    /// `send_timeout` with a zero timeout.
    SendTimeout0,
    /// `recv_timeout` with a zero timeout.
    RecvTimeout0,
    /// `send_with` (blocking) when the model has room, else `try_send`.
    SendWith,
    /// `recv_with` (blocking) when the model has a message, else `try_recv`.
    RecvWith,
    /// Drops the receiver and connects a new one (messages stay in the ring).
    ReconnectReceiver,
    /// Drops the sender and connects a new one.
    ReconnectSender,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::TrySend),
        6 => Just(Op::TryRecv),
        3 => (0usize..=80).prop_map(Op::SendBatch),
        3 => (0usize..=80).prop_map(Op::RecvBatch),
        1 => Just(Op::SendTimeout0),
        1 => Just(Op::RecvTimeout0),
        1 => Just(Op::SendWith),
        1 => Just(Op::RecvWith),
        1 => Just(Op::ReconnectReceiver),
        1 => Just(Op::ReconnectSender),
    ]
}

/// A message: a sequence number and a check word derived from it, so a torn or
/// misplaced slot is caught as well as a wrong order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message,
)]
#[repr(C)]
struct Msg {
    seq: u64,
    check: u64,
}

impl Msg {
    fn new(seq: u64) -> Msg {
        Msg {
            seq,
            check: seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5a5a,
        }
    }
}

/// The body shared by both flavours (and transports): runs `ops` on a fresh channel
/// of `requested` capacity and compares every result with the model.
fn run(
    transport: Transport,
    flavor: Flavor,
    requested: usize,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let ch = Builder::<Msg>::new(Key::private())
        .capacity(requested)
        .flavor(flavor)
        .transport(transport)
        .create()
        .map_err(|e| TestCaseError::fail(format!("create: {e}")))?;
    let cap = ch.capacity();
    prop_assert_eq!(ch.transport(), transport);
    if transport == Transport::ShmRing {
        // Exactly what was asked (the ring behind it may have more slots).
        prop_assert_eq!(cap, requested, "capacity");
    } else {
        // The queue's byte budget may admit fewer.
        prop_assert!(cap >= 1 && cap <= requested, "capacity {}", cap);
    }
    prop_assert_eq!(ch.flavor(), flavor);
    let mut tx = Some(ch.sender().unwrap());
    let mut rx = Some(ch.receiver().unwrap());
    let mut model: VecDeque<Msg> = VecDeque::new();
    let (mut next, mut sent, mut received) = (0u64, 0u64, 0u64);
    let mut fresh = || {
        next += 1;
        Msg::new(next)
    };

    for (step, op) in ops.iter().enumerate() {
        let t = tx.as_ref().unwrap();
        let r = rx.as_ref().unwrap();
        let free = cap - model.len();
        match op {
            Op::TrySend => {
                let m = fresh();
                match t.try_send(m) {
                    Ok(()) => {
                        prop_assert!(free > 0, "step {}: try_send succeeded on a full ring", step);
                        model.push_back(m);
                        sent += 1;
                    }
                    Err(TrySendError::Full(back)) => {
                        prop_assert_eq!(free, 0, "step {}: Full with room", step);
                        prop_assert_eq!(back, m);
                    }
                    Err(e) => prop_assert!(false, "step {}: try_send: {:?}", step, e),
                }
            }
            Op::TryRecv => match r.try_recv() {
                Ok(m) => {
                    prop_assert_eq!(Some(m), model.pop_front(), "step {}", step);
                    received += 1;
                }
                Err(TryRecvError::Empty) => {
                    prop_assert!(model.is_empty(), "step {}: Empty with messages", step)
                }
                Err(e) => prop_assert!(false, "step {}: try_recv: {:?}", step, e),
            },
            Op::SendBatch(n) => {
                let msgs: Vec<Msg> = (0..*n).map(|_| fresh()).collect();
                let k = t
                    .send_batch(&msgs)
                    .map_err(|e| TestCaseError::fail(format!("step {step}: send_batch: {e}")))?;
                prop_assert_eq!(k, (*n).min(free), "step {}: send_batch of {}", step, n);
                model.extend(&msgs[..k]);
                sent += k as u64;
            }
            Op::RecvBatch(n) => {
                let mut buf = vec![Msg::new(u64::MAX); *n];
                let k = r
                    .recv_batch(&mut buf)
                    .map_err(|e| TestCaseError::fail(format!("step {step}: recv_batch: {e}")))?;
                prop_assert_eq!(
                    k,
                    (*n).min(model.len()),
                    "step {}: recv_batch of {}",
                    step,
                    n
                );
                let want: Vec<Msg> = model.drain(..k).collect();
                prop_assert_eq!(&buf[..k], &want[..], "step {}", step);
                // The rest of the buffer is untouched.
                prop_assert!(buf[k..].iter().all(|m| *m == Msg::new(u64::MAX)));
                received += k as u64;
            }
            Op::SendTimeout0 => {
                let m = fresh();
                match t.send_timeout(m, Duration::ZERO) {
                    Ok(()) => {
                        prop_assert!(free > 0, "step {}: send_timeout on a full ring", step);
                        model.push_back(m);
                        sent += 1;
                    }
                    Err(SendTimeoutError::Timeout(back)) => {
                        prop_assert_eq!(free, 0, "step {}: Timeout with room", step);
                        prop_assert_eq!(back, m);
                    }
                    Err(e) => prop_assert!(false, "step {}: send_timeout: {:?}", step, e),
                }
            }
            Op::RecvTimeout0 => match r.recv_timeout(Duration::ZERO) {
                Ok(m) => {
                    prop_assert_eq!(Some(m), model.pop_front(), "step {}", step);
                    received += 1;
                }
                Err(RecvTimeoutError::Timeout) => {
                    prop_assert!(model.is_empty(), "step {}: Timeout with messages", step)
                }
                Err(e) => prop_assert!(false, "step {}: recv_timeout: {:?}", step, e),
            },
            Op::SendWith if free > 0 => {
                let m = fresh();
                let got = t
                    .send_with(|slot| {
                        *slot = m;
                        7u8
                    })
                    .map_err(|e| TestCaseError::fail(format!("step {step}: send_with: {e}")))?;
                prop_assert_eq!(got, 7);
                model.push_back(m);
                sent += 1;
            }
            Op::SendWith => {
                let r = t.try_send(fresh());
                prop_assert!(
                    matches!(r, Err(TrySendError::Full(_))),
                    "step {}: {:?}",
                    step,
                    r
                )
            }
            Op::RecvWith if !model.is_empty() => {
                let m = r
                    .recv_with(|m| *m)
                    .map_err(|e| TestCaseError::fail(format!("step {step}: recv_with: {e}")))?;
                prop_assert_eq!(Some(m), model.pop_front(), "step {}", step);
                received += 1;
            }
            Op::RecvWith => {
                let got = r.try_recv();
                prop_assert_eq!(got, Err(TryRecvError::Empty), "step {}", step)
            }
            Op::ReconnectReceiver => {
                drop(rx.take());
                rx = Some(ch.receiver().unwrap());
            }
            Op::ReconnectSender => {
                drop(tx.take());
                tx = Some(ch.sender().unwrap());
            }
        }

        // Lengths agree from every handle after every step.
        let (t, r) = (tx.as_ref().unwrap(), rx.as_ref().unwrap());
        prop_assert_eq!(ch.len(), model.len(), "step {}: Channel::len", step);
        prop_assert_eq!(t.len(), model.len(), "step {}: Sender::len", step);
        prop_assert_eq!(r.len(), model.len(), "step {}: Receiver::len", step);
        prop_assert_eq!(r.is_empty(), model.is_empty());
        prop_assert_eq!(t.is_full(), model.len() == cap);
        prop_assert_eq!(ch.is_full(), model.len() == cap);
        prop_assert!(
            ch.len() <= ch.capacity(),
            "step {}: len above capacity",
            step
        );
    }

    let st = ch.stats();
    // Both transports: the ring counts in its shared control lines, the message
    // queue in this process (every endpoint here is this process's).
    prop_assert_eq!(st.sent, sent);
    prop_assert_eq!(st.received, received);
    prop_assert_eq!((st.senders, st.receivers), (1, 1));
    prop_assert_eq!(st.skipped, 0);

    // With the sender gone, the receiver drains what is left, then sees Disconnected.
    drop(tx);
    let r = rx.as_ref().unwrap();
    let rest: Vec<Msg> = r.try_iter().collect();
    prop_assert_eq!(rest, model.drain(..).collect::<Vec<_>>());
    prop_assert_eq!(
        r.recv_timeout(Duration::from_secs(10)),
        Err(RecvTimeoutError::Disconnected)
    );
    // At once, also right after a failing call (see
    // a_dropped_peer_is_seen_at_once_by_non_blocking_calls).
    prop_assert_eq!(r.try_recv(), Err(TryRecvError::Disconnected));
    Ok(())
}

fn config(transport: Transport) -> ProptestConfig {
    ProptestConfig {
        // One syscall per message on the message queue: fewer cases.
        cases: if transport == Transport::ShmRing {
            128
        } else {
            32
        },
        // Shrinking re-creates a channel per attempt; keep it bounded.
        max_shrink_iters: 2000,
        // No regression files in the source tree; failures print their input.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The proptest of [`run`]: random capacities and operation sequences on `flavor`
/// over `transport`; a failure panics with the shrunk (minimal) input.
fn matches_a_vecdeque(transport: Transport, flavor: Flavor) {
    let mut runner = TestRunner::new(config(transport));
    let r = runner.run(&(1usize..=100, vec(op(), 1..2000)), |(cap, ops)| {
        run(transport, flavor, cap, &ops)
    });
    if let Err(e) = r {
        panic!("{transport:?} {flavor:?}: {e}");
    }
}

fn spsc_matches_a_vecdeque(transport: Transport) {
    matches_a_vecdeque(transport, Flavor::Spsc);
}

fn mpmc_matches_a_vecdeque(transport: Transport) {
    matches_a_vecdeque(transport, Flavor::Mpmc);
}

/// Many laps with the ring kept nearly full and nearly empty: positions run far past
/// the capacity, at every offset of the wrap. (MPMC capacity 1 is covered by
/// `mpmc_capacity_one_holds_one_message`.)
fn long_wraparound_both_flavours(transport: Transport) {
    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
        for cap in [1usize, 2, 3, 7, 64] {
            if (transport, flavor, cap) == (Transport::ShmRing, Flavor::Mpmc, 1) {
                continue;
            }
            let mut ops = Vec::new();
            for lap in 0..400 {
                ops.push(Op::SendBatch(cap + lap % 5));
                ops.push(Op::RecvBatch(lap % 3 + 1));
                ops.push(Op::TrySend);
                ops.push(Op::RecvBatch(cap * 2));
                ops.push(Op::TrySend);
                ops.push(Op::TrySend);
                ops.push(Op::TryRecv);
            }
            run(transport, flavor, cap, &ops)
                .unwrap_or_else(|e| panic!("{transport:?} {flavor:?} cap {cap}: {e}"));
        }
    }
}

/// Regression: an MPMC ring of capacity 1 must not take a second message while the
/// first is unread. (With per-slot stamps "free for lap" = `pos` and "published" =
/// `pos + 1`, a one-slot ring cannot tell the published message of lap `n` from a
/// free slot of lap `n + 1`, so the second send overwrote the first.) The message
/// queue must likewise hold exactly what `capacity()` reports.
fn mpmc_capacity_one_holds_one_message(transport: Transport) {
    let ch = Builder::<u64>::new(Key::private())
        .capacity(1)
        .flavor(Flavor::Mpmc)
        .transport(transport)
        .create()
        .unwrap();
    let cap = ch.capacity();
    let (tx, rx) = (ch.sender().unwrap(), ch.receiver().unwrap());
    for i in 0..cap as u64 {
        tx.try_send(i).unwrap();
    }
    let r = tx.try_send(99);
    assert!(
        matches!(r, Err(TrySendError::Full(99))),
        "capacity {cap}: try_send into a full ring gave {r:?}, not Full"
    );
    assert_eq!(
        tx.send_batch(&[98]).unwrap(),
        0,
        "send_batch into a full ring"
    );
    for i in 0..cap as u64 {
        assert_eq!(rx.try_recv(), Ok(i));
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

/// Once the last sender is dropped, a receiver's very next `try_recv` on an empty
/// channel says `Disconnected` (and a sender's `try_send` once the last receiver is
/// dropped), on both transports, even right after a failing call of the same handle.
/// (The message-queue transport rate-limits its presence check to every 10 ms, so a
/// `try_recv` soon after an `Empty` kept answering `Empty`.)
fn a_dropped_peer_is_seen_at_once_by_non_blocking_calls(transport: Transport) {
    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
        let what = format!("{transport:?} {flavor:?}");
        let ch = Builder::<u64>::new(Key::private())
            .capacity(2)
            .flavor(flavor)
            .transport(transport)
            .create()
            .unwrap();
        let (tx, rx) = (ch.sender().unwrap(), ch.receiver().unwrap());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{what}");
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected), "{what}");

        let tx = ch.sender().unwrap();
        while tx.try_send(1).is_ok() {}
        assert!(tx.try_send(2).unwrap_err().is_full(), "{what}");
        drop(rx);
        let r = tx.try_send(3);
        assert!(
            matches!(r, Err(TrySendError::Disconnected(3))),
            "{what}: {r:?}"
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
#[repr(C, align(256))]
struct Aligned256([u8; 256]);

#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
#[repr(C)]
struct Odd3([u8; 3]);

/// Fills and drains a channel of `T` on `transport` three times (wrapping) and checks
/// every value.
fn fill_and_drain<T: sysvring::Message + PartialEq + std::fmt::Debug>(
    transport: Transport,
    make: impl Fn(u8) -> T,
) {
    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
        let what = format!("{} {transport:?} {flavor:?}", std::any::type_name::<T>());
        let ch = Builder::<T>::new(Key::private())
            .capacity(4)
            .flavor(flavor)
            .transport(transport)
            .create()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let (tx, rx) = (ch.sender().unwrap(), ch.receiver().unwrap());
        let cap = ch.capacity();
        for lap in 0..3u8 {
            for i in 0..cap as u8 {
                tx.try_send(make(lap * 16 + i))
                    .unwrap_or_else(|e| panic!("{what}: send {i}: {e:?}"));
            }
            assert!(tx.try_send(make(0)).unwrap_err().is_full(), "{what}");
            for i in 0..cap as u8 {
                assert_eq!(rx.try_recv(), Ok(make(lap * 16 + i)), "{what}");
            }
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{what}");
        }
    }
}

/// Zero-sized, one-byte, odd-sized and over-aligned elements.
fn odd_element_types_round_trip(transport: Transport) {
    fill_and_drain(transport, |_| ());
    fill_and_drain(transport, |i| i);
    fill_and_drain(transport, |i| Odd3([i, !i, i ^ 0x55]));
    fill_and_drain(transport, |i| Aligned256([i; 256]));
    fill_and_drain(transport, |i| [u64::from(i); 512]);
}

per_transport!(
    spsc_matches_a_vecdeque,
    mpmc_matches_a_vecdeque,
    long_wraparound_both_flavours,
    mpmc_capacity_one_holds_one_message,
    a_dropped_peer_is_seen_at_once_by_non_blocking_calls,
    odd_element_types_round_trip,
);
