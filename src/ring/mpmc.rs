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
//! unknown claimer. Publishing and releasing are plain Release stores, as in
//! crossbeam: only the claimer writes its slot's stamp, because a claim is taken
//! away (see [`skip`]) only from a claimer proven dead, which can no longer write
//! anything.
//!
//! # Frontiers, cursors and the indices
//!
//! On each side the claimed positions are always a prefix `0..F`: `F`, the side's
//! *frontier*, is its first unclaimed position (a position skipped for a dead
//! claimer counts as claimed). A claim is exactly Vyukov's: the CAS of the slot of
//! `F` from "ready for `F`" to "claimed by us". What differs from crossbeam's is how
//! a claimer finds `F`: not through a shared index read before, and CASed after,
//! every claim.
//!
//! - Each handle keeps, per side, a process-local **cursor**: one past its last claim,
//!   or the frontier its last attempt found. Invariant: **every position below a
//!   cursor is claimed** on its side (a cursor is a lower bound of `F`). A cursor
//!   starts at `head` (positions below it were read, so claimed by both sides) and
//!   only ever takes `p + 1` for a position `p` it claimed or saw claimed, a
//!   frontier found by [`seek`], or the value of `tail`/`head`, lower bounds too.
//! - A claimer CASes the slot of its cursor `p` from "ready for `p`" (free for the
//!   producer of `p`, published for its consumer) to tagged. Success proves `p`
//!   unclaimed, so `p >= F`, and the cursor says `p <= F`: it claimed `F`. So no
//!   position is ever claimed before one below it, whatever cursor was used, and
//!   FIFO order and the recovery rules below see the ring Vyukov's queue would.
//! - A cursor that is behind finds its slot claimed by its own side. A claim in
//!   flight (the stamp tagged for `p`) sends it to the next position, as a lost CAS
//!   on crossbeam's `tail` does. A slot already in a later phase means the handle
//!   was idle or lost several races: [`seek`] finds the frontier from what the stamp
//!   proves claimed (`claimed_through`) or the index, whichever is further, in
//!   doubling steps then a binary search over the stamps (`is_claimed` is `p < F`,
//!   monotonic in `p`), a few reads however far behind it was.
//! - After claiming `p..p + n` a claimer moves its cursor and its side's index to
//!   `p + n` with **plain stores**: no CAS on a shared counter (a locked
//!   instruction cost a third of the 1x1 throughput here). With one claimer per side
//!   the index is exact. Two claimers of a side can race their stores and move the
//!   index back, but only to a value once stored, one past a claim: **every
//!   position below an index is claimed**, always. The side's next claim stores a
//!   later value again.
//! - So whoever needs a count or a frontier seeks it from the index instead of
//!   trusting it: [`counts`] (`len()` and the statistics' sent and received),
//!   [`blocker`], [`next`] and the limit check. Exact (up to the claims in flight,
//!   as ever) however far an index trails, also behind a claimer stalled or killed
//!   between its claim and its store. (`sysvring stat`, which inspects a segment
//!   without a handle, reads the indices as they are.)
//!
//! An attempt right after a successful one CASes the stamp it expects straight away:
//! one exclusive fetch of the slot's line, where a look then a CAS takes it shared
//! and then upgrades it (the line last written by the other side's process). After
//! a failed attempt a handle looks first, so a receiver that polls an empty ring (a
//! sender a full one) only reads the line the other side is about to write.
//!
//! A batch claims consecutive slots one CAS each and moves the cursor and the index
//! once.
//!
//! # Capacity
//!
//! A ring has a power-of-two number of slots (two at least: a one-slot ring cannot
//! tell "published in lap n" from "free in lap n + 1"); producers also keep the
//! number of messages in flight (their position minus the consumers' frontier)
//! below the geometry's `limit`, the capacity the user asked for.
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
//! Nobody waits for a claimer anywhere else, wherever it stops:
//!
//! - before its claim's CAS it holds nothing (its cursor is process-local);
//! - between the CAS and its index store, its own side passes its slot by the stamp
//!   (the CAS carried its tag) and the side's next claim stores a later index; the
//!   other side, once it reaches that position, finds the slot as the [`blocker`] at
//!   its frontier (sought from the index, which need not have moved) and skips it
//!   only if the claimer is proven dead;
//! - between its index store and its publish or release, as above without the lag;
//! - a claimer that resumes after a long stall stores into the index a position its
//!   side has passed: the index moves back, stays a lower bound, readers seek past
//!   it and the side's next claim moves it on; its cursor is behind and seeks the
//!   frontier on its next attempt. A claimer that died never writes again.
//!
//! Every stamp and index read from the region is untrusted: positions are masked,
//! tags are range-checked before they address the table, and every loop is bounded,
//! so corrupt data makes the queue report full/empty, never spin forever or go out
//! of bounds.

