//! Setting up a message-queue channel: the header encoded in the companion
//! semaphore set, creating the set and the queue, opening and validating them.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::options::Flavor;
use crate::ring::layout::{FRAMES_FINGERPRINT, FRAMES_TYPE_NAME, KIND_FRAMES, VERSION};
use crate::sys::{self, Key, Limits, MsgQueue, SemSet, Shm};
use crate::transport::setup::{check_creator, mismatch, Expected, Ownership};

use super::objects::{Hold, MsgqObjects};
use super::sems::{
    NSEMS, NSEMS_V3, S_CAP, S_FP, S_HOLDERS, S_KIND, S_MAGIC_A, S_MAGIC_B, S_PID, S_QID,
    S_RECEIVERS, S_RECEIVER_ROLE, S_SENDERS, S_SENDER_ROLE, S_SIZE, S_STATE, S_VERSION,
};

const MAGIC_A: u16 = 0x5359; // "SY"
const MAGIC_B: u16 = 0x5652; // "VR"

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
    /// Processes holding the channel open (0 in a version-3 set).
    pub holders: u32,
    /// The magic is there (an all-zero set may be ours, mid-creation, or anyone's).
    pub magic: bool,
    pub ready: bool,
}

/// Decodes the header of a companion set; `None` when the set is not ours (wrong
/// size or magic) or unreadable. An all-zero magic reads as ours but not ready (the
/// creator is still filling it).
pub(crate) fn read_header(sems: &SemSet) -> Option<MsgqHeader> {
    if sems.len() != NSEMS && sems.len() != NSEMS_V3 {
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
        holders: v.get(usize::from(S_HOLDERS)).map_or(0, |&n| u32::from(n)),
        magic: !zero,
        ready: !zero && v[S_STATE] == STATE_READY,
    })
}

impl MsgqObjects {
    /// Checks that `T` of `elem_size` bytes fits one message on this host.
    pub(crate) fn check_size(elem_size: usize) -> Result<(), Error> {
        // Not a channel object: a missing file is no `NotFound` of ours, so no errno
        // classification, just the failed read.
        let max = Limits::query().map_err(Error::os)?.msgmax as usize;
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
        kind: Flavor,
        capacity: u64,
        elem_size: usize,
        fingerprint: u64,
        mode: u32,
    ) -> Result<MsgqObjects, Error> {
        Self::check_size(elem_size)?;
        // Byte budget: capacity messages.
        let want = capacity.saturating_mul(elem_size.max(1) as u64);
        let made = Made {
            flavor: kind,
            kind_word: kind as u16,
            elem_size,
            fingerprint,
        };
        Self::create_as(key, &made, want, mode, |qbytes| {
            (qbytes / elem_size.max(1) as u64).min(capacity).max(1)
        })
    }

    /// Creates a byte-frame channel on a queue: frames of at most `max_len` bytes
    /// (at most the host's `msgmax`), a byte budget of `bytes` (`msg_qbytes`; above
    /// `msgmnb` only with privilege, else `msgmnb` stays). Its header's kind word is
    /// [`KIND_FRAMES`] and its fingerprint [`FRAMES_FINGERPRINT`], so a typed opener
    /// is refused with `TypeMismatch`; its capacity word is the budget in bytes.
    pub(crate) fn create_frames(
        key: Key,
        max_len: usize,
        bytes: u64,
        mode: u32,
    ) -> Result<MsgqObjects, Error> {
        Self::check_size(max_len)?;
        let made = Made {
            flavor: Flavor::Spsc,
            kind_word: KIND_FRAMES as u16,
            elem_size: max_len,
            fingerprint: FRAMES_FINGERPRINT,
        };
        // The capacity word holds 30 bits.
        Self::create_as(key, &made, bytes, mode, |qbytes| qbytes.min(MAX_CAP))
    }

