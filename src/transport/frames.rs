//! Frame channels below the facade: [`FrameObjects`] (a frame ring in a segment,
//! made and opened by the shared-memory transport's setup) and each side's endpoint,
//! [`FrameSendEnd`] and [`FrameRecvEnd`]. The endpoints are [`RingEnd`]s, so presence,
//! the fork check, wake-ups after progress, the blocking wait and the disconnection
//! rules are the typed ring's, unchanged; only the ring algorithm
//! ([`ring::frames`](crate::ring::frames)) differs.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{CorruptFrame, Error};
use crate::options::{Spin, Stats};
use crate::ring::frames::{FrameConsumer, FrameProducer, FrameRef, Grant};
use crate::ring::layout::{
    Geometry, FRAMES_FINGERPRINT, FRAMES_TYPE_NAME, FRAME_HEADER, KIND_FRAMES,
};
use crate::sync::Ordering;
use crate::sys::{self, Key};

use super::inspect;
use super::link::{PresenceSource, RingEnd};
use super::setup::{self, TypeTag};
use super::shm::{validate_frames, FrameExpect, ShmObjects};
use super::terms::{Deadline, Side, TryError, WaitError};

/// One frame channel's kernel objects as this process holds them (the segment and
/// its semaphore set).
#[derive(Debug, Clone)]
pub(crate) struct FrameObjects {
    shm: Arc<ShmObjects>,
}

impl FrameObjects {
    /// Creates a frame ring of `geo` ([`Geometry::frames`]) at `key` (`IPC_EXCL`).
    ///
    /// # Errors
    /// `AlreadyExists`, `PermissionDenied`, `SemaphoreLimit`, `Os`.
    pub(crate) fn create(key: Key, geo: Geometry, mode: u32) -> Result<FrameObjects, Error> {
        sys::validate_mode("shmget", mode)?;
        let ty = TypeTag {
            fingerprint: FRAMES_FINGERPRINT,
            name: FRAMES_TYPE_NAME.into(),
        };
        let shm = ShmObjects::create_as(key, geo, KIND_FRAMES, mode, &ty)?;
        Ok(FrameObjects { shm: Arc::new(shm) })
    }

    /// Opens the frame ring at `key`, validating its header against `expect`.
    ///
    /// # Errors
    /// `NotFound`, `PermissionDenied`, `Untrusted`, `NotSysvring`, `VersionMismatch`,
    /// `TypeMismatch` (a typed channel at the key), `LayoutMismatch`, `NotReady`, `Os`.
    pub(crate) fn open(
        key: Key,
        expect: FrameExpect,
        trusted: &[u32],
        timeout: Duration,
    ) -> Result<FrameObjects, Error> {
        let creator = |cuid| setup::check_creator(cuid, trusted);
        let shm = ShmObjects::open_with(key, creator, timeout, |v, size| {
            validate_frames(v, &expect, size)
        })?;
        Ok(FrameObjects { shm: Arc::new(shm) })
    }

    /// Connects the sender (the exclusive role, `SEM_UNDO`).
    ///
    /// # Errors
    /// `RoleTaken`, `Removed`, `Os`.
    pub(crate) fn sender(&self, spin: Spin) -> Result<FrameSendEnd, Error> {
        let e = RingEnd::connect(&self.shm, Side::Send, spin, |s| {
            // SAFETY: we hold the sender role (exclusive), and the geometry is a frame
            // ring's (created as one, or validated by `validate_frames`).
            unsafe { FrameProducer::new(s.ring) }
        })?;
        Ok(FrameSendEnd { e })
    }

    /// Connects the receiver (the exclusive role, `SEM_UNDO`).
    ///
    /// # Errors
    /// `RoleTaken`, `Removed`, `Os`.
    pub(crate) fn receiver(&self, spin: Spin) -> Result<FrameRecvEnd, Error> {
        let e = RingEnd::connect(&self.shm, Side::Recv, spin, |s| {
            // SAFETY: we hold the receiver role, and the geometry is a frame ring's.
            unsafe { FrameConsumer::new(s.ring) }
        })?;
        Ok(FrameRecvEnd { e })
    }

    pub(crate) fn key(&self) -> Key {
        self.shm.key
    }

    /// The longest frame.
    pub(crate) fn max_len(&self) -> usize {
        self.shm.ring.geometry().elem_size
    }

    /// Bytes of the ring.
    pub(crate) fn capacity_bytes(&self) -> u64 {
        self.shm.ring.geometry().capacity
    }

    /// Frames in the ring now (from the statistics words; clamped, they are untrusted).
    pub(crate) fn len(&self) -> u64 {
        frames_in(&self.shm)
    }

    /// Bytes the ring's records (and padding) take now (clamped).
    pub(crate) fn bytes_used(&self) -> u64 {
        self.shm.len()
    }

    /// The counters: `sent`/`received` count frames.
    pub(crate) fn stats(&self) -> Stats {
        let c = self.shm.control();
        Stats {
            sent: c.sent_frames.load(Ordering::Relaxed),
            received: c.received_frames.load(Ordering::Relaxed),
            ..inspect::ring_stats(c, Some(&self.shm.sems))
        }
    }

    pub(crate) fn shm_id(&self) -> i32 {
        self.shm.shm_id()
    }

    pub(crate) fn sem_id(&self) -> i32 {
        self.shm.sems.id()
    }

