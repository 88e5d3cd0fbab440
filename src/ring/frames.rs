//! Byte frames: a single-producer single-consumer ring of variable-length records in
//! a byte area (the frame channel's ring; layout in [`layout`](super::layout)).
//!
//! `head` (next record to read) and `tail` (next record to write) are free-running
//! byte positions, multiples of 8, in the control block. A record is a header word
//! (little-endian `u64`: payload length in bits 0..32, tag in bits 32..40, a check
//! of the record's position in bits 40..64) followed by the payload, padded to 8
//! bytes. A frame never crosses the end of the area: when one does not fit before the
//! end, a **padding record** (tag [`TAG_PAD`]) fills the rest and the frame starts the
//! next lap. A record of the longest frame is at most a quarter of the area
//! ([`frame_max_len`]).
//!
//! Publication (the crash rule): the producer writes the payload, stores 0 into the
//! header word right after the record (the next record's, still free space), then
//! stores the record's header with Release; with a wrap, the frame's header first
//! and the padding's last. So the header word at the producer's `tail` is 0 whenever
//! everything before it is published, a consumer that finds 0 at its `head` knows
//! nothing more is there, and a producer killed at any point leaves at most bytes
//! nobody can reach: no partial frame is ever visible. A producer that takes over
//! continues after every record published past the `tail` its predecessor stored
//! ([`FrameProducer::new`]).
//!
//! Everything read from the area is untrusted: positions are masked (and kept
//! 8-aligned) before they address a word; a header is accepted only with a known
//! tag, its own position's check, a length within the channel's `max_len` and a
//! record that ends inside the area (a padding record exactly at its end), and
//! anything else is reported as [`CorruptFrame`], never read past.

use std::cell::Cell;
use std::ptr::NonNull;

use super::layout::{frame_max_len, frame_record, FRAME_HEADER};
use super::RawRing;
use crate::error::CorruptFrame;
use crate::sync::{AtomicU64, Ordering};

/// Tag of a record that holds a frame.
pub const TAG_FRAME: u64 = 1;
/// Tag of a padding record: it runs to the end of the area, the next record starts
/// the next lap.
pub const TAG_PAD: u64 = 2;

/// The position check of a record's header: bits 3..27 of its position, so a header
/// left from another lap (or another place) does not pass for this one's.
#[inline]
pub const fn position_check(pos: u64) -> u64 {
    (pos >> 3) & 0xff_ffff
}

/// The header word of a record of tag `tag` and payload `len` at position `pos`.
#[inline]
pub const fn record_word(tag: u64, len: u32, pos: u64) -> u64 {
    len as u64 | (tag << 32) | (position_check(pos) << 40)
}

/// A record as its header word describes it, once validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// Nothing published at this position (the word is 0).
    Empty,
    /// A frame of this many payload bytes.
    Frame(u64),
    /// Padding to the end of the area.
    Pad,
}

/// Decodes and bounds the header word `word` found at position `pos` of an area of
/// `cap` bytes (a power of two) whose frames are at most `max_len` bytes.
///
/// # Errors
/// [`CorruptFrame`] for a word no producer following the protocol writes there.
pub fn decode(word: u64, pos: u64, cap: u64, max_len: u64) -> Result<Record, CorruptFrame> {
    if word == 0 {
        return Ok(Record::Empty);
    }
    let corrupt = |reason| {
        Err(CorruptFrame {
            position: pos,
            word,
            reason,
        })
    };
    let len = word & 0xffff_ffff;
    let tag = (word >> 32) & 0xff;
    if word >> 40 != position_check(pos) {
        return corrupt("its position check is not this position's");
    }
    let off = pos & (cap - 1);
    match tag {
        TAG_FRAME => {
            if len > max_len {
                return corrupt("its length is over the channel's max_len");
            }
            if off + frame_record(len) > cap {
                return corrupt("the frame crosses the end of the ring");
            }
            Ok(Record::Frame(len))
        }
        TAG_PAD => {
            if off == 0 || off + FRAME_HEADER + len != cap {
                return corrupt("the padding does not end exactly at the end of the ring");
            }
            Ok(Record::Pad)
        }
        _ => corrupt("its tag is neither a frame's nor padding's"),
    }
}