    /// Creates the set and the queue of `made`, asking for a budget of `want` bytes;
    /// `capacity` turns the budget the kernel granted into the header's capacity word.
    fn create_as(
        key: Key,
        made: &Made,
        want: u64,
        mode: u32,
        capacity: impl FnOnce(u64) -> u64,
    ) -> Result<MsgqObjects, Error> {
        let (kind, elem_size, fingerprint) = (made.flavor, made.elem_size, made.fingerprint);
        // One key names one channel: refuse when a ring segment already lives there.
        if !key.is_private() && Shm::open(key).is_ok() {
            return Err(Error::AlreadyExists);
        }
        let sems = SemSet::create(key, NSEMS, mode)?;
        let queue = match MsgQueue::create(Key::private(), mode) {
            Ok(q) => q,
            Err(e) => {
                let _ = sems.remove();
                return Err(e.into());
            }
        };
        let fail = |e: Error| {
            let _ = queue.remove();
            let _ = sems.remove();
            e
        };
        // Raising the budget above msgmnb needs privilege; when refused the default
        // stays and capacity() reports what fits.
        let _ = queue.set_qbytes(want);
        let qbytes = queue.stat().map_err(|e| fail(e.into()))?.qbytes;
        // A budget that cannot hold one message (msgmax above msgmnb, and no
        // privilege to raise it) would make every send block forever.
        if qbytes < elem_size as u64 {
            return Err(fail(Error::MessageTooLarge {
                size: elem_size,
                max: qbytes as usize,
            }));
        }
        let effective = capacity(qbytes);
        let mut v = vec![0u16; usize::from(NSEMS)];
        v[S_MAGIC_A] = MAGIC_A;
        v[S_MAGIC_B] = MAGIC_B;
        v[S_VERSION] = VERSION as u16;
        v[S_KIND] = made.kind_word;
        split(fingerprint, &mut v[S_FP..S_FP + 5]);
        split(elem_size as u64, &mut v[S_SIZE..S_SIZE + 2]);
        split(queue.id() as u32 as u64, &mut v[S_QID..S_QID + 3]);
        split(effective, &mut v[S_CAP..S_CAP + 2]);
        split(sys::current_pid() as u64, &mut v[S_PID..S_PID + 2]);
        v[usize::from(S_SENDER_ROLE)] = 1;
        v[usize::from(S_RECEIVER_ROLE)] = 1;
        sems.set_all(&v).map_err(|e| fail(e.into()))?;
        // Our hold, after the SETALL (which would wipe it) and before Ready.
        let hold = Hold::take(&sems).map_err(fail)?;
        // Ready last: an opener validates nothing before it sees this.
        sems.set_val(S_STATE as u16, i32::from(STATE_READY))
            .map_err(|e| fail(e.into()))?;
        Ok(MsgqObjects {
            hold,
            sems,
            queue,
            key,
            kind,
            capacity: effective,
            own: Ownership::new(true),
            dropped: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            seen_peers: [AtomicBool::new(false), AtomicBool::new(false)],
        })
    }

    /// Opens the typed message-queue channel at `key`: waits (bounded) for Ready,
    /// then validates magic, version, flavor, element size and fingerprint. A frame
    /// channel's queue is refused with `TypeMismatch` naming it.
    pub(crate) fn open(
        key: Key,
        expect: &Expected,
        timeout: Duration,
    ) -> Result<MsgqObjects, Error> {
        Self::open_as(key, &expect.trusted, timeout, |h| {
            if h.kind == KIND_FRAMES {
                // With the frame fingerprint pinned, the kind word still refuses it.
                if h.fingerprint == expect.fingerprint {
                    let want = expect.kind.map_or(0, |k| k as u64);
                    return Err(mismatch("flavor", want, u64::from(h.kind)));
                }
                return Err(Error::TypeMismatch {
                    expected: expect.fingerprint,
                    found: h.fingerprint,
                    expected_name: expect.type_name.clone(),
                    found_name: FRAMES_TYPE_NAME.into(),
                });
            }
            let kind = Flavor::from_word(h.kind).ok_or(Error::NotSysvring)?;
            // The type before the layout (as the ring does): the error names it.
            if h.fingerprint != expect.fingerprint {
                return Err(Error::TypeMismatch {
                    expected: expect.fingerprint,
                    found: h.fingerprint,
                    expected_name: expect.type_name.clone(),
                    found_name: String::new(),
                });
            }
            if let Some(k) = expect.kind {
                if k != kind {
                    return Err(mismatch("flavor", k as u64, kind as u64));
                }
            }
            if h.elem_size != expect.elem_size as u64 {
                return Err(mismatch(
                    "element size",
                    expect.elem_size as u64,
                    h.elem_size,
                ));
            }
            if let Some(c) = expect.capacity {
                if c != h.capacity {
                    return Err(mismatch("capacity", c, h.capacity));
                }
            }
            Self::check_size(expect.elem_size)?;
            Ok(kind)
        })
    }

