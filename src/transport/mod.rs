//! Transports: where a channel's messages live and how its sides sleep.
//!
//! - [`shm`]: a ring in a System V shared-memory segment; no syscall per message.
//! - [`msgq`]: a System V message queue; one `msgsnd`/`msgrcv` per message.
//!
//! Both implement [`Channel`] (setup, presence, removal); the per-message paths are
//! dispatched by `match` on `AnyChannel` and on the sender/receiver flavor enums,
//! never through `dyn`, so the ring's hot path has no virtual call.
//!
//! Contract every transport meets (checked by the conformance tests in `tests/`):
//! - FIFO per producer; every message is delivered once (see each transport's crash
//!   notes for the one documented exception);
//! - `try_*` never block; blocking calls stop burning CPU once their spin budget is
//!   spent, and notice a killed peer within one slice (100 ms);
//! - `Disconnected` only after a peer of the other side has connected and every such
//!   peer is gone (dropped or killed), and, for receivers, the channel is drained;
//! - a wrong element type is refused at `open` (`TypeMismatch`/`LayoutMismatch`).

pub mod msgq;
pub mod shm;

use std::time::{Duration, Instant};

use crate::channel::{Error, Transport};
use crate::sys::{Key, SemOp, SemSet, SysError};

/// Which side of the channel a handle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A sender.
    Send,
    /// A receiver.
    Recv,
}

/// What a blocking wait ended with, other than success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitError {
    /// The deadline passed.
    Timeout,
    /// Every peer of the other side is gone (or the channel was removed).
    Disconnected,
}

/// When a blocking wait gives up. A relative timeout is turned into an instant only
/// when the wait first reads the clock, after its first polls: a wait that succeeds
/// while spinning never reads the clock at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// Never: wait until success or disconnection.
    Never,
    /// At this instant.
    At(Instant),
    /// This long after the wait first reads the clock.
    After(Duration),
}

impl Deadline {
    /// The instant, fixing a relative deadline against `now` on first use (a timeout
    /// too large to represent never expires).
    #[inline]
    pub fn resolve(&mut self, now: Instant) -> Option<Instant> {
        match *self {
            Deadline::Never => None,
            Deadline::At(t) => Some(t),
            Deadline::After(d) => {
                *self = now.checked_add(d).map_or(Deadline::Never, Deadline::At);
                self.resolve(now)
            }
        }
    }
}

/// How long a blocked side spins before it sleeps in the kernel.
///
/// Spinning on the ring polls once per CPU spin hint (a message is seen within one
/// poll of its arrival), reads the clock every 64 polls (the budget is checked then,
/// so the shortest spin is 64 polls, a few microseconds) and, after a few thousand
/// polls, also yields the CPU now and then in case the peer shares it. A full ring's
/// sender polls less often (the receiver has plenty to read meanwhile). The
/// message-queue transport polls with a system call each time, with backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spin {
    /// Never spin: register and sleep at once (least CPU, highest latency).
    Never,
    /// Spin for up to this long, then sleep.
    For(Duration),
    /// Never sleep: spin until done. Lowest latency, one busy core per blocked side.
    /// Peer presence and deadlines are still checked.
    Forever,
}

impl Default for Spin {
    /// Spin for 50 µs: about twice a kernel wake-up on common hardware, so a busy
    /// channel stays off the kernel while an idle one costs ~0 CPU.
    fn default() -> Spin {
        Spin::For(Duration::from_micros(50))
    }
}

/// Maps a failed call to its `Error` variant, naming `call` in `Os`.
pub(crate) fn os(call: &'static str) -> impl Fn(SysError) -> Error {
    move |e| match Error::from(e) {
        Error::Os(_, io) => Error::Os(call, io),
        other => other,
    }
}

/// Registers one sender or receiver in a channel's set: the live `count` (and, when
/// `exclusive`, the SPSC `role`) taken with `SEM_UNDO` in one atomic semop, so the
/// kernel gives both back if the process dies. Both transports use it.
pub(crate) fn register(sems: &SemSet, count: u16, role: u16, exclusive: bool) -> Result<(), Error> {
    let add = SemOp::new(count, 1).undo();
    let take = SemOp::new(role, -1).nowait().undo();
    let r = if exclusive {
        sems.op(&[take, add])
    } else {
        sems.op(&[add])
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.is_would_block() => Err(Error::RoleTaken),
        Err(e) => Err(os("semop")(e)),
    }
}