use std::marker::PhantomData;

use bytemuck::Pod;

use super::RawRing;
use crate::sync::{AtomicU64, HintBool, HintU64, Ordering};

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

/// Whether position `a` is after position `b` (free-running positions, compared as
/// a signed distance).
#[inline]
fn after(a: u64, b: u64) -> bool {
    (a.wrapping_sub(b) as i64) > 0
}

/// The last position that one side (`consumers`, else producers) has claimed at
/// least, as proven by `stamp` read from the slot of position `pos` in a ring of
/// `cap` slots; meant for a stamp that shows `pos` claimed on that side or the slot
/// in a later lap. Through the table of the module docs: a slot free for the
/// producer of `q` proves `q - cap` read (so claimed by both sides); claimed by that
/// producer, `q` claimed by producers; published, the same; claimed by a consumer,
/// `q` claimed by both. A stamp of neither shape (corrupt) proves `pos` only.
#[inline]
fn claimed_through(consumers: bool, pos: u64, stamp: u64, cap: u64) -> u64 {
    // The slot's sequence number as a position near `pos` (48-bit wrap undone).
    let seq = pos.wrapping_add(lag(stamp, pos) as u64);
    let tagged = tag_of(stamp) != 0;
    let mask = cap - 1;
    if seq.wrapping_sub(pos) & mask == 0 {
        // Producer phase of `seq`: free for it, or claimed by its producer.
        if tagged && !consumers {
            seq
        } else {
            seq.wrapping_sub(cap)
        }
    } else if seq.wrapping_sub(pos) & mask == 1 {
        // Consumer phase of `q = seq - 1`: published, or claimed by a consumer.
        let q = seq.wrapping_sub(1);
        if consumers && !tagged {
            q.wrapping_sub(cap)
        } else {
            q
        }
    } else {
        pos
    }
}

/// Where one side claims next, as seen by one handle: see "Frontiers, cursors and
/// the indices" in the module docs. Process-local; any value is memory-safe (every
/// claim is a CAS on a stamp), and the values it takes keep it a lower bound of the
/// side's frontier (which FIFO order relies on). A line of its own (two, for the
/// adjacent-line prefetch): written on every claim, so threads that share a handle
/// do not also lose the handle's read-only words each time.
#[repr(align(128))]
#[derive(Debug)]
struct Cursor {
    /// One past this handle's last claim, or the frontier its last attempt found.
    pos: HintU64,
    /// Whether the last attempt claimed: the next one CASes first, without a look.
    hot: HintBool,
}

impl Cursor {
    fn new(pos: u64) -> Cursor {
        Cursor {
            pos: HintU64::new(pos),
            hot: HintBool::new(false),
        }
    }
}

/// A handle on an MPMC ring; any number may exist, in any processes, and one may be
/// shared by threads.
#[derive(Debug)]
pub struct Mpmc<T> {
    ring: RawRing,
    tag: u16,
    /// Producers' cursor of this handle.
    tail: Cursor,
    /// Consumers' cursor of this handle.
    head: Cursor,
    /// A process-local copy of the consumers' frontier, refreshed only when it says
    /// the ring holds `limit` messages (only read when `limit < capacity`).
    head_cache: HintU64,
    _t: PhantomData<T>,
}