/// The byte area of a frame ring and the few words both sides address in it.
#[derive(Debug, Clone, Copy)]
struct Area {
    ring: RawRing,
    data: NonNull<u8>,
    /// Bytes of the area (a power of two).
    cap: u64,
    /// `cap - 1` with the low three bits cleared: masks a position to the offset of
    /// an aligned word inside the area, whatever the position's value.
    word_mask: u64,
    /// The longest frame (validated: its record fits a quarter of the area).
    max_len: u64,
}

impl Area {
    /// # Safety
    /// `ring` is a view of a frame ring ([`Geometry::frames`]): `capacity` bytes at
    /// `slots_offset`, aligned to 8.
    ///
    /// [`Geometry::frames`]: super::layout::Geometry::frames
    unsafe fn new(ring: RawRing) -> Area {
        let geo = *ring.geometry();
        debug_assert!(geo.capacity.is_power_of_two() && geo.capacity >= 64);
        debug_assert!(geo.elem_size as u64 <= frame_max_len(geo.capacity));
        Area {
            ring,
            // SAFETY: slots_offset <= total_size, inside the region (RawRing's contract).
            data: unsafe { NonNull::new_unchecked(ring.base().as_ptr().add(geo.slots_offset)) },
            cap: geo.capacity,
            word_mask: (geo.capacity - 1) & !7,
            max_len: (geo.elem_size as u64).min(frame_max_len(geo.capacity)),
        }
    }

    /// The header word at position `pos` (masked and aligned: always inside the area).
    #[inline]
    fn word(&self, pos: u64) -> &AtomicU64 {
        let off = (pos & self.word_mask) as usize;
        // SAFETY: off + 8 <= cap (off is a multiple of 8 below cap), inside the area;
        // the area starts 128-aligned, so the word is aligned; AtomicU64 is valid for
        // any bit pattern.
        unsafe { &*self.data.as_ptr().add(off).cast::<AtomicU64>() }
    }

    /// Pointer to the payload of the record at `pos` (the byte after its header).
    #[inline]
    fn payload(&self, pos: u64) -> *mut u8 {
        let off = (pos & self.word_mask) as usize;
        // Pointer arithmetic only: off + 8 <= cap, at most one past the area's end;
        // callers read or write only lengths checked against the end of the area.
        self.data.as_ptr().wrapping_add(off + FRAME_HEADER as usize)
    }

    fn offset(&self, pos: u64) -> u64 {
        pos & self.word_mask
    }
}

/// Room the producer has planned for one frame: where its record goes (and the
/// padding before it, at a wrap) and how many payload bytes it may hold.
#[derive(Debug, PartialEq, Eq)]
pub struct Grant {
    /// Position of the frame's record.
    pos: u64,
    /// Bytes of padding before it (0: no wrap).
    pad: u64,
    /// Payload bytes reserved.
    len: usize,
}

