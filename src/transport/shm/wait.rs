//! Waiting on a ring: spin, then sleep in bounded slices on the side's semaphore
//! after registering as a waiter (the sleeper's half of the wake-up protocol; the
//! publisher's half is `link::ControlRefs::sleepers` and [`ShmObjects::wake_all`]).

use std::time::{Duration, Instant};

use crate::options::Spin;
use crate::sync::{fence, AtomicU32, Ordering};
use crate::sys::{self, SemOp};
use crate::transport::terms::{Deadline, Side, WaitError, SLICE};

use super::objects::ShmObjects;
use super::sems::{ITEMS, SPACE};

/// Polls between clock reads while spinning (the first read comes after as many).
const CLOCK_EVERY: u64 = 64;
/// Polls before a spinning side starts yielding its CPU now and then.
const YIELD_AFTER: u64 = 4096;
/// Once yielding: one `sched_yield` per this many polls.
const YIELD_EVERY: u64 = 64;

impl ShmObjects {
    pub(crate) fn waiters(&self, side: Side) -> (&AtomicU32, u16) {
        let c = self.control();
        match side {
            Side::Recv => (&c.recv_waiters, ITEMS),
            Side::Send => (&c.send_waiters, SPACE),
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

    /// Blocks until `attempt` succeeds, the deadline passes, or (when `attempt` keeps
    /// failing) every peer of the other side is gone. Spins per `spin`, then sleeps
    /// in bounded slices on the side's semaphore after registering as a waiter.
    pub(crate) fn wait<R>(
        &self,
        side: Side,
        mut deadline: Deadline,
        spin: Spin,
        peers_gone: impl Fn() -> bool,
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
                if peers_gone() {
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
                        self.recover();
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
                    self.recover();
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
