//! The user-facing channel: [`Builder`], [`Channel`], [`Sender`], [`Receiver`].

mod error;

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytemuck::Pod;

pub use error::{
    Error, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};

use crate::ring::layout::{type_fingerprint, Geometry, RingKind};
use crate::ring::{mpmc::Mpmc, spsc};
use crate::sys::{self, Key};
pub use crate::transport::shm::Spin;
use crate::transport::shm::{Expect, ShmShared, Side, WaitError};

/// The queue algorithm of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Flavor {
    /// One sender and one receiver at a time (exclusive roles); the fastest.
    #[default]
    Spsc,
    /// Any number of senders and receivers, in any processes.
    Mpmc,
}

/// Where a channel's messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    /// A ring in a System V shared-memory segment.
    ShmRing,
    /// A System V message queue (one `msgsnd` per message).
    MessageQueue,
    /// Shared memory, or the message queue when no segment can be made.
    #[default]
    Auto,
}

/// Counters of a channel, shared by every process using it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Messages sent so far (positions claimed by senders).
    pub sent: u64,
    /// Messages received so far.
    pub received: u64,
    /// Wake-ups posted to sleeping peers (semaphore increments).
    pub wakeups: u64,
    /// Times a blocked side went to sleep in the kernel.
    pub sleeps: u64,
    /// MPMC slots skipped because their producer died before publishing.
    pub skipped: u64,
    /// Live senders (from the kernel's `SEM_UNDO` count).
    pub senders: u32,
    /// Live receivers (likewise).
    pub receivers: u32,
}

/// Configures and then creates or opens a channel of `T` at a key.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use sysvring::{Builder, Flavor, Key};
/// let ch = Builder::<u64>::new(Key::from_raw(0x5eed))
///     .capacity(1024)
///     .flavor(Flavor::Mpmc)
///     .create()?;
/// let tx = ch.sender()?;
/// tx.send(42)?;
/// # Ok(()) }
/// ```
pub struct Builder<T> {
    key: Key,
    capacity: Option<usize>,
    flavor: Option<Flavor>,
    transport: Transport,
    mode: u32,
    fingerprint: Option<u64>,
    spin: Spin,
    open_timeout: Duration,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for Builder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("key", &self.key)
            .field("capacity", &self.capacity)
            .field("flavor", &self.flavor)
            .field("transport", &self.transport)
            .field("mode", &format_args!("{:#o}", self.mode))
            .field("fingerprint", &self.fingerprint)
            .field("spin", &self.spin)
            .finish()
    }
}

/// Capacity of a channel created without [`Builder::capacity`].
pub const DEFAULT_CAPACITY: usize = 1024;

impl<T: Pod> Builder<T> {
    /// A builder for the channel at `key`, with defaults: capacity 1024, SPSC,
    /// `Transport::Auto`, mode 0o600, the default fingerprint of `T`, the default spin.
    pub fn new(key: Key) -> Self {
        Builder {
            key,
            capacity: None,
            flavor: None,
            transport: Transport::Auto,
            mode: 0o600,
            fingerprint: None,
            spin: Spin::default(),
            open_timeout: Duration::from_secs(1),
            _t: PhantomData,
        }
    }

