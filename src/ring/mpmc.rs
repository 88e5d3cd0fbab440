//! Multi-producer multi-consumer ring: Dmitry Vyukov's bounded MPMC queue
//! (<https://www.1024cores.net/home/lock-free-algorithms/queues/bounded-mpmc-queue>),
//! as crossbeam's `array` flavor also uses, laid out in a shared region, with the
//! claim moved into the slot so that a claimer's identity is visible no later than
//! its claim (the robust-futex pattern).
//!
//! # Stamps
//!
//! Each slot starts with a 64-bit stamp: a 48-bit sequence number (Vyukov's) in the
//! high bits and a 16-bit *tag* in the low bits. For position `pos` the slot at
//! `pos & mask` goes through
//!
//! ```text
//! (pos, 0)        free for the producer of `pos`
//! (pos, tag)      claimed by that producer (tag: its claimer-table entry)
//! (pos + 1, 0)    published: holds the message of `pos`
//! (pos + 1, tag)  claimed by a consumer
//! (pos + cap, 0)  read and released: free for the producer of `pos + cap`
//! ```
//!
//! A claim is one CAS of the stamp from the untagged to the tagged value: the word
//! that gives a claimer the slot also names it, so no slot is ever held by an
//! unknown claimer. `head` and `tail` are free-running `u64` positions that follow
//! the claims: the claimer moves its index past the position after its CAS, and any
//! handle that finds the slot at the index already claimed (or past) moves the index
//! on for it, so a claimer stopped between the two CASes never blocks the others.
//! Publishing and releasing are plain Release stores, as in crossbeam: only the
//! claimer writes its slot's stamp, because a claim is taken away (see [`skip`])
//! only from a claimer proven dead, which can no longer write anything.
//!
//! A batch claims consecutive slots one CAS each and moves the index once.
//!
//! # Capacity
//!
//! A ring has a power-of-two number of slots (two at least: a one-slot ring cannot
//! tell "published in lap n" from "free in lap n + 1"); producers also keep the
//! number of messages in flight (`tail - head`) below the geometry's `limit`, the
//! capacity the user asked for.
//!
//! # Crashes and stalls
//!
//! A claim that is never completed blocks the queue at that position: consumers at
//! a producer's unpublished slot, producers (a lap later) at a consumer's unreleased
//! slot. [`blocker`] reports such a claim with its tag; the transport looks the tag up
//! in the claimer table ([`super::claimers`]) and, only when the process is proven
//! gone (its pid vanished, or now names a process started at another time), frees
//! the slot with [`skip`]. A stalled process (SIGSTOP, a debugger, CPU throttling)
//! is alive and keeps its claims for as long as it is stalled.
//!
//! Every stamp and index read from the region is untrusted: positions are masked,
//! tags are range-checked before they address the table, and every loop is bounded,
//! so corrupt data makes the queue report full/empty, never spin forever or go out
//! of bounds.

use std::marker::PhantomData;

use bytemuck::Pod;

use super::RawRing;
use crate::sync::{AtomicU64, Ordering};

/// Bits of a stamp's tag (its low bits).
pub const TAG_BITS: u32 = 16;
/// Mask of a stamp's 48-bit sequence number (after shifting out the tag).
const SEQ_MASK: u64 = (1 << (64 - TAG_BITS)) - 1;

/// The stamp for sequence number `seq` (taken modulo 2^48) and `tag` (0: unclaimed).
#[inline]
pub const fn encode(seq: u64, tag: u16) -> u64 {
    (seq << TAG_BITS) | tag as u64
}

/// The tag of a stamp (0 when nobody holds the slot).
#[inline]
pub const fn tag_of(stamp: u64) -> u16 {
    stamp as u16
}

/// `seq(stamp) - want` as a signed 48-bit difference (sequence numbers wrap at
/// 2^48; two live positions are never 2^47 apart).
#[inline]
fn lag(stamp: u64, want: u64) -> i64 {
    let d = (stamp >> TAG_BITS).wrapping_sub(want) & SEQ_MASK;
    ((d << TAG_BITS) as i64) >> TAG_BITS
}

/// A handle on an MPMC ring; any number may exist, in any processes, and one may be
/// shared by threads.
#[derive(Debug)]
pub struct Mpmc<T> {
    ring: RawRing,
    tag: u16,
    /// A process-local copy of `head`, refreshed only when it says the ring holds
    /// `limit` messages (only read when `limit < capacity`).
    head_cache: AtomicU64,
    _t: PhantomData<T>,
}

