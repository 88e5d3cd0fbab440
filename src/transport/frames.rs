//! Frame channels below the facade: [`FrameObjects`] (a frame ring in a segment,
//! made and opened by the shared-memory transport's setup, or a message queue made
//! by the queue transport's) and each side's endpoint, [`FrameSendEnd`] and
//! [`FrameRecvEnd`]. On the ring the endpoints are [`RingEnd`]s, so presence, the
//! fork check, wake-ups after progress, the blocking wait and the disconnection rules
//! are the typed ring's, unchanged; only the ring algorithm
//! ([`ring::frames`](crate::ring::frames)) differs. On the queue they are
//! [`QueueEnd`]s, the typed queue's endpoint (its presence, polling wait and
//! disconnection rules), with a local buffer of `max_len` bytes: one `msgsnd` per
//! frame, one `msgrcv` per receive, no zero copy.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{CorruptFrame, Error};
use crate::options::{Spin, Stats, Transport};
use crate::ring::frames::{FrameConsumer, FrameProducer, FrameRef, Grant};
use crate::ring::layout::{
    Geometry, FRAMES_FINGERPRINT, FRAMES_TYPE_NAME, FRAME_HEADER, KIND_FRAMES,
};
use crate::sync::Ordering;
use crate::sys::{self, Key};

use super::inspect;
use super::link::{PresenceSource, QueueEnd, RingEnd};
use super::msgq::MsgqObjects;
use super::setup::{self, shm_unavailable, TypeTag};
use super::shm::{validate_frames, FrameExpect, ShmObjects};
use super::terms::{Deadline, Side, TryError, WaitError};

/// One frame channel's kernel objects as this process holds them: a segment and its
/// semaphore set, or a queue and its companion set.
#[derive(Debug, Clone)]
pub(crate) enum FrameObjects {
    /// A frame ring in shared memory.
    Shm(Arc<ShmObjects>),
    /// A message queue, with the channel's longest frame (from its header).
    Msgq(Arc<MsgqObjects>, usize),
}

/// What `FrameObjects::create` makes on the queue: frames of at most `max_len`
/// bytes, a budget of `bytes` (`msg_qbytes`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueShape {
    pub max_len: usize,
    pub bytes: u64,
}

/// What an opener of a frame channel expects: the ring's fields (see
/// [`FrameExpect`]) and, on the queue, its budget in bytes as asked.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FrameOpen {
    pub ring: FrameExpect,
    pub queue_bytes: Option<u64>,
}

impl FrameObjects {
    /// Creates a frame channel at `key` (`IPC_EXCL`) with `transport`: a ring of
    /// `geo` ([`Geometry::frames`]), a queue of `queue`, or (`Auto`) the ring, and
    /// the queue when the host has no shared memory to give.
    ///
    /// # Errors
    /// `AlreadyExists`, `PermissionDenied`, `SemaphoreLimit`, `LayoutMismatch` (the
    /// ring's `geo`), `MessageTooLarge` (`max_len` over `msgmax`, or over the queue's
    /// budget), `Os`.
    pub(crate) fn create(
        key: Key,
        transport: Transport,
        geo: impl FnOnce() -> Result<Geometry, Error>,
        queue: QueueShape,
        mode: u32,
    ) -> Result<FrameObjects, Error> {
        let ring = |geo: Geometry| -> Result<FrameObjects, Error> {
            sys::validate_mode("shmget", mode)?;
            let ty = TypeTag {
                fingerprint: FRAMES_FINGERPRINT,
                name: FRAMES_TYPE_NAME.into(),
            };
            let shm = ShmObjects::create_as(key, geo, KIND_FRAMES, mode, &ty)?;
            Ok(FrameObjects::Shm(Arc::new(shm)))
        };
        let msgq = || -> Result<FrameObjects, Error> {
            let m = MsgqObjects::create_frames(key, queue.max_len, queue.bytes, mode)?;
            Ok(FrameObjects::Msgq(Arc::new(m), queue.max_len))
        };
        match transport {
            Transport::ShmRing => ring(geo()?),
            Transport::MessageQueue => msgq(),
            Transport::Auto => match ring(geo()?) {
                Err(e) if shm_unavailable(&e) => msgq(),
                r => r,
            },
        }
    }

