//! The message-queue transport: one `msgsnd` of the bytes of `T` per message, in a
//! private System V queue; its companion semaphore set at the channel's key carries
//! the header (magic, version, flavor, element size, fingerprint, queue id) and the
//! crash-safe presence counts and roles (`SEM_UNDO`), exactly as the ring's set does.
//!
//! Used on request (`Transport::MessageQueue`) or when no segment can be made
//! (`Transport::Auto`). Waiting: the queue itself blocks nothing here; a blocked side
//! polls with `IPC_NOWAIT`, spinning for its spin budget and then sleeping with a
//! backoff of 20 µs up to 2 ms between polls (about 0 CPU while idle) and re-reading
//! peer presence every 100 ms, so a killed peer is noticed and no wake-up can be lost.
//! Removing the channel destroys the messages still queued (unlike a segment, a queue
//! is not kept alive by its users).
//!
//! Crashes: a producer killed in `msgsnd` either sent the whole message or nothing
//! (the kernel copies it atomically). A consumer killed right after `msgrcv` returned
//! loses that one message: the kernel already took it off the queue, so this
//! transport is at-most-once for it, where the ring is at-least-once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::channel::Error;
use crate::ring::layout::{RingKind, VERSION};
use crate::sys::{self, Key, Limits, MsgQueue, RecvSelect, SemSet, Shm};

use super::{os, Deadline, Side, Spin, WaitError, SLICE};

/// Wrong-sized frames one non-blocking receive drops at most.
const MAX_DROPS_PER_CALL: usize = 64;

/// `mtype` of every data message.
pub(crate) const DATA: i64 = 1;

const MAGIC_A: u16 = 0x5359; // "SY"
const MAGIC_B: u16 = 0x5652; // "VR"

// Semaphore indices of the companion set.
const S_MAGIC_A: usize = 0;
const S_MAGIC_B: usize = 1;
const S_VERSION: usize = 2;
const S_KIND: usize = 3;
const S_STATE: usize = 4;
const S_FP: usize = 5; // 5 x 15 bits
const S_SIZE: usize = 10; // 2 x 15 bits
const S_QID: usize = 12; // 3 x 15 bits
pub(crate) const S_SENDERS: u16 = 15;
pub(crate) const S_RECEIVERS: u16 = 16;
const S_SENDER_ROLE: u16 = 17;
const S_RECEIVER_ROLE: u16 = 18;
const S_EVER_SENDERS: u16 = 19;
const S_EVER_RECEIVERS: u16 = 20;
const S_CAP: usize = 21; // 2 x 15 bits
const S_PID: usize = 23; // 2 x 15 bits
pub(crate) const NSEMS: u16 = 25;

const STATE_READY: u16 = 1;

fn split(mut v: u64, out: &mut [u16]) {
    for w in out {
        *w = (v & 0x7fff) as u16;
        v >>= 15;
    }
}

fn join(ws: &[u16]) -> u64 {
    ws.iter()
        .rev()
        .fold(0u64, |acc, &w| (acc << 15) | u64::from(w & 0x7fff))
}

/// The header of a message-queue channel, decoded from its semaphore values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MsgqHeader {
    pub version: u32,
    pub kind: u32,
    pub elem_size: u64,
    pub fingerprint: u64,
    pub capacity: u64,
    pub queue_id: i32,
    pub creator_pid: i32,
    pub senders: u32,
    pub receivers: u32,
    /// The magic is there (an all-zero set may be ours, mid-creation, or anyone's).
    pub magic: bool,
    pub ready: bool,
}