// SAFETY: all shared state is atomics and slot ownership is arbitrated by CAS on the
// stamps, so handles can move between threads.
unsafe impl<T: Send> Send for Mpmc<T> {}
// SAFETY: as above; every method takes &self and synchronises through atomics (the
// head cache is an atomic too, and any value of it is safe: it is only a hint).
unsafe impl<T: Send> Sync for Mpmc<T> {}

/// Largest number of iterations of a claim loop before it reports full/empty (only
/// reached on corrupt data or under extreme contention).
const MAX_RETRIES: u32 = 1 << 16;

impl<T: Pod> Mpmc<T> {
    /// A handle on the ring that claims slots with `tag` (1..=65535): the claimer-table
    /// entry of this process, so a slot left claimed by a dead process can be proven
    /// abandoned.
    ///
    /// # Safety
    /// The ring's element type is `T` (size and alignment checked), it was initialised
    /// with [`Mpmc::init`], and no live process other than the caller's claims with
    /// `tag`.
    ///
    /// # Panics
    /// When `tag` is 0 (it would make a claimed slot look free).
    pub unsafe fn new(ring: RawRing, tag: u16) -> Self {
        assert_ne!(tag, 0, "tag 0 means unclaimed");
        let head = ring.control().head.load(Ordering::Relaxed);
        Mpmc {
            ring,
            tag,
            head_cache: AtomicU64::new(head),
            _t: PhantomData,
        }
    }

    /// Sets every slot's stamp to (its index, untagged): free for lap 0 (creator
    /// only, before publishing `Ready`).
    pub fn init(ring: &RawRing) {
        for i in 0..ring.geo.capacity {
            ring.stamp(i).store(encode(i, 0), Ordering::Relaxed);
        }
    }

    fn cap(&self) -> u64 {
        self.ring.geo.capacity
    }

    /// The tag this handle claims with.
    pub fn tag(&self) -> u16 {
        self.tag
    }

    /// Whether a producer may claim position `p` without exceeding the limit of
    /// messages in flight.
    #[inline]
    fn below_limit(&self, p: u64) -> bool {
        let limit = self.ring.geo.limit;
        if limit >= self.cap() {
            // The stamps alone keep at most `capacity` in flight.
            return true;
        }
        let ok = |head: u64| (p.wrapping_sub(head) as i64) < limit as i64;
        if ok(self.head_cache.load(Ordering::Relaxed)) {
            return true;
        }
        // Relaxed: only a count; the stamps order the slot accesses.
        let head = self.ring.control().head.load(Ordering::Relaxed);
        self.head_cache.store(head, Ordering::Relaxed);
        ok(head)
    }