    /// Opens the byte-frame channel on a queue at `key`, as [`open`](Self::open)
    /// does; `max_len` and `bytes` (the budget), when given, must be the channel's.
    /// A typed channel's queue is refused with `TypeMismatch`.
    pub(crate) fn open_frames(
        key: Key,
        max_len: Option<u64>,
        bytes: Option<u64>,
        trusted: &[u32],
        timeout: Duration,
    ) -> Result<(MsgqObjects, usize), Error> {
        let mut len = 0;
        let m = Self::open_as(key, trusted, timeout, |h| {
            if h.kind != KIND_FRAMES || h.fingerprint != FRAMES_FINGERPRINT {
                if h.fingerprint == FRAMES_FINGERPRINT {
                    return Err(mismatch(
                        "flavor",
                        u64::from(KIND_FRAMES),
                        u64::from(h.kind),
                    ));
                }
                return Err(Error::TypeMismatch {
                    expected: FRAMES_FINGERPRINT,
                    found: h.fingerprint,
                    expected_name: FRAMES_TYPE_NAME.into(),
                    found_name: String::new(),
                });
            }
            if let Some(m) = max_len {
                if m != h.elem_size {
                    return Err(mismatch("max_len", m, h.elem_size));
                }
            }
            if let Some(b) = bytes {
                if b != h.capacity {
                    return Err(mismatch("queue bytes", b, h.capacity));
                }
            }
            // Bounded before use: the receive buffer is this long.
            len = usize::try_from(h.elem_size).map_err(|_| Error::NotSysvring)?;
            Self::check_size(len)?;
            Ok(Flavor::Spsc)
        })?;
        Ok((m, len))
    }

    /// Opens the set at `key`, checks its creator, waits (bounded) for Ready and its
    /// version, lets `validate` judge the header (returning the flavor), then opens
    /// the queue it names and takes this process's hold.
    fn open_as(
        key: Key,
        trusted: &[u32],
        timeout: Duration,
        validate: impl FnOnce(&MsgqHeader) -> Result<Flavor, Error>,
    ) -> Result<MsgqObjects, Error> {
        let sems = match SemSet::open(key) {
            // Only a queue at the key: a plain (non-sysvring) message queue.
            Err(e) if e.is_not_found() && MsgQueue::open(key).is_ok() => {
                return Err(Error::NotSysvring)
            }
            r => r?,
        };
        // Unreadable (another user's 0600 set): say so before judging its shape.
        let st = sems.stat()?;
        check_creator(st.perm.cuid, trusted)?;
        if sems.len() != NSEMS && sems.len() != NSEMS_V3 {
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
        let kind = validate(&h)?;
        let capacity = h.capacity;
        let queue = MsgQueue::from_id(h.queue_id);
        let qst = queue.stat().map_err(|e| {
            if e.is_removed() {
                Error::NotSysvring
            } else {
                Error::from(e)
            }
        })?;
        let sst = sems.stat()?;
        if qst.perm.cuid != sst.perm.cuid {
            return Err(Error::PermissionDenied);
        }
        let hold = Hold::take(&sems)?;
        Ok(MsgqObjects {
            hold,
            sems,
            queue,
            key,
            kind,
            capacity,
            own: Ownership::new(false),
            dropped: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            seen_peers: [AtomicBool::new(false), AtomicBool::new(false)],
        })
    }
}

/// What `create_as` writes into a new header besides the budget.
struct Made {
    flavor: Flavor,
    kind_word: u16,
    elem_size: usize,
    fingerprint: u64,
}

/// The largest value of the capacity word (2 x 15 bits).
const MAX_CAP: u64 = (1 << 30) - 1;

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
