//! The untyped path through the endpoints, for run-time-typed channels (`crate::untyped`, the C library's way in): a C
//! program knows its element size and alignment only at run time, so its endpoints are
//! `SendEnd<()>`/`RecvEnd<()>` (the marker type is never stored: the geometry, made or
//! validated for the C element's size and alignment, is what the ring uses) and every
//! operation here moves exactly `elem_size` bytes through a pointer, with the same
//! presence, linearizability and waiting rules as the typed operations in
//! [`endpoint`](super::endpoint).
//!
//! Callers pass buffers of exactly the channel's element size (the C layer checks it
//! against the size the channel was made or opened with); the ring's slot payload has
//! that many bytes.

use std::ptr;

use super::endpoint::{RecvEnd, SendEnd};
use super::link::Look;
use super::terms::{Deadline, TryError, WaitError};

/// Copies `src` into a slot payload.
///
/// # Safety
/// `dst` is valid for `src.len()` bytes of writes and does not overlap `src`.
#[inline]
unsafe fn fill(dst: *mut u8, src: &[u8]) {
    // SAFETY: the caller's contract.
    unsafe { ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) }
}

/// Copies a slot payload into `out`.
///
/// # Safety
/// `src` is valid for `out.len()` bytes of reads and does not overlap `out`.
#[inline]
unsafe fn drain(src: *const u8, out: &mut [u8]) {
    // SAFETY: the caller's contract.
    unsafe { ptr::copy_nonoverlapping(src, out.as_mut_ptr(), out.len()) }
}

/// `$ring` for either ring variant, `$queue` for the message queue.
macro_rules! each {
    ($self:expr, $End:ident, $e:ident => $ring:expr, $queue:expr) => {
        match $self {
            $End::Spsc($e) => $ring,
            $End::Mpmc($e) => $ring,
            $End::Msgq($e) => $queue,
        }
    };
}

impl SendEnd<()> {
    /// The payload size of one slot (ring) or `None` (message queue: the frame size
    /// is whatever is sent, checked by the receiver).
    pub(crate) fn ring_elem_size(&self) -> Option<usize> {
        match self {
            SendEnd::Spsc(e) => Some(e.shm.ring.geometry().elem_size),
            SendEnd::Mpmc(e) => Some(e.shm.ring.geometry().elem_size),
            SendEnd::Msgq(_) => None,
        }
    }

    /// Sends `msg` (exactly the element size) without blocking.
    pub(crate) fn try_send_bytes(&self, msg: &[u8]) -> Result<(), TryError> {
        debug_assert!(self.ring_elem_size().map_or(true, |n| n == msg.len()));
        each!(self, SendEnd, e => {
            // SAFETY: `push_ptr` hands us a free slot payload of the element size,
            // which is `msg.len()`; shared memory never overlaps our buffer.
            e.try_send(|| e.q.push_ptr(|p| unsafe { fill(p, msg) }))
        }, {
            if e.gone() {
                return Err(TryError::Disconnected);
            }
            match e.msgq.try_send_bytes(msg) {
                Ok(true) => Ok(()),
                Ok(false) if !e.gone() => Err(TryError::NotNow),
                _ => Err(TryError::Disconnected),
            }
        })
    }

    /// Sends `msg`, blocking while the channel is full until `deadline`.
    pub(crate) fn send_bytes_until(&self, msg: &[u8], deadline: Deadline) -> Result<(), WaitError> {
        debug_assert!(self.ring_elem_size().map_or(true, |n| n == msg.len()));
        each!(self, SendEnd, e => {
            if e.gone(Look::Mirror) {
                return Err(WaitError::Disconnected);
            }
            // SAFETY: as in `try_send_bytes`.
            let attempt = || e.q.push_ptr(|p| unsafe { fill(p, msg) });
            if attempt().is_some() {
                e.progressed();
                return Ok(());
            }
            e.wait(deadline, attempt)
        }, {
            if e.gone() {
                return Err(WaitError::Disconnected);
            }
            e.wait(deadline, || e.msgq.try_send_bytes(msg).map(|sent| sent.then_some(())))
        })
    }

