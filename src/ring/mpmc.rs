//! Multi-producer multi-consumer ring: Dmitry Vyukov's bounded MPMC queue
//! (<https://www.1024cores.net/home/lock-free-algorithms/queues/bounded-mpmc-queue>),
//! as crossbeam's `array` flavor also uses, laid out in a shared region.
//!
//! Each slot starts with a sequence word (`stamp`). For position `pos`, the slot at
//! `pos & mask` is free for a producer when `stamp == pos`, holds a message for a
//! consumer when `stamp == pos + 1`, and is freed for the next lap by storing
//! `pos + capacity`. `head` and `tail` are free-running `u64` positions claimed with a
//! CAS. A batch claims a whole range with one CAS after checking every stamp in it,
//! so a batch publishes its index once.
//!
//! Every stamp and index read from the region is untrusted: positions are masked, and
//! a claim loop that sees no progress gives up (reports full/empty) instead of
//! spinning forever on corrupt data.

use std::marker::PhantomData;

use bytemuck::Pod;

use super::layout::OWNER_OFFSET;
use super::RawRing;
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// A handle on an MPMC ring; any number may exist, in any processes.
#[derive(Debug)]
pub struct Mpmc<T> {
    ring: RawRing,
    owner: Owner,
    _t: PhantomData<T>,
}

// SAFETY: all shared state is atomics and slot ownership is arbitrated by CAS, so
// handles can move between threads.
unsafe impl<T: Send> Send for Mpmc<T> {}
// SAFETY: as above; every method takes &self and synchronises through atomics.
unsafe impl<T: Send> Sync for Mpmc<T> {}

/// Largest number of retries of a claim loop before it reports full/empty.
const MAX_RETRIES: u32 = 1 << 16;

impl<T: Pod> Mpmc<T> {
    /// A handle on the ring; `owner` (e.g. the pid) is recorded in every slot this
    /// handle claims, so a slot left unpublished by a dead owner can be identified.
    ///
    /// # Safety
    /// The ring's element type is `T` (size and alignment checked) and it was
    /// initialised with [`Mpmc::init`].
    pub unsafe fn new(ring: RawRing, owner: Owner) -> Self {
        Mpmc {
            ring,
            owner,
            _t: PhantomData,
        }
    }

    /// Sets every slot's stamp to its index (creator only, before publishing `Ready`).
    pub fn init(ring: &RawRing) {
        for i in 0..ring.geo.capacity {
            stamp(ring, i).store(i, Ordering::Relaxed);
        }
    }

    fn cap(&self) -> u64 {
        self.ring.geo.capacity
    }