    /// Opens the frame channel at `key`, whichever transport its creator made (a
    /// segment at the key is a ring, a semaphore set a queue), validating its header
    /// against `expect`.
    ///
    /// # Errors
    /// `NotFound`, `PermissionDenied`, `Untrusted`, `NotSysvring`, `VersionMismatch`,
    /// `TypeMismatch` (a typed channel at the key), `LayoutMismatch`, `NotReady`,
    /// `MessageTooLarge`, `Os`.
    pub(crate) fn open(
        key: Key,
        expect: FrameOpen,
        trusted: &[u32],
        timeout: Duration,
    ) -> Result<FrameObjects, Error> {
        let creator = |cuid| setup::check_creator(cuid, trusted);
        let ring = ShmObjects::open_with(key, creator, timeout, |v, size| {
            validate_frames(v, &expect.ring, size)
        });
        match ring {
            Ok(shm) => Ok(FrameObjects::Shm(Arc::new(shm))),
            Err(Error::NotFound) => {
                let (m, max_len) = MsgqObjects::open_frames(
                    key,
                    expect.ring.max_len,
                    expect.queue_bytes,
                    trusted,
                    timeout,
                )?;
                Ok(FrameObjects::Msgq(Arc::new(m), max_len))
            }
            Err(e) => Err(e),
        }
    }

    /// Connects the sender (the exclusive role, `SEM_UNDO`).
    ///
    /// # Errors
    /// `RoleTaken`, `Removed`, `Os`.
    pub(crate) fn sender(&self, spin: Spin) -> Result<FrameSendEnd, Error> {
        Ok(match self {
            FrameObjects::Shm(shm) => {
                FrameSendEnd::Ring(RingEnd::connect(shm, Side::Send, spin, |s| {
                    // SAFETY: we hold the sender role (exclusive), and the geometry is a
                    // frame ring's (created as one, or validated by `validate_frames`).
                    unsafe { FrameProducer::new(s.ring) }
                })?)
            }
            FrameObjects::Msgq(m, max_len) => {
                FrameSendEnd::Queue(QueueFrames::connect(m, Side::Send, spin, *max_len)?)
            }
        })
    }

    /// Connects the receiver (the exclusive role, `SEM_UNDO`).
    ///
    /// # Errors
    /// `RoleTaken`, `Removed`, `Os`.
    pub(crate) fn receiver(&self, spin: Spin) -> Result<FrameRecvEnd, Error> {
        Ok(match self {
            FrameObjects::Shm(shm) => {
                FrameRecvEnd::Ring(RingEnd::connect(shm, Side::Recv, spin, |s| {
                    // SAFETY: we hold the receiver role, and the geometry is a frame
                    // ring's.
                    unsafe { FrameConsumer::new(s.ring) }
                })?)
            }
            FrameObjects::Msgq(m, max_len) => {
                FrameRecvEnd::Queue(QueueFrames::connect(m, Side::Recv, spin, *max_len)?)
            }
        })
    }

    /// The transport (never `Auto`).
    pub(crate) fn transport(&self) -> Transport {
        match self {
            FrameObjects::Shm(_) => Transport::ShmRing,
            FrameObjects::Msgq(..) => Transport::MessageQueue,
        }
    }

    pub(crate) fn key(&self) -> Key {
        match self {
            FrameObjects::Shm(shm) => shm.key,
            FrameObjects::Msgq(m, _) => m.key,
        }
    }

    /// The longest frame.
    pub(crate) fn max_len(&self) -> usize {
        match self {
            FrameObjects::Shm(shm) => shm.ring.geometry().elem_size,
            FrameObjects::Msgq(_, max_len) => *max_len,
        }
    }

    /// Bytes of the ring, or of the queue's budget (`msg_qbytes` at creation).
    pub(crate) fn capacity_bytes(&self) -> u64 {
        match self {
            FrameObjects::Shm(shm) => shm.ring.geometry().capacity,
            FrameObjects::Msgq(m, _) => m.capacity(),
        }
    }

    /// Frames in the channel now (on the ring from the statistics words, clamped:
    /// they are untrusted; on the queue the kernel's count).
    pub(crate) fn len(&self) -> u64 {
        match self {
            FrameObjects::Shm(shm) => frames_in(shm),
            FrameObjects::Msgq(m, _) => m.len(),
        }
    }