    /// Slots in the ring, rounded up to a power of two. On `open`, when set, the
    /// segment's capacity must match it (else `LayoutMismatch`).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// SPSC (default) or MPMC. On `open`, when set, the segment's flavor must match
    /// (else `LayoutMismatch`); when not set, whatever the creator chose is used.
    pub fn flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = Some(flavor);
        self
    }

    /// Which transport `create` makes (`Auto` by default).
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Permission bits of the objects `create` makes (default `0o600`; only the low
    /// nine bits are allowed).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Pins the type fingerprint instead of the default hash of `T`'s name, size and
    /// alignment, e.g. to keep two builds with differently named types compatible.
    pub fn fingerprint(mut self, id: u64) -> Self {
        self.fingerprint = Some(id);
        self
    }

    /// How long a blocked side spins before it sleeps (default [`Spin::default`]).
    pub fn spin(mut self, spin: Spin) -> Self {
        self.spin = spin;
        self
    }

    /// How long `open` waits for a creator to finish initialising (default 1 s).
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        self.open_timeout = timeout;
        self
    }

    fn fp(&self) -> u64 {
        self.fingerprint.unwrap_or_else(type_fingerprint::<T>)
    }

    /// Creates the channel (`IPC_CREAT | IPC_EXCL`). The returned handle owns it: the
    /// segment and semaphores are removed when it and every handle made from it are
    /// dropped, or by [`Channel::remove`].
    ///
    /// # Errors
    /// `AlreadyExists` when the key is taken; `LayoutMismatch` for a capacity of 0 or
    /// too large; `MessageTooLarge` for a `T` the transport cannot carry;
    /// `PermissionDenied`; `Os` for anything else the kernel refused.
    pub fn create(self) -> Result<Channel<T>, Error> {
        let flavor = self.flavor.unwrap_or_default();
        let kind = match flavor {
            Flavor::Spsc => RingKind::Spsc,
            Flavor::Mpmc => RingKind::Mpmc,
        };
        let want = self.capacity.unwrap_or(DEFAULT_CAPACITY);
        let cap = want
            .checked_next_power_of_two()
            .filter(|_| want > 0)
            .ok_or(Error::LayoutMismatch {
                field: "capacity",
                expected: 1,
                found: want as u64,
            })?;
        let geo = Geometry::for_type::<T>(kind, cap as u64).ok_or(Error::LayoutMismatch {
            field: "capacity",
            expected: crate::ring::layout::MAX_CAPACITY,
            found: cap as u64,
        })?;
        if self.mode & !0o777 != 0 {
            return Err(Error::Os(
                "shmget",
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "mode has bits other than 0o777",
                ),
            ));
        }
        let shared = match self.transport {
            Transport::ShmRing | Transport::Auto => {
                ShmShared::create(self.key, geo, self.mode, self.fp())?
            }
            Transport::MessageQueue => {
                return Err(Error::Os(
                    "msgget",
                    std::io::Error::new(
                        std::io::ErrorKind::Unsupported,
                        "the message-queue transport is not built yet",
                    ),
                ))
            }
        };
        Ok(Channel {
            shared: Arc::new(shared),
            flavor,
            spin: self.spin,
            _t: PhantomData,
        })
    }

    /// Opens the channel another process created at this key, waiting up to the open
    /// timeout for it to be initialised, and validates it against `T` and the
    /// builder's settings.
    ///
    /// # Errors
    /// `NotFound`, `PermissionDenied`, `NotSysvring`, `VersionMismatch`,
    /// `TypeMismatch`, `LayoutMismatch`, `NotReady`, or `Os`.
    pub fn open(self) -> Result<Channel<T>, Error> {
        let capacity = match self.capacity {
            Some(0) => {
                return Err(Error::LayoutMismatch {
                    field: "capacity",
                    expected: 1,
                    found: 0,
                })
            }
            Some(c) => Some(c.checked_next_power_of_two().unwrap_or(0) as u64),
            None => None,
        };
        let expect = Expect {
            kind: self.flavor.map(|f| match f {
                Flavor::Spsc => RingKind::Spsc,
                Flavor::Mpmc => RingKind::Mpmc,
            }),
            capacity,
            elem_size: size_of::<T>(),
            elem_align: align_of::<T>(),
            fingerprint: self.fp(),
        };
        let shared = ShmShared::open(self.key, &expect, self.open_timeout)?;
        let flavor = match shared.ring.geometry().kind {
            RingKind::Spsc => Flavor::Spsc,
            RingKind::Mpmc => Flavor::Mpmc,
        };
        Ok(Channel {
            shared: Arc::new(shared),
            flavor,
            spin: self.spin,
            _t: PhantomData,
        })
    }
}

/// A created or opened channel. By itself neither a sender nor a receiver: make those
/// with [`Channel::sender`] and [`Channel::receiver`].
///
/// The creator's handle owns the kernel objects: they are removed when it and every
/// sender and receiver made from it are dropped (or at [`Channel::remove`]).
pub struct Channel<T> {
    shared: Arc<ShmShared>,
    flavor: Flavor,
    spin: Spin,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("key", &self.shared.key)
            .field("flavor", &self.flavor)
            .field("capacity", &self.shared.ring.geometry().capacity)
            .field("shm_id", &self.shared.shm_id())
            .field("sem_id", &self.shared.sems.id())
            .field("owner", &self.shared.is_owner())
            .finish()
    }
}

