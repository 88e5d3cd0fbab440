//! Byte-frame channels: [`FrameBuilder`], [`FrameChannel`], [`FrameSender`] (with its
//! zero-copy [`FrameWriter`]) and [`FrameReceiver`]. Messages are byte frames of
//! `0..=max_len` bytes in a byte ring, stored by their length, not by the maximum.
//!
//! Why a builder of its own rather than `Builder::<T>::frames(..)`: [`Builder`] is
//! generic over a fixed-size element `T: Message`, and every setting of it is about
//! that element (its fingerprint, a capacity in messages) and returns typed handles.
//! A frame channel has no element type, a capacity in bytes and its own handles, so
//! a separate builder keeps every method of both meaningful, and leaves the typed API
//! (and its hot path) untouched. The names mirror the typed ones: `create`/`open`/
//! `open_or_create`, `sender`/`receiver`, `send_bytes`/`try_send_bytes`/
//! `send_bytes_timeout` beside `send`/`try_send`/`send_timeout`, `recv_with` and
//! `recv_into` beside `recv_with`/`recv`.
//!
//! Why handles take `&mut self`: a frame reserved with [`FrameSender::reserve`] is
//! written in place after the call returns, and a received frame is read in place
//! while the closure runs; a second operation on the same side meanwhile would
//! publish or free the wrong bytes. Borrowing the handle mutably makes that a compile
//! error, so exclusivity costs no lock and no check per frame. A side is `Send` (move
//! it to the thread that uses it), not `Sync` or `Clone`.
//!
//! [`Builder`]: crate::Builder

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use crate::error::{
    Error, FrameTooLarge, RecvFrameError, RecvFrameTimeoutError, SendFrameError,
    SendFrameTimeoutError, TryRecvFrameError, TrySendFrameError,
};
use crate::options::{Spin, Stats, Transport};
use crate::ring::copy::copy_bytes;
use crate::ring::layout::{frame_max_len, frame_record, Geometry, MAX_FRAME_RING, MIN_FRAME_RING};
use crate::sys::Key;
use crate::transport::{
    self, Deadline, FrameExpect, FrameGrant, FrameObjects, FrameOpen, FrameRecvEnd, FrameSendEnd,
    Peeked, QueueShape, TryError, WaitError,
};

/// The longest frame of a channel created without [`FrameBuilder::max_len`].
pub const DEFAULT_FRAME_MAX_LEN: usize = 4096;

/// The smallest ring a channel is created with when no
/// [`FrameBuilder::capacity_bytes`] is given (larger when `max_len` needs it).
pub const DEFAULT_FRAME_RING: usize = 64 * 1024;

/// Configures and then creates or opens a byte-frame channel at a key.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use sysvring::{FrameBuilder, Key};
/// let key = Key::from_raw(0x7e57_0f00);
/// // Producer process.
/// let ch = FrameBuilder::new(key).max_len(1500).capacity_bytes(1 << 20).create()?;
/// let mut tx = ch.sender()?;
/// tx.send_bytes(b"hello")?;
/// let mut frame = tx.reserve(1500)?; // written in place
/// frame[..5].copy_from_slice(b"world");
/// frame.truncate(5);
/// frame.commit();
/// # drop(tx);
/// // Consumer process.
/// let mut rx = FrameBuilder::new(key).open()?.receiver()?;
/// let n = rx.recv_with(|bytes| bytes.len())?; // read in place
/// let mut buf = Vec::new();
/// rx.recv_into(&mut buf)?; // copied out
/// # Ok(()) }
/// ```
///
/// **A builder of its own.** [`Builder`](crate::Builder) is generic over a
/// fixed-size element `T: Message` and every one of its settings is about that
/// element (a fingerprint, a capacity in messages); a frame channel has no element
/// type, a capacity in bytes and handles of its own. The names mirror the typed
/// API's: `create`/`open`/`open_or_create`, `sender`/`receiver`, `send_bytes`/
/// `try_send_bytes`/`send_bytes_timeout`, `recv_with`, `recv_into`.
///
/// **Handles.** [`FrameSender`] and [`FrameReceiver`] are `Send`, not `Sync` or
/// `Clone`, and every operation takes `&mut self`: a frame reserved with
/// [`FrameSender::reserve`] is written after the call returns, and a received frame is
/// read in place while the closure runs; another operation on the same side meanwhile
/// would publish or free the wrong bytes. Borrowing the side mutably makes that a
/// compile error, so exclusivity costs no lock per frame. Between processes the
/// roles are exclusive, as on a typed SPSC channel.
#[derive(Clone)]
pub struct FrameBuilder {
    key: Key,
    max_len: Option<usize>,
    capacity_bytes: Option<usize>,
    mode: u32,
    spin: Spin,
    transport: Transport,
    open_timeout: Duration,
    trusted: Vec<u32>,
}

