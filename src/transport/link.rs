//! What every endpoint is built on: its registration and the process that made it
//! ([`Link`]: the fork check and the one presence predicate), and the per-transport
//! halves of an endpoint ([`RingEnd`], [`QueueEnd`]): presence, wake-ups after
//! progress, the entry into the transport's wait, and unregistering on drop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::options::Flavor;
use crate::options::Spin;
use crate::sys;

use super::msgq::MsgqObjects;
use super::shm::{ControlRefs, ShmObjects};
use super::terms::{Deadline, Side, TryError, WaitError};

/// How often a handle re-reads the kernel's live counts on a failing non-blocking
/// call (the mirror in shared memory covers clean disconnects at once; this covers a
/// killed peer).
const PRESENCE_CHECK: Duration = Duration::from_millis(10);

/// How many times a non-blocking ring call waits for an in-flight claim (each wait
/// bounded by the transport's `SETTLE`, 50 ms) before it reports empty/full.
const SETTLE_RETRIES: usize = 4;

/// How hard [`Link::gone`] looks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PresenceSource {
    /// Shared memory only (no syscall): the fast paths.
    Mirror,
    /// The mirror, then the kernel's count at most every [`PRESENCE_CHECK`]: failing
    /// non-blocking calls.
    Kernel,
}

/// What every endpoint has, whatever its transport: its registration (side, role)
/// and the process that made it.
#[derive(Debug)]
pub(super) struct Link {
    side: Side,
    pub(super) spin: Spin,
    exclusive: bool,
    /// The fork generation of the process that registered this endpoint.
    fork_gen: u64,
    /// When the kernel's count was last read by a failing non-blocking call:
    /// nanoseconds since [`epoch`] plus one (0: never). An atomic, so an endpoint is
    /// `Sync`; any value is only a hint.
    checked: AtomicU64,
}

/// The process-wide origin of [`Link::checked`].
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Link {
    fn new(side: Side, spin: Spin, exclusive: bool) -> Link {
        Link {
            side,
            spin,
            exclusive,
            fork_gen: sys::fork_generation(),
            checked: AtomicU64::new(0),
        }
    }

    /// Whether this endpoint was inherited across `fork`: its registration
    /// (`SEM_UNDO`) belongs to the parent, so every operation in the child reports
    /// `Disconnected`; the child makes its own with `Channel::sender`/`receiver`.
    #[inline]
    pub(super) fn forked(&self) -> bool {
        sys::forked_since(self.fork_gen)
    }

    /// The one presence predicate: whether the other side is gone for this endpoint.
    /// Inherited across fork: gone. A ring (`mirror`) answers from shared memory
    /// first; `PresenceSource::Kernel` then asks the kernel (`peers_alive`) at most every
    /// `PRESENCE_CHECK`. The message queue has no mirror, so it always asks.
    #[inline]
    pub(super) fn gone(
        &self,
        mirror: Option<&ControlRefs>,
        source: PresenceSource,
        peers_alive: impl FnOnce() -> bool,
    ) -> bool {
        if self.forked() {
            return true;
        }
        let Some(refs) = mirror else {
            // No shared mirror of the counts (message queue): a failing try already
            // made a syscall, one more keeps a clean disconnect visible at once.
            return !peers_alive();
        };
        if refs.peers_gone() {
            return true;
        }
        if source == PresenceSource::Mirror {
            return false;
        }
        let now = epoch().elapsed().as_nanos() as u64 + 1;
        let last = self.checked.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < PRESENCE_CHECK.as_nanos() as u64 {
            return false;
        }
        self.checked.store(now, Ordering::Relaxed);
        !peers_alive()
    }
}

/// An endpoint on a ring: the algorithm's handle `Q`, the control words its fast
/// path reads, and the mapping they live in.
#[derive(Debug)]
pub(crate) struct RingEnd<Q> {
    pub(super) q: Q,
    /// Points into `shm`'s mapping, which the `Arc` beside it keeps alive.
    refs: ControlRefs,
    pub(super) shm: Arc<ShmObjects>,
    pub(super) link: Link,
}

impl<Q> RingEnd<Q> {
    /// Registers `side` and makes the algorithm's handle with `make` (after the role
    /// is taken).
    pub(super) fn connect(
        shm: &Arc<ShmObjects>,
        side: Side,
        spin: Spin,
        make: impl FnOnce(&ShmObjects) -> Q,
    ) -> Result<RingEnd<Q>, Error> {
        let exclusive = shm.ring.geometry().kind == Flavor::Spsc;
        shm.connect(side, exclusive)?;
        let link = Link::new(side, spin, exclusive);
        // SAFETY: the `ControlRefs` is stored beside the `Arc<ShmObjects>` it points into and
        // never leaves this struct, so it is never used after the mapping is gone.
        let refs = unsafe { shm.control_refs(side) };
        Ok(RingEnd {
            q: make(shm),
            refs,
            shm: shm.clone(),
            link,
        })
    }

    #[inline(always)]
    pub(super) fn gone(&self, source: PresenceSource) -> bool {
        self.link.gone(Some(&self.refs), source, || {
            self.shm.peers_alive(self.link.side)
        })
    }

    /// Wakes the other side after progress: zero syscalls while nobody sleeps.
    #[inline(always)]
    pub(super) fn progressed(&self) {
        if self.refs.sleepers() {
            self.wake_sleepers();
        }
    }

