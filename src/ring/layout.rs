//! The segment layout: a versioned `#[repr(C)]` header, control words each on their
//! own 128-byte line, then the slots.
//!
//! ```text
//! offset   0  Header (magic, version, flavor, capacity, element size/align,
//!             fingerprint, stride, slot offset, total size, sem id, creator, state)
//! offset 256  head line      (consumer index)
//! offset 384  tail line      (producer index)
//! offset 512  waiters line   (receivers and senders registered to sleep)
//! offset 640  presence line  (live/ever counts mirrored from the semaphores, closed)
//! offset 768  stats line     (wake-ups posted, sleeps, skipped slots)
//! offset 896  claimer table  (MPMC only: 256 entries of 32 bytes, see `Claimer`)
//! offset 896+ slots          (after the table; aligned to max(128, align_of::<T>()))
//! ```
//!
//! A **frame ring** (variable-size byte frames, `ring::frames`) has the same header
//! and control block, no claimer table, and a byte area at offset 896 instead of
//! slots; its header says so in `kind` ([`KIND_FRAMES`]), `fingerprint`
//! ([`FRAMES_FINGERPRINT`]) and `type_name` ([`FRAMES_TYPE_NAME`]), so a typed opener
//! and a frame opener each refuse the other's segment by name.
//!
//! Everything in the segment is untrusted: the header is copied out once, validated
//! field by field, and only the local copy is used afterwards; indices are always
//! masked before they address a slot.

use std::mem::{align_of, size_of};

use crate::options::Flavor;
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// "SYSVRING" in ASCII, little-endian.
pub const MAGIC: u64 = u64::from_le_bytes(*b"SYSVRING");
/// Layout version; bumped on any incompatible change to this file.
pub const VERSION: u32 = 4;
/// Size of one control line.
pub const LINE: usize = 128;
/// Largest element alignment we place in a segment (shmat maps page-aligned).
pub const MAX_ALIGN: usize = 4096;
/// Largest capacity (slots); keeps every offset computation far from overflow.
pub const MAX_CAPACITY: u64 = 1 << 32;

/// `state`: the creator is still filling the header.
pub const STATE_INIT: u32 = 0;
/// `state`: the header is complete; published last with Release.
pub const STATE_READY: u32 = 0x5245_4459; // "READY"-ish, unlikely in random bytes

/// The header at offset 0. Every field is an atomic so concurrent readers in other
/// processes never race with the creator's writes.
#[derive(Debug)]
#[repr(C)]
pub struct Header {
    pub magic: AtomicU64,
    pub version: AtomicU32,
    pub kind: AtomicU32,
    pub capacity: AtomicU64,
    pub elem_size: AtomicU64,
    pub elem_align: AtomicU64,
    pub fingerprint: AtomicU64,
    pub stride: AtomicU64,
    pub slots_offset: AtomicU64,
    pub total_size: AtomicU64,
    pub sem_id: AtomicU32,
    pub creator_pid: AtomicU32,
    pub creator_start: AtomicU64,
    pub state: AtomicU32,
    pub transport: AtomicU32,
    /// The most messages ever in flight (the requested capacity, `<= capacity`).
    pub limit: AtomicU64,
    /// The element type's name, UTF-8, zero-padded (truncated to 64 bytes).
    pub type_name: [AtomicU64; TYPE_NAME_WORDS],
}

/// Words of the header's type name (64 bytes).
pub const TYPE_NAME_WORDS: usize = 8;
/// Longest type name stored in a header, in bytes (longer names are truncated at a
/// character boundary).
pub const TYPE_NAME_LEN: usize = TYPE_NAME_WORDS * 8;

