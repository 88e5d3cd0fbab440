//! [`Receiver`]: the receiving side, a thin facade over the transport's [`RecvEnd`]
//! that gives its outcomes the std/crossbeam shapes; and its iterators.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytemuck::Pod;

use crate::error::{RecvError, RecvTimeoutError, TryRecvError};
use crate::transport::{Deadline, RecvEnd, TryError, WaitError};

/// The receiving side of a channel: `Send + Sync` and `Clone`, like crossbeam's
/// receivers.
///
/// A clone shares this process's registration (cloning never fails); the
/// registration ends when the last clone is dropped. On an MPMC channel each message
/// goes to exactly one of the receivers, whichever threads or processes they are in.
/// On an SPSC channel the receiver role is exclusive between processes; inside the
/// process that holds it, clones share the one role and their calls are serialized.
///
/// Receives return `Disconnected` only once the channel is empty and every sender
/// is gone (dropped or killed) after one had connected.
pub struct Receiver<T: Pod> {
    end: Arc<RecvEnd<T>>,
}

impl<T: Pod> Clone for Receiver<T> {
    /// Another handle on the same registration (no system call, never fails).
    fn clone(&self) -> Self {
        Receiver {
            end: self.end.clone(),
        }
    }
}

impl<T: Pod> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("key", &self.end.key())
            .field("transport", &self.end.transport())
            .field("spin", &self.end.spin())
            .finish()
    }
}

impl<T: Pod> Receiver<T> {
    pub(super) fn new(end: RecvEnd<T>) -> Receiver<T> {
        Receiver { end: Arc::new(end) }
    }

    /// Whether `other` receives from the same channel (the same kernel objects).
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        self.end.channel_id() == other.end.channel_id()
    }

    /// Receives without blocking.
    ///
    /// # Errors
    /// `Empty`, or `Disconnected` when empty and every sender is gone.
    #[inline]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.end.try_recv().map_err(|e| match e {
            TryError::NotNow => TryRecvError::Empty,
            TryError::Disconnected => TryRecvError::Disconnected,
        })
    }

    /// Receives, blocking while the channel is empty (spin, then sleep).
    ///
    /// # Errors
    /// `RecvError` when the channel is empty and every sender is gone.
    #[inline(always)]
    pub fn recv(&self) -> Result<T, RecvError> {
        if let Some(v) = self.end.recv_fast() {
            return Ok(v);
        }
        self.end.recv_until(Deadline::Never).map_err(|_| RecvError)
    }

    /// Receives, blocking for at most `timeout`.
    ///
    /// # Errors
    /// `Timeout`, or `Disconnected` when empty and every sender is gone.
    #[inline(always)]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        if let Some(v) = self.end.recv_fast() {
            return Ok(v);
        }
        self.recv_until(Deadline::After(timeout))
    }

    /// Receives, blocking until `deadline` at the latest.
    ///
    /// # Errors
    /// `Timeout`, or `Disconnected` when empty and every sender is gone.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_until(Deadline::At(deadline))
    }

    #[inline]
    fn recv_until(&self, deadline: Deadline) -> Result<T, RecvTimeoutError> {
        self.end.recv_until(deadline).map_err(|e| match e {
            WaitError::Timeout => RecvTimeoutError::Timeout,
            WaitError::Disconnected => RecvTimeoutError::Disconnected,
        })
    }

    /// Zero-copy receive: blocks until a message is there, lets `f` read it in place
    /// in the ring, then frees the slot. If `f` panics the message stays in the ring
    /// (SPSC) or is freed (MPMC, which must never wedge). On the message-queue
    /// transport `f` reads a local copy.
    ///
    /// # Errors
    /// `RecvError` when the channel is empty and every sender is gone.
    pub fn recv_with<R>(&self, f: impl FnOnce(&T) -> R) -> Result<R, RecvError> {
        self.end.recv_with(f).map_err(|_| RecvError)
    }

    /// Receives up to `buf.len()` messages that are there now, publishing the index
    /// once. Never blocks. Returns how many (0 when empty).
    ///
    /// # Errors
    /// `RecvError` when the channel is empty and every sender is gone.
    pub fn recv_batch(&self, buf: &mut [T]) -> Result<usize, RecvError> {
        self.end.recv_batch(buf).map_err(|_| RecvError)
    }

    /// A blocking iterator: yields messages until the channel is disconnected.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// A non-blocking iterator: yields the messages there now.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// Messages in the channel now.
    pub fn len(&self) -> usize {
        self.end.len() as usize
    }

    /// Whether the channel is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the channel is full now.
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    /// Messages the channel holds at most.
    pub fn capacity(&self) -> usize {
        self.end.capacity() as usize
    }
}

/// Blocking iterator over received messages; ends at disconnection.
#[derive(Debug)]
pub struct Iter<'a, T: Pod> {
    rx: &'a Receiver<T>,
}

impl<T: Pod> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// Non-blocking iterator over the messages there now.
#[derive(Debug)]
pub struct TryIter<'a, T: Pod> {
    rx: &'a Receiver<T>,
}

impl<T: Pod> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// Blocking iterator that owns its receiver; ends at disconnection (see
/// [`Receiver::into_iter`](IntoIterator::into_iter)).
#[derive(Debug)]
pub struct IntoIter<T: Pod> {
    rx: Receiver<T>,
}

impl<T: Pod> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T: Pod> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    /// Receives until the channel is disconnected, owning the receiver.
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<'a, T: Pod> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
