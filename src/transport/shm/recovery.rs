//! MPMC crash recovery: a slot claimed by a producer that died before publishing it
//! blocks everyone behind it; a receiver skips it once its claimer is provably dead.
//! Everything that decides or performs such a skip lives here (the ring's
//! `mpmc::stuck`/`mpmc::skip` do the slot work).

use crate::ring::layout::RingKind;
use crate::ring::mpmc;
use crate::sync::Ordering;
use crate::sys;
use crate::transport::Side;

use super::ShmShared;

/// What an MPMC handle records as the owner of the slots it claims: this process's
/// pid and the low 32 bits of its start time.
pub(crate) fn owner_id() -> mpmc::Owner {
    let pid = sys::current_pid();
    mpmc::Owner {
        pid: pid as u32,
        start: sys::process_start_time(pid).unwrap_or(0) as u32,
    }
}

impl ShmShared {
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

    /// MPMC crash recovery, called once per slice while a side is blocked: a slot
    /// that blocks the queue and was seen stuck with the same stamp one slice ago,
    /// whose claimer is dead, is skipped and counted in `stats().skipped`.
    pub(super) fn recover(&self, seen: &mut Option<mpmc::Stuck>) {
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
