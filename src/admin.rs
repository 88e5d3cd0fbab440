//! Finding, inspecting and removing sysvring objects on the host: the library side
//! of `sysvring ls`, `stat`, `rm` and `gc` (our semantic `ipcs`/`ipcrm`).
//!
//! Objects are found through `/proc/sysvipc/{shm,sem}` and recognised by their
//! header: a segment whose first bytes carry the sysvring magic (a ring channel), or
//! a semaphore set at a key whose values carry it (a message-queue channel). Nothing
//! else is ever touched.

use std::fs;
use std::io;

use crate::channel::{Flavor, Stats, Transport};
use crate::ring::layout::{Control, Header, RingKind, CONTROL_OFFSET, MAGIC, STATE_READY};
use crate::sync::Ordering;
use crate::sys::{self, Key, MsgQueue, SemSet, Shm};
use crate::transport::{msgq, shm};

/// One sysvring channel found on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// The key it lives at.
    pub key: Key,
    /// Ring in shared memory, or message queue.
    pub transport: Transport,
    /// SPSC or MPMC (`None` when the header is not readable as either).
    pub flavor: Option<Flavor>,
    /// The segment (ring transport).
    pub shm_id: Option<i32>,
    /// The semaphore set.
    pub sem_id: Option<i32>,
    /// The queue (message-queue transport).
    pub msg_id: Option<i32>,
    /// Bytes per message.
    pub elem_size: u64,
    /// Type fingerprint.
    pub fingerprint: u64,
    /// Messages it holds at most.
    pub capacity: u64,
    /// Messages in it now.
    pub len: u64,
    /// Live senders (kernel SEM_UNDO count).
    pub senders: u32,
    /// Live receivers.
    pub receivers: u32,
    /// Processes attached to the segment (ring transport; 0 otherwise).
    pub attached: u64,
    /// The creator's pid (ring transport; 0 when unknown).
    pub creator_pid: i32,
    /// Whether the creator still runs (same pid and start time).
    pub creator_alive: bool,
    /// Whether the header was complete (`Ready`).
    pub ready: bool,
    /// Counters (ring transport; zero otherwise).
    pub stats: Stats,
}

impl ChannelInfo {
    /// Whether any live process still uses the channel: a registered sender or
    /// receiver, an attachment (ring), or a live creator.
    pub fn in_use(&self) -> bool {
        self.senders > 0 || self.receivers > 0 || self.attached > 0 || self.creator_alive
    }
}

/// Rows of a `/proc/sysvipc/*` file as (key, id, rest of the numeric columns).
fn proc_rows(name: &str) -> io::Result<Vec<Vec<i64>>> {
    let text = fs::read_to_string(format!("/proc/sysvipc/{name}"))?;
    Ok(text
        .lines()
        .skip(1)
        .map(|l| {
            l.split_whitespace()
                .filter_map(|w| w.parse::<i64>().ok())
                .collect::<Vec<_>>()
        })
        .filter(|r| r.len() >= 2)
        .collect())
}

fn flavor_of(kind: u32) -> Option<Flavor> {
    match RingKind::from_raw(kind)? {
        RingKind::Spsc => Some(Flavor::Spsc),
        RingKind::Mpmc => Some(Flavor::Mpmc),
    }
}