    /// Zero-copy send: waits (until `deadline`) for a free slot and lets `f` write the
    /// message in place through a pointer to `elem_size` bytes, then publishes it.
    /// The message queue has no slot: `f` fills a local buffer that is then sent.
    pub(crate) fn send_in_place(
        &self,
        elem_size: usize,
        deadline: Deadline,
        f: impl FnOnce(*mut u8),
    ) -> Result<(), WaitError> {
        each!(self, SendEnd, e => {
            if e.gone(Look::Mirror) {
                return Err(WaitError::Disconnected);
            }
            let mut f = Some(f);
            let mut attempt = || e.q.push_ptr(|p| (f.take().expect("called once"))(p));
            if attempt().is_some() {
                e.progressed();
                return Ok(());
            }
            e.wait(deadline, attempt)
        }, {
            if e.gone() {
                return Err(WaitError::Disconnected);
            }
            let mut buf = vec![0u8; elem_size];
            f(buf.as_mut_ptr());
            e.wait(deadline, || e.msgq.try_send_bytes(&buf).map(|sent| sent.then_some(())))
        })
    }
}

impl RecvEnd<()> {
    /// Receives one message into `out` (exactly the element size) without blocking.
    pub(crate) fn try_recv_bytes(&self, out: &mut [u8]) -> Result<(), TryError> {
        each!(self, RecvEnd, e => {
            // SAFETY: `pop_ptr` hands us a published payload of the element size,
            // which is `out.len()`; shared memory never overlaps our buffer.
            e.try_recv(|| e.q.pop_ptr(|p| unsafe { drain(p, out) }))
        }, {
            if e.link.forked() {
                return Err(TryError::Disconnected);
            }
            match e.msgq.try_recv_bytes(out) {
                Ok(true) => return Ok(()),
                Ok(false) if !e.gone() => return Err(TryError::NotNow),
                _ => {}
            }
            // A sender may have sent and left between our receive and the check.
            match e.msgq.try_recv_bytes(out) {
                Ok(true) => Ok(()),
                _ => Err(TryError::Disconnected),
            }
        })
    }

    /// Receives one message into `out`, blocking while empty until `deadline`.
    pub(crate) fn recv_bytes_until(
        &self,
        out: &mut [u8],
        deadline: Deadline,
    ) -> Result<(), WaitError> {
        each!(self, RecvEnd, e => {
            // SAFETY: as in `try_recv_bytes`.
            let mut attempt = || e.q.pop_ptr(|p| unsafe { drain(p, out) });
            if !e.link.forked() && attempt().is_some() {
                e.progressed();
                return Ok(());
            }
            e.wait(deadline, attempt)
        }, {
            e.wait(deadline, || e.msgq.try_recv_bytes(out).map(|got| got.then_some(())))
        })
    }

    /// Zero-copy receive: waits (until `deadline`) for a message and lets `f` read it
    /// in place through a pointer to its `elem_size` bytes, then frees the slot. The
    /// message queue hands `f` a local copy.
    pub(crate) fn recv_in_place(
        &self,
        elem_size: usize,
        deadline: Deadline,
        f: impl FnOnce(*const u8),
    ) -> Result<(), WaitError> {
        each!(self, RecvEnd, e => {
            let mut f = Some(f);
            let mut attempt = || e.q.pop_ptr(|p| (f.take().expect("called once"))(p));
            if !e.link.forked() && attempt().is_some() {
                e.progressed();
                return Ok(());
            }
            e.wait(deadline, attempt)
        }, {
            let mut buf = vec![0u8; elem_size];
            e.wait(deadline, || e.msgq.try_recv_bytes(&mut buf).map(|got| got.then_some(())))?;
            f(buf.as_ptr());
            Ok(())
        })
    }
}
