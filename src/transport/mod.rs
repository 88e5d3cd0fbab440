//! Transports: where a channel's messages live and how its sides sleep.
//!
//! - `shm`: a ring in a System V shared-memory segment; no syscall per message.
//! - `msgq`: a System V message queue; one `msgsnd`/`msgrcv` per message.
//!
//! This layer sits below the public facade (the `channel` module) and never imports it.
//! What the facade sees of it:
//! - setup: `Shared::create` and `Shared::open` (an `Expect` says what an opener
//!   requires), then the channel-wide queries on `Shared`;
//! - one endpoint per side, `SendEnd` and `RecvEnd`: an enum with one variant per
//!   ring algorithm and one for the queue, each carrying what its fast path reads, so
//!   an operation is one `match` (never `dyn`); presence, the fork check and waiting
//!   are the endpoint's business, and blocking calls end in a `WaitError`;
//! - `inspect`: read-only inspection, shared by `Channel::stats` and `admin`.
//!
//! Contract every transport meets (checked by the conformance tests in `tests/`):
//! - FIFO per producer; every message is delivered once (see each transport's crash
//!   notes for the one documented exception);
//! - `try_*` never block; blocking calls stop burning CPU once their spin budget is
//!   spent, and notice a killed peer within one slice (100 ms);
//! - `Disconnected` only after a peer of the other side has connected and every such
//!   peer is gone (dropped or killed), and, for receivers, the channel is drained;
//! - a wrong element type is refused at `open` (`TypeMismatch`/`LayoutMismatch`).

mod endpoint;
mod exclusive;
pub(crate) mod inspect;
mod link;
pub(crate) mod msgq;
pub(crate) mod shm;
mod untyped;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use endpoint::{RecvEnd, SendEnd};

use crate::error::Error;
use crate::options::{Stats, Transport};
use crate::ring::layout::{Geometry, RingKind};
use crate::sync::Ordering;
use crate::sys::{self, Key, SemOp, SemSet};

use msgq::MsgqShared;
use shm::ShmShared;

/// Which side of the channel a handle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A sender.
    Send,
    /// A receiver.
    Recv,
}

impl Side {
    /// The other side: whom this side's progress may wake.
    #[inline]
    pub fn other(self) -> Side {
        match self {
            Side::Send => Side::Recv,
            Side::Recv => Side::Send,
        }
    }
}

/// What a blocking wait ended with, other than success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitError {
    /// The deadline passed.
    Timeout,
    /// Every peer of the other side is gone (or the channel was removed).
    Disconnected,
}

/// What a non-blocking attempt ended with, other than success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryError {
    /// Nothing to do now: the channel is full (send) or empty (receive).
    NotNow,
    /// Every peer of the other side is gone (or the channel was removed).
    Disconnected,
}

/// When a blocking wait gives up. A relative timeout is turned into an instant only
/// when the wait first reads the clock, after its first polls: a wait that succeeds
/// while spinning never reads the clock at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// Never: wait until success or disconnection.
    Never,
    /// At this instant.
    At(Instant),
    /// This long after the wait first reads the clock.
    After(Duration),
}

impl Deadline {
    /// The instant, fixing a relative deadline against `now` on first use (a timeout
    /// too large to represent never expires).
    #[inline]
    pub fn resolve(&mut self, now: Instant) -> Option<Instant> {
        match *self {
            Deadline::Never => None,
            Deadline::At(t) => Some(t),
            Deadline::After(d) => {
                *self = now.checked_add(d).map_or(Deadline::Never, Deadline::At);
                self.resolve(now)
            }
        }
    }
}

/// Registers one sender or receiver in a channel's set: the live `count` (and, when
/// `exclusive`, the SPSC `role`) taken with `SEM_UNDO` in one atomic semop, so the
/// kernel gives both back if the process dies. Both transports use it.
pub(crate) fn register(sems: &SemSet, count: u16, role: u16, exclusive: bool) -> Result<(), Error> {
    let add = SemOp::new(count, 1).undo();
    let take = SemOp::new(role, -1).nowait().undo();
    let r = if exclusive {
        sems.op(&[take, add])
    } else {
        sems.op(&[add])
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.is_would_block() => Err(Error::RoleTaken),
        Err(e) if e.is_removed() => Err(Error::Removed),
        Err(e) => Err(e.into()),
    }
}

/// Undoes [`register`] (errors ignored: a removed set has nothing left to undo).
pub(crate) fn unregister(sems: &SemSet, count: u16, role: u16, exclusive: bool) {
    let sub = SemOp::new(count, -1).nowait().undo();
    let give = SemOp::new(role, 1).undo();
    let _ = if exclusive {
        sems.op(&[sub, give])
    } else {
        sems.op(&[sub])
    };
}

/// The longest single sleep: blocked waits re-check peer presence this often, so a
/// killed peer is noticed within this time.
pub(crate) const SLICE: Duration = Duration::from_millis(100);