/// Decodes the header of a companion set; `None` when the set is not ours (wrong
/// size or magic) or unreadable. An all-zero magic reads as ours but not ready (the
/// creator is still filling it).
pub(crate) fn read_header(sems: &SemSet) -> Option<MsgqHeader> {
    if sems.len() != NSEMS {
        return None;
    }
    let v = sems.get_all().ok()?;
    let zero = v[S_MAGIC_A] == 0 && v[S_MAGIC_B] == 0;
    if !zero && (v[S_MAGIC_A] != MAGIC_A || v[S_MAGIC_B] != MAGIC_B) {
        return None;
    }
    Some(MsgqHeader {
        version: u32::from(v[S_VERSION]),
        kind: u32::from(v[S_KIND]),
        elem_size: join(&v[S_SIZE..S_SIZE + 2]),
        fingerprint: join(&v[S_FP..S_FP + 5]),
        capacity: join(&v[S_CAP..S_CAP + 2]),
        queue_id: join(&v[S_QID..S_QID + 3]) as u32 as i32,
        creator_pid: join(&v[S_PID..S_PID + 2]) as i32,
        senders: u32::from(v[usize::from(S_SENDERS)]),
        receivers: u32::from(v[usize::from(S_RECEIVERS)]),
        magic: !zero,
        ready: !zero && v[S_STATE] == STATE_READY,
    })
}

/// Process-local state of one message-queue channel.
#[derive(Debug)]
pub(crate) struct MsgqShared {
    pub(crate) sems: SemSet,
    pub(crate) queue: MsgQueue,
    pub(crate) key: Key,
    pub(crate) kind: RingKind,
    capacity: u64,
    owner: AtomicBool,
    fork_gen: u64,
    dropped: AtomicU64,
    /// Process-local: whether a peer of the other side (senders, receivers) was ever
    /// seen connected.
    seen_peers: [AtomicBool; 2],
}

/// What an opener expects (mirrors the ring's `Expect`).
pub(crate) use super::shm::Expect;

impl MsgqShared {
    /// Checks that `T` of `elem_size` bytes fits one message on this host.
    pub(crate) fn check_size(elem_size: usize) -> Result<(), Error> {
        let max = Limits::read().map_err(|e| Error::Os("sysctl", e))?.msgmax as usize;
        if elem_size > max {
            return Err(Error::MessageTooLarge {
                size: elem_size,
                max,
            });
        }
        Ok(())
    }

    pub(crate) fn create(
        key: Key,
        kind: RingKind,
        capacity: u64,
        elem_size: usize,
        fingerprint: u64,
        mode: u32,
    ) -> Result<MsgqShared, Error> {
        Self::check_size(elem_size)?;
        // One key names one channel: refuse when a ring segment already lives there.
        if !key.is_private() && Shm::open(key).is_ok() {
            return Err(Error::AlreadyExists);
        }
        let sems = SemSet::create(key, NSEMS, mode).map_err(os("semget"))?;
        let queue = match MsgQueue::create(Key::private(), mode) {
            Ok(q) => q,
            Err(e) => {
                let _ = sems.remove();
                return Err(os("msgget")(e));
            }
        };
        let fail = |e: Error| {
            let _ = queue.remove();
            let _ = sems.remove();
            e
        };
        // Byte budget: capacity messages. Raising it above msgmnb needs privilege;
        // when refused the default stays and capacity() reports what fits.
        let want = capacity.saturating_mul(elem_size.max(1) as u64);
        let _ = queue.set_qbytes(want);
        let qbytes = queue.stat().map_err(|e| fail(os("msgctl")(e)))?.qbytes;
        // A budget that cannot hold one message (msgmax above msgmnb, and no
        // privilege to raise it) would make every send block forever.
        if qbytes < elem_size as u64 {
            return Err(fail(Error::MessageTooLarge {
                size: elem_size,
                max: qbytes as usize,
            }));
        }
        let effective = (qbytes / elem_size.max(1) as u64).min(capacity).max(1);
        let mut v = vec![0u16; usize::from(NSEMS)];
        v[S_MAGIC_A] = MAGIC_A;
        v[S_MAGIC_B] = MAGIC_B;
        v[S_VERSION] = VERSION as u16;
        v[S_KIND] = kind as u16;
        split(fingerprint, &mut v[S_FP..S_FP + 5]);
        split(elem_size as u64, &mut v[S_SIZE..S_SIZE + 2]);
        split(queue.id() as u32 as u64, &mut v[S_QID..S_QID + 3]);
        split(effective, &mut v[S_CAP..S_CAP + 2]);
        split(sys::current_pid() as u64, &mut v[S_PID..S_PID + 2]);
        v[usize::from(S_SENDER_ROLE)] = 1;
        v[usize::from(S_RECEIVER_ROLE)] = 1;
        sems.set_all(&v).map_err(|e| fail(os("semctl")(e)))?;
        // Ready last: an opener validates nothing before it sees this.
        sems.set_val(S_STATE as u16, i32::from(STATE_READY))
            .map_err(|e| fail(os("semctl")(e)))?;
        Ok(MsgqShared {
            sems,
            queue,
            key,
            kind,
            capacity: effective,
            owner: AtomicBool::new(true),
            fork_gen: sys::fork_generation(),
            dropped: AtomicU64::new(0),
            seen_peers: [AtomicBool::new(false), AtomicBool::new(false)],
        })
    }

