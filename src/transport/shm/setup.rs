//! Setting up a ring channel: creating the segment and its semaphore set, opening
//! and validating another process's segment (everything in it is untrusted).

use std::mem::size_of;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::options::Flavor;
use crate::ring::layout::{
    ring_size_plausible, Control, Geometry, Header, HeaderValues, CONTROL_OFFSET,
    FRAMES_FINGERPRINT, FRAMES_TYPE_NAME, FRAME_ALIGN, KIND_FRAMES, MAGIC, STATE_INIT, STATE_READY,
    VERSION,
};
use crate::ring::mpmc::Mpmc;
use crate::ring::RawRing;
use crate::sync::Ordering;
use crate::sys::{self, Key, SemSet, Shm};

use super::liveness::liveness_slots;
use super::objects::ShmObjects;
use super::sems::{set_sizes, LIVENESS, NSEMS, RECEIVER_ROLE, SENDER_ROLE};
use crate::message::{decode_type_name, encode_type_name};

use crate::transport::setup::{mismatch, Expected, Ownership, TypeTag};

/// How long after a segment's creation an opener waits for a creator that has not
/// mapped it yet (the gap between its `shmget` and `shmat`, microseconds). The kernel
/// keeps the creation time in whole seconds, so this is at least 1 s of real time.
const CREATOR_GRACE: Duration = Duration::from_secs(2);

/// Transport word in the header: the ring lives in this segment.
const TRANSPORT_SHM: u32 = 1;

impl ShmObjects {
    /// Creates the segment (`IPC_EXCL`) and its semaphore set, fills the header and
    /// publishes `Ready` last.
    pub(crate) fn create(
        key: Key,
        geo: Geometry,
        mode: u32,
        ty: &TypeTag,
    ) -> Result<ShmObjects, Error> {
        ShmObjects::create_as(key, geo, geo.kind.word(), mode, ty)
    }