// SAFETY: all shared state is atomics and slot ownership is arbitrated by CAS on the
// stamps, so handles can move between threads.
unsafe impl<T: Send> Send for Mpmc<T> {}
// SAFETY: as above; every method takes &self and synchronises through atomics (the
// cursors and the head cache are atomics too, and any value of them is memory-safe:
// they are hints, and every claim is checked by the CAS on the stamp).
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
        // Both cursors start at `head`: every position below it was read, so claimed
        // by both sides. A producer passes the messages in the ring by their stamps
        // (and `tail`) on its first claim; a load of `tail` here would be one more
        // shared word to read per handle.
        let head = ring.control().head.load(Ordering::Relaxed);
        Mpmc {
            ring,
            tag,
            tail: Cursor::new(head),
            head: Cursor::new(head),
            head_cache: HintU64::new(head),
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

    /// One side's cursor and index.
    #[inline(always)]
    fn side(&self, consumer: bool) -> (&Cursor, &AtomicU64) {
        let c = self.ring.control();
        if consumer {
            (&self.head, &c.head)
        } else {
            (&self.tail, &c.tail)
        }
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
        // The consumers' frontier, not just `head`: it may trail (see the module
        // docs). Relaxed: only a count; the stamps order the slot accesses.
        let head = frontier(&self.ring, true).0;
        self.head_cache.store(head, Ordering::Relaxed);
        ok(head)
    }

    /// Claims up to `n` (at least 1) consecutive positions at this side's frontier:
    /// producers (`consumer` false) slots free for their position, consumers slots
    /// published for theirs. Returns the first position and how many, or `None` when
    /// the frontier is not ready (full/empty, or held by a claimer of the other side:
    /// ask [`blocker`]).
    #[inline]
    fn claim(&self, consumer: bool, n: u64) -> Option<(u64, u64)> {
        let (cur, _) = self.side(consumer);
        let pos = cur.pos.load(Ordering::Relaxed);
        let slot = self.ring.slot(pos);
        match self.claim_hot(consumer, pos, slot) {
            Ok(()) => Some(self.claimed(consumer, pos, n)),
            Err(seen) => self.claim_from(consumer, n, pos, seen),
        }
    }

    /// [`claim`](Self::claim) of one position, for the path of every message: the
    /// position and its slot.
    #[inline(always)]
    fn claim_one(&self, consumer: bool) -> Option<(u64, *mut u8)> {
        let (cur, _) = self.side(consumer);
        let pos = cur.pos.load(Ordering::Relaxed);
        let slot = self.ring.slot(pos);
        match self.claim_hot(consumer, pos, slot) {
            Ok(()) => {
                self.claimed(consumer, pos, 1);
                Some((pos, slot))
            }
            Err(seen) => {
                let (pos, _) = self.claim_from(consumer, 1, pos, seen)?;
                Some((pos, self.ring.slot(pos)))
            }
        }
    }

    /// The first try of a claim at this handle's cursor `pos` (whose slot starts at
    /// `slot`): after a successful attempt, the CAS straight away; after a failed
    /// one, a look. `Err` with the stamp seen when it did not claim.
    #[inline(always)]
    fn claim_hot(&self, consumer: bool, pos: u64, slot: *mut u8) -> Result<(), u64> {
        let (cur, _) = self.side(consumer);
        // SAFETY: `slot` is the slot of `pos`, from `self.ring.slot`.
        let st = unsafe { self.ring.stamp_in(slot) };
        if cur.hot.load(Ordering::Relaxed) && (consumer || self.below_limit(pos)) {
            // The stamp a claimer of `pos` wants: the CAS without a look first.
            let ready = encode(pos.wrapping_add(u64::from(consumer)), 0);
            // SYNC(stamp): AcqRel claim. Acquire pairs with the Release stores in
            // `publish_in` (the payload is written) and `release_in` (the payload was
            // read); Release so that whoever reads our tag from the stamp also sees
            // our claimer-table entry (written before any claim).
            st.compare_exchange(
                ready,
                ready | u64::from(self.tag),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .map(drop)
        } else {
            // SYNC(stamp): Acquire, as the claim above (a slot then claimed by the
            // AcqRel CAS in `claim_from` is acquired again).
            Err(st.load(Ordering::Acquire))
        }
    }

    /// [`claim`](Self::claim) from position `pos` whose slot's stamp was `seen`:
    /// claims the frontier if it is ready, moving past claimed positions first.
    #[inline(never)]
    fn claim_from(
        &self,
        consumer: bool,
        n: u64,
        mut pos: u64,
        mut seen: u64,
    ) -> Option<(u64, u64)> {
        let (cur, index) = self.side(consumer);
        let off = u64::from(consumer);
        for attempt in 0..MAX_RETRIES {
            let st = self.ring.stamp(pos);
            let d = lag(seen, pos.wrapping_add(off));
            if d == 0 && tag_of(seen) == 0 {
                if !consumer && !self.below_limit(pos) {
                    break;
                }
                // SYNC(stamp): AcqRel claim, as in `claim_hot`.
                match st.compare_exchange(
                    seen,
                    seen | u64::from(self.tag),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        cur.hot.store(true, Ordering::Relaxed);
                        return Some(self.claimed(consumer, pos, n));
                    }
                    Err(now) => seen = now,
                }
                // Lost the slot to another handle: back off a little (up to 64
                // pauses) so the claimers of a contended slot do not keep stealing
                // its line from each other, then look again (the stamp now says
                // where to go on).
                for _ in 0..1u32 << attempt.min(6) {
                    std::hint::spin_loop();
                }
            } else if d == 0 {
                // Claimed by another handle of our side, in flight: the next
                // position (as a lost CAS on crossbeam's `tail`).
                pos = pos.wrapping_add(1);
                // SYNC(stamp): Acquire, as in `claim_hot`.
                seen = self.ring.stamp(pos).load(Ordering::Acquire);
            } else if d > 0 {
                // Already in a later lap: this cursor is behind. Seek the frontier
                // from past what the stamp proves claimed, or from the index if that
                // is further on.
                let mut from = claimed_through(consumer, pos, seen, self.cap()).wrapping_add(1);
                let i = index.load(Ordering::Relaxed);
                if after(i, from) {
                    from = i;
                }
                if !after(from, pos) {
                    from = pos.wrapping_add(1);
                }
                (pos, seen) = seek(&self.ring, consumer, from);
            } else {
                // Not ready for this lap: empty (consumer) or full (producer), maybe
                // because of an in-flight claim of the other side.
                break;
            }
        }
        // Not ready at `pos` (or out of retries): `pos` is the frontier (or below
        // it). Start there next time, with a look first.
        cur.pos.store(pos, Ordering::Relaxed);
        cur.hot.store(false, Ordering::Relaxed);
        None
    }

    /// After claiming `pos`: claims the positions that follow while they are ready
    /// (up to `n` in all), then moves the cursor and the index past them. Returns
    /// `pos` and how many are claimed, `pos` included.
    #[inline(always)]
    fn claimed(&self, consumer: bool, pos: u64, n: u64) -> (u64, u64) {
        let count = if n > 1 {
            self.claim_more(consumer, pos, n)
        } else {
            1
        };
        let next = pos.wrapping_add(count);
        let (cur, index) = self.side(consumer);
        cur.pos.store(next, Ordering::Relaxed);
        // A plain store, no CAS: a hint that only needs to stay a lower bound of the
        // frontier (see the module docs). Relaxed: the stamps order the slot
        // accesses.
        index.store(next, Ordering::Relaxed);
        (pos, count)
    }

    /// After claiming `pos`, claims the positions that follow while they are ready
    /// (up to `n` in all); returns how many are claimed, `pos` included.
    #[inline(never)]
    fn claim_more(&self, consumer: bool, pos: u64, n: u64) -> u64 {
        let off = u64::from(consumer);
        let mut count = 1;
        while count < n {
            let p = pos.wrapping_add(count);
            if !consumer && !self.below_limit(p) {
                break;
            }
            // SYNC(stamp): AcqRel claim, as in `claim_hot`.
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
    #[cfg(test)]
    fn publish(&self, pos: u64) {
        self.publish_in(pos, self.ring.slot(pos));
    }

    /// [`publish`](Self::publish) of `pos` whose slot starts at `slot`.
    #[inline(always)]
    fn publish_in(&self, pos: u64, slot: *mut u8) {
        // SYNC(stamp): Release; pairs with the consumer's Acquire (the claim's CAS or
        // look) in `claim_hot`/`claim_from`: the payload write happens before the
        // message is visible.
        // SAFETY: `slot` is the slot of `pos`, from `self.ring.slot`.
        unsafe { self.ring.stamp_in(slot) }
            .store(encode(pos.wrapping_add(1), 0), Ordering::Release);
    }

    /// Frees the slot at `pos` (which this handle claimed and read) for the next lap.
    #[cfg(test)]
    fn release(&self, pos: u64) {
        self.release_in(pos, self.ring.slot(pos));
    }

    /// [`release`](Self::release) of `pos` whose slot starts at `slot`.
    #[inline(always)]
    fn release_in(&self, pos: u64, slot: *mut u8) {
        // SYNC(stamp): Release; pairs with the producer's Acquire (the claim's CAS or
        // look) in `claim_hot`/`claim_from`: our read of the payload happens before
        // it is overwritten.
        // SAFETY: `slot` is the slot of `pos`, from `self.ring.slot`.
        unsafe { self.ring.stamp_in(slot) }
            .store(encode(pos.wrapping_add(self.cap()), 0), Ordering::Release);
    }

    /// Enqueues `v`; `Err(v)` when full (or when the slot it needs is still held by a
    /// consumer of the previous lap: see [`blocker`]).
    #[inline]
    pub fn push(&self, v: T) -> Result<(), T> {
        let Some((pos, slot)) = self.claim_one(false) else {
            return Err(v);
        };
        #[cfg(loom)]
        let access = self.ring.loom_cell(pos).get_mut();
        // SAFETY: we hold the claimed slot until we publish it (nobody takes a live
        // claimer's slot); in bounds and aligned for T.
        unsafe { self.ring.payload_in(slot).cast::<T>().write(v) };
        #[cfg(loom)]
        drop(access);
        self.publish_in(pos, slot);
        Ok(())
    }

    /// Lets `f` fill a claimed slot in place, then publishes it; `None` when full.
    /// If `f` panics the slot is published with what `f` wrote (the queue must never
    /// wedge on a live handle's slot).
    #[inline]
    pub fn push_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let (pos, slot) = self.claim_one(false)?;
        let guard = PublishOnDrop { q: self, pos, slot };
        #[cfg(loom)]
        let access = self.ring.loom_cell(pos).get_mut();
        // SAFETY: the claimed slot is ours until published; T is Pod (any bytes valid).
        let r = f(unsafe { &mut *self.ring.payload_in(slot).cast::<T>() });
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
        let (pos, slot) = self.claim_one(false)?;
        let guard = PublishOnDrop { q: self, pos, slot };
        #[cfg(loom)]
        let access = self.ring.loom_cell(pos).get_mut();
        // The claimed slot is ours until published.
        let r = f(self.ring.payload_in(slot));
        #[cfg(loom)]
        drop(access);
        drop(guard);
        Some(r)
    }

    /// [`push_ptr`](Self::push_ptr) for an `f` that cannot panic (a plain copy into
    /// the slot): no drop guard on the path of every message. `false` when full.
    #[inline(always)]
    pub fn push_copy(&self, f: impl FnOnce(*mut u8)) -> bool {
        let Some((pos, slot)) = self.claim_one(false) else {
            return false;
        };
        #[cfg(loom)]
        let access = self.ring.loom_cell(pos).get_mut();
        // The claimed slot is ours until published.
        f(self.ring.payload_in(slot));
        #[cfg(loom)]
        drop(access);
        self.publish_in(pos, slot);
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
            self.publish_in(p, self.ring.slot(p));
        }
        n as usize
    }

    /// Dequeues one message; `None` when empty (or when the next message is still
    /// being written by a producer: see [`blocker`]).
    #[inline]
    pub fn pop(&self) -> Option<T> {
        let (pos, slot) = self.claim_one(true)?;
        #[cfg(loom)]
        let access = self.ring.loom_cell(pos).get();
        // SAFETY: the claimed slot holds a published message that no producer
        // overwrites before we release it; T is Pod.
        let v = unsafe { self.ring.payload_in(slot).cast::<T>().read() };
        #[cfg(loom)]
        drop(access);
        self.release_in(pos, slot);
        Some(v)
    }

    /// Lets `f` read a claimed message in place, then frees the slot; `None` when
    /// empty. The slot is freed even if `f` panics.
    #[inline]
    pub fn pop_with<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        let (pos, slot) = self.claim_one(true)?;
        let guard = ReleaseOnDrop { q: self, pos, slot };
        #[cfg(loom)]
        let access = self.ring.loom_cell(pos).get();
        // SAFETY: as in `pop`; the reference does not outlive `f`.
        let r = f(unsafe { &*self.ring.payload_in(slot).cast::<T>() });
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
        let (pos, slot) = self.claim_one(true)?;
        let guard = ReleaseOnDrop { q: self, pos, slot };
        #[cfg(loom)]
        let access = self.ring.loom_cell(pos).get();
        // The claimed slot holds a published message no producer overwrites before
        // we release it.
        let r = f(self.ring.payload_in(slot).cast_const());
        #[cfg(loom)]
        drop(access);
        drop(guard);
        Some(r)
    }

    /// [`pop_ptr`](Self::pop_ptr) for an `f` that cannot panic (a plain copy out of
    /// the slot): no drop guard. `false` when empty.
    #[inline(always)]
    pub fn pop_copy(&self, f: impl FnOnce(*const u8)) -> bool {
        let Some((pos, slot)) = self.claim_one(true) else {
            return false;
        };
        #[cfg(loom)]
        let access = self.ring.loom_cell(pos).get();
        // The claimed slot holds a published message no producer overwrites before
        // we release it.
        f(self.ring.payload_in(slot).cast_const());
        #[cfg(loom)]
        drop(access);
        self.release_in(pos, slot);
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
            self.release_in(p, self.ring.slot(p));
        }
        n as usize
    }
}