impl Grant {
    /// Payload bytes reserved.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the grant is for an empty frame.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The producing side of a frame ring.
#[derive(Debug)]
pub struct FrameProducer {
    area: Area,
    tail: Cell<u64>,
    head_cache: Cell<u64>,
    sent: Cell<u64>,
}

/// The consuming side of a frame ring.
#[derive(Debug)]
pub struct FrameConsumer {
    area: Area,
    head: Cell<u64>,
    received: Cell<u64>,
}

// SAFETY: the producer is !Sync (Cells): one thread uses it at a time, which is what
// the single-producer protocol needs; the area is process-wide memory reached through
// atomics and the protocol.
unsafe impl Send for FrameProducer {}
// SAFETY: as for FrameProducer.
unsafe impl Send for FrameConsumer {}

impl FrameProducer {
    /// Takes the producer side, continuing after every record published so far: from
    /// the `tail` a previous producer stored, past any record it published and was
    /// killed before storing `tail` for (bounded by one lap).
    ///
    /// # Safety
    /// At most one `FrameProducer` exists per region at a time (the caller holds the
    /// sender role), and `ring` is a frame ring's view ([`Geometry::frames`]).
    ///
    /// [`Geometry::frames`]: super::layout::Geometry::frames
    pub unsafe fn new(ring: RawRing) -> FrameProducer {
        // SAFETY: the caller's contract.
        let area = unsafe { Area::new(ring) };
        let c = ring.control();
        // SYNC(tail): Acquire; pairs with a previous producer's Release in `commit`.
        let mut tail = c.tail.load(Ordering::Acquire) & !7;
        let head = c.head.load(Ordering::Acquire);
        let mut sent = c.sent_frames.load(Ordering::Relaxed);
        while tail.wrapping_sub(head) < area.cap {
            // SYNC(record): Acquire, as in `FrameConsumer::peek`.
            let w = area.word(tail).load(Ordering::Acquire);
            match decode(w, tail, area.cap, area.max_len) {
                Ok(Record::Frame(len)) => {
                    tail = tail.wrapping_add(frame_record(len));
                    sent = sent.wrapping_add(1);
                }
                Ok(Record::Pad) => tail = tail.wrapping_add(area.cap - area.offset(tail)),
                _ => break,
            }
        }
        c.tail.store(tail, Ordering::Release);
        c.sent_frames.store(sent, Ordering::Relaxed);
        FrameProducer {
            area,
            tail: Cell::new(tail),
            head_cache: Cell::new(head),
            sent: Cell::new(sent),
        }
    }

    /// The longest frame this ring carries.
    pub fn max_len(&self) -> usize {
        self.area.max_len as usize
    }

    /// Bytes of the ring's area.
    pub fn capacity_bytes(&self) -> u64 {
        self.area.cap
    }

    /// Free bytes, refreshing the cached head only when the cache shows fewer than
    /// `want`. A head ahead of our tail or more than a lap behind (a corrupt peer)
    /// reads as full.
    #[inline]
    fn free(&self, want: u64) -> u64 {
        let tail = self.tail.get();
        let free = self
            .area
            .cap
            .saturating_sub(tail.wrapping_sub(self.head_cache.get()));
        if free >= want {
            return free;
        }
        // SYNC(head): Acquire; pairs with the consumer's Release in `release`: its
        // reads of the records it freed happen before we overwrite them.
        let head = self.area.ring.control().head.load(Ordering::Acquire);
        self.head_cache.set(head);
        self.area.cap.saturating_sub(tail.wrapping_sub(head))
    }

    /// Plans room for a frame of `len` bytes (`len <= max_len`), or `None` when the
    /// ring has no room for it now. Nothing is written: a grant that is never
    /// committed leaves no trace.
    ///
    /// # Panics
    /// When `len > max_len` (the channel refuses such a frame before calling this).
    #[inline]
    pub fn reserve(&self, len: usize) -> Option<Grant> {
        assert!(len as u64 <= self.area.max_len, "frame over max_len");
        let rec = frame_record(len as u64);
        let tail = self.tail.get();
        let to_end = self.area.cap - self.area.offset(tail);
        let pad = if rec <= to_end { 0 } else { to_end };
        // The record, the padding before it, and the next header word (kept 0).
        let need = pad + rec + FRAME_HEADER;
        if self.free(need) < need {
            return None;
        }
        Some(Grant {
            pos: tail.wrapping_add(pad),
            pad,
            len,
        })
    }

    /// Pointer to a grant's payload: `grant.len()` bytes the producer alone may
    /// write until it commits (free space the consumer does not read).
    #[inline]
    pub fn payload(&self, grant: &Grant) -> *mut u8 {
        self.area.payload(grant.pos)
    }