/// Undoes [`register`] (errors ignored: a removed set has nothing left to undo).
pub(crate) fn unregister(sems: &SemSet, count: u16, role: u16, exclusive: bool) {
    let sub = SemOp::new(count, -1).nowait().undo();
    let give = SemOp::new(role, 1).undo();
    let _ = if exclusive {
        sems.op(&[sub, give])
    } else {
        sems.op(&[sub])
    };
}

/// The longest single sleep: blocked waits re-check peer presence this often, so a
/// killed peer is noticed within this time.
pub(crate) const SLICE: Duration = Duration::from_millis(100);

/// What every transport provides besides moving messages: presence, roles,
/// capacity, removal.
pub trait Channel: Send + Sync + std::fmt::Debug {
    /// Which transport this is.
    fn transport(&self) -> Transport;
    /// The key the channel lives at.
    fn key(&self) -> Key;
    /// Registers a sender or receiver in this process (`SEM_UNDO`); `exclusive`
    /// takes the SPSC role too.
    ///
    /// # Errors
    /// `RoleTaken`, or `Os` when the channel was removed.
    fn connect(&self, side: Side, exclusive: bool) -> Result<(), Error>;
    /// Undoes `connect`.
    fn disconnect(&self, side: Side, exclusive: bool);
    /// Whether a peer of the other side than `side` may still act.
    fn peers_alive(&self, side: Side) -> bool;
    /// Messages the channel holds at most.
    fn capacity(&self) -> u64;
    /// Messages in the channel now.
    fn len(&self) -> u64;
    /// Whether the channel is empty now.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether this process removes the objects on drop.
    fn is_owner(&self) -> bool;
    /// Gives up ownership.
    fn disown(&self);
    /// Removes the kernel objects now.
    ///
    /// # Errors
    /// `PermissionDenied` or `Os`.
    fn remove(&self) -> Result<(), Error>;
}

/// One of the transports, dispatched by `match`.
#[derive(Debug)]
pub(crate) enum AnyChannel {
    /// A ring in shared memory.
    Shm(shm::ShmShared),
    /// A message queue.
    Msgq(msgq::MsgqShared),
}

macro_rules! dispatch {
    ($self:ident, $c:ident => $e:expr) => {
        match $self {
            AnyChannel::Shm($c) => $e,
            AnyChannel::Msgq($c) => $e,
        }
    };
}

impl Channel for AnyChannel {
    fn transport(&self) -> Transport {
        match self {
            AnyChannel::Shm(_) => Transport::ShmRing,
            AnyChannel::Msgq(_) => Transport::MessageQueue,
        }
    }
    fn key(&self) -> Key {
        dispatch!(self, c => c.key)
    }
    fn connect(&self, side: Side, exclusive: bool) -> Result<(), Error> {
        dispatch!(self, c => c.connect(side, exclusive))
    }
    fn disconnect(&self, side: Side, exclusive: bool) {
        dispatch!(self, c => c.disconnect(side, exclusive))
    }
    fn peers_alive(&self, side: Side) -> bool {
        dispatch!(self, c => c.peers_alive(side))
    }
    fn capacity(&self) -> u64 {
        match self {
            AnyChannel::Shm(c) => c.ring.geometry().capacity,
            AnyChannel::Msgq(c) => c.capacity(),
        }
    }
    fn len(&self) -> u64 {
        dispatch!(self, c => c.len())
    }
    fn is_owner(&self) -> bool {
        dispatch!(self, c => c.is_owner())
    }
    fn disown(&self) {
        dispatch!(self, c => c.disown())
    }
    fn remove(&self) -> Result<(), Error> {
        dispatch!(self, c => c.remove())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_deadline_is_fixed_at_its_first_use() {
        let t0 = Instant::now();
        let mut d = Deadline::After(Duration::from_millis(5));
        assert_eq!(d.resolve(t0), Some(t0 + Duration::from_millis(5)));
        // Later reads of the clock do not move it.
        let later = t0 + Duration::from_millis(3);
        assert_eq!(d.resolve(later), Some(t0 + Duration::from_millis(5)));
        assert_eq!(d, Deadline::At(t0 + Duration::from_millis(5)));
        assert_eq!(Deadline::Never.resolve(t0), None);
        assert_eq!(Deadline::At(t0).resolve(later), Some(t0));
        // A timeout too large for an Instant never expires.
        let mut huge = Deadline::After(Duration::MAX);
        assert_eq!(huge.resolve(t0), None);
        assert_eq!(huge, Deadline::Never);
    }
}