struct PublishOnDrop<'a, T: Pod> {
    q: &'a Mpmc<T>,
    pos: u64,
    slot: *mut u8,
}

impl<T: Pod> Drop for PublishOnDrop<'_, T> {
    fn drop(&mut self) {
        self.q.publish_in(self.pos, self.slot);
    }
}

struct ReleaseOnDrop<'a, T: Pod> {
    q: &'a Mpmc<T>,
    pos: u64,
    slot: *mut u8,
}

impl<T: Pod> Drop for ReleaseOnDrop<'_, T> {
    fn drop(&mut self) {
        self.q.release_in(self.pos, self.slot);
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

/// Whether the stamp `s` of the slot of `pos` shows `pos` claimed on one side
/// (`consumers`, else producers): claimed and in flight, or the slot already in a
/// later phase. For a sound ring this is exactly `pos < F`, the side's frontier, for
/// every position within 2^46 of it (the stamp of a slot never runs ahead of the
/// positions claimed, and a slot of a position not claimed yet still shows an
/// earlier one, or the position ready).
#[inline]
fn is_claimed(consumers: bool, pos: u64, s: u64) -> bool {
    let d = lag(s, pos.wrapping_add(u64::from(consumers)));
    d > 0 || (d == 0 && tag_of(s) != 0)
}

/// The first position not claimed on one side (`consumers`, else producers), seeking
/// from `from`, a lower bound of its frontier (every position below it claimed),
/// and the stamp seen in its slot: doubling steps from `from` until a position is
/// not claimed, then a binary search, one stamp read per step (`is_claimed` is
/// monotonic in the position). Under concurrent claims the answer is a frontier the
/// side had at some moment of the search. Bounded: on corrupt data it may return a
/// position whose slot shows it claimed.
pub fn seek(ring: &RawRing, consumers: bool, from: u64) -> (u64, u64) {
    // SYNC(stamp): Acquire; pairs with the Release stores in `Mpmc::publish_in` and
    // `Mpmc::release_in` (for the callers that then claim the slot seen).
    let stamp = |p: u64| ring.stamp(p).load(Ordering::Acquire);
    let (mut lo, mut hi) = (from, from);
    let mut s = stamp(hi);
    let mut step = 1u64;
    // Doubling: `lo` claimed (once a step was taken), `hi` the position tried.
    for _ in 0..44 {
        if !is_claimed(consumers, hi, s) {
            break;
        }
        lo = hi;
        hi = hi.wrapping_add(step);
        step <<= 1;
        s = stamp(hi);
    }
    if hi == from || is_claimed(consumers, hi, s) {
        return (hi, s);
    }
    // `lo` claimed, `hi` not: halve.
    while hi.wrapping_sub(lo) > 1 {
        let mid = lo.wrapping_add(hi.wrapping_sub(lo) / 2);
        let m = stamp(mid);
        if is_claimed(consumers, mid, m) {
            lo = mid;
        } else {
            (hi, s) = (mid, m);
        }
    }
    (hi, s)
}

/// One side's frontier (`consumers`, else producers): its first unclaimed position,
/// sought from its index (a lower bound of it, see the module docs), and the stamp
/// seen in its slot.
pub fn frontier(ring: &RawRing, consumers: bool) -> (u64, u64) {
    let c = ring.control();
    let index = if consumers { &c.head } else { &c.tail };
    seek(ring, consumers, index.load(Ordering::Relaxed))
}

/// Messages received and sent so far: the consumers' and the producers' frontiers
/// (claims in flight included), read in that order so the second is never the
/// smaller. `head` and `tail` themselves may trail behind claims (see the module
/// docs); counts for `len()` and the statistics come from here.
pub fn counts(ring: &RawRing) -> (u64, u64) {
    let head = frontier(ring, true).0;
    let tail = frontier(ring, false).0;
    (head, tail)
}

/// The claim that keeps one side from making progress, if any: for consumers
/// (`consumers` true), the slot at their frontier claimed by a producer that has not
/// published it; for producers, the slot at their frontier still claimed by a
/// consumer of the previous lap.
pub fn blocker(ring: &RawRing, consumers: bool) -> Option<Held> {
    let cap = ring.geo.capacity;
    let (pos, s) = frontier(ring, consumers);
    if consumers {
        (tag_of(s) != 0 && lag(s, pos) == 0).then_some(Held {
            pos,
            stamp: s,
            consumer: false,
        })
    } else {
        let prev = pos.wrapping_sub(cap);
        (tag_of(s) != 0 && lag(s, prev.wrapping_add(1)) == 0).then_some(Held {
            pos: prev,
            stamp: s,
            consumer: true,
        })
    }
}

/// What one side finds at its frontier now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Something to claim at the frontier: another attempt may succeed.
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
    let off = u64::from(consumers);
    let (pos, s) = frontier(ring, consumers);
    if lag(s, pos.wrapping_add(off)) < 0 {
        return Next::Nothing;
    }
    let limit = ring.geo.limit;
    if !consumers && limit < ring.geo.capacity {
        let head = frontier(ring, true).0;
        if (pos.wrapping_sub(head) as i64) >= limit as i64 {
            return Next::Nothing;
        }
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
        // The dead claimer may have died before moving its index past the slot
        // (a hint: the claimers' cursors and `frontier` pass the slot by its stamp
        // anyway).
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
    // SYNC(stamp): Acquire; pairs with the Release half of the claims' AcqRel CAS,
    // as any reader of a tag does (see `claim_hot`).
    (0..ring.geo.capacity).any(|i| tag_of(ring.stamp(i).load(Ordering::Acquire)) == tag)
}

#[cfg(all(test, not(loom)))]
mod tests;