    /// Bytes the ring's records (and padding) take now (clamped), or the bytes of
    /// the frames in the queue.
    pub(crate) fn bytes_used(&self) -> u64 {
        match self {
            FrameObjects::Shm(shm) => shm.len(),
            FrameObjects::Msgq(m, _) => m.bytes_used(),
        }
    }

    /// The counters: `sent`/`received` count frames (on the queue, this process's;
    /// `skipped` the frames it dropped as longer than `max_len`).
    pub(crate) fn stats(&self) -> Stats {
        match self {
            FrameObjects::Shm(shm) => {
                let c = shm.control();
                Stats {
                    sent: c.sent_frames.load(Ordering::Relaxed),
                    received: c.received_frames.load(Ordering::Relaxed),
                    ..inspect::ring_stats(c, Some(&shm.sems))
                }
            }
            FrameObjects::Msgq(m, _) => inspect::msgq_stats(m),
        }
    }

    /// The segment's id (ring only).
    pub(crate) fn shm_id(&self) -> Option<i32> {
        match self {
            FrameObjects::Shm(shm) => Some(shm.shm_id()),
            FrameObjects::Msgq(..) => None,
        }
    }

    /// The queue's id (message queue only).
    pub(crate) fn msg_id(&self) -> Option<i32> {
        match self {
            FrameObjects::Shm(_) => None,
            FrameObjects::Msgq(m, _) => Some(m.queue.id()),
        }
    }

    pub(crate) fn sem_id(&self) -> i32 {
        match self {
            FrameObjects::Shm(shm) => shm.sems.id(),
            FrameObjects::Msgq(m, _) => m.sems.id(),
        }
    }

    pub(crate) fn is_owner(&self) -> bool {
        match self {
            FrameObjects::Shm(shm) => shm.is_owner(),
            FrameObjects::Msgq(m, _) => m.is_owner(),
        }
    }

    pub(crate) fn disown(&self) {
        match self {
            FrameObjects::Shm(shm) => shm.disown(),
            FrameObjects::Msgq(m, _) => m.disown(),
        }
    }

    /// Removes the kernel objects now (`IPC_RMID`).
    ///
    /// # Errors
    /// `PermissionDenied` or `Os`.
    pub(crate) fn remove(&self) -> Result<(), Error> {
        match self {
            FrameObjects::Shm(shm) => shm.remove(),
            FrameObjects::Msgq(m, _) => m.remove(),
        }
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

/// A queue endpoint of a frame channel: the typed queue's [`QueueEnd`] and the local
/// buffer of `max_len` bytes a frame is written into before its `msgsnd` (sender) or
/// received into by `msgrcv` (receiver).
#[derive(Debug)]
pub(crate) struct QueueFrames {
    e: QueueEnd,
    buf: Vec<u8>,
}

impl QueueFrames {
    fn connect(
        m: &Arc<MsgqObjects>,
        side: Side,
        spin: Spin,
        max_len: usize,
    ) -> Result<QueueFrames, Error> {
        Ok(QueueFrames {
            e: QueueEnd::connect(m, side, spin)?,
            buf: vec![0; max_len],
        })
    }

    fn max_len(&self) -> usize {
        self.buf.len()
    }
}

/// A frame reserved for writing: a grant in the ring, or the first `len` bytes of a
/// queue endpoint's local buffer (the queue had room for them when reserved).
#[derive(Debug)]
pub(crate) enum FrameGrant {
    Ring(Grant),
    Queue(usize),
}

impl FrameGrant {
    /// Bytes reserved.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        match self {
            FrameGrant::Ring(g) => g.len(),
            FrameGrant::Queue(n) => *n,
        }
    }
}

/// The sending endpoint of a frame channel.
#[derive(Debug)]
pub(crate) enum FrameSendEnd {
    Ring(RingEnd<FrameProducer>),
    Queue(QueueFrames),
}

impl FrameSendEnd {
    /// The longest frame.
    pub(crate) fn max_len(&self) -> usize {
        match self {
            FrameSendEnd::Ring(e) => e.q.max_len(),
            FrameSendEnd::Queue(q) => q.max_len(),
        }
    }

    /// Bytes of the ring, or of the queue's budget.
    pub(crate) fn capacity_bytes(&self) -> u64 {
        match self {
            FrameSendEnd::Ring(e) => e.q.capacity_bytes(),
            FrameSendEnd::Queue(q) => q.e.msgq.capacity(),
        }
    }