    #[cold]
    fn wake_sleepers(&self) {
        self.shm.wake_all(self.link.side.other());
    }

    /// One non-blocking ring operation, linearizable within a bound: `attempt`, and
    /// while it fails because a live peer of the other side is mid-operation on the
    /// slot this side needs, a bounded wait for it (`ShmObjects::settle`) and another
    /// attempt, at most [`SETTLE_RETRIES`] times; wakes the other side on success.
    #[inline]
    pub(super) fn try_now<R>(&self, mut attempt: impl FnMut() -> Option<R>) -> Option<R> {
        let consumers = self.link.side == Side::Recv;
        let mut r = attempt();
        for _ in 0..SETTLE_RETRIES {
            if r.is_some() || !self.shm.settle(consumers) {
                break;
            }
            r = attempt();
        }
        if r.is_some() {
            self.progressed();
        }
        r
    }

    /// A non-blocking send: [`try_now`](Self::try_now), then `NotNow` (full) while a
    /// receiver may still act, `Disconnected` once every receiver is gone.
    #[inline]
    pub(super) fn try_send(&self, attempt: impl FnMut() -> Option<()>) -> Result<(), TryError> {
        if self.gone(PresenceSource::Mirror) {
            return Err(TryError::Disconnected);
        }
        match self.try_now(attempt) {
            Some(()) => Ok(()),
            None if !self.gone(PresenceSource::Kernel) => Err(TryError::NotNow),
            None => Err(TryError::Disconnected),
        }
    }

    /// A non-blocking receive: [`try_now`](Self::try_now), then `NotNow` (empty) while
    /// a sender may still act; once every sender is gone, what is still in the ring
    /// is received first, skipping the slots of producers proven dead, and only then
    /// `Disconnected`.
    #[inline]
    pub(super) fn try_recv<R>(
        &self,
        mut attempt: impl FnMut() -> Option<R>,
    ) -> Result<R, TryError> {
        if self.link.forked() {
            return Err(TryError::Disconnected);
        }
        if let Some(r) = self.try_now(&mut attempt) {
            return Ok(r);
        }
        if !self.gone(PresenceSource::Kernel) {
            return Err(TryError::NotNow);
        }
        loop {
            if let Some(r) = attempt() {
                self.progressed();
                return Ok(r);
            }
            if !self.shm.skip_abandoned() {
                return Err(TryError::Disconnected);
            }
        }
    }

    /// Blocks until `attempt` yields `Some`, the deadline passes or the other side is
    /// gone.
    #[inline]
    pub(super) fn wait<R>(
        &self,
        deadline: Deadline,
        attempt: impl FnMut() -> Option<R>,
    ) -> Result<R, WaitError> {
        if self.link.forked() {
            return Err(WaitError::Disconnected);
        }
        let r = self
            .shm
            .wait(self.link.side, deadline, self.link.spin, attempt);
        if r.is_ok() {
            self.progressed();
        }
        r
    }
}

impl<Q> Drop for RingEnd<Q> {
    fn drop(&mut self) {
        // An inherited endpoint never registered in this process: leave the parent's
        // registration alone.
        if !self.link.forked() {
            self.shm.disconnect(self.link.side, self.link.exclusive);
        }
    }
}

/// An endpoint on a message queue.
#[derive(Debug)]
pub(crate) struct QueueEnd {
    pub(super) msgq: Arc<MsgqObjects>,
    pub(super) link: Link,
}

impl QueueEnd {
    pub(super) fn connect(
        msgq: &Arc<MsgqObjects>,
        side: Side,
        spin: Spin,
    ) -> Result<QueueEnd, Error> {
        let exclusive = msgq.kind == Flavor::Spsc;
        msgq.connect(side, exclusive)?;
        Ok(QueueEnd {
            msgq: msgq.clone(),
            link: Link::new(side, spin, exclusive),
        })
    }

    #[inline]
    pub(super) fn gone(&self) -> bool {
        self.link.gone(None, PresenceSource::Kernel, || {
            self.msgq.peers_alive(self.link.side)
        })
    }

    /// One non-blocking send of a frame: `Ok(true)` sent, `Ok(false)` full, `Err`
    /// broken.
    #[inline]
    pub(super) fn push(&self, frame: &[u8]) -> Result<bool, ()> {
        self.msgq.try_send_bytes(frame)
    }

    /// One non-blocking receive into `buf`: `Ok(true)` received, `Ok(false)` empty,
    /// `Err` broken.
    #[inline]
    pub(super) fn pop(&self, buf: &mut [u8]) -> Result<bool, ()> {
        self.msgq.try_recv_bytes(buf)
    }

    /// Blocks until `attempt` yields `Some`, the deadline passes or the other side is
    /// gone; `attempt` returns `Err(())` when the channel is broken (removed).
    pub(super) fn wait<R>(
        &self,
        deadline: Deadline,
        attempt: impl FnMut() -> Result<Option<R>, ()>,
    ) -> Result<R, WaitError> {
        if self.link.forked() {
            return Err(WaitError::Disconnected);
        }
        self.msgq
            .wait(self.link.side, deadline, self.link.spin, attempt)
    }
}

impl Drop for QueueEnd {
    fn drop(&mut self) {
        if !self.link.forked() {
            self.msgq.disconnect(self.link.side, self.link.exclusive);
        }
    }
}