    /// Publishes a grant's frame with its first `len` bytes (`len <= grant.len()`:
    /// a frame may shrink before it is committed).
    ///
    /// # Panics
    /// When `len > grant.len()`.
    #[inline]
    pub fn commit(&self, grant: Grant, len: usize) {
        assert!(len <= grant.len, "a frame only shrinks before commit");
        debug_assert_eq!(grant.pos.wrapping_sub(grant.pad), self.tail.get());
        let next = grant.pos.wrapping_add(frame_record(len as u64));
        // The next header word stays 0 until its own record is published, so a
        // consumer that reaches it waits there (free space: reserve counted it).
        self.area.word(next).store(0, Ordering::Relaxed);
        // SYNC(record): Release; pairs with the Acquire in `FrameConsumer::peek` (and
        // `FrameProducer::new`): the payload and the zeroed next header are visible
        // to whoever sees this header.
        self.area.word(grant.pos).store(
            record_word(TAG_FRAME, len as u32, grant.pos),
            Ordering::Release,
        );
        if grant.pad > 0 {
            let at = self.tail.get();
            // SYNC(record): Release, last: the padding leads the consumer to a frame
            // already published.
            self.area.word(at).store(
                record_word(TAG_PAD, (grant.pad - FRAME_HEADER) as u32, at),
                Ordering::Release,
            );
        }
        self.tail.set(next);
        self.sent.set(self.sent.get().wrapping_add(1));
        let c = self.area.ring.control();
        // SYNC(tail): Release; for len(), statistics and the next producer's start
        // (consumers poll the record headers).
        c.tail.store(next, Ordering::Release);
        c.sent_frames.store(self.sent.get(), Ordering::Relaxed);
    }

    /// Copies `frame` into the ring and publishes it; `false` when there is no room
    /// now.
    ///
    /// # Panics
    /// When `frame.len() > max_len`.
    #[inline]
    pub fn push(&self, frame: &[u8]) -> bool {
        let Some(g) = self.reserve(frame.len()) else {
            return false;
        };
        // SAFETY: the grant's payload has frame.len() writable bytes inside the area,
        // free space nobody else writes; `frame` is local memory, no overlap.
        unsafe { super::copy::copy_bytes(frame.as_ptr(), self.payload(&g), frame.len()) };
        self.commit(g, frame.len());
        true
    }
}

/// A published frame the consumer is reading in place: where its payload is and
/// where the next record starts.
#[derive(Debug, PartialEq, Eq)]
pub struct FrameRef {
    ptr: *const u8,
    len: usize,
    next: u64,
}

impl FrameRef {
    /// Payload bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Pointer to the payload: `len()` bytes inside the area, which the producer does
    /// not overwrite before the frame is released.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr
    }
}

impl FrameConsumer {
    /// Takes the consumer side, starting from the `head` published in the region.
    ///
    /// # Safety
    /// At most one `FrameConsumer` exists per region at a time (the caller holds the
    /// receiver role), and `ring` is a frame ring's view.
    pub unsafe fn new(ring: RawRing) -> FrameConsumer {
        // SAFETY: the caller's contract.
        let area = unsafe { Area::new(ring) };
        let c = ring.control();
        // SYNC(head): Acquire; a previous consumer's Release in `release`.
        let head = c.head.load(Ordering::Acquire) & !7;
        let received = c.received_frames.load(Ordering::Relaxed);
        FrameConsumer {
            area,
            head: Cell::new(head),
            received: Cell::new(received),
        }
    }

    /// The longest frame this ring carries.
    pub fn max_len(&self) -> usize {
        self.area.max_len as usize
    }

    fn publish_head(&self, head: u64) {
        self.head.set(head);
        // SYNC(head): Release; pairs with the producer's Acquire in `free`: our reads
        // of the records before `head` happen before the producer reuses them.
        self.area.ring.control().head.store(head, Ordering::Release);
    }

    /// The next frame, read in place (release it with [`release`](Self::release)),
    /// skipping (and freeing) a padding record; `Ok(None)` when nothing is published.
    ///
    /// # Errors
    /// [`CorruptFrame`] when the record at the head is not a valid one (a corrupt
    /// peer): nothing is read past it, and every later call reports it again.
    #[inline]
    pub fn peek(&self) -> Result<Option<FrameRef>, CorruptFrame> {
        let mut h = self.head.get();
        // A padding record is followed by a frame (or nothing yet): at most two steps.
        for _ in 0..2 {
            // SYNC(record): Acquire; pairs with the producer's Release in `commit`:
            // the payload (and the zeroed next header) are complete once the header
            // says so.
            let w = self.area.word(h).load(Ordering::Acquire);
            match decode(w, h, self.area.cap, self.area.max_len)? {
                Record::Empty => {
                    if h != self.head.get() {
                        self.publish_head(h);
                    }
                    return Ok(None);
                }
                Record::Pad => h = h.wrapping_add(self.area.cap - self.area.offset(h)),
                Record::Frame(len) => {
                    return Ok(Some(FrameRef {
                        ptr: self.area.payload(h).cast_const(),
                        len: len as usize,
                        next: h.wrapping_add(frame_record(len)),
                    }))
                }
            }
        }
        // `decode` refuses padding at offset 0, so a second padding cannot follow.
        unreachable!("two padding records in a row")
    }

