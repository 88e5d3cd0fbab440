//! Channels whose element is known only at run time (its size, alignment and type
//! tag): the way in for the C library (`capi/`), and the setup steps [`Builder`]
//! takes too, so a channel is made and validated one way whoever asks.
//!
//! Messages move as byte slices of exactly the element size through the same
//! endpoints, presence, linearizability and waiting rules as the typed operations.
//!
//! [`Builder`]: crate::Builder

use std::fmt;
use std::time::Duration;

use crate::error::Error;
use crate::options::{Flavor, Spin, Stats, Transport};
use crate::ring::copy::copy_bytes;
use crate::ring::layout::{Geometry, MAX_CAPACITY};
use crate::sys::{self, Key};
use crate::transport::{
    self, Bytes, BytesOut, Deadline, Expected, Heap, Objects, RecvEnd, SendEnd, TryError, WaitError,
};
use crate::transport::{FrameGrant, Peeked};

pub use crate::transport::TypeTag;

use super::frames::{FrameBuilder, FrameChannel, FrameReceiver, FrameSender};

/// Capacity of a channel created without one.
pub const DEFAULT_CAPACITY: usize = 1024;

/// What a caller asks of a channel: everything `create`, `open` and
/// `open_or_create` need, checked the same way for Rust and C.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The key.
    pub key: Key,
    /// The flavor to create (default SPSC) or to insist on when opening.
    pub flavor: Option<Flavor>,
    /// The transport `create` makes.
    pub transport: Transport,
    /// Permission bits of what `create` makes.
    pub mode: u32,
    /// The exact capacity (most messages in flight): what `create` makes (default
    /// [`DEFAULT_CAPACITY`]) or what `open` insists on. `Some(0)` is refused.
    pub capacity: Option<u64>,
    /// Element size in bytes.
    pub elem_size: usize,
    /// Element alignment in bytes.
    pub elem_align: usize,
    /// The element type's fingerprint and name.
    pub ty: TypeTag,
    /// Creator uids trusted besides our own effective uid and root.
    pub trusted: Vec<u32>,
    /// How long `open` waits for a creator to finish initialising.
    pub open_timeout: Duration,
}

/// `LayoutMismatch` for a capacity of 0 (the one capacity rule for every caller).
fn check_capacity(capacity: Option<u64>) -> Result<(), Error> {
    match capacity {
        Some(0) => Err(Error::LayoutMismatch {
            field: "capacity",
            expected: 1,
            found: 0,
        }),
        _ => Ok(()),
    }
}

impl Spec {
    /// Creates the channel's kernel objects (`IPC_CREAT | IPC_EXCL`).
    pub(crate) fn create_shared(&self) -> Result<(Objects, Flavor), Error> {
        check_capacity(self.capacity)?;
        let flavor = self.flavor.unwrap_or_default();
        let kind = flavor;
        let want = self.capacity.unwrap_or(DEFAULT_CAPACITY as u64);
        let geo = Geometry::for_limit(kind, want, self.elem_size, self.elem_align).ok_or(
            Error::LayoutMismatch {
                field: "capacity",
                expected: MAX_CAPACITY,
                found: want,
            },
        )?;
        // Refused before anything is made, by the `sys` check of the call that would
        // refuse it first.
        let first_call = match self.transport {
            Transport::MessageQueue => "semget",
            Transport::ShmRing | Transport::Auto => "shmget",
        };
        sys::validate_mode(first_call, self.mode)?;
        let shared = Objects::create(self.key, geo, self.transport, self.mode, &self.ty)?;
        Ok((shared, flavor))
    }

    /// Opens and validates the channel another process created.
    pub(crate) fn open_shared(&self) -> Result<(Objects, Flavor), Error> {
        check_capacity(self.capacity)?;
        let expect = Expected {
            kind: self.flavor,
            capacity: self.capacity,
            elem_size: self.elem_size,
            elem_align: self.elem_align,
            fingerprint: self.ty.fingerprint,
            type_name: self.ty.name.clone(),
            trusted: self.trusted.clone(),
        };
        let shared = Objects::open(self.key, &expect, self.open_timeout)?;
        let flavor = shared.kind();
        Ok((shared, flavor))
    }

