//! Each side's endpoint: [`SendEnd`] and [`RecvEnd`], one variant per ring algorithm
//! and one for the message queue. A variant carries everything its operations read
//! (the queue handle, the ring's `Hot` control words, the transport's shared state),
//! so every operation is one `match`; presence, the fork check, wake-ups and waiting
//! come from [`link`](super::link), once for both transports.

use bytemuck::Pod;

use crate::error::Error;
use crate::options::{Spin, Transport};
use crate::ring::layout::RingKind;
use crate::ring::mpmc::Mpmc;
use crate::ring::spsc::{Consumer, Producer};
use crate::sys::Key;

use super::exclusive::Exclusive;
use super::link::{Look, QueueEnd, RingEnd};
use super::objects::Objects;
use super::terms::{Deadline, Side, TryError, WaitError};

/// The sending endpoint of a channel.
///
/// The SPSC variant is the largest (the biased lock keeps its owner's flag on a
/// cache line of its own): boxing it would add a pointer chase to every message.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum SendEnd<T> {
    /// SPSC ring: the producer.
    Spsc(RingEnd<Exclusive<Producer<T>>>),
    /// MPMC ring.
    Mpmc(RingEnd<Mpmc<T>>),
    /// Message queue.
    Msgq(QueueEnd),
}

/// The receiving endpoint of a channel (sized as [`SendEnd`]).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum RecvEnd<T> {
    /// SPSC ring: the consumer.
    Spsc(RingEnd<Exclusive<Consumer<T>>>),
    /// MPMC ring.
    Mpmc(RingEnd<Mpmc<T>>),
    /// Message queue.
    Msgq(QueueEnd),
}

/// `$ring` for either ring variant (their handles share method names), `$queue` for
/// the message queue: one `match`.
macro_rules! each {
    ($self:expr, $End:ident, $e:ident => $ring:expr, $queue:expr) => {
        match $self {
            $End::Spsc($e) => $ring,
            $End::Mpmc($e) => $ring,
            $End::Msgq($e) => $queue,
        }
    };
}

impl Objects {
    /// Connects a sender in this process (`SEM_UNDO` registration; SPSC takes the
    /// exclusive role).
    ///
    /// # Errors
    /// `RoleTaken`, `Removed`, or `Os`.
    pub(crate) fn sender<T: Pod>(&self, spin: Spin) -> Result<SendEnd<T>, Error> {
        Ok(match self {
            Objects::Shm(s) => match s.ring.geometry().kind {
                RingKind::Spsc => SendEnd::Spsc(RingEnd::connect(s, Side::Send, spin, |s| {
                    // SAFETY: we hold the sender role (exclusive) and the geometry was
                    // computed (create) or validated (open) for T.
                    Exclusive::new(unsafe { Producer::new(s.ring) })
                })?),
                RingKind::Mpmc => {
                    let tag = s.claim_tag()?;
                    SendEnd::Mpmc(RingEnd::connect(s, Side::Send, spin, |s| {
                        // SAFETY: the geometry matches T; the creator initialised the
                        // stamps; `tag` is this process's claimer entry.
                        unsafe { Mpmc::new(s.ring, tag) }
                    })?)
                }
            },
            Objects::Msgq(m) => SendEnd::Msgq(QueueEnd::connect(m, Side::Send, spin)?),
        })
    }

    /// Connects a receiver in this process (see [`sender`](Self::sender)).
    ///
    /// # Errors
    /// `RoleTaken`, `Removed`, or `Os`.
    pub(crate) fn receiver<T: Pod>(&self, spin: Spin) -> Result<RecvEnd<T>, Error> {
        Ok(match self {
            Objects::Shm(s) => match s.ring.geometry().kind {
                RingKind::Spsc => RecvEnd::Spsc(RingEnd::connect(s, Side::Recv, spin, |s| {
                    // SAFETY: we hold the receiver role and the geometry matches T.
                    Exclusive::new(unsafe { Consumer::new(s.ring) })
                })?),
                RingKind::Mpmc => {
                    let tag = s.claim_tag()?;
                    RecvEnd::Mpmc(RingEnd::connect(s, Side::Recv, spin, |s| {
                        // SAFETY: the geometry matches T; the creator initialised the
                        // stamps; `tag` is this process's claimer entry.
                        unsafe { Mpmc::new(s.ring, tag) }
                    })?)
                }
            },
            Objects::Msgq(m) => RecvEnd::Msgq(QueueEnd::connect(m, Side::Recv, spin)?),
        })
    }
}

impl<T: Pod> SendEnd<T> {
    /// The fast path, inlined into the blocking sends: one attempt, no clock read, no
    /// wait set-up. Whether `msg` was sent.
    #[inline(always)]
    pub(crate) fn send_fast(&self, msg: &T) -> bool {
        match self {
            SendEnd::Spsc(e) => {
                // The owner thread's path only (nothing out of line sees `msg`); any
                // other thread, and a full ring, take the slow path.
                let sent = !e.gone(Look::Mirror) && e.q.push_biased(msg) == Some(true);
                if sent {
                    e.progressed();
                }
                sent
            }
            SendEnd::Mpmc(e) => {
                let sent = !e.gone(Look::Mirror) && e.q.push_ref(msg);
                if sent {
                    e.progressed();
                }
                sent
            }
            // One presence check (the queue has no shared mirror) and one msgsnd.
            SendEnd::Msgq(e) => !e.gone() && e.push(msg) == Ok(true),
        }
    }