    /// Claims up to `n` consecutive positions of `index` (`tail` for producers,
    /// `head` for consumers) whose stamps equal `position + lag` (0: free for this lap,
    /// 1: published); records this handle as their owner; returns the first position
    /// and how many (at least 1), or `None` when there is none.
    #[inline]
    fn claim(&self, index: &AtomicU64, lag: u64, n: u64) -> Option<(u64, u64)> {
        let mut pos = index.load(Ordering::Relaxed);
        for attempt in 0..MAX_RETRIES {
            let mut count = 0;
            let mut ahead = false;
            while count < n {
                let p = pos.wrapping_add(count);
                // SYNC(stamp): Acquire; pairs with the Release/AcqRel stamp updates in
                // `publish` (payload written) and `release` (payload read).
                let s = stamp(&self.ring, p).load(Ordering::Acquire);
                let diff = s.wrapping_sub(p.wrapping_add(lag)) as i64;
                if diff != 0 {
                    ahead = diff > 0 && count == 0;
                    break;
                }
                count += 1;
            }
            if count > 0 {
                match index.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(count),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        for k in 0..count {
                            set_owner(&self.ring, pos.wrapping_add(k), self.owner);
                        }
                        return Some((pos, count));
                    }
                    Err(cur) => {
                        // Lost the race to another handle: back off a little (up to 64
                        // pauses) before retrying, so the claimers of a contended
                        // index do not keep stealing its line from each other.
                        for _ in 0..1u32 << attempt.min(6) {
                            std::hint::spin_loop();
                        }
                        pos = cur;
                    }
                }
            } else if ahead {
                // Another handle claimed `pos`; it advanced the index before stamping,
                // so a fresh load makes progress unless the region is corrupt.
                let cur = index.load(Ordering::Relaxed);
                if cur == pos {
                    return None;
                }
                pos = cur;
            } else {
                return None;
            }
        }
        None
    }

    #[inline]
    fn claim_send(&self, n: u64) -> Option<(u64, u64)> {
        self.claim(&self.ring.control().tail, 0, n)
    }

    #[inline]
    fn claim_recv(&self, n: u64) -> Option<(u64, u64)> {
        self.claim(&self.ring.control().head, 1, n)
    }

    /// Publishes the message at `pos` with a CAS on its stamp. `false` when the slot
    /// was skipped meanwhile (its owner was taken for dead): the message was not
    /// delivered and must be sent again at a new position.
    #[inline]
    fn publish(&self, pos: u64) -> bool {
        // We stop holding the slot: an owner word names only a current holder, so a
        // claimer that dies before recording itself leaves 0 (dead), never us.
        clear_owner(&self.ring, pos, self.owner);
        // SYNC(stamp): Release; pairs with the consumer's Acquire in `claim` and
        // publishes the payload write.
        stamp(&self.ring, pos)
            .compare_exchange(
                pos,
                pos.wrapping_add(1),
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Frees the slot at `pos` for the next lap (a CAS: fails, returning false, if a
    /// producer already reclaimed it from us, taken for dead, and may have
    /// overwritten what we read).
    #[inline]
    fn release(&self, pos: u64) -> bool {
        clear_owner(&self.ring, pos, self.owner);
        // SYNC(stamp): Release; pairs with the producer's Acquire in `claim`: our read
        // of the payload happens before it is overwritten.
        stamp(&self.ring, pos)
            .compare_exchange(
                pos.wrapping_add(1),
                pos.wrapping_add(self.cap()),
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Enqueues `v`; `Err(v)` when full.
    #[inline]
    pub fn push(&self, v: T) -> Result<(), T> {
        loop {
            let Some((pos, _)) = self.claim_send(1) else {
                return Err(v);
            };
            #[cfg(loom)]
            let access = self.ring.loom_cell(pos).get_mut();
            // SAFETY: we own the claimed slot until we publish it; in bounds and
            // aligned for T.
            unsafe { self.ring.payload(pos).cast::<T>().write(v) };
            #[cfg(loom)]
            drop(access);
            if self.publish(pos) {
                return Ok(());
            }
        }
    }

    /// Lets `f` fill a claimed slot in place, then publishes it; `None` when full.
    #[inline]
    pub fn push_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let (pos, _) = self.claim_send(1)?;
        // Publish even if `f` panics, so the slot never wedges the queue.
        let guard = PublishOnDrop { q: self, pos };
        #[cfg(loom)]
        let access = self.ring.loom_cell(pos).get_mut();
        // SAFETY: the claimed slot is ours until published; T is Pod (any bytes valid).
        let r = f(unsafe { &mut *self.ring.payload(pos).cast::<T>() });
        #[cfg(loom)]
        drop(access);
        drop(guard);
        Some(r)
    }

    /// Enqueues as many of `vs` as fit, claiming them with one CAS. Returns how many.
    pub fn push_slice(&self, vs: &[T]) -> usize {
        let Some((pos, n)) = self.claim_send((vs.len() as u64).min(self.cap())) else {
            return 0;
        };
        for (i, v) in vs[..n as usize].iter().enumerate() {
            #[cfg(loom)]
            let access = self.ring.loom_cell(pos.wrapping_add(i as u64)).get_mut();
            // SAFETY: positions pos..pos+n are claimed by us; in bounds and aligned.
            unsafe {
                self.ring
                    .payload(pos.wrapping_add(i as u64))
                    .cast::<T>()
                    .write(*v)
            };
            #[cfg(loom)]
            drop(access);
        }
        let mut sent = n as usize;
        for i in 0..n {
            if !self.publish(pos.wrapping_add(i)) {
                // Skipped while we wrote (taken for dead): send it again.
                if self.push(vs[i as usize]).is_err() {
                    sent -= 1;
                }
            }
        }
        sent
    }

    /// Dequeues one message; `None` when empty.
    #[inline]
    pub fn pop(&self) -> Option<T> {
        loop {
            let (pos, _) = self.claim_recv(1)?;
            #[cfg(loom)]
            let access = self.ring.loom_cell(pos).get();
            // SAFETY: the claimed slot holds a published message that no producer
            // overwrites before we release it; T is Pod.
            let v = unsafe { self.ring.payload(pos).cast::<T>().read() };
            #[cfg(loom)]
            drop(access);
            if self.release(pos) {
                return Some(v);
            }
            // Reclaimed under us (we were taken for dead): the copy may be torn, and
            // the message is counted as lost with a dead consumer. Take the next one.
        }
    }

    /// Lets `f` read a claimed message in place, then frees the slot; `None` when
    /// empty. The slot is freed even if `f` panics.
    #[inline]
    pub fn pop_with<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        let (pos, _) = self.claim_recv(1)?;
        let guard = ReleaseOnDrop { q: self, pos };
        #[cfg(loom)]
        let access = self.ring.loom_cell(pos).get();
        // SAFETY: as in `pop`; the reference does not outlive `f`.
        let r = f(unsafe { &*self.ring.payload(pos).cast::<T>() });
        #[cfg(loom)]
        drop(access);
        drop(guard);
        Some(r)
    }

    /// Dequeues up to `out.len()` messages, claiming them with one CAS.
    pub fn pop_slice(&self, out: &mut [T]) -> usize {
        let Some((pos, n)) = self.claim_recv((out.len() as u64).min(self.cap())) else {
            return 0;
        };
        for (i, o) in out[..n as usize].iter_mut().enumerate() {
            #[cfg(loom)]
            let access = self.ring.loom_cell(pos.wrapping_add(i as u64)).get();
            // SAFETY: positions pos..pos+n are claimed, published messages.
            *o = unsafe {
                self.ring
                    .payload(pos.wrapping_add(i as u64))
                    .cast::<T>()
                    .read()
            };
            #[cfg(loom)]
            drop(access);
        }
        for i in 0..n {
            let _ = self.release(pos.wrapping_add(i));
        }
        n as usize
    }
}

struct PublishOnDrop<'a, T: Pod> {
    q: &'a Mpmc<T>,
    pos: u64,
}

impl<T: Pod> Drop for PublishOnDrop<'_, T> {
    fn drop(&mut self) {
        // A failed publish means the slot was skipped as abandoned; the in-place
        // message is then lost, which only happens if we were taken for dead.
        let _ = self.q.publish(self.pos);
    }
}

