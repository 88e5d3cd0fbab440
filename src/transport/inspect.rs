//! Read-only inspection of channels: the one place that reads a channel's counters,
//! length, header and creator without being one of its senders or receivers. Used
//! by `Channel::stats`/`len` (an open channel) and by `admin` (any channel on the
//! host, found through `/proc/sysvipc`).
//!
//! Nothing here writes to a channel: segments are attached read-only, semaphore sets
//! and queues are only read (`IPC_STAT`, `GETVAL`/`GETALL`). Only segments that
//! `/proc/sysvipc` already shows may be rings are attached at all (the rule is at
//! [`scan`]). What attaching read-only still changes is the segment's `shm_lpid`,
//! `shm_atime` (at attach) and `shm_dtime` (at detach): the kernel records every
//! attachment, even one that only reads.

use std::io;
use std::ptr::NonNull;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::options::{Flavor, Stats, Transport};
use crate::ring::layout::{
    ring_size_plausible, Control, Header, CONTROL_OFFSET, KIND_FRAMES, MAGIC, STATE_READY, VERSION,
};
use crate::ring::{claimers, RawRing};
use crate::sync::Ordering;
use crate::sys::{self, ipc_entries, IpcEntry, IpcKind, Key, MsgQueue, SemSet, Shm};

use super::msgq::{self, MsgqObjects};
use super::setup::Expected;
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
    /// A byte-frame channel (`FrameBuilder`): then `elem_size` is its `max_len`,
    /// `capacity` its ring's bytes (on the message queue its byte budget), `len` the
    /// frames in it, and `stats` count frames.
    pub frames: bool,
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
    /// Processes that hold the channel open, as the kernel counts them: the
    /// segment's attach count (ring; every handle keeps it mapped) or the queue
    /// channel's `SEM_UNDO` holder count (message queue). Inspection's own attachment
    /// is not counted.
    pub attached: u64,
    /// The creator's pid, as its header records it.
    pub creator_pid: i32,
    /// The uid that created the channel's objects (they all have this creator).
    pub creator_uid: u32,
    /// Whether the creator still runs (same pid and start time): a diagnostic, and
    /// meaningless for a creator in another PID namespace (its pid is not ours).
    pub creator_alive: bool,
    /// Whether the header was complete (`Ready`): always true for a channel that
    /// inspection shows (an incomplete one is [`Refused`]).
    pub ready: bool,
    /// The latest time any of the channel's objects was used or changed, from their
    /// `IPC_STAT` times (segment attach/detach/change, semaphore operation/change,
    /// queue send/receive/change); `None` when the kernel recorded none. A segment's
    /// attach and detach times include inspections such as `sysvring ls` (see the
    /// module documentation).
    pub last_activity: Option<SystemTime>,
    /// Counters (ring transport; zero otherwise).
    pub stats: Stats,
    /// MPMC ring: the claimer-table entries ever taken, with what the kernel says of
    /// their holders (empty otherwise).
    pub claimers: Vec<ClaimerInfo>,
}

/// One entry of an MPMC ring's claimer table, as `sysvring stat` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimerInfo {
    /// The tag its holder's slot claims carry (1-based).
    pub tag: u16,
    /// Whether a live process holds the entry: its `SEM_UNDO` liveness semaphore is
    /// up (kernel-held, valid in any PID namespace).
    pub held: bool,
    /// The pid the last holder recorded, 0 when it gave the entry back cleanly: in
    /// the holder's own PID namespace, so only a diagnostic.
    pub pid: u32,
    /// The inode of the last holder's PID namespace (0 if unknown).
    pub pid_ns: u64,
    /// How many times the entry was taken.
    pub generation: u64,
}