    /// Frames in the channel now.
    pub(crate) fn len(&self) -> u64 {
        match self {
            FrameSendEnd::Ring(e) => frames_in(&e.shm),
            FrameSendEnd::Queue(q) => q.e.msgq.len(),
        }
    }

    /// The key (for `Debug`).
    pub(crate) fn key(&self) -> Key {
        match self {
            FrameSendEnd::Ring(e) => e.shm.key,
            FrameSendEnd::Queue(q) => q.e.msgq.key,
        }
    }

    /// One attempt, inline: room for `len` bytes now, unless the receivers are gone
    /// (ring: mirror only, no syscall; queue: one `IPC_STAT`).
    #[inline(always)]
    pub(crate) fn reserve_fast(&mut self, len: usize) -> Option<FrameGrant> {
        match self {
            FrameSendEnd::Ring(e) => {
                if e.gone(PresenceSource::Mirror) {
                    return None;
                }
                e.q.reserve(len).map(FrameGrant::Ring)
            }
            FrameSendEnd::Queue(q) => (!q.e.gone(PresenceSource::Mirror)
                && q.e.room(len) == Ok(true))
            .then_some(FrameGrant::Queue(len)),
        }
    }

    /// Room for `len` bytes without blocking: `NotNow` while full and a receiver may
    /// still act, `Disconnected` once every receiver is gone.
    pub(crate) fn try_reserve(&mut self, len: usize) -> Result<FrameGrant, TryError> {
        match self {
            FrameSendEnd::Ring(e) => {
                if e.gone(PresenceSource::Mirror) {
                    return Err(TryError::Disconnected);
                }
                match e.try_now(|| e.q.reserve(len)) {
                    Some(g) => Ok(FrameGrant::Ring(g)),
                    None if !e.gone(PresenceSource::Kernel) => Err(TryError::NotNow),
                    None => Err(TryError::Disconnected),
                }
            }
            FrameSendEnd::Queue(q) => {
                let e = &q.e;
                if e.gone(PresenceSource::Mirror) {
                    return Err(TryError::Disconnected);
                }
                match e.room(len) {
                    Ok(true) => Ok(FrameGrant::Queue(len)),
                    Ok(false) if !e.gone(PresenceSource::Kernel) => Err(TryError::NotNow),
                    _ => Err(TryError::Disconnected),
                }
            }
        }
    }

    /// Room for `len` bytes, blocking while full until `deadline`.
    pub(crate) fn reserve_until(
        &mut self,
        len: usize,
        deadline: Deadline,
    ) -> Result<FrameGrant, WaitError> {
        match self {
            FrameSendEnd::Ring(e) => {
                if e.gone(PresenceSource::Mirror) {
                    return Err(WaitError::Disconnected);
                }
                e.wait(deadline, || e.q.reserve(len)).map(FrameGrant::Ring)
            }
            FrameSendEnd::Queue(q) => {
                let e = &q.e;
                if e.gone(PresenceSource::Mirror) {
                    return Err(WaitError::Disconnected);
                }
                e.wait(deadline, || {
                    e.room(len).map(|r| r.then_some(FrameGrant::Queue(len)))
                })
            }
        }
    }

    /// Pointer to a grant's `grant.len()` writable payload bytes: in the ring, or the
    /// start of the queue endpoint's local buffer (`max_len` bytes, zeroed when made).
    #[inline(always)]
    pub(crate) fn payload(&mut self, grant: &FrameGrant) -> *mut u8 {
        match (self, grant) {
            (FrameSendEnd::Ring(e), FrameGrant::Ring(g)) => e.q.payload(g),
            (FrameSendEnd::Queue(q), FrameGrant::Queue(_)) => q.buf.as_mut_ptr(),
            _ => unreachable!("a grant of this endpoint's transport"),
        }
    }

    /// Publishes a grant's frame with its first `len` bytes, then wakes a sleeping
    /// receiver (ring: zero syscalls while none sleeps). On the queue, one `msgsnd`
    /// of the local buffer's first `len` bytes: the room was there at reserve, and
    /// only a foreign sender can have taken it since, in which case this waits for
    /// room; a frame committed once the channel is removed or the receivers are gone
    /// is dropped, as the ring's would never be read.
    #[inline(always)]
    pub(crate) fn commit(&mut self, grant: FrameGrant, len: usize) {
        match (self, grant) {
            (FrameSendEnd::Ring(e), FrameGrant::Ring(g)) => {
                e.q.commit(g, len);
                e.progressed();
            }
            (FrameSendEnd::Queue(q), FrameGrant::Queue(n)) => {
                let frame = &q.buf[..len.min(n)];
                if q.e.push(frame) == Ok(false) {
                    let _ =
                        q.e.wait(Deadline::Never, || q.e.push(frame).map(|s| s.then_some(())));
                }
            }
            _ => unreachable!("a grant of this endpoint's transport"),
        }
    }

