//! The ring algorithms over a raw memory region: no syscalls, no allocation.
//!
//! [`RawRing`] is a view of a region laid out as [`layout`] describes; [`spsc`] and
//! [`mpmc`] implement the queues on it. The region may be a System V segment shared
//! with other processes or plain heap memory (tests, loom, fuzzing). Every index read
//! from the region is masked before it addresses a slot, so a corrupt or malicious
//! peer can make data wrong but cannot cause an out-of-bounds access.

pub mod layout;
pub mod mpmc;
pub mod spsc;

use std::ptr::NonNull;

use layout::{Control, Geometry, Header, CONTROL_OFFSET};

use crate::sync::AtomicU64;

/// A view of a ring region: where the header, control words and slots are.
#[derive(Debug, Clone, Copy)]
pub struct RawRing {
    base: NonNull<u8>,
    geo: Geometry,
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
        RawRing { base, geo }
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

    /// Pointer to the start of slot `index & mask`.
    #[inline]
    pub fn slot(&self, index: u64) -> *mut u8 {
        let i = (index & self.geo.mask()) as usize;
        // SAFETY: i < capacity, so slots_offset + i * stride + stride <= total_size,
        // which the region covers (RawRing::new's contract).
        unsafe {
            self.base
                .as_ptr()
                .add(self.geo.slots_offset + i * self.geo.stride)
        }
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

    /// Base pointer of the region.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }
}