    /// Frees the frame `peek` returned: the producer may reuse its bytes.
    #[inline]
    pub fn release(&self, frame: FrameRef) {
        self.received.set(self.received.get().wrapping_add(1));
        self.publish_head(frame.next);
        self.area
            .ring
            .control()
            .received_frames
            .store(self.received.get(), Ordering::Relaxed);
    }

    /// Lets `f` read the next frame in place, then frees it. `Ok(None)` (and `f` is
    /// not called) when empty. If `f` panics the frame stays in the ring.
    ///
    /// # Errors
    /// As [`peek`](Self::peek).
    #[inline]
    pub fn pop_with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, CorruptFrame> {
        let Some(fr) = self.peek()? else {
            return Ok(None);
        };
        // SAFETY: a published frame's payload: len bytes inside the area (decode
        // bounded them), not overwritten before `release`; the slice lives only during
        // `f`.
        let r = f(unsafe { std::slice::from_raw_parts(fr.ptr, fr.len) });
        self.release(fr);
        Ok(Some(r))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;
    use crate::ring::layout::MIN_FRAME_RING;
    use crate::ring::test_region::Region;

    /// One producer and one consumer on a fresh heap region.
    fn pair(r: &Region) -> (FrameProducer, FrameConsumer) {
        // SAFETY: one of each side on a frame region.
        unsafe { (FrameProducer::new(r.ring()), FrameConsumer::new(r.ring())) }
    }

    fn frame(seed: u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (seed.wrapping_mul(31).wrapping_add(i as u64 * 7) >> 1) as u8)
            .collect()
    }

    #[test]
    fn frames_of_every_size_wrap_in_order() {
        let r = Region::frames(256, 56);
        let (p, c) = pair(&r);
        assert_eq!(p.max_len(), 56);
        for round in 0..200usize {
            let len = round % 57;
            let f = frame(round as u64, len);
            assert!(p.push(&f), "room in an empty ring");
            let got = c.pop_with(|b| b.to_vec()).unwrap().expect("published");
            assert_eq!(got, f);
            assert!(c.pop_with(|_| ()).unwrap().is_none());
        }
    }

    #[test]
    fn a_full_ring_refuses_and_keeps_the_next_header_free() {
        let r = Region::frames(MIN_FRAME_RING, 8);
        let (p, c) = pair(&r);
        // Records of 16 bytes; 64 bytes hold three and the next header word.
        assert!(p.push(&[1; 8]));
        assert!(p.push(&[2; 8]));
        assert!(p.push(&[3; 8]));
        assert!(!p.push(&[4; 8]), "full");
        assert!(
            p.push(&[]),
            "an empty frame needs its header and the next one: 16"
        );
        assert!(!p.push(&[]), "8 bytes left: only the next header word");
        for want in 1..=3u8 {
            assert_eq!(c.pop_with(|b| b.to_vec()).unwrap(), Some(vec![want; 8]));
        }
        assert_eq!(c.pop_with(|b| b.len()).unwrap(), Some(0));
        assert!(p.push(&[5; 8]));
        assert_eq!(c.pop_with(|b| b.to_vec()).unwrap(), Some(vec![5; 8]));
    }

    #[test]
    fn an_uncommitted_grant_leaves_nothing_and_a_shrunk_one_frees_the_rest() {
        let r = Region::frames(256, 56);
        let (p, c) = pair(&r);
        let g = p.reserve(40).unwrap();
        // SAFETY: 40 writable bytes of the grant.
        unsafe { std::ptr::write_bytes(p.payload(&g), 0xee, 40) };
        let _aborted = g;
        assert_eq!(
            c.pop_with(|_| ()).unwrap(),
            None,
            "aborted: nothing visible"
        );
        let g = p.reserve(40).unwrap();
        // SAFETY: as above.
        unsafe { std::ptr::write_bytes(p.payload(&g), 7, 40) };
        p.commit(g, 3);
        assert_eq!(c.pop_with(|b| b.to_vec()).unwrap(), Some(vec![7; 3]));
    }

