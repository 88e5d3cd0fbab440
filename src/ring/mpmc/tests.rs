//! Unit tests of the MPMC ring on heap regions.

use super::*;
use crate::options::Flavor;
use crate::ring::test_region::Region;

fn q(r: &Region, tag: u16) -> Mpmc<u64> {
    // SAFETY: the region is laid out for u64 and initialised.
    unsafe { Mpmc::new(r.ring(), tag) }
}

/// [`q`] on a ring view (which threads can share, unlike the region).
fn on(ring: RawRing, tag: u16) -> Mpmc<u64> {
    // SAFETY: as in `q`.
    unsafe { Mpmc::new(ring, tag) }
}

fn region(cap: u64, limit: u64) -> Region {
    let r = Region::new(Flavor::Mpmc, cap, limit, 8, 8);
    Mpmc::<u64>::init(&r.ring());
    r
}

#[test]
fn lag_wraps_at_48_bits() {
    assert_eq!(lag(encode(5, 3), 5), 0);
    assert_eq!(lag(encode(5, 0), 6), -1);
    assert_eq!(lag(encode(0, 0), SEQ_MASK), 1);
    assert_eq!(lag(encode(SEQ_MASK, 0), 0), -1);
    assert_eq!(tag_of(encode(9, 77)), 77);
}

#[test]
fn fifo_over_many_laps_with_batches() {
    let r = region(4, 4);
    let a = q(&r, 1);
    let b = q(&r, 2);
    let mut next = 0u64;
    let mut want = 0u64;
    for round in 0..1000u64 {
        let k = (round % 3 + 1) as usize;
        let vs: Vec<u64> = (next..next + k as u64).collect();
        let sent = a.push_slice(&vs);
        next += sent as u64;
        let mut out = [0u64; 3];
        let got = b.pop_slice(&mut out[..(round % 2 + 1) as usize]);
        for v in &out[..got] {
            assert_eq!(*v, want);
            want += 1;
        }
    }
    while let Some(v) = b.pop() {
        assert_eq!(v, want);
        want += 1;
    }
    assert_eq!(want, next);
}

#[test]
fn limit_is_exact() {
    for limit in 1..=8u64 {
        let slots = limit.next_power_of_two().max(2);
        let r = region(slots, limit);
        let p = q(&r, 1);
        for i in 0..limit {
            assert!(p.push(i).is_ok(), "limit {limit}: message {i}");
        }
        assert!(p.push(99).is_err(), "limit {limit}: one too many");
        assert_eq!(p.push_slice(&[1, 2]), 0);
        assert_eq!(q(&r, 2).pop(), Some(0));
        assert!(p.push(7).is_ok());
        assert!(p.push(8).is_err());
    }
}

#[test]
fn a_held_producer_slot_is_reported_and_only_skip_frees_it() {
    let r = region(4, 4);
    let ring = r.ring();
    let stalled = q(&r, 7);
    let live = q(&r, 1);
    // A producer claims position 0 and stops (as if SIGSTOPped) before writing.
    let (pos, _) = stalled.claim(false, 1).unwrap();
    assert_eq!(pos, 0);
    live.push(11).unwrap();
    assert_eq!(live.pop(), None, "position 0 is not published");
    let h = blocker(&ring, true).expect("held");
    assert_eq!((h.pos, h.tag(), h.consumer), (0, 7, false));
    assert_eq!(blocker(&ring, false), None);
    // The stalled producer resumes: its message comes first.
    // SAFETY: the slot is claimed by `stalled`, in bounds.
    unsafe { ring.payload(0).cast::<u64>().write(10) };
    stalled.publish(0);
    assert_eq!(blocker(&ring, true), None);
    assert_eq!(live.pop(), Some(10));
    assert_eq!(live.pop(), Some(11));
    // Dead this time: skipped, and the next message is received.
    let (pos, _) = stalled.claim(false, 1).unwrap();
    live.push(12).unwrap();
    let h = blocker(&ring, true).unwrap();
    assert_eq!(h.pos, pos);
    assert!(tag_in_use(&ring, 7));
    assert!(skip(&ring, &h));
    assert!(
        !skip(&ring, &h),
        "a second skip of the same claim does nothing"
    );
    assert!(!tag_in_use(&ring, 7));
    assert_eq!(live.pop(), Some(12));
    assert_eq!(live.pop(), None);
}