struct ReleaseOnDrop<'a, T: Pod> {
    q: &'a Mpmc<T>,
    pos: u64,
}

impl<T: Pod> Drop for ReleaseOnDrop<'_, T> {
    fn drop(&mut self) {
        let _ = self.q.release(self.pos);
    }
}

/// The stamp (sequence word) of the slot at `pos & mask`.
#[inline]
pub fn stamp(ring: &RawRing, pos: u64) -> &AtomicU64 {
    ring.stamp(pos)
}

/// Who claimed a slot: a pid and the low 32 bits of the process start time (so a
/// reused pid is not mistaken for the claimer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// Process id.
    pub pid: u32,
    /// Low 32 bits of the start time (clock ticks since boot), 0 if unknown.
    pub start: u32,
}

/// The owner recorded in the slot at `pos & mask` (who claimed it last).
#[inline]
pub fn owner(ring: &RawRing, pos: u64) -> Owner {
    let (pid, start) = owner_words(ring, pos);
    Owner {
        pid: pid.load(Ordering::Relaxed),
        start: start.load(Ordering::Relaxed),
    }
}

#[inline]
fn set_owner(ring: &RawRing, pos: u64, o: Owner) {
    let (pid, start) = owner_words(ring, pos);
    pid.store(o.pid, Ordering::Relaxed);
    start.store(o.start, Ordering::Relaxed);
}