    #[test]
    fn a_restarted_producer_continues_after_what_its_predecessor_published() {
        let r = Region::frames(256, 56);
        let (p, c) = pair(&r);
        assert!(p.push(b"one"));
        assert!(p.push(b"two"));
        // A producer killed after publishing a record but before storing `tail`.
        r.ring().control().tail.store(0, Ordering::Release);
        // SAFETY: the only producer now (the first one is replaced).
        let p = unsafe { FrameProducer::new(r.ring()) };
        assert!(p.push(b"three"));
        for want in [&b"one"[..], b"two", b"three"] {
            assert_eq!(c.pop_with(|b| b.to_vec()).unwrap().as_deref(), Some(want));
        }
    }

    #[test]
    fn garbage_headers_are_reported_never_read_past() {
        let cap = 256u64;
        let r = Region::frames(cap, 56);
        let (_p, c) = pair(&r);
        let word = |pos: u64| c.area.word(pos);
        let cases = [
            (record_word(3, 8, 0), "tag"),
            (record_word(TAG_FRAME, 8, 8), "check"),
            (record_word(TAG_FRAME, 57, 0), "max_len"),
            (record_word(TAG_PAD, 8, 0), "padding"),
            (u64::MAX, "check"),
        ];
        for (w, what) in cases {
            word(0).store(w, Ordering::Relaxed);
            let e = c.pop_with(|_| ()).unwrap_err();
            assert_eq!((e.position, e.word), (0, w), "{what}");
            let again = c.peek().unwrap_err();
            assert_eq!(again, e, "reported again, not skipped");
        }
        // A frame that would cross the end.
        c.head.set(cap - 16);
        word(cap - 16).store(record_word(TAG_FRAME, 16, cap - 16), Ordering::Relaxed);
        assert!(c.peek().is_err());
        let _ = (_p, c);
        // Hostile head and tail words: positions are masked and aligned.
        let ring = r.ring();
        let ctl = ring.control();
        ctl.head.store(1003, Ordering::Relaxed);
        ctl.tail.store(3, Ordering::Relaxed);
        // SAFETY: the only producer and consumer (the first pair is dropped).
        let (p2, c2) = unsafe { (FrameProducer::new(r.ring()), FrameConsumer::new(r.ring())) };
        // Head ahead of tail: full, never a write outside the area.
        assert!(!p2.push(&[1; 8]));
        // A header left at the same offset by an earlier lap is not this position's.
        c2.area
            .word(232)
            .store(record_word(TAG_FRAME, 8, 232), Ordering::Relaxed);
        assert!(c2.peek().is_err(), "the word at 1000 is a record of 232");
    }

    /// One step of the model test.
    #[derive(Debug, Clone)]
    enum Op {
        /// Reserve `len`, write it, shrink to `keep` (clamped), commit.
        Commit { len: usize, keep: usize },
        /// Reserve `len` and drop the grant (abort).
        Abort { len: usize },
        /// Receive one frame in place.
        Recv,
        /// Receive up to this many.
        Drain(usize),
        /// Replace the producer (a restart).
        NewProducer,
        /// Replace the consumer.
        NewConsumer,
    }

