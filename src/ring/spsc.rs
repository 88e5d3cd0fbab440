//! Single-producer single-consumer ring with in-slot stamps and a cached head.
//!
//! `head` (next slot to read) and `tail` (next slot to write) are free-running `u64`
//! counters in the control block, each on its own 128-byte line. Every slot starts
//! with a stamp: the producer writes the payload, then stores `position + 1` in the
//! slot's stamp (Release). The consumer polls the stamp of the slot at its head, so a
//! message and its "published" mark arrive on the same cache line: one line moves
//! per message, as in a raw cache-line ping-pong. The producer keeps a process-local
//! copy of `head` and refreshes it only when the copy says full, so a busy channel
//! touches the consumer's line once per lap. `tail` is still stored (on the
//! producer's own line) for `len()` and the statistics.
//!
//! A producer that dies before stamping a slot leaves nothing visible; a consumer
//! that dies after reading but before publishing `head` leaves the message for the
//! next consumer (at-least-once for that one message). Stamps are positions, unique
//! across laps, so a stale stamp is never mistaken for a new message.

use std::cell::Cell;
use std::marker::PhantomData;

use bytemuck::Pod;

use super::RawRing;
use crate::sync::Ordering;

/// The producing side of an SPSC ring.
#[derive(Debug)]
pub struct Producer<T> {
    ring: RawRing,
    tail: Cell<u64>,
    head_cache: Cell<u64>,
    _t: PhantomData<T>,
}

/// The consuming side of an SPSC ring.
#[derive(Debug)]
pub struct Consumer<T> {
    ring: RawRing,
    head: Cell<u64>,
    _t: PhantomData<T>,
}

// SAFETY: a Producer may move to another thread; it is !Sync (Cell), so only one thread
// uses it at a time, which is what the single-producer protocol needs.
unsafe impl<T: Send> Send for Producer<T> {}
// SAFETY: as for Producer.
unsafe impl<T: Send> Send for Consumer<T> {}

impl<T: Pod> Producer<T> {
    /// Takes the producer side, starting from the `tail` published in the region.
    ///
    /// # Safety
    /// At most one `Producer` exists per region at a time (the caller holds the
    /// sender role), and the ring's element type is `T` (size and alignment checked).
    pub unsafe fn new(ring: RawRing) -> Self {
        let c = ring.control();
        // SYNC(tail): a previous producer's Release; we continue after its last slot.
        let mut tail = c.tail.load(Ordering::Acquire);
        let head = c.head.load(Ordering::Acquire);
        // A previous producer killed between stamping a slot and storing `tail` left
        // messages that are visible (and maybe consumed) past `tail`: continue after
        // them, never over them.
        for _ in 0..ring.geo.capacity {
            if ring.stamp(tail).load(Ordering::Acquire) != tail.wrapping_add(1) {
                break;
            }
            tail = tail.wrapping_add(1);
        }
        c.tail.store(tail, Ordering::Release);
        Producer {
            ring,
            tail: Cell::new(tail),
            head_cache: Cell::new(head),
            _t: PhantomData,
        }
    }

    /// The most messages in flight: the requested capacity (the ring may have more
    /// slots, a power of two).
    fn cap(&self) -> u64 {
        self.ring.geo.limit
    }

    /// Whether one slot is free: `free(1) > 0` with one compare on the fast path.
    #[inline(always)]
    fn has_room(&self) -> bool {
        // A head ahead of our tail (corrupt peer) makes the difference huge: "full".
        self.tail.get().wrapping_sub(self.head_cache.get()) < self.cap() || self.free(1) > 0
    }

    /// Free slots, refreshing the cached head only when the cache shows fewer than
    /// `want` free.
    #[inline]
    fn free(&self, want: u64) -> u64 {
        let tail = self.tail.get();
        let free = self
            .cap()
            .saturating_sub(tail.wrapping_sub(self.head_cache.get()));
        if free >= want {
            return free;
        }
        // SYNC(head): Acquire; pairs with the consumer's Release in `publish_head`, so
        // the slots it freed are no longer read when we overwrite them.
        let head = self.ring.control().head.load(Ordering::Acquire);
        self.head_cache.set(head);
        // A head ahead of our tail (corrupt peer) reads as "full": wrapping_sub is huge.
        self.cap().saturating_sub(tail.wrapping_sub(head))
    }

    /// Marks slot `t` as holding the message for position `t`.
    #[inline]
    fn stamp(&self, t: u64) {
        // SYNC(stamp): Release; pairs with the consumer's Acquire in `ready`, and
        // publishes the payload written before it.
        self.ring
            .stamp(t)
            .store(t.wrapping_add(1), Ordering::Release);
    }