/// Control words of the ring, each group on its own 128-byte line.
#[derive(Debug)]
#[repr(C)]
pub struct Control {
    pub head: AtomicU64,
    /// Frame rings: frames received so far (statistics; 0 in a typed ring).
    pub received_frames: AtomicU64,
    _p0: [u8; LINE - 16],
    pub tail: AtomicU64,
    /// Frame rings: frames sent so far (statistics; 0 in a typed ring).
    pub sent_frames: AtomicU64,
    _p1: [u8; LINE - 16],
    /// Receivers registered to sleep on the ITEMS semaphore.
    pub recv_waiters: AtomicU32,
    /// Senders registered to sleep on the SPACE semaphore.
    pub send_waiters: AtomicU32,
    _p2: [u8; LINE - 8],
    /// Live senders (a mirror of the SEM_UNDO count: never lower than the truth).
    pub senders: AtomicU32,
    /// Live receivers (mirror, as above).
    pub receivers: AtomicU32,
    /// Non-zero once any sender has connected.
    pub ever_senders: AtomicU32,
    /// Non-zero once any receiver has connected.
    pub ever_receivers: AtomicU32,
    /// Non-zero once the channel was removed (`IPC_RMID`).
    pub closed: AtomicU32,
    /// Non-zero once some user could not use `membarrier`: every publisher then
    /// uses a full fence before it looks for sleepers.
    pub needs_fence: AtomicU32,
    _p3: [u8; LINE - 24],
    /// Wake-up posts made (semaphore increments).
    pub wakeups: AtomicU64,
    /// Sleeps entered (timed semaphore waits).
    pub sleeps: AtomicU64,
    /// MPMC slots skipped because their producer died.
    pub skipped: AtomicU64,
    _p4: [u8; LINE - 24],
}

/// Offset of the control block.
#[cfg(not(loom))]
pub const CONTROL_OFFSET: usize = 2 * LINE;
/// Offset of the control block: loom's atomics are larger than the real ones, so under
/// `cfg(loom)` the layout follows their sizes (heap regions only, never a segment).
#[cfg(loom)]
pub const CONTROL_OFFSET: usize = round_up(size_of::<Header>(), LINE);
const _: () = assert!(size_of::<Header>() <= CONTROL_OFFSET);
#[cfg(not(loom))]
const _: () = assert!(size_of::<Control>() == 5 * LINE);
// Slot words are placed at multiples of 8 (the smallest stride alignment).
#[cfg(loom)]
const _: () =
    assert!(align_of::<AtomicU64>() <= 8 && align_of::<loom::cell::UnsafeCell<()>>() <= 8);