/// Reads a ring channel's header from segment `id`; `None` if it is not ours.
fn inspect_shm(id: i32) -> Option<ChannelInfo> {
    let seg = Shm::from_id(id);
    let st = seg.stat().ok()?;
    if st.size < (CONTROL_OFFSET + std::mem::size_of::<Control>()) as u64 {
        return None;
    }
    let att = seg.attach(true).ok()?;
    // Count attachments now that ours is one of them (a count taken before attaching
    // could miss a process that attached meanwhile, and subtracting ours from it would
    // undercount).
    let nattch = seg.stat().map_or(st.nattch + 1, |s| s.nattch);
    // SAFETY: the mapping holds at least the header and control block (checked above),
    // page-aligned; both are atomics (valid for any bytes) and only loaded from, so the
    // read-only mapping is never written.
    let (h, c) = unsafe {
        (
            &*att.as_ptr().cast::<Header>(),
            &*att.as_ptr().add(CONTROL_OFFSET).cast::<Control>(),
        )
    };
    let v = h.snapshot();
    if v.magic != MAGIC {
        return None;
    }
    let sem = SemSet::from_id(v.sem_id as i32).ok();
    let val = |n| sem.and_then(|s| s.get_val(n).ok()).unwrap_or(0) as u32;
    let head = c.head.load(Ordering::Acquire);
    let tail = c.tail.load(Ordering::Acquire);
    let len = tail.wrapping_sub(head);
    let pid = v.creator_pid as i32;
    let creator_alive =
        sys::pid_alive(pid) && sys::process_start_time(pid).is_some_and(|t| t == v.creator_start);
    Some(ChannelInfo {
        key: Key::from_raw(st.perm.key),
        transport: Transport::ShmRing,
        flavor: flavor_of(v.kind),
        shm_id: Some(id),
        sem_id: sem.map(|s| s.id()),
        msg_id: None,
        elem_size: v.elem_size,
        fingerprint: v.fingerprint,
        capacity: v.capacity,
        len: if len > v.capacity { 0 } else { len },
        senders: val(shm::SENDERS),
        receivers: val(shm::RECEIVERS),
        // Our own read-only attachment is one of them.
        attached: nattch.saturating_sub(1),
        creator_pid: pid,
        creator_alive,
        ready: v.state == STATE_READY,
        stats: Stats {
            sent: tail,
            received: head,
            wakeups: c.wakeups.load(Ordering::Relaxed),
            sleeps: c.sleeps.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            senders: val(shm::SENDERS),
            receivers: val(shm::RECEIVERS),
        },
    })
}

/// Reads a message-queue channel's header from semaphore set `id`.
fn inspect_sem(id: i32, key: i32) -> Option<ChannelInfo> {
    let set = SemSet::from_id(id).ok()?;
    // Only sets that carry the magic: an all-zero set of the same size is not
    // provably ours, and objects that are not ours are never touched.
    let h = msgq::read_header(&set).filter(|h| h.magic)?;
    let queue = MsgQueue::from_id(h.queue_id);
    let qst = queue.stat().ok();
    Some(ChannelInfo {
        key: Key::from_raw(key),
        transport: Transport::MessageQueue,
        flavor: flavor_of(h.kind),
        shm_id: None,
        sem_id: Some(id),
        msg_id: qst.map(|_| h.queue_id),
        elem_size: h.elem_size,
        fingerprint: h.fingerprint,
        capacity: h.capacity,
        len: qst.map_or(0, |s| s.qnum),
        senders: h.senders,
        receivers: h.receivers,
        attached: 0,
        creator_pid: h.creator_pid,
        creator_alive: sys::pid_alive(h.creator_pid),
        ready: h.ready,
        stats: Stats {
            senders: h.senders,
            receivers: h.receivers,
            ..Stats::default()
        },
    })
}

/// Every sysvring channel on the host (in this IPC namespace) that the caller may
/// read.
///
/// # Errors
/// When `/proc/sysvipc` cannot be read.
pub fn list() -> io::Result<Vec<ChannelInfo>> {
    let mut out = Vec::new();
    // /proc/sysvipc/shm: key shmid perms size ...
    for r in proc_rows("shm")? {
        if let Some(i) = inspect_shm(r[1] as i32) {
            out.push(i);
        }
    }
    // /proc/sysvipc/sem: key semid perms nsems ...
    for r in proc_rows("sem")? {
        if r[0] != 0 && r.get(3) == Some(&(msgq::NSEMS as i64)) {
            if let Some(i) = inspect_sem(r[1] as i32, r[0] as i32) {
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