    /// One send attempt of a copied frame, inline: whether it was sent (ring: a
    /// reserve, the copy and a commit; queue: one `msgsnd`).
    #[inline(always)]
    pub(crate) fn send_fast(&mut self, frame: &[u8]) -> bool {
        match self {
            FrameSendEnd::Ring(e) => {
                if e.gone(PresenceSource::Mirror) {
                    return false;
                }
                match e.q.reserve(frame.len()) {
                    Some(g) => {
                        ring_put(e, g, frame);
                        true
                    }
                    None => false,
                }
            }
            FrameSendEnd::Queue(q) => {
                !q.e.gone(PresenceSource::Mirror) && q.e.push(frame) == Ok(true)
            }
        }
    }

    /// Sends a copied frame without blocking: `NotNow` while full and a receiver may
    /// still act, `Disconnected` once every receiver is gone.
    pub(crate) fn try_send(&mut self, frame: &[u8]) -> Result<(), TryError> {
        match self {
            FrameSendEnd::Queue(q) => {
                let e = &q.e;
                if e.gone(PresenceSource::Mirror) {
                    return Err(TryError::Disconnected);
                }
                match e.push(frame) {
                    Ok(true) => Ok(()),
                    Ok(false) if !e.gone(PresenceSource::Kernel) => Err(TryError::NotNow),
                    _ => Err(TryError::Disconnected),
                }
            }
            FrameSendEnd::Ring(_) => {
                let g = self.try_reserve(frame.len())?;
                self.put(g, frame);
                Ok(())
            }
        }
    }

    /// Sends a copied frame, blocking while full until `deadline`.
    pub(crate) fn send_until(&mut self, frame: &[u8], deadline: Deadline) -> Result<(), WaitError> {
        match self {
            FrameSendEnd::Queue(q) => {
                let e = &q.e;
                if e.gone(PresenceSource::Mirror) {
                    return Err(WaitError::Disconnected);
                }
                e.wait(deadline, || e.push(frame).map(|sent| sent.then_some(())))
            }
            FrameSendEnd::Ring(_) => {
                let g = self.reserve_until(frame.len(), deadline)?;
                self.put(g, frame);
                Ok(())
            }
        }
    }

    /// Copies `frame` into a ring grant and publishes it.
    #[inline(always)]
    fn put(&mut self, g: FrameGrant, frame: &[u8]) {
        match (self, g) {
            (FrameSendEnd::Ring(e), FrameGrant::Ring(g)) => ring_put(e, g, frame),
            _ => unreachable!("ring only"),
        }
    }
}

/// Copies `frame` into a grant of exactly its length and publishes it.
#[inline(always)]
fn ring_put(e: &RingEnd<FrameProducer>, g: Grant, frame: &[u8]) {
    debug_assert_eq!(g.len(), frame.len());
    // SAFETY: the grant's payload has `frame.len()` writable bytes inside the ring,
    // free space only this side writes; `frame` is the caller's memory, not the
    // ring's free space, so they do not overlap.
    unsafe { crate::ring::copy::copy_bytes(frame.as_ptr(), e.q.payload(&g), frame.len()) };
    e.q.commit(g, frame.len());
    e.progressed();
}

/// The receiving endpoint of a frame channel.
#[derive(Debug)]
pub(crate) enum FrameRecvEnd {
    Ring(RingEnd<FrameConsumer>),
    Queue(QueueFrames),
}

/// A frame found by a receive: in place in the ring, or the first `len` bytes of the
/// queue endpoint's local buffer (already taken off the queue).
#[derive(Debug)]
pub(crate) enum Peeked {
    Ring(FrameRef),
    Queue(usize),
}

/// What one receive attempt found: a frame (or a corrupt record, which ends the
/// wait: it will not get better).
pub(crate) type Found = Result<Peeked, CorruptFrame>;

