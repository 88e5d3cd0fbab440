//! A process's hold on one shared-memory channel: [`ShmObjects`] (the mapping, the
//! semaphore set, the validated geometry), connect/disconnect and peer presence, and
//! the wake-up post (`wake_all`). (The control words a handle's fast path reads are
//! `link::ControlRefs`, beside the fast path.) Creating and opening (`setup.rs`), waiting (`wait.rs`) and MPMC recovery
//! (`recovery.rs`) add their methods to `ShmObjects` in their own files.

use crate::error::Error;
use crate::ring::layout::Control;
use crate::ring::RawRing;
use crate::sync::Ordering;
use crate::sys::{self, Attachment, Key, SemOp, SemSet};
use crate::transport::presence;
use crate::transport::setup::{self, Ownership};
use crate::transport::terms::Side;

use super::liveness::Registration;
use super::sems::{RECEIVERS, RECEIVER_ROLE, SENDERS, SENDER_ROLE};

/// Process-local state of one shared-memory channel: the mapping, the semaphore set
/// and a validated copy of the geometry.
#[derive(Debug)]
pub(crate) struct ShmObjects {
    pub(super) att: Attachment,
    pub(crate) sems: SemSet,
    pub(crate) ring: RawRing,
    pub(crate) key: Key,
    pub(super) own: Ownership,
    /// MPMC: this process's claimer-table entry (taken by its first handle).
    pub(super) claimer: std::sync::Mutex<Option<Registration>>,
}

impl ShmObjects {
    /// Messages in the ring now (clamped: indices are untrusted).
    pub(crate) fn len(&self) -> u64 {
        let (head, tail) = self.ring.counts();
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
        self.own.is_owner()
    }

    /// Gives up ownership: the objects stay after drop.
    pub(crate) fn disown(&self) {
        self.own.disown();
    }

    /// Removes the segment and semaphores now (`IPC_RMID`); peers see `Disconnected`
    /// once they drained what is mapped.
    pub(crate) fn remove(&self) -> Result<(), Error> {
        self.control().closed.store(1, Ordering::SeqCst);
        self.disown();
        setup::removed([self.sems.remove(), self.att.shm().remove()])
    }

    /// Registers a sender or receiver: the live count (and, for SPSC, the role) taken
    /// with `SEM_UNDO` in one atomic semop.
    pub(crate) fn connect(&self, side: Side, exclusive: bool) -> Result<(), Error> {
        let c = self.control();
        if c.closed.load(Ordering::SeqCst) != 0 {
            return Err(Error::Removed);
        }
        let (count, role) = match side {
            Side::Send => (SENDERS, SENDER_ROLE),
            Side::Recv => (RECEIVERS, RECEIVER_ROLE),
        };
        presence::register(&self.sems, count, role, exclusive)?;
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
        presence::unregister(&self.sems, count, role, exclusive);
        // Wake every sleeper of the other side (and of ours: MPMC peers of the same
        // side do not care, but a wake-up costs them only a re-check).
        self.wake_all(side.other());
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
}

impl Drop for ShmObjects {
    fn drop(&mut self) {
        self.release_tag();
        if self.own.removes_on_drop() {
            let _ = self.remove();
        }
    }
}
