//! MPMC claims that block a side: waiting for a live claimer, skipping a dead one.
//!
//! Every MPMC slot claim carries its claimer's tag (see `ring::mpmc`), and the tag
//! names an entry of the segment's claimer table (`ring::claimers`) whose holder is
//! known to the kernel (`liveness.rs`). Everything that decides to wait for a claim or
//! to skip it lives here:
//!
//! - **A live claimer is never taken for dead**: a claim is skipped only when its
//!   holder is proven dead by the kernel (its `SEM_UNDO` liveness semaphore was undone
//!   at its death, in whatever PID namespace it lived). A stopped, traced, throttled
//!   or swapped-out process keeps its claims however long it stalls.
//! - Blocked waits check once per slice (so a producer killed mid-claim costs the
//!   queue at most one slice, 100 ms); a receiver that finds every sender gone skips
//!   dead claims at once to drain what is behind them.
//! - Non-blocking calls that find the slot they need held by a live claimer of the
//!   other side wait for it, at most [`SETTLE`] ([`ShmObjects::settle`]), so that
//!   `try_recv` does not say `Empty` while a completed `send` waits behind a message
//!   being published, nor `try_send` say `Full` while a slot is being read.

use std::time::{Duration, Instant};

use crate::options::Flavor;
use crate::ring::mpmc::{self, Next};
use crate::sync::Ordering;
use crate::transport::terms::Side;

use super::objects::ShmObjects;

/// Spins of [`ShmObjects::settle`] before it checks whether the claimer died and
/// starts yielding.
const SETTLE_SPINS: u32 = 64;

/// The longest a non-blocking call waits for a live claimer's in-flight operation
/// (publish or release) before it reports empty/full: a few scheduler periods of a
/// loaded machine, so a claimer that was merely preempted finishes first (the wait
/// yields, then naps: it burns no CPU the claimer needs). A claimer stopped longer
/// (SIGSTOP, a debugger) makes `try_recv` say `Empty` (`try_send` say `Full`) after
/// this wait, for as long as it stays stopped.
pub(super) const SETTLE: Duration = Duration::from_millis(50);

/// How long [`ShmObjects::settle`] yields before it naps.
const SETTLE_YIELD: Duration = Duration::from_micros(50);

/// One nap of [`ShmObjects::settle`].
const SETTLE_NAP: Duration = Duration::from_micros(20);

impl ShmObjects {
    /// Frees the MPMC slot that blocks one side (`consumers`: the slot at `head`;
    /// else the one at `tail`) if its claimer is proven dead; counts it in
    /// `stats().skipped`. Returns whether it freed one.
    pub(crate) fn skip_dead(&self, consumers: bool) -> bool {
        if self.ring.geometry().kind != Flavor::Mpmc {
            return false;
        }
        match mpmc::blocker(&self.ring, consumers) {
            Some(h) if self.claimer_dead(h.tag()) && mpmc::skip(&self.ring, &h) => {
                self.control().skipped.fetch_add(1, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    /// A non-blocking call found nothing: if a live claimer of the other side is
    /// mid-operation on the slot this side needs (a producer between claim and
    /// publish, for a receiver; a receiver between claim and release, for a sender),
    /// waits for it, spinning, then yielding and napping, for at most [`SETTLE`]; a
    /// claimer proven dead is skipped at once. Returns whether another attempt may
    /// succeed (the slot changed), false when there is nothing in flight (truly
    /// empty/full) or the claim stayed held.
    pub(crate) fn settle(&self, consumers: bool) -> bool {
        if self.ring.geometry().kind != Flavor::Mpmc {
            return false;
        }
        let h = match mpmc::next(&self.ring, consumers) {
            Next::Held(h) => h,
            // The claim we ran into ended meanwhile: try again.
            Next::Ready => return true,
            Next::Nothing => return false,
        };
        let moved = || self.ring.stamp(h.pos).load(Ordering::Acquire) != h.stamp;
        for i in 0..SETTLE_SPINS {
            if moved() {
                return true;
            }
            for _ in 0..1u32 << (i / 8).min(6) {
                std::hint::spin_loop();
            }
        }
        if self.skip_dead(consumers) {
            return true;
        }
        // Yield first (the claimer may be waiting for our CPU), then nap so a
        // preempted claimer gets a CPU even when every other thread spins.
        let start = Instant::now();
        loop {
            let waited = start.elapsed();
            if waited >= SETTLE {
                return false;
            }
            if waited < SETTLE_YIELD {
                std::thread::yield_now();
            } else {
                std::thread::sleep(SETTLE_NAP);
            }
            if moved() {
                return true;
            }
        }
    }

    /// With no sender left, slots at `head` claimed by producers proven dead will never
    /// be published: skip them so the messages behind are received before
    /// `Disconnected`. Returns whether it skipped anything.
    pub(crate) fn skip_abandoned(&self) -> bool {
        let mut skipped = false;
        while self.skip_dead(true) {
            skipped = true;
        }
        skipped
    }

    /// MPMC crash recovery, called once per slice while a side is blocked: a slot that
    /// blocks either side and whose claimer is proven dead is skipped (and counted in
    /// `stats().skipped`); a stalled live claimer keeps its slot.
    pub(super) fn recover(&self) {
        if self.skip_dead(true) | self.skip_dead(false) {
            // Both sides may be waiting on this slot.
            self.wake_all(Side::Recv);
            self.wake_all(Side::Send);
        }
    }
}