    /// Opens the channel when it exists, creates it otherwise (`IPC_EXCL` decides a
    /// race); `true` when this call created it.
    pub(crate) fn open_or_create_shared(&self) -> Result<((Objects, Flavor), bool), Error> {
        transport::open_or_create(
            self.key.is_private(),
            || self.open_shared(),
            || self.create_shared(),
        )
    }

    /// Creates the channel (see [`Builder::create`](crate::Builder::create)).
    ///
    /// # Errors
    /// As `Builder::create`.
    pub fn create(&self) -> Result<UntypedChannel, Error> {
        self.create_shared().map(|(s, _)| self.wrap(s))
    }

    /// Opens the channel (see [`Builder::open`](crate::Builder::open)).
    ///
    /// # Errors
    /// As `Builder::open`.
    pub fn open(&self) -> Result<UntypedChannel, Error> {
        self.open_shared().map(|(s, _)| self.wrap(s))
    }

    /// Opens or creates the channel; `true` when this call created it.
    ///
    /// # Errors
    /// As `Builder::open_or_create`.
    pub fn open_or_create(&self) -> Result<(UntypedChannel, bool), Error> {
        self.open_or_create_shared()
            .map(|((s, _), created)| (self.wrap(s), created))
    }

    fn wrap(&self, shared: Objects) -> UntypedChannel {
        UntypedChannel {
            shared,
            elem_size: self.elem_size,
        }
    }
}

/// A created or opened channel of run-time-sized elements.
pub struct UntypedChannel {
    shared: Objects,
    elem_size: usize,
}

impl fmt::Debug for UntypedChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UntypedChannel")
            .field("key", &self.shared.key())
            .field("transport", &self.shared.transport())
            .field("elem_size", &self.elem_size)
            .finish()
    }
}

impl UntypedChannel {
    /// Connects a sender in this process.
    ///
    /// # Errors
    /// `RoleTaken`, `Removed`, or `Os`.
    pub fn sender(&self) -> Result<UntypedSender, Error> {
        Ok(UntypedSender {
            end: self.shared.sender::<()>(Spin::default())?,
            elem_size: self.elem_size,
        })
    }

    /// Connects a receiver in this process.
    ///
    /// # Errors
    /// `RoleTaken`, `Removed`, or `Os`.
    pub fn receiver(&self) -> Result<UntypedReceiver, Error> {
        Ok(UntypedReceiver {
            end: self.shared.receiver::<()>(Spin::default())?,
            elem_size: self.elem_size,
        })
    }

    /// The element size in bytes.
    pub fn elem_size(&self) -> usize {
        self.elem_size
    }

    /// Messages in the channel now.
    pub fn len(&self) -> u64 {
        self.shared.len()
    }

    /// Whether the channel is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Messages the channel holds at most.
    pub fn capacity(&self) -> u64 {
        self.shared.capacity()
    }

    /// The transport in use (never `Auto`).
    pub fn transport(&self) -> Transport {
        self.shared.transport()
    }

    /// The channel's counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Keeps the kernel objects when this handle is dropped.
    pub fn disown(&self) {
        self.shared.disown()
    }

    /// Removes the kernel objects now (`IPC_RMID`).
    ///
    /// # Errors
    /// `PermissionDenied` or `Os`.
    pub fn remove(&self) -> Result<(), Error> {
        self.shared.remove()
    }
}

/// The sending side of an [`UntypedChannel`]: messages are byte slices of exactly the
/// element size.
#[derive(Debug)]
pub struct UntypedSender {
    end: SendEnd<()>,
    elem_size: usize,
}

/// The receiving side of an [`UntypedChannel`].
#[derive(Debug)]
pub struct UntypedReceiver {
    end: RecvEnd<()>,
    elem_size: usize,
}

/// `None` waits forever; `Some(d)` up to `d`.
fn deadline(timeout: Option<Duration>) -> Deadline {
    match timeout {
        None => Deadline::Never,
        Some(d) => Deadline::After(d),
    }
}