    fn op(max_len: usize) -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..=max_len, 0..=max_len).prop_map(|(len, keep)| Op::Commit { len, keep }),
            1 => (0..=max_len).prop_map(|len| Op::Abort { len }),
            5 => Just(Op::Recv),
            1 => (0usize..8).prop_map(Op::Drain),
            1 => Just(Op::NewProducer),
            1 => Just(Op::NewConsumer),
        ]
    }

    /// The model: the frames in flight with the position each record ends at, and
    /// the producer's and consumer's positions under the same placement rule (a
    /// record never crosses the end of the ring; the header word after the last
    /// record stays free), so "full" is checked exactly, not only the contents.
    struct Model {
        cap: u64,
        frames: VecDeque<(Vec<u8>, u64)>,
        tail: u64,
        head: u64,
    }

    impl Model {
        /// Where a record of `len` would end, if it fits now.
        fn place(&self, len: usize) -> Option<u64> {
            let rec = frame_record(len as u64);
            let to_end = self.cap - self.tail % self.cap;
            let pad = if rec <= to_end { 0 } else { to_end };
            let free = self.cap - (self.tail - self.head);
            (free >= pad + rec + FRAME_HEADER).then_some(self.tail + pad + rec)
        }

        fn pop(&mut self) -> Option<Vec<u8>> {
            let (f, end) = self.frames.pop_front()?;
            self.head = end;
            Some(f)
        }
    }

    fn run_model(cap: u64, max_len: usize, ops: &[Op]) -> Result<(), TestCaseError> {
        let r = Region::frames(cap, max_len as u64);
        let (mut p, mut c) = pair(&r);
        let mut m = Model {
            cap,
            frames: VecDeque::new(),
            tail: 0,
            head: 0,
        };
        let mut seq = 0u64;
        for o in ops {
            match *o {
                Op::Commit { len, keep } => {
                    let keep = keep.min(len);
                    let want = m.place(len);
                    let got = p.reserve(len);
                    prop_assert_eq!(got.is_some(), want.is_some(), "room for {} bytes", len);
                    if let Some(g) = got {
                        prop_assert_eq!(g.len(), len);
                        let f = frame(seq, len);
                        seq += 1;
                        // SAFETY: `len` writable bytes of the grant.
                        unsafe { std::ptr::copy_nonoverlapping(f.as_ptr(), p.payload(&g), len) };
                        p.commit(g, keep);
                        let end = want.expect("fits") - frame_record(len as u64)
                            + frame_record(keep as u64);
                        m.frames.push_back((f[..keep].to_vec(), end));
                        m.tail = end;
                    }
                }
                Op::Abort { len } => {
                    let _ = p.reserve(len);
                }
                Op::Recv => {
                    let got = c.pop_with(|b| b.to_vec()).expect("never corrupt");
                    prop_assert_eq!(got, m.pop());
                }
                Op::Drain(n) => {
                    for _ in 0..n {
                        let got = c.pop_with(|b| b.to_vec()).expect("never corrupt");
                        prop_assert_eq!(got, m.pop());
                    }
                }
                Op::NewProducer => {
                    // SAFETY: the previous producer is gone.
                    p = unsafe { FrameProducer::new(r.ring()) };
                }
                Op::NewConsumer => {
                    // SAFETY: the previous consumer is gone.
                    c = unsafe { FrameConsumer::new(r.ring()) };
                }
            }
            let ring = r.ring();
            let ctl = ring.control();
            prop_assert_eq!(ctl.tail.load(Ordering::Relaxed), m.tail);
            prop_assert_eq!(
                ctl.sent_frames.load(Ordering::Relaxed)
                    - ctl.received_frames.load(Ordering::Relaxed),
                m.frames.len() as u64
            );
        }
        while let Some(want) = m.pop() {
            let got = c.pop_with(|b| b.to_vec()).expect("never corrupt");
            prop_assert_eq!(got, Some(want));
        }
        prop_assert_eq!(c.pop_with(|_| ()).expect("never corrupt"), None);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// The ring agrees with a `VecDeque<Vec<u8>>` on any sequence of reserve,
        /// write, shrink, commit, abort, receive and restarts, for frame sizes
        /// 0..=max_len, rings of 64 B to 1 KiB (so every sequence wraps many times).
        #[test]
        fn ring_agrees_with_a_byte_queue(
            (cap, max_len, ops) in (6u32..=10).prop_flat_map(|bits| {
                let cap = 1u64 << bits;
                let top = frame_max_len(cap) as usize;
                (Just(cap), 0..=top).prop_flat_map(|(cap, max_len)| {
                    (Just(cap), Just(max_len), proptest::collection::vec(op(max_len), 0..400))
                })
            })
        ) {
            run_model(cap, max_len, &ops)?;
        }
    }
}
