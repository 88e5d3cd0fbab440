//! Kernel-proven liveness of MPMC claimers: the claimer-table entry a process holds,
//! and the proof that its holder died.
//!
//! An MPMC channel's semaphore set has, after the fixed semaphores of `sems.rs`, one
//! **liveness semaphore per claimer-table entry** ([`LIVENESS`]`+ tag - 1`). A process
//! takes an entry by raising its semaphore from 0 to 1 with `SEM_UNDO` in one atomic
//! `semop` (wait-for-zero and add, both `IPC_NOWAIT`): the semaphore *is* the hold.
//! The kernel undoes the raise when the process dies, however it dies and whatever
//! PID namespace it lived in (semaphore ids are valid across the IPC namespace; pids
//! are not valid across PID namespaces). So:
//!
//! - **A claimer is proven dead** when its entry's semaphore reads 0 while the entry's
//!   generation is the one read before (the generation is bumped by every new holder,
//!   so a holder that took the entry in between is never declared dead). A stopped,
//!   traced, throttled or swapped-out process keeps its semaphore: slow is alive.
//! - **An entry comes back** once its holder is proven dead and no slot carries its
//!   tag: the next process to take it checks (`claimers::reusable`) and gives it back
//!   at once if a dead holder's claim is still visible (recovery skips that claim
//!   later, and then the entry is free). Any number of restarts works.
//! - Known traps, handled: `SETVAL`/`SETALL` would wipe every process's undo values,
//!   so these semaphores are set only once, at creation (all 0, before the header is
//!   `Ready`); a forked child inherits no undo values, so it takes an entry of its own
//!   (the fork generation in [`Registration`]); threads share one undo list, and a
//!   process takes at most one entry per open channel, so an adjustment never exceeds
//!   1 (far below the kernel's ±32767); the set's size is bounded by `SEMMSL`
//!   ([`liveness_slots`]).
//!
//! Pid, start time and pid namespace are still recorded in the entry, for `stat` and
//! error messages only.

use crate::error::Error;
use crate::ring::claimers::{self, ClaimerId};
use crate::ring::layout::CLAIMERS;
use crate::sys::{self, Limits, SemOp};

use super::objects::ShmObjects;
use super::sems::LIVENESS;

/// The claimer-table entry a process holds in one channel: its tag, the generation it
/// recorded, and the fork generation it was taken in (a forked child is another
/// process and takes its own).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Registration {
    pub(super) tag: u16,
    pub(super) generation: u64,
    pub(super) fork_gen: u64,
}

/// Liveness semaphores (claimer-table entries usable) an MPMC channel made on this host
/// gets: the table's size, or fewer when `SEMMSL` (semaphores per set) is smaller than
/// the fixed semaphores plus the table. `None` when not even one fits.
pub(crate) fn liveness_slots(limits: Option<&Limits>) -> Option<u16> {
    let semmsl = limits.map_or(u64::MAX, |l| l.semmsl);
    let room = semmsl.saturating_sub(u64::from(LIVENESS));
    let n = room.min(CLAIMERS as u64);
    (n > 0).then_some(n as u16)
}

impl ShmObjects {
    /// Claimer-table entries this channel's set has liveness semaphores for (0 for
    /// SPSC).
    pub(crate) fn claimer_slots(&self) -> u16 {
        self.sems
            .len()
            .saturating_sub(LIVENESS)
            .min(CLAIMERS as u16)
    }

    /// The tag this process claims MPMC slots with: its claimer-table entry, taken on
    /// first use and kept until the channel is dropped (shared by every handle of the
    /// process).
    ///
    /// # Errors
    /// `TooManyProcesses` when every entry is held by a live process (or by a dead one
    /// whose claim is still to be skipped); an OS error from `semop`/`semctl`.
    pub(crate) fn claim_tag(&self) -> Result<u16, Error> {
        let mut mine = self.claimer.lock().unwrap_or_else(|e| e.into_inner());
        let gen = sys::fork_generation();
        if let Some(r) = *mine {
            if r.fork_gen == gen {
                return Ok(r.tag);
            }
        }
        let r = self.take_entry(gen)?;
        *mine = Some(r);
        Ok(r.tag)
    }

