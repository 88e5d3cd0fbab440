//! The shared-memory transport: a ring in a System V segment, a private semaphore set
//! for sleeping and for crash-safe presence and roles.
//!
//! Semaphores of the set (index: use):
//! - `ITEMS` (0), `SPACE` (1): wake-ups for sleeping receivers/senders. Never
//!   `SEM_UNDO` (the kernel would undo the posts of an exiting process).
//! - `SENDERS` (2), `RECEIVERS` (3): live counts, changed with `SEM_UNDO` so the
//!   kernel subtracts a killed process.
//! - `SENDER_ROLE` (4), `RECEIVER_ROLE` (5): SPSC exclusive roles, initialised to 1,
//!   taken with `-1 | IPC_NOWAIT | SEM_UNDO` so a killed holder's role comes back.

use std::mem::size_of;
use std::ptr::NonNull;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::channel::Error;
use crate::ring::layout::{
    Control, Geometry, Header, HeaderValues, RingKind, CONTROL_OFFSET, MAGIC, STATE_INIT,
    STATE_READY, VERSION,
};
use crate::ring::mpmc::{self, Mpmc};
use crate::ring::RawRing;
use crate::sync::{fence, AtomicU32, Ordering};
use crate::sys::{self, Attachment, Key, SemOp, SemSet, Shm};

use super::{os, Deadline, Side, Spin, WaitError, SLICE};

/// Polls between clock reads while spinning (the first read comes after as many).
const CLOCK_EVERY: u64 = 64;
/// Polls before a spinning side starts yielding its CPU now and then.
const YIELD_AFTER: u64 = 4096;
/// Once yielding: one `sched_yield` per this many polls.
const YIELD_EVERY: u64 = 64;

pub(crate) const ITEMS: u16 = 0;
pub(crate) const SPACE: u16 = 1;
pub(crate) const SENDERS: u16 = 2;
pub(crate) const RECEIVERS: u16 = 3;
pub(crate) const SENDER_ROLE: u16 = 4;
pub(crate) const RECEIVER_ROLE: u16 = 5;
pub(crate) const NSEMS: u16 = 6;

/// Transport word in the header: the ring lives in this segment.
pub(crate) const TRANSPORT_SHM: u32 = 1;

/// Process-local state of one shared-memory channel: the mapping, the semaphore set
/// and a validated copy of the geometry.
#[derive(Debug)]
pub(crate) struct ShmShared {
    att: Attachment,
    pub(crate) sems: SemSet,
    pub(crate) ring: RawRing,
    pub(crate) key: Key,
    owner: AtomicBool,
    fork_gen: u64,
}

fn mismatch(field: &'static str, expected: u64, found: u64) -> Error {
    Error::LayoutMismatch {
        field,
        expected,
        found,
    }
}