impl UntypedSender {
    /// The element size in bytes: every message is exactly this long.
    pub fn elem_size(&self) -> usize {
        self.elem_size
    }

    /// Sends without blocking.
    ///
    /// # Panics
    /// When `msg.len()` is not the element size (the caller checks it).
    pub fn try_send(&self, msg: &[u8]) -> Result<(), TryError> {
        assert_eq!(msg.len(), self.elem_size, "message of the element size");
        self.end.try_put(&Bytes(msg))
    }

    /// Sends, waiting while the channel is full up to `timeout` (`None`: forever).
    ///
    /// # Panics
    /// When `msg.len()` is not the element size.
    pub fn send_timeout(&self, msg: &[u8], timeout: Option<Duration>) -> Result<(), WaitError> {
        assert_eq!(msg.len(), self.elem_size, "message of the element size");
        self.end.put_until(&Bytes(msg), deadline(timeout))
    }

    /// Waits (up to `timeout`) for room, then lets `f` fill the message in place
    /// through a pointer to `elem_size` writable bytes, aligned to the element's
    /// alignment; it is published when `f` returns. `f` may run foreign code: a
    /// re-entrant use of this sender from `f` is refused with a panic.
    pub fn send_in_place(
        &self,
        timeout: Option<Duration>,
        f: impl FnOnce(*mut u8),
    ) -> Result<(), WaitError> {
        self.end
            .put_in_place::<(), Heap>(self.elem_size, deadline(timeout), f)
    }
}

impl UntypedReceiver {
    /// The element size in bytes.
    pub fn elem_size(&self) -> usize {
        self.elem_size
    }

    /// Receives into `out` (exactly the element size) without blocking.
    ///
    /// # Panics
    /// When `out.len()` is not the element size.
    pub fn try_recv(&self, out: &mut [u8]) -> Result<(), TryError> {
        assert_eq!(out.len(), self.elem_size, "buffer of the element size");
        self.end.try_take(&mut BytesOut(out))
    }

    /// Receives into `out`, waiting while empty up to `timeout` (`None`: forever).
    ///
    /// # Panics
    /// When `out.len()` is not the element size.
    pub fn recv_timeout(&self, out: &mut [u8], timeout: Option<Duration>) -> Result<(), WaitError> {
        assert_eq!(out.len(), self.elem_size, "buffer of the element size");
        self.end.take_until(&mut BytesOut(out), deadline(timeout))
    }

    /// Waits (up to `timeout`) for a message, then lets `f` read it in place through
    /// a pointer to `elem_size` bytes; the slot is freed when `f` returns.
    pub fn recv_in_place(
        &self,
        timeout: Option<Duration>,
        f: impl FnOnce(*const u8),
    ) -> Result<(), WaitError> {
        self.end
            .take_in_place::<(), Heap>(self.elem_size, deadline(timeout), f)
    }
}

// ---- byte frames --------------------------------------------------------------------

/// Why a frame operation of [`UntypedFrameSender`] or [`UntypedFrameReceiver`] did
/// not complete. Nothing was sent or received unless said otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameFailure {
    /// A try (a zero timeout): no room (send) or no frame (receive) now.
    NotNow,
    /// The timeout passed.
    Timeout,
    /// Every peer of the other side is gone (for receives: and the ring is drained).
    Disconnected,
    /// A frame longer than the channel's `max_len`: refused before anything is
    /// written.
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The channel's `max_len`.
        max: usize,
    },
    /// The next record in the ring is not a valid one (a corrupt or hostile peer).
    Corrupt(crate::error::CorruptFrame),
    /// A frame is reserved on this sender: commit or abort it first.
    Reserved,
    /// `commit`/`abort` without a reserved frame.
    NotReserved,
    /// `commit` with a length above the reserved one (a frame only shrinks): the
    /// frame stays reserved.
    Grow {
        /// The length asked.
        len: usize,
        /// The length reserved.
        reserved: usize,
    },
    /// The buffer is shorter than the next frame, of `len` bytes, which stays in the
    /// channel (the next receive gets it).
    TooSmall {
        /// The frame's length.
        len: usize,
    },
}