#[test]
fn a_producer_stopped_between_its_claim_and_the_index_blocks_no_producer() {
    let r = region(4, 4);
    let ring = r.ring();
    let c = ring.control();
    // Claim position 0 by the stamp CAS alone, as a producer stopped right after
    // it would leave it (tail still 0).
    ring.stamp(0)
        .compare_exchange(
            encode(0, 0),
            encode(0, 9),
            Ordering::AcqRel,
            Ordering::Relaxed,
        )
        .unwrap();
    assert_eq!(c.tail.load(Ordering::Relaxed), 0);
    let p = q(&r, 1);
    p.push(5).unwrap();
    assert_eq!(
        c.tail.load(Ordering::Relaxed),
        2,
        "moved past the held slot"
    );
    let h = blocker(&ring, true).unwrap();
    assert_eq!((h.pos, h.tag()), (0, 9));
    assert!(skip(&ring, &h));
    assert_eq!(p.pop(), Some(5));
}

#[test]
fn a_consumer_holding_a_slot_blocks_the_next_lap_until_released_or_skipped() {
    let r = region(2, 2);
    let ring = r.ring();
    let p = q(&r, 1);
    let stalled = q(&r, 3);
    p.push(1).unwrap();
    p.push(2).unwrap();
    let (pos, _) = stalled.claim(true, 1).unwrap();
    assert_eq!(pos, 0);
    assert_eq!(q(&r, 4).pop(), Some(2));
    assert!(p.push(3).is_err(), "slot 0 is still being read");
    let h = blocker(&ring, false).unwrap();
    assert_eq!((h.pos, h.tag(), h.consumer), (0, 3, true));
    assert!(skip(&ring, &h));
    p.push(3).unwrap();
    assert_eq!(q(&r, 4).pop(), Some(3));
}

#[test]
fn corrupt_stamps_and_indices_end_in_empty_or_full() {
    let r = region(4, 4);
    let ring = r.ring();
    let h = q(&r, 1);
    for i in 0..4 {
        ring.stamp(i).store(u64::MAX - i, Ordering::Relaxed);
    }
    ring.control().head.store(u64::MAX / 3, Ordering::Relaxed);
    ring.control().tail.store(17, Ordering::Relaxed);
    let _ = h.push(1);
    let _ = h.pop();
    let _ = h.push_slice(&[1, 2, 3]);
    let _ = h.pop_slice(&mut [0; 3]);
    let _ = stuck(&ring);
}

#[test]
fn raw_push_and_pop_move_elem_size_bytes_in_order() {
    // A 24-byte element known only at run time (the C interface's case).
    let r = Region::new(Flavor::Mpmc, 4, 3, 24, 8);
    Mpmc::<()>::init(&r.ring());
    // SAFETY: the raw methods use the geometry; the region is initialised.
    let q = unsafe { Mpmc::<()>::new(r.ring(), 1) };
    let msg = |i: u8| [i; 24];
    for i in 0..3u8 {
        // SAFETY: the slot has 24 writable bytes.
        let put = q.push_ptr(|d| unsafe { std::ptr::copy_nonoverlapping(msg(i).as_ptr(), d, 24) });
        assert!(put.is_some());
    }
    assert!(q.push_ptr(|_| unreachable!("full")).is_none(), "limit 3");
    for i in 0..3u8 {
        let mut got = [0u8; 24];
        // SAFETY: the slot has 24 readable bytes.
        let read = q.pop_ptr(|s| unsafe { std::ptr::copy_nonoverlapping(s, got.as_mut_ptr(), 24) });
        assert!(read.is_some());
        assert_eq!(got, msg(i));
    }
    assert!(q.pop_ptr(|_| unreachable!("empty")).is_none());
}

