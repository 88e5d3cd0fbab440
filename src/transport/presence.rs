//! Presence with `SEM_UNDO`: a live sender or receiver is a count the kernel gives
//! back when its process dies, whatever PID namespace it lived in; an SPSC role is a
//! semaphore taken the same way. Both transports register through here.

use crate::error::Error;
use crate::sys::{SemOp, SemSet};

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
        Err(e) if e.is_removed() => Err(Error::Removed),
        Err(e) => Err(e.into()),
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