impl fmt::Debug for FrameBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameBuilder")
            .field("key", &self.key)
            .field("max_len", &self.max_len)
            .field("capacity_bytes", &self.capacity_bytes)
            .field("mode", &format_args!("{:#o}", self.mode))
            .field("spin", &self.spin)
            .field("transport", &self.transport)
            .finish()
    }
}

impl FrameBuilder {
    /// A builder for the frame channel at `key`, with defaults: frames of at most
    /// [`DEFAULT_FRAME_MAX_LEN`] bytes, a ring of [`DEFAULT_FRAME_RING`] bytes (or
    /// more, see [`capacity_bytes`](Self::capacity_bytes)), mode 0o600, the default
    /// spin, [`Transport::Auto`] (the shared-memory ring, or the message queue when
    /// the host gives no segment). The channel is SPSC.
    pub fn new(key: Key) -> FrameBuilder {
        FrameBuilder {
            key,
            max_len: None,
            capacity_bytes: None,
            mode: 0o600,
            spin: Spin::default(),
            transport: Transport::Auto,
            open_timeout: Duration::from_secs(1),
            trusted: Vec::new(),
        }
    }

    /// The longest frame, in bytes (default [`DEFAULT_FRAME_MAX_LEN`]); on the ring a
    /// frame's record (8 bytes of header and the payload rounded up to 8) must fit in
    /// a quarter of the ring; on the message queue it must be at most the host's
    /// `msgmax` and the queue's budget (else `MessageTooLarge` at `create`). On
    /// `open`, when set, the channel's must be exactly this (else `LayoutMismatch`).
    pub fn max_len(mut self, max_len: usize) -> FrameBuilder {
        self.max_len = Some(max_len);
        self
    }

    /// The ring's size in bytes, rounded up to a power of two (at least 64; default:
    /// [`DEFAULT_FRAME_RING`] or four records of `max_len`, whichever is larger). It
    /// holds as many frames as their records fit: a small frame takes little room
    /// whatever `max_len` is. On `open`, when set, the channel's ring must be this
    /// size (rounded up the same way).
    ///
    /// On the message queue it is the queue's byte budget (`msg_qbytes`, not
    /// rounded); above the host's `msgmnb` it needs privilege (`CAP_SYS_RESOURCE`),
    /// and without it the queue keeps `msgmnb`, which
    /// [`FrameChannel::capacity_bytes`] then reports. On `open` of a queue, when set,
    /// it must equal the budget the channel got.
    pub fn capacity_bytes(mut self, bytes: usize) -> FrameBuilder {
        self.capacity_bytes = Some(bytes);
        self
    }

    /// Where the frames travel (default [`Transport::Auto`]): the shared-memory
    /// ring, the message queue (one `msgsnd` per frame, no zero copy: `reserve` and
    /// `recv_with` work on a local buffer of `max_len` bytes), or `Auto`, the ring
    /// unless the host gives no segment, as [`Builder::transport`] does. Only
    /// `create` uses it: `open` finds whichever transport the creator chose.
    ///
    /// [`Builder::transport`]: crate::Builder::transport
    pub fn transport(mut self, transport: Transport) -> FrameBuilder {
        self.transport = transport;
        self
    }

    /// Permission bits of the objects `create` makes (default `0o600`).
    pub fn mode(mut self, mode: u32) -> FrameBuilder {
        self.mode = mode;
        self
    }