#[test]
fn claimed_through_reads_how_far_each_side_claimed() {
    let cap = 4;
    // (stamp at the slot of position 5, side is consumers, claimed through)
    let cases = [
        // Producers, position 5.
        (encode(5, 3), false, 5),  // claimed by another producer
        (encode(6, 0), false, 5),  // published
        (encode(6, 3), false, 5),  // read by a consumer
        (encode(9, 0), false, 5),  // free for 9: 5 was read
        (encode(9, 3), false, 9),  // 9 claimed by its producer
        (encode(10, 0), false, 9), // 9 published
        (encode(13, 3), false, 13),
        // Consumers, position 5.
        (encode(6, 3), true, 5),  // claimed by another consumer
        (encode(9, 0), true, 5),  // free for 9: 5 was read
        (encode(9, 3), true, 5),  // 9 being written: 5 was read
        (encode(10, 0), true, 5), // 9 published, not read
        (encode(10, 3), true, 9), // 9 being read
        (encode(13, 0), true, 9),
    ];
    for (stamp, consumers, want) in cases {
        assert_eq!(
            claimed_through(consumers, 5, stamp, cap),
            want,
            "stamp {:?}, consumers {consumers}",
            (stamp >> TAG_BITS, tag_of(stamp))
        );
    }
    // Across the 48-bit wrap of sequence numbers.
    let pos = SEQ_MASK - 1;
    assert_eq!(claimed_through(false, pos, encode(pos + 1, 0), 2), pos);
    assert_eq!(claimed_through(false, pos, encode(pos + 2, 4), 2), pos + 2);
}

#[test]
fn a_stale_cursor_or_index_catches_up_by_the_stamps() {
    let r = region(4, 4);
    let ring = r.ring();
    let c = ring.control();
    let idle = q(&r, 2);
    let busy = q(&r, 1);
    // Far more laps than a claim loop has iterations: the stamps (and the index),
    // not one step per position, bring `idle` to the frontier.
    let n = 3 * u64::from(MAX_RETRIES);
    for i in 0..n {
        busy.push(i).unwrap();
        assert_eq!(busy.pop(), Some(i));
    }
    idle.push(n).unwrap();
    assert_eq!(c.tail.load(Ordering::Relaxed), n + 1);
    assert_eq!(idle.pop(), Some(n));
    assert_eq!(c.head.load(Ordering::Relaxed), n + 1);
    assert_eq!(busy.pop(), None);
    // Indices far behind (moved back by raced stores, or left by claimers killed
    // before storing them): the stamps bring a new handle to the frontier.
    c.tail.store(1, Ordering::Relaxed);
    c.head.store(0, Ordering::Relaxed);
    let fresh = q(&r, 3);
    fresh.push(n + 1).unwrap();
    busy.push(n + 2).unwrap();
    assert_eq!(c.tail.load(Ordering::Relaxed), n + 3);
    assert_eq!(fresh.pop(), Some(n + 1));
    assert_eq!(idle.pop(), Some(n + 2));
    assert_eq!(c.head.load(Ordering::Relaxed), n + 3);
}

#[test]
fn an_index_behind_hides_no_held_slot_and_no_room() {
    let r = region(8, 5);
    let ring = r.ring();
    let c = ring.control();
    let p = q(&r, 1);
    let stalled = q(&r, 7);
    for i in 0..3 {
        p.push(i).unwrap();
        assert_eq!(p.pop(), Some(i));
    }
    // A producer holds position 3; two messages behind it.
    let (pos, _) = stalled.claim(false, 1).unwrap();
    assert_eq!(pos, 3);
    p.push(4).unwrap();
    p.push(5).unwrap();
    // Both indices behind the claims (as after claimers killed before raising them,
    // or corrupt).
    c.head.store(1, Ordering::Relaxed);
    c.tail.store(0, Ordering::Relaxed);
    let h = blocker(&ring, true).expect("the held slot is found past the index");
    assert_eq!((h.pos, h.tag()), (3, 7));
    assert_eq!(next(&ring, true), Next::Held(h));
    assert_eq!(p.pop(), None);
    // 3 in flight of 5: room for 2, whatever `head` says.
    assert_eq!(next(&ring, false), Next::Ready);
    assert_eq!(p.push_slice(&[6, 7, 8]), 2);
    assert_eq!(next(&ring, false), Next::Nothing);
    assert!(skip(&ring, &h));
    assert_eq!(p.pop_slice(&mut [0; 8]), 4);
}