#[cfg(loom)]
impl Header {
    /// An all-zero header made of properly constructed loom atomics (loom's cannot be
    /// conjured from zeroed bytes).
    pub(crate) fn loom_new() -> Header {
        Header {
            magic: AtomicU64::new(0),
            version: AtomicU32::new(0),
            kind: AtomicU32::new(0),
            capacity: AtomicU64::new(0),
            elem_size: AtomicU64::new(0),
            elem_align: AtomicU64::new(0),
            fingerprint: AtomicU64::new(0),
            stride: AtomicU64::new(0),
            slots_offset: AtomicU64::new(0),
            total_size: AtomicU64::new(0),
            sem_id: AtomicU32::new(0),
            creator_pid: AtomicU32::new(0),
            creator_start: AtomicU64::new(0),
            state: AtomicU32::new(0),
            transport: AtomicU32::new(0),
            limit: AtomicU64::new(0),
            type_name: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

#[cfg(loom)]
impl Control {
    /// All-zero control words made of loom atomics (see [`Header::loom_new`]).
    pub(crate) fn loom_new() -> Control {
        Control {
            head: AtomicU64::new(0),
            received_frames: AtomicU64::new(0),
            _p0: [0; LINE - 16],
            tail: AtomicU64::new(0),
            sent_frames: AtomicU64::new(0),
            _p1: [0; LINE - 16],
            recv_waiters: AtomicU32::new(0),
            send_waiters: AtomicU32::new(0),
            _p2: [0; LINE - 8],
            senders: AtomicU32::new(0),
            receivers: AtomicU32::new(0),
            ever_senders: AtomicU32::new(0),
            ever_receivers: AtomicU32::new(0),
            closed: AtomicU32::new(0),
            needs_fence: AtomicU32::new(0),
            _p3: [0; LINE - 24],
            wakeups: AtomicU64::new(0),
            sleeps: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            _p4: [0; LINE - 24],
        }
    }
}

/// A plain copy of a header, taken once and validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderValues {
    pub magic: u64,
    pub version: u32,
    pub kind: u32,
    pub capacity: u64,
    pub elem_size: u64,
    pub elem_align: u64,
    pub fingerprint: u64,
    pub stride: u64,
    pub slots_offset: u64,
    pub total_size: u64,
    pub sem_id: u32,
    pub creator_pid: u32,
    pub creator_start: u64,
    pub state: u32,
    pub transport: u32,
    pub limit: u64,
    pub type_name: [u8; TYPE_NAME_LEN],
}

impl Header {
    /// Copies every field out: `state` first with Acquire, then the rest Relaxed, so a
    /// snapshot that reads `Ready` also reads every field the creator wrote before it.
    pub fn snapshot(&self) -> HeaderValues {
        // SYNC(state): Acquire; pairs with the creator's Release store of `Ready` in
        // `transport::shm::setup` (create): loaded before every other field, so the
        // Relaxed loads below cannot be satisfied with values older than `Ready`.
        let state = self.state.load(Ordering::Acquire);
        let r = Ordering::Relaxed;
        let mut type_name = [0u8; TYPE_NAME_LEN];
        for (chunk, w) in type_name.chunks_exact_mut(8).zip(&self.type_name) {
            chunk.copy_from_slice(&w.load(r).to_le_bytes());
        }
        HeaderValues {
            magic: self.magic.load(r),
            version: self.version.load(r),
            kind: self.kind.load(r),
            capacity: self.capacity.load(r),
            elem_size: self.elem_size.load(r),
            elem_align: self.elem_align.load(r),
            fingerprint: self.fingerprint.load(r),
            stride: self.stride.load(r),
            slots_offset: self.slots_offset.load(r),
            total_size: self.total_size.load(r),
            sem_id: self.sem_id.load(r),
            creator_pid: self.creator_pid.load(r),
            creator_start: self.creator_start.load(r),
            state,
            transport: self.transport.load(r),
            limit: self.limit.load(r),
            type_name,
        }
    }

    /// Writes every field but `state` (the creator publishes that last).
    pub fn fill(&self, v: &HeaderValues) {
        let r = Ordering::Relaxed;
        self.magic.store(v.magic, r);
        self.version.store(v.version, r);
        self.kind.store(v.kind, r);
        self.capacity.store(v.capacity, r);
        self.elem_size.store(v.elem_size, r);
        self.elem_align.store(v.elem_align, r);
        self.fingerprint.store(v.fingerprint, r);
        self.stride.store(v.stride, r);
        self.slots_offset.store(v.slots_offset, r);
        self.total_size.store(v.total_size, r);
        self.sem_id.store(v.sem_id, r);
        self.creator_pid.store(v.creator_pid, r);
        self.creator_start.store(v.creator_start, r);
        self.transport.store(v.transport, r);
        self.limit.store(v.limit, r);
        for (w, chunk) in self.type_name.iter().zip(v.type_name.chunks_exact(8)) {
            w.store(u64::from_le_bytes(chunk.try_into().expect("8 bytes")), r);
        }
    }
}

/// Byte offset of an MPMC slot's payload: after its sequence word and owner words.
#[cfg(not(loom))]
pub const MPMC_SLOT_HEADER: usize = 16;

/// Byte offset of an SPSC slot's payload: after its stamp.
#[cfg(not(loom))]
pub const SPSC_SLOT_HEADER: usize = 8;

/// Byte offset of an MPMC slot's owner words (after its stamp).
pub const OWNER_OFFSET: usize = size_of::<AtomicU64>();

/// Under loom a slot header also holds a `loom::cell::UnsafeCell<()>` through which
/// the payload accesses are tracked (loom cannot see plain memory): here, after the
/// stamp (SPSC) or the owner words (MPMC).
#[cfg(loom)]
pub const fn loom_cell_offset(kind: Flavor) -> usize {
    match kind {
        Flavor::Spsc => round_up(size_of::<AtomicU64>(), 8),
        Flavor::Mpmc => round_up(OWNER_OFFSET + 2 * size_of::<AtomicU32>(), 8),
    }
}

/// Byte offset of an MPMC slot's payload (loom: sized for loom's types).
#[cfg(loom)]
pub const MPMC_SLOT_HEADER: usize =
    loom_cell_offset(Flavor::Mpmc) + size_of::<loom::cell::UnsafeCell<()>>();

/// Byte offset of an SPSC slot's payload (loom: sized for loom's types).
#[cfg(loom)]
pub const SPSC_SLOT_HEADER: usize =
    loom_cell_offset(Flavor::Spsc) + size_of::<loom::cell::UnsafeCell<()>>();

/// The fewest slots a ring of `kind` has: a one-slot Vyukov ring cannot tell
/// "published in lap n" (stamp `pos + 1`) from "free in lap n + 1" (`pos +
/// capacity`), so MPMC rings have two.
pub const fn min_slots(kind: Flavor) -> u64 {
    match kind {
        Flavor::Spsc => 1,
        Flavor::Mpmc => 2,
    }
}

const fn round_up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

/// Entries of an MPMC segment's claimer table: at most this many processes use one
/// MPMC ring at a time.
pub const CLAIMERS: usize = 256;

/// Offset of the MPMC claimer table (right after the control block).
pub const CLAIMERS_OFFSET: usize = CONTROL_OFFSET + size_of::<Control>();

/// One entry of an MPMC segment's claimer table: the process that slot claims tagged
/// with this entry's number (index + 1) belong to.
///
/// Who holds an entry is not written here but in the kernel: each entry has a
/// liveness semaphore in the channel's set that its holder raised with `SEM_UNDO`
/// (see `transport::shm::liveness`), so the kernel lowers it when the holder dies, in
/// any PID namespace. The words here are what a holder records once it holds the
/// entry: a generation bumped on every take (a proof of death names the generation it
/// saw) and its pid, start time and pid namespace, for diagnostics only.
#[derive(Debug)]
#[repr(C)]
pub struct Claimer {
    /// `pid << 32 | (start time & 0xffff_ffff)` of the holder (as its own PID
    /// namespace sees it), 0 when the entry was given back cleanly. Diagnostics.
    pub id: AtomicU64,
    /// The inode of the holder's pid namespace (0 if unknown). Diagnostics.
    pub pid_ns: AtomicU64,
    /// Bumped by every process that takes the entry (0: never taken).
    pub generation: AtomicU64,
    /// Reserved (0).
    pub reserved: AtomicU64,
}

/// Bytes of the claimer table.
pub const CLAIMERS_BYTES: usize = CLAIMERS * size_of::<Claimer>();

/// Where everything lives for one (kind, capacity, element) triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub kind: Flavor,
    /// Slots (a power of two).
    pub capacity: u64,
    /// The most messages in flight (`1..=capacity`): the capacity a user asked for.
    pub limit: u64,
    pub elem_size: usize,
    pub elem_align: usize,
    /// Distance between consecutive slots.
    pub stride: usize,
    /// Offset of the payload inside a slot.
    pub data_offset: usize,
    /// Offset of slot 0 from the segment start.
    pub slots_offset: usize,
    /// Bytes needed for the whole segment.
    pub total_size: usize,
}

impl Geometry {
    /// The geometry for `capacity` slots (already a power of two) of `T`.
    pub fn for_type<T>(kind: Flavor, capacity: u64) -> Option<Geometry> {
        Geometry::new(kind, capacity, size_of::<T>(), align_of::<T>())
    }