    /// [`create`](Self::create) with the header's `kind` word given: the flavor's
    /// word for a typed ring, [`KIND_FRAMES`](crate::ring::layout::KIND_FRAMES) for a
    /// frame ring (whose geometry is [`Geometry::frames`]).
    pub(crate) fn create_as(
        key: Key,
        geo: Geometry,
        kind: u32,
        mode: u32,
        ty: &TypeTag,
    ) -> Result<ShmObjects, Error> {
        // One key names one channel: refuse when a message-queue channel's set is there.
        if !key.is_private() && SemSet::open(key).is_ok() {
            return Err(Error::AlreadyExists);
        }
        let shm = Shm::create(key, geo.total_size, mode)?;
        let cleanup = |e: Error| {
            let _ = shm.remove();
            e
        };
        let att = shm.attach(false).map_err(|e| cleanup(e.into()))?;
        let nsems = match geo.kind {
            Flavor::Spsc => NSEMS,
            // One liveness semaphore per usable claimer-table entry (`liveness.rs`).
            Flavor::Mpmc => match liveness_slots(sys::Limits::query().ok().as_ref()) {
                Some(n) => LIVENESS + n,
                None => return Err(cleanup(Error::SemaphoreLimit)),
            },
        };
        let sems = match SemSet::create(Key::private(), nsems, mode) {
            Ok(s) => s,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EINVAL)) => {
                return Err(cleanup(Error::SemaphoreLimit))
            }
            Err(e) => return Err(cleanup(e.into())),
        };
        // The only SETALL this set ever gets: before anyone can see it (the liveness
        // semaphores must never be set again, it would wipe their holders' undo).
        let mut initial = vec![0u16; usize::from(nsems)];
        initial[usize::from(SENDER_ROLE)] = 1;
        initial[usize::from(RECEIVER_ROLE)] = 1;
        let init = sems.set_all(&initial);
        if let Err(e) = init {
            let _ = sems.remove();
            return Err(cleanup(e.into()));
        }
        // SAFETY: the attachment maps total_size bytes (we created it with that size),
        // page-aligned, and stays mapped as long as ShmObjects lives.
        let ring =
            unsafe { RawRing::new(NonNull::new(att.as_ptr()).expect("shmat is non-null"), geo) };
        let me = sys::current_pid();
        let values = HeaderValues {
            magic: MAGIC,
            version: VERSION,
            kind,
            capacity: geo.capacity,
            elem_size: geo.elem_size as u64,
            elem_align: geo.elem_align as u64,
            fingerprint: ty.fingerprint,
            stride: geo.stride as u64,
            slots_offset: geo.slots_offset as u64,
            total_size: geo.total_size as u64,
            sem_id: sems.id() as u32,
            creator_pid: me as u32,
            creator_start: sys::process_start_time(me).unwrap_or(0),
            state: STATE_INIT,
            transport: TRANSPORT_SHM,
            limit: geo.limit,
            type_name: encode_type_name(&ty.name),
        };
        let h = ring.header();
        h.fill(&values);
        if kind == Flavor::Mpmc.word() {
            Mpmc::<u8>::init(&ring);
        }
        // SYNC(state): Release; pairs with the Acquire in `Header::snapshot` (which
        // `open` polls): every header field and slot stamp above is visible to an
        // opener that sees Ready.
        h.state.store(STATE_READY, Ordering::Release);
        Ok(ShmObjects {
            att,
            sems,
            ring,
            key,
            own: Ownership::new(true),
            claimer: std::sync::Mutex::new(None),
        })
    }

    /// Opens the segment at `key`, waits (bounded) for `Ready`, validates every header
    /// field against `expect` and against the segment's real size.
    pub(crate) fn open(
        key: Key,
        expect: &Expected,
        timeout: Duration,
    ) -> Result<ShmObjects, Error> {
        ShmObjects::open_with(
            key,
            |cuid| expect.check_creator(cuid),
            timeout,
            |v, size| validate(v, expect, size),
        )
    }

    /// [`open`](Self::open) with the creator check and the header validation given
    /// (typed rings: [`validate`]; frame rings: [`validate_frames`]).
    pub(crate) fn open_with(
        key: Key,
        check_creator: impl FnOnce(u32) -> Result<(), Error>,
        timeout: Duration,
        validate: impl FnOnce(&HeaderValues, u64) -> Result<Geometry, Error>,
    ) -> Result<ShmObjects, Error> {
        let shm = Shm::open(key)?;
        let st = shm.stat()?;
        check_creator(st.perm.cuid)?;
        let min = (CONTROL_OFFSET + size_of::<Control>()) as u64;
        if st.size < min {
            return Err(Error::NotSysvring);
        }
        let att = shm.attach(false)?;
        // SAFETY: the mapping has at least `min` bytes, enough for the header; Header is
        // all atomics (valid for any bytes) and offset 0 of a page-aligned mapping.
        let header = unsafe { &*att.as_ptr().cast::<Header>() };
        // Only a creator still initialising earns a wait: an all-zero segment whose
        // size no ring has, or that nobody else has mapped, is someone else's or
        // abandoned. The proof is the kernel's attach count (in any PID namespace:
        // the creator maps the segment before it writes a byte and keeps it mapped),
        // not a pid; the creator's first microseconds, between `shmget` and `shmat`,
        // are covered by a grace period after the segment's creation time.
        let creator_at_work = || {
            ring_size_plausible(st.size)
                && (shm.stat().is_ok_and(|now| now.nattch > 1)
                    || st.ctime.elapsed().map_or(true, |age| age < CREATOR_GRACE))
        };
        let start = Instant::now();
        let v = loop {
            let v = header.snapshot();
            if v.magic != MAGIC && v.magic != 0 {
                return Err(Error::NotSysvring);
            }
            if v.magic == 0 && !creator_at_work() {
                return Err(Error::NotSysvring);
            }
            if v.magic == MAGIC && v.state == STATE_READY {
                break v;
            }
            if v.magic == MAGIC && v.state != STATE_INIT {
                return Err(Error::NotSysvring);
            }
            if start.elapsed() >= timeout {
                return Err(Error::NotReady);
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let geo = validate(&v, st.size)?;
        let sems = SemSet::from_id(v.sem_id as i32).map_err(|e| {
            if e.is_removed() {
                Error::NotSysvring
            } else {
                Error::from(e)
            }
        })?;
        // SPSC: the fixed semaphores; MPMC: those and 1..=CLAIMERS liveness ones.
        let sizes = set_sizes(geo.kind);
        if !sizes.contains(&sems.len()) {
            return Err(mismatch(
                "semaphores",
                u64::from(*sizes.end()),
                u64::from(sems.len()),
            ));
        }
        // The set must belong to whoever owns the segment: a channel cannot be pointed
        // at somebody else's semaphores.
        let sst = sems.stat()?;
        if sst.perm.cuid != st.perm.cuid {
            return Err(Error::PermissionDenied);
        }
        // SAFETY: validate() checked total_size <= shm_segsz, and the mapping covers the
        // whole segment; page alignment satisfies max(128, elem_align <= 4096).
        let ring =
            unsafe { RawRing::new(NonNull::new(att.as_ptr()).expect("shmat is non-null"), geo) };
        Ok(ShmObjects {
            att,
            sems,
            ring,
            key,
            own: Ownership::new(false),
            claimer: std::sync::Mutex::new(None),
        })
    }
}

/// The words every ring header must have, typed or frames: ours (magic), this
/// layout version, and the ring transport.
fn check_ring_header(v: &HeaderValues) -> Result<(), Error> {
    if v.magic != MAGIC {
        return Err(Error::NotSysvring);
    }
    if v.version != VERSION {
        return Err(Error::VersionMismatch {
            expected: VERSION,
            found: v.version,
        });
    }
    if v.transport != TRANSPORT_SHM {
        return Err(mismatch(
            "transport",
            u64::from(TRANSPORT_SHM),
            u64::from(v.transport),
        ));
    }
    Ok(())
}

/// Checks a header snapshot field by field; returns the locally computed geometry.
pub(crate) fn validate(v: &HeaderValues, e: &Expected, segsz: u64) -> Result<Geometry, Error> {
    check_ring_header(v)?;
    // The type first: another type usually has another size too, and the error
    // should name both types rather than report a size.
    if v.fingerprint != e.fingerprint {
        return Err(Error::TypeMismatch {
            expected: e.fingerprint,
            found: v.fingerprint,
            expected_name: e.type_name.clone(),
            found_name: decode_type_name(&v.type_name),
        });
    }
    let kind = Flavor::from_word(v.kind).ok_or(mismatch(
        "flavor",
        e.kind.map_or(0, |k| k as u64),
        u64::from(v.kind),
    ))?;
    if let Some(k) = e.kind {
        if k != kind {
            return Err(mismatch("flavor", k as u64, v.kind as u64));
        }
    }
    if v.elem_size != e.elem_size as u64 {
        return Err(mismatch("element size", e.elem_size as u64, v.elem_size));
    }
    if v.elem_align != e.elem_align as u64 {
        return Err(mismatch(
            "element alignment",
            e.elem_align as u64,
            v.elem_align,
        ));
    }
    if let Some(c) = e.capacity {
        if c != v.limit {
            return Err(mismatch("capacity", c, v.limit));
        }
    }
    let geo = Geometry::new(kind, v.capacity, e.elem_size, e.elem_align)
        .ok_or(mismatch("slots", e.capacity.unwrap_or(0), v.capacity))?
        .with_limit(v.limit)
        .ok_or(mismatch("capacity", v.capacity, v.limit))?;
    check_placement(v, geo, segsz)
}

/// The header's placement words (stride, slot offset, total size) against the
/// geometry computed here, and the segment's real size: the header's copy of what
/// this side computes must agree, and the segment must hold it all.
fn check_placement(v: &HeaderValues, geo: Geometry, segsz: u64) -> Result<Geometry, Error> {
    if v.stride != geo.stride as u64 {
        return Err(mismatch("stride", geo.stride as u64, v.stride));
    }
    if v.slots_offset != geo.slots_offset as u64 {
        return Err(mismatch(
            "slot offset",
            geo.slots_offset as u64,
            v.slots_offset,
        ));
    }
    if v.total_size != geo.total_size as u64 {
        return Err(mismatch("total size", geo.total_size as u64, v.total_size));
    }
    if geo.total_size as u64 > segsz {
        return Err(mismatch("segment size", geo.total_size as u64, segsz));
    }
    Ok(geo)
}

/// What a frame channel's opener expects: the longest frame and the ring's size,
/// each only when the opener set it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FrameExpect {
    pub max_len: Option<u64>,
    pub ring_bytes: Option<u64>,
}

