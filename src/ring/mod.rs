//! The ring algorithms over a raw memory region: no syscalls, no allocation.
//!
//! [`RawRing`] is a view of a region laid out as [`layout`] describes; [`spsc`] and
//! [`mpmc`] implement the queues on it, [`frames`] the byte-frame ring. The region may be a System V segment shared
//! with other processes or plain heap memory (tests, loom, fuzzing). Every index read
//! from the region is masked before it addresses a slot, so a corrupt or malicious
//! peer can make data wrong but cannot cause an out-of-bounds access.

pub mod claimers;
pub mod copy;
pub mod frames;
pub mod layout;
pub mod mpmc;
pub mod spsc;

use std::ptr::NonNull;

use crate::options::Flavor;
use layout::{Claimer, Control, Geometry, Header, CLAIMERS, CLAIMERS_OFFSET, CONTROL_OFFSET};

use crate::sync::AtomicU64;

/// A view of a ring region: where the header, control words and slots are.
#[derive(Debug, Clone, Copy)]
pub struct RawRing {
    base: NonNull<u8>,
    geo: Geometry,
    /// `base + geo.slots_offset` and `geo.capacity - 1`, computed once: a slot's
    /// address is then one and, one multiply and one add per message.
    slots: NonNull<u8>,
    mask: u64,
}

// SAFETY: the region is process-wide memory; all shared state in it is accessed through
// atomics, and slot payloads are only touched by the side that owns them per protocol.
unsafe impl Send for RawRing {}
// SAFETY: as above; &RawRing only yields pointers and atomic references.
unsafe impl Sync for RawRing {}

impl RawRing {
    /// A view of `geo.total_size` bytes at `base`.
    ///
    /// # Safety
    /// - `base` points to at least `geo.total_size` bytes, valid for reads and writes
    ///   for as long as the view (and every queue made from it) is used;
    /// - `base` is aligned to `max(128, geo.elem_align)` (shmat gives page alignment).
    pub unsafe fn new(base: NonNull<u8>, geo: Geometry) -> RawRing {
        debug_assert_eq!(base.as_ptr() as usize % geo.elem_align.max(layout::LINE), 0);
        // SAFETY: slots_offset <= total_size, inside the region (the caller's contract).
        let slots = unsafe { NonNull::new_unchecked(base.as_ptr().add(geo.slots_offset)) };
        RawRing {
            base,
            geo,
            slots,
            mask: geo.mask(),
        }
    }

    /// The geometry this view was made with (a local, validated copy).
    pub fn geometry(&self) -> &Geometry {
        &self.geo
    }

    /// The header at offset 0.
    pub fn header(&self) -> &Header {
        // SAFETY: offset 0 of a region of at least total_size bytes (> size of Header)
        // aligned to 128; Header is all atomics, valid for any bit pattern.
        unsafe { &*self.base.as_ptr().cast::<Header>() }
    }

    /// The control words.
    pub fn control(&self) -> &Control {
        // SAFETY: CONTROL_OFFSET + size_of::<Control>() <= slots_offset <= total_size,
        // the offset is a multiple of 128, and Control is atomics plus padding bytes.
        unsafe { &*self.base.as_ptr().add(CONTROL_OFFSET).cast::<Control>() }
    }

    /// The claimer-table entry of `tag` (1..=[`CLAIMERS`]); `None` for another tag
    /// (tags read from slots are untrusted) or an SPSC ring (no table).
    pub fn claimer(&self, tag: u16) -> Option<&Claimer> {
        if self.geo.kind != Flavor::Mpmc || tag == 0 || usize::from(tag) > CLAIMERS {
            return None;
        }
        let i = usize::from(tag) - 1;
        // SAFETY: an MPMC geometry reserves CLAIMERS entries at CLAIMERS_OFFSET, below
        // slots_offset <= total_size; the offset is a multiple of 128 and entries are
        // 32 bytes of atomics (valid for any bit pattern).
        Some(unsafe {
            &*self
                .base
                .as_ptr()
                .add(CLAIMERS_OFFSET + i * std::mem::size_of::<Claimer>())
                .cast::<Claimer>()
        })
    }

    /// Pointer to the start of slot `index & mask`.
    #[inline]
    pub fn slot(&self, index: u64) -> *mut u8 {
        let i = (index & self.mask) as usize;
        // SAFETY: i < capacity, so slots_offset + i * stride + stride <= total_size,
        // which the region covers (RawRing::new's contract); `slots` is base +
        // slots_offset.
        unsafe { self.slots.as_ptr().add(i * self.geo.stride) }
    }

    /// Pointer to the payload of slot `index & mask`, aligned for the element type.
    #[inline]
    pub fn payload(&self, index: u64) -> *mut u8 {
        // SAFETY: data_offset + elem_size <= stride, so this stays inside the slot.
        unsafe { self.slot(index).add(self.geo.data_offset) }
    }

