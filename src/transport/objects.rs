//! [`Objects`]: one channel's kernel objects as this process holds them (the
//! mapping or queue handle, the semaphore set, ownership), whichever transport
//! carries it; the setup entry points (`create`, `open`) and the channel-wide
//! queries. Its endpoints are made in `endpoint.rs`.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::options::Flavor;
use crate::options::{Stats, Transport};
use crate::ring::layout::Geometry;
use crate::sys::Key;

use super::inspect;
use super::msgq::MsgqObjects;
use super::setup::{shm_unavailable, Expected, TypeTag};
use super::shm::ShmObjects;

/// One channel's process-local state, whichever transport carries it: what a
/// `Channel` handle holds, and what its endpoints are made from. Dispatched by
/// `match` (never `dyn`).
#[derive(Debug, Clone)]
pub(crate) enum Objects {
    /// A ring in shared memory.
    Shm(Arc<ShmObjects>),
    /// A message queue.
    Msgq(Arc<MsgqObjects>),
}

impl Objects {
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
    ) -> Result<Objects, Error> {
        let shm = || ShmObjects::create(key, geo, mode, ty).map(Arc::new);
        let msgq = || {
            MsgqObjects::create(
                key,
                geo.kind,
                geo.limit,
                geo.elem_size,
                ty.fingerprint,
                mode,
            )
            .map(|m| Objects::Msgq(Arc::new(m)))
        };
        match transport {
            Transport::ShmRing => shm().map(Objects::Shm),
            Transport::MessageQueue => msgq(),
            Transport::Auto => match shm() {
                Ok(s) => Ok(Objects::Shm(s)),
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
    pub(crate) fn open(key: Key, expect: &Expected, timeout: Duration) -> Result<Objects, Error> {
        match ShmObjects::open(key, expect, timeout) {
            Ok(s) => Ok(Objects::Shm(Arc::new(s))),
            Err(Error::NotFound) => Ok(Objects::Msgq(Arc::new(MsgqObjects::open(
                key, expect, timeout,
            )?))),
            Err(e) => Err(e),
        }
    }

    /// Which transport this is (never `Auto`).
    pub(crate) fn transport(&self) -> Transport {
        match self {
            Objects::Shm(_) => Transport::ShmRing,
            Objects::Msgq(_) => Transport::MessageQueue,
        }
    }

    /// The ring algorithm (the message queue records the flavor it was made for).
    pub(crate) fn kind(&self) -> Flavor {
        match self {
            Objects::Shm(s) => s.ring.geometry().kind,
            Objects::Msgq(m) => m.kind,
        }
    }

    /// The key the channel lives at.
    pub(crate) fn key(&self) -> Key {
        match self {
            Objects::Shm(s) => s.key,
            Objects::Msgq(m) => m.key,
        }
    }

    /// Messages the channel holds at most.
    pub(crate) fn capacity(&self) -> u64 {
        match self {
            Objects::Shm(s) => s.ring.geometry().limit,
            Objects::Msgq(m) => m.capacity(),
        }
    }

    /// Messages in the channel now.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Objects::Shm(s) => s.len(),
            Objects::Msgq(m) => m.len(),
        }
    }

    /// The channel's counters (see [`inspect`]).
    pub(crate) fn stats(&self) -> Stats {
        match self {
            Objects::Shm(s) => {
                let mut stats = inspect::ring_stats(s.control(), Some(&s.sems));
                // An MPMC ring's indices may trail: its frontiers are the counts.
                (stats.received, stats.sent) = s.ring.counts();
                stats
            }
            Objects::Msgq(m) => inspect::msgq_stats(m),
        }
    }

    /// The segment's id (ring only).
    pub(crate) fn shm_id(&self) -> Option<i32> {
        match self {
            Objects::Shm(s) => Some(s.shm_id()),
            Objects::Msgq(_) => None,
        }
    }

    /// The semaphore set's id.
    pub(crate) fn sem_id(&self) -> i32 {
        match self {
            Objects::Shm(s) => s.sems.id(),
            Objects::Msgq(m) => m.sems.id(),
        }
    }

    /// The queue's id (message queue only).
    pub(crate) fn msg_id(&self) -> Option<i32> {
        match self {
            Objects::Shm(_) => None,
            Objects::Msgq(m) => Some(m.queue.id()),
        }
    }

    /// Whether this process removes the objects on drop.
    pub(crate) fn is_owner(&self) -> bool {
        match self {
            Objects::Shm(s) => s.is_owner(),
            Objects::Msgq(m) => m.is_owner(),
        }
    }

    /// Gives up ownership: the objects stay after drop.
    pub(crate) fn disown(&self) {
        match self {
            Objects::Shm(s) => s.disown(),
            Objects::Msgq(m) => m.disown(),
        }
    }

    /// Removes the kernel objects now (`IPC_RMID`).
    ///
    /// # Errors
    /// `PermissionDenied` or `Os`.
    pub(crate) fn remove(&self) -> Result<(), Error> {
        match self {
            Objects::Shm(s) => s.remove(),
            Objects::Msgq(m) => m.remove(),
        }
    }
}