/// Checks a frame ring's header snapshot field by field (as [`validate`] checks a
/// typed one); returns the locally computed geometry. A typed ring's header is
/// refused with `TypeMismatch` naming the type it carries.
pub(crate) fn validate_frames(
    v: &HeaderValues,
    e: &FrameExpect,
    segsz: u64,
) -> Result<Geometry, Error> {
    check_ring_header(v)?;
    if v.kind != KIND_FRAMES || v.fingerprint != FRAMES_FINGERPRINT {
        if v.fingerprint == FRAMES_FINGERPRINT {
            return Err(mismatch(
                "flavor",
                u64::from(KIND_FRAMES),
                u64::from(v.kind),
            ));
        }
        return Err(Error::TypeMismatch {
            expected: FRAMES_FINGERPRINT,
            found: v.fingerprint,
            expected_name: FRAMES_TYPE_NAME.into(),
            found_name: decode_type_name(&v.type_name),
        });
    }
    if let Some(m) = e.max_len {
        if m != v.elem_size {
            return Err(mismatch("max_len", m, v.elem_size));
        }
    }
    if let Some(r) = e.ring_bytes {
        if r != v.capacity {
            return Err(mismatch("ring bytes", r, v.capacity));
        }
    }
    let geo = Geometry::frames(v.capacity, v.elem_size).ok_or(mismatch(
        "max_len (a record within a quarter of the ring)",
        crate::ring::layout::frame_max_len(v.capacity),
        v.elem_size,
    ))?;
    if v.elem_align != FRAME_ALIGN as u64 {
        return Err(mismatch(
            "element alignment",
            FRAME_ALIGN as u64,
            v.elem_align,
        ));
    }
    if v.limit != geo.limit {
        return Err(mismatch("capacity", geo.limit, v.limit));
    }
    check_placement(v, geo, segsz)
}