    /// Takes a free entry: reads every liveness semaphore at once, then tries the ones
    /// at 0 in order (another process may take one first).
    fn take_entry(&self, fork_gen: u64) -> Result<Registration, Error> {
        let n = self.claimer_slots();
        let vals = self.sems.get_all().map_err(sem_error)?;
        let pid = sys::current_pid();
        let me = ClaimerId::new(
            pid as u32,
            sys::process_start_time(pid).unwrap_or(0),
            sys::pid_namespace(),
        );
        for tag in 1..=n {
            let num = LIVENESS + tag - 1;
            if vals.get(usize::from(num)).copied() != Some(0) {
                continue;
            }
            // Wait-for-zero and raise, atomically: succeeds only if nobody holds it.
            let take = [
                SemOp::new(num, 0).nowait(),
                SemOp::new(num, 1).nowait().undo(),
            ];
            match self.sems.op(&take) {
                Ok(()) => {}
                Err(e) if e.is_would_block() => continue,
                Err(e) => return Err(sem_error(e)),
            }
            if !claimers::reusable(&self.ring, tag) {
                // A dead holder's claim is still in a slot: leave the entry until
                // recovery has skipped it.
                self.give_back(num);
                continue;
            }
            let Some(generation) = claimers::record(&self.ring, tag, me) else {
                self.give_back(num);
                continue;
            };
            return Ok(Registration {
                tag,
                generation,
                fork_gen,
            });
        }
        Err(Error::TooManyProcesses {
            max: usize::from(n),
        })
    }

    /// Lowers a liveness semaphore this process raised (the undo value goes back to 0).
    fn give_back(&self, num: u16) {
        let _ = self.sems.op(&[SemOp::new(num, -1).nowait().undo()]);
    }

    /// Gives the claimer entry back (on drop, in the process that took it): the
    /// diagnostics first, then the semaphore.
    pub(super) fn release_tag(&mut self) {
        let mine = *self.claimer.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = mine {
            if r.fork_gen == sys::fork_generation() {
                claimers::clear(&self.ring, r.tag, r.generation);
                self.give_back(LIVENESS + r.tag - 1);
            }
        }
    }

    /// Whether the holder of `tag` is proven dead by the kernel: its liveness
    /// semaphore is 0 and the entry's generation did not change around the read. An
    /// unknown tag (corrupt stamp), an unreadable set or a removed one prove nothing.
    pub(super) fn claimer_dead(&self, tag: u16) -> bool {
        if tag == 0 || tag > self.claimer_slots() {
            return false;
        }
        let Some(before) = claimers::entry(&self.ring, tag) else {
            return false;
        };
        let down = matches!(self.sems.get_val(LIVENESS + tag - 1), Ok(0));
        let after = claimers::entry(&self.ring, tag);
        down && after.is_some_and(|a| a.generation == before.generation)
    }
}

/// An error of the liveness set, as the caller should see it.
fn sem_error(e: sys::SysError) -> Error {
    if e.is_removed() {
        Error::Removed
    } else {
        e.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sized_from_semmsl() {
        let mut l = Limits::read().unwrap();
        assert_eq!(liveness_slots(None), Some(CLAIMERS as u16));
        l.semmsl = 32000;
        assert_eq!(liveness_slots(Some(&l)), Some(CLAIMERS as u16));
        l.semmsl = 250;
        assert_eq!(liveness_slots(Some(&l)), Some(250 - LIVENESS));
        l.semmsl = u64::from(LIVENESS);
        assert_eq!(liveness_slots(Some(&l)), None);
    }
}