    /// How long a blocked side spins before it sleeps (default [`Spin::default`]).
    pub fn spin(mut self, spin: Spin) -> FrameBuilder {
        self.spin = spin;
        self
    }

    /// Trusts channels created by `uid` on `open` (see
    /// [`Builder::trust_owner`](crate::Builder::trust_owner)).
    pub fn trust_owner(mut self, uid: u32) -> FrameBuilder {
        self.trusted.push(uid);
        self
    }

    /// How long `open` waits for a creator to finish initialising (default 1 s).
    pub fn open_timeout(mut self, timeout: Duration) -> FrameBuilder {
        self.open_timeout = timeout;
        self
    }

    /// The ring size asked for, rounded up to a power of two; `None` beyond the
    /// largest ring.
    fn ring_bytes(&self) -> Option<u64> {
        let asked = self.capacity_bytes.map(|b| b as u64);
        let default = || {
            let max_len = self.max_len.unwrap_or(DEFAULT_FRAME_MAX_LEN) as u64;
            (DEFAULT_FRAME_RING as u64).max(frame_record(max_len).saturating_mul(4))
        };
        asked
            .unwrap_or_else(default)
            .max(MIN_FRAME_RING)
            .checked_next_power_of_two()
            .filter(|&b| b <= MAX_FRAME_RING)
    }

    /// The geometry `create` makes.
    fn geometry(&self) -> Result<Geometry, Error> {
        let ring = self.ring_bytes().ok_or(Error::LayoutMismatch {
            field: "ring bytes",
            expected: MAX_FRAME_RING,
            found: self.capacity_bytes.unwrap_or(usize::MAX) as u64,
        })?;
        let max_len = self.max_len.unwrap_or(DEFAULT_FRAME_MAX_LEN) as u64;
        Geometry::frames(ring, max_len).ok_or(Error::LayoutMismatch {
            field: "max_len (a record within a quarter of the ring)",
            expected: frame_max_len(ring),
            found: max_len,
        })
    }

    /// What `create` makes on the message queue: `max_len`, and a budget of
    /// `capacity_bytes` as asked (or the ring's default size).
    fn queue_shape(&self) -> QueueShape {
        let max_len = self.max_len.unwrap_or(DEFAULT_FRAME_MAX_LEN);
        let bytes = match self.capacity_bytes {
            Some(b) => b as u64,
            None => (DEFAULT_FRAME_RING as u64).max(max_len as u64),
        };
        QueueShape { max_len, bytes }
    }

    fn expect(&self) -> Result<FrameOpen, Error> {
        Ok(FrameOpen {
            ring: self.ring_expect()?,
            queue_bytes: self.capacity_bytes.map(|b| b as u64),
        })
    }

    fn ring_expect(&self) -> Result<FrameExpect, Error> {
        let ring_bytes = match self.capacity_bytes {
            None => None,
            Some(b) => Some(self.ring_bytes().ok_or(Error::LayoutMismatch {
                field: "ring bytes",
                expected: MAX_FRAME_RING,
                found: b as u64,
            })?),
        };
        Ok(FrameExpect {
            max_len: self.max_len.map(|m| m as u64),
            ring_bytes,
        })
    }

    /// Creates the channel (`IPC_CREAT | IPC_EXCL`). The returned handle owns it: the
    /// segment and semaphores are removed when it and every handle made from it are
    /// dropped, or by [`FrameChannel::remove`].
    ///
    /// # Errors
    /// `AlreadyExists` when the key is taken; `LayoutMismatch` when `max_len` does
    /// not fit a quarter of the ring, or the ring is over 4 GiB; `MessageTooLarge`
    /// on the message queue when `max_len` is over the host's `msgmax` (or the
    /// queue's budget); `PermissionDenied`; `SemaphoreLimit`; `Os` for anything else
    /// the kernel refused.
    pub fn create(self) -> Result<FrameChannel, Error> {
        let objects = self.create_objects()?;
        Ok(FrameChannel {
            objects,
            spin: self.spin,
        })
    }