    /// The geometry for raw element size and alignment; `None` when out of range.
    pub fn new(
        kind: Flavor,
        capacity: u64,
        elem_size: usize,
        elem_align: usize,
    ) -> Option<Geometry> {
        if !capacity.is_power_of_two() || capacity > MAX_CAPACITY {
            return None;
        }
        // MPMC stamps need two slots at least (see `mpmc`).
        if capacity < min_slots(kind) {
            return None;
        }
        if !elem_align.is_power_of_two() || elem_align > MAX_ALIGN || elem_size > (1 << 30) {
            return None;
        }
        // Every slot starts with its stamp (and, MPMC, its claimer), so a consumer
        // finds a message and its payload on the same cache line.
        let header = match kind {
            Flavor::Spsc => SPSC_SLOT_HEADER,
            Flavor::Mpmc => MPMC_SLOT_HEADER,
        };
        let a = elem_align.max(8);
        let data_offset = round_up(header, a);
        let stride = round_up(data_offset + elem_size, a);
        let table = match kind {
            Flavor::Spsc => 0,
            Flavor::Mpmc => CLAIMERS_BYTES,
        };
        let slots_offset = round_up(CLAIMERS_OFFSET + table, elem_align.max(LINE));
        let slots_bytes = (stride as u64).checked_mul(capacity)?;
        let total = (slots_offset as u64).checked_add(slots_bytes)?;
        let total_size = usize::try_from(total).ok()?;
        Some(Geometry {
            kind,
            capacity,
            limit: capacity,
            elem_size,
            elem_align,
            stride,
            data_offset,
            slots_offset,
            total_size,
        })
    }

