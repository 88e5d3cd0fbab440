//! The hand-written reference SPSC ring: a stamp in every slot, the consumer's index
//! cached by the producer, no presence checks, no wake-ups, no validation. It is the throughput ceiling of `sysvring bench` (in a
//! System V segment, between processes) and the per-message baseline of
//! `benches/hot_path.rs` (on the heap, in one thread).
//!
//! This file depends on `std` and `bytemuck` only: `benches/hot_path.rs` includes it
//! with `#[path]`, so there is one reference ring, not one per benchmark.

use std::alloc::Layout;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Control words each sit on their own line (two 64-byte lines: adjacent-line
/// prefetch pairs them).
pub const LINE: usize = 128;
const HEAD: usize = 0;
const DONE: usize = LINE;
const SLOTS: usize = 2 * LINE;

/// Bytes of one slot: an 8-byte stamp, then the message, rounded up to 8.
const fn stride(size: usize) -> usize {
    (8 + size).div_ceil(8) * 8
}

/// How long a spinning side waits for its peer before it gives up.
pub const SPIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes of a ring of `capacity` slots of `size`-byte messages.
pub fn ring_bytes(size: usize, capacity: usize) -> usize {
    SLOTS + stride(size) * capacity
}

/// Memory a reference ring (or the bench's mailbox) lives in: a System V segment or
/// a heap allocation.
///
/// # Safety
///
/// Implementors guarantee that:
/// - `base()` is aligned to 8 bytes at least and valid for reads and writes of
///   `len()` bytes for as long as the implementing value lives;
/// - the memory is not reached through any Rust reference other than the
///   `&AtomicU64` that [`word`] forms (other threads or processes use the
///   same protocol: control words atomically, slots by raw copies).
pub unsafe trait Region {
    /// Start of the memory.
    fn base(&self) -> *mut u8;
    /// Its size in bytes.
    fn len(&self) -> usize;

    /// A raw pointer to byte `off` (callers keep their accesses inside the region).
    #[inline]
    fn ptr(&self, off: usize) -> *mut u8 {
        debug_assert!(off <= self.len());
        self.base().wrapping_add(off)
    }
}

/// The atomic word at `off` in `r`.
///
/// # Safety
///
/// `off` is a multiple of 8 and `off + 8 <= r.len()`.
#[inline]
pub unsafe fn word<R: Region>(r: &R, off: usize) -> &AtomicU64 {
    debug_assert!(off % 8 == 0 && off + 8 <= r.len());
    // SAFETY: `off` is 8-aligned inside the region (the caller's contract; the base is
    // 8-aligned by `Region`'s), and every user of the region accesses this word only
    // atomically. The reference lives no longer than `r`, which keeps the memory.
    unsafe { &*r.base().add(off).cast::<AtomicU64>() }
}

/// Zeroed heap memory aligned to [`LINE`], freed on drop: the region of a ring that
/// lives in one process (`benches/hot_path.rs`).
#[derive(Debug)]
pub struct HeapRegion {
    ptr: NonNull<u8>,
    layout: Layout,
}

// Used by benches/hot_path.rs, not by `sysvring bench`.
#[allow(dead_code)]
impl HeapRegion {
    /// Allocates `len` zeroed bytes.
    ///
    /// # Panics
    /// When `len` is 0 or the allocation fails.
    pub fn new(len: usize) -> HeapRegion {
        let layout = Layout::from_size_align(len, LINE).expect("a valid layout");
        assert!(len > 0, "an empty region");
        // SAFETY: the layout has a non-zero size (asserted above).
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        HeapRegion { ptr, layout }
    }
}

impl Drop for HeapRegion {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once; the halves of a
        // ring borrow the region, so none outlives it.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

// SAFETY: the pointer comes from the allocator (not from a reference), is LINE-aligned
// and valid for `layout.size()` bytes until the region is dropped, which cannot happen
// while this borrow lives. Nothing forms a reference to the bytes except the atomic
// words of `word`.
unsafe impl Region for &HeapRegion {
    fn base(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    fn len(&self) -> usize {
        self.layout.size()
    }
}

/// A spin-wait with a timeout checked every few thousand iterations.
#[derive(Debug, Default)]
pub struct Spinner {
    n: u32,
    start: Option<Instant>,
}

impl Spinner {
    /// A fresh spin-wait.
    pub fn new() -> Self {
        Spinner::default()
    }

    /// One step of the wait; fails once the peer has been silent for
    /// [`SPIN_TIMEOUT`].
    ///
    /// Never inlined: a waiting side polls the peer's line once per call, at the
    /// rate the ceiling has always been measured with (a tighter loop steals the
    /// line from the peer that is writing it, and the ring settles in a slower
    /// regime).
    #[inline(never)]
    pub fn spin(&mut self, what: &str) -> Result<(), String> {
        std::hint::spin_loop();
        self.n = self.n.wrapping_add(1);
        if self.n % 1024 == 0 {
            let start = *self.start.get_or_insert_with(Instant::now);
            if start.elapsed() > SPIN_TIMEOUT {
                return Err(format!(
                    "{what}: peer silent for {SPIN_TIMEOUT:?} (peer exited?)"
                ));
            }
            // The peer has not moved for a while: it may share our core (a loaded
            // machine), and would then only run at the next tick. Let it run now.
            std::thread::yield_now();
        }
        Ok(())
    }
}

/// Producing side of the reference ring.
///
/// The strongest plain SPSC ring we know how to write, the shape sysvring's own ring
/// has without anything else: every slot starts with a stamp, the producer writes the
/// message and then stamps the slot with its position + 1 (Release), the consumer
/// polls the stamp of the slot at its head (so a message and its "published" mark
/// arrive on one cache line: one line moves per message), and publishes its head
/// after each message; the producer reads that head only when its cached copy says
/// full. No division (the slot offset moves by a stride and wraps with a compare),
/// nothing else read or written per message. Messages go in by value, as with
/// `Sender::send`. If a sysvring row beats it, this ring is the one to improve.
#[derive(Debug)]
pub struct HandProducer<M, R> {
    r: R,
    cap: u64,
    tail: u64,
    head_cache: u64,
    /// Byte offset of the slot at `tail`.
    slot: usize,
    _m: PhantomData<M>,
}

/// Consuming side of the reference ring.
#[derive(Debug)]
pub struct HandConsumer<M, R> {
    r: R,
    cap: u64,
    head: u64,
    /// Byte offset of the slot at `head`.
    slot: usize,
    _m: PhantomData<M>,
}

/// The offset of the slot after the one at `slot`, in a ring of `cap` slots.
#[inline(always)]
fn next_slot<M>(slot: usize, cap: u64) -> usize {
    let next = slot + stride(std::mem::size_of::<M>());
    if next == SLOTS + cap as usize * stride(std::mem::size_of::<M>()) {
        SLOTS
    } else {
        next
    }
}

fn check<M, R: Region>(r: &R, capacity: usize) -> Result<(), String> {
    let need = ring_bytes(std::mem::size_of::<M>(), capacity);
    if capacity == 0 || r.len() < need {
        return Err(format!(
            "hand ring: region of {} bytes, need {need} for {capacity} slots",
            r.len()
        ));
    }
    Ok(())
}

/// The stamp word of the slot at byte offset `slot`.
///
/// # Safety
/// `slot` is a slot offset of a ring that `check` accepted for `r` (a multiple of 8
/// inside the region).
#[inline(always)]
unsafe fn stamp<R: Region>(r: &R, slot: usize) -> &AtomicU64 {
    // SAFETY: the caller's contract: 8-aligned (SLOTS and the stride are multiples of
    // 8) and inside the region.
    unsafe { word(r, slot) }
}

impl<M, R: Region> HandProducer<M, R> {
    #[inline]
    fn word(&self, off: usize) -> &AtomicU64 {
        debug_assert!(off < SLOTS);
        // SAFETY: the control words (8-aligned offsets below SLOTS) are inside every
        // region that `new` accepted (it holds SLOTS bytes at least).
        unsafe { word(&self.r, off) }
    }
}

impl<M, R: Region> HandConsumer<M, R> {
    #[inline]
    fn word(&self, off: usize) -> &AtomicU64 {
        debug_assert!(off < SLOTS);
        // SAFETY: as in `HandProducer::word`.
        unsafe { word(&self.r, off) }
    }
}

impl<M: bytemuck::Pod, R: Region> HandProducer<M, R> {
    /// The producing side of a ring of `capacity` slots in `r` (zero-filled).
    pub fn new(r: R, capacity: usize) -> Result<Self, String> {
        check::<M, R>(&r, capacity)?;
        Ok(HandProducer {
            r,
            cap: capacity as u64,
            tail: 0,
            head_cache: 0,
            slot: SLOTS,
            _m: PhantomData,
        })
    }

    /// Writes `m` into the next slot and stamps it; spins while full. By value, like
    /// `Sender::send`: the same copies a caller of a by-value API makes.
    #[inline(always)]
    pub fn push(&mut self, m: M) -> Result<(), String> {
        if self.tail.wrapping_sub(self.head_cache) >= self.cap {
            let mut s = Spinner::new();
            loop {
                // SYNC(head): Acquire; pairs with the Release in `HandConsumer::pop`:
                // the slot it released was read before.
                self.head_cache = self.word(HEAD).load(Ordering::Acquire);
                if self.tail.wrapping_sub(self.head_cache) < self.cap {
                    break;
                }
                s.spin("hand ring push")?;
            }
        }
        let slot = self.slot;
        // SAFETY: the slot is inside the region (size checked in `new`; `slot` stays
        // below SLOTS + cap * stride) and free: the consumer released it (head > tail
        // - cap, Acquire above) and reads it only after our stamp. M is Pod: a byte
        // copy is a valid write (unaligned: M's alignment may exceed 8).
        unsafe { self.r.ptr(slot + 8).cast::<M>().write_unaligned(m) };
        self.tail = self.tail.wrapping_add(1);
        // SYNC(stamp): Release; pairs with the Acquire in `HandConsumer::pop`,
        // publishes the slot write.
        // SAFETY: `slot` is a slot offset of this ring.
        unsafe { stamp(&self.r, slot) }.store(self.tail, Ordering::Release);
        self.slot = next_slot::<M>(slot, self.cap);
        Ok(())
    }

    /// Tells the consumer that nothing more comes.
    pub fn finish(self) {
        // SYNC(done): Release; pairs with the Acquire in `HandConsumer::pop`, after
        // the last stamp.
        self.word(DONE).store(1, Ordering::Release);
    }
}

impl<M: bytemuck::Pod, R: Region> HandConsumer<M, R> {
    /// The consuming side of a ring of `capacity` slots in `r`.
    pub fn new(r: R, capacity: usize) -> Result<Self, String> {
        check::<M, R>(&r, capacity)?;
        Ok(HandConsumer {
            r,
            cap: capacity as u64,
            head: 0,
            slot: SLOTS,
            _m: PhantomData,
        })
    }

    /// The next message, spinning while empty; `None` once the producer finished and
    /// everything was read.
    #[inline(always)]
    pub fn pop(&mut self) -> Result<Option<M>, String> {
        let slot = self.slot;
        let want = self.head.wrapping_add(1);
        // SYNC(stamp): Acquire; pairs with the Release in `HandProducer::push`.
        // SAFETY: `slot` is a slot offset of this ring.
        if unsafe { stamp(&self.r, slot) }.load(Ordering::Acquire) != want {
            let mut s = Spinner::new();
            loop {
                // Read DONE before the stamp: a finished producer stamped its last
                // slot before DONE, so DONE and then no stamp means the end.
                let done = self.word(DONE).load(Ordering::Acquire) != 0;
                // SAFETY: as above.
                if unsafe { stamp(&self.r, slot) }.load(Ordering::Acquire) == want {
                    break;
                }
                if done {
                    return Ok(None);
                }
                s.spin("hand ring pop")?;
            }
        }
        // SAFETY: in bounds (checked in `new`); published by the producer's stamp,
        // which our Acquire load saw; it does not rewrite the slot until we publish
        // head past it. M is Pod: any bytes are a valid M.
        let m = unsafe { self.r.ptr(slot + 8).cast::<M>().read_unaligned() };
        self.slot = next_slot::<M>(slot, self.cap);
        self.head = want;
        // SYNC(head): Release; pairs with the Acquire in `HandProducer::push`.
        self.word(HEAD).store(self.head, Ordering::Release);
        Ok(Some(m))
    }
}