#[test]
fn counts_and_seek_find_the_frontiers_however_far_the_indices_trail() {
    let cap = 1 << 12;
    let r = region(cap, cap);
    let ring = r.ring();
    let c = ring.control();
    let h = q(&r, 1);
    let stalled = q(&r, 2);
    // Laps and laps, then a ring partly full, a claim in flight on either side.
    let (sent, read) = (5 * cap + 3000, 5 * cap + 1000);
    for i in 0..sent {
        h.push(i).unwrap();
        if i < read {
            assert_eq!(h.pop(), Some(i));
        }
    }
    assert_eq!(ring.counts(), (read, sent));
    let (p, _) = stalled.claim(false, 1).unwrap();
    let (g, _) = stalled.claim(true, 1).unwrap();
    assert_eq!((p, g), (sent, read));
    for (head, tail) in [
        (0, 0),
        (read - 1, sent - 1),
        (read - 700, 17),
        (3, sent - 2500),
    ] {
        // Indices left behind by raced stores (or claimers that never stored).
        c.head.store(head, Ordering::Relaxed);
        c.tail.store(tail, Ordering::Relaxed);
        assert_eq!(ring.counts(), (read + 1, sent + 1), "from {head}, {tail}");
        assert_eq!(frontier(&ring, false).0, sent + 1);
        assert_eq!(seek(&ring, true, head).0, read + 1);
    }
    // The held slot is found from an index behind it too.
    c.head.store(0, Ordering::Relaxed);
    let held = blocker(&ring, false);
    assert_eq!(
        held, None,
        "the consumer's claim is not the next lap's slot"
    );
    stalled.publish(p);
    stalled.release(g);
    assert_eq!(ring.counts(), (read + 1, sent + 1));
    assert_eq!(h.pop(), Some(read + 1));
}

/// Producers and consumers on threads, two of each sharing a handle, on small rings:
/// every message exactly once, each producer's messages in order for every
/// consumer, and the counts exact once everyone is done.
#[test]
fn threads_exchange_every_message_once_in_order() {
    use std::sync::atomic::AtomicBool;
    const PER: u64 = 20_000;
    for cap in [2, 4, 64] {
        let r = region(cap, cap);
        let done = AtomicBool::new(false);
        let (shared_tx, shared_rx) = (q(&r, 1), q(&r, 2));
        let mut all: Vec<u64> = std::thread::scope(|s| {
            let producers: Vec<_> = (0..3u64)
                .map(|id| {
                    let (ring, shared) = (r.ring(), &shared_tx);
                    s.spawn(move || {
                        let own = on(ring, 10 + id as u16);
                        let h = if id == 2 { &own } else { shared };
                        for k in 0..PER {
                            let mut v = id << 32 | k;
                            while let Err(back) = h.push(v) {
                                v = back;
                                std::thread::yield_now();
                            }
                        }
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..3u64)
                .map(|id| {
                    let (ring, shared, done) = (r.ring(), &shared_rx, &done);
                    s.spawn(move || {
                        let own = on(ring, 20 + id as u16);
                        let h = if id == 2 { &own } else { shared };
                        let mut last = [None::<u64>; 3];
                        let mut got = Vec::new();
                        loop {
                            let fin = done.load(Ordering::Acquire);
                            match h.pop() {
                                Some(v) => {
                                    let (p, k) = ((v >> 32) as usize, v & 0xffff_ffff);
                                    assert!(last[p].map_or(true, |l| l < k), "order of {p}");
                                    last[p] = Some(k);
                                    got.push(v);
                                }
                                None if fin => break,
                                None => std::thread::yield_now(),
                            }
                        }
                        got
                    })
                })
                .collect();
            for t in producers {
                t.join().unwrap();
            }
            done.store(true, Ordering::Release);
            consumers
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        all.sort_unstable();
        let want: Vec<u64> = (0..3u64)
            .flat_map(|p| (0..PER).map(move |k| p << 32 | k))
            .collect();
        assert_eq!(all.len(), want.len(), "capacity {cap}");
        assert!(all == want, "capacity {cap}: every message exactly once");
        let ring = r.ring();
        assert_eq!(ring.counts(), (3 * PER, 3 * PER), "capacity {cap}");
        // The indices themselves are lower bounds (raced stores may leave them
        // behind).
        let c = ring.control();
        assert!(c.tail.load(Ordering::Relaxed) <= 3 * PER);
        assert!(c.head.load(Ordering::Relaxed) <= 3 * PER);
    }
}