impl ShmShared {
    /// Creates the segment (`IPC_EXCL`) and its semaphore set, fills the header and
    /// publishes `Ready` last.
    pub(crate) fn create(
        key: Key,
        geo: Geometry,
        mode: u32,
        fingerprint: u64,
    ) -> Result<ShmShared, Error> {
        // One key names one channel: refuse when a message-queue channel's set is there.
        if !key.is_private() && SemSet::open(key).is_ok() {
            return Err(Error::AlreadyExists);
        }
        let shm = Shm::create(key, geo.total_size, mode).map_err(os("shmget"))?;
        let cleanup = |e: Error| {
            let _ = shm.remove();
            e
        };
        let att = shm.attach(false).map_err(|e| cleanup(e.into()))?;
        let sems = match SemSet::create(Key::private(), NSEMS, mode) {
            Ok(s) => s,
            Err(e) => return Err(cleanup(e.into())),
        };
        let init = sems.set_all(&[0, 0, 0, 0, 1, 1]);
        if let Err(e) = init {
            let _ = sems.remove();
            return Err(cleanup(e.into()));
        }
        // SAFETY: the attachment maps total_size bytes (we created it with that size),
        // page-aligned, and stays mapped as long as ShmShared lives.
        let ring =
            unsafe { RawRing::new(NonNull::new(att.as_ptr()).expect("shmat is non-null"), geo) };
        let me = sys::current_pid();
        let values = HeaderValues {
            magic: MAGIC,
            version: VERSION,
            kind: geo.kind as u32,
            capacity: geo.capacity,
            elem_size: geo.elem_size as u64,
            elem_align: geo.elem_align as u64,
            fingerprint,
            stride: geo.stride as u64,
            slots_offset: geo.slots_offset as u64,
            total_size: geo.total_size as u64,
            sem_id: sems.id() as u32,
            creator_pid: me as u32,
            creator_start: sys::process_start_time(me).unwrap_or(0),
            state: STATE_INIT,
            transport: TRANSPORT_SHM,
        };
        let h = ring.header();
        h.fill(&values);
        if geo.kind == RingKind::Mpmc {
            Mpmc::<u8>::init(&ring);
        }
        // SYNC(state): Release; pairs with the opener's Acquire in `open`: every header
        // field and slot stamp above is visible before Ready is.
        h.state.store(STATE_READY, Ordering::Release);
        Ok(ShmShared {
            att,
            sems,
            ring,
            key,
            owner: AtomicBool::new(true),
            fork_gen: sys::fork_generation(),
        })
    }