    /// Claims up to `n` (at least 1) consecutive positions: producers (`consumer`
    /// false) at `tail`, slots free for their position; consumers at `head`, slots
    /// published for theirs. Returns the first position and how many, or `None` when
    /// the position at the index is not ready (full/empty, or held by a claimer of
    /// the other side: ask [`blocker`]).
    #[inline]
    fn claim(&self, consumer: bool, n: u64) -> Option<(u64, u64)> {
        let c = self.ring.control();
        let index = if consumer { &c.head } else { &c.tail };
        let off = u64::from(consumer);
        let mut pos = index.load(Ordering::Relaxed);
        for attempt in 0..MAX_RETRIES {
            let st = self.ring.stamp(pos);
            // SYNC(stamp): Acquire; pairs with the Release stores in `publish` (the
            // payload is written) and `release` (the payload was read).
            let s = st.load(Ordering::Acquire);
            let d = lag(s, pos.wrapping_add(off));
            if d == 0 && tag_of(s) == 0 {
                if !consumer && !self.below_limit(pos) {
                    return None;
                }
                // SYNC(stamp): AcqRel claim. Acquire as the load above; Release so
                // that whoever reads our tag from the stamp also sees our claimer-table
                // entry (written before any claim).
                let won = st
                    .compare_exchange(
                        s,
                        encode(pos.wrapping_add(off), self.tag),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .is_ok();
                if won {
                    let count = self.claim_more(consumer, pos, n);
                    advance(index, pos, pos.wrapping_add(count));
                    return Some((pos, count));
                }
                // Lost the slot to another handle: back off a little (up to 64
                // pauses) so the claimers of a contended slot do not keep stealing
                // its line from each other, then look again (the index moves on).
                for _ in 0..1u32 << attempt.min(6) {
                    std::hint::spin_loop();
                }
            } else if d >= 0 {
                // Claimed by another handle of our side (d == 0, tagged) or already
                // past this lap (d > 0): the index lags behind a claim. Move it on
                // (whoever claimed may be stopped before doing so) and look again.
                let _ = index.compare_exchange(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                pos = index.load(Ordering::Relaxed);
            } else {
                // Not ready for this lap: empty (consumer) or full (producer), maybe
                // because of an in-flight claim of the other side.
                return None;
            }
        }
        None
    }

    /// After claiming `pos`, claims the positions that follow while they are ready
    /// (up to `n` in all); returns how many are claimed, `pos` included.
    #[inline]
    fn claim_more(&self, consumer: bool, pos: u64, n: u64) -> u64 {
        let off = u64::from(consumer);
        let mut count = 1;
        while count < n {
            let p = pos.wrapping_add(count);
            if !consumer && !self.below_limit(p) {
                break;
            }
            // SYNC(stamp): AcqRel claim, as in `claim`.
            let claimed = self
                .ring
                .stamp(p)
                .compare_exchange(
                    encode(p.wrapping_add(off), 0),
                    encode(p.wrapping_add(off), self.tag),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok();
            if !claimed {
                break;
            }
            count += 1;
        }
        count
    }

    /// Publishes the message at `pos` (which this handle claimed and filled).
    #[inline]
    fn publish(&self, pos: u64) {
        // SYNC(stamp): Release; pairs with the consumer's Acquire in `claim`: the
        // payload write happens before the message is visible.
        self.ring
            .stamp(pos)
            .store(encode(pos.wrapping_add(1), 0), Ordering::Release);
    }

    /// Frees the slot at `pos` (which this handle claimed and read) for the next lap.
    #[inline]
    fn release(&self, pos: u64) {
        // SYNC(stamp): Release; pairs with the producer's Acquire in `claim`: our read
        // of the payload happens before it is overwritten.
        self.ring
            .stamp(pos)
            .store(encode(pos.wrapping_add(self.cap()), 0), Ordering::Release);
    }

    /// Enqueues `v`; `Err(v)` when full (or when the slot it needs is still held by a
    /// consumer of the previous lap: see [`blocker`]).
    #[inline]
    pub fn push(&self, v: T) -> Result<(), T> {
        let Some((pos, _)) = self.claim(false, 1) else {
            return Err(v);
        };
        #[cfg(loom)]
        let access = self.ring.loom_cell(pos).get_mut();
        // SAFETY: we hold the claimed slot until we publish it (nobody takes a live
        // claimer's slot); in bounds and aligned for T.
        unsafe { self.ring.payload(pos).cast::<T>().write(v) };
        #[cfg(loom)]
        drop(access);
        self.publish(pos);
        Ok(())
    }

    /// Lets `f` fill a claimed slot in place, then publishes it; `None` when full.
    /// If `f` panics the slot is published with what `f` wrote (the queue must never
    /// wedge on a live handle's slot).
    #[inline]
    pub fn push_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let (pos, _) = self.claim(false, 1)?;
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

    /// Untyped [`push_with`](Self::push_with) (the C interface): `f` fills a claimed
    /// slot through a pointer to `elem_size` writable bytes, aligned to the ring's
    /// element alignment; then it is published (also if `f` panics). `None` when full.
    #[inline(always)]
    pub fn push_ptr<R>(&self, f: impl FnOnce(*mut u8) -> R) -> Option<R> {
        let (pos, _) = self.claim(false, 1)?;
        let guard = PublishOnDrop { q: self, pos };
        #[cfg(loom)]
        let access = self.ring.loom_cell(pos).get_mut();
        // The claimed slot is ours until published.
        let r = f(self.ring.payload(pos));
        #[cfg(loom)]
        drop(access);
        drop(guard);
        Some(r)
    }

    /// [`push_ptr`](Self::push_ptr) for an `f` that cannot panic (a plain copy into
    /// the slot): no drop guard on the path of every message. `false` when full.
    #[inline(always)]
    pub fn push_copy(&self, f: impl FnOnce(*mut u8)) -> bool {
        let Some((pos, _)) = self.claim(false, 1) else {
            return false;
        };
        #[cfg(loom)]
        let access = self.ring.loom_cell(pos).get_mut();
        // The claimed slot is ours until published.
        f(self.ring.payload(pos));
        #[cfg(loom)]
        drop(access);
        self.publish(pos);
        true
    }

    /// Enqueues as many of `vs` as fit now (consecutive positions), moving `tail`
    /// once. Returns how many.
    pub fn push_slice(&self, vs: &[T]) -> usize {
        if vs.is_empty() {
            return 0;
        }
        let Some((pos, n)) = self.claim(false, (vs.len() as u64).min(self.cap())) else {
            return 0;
        };
        for (i, v) in vs[..n as usize].iter().enumerate() {
            let p = pos.wrapping_add(i as u64);
            #[cfg(loom)]
            let access = self.ring.loom_cell(p).get_mut();
            // SAFETY: positions pos..pos+n are claimed by us; in bounds and aligned.
            unsafe { self.ring.payload(p).cast::<T>().write(*v) };
            #[cfg(loom)]
            drop(access);
            self.publish(p);
        }
        n as usize
    }

    /// Dequeues one message; `None` when empty (or when the next message is still
    /// being written by a producer: see [`blocker`]).
    #[inline]
    pub fn pop(&self) -> Option<T> {
        let (pos, _) = self.claim(true, 1)?;
        #[cfg(loom)]
        let access = self.ring.loom_cell(pos).get();
        // SAFETY: the claimed slot holds a published message that no producer
        // overwrites before we release it; T is Pod.
        let v = unsafe { self.ring.payload(pos).cast::<T>().read() };
        #[cfg(loom)]
        drop(access);
        self.release(pos);
        Some(v)
    }

    /// Lets `f` read a claimed message in place, then frees the slot; `None` when
    /// empty. The slot is freed even if `f` panics.
    #[inline]
    pub fn pop_with<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        let (pos, _) = self.claim(true, 1)?;
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

    /// Untyped [`pop_with`](Self::pop_with) (the C interface): `f` reads a claimed
    /// message through a pointer to its `elem_size` bytes, then the slot is freed
    /// (also if `f` panics). `None` when empty.
    #[inline(always)]
    pub fn pop_ptr<R>(&self, f: impl FnOnce(*const u8) -> R) -> Option<R> {
        let (pos, _) = self.claim(true, 1)?;
        let guard = ReleaseOnDrop { q: self, pos };
        #[cfg(loom)]
        let access = self.ring.loom_cell(pos).get();
        // The claimed slot holds a published message no producer overwrites before
        // we release it.
        let r = f(self.ring.payload(pos).cast_const());
        #[cfg(loom)]
        drop(access);
        drop(guard);
        Some(r)
    }

    /// [`pop_ptr`](Self::pop_ptr) for an `f` that cannot panic (a plain copy out of
    /// the slot): no drop guard. `false` when empty.
    #[inline(always)]
    pub fn pop_copy(&self, f: impl FnOnce(*const u8)) -> bool {
        let Some((pos, _)) = self.claim(true, 1) else {
            return false;
        };
        #[cfg(loom)]
        let access = self.ring.loom_cell(pos).get();
        // The claimed slot holds a published message no producer overwrites before
        // we release it.
        f(self.ring.payload(pos).cast_const());
        #[cfg(loom)]
        drop(access);
        self.release(pos);
        true
    }

    /// Dequeues up to `out.len()` consecutive messages, moving `head` once.
    pub fn pop_slice(&self, out: &mut [T]) -> usize {
        if out.is_empty() {
            return 0;
        }
        let Some((pos, n)) = self.claim(true, (out.len() as u64).min(self.cap())) else {
            return 0;
        };
        for (i, o) in out[..n as usize].iter_mut().enumerate() {
            let p = pos.wrapping_add(i as u64);
            #[cfg(loom)]
            let access = self.ring.loom_cell(p).get();
            // SAFETY: positions pos..pos+n are claimed, published messages.
            *o = unsafe { self.ring.payload(p).cast::<T>().read() };
            #[cfg(loom)]
            drop(access);
            self.release(p);
        }
        n as usize
    }
}

/// Moves `index` from wherever it is in `from..to` to `to` (positions we claimed);
/// leaves it alone once another handle moved it to `to` or past.
#[inline]
fn advance(index: &AtomicU64, from: u64, to: u64) {
    let mut cur = from;
    loop {
        match index.compare_exchange(cur, to, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) if now.wrapping_sub(from) < to.wrapping_sub(from) => cur = now,
            Err(_) => return,
        }
    }
}

struct PublishOnDrop<'a, T: Pod> {
    q: &'a Mpmc<T>,
    pos: u64,
}

impl<T: Pod> Drop for PublishOnDrop<'_, T> {
    fn drop(&mut self) {
        self.q.publish(self.pos);
    }
}