    fn create_objects(&self) -> Result<FrameObjects, Error> {
        FrameObjects::create(
            self.key,
            self.transport,
            || self.geometry(),
            self.queue_shape(),
            self.mode,
        )
    }

    /// Opens the frame channel another process created at this key, waiting up to
    /// the open timeout for it to be initialised, and validates it.
    ///
    /// # Errors
    /// `NotFound`, `PermissionDenied`, `Untrusted`, `NotSysvring`, `VersionMismatch`,
    /// `TypeMismatch` (a typed channel is at the key: the error names its type),
    /// `LayoutMismatch` (`max_len` or ring size other than those set here, or an
    /// inconsistent header), `NotReady`, `MessageTooLarge` (a queue's `max_len`
    /// over this host's `msgmax`), or `Os`.
    pub fn open(self) -> Result<FrameChannel, Error> {
        let objects =
            FrameObjects::open(self.key, self.expect()?, &self.trusted, self.open_timeout)?;
        Ok(FrameChannel {
            objects,
            spin: self.spin,
        })
    }

    /// Opens the channel when it exists (validating it as [`open`](Self::open)
    /// does), creates it otherwise; `IPC_EXCL` decides a start-up race, as for
    /// [`Builder::open_or_create`](crate::Builder::open_or_create).
    ///
    /// # Errors
    /// As `open` and `create`.
    pub fn open_or_create(self) -> Result<FrameChannel, Error> {
        Ok(self.open_or_create_reporting()?.0)
    }

    /// [`open_or_create`](Self::open_or_create), saying whether this call created
    /// the channel (for the C library's `*created`).
    pub(super) fn open_or_create_reporting(self) -> Result<(FrameChannel, bool), Error> {
        let (objects, created) = transport::open_or_create(
            self.key.is_private(),
            || FrameObjects::open(self.key, self.expect()?, &self.trusted, self.open_timeout),
            || self.create_objects(),
        )?;
        let spin = self.spin;
        Ok((FrameChannel { objects, spin }, created))
    }
}

/// A created or opened byte-frame channel: make its [`FrameSender`] and
/// [`FrameReceiver`] here. By itself neither.
///
/// The creator's handle owns the kernel objects: they are removed when it and every
/// side made from it are dropped (or at [`remove`](Self::remove)).
pub struct FrameChannel {
    objects: FrameObjects,
    spin: Spin,
}

impl fmt::Debug for FrameChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameChannel")
            .field("key", &self.objects.key())
            .field("max_len", &self.objects.max_len())
            .field("capacity_bytes", &self.objects.capacity_bytes())
            .field("owner", &self.objects.is_owner())
            .finish()
    }
}

impl FrameChannel {
    /// Connects the sender in this process (SPSC: the role is exclusive between
    /// processes, and given back by the kernel if its holder dies).
    ///
    /// # Errors
    /// `RoleTaken` while another sender lives; `Removed`; `Os`.
    pub fn sender(&self) -> Result<FrameSender, Error> {
        Ok(FrameSender {
            end: self.objects.sender(self.spin)?,
        })
    }

    /// Connects the receiver in this process (exclusive, as the sender).
    ///
    /// # Errors
    /// `RoleTaken` while another receiver lives; `Removed`; `Os`.
    pub fn receiver(&self) -> Result<FrameReceiver, Error> {
        Ok(FrameReceiver {
            end: self.objects.receiver(self.spin)?,
        })
    }

    /// The key the channel lives at.
    pub fn key(&self) -> Key {
        self.objects.key()
    }

    /// The transport: [`Transport::ShmRing`] or [`Transport::MessageQueue`].
    pub fn transport(&self) -> Transport {
        self.objects.transport()
    }

    /// The longest frame, in bytes.
    pub fn max_len(&self) -> usize {
        self.objects.max_len()
    }

    /// The ring's size in bytes (on the message queue: its byte budget).
    pub fn capacity_bytes(&self) -> usize {
        self.objects.capacity_bytes() as usize
    }

    /// Frames in the channel now.
    pub fn len(&self) -> usize {
        self.objects.len() as usize
    }

