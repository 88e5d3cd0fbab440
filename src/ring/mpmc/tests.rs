//! Unit tests of the MPMC ring on heap regions.

use super::*;
use crate::options::Flavor;
use crate::ring::test_region::Region;

fn q(r: &Region, tag: u16) -> Mpmc<u64> {
    // SAFETY: the region is laid out for u64 and initialised.
    unsafe { Mpmc::new(r.ring(), tag) }
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
