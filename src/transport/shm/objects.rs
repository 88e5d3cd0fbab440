//! A process's hold on one shared-memory channel: [`ShmObjects`] (the mapping, the
//! semaphore set, the validated geometry), connect/disconnect and peer presence, the
//! wake-up post (`wake_all`), and [`ControlRefs`], the control words a handle's fast path
//! reads. Creating and opening (`setup.rs`), waiting (`wait.rs`) and MPMC recovery
//! (`recovery.rs`) add their methods to `ShmObjects` in their own files.

use std::ptr::NonNull;

use crate::error::Error;
use crate::ring::layout::Control;
use crate::ring::RawRing;
use crate::sync::{fence, AtomicU32, Ordering};
use crate::sys::{self, Attachment, Key, SemOp, SemSet};
use crate::transport::presence;
use crate::transport::setup::{self, Ownership};
use crate::transport::terms::Side;

use super::claim::Registration;
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

    /// The words the fast path of a `side` handle reads per message, resolved once
    /// (see [`ControlRefs`]).
    ///
    /// # Safety
    /// The `ControlRefs` points into this channel's mapping: it must not be used after `self`
    /// is dropped (an endpoint keeps the `Arc<ShmObjects>` it came from beside it).
    pub(crate) unsafe fn control_refs(&self, side: Side) -> ControlRefs {
        let c = self.control();
        let (live, ever) = match side {
            Side::Recv => (&c.senders, &c.ever_senders),
            Side::Send => (&c.receivers, &c.ever_receivers),
        };
        let other = side.other();
        ControlRefs {
            peers_live: NonNull::from(live),
            peers_ever: NonNull::from(ever),
            closed: NonNull::from(&c.closed),
            needs_fence: NonNull::from(&c.needs_fence),
            other_waiters: NonNull::from(self.waiters(other).0),
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

/// The control words that a handle's fast path reads on every message, resolved
/// once when the handle is made, so a send or receive goes straight to them (no
/// dispatch on the transport or the side, no offset arithmetic).
///
/// The pointers point into the segment mapped by the [`ShmObjects`] they came from:
/// a `ControlRefs` must only be used while that `ShmObjects` is alive. [`ShmObjects::control_refs`] is
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

impl Drop for ShmObjects {
    fn drop(&mut self) {
        self.release_tag();
        if self.own.removes_on_drop() {
            let _ = self.remove();
        }
    }
}