impl<T: Pod> Channel<T> {
    /// Connects a sender in this process.
    ///
    /// # Errors
    /// `RoleTaken` when an SPSC channel already has a live sender; `Os` when the
    /// channel was removed.
    pub fn sender(&self) -> Result<Sender<T>, Error> {
        let exclusive = self.flavor == Flavor::Spsc;
        self.shared.connect(Side::Send, exclusive)?;
        let ring = match self.flavor {
            // SAFETY: we hold the sender role (exclusive) and the geometry was computed
            // (create) or validated (open) for T.
            Flavor::Spsc => SendRing::Spsc(unsafe { spsc::Producer::new(self.shared.ring) }),
            // SAFETY: the geometry matches T; the creator initialised the stamps.
            Flavor::Mpmc => {
                SendRing::Mpmc(unsafe { Mpmc::new(self.shared.ring, sys::current_pid() as u32) })
            }
        };
        Ok(Sender {
            ring,
            shared: self.shared.clone(),
            spin: self.spin,
            exclusive,
            checked: Cell::new(None),
        })
    }

    /// Connects a receiver in this process.
    ///
    /// # Errors
    /// `RoleTaken` when an SPSC channel already has a live receiver; `Os` when the
    /// channel was removed.
    pub fn receiver(&self) -> Result<Receiver<T>, Error> {
        let exclusive = self.flavor == Flavor::Spsc;
        self.shared.connect(Side::Recv, exclusive)?;
        let ring = match self.flavor {
            // SAFETY: we hold the receiver role and the geometry matches T.
            Flavor::Spsc => RecvRing::Spsc(unsafe { spsc::Consumer::new(self.shared.ring) }),
            // SAFETY: the geometry matches T; the creator initialised the stamps.
            Flavor::Mpmc => {
                RecvRing::Mpmc(unsafe { Mpmc::new(self.shared.ring, sys::current_pid() as u32) })
            }
        };
        Ok(Receiver {
            ring,
            shared: self.shared.clone(),
            spin: self.spin,
            exclusive,
            checked: Cell::new(None),
        })
    }
}

impl<T> Channel<T> {
    /// The transport in use (always a concrete one, never `Auto`).
    pub fn transport(&self) -> Transport {
        Transport::ShmRing
    }

    /// The flavor of the ring.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The key the channel lives at.
    pub fn key(&self) -> Key {
        self.shared.key
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.shared.ring.geometry().capacity as usize
    }

    /// Messages in the ring now.
    pub fn len(&self) -> usize {
        let c = self.shared.control();
        let head = c.head.load(std::sync::atomic::Ordering::Acquire);
        let tail = c.tail.load(std::sync::atomic::Ordering::Acquire);
        let n = tail.wrapping_sub(head);
        if n > self.capacity() as u64 {
            0
        } else {
            n as usize
        }
    }

    /// Whether the ring is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counters of the channel, shared by every process using it.
    pub fn stats(&self) -> Stats {
        stats(&self.shared)
    }

    /// The shared-memory segment's id.
    pub fn shm_id(&self) -> i32 {
        self.shared.shm_id()
    }

    /// The semaphore set's id.
    pub fn sem_id(&self) -> i32 {
        self.shared.sems.id()
    }

    /// Whether this handle will remove the kernel objects when dropped.
    pub fn is_owner(&self) -> bool {
        self.shared.is_owner()
    }

    /// Keeps the kernel objects after this process drops its handles (gives up
    /// ownership); remove them later with [`Channel::remove`] or `sysvring rm`.
    pub fn keep(&self) {
        self.shared.disown();
    }