    /// Opens the message-queue channel at `key`: waits (bounded) for Ready, then
    /// validates magic, version, flavor, element size and fingerprint.
    pub(crate) fn open(key: Key, expect: &Expect, timeout: Duration) -> Result<MsgqShared, Error> {
        let sems = SemSet::open(key).map_err(os("semget"))?;
        // Unreadable (another user's 0600 set): say so before judging its shape.
        let st = sems.stat().map_err(os("semctl"))?;
        expect.check_creator(st.perm.cuid)?;
        if sems.len() != NSEMS {
            return Err(Error::NotSysvring);
        }
        let start = Instant::now();
        let h = loop {
            let h = read_header(&sems).ok_or(Error::NotSysvring)?;
            if h.ready {
                break h;
            }
            if start.elapsed() >= timeout {
                return Err(Error::NotReady);
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        if h.version != VERSION {
            return Err(Error::VersionMismatch {
                expected: VERSION,
                found: h.version,
            });
        }
        let kind = RingKind::from_raw(h.kind).ok_or(Error::NotSysvring)?;
        if let Some(k) = expect.kind {
            if k != kind {
                return Err(Error::LayoutMismatch {
                    field: "flavor",
                    expected: k as u64,
                    found: kind as u64,
                });
            }
        }
        if h.elem_size != expect.elem_size as u64 {
            return Err(Error::LayoutMismatch {
                field: "element size",
                expected: expect.elem_size as u64,
                found: h.elem_size,
            });
        }
        if h.fingerprint != expect.fingerprint {
            return Err(Error::TypeMismatch {
                expected: expect.fingerprint,
                found: h.fingerprint,
            });
        }
        let capacity = h.capacity;
        if let Some(c) = expect.capacity.map(|c| super::shm::min_capacity(kind, c)) {
            if c != capacity {
                return Err(Error::LayoutMismatch {
                    field: "capacity",
                    expected: c,
                    found: capacity,
                });
            }
        }
        Self::check_size(expect.elem_size)?;
        let queue = MsgQueue::from_id(h.queue_id);
        let qst = queue.stat().map_err(|e| {
            if e.is_removed() {
                Error::NotSysvring
            } else {
                os("msgctl")(e)
            }
        })?;
        let sst = sems.stat().map_err(os("semctl"))?;
        if qst.perm.cuid != sst.perm.cuid {
            return Err(Error::PermissionDenied);
        }
        Ok(MsgqShared {
            sems,
            queue,
            key,
            kind,
            capacity,
            owner: AtomicBool::new(false),
            fork_gen: sys::fork_generation(),
            dropped: AtomicU64::new(0),
            seen_peers: [AtomicBool::new(false), AtomicBool::new(false)],
        })
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    pub(crate) fn len(&self) -> u64 {
        self.queue.stat().map(|s| s.qnum).unwrap_or(0)
    }

    /// Frames dropped because they had the wrong size (a foreign or hostile sender).
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn is_owner(&self) -> bool {
        self.owner.load(Ordering::Relaxed)
    }

    pub(crate) fn disown(&self) {
        self.owner.store(false, Ordering::Relaxed);
    }

    pub(crate) fn remove(&self) -> Result<(), Error> {
        self.disown();
        let a = self.queue.remove();
        let b = self.sems.remove();
        match (a, b) {
            (Err(e), _) if !e.is_removed() => Err(os("msgctl")(e)),
            (_, Err(e)) if !e.is_removed() => Err(os("semctl")(e)),
            _ => Ok(()),
        }
    }

    pub(crate) fn connect(&self, side: Side, exclusive: bool) -> Result<(), Error> {
        let (count, role, ever) = match side {
            Side::Send => (S_SENDERS, S_SENDER_ROLE, S_EVER_SENDERS),
            Side::Recv => (S_RECEIVERS, S_RECEIVER_ROLE, S_EVER_RECEIVERS),
        };
        super::register(&self.sems, count, role, exclusive)?;
        self.sems.set_val(ever, 1).map_err(os("semctl"))?;
        Ok(())
    }

    pub(crate) fn disconnect(&self, side: Side, exclusive: bool) {
        let (count, role) = match side {
            Side::Send => (S_SENDERS, S_SENDER_ROLE),
            Side::Recv => (S_RECEIVERS, S_RECEIVER_ROLE),
        };
        super::unregister(&self.sems, count, role, exclusive);
    }

    /// Whether a peer of the other side may still act (see the ring's `peers_alive`).
    pub(crate) fn peers_alive(&self, side: Side) -> bool {
        let (count, ever, seen) = match side {
            Side::Recv => (S_SENDERS, S_EVER_SENDERS, &self.seen_peers[0]),
            Side::Send => (S_RECEIVERS, S_EVER_RECEIVERS, &self.seen_peers[1]),
        };
        // "A peer has connected" never becomes false again: once seen, one syscall
        // (the live count) answers.
        if !seen.load(Ordering::Relaxed) {
            match self.sems.get_val(ever) {
                Ok(0) => return true,
                Ok(_) => seen.store(true, Ordering::Relaxed),
                Err(_) => return false,
            }
        }
        self.sems.get_val(count).is_ok_and(|n| n > 0)
    }

    /// Sends one frame without blocking: `Ok(true)` sent, `Ok(false)` full.
    pub(crate) fn try_send_bytes(&self, bytes: &[u8]) -> Result<bool, ()> {
        match self.queue.send(DATA, bytes, true) {
            Ok(()) => Ok(true),
            Err(e) if e.is_would_block() => Ok(false),
            Err(_) => Err(()),
        }
    }

    /// Receives one frame of exactly `buf.len()` bytes without blocking:
    /// `Ok(true)` received, `Ok(false)` empty. A frame of another size is dropped and
    /// counted (never handed out as a `T`).
    pub(crate) fn try_recv_bytes(&self, buf: &mut [u8]) -> Result<bool, ()> {
        // A peer flooding wrong frames cannot keep a "try" busy: after this many drops
        // the call reports empty and the next one goes on.
        for _ in 0..MAX_DROPS_PER_CALL {
            match self.queue.recv(buf, RecvSelect::Type(DATA), true) {
                Ok((_, n)) if n == buf.len() => return Ok(true),
                Ok(_) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if e.is_would_block() => return Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    // Longer than T (E2BIG, left in the queue): take it out unread.
                    if self.queue.discard(RecvSelect::Type(DATA), true).is_ok() {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(_) => return Err(()),
            }
        }
        Ok(false)
    }

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

impl Drop for MsgqShared {
    fn drop(&mut self) {
        // A creator's handle inherited by a forked child is not the owner there.
        if self.is_owner() && sys::fork_generation() == self.fork_gen {
            let _ = self.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_join_roundtrip() {
        let mut w = [0u16; 5];
        for v in [0u64, 1, 0x7fff, u64::MAX, 0xdead_beef_cafe_f00d] {
            split(v, &mut w);
            assert!(w.iter().all(|&x| x <= 0x7fff));
            assert_eq!(join(&w), v);
        }
    }
}
