//! Each side's endpoint: [`SendEnd`] and [`RecvEnd`], one variant per ring algorithm
//! and one for the message queue. A variant carries everything its operations read
//! (the queue handle, the ring's `ControlRefs` control words, the transport's shared state),
//! so every operation is one `match`; presence, the fork check, wake-ups and waiting
//! come from [`link`](super::link), once for both transports.

use std::mem::MaybeUninit;

use bytemuck::Pod;

use crate::error::Error;
use crate::options::Flavor;
use crate::options::{Spin, Transport};
use crate::ring::mpmc::Mpmc;
use crate::ring::spsc::{Consumer, Producer};
use crate::sys::Key;

use super::exclusive::Exclusive;
use super::link::{PresenceSource, QueueEnd, RingEnd};
use super::objects::Objects;
use super::payload::{Local, Put, Scratch, Take};
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
                Flavor::Spsc => SendEnd::Spsc(RingEnd::connect(s, Side::Send, spin, |s| {
                    // SAFETY: we hold the sender role (exclusive) and the geometry was
                    // computed (create) or validated (open) for T.
                    Exclusive::new(unsafe { Producer::new(s.ring) })
                })?),
                Flavor::Mpmc => {
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
                Flavor::Spsc => RecvEnd::Spsc(RingEnd::connect(s, Side::Recv, spin, |s| {
                    // SAFETY: we hold the receiver role and the geometry matches T.
                    Exclusive::new(unsafe { Consumer::new(s.ring) })
                })?),
                Flavor::Mpmc => {
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
    /// The fast path of every send, inlined into the blocking sends: one attempt, no
    /// clock read, no wait set-up. Whether `msg` was sent. On an SPSC ring only the
    /// side's owner thread takes it (nothing out of line sees `msg`, so a large
    /// message is not copied to the stack first); any other thread, and a full ring,
    /// take the slow path.
    #[inline(always)]
    pub(crate) fn put_fast(&self, msg: &impl Put) -> bool {
        // The SPSC ring first, on its own: the hottest variant gets the shortest path.
        if let SendEnd::Spsc(e) = self {
            return e.put_fast(msg);
        }
        match self {
            SendEnd::Mpmc(e) => e.put_fast(msg),
            // One msgsnd: presence costs a read of the coarse clock (the kernel is
            // asked at most every PRESENCE_CHECK, see `link::Mirror::Queue`).
            SendEnd::Msgq(e) => !e.gone(PresenceSource::Mirror) && e.push(msg.bytes()) == Ok(true),
            SendEnd::Spsc(_) => unreachable!("handled above"),
        }
    }

    /// Sends without blocking.
    pub(crate) fn try_put(&self, msg: &impl Put) -> Result<(), TryError> {
        each!(self, SendEnd, e => {
            // SAFETY: `push_copy` lends a free slot's payload of the element size.
            e.try_send(|| e.q.push_copy(|slot| unsafe { msg.put(slot) }).then_some(()))
        }, {
            if e.gone(PresenceSource::Mirror) {
                return Err(TryError::Disconnected);
            }
            match e.push(msg.bytes()) {
                Ok(true) => Ok(()),
                Ok(false) if !e.gone(PresenceSource::Kernel) => Err(TryError::NotNow),
                _ => Err(TryError::Disconnected),
            }
        })
    }

    /// Sends, blocking while the channel is full until `deadline`.
    pub(crate) fn put_until(&self, msg: &impl Put, deadline: Deadline) -> Result<(), WaitError> {
        each!(self, SendEnd, e => {
            if e.gone(PresenceSource::Mirror) {
                return Err(WaitError::Disconnected);
            }
            // SAFETY: as in `try_put`.
            e.wait(deadline, || e.q.push_copy(|slot| unsafe { msg.put(slot) }).then_some(()))
        }, {
            if e.gone(PresenceSource::Mirror) {
                return Err(WaitError::Disconnected);
            }
            e.wait(deadline, || e.push(msg.bytes()).map(|sent| sent.then_some(())))
        })
    }

    /// Zero-copy send: waits (until `deadline`) for a free slot and lets `f` write the
    /// message in place through a pointer to the element's bytes, then publishes it.
    /// The message queue has no slot: `f` fills a local message (`S`, zeroed) that is
    /// then sent (on a timeout or disconnection, `f` ran and its message is dropped).
    pub(crate) fn put_in_place<R, S: Scratch>(
        &self,
        elem_size: usize,
        deadline: Deadline,
        f: impl FnOnce(*mut u8) -> R,
    ) -> Result<R, WaitError> {
        each!(self, SendEnd, e => {
            if e.gone(PresenceSource::Mirror) {
                return Err(WaitError::Disconnected);
            }
            let mut f = Some(f);
            let mut attempt = || e.q.push_ptr(|slot| (f.take().expect("called once"))(slot));
            // The fast path, inline: a free slot now needs no wait set-up.
            if let Some(r) = attempt() {
                e.progressed();
                return Ok(r);
            }
            e.wait(deadline, attempt)
        }, {
            if e.gone(PresenceSource::Mirror) {
                return Err(WaitError::Disconnected);
            }
            let mut local = S::zeroed(elem_size);
            let r = f(local.bytes_mut().as_mut_ptr());
            let frame = local.bytes_mut();
            e.wait(deadline, || e.push(frame).map(|sent| sent.then_some(())))
                .map(|()| r)
        })
    }
}

impl<T: Pod> SendEnd<T> {
    /// [`put_in_place`](Self::put_in_place) with a typed closure, no deadline.
    #[inline]
    pub(crate) fn send_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, WaitError> {
        self.put_in_place::<R, Local<T>>(std::mem::size_of::<T>(), Deadline::Never, |p| {
            // SAFETY: a slot's payload or the local message: valid, aligned for T and
            // ours until `f` returns; T is Pod, so any bytes there are a valid T.
            f(unsafe { &mut *p.cast::<T>() })
        })
    }

    /// Sends as many of `msgs` as fit now, publishing once. Never blocks.
    pub(crate) fn send_batch(&self, msgs: &[T]) -> Result<usize, WaitError> {
        each!(self, SendEnd, e => {
            if e.gone(PresenceSource::Mirror) {
                return Err(WaitError::Disconnected);
            }
            if msgs.is_empty() {
                return Ok(0);
            }
            match e.try_now(|| Some(e.q.push_slice(msgs)).filter(|&n| n > 0)) {
                Some(n) => Ok(n),
                None if e.gone(PresenceSource::Kernel) => Err(WaitError::Disconnected),
                None => Ok(0),
            }
        }, {
            if e.gone(PresenceSource::Mirror) {
                return Err(WaitError::Disconnected);
            }
            let mut n = 0;
            for m in msgs {
                match e.push(bytemuck::bytes_of(m)) {
                    Ok(true) => n += 1,
                    Ok(false) => break,
                    Err(()) => return Err(WaitError::Disconnected),
                }
            }
            if n == 0 && !msgs.is_empty() && e.gone(PresenceSource::Kernel) {
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
    /// The fast path of every receive, inlined into the blocking receives: one
    /// attempt, no clock read, no wait set-up. Whether a message went into `out`.
    #[inline(always)]
    pub(crate) fn take_fast(&self, out: &mut impl Take) -> bool {
        // The SPSC ring first, on its own: the hottest variant gets the shortest path.
        if let RecvEnd::Spsc(e) = self {
            return e.take_fast(out);
        }
        match self {
            RecvEnd::Mpmc(e) => e.take_fast(out),
            RecvEnd::Msgq(e) => !e.link.forked() && e.pop(out.buf()) == Ok(true),
            RecvEnd::Spsc(_) => unreachable!("handled above"),
        }
    }

    /// Receives without blocking. `Disconnected` only once the channel is empty and
    /// every sender is gone; a sender that published and left between our attempt and
    /// the presence check, or died holding a slot in front of other messages, still
    /// has its messages received first.
    pub(crate) fn try_take(&self, out: &mut impl Take) -> Result<(), TryError> {
        each!(self, RecvEnd, e => {
            // SAFETY: `pop_copy` lends a published payload of the element size.
            e.try_recv(|| e.q.pop_copy(|s| unsafe { out.take(s) }).then_some(()))
        }, {
            if e.link.forked() {
                return Err(TryError::Disconnected);
            }
            match e.pop(out.buf()) {
                Ok(true) => return Ok(()),
                Ok(false) if !e.gone(PresenceSource::Kernel) => return Err(TryError::NotNow),
                _ => {}
            }
            // A sender may have sent and left between our receive and the check.
            match e.pop(out.buf()) {
                Ok(true) => Ok(()),
                _ => Err(TryError::Disconnected),
            }
        })
    }

    /// Receives into `out`, blocking while the channel is empty until `deadline`.
    pub(crate) fn take_until(
        &self,
        out: &mut impl Take,
        deadline: Deadline,
    ) -> Result<(), WaitError> {
        each!(self, RecvEnd, e => {
            // SAFETY: as in `try_take`.
            e.wait(deadline, || e.q.pop_copy(|s| unsafe { out.take(s) }).then_some(()))
        }, {
            e.wait(deadline, || e.pop(out.buf()).map(|got| got.then_some(())))
        })
    }

    /// Zero-copy receive: waits (until `deadline`) for a message and lets `f` read it
    /// in place through a pointer to the element's bytes, then frees the slot. The
    /// message queue receives into a local message (`S`) and hands `f` that.
    pub(crate) fn take_in_place<R, S: Scratch>(
        &self,
        elem_size: usize,
        deadline: Deadline,
        f: impl FnOnce(*const u8) -> R,
    ) -> Result<R, WaitError> {
        each!(self, RecvEnd, e => {
            let mut f = Some(f);
            let mut attempt = || e.q.pop_ptr(|s| (f.take().expect("called once"))(s));
            // The fast path, inline: a waiting message needs no wait set-up.
            if !e.link.forked() {
                if let Some(r) = attempt() {
                    e.progressed();
                    return Ok(r);
                }
            }
            e.wait(deadline, attempt)
        }, {
            let mut local = S::zeroed(elem_size);
            e.wait(deadline, || e.pop(local.bytes_mut()).map(|got| got.then_some(())))?;
            Ok(f(local.bytes_mut().as_ptr()))
        })
    }
}

impl<T: Pod> RecvEnd<T> {
    /// [`take_fast`](Self::take_fast) of a typed message.
    #[inline(always)]
    pub(crate) fn recv_fast(&self) -> Option<T> {
        let mut v = MaybeUninit::<T>::uninit();
        // SAFETY: a successful receive wrote a whole T (Pod: any bytes are valid).
        self.take_fast(&mut v).then(|| unsafe { v.assume_init() })
    }

    /// [`try_take`](Self::try_take) of a typed message.
    pub(crate) fn try_recv(&self) -> Result<T, TryError> {
        let mut v = MaybeUninit::<T>::uninit();
        self.try_take(&mut v)?;
        // SAFETY: as in `recv_fast`.
        Ok(unsafe { v.assume_init() })
    }

    /// [`take_until`](Self::take_until) of a typed message.
    pub(crate) fn recv_until(&self, deadline: Deadline) -> Result<T, WaitError> {
        let mut v = MaybeUninit::<T>::uninit();
        self.take_until(&mut v, deadline)?;
        // SAFETY: as in `recv_fast`.
        Ok(unsafe { v.assume_init() })
    }

    /// [`take_in_place`](Self::take_in_place) with a typed closure, no deadline.
    pub(crate) fn recv_with<R>(&self, f: impl FnOnce(&T) -> R) -> Result<R, WaitError> {
        self.take_in_place::<R, Local<T>>(std::mem::size_of::<T>(), Deadline::Never, |p| {
            // SAFETY: a published slot's payload or the local message: valid and
            // aligned for T until `f` returns; T is Pod.
            f(unsafe { &*p.cast::<T>() })
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
                    if !e.pop(bytemuck::bytes_of_mut(&mut buf[n]))? {
                        break;
                    }
                    n += 1;
                }
                Ok::<usize, ()>(n)
            };
            let n = pop_all(buf).map_err(|()| WaitError::Disconnected)?;
            if n > 0 || buf.is_empty() || !e.gone(PresenceSource::Kernel) {
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
