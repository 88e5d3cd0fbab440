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
use crate::transport::msgq::MsgqShared;
use crate::transport::shm::{Expect, Hot, ShmShared};
pub use crate::transport::Spin;
use crate::transport::{AnyChannel, Channel as _, Deadline, Side, WaitError};

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
    trusted: Vec<u32>,
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
            trusted: Vec::new(),
            _t: PhantomData,
        }
    }

    /// Slots in the ring, rounded up to a power of two (at least 2 for MPMC). On
    /// `open`, when set, the segment's capacity must match it (else
    /// `LayoutMismatch`).
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

    /// Trusts channels created by `uid` on `open`. By default `open` accepts only
    /// objects created by this process's effective uid or by root: an object another
    /// user created at our key (squatting it, even with a valid header) is refused
    /// with `PermissionDenied`.
    pub fn trust_owner(mut self, uid: u32) -> Self {
        self.trusted.push(uid);
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
        // A one-slot Vyukov ring cannot tell "published in lap n" (stamp pos + 1) from
        // "free in lap n + 1" (pos + capacity): MPMC rings have at least two slots.
        let cap = if kind == RingKind::Mpmc {
            cap.max(2)
        } else {
            cap
        };
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
        let fp = self.fp();
        let msgq = || {
            MsgqShared::create(self.key, kind, cap as u64, size_of::<T>(), fp, self.mode)
                .map(AnyChannel::Msgq)
        };
        let shared = match self.transport {
            Transport::ShmRing => AnyChannel::Shm(ShmShared::create(self.key, geo, self.mode, fp)?),
            Transport::MessageQueue => msgq()?,
            Transport::Auto => match ShmShared::create(self.key, geo, self.mode, fp) {
                Ok(s) => AnyChannel::Shm(s),
                Err(e) if shm_unavailable(&e) => msgq()?,
                Err(e) => return Err(e),
            },
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
            trusted: self.trusted.clone(),
        };
        // Whichever transport the creator made: a segment at the key is a ring, a
        // semaphore set at the key is a message-queue channel.
        let shared = match ShmShared::open(self.key, &expect, self.open_timeout) {
            Ok(s) => AnyChannel::Shm(s),
            Err(Error::NotFound) => {
                AnyChannel::Msgq(MsgqShared::open(self.key, &expect, self.open_timeout)?)
            }
            Err(e) => return Err(e),
        };
        let kind = match &shared {
            AnyChannel::Shm(s) => s.ring.geometry().kind,
            AnyChannel::Msgq(m) => m.kind,
        };
        let flavor = match kind {
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

/// Whether a failed segment creation means "shared memory is not available here"
/// (host limits or policy), so `Auto` falls back to the message queue.
fn shm_unavailable(e: &Error) -> bool {
    match e {
        Error::PermissionDenied => true,
        Error::Os(_, io) => matches!(
            io.raw_os_error(),
            Some(28 /* ENOSPC */) | Some(12 /* ENOMEM */) | Some(22 /* EINVAL */)
        ),
        _ => false,
    }
}

/// A created or opened channel. By itself neither a sender nor a receiver: make those
/// with [`Channel::sender`] and [`Channel::receiver`].
///
/// The creator's handle owns the kernel objects: they are removed when it and every
/// sender and receiver made from it are dropped (or at [`Channel::remove`]).
pub struct Channel<T> {
    shared: Arc<AnyChannel>,
    flavor: Flavor,
    spin: Spin,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("key", &self.shared.key())
            .field("transport", &self.shared.transport())
            .field("flavor", &self.flavor)
            .field("capacity", &self.shared.capacity())
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
        let h = Handle::new(&self.shared, Side::Send, self.spin, exclusive);
        let ring = match (&*self.shared, self.flavor) {
            (AnyChannel::Shm(s), Flavor::Spsc) => {
                // SAFETY: we hold the sender role (exclusive) and the geometry was computed
                // (create) or validated (open) for T.
                SendRing::Spsc(unsafe { spsc::Producer::new(s.ring) })
            }
            (AnyChannel::Shm(s), Flavor::Mpmc) => {
                // SAFETY: the geometry matches T; the creator initialised the stamps.
                SendRing::Mpmc(unsafe { Mpmc::new(s.ring, s.claim_tag()?) })
            }
            (AnyChannel::Msgq(_), _) => SendRing::Msgq,
        };
        Ok(Sender { ring, h })
    }

    /// Connects a receiver in this process.
    ///
    /// # Errors
    /// `RoleTaken` when an SPSC channel already has a live receiver; `Os` when the
    /// channel was removed.
    pub fn receiver(&self) -> Result<Receiver<T>, Error> {
        let exclusive = self.flavor == Flavor::Spsc;
        self.shared.connect(Side::Recv, exclusive)?;
        let h = Handle::new(&self.shared, Side::Recv, self.spin, exclusive);
        let ring = match (&*self.shared, self.flavor) {
            (AnyChannel::Shm(s), Flavor::Spsc) => {
                // SAFETY: we hold the receiver role and the geometry matches T.
                RecvRing::Spsc(unsafe { spsc::Consumer::new(s.ring) })
            }
            (AnyChannel::Shm(s), Flavor::Mpmc) => {
                // SAFETY: the geometry matches T; the creator initialised the stamps.
                RecvRing::Mpmc(unsafe { Mpmc::new(s.ring, s.claim_tag()?) })
            }
            (AnyChannel::Msgq(_), _) => RecvRing::Msgq,
        };
        Ok(Receiver { ring, h })
    }
}

impl<T> Channel<T> {
    /// The transport in use (always a concrete one, never `Auto`).
    pub fn transport(&self) -> Transport {
        self.shared.transport()
    }

    /// The flavor of the channel.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The key the channel lives at.
    pub fn key(&self) -> Key {
        self.shared.key()
    }

    /// Messages the channel holds at most (for the message queue: what its byte
    /// budget admits, which may be less than was asked for).
    pub fn capacity(&self) -> usize {
        self.shared.capacity() as usize
    }

    /// Messages in the channel now.
    pub fn len(&self) -> usize {
        self.shared.len() as usize
    }

    /// Whether the channel is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counters of the channel, shared by every process using it.
    pub fn stats(&self) -> Stats {
        stats(&self.shared)
    }

    /// The shared-memory segment's id (`None` on the message-queue transport).
    pub fn shm_id(&self) -> Option<i32> {
        match &*self.shared {
            AnyChannel::Shm(s) => Some(s.shm_id()),
            AnyChannel::Msgq(_) => None,
        }
    }

    /// The semaphore set's id.
    pub fn sem_id(&self) -> i32 {
        match &*self.shared {
            AnyChannel::Shm(s) => s.sems.id(),
            AnyChannel::Msgq(m) => m.sems.id(),
        }
    }

    /// The message queue's id (`None` on the shared-memory transport).
    pub fn msg_id(&self) -> Option<i32> {
        match &*self.shared {
            AnyChannel::Shm(_) => None,
            AnyChannel::Msgq(m) => Some(m.queue.id()),
        }
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

fn stats(shared: &AnyChannel) -> Stats {
    use crate::transport::{msgq, shm};
    use std::sync::atomic::Ordering::Relaxed;
    match shared {
        AnyChannel::Shm(s) => {
            let c = s.control();
            let val = |n| s.sems.get_val(n).map(|v| v as u32).unwrap_or(0);
            Stats {
                sent: c.tail.load(Relaxed),
                received: c.head.load(Relaxed),
                wakeups: c.wakeups.load(Relaxed),
                sleeps: c.sleeps.load(Relaxed),
                skipped: c.skipped.load(Relaxed),
                senders: val(shm::SENDERS),
                receivers: val(shm::RECEIVERS),
            }
        }
        AnyChannel::Msgq(m) => {
            let val = |n| m.sems.get_val(n).map(|v| v as u32).unwrap_or(0);
            Stats {
                skipped: m.dropped(),
                senders: val(msgq::S_SENDERS),
                receivers: val(msgq::S_RECEIVERS),
                ..Stats::default()
            }
        }
    }
}

enum SendRing<T> {
    Spsc(spsc::Producer<T>),
    Mpmc(Mpmc<T>),
    Msgq,
}

enum RecvRing<T> {
    Spsc(spsc::Consumer<T>),
    Mpmc(Mpmc<T>),
    Msgq,
}

/// How many times a non-blocking call waits for an in-flight claim (each wait
/// bounded by the transport) before it reports empty/full.
const SETTLE_RETRIES: usize = 4;

/// How often a handle re-reads the kernel's live counts on a failing non-blocking
/// call (the mirror in shared memory covers clean disconnects at once; this covers a
/// killed peer).
const PRESENCE_CHECK: Duration = Duration::from_millis(10);

/// The state every sender and receiver has, whatever the transport.
struct Handle {
    shared: Arc<AnyChannel>,
    side: Side,
    spin: Spin,
    exclusive: bool,
    checked: Cell<Option<Instant>>,
    /// The fork generation of the process that registered this handle.
    fork_gen: u64,
    /// Ring channels: the control words of the fast path, inside the segment that
    /// `shared` keeps mapped.
    hot: Option<Hot>,
}

impl Handle {
    fn new(shared: &Arc<AnyChannel>, side: Side, spin: Spin, exclusive: bool) -> Handle {
        Handle {
            shared: shared.clone(),
            side,
            spin,
            exclusive,
            checked: Cell::new(None),
            fork_gen: sys::fork_generation(),
            hot: match &**shared {
                AnyChannel::Shm(s) => Some(s.hot(side)),
                AnyChannel::Msgq(_) => None,
            },
        }
    }

    /// The side to wake after this side made progress.
    fn other(&self) -> Side {
        match self.side {
            Side::Send => Side::Recv,
            Side::Recv => Side::Send,
        }
    }

    /// Whether this handle was inherited across `fork`: its registration (SEM_UNDO)
    /// belongs to the parent, so every operation in the child reports
    /// `Disconnected`; make a new handle in the child with `Channel::sender` or
    /// `Channel::receiver`.
    #[inline]
    fn forked(&self) -> bool {
        sys::fork_generation() != self.fork_gen
    }

    /// Certainly gone, from shared memory alone (no syscall); the message queue has
    /// no mirror (no `hot`), so it always asks the kernel.
    #[inline]
    fn gone_fast(&self) -> bool {
        if self.forked() {
            return true;
        }
        match &self.hot {
            Some(hot) => hot.peers_gone(),
            None => !self.shared.peers_alive(self.side),
        }
    }

    /// Gone, asking the kernel at most every `PRESENCE_CHECK` (for failing
    /// non-blocking calls).
    fn gone(&self) -> bool {
        if self.forked() {
            return true;
        }
        match &self.hot {
            Some(hot) if hot.peers_gone() => return true,
            Some(_) => {}
            // No shared mirror of the counts (message queue): a failing try already
            // made a syscall, one more keeps a clean disconnect visible at once.
            None => return !self.shared.peers_alive(self.side),
        }
        let now = Instant::now();
        if self
            .checked
            .get()
            .is_some_and(|t| now.duration_since(t) < PRESENCE_CHECK)
        {
            return false;
        }
        self.checked.set(Some(now));
        !self.shared.peers_alive(self.side)
    }

    /// With the other side gone, skips MPMC slots that dead producers claimed and
    /// never published; true when something was skipped (try again).
    fn skip_abandoned(&self) -> bool {
        match &*self.shared {
            AnyChannel::Shm(s) => s.skip_abandoned(),
            AnyChannel::Msgq(_) => false,
        }
    }

    /// A non-blocking call found the ring full/empty: waits (bounded) for a live
    /// peer's in-flight claim on the slot this side needs, skipping a dead one; true
    /// when the slot changed and another attempt may succeed.
    fn settle(&self) -> bool {
        match &*self.shared {
            AnyChannel::Shm(s) => s.settle(self.side == Side::Recv),
            AnyChannel::Msgq(_) => false,
        }
    }

    /// Wakes the other side after progress (shared memory only; zero syscalls while
    /// nobody sleeps).
    #[inline]
    fn progressed(&self) {
        if let Some(hot) = &self.hot {
            if hot.sleepers() {
                self.wake_sleepers();
            }
        }
    }

    #[cold]
    fn wake_sleepers(&self) {
        if let AnyChannel::Shm(s) = &*self.shared {
            s.wake_all(self.other());
        }
    }

    /// Blocks until `attempt` yields `Some`, the deadline passes or the other side is
    /// gone. `attempt` returns `Err(())` when the channel is broken (removed).
    #[inline]
    fn wait<R>(
        &self,
        deadline: Deadline,
        mut attempt: impl FnMut() -> Result<Option<R>, ()>,
    ) -> Result<R, WaitError> {
        if self.forked() {
            return Err(WaitError::Disconnected);
        }
        let r = match &*self.shared {
            AnyChannel::Shm(s) => {
                s.wait(self.side, deadline, self.spin, || attempt().unwrap_or(None))
            }
            AnyChannel::Msgq(m) => m.wait(self.side, deadline, self.spin, attempt),
        };
        if r.is_ok() {
            self.progressed();
        }
        r
    }

    fn msgq(&self) -> &MsgqShared {
        match &*self.shared {
            AnyChannel::Msgq(m) => m,
            AnyChannel::Shm(_) => unreachable!("message-queue flavor on a ring channel"),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // An inherited handle never registered in this process: leave the parent's
        // registration alone.
        if !self.forked() {
            self.shared.disconnect(self.side, self.exclusive);
        }
    }
}

/// The sending side of a channel. `Send` but not `Sync`: one thread uses it at a
/// time (make one per thread with [`Channel::sender`] for MPMC).
///
/// Dropping the last sender (or killing its process) disconnects the channel for
/// receivers once they drained it.
pub struct Sender<T: Pod> {
    ring: SendRing<T>,
    h: Handle,
}

impl<T: Pod> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("key", &self.h.shared.key())
            .field("transport", &self.h.shared.transport())
            .field("spin", &self.h.spin)
            .finish()
    }
}

impl<T: Pod> Sender<T> {
    /// One non-blocking attempt: `Ok(true)` sent, `Ok(false)` full, `Err` broken.
    #[inline]
    fn push(&self, v: T) -> Result<bool, ()> {
        match &self.ring {
            SendRing::Spsc(p) => Ok(p.push(v).is_ok()),
            SendRing::Mpmc(q) => Ok(q.push(v).is_ok()),
            SendRing::Msgq => self.h.msgq().try_send_bytes(bytemuck::bytes_of(&v)),
        }
    }

    /// Sends without blocking.
    ///
    /// # Errors
    /// `Full` when the channel is full, `Disconnected` when every receiver is gone
    /// (after one had connected). The message is handed back.
    #[inline]
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        if self.h.gone_fast() {
            return Err(TrySendError::Disconnected(msg));
        }
        let mut r = self.push(msg);
        // Linearizable: a slot held by a live receiver mid-read is waited for
        // (bounded) before reporting `Full`.
        for _ in 0..SETTLE_RETRIES {
            if r != Ok(false) || !self.h.settle() {
                break;
            }
            r = self.push(msg);
        }
        match r {
            Ok(true) => {
                self.h.progressed();
                Ok(())
            }
            Ok(false) if !self.h.gone() => Err(TrySendError::Full(msg)),
            _ => Err(TrySendError::Disconnected(msg)),
        }
    }

    /// Sends, blocking while the channel is full (spin, then sleep).
    ///
    /// # Errors
    /// `SendError` when every receiver is gone; holds the message.
    #[inline(always)]
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        if self.send_fast(msg) {
            return Ok(());
        }
        self.send_deadline_opt(msg, Deadline::Never)
            .map_err(|e| SendError(e.into_inner()))
    }

    /// The ring's fast path, inlined into the blocking calls: one attempt, no clock
    /// read, no wait set-up.
    #[inline(always)]
    fn send_fast(&self, msg: T) -> bool {
        let sent = match &self.ring {
            SendRing::Spsc(p) => !self.h.gone_fast() && p.push(msg).is_ok(),
            SendRing::Mpmc(q) => !self.h.gone_fast() && q.push(msg).is_ok(),
            // One presence check (the queue has no shared mirror) and one msgsnd.
            SendRing::Msgq => !self.h.gone_fast() && self.push(msg) == Ok(true),
        };
        if sent {
            self.h.progressed();
        }
        sent
    }

    /// Sends, blocking for at most `timeout` while the channel is full.
    ///
    /// # Errors
    /// `Timeout` or `Disconnected`, with the message.
    #[inline(always)]
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        if self.send_fast(msg) {
            return Ok(());
        }
        self.send_deadline_opt(msg, Deadline::After(timeout))
    }

    /// Sends, blocking until `deadline` at the latest while the channel is full.
    ///
    /// # Errors
    /// `Timeout` or `Disconnected`, with the message.
    pub fn send_deadline(&self, msg: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.send_deadline_opt(msg, Deadline::At(deadline))
    }

    #[inline]
    fn send_deadline_opt(&self, msg: T, deadline: Deadline) -> Result<(), SendTimeoutError<T>> {
        if self.h.gone_fast() {
            return Err(SendTimeoutError::Disconnected(msg));
        }
        match self
            .h
            .wait(deadline, || self.push(msg).map(|sent| sent.then_some(())))
        {
            Ok(()) => Ok(()),
            Err(WaitError::Timeout) => Err(SendTimeoutError::Timeout(msg)),
            Err(WaitError::Disconnected) => Err(SendTimeoutError::Disconnected(msg)),
        }
    }

    /// Zero-copy send: blocks until a slot is free, lets `f` write the message in
    /// place in the ring, then publishes it. `f` is called exactly once on success
    /// and not at all on error. If `f` panics, nothing is published (SPSC) or the
    /// slot is published with what `f` wrote so far (MPMC, which must never wedge).
    /// On the message-queue transport `f` fills a local message that is then sent.
    ///
    /// # Errors
    /// `SendError(())` when every receiver is gone.
    pub fn send_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, SendError<()>> {
        if self.h.gone_fast() {
            return Err(SendError(()));
        }
        if let SendRing::Msgq = self.ring {
            let mut v = T::zeroed();
            let r = f(&mut v);
            return self.send(v).map(|()| r).map_err(|_| SendError(()));
        }
        let mut f = Some(f);
        let mut attempt = || {
            let fill = |slot: &mut T| (f.take().expect("called once"))(slot);
            match &self.ring {
                SendRing::Spsc(p) => p.push_with(fill),
                SendRing::Mpmc(q) => q.push_with(fill),
                SendRing::Msgq => None,
            }
        };
        // The fast path, inline: a free slot now needs no wait set-up.
        if let Some(r) = attempt() {
            self.h.progressed();
            return Ok(r);
        }
        let r = self.h.wait(Deadline::Never, || Ok(attempt()));
        r.map_err(|_| SendError(()))
    }

    /// Sends as many of `msgs` as fit now, publishing the index once. Never blocks.
    /// Returns how many were sent (0 when full).
    ///
    /// # Errors
    /// `SendError(())` when every receiver is gone.
    pub fn send_batch(&self, msgs: &[T]) -> Result<usize, SendError<()>> {
        if self.h.gone_fast() {
            return Err(SendError(()));
        }
        let n = match &self.ring {
            SendRing::Spsc(p) => p.push_slice(msgs),
            SendRing::Mpmc(q) => {
                let mut n = q.push_slice(msgs);
                for _ in 0..SETTLE_RETRIES {
                    if n > 0 || msgs.is_empty() || !self.h.settle() {
                        break;
                    }
                    n = q.push_slice(msgs);
                }
                n
            }
            SendRing::Msgq => {
                let mut n = 0;
                for m in msgs {
                    match self.push(*m) {
                        Ok(true) => n += 1,
                        Ok(false) => break,
                        Err(()) => return Err(SendError(())),
                    }
                }
                n
            }
        };
        if n > 0 {
            self.h.progressed();
        } else if !msgs.is_empty() && self.h.gone() {
            return Err(SendError(()));
        }
        Ok(n)
    }

    /// Messages in the channel now.
    pub fn len(&self) -> usize {
        self.h.shared.len() as usize
    }

    /// Whether the channel is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the channel is full now.
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    /// Messages the channel holds at most.
    pub fn capacity(&self) -> usize {
        self.h.shared.capacity() as usize
    }
}

