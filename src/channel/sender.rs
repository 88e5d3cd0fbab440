//! [`Sender`]: the sending side, a thin facade over the transport's [`SendEnd`] that
//! gives its outcomes the std/crossbeam shapes.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytemuck::Pod;

use crate::error::{SendError, SendTimeoutError, TrySendError};
use crate::transport::{Deadline, SendEnd, TryError, WaitError};

/// The sending side of a channel: `Send + Sync` and `Clone`, like crossbeam's and
/// std's senders.
///
/// A clone shares this process's registration (cloning never fails and makes no
/// system call); the registration ends when the last clone is dropped. On an MPMC
/// channel threads may send through clones or through one shared `&Sender` at full
/// speed. On an SPSC channel the sender role is exclusive between processes
/// ([`Channel::sender`](crate::Channel::sender) fails with `RoleTaken` while another
/// sender lives); inside the process that holds it, clones share the one role and
/// their calls are serialized.
///
/// Dropping the last sender (or killing its process) disconnects the channel for
/// receivers once they drained it.
pub struct Sender<T: Pod> {
    end: Arc<SendEnd<T>>,
}

impl<T: Pod> Clone for Sender<T> {
    /// Another handle on the same registration (no system call, never fails).
    fn clone(&self) -> Self {
        Sender {
            end: self.end.clone(),
        }
    }
}

impl<T: Pod> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("key", &self.end.key())
            .field("transport", &self.end.transport())
            .field("spin", &self.end.spin())
            .finish()
    }
}

impl<T: Pod> Sender<T> {
    pub(super) fn new(end: SendEnd<T>) -> Sender<T> {
        Sender { end: Arc::new(end) }
    }

    /// Whether `other` sends into the same channel (the same kernel objects, whichever
    /// handle or process-local open they came from).
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        self.end.channel_id() == other.end.channel_id()
    }

    /// Sends without blocking.
    ///
    /// # Errors
    /// `Full` when the channel is full, `Disconnected` when every receiver is gone
    /// (after one had connected). The message is handed back.
    #[inline]
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        self.end.try_put(&msg).map_err(|e| match e {
            TryError::NotNow => TrySendError::Full(msg),
            TryError::Disconnected => TrySendError::Disconnected(msg),
        })
    }

    /// Sends, blocking while the channel is full (spin, then sleep).
    ///
    /// # Errors
    /// `SendError` when every receiver is gone; holds the message.
    #[inline(always)]
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        if self.end.put_fast(&msg) {
            return Ok(());
        }
        self.send_slow(msg)
    }

    /// [`send`](Self::send) after a failed fast attempt. Out of line and by value,
    /// so the fast path's `&msg` never reaches a call (a large message is not copied
    /// to the stack before the attempt).
    #[inline(never)]
    fn send_slow(&self, msg: T) -> Result<(), SendError<T>> {
        self.send_until(msg, Deadline::Never)
            .map_err(|e| SendError(e.into_inner()))
    }

    /// Sends, blocking for at most `timeout` while the channel is full.
    ///
    /// # Errors
    /// `Timeout` or `Disconnected`, with the message.
    #[inline(always)]
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        if self.end.put_fast(&msg) {
            return Ok(());
        }
        self.send_timeout_slow(msg, timeout)
    }

    /// [`send_timeout`](Self::send_timeout) after a failed fast attempt (out of line,
    /// as [`send_slow`](Self::send_slow)).
    #[inline(never)]
    fn send_timeout_slow(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_until(msg, Deadline::After(timeout))
    }

    /// Sends, blocking until `deadline` at the latest while the channel is full.
    ///
    /// # Errors
    /// `Timeout` or `Disconnected`, with the message.
    pub fn send_deadline(&self, msg: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.send_until(msg, Deadline::At(deadline))
    }

    #[inline]
    fn send_until(&self, msg: T, deadline: Deadline) -> Result<(), SendTimeoutError<T>> {
        self.end.put_until(&msg, deadline).map_err(|e| match e {
            WaitError::Timeout => SendTimeoutError::Timeout(msg),
            WaitError::Disconnected => SendTimeoutError::Disconnected(msg),
        })
    }

    /// Zero-copy send: blocks until a slot is free, lets `f` write the message in
    /// place in the ring, then publishes it. `f` is called exactly once on success
    /// and not at all on error. If `f` panics, nothing is published (SPSC) or the
    /// slot is published with what `f` wrote so far (MPMC, which must never wedge).
    /// On the message-queue transport `f` fills a local message that is then sent.
    ///
    /// # Errors
    /// `SendError(())` when every receiver is gone.
    pub fn send_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, SendError<()>> {
        self.end.send_with(f).map_err(|_| SendError(()))
    }

    /// Sends as many of `msgs` as fit now, publishing the index once. Never blocks.
    /// Returns how many were sent (0 when full).
    ///
    /// # Errors
    /// `SendError(())` when every receiver is gone.
    pub fn send_batch(&self, msgs: &[T]) -> Result<usize, SendError<()>> {
        self.end.send_batch(msgs).map_err(|_| SendError(()))
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