    pub(crate) fn is_owner(&self) -> bool {
        self.shm.is_owner()
    }

    pub(crate) fn disown(&self) {
        self.shm.disown()
    }

    /// Removes the segment and semaphores now (`IPC_RMID`).
    ///
    /// # Errors
    /// `PermissionDenied` or `Os`.
    pub(crate) fn remove(&self) -> Result<(), Error> {
        self.shm.remove()
    }
}

/// Frames in a frame ring now: sent minus received, clamped to 0 beyond what the ring
/// can hold (the words are untrusted).
fn frames_in(shm: &ShmObjects) -> u64 {
    let c = shm.control();
    let n = c
        .sent_frames
        .load(Ordering::Acquire)
        .wrapping_sub(c.received_frames.load(Ordering::Acquire));
    if n > shm.ring.geometry().capacity / FRAME_HEADER {
        0
    } else {
        n
    }
}

/// The sending endpoint of a frame channel.
#[derive(Debug)]
pub(crate) struct FrameSendEnd {
    e: RingEnd<FrameProducer>,
}

impl FrameSendEnd {
    /// The longest frame.
    pub(crate) fn max_len(&self) -> usize {
        self.e.q.max_len()
    }

    /// Bytes of the ring.
    pub(crate) fn capacity_bytes(&self) -> u64 {
        self.e.q.capacity_bytes()
    }

    /// Frames in the ring now.
    pub(crate) fn len(&self) -> u64 {
        frames_in(&self.e.shm)
    }

    /// The key (for `Debug`).
    pub(crate) fn key(&self) -> Key {
        self.e.shm.key
    }

    /// One attempt, inline: room for `len` bytes now, unless the receivers are gone
    /// (mirror only, no syscall).
    #[inline(always)]
    pub(crate) fn reserve_fast(&self, len: usize) -> Option<Grant> {
        if self.e.gone(PresenceSource::Mirror) {
            return None;
        }
        self.e.q.reserve(len)
    }

    /// Room for `len` bytes without blocking: `NotNow` while full and a receiver may
    /// still act, `Disconnected` once every receiver is gone.
    pub(crate) fn try_reserve(&self, len: usize) -> Result<Grant, TryError> {
        let e = &self.e;
        if e.gone(PresenceSource::Mirror) {
            return Err(TryError::Disconnected);
        }
        match e.try_now(|| e.q.reserve(len)) {
            Some(g) => Ok(g),
            None if !e.gone(PresenceSource::Kernel) => Err(TryError::NotNow),
            None => Err(TryError::Disconnected),
        }
    }

    /// Room for `len` bytes, blocking while full until `deadline`.
    pub(crate) fn reserve_until(&self, len: usize, deadline: Deadline) -> Result<Grant, WaitError> {
        let e = &self.e;
        if e.gone(PresenceSource::Mirror) {
            return Err(WaitError::Disconnected);
        }
        e.wait(deadline, || e.q.reserve(len))
    }

    /// Pointer to a grant's `grant.len()` writable payload bytes.
    #[inline(always)]
    pub(crate) fn payload(&self, grant: &Grant) -> *mut u8 {
        self.e.q.payload(grant)
    }

    /// Publishes a grant's frame with its first `len` bytes, then wakes a sleeping
    /// receiver (zero syscalls while none sleeps).
    #[inline(always)]
    pub(crate) fn commit(&self, grant: Grant, len: usize) {
        self.e.q.commit(grant, len);
        self.e.progressed();
    }
}

/// The receiving endpoint of a frame channel.
#[derive(Debug)]
pub(crate) struct FrameRecvEnd {
    e: RingEnd<FrameConsumer>,
}

/// What one receive attempt found: a frame (or a corrupt record, which ends the
/// wait: it will not get better).
type Found = Result<FrameRef, CorruptFrame>;

impl FrameRecvEnd {
    /// The longest frame.
    pub(crate) fn max_len(&self) -> usize {
        self.e.q.max_len()
    }

    /// Frames in the ring now.
    pub(crate) fn len(&self) -> u64 {
        frames_in(&self.e.shm)
    }

    /// The key (for `Debug`).
    pub(crate) fn key(&self) -> Key {
        self.e.shm.key
    }

    #[inline(always)]
    fn attempt(&self) -> Option<Found> {
        self.e.q.peek().transpose()
    }

    /// One attempt, inline: the next frame (or a corrupt record) now, if any.
    #[inline(always)]
    pub(crate) fn peek_fast(&self) -> Option<Found> {
        if self.e.link.forked() {
            return None;
        }
        self.attempt()
    }

    /// The next frame without blocking: `NotNow` while empty and a sender may still
    /// act, `Disconnected` once empty and every sender is gone.
    pub(crate) fn try_peek(&self) -> Result<Found, TryError> {
        self.e.try_recv(|| self.attempt())
    }

    /// The next frame, blocking while empty until `deadline`.
    pub(crate) fn peek_until(&self, deadline: Deadline) -> Result<Found, WaitError> {
        self.e.wait(deadline, || self.attempt())
    }

    /// Frees a frame after it was read, then wakes a sleeping sender.
    #[inline(always)]
    pub(crate) fn release(&self, frame: FrameRef) {
        self.e.q.release(frame);
        self.e.progressed();
    }
}