impl FrameRecvEnd {
    /// The longest frame.
    pub(crate) fn max_len(&self) -> usize {
        match self {
            FrameRecvEnd::Ring(e) => e.q.max_len(),
            FrameRecvEnd::Queue(q) => q.max_len(),
        }
    }

    /// Frames in the channel now.
    pub(crate) fn len(&self) -> u64 {
        match self {
            FrameRecvEnd::Ring(e) => frames_in(&e.shm),
            FrameRecvEnd::Queue(q) => q.e.msgq.len(),
        }
    }

    /// The key (for `Debug`).
    pub(crate) fn key(&self) -> Key {
        match self {
            FrameRecvEnd::Ring(e) => e.shm.key,
            FrameRecvEnd::Queue(q) => q.e.msgq.key,
        }
    }

    #[inline(always)]
    fn ring_attempt(e: &RingEnd<FrameConsumer>) -> Option<Found> {
        e.q.peek().transpose().map(|r| r.map(Peeked::Ring))
    }

    /// One attempt, inline: the next frame (or a corrupt record) now, if any.
    #[inline(always)]
    pub(crate) fn peek_fast(&mut self) -> Option<Found> {
        match self {
            FrameRecvEnd::Ring(e) => {
                if e.link.forked() {
                    return None;
                }
                Self::ring_attempt(e)
            }
            FrameRecvEnd::Queue(q) => {
                if q.e.link.forked() {
                    return None;
                }
                match q.e.pop_frame(&mut q.buf) {
                    Ok(Some(n)) => Some(Ok(Peeked::Queue(n))),
                    _ => None,
                }
            }
        }
    }

    /// The next frame without blocking: `NotNow` while empty and a sender may still
    /// act, `Disconnected` once empty and every sender is gone.
    pub(crate) fn try_peek(&mut self) -> Result<Found, TryError> {
        match self {
            FrameRecvEnd::Ring(e) => e.try_recv(|| Self::ring_attempt(e)),
            FrameRecvEnd::Queue(q) => {
                let e = &q.e;
                if e.link.forked() {
                    return Err(TryError::Disconnected);
                }
                match e.pop_frame(&mut q.buf) {
                    Ok(Some(n)) => return Ok(Ok(Peeked::Queue(n))),
                    Ok(None) if !e.gone(PresenceSource::Kernel) => return Err(TryError::NotNow),
                    _ => {}
                }
                // A sender may have sent and left between our receive and the check.
                match e.pop_frame(&mut q.buf) {
                    Ok(Some(n)) => Ok(Ok(Peeked::Queue(n))),
                    _ => Err(TryError::Disconnected),
                }
            }
        }
    }

    /// The next frame, blocking while empty until `deadline`.
    pub(crate) fn peek_until(&mut self, deadline: Deadline) -> Result<Found, WaitError> {
        match self {
            FrameRecvEnd::Ring(e) => e.wait(deadline, || Self::ring_attempt(e)),
            FrameRecvEnd::Queue(q) => {
                let (e, buf) = (&q.e, &mut q.buf);
                e.wait(deadline, || {
                    e.pop_frame(buf).map(|n| n.map(|n| Ok(Peeked::Queue(n))))
                })
            }
        }
    }

    /// The bytes of a found frame: a pointer and a length, valid until
    /// [`release`](Self::release) (or the next receive on this endpoint).
    #[inline(always)]
    pub(crate) fn frame(&self, found: &Peeked) -> (*const u8, usize) {
        match (self, found) {
            (FrameRecvEnd::Ring(_), Peeked::Ring(fr)) => (fr.as_ptr(), fr.len()),
            (FrameRecvEnd::Queue(q), Peeked::Queue(n)) => (q.buf.as_ptr(), (*n).min(q.buf.len())),
            _ => unreachable!("a frame of this endpoint's transport"),
        }
    }

    /// Frees a frame after it was read, then wakes a sleeping sender (ring); nothing
    /// to do on the queue (`msgrcv` took it).
    #[inline(always)]
    pub(crate) fn release(&mut self, found: Peeked) {
        match (self, found) {
            (FrameRecvEnd::Ring(e), Peeked::Ring(fr)) => {
                e.q.release(fr);
                e.progressed();
            }
            (FrameRecvEnd::Queue(_), Peeked::Queue(_)) => {}
            _ => unreachable!("a frame of this endpoint's transport"),
        }
    }
}