    /// The stamp (sequence word) at the start of the slot at `index & mask`: which
    /// position the slot holds a message for, or is free for.
    #[inline]
    pub fn stamp(&self, index: u64) -> &AtomicU64 {
        // SAFETY: every slot starts with an 8-byte stamp (data_offset >= 8) and the
        // stride is a multiple of 8, so this is in bounds and aligned; AtomicU64 is
        // valid for any bit pattern.
        unsafe { &*self.slot(index).cast::<AtomicU64>() }
    }

    /// The payload of the slot that starts at `slot` (a pointer from [`slot`]), for
    /// a caller that touches both the stamp and the payload of one slot and computes
    /// its address once.
    ///
    /// [`slot`]: RawRing::slot
    #[inline]
    pub fn payload_in(&self, slot: *mut u8) -> *mut u8 {
        // data_offset + elem_size <= stride: inside the slot (pointer arithmetic only;
        // the caller passes a pointer from `slot`).
        slot.wrapping_add(self.geo.data_offset)
    }

    /// The stamp of the slot that starts at `slot` (a pointer from [`slot`]).
    ///
    /// # Safety
    /// `slot` was returned by [`slot`] of this ring.
    ///
    /// [`slot`]: RawRing::slot
    #[inline]
    pub unsafe fn stamp_in(&self, slot: *mut u8) -> &AtomicU64 {
        // SAFETY: as in `stamp`: a slot starts with an aligned 8-byte stamp, and `slot`
        // is one (the caller's contract).
        unsafe { &*slot.cast::<AtomicU64>() }
    }

    /// Messages received and sent so far, `(head, tail)`: the indices of an SPSC
    /// ring; an MPMC ring's frontiers ([`mpmc::counts`]: its indices are hints that
    /// may trail). `tail - head` is the number of messages in the ring.
    pub fn counts(&self) -> (u64, u64) {
        match self.geo.kind {
            Flavor::Spsc => {
                let c = self.control();
                (
                    c.head.load(crate::sync::Ordering::Acquire),
                    c.tail.load(crate::sync::Ordering::Acquire),
                )
            }
            Flavor::Mpmc => mpmc::counts(self),
        }
    }

    /// Base pointer of the region.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// Under loom: the cell that tracks accesses to the payload of slot `index & mask`.
    /// Hold a `get_mut()` (write) or `get()` (read) guard exactly while touching the
    /// payload, so loom reports a payload access not ordered after the publication
    /// it relies on (a missing Release/Acquire) as a causality violation.
    #[cfg(loom)]
    pub(crate) fn loom_cell(&self, index: u64) -> &loom::cell::UnsafeCell<()> {
        let off = layout::loom_cell_offset(self.geo.kind);
        // SAFETY: inside the slot header of an in-bounds slot (the loom slot headers
        // are sized to hold the cell), aligned to 8; `loom_region` constructed it.
        unsafe {
            &*self
                .slot(index)
                .add(off)
                .cast::<loom::cell::UnsafeCell<()>>()
        }
    }
}

#[cfg(loom)]
pub use loom_region::{loom_region, LoomRegion};

/// Heap regions for loom: loom's atomics must be constructed, not read from zeroed
/// bytes, and are larger than the real ones (the `cfg(loom)` layout follows them).
#[cfg(loom)]
mod loom_region {
    use std::alloc::{alloc_zeroed, dealloc, Layout};
    use std::ptr::{self, NonNull};

    use super::layout::{self, Control, Geometry, Header, CONTROL_OFFSET, LINE};
    use super::RawRing;
    use crate::options::Flavor;
    use crate::sync::{AtomicU32, AtomicU64};

    /// A ring region on the heap with every atomic (and payload-tracking cell) in it
    /// constructed for the current loom execution; freed on drop. Create one inside
    /// `loom::model`.
    #[derive(Debug)]
    pub struct LoomRegion {
        base: NonNull<u8>,
        layout: Layout,
        ring: RawRing,
    }

    // SAFETY: the region is only reached through atomics and the ring protocols, as a
    // shared segment is (see RawRing's Send/Sync).
    unsafe impl Send for LoomRegion {}
    // SAFETY: as above.
    unsafe impl Sync for LoomRegion {}