    /// Removes the channel now (`IPC_RMID` on segment and semaphores). Peers finish
    /// with `Disconnected` once they drained what is left; the mapping stays valid
    /// in every process until its last handle is dropped.
    ///
    /// # Errors
    /// `PermissionDenied` unless the caller owns or created the objects.
    pub fn remove(&self) -> Result<(), Error> {
        self.shared.remove()
    }
}

fn stats(shared: &ShmShared) -> Stats {
    use std::sync::atomic::Ordering::Relaxed;
    let c = shared.control();
    let val = |n| shared.sems.get_val(n).map(|v| v as u32).unwrap_or(0);
    Stats {
        sent: c.tail.load(Relaxed),
        received: c.head.load(Relaxed),
        wakeups: c.wakeups.load(Relaxed),
        sleeps: c.sleeps.load(Relaxed),
        skipped: c.skipped.load(Relaxed),
        senders: val(crate::transport::shm::SENDERS),
        receivers: val(crate::transport::shm::RECEIVERS),
    }
}

enum SendRing<T> {
    Spsc(spsc::Producer<T>),
    Mpmc(Mpmc<T>),
}

enum RecvRing<T> {
    Spsc(spsc::Consumer<T>),
    Mpmc(Mpmc<T>),
}

/// How often a handle re-reads the kernel's live counts on a failing non-blocking
/// call (the mirror in shared memory covers clean disconnects at once; this covers a
/// killed peer).
const PRESENCE_CHECK: Duration = Duration::from_millis(10);

/// Rate-limited "are the peers of the other side gone?" for non-blocking calls.
fn gone(shared: &ShmShared, side: Side, checked: &Cell<Option<Instant>>) -> bool {
    if shared.peers_gone_fast(side) {
        return true;
    }
    let now = Instant::now();
    if checked
        .get()
        .is_some_and(|t| now.duration_since(t) < PRESENCE_CHECK)
    {
        return false;
    }
    checked.set(Some(now));
    !shared.peers_alive(side)
}

/// The sending side of a channel. `Send` but not `Sync`: one thread uses it at a
/// time (make one per thread with [`Channel::sender`] for MPMC).
///
/// Dropping the last sender (or killing its process) disconnects the channel for
/// receivers once they drained it.
pub struct Sender<T: Pod> {
    ring: SendRing<T>,
    shared: Arc<ShmShared>,
    spin: Spin,
    exclusive: bool,
    checked: Cell<Option<Instant>>,
}

impl<T: Pod> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("key", &self.shared.key)
            .field("spin", &self.spin)
            .finish()
    }
}

impl<T: Pod> Sender<T> {
    #[inline]
    fn push(&self, v: T) -> bool {
        match &self.ring {
            SendRing::Spsc(p) => p.push(v).is_ok(),
            SendRing::Mpmc(q) => q.push(v).is_ok(),
        }
    }

