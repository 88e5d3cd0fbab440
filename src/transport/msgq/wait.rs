//! Waiting on a message queue: the queue blocks nothing here; a blocked side polls
//! with `IPC_NOWAIT`, spinning for its spin budget, then sleeping between polls with
//! a bounded backoff and re-reading peer presence every slice.

use std::time::{Duration, Instant};

use crate::options::Spin;
use crate::transport::terms::{Deadline, Side, WaitError, SLICE};

use super::objects::MsgqObjects;

impl MsgqObjects {
    /// Polls `attempt` until it succeeds, the deadline passes or the other side is
    /// gone: spin per `spin`, then sleep between polls with a bounded backoff.
    pub(crate) fn wait<R>(
        &self,
        side: Side,
        mut deadline: Deadline,
        spin: Spin,
        mut attempt: impl FnMut() -> Result<Option<R>, ()>,
    ) -> Result<R, WaitError> {
        let start = Instant::now();
        let deadline = deadline.resolve(start);
        let spin_for = match spin {
            Spin::Never => Duration::ZERO,
            Spin::For(d) => d,
            Spin::Forever => Duration::MAX,
        };
        let backoff = crossbeam_utils::Backoff::new();
        let mut nap = Duration::from_micros(20);
        let mut next_check = start;
        loop {
            match attempt() {
                Ok(Some(r)) => return Ok(r),
                Ok(None) => {}
                Err(()) => return Err(WaitError::Disconnected),
            }
            let now = Instant::now();
            if now >= next_check {
                next_check = now + SLICE;
                if !self.peers_alive(side) {
                    return match attempt() {
                        Ok(Some(r)) => Ok(r),
                        _ => Err(WaitError::Disconnected),
                    };
                }
            }
            if let Some(d) = deadline {
                if now >= d {
                    return Err(WaitError::Timeout);
                }
            }
            if now.duration_since(start) < spin_for {
                backoff.snooze();
            } else {
                let mut t = nap;
                if let Some(d) = deadline {
                    t = t.min(d.saturating_duration_since(now));
                }
                std::thread::sleep(t);
                nap = (nap * 2).min(Duration::from_millis(2));
            }
        }
    }
}