    /// Whether the channel is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the ring in use now (the frames' records and any padding before the
    /// next lap; on the message queue the bytes of the frames in it).
    pub fn bytes_used(&self) -> usize {
        self.objects.bytes_used() as usize
    }

    /// The counters of the channel, shared by every process using it (`sent` and
    /// `received` count frames). On the message queue they are this process's, as
    /// for a typed queue channel, and `skipped` counts the frames it dropped as
    /// longer than `max_len`.
    pub fn stats(&self) -> Stats {
        self.objects.stats()
    }

    /// The shared-memory segment's id (ring only).
    pub fn shm_id(&self) -> Option<i32> {
        self.objects.shm_id()
    }

    /// The message queue's id (message queue only).
    pub fn msg_id(&self) -> Option<i32> {
        self.objects.msg_id()
    }

    /// The semaphore set's id.
    pub fn sem_id(&self) -> i32 {
        self.objects.sem_id()
    }

    /// Whether this handle will remove the kernel objects when dropped.
    pub fn is_owner(&self) -> bool {
        self.objects.is_owner()
    }

    /// Keeps the kernel objects after this process drops its handles.
    pub fn keep(&self) {
        self.objects.disown()
    }

    /// Removes the channel now (`IPC_RMID`). Peers finish with `Disconnected` once
    /// they drained what is left.
    ///
    /// # Errors
    /// `PermissionDenied` unless the caller owns or created the objects.
    pub fn remove(&self) -> Result<(), Error> {
        self.objects.remove()
    }
}

/// A relative deadline, fixed when the wait first reads the clock.
fn after(timeout: Duration) -> Deadline {
    Deadline::After(timeout)
}

/// The sending side of a frame channel. `Send`, not `Sync` or `Clone`: every
/// operation takes `&mut self` (see [`FrameBuilder`], "Handles").
///
/// Dropping it (or killing its process) disconnects the channel for the receiver once
/// it drained it. A frame being written ([`FrameWriter`]) when its process is killed
/// is never seen.
pub struct FrameSender {
    pub(super) end: FrameSendEnd,
}

impl fmt::Debug for FrameSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameSender")
            .field("key", &self.end.key())
            .field("max_len", &self.end.max_len())
            .finish()
    }
}

impl FrameSender {
    /// The longest frame, in bytes.
    pub fn max_len(&self) -> usize {
        self.end.max_len()
    }

    /// The ring's size in bytes (on the message queue: its byte budget).
    pub fn capacity_bytes(&self) -> usize {
        self.end.capacity_bytes() as usize
    }

    /// Frames in the channel now.
    pub fn len(&self) -> usize {
        self.end.len() as usize
    }