impl ChannelInfo {
    /// Whether any live process still uses the channel, as the kernel proves it in any
    /// PID namespace: a registered sender or receiver (`SEM_UNDO` counts) or a process
    /// that holds it open ([`attached`](Self::attached)). Never a pid.
    pub fn in_use(&self) -> bool {
        self.senders > 0 || self.receivers > 0 || self.attached > 0
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

/// An open message-queue channel's counters: the live counts, and the messages this
/// process sent and received and the frames it dropped (reported as `skipped`).
pub(crate) fn msgq_stats(m: &MsgqObjects) -> Stats {
    let val = |n| m.sems.get_val(n).map(|v| v as u32).unwrap_or(0);
    Stats {
        sent: m.sent(),
        received: m.received(),
        skipped: m.dropped(),
        senders: val(msgq::S_SENDERS),
        receivers: val(msgq::S_RECEIVERS),
        ..Stats::default()
    }
}

/// The entries of an MPMC claimer table ever taken, and whether the kernel says a
/// live process holds each (its liveness semaphore).
fn claimer_table(ring: &RawRing, set: &SemSet) -> Vec<ClaimerInfo> {
    let vals = set.get_all().unwrap_or_default();
    let n = set.len().saturating_sub(shm::LIVENESS);
    (1..=n)
        .filter_map(|tag| {
            let e = claimers::entry(ring, tag)?;
            let held = vals
                .get(usize::from(shm::LIVENESS + tag - 1))
                .is_some_and(|&v| v > 0);
            (e.generation > 0 || held).then(|| ClaimerInfo {
                tag,
                held,
                pid: e.who.pid(),
                pid_ns: e.who.pid_ns,
                generation: e.generation,
            })
        })
        .collect()
}

/// Whether the creator recorded in a header still runs: the pid exists and, when a
/// start time was recorded, it is the same process (not a reused pid).
fn creator_alive(pid: i32, start: Option<u64>) -> bool {
    sys::pid_alive(pid)
        && start.map_or(true, |s| {
            sys::process_start_time(pid).is_some_and(|t| t == s)
        })
}

// ---- finding channels on the host ---------------------------------------------------
//
// The rule (what `sysvring ls`, `stat`, `rm` and `gc` see):
//
// - Semaphore sets are read freely (`IPC_STAT`, `GETALL` change nothing in them). A
//   set of a queue channel's size whose values carry the magic is a candidate,
//   whatever its key (`Key::private()` channels included).
// - A segment is attached (read-only) only when `/proc/sysvipc` alone says it may be
//   a ring: its size is one a ring layout can have (at least the smallest ring, a
//   multiple of 8) and a private semaphore set of a ring's size, made by the same
//   user, was made within `MADE_TOGETHER` after it (`create` makes the segment, then
//   its set). Every other segment is left alone: not even attached.
// - A candidate is shown as a channel only when it passes the checks `open` makes:
//   magic, layout version, a complete (`Ready`) header consistent with the
//   segment's size; the set (queue) it names exists, was made by the segment's
//   (set's) creator, is private, has the right size, carries values such a set can
//   hold, and is not younger than the object that names it (an id reused after
//   `ipcrm`); no two channels name the same object. A candidate that fails is
//   reported as [`Refused`], with the reason, and never removed.

/// Columns of `/proc/sysvipc/shm`: `key shmid perms size cpid lpid nattch uid gid cuid
/// cgid atime dtime ctime ...`.
const SHM_SIZE: usize = 3;
const SHM_CUID: usize = 9;
const SHM_CTIME: usize = 13;
/// Columns of `/proc/sysvipc/sem`: `key semid perms nsems uid gid cuid cgid otime
/// ctime`.
const SEM_NSEMS: usize = 3;
const SEM_CUID: usize = 6;
const SEM_CTIME: usize = 9;

/// How long after the object that names it (segment, queue channel's set) the named
/// object (set, queue) may have been changed last: `create` makes both within
/// moments, and sysvring never changes a ring's set or a queue afterwards. An object
/// made later carries an id that was reused after the channel's own was removed.
const MADE_TOGETHER: Duration = Duration::from_secs(10);

/// A candidate that carries a sysvring header but is not provably a channel: shown by
/// `ls` with the reason, never removed by `rm` or `gc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// What holds the header: a segment ([`IpcKind::Shm`]) or a queue channel's
    /// semaphore set ([`IpcKind::Sem`]).
    pub kind: IpcKind,
    /// Its id.
    pub id: i32,
    /// Its key.
    pub key: Key,
    /// Its creator's uid.
    pub creator_uid: u32,
    /// Why it is not shown as a channel.
    pub reason: String,
}

/// What inspection concluded about one object.
pub(crate) enum Verdict {
    /// Every check passed.
    Channel(ChannelInfo),
    /// It carries a sysvring header, but a check failed: the reason.
    Refused(u32, String),
    /// Not a sysvring object (no magic), or ruled out without attaching it.
    Foreign,
}

/// The kernel's tables, read once per scan.
#[derive(Debug)]
pub(crate) struct Tables {
    shm: Vec<IpcEntry>,
    sem: Vec<IpcEntry>,
}

fn col(e: &IpcEntry, i: usize) -> Option<i64> {
    e.columns.get(i).copied()
}

fn secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Whether `named` (a time of the object a header names) is within `MADE_TOGETHER`
/// of `namer` (the object holding the header), or earlier.
fn made_together(named: i64, namer: i64) -> bool {
    named <= namer.saturating_add(MADE_TOGETHER.as_secs() as i64)
}

impl Tables {
    /// Reads `/proc/sysvipc/{shm,sem}`.
    pub(crate) fn read() -> io::Result<Tables> {
        Ok(Tables {
            shm: ipc_entries(IpcKind::Shm)?,
            sem: ipc_entries(IpcKind::Sem)?,
        })
    }
}

/// Whether the segment of row `row` may be a ring, decided from `/proc/sysvipc`
/// alone (see the rule above): only such segments are ever attached.
pub(crate) fn ring_candidate(t: &Tables, row: &IpcEntry) -> bool {
    let (Some(size), Some(cuid), Some(ctime)) =
        (col(row, SHM_SIZE), col(row, SHM_CUID), col(row, SHM_CTIME))
    else {
        return false;
    };
    ring_size_plausible(size.max(0) as u64)
        && t.sem.iter().any(|s| {
            s.key == 0
                && col(s, SEM_NSEMS)
                    .and_then(|n| u16::try_from(n).ok())
                    .is_some_and(shm::ring_set_size)
                && col(s, SEM_CUID) == Some(cuid)
                && col(s, SEM_CTIME).is_some_and(|c| c >= ctime && made_together(c, ctime))
        })
}

/// The latest of these times (`None` when none was ever set).
fn latest(times: &[SystemTime]) -> Option<SystemTime> {
    times.iter().copied().filter(|&t| t > UNIX_EPOCH).max()
}

/// Inspects segment `id` (a [`ring_candidate`]): attaches it read-only and checks it
/// as `open` does.
pub(crate) fn inspect_shm(id: i32) -> Verdict {
    let seg = Shm::from_id(id);
    let Ok(st) = seg.stat() else {
        return Verdict::Foreign;
    };
    let cuid = st.perm.cuid;
    if !ring_size_plausible(st.size) {
        return Verdict::Foreign;
    }
    let Ok(att) = seg.attach(true) else {
        return Verdict::Foreign;
    };
    // Count attachments now that ours is one of them (a count taken before attaching
    // could miss a process that attached meanwhile, and subtracting ours from it would
    // undercount).
    let nattch = seg.stat().map_or(st.nattch + 1, |s| s.nattch);
    // SAFETY: the mapping holds at least the smallest ring (checked above), so the
    // header and control block, page-aligned; both are atomics (valid for any bytes)
    // and only loaded from, so the read-only mapping is never written. `att`
    // outlives both references.
    let (h, c) = unsafe {
        (
            &*att.as_ptr().cast::<Header>(),
            &*att.as_ptr().add(CONTROL_OFFSET).cast::<Control>(),
        )
    };
    let v = h.snapshot();
    if v.magic != MAGIC {
        return Verdict::Foreign;
    }
    let refuse = |r: String| Verdict::Refused(cuid, r);
    let pid = v.creator_pid as i32;
    let alive = creator_alive(pid, Some(v.creator_start));
    if v.state != STATE_READY {
        return refuse(format!(
            "its header is incomplete (creator pid {pid} {})",
            if alive { "still initialising" } else { "gone" }
        ));
    }
    let expect = Expected {
        kind: None,
        capacity: None,
        elem_size: usize::try_from(v.elem_size).unwrap_or(usize::MAX),
        elem_align: usize::try_from(v.elem_align).unwrap_or(usize::MAX),
        fingerprint: v.fingerprint,
        type_name: String::new(),
        trusted: Vec::new(),
    };
    let frames = v.kind == KIND_FRAMES;
    let checked = if frames {
        shm::validate_frames(&v, &shm::FrameExpect::default(), st.size)
    } else {
        shm::validate(&v, &expect, st.size)
    };
    let geo = match checked {
        Ok(g) => g,
        Err(e) => return refuse(format!("its header is not a valid ring header ({e})")),
    };
    let sem_id = v.sem_id as i32;
    let set = match SemSet::from_id(sem_id) {
        Ok(s) => s,
        Err(e) => {
            return refuse(format!(
                "the semaphore set it names ({sem_id}) is gone or unreadable: {e}"
            ))
        }
    };
    let Ok(sst) = set.stat() else {
        return refuse(format!(
            "the semaphore set it names ({sem_id}) is unreadable"
        ));
    };
    if sst.perm.cuid != cuid {
        return refuse(format!(
            "it names semaphore set {sem_id}, created by uid {}, but the segment was created \
             by uid {cuid}: not its set",
            sst.perm.cuid
        ));
    }
    let sizes = shm::set_sizes(geo.kind);
    if !sizes.contains(&set.len()) {
        return refuse(format!(
            "it names semaphore set {sem_id} of {} semaphores, a {:?} ring's set has {}..={}",
            set.len(),
            geo.kind,
            sizes.start(),
            sizes.end()
        ));
    }
    if sst.perm.key != 0 {
        return refuse(format!(
            "it names semaphore set {sem_id} at key {}, a ring's set is private",
            Key::from_raw(sst.perm.key)
        ));
    }
    let roles_ok = set.get_all().is_ok_and(|vals| {
        vals.get(usize::from(shm::SENDER_ROLE))
            .is_some_and(|&x| x <= 1)
            && vals
                .get(usize::from(shm::RECEIVER_ROLE))
                .is_some_and(|&x| x <= 1)
    });
    if !roles_ok {
        return refuse(format!(
            "it names semaphore set {sem_id}, whose values no ring's set holds"
        ));
    }
    if !made_together(secs(sst.ctime), secs(st.ctime)) {
        return refuse(format!(
            "it names semaphore set {sem_id}, made after the segment: the id of its own set \
             was reused"
        ));
    }
    let mut stats = ring_stats(c, Some(&set));
    let mut len = ring_len(c, v.capacity);
    if frames {
        stats.sent = c.sent_frames.load(Ordering::Relaxed);
        stats.received = c.received_frames.load(Ordering::Relaxed);
        len = stats.sent.wrapping_sub(stats.received);
        if len > v.capacity / 8 {
            len = 0;
        }
    }
    let claimers = if geo.kind == Flavor::Mpmc {
        // SAFETY: `validate` checked the geometry against the segment's real size and
        // `att` maps all of it for as long as `ring` is used (this function); the
        // claimer table is atomics, only loaded from (the mapping is read-only).
        let ring = unsafe { RawRing::new(NonNull::new(att.as_ptr()).expect("mapped"), geo) };
        claimer_table(&ring, &set)
    } else {
        Vec::new()
    };
    Verdict::Channel(ChannelInfo {
        key: Key::from_raw(st.perm.key),
        transport: Transport::ShmRing,
        flavor: Some(geo.kind),
        frames,
        shm_id: Some(id),
        sem_id: Some(sem_id),
        msg_id: None,
        elem_size: v.elem_size,
        fingerprint: v.fingerprint,
        capacity: v.limit,
        len,
        senders: stats.senders,
        receivers: stats.receivers,
        // Our own read-only attachment is one of them.
        attached: nattch.saturating_sub(1),
        creator_pid: pid,
        creator_uid: cuid,
        creator_alive: alive,
        ready: true,
        // Times of the segment from before we attached it.
        last_activity: latest(&[st.atime, st.dtime, st.ctime, sst.otime, sst.ctime]),
        claimers,
        stats,
    })
}

/// Inspects semaphore set `id` as a queue channel's header, as `open` checks it.
pub(crate) fn inspect_sem(id: i32) -> Verdict {
    let Ok(set) = SemSet::from_id(id) else {
        return Verdict::Foreign;
    };
    // Only sets that carry the magic: an all-zero set of the same size is not
    // provably ours, and objects that are not ours are never touched.
    let Some(h) = msgq::read_header(&set).filter(|h| h.magic) else {
        return Verdict::Foreign;
    };
    let Ok(sst) = set.stat() else {
        return Verdict::Foreign;
    };
    let cuid = sst.perm.cuid;
    let refuse = |r: String| Verdict::Refused(cuid, r);
    let alive = creator_alive(h.creator_pid, None);
    if !h.ready {
        return refuse(format!(
            "its header is incomplete (creator pid {} {})",
            h.creator_pid,
            if alive { "still initialising" } else { "gone" }
        ));
    }
    if h.version != VERSION {
        return refuse(format!(
            "layout version {}, this build reads {VERSION}",
            h.version
        ));
    }
    // A frame channel's kind word is the ring's frame word (SPSC roles).
    let frames = h.kind == KIND_FRAMES;
    let Some(kind) = (if frames {
        Some(Flavor::Spsc)
    } else {
        Flavor::from_word(h.kind)
    }) else {
        return refuse(format!("unknown flavor {}", h.kind));
    };
    let flags_ok = set.get_all().is_ok_and(|vals| {
        [
            msgq::S_SENDER_ROLE,
            msgq::S_RECEIVER_ROLE,
            msgq::S_EVER_SENDERS,
            msgq::S_EVER_RECEIVERS,
        ]
        .iter()
        .all(|&i| vals.get(usize::from(i)).is_some_and(|&x| x <= 1))
    });
    if !flags_ok {
        return refuse("its values are not a queue channel's".into());
    }
    let qid = h.queue_id;
    let queue = MsgQueue::from_id(qid);
    let qst = match queue.stat() {
        Ok(s) => s,
        Err(e) => {
            return refuse(format!(
                "the queue it names ({qid}) is gone or unreadable: {e}"
            ))
        }
    };
    if qst.perm.cuid != cuid {
        return refuse(format!(
            "it names queue {qid}, created by uid {}, but the set was created by uid {cuid}: \
             not its queue",
            qst.perm.cuid
        ));
    }
    if qst.perm.key != 0 {
        return refuse(format!(
            "it names queue {qid} at key {}, a channel's queue is private",
            Key::from_raw(qst.perm.key)
        ));
    }
    if !made_together(secs(qst.ctime), secs(sst.ctime)) {
        return refuse(format!(
            "it names queue {qid}, made after the set: the id of its own queue was reused"
        ));
    }
    Verdict::Channel(ChannelInfo {
        key: Key::from_raw(sst.perm.key),
        transport: Transport::MessageQueue,
        flavor: Some(kind),
        frames,
        shm_id: None,
        sem_id: Some(id),
        msg_id: Some(qid),
        elem_size: h.elem_size,
        fingerprint: h.fingerprint,
        capacity: h.capacity,
        len: qst.qnum,
        senders: h.senders,
        receivers: h.receivers,
        attached: u64::from(h.holders),
        creator_pid: h.creator_pid,
        creator_uid: cuid,
        creator_alive: alive,
        ready: true,
        last_activity: latest(&[sst.otime, sst.ctime, qst.stime, qst.rtime, qst.ctime]),
        stats: Stats {
            senders: h.senders,
            receivers: h.receivers,
            ..Stats::default()
        },
        claimers: Vec::new(),
    })
}

/// Every channel in this IPC namespace the caller may read, and every candidate
/// refused (see the rule above).
pub(crate) fn scan() -> io::Result<(Vec<ChannelInfo>, Vec<Refused>)> {
    let t = Tables::read()?;
    let mut found: Vec<(IpcKind, i32, Verdict)> = Vec::new();
    for r in t.shm.iter().filter(|r| ring_candidate(&t, r)) {
        found.push((IpcKind::Shm, r.id, inspect_shm(r.id)));
    }
    for r in &t.sem {
        if col(r, SEM_NSEMS) == Some(i64::from(msgq::NSEMS)) {
            found.push((IpcKind::Sem, r.id, inspect_sem(r.id)));
        }
    }
    let key_of = |kind: IpcKind, id: i32| {
        let rows = if kind == IpcKind::Shm { &t.shm } else { &t.sem };
        Key::from_raw(rows.iter().find(|r| r.id == id).map_or(0, |r| r.key))
    };
    // No object belongs to two channels: every claimant of a shared set or queue is
    // refused.
    let claims = |f: &dyn Fn(&ChannelInfo) -> Option<i32>, n: i32| {
        found
            .iter()
            .filter(|(_, _, v)| matches!(v, Verdict::Channel(i) if f(i) == Some(n)))
            .count()
    };
    let shared: Vec<bool> = found
        .iter()
        .map(|(_, _, v)| match v {
            Verdict::Channel(i) => {
                i.sem_id.is_some_and(|n| claims(&|j| j.sem_id, n) > 1)
                    || i.msg_id.is_some_and(|n| claims(&|j| j.msg_id, n) > 1)
            }
            _ => false,
        })
        .collect();
    let mut channels = Vec::new();
    let mut refused = Vec::new();
    for ((kind, id, v), shared) in found.into_iter().zip(shared) {
        match v {
            Verdict::Channel(i) if shared => refused.push(Refused {
                kind,
                id,
                key: i.key,
                creator_uid: i.creator_uid,
                reason: "another header names the same semaphore set or queue".into(),
            }),
            Verdict::Channel(i) => channels.push(i),
            Verdict::Refused(creator_uid, reason) => refused.push(Refused {
                kind,
                id,
                key: key_of(kind, id),
                creator_uid,
                reason,
            }),
            Verdict::Foreign => {}
        }
    }
    Ok((channels, refused))
}