    /// Sends without blocking.
    ///
    /// # Errors
    /// `Full` when the ring is full, `Disconnected` when every receiver is gone
    /// (after one had connected). The message is handed back.
    #[inline]
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        if self.shared.peers_gone_fast(Side::Send) {
            return Err(TrySendError::Disconnected(msg));
        }
        if self.push(msg) {
            self.shared.wake(Side::Recv);
            return Ok(());
        }
        if gone(&self.shared, Side::Send, &self.checked) {
            Err(TrySendError::Disconnected(msg))
        } else {
            Err(TrySendError::Full(msg))
        }
    }

    /// Sends, blocking while the ring is full (spin, then sleep).
    ///
    /// # Errors
    /// `SendError` when every receiver is gone; holds the message.
    #[inline]
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        self.send_deadline_opt(msg, None)
            .map_err(|e| SendError(e.into_inner()))
    }

    /// Sends, blocking for at most `timeout` while the ring is full.
    ///
    /// # Errors
    /// `Timeout` or `Disconnected`, with the message.
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_deadline_opt(msg, Instant::now().checked_add(timeout))
    }

    /// Sends, blocking until `deadline` at the latest while the ring is full.
    ///
    /// # Errors
    /// `Timeout` or `Disconnected`, with the message.
    pub fn send_deadline(&self, msg: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.send_deadline_opt(msg, Some(deadline))
    }

    #[inline]
    fn send_deadline_opt(
        &self,
        msg: T,
        deadline: Option<Instant>,
    ) -> Result<(), SendTimeoutError<T>> {
        if self.shared.peers_gone_fast(Side::Send) {
            return Err(SendTimeoutError::Disconnected(msg));
        }
        match self.shared.wait(Side::Send, deadline, self.spin, || {
            self.push(msg).then_some(())
        }) {
            Ok(()) => {
                self.shared.wake(Side::Recv);
                Ok(())
            }
            Err(WaitError::Timeout) => Err(SendTimeoutError::Timeout(msg)),
            Err(WaitError::Disconnected) => Err(SendTimeoutError::Disconnected(msg)),
        }
    }

    /// Zero-copy send: blocks until a slot is free, lets `f` write the message in
    /// place in the ring, then publishes it. `f` is called exactly once on success
    /// and not at all on error. If `f` panics, nothing is published (SPSC) or the
    /// slot is published with what `f` wrote so far (MPMC, which must never wedge).
    ///
    /// # Errors
    /// `SendError(())` when every receiver is gone.
    pub fn send_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, SendError<()>> {
        if self.shared.peers_gone_fast(Side::Send) {
            return Err(SendError(()));
        }
        let mut f = Some(f);
        let r = self.shared.wait(Side::Send, None, self.spin, || {
            let attempt = |slot: &mut T| (f.take().expect("called once"))(slot);
            match &self.ring {
                SendRing::Spsc(p) => p.push_with(attempt),
                SendRing::Mpmc(q) => q.push_with(attempt),
            }
        });
        match r {
            Ok(r) => {
                self.shared.wake(Side::Recv);
                Ok(r)
            }
            Err(_) => Err(SendError(())),
        }
    }

    /// Sends as many of `msgs` as fit now, publishing the index once. Never blocks.
    /// Returns how many were sent (0 when full).
    ///
    /// # Errors
    /// `SendError(())` when every receiver is gone.
    pub fn send_batch(&self, msgs: &[T]) -> Result<usize, SendError<()>> {
        if self.shared.peers_gone_fast(Side::Send) {
            return Err(SendError(()));
        }
        let n = match &self.ring {
            SendRing::Spsc(p) => p.push_slice(msgs),
            SendRing::Mpmc(q) => q.push_slice(msgs),
        };
        if n > 0 {
            self.shared.wake(Side::Recv);
        } else if !msgs.is_empty() && gone(&self.shared, Side::Send, &self.checked) {
            return Err(SendError(()));
        }
        Ok(n)
    }

    /// Messages in the ring now.
    pub fn len(&self) -> usize {
        (match &self.ring {
            SendRing::Spsc(p) => p.len(),
            SendRing::Mpmc(q) => q.len(),
        }) as usize
    }

    /// Whether the ring is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the ring is full now.
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.shared.ring.geometry().capacity as usize
    }
}

impl<T: Pod> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.disconnect(Side::Send, self.exclusive);
    }
}

/// The receiving side of a channel. `Send` but not `Sync`.
///
/// Receives return `Disconnected` only once the ring is empty and every sender is
/// gone (dropped or killed) after one had connected.
pub struct Receiver<T: Pod> {
    ring: RecvRing<T>,
    shared: Arc<ShmShared>,
    spin: Spin,
    exclusive: bool,
    checked: Cell<Option<Instant>>,
}

impl<T: Pod> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("key", &self.shared.key)
            .field("spin", &self.spin)
            .finish()
    }
}

impl<T: Pod> Receiver<T> {
    #[inline]
    fn pop(&self) -> Option<T> {
        match &self.ring {
            RecvRing::Spsc(c) => c.pop(),
            RecvRing::Mpmc(q) => q.pop(),
        }
    }

