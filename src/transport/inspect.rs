//! Read-only inspection of channels: the one place that reads a channel's counters,
//! length, header and creator without being one of its senders or receivers. Used
//! by `Channel::stats`/`len` (an open channel) and by `admin` (any channel on the
//! host, found through `/proc/sysvipc`).
//!
//! Nothing here writes to a channel: segments are attached read-only, semaphore sets
//! are only read.

use std::mem::size_of;

use crate::options::{Flavor, Stats, Transport};
use crate::ring::layout::{Control, Header, RingKind, CONTROL_OFFSET, MAGIC, STATE_READY};
use crate::sync::Ordering;
use crate::sys::{self, Key, MsgQueue, SemSet, Shm};

use super::msgq::{self, MsgqShared};
use super::shm;

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

/// Messages in a ring now: `tail - head`, clamped to 0 when it exceeds the capacity
/// (the indices are untrusted).
pub(crate) fn ring_len(c: &Control, capacity: u64) -> u64 {
    let head = c.head.load(Ordering::Acquire);
    let tail = c.tail.load(Ordering::Acquire);
    let n = tail.wrapping_sub(head);
    if n > capacity {
        0
    } else {
        n
    }
}

/// A ring's counters: the control words, and the live counts from the kernel's
/// `SEM_UNDO` semaphores (0 when the set is gone or unreadable).
pub(crate) fn ring_stats(c: &Control, sems: Option<&SemSet>) -> Stats {
    let val = |n| sems.and_then(|s| s.get_val(n).ok()).unwrap_or(0) as u32;
    Stats {
        sent: c.tail.load(Ordering::Relaxed),
        received: c.head.load(Ordering::Relaxed),
        wakeups: c.wakeups.load(Ordering::Relaxed),
        sleeps: c.sleeps.load(Ordering::Relaxed),
        skipped: c.skipped.load(Ordering::Relaxed),
        senders: val(shm::SENDERS),
        receivers: val(shm::RECEIVERS),
    }
}

/// An open message-queue channel's counters: the live counts, and the frames this
/// process dropped (reported as `skipped`).
pub(crate) fn msgq_stats(m: &MsgqShared) -> Stats {
    let val = |n| m.sems.get_val(n).map(|v| v as u32).unwrap_or(0);
    Stats {
        skipped: m.dropped(),
        senders: val(msgq::S_SENDERS),
        receivers: val(msgq::S_RECEIVERS),
        ..Stats::default()
    }
}

/// Whether the creator recorded in a header still runs: the pid exists and, when a
/// start time was recorded, it is the same process (not a reused pid).
fn creator_alive(pid: i32, start: Option<u64>) -> bool {
    sys::pid_alive(pid)
        && start.map_or(true, |s| {
            sys::process_start_time(pid).is_some_and(|t| t == s)
        })
}

/// Reads a ring channel's header from segment `id`; `None` if it is not ours.
pub(crate) fn inspect_shm(id: i32) -> Option<ChannelInfo> {
    let seg = Shm::from_id(id);
    let st = seg.stat().ok()?;
    if st.size < (CONTROL_OFFSET + size_of::<Control>()) as u64 {
        return None;
    }
    let att = seg.attach(true).ok()?;
    // Count attachments now that ours is one of them (a count taken before attaching
    // could miss a process that attached meanwhile, and subtracting ours from it would
    // undercount).
    let nattch = seg.stat().map_or(st.nattch + 1, |s| s.nattch);
    // SAFETY: the mapping holds at least the header and control block (checked above),
    // page-aligned; both are atomics (valid for any bytes) and only loaded from, so the
    // read-only mapping is never written. `att` outlives both references.
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
    let stats = ring_stats(c, sem.as_ref());
    let pid = v.creator_pid as i32;
    Some(ChannelInfo {
        key: Key::from_raw(st.perm.key),
        transport: Transport::ShmRing,
        flavor: RingKind::from_raw(v.kind).map(Flavor::from),
        shm_id: Some(id),
        sem_id: sem.map(|s| s.id()),
        msg_id: None,
        elem_size: v.elem_size,
        fingerprint: v.fingerprint,
        capacity: v.limit,
        len: ring_len(c, v.capacity),
        senders: stats.senders,
        receivers: stats.receivers,
        // Our own read-only attachment is one of them.
        attached: nattch.saturating_sub(1),
        creator_pid: pid,
        creator_alive: creator_alive(pid, Some(v.creator_start)),
        ready: v.state == STATE_READY,
        stats,
    })
}

/// Reads a message-queue channel's header from semaphore set `id` (at `key`); `None`
/// if it is not ours.
pub(crate) fn inspect_sem(id: i32, key: i32) -> Option<ChannelInfo> {
    let set = SemSet::from_id(id).ok()?;
    // Only sets that carry the magic: an all-zero set of the same size is not
    // provably ours, and objects that are not ours are never touched.
    let h = msgq::read_header(&set).filter(|h| h.magic)?;
    let queue = MsgQueue::from_id(h.queue_id);
    let qst = queue.stat().ok();
    Some(ChannelInfo {
        key: Key::from_raw(key),
        transport: Transport::MessageQueue,
        flavor: RingKind::from_raw(h.kind).map(Flavor::from),
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
        creator_alive: creator_alive(h.creator_pid, None),
        ready: h.ready,
        stats: Stats {
            senders: h.senders,
            receivers: h.receivers,
            ..Stats::default()
        },
    })
}

/// Whether semaphore set rows of this size may be a message-queue channel's header.
pub(crate) fn may_be_msgq_set(nsems: i64) -> bool {
    nsems == i64::from(msgq::NSEMS)
}
