//! What every endpoint is built on: its registration and the process that made it
//! ([`Link`]: the fork check and the one presence predicate), and the per-transport
//! halves of an endpoint ([`RingEnd`], [`QueueEnd`]): presence, the ring's fast paths
//! whole (with [`ControlRefs`], the control words they read, so one send or receive
//! passes each file once), wake-ups after progress, the entry into the transport's
//! wait, and unregistering on drop.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytemuck::Pod;

use crate::error::Error;
use crate::options::Flavor;
use crate::options::Spin;
use crate::ring::mpmc::Mpmc;
use crate::ring::spsc::{Consumer, Producer};
use crate::sync::{fence, AtomicU32};
use crate::sys;

use super::exclusive::Exclusive;
use super::msgq::{self, MsgqObjects};
use super::payload::{Put, Take};
use super::shm::ShmObjects;
use super::terms::{Deadline, Side, TryError, WaitError};

/// How long a kernel answer "a peer of the other side is alive" is trusted: a ring
/// re-reads the kernel's live count at most this often on a failing non-blocking call
/// (the mirror in shared memory covers clean disconnects at once; this covers a killed
/// peer), a queue sender at most this often on its sends (see [`Mirror::Queue`]).
/// Timed on the coarse clock, so the real interval is up to one timer tick (1 to 10
/// ms) longer.
const PRESENCE_CHECK: Duration = Duration::from_millis(10);

/// How many times a non-blocking ring call waits for an in-flight claim (each wait
/// bounded by the transport's `SETTLE`, 50 ms) before it reports empty/full.
const SETTLE_RETRIES: usize = 4;

/// How hard [`Link::gone`] looks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PresenceSource {
    /// The mirror: the fast paths and the entry of every send. No syscall on a ring;
    /// on a queue the kernel at most every [`PRESENCE_CHECK`] (see [`Mirror::Queue`]).
    Mirror,
    /// Failing calls (full, empty): a ring's mirror, then the kernel at most every
    /// [`PRESENCE_CHECK`]; a queue asks the kernel every time (the failed `msgsnd` or
    /// `msgrcv` was a syscall already, and a clean disconnect in another process is
    /// then seen at once, as a ring's mirror shows it).
    Kernel,
}