    /// Whether the channel is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check_len(&self, len: usize) -> Result<(), FrameTooLarge> {
        let max = self.end.max_len();
        if len > max {
            Err(FrameTooLarge { len, max })
        } else {
            Ok(())
        }
    }

    fn writer(&mut self, grant: FrameGrant) -> FrameWriter<'_> {
        let len = grant.len();
        let ptr = self.end.payload(&grant);
        FrameWriter {
            tx: self,
            grant: Some(grant),
            ptr,
            len,
        }
    }

    /// Zero-copy send: waits until the ring has room for a frame of `len` bytes and
    /// returns it to be written in place; it is published by
    /// [`FrameWriter::commit`] (possibly shrunk first) and dropped unpublished
    /// otherwise.
    ///
    /// # Errors
    /// `TooLarge` when `len > max_len` (before anything is written);
    /// `Disconnected` when every receiver is gone.
    pub fn reserve(&mut self, len: usize) -> Result<FrameWriter<'_>, SendFrameError> {
        self.check_len(len).map_err(SendFrameError::TooLarge)?;
        let grant = match self.end.reserve_fast(len) {
            Some(g) => g,
            None => self
                .end
                .reserve_until(len, Deadline::Never)
                .map_err(|_| SendFrameError::Disconnected)?,
        };
        Ok(self.writer(grant))
    }

    /// [`reserve`](Self::reserve) without blocking.
    ///
    /// # Errors
    /// `Full` when the ring has no room for it now, `TooLarge`, `Disconnected`.
    pub fn try_reserve(&mut self, len: usize) -> Result<FrameWriter<'_>, TrySendFrameError> {
        self.check_len(len).map_err(TrySendFrameError::TooLarge)?;
        let grant = self.end.try_reserve(len).map_err(|e| match e {
            TryError::NotNow => TrySendFrameError::Full,
            TryError::Disconnected => TrySendFrameError::Disconnected,
        })?;
        Ok(self.writer(grant))
    }

    /// [`reserve`](Self::reserve), blocking for at most `timeout`.
    ///
    /// # Errors
    /// `Timeout`, `TooLarge`, `Disconnected`.
    pub fn reserve_timeout(
        &mut self,
        len: usize,
        timeout: Duration,
    ) -> Result<FrameWriter<'_>, SendFrameTimeoutError> {
        self.reserve_until(len, after(timeout))
    }

    fn reserve_until(
        &mut self,
        len: usize,
        deadline: Deadline,
    ) -> Result<FrameWriter<'_>, SendFrameTimeoutError> {
        self.check_len(len)
            .map_err(SendFrameTimeoutError::TooLarge)?;
        let grant = match self.end.reserve_fast(len) {
            Some(g) => g,
            None => self.end.reserve_until(len, deadline).map_err(|e| match e {
                WaitError::Timeout => SendFrameTimeoutError::Timeout,
                WaitError::Disconnected => SendFrameTimeoutError::Disconnected,
            })?,
        };
        Ok(self.writer(grant))
    }

    /// Copies `frame` into the ring and publishes it, blocking while the ring has no
    /// room for it (spin, then sleep). On the message queue: one `msgsnd`.
    ///
    /// # Errors
    /// `TooLarge` when `frame.len() > max_len` (nothing is written);
    /// `Disconnected` when every receiver is gone.
    #[inline]
    pub fn send_bytes(&mut self, frame: &[u8]) -> Result<(), SendFrameError> {
        self.check_len(frame.len())
            .map_err(SendFrameError::TooLarge)?;
        if self.end.send_fast(frame) {
            return Ok(());
        }
        self.end
            .send_until(frame, Deadline::Never)
            .map_err(|_| SendFrameError::Disconnected)
    }

    /// [`send_bytes`](Self::send_bytes) without blocking.
    ///
    /// # Errors
    /// `Full` when the ring has no room for it now, `TooLarge`, `Disconnected`.
    pub fn try_send_bytes(&mut self, frame: &[u8]) -> Result<(), TrySendFrameError> {
        self.check_len(frame.len())
            .map_err(TrySendFrameError::TooLarge)?;
        self.end.try_send(frame).map_err(|e| match e {
            TryError::NotNow => TrySendFrameError::Full,
            TryError::Disconnected => TrySendFrameError::Disconnected,
        })
    }

    /// [`send_bytes`](Self::send_bytes), blocking for at most `timeout`.
    ///
    /// # Errors
    /// `Timeout`, `TooLarge`, `Disconnected`.
    pub fn send_bytes_timeout(
        &mut self,
        frame: &[u8],
        timeout: Duration,
    ) -> Result<(), SendFrameTimeoutError> {
        self.send_bytes_until(frame, after(timeout))
    }

    /// [`send_bytes`](Self::send_bytes), blocking until `deadline` at the latest.
    ///
    /// # Errors
    /// `Timeout`, `TooLarge`, `Disconnected`.
    pub fn send_bytes_deadline(
        &mut self,
        frame: &[u8],
        deadline: Instant,
    ) -> Result<(), SendFrameTimeoutError> {
        self.send_bytes_until(frame, Deadline::At(deadline))
    }

    fn send_bytes_until(
        &mut self,
        frame: &[u8],
        deadline: Deadline,
    ) -> Result<(), SendFrameTimeoutError> {
        self.check_len(frame.len())
            .map_err(SendFrameTimeoutError::TooLarge)?;
        if self.end.send_fast(frame) {
            return Ok(());
        }
        self.end.send_until(frame, deadline).map_err(|e| match e {
            WaitError::Timeout => SendFrameTimeoutError::Timeout,
            WaitError::Disconnected => SendFrameTimeoutError::Disconnected,
        })
    }
}

