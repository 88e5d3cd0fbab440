//! Model checks of the ring algorithms (`src/ring`) with loom, on heap regions
//! (`ring::loom_region`): every interleaving of a few threads, within a preemption
//! bound, and loom's model of weak memory for the atomics. Payload accesses are
//! tracked through a loom cell per slot, so a payload read or write that is not
//! ordered after the publication it relies on (a missing Release/Acquire) fails as a
//! causality violation.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test --release --test loom --target-dir target/loom
//! ```
//!
//! `LOOM_MAX_PREEMPTIONS` overrides the default bound of 3 (2 for the models with
//! three threads); `LOOM_LOG=trace` and `LOOM_LOCATION=1` explain a failure.
#![cfg(loom)]

use std::sync::Arc;

use loom::thread;
use sysvring::ring::mpmc::Mpmc;
use sysvring::ring::spsc::{Consumer, Producer};
use sysvring::ring::{loom_region, LoomRegion};
use sysvring::Flavor;

/// Runs `f` under loom with a preemption bound (`LOOM_MAX_PREEMPTIONS` wins).
fn model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(bound);
    }
    b.check(f);
}

fn region(kind: Flavor, cap: u64) -> Arc<LoomRegion> {
    Arc::new(loom_region(kind, cap, 8, 8))
}

fn mpmc(r: &LoomRegion, tag: u16) -> Mpmc<u64> {
    // SAFETY: the region was laid out for u64 and initialised with `Mpmc::init`; each
    // thread claims with its own tag.
    unsafe { Mpmc::new(r.ring(), tag) }
}

/// Pushes `v`, yielding to the other threads while the ring is full.
fn push_spin(push: impl Fn(u64) -> Result<(), u64>, v: u64) {
    while push(v).is_err() {
        thread::yield_now();
    }
}

/// One producer thread sends `0..n`; the consumer (this thread) receives them in
/// order, with nothing lost or doubled, and then finds the ring empty.
fn spsc_fifo(cap: u64, n: u64, batch: bool) {
    model(3, move || {
        let r = region(Flavor::Spsc, cap);
        // SAFETY: exactly one producer and one consumer; the region holds u64 slots.
        let (p, c) = unsafe {
            (
                Producer::<u64>::new(r.ring()),
                Consumer::<u64>::new(r.ring()),
            )
        };
        let keep = r.clone();
        let t = thread::spawn(move || {
            let _region = keep;
            if batch {
                let all: Vec<u64> = (0..n).collect();
                let mut sent = 0;
                while sent < all.len() {
                    let k = p.push_slice(&all[sent..]);
                    if k == 0 {
                        thread::yield_now();
                    }
                    sent += k;
                }
            } else {
                for v in 0..n {
                    push_spin(|v| p.push(v), v);
                }
            }
        });
        let mut got = Vec::new();
        while (got.len() as u64) < n {
            if batch {
                let mut buf = [u64::MAX; 2];
                let k = c.pop_slice(&mut buf);
                got.extend_from_slice(&buf[..k]);
                if k == 0 {
                    thread::yield_now();
                }
            } else {
                match c.pop() {
                    Some(v) => got.push(v),
                    None => thread::yield_now(),
                }
            }
        }
        t.join().unwrap();
        assert_eq!(got, (0..n).collect::<Vec<_>>());
        assert_eq!(c.pop(), None);
        drop(r);
    });
}

#[test]
fn spsc_capacity_1() {
    spsc_fifo(1, 3, false);
}

#[test]
fn spsc_capacity_2() {
    spsc_fifo(2, 3, false);
}

#[test]
fn spsc_capacity_2_batches() {
    spsc_fifo(2, 3, true);
}

/// How often a thread in an MPMC model retries a failed push or pop before it gives
/// up (and the check runs on what it did). The Vyukov queue is not lock-free: a
/// thread preempted between claiming and publishing a slot blocks the others, and
/// loom's scheduler may never run it again while they spin (it explores unfair
/// schedules too), so unbounded spinning would not terminate. Bounded retries keep
/// every execution finite; the safety properties (nothing lost, nothing doubled,
/// per-producer order) are checked in all of them, after a final drain.
const RETRIES: usize = 2;

/// Pushes `v` with at most [`RETRIES`] failed attempts; whether it was sent.
fn push_bounded(q: &Mpmc<u64>, v: u64) -> bool {
    for _ in 0..RETRIES {
        if q.push(v).is_ok() {
            return true;
        }
        thread::yield_now();
    }
    q.push(v).is_ok()
}

