//! Waiting on a message queue: the queue blocks nothing here; a blocked side polls
//! with `IPC_NOWAIT`, spinning for its spin budget, then sleeping between polls with
//! a bounded backoff, and looks at peer presence after every failed poll (the
//! endpoint's rule, `Link::gone`: the kernel at most every 10 ms).

use std::time::{Duration, Instant};

use crate::options::Spin;
use crate::transport::terms::{Deadline, WaitError};

use super::objects::MsgqObjects;

impl MsgqObjects {
    /// Polls `attempt` until it succeeds, the deadline passes or the other side is
    /// `gone` (asked after every failed poll; cheap: the endpoint asks the kernel at
    /// most every 10 ms): spin per `spin`, then sleep between polls with a bounded
    /// backoff.
    pub(crate) fn wait<R>(
        &self,
        mut deadline: Deadline,
        spin: Spin,
        mut gone: impl FnMut() -> bool,
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
        loop {
            match attempt() {
                Ok(Some(r)) => return Ok(r),
                Ok(None) => {}
                Err(()) => return Err(WaitError::Disconnected),
            }
            if gone() {
                // A peer may have sent and left between our poll and the check.
                return match attempt() {
                    Ok(Some(r)) => Ok(r),
                    _ => Err(WaitError::Disconnected),
                };
            }
            let now = Instant::now();
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
