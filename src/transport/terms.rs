//! The shared vocabulary of both transports: which side a handle is, how a wait or
//! an attempt ends, when a wait gives up, how long one sleep lasts.

use std::time::{Duration, Instant};

/// Which side of the channel a handle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A sender.
    Send,
    /// A receiver.
    Recv,
}

impl Side {
    /// The other side: whom this side's progress may wake.
    #[inline]
    pub fn other(self) -> Side {
        match self {
            Side::Send => Side::Recv,
            Side::Recv => Side::Send,
        }
    }
}

/// What a blocking wait ended with, other than success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitError {
    /// The deadline passed.
    Timeout,
    /// Every peer of the other side is gone (or the channel was removed).
    Disconnected,
}

/// What a non-blocking attempt ended with, other than success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryError {
    /// Nothing to do now: the channel is full (send) or empty (receive).
    NotNow,
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

/// The longest single sleep: blocked waits re-check peer presence this often, so a
/// killed peer is noticed within this time.
pub(crate) const SLICE: Duration = Duration::from_millis(100);

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