struct ReleaseOnDrop<'a, T: Pod> {
    q: &'a Mpmc<T>,
    pos: u64,
}

impl<T: Pod> Drop for ReleaseOnDrop<'_, T> {
    fn drop(&mut self) {
        self.q.release(self.pos);
    }
}

/// An in-flight claim that blocks one side: see [`blocker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The claimed position.
    pub pos: u64,
    /// The slot's stamp when seen (names the claimer: [`Held::tag`]).
    pub stamp: u64,
    /// Whether a consumer holds it (else a producer).
    pub consumer: bool,
}

impl Held {
    /// The claimer's tag (its claimer-table entry; untrusted, range-check it).
    pub fn tag(&self) -> u16 {
        tag_of(self.stamp)
    }
}

/// The claim that keeps one side from making progress, if any: for consumers
/// (`consumers` true), the slot at `head` claimed by a producer that has not
/// published it; for producers, the slot at `tail` still claimed by a consumer of
/// the previous lap.
pub fn blocker(ring: &RawRing, consumers: bool) -> Option<Held> {
    let c = ring.control();
    let cap = ring.geo.capacity;
    if consumers {
        let head = c.head.load(Ordering::Acquire);
        let s = ring.stamp(head).load(Ordering::Acquire);
        (tag_of(s) != 0 && lag(s, head) == 0).then_some(Held {
            pos: head,
            stamp: s,
            consumer: false,
        })
    } else {
        let tail = c.tail.load(Ordering::Acquire);
        let prev = tail.wrapping_sub(cap);
        let s = ring.stamp(tail).load(Ordering::Acquire);
        (tag_of(s) != 0 && lag(s, prev.wrapping_add(1)) == 0).then_some(Held {
            pos: prev,
            stamp: s,
            consumer: true,
        })
    }
}