/// How long to wait: `None` forever, `Some(ZERO)` a single try (`NotNow`), else up
/// to that long (`Timeout`).
enum Wait {
    Try,
    Until(Deadline),
}

fn wait_of(timeout: Option<Duration>) -> Wait {
    match timeout {
        Some(d) if d.is_zero() => Wait::Try,
        t => Wait::Until(deadline(t)),
    }
}

fn frame_try(e: TryError) -> FrameFailure {
    match e {
        TryError::NotNow => FrameFailure::NotNow,
        TryError::Disconnected => FrameFailure::Disconnected,
    }
}

fn frame_wait(e: WaitError) -> FrameFailure {
    match e {
        WaitError::Timeout => FrameFailure::Timeout,
        WaitError::Disconnected => FrameFailure::Disconnected,
    }
}

/// The sending side of a [`FrameChannel`](crate::FrameChannel) for callers that
/// cannot hold a borrowing [`FrameWriter`](crate::FrameWriter) across calls (the C
/// library): a reserved frame is kept in the handle until [`commit`](Self::commit)
/// or [`abort`](Self::abort), and every other operation is refused meanwhile.
#[derive(Debug)]
pub struct UntypedFrameSender {
    tx: FrameSender,
    pending: Option<FrameGrant>,
}

impl From<FrameSender> for UntypedFrameSender {
    fn from(tx: FrameSender) -> UntypedFrameSender {
        UntypedFrameSender { tx, pending: None }
    }
}

impl UntypedFrameSender {
    /// The longest frame, in bytes.
    pub fn max_len(&self) -> usize {
        self.tx.end.max_len()
    }

    /// The reserved frame's length, if one is reserved.
    pub fn reserved(&self) -> Option<usize> {
        self.pending.as_ref().map(FrameGrant::len)
    }

    /// Refuses an operation while a frame is reserved, and a frame over `max_len`.
    fn check(&self, len: usize) -> Result<(), FrameFailure> {
        if self.pending.is_some() {
            return Err(FrameFailure::Reserved);
        }
        let max = self.max_len();
        if len > max {
            return Err(FrameFailure::TooLarge { len, max });
        }
        Ok(())
    }

    /// Room for a frame of `len` bytes, as `timeout` says.
    fn grant(&mut self, len: usize, timeout: Option<Duration>) -> Result<FrameGrant, FrameFailure> {
        self.check(len)?;
        let end = &mut self.tx.end;
        match wait_of(timeout) {
            Wait::Try => end.try_reserve(len).map_err(frame_try),
            Wait::Until(d) => match end.reserve_fast(len) {
                Some(g) => Ok(g),
                None => end.reserve_until(len, d).map_err(frame_wait),
            },
        }
    }

    /// Copies `frame` into the channel and publishes it, waiting for room as
    /// `timeout` says (`None`: forever; zero: one try, `NotNow`).
    pub fn send(&mut self, frame: &[u8], timeout: Option<Duration>) -> Result<(), FrameFailure> {
        self.check(frame.len())?;
        let end = &mut self.tx.end;
        match wait_of(timeout) {
            Wait::Try => end.try_send(frame).map_err(frame_try),
            Wait::Until(_) if end.send_fast(frame) => Ok(()),
            Wait::Until(d) => end.send_until(frame, d).map_err(frame_wait),
        }
    }

    /// Reserves a frame of `len` bytes (waiting as for [`send`](Self::send)) and
    /// returns a pointer to its `len` writable bytes, valid until the frame is
    /// committed or aborted, or this sender dropped. Their contents are unspecified.
    pub fn reserve(
        &mut self,
        len: usize,
        timeout: Option<Duration>,
    ) -> Result<*mut u8, FrameFailure> {
        let g = self.grant(len, timeout)?;
        let p = self.tx.end.payload(&g);
        self.pending = Some(g);
        Ok(p)
    }