    /// A heap region for `capacity` slots of `elem_size`/`elem_align` bytes, laid
    /// out for `kind`, with zeroed control words and stamps (MPMC users still call
    /// `Mpmc::init`).
    ///
    /// # Panics
    /// When the geometry is out of range.
    pub fn loom_region(
        kind: Flavor,
        capacity: u64,
        elem_size: usize,
        elem_align: usize,
    ) -> LoomRegion {
        let geo = Geometry::new(kind, capacity, elem_size, elem_align).expect("geometry");
        let layout = Layout::from_size_align(geo.total_size, elem_align.max(LINE)).expect("layout");
        // SAFETY: total_size > 0 (header and control words at least).
        let base = NonNull::new(unsafe { alloc_zeroed(layout) }).expect("allocation");
        let p = base.as_ptr();
        // SAFETY: every write is inside the allocation, at an offset the cfg(loom)
        // layout reserves for that object and aligned for it (8 at least, see the
        // layout's const assertions); nothing was there to drop.
        unsafe {
            ptr::write(p.cast::<Header>(), Header::loom_new());
            ptr::write(p.add(CONTROL_OFFSET).cast::<Control>(), Control::loom_new());
            for i in 0..geo.capacity as usize {
                let slot = p.add(geo.slots_offset + i * geo.stride);
                ptr::write(slot.cast::<AtomicU64>(), AtomicU64::new(0));
                if kind == Flavor::Mpmc {
                    let owner = slot.add(layout::OWNER_OFFSET).cast::<AtomicU32>();
                    ptr::write(owner, AtomicU32::new(0));
                    ptr::write(owner.add(1), AtomicU32::new(0));
                }
                let cell = slot.add(layout::loom_cell_offset(kind));
                ptr::write(cell.cast(), loom::cell::UnsafeCell::new(()));
            }
        }
        // SAFETY: total_size bytes at `base`, aligned to max(128, elem_align), owned by
        // the LoomRegion that the view may not outlive (callers keep it alive).
        let ring = unsafe { RawRing::new(base, geo) };
        LoomRegion { base, layout, ring }
    }

    impl LoomRegion {
        /// The ring view of the region; valid while the region lives.
        pub fn ring(&self) -> RawRing {
            self.ring
        }
    }

    impl Drop for LoomRegion {
        fn drop(&mut self) {
            let geo = *self.ring.geometry();
            let p = self.base.as_ptr();
            // SAFETY: drops exactly what `loom_region` wrote, once, then frees the
            // allocation with the layout it was made with.
            unsafe {
                ptr::drop_in_place(p.cast::<Header>());
                ptr::drop_in_place(p.add(CONTROL_OFFSET).cast::<Control>());
                for i in 0..geo.capacity as usize {
                    let slot = p.add(geo.slots_offset + i * geo.stride);
                    ptr::drop_in_place(slot.cast::<AtomicU64>());
                    if geo.kind == Flavor::Mpmc {
                        let owner = slot.add(layout::OWNER_OFFSET).cast::<AtomicU32>();
                        ptr::drop_in_place(owner);
                        ptr::drop_in_place(owner.add(1));
                    }
                    let cell = slot.add(layout::loom_cell_offset(geo.kind));
                    ptr::drop_in_place(cell.cast::<loom::cell::UnsafeCell<()>>());
                }
                dealloc(p, self.layout);
            }
        }
    }
}

/// Zeroed heap regions for the ring's unit tests (not loom: real atomics read from
/// zeroed bytes are valid).
#[cfg(all(test, not(loom)))]
pub(crate) mod test_region {
    use std::alloc::{alloc_zeroed, dealloc, Layout};
    use std::ptr::NonNull;

    use super::layout::{Geometry, LINE};
    use super::RawRing;
    use crate::options::Flavor;

    /// A zeroed, suitably aligned heap region laid out for a ring; freed on drop.
    pub(crate) struct Region {
        base: NonNull<u8>,
        layout: Layout,
        geo: Geometry,
    }

    impl Region {
        /// `slots` slots (a power of two) holding at most `limit` messages.
        pub(crate) fn new(
            kind: Flavor,
            slots: u64,
            limit: u64,
            size: usize,
            align: usize,
        ) -> Region {
            let geo = Geometry::new(kind, slots, size, align)
                .and_then(|g| g.with_limit(limit))
                .expect("geometry");
            let layout = Layout::from_size_align(geo.total_size, align.max(LINE)).expect("layout");
            // SAFETY: total_size > 0.
            let base = NonNull::new(unsafe { alloc_zeroed(layout) }).expect("allocation");
            Region { base, layout, geo }
        }

        /// A frame ring of `ring_bytes` bytes and frames of at most `max_len`.
        pub(crate) fn frames(ring_bytes: u64, max_len: u64) -> Region {
            let geo = Geometry::frames(ring_bytes, max_len).expect("frame geometry");
            let layout = Layout::from_size_align(geo.total_size, LINE).expect("layout");
            // SAFETY: total_size > 0.
            let base = NonNull::new(unsafe { alloc_zeroed(layout) }).expect("allocation");
            Region { base, layout, geo }
        }

        /// The ring view; valid while the region lives.
        pub(crate) fn ring(&self) -> RawRing {
            // SAFETY: total_size bytes at `base`, aligned to max(128, align), alive as
            // long as `self` (callers keep it).
            unsafe { RawRing::new(self.base, self.geo) }
        }
    }

    impl Drop for Region {
        fn drop(&mut self) {
            // SAFETY: allocated in `new` with this layout, freed once.
            unsafe { dealloc(self.base.as_ptr(), self.layout) }
        }
    }
}