    /// Opens the segment at `key`, waits (bounded) for `Ready`, validates every header
    /// field against `expect` and against the segment's real size.
    pub(crate) fn open(key: Key, expect: &Expect, timeout: Duration) -> Result<ShmShared, Error> {
        let shm = Shm::open(key).map_err(os("shmget"))?;
        let st = shm.stat().map_err(os("shmctl"))?;
        expect.check_creator(st.perm.cuid)?;
        let min = (CONTROL_OFFSET + size_of::<Control>()) as u64;
        if st.size < min {
            return Err(Error::NotSysvring);
        }
        let att = shm.attach(false).map_err(os("shmat"))?;
        // SAFETY: the mapping has at least `min` bytes, enough for the header; Header is
        // all atomics (valid for any bytes) and offset 0 of a page-aligned mapping.
        let header = unsafe { &*att.as_ptr().cast::<Header>() };
        let start = Instant::now();
        let v = loop {
            let v = header.snapshot();
            if v.magic != MAGIC && v.magic != 0 {
                return Err(Error::NotSysvring);
            }
            if v.magic == MAGIC && v.state == STATE_READY {
                break v;
            }
            if v.magic == MAGIC && v.state != STATE_INIT {
                return Err(Error::NotSysvring);
            }
            if start.elapsed() >= timeout {
                return Err(Error::NotReady);
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let geo = validate(&v, expect, st.size)?;
        let sems = SemSet::from_id(v.sem_id as i32).map_err(|e| {
            if e.is_removed() {
                Error::NotSysvring
            } else {
                os("semctl")(e)
            }
        })?;
        if sems.len() != NSEMS {
            return Err(mismatch(
                "semaphores",
                u64::from(NSEMS),
                u64::from(sems.len()),
            ));
        }
        // The set must belong to whoever owns the segment: a channel cannot be pointed
        // at somebody else's semaphores.
        let sst = sems.stat().map_err(os("semctl"))?;
        if sst.perm.cuid != st.perm.cuid {
            return Err(Error::PermissionDenied);
        }
        // SAFETY: validate() checked total_size <= shm_segsz, and the mapping covers the
        // whole segment; page alignment satisfies max(128, elem_align <= 4096).
        let ring =
            unsafe { RawRing::new(NonNull::new(att.as_ptr()).expect("shmat is non-null"), geo) };
        Ok(ShmShared {
            att,
            sems,
            ring,
            key,
            owner: AtomicBool::new(false),
            fork_gen: sys::fork_generation(),
        })
    }

    /// Messages in the ring now (clamped: indices are untrusted).
    pub(crate) fn len(&self) -> u64 {
        let c = self.control();
        let head = c.head.load(Ordering::Acquire);
        let tail = c.tail.load(Ordering::Acquire);
        let n = tail.wrapping_sub(head);
        if n > self.ring.geometry().capacity {
            0
        } else {
            n
        }
    }

    pub(crate) fn control(&self) -> &Control {
        self.ring.control()
    }

    pub(crate) fn shm_id(&self) -> i32 {
        self.att.shm().id()
    }

    /// Whether this process created the channel and will remove it on drop.
    pub(crate) fn is_owner(&self) -> bool {
        self.owner.load(Ordering::Relaxed)
    }

    /// Gives up ownership: the objects stay after drop.
    pub(crate) fn disown(&self) {
        self.owner.store(false, Ordering::Relaxed);
    }

    /// Removes the segment and semaphores now (`IPC_RMID`); peers see `Disconnected`
    /// once they drained what is mapped.
    pub(crate) fn remove(&self) -> Result<(), Error> {
        self.control().closed.store(1, Ordering::SeqCst);
        self.disown();
        let a = self.sems.remove();
        let b = self.att.shm().remove();
        match (a, b) {
            (Err(e), _) if !e.is_removed() => Err(os("semctl")(e)),
            (_, Err(e)) if !e.is_removed() => Err(os("shmctl")(e)),
            _ => Ok(()),
        }
    }

    /// Registers a sender or receiver: the live count (and, for SPSC, the role) taken
    /// with `SEM_UNDO` in one atomic semop.
    pub(crate) fn connect(&self, side: Side, exclusive: bool) -> Result<(), Error> {
        let c = self.control();
        if c.closed.load(Ordering::SeqCst) != 0 {
            return Err(Error::Os(
                "semop",
                std::io::Error::new(std::io::ErrorKind::NotConnected, "the channel was removed"),
            ));
        }
        let (count, role) = match side {
            Side::Send => (SENDERS, SENDER_ROLE),
            Side::Recv => (RECEIVERS, RECEIVER_ROLE),
        };
        super::register(&self.sems, count, role, exclusive)?;
        let (live, ever) = match side {
            Side::Send => (&c.senders, &c.ever_senders),
            Side::Recv => (&c.receivers, &c.ever_receivers),
        };
        if !sys::membarrier_register() {
            c.needs_fence.store(1, Ordering::SeqCst);
        }
        live.fetch_add(1, Ordering::SeqCst);
        ever.store(1, Ordering::SeqCst);
        Ok(())
    }

    /// Undoes [`connect`](Self::connect) and wakes the other side so it can see the
    /// disconnection.
    pub(crate) fn disconnect(&self, side: Side, exclusive: bool) {
        let c = self.control();
        let (count, role, live) = match side {
            Side::Send => (SENDERS, SENDER_ROLE, &c.senders),
            Side::Recv => (RECEIVERS, RECEIVER_ROLE, &c.receivers),
        };
        let _ = live.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        super::unregister(&self.sems, count, role, exclusive);
        // Wake every sleeper of the other side (and of ours: MPMC peers of the same
        // side do not care, but a wake-up costs them only a re-check).
        self.wake_all(match side {
            Side::Send => Side::Recv,
            Side::Recv => Side::Send,
        });
    }

    /// Whether a peer of the other side than `side` may still act: `true` before any
    /// has ever connected (processes may start in any order), then the kernel's
    /// `SEM_UNDO` count decides; a removed channel has no peers.
    pub(crate) fn peers_alive(&self, side: Side) -> bool {
        let c = self.control();
        if c.closed.load(Ordering::SeqCst) != 0 {
            return false;
        }
        let (live, ever, sem) = match side {
            Side::Recv => (&c.senders, &c.ever_senders, SENDERS),
            Side::Send => (&c.receivers, &c.ever_receivers, RECEIVERS),
        };
        if ever.load(Ordering::SeqCst) == 0 {
            return true;
        }
        if live.load(Ordering::SeqCst) == 0 {
            return false;
        }
        match self.sems.get_val(sem) {
            Ok(n) => n > 0,
            Err(_) => false,
        }
    }

    /// The words the fast path of a `side` handle reads per message, resolved once
    /// (see [`Hot`]).
    pub(crate) fn hot(&self, side: Side) -> Hot {
        let c = self.control();
        let (live, ever) = match side {
            Side::Recv => (&c.senders, &c.ever_senders),
            Side::Send => (&c.receivers, &c.ever_receivers),
        };
        let other = match side {
            Side::Send => Side::Recv,
            Side::Recv => Side::Send,
        };
        Hot {
            peers_live: NonNull::from(live),
            peers_ever: NonNull::from(ever),
            closed: NonNull::from(&c.closed),
            needs_fence: NonNull::from(&c.needs_fence),
            other_waiters: NonNull::from(self.waiters(other).0),
        }
    }

    fn waiters(&self, side: Side) -> (&AtomicU32, u16) {
        let c = self.control();
        match side {
            Side::Recv => (&c.recv_waiters, ITEMS),
            Side::Send => (&c.send_waiters, SPACE),
        }
    }

    /// Posts one wake-up per registered sleeper of `side`.
    #[cold]
    pub(crate) fn wake_all(&self, side: Side) {
        let (waiters, sem) = self.waiters(side);
        // One post per registration: take them all with a swap.
        let n = waiters.swap(0, Ordering::SeqCst);
        if n > 0 {
            let n = n.min(i16::MAX as u32) as i16;
            if self.sems.op(&[SemOp::new(sem, n)]).is_ok() {
                self.control()
                    .wakeups
                    .fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }

    /// Withdraws one registration of `side`. If a waker already took it (the word is
    /// 0), its token is on the way: consume it so tokens never pile up.
    fn unregister(&self, side: Side) {
        let (waiters, sem) = self.waiters(side);
        let mut cur = waiters.load(Ordering::SeqCst);
        loop {
            if cur == 0 {
                let _ = self
                    .sems
                    .op_timeout(&[SemOp::new(sem, -1)], Duration::from_millis(10));
                return;
            }
            match waiters.compare_exchange(cur, cur - 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return,
                Err(now) => cur = now,
            }
        }
    }

    /// The sleeper's half of the asymmetric Dekker pair (see `wake`): a full barrier
    /// on every CPU running a registered process, so a publisher that skipped its
    /// fence has its index store visible before our re-check. If the kernel refuses,
    /// publishers are told to fence from now on.
    fn heavy_barrier(&self) {
        if cfg!(loom) || !sys::membarrier_global() {
            self.control().needs_fence.store(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
        }
    }

    /// With no sender left, a slot at `head` claimed by a producer that died before
    /// publishing will never be published: skip it (and any that follow) so the
    /// messages behind it are received before `Disconnected`. Returns whether it
    /// skipped anything.
    pub(crate) fn skip_abandoned(&self) -> bool {
        if self.ring.geometry().kind != RingKind::Mpmc {
            return false;
        }
        let mut skipped = false;
        while let Some(st) = mpmc::stuck(&self.ring) {
            if st.consumer || !owner_dead(st.owner) || !mpmc::skip(&self.ring, &st) {
                break;
            }
            self.control().skipped.fetch_add(1, Ordering::Relaxed);
            skipped = true;
        }
        skipped
    }

    /// The last attempt before reporting `Disconnected`: receivers first take what a
    /// dead producer's abandoned slot hides.
    fn last_attempt<R>(
        &self,
        side: Side,
        attempt: &mut impl FnMut() -> Option<R>,
    ) -> Result<R, WaitError> {
        loop {
            if let Some(r) = attempt() {
                return Ok(r);
            }
            if side != Side::Recv || !self.skip_abandoned() {
                return Err(WaitError::Disconnected);
            }
        }
    }

    /// The deadline passed: a last attempt, and `Disconnected` rather than `Timeout`
    /// when the other side is gone (a zero timeout must still report it).
    fn timed_out<R>(
        &self,
        side: Side,
        attempt: &mut impl FnMut() -> Option<R>,
    ) -> Result<R, WaitError> {
        if let Some(r) = attempt() {
            return Ok(r);
        }
        if self.peers_alive(side) {
            Err(WaitError::Timeout)
        } else {
            self.last_attempt(side, attempt)
        }
    }

    /// MPMC crash recovery, called once per slice while a side is blocked: a slot
    /// that blocks the queue and was seen stuck with the same stamp one slice ago,
    /// whose claimer is dead, is skipped and counted in `stats().skipped`.
    fn recover(&self, seen: &mut Option<mpmc::Stuck>) {
        if self.ring.geometry().kind != RingKind::Mpmc {
            return;
        }
        let now = mpmc::stuck(&self.ring);
        if let (Some(a), Some(b)) = (seen.as_ref(), now.as_ref()) {
            if a == b && owner_dead(b.owner) && mpmc::skip(&self.ring, b) {
                self.control().skipped.fetch_add(1, Ordering::Relaxed);
                // Both sides may be waiting on this slot.
                self.wake_all(Side::Recv);
                self.wake_all(Side::Send);
                *seen = None;
                return;
            }
        }
        *seen = now;
    }

    /// Blocks until `attempt` succeeds, the deadline passes, or (when `attempt` keeps
    /// failing) every peer of the other side is gone. Spins per `spin`, then sleeps
    /// in bounded slices on the side's semaphore after registering as a waiter.
    pub(crate) fn wait<R>(
        &self,
        side: Side,
        mut deadline: Deadline,
        spin: Spin,
        mut attempt: impl FnMut() -> Option<R>,
    ) -> Result<R, WaitError> {
        if let Some(r) = attempt() {
            return Ok(r);
        }
        // The spin phase polls once per `spin_loop` hint (a message is seen within
        // one poll of its arrival, as in a raw ping-pong) and reads the clock only
        // every `CLOCK_EVERY` polls, first after them: a wait that ends while
        // spinning costs no clock read. Past `YIELD_AFTER` polls it also yields now
        // and then, so a peer that shares our CPU gets to run.
        let budget = match spin {
            Spin::Never => None,
            Spin::For(d) => Some(d),
            Spin::Forever => Some(Duration::MAX),
        };
        let mut seen = None;
        let hot = self.hot(side);
        // A full ring's sender polls the consumer's index line: each poll steals
        // that line from the consumer, whose next store must take it back. With room
        // for many messages queued, polling less often costs the sender nothing (the
        // consumer has plenty to read) and keeps the consumer at full speed.
        let gap = match side {
            Side::Send => (self.ring.geometry().capacity / 64).clamp(1, 16),
            Side::Recv => 1,
        };
        if let Some(budget) = budget {
            let mut polls = 0u64;
            // (end of the spin budget, next crash-recovery check), set at the first
            // clock read.
            let mut clock: Option<(Option<Instant>, Instant)> = None;
            loop {
                if polls >= YIELD_AFTER && polls % YIELD_EVERY == 0 {
                    std::thread::yield_now();
                } else {
                    for _ in 0..gap {
                        std::hint::spin_loop();
                    }
                }
                if let Some(r) = attempt() {
                    return Ok(r);
                }
                if hot.peers_gone() {
                    return self.last_attempt(side, &mut attempt);
                }
                polls += 1;
                if polls % CLOCK_EVERY == 0 {
                    let now = Instant::now();
                    let (until, next_check) =
                        clock.get_or_insert_with(|| (now.checked_add(budget), now + SLICE));
                    if deadline.resolve(now).is_some_and(|d| now >= d) {
                        return self.timed_out(side, &mut attempt);
                    }
                    if until.is_some_and(|u| now >= u) {
                        break;
                    }
                    if now >= *next_check {
                        *next_check = now + SLICE;
                        self.recover(&mut seen);
                        if !self.peers_alive(side) {
                            return self.last_attempt(side, &mut attempt);
                        }
                    }
                }
            }
        }
        let (waiters, sem) = self.waiters(side);
        loop {
            let now = Instant::now();
            let slice = match deadline.resolve(now) {
                Some(d) if now >= d => return self.timed_out(side, &mut attempt),
                Some(d) => (d - now).min(SLICE),
                None => SLICE,
            };
            // SYNC(waiters): SeqCst registration, then SeqCst re-check (in `attempt`'s
            // Acquire load after this full barrier); pairs with the fence in `wake`.
            waiters.fetch_add(1, Ordering::SeqCst);
            self.heavy_barrier();
            if let Some(r) = attempt() {
                self.unregister(side);
                return Ok(r);
            }
            if !self.peers_alive(side) {
                self.unregister(side);
                return self.last_attempt(side, &mut attempt);
            }
            self.control().sleeps.fetch_add(1, Ordering::Relaxed);
            match self.sems.op_timeout(&[SemOp::new(sem, -1)], slice) {
                Ok(()) => {}
                Err(e) if e.is_timeout() => {
                    self.unregister(side);
                    self.recover(&mut seen);
                }
                Err(_) => {
                    // Removed (EIDRM/EINVAL) or unusable: the channel is gone.
                    self.control().closed.store(1, Ordering::SeqCst);
                    return self.last_attempt(side, &mut attempt);
                }
            }
            if let Some(r) = attempt() {
                return Ok(r);
            }
        }
    }
}

/// The control words that a handle's fast path reads on every message, resolved
/// once when the handle is made, so a send or receive goes straight to them (no
/// dispatch on the transport or the side, no offset arithmetic).
///
/// The pointers point into the segment mapped by the [`ShmShared`] they came from:
/// a `Hot` must only be used while that `ShmShared` is alive (the channel handles keep
/// both, the `Arc` of the shared state beside its `Hot`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hot {
    peers_live: NonNull<AtomicU32>,
    peers_ever: NonNull<AtomicU32>,
    closed: NonNull<AtomicU32>,
    needs_fence: NonNull<AtomicU32>,
    other_waiters: NonNull<AtomicU32>,
}

// SAFETY: the pointers name atomics in a process-wide shared mapping; reaching them
// from another thread is as safe as from this one (the handle holding a Hot is Send
// but not Sync, like the rest of its state).
unsafe impl Send for Hot {}

impl Hot {
    #[inline]
    fn word(&self, p: NonNull<AtomicU32>) -> &AtomicU32 {
        // SAFETY: `p` points to an atomic of the control block of a mapped segment,
        // aligned (it came from a reference), and the mapping outlives `self` (the
        // contract of `Hot`: its ShmShared, which holds the attachment, is alive).
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
    /// caller must post ([`ShmShared::wake_all`]). Zero syscalls while nobody sleeps.
    #[inline]
    pub(crate) fn sleepers(&self) -> bool {
        // SYNC(waiters): a Dekker pair with the registration in `wait`: either the
        // sleeper sees our publication on its re-check, or we see it registered here.
        // Our store (the index or stamp) must not pass this load. When every user is
        // registered for membarrier, the sleeper's `membarrier_global()` supplies
        // the hardware barrier on our CPU and we only stop the compiler
        // (asymmetric fences, as liburcu and folly do); otherwise a full fence.
        if cfg!(not(loom))
            && sys::membarrier_registered()
            && self.word(self.needs_fence).load(Ordering::Relaxed) == 0
        {
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
        } else {
            fence(Ordering::SeqCst);
        }
        self.word(self.other_waiters).load(Ordering::Relaxed) != 0
    }
}

impl Drop for ShmShared {
    fn drop(&mut self) {
        // A creator's handle inherited by a forked child is not the owner there.
        if self.is_owner() && sys::fork_generation() == self.fork_gen {
            let _ = self.remove();
        }
    }
}

/// What an opener expects of the segment.
#[derive(Debug, Clone)]
pub(crate) struct Expect {
    pub kind: Option<RingKind>,
    pub capacity: Option<u64>,
    pub elem_size: usize,
    pub elem_align: usize,
    pub fingerprint: u64,
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
            Err(Error::PermissionDenied)
        }
    }
}

/// Checks a header snapshot field by field; returns the locally computed geometry.
pub(crate) fn validate(v: &HeaderValues, e: &Expect, segsz: u64) -> Result<Geometry, Error> {
    if v.magic != MAGIC {
        return Err(Error::NotSysvring);
    }
    if v.version != VERSION {
        return Err(Error::VersionMismatch {
            expected: VERSION,
            found: v.version,
        });
    }
    if v.transport != TRANSPORT_SHM {
        return Err(mismatch(
            "transport",
            u64::from(TRANSPORT_SHM),
            u64::from(v.transport),
        ));
    }
    let kind = RingKind::from_raw(v.kind).ok_or(mismatch(
        "flavor",
        e.kind.map_or(0, |k| k as u64),
        u64::from(v.kind),
    ))?;
    if let Some(k) = e.kind {
        if k != kind {
            return Err(mismatch("flavor", k as u64, v.kind as u64));
        }
    }
    if v.elem_size != e.elem_size as u64 {
        return Err(mismatch("element size", e.elem_size as u64, v.elem_size));
    }
    if v.elem_align != e.elem_align as u64 {
        return Err(mismatch(
            "element alignment",
            e.elem_align as u64,
            v.elem_align,
        ));
    }
    if v.fingerprint != e.fingerprint {
        return Err(Error::TypeMismatch {
            expected: e.fingerprint,
            found: v.fingerprint,
        });
    }
    if let Some(c) = e.capacity.map(|c| min_capacity(kind, c)) {
        if c != v.capacity {
            return Err(mismatch("capacity", c, v.capacity));
        }
    }
    let geo = Geometry::new(kind, v.capacity, e.elem_size, e.elem_align).ok_or(mismatch(
        "capacity",
        e.capacity.unwrap_or(0),
        v.capacity,
    ))?;
    if v.stride != geo.stride as u64 {
        return Err(mismatch("stride", geo.stride as u64, v.stride));
    }
    if v.slots_offset != geo.slots_offset as u64 {
        return Err(mismatch(
            "slot offset",
            geo.slots_offset as u64,
            v.slots_offset,
        ));
    }
    if v.total_size != geo.total_size as u64 {
        return Err(mismatch("total size", geo.total_size as u64, v.total_size));
    }
    if geo.total_size as u64 > segsz {
        return Err(mismatch("segment size", geo.total_size as u64, segsz));
    }
    Ok(geo)
}

/// Whether the process that claimed a slot is gone: no such pid, or the pid now
/// belongs to a process started at another time (reused). Pid 0 (never recorded)
/// counts as gone: the slot was stuck for two slices already.
fn owner_dead(o: mpmc::Owner) -> bool {
    if o.pid == 0 || o.pid > i32::MAX as u32 {
        return true;
    }
    let pid = o.pid as i32;
    if !sys::pid_alive(pid) {
        return true;
    }
    match sys::process_start_time(pid) {
        Some(t) => o.start != 0 && t as u32 != o.start,
        None => false,
    }
}

/// The capacity a builder's request becomes for `kind` (MPMC rings have two slots at
/// least).
pub(crate) fn min_capacity(kind: RingKind, c: u64) -> u64 {
    if kind == RingKind::Mpmc {
        c.max(2)
    } else {
        c
    }
}