/// The receiving side of a channel. `Send` but not `Sync`.
///
/// Receives return `Disconnected` only once the channel is empty and every sender
/// is gone (dropped or killed) after one had connected.
pub struct Receiver<T: Pod> {
    ring: RecvRing<T>,
    h: Handle,
}

impl<T: Pod> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("key", &self.h.shared.key())
            .field("transport", &self.h.shared.transport())
            .field("spin", &self.h.spin)
            .finish()
    }
}

impl<T: Pod> Receiver<T> {
    /// One non-blocking attempt: `Ok(Some)` received, `Ok(None)` empty, `Err` broken.
    #[inline]
    fn pop(&self) -> Result<Option<T>, ()> {
        match &self.ring {
            RecvRing::Spsc(c) => Ok(c.pop()),
            RecvRing::Mpmc(q) => Ok(q.pop()),
            RecvRing::Msgq => {
                let mut v = T::zeroed();
                let got = self
                    .h
                    .msgq()
                    .try_recv_bytes(bytemuck::bytes_of_mut(&mut v))?;
                Ok(got.then_some(v))
            }
        }
    }

    /// Receives without blocking.
    ///
    /// # Errors
    /// `Empty`, or `Disconnected` when empty and every sender is gone.
    #[inline]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        if self.h.forked() {
            return Err(TryRecvError::Disconnected);
        }
        let mut r = self.pop();
        // Linearizable: a message a live producer is still publishing at the head is
        // waited for (bounded) before reporting `Empty`.
        for _ in 0..SETTLE_RETRIES {
            if !matches!(r, Ok(None)) || !self.h.settle() {
                break;
            }
            r = self.pop();
        }
        match r {
            Ok(Some(v)) => {
                self.h.progressed();
                return Ok(v);
            }
            Ok(None) if !self.h.gone() => return Err(TryRecvError::Empty),
            _ => {}
        }
        // A sender may have published and left between our pop and the check, or died
        // holding a slot in front of other messages.
        loop {
            match self.pop() {
                Ok(Some(v)) => {
                    self.h.progressed();
                    return Ok(v);
                }
                Ok(None) if self.h.skip_abandoned() => {}
                _ => return Err(TryRecvError::Disconnected),
            }
        }
    }

    /// Receives, blocking while the channel is empty (spin, then sleep).
    ///
    /// # Errors
    /// `RecvError` when the channel is empty and every sender is gone.
    #[inline(always)]
    pub fn recv(&self) -> Result<T, RecvError> {
        if let Some(v) = self.recv_fast() {
            return Ok(v);
        }
        self.recv_deadline_opt(Deadline::Never)
            .map_err(|_| RecvError)
    }

    /// The ring's fast path, inlined into the blocking calls: one attempt, no clock
    /// read, no wait set-up.
    #[inline(always)]
    fn recv_fast(&self) -> Option<T> {
        let v = match &self.ring {
            RecvRing::Spsc(c) if !self.h.forked() => c.pop(),
            RecvRing::Mpmc(q) if !self.h.forked() => q.pop(),
            RecvRing::Msgq if !self.h.forked() => self.pop().ok().flatten(),
            _ => None,
        };
        if v.is_some() {
            self.h.progressed();
        }
        v
    }

    /// Receives, blocking for at most `timeout`.
    ///
    /// # Errors
    /// `Timeout`, or `Disconnected` when empty and every sender is gone.
    #[inline(always)]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        if let Some(v) = self.recv_fast() {
            return Ok(v);
        }
        self.recv_deadline_opt(Deadline::After(timeout))
    }

    /// Receives, blocking until `deadline` at the latest.
    ///
    /// # Errors
    /// `Timeout`, or `Disconnected` when empty and every sender is gone.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_deadline_opt(Deadline::At(deadline))
    }

    #[inline]
    fn recv_deadline_opt(&self, deadline: Deadline) -> Result<T, RecvTimeoutError> {
        match self.h.wait(deadline, || self.pop()) {
            Ok(v) => Ok(v),
            Err(WaitError::Timeout) => Err(RecvTimeoutError::Timeout),
            Err(WaitError::Disconnected) => Err(RecvTimeoutError::Disconnected),
        }
    }

    /// Zero-copy receive: blocks until a message is there, lets `f` read it in place
    /// in the ring, then frees the slot. If `f` panics the message stays in the ring
    /// (SPSC) or is freed (MPMC, which must never wedge). On the message-queue
    /// transport `f` reads a local copy.
    ///
    /// # Errors
    /// `RecvError` when the channel is empty and every sender is gone.
    pub fn recv_with<R>(&self, f: impl FnOnce(&T) -> R) -> Result<R, RecvError> {
        if let RecvRing::Msgq = self.ring {
            return self.recv().map(|v| f(&v));
        }
        let mut f = Some(f);
        if !self.h.forked() {
            let read = |m: &T| (f.take().expect("called once"))(m);
            let fast = match &self.ring {
                RecvRing::Spsc(c) => c.pop_with(read),
                RecvRing::Mpmc(q) => q.pop_with(read),
                RecvRing::Msgq => None,
            };
            // The fast path, inline: a waiting message needs no wait set-up.
            if let Some(r) = fast {
                self.h.progressed();
                return Ok(r);
            }
        }
        let r = self.h.wait(Deadline::Never, || {
            let attempt = |m: &T| (f.take().expect("called once"))(m);
            Ok(match &self.ring {
                RecvRing::Spsc(c) => c.pop_with(attempt),
                RecvRing::Mpmc(q) => q.pop_with(attempt),
                RecvRing::Msgq => None,
            })
        });
        r.map_err(|_| RecvError)
    }

    fn pop_batch(&self, buf: &mut [T]) -> Result<usize, ()> {
        Ok(match &self.ring {
            RecvRing::Spsc(c) => c.pop_slice(buf),
            RecvRing::Mpmc(q) => q.pop_slice(buf),
            RecvRing::Msgq => {
                let mut n = 0;
                while n < buf.len() {
                    match self.pop()? {
                        Some(v) => buf[n] = v,
                        None => break,
                    }
                    n += 1;
                }
                n
            }
        })
    }

    /// Receives up to `buf.len()` messages that are there now, publishing the index
    /// once. Never blocks. Returns how many (0 when empty).
    ///
    /// # Errors
    /// `RecvError` when the channel is empty and every sender is gone.
    pub fn recv_batch(&self, buf: &mut [T]) -> Result<usize, RecvError> {
        if self.h.forked() {
            return Err(RecvError);
        }
        let mut n = self.pop_batch(buf).map_err(|()| RecvError)?;
        for _ in 0..SETTLE_RETRIES {
            if n > 0 || buf.is_empty() || !self.h.settle() {
                break;
            }
            n = self.pop_batch(buf).map_err(|()| RecvError)?;
        }
        if n > 0 {
            self.h.progressed();
            return Ok(n);
        }
        if !buf.is_empty() && self.h.gone() {
            loop {
                let n = self.pop_batch(buf).map_err(|()| RecvError)?;
                if n > 0 {
                    self.h.progressed();
                    return Ok(n);
                }
                if !self.h.skip_abandoned() {
                    return Err(RecvError);
                }
            }
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

    /// Messages in the channel now.
    pub fn len(&self) -> usize {
        self.h.shared.len() as usize
    }

    /// Whether the channel is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the channel is full now.
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    /// Messages the channel holds at most.
    pub fn capacity(&self) -> usize {
        self.h.shared.capacity() as usize
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