    /// Sends without blocking.
    pub(crate) fn try_send(&self, msg: &T) -> Result<(), TryError> {
        each!(self, SendEnd, e => {
            e.try_send(|| e.q.push_ref(msg).then_some(()))
        }, {
            if e.gone() {
                return Err(TryError::Disconnected);
            }
            match e.push(msg) {
                Ok(true) => Ok(()),
                Ok(false) if !e.gone() => Err(TryError::NotNow),
                _ => Err(TryError::Disconnected),
            }
        })
    }

    /// Sends, blocking while the channel is full until `deadline`.
    pub(crate) fn send_until(&self, msg: &T, deadline: Deadline) -> Result<(), WaitError> {
        each!(self, SendEnd, e => {
            if e.gone(Look::Mirror) {
                return Err(WaitError::Disconnected);
            }
            e.wait(deadline, || e.q.push_ref(msg).then_some(()))
        }, {
            if e.gone() {
                return Err(WaitError::Disconnected);
            }
            e.wait(deadline, || e.push(msg).map(|sent| sent.then_some(())))
        })
    }

    /// Zero-copy send: blocks until a slot is free and lets `f` fill it in place (the
    /// message queue fills a local message and sends it).
    pub(crate) fn send_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, WaitError> {
        each!(self, SendEnd, e => {
            if e.gone(Look::Mirror) {
                return Err(WaitError::Disconnected);
            }
            let mut f = Some(f);
            let mut attempt = || {
                let fill = |slot: &mut T| (f.take().expect("called once"))(slot);
                e.q.push_with(fill)
            };
            // The fast path, inline: a free slot now needs no wait set-up.
            if let Some(r) = attempt() {
                e.progressed();
                return Ok(r);
            }
            e.wait(Deadline::Never, attempt)
        }, {
            if e.gone() {
                return Err(WaitError::Disconnected);
            }
            let mut v = T::zeroed();
            let r = f(&mut v);
            if self.send_fast(&v) {
                return Ok(r);
            }
            self.send_until(&v, Deadline::Never).map(|()| r)
        })
    }

    /// Sends as many of `msgs` as fit now, publishing once. Never blocks.
    pub(crate) fn send_batch(&self, msgs: &[T]) -> Result<usize, WaitError> {
        each!(self, SendEnd, e => {
            if e.gone(Look::Mirror) {
                return Err(WaitError::Disconnected);
            }
            if msgs.is_empty() {
                return Ok(0);
            }
            match e.try_now(|| Some(e.q.push_slice(msgs)).filter(|&n| n > 0)) {
                Some(n) => Ok(n),
                None if e.gone(Look::Kernel) => Err(WaitError::Disconnected),
                None => Ok(0),
            }
        }, {
            if e.gone() {
                return Err(WaitError::Disconnected);
            }
            let mut n = 0;
            for m in msgs {
                match e.push(m) {
                    Ok(true) => n += 1,
                    Ok(false) => break,
                    Err(()) => return Err(WaitError::Disconnected),
                }
            }
            if n == 0 && !msgs.is_empty() && e.gone() {
                return Err(WaitError::Disconnected);
            }
            Ok(n)
        })
    }

    /// The key of the channel (for `Debug`).
    pub(crate) fn key(&self) -> Key {
        each!(self, SendEnd, e => e.shm.key, e.msgq.key)
    }

    /// The kernel object that identifies the channel: (1, segment id) for a ring,
    /// (2, queue id) for a message queue.
    pub(crate) fn channel_id(&self) -> (u8, i32) {
        each!(self, SendEnd, e => (1, e.shm.shm_id()), (2, e.msgq.queue.id()))
    }

    /// The transport (for `Debug`).
    pub(crate) fn transport(&self) -> Transport {
        each!(self, SendEnd, _e => Transport::ShmRing, Transport::MessageQueue)
    }

    /// The spin setting (for `Debug`).
    pub(crate) fn spin(&self) -> Spin {
        each!(self, SendEnd, e => e.link.spin, e.link.spin)
    }

    /// Messages in the channel now.
    pub(crate) fn len(&self) -> u64 {
        each!(self, SendEnd, e => e.shm.len(), e.msgq.len())
    }

    /// Messages the channel holds at most.
    pub(crate) fn capacity(&self) -> u64 {
        each!(self, SendEnd, e => e.shm.ring.geometry().limit, e.msgq.capacity())
    }
}

impl<T: Pod> RecvEnd<T> {
    /// The fast path, inlined into the blocking receives: one attempt, no clock read,
    /// no wait set-up.
    #[inline(always)]
    pub(crate) fn recv_fast(&self) -> Option<T> {
        match self {
            RecvEnd::Spsc(e) => {
                let v = if e.link.forked() { None } else { e.q.pop() };
                if v.is_some() {
                    e.progressed();
                }
                v
            }
            RecvEnd::Mpmc(e) => {
                let v = if e.link.forked() { None } else { e.q.pop() };
                if v.is_some() {
                    e.progressed();
                }
                v
            }
            RecvEnd::Msgq(e) if !e.link.forked() => e.pop().ok().flatten(),
            RecvEnd::Msgq(_) => None,
        }
    }

