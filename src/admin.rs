//! Finding, inspecting and removing sysvring objects on the host: the library side
//! of `sysvring ls`, `stat`, `rm` and `gc` (our semantic `ipcs`/`ipcrm`).
//!
//! Objects are found through `/proc/sysvipc/{shm,sem}` and recognised by their
//! header: a segment whose first bytes carry the sysvring magic (a ring channel), or
//! a semaphore set at a key whose values carry it (a message-queue channel). Nothing
//! else is ever touched. What a channel shows is read by the transport's inspection
//! (the same code `Channel::stats` uses); this module finds, filters and removes.

use std::io;

use crate::sys::{self, ipc_entries, IpcKind, MsgQueue, SemSet, Shm};
use crate::transport::inspect;
pub use crate::transport::inspect::ChannelInfo;

/// Every sysvring channel on the host (in this IPC namespace) that the caller may
/// read.
///
/// # Errors
/// When `/proc/sysvipc` cannot be read.
pub fn list() -> io::Result<Vec<ChannelInfo>> {
    let mut out = Vec::new();
    for r in ipc_entries(IpcKind::Shm)? {
        if let Some(i) = inspect::inspect_shm(r.id) {
            out.push(i);
        }
    }
    // /proc/sysvipc/sem: key semid perms nsems ...
    for r in ipc_entries(IpcKind::Sem)? {
        if r.key != 0
            && r.columns
                .get(3)
                .is_some_and(|&n| inspect::may_be_msgq_set(n))
        {
            if let Some(i) = inspect::inspect_sem(r.id, r.key) {
                out.push(i);
            }
        }
    }
    Ok(out)
}

/// Finds one channel by key (`0x…` hex or decimal) or by any of its ids.
///
/// # Errors
/// When `/proc/sysvipc` cannot be read.
pub fn find(spec: &str) -> io::Result<Option<ChannelInfo>> {
    let n = if let Some(hex) = spec.strip_prefix("0x").or_else(|| spec.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok().map(|v| v as i64)
    } else {
        spec.parse::<i64>().ok()
    };
    let Some(n) = n else {
        return Ok(None);
    };
    // Keys print as unsigned hex; accept them signed or unsigned.
    let key = n as u32 as i32;
    Ok(list()?
        .into_iter()
        .find(|i| i.key.raw() == key || [i.shm_id, i.sem_id, i.msg_id].contains(&Some(key))))
}

/// Removes a channel's segment, semaphore set and queue.
///
/// # Errors
/// An error of kind `Other` naming the users when live users remain and `force` is
/// false; the first OS error otherwise.
pub fn remove(info: &ChannelInfo, force: bool) -> io::Result<()> {
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

/// Removes every sysvring channel that no live process uses (see
/// [`ChannelInfo::in_use`]); with `dry_run`, only lists them. Returns what was (or
/// would be) removed.
///
/// # Errors
/// When `/proc/sysvipc` cannot be read. Failures to remove one object are skipped.
pub fn gc(dry_run: bool) -> io::Result<Vec<ChannelInfo>> {
    let mut out = Vec::new();
    for i in list()? {
        if !i.in_use() && (dry_run || remove(&i, false).is_ok()) {
            out.push(i);
        }
    }
    Ok(out)
}
