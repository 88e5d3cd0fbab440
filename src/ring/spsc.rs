//! Single-producer single-consumer ring with process-local cached indices.
//!
//! `head` (next slot to read) and `tail` (next slot to write) are free-running `u64`
//! counters in the control block, each on its own 128-byte line. Each side keeps its
//! own index locally and a cached copy of the other side's, refreshed only when the
//! cache says full (producer) or empty (consumer), so a busy channel touches the
//! other side's line once per lap, not once per message.
//!
//! A producer that dies before publishing `tail` leaves nothing visible; a consumer
//! that dies after reading but before publishing `head` leaves the message for the
//! next consumer (at-least-once for that one message).

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
    tail_cache: Cell<u64>,
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
        // SYNC(tail): a previous producer's Release; we continue from its last slot.
        let tail = c.tail.load(Ordering::Acquire);
        let head = c.head.load(Ordering::Acquire);
        Producer {
            ring,
            tail: Cell::new(tail),
            head_cache: Cell::new(head),
            _t: PhantomData,
        }
    }

    fn cap(&self) -> u64 {
        self.ring.geo.capacity
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

    #[inline]
    fn publish(&self, tail: u64) {
        self.tail.set(tail);
        // SYNC(tail): Release; pairs with the consumer's Acquire in `Consumer::available`
        // and publishes the slot writes before it.
        self.ring.control().tail.store(tail, Ordering::Release);
    }

    /// Writes `v` into the next slot and publishes it; `Err(v)` when full.
    #[inline]
    pub fn push(&self, v: T) -> Result<(), T> {
        if self.free(1) == 0 {
            return Err(v);
        }
        let t = self.tail.get();
        // SAFETY: the slot at `t` is free (t - head < capacity) so the consumer does not
        // read it; payload() is in bounds and aligned for T (geometry checked for T).
        unsafe { self.ring.payload(t).cast::<T>().write(v) };
        self.publish(t.wrapping_add(1));
        Ok(())
    }

    /// Lets `f` fill the next slot in place, then publishes it. Returns `None` (and
    /// does not call `f`) when full. If `f` panics nothing is published.
    #[inline]
    pub fn push_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        if self.free(1) == 0 {
            return None;
        }
        let t = self.tail.get();
        // SAFETY: as in `push`; the slot is ours until published, T is Pod so any bytes
        // left there are a valid T. A hostile peer writing it concurrently can make the
        // data wrong but T has no invariants to break.
        let r = f(unsafe { &mut *self.ring.payload(t).cast::<T>() });
        self.publish(t.wrapping_add(1));
        Some(r)
    }

    /// Writes as many of `vs` as fit, publishing `tail` once. Returns how many.
    pub fn push_slice(&self, vs: &[T]) -> usize {
        let n = (self.free(vs.len() as u64) as usize).min(vs.len());
        let t = self.tail.get();
        for (i, v) in vs[..n].iter().enumerate() {
            // SAFETY: slots t..t+n are free (n <= free); in bounds and aligned as in `push`.
            unsafe {
                self.ring
                    .payload(t.wrapping_add(i as u64))
                    .cast::<T>()
                    .write(*v)
            };
        }
        if n > 0 {
            self.publish(t.wrapping_add(n as u64));
        }
        n
    }

    /// Messages in the ring as the producer sees it (exact for `tail`, fresh `head`).
    pub fn len(&self) -> u64 {
        let head = self.ring.control().head.load(Ordering::Acquire);
        self.tail.get().wrapping_sub(head).min(self.cap())
    }

    /// Whether the ring holds no message.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next index to write.
    pub fn tail(&self) -> u64 {
        self.tail.get()
    }
}

impl<T: Pod> Consumer<T> {
    /// Takes the consumer side, starting from the `head` published in the region.
    ///
    /// # Safety
    /// At most one `Consumer` exists per region at a time (the caller holds the
    /// receiver role), and the ring's element type is `T`.
    pub unsafe fn new(ring: RawRing) -> Self {
        let c = ring.control();
        let head = c.head.load(Ordering::Acquire);
        Consumer {
            ring,
            head: Cell::new(head),
            tail_cache: Cell::new(head),
            _t: PhantomData,
        }
    }

    fn cap(&self) -> u64 {
        self.ring.geo.capacity
    }

    /// Messages ready, refreshing the cached tail only when the cache shows fewer than
    /// `want`.
    #[inline]
    fn available(&self, want: u64) -> u64 {
        let head = self.head.get();
        let avail = self.tail_cache.get().wrapping_sub(head).min(self.cap());
        if avail >= want {
            return avail;
        }
        // SYNC(tail): Acquire; pairs with the producer's Release in `Producer::publish`.
        let tail = self.ring.control().tail.load(Ordering::Acquire);
        self.tail_cache.set(tail);
        // A tail behind head (corrupt peer) wraps to a huge value: clamp, so at worst we
        // read stale slots, always in bounds.
        let avail = tail.wrapping_sub(head);
        if avail > self.cap() {
            0
        } else {
            avail
        }
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
        if self.available(1) == 0 {
            return None;
        }
        let h = self.head.get();
        // SAFETY: the slot at `h` was published (h < tail) and the producer will not
        // overwrite it before we publish head; in bounds, aligned; T is Pod.
        let v = unsafe { self.ring.payload(h).cast::<T>().read() };
        self.publish_head(h.wrapping_add(1));
        Some(v)
    }

    /// Lets `f` read the next message in place, then frees the slot. `None` (and `f`
    /// is not called) when empty. If `f` panics the message stays in the ring.
    #[inline]
    pub fn pop_with<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        if self.available(1) == 0 {
            return None;
        }
        let h = self.head.get();
        // SAFETY: as in `pop`; the reference lives only during `f`, before the slot is
        // released to the producer.
        let r = f(unsafe { &*self.ring.payload(h).cast::<T>() });
        self.publish_head(h.wrapping_add(1));
        Some(r)
    }

    /// Reads up to `out.len()` messages, publishing `head` once. Returns how many.
    pub fn pop_slice(&self, out: &mut [T]) -> usize {
        let n = (self.available(out.len() as u64) as usize).min(out.len());
        let h = self.head.get();
        for (i, o) in out[..n].iter_mut().enumerate() {
            // SAFETY: slots h..h+n are published; in bounds and aligned as in `pop`.
            *o = unsafe {
                self.ring
                    .payload(h.wrapping_add(i as u64))
                    .cast::<T>()
                    .read()
            };
        }
        if n > 0 {
            self.publish_head(h.wrapping_add(n as u64));
        }
        n
    }

    /// Messages in the ring (fresh `tail`).
    pub fn len(&self) -> u64 {
        let tail = self.ring.control().tail.load(Ordering::Acquire);
        let n = tail.wrapping_sub(self.head.get());
        if n > self.cap() {
            0
        } else {
            n
        }
    }

    /// Whether the ring holds no message.
    pub fn is_empty(&self) -> bool {
        self.available(1) == 0
    }

    /// The next index to read.
    pub fn head(&self) -> u64 {
        self.head.get()
    }
}