/// What one side finds at its index now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Something to claim (or an index to move on): another attempt may succeed.
    Ready,
    /// Held by an in-flight claim of the other side (see [`blocker`]).
    Held(Held),
    /// Nothing: empty (consumers) or full (producers).
    Nothing,
}

/// What the next claim of one side (`consumers`, else producers) would find, without
/// claiming anything.
pub fn next(ring: &RawRing, consumers: bool) -> Next {
    if let Some(h) = blocker(ring, consumers) {
        return Next::Held(h);
    }
    let c = ring.control();
    let (index, off) = if consumers {
        (&c.head, 1)
    } else {
        (&c.tail, 0)
    };
    let pos = index.load(Ordering::Acquire);
    let s = ring.stamp(pos).load(Ordering::Acquire);
    if lag(s, pos.wrapping_add(off)) < 0 {
        return Next::Nothing;
    }
    let limit = ring.geo.limit;
    let head = c.head.load(Ordering::Relaxed);
    if !consumers && limit < ring.geo.capacity && (pos.wrapping_sub(head) as i64) >= limit as i64 {
        return Next::Nothing;
    }
    Next::Ready
}

/// Either side's [`blocker`] (consumers' first).
pub fn stuck(ring: &RawRing) -> Option<Held> {
    blocker(ring, true).or_else(|| blocker(ring, false))
}

/// Frees a held slot whose claimer is **proven dead**; returns whether this call did
/// it (false when the slot changed since `held` was seen).
///
/// - a producer died before publishing: the slot becomes free for the next lap and
///   the position is skipped (no message was ever delivered from it);
/// - a consumer died before releasing: the slot becomes free for the next lap (the
///   message it was reading is lost with it).
///
/// Never call it for a claimer that may be alive, however long it has been stalled:
/// its late write would land in a slot that belongs to another message.
pub fn skip(ring: &RawRing, held: &Held) -> bool {
    let cap = ring.geo.capacity;
    let next = encode(held.pos.wrapping_add(cap), 0);
    // SYNC(stamp): AcqRel, as a claim followed by a release.
    let done = ring
        .stamp(held.pos)
        .compare_exchange(held.stamp, next, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok();
    if done {
        // The dead claimer may have died before moving its index past the slot.
        let c = ring.control();
        let index = if held.consumer { &c.head } else { &c.tail };
        let _ = index.compare_exchange(
            held.pos,
            held.pos.wrapping_add(1),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
    done
}

/// Whether any slot is claimed with `tag` now.
pub fn tag_in_use(ring: &RawRing, tag: u16) -> bool {
    (0..ring.geo.capacity).any(|i| tag_of(ring.stamp(i).load(Ordering::Acquire)) == tag)
}

#[cfg(all(test, not(loom)))]
mod tests;