/// What an endpoint reads about the other side's presence before it asks the kernel.
#[derive(Clone, Copy)]
pub(super) enum Mirror<'a> {
    /// A ring: the live and ever counts (and `closed`) mirrored in the control block,
    /// which show a clean disconnect at once without a syscall.
    Ring(&'a ControlRefs),
    /// A queue has no shared memory to mirror the counts in. Its stand-in is the
    /// kernel's last "alive" answer, trusted for [`PRESENCE_CHECK`], and dropped at once
    /// when an endpoint of the other side was dropped in this process since (the
    /// process-wide count given here, `msgq::departed`). So a send is one `msgsnd` and
    /// one read of the coarse clock; a killed or cleanly dropped peer in another
    /// process is seen within [`PRESENCE_CHECK`] by a side that keeps sending or
    /// waiting (a blocked side asks after each failed poll), a peer dropped in this
    /// process at once.
    Queue(&'a AtomicU64),
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
    /// When the kernel last answered "a peer is alive" to [`Link::gone`]: the coarse
    /// monotonic clock (`sys::coarse_monotonic_ns`, a few nanoseconds to read, 1 to
    /// 10 ms resolution) plus one (0: never, or the last answer was "gone", which is
    /// never trusted beyond its call). An atomic, so an endpoint is `Sync`; any value
    /// is only a hint.
    checked: AtomicU64,
    /// Queue only: the other side's [`Mirror::Queue`] departure count when this
    /// endpoint last looked (0 at first: its first look asks the kernel anyway).
    departures_seen: AtomicU64,
}

impl Link {
    fn new(side: Side, spin: Spin, exclusive: bool) -> Link {
        Link {
            side,
            spin,
            exclusive,
            fork_gen: sys::fork_generation(),
            checked: AtomicU64::new(0),
            departures_seen: AtomicU64::new(0),
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
    /// Inherited across fork: gone. Then the `mirror` (see [`Mirror`]), and the kernel
    /// (`peers_alive`): a ring asks it only on `PresenceSource::Kernel`, at most every
    /// [`PRESENCE_CHECK`]; a queue asks it at most every [`PRESENCE_CHECK`] on
    /// `PresenceSource::Mirror`, after a departure in this process at once, and on
    /// `PresenceSource::Kernel` every time. A "gone" answer is never cached: the next
    /// call asks again, so `Disconnected` lasts until a new peer connects.
    #[inline]
    pub(super) fn gone(
        &self,
        mirror: Mirror<'_>,
        source: PresenceSource,
        peers_alive: impl FnOnce() -> bool,
    ) -> bool {
        if self.forked() {
            return true;
        }
        let always = match mirror {
            Mirror::Ring(refs) if refs.peers_gone() => return true,
            Mirror::Ring(_) if source == PresenceSource::Mirror => return false,
            // A failing call: the kernel, at most every PRESENCE_CHECK.
            Mirror::Ring(_) => false,
            Mirror::Queue(departed) => {
                // SYNC(departed): Acquire; pairs with the Release in
                // `MsgqObjects::disconnect`: a peer that unregistered in this process
                // before this load is out of the kernel's count we read below.
                let d = departed.load(Ordering::Acquire);
                // SYNC(departures_seen): Acquire; pairs with the Release below.
                let moved = d != self.departures_seen.load(Ordering::Acquire);
                if moved {
                    // Forget the cached answer first, then note the count.
                    // SYNC(departures_seen): Release; pairs with the Acquire above:
                    // another thread on this endpoint that sees the new count sees the
                    // cache cleared and asks the kernel too.
                    self.checked.store(0, Ordering::Relaxed);
                    self.departures_seen.store(d, Ordering::Release);
                }
                moved || source == PresenceSource::Kernel
            }
        };
        self.kernel_says_gone(always, peers_alive)
    }

    /// Asks the kernel (`peers_alive`) whether the other side is gone: when `always`,
    /// or else when its last "alive" answer is [`PRESENCE_CHECK`] old or more.
    #[inline]
    fn kernel_says_gone(&self, always: bool, peers_alive: impl FnOnce() -> bool) -> bool {
        let now = sys::coarse_monotonic_ns() + 1;
        if !always {
            let last = self.checked.load(Ordering::Relaxed);
            if last != 0 && now.saturating_sub(last) < PRESENCE_CHECK.as_nanos() as u64 {
                return false;
            }
        }
        if peers_alive() {
            self.checked.store(now, Ordering::Relaxed);
            false
        } else {
            self.checked.store(0, Ordering::Relaxed);
            true
        }
    }
}

/// The control words that a handle's fast path reads on every message, resolved
/// once when the handle is made, so a send or receive goes straight to them (no
/// dispatch on the transport or the side, no offset arithmetic).
///
/// The pointers point into the segment mapped by the [`ShmObjects`] they came from:
/// a `ControlRefs` must only be used while that `ShmObjects` is alive. [`ControlRefs::new`] is
/// `unsafe` for that reason; a ring endpoint (`link::RingEnd`) keeps the
/// `Arc<ShmObjects>` beside its `ControlRefs`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ControlRefs {
    peers_live: NonNull<AtomicU32>,
    peers_ever: NonNull<AtomicU32>,
    closed: NonNull<AtomicU32>,
    needs_fence: NonNull<AtomicU32>,
    other_waiters: NonNull<AtomicU32>,
}

// SAFETY: the pointers name atomics in a process-wide shared mapping; reaching them
// from another thread is as safe as from this one.
unsafe impl Send for ControlRefs {}
// SAFETY: as above: every access through a `ControlRefs` is an atomic operation, so threads
// sharing one do not race.
unsafe impl Sync for ControlRefs {}

impl ControlRefs {
    #[inline]
    fn word(&self, p: NonNull<AtomicU32>) -> &AtomicU32 {
        // SAFETY: `p` points to an atomic of the control block of a mapped segment,
        // aligned (it came from a reference), and the mapping outlives `self` (the
        // contract of `ControlRefs`: its ShmObjects, which holds the attachment, is alive).
        unsafe { p.as_ref() }
    }

    /// The cheap, mirror-only check used on the fast path: `true` when the other side
    /// has certainly gone (every peer dropped its handle, or the channel was removed).
    #[inline]
    pub(crate) fn peers_gone(&self) -> bool {
        (self.word(self.peers_live).load(Ordering::Relaxed) == 0
            && self.word(self.peers_ever).load(Ordering::Relaxed) != 0)
            || self.word(self.closed).load(Ordering::Relaxed) != 0
    }

    /// After publishing: whether a sleeper of the other side is registered, so the
    /// caller must post ([`ShmObjects::wake_all`]). Zero syscalls while nobody sleeps.
    #[inline]
    pub(crate) fn sleepers(&self) -> bool {
        // SYNC(waiters): a Dekker pair with the registration in `wait`: either the
        // sleeper sees our publication on its re-check, or we see it registered here.
        // Our store (the index or stamp) must not pass this load. When every user is
        // registered for membarrier, the sleeper's `membarrier_global()` supplies
        // the hardware barrier on our CPU and we only stop the compiler
        // (asymmetric fences, as liburcu and folly do); otherwise a full fence.
        // (A process that could not register for membarrier set `needs_fence` when
        // it connected, so the word alone decides.)
        if cfg!(not(loom)) && self.word(self.needs_fence).load(Ordering::Relaxed) == 0 {
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
        } else {
            fence(Ordering::SeqCst);
        }
        self.word(self.other_waiters).load(Ordering::Relaxed) != 0
    }
}

impl ControlRefs {
    /// The words the fast path of a `side` handle on `shm` reads per message,
    /// resolved once.
    ///
    /// # Safety
    /// The `ControlRefs` points into `shm`'s mapping: it must not be used after `shm`
    /// is dropped (an endpoint keeps the `Arc<ShmObjects>` it came from beside it).
    unsafe fn new(shm: &ShmObjects, side: Side) -> ControlRefs {
        let c = shm.control();
        let (live, ever) = match side {
            Side::Recv => (&c.senders, &c.ever_senders),
            Side::Send => (&c.receivers, &c.ever_receivers),
        };
        ControlRefs {
            peers_live: NonNull::from(live),
            peers_ever: NonNull::from(ever),
            closed: NonNull::from(&c.closed),
            needs_fence: NonNull::from(&c.needs_fence),
            other_waiters: NonNull::from(shm.waiters(side.other()).0),
        }
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
        let refs = unsafe { ControlRefs::new(shm, side) };
        Ok(RingEnd {
            q: make(shm),
            refs,
            shm: shm.clone(),
            link,
        })
    }

    #[inline(always)]
    pub(super) fn gone(&self, source: PresenceSource) -> bool {
        self.link.gone(Mirror::Ring(&self.refs), source, || {
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
        let refs = &self.refs;
        let r = self.shm.wait(
            self.link.side,
            deadline,
            self.link.spin,
            || refs.peers_gone(),
            attempt,
        );
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

/// The fast paths of the ring endpoints, whole in this file: the presence mirror
/// (or the fork check), one attempt on the ring, the wake-up check. So one send (or
/// receive) passes each file once: `channel/sender.rs` -> `endpoint.rs` (the variant)
/// -> here -> `exclusive.rs` -> `ring/spsc.rs` -> `payload.rs` -> `ring/copy.rs`, back
/// here for the sleepers word, and `shm/objects.rs` (`wake_all`) only when somebody
/// sleeps.
impl<T: Pod> RingEnd<Exclusive<Producer<T>>> {
    /// One SPSC send attempt; only the side's owner thread takes it (see
    /// `Exclusive::push_biased`). Whether `msg` was sent.
    #[inline(always)]
    pub(super) fn put_fast(&self, msg: &impl Put) -> bool {
        let sent = !self.gone(PresenceSource::Mirror) && self.q.push_biased(msg) == Some(true);
        if sent {
            self.progressed();
        }
        sent
    }
}

impl<T: Pod> RingEnd<Exclusive<Consumer<T>>> {
    /// One SPSC receive attempt into `out`. Whether a message was taken.
    #[inline(always)]
    pub(super) fn take_fast(&self, out: &mut impl Take) -> bool {
        // SAFETY: `pop_copy` lends a published payload of the element size.
        let got = !self.link.forked() && self.q.pop_copy(|s| unsafe { out.take(s) });
        if got {
            self.progressed();
        }
        got
    }
}

impl<T: Pod> RingEnd<Mpmc<T>> {
    /// One MPMC send attempt. Whether `msg` was sent.
    #[inline(always)]
    pub(super) fn put_fast(&self, msg: &impl Put) -> bool {
        // SAFETY: `push_copy` lends a free slot's payload of the element size.
        let sent =
            !self.gone(PresenceSource::Mirror) && self.q.push_copy(|slot| unsafe { msg.put(slot) });
        if sent {
            self.progressed();
        }
        sent
    }

    /// One MPMC receive attempt into `out`. Whether a message was taken.
    #[inline(always)]
    pub(super) fn take_fast(&self, out: &mut impl Take) -> bool {
        // SAFETY: `pop_copy` lends a published payload of the element size.
        let got = !self.link.forked() && self.q.pop_copy(|s| unsafe { out.take(s) });
        if got {
            self.progressed();
        }
        got
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

    /// Whether the other side is gone (see [`Mirror::Queue`]): on the send fast path
    /// (`PresenceSource::Mirror`) no syscall but a read of the coarse clock, except at most
    /// every [`PRESENCE_CHECK`] and after a departure in this process.
    #[inline]
    pub(super) fn gone(&self, source: PresenceSource) -> bool {
        let side = self.link.side;
        self.link
            .gone(Mirror::Queue(msgq::departed(side.other())), source, || {
                self.msgq.peers_alive(side)
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

    /// One non-blocking receive of a byte frame of at most `buf.len()` bytes:
    /// `Ok(Some(len))` received, `Ok(None)` empty, `Err` broken (longer frames are
    /// dropped and counted).
    #[inline]
    pub(super) fn pop_frame(&self, buf: &mut [u8]) -> Result<Option<usize>, ()> {
        self.msgq.try_recv_frame(buf, false)
    }

    /// Whether a byte frame of `len` bytes fits in the queue now; `Err` broken.
    #[inline]
    pub(super) fn room(&self, len: usize) -> Result<bool, ()> {
        self.msgq.has_room(len)
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
        self.msgq.wait(
            deadline,
            self.link.spin,
            || self.gone(PresenceSource::Mirror),
            attempt,
        )
    }
}

impl Drop for QueueEnd {
    fn drop(&mut self) {
        if !self.link.forked() {
            self.msgq.disconnect(self.link.side, self.link.exclusive);
        }
    }
}