/// Ownership of a channel's kernel objects, the same for both transports: the
/// creator's handle owns them (removes them on drop) until it gives them up; a copy
/// of that handle inherited across `fork` is never the owner in the child.
#[derive(Debug)]
pub(crate) struct Ownership {
    owner: AtomicBool,
    fork_gen: u64,
}

impl Ownership {
    pub(crate) fn new(owner: bool) -> Ownership {
        Ownership {
            owner: AtomicBool::new(owner),
            fork_gen: sys::fork_generation(),
        }
    }

    pub(crate) fn is_owner(&self) -> bool {
        self.owner.load(Ordering::Relaxed)
    }

    pub(crate) fn disown(&self) {
        self.owner.store(false, Ordering::Relaxed);
    }

    /// Whether `Drop` removes the objects: the owner, in the process that made it.
    pub(crate) fn removes_on_drop(&self) -> bool {
        self.is_owner() && sys::fork_generation() == self.fork_gen
    }
}

/// The outcome of removing a channel's objects (`IPC_RMID` on each): the first error
/// other than "already removed", as the `sys` call reported it.
pub(crate) fn removed(results: [sys::Result<()>; 2]) -> Result<(), Error> {
    for r in results {
        match r {
            Err(e) if !e.is_removed() => return Err(e.into()),
            _ => {}
        }
    }
    Ok(())
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

/// One channel's process-local state, whichever transport carries it: what a
/// `Channel` handle holds, and what its endpoints are made from. Dispatched by
/// `match` (never `dyn`).
#[derive(Debug, Clone)]
pub(crate) enum Shared {
    /// A ring in shared memory.
    Shm(Arc<ShmShared>),
    /// A message queue.
    Msgq(Arc<MsgqShared>),
}

impl Shared {
    /// Creates a channel of `geo` (its kind and capacity; element size from it too)
    /// with `transport`: `Auto` makes a ring, or a message queue when the host has no
    /// shared memory to give.
    ///
    /// # Errors
    /// `AlreadyExists`, `PermissionDenied`, `MessageTooLarge`, `Os`.
    pub(crate) fn create(
        key: Key,
        geo: Geometry,
        transport: Transport,
        mode: u32,
        ty: &TypeTag,
    ) -> Result<Shared, Error> {
        let shm = || ShmShared::create(key, geo, mode, ty).map(Arc::new);
        let msgq = || {
            MsgqShared::create(
                key,
                geo.kind,
                geo.limit,
                geo.elem_size,
                ty.fingerprint,
                mode,
            )
            .map(|m| Shared::Msgq(Arc::new(m)))
        };
        match transport {
            Transport::ShmRing => shm().map(Shared::Shm),
            Transport::MessageQueue => msgq(),
            Transport::Auto => match shm() {
                Ok(s) => Ok(Shared::Shm(s)),
                Err(e) if shm_unavailable(&e) => msgq(),
                Err(e) => Err(e),
            },
        }
    }

    /// Opens the channel at `key`, whichever transport its creator made: a segment at
    /// the key is a ring, a semaphore set at the key a message-queue channel.
    ///
    /// # Errors
    /// `NotFound`, `PermissionDenied`, `Untrusted`, `NotSysvring`, `VersionMismatch`,
    /// `TypeMismatch`, `LayoutMismatch`, `NotReady`, `Os`.
    pub(crate) fn open(key: Key, expect: &Expect, timeout: Duration) -> Result<Shared, Error> {
        match ShmShared::open(key, expect, timeout) {
            Ok(s) => Ok(Shared::Shm(Arc::new(s))),
            Err(Error::NotFound) => Ok(Shared::Msgq(Arc::new(MsgqShared::open(
                key, expect, timeout,
            )?))),
            Err(e) => Err(e),
        }
    }

    /// Which transport this is (never `Auto`).
    pub(crate) fn transport(&self) -> Transport {
        match self {
            Shared::Shm(_) => Transport::ShmRing,
            Shared::Msgq(_) => Transport::MessageQueue,
        }
    }

    /// The ring algorithm (the message queue records the flavor it was made for).
    pub(crate) fn kind(&self) -> RingKind {
        match self {
            Shared::Shm(s) => s.ring.geometry().kind,
            Shared::Msgq(m) => m.kind,
        }
    }

    /// The key the channel lives at.
    pub(crate) fn key(&self) -> Key {
        match self {
            Shared::Shm(s) => s.key,
            Shared::Msgq(m) => m.key,
        }
    }

    /// Messages the channel holds at most.
    pub(crate) fn capacity(&self) -> u64 {
        match self {
            Shared::Shm(s) => s.ring.geometry().limit,
            Shared::Msgq(m) => m.capacity(),
        }
    }

    /// Messages in the channel now.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Shared::Shm(s) => s.len(),
            Shared::Msgq(m) => m.len(),
        }
    }

    /// The channel's counters (see [`inspect`]).
    pub(crate) fn stats(&self) -> Stats {
        match self {
            Shared::Shm(s) => inspect::ring_stats(s.control(), Some(&s.sems)),
            Shared::Msgq(m) => inspect::msgq_stats(m),
        }
    }

    /// The segment's id (ring only).
    pub(crate) fn shm_id(&self) -> Option<i32> {
        match self {
            Shared::Shm(s) => Some(s.shm_id()),
            Shared::Msgq(_) => None,
        }
    }

    /// The semaphore set's id.
    pub(crate) fn sem_id(&self) -> i32 {
        match self {
            Shared::Shm(s) => s.sems.id(),
            Shared::Msgq(m) => m.sems.id(),
        }
    }

    /// The queue's id (message queue only).
    pub(crate) fn msg_id(&self) -> Option<i32> {
        match self {
            Shared::Shm(_) => None,
            Shared::Msgq(m) => Some(m.queue.id()),
        }
    }

    /// Whether this process removes the objects on drop.
    pub(crate) fn is_owner(&self) -> bool {
        match self {
            Shared::Shm(s) => s.is_owner(),
            Shared::Msgq(m) => m.is_owner(),
        }
    }

    /// Gives up ownership: the objects stay after drop.
    pub(crate) fn disown(&self) {
        match self {
            Shared::Shm(s) => s.disown(),
            Shared::Msgq(m) => m.disown(),
        }
    }

    /// Removes the kernel objects now (`IPC_RMID`).
    ///
    /// # Errors
    /// `PermissionDenied` or `Os`.
    pub(crate) fn remove(&self) -> Result<(), Error> {
        match self {
            Shared::Shm(s) => s.remove(),
            Shared::Msgq(m) => m.remove(),
        }
    }
}