    #[inline]
    fn publish(&self, tail: u64) {
        self.tail.set(tail);
        // SYNC(tail): Release; for len() and statistics only (consumers poll stamps).
        self.ring.control().tail.store(tail, Ordering::Release);
    }

    /// Writes `v` into the next slot and publishes it; `Err(v)` when full.
    #[inline]
    pub fn push(&self, v: T) -> Result<(), T> {
        if !self.has_room() {
            return Err(v);
        }
        let t = self.tail.get();
        #[cfg(loom)]
        let access = self.ring.loom_cell(t).get_mut();
        // SAFETY: the slot at `t` is free (t - head < capacity) so the consumer does not
        // read it; payload() is in bounds and aligned for T (geometry checked for T).
        unsafe { self.ring.payload(t).cast::<T>().write(v) };
        #[cfg(loom)]
        drop(access);
        self.stamp(t);
        self.publish(t.wrapping_add(1));
        Ok(())
    }

    /// Lets `f` fill the next slot in place, then publishes it. Returns `None` (and
    /// does not call `f`) when full. If `f` panics nothing is published.
    #[inline]
    pub fn push_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        if !self.has_room() {
            return None;
        }
        let t = self.tail.get();
        #[cfg(loom)]
        let access = self.ring.loom_cell(t).get_mut();
        // SAFETY: as in `push`; the slot is ours until stamped, T is Pod so any bytes
        // left there are a valid T. A hostile peer writing it concurrently can make the
        // data wrong but T has no invariants to break.
        let r = f(unsafe { &mut *self.ring.payload(t).cast::<T>() });
        #[cfg(loom)]
        drop(access);
        self.stamp(t);
        self.publish(t.wrapping_add(1));
        Some(r)
    }

    /// Untyped [`push_with`](Self::push_with) (the C interface): `f` fills the next
    /// slot's payload through a pointer to `elem_size` writable bytes, aligned to the
    /// ring's element alignment; then it is published. `None` (no call) when full.
    #[inline(always)]
    pub fn push_ptr<R>(&self, f: impl FnOnce(*mut u8) -> R) -> Option<R> {
        if !self.has_room() {
            return None;
        }
        let t = self.tail.get();
        let slot = self.ring.slot(t);
        #[cfg(loom)]
        let access = self.ring.loom_cell(t).get_mut();
        // The slot is ours until stamped (as in `push`); its payload is in bounds for
        // `elem_size` bytes.
        let r = f(self.ring.payload_in(slot));
        #[cfg(loom)]
        drop(access);
        // SYNC(stamp): Release, as in `stamp`.
        // SAFETY: `slot` came from `self.ring.slot`.
        unsafe { self.ring.stamp_in(slot) }.store(t.wrapping_add(1), Ordering::Release);
        self.publish(t.wrapping_add(1));
        Some(r)
    }

    /// Writes as many of `vs` as fit, storing `tail` once. Returns how many.
    pub fn push_slice(&self, vs: &[T]) -> usize {
        let n = (self.free(vs.len() as u64) as usize).min(vs.len());
        let t = self.tail.get();
        for (i, v) in vs[..n].iter().enumerate() {
            let p = t.wrapping_add(i as u64);
            #[cfg(loom)]
            let access = self.ring.loom_cell(p).get_mut();
            // SAFETY: slots t..t+n are free (n <= free); in bounds and aligned as in `push`.
            unsafe { self.ring.payload(p).cast::<T>().write(*v) };
            #[cfg(loom)]
            drop(access);
            self.stamp(p);
        }
        if n > 0 {
            self.publish(t.wrapping_add(n as u64));
        }
        n
    }
}

impl<T: Pod> Consumer<T> {
    /// Takes the consumer side, starting from the `head` published in the region.
    ///
    /// # Safety
    /// At most one `Consumer` exists per region at a time (the caller holds the
    /// receiver role), and the ring's element type is `T`.
    pub unsafe fn new(ring: RawRing) -> Self {
        let head = ring.control().head.load(Ordering::Acquire);
        Consumer {
            ring,
            head: Cell::new(head),
            _t: PhantomData,
        }
    }

    /// Whether the slot at position `h` holds the message for `h`.
    #[inline]
    fn ready(&self, h: u64) -> bool {
        // SYNC(stamp): Acquire; pairs with the producer's Release in `stamp`: the
        // payload is complete once the stamp says so.
        self.ring.stamp(h).load(Ordering::Acquire) == h.wrapping_add(1)
    }