/// A frame reserved in the ring by [`FrameSender::reserve`], written in place:
/// derefs to `&mut [u8]` of the reserved length. Its bytes are unspecified (what the
/// ring held there before) until written.
///
/// On the message queue there is no zero copy: the frame is written into the
/// sender's local buffer of `max_len` bytes (room for it in the queue was checked at
/// reserve) and `commit` sends it with one `msgsnd`.
///
/// [`commit`](Self::commit) publishes it, with the length it has then (shrink it
/// first with [`truncate`](Self::truncate)). Dropping it without committing aborts
/// it: nothing becomes visible and the room is reused. While it lives, its sender
/// is borrowed: nothing else is sent meanwhile.
pub struct FrameWriter<'a> {
    tx: &'a mut FrameSender,
    grant: Option<FrameGrant>,
    ptr: *mut u8,
    len: usize,
}

impl fmt::Debug for FrameWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameWriter")
            .field("len", &self.len)
            .finish()
    }
}

impl FrameWriter<'_> {
    /// Shrinks the frame to `len` bytes (no effect when `len` is not shorter), as
    /// `Vec::truncate`: the rest of the reserved room is given back at commit.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Publishes the frame with its current length: the receiver sees all of it or,
    /// if this process dies first, none of it.
    pub fn commit(mut self) {
        let grant = self.grant.take().expect("committed once");
        self.tx.end.commit(grant, self.len);
    }

    /// Drops the frame unpublished (what dropping it does).
    pub fn abort(self) {}
}

impl Deref for FrameWriter<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `len` (at most the grant's length) bytes of the grant's payload,
        // inside the ring's free space that only this side writes, or the queue
        // sender's local buffer of `max_len` bytes; initialised memory (a segment is
        // zero-filled at creation, the buffer when made); the sender is borrowed, so
        // nothing else reaches those bytes through this process until commit.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl DerefMut for FrameWriter<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, exclusively (`&mut self`).
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

/// The receiving side of a frame channel. `Send`, not `Sync` or `Clone`: every
/// operation takes `&mut self` (see [`FrameBuilder`], "Handles").
///
/// Receives return `Disconnected` only once the channel is empty and every sender is
/// gone (dropped or killed) after one had connected. A record that is not a valid
/// one (a corrupt or hostile peer) is reported as `Corrupt`, never read past.
pub struct FrameReceiver {
    pub(super) end: FrameRecvEnd,
}

impl fmt::Debug for FrameReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameReceiver")
            .field("key", &self.end.key())
            .field("max_len", &self.end.max_len())
            .finish()
    }
}

/// Copies `src` into `buf`, replacing its contents.
fn copy_into(buf: &mut Vec<u8>, src: &[u8]) -> usize {
    buf.clear();
    buf.reserve(src.len());
    // SAFETY: `buf` has room for src.len() bytes (reserved above), which the copy
    // initialises before `set_len`; the ring and a Vec never overlap.
    unsafe {
        copy_bytes(src.as_ptr(), buf.as_mut_ptr(), src.len());
        buf.set_len(src.len());
    }
    src.len()
}

impl FrameReceiver {
    /// The longest frame, in bytes.
    pub fn max_len(&self) -> usize {
        self.end.max_len()
    }

    /// Frames in the channel now.
    pub fn len(&self) -> usize {
        self.end.len() as usize
    }