/// Clears the owner words of the slot at `pos` if they still name `o`.
///
/// A load and plain stores, no locked instruction on the per-message path. Another
/// claimer can record itself in this slot between our load and our store only if the
/// slot was skipped under us (we were taken for dead, which a live handle's record
/// prevents); erasing its record then makes that claimer look dead at worst, and a
/// skip is decided by a CAS on the stamp, so a live producer whose slot is skipped
/// sends again and nothing is delivered twice.
#[inline]
fn clear_owner(ring: &RawRing, pos: u64, o: Owner) {
    let (pid, start) = owner_words(ring, pos);
    if pid.load(Ordering::Relaxed) == o.pid {
        pid.store(0, Ordering::Relaxed);
        start.store(0, Ordering::Relaxed);
    }
}

fn owner_words(ring: &RawRing, pos: u64) -> (&AtomicU32, &AtomicU32) {
    // SAFETY: bytes 8..16 (OWNER_OFFSET is 8) of the 16-byte slot header of an
    // in-bounds slot, aligned to 4; AtomicU32 is valid for any bit pattern. Under loom
    // the header is sized for loom's types and `loom_region` constructs these words.
    unsafe {
        let p = ring.slot(pos).add(OWNER_OFFSET).cast::<AtomicU32>();
        (&*p, &*p.add(1))
    }
}

/// A slot that blocks progress, as seen by [`stuck`]; pass the same value to
/// [`skip`] after confirming (twice, a slice apart) that its owner is dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stuck {
    /// The blocking position.
    pub pos: u64,
    /// Its stamp when seen.
    pub stamp: u64,
    /// Who claimed it.
    pub owner: Owner,
    /// Whether a consumer is the claimer (else a producer).
    pub consumer: bool,
}

/// Finds a slot that blocks the queue: at `head`, a position claimed by a producer
/// but never published (tail is past it); or at `tail`, a slot of the previous lap
/// claimed by a consumer (head is past it) but never released.
pub fn stuck(ring: &RawRing) -> Option<Stuck> {
    let c = ring.control();
    let cap = ring.geo.capacity;
    let head = c.head.load(Ordering::Acquire);
    let tail = c.tail.load(Ordering::Acquire);
    let ahead = tail.wrapping_sub(head);
    let s = stamp(ring, head).load(Ordering::Acquire);
    if ahead >= 1 && ahead <= cap && (s == head || s == head.wrapping_add(cap)) {
        return Some(Stuck {
            pos: head,
            stamp: s,
            owner: owner(ring, head),
            consumer: false,
        });
    }
    let prev = tail.wrapping_sub(cap);
    let s = stamp(ring, tail).load(Ordering::Acquire);
    let claimed = head.wrapping_sub(prev);
    if s == prev.wrapping_add(1) && claimed >= 1 && claimed <= cap {
        return Some(Stuck {
            pos: prev,
            stamp: s,
            owner: owner(ring, prev),
            consumer: true,
        });
    }
    None
}

/// Skips a stuck slot whose owner is dead; returns whether this call did it.
///
/// - producer died before publishing: the stamp moves to the next lap (so a slow
///   claimer's publishing CAS fails and it sends again), then `head` moves past it;
/// - consumer died before releasing: the stamp moves to the next lap (the message it
///   was reading is lost with it).
pub fn skip(ring: &RawRing, st: &Stuck) -> bool {
    let c = ring.control();
    let cap = ring.geo.capacity;
    let next = st.pos.wrapping_add(cap);
    let stamp = stamp(ring, st.pos);
    if st.consumer {
        return stamp
            .compare_exchange(st.stamp, next, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
    }
    let moved = st.stamp == next
        || stamp
            .compare_exchange(st.stamp, next, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
    moved
        && c.head
            .compare_exchange(
                st.pos,
                st.pos.wrapping_add(1),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
}