    /// Publishes the reserved frame with its first `len` bytes (at most the reserved
    /// length: `Grow` otherwise, and it stays reserved).
    pub fn commit(&mut self, len: usize) -> Result<(), FrameFailure> {
        let g = self.pending.take().ok_or(FrameFailure::NotReserved)?;
        if len > g.len() {
            let reserved = g.len();
            self.pending = Some(g);
            return Err(FrameFailure::Grow { len, reserved });
        }
        self.tx.end.commit(g, len);
        Ok(())
    }

    /// Drops the reserved frame unpublished.
    pub fn abort(&mut self) -> Result<(), FrameFailure> {
        self.pending
            .take()
            .map(drop)
            .ok_or(FrameFailure::NotReserved)
    }
}

/// The receiving side of a [`FrameChannel`](crate::FrameChannel) with the
/// operations the C library needs: a receive into a slice that leaves a frame longer
/// than the slice in the channel.
#[derive(Debug)]
pub struct UntypedFrameReceiver {
    rx: FrameReceiver,
    /// A frame found but left unread (`TooSmall`), handed out first by the next
    /// receive: on the message queue it has left the queue already.
    held: Option<Peeked>,
}

impl From<FrameReceiver> for UntypedFrameReceiver {
    fn from(rx: FrameReceiver) -> UntypedFrameReceiver {
        UntypedFrameReceiver { rx, held: None }
    }
}

impl UntypedFrameReceiver {
    /// The longest frame, in bytes.
    pub fn max_len(&self) -> usize {
        self.rx.end.max_len()
    }

    /// The next frame, waiting as `timeout` says; not released.
    fn peek(&mut self, timeout: Option<Duration>) -> Result<Peeked, FrameFailure> {
        if let Some(held) = self.held.take() {
            return Ok(held);
        }
        let end = &mut self.rx.end;
        let found = match wait_of(timeout) {
            Wait::Try => end.try_peek().map_err(frame_try)?,
            Wait::Until(d) => match end.peek_fast() {
                Some(found) => found,
                None => end.peek_until(d).map_err(frame_wait)?,
            },
        };
        found.map_err(FrameFailure::Corrupt)
    }

    /// Lets `f` read the next frame in place (waiting as for
    /// [`UntypedFrameSender::send`]), then frees it. If `f` unwinds, the frame stays.
    pub fn recv_with<R>(
        &mut self,
        timeout: Option<Duration>,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, FrameFailure> {
        let fr = self.peek(timeout)?;
        let (ptr, len) = self.rx.end.frame(&fr);
        // SAFETY: a published frame's payload, `len` bytes inside the ring (bounded
        // when its header was decoded), not overwritten before `release`, or the
        // first `len <= max_len` bytes of the queue receiver's local buffer, written
        // only by this side's next receive; the slice lives only during `f`.
        let r = f(unsafe { std::slice::from_raw_parts(ptr, len) });
        self.rx.end.release(fr);
        Ok(r)
    }

    /// Copies the next frame into the start of `buf` and frees it; returns its
    /// length. A frame longer than `buf` is `TooSmall` and stays in the channel (on
    /// the message queue: in this receiver, handed out by its next receive).
    pub fn recv_into_slice(
        &mut self,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<usize, FrameFailure> {
        let fr = self.peek(timeout)?;
        let (ptr, len) = self.rx.end.frame(&fr);
        if len > buf.len() {
            self.held = Some(fr);
            return Err(FrameFailure::TooSmall { len });
        }
        // SAFETY: `len` bytes of the frame (as in `recv_with`) into `len` bytes of
        // `buf`, the caller's memory, which never overlaps the ring or the receiver's
        // local buffer.
        unsafe { copy_bytes(ptr, buf.as_mut_ptr(), len) };
        self.rx.end.release(fr);
        Ok(len)
    }
}

/// [`FrameBuilder::open_or_create`], saying whether this call created the channel.
///
/// # Errors
/// As `FrameBuilder::open_or_create`.
pub fn frames_open_or_create(b: FrameBuilder) -> Result<(FrameChannel, bool), Error> {
    b.open_or_create_reporting()
}
