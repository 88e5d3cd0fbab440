//! Finding, inspecting and removing sysvring objects on the host: the library side
//! of `sysvring ls`, `stat`, `rm` and `gc` (our semantic `ipcs`/`ipcrm`).
//!
//! Objects are found through `/proc/sysvipc/{shm,sem}`. A queue channel is
//! recognised by its semaphore set (the header), whatever its key, so channels made
//! with `Key::private()` are found too. A segment is attached (read-only) only when
//! the kernel's tables already show it may be a ring: a size a ring layout can have
//! and a private semaphore set of a ring's size made with it by the same user;
//! every other segment is not even attached. What attaching read-only still changes
//! is the segment's last-attach pid and attach/detach times.
//!
//! A candidate is a channel only when it passes the checks `open` makes: magic,
//! layout version, a complete header consistent with the segment's size, and a
//! semaphore set (queue) that its creator made, of the right size, private,
//! carrying values such a set holds, not younger than the header naming it, and
//! named by no other header. A candidate that fails is a [`Refused`], with the
//! reason; [`remove`] and [`gc`] check a channel again just before removing it and
//! never remove anything else. What a channel shows is read by the transport's
//! inspection (the same code `Channel::stats` uses); this module finds, filters and
//! removes.

use std::io;

use crate::sys::{self, MsgQueue, SemSet, Shm};
use crate::transport::inspect;
pub use crate::transport::inspect::{ChannelInfo, ClaimerInfo, Refused};

/// What [`scan`] found: the channels, and the candidates it could not prove are
/// channels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Every channel that passed every check.
    pub channels: Vec<ChannelInfo>,
    /// Objects that carry a sysvring header but failed a check: never removed.
    pub refused: Vec<Refused>,
}

/// Every sysvring channel on the host (in this IPC namespace) that the caller may
/// read, and every candidate that failed a check, with the reason.
///
/// # Errors
/// When `/proc/sysvipc` cannot be read.
pub fn scan() -> io::Result<Scan> {
    let (channels, refused) = inspect::scan()?;
    Ok(Scan { channels, refused })
}

/// Every sysvring channel on the host (in this IPC namespace) that the caller may
/// read ([`scan`] without the refused candidates).
///
/// # Errors
/// When `/proc/sysvipc` cannot be read.
pub fn list() -> io::Result<Vec<ChannelInfo>> {
    Ok(scan()?.channels)
}

/// Checks `info` again, now: the object holding its header must still pass every
/// check and name the same objects at the same key.
fn recheck(info: &ChannelInfo) -> io::Result<ChannelInfo> {
    let s = scan()?;
    let same = |i: &ChannelInfo| {
        i.key == info.key
            && i.transport == info.transport
            && (i.shm_id, i.sem_id, i.msg_id) == (info.shm_id, info.sem_id, info.msg_id)
    };
    if let Some(i) = s.channels.into_iter().find(same) {
        return Ok(i);
    }
    let holder = match info.shm_id {
        Some(id) => (sys::IpcKind::Shm, id),
        None => (sys::IpcKind::Sem, info.sem_id.unwrap_or(-1)),
    };
    let why = s
        .refused
        .iter()
        .find(|r| (r.kind, r.id) == holder)
        .map_or_else(
            || "it is no longer there as it was listed".to_string(),
            |r| r.reason.clone(),
        );
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("channel {} was not removed: {why}", info.key),
    ))
}

/// Removes a channel's segment, semaphore set and queue, after checking again that
/// they still are that channel's (see the module documentation).
///
/// # Errors
/// `InvalidData` naming the reason when the objects no longer pass the checks
/// (nothing is removed); `Other` naming the users when live users remain and `force`
/// is false (`force` never overrides the checks); the first OS error otherwise.
pub fn remove(info: &ChannelInfo, force: bool) -> io::Result<()> {
    let info = recheck(info)?;
    if !force && (info.senders > 0 || info.receivers > 0 || info.attached > 0) {
        return Err(io::Error::other(format!(
            "channel {} is in use ({} senders, {} receivers, {} attached); use --force",
            info.key, info.senders, info.receivers, info.attached
        )));
    }
    let mut first: Option<io::Error> = None;
    let mut keep = |r: sys::Result<()>| {
        if let Err(e) = r {
            if !e.is_removed() && first.is_none() {
                first = Some(e.into());
            }
        }
    };
    if let Some(id) = info.shm_id {
        keep(Shm::from_id(id).remove());
    }
    if let Some(id) = info.msg_id {
        keep(MsgQueue::from_id(id).remove());
    }
    if let Some(id) = info.sem_id {
        if let Ok(s) = SemSet::from_id(id) {
            keep(s.remove());
        }
    }
    first.map_or(Ok(()), Err)
}

/// What [`gc`] did (or, in a dry run, would do).
#[derive(Debug, Default)]
pub struct GcReport {
    /// Removed (in a dry run: to be removed): unused, and empty unless `force`.
    pub removed: Vec<ChannelInfo>,
    /// Unused but still holding messages, kept because `force` was not given.
    pub kept: Vec<ChannelInfo>,
    /// Unused, but removing failed: the channel and the reason.
    pub failed: Vec<(ChannelInfo, io::Error)>,
    /// Candidates that are not provably channels: never removed.
    pub refused: Vec<Refused>,
}

/// Removes every sysvring channel that no live process uses (see
/// [`ChannelInfo::in_use`]) and that holds no message; with `force`, also unused
/// channels that still hold messages (never channels in use, never a [`Refused`]
/// candidate). With `dry_run`, removes nothing and reports what it would remove.
///
/// # Errors
/// When `/proc/sysvipc` cannot be read. Failures to remove one channel are in
/// [`GcReport::failed`].
pub fn gc(dry_run: bool, force: bool) -> io::Result<GcReport> {
    let s = scan()?;
    let mut out = GcReport {
        refused: s.refused,
        ..GcReport::default()
    };
    for i in s.channels.into_iter().filter(|i| !i.in_use()) {
        if i.len > 0 && !force {
            out.kept.push(i);
        } else if dry_run {
            out.removed.push(i);
        } else {
            match remove(&i, false) {
                Ok(()) => out.removed.push(i),
                Err(e) => out.failed.push((i, e)),
            }
        }
    }
    Ok(out)
}