    /// The same geometry holding at most `limit` messages at a time (`None` unless
    /// `1 <= limit <= capacity`).
    pub fn with_limit(self, limit: u64) -> Option<Geometry> {
        (1..=self.capacity)
            .contains(&limit)
            .then_some(Geometry { limit, ..self })
    }

    /// The smallest ring for at most `limit` messages: `limit` rounded up to a power
    /// of two (MPMC: at least two slots, see `mpmc`), with fullness checked against
    /// `limit` itself.
    pub fn for_limit(
        kind: Flavor,
        limit: u64,
        elem_size: usize,
        elem_align: usize,
    ) -> Option<Geometry> {
        let slots = limit.checked_next_power_of_two()?.max(min_slots(kind));
        Geometry::new(kind, slots, elem_size, elem_align)?.with_limit(limit)
    }

    /// `capacity - 1`, the index mask.
    pub fn mask(&self) -> u64 {
        self.capacity - 1
    }

    /// The geometry of a frame ring of `ring_bytes` bytes (a power of two in
    /// [`MIN_FRAME_RING`]`..=`[`MAX_FRAME_RING`]) carrying frames of at most `max_len`
    /// bytes, which must keep a record within a quarter of the ring
    /// ([`frame_max_len`]); `None` otherwise.
    ///
    /// Its "slots" are the ring's bytes (`capacity` = `limit` = `ring_bytes`,
    /// `stride` 1, `data_offset` 0), so a typed helper misapplied to it still
    /// addresses only the byte area; `elem_size` is `max_len`, `elem_align` the record
    /// alignment (8). The flavor is SPSC: one producer, one consumer, exclusive roles.
    pub fn frames(ring_bytes: u64, max_len: u64) -> Option<Geometry> {
        if !ring_bytes.is_power_of_two()
            || !(MIN_FRAME_RING..=MAX_FRAME_RING).contains(&ring_bytes)
            || max_len > frame_max_len(ring_bytes)
        {
            return None;
        }
        let slots_offset = round_up(CLAIMERS_OFFSET, LINE);
        let total_size = usize::try_from((slots_offset as u64).checked_add(ring_bytes)?).ok()?;
        Some(Geometry {
            kind: Flavor::Spsc,
            capacity: ring_bytes,
            limit: ring_bytes,
            elem_size: usize::try_from(max_len).ok()?,
            elem_align: FRAME_ALIGN,
            stride: 1,
            data_offset: 0,
            slots_offset,
            total_size,
        })
    }
}

/// The header's `kind` word of a frame ring: the SPSC flavor's word with this bit
/// set, which no typed flavor has (a typed opener's flavor check refuses it even
/// with a pinned fingerprint).
pub const KIND_FRAMES: u32 = 0x100 | Flavor::Spsc as u32;
/// The fingerprint a frame ring's header carries (no element type has it: it hashes a
/// text no type description produces), so a typed opener gets `TypeMismatch`.
pub const FRAMES_FINGERPRINT: u64 = fnv1a(b"sysvring byte frames, layout 1", 0xcbf2_9ce4_8422_2325);
/// The type name a frame ring's header carries (what a typed opener's
/// `TypeMismatch` names).
pub const FRAMES_TYPE_NAME: &str = "byte frames";
/// Alignment of every record in a frame ring (its header is one `u64`).
pub const FRAME_ALIGN: usize = 8;
/// Bytes of a record's header word.
pub const FRAME_HEADER: u64 = 8;
/// The smallest frame ring, in bytes.
pub const MIN_FRAME_RING: u64 = 64;
/// The largest frame ring, in bytes (record lengths are 32-bit).
pub const MAX_FRAME_RING: u64 = 1 << 32;

/// Bytes of the record of a frame of `len` bytes: its header word and the payload
/// rounded up to [`FRAME_ALIGN`].
pub const fn frame_record(len: u64) -> u64 {
    FRAME_HEADER + len.div_ceil(FRAME_ALIGN as u64) * FRAME_ALIGN as u64
}

/// The longest frame a ring of `ring_bytes` admits: its record fits in a quarter of
/// the ring, so a frame always fits once the ring drains, whatever padding the wrap
/// costs.
pub const fn frame_max_len(ring_bytes: u64) -> u64 {
    (ring_bytes / 4).saturating_sub(FRAME_HEADER)
}

/// The smallest segment a ring layout has (an SPSC ring of one empty slot).
pub fn min_ring_size() -> u64 {
    [(Flavor::Spsc, 1), (Flavor::Mpmc, 2)]
        .into_iter()
        .filter_map(|(k, n)| Geometry::new(k, n, 0, 1))
        .map(|g| g.total_size as u64)
        .min()
        .unwrap_or((CONTROL_OFFSET + size_of::<Control>()) as u64)
}

/// Whether a segment of `size` bytes may hold a ring: every ring is created with its
/// layout's exact total size, at least [`min_ring_size`], a multiple of 8.
pub fn ring_size_plausible(size: u64) -> bool {
    size >= min_ring_size() && size % 8 == 0
}

/// A stable 64-bit FNV-1a hash; used for type fingerprints.
pub const fn fnv1a(bytes: &[u8], mut h: u64) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_is_aligned_and_bounded() {
        let g = Geometry::new(Flavor::Spsc, 8, 8, 8).unwrap();
        assert_eq!((g.data_offset, g.stride), (8, 16));
        assert_eq!(g.slots_offset % LINE, 0);
        assert_eq!(g.total_size, g.slots_offset + 128);
        let m = Geometry::new(Flavor::Mpmc, 4, 3, 1).unwrap();
        assert_eq!(m.data_offset, 16);
        assert_eq!(m.stride, 24);
        let big = Geometry::new(Flavor::Mpmc, 2, 10, 256).unwrap();
        assert_eq!(big.data_offset, 256);
        assert_eq!(big.slots_offset % 256, 0);
        assert!(Geometry::new(Flavor::Spsc, 3, 8, 8).is_none());
        assert!(Geometry::new(Flavor::Spsc, 8, 8, 3).is_none());
        assert!(Geometry::new(Flavor::Spsc, 1 << 40, 8, 8).is_none());
    }
}