/// Opens a channel when it exists, creates it otherwise: the start-up race of two
/// programs resolved by `IPC_EXCL` (exactly one `create` succeeds; the other finds
/// the key taken and opens what it made). A private key names nothing to open.
/// Returns the channel and whether this call created it.
///
/// # Errors
/// `open`'s and `create`'s; `NotFound` only if the channel keeps appearing and
/// vanishing under us (another process creating and removing it in a loop).
pub(crate) fn open_or_create<C>(
    private: bool,
    mut open: impl FnMut() -> Result<C, Error>,
    mut create: impl FnMut() -> Result<C, Error>,
) -> Result<(C, bool), Error> {
    const TRIES: u32 = 64;
    if private {
        return create().map(|c| (c, true));
    }
    for attempt in 0..TRIES {
        match open() {
            Err(Error::NotFound) => {}
            r => return r.map(|c| (c, false)),
        }
        match create() {
            Err(Error::AlreadyExists) => {}
            r => return r.map(|c| (c, true)),
        }
        // Created by someone else between our open and our create, or removed
        // between our create and open: look again, backing off a little.
        std::thread::sleep(Duration::from_micros(50 << attempt.min(6)));
    }
    Err(Error::NotFound)
}

/// A channel's element type as its creator records it: the fingerprint that decides
/// identity, and the name that error messages and `sysvring stat` show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeTag {
    /// The type's fingerprint (or an explicit override).
    pub fingerprint: u64,
    /// The type's name (without module path).
    pub name: String,
}

/// What an opener expects of the channel (either transport).
#[derive(Debug, Clone)]
pub(crate) struct Expect {
    pub kind: Option<RingKind>,
    /// The exact capacity (most messages in flight), when the opener set one.
    pub capacity: Option<u64>,
    pub elem_size: usize,
    pub elem_align: usize,
    pub fingerprint: u64,
    /// The opener's type name (for `TypeMismatch`).
    pub type_name: String,
    /// Creator uids trusted besides our own effective uid and root.
    pub trusted: Vec<u32>,
}

impl Expect {
    /// Refuses an object created by a uid we do not trust: another user could have
    /// squatted our key with a perfectly valid header.
    pub(crate) fn check_creator(&self, cuid: u32) -> Result<(), Error> {
        if cuid == 0 || cuid == sys::current_euid() || self.trusted.contains(&cuid) {
            Ok(())
        } else {
            Err(Error::Untrusted { creator_uid: cuid })
        }
    }
}

pub(crate) fn mismatch(field: &'static str, expected: u64, found: u64) -> Error {
    Error::LayoutMismatch {
        field,
        expected,
        found,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_deadline_is_fixed_at_its_first_use() {
        let t0 = Instant::now();
        let mut d = Deadline::After(Duration::from_millis(5));
        assert_eq!(d.resolve(t0), Some(t0 + Duration::from_millis(5)));
        // Later reads of the clock do not move it.
        let later = t0 + Duration::from_millis(3);
        assert_eq!(d.resolve(later), Some(t0 + Duration::from_millis(5)));
        assert_eq!(d, Deadline::At(t0 + Duration::from_millis(5)));
        assert_eq!(Deadline::Never.resolve(t0), None);
        assert_eq!(Deadline::At(t0).resolve(later), Some(t0));
        // A timeout too large for an Instant never expires.
        let mut huge = Deadline::After(Duration::MAX);
        assert_eq!(huge.resolve(t0), None);
        assert_eq!(huge, Deadline::Never);
    }
}