    /// Receives without blocking.
    ///
    /// # Errors
    /// `Empty`, or `Disconnected` when empty and every sender is gone.
    #[inline]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        if let Some(v) = self.pop() {
            self.shared.wake(Side::Send);
            return Ok(v);
        }
        if gone(&self.shared, Side::Recv, &self.checked) {
            // A sender may have published and left between our pop and the check.
            return match self.pop() {
                Some(v) => {
                    self.shared.wake(Side::Send);
                    Ok(v)
                }
                None => Err(TryRecvError::Disconnected),
            };
        }
        Err(TryRecvError::Empty)
    }

    /// Receives, blocking while the ring is empty (spin, then sleep).
    ///
    /// # Errors
    /// `RecvError` when the ring is empty and every sender is gone.
    #[inline]
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_deadline_opt(None).map_err(|_| RecvError)
    }

    /// Receives, blocking for at most `timeout`.
    ///
    /// # Errors
    /// `Timeout`, or `Disconnected` when empty and every sender is gone.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_deadline_opt(Instant::now().checked_add(timeout))
    }

    /// Receives, blocking until `deadline` at the latest.
    ///
    /// # Errors
    /// `Timeout`, or `Disconnected` when empty and every sender is gone.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_deadline_opt(Some(deadline))
    }

    #[inline]
    fn recv_deadline_opt(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        match self
            .shared
            .wait(Side::Recv, deadline, self.spin, || self.pop())
        {
            Ok(v) => {
                self.shared.wake(Side::Send);
                Ok(v)
            }
            Err(WaitError::Timeout) => Err(RecvTimeoutError::Timeout),
            Err(WaitError::Disconnected) => Err(RecvTimeoutError::Disconnected),
        }
    }

    /// Zero-copy receive: blocks until a message is there, lets `f` read it in place
    /// in the ring, then frees the slot. If `f` panics the message stays in the ring
    /// (SPSC) or is freed (MPMC, which must never wedge).
    ///
    /// # Errors
    /// `RecvError` when the ring is empty and every sender is gone.
    pub fn recv_with<R>(&self, f: impl FnOnce(&T) -> R) -> Result<R, RecvError> {
        let mut f = Some(f);
        let r = self.shared.wait(Side::Recv, None, self.spin, || {
            let attempt = |m: &T| (f.take().expect("called once"))(m);
            match &self.ring {
                RecvRing::Spsc(c) => c.pop_with(attempt),
                RecvRing::Mpmc(q) => q.pop_with(attempt),
            }
        });
        match r {
            Ok(r) => {
                self.shared.wake(Side::Send);
                Ok(r)
            }
            Err(_) => Err(RecvError),
        }
    }

    /// Receives up to `buf.len()` messages that are there now, publishing the index
    /// once. Never blocks. Returns how many (0 when empty).
    ///
    /// # Errors
    /// `RecvError` when the ring is empty and every sender is gone.
    pub fn recv_batch(&self, buf: &mut [T]) -> Result<usize, RecvError> {
        let pop = |buf: &mut [T]| match &self.ring {
            RecvRing::Spsc(c) => c.pop_slice(buf),
            RecvRing::Mpmc(q) => q.pop_slice(buf),
        };
        let n = pop(buf);
        if n > 0 {
            self.shared.wake(Side::Send);
            return Ok(n);
        }
        if !buf.is_empty() && gone(&self.shared, Side::Recv, &self.checked) {
            let n = pop(buf);
            if n == 0 {
                return Err(RecvError);
            }
            self.shared.wake(Side::Send);
            return Ok(n);
        }
        Ok(0)
    }

    /// A blocking iterator: yields messages until the channel is disconnected.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// A non-blocking iterator: yields the messages there now.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// Messages in the ring now.
    pub fn len(&self) -> usize {
        (match &self.ring {
            RecvRing::Spsc(c) => c.len(),
            RecvRing::Mpmc(q) => q.len(),
        }) as usize
    }

    /// Whether the ring is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the ring is full now.
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.shared.ring.geometry().capacity as usize
    }
}

impl<T: Pod> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.disconnect(Side::Recv, self.exclusive);
    }
}

/// Blocking iterator over received messages; ends at disconnection.
#[derive(Debug)]
pub struct Iter<'a, T: Pod> {
    rx: &'a Receiver<T>,
}

impl<T: Pod> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// Non-blocking iterator over the messages there now.
#[derive(Debug)]
pub struct TryIter<'a, T: Pod> {
    rx: &'a Receiver<T>,
}

impl<T: Pod> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<'a, T: Pod> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
