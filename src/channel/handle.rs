//! [`Channel`]: a created or opened channel, from which senders and receivers are
//! made.

use std::fmt;
use std::marker::PhantomData;

use bytemuck::Pod;

use super::{Receiver, Sender};
use crate::error::Error;
use crate::options::{Flavor, Spin, Stats, Transport};
use crate::sys::Key;
use crate::transport::Objects;

/// A created or opened channel. By itself neither a sender nor a receiver: make those
/// with [`AnyChannel::sender`] and [`AnyChannel::receiver`].
///
/// The creator's handle owns the kernel objects: they are removed when it and every
/// sender and receiver made from it are dropped (or at [`AnyChannel::remove`]).
pub struct AnyChannel<T> {
    shared: Objects,
    flavor: Flavor,
    spin: Spin,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for AnyChannel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyChannel")
            .field("key", &self.shared.key())
            .field("transport", &self.shared.transport())
            .field("flavor", &self.flavor)
            .field("capacity", &self.shared.capacity())
            .field("owner", &self.shared.is_owner())
            .finish()
    }
}

impl<T> AnyChannel<T> {
    pub(super) fn new(shared: Objects, flavor: Flavor, spin: Spin) -> AnyChannel<T> {
        AnyChannel {
            shared,
            flavor,
            spin,
            _t: PhantomData,
        }
    }
}

impl<T: Pod> AnyChannel<T> {
    /// Connects a sender in this process.
    ///
    /// # Errors
    /// `RoleTaken` when an SPSC channel already has a live sender; `Removed` when the
    /// channel was removed; `Os` when a call fails.
    pub fn sender(&self) -> Result<Sender<T>, Error> {
        Ok(Sender::new(self.shared.sender(self.spin)?))
    }

    /// Connects a receiver in this process.
    ///
    /// # Errors
    /// `RoleTaken` when an SPSC channel already has a live receiver; `Removed` when the
    /// channel was removed; `Os` when a call fails.
    pub fn receiver(&self) -> Result<Receiver<T>, Error> {
        Ok(Receiver::new(self.shared.receiver(self.spin)?))
    }
}

impl<T> AnyChannel<T> {
    /// The transport in use (always a concrete one, never `Auto`).
    pub fn transport(&self) -> Transport {
        self.shared.transport()
    }

    /// The flavor of the channel.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The key the channel lives at.
    pub fn key(&self) -> Key {
        self.shared.key()
    }

    /// Messages the channel holds at most (for the message queue: what its byte
    /// budget admits, which may be less than was asked for).
    pub fn capacity(&self) -> usize {
        self.shared.capacity() as usize
    }

    /// Messages in the channel now.
    pub fn len(&self) -> usize {
        self.shared.len() as usize
    }

    /// Whether the channel is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the channel is full now (`len() == capacity()`).
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    /// The counters of the channel (see [`Stats`](crate::Stats): shared by every
    /// process on the ring; on the message queue `sent`/`received` are this
    /// process's own).
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The shared-memory segment's id (`None` on the message-queue transport).
    pub fn shm_id(&self) -> Option<i32> {
        self.shared.shm_id()
    }

    /// The semaphore set's id.
    pub fn sem_id(&self) -> i32 {
        self.shared.sem_id()
    }

    /// The message queue's id (`None` on the shared-memory transport).
    pub fn msg_id(&self) -> Option<i32> {
        self.shared.msg_id()
    }

    /// Whether this handle will remove the kernel objects when dropped.
    pub fn is_owner(&self) -> bool {
        self.shared.is_owner()
    }

    /// Keeps the kernel objects after this process drops its handles (gives up
    /// ownership); remove them later with [`AnyChannel::remove`] or `sysvring rm`.
    pub fn keep(&self) {
        self.shared.disown();
    }

    /// Removes the channel now (`IPC_RMID` on segment and semaphores). Peers finish
    /// with `Disconnected` once they drained what is left; the mapping stays valid
    /// in every process until its last handle is dropped.
    ///
    /// # Errors
    /// `PermissionDenied` unless the caller owns or created the objects.
    pub fn remove(&self) -> Result<(), Error> {
        self.shared.remove()
    }
}