    /// Whether the channel is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lets `f` read a found frame in place, then frees it (if `f` panics, the
    /// frame stays in the ring).
    fn read<R>(
        &mut self,
        found: Result<Peeked, crate::error::CorruptFrame>,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, crate::error::CorruptFrame> {
        let fr = found?;
        let (ptr, len) = self.end.frame(&fr);
        // SAFETY: a published frame's payload, `len` bytes inside the ring (bounded
        // when its header was decoded), not overwritten before `release`, or the
        // first `len <= max_len` bytes of the queue receiver's local buffer, which
        // only the next receive on this (mutably borrowed) side writes; the slice
        // lives only during `f`.
        let r = f(unsafe { std::slice::from_raw_parts(ptr, len) });
        self.end.release(fr);
        Ok(r)
    }

    /// Zero-copy receive: blocks until a frame is there, lets `f` read it in place in
    /// the ring, then frees it. If `f` panics the frame stays in the ring.
    ///
    /// On the message queue there is no zero copy: `msgrcv` copies the frame into the
    /// receiver's local buffer of `max_len` bytes, which `f` reads; the frame has
    /// left the queue then, so if `f` panics it is lost. A frame longer than
    /// `max_len` (a foreign or hostile sender's) is dropped and counted in
    /// `stats().skipped`, never handed out.
    ///
    /// # Errors
    /// `Disconnected` when the channel is empty and every sender is gone; `Corrupt`
    /// when the next record is not a valid one.
    #[inline]
    pub fn recv_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Result<R, RecvFrameError> {
        let found = match self.end.peek_fast() {
            Some(found) => found,
            None => self
                .end
                .peek_until(Deadline::Never)
                .map_err(|_| RecvFrameError::Disconnected)?,
        };
        self.read(found, f).map_err(RecvFrameError::Corrupt)
    }

    /// [`recv_with`](Self::recv_with) without blocking.
    ///
    /// # Errors
    /// `Empty`, `Disconnected` (empty and every sender gone), `Corrupt`.
    pub fn try_recv_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Result<R, TryRecvFrameError> {
        let found = self.end.try_peek().map_err(|e| match e {
            TryError::NotNow => TryRecvFrameError::Empty,
            TryError::Disconnected => TryRecvFrameError::Disconnected,
        })?;
        self.read(found, f).map_err(TryRecvFrameError::Corrupt)
    }

    /// [`recv_with`](Self::recv_with), blocking for at most `timeout`.
    ///
    /// # Errors
    /// `Timeout`, `Disconnected`, `Corrupt`.
    pub fn recv_with_timeout<R>(
        &mut self,
        timeout: Duration,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, RecvFrameTimeoutError> {
        self.recv_with_until(after(timeout), f)
    }

    /// [`recv_with`](Self::recv_with), blocking until `deadline` at the latest.
    ///
    /// # Errors
    /// `Timeout`, `Disconnected`, `Corrupt`.
    pub fn recv_with_deadline<R>(
        &mut self,
        deadline: Instant,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, RecvFrameTimeoutError> {
        self.recv_with_until(Deadline::At(deadline), f)
    }

    fn recv_with_until<R>(
        &mut self,
        deadline: Deadline,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, RecvFrameTimeoutError> {
        let found = match self.end.peek_fast() {
            Some(found) => found,
            None => self.end.peek_until(deadline).map_err(|e| match e {
                WaitError::Timeout => RecvFrameTimeoutError::Timeout,
                WaitError::Disconnected => RecvFrameTimeoutError::Disconnected,
            })?,
        };
        self.read(found, f).map_err(RecvFrameTimeoutError::Corrupt)
    }

    /// Receives the next frame into `buf` (replacing its contents; it grows only
    /// when the frame is longer than its capacity), blocking while empty. Returns the
    /// frame's length.
    ///
    /// # Errors
    /// As [`recv_with`](Self::recv_with).
    #[inline]
    pub fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvFrameError> {
        self.recv_with(|b| copy_into(buf, b))
    }

    /// [`recv_into`](Self::recv_into) without blocking.
    ///
    /// # Errors
    /// As [`try_recv_with`](Self::try_recv_with).
    pub fn try_recv_into(&mut self, buf: &mut Vec<u8>) -> Result<usize, TryRecvFrameError> {
        self.try_recv_with(|b| copy_into(buf, b))
    }

    /// [`recv_into`](Self::recv_into), blocking for at most `timeout`.
    ///
    /// # Errors
    /// As [`recv_with_timeout`](Self::recv_with_timeout).
    pub fn recv_into_timeout(
        &mut self,
        buf: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<usize, RecvFrameTimeoutError> {
        self.recv_with_timeout(timeout, |b| copy_into(buf, b))
    }
}