    /// Receives without blocking. `Disconnected` only once the channel is empty and
    /// every sender is gone; a sender that published and left between our attempt and
    /// the presence check, or died holding a slot in front of other messages, still
    /// has its messages received first.
    pub(crate) fn try_recv(&self) -> Result<T, TryError> {
        each!(self, RecvEnd, e => {
            e.try_recv(|| e.q.pop())
        }, {
            if e.link.forked() {
                return Err(TryError::Disconnected);
            }
            match e.pop() {
                Ok(Some(v)) => return Ok(v),
                Ok(None) if !e.gone() => return Err(TryError::NotNow),
                _ => {}
            }
            // A sender may have sent and left between our pop and the check.
            match e.pop() {
                Ok(Some(v)) => Ok(v),
                _ => Err(TryError::Disconnected),
            }
        })
    }

    /// Receives, blocking while the channel is empty until `deadline`.
    pub(crate) fn recv_until(&self, deadline: Deadline) -> Result<T, WaitError> {
        each!(self, RecvEnd, e => e.wait(deadline, || e.q.pop()), e.wait(deadline, || e.pop()))
    }

    /// Zero-copy receive: blocks until a message is there and lets `f` read it in
    /// place (the message queue hands `f` a local copy).
    pub(crate) fn recv_with<R>(&self, f: impl FnOnce(&T) -> R) -> Result<R, WaitError> {
        each!(self, RecvEnd, e => {
            let mut f = Some(f);
            if !e.link.forked() {
                let read = |m: &T| (f.take().expect("called once"))(m);
                // The fast path, inline: a waiting message needs no wait set-up.
                if let Some(r) = e.q.pop_with(read) {
                    e.progressed();
                    return Ok(r);
                }
            }
            e.wait(Deadline::Never, || {
                let read = |m: &T| (f.take().expect("called once"))(m);
                e.q.pop_with(read)
            })
        }, {
            // Through the fast path and the wait, as `Receiver::recv` does.
            let _ = e;
            let v = match self.recv_fast() {
                Some(v) => v,
                None => self.recv_until(Deadline::Never)?,
            };
            Ok(f(&v))
        })
    }

    /// Receives up to `buf.len()` messages that are there now, publishing once.
    /// Never blocks; `Disconnected` only when empty and every sender is gone.
    pub(crate) fn recv_batch(&self, buf: &mut [T]) -> Result<usize, WaitError> {
        each!(self, RecvEnd, e => {
            if buf.is_empty() {
                return if e.link.forked() {
                    Err(WaitError::Disconnected)
                } else {
                    Ok(0)
                };
            }
            match e.try_recv(|| Some(e.q.pop_slice(buf)).filter(|&n| n > 0)) {
                Ok(n) => Ok(n),
                Err(TryError::NotNow) => Ok(0),
                Err(TryError::Disconnected) => Err(WaitError::Disconnected),
            }
        }, {
            if e.link.forked() {
                return Err(WaitError::Disconnected);
            }
            let pop_all = |buf: &mut [T]| {
                let mut n = 0;
                while n < buf.len() {
                    match e.pop()? {
                        Some(v) => buf[n] = v,
                        None => break,
                    }
                    n += 1;
                }
                Ok::<usize, ()>(n)
            };
            let n = pop_all(buf).map_err(|()| WaitError::Disconnected)?;
            if n > 0 || buf.is_empty() || !e.gone() {
                return Ok(n);
            }
            match pop_all(buf) {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(WaitError::Disconnected),
            }
        })
    }

    /// The key of the channel (for `Debug`).
    pub(crate) fn key(&self) -> Key {
        each!(self, RecvEnd, e => e.shm.key, e.msgq.key)
    }

    /// The kernel object that identifies the channel: (1, segment id) for a ring,
    /// (2, queue id) for a message queue.
    pub(crate) fn channel_id(&self) -> (u8, i32) {
        each!(self, RecvEnd, e => (1, e.shm.shm_id()), (2, e.msgq.queue.id()))
    }

    /// The transport (for `Debug`).
    pub(crate) fn transport(&self) -> Transport {
        each!(self, RecvEnd, _e => Transport::ShmRing, Transport::MessageQueue)
    }

    /// The spin setting (for `Debug`).
    pub(crate) fn spin(&self) -> Spin {
        each!(self, RecvEnd, e => e.link.spin, e.link.spin)
    }

    /// Messages in the channel now.
    pub(crate) fn len(&self) -> u64 {
        each!(self, RecvEnd, e => e.shm.len(), e.msgq.len())
    }

    /// Messages the channel holds at most.
    pub(crate) fn capacity(&self) -> u64 {
        each!(self, RecvEnd, e => e.shm.ring.geometry().limit, e.msgq.capacity())
    }
}