    #[inline]
    fn publish_head(&self, head: u64) {
        self.head.set(head);
        // SYNC(head): Release; pairs with the producer's Acquire in `Producer::free`: our
        // reads of the slots happen before the producer reuses them.
        self.ring.control().head.store(head, Ordering::Release);
    }

    /// Takes the next message, or `None` when empty.
    #[inline]
    pub fn pop(&self) -> Option<T> {
        let h = self.head.get();
        if !self.ready(h) {
            return None;
        }
        #[cfg(loom)]
        let access = self.ring.loom_cell(h).get();
        // SAFETY: the slot at `h` is stamped for `h`, and the producer will not overwrite
        // it before we publish head; in bounds, aligned; T is Pod.
        let v = unsafe { self.ring.payload(h).cast::<T>().read() };
        #[cfg(loom)]
        drop(access);
        self.publish_head(h.wrapping_add(1));
        Some(v)
    }

    /// Lets `f` read the next message in place, then frees the slot. `None` (and `f`
    /// is not called) when empty. If `f` panics the message stays in the ring.
    #[inline]
    pub fn pop_with<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        let h = self.head.get();
        if !self.ready(h) {
            return None;
        }
        #[cfg(loom)]
        let access = self.ring.loom_cell(h).get();
        // SAFETY: as in `pop`; the reference lives only during `f`, before the slot is
        // released to the producer.
        let r = f(unsafe { &*self.ring.payload(h).cast::<T>() });
        #[cfg(loom)]
        drop(access);
        self.publish_head(h.wrapping_add(1));
        Some(r)
    }

    /// Untyped [`pop_with`](Self::pop_with) (the C interface): `f` reads the next
    /// message through a pointer to its `elem_size` bytes, then the slot is freed.
    /// `None` (no call) when empty.
    #[inline(always)]
    pub fn pop_ptr<R>(&self, f: impl FnOnce(*const u8) -> R) -> Option<R> {
        let h = self.head.get();
        let slot = self.ring.slot(h);
        // SYNC(stamp): Acquire, as in `ready`.
        // SAFETY: `slot` came from `self.ring.slot`.
        if unsafe { self.ring.stamp_in(slot) }.load(Ordering::Acquire) != h.wrapping_add(1) {
            return None;
        }
        #[cfg(loom)]
        let access = self.ring.loom_cell(h).get();
        // The slot is stamped for `h` and not overwritten before we publish head.
        let r = f(self.ring.payload_in(slot).cast_const());
        #[cfg(loom)]
        drop(access);
        self.publish_head(h.wrapping_add(1));
        Some(r)
    }

    /// Reads up to `out.len()` messages, publishing `head` once. Returns how many.
    pub fn pop_slice(&self, out: &mut [T]) -> usize {
        let h = self.head.get();
        let mut n = 0;
        while n < out.len().min(self.ring.geo.capacity as usize) {
            let p = h.wrapping_add(n as u64);
            if !self.ready(p) {
                break;
            }
            #[cfg(loom)]
            let access = self.ring.loom_cell(p).get();
            // SAFETY: the slot is stamped for `p`; in bounds and aligned as in `pop`.
            out[n] = unsafe { self.ring.payload(p).cast::<T>().read() };
            #[cfg(loom)]
            drop(access);
            n += 1;
        }
        if n > 0 {
            self.publish_head(h.wrapping_add(n as u64));
        }
        n
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::options::Flavor;
    use crate::ring::test_region::Region;

    #[test]
    fn raw_push_and_pop_move_elem_size_bytes_in_order() {
        // A 24-byte element known only at run time (the C interface's case).
        let r = Region::new(Flavor::Spsc, 4, 3, 24, 8);
        // SAFETY: one producer and one consumer; the raw methods use the geometry.
        let (p, c) = unsafe { (Producer::<()>::new(r.ring()), Consumer::<()>::new(r.ring())) };
        let msg = |i: u8| [i; 24];
        for i in 0..3u8 {
            // SAFETY: the slot has 24 writable bytes.
            let put =
                p.push_ptr(|d| unsafe { std::ptr::copy_nonoverlapping(msg(i).as_ptr(), d, 24) });
            assert!(put.is_some());
        }
        assert!(p.push_ptr(|_| unreachable!("full")).is_none(), "limit 3");
        for i in 0..3u8 {
            let mut got = [0u8; 24];
            // SAFETY: the slot has 24 readable bytes.
            let read =
                c.pop_ptr(|s| unsafe { std::ptr::copy_nonoverlapping(s, got.as_mut_ptr(), 24) });
            assert!(read.is_some());
            assert_eq!(got, msg(i));
        }
        assert!(c.pop_ptr(|_| unreachable!("empty")).is_none());
    }
}