/// Pops one message with at most [`RETRIES`] failed attempts.
fn pop_bounded(q: &Mpmc<u64>) -> Option<u64> {
    for _ in 0..RETRIES {
        if let Some(v) = q.pop() {
            return Some(v);
        }
        thread::yield_now();
    }
    q.pop()
}

/// Checks one model's outcome: the messages each consumer received (and the final
/// drain, as one more sequence) are exactly the messages sent, each once, and each
/// producer's messages appear in its order within every sequence.
fn check_exactly_once(sent: &[u64], received: &[Vec<u64>]) {
    let mut all: Vec<u64> = received.concat();
    all.sort_unstable();
    let mut want = sent.to_vec();
    want.sort_unstable();
    assert_eq!(
        all, want,
        "every message exactly once: received {received:?}"
    );
    for seq in received {
        for id in 0..4 {
            let mine: Vec<u64> = seq.iter().copied().filter(|v| v >> 8 == id).collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "per-producer order: {seq:?}"
            );
        }
    }
}

/// Everything left in the ring, once every other thread is done.
fn drain(q: &Mpmc<u64>) -> Vec<u64> {
    std::iter::from_fn(|| q.pop()).collect()
}

/// Two producer threads send two messages each (`id << 8 | k`) into a 2-slot MPMC
/// ring; one consumer (this thread) receives.
fn mpmc_two_producers(batch: bool) {
    const PER: u64 = 2;
    model(2, move || {
        let r = region(Flavor::Mpmc, 2);
        Mpmc::<u64>::init(&r.ring());
        let producers: Vec<_> = (0..2u64)
            .map(|id| {
                let r = r.clone();
                thread::spawn(move || {
                    let q = mpmc(&r, 1 + id as u16);
                    let msgs: Vec<u64> = (0..PER).map(|k| id << 8 | k).collect();
                    if batch {
                        let mut sent = 0;
                        for _ in 0..=RETRIES {
                            sent += q.push_slice(&msgs[sent..]);
                            if sent == msgs.len() {
                                break;
                            }
                            thread::yield_now();
                        }
                        msgs[..sent].to_vec()
                    } else {
                        msgs.into_iter()
                            .take_while(|&v| push_bounded(&q, v))
                            .collect()
                    }
                })
            })
            .collect();
        let q = mpmc(&r, 9);
        let mut got = Vec::new();
        for _ in 0..2 * PER {
            if batch {
                let mut buf = [u64::MAX; 2];
                let k = q.pop_slice(&mut buf);
                got.extend_from_slice(&buf[..k]);
                if k == 0 {
                    thread::yield_now();
                }
            } else if let Some(v) = pop_bounded(&q) {
                got.push(v);
            }
        }
        let sent: Vec<u64> = producers
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let rest = drain(&q);
        // The counts are the frontiers, whatever order the index stores landed in.
        let n = sent.len() as u64;
        assert_eq!(r.ring().counts(), (n, n), "received and sent");
        check_exactly_once(&sent, &[got, rest]);
    });
}

#[test]
fn mpmc_two_producers_one_consumer() {
    mpmc_two_producers(false);
}

#[test]
fn mpmc_two_producers_one_consumer_batches() {
    mpmc_two_producers(true);
}

/// One producer (this thread) sends three messages into a 2-slot MPMC ring; two
/// consumer threads share them: each message exactly once, each consumer's share in
/// the producer's order.
#[test]
fn mpmc_one_producer_two_consumers() {
    const N: u64 = 2;
    model(2, || {
        let r = region(Flavor::Mpmc, 2);
        Mpmc::<u64>::init(&r.ring());
        let consumers: Vec<_> = (0..2u32)
            .map(|id| {
                let r = r.clone();
                thread::spawn(move || {
                    let q = mpmc(&r, 10 + id as u16);
                    (0..N).filter_map(|_| pop_bounded(&q)).collect::<Vec<u64>>()
                })
            })
            .collect();
        let q = mpmc(&r, 1);
        let sent: Vec<u64> = (0..N).take_while(|&k| push_bounded(&q, k)).collect();
        let mut shares: Vec<Vec<u64>> = consumers.into_iter().map(|t| t.join().unwrap()).collect();
        shares.push(drain(&q));
        let n = sent.len() as u64;
        assert_eq!(r.ring().counts(), (n, n), "received and sent");
        check_exactly_once(&sent, &shares);
    });
}
