//! Payload movers: what the one set of endpoint operations moves, so the typed API
//! and the run-time-typed (C) API run the same operations. [`Put`] is a message on
//! its way in (a typed value itself, or a byte slice of the element size,
//! [`Bytes`]); [`Take`] is where a received one goes (a `MaybeUninit<T>` for a typed value,
//! [`BytesOut`] for a byte buffer); [`Scratch`] is the local message the queue
//! transport fills or reads where the ring offers a slot in place.

use std::mem::MaybeUninit;

use bytemuck::Pod;

use crate::ring::copy::{copy_bytes, copy_message};

/// A message on its way into a channel.
pub(crate) trait Put {
    /// Copies the message into a slot's payload.
    ///
    /// # Safety
    /// `slot` is valid for writes of the element size (the mover's length), aligned
    /// for the element, and does not overlap the mover's memory.
    unsafe fn put(&self, slot: *mut u8);

    /// The message as bytes (a message-queue frame).
    fn bytes(&self) -> &[u8];
}

/// A typed value moves itself, by reference (a large message is copied once, into
/// the slot).
impl<T: Pod> Put for T {
    #[inline(always)]
    unsafe fn put(&self, slot: *mut u8) {
        // SAFETY: the caller's contract, for one T.
        unsafe { copy_message(self, slot.cast::<T>()) }
    }
    #[inline(always)]
    fn bytes(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
}

/// A byte slice of exactly the element size (the C interface).
pub(crate) struct Bytes<'a>(pub &'a [u8]);

impl Put for Bytes<'_> {
    #[inline]
    unsafe fn put(&self, slot: *mut u8) {
        // SAFETY: the caller's contract, for `len` bytes.
        unsafe { copy_bytes(self.0.as_ptr(), slot, self.0.len()) }
    }
    #[inline]
    fn bytes(&self) -> &[u8] {
        self.0
    }
}

/// Where a received message goes.
pub(crate) trait Take {
    /// Copies a slot's payload out.
    ///
    /// # Safety
    /// `slot` is valid for reads of the element size, aligned for the element, and
    /// does not overlap the destination.
    unsafe fn take(&mut self, slot: *const u8);

    /// The destination as bytes, for a message-queue frame to be received into.
    fn buf(&mut self) -> &mut [u8];
}

/// An uninitialised typed destination, initialised by a successful receive.
impl<T: Pod> Take for MaybeUninit<T> {
    #[inline(always)]
    unsafe fn take(&mut self, slot: *const u8) {
        // SAFETY: the caller's contract, for one T.
        unsafe { copy_message(slot.cast::<T>(), self.as_mut_ptr()) }
    }
    #[inline]
    fn buf(&mut self) -> &mut [u8] {
        // Zeroed first, so the slice covers initialised bytes (the queue path only).
        bytemuck::bytes_of_mut(self.write(T::zeroed()))
    }
}

/// A byte buffer of exactly the element size (the C interface).
pub(crate) struct BytesOut<'a>(pub &'a mut [u8]);

impl Take for BytesOut<'_> {
    #[inline]
    unsafe fn take(&mut self, slot: *const u8) {
        // SAFETY: the caller's contract, for `len` bytes.
        unsafe { copy_bytes(slot, self.0.as_mut_ptr(), self.0.len()) }
    }
    #[inline]
    fn buf(&mut self) -> &mut [u8] {
        self.0
    }
}

/// The local message of the queue transport's in-place operations (the ring lends a
/// slot instead): a zeroed buffer of the element size, aligned for the element.
pub(crate) trait Scratch {
    /// A zeroed message of `len` bytes (the element size).
    fn zeroed(len: usize) -> Self;
    /// Its bytes.
    fn bytes_mut(&mut self) -> &mut [u8];
}

/// A typed local message (no allocation).
pub(crate) struct Local<T>(pub T);

impl<T: Pod> Scratch for Local<T> {
    fn zeroed(_len: usize) -> Self {
        Local(T::zeroed())
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        bytemuck::bytes_of_mut(&mut self.0)
    }
}

/// A local message of a run-time size (the C interface), 16-byte aligned.
pub(crate) struct Heap {
    words: Vec<u128>,
    len: usize,
}

impl Scratch for Heap {
    fn zeroed(len: usize) -> Self {
        Heap {
            words: vec![0; len.div_ceil(16)],
            len,
        }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<u128, u8>(&mut self.words)[..self.len]
    }
}
