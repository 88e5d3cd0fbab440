//! The hand-written reference SPSC ring: cached indices, no presence checks, no
//! wake-ups, no validation. It is the throughput ceiling of `sysvring bench` (in a
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
const TAIL: usize = LINE;
const DONE: usize = 2 * LINE;
const SLOTS: usize = 3 * LINE;

/// How long a spinning side waits for its peer before it gives up.
pub const SPIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes of a ring of `capacity` slots of `size` bytes.
pub fn ring_bytes(size: usize, capacity: usize) -> usize {
    SLOTS + size * capacity
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
/// The strongest plain SPSC ring we know how to write (rigtorp's `SPSCQueue` shape):
/// both indices cached (the peer's index is read only when the cache says full or
/// empty), no division (the slot offset moves by one stride and wraps with a
/// compare), aligned copies, each control word on its own line, nothing else read or
/// written per message. If a sysvring row beats it, this ring is the one to improve.
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
    tail_cache: u64,
    /// Byte offset of the slot at `head`.
    slot: usize,
    _m: PhantomData<M>,
}

/// The offset of the slot after the one at `slot`, in a ring of `cap` slots.
#[inline(always)]
fn next_slot<M>(slot: usize, cap: u64) -> usize {
    let next = slot + std::mem::size_of::<M>();
    if next == SLOTS + cap as usize * std::mem::size_of::<M>() {
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

    /// Writes `m` into the next slot and publishes it; spins while full. By value,
    /// like `Sender::send`: the same copies a caller of a by-value API makes.
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
        // below SLOTS + cap * size) and free: the consumer released it (head > tail -
        // cap, Acquire above) and reads it only after our Release of the new tail. M is
        // Pod: a byte copy is a valid write. Unaligned for an M whose size is not a
        // multiple of its alignment's line position (the stride is its size).
        unsafe { self.r.ptr(slot).cast::<M>().write_unaligned(m) };
        self.slot = next_slot::<M>(slot, self.cap);
        self.tail = self.tail.wrapping_add(1);
        // SYNC(tail): Release; pairs with the Acquire in `HandConsumer::pop`,
        // publishes the slot write.
        self.word(TAIL).store(self.tail, Ordering::Release);
        Ok(())
    }

    /// Tells the consumer that nothing more comes.
    pub fn finish(self) {
        // SYNC(done): Release; pairs with the Acquire in `HandConsumer::pop`, after
        // the last tail.
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
            tail_cache: 0,
            slot: SLOTS,
            _m: PhantomData,
        })
    }

    /// The next message, spinning while empty; `None` once the producer finished and
    /// everything was read.
    #[inline(always)]
    pub fn pop(&mut self) -> Result<Option<M>, String> {
        if self.tail_cache == self.head {
            let mut s = Spinner::new();
            loop {
                // Read DONE before TAIL: a finished producer published its last tail
                // before DONE, so seeing DONE and then an unchanged tail means the end.
                let done = self.word(DONE).load(Ordering::Acquire) != 0;
                // SYNC(tail): Acquire; pairs with the Release in `HandProducer::push`.
                self.tail_cache = self.word(TAIL).load(Ordering::Acquire);
                if self.tail_cache != self.head {
                    break;
                }
                if done {
                    return Ok(None);
                }
                s.spin("hand ring pop")?;
            }
        }
        if self.tail_cache.wrapping_sub(self.head) > self.cap {
            return Err("hand ring: corrupt tail".into());
        }
        let slot = self.slot;
        // SAFETY: in bounds (checked in `new`; `slot` stays below SLOTS + cap * size);
        // published by the producer's Release of tail, which our Acquire load saw; it
        // does not rewrite the slot until we publish head past it. M is Pod: any bytes
        // are a valid M.
        let m = unsafe { self.r.ptr(slot).cast::<M>().read_unaligned() };
        self.slot = next_slot::<M>(slot, self.cap);
        self.head = self.head.wrapping_add(1);
        // SYNC(head): Release; pairs with the Acquire in `HandProducer::push`.
        self.word(HEAD).store(self.head, Ordering::Release);
        Ok(Some(m))
    }
}
