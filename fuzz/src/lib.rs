//! The bodies of the fuzz targets of `sysvring`, one function per target.
//!
//! Shared memory is an input channel: another process can write anything into it at
//! any time. A corrupt or malicious peer may make data wrong or make calls fail with
//! an error, but it must never cause undefined behaviour, an out-of-bounds access, a
//! panic or an endless hang in our process. Each function here decodes its input by
//! hand (a tiny [`Cursor`], no `arbitrary`), so the same file is both the library of
//! the cargo-fuzz crate in `fuzz/` and, through `#[path]`, a module of the stable
//! `cargo test` replay in `tests/fuzz_replay.rs`.
//!
//! - [`open_header`]: hostile bytes as a segment's header and control words (or as
//!   the semaphore-set header of a message-queue channel), then `open` and a few
//!   operations: a clean `Error`, or correct behaviour when nothing was corrupted.
//! - [`hostile_peer`]: channel operations interleaved with arbitrary writes to the
//!   shared indices, slot stamps, owners and state words through a second mapping:
//!   no panic, every call returns within its timeout.
//! - [`msgq_frames`]: foreign frames (any type, any size) in a message-queue
//!   channel's queue: only frames of exactly `size_of::<T>()` bytes and type 1 are
//!   received, in order, and every other frame of type 1 is dropped and counted.
//! - [`ops_vs_model`]: operation sequences checked against a `VecDeque`, both flavours
//!   and both transports.
//! - [`frame_headers`]: a byte-frame channel whose record headers and indices a
//!   hostile peer writes between real sends and receives: clean errors, bounded
//!   reads, no hang; exact delivery until the first hostile write.
//! - [`c_fields`]: C field tables (any names, codes, dimensions, offsets, sizes,
//!   nesting with shared structs and cycles) through `sysvring_fingerprint`: always
//!   an answer, and the Rust description's answer where there is one.
//!
//! Every System V object made here is removed again before the function returns
//! (channels by their creator's handle, the rest by [`Objects`]). The functions are
//! deterministic: the input alone decides what happens.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::mem::size_of;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};
use sysvring::ring::layout::{
    Control, Geometry, Header, CLAIMERS, CONTROL_OFFSET, MAGIC, STATE_READY, VERSION,
};
use sysvring::ring::{mpmc, RawRing};
use sysvring::sys::{Attachment, Key, MsgQueue, SemSet, Shm};
use sysvring::{
    AnyChannel, Builder, Error, Flavor, Receiver, RecvTimeoutError, SendTimeoutError, Sender, Spin,
    Transport, TryRecvError, TrySendError,
};

// ---------------------------------------------------------------------------------
// Input decoding and helpers
// ---------------------------------------------------------------------------------

/// Reads the fuzz input front to back; past the end every read yields zeros.
struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8]) -> Self {
        Cursor { data }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// A value in `0..n` (`n > 0`).
    fn below(&mut self, n: u8) -> u8 {
        self.u8() % n
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | u32::from(self.u16()) << 16
    }

    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }

    /// Up to `n` bytes (fewer at the end of the input).
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.data.split_at(n.min(self.data.len()));
        self.data = b;
        a
    }

    /// Exactly `n` bytes: the input's, then a filler pattern.
    fn filled(&mut self, n: usize) -> Vec<u8> {
        let mut v = self.bytes(n).to_vec();
        let k = v.len();
        v.extend((k..n).map(|i| i as u8 ^ 0xa5));
        v
    }

    /// A small signed delta.
    fn delta(&mut self) -> u64 {
        i64::from(self.u8() as i8) as u64
    }
}

/// How much longer than its timeout a call may take before it counts as hung: the
/// fuzzers run under AddressSanitizer, two at a time on two cores. A hang is endless;
/// this only has to be finite.
const SLACK: Duration = Duration::from_secs(3);

/// Runs `f`, which must return within `limit` (plus [`SLACK`]).
fn timed<R>(what: &str, limit: Duration, f: impl FnOnce() -> R) -> R {
    let start = Instant::now();
    let r = f();
    let took = start.elapsed();
    assert!(
        took <= limit + SLACK,
        "{what} took {took:?}, its timeout was {limit:?}"
    );
    r
}

/// A short timeout for `send_timeout`/`recv_timeout`.
fn short_timeout(c: &mut Cursor) -> Duration {
    match c.below(4) {
        0 => Duration::ZERO,
        1 => Duration::from_micros(50),
        2 => Duration::from_micros(500),
        _ => Duration::from_millis(2),
    }
}

/// Longer than two presence slices (100 ms each), so a blocked side runs the MPMC
/// recovery (a stuck slot seen twice, a slice apart) at least once. Only inputs whose
/// first byte has bit 7 set get one, at most one each, which keeps the fuzzer fast.
const LONG_WAIT: Duration = Duration::from_millis(230);

fn spin(c: &mut Cursor) -> Spin {
    match c.below(3) {
        0 => Spin::default(),
        1 => Spin::Never,
        _ => Spin::For(Duration::from_micros(5)),
    }
}

/// A key for objects opened by key (`IPC_PRIVATE` ones cannot be): a tag byte, this
/// process's pid and a counter. A key still taken (a crashed earlier run, another
/// process) is skipped by the callers, which retry with the next one.
fn fresh_key() -> Key {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id() & 0xffff;
    Key::from_raw((0x1f00_0000 | pid << 8 | (n & 0xff)) as i32)
}

/// Kernel objects made outside a channel: removed on drop, whatever happened.
#[derive(Default)]
struct Objects {
    shm: Vec<Shm>,
    sems: Vec<SemSet>,
    queues: Vec<MsgQueue>,
}

impl Drop for Objects {
    fn drop(&mut self) {
        for s in &self.shm {
            let _ = s.remove();
        }
        for s in &self.sems {
            let _ = s.remove();
        }
        for q in &self.queues {
            let _ = q.remove();
        }
    }
}

impl Objects {
    /// A 6-semaphore set initialised as a ring channel's creator does.
    /// A proper ring set for `kind`: the 6 fixed semaphores (roles at 1) and, MPMC,
    /// the 256 liveness semaphores of its claimer table.
    fn ring_sems(&mut self, kind: Flavor) -> Option<SemSet> {
        let n: u16 = match kind {
            Flavor::Spsc => 6,
            Flavor::Mpmc => 6 + CLAIMERS as u16,
        };
        let s = SemSet::create(Key::private(), n, 0o600).ok()?;
        self.sems.push(s);
        let mut vals = vec![0u16; usize::from(n)];
        vals[4] = 1;
        vals[5] = 1;
        s.set_all(&vals).ok()?;
        Some(s)
    }

    /// An id a hostile header may name without reaching anybody else's objects:
    /// one of ours (a proper set, or one of the wrong size), a removed one, or one
    /// that cannot exist. Arbitrary ids are never used: they could name a live set of
    /// another program (this runs on shared machines).
    /// Returns the id and whether it names a proper (freshly initialised) set.
    fn sem_id(&mut self, c: &mut Cursor, kind: Flavor) -> (u32, bool) {
        let id = match c.below(5) {
            0 => {
                return self
                    .ring_sems(kind)
                    .map_or((u32::MAX, false), |s| (s.id() as u32, true))
            }
            1 => {
                let n = 1 + u16::from(c.below(30));
                match SemSet::create(Key::private(), n, 0o600) {
                    Ok(s) => {
                        self.sems.push(s);
                        s.id() as u32
                    }
                    Err(_) => u32::MAX,
                }
            }
            2 => match SemSet::create(Key::private(), 6, 0o600) {
                Ok(s) => {
                    let _ = s.remove();
                    s.id() as u32
                }
                Err(_) => u32::MAX,
            },
            3 => 0x7fff_ffff,
            _ => u32::MAX,
        };
        (id, false)
    }

    /// A message-queue id with the same guarantee as [`Objects::sem_id`].
    fn queue_id(&mut self, c: &mut Cursor, own: i32) -> u32 {
        match c.below(4) {
            0 => own as u32,
            1 => match MsgQueue::create(Key::private(), 0o600) {
                Ok(q) => {
                    let _ = q.remove();
                    q.id() as u32
                }
                Err(_) => 0x7fff_ffff,
            },
            2 => match MsgQueue::create(Key::private(), 0o600) {
                Ok(q) => {
                    self.queues.push(q);
                    q.id() as u32
                }
                Err(_) => 0x7fff_ffff,
            },
            _ => 0x7fff_ffff,
        }
    }
}

/// Creates a channel at a fresh key (see [`fresh_key`]).
fn create_keyed<T: sysvring::Message>(build: impl Fn(Builder<T>) -> Builder<T>) -> AnyChannel<T> {
    for _ in 0..512 {
        match build(Builder::new(fresh_key())).create() {
            Ok(ch) => return ch,
            Err(Error::AlreadyExists) => continue,
            Err(e) => panic!("cannot create a channel: {e}"),
        }
    }
    panic!("no free key");
}

/// A second, read-write mapping of a ring channel's segment, as a hostile peer has,
/// with a ring view computed for `T` (offsets from `sysvring::ring::layout`).
struct Peer {
    att: Attachment,
    ring: RawRing,
}

impl Peer {
    fn new<T: Pod>(ch: &AnyChannel<T>) -> Peer {
        let kind = ch.flavor();
        let geo = Geometry::for_limit(
            kind,
            ch.capacity() as u64,
            std::mem::size_of::<T>(),
            std::mem::align_of::<T>(),
        )
        .expect("geometry");
        let id = ch.shm_id().expect("a ring channel");
        let att = Shm::from_id(id).attach(false).expect("attach");
        assert!(att.len() >= geo.total_size);
        let base = NonNull::new(att.as_ptr()).expect("non-null mapping");
        // SAFETY: the mapping covers the whole segment (at least total_size bytes, just
        // checked), is page-aligned, and outlives `ring` (both live in this Peer).
        let ring = unsafe { RawRing::new(base, geo) };
        Peer { att, ring }
    }

    fn geo(&self) -> &Geometry {
        self.ring.geometry()
    }

    fn control(&self) -> &Control {
        self.ring.control()
    }

    /// One hostile write, chosen by the input.
    fn scribble(&self, c: &mut Cursor) {
        let ctl = self.control();
        let r = Ordering::Relaxed;
        let head = ctl.head.load(r);
        let tail = ctl.tail.load(r);
        let cap = self.geo().capacity;
        match c.below(6) {
            // The indices: near the other index, near themselves, or anything.
            0 | 1 => {
                let idx = if c.u8() & 1 == 0 {
                    &ctl.head
                } else {
                    &ctl.tail
                };
                let v = match c.below(4) {
                    0 => head.wrapping_add(c.delta()),
                    1 => tail.wrapping_add(c.delta()),
                    2 => idx.load(r) ^ 1 << c.below(64),
                    _ => c.u64(),
                };
                idx.store(v, r);
            }
            // A slot stamp, for a position near head or tail: "free", "published",
            // "next lap", or anything.
            2 => {
                let base = if c.u8() & 1 == 0 { head } else { tail };
                let p = base.wrapping_add(c.delta());
                let v = match c.below(5) {
                    0 => p,
                    1 => p.wrapping_add(1),
                    2 => p.wrapping_add(cap),
                    3 => p.wrapping_sub(cap).wrapping_add(1),
                    _ => c.u64(),
                };
                self.ring.stamp(p).store(v, r);
            }
            // The 32-bit state words: waiters, presence mirrors, closed, fences.
            3 => {
                let word = match c.below(8) {
                    0 => &ctl.recv_waiters,
                    1 => &ctl.send_waiters,
                    2 => &ctl.senders,
                    3 => &ctl.receivers,
                    4 => &ctl.ever_senders,
                    5 => &ctl.ever_receivers,
                    6 => &ctl.closed,
                    _ => &ctl.needs_fence,
                };
                let v = match c.below(5) {
                    0 => 0,
                    1 => 1,
                    2 => u32::MAX,
                    3 => 0x7fff,
                    _ => c.u32(),
                };
                word.store(v, r);
            }
            // A slot's words after its stamp (MPMC: the claimer's pid and start time).
            4 => {
                let i = (u64::from(c.u8()) & (cap - 1)) as usize;
                let off = self.geo().slots_offset + i * self.geo().stride + size_of::<u64>();
                let pid = match c.below(4) {
                    0 => 0,
                    1 => std::process::id(),
                    2 => 1,
                    _ => c.u32(),
                };
                let mut b = pid.to_le_bytes().to_vec();
                b.extend_from_slice(&c.u32().to_le_bytes());
                let n = b.len().min(self.geo().stride - size_of::<u64>());
                self.att.write(off, &b[..n]);
            }
            // Raw bytes anywhere in the segment (header, padding, payloads).
            _ => {
                let total = self.geo().total_size;
                let off = c.u32() as usize % total;
                let len = usize::from(c.below(17)).min(total - off);
                let b = c.filled(len);
                self.att.write(off, &b);
            }
        }
    }
}

/// An element type whose values are told apart by a sequence number.
trait Elem: sysvring::Message + PartialEq + Debug {
    fn make(n: u64) -> Self;
}

impl Elem for u8 {
    fn make(n: u64) -> u8 {
        n as u8
    }
}

impl Elem for u64 {
    fn make(n: u64) -> u64 {
        n
    }
}

impl Elem for [u8; 3] {
    fn make(n: u64) -> [u8; 3] {
        let b = n.to_le_bytes();
        [b[0], b[1], b[2]]
    }
}

/// A message with a checksum: bytes that were not written as one `Msg` show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable, sysvring::Message)]
#[repr(C)]
struct Msg {
    seq: u64,
    val: u64,
    check: u64,
}

impl Msg {
    fn checksum(seq: u64, val: u64) -> u64 {
        (seq ^ 0x5eed_5eed_5eed_5eed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29)
            ^ val
    }

    fn is_valid(&self) -> bool {
        self.check == Msg::checksum(self.seq, self.val)
    }
}

impl Elem for Msg {
    fn make(n: u64) -> Msg {
        let val = n.wrapping_mul(0x2545_f491_4f6c_dd1d);
        Msg {
            seq: n,
            val,
            check: Msg::checksum(n, val),
        }
    }
}

/// A large, over-aligned element (payload at offset 64 of its slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable, sysvring::Message)]
#[repr(C, align(64))]
struct Wide {
    words: [u64; 8],
}

impl Elem for Wide {
    fn make(n: u64) -> Wide {
        let mut words = [0; 8];
        for (i, w) in words.iter_mut().enumerate() {
            *w = n.wrapping_add(i as u64);
        }
        Wide { words }
    }
}

fn flavor(bit: u8) -> Flavor {
    if bit & 1 == 0 {
        Flavor::Spsc
    } else {
        Flavor::Mpmc
    }
}

fn pick<X>(v: &[X], c: &mut Cursor) -> Option<usize> {
    let i = usize::from(c.u8());
    (!v.is_empty()).then(|| i % v.len())
}

// ---------------------------------------------------------------------------------
// hostile_peer
// ---------------------------------------------------------------------------------

/// Channel operations interleaved with arbitrary writes of a hostile peer to the
/// shared indices, stamps, owners and state words: every call returns (within its
/// timeout), nothing panics, nothing reads or writes out of bounds (AddressSanitizer
/// under `cargo fuzz`).
pub fn hostile_peer(data: &[u8]) {
    let mut c = Cursor::new(data);
    let h = c.u8();
    let fl = flavor(h);
    let cap = 1usize << (h >> 1 & 3);
    let long = h & 0x80 != 0;
    let sp = spin(&mut c);
    match h >> 3 & 3 {
        0 => hostile::<u64>(&mut c, fl, cap, sp, long),
        1 => hostile::<u8>(&mut c, fl, cap, sp, long),
        2 => hostile::<Msg>(&mut c, fl, cap, sp, long),
        _ => hostile::<Wide>(&mut c, fl, cap, sp, long),
    }
}

fn hostile<T: Elem>(c: &mut Cursor, fl: Flavor, cap: usize, sp: Spin, mut long_wait: bool) {
    let ch = Builder::<T>::new(Key::private())
        .capacity(cap)
        .flavor(fl)
        .transport(Transport::ShmRing)
        .spin(sp)
        .create()
        .unwrap_or_else(|e| panic!("cannot create a channel: {e}"));
    let peer = Peer::new(&ch);
    let mut tx: Vec<Sender<T>> = ch.sender().into_iter().collect();
    let mut rx: Vec<Receiver<T>> = ch.receiver().into_iter().collect();
    let mut n = 0u64;
    let mut next = || {
        n += 1;
        T::make(n)
    };
    let instant = Duration::ZERO;
    while !c.is_empty() {
        match c.below(16) {
            0 => {
                if let Some(i) = pick(&tx, c) {
                    let v = next();
                    let _ = timed("try_send", instant, || tx[i].try_send(v));
                }
            }
            1 => {
                if let Some(i) = pick(&rx, c) {
                    let _ = timed("try_recv", instant, || rx[i].try_recv());
                }
            }
            2 => {
                if let Some(i) = pick(&tx, c) {
                    let vs: Vec<T> = (0..c.below(9)).map(|_| next()).collect();
                    if let Ok(k) = timed("send_batch", instant, || tx[i].send_batch(&vs)) {
                        assert!(k <= vs.len());
                    }
                }
            }
            3 => {
                if let Some(i) = pick(&rx, c) {
                    let mut buf = vec![T::zeroed(); usize::from(c.below(9))];
                    if let Ok(k) = timed("recv_batch", instant, || rx[i].recv_batch(&mut buf)) {
                        assert!(k <= buf.len());
                    }
                }
            }
            4 => {
                if let Some(i) = pick(&tx, c) {
                    let t = short_timeout(c);
                    let v = next();
                    let _ = timed("send_timeout", t, || tx[i].send_timeout(v, t));
                }
            }
            5 => {
                if let Some(i) = pick(&rx, c) {
                    let t = short_timeout(c);
                    let _ = timed("recv_timeout", t, || rx[i].recv_timeout(t));
                }
            }
            6..=9 => peer.scribble(c),
            // A peer's recovery of a stuck MPMC slot, on whatever the state is now.
            10 => {
                if fl == Flavor::Mpmc {
                    if let Some(st) = mpmc::stuck(&peer.ring) {
                        let _ = mpmc::skip(&peer.ring, &st);
                    }
                }
            }
            // Handles come and go (a new SPSC producer scans the stamps after `tail`).
            11 => {
                if c.u8() & 1 == 0 {
                    if let Some(i) = pick(&tx, c) {
                        drop(tx.swap_remove(i));
                    }
                } else if tx.len() < 2 {
                    tx.extend(timed("sender", instant, || ch.sender()));
                }
            }
            12 => {
                if c.u8() & 1 == 0 {
                    if let Some(i) = pick(&rx, c) {
                        drop(rx.swap_remove(i));
                    }
                } else if rx.len() < 2 {
                    rx.extend(timed("receiver", instant, || ch.receiver()));
                }
            }
            // Read-only views.
            13 => {
                let _ = (ch.len(), ch.is_empty(), ch.capacity(), ch.stats());
                for s in &tx {
                    let _ = (s.len(), s.is_empty(), s.is_full(), s.capacity());
                }
                for r in &rx {
                    let _ = (r.len(), r.is_empty(), r.is_full(), r.capacity());
                }
            }
            14 => {
                if let Some(i) = pick(&rx, c) {
                    let k = usize::from(c.below(5));
                    let _ = timed("try_iter", instant, || rx[i].try_iter().take(k).count());
                }
            }
            // One long wait per input: runs the transport's own stuck-slot recovery.
            _ => {
                if std::mem::take(&mut long_wait) {
                    if c.u8() & 1 == 0 {
                        if let Some(i) = pick(&rx, c) {
                            let _ =
                                timed("recv_timeout", LONG_WAIT, || rx[i].recv_timeout(LONG_WAIT));
                        }
                    } else if let Some(i) = pick(&tx, c) {
                        let v = next();
                        let _ = timed("send_timeout", LONG_WAIT, || {
                            tx[i].send_timeout(v, LONG_WAIT)
                        });
                    }
                }
            }
        }
    }
    drop(tx);
    drop(rx);
    drop(peer);
    drop(ch);
}

// ---------------------------------------------------------------------------------
// open_header
// ---------------------------------------------------------------------------------

/// Hostile bytes as the header and control words of a segment (or the semaphore-set
/// header of a message-queue channel), then `open` with a short open timeout and a
/// few operations: either a clean `Error`, or a channel that behaves (checked exactly
/// when nothing was corrupted).
pub fn open_header(data: &[u8]) {
    let mut c = Cursor::new(data);
    match c.below(3) {
        0 => raw_segment(&mut c),
        1 => corrupted_ring(&mut c),
        _ => corrupted_msgq(&mut c),
    }
}

/// The smallest segment an opener maps at all (header and control words).
const MIN_SEGMENT: usize = CONTROL_OFFSET + size_of::<Control>();

/// The header of a well-formed ring of `u64` for `geo`, naming `sem_id`.
fn ring_header(geo: &Geometry, sem_id: u32) -> [u64; CONTROL_OFFSET / 8] {
    let mut w = [0u64; CONTROL_OFFSET / 8];
    // The `#[repr(C)]` Header, field by field (u32 pairs share a word).
    w[0] = MAGIC;
    w[1] = u64::from(VERSION) | u64::from(geo.kind as u32) << 32;
    w[2] = geo.capacity;
    w[3] = geo.elem_size as u64;
    w[4] = geo.elem_align as u64;
    w[5] = <u64 as sysvring::Message>::fingerprint();
    w[6] = geo.stride as u64;
    w[7] = geo.slots_offset as u64;
    w[8] = geo.total_size as u64;
    w[9] = u64::from(sem_id) | u64::from(std::process::id()) << 32;
    w[10] = 0;
    // state, then transport (1: the ring lives in this segment).
    w[11] = u64::from(STATE_READY) | 1 << 32;
    // The most messages in flight, then the type name ("u64", zero-padded).
    w[12] = geo.limit;
    let name = sysvring::message::encode_type_name(&<u64 as sysvring::Message>::type_name());
    for (i, chunk) in name.chunks_exact(8).enumerate() {
        w[13 + i] = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    }
    w
}

/// A segment of hostile size whose header is a well-formed one XORed with input bytes
/// (so all-zero input is a valid channel), with hostile control words and slots. Only
/// the semaphore id is kept to safe choices (see [`Objects::sem_id`]).
fn raw_segment(c: &mut Cursor) {
    let mut objs = Objects::default();
    let kind = if c.u8() & 1 == 0 {
        Flavor::Spsc
    } else {
        Flavor::Mpmc
    };
    let cap = 1u64 << c.below(5);
    let geo = Geometry::for_limit(kind, cap, 8, 8).expect("geometry");
    let size = match c.below(4) {
        0 => geo.total_size,
        1 => MIN_SEGMENT,
        2 => usize::from(c.u16()) + 1,
        _ => geo.total_size + usize::from(c.u8()),
    };
    let Some((key, shm)) = (0..512).find_map(|_| {
        let k = fresh_key();
        Shm::create(k, size, 0o600).ok().map(|s| (k, s))
    }) else {
        return;
    };
    objs.shm.push(shm);
    let Ok(att) = shm.attach(false) else { return };
    let (sem_id, sem_ok) = objs.sem_id(c, kind);
    let mut header = ring_header(&geo, sem_id);
    for (i, b) in c.bytes(CONTROL_OFFSET).iter().enumerate() {
        header[i / 8] ^= u64::from(*b) << (8 * (i % 8));
    }
    // Keep the semaphore id a safe one whatever the XOR did.
    header[9] = header[9] & !0xffff_ffff | u64::from(sem_id);
    let bytes: &[u8] = bytemuck::cast_slice(&header);
    att.write(0, &bytes[..bytes.len().min(att.len())]);
    let ctl = c.bytes(size_of::<Control>());
    if CONTROL_OFFSET + ctl.len() <= att.len() {
        att.write(CONTROL_OFFSET, ctl);
    }
    if att.len() > MIN_SEGMENT {
        let slots = c.bytes(att.len() - MIN_SEGMENT);
        att.write(MIN_SEGMENT, slots);
    }
    // The opener validates the header only: hostile control words and slots must
    // not stop a well-formed channel from opening.
    let clean = header == ring_header(&geo, sem_id) && size >= geo.total_size && sem_ok;
    let builder = expectations(c, Builder::<u64>::new(key));
    let strict = builder_is_plain(&builder);
    let r = timed("open", OPEN_TIMEOUT, || builder.open());
    match r {
        Ok(ch) => exercise(&ch, c),
        Err(e) => assert!(!clean || !strict, "open of a well-formed segment: {e}"),
    }
    drop(att);
}

/// How long `open` waits for a header to become ready.
const OPEN_TIMEOUT: Duration = Duration::from_millis(2);

/// The opener's expectations: none, or the flavor and capacity of the input.
fn expectations(c: &mut Cursor, b: Builder<u64>) -> Builder<u64> {
    let b = b.open_timeout(OPEN_TIMEOUT).spin(Spin::Never);
    match c.below(4) {
        0 => b,
        1 => b.flavor(flavor(c.u8())),
        2 => b.capacity(1 << c.below(6)),
        _ => b.flavor(flavor(c.u8())).capacity(1 << c.below(6)),
    }
}

/// A real ring channel whose header fields and control words are corrupted after the
/// creator published it; then a second handle opens it.
fn corrupted_ring(c: &mut Cursor) {
    let mut objs = Objects::default();
    let fl = flavor(c.u8());
    let cap = 1usize << c.below(5);
    let ch = create_keyed::<u64>(|b| b.transport(Transport::ShmRing).flavor(fl).capacity(cap));
    let sent: Vec<u64> = (100..100 + (c.below(3) as usize).min(ch.capacity()) as u64).collect();
    {
        let tx = ch.sender().expect("sender");
        for &v in &sent {
            tx.try_send(v).expect("room for the first messages");
        }
    }
    let peer = Peer::new(&ch);
    // SAFETY: the mapping starts with the Header (page-aligned, all atomics, valid
    // for any bytes) and outlives this reference (it lives in `peer`).
    let hdr = unsafe { &*peer.att.as_ptr().cast::<Header>() };
    let r = Ordering::Relaxed;
    let mutations = c.below(4);
    for _ in 0..mutations {
        let v = c.u64();
        let bit = 1u64 << c.below(64);
        let set64 = |a: &AtomicU64, how: u8| match how {
            0 => a.store(v, r),
            1 => a.store(a.load(r) ^ bit, r),
            _ => a.store(a.load(r).wrapping_add(v & 0xff).wrapping_sub(0x80), r),
        };
        let set32 = |a: &AtomicU32, how: u8| match how {
            0 => a.store(v as u32, r),
            1 => a.store(a.load(r) ^ bit as u32, r),
            _ => a.store(
                a.load(r).wrapping_add(v as u32 & 0xff).wrapping_sub(0x80),
                r,
            ),
        };
        let how = c.below(3);
        match c.below(18) {
            0 => set64(&hdr.magic, how),
            1 => set32(&hdr.version, how),
            2 => set32(&hdr.kind, how),
            3 => set64(&hdr.capacity, how),
            4 => set64(&hdr.elem_size, how),
            5 => set64(&hdr.elem_align, how),
            6 => set64(&hdr.fingerprint, how),
            7 => set64(&hdr.stride, how),
            8 => set64(&hdr.slots_offset, how),
            9 => set64(&hdr.total_size, how),
            10 => hdr.sem_id.store(objs.sem_id(c, fl).0, r),
            11 => set32(&hdr.creator_pid, how),
            12 => set64(&hdr.creator_start, how),
            13 => set32(&hdr.state, how),
            14 => set32(&hdr.transport, how),
            15 => set64(&hdr.limit, how),
            // The type name: any bytes (a reader decodes them lossily, for messages).
            16 => set64(&hdr.type_name[c.below(8) as usize], how),
            _ => {
                let w = u64::from_le_bytes([0xff, b'T', 0xc3, 0x28, b'\n', 0, 0x80, b'x']);
                hdr.type_name[c.below(8) as usize].store(w ^ v, r);
            }
        }
    }
    let scribbles = c.below(4);
    for _ in 0..scribbles {
        peer.scribble(c);
    }
    let builder = expectations(c, Builder::<u64>::new(ch.key()));
    let strict = builder_is_plain(&builder);
    let opened = timed("open", OPEN_TIMEOUT, || builder.open());
    let clean = mutations == 0 && scribbles == 0 && strict;
    match opened {
        Ok(o) => {
            if clean {
                // Nothing was corrupted: the opener sees the creator's messages, then
                // the disconnection (the creator's sender is gone).
                let rx = o.receiver().expect("receiver of a clean channel");
                for &v in &sent {
                    assert_eq!(rx.try_recv(), Ok(v), "message lost on a clean channel");
                }
                assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
            }
            exercise(&o, c);
        }
        Err(e) => assert!(!clean, "open of an uncorrupted channel failed: {e}"),
    }
    drop(peer);
    drop(ch);
}

/// Whether a builder has no flavor or capacity expectation (its Debug output says).
fn builder_is_plain(b: &Builder<u64>) -> bool {
    let s = format!("{b:?}");
    s.contains("capacity: None") && s.contains("flavor: None")
}

/// Semaphores holding a message-queue channel's queue id: found by value (three
/// 15-bit words, low first), so this does not depend on the header's layout.
fn queue_id_words(vals: &[u16], qid: i32) -> Option<usize> {
    let q = qid as u32 as u64;
    let w = [
        (q & 0x7fff) as u16,
        (q >> 15 & 0x7fff) as u16,
        (q >> 30 & 0x7fff) as u16,
    ];
    vals.windows(3).position(|x| x == w)
}

/// A real message-queue channel whose semaphore-set header is corrupted; then a
/// second handle opens it. The queue id is only ever replaced by a safe one.
fn corrupted_msgq(c: &mut Cursor) {
    let mut objs = Objects::default();
    let fl = flavor(c.u8());
    let cap = 1usize << c.below(5);
    let ch = create_keyed::<u64>(|b| {
        b.transport(Transport::MessageQueue)
            .flavor(fl)
            .capacity(cap)
    });
    let sent: Vec<u64> = (7..7 + (c.below(3) as usize).min(ch.capacity()) as u64).collect();
    {
        let tx = ch.sender().expect("sender");
        for &v in &sent {
            tx.try_send(v).expect("room for the first messages");
        }
    }
    let sems = SemSet::from_id(ch.sem_id()).expect("the channel's set");
    let mut vals = sems.get_all().expect("semaphore values");
    let qid = ch.msg_id().expect("a queue");
    let qpos = queue_id_words(&vals, qid);
    let mutations = c.below(4);
    for _ in 0..mutations {
        let i = usize::from(c.u8()) % vals.len();
        if qpos.is_some_and(|p| (p..p + 3).contains(&i)) {
            let q = u64::from(objs.queue_id(c, qid));
            let p = qpos.unwrap_or(0);
            for k in 0..3 {
                vals[p + k] = (q >> (15 * k) & 0x7fff) as u16;
            }
        } else {
            vals[i] = match c.below(3) {
                0 => c.u16() & 0x7fff,
                1 => vals[i] ^ 1 << c.below(15),
                _ => 0,
            };
        }
    }
    if mutations > 0 {
        let _ = sems.set_all(&vals);
    }
    let builder = expectations(c, Builder::<u64>::new(ch.key()));
    let strict = builder_is_plain(&builder);
    let opened = timed("open", OPEN_TIMEOUT, || builder.open());
    let clean = mutations == 0 && strict;
    match opened {
        Ok(o) => {
            if clean {
                let rx = o.receiver().expect("receiver of a clean channel");
                for &v in &sent {
                    assert_eq!(rx.try_recv(), Ok(v), "message lost on a clean channel");
                }
                assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
            }
            exercise(&o, c);
        }
        Err(e) => assert!(!clean, "open of an uncorrupted channel failed: {e}"),
    }
    drop(ch);
    drop(objs);
}

/// A few operations on an opened (maybe corrupted) channel: none may panic or hang.
fn exercise(ch: &AnyChannel<u64>, c: &mut Cursor) {
    let tx = timed("sender", Duration::ZERO, || ch.sender()).ok();
    let rx = timed("receiver", Duration::ZERO, || ch.receiver()).ok();
    let _ = (
        ch.len(),
        ch.capacity(),
        ch.stats(),
        ch.transport(),
        ch.flavor(),
    );
    for k in 0..8u64 {
        let t = short_timeout(c);
        match c.below(6) {
            0 => {
                if let Some(tx) = &tx {
                    let _ = timed("try_send", Duration::ZERO, || tx.try_send(k));
                }
            }
            1 => {
                if let Some(rx) = &rx {
                    let _ = timed("try_recv", Duration::ZERO, || rx.try_recv());
                }
            }
            2 => {
                if let Some(tx) = &tx {
                    let _ = timed("send_timeout", t, || tx.send_timeout(k, t));
                }
            }
            3 => {
                if let Some(rx) = &rx {
                    let _ = timed("recv_timeout", t, || rx.recv_timeout(t));
                }
            }
            4 => {
                if let Some(tx) = &tx {
                    let _ = timed("send_batch", Duration::ZERO, || tx.send_batch(&[k; 5]));
                }
            }
            _ => {
                if let Some(rx) = &rx {
                    let mut buf = [0u64; 5];
                    let _ = timed("recv_batch", Duration::ZERO, || rx.recv_batch(&mut buf));
                    let _ = (rx.len(), rx.is_full());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// msgq_frames
// ---------------------------------------------------------------------------------

/// `mtype` of data frames (`transport::msgq::DATA`).
const DATA: i64 = 1;

/// A type-1 frame in the queue: foreign bytes, or a proper `Msg` sent by a `Sender`.
#[derive(Debug)]
struct Frame {
    bytes: Vec<u8>,
    proper: bool,
}

impl Frame {
    /// `v` was received for this frame: its bytes, and intact when it was a `Msg`.
    fn check(&self, v: &Msg) {
        assert_eq!(bytemuck::bytes_of(v), &self.bytes[..], "received bytes");
        assert!(
            !self.proper || v.is_valid(),
            "a proper message arrived corrupted"
        );
    }
}

/// Foreign frames of any type and size in the queue of a message-queue channel,
/// mixed with proper messages: receives hand out exactly the type-1 frames of
/// `size_of::<Msg>()` bytes, in queue order; every other type-1 frame met on the way
/// is dropped and counted in `stats().skipped`; frames of other types stay queued.
pub fn msgq_frames(data: &[u8]) {
    let mut c = Cursor::new(data);
    let h = c.u8();
    let ch = Builder::<Msg>::new(Key::private())
        .capacity(1 << (h >> 1 & 7))
        .flavor(flavor(h))
        .transport(Transport::MessageQueue)
        .spin(Spin::Never)
        .create()
        .unwrap_or_else(|e| panic!("cannot create a channel: {e}"));
    let q = MsgQueue::from_id(ch.msg_id().expect("a message-queue channel"));
    let tx = ch.sender().expect("sender");
    let rx = ch.receiver().expect("receiver");
    // Type-1 frames in queue order, and how many frames of other types are queued.
    let mut data_frames: VecDeque<Frame> = VecDeque::new();
    let mut others = 0usize;
    let mut dropped = 0u64;
    let mut n = 0u64;
    let size = size_of::<Msg>();
    // What the next receive must return: the next frame of the right size, after
    // dropping the wrong-sized ones before it.
    let expect_next = |frames: &mut VecDeque<Frame>, dropped: &mut u64| -> Option<Frame> {
        while let Some(f) = frames.pop_front() {
            if f.bytes.len() == size {
                return Some(f);
            }
            *dropped += 1;
        }
        None
    };
    while !c.is_empty() {
        match c.below(9) {
            // A foreign frame.
            0..=2 => {
                let mtype = match c.below(8) {
                    0..=3 => DATA,
                    4 => 2,
                    5 => 3,
                    6 => i64::MAX,
                    _ => c.u64() as i64,
                };
                let len = match c.below(4) {
                    0 => size,
                    1 => usize::from(c.below(49)),
                    2 => size - 1 + 2 * usize::from(c.below(2)),
                    _ => size + 1 + usize::from(c.u16()) % 8000,
                };
                let bytes = c.filled(len);
                if q.send(mtype, &bytes, true).is_ok() {
                    if mtype == DATA {
                        data_frames.push_back(Frame {
                            bytes,
                            proper: false,
                        });
                    } else {
                        others += 1;
                    }
                }
            }
            // A proper message.
            3 => {
                n += 1;
                let m = Msg::make(n);
                match tx.try_send(m) {
                    Ok(()) => data_frames.push_back(Frame {
                        bytes: bytemuck::bytes_of(&m).to_vec(),
                        proper: true,
                    }),
                    Err(TrySendError::Full(_)) => {}
                    Err(e) => panic!("try_send: {e:?}"),
                }
            }
            4 => {
                let want = expect_next(&mut data_frames, &mut dropped);
                match (rx.try_recv(), want) {
                    (Ok(v), Some(w)) => w.check(&v),
                    (Err(TryRecvError::Empty), None) => {}
                    (got, want) => panic!("try_recv: {got:?}, expected {want:?}"),
                }
            }
            5 => {
                let t = short_timeout(&mut c);
                let want = expect_next(&mut data_frames, &mut dropped);
                match (timed("recv_timeout", t, || rx.recv_timeout(t)), want) {
                    (Ok(v), Some(w)) => w.check(&v),
                    (Err(RecvTimeoutError::Timeout), None) => {}
                    (got, want) => panic!("recv_timeout: {got:?}, expected {want:?}"),
                }
            }
            // A blocking receive, only when a frame of the right size is queued.
            6 => {
                if data_frames.iter().any(|f| f.bytes.len() == size) {
                    let w = expect_next(&mut data_frames, &mut dropped).expect("a frame");
                    let v = timed("recv", Duration::ZERO, || rx.recv()).expect("recv");
                    w.check(&v);
                }
            }
            7 => {
                let mut buf = vec![Msg::zeroed(); usize::from(c.below(6))];
                let got = rx.recv_batch(&mut buf).expect("recv_batch");
                for v in &buf[..got] {
                    let w = expect_next(&mut data_frames, &mut dropped).expect("a frame");
                    w.check(v);
                }
                if got < buf.len() {
                    // Nothing of the right size was left: the rest was dropped.
                    assert!(expect_next(&mut data_frames, &mut dropped).is_none());
                }
            }
            _ => {
                let st = ch.stats();
                assert_eq!(st.skipped, dropped, "dropped frames are counted");
                assert_eq!(ch.len(), data_frames.len() + others, "queued frames");
            }
        }
    }
    // Drain: the rest comes out exactly as modelled.
    while let Some(w) = expect_next(&mut data_frames, &mut dropped) {
        let v = rx.try_recv().expect("a queued frame");
        w.check(&v);
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(ch.stats().skipped, dropped);
    drop((tx, rx));
    drop(ch);
}

// ---------------------------------------------------------------------------------
// ops_vs_model
// ---------------------------------------------------------------------------------

/// Arbitrary operation sequences on one channel (either flavour, either transport,
/// several element types), every result checked against a `VecDeque` model,
/// including presence: `Disconnected` exactly when every peer of the other side that
/// ever connected is gone.
pub fn ops_vs_model(data: &[u8]) {
    let mut c = Cursor::new(data);
    let h = c.u8();
    let transport = if h & 2 == 0 {
        Transport::ShmRing
    } else {
        Transport::MessageQueue
    };
    let cap = 1usize << (h >> 2 & 3);
    let sp = spin(&mut c);
    match h >> 4 & 3 {
        0 => model::<u64>(&mut c, flavor(h), transport, cap, sp),
        1 => model::<[u8; 3]>(&mut c, flavor(h), transport, cap, sp),
        2 => model::<Msg>(&mut c, flavor(h), transport, cap, sp),
        _ => model::<Wide>(&mut c, flavor(h), transport, cap, sp),
    }
}

struct Model<T: Elem> {
    ch: AnyChannel<T>,
    q: VecDeque<T>,
    cap: usize,
    tx: Vec<Sender<T>>,
    rx: Vec<Receiver<T>>,
    ever_tx: bool,
    ever_rx: bool,
    n: u64,
    sent: u64,
    received: u64,
}

impl<T: Elem> Model<T> {
    fn next(&mut self) -> T {
        self.n += 1;
        T::make(self.n)
    }

    /// Sends fail with `Disconnected`: a receiver had connected, none is left.
    fn send_gone(&self) -> bool {
        self.ever_rx && self.rx.is_empty()
    }

    /// Receives on an empty channel fail with `Disconnected`.
    fn recv_gone(&self) -> bool {
        self.ever_tx && self.tx.is_empty()
    }

    fn full(&self) -> bool {
        self.q.len() >= self.cap
    }

    fn push(&mut self, v: T) {
        assert!(!self.full());
        self.q.push_back(v);
        self.sent += 1;
    }

    fn pop(&mut self) -> Option<T> {
        let v = self.q.pop_front();
        self.received += u64::from(v.is_some());
        v
    }
}

fn model<T: Elem>(c: &mut Cursor, fl: Flavor, transport: Transport, cap: usize, sp: Spin) {
    let ch = Builder::<T>::new(Key::private())
        .capacity(cap)
        .flavor(fl)
        .transport(transport)
        .spin(sp)
        .create()
        .unwrap_or_else(|e| panic!("cannot create a channel: {e}"));
    let real_cap = ch.capacity();
    // Capacity is exact; a queue may admit fewer than asked.
    let want = cap;
    if transport == Transport::ShmRing {
        assert_eq!(real_cap, want, "ring capacity");
    } else {
        assert!((1..=want).contains(&real_cap), "queue capacity {real_cap}");
    }
    let max_handles = if fl == Flavor::Spsc { 1 } else { 2 };
    let mut m = Model {
        ch,
        q: VecDeque::new(),
        cap: real_cap,
        tx: Vec::new(),
        rx: Vec::new(),
        ever_tx: false,
        ever_rx: false,
        n: 0,
        sent: 0,
        received: 0,
    };
    while !c.is_empty() {
        match c.below(15) {
            0 => {
                let Some(i) = pick(&m.tx, c) else { continue };
                let v = m.next();
                let r = m.tx[i].try_send(v);
                if m.send_gone() {
                    assert!(
                        matches!(r, Err(TrySendError::Disconnected(x)) if x == v),
                        "{r:?}"
                    );
                } else if m.full() {
                    assert!(matches!(r, Err(TrySendError::Full(x)) if x == v), "{r:?}");
                } else {
                    assert_eq!(r, Ok(()));
                    m.push(v);
                }
            }
            1 => {
                let Some(i) = pick(&m.tx, c) else { continue };
                let t = short_timeout(c);
                let v = m.next();
                let r = timed("send_timeout", t, || m.tx[i].send_timeout(v, t));
                if m.send_gone() {
                    assert!(matches!(r, Err(SendTimeoutError::Disconnected(x)) if x == v));
                } else if m.full() {
                    assert!(matches!(r, Err(SendTimeoutError::Timeout(x)) if x == v));
                } else {
                    assert!(r.is_ok(), "send_timeout: {r:?}");
                    m.push(v);
                }
            }
            2 => {
                let Some(i) = pick(&m.tx, c) else { continue };
                let vs: Vec<T> = (0..c.below(9)).map(|_| m.next()).collect();
                let r = m.tx[i].send_batch(&vs);
                if m.send_gone() {
                    assert!(r.is_err(), "send_batch to nobody: {r:?}");
                } else {
                    let k = vs.len().min(m.cap - m.q.len());
                    assert_eq!(r.ok(), Some(k), "send_batch");
                    for v in &vs[..k] {
                        m.push(*v);
                    }
                }
            }
            3 => {
                // send_with blocks while full: only when it cannot block.
                let Some(i) = pick(&m.tx, c) else { continue };
                if m.full() && !m.send_gone() {
                    continue;
                }
                let v = m.next();
                let r = m.tx[i].send_with(|slot| *slot = v);
                if m.send_gone() {
                    assert!(r.is_err());
                } else {
                    assert!(r.is_ok());
                    m.push(v);
                }
            }
            4 => {
                let Some(i) = pick(&m.rx, c) else { continue };
                let r = m.rx[i].try_recv();
                match m.pop() {
                    Some(v) => assert_eq!(r, Ok(v)),
                    None if m.recv_gone() => assert_eq!(r, Err(TryRecvError::Disconnected)),
                    None => assert_eq!(r, Err(TryRecvError::Empty)),
                }
            }
            5 => {
                let Some(i) = pick(&m.rx, c) else { continue };
                let t = short_timeout(c);
                let r = timed("recv_timeout", t, || m.rx[i].recv_timeout(t));
                match m.pop() {
                    Some(v) => assert_eq!(r, Ok(v)),
                    None if m.recv_gone() => {
                        assert_eq!(r, Err(RecvTimeoutError::Disconnected))
                    }
                    None => assert_eq!(r, Err(RecvTimeoutError::Timeout)),
                }
            }
            6 => {
                let Some(i) = pick(&m.rx, c) else { continue };
                let mut buf = vec![T::zeroed(); usize::from(c.below(9))];
                let r = m.rx[i].recv_batch(&mut buf);
                let k = buf.len().min(m.q.len());
                if k == 0 && !buf.is_empty() && m.recv_gone() {
                    assert!(r.is_err(), "recv_batch from nobody: {r:?}");
                } else {
                    assert_eq!(r.ok(), Some(k), "recv_batch");
                    for v in &buf[..k] {
                        assert_eq!(Some(*v), m.pop());
                    }
                }
            }
            7 => {
                // recv_with blocks while empty: only when it cannot block.
                let Some(i) = pick(&m.rx, c) else { continue };
                if m.q.is_empty() {
                    continue;
                }
                let r = m.rx[i].recv_with(|v| *v);
                assert_eq!(r.ok(), m.pop());
            }
            8 => {
                let Some(i) = pick(&m.rx, c) else { continue };
                let k = usize::from(c.below(6));
                let got: Vec<T> = m.rx[i].try_iter().take(k).collect();
                let want: Vec<T> = (0..k).map_while(|_| m.pop()).collect();
                assert_eq!(got, want, "try_iter");
            }
            9 => {
                let r = m.ch.sender();
                if m.tx.len() >= max_handles && fl == Flavor::Spsc {
                    assert!(matches!(r, Err(Error::RoleTaken)), "second SPSC sender");
                } else if m.tx.len() < max_handles {
                    m.tx.push(r.expect("sender"));
                    m.ever_tx = true;
                }
            }
            10 => {
                let r = m.ch.receiver();
                if m.rx.len() >= max_handles && fl == Flavor::Spsc {
                    assert!(matches!(r, Err(Error::RoleTaken)), "second SPSC receiver");
                } else if m.rx.len() < max_handles {
                    m.rx.push(r.expect("receiver"));
                    m.ever_rx = true;
                }
            }
            11 => {
                if let Some(i) = pick(&m.tx, c) {
                    drop(m.tx.swap_remove(i));
                }
            }
            12 => {
                if let Some(i) = pick(&m.rx, c) {
                    drop(m.rx.swap_remove(i));
                }
            }
            _ => {
                let len = m.q.len();
                assert_eq!(m.ch.len(), len, "Channel::len");
                assert_eq!(m.ch.is_empty(), len == 0);
                for s in &m.tx {
                    assert_eq!(s.len(), len, "Sender::len");
                    assert_eq!(s.is_full(), len >= m.cap);
                    assert_eq!(s.capacity(), m.cap);
                }
                for r in &m.rx {
                    assert_eq!(r.len(), len, "Receiver::len");
                    assert_eq!(r.is_empty(), len == 0);
                    assert_eq!(r.capacity(), m.cap);
                }
                if transport == Transport::ShmRing {
                    let st = m.ch.stats();
                    assert_eq!((st.sent, st.received), (m.sent, m.received), "stats");
                    assert_eq!(st.senders as usize, m.tx.len());
                    assert_eq!(st.receivers as usize, m.rx.len());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// c_fields: C field tables against the Rust description
// ---------------------------------------------------------------------------------

/// The decoded form of one C struct description of [`c_fields`]: what the raw
/// `sysvring_struct`/`sysvring_field` tables are built from, kept for the oracle.
#[derive(Debug, Clone)]
struct CStructIn {
    name: Option<Vec<u8>>,
    size: u64,
    align: u64,
    fields: Vec<CFieldIn>,
}

#[derive(Debug, Clone)]
struct CFieldIn {
    name: Option<Vec<u8>>,
    code: u32,
    dims: Vec<u64>,
    offset: u64,
    /// For `SYSVRING_STRUCT`: the index of the nested struct (`None`: NULL).
    nested: Option<usize>,
}

/// Most struct descriptions in one [`c_fields`] input.
const C_STRUCTS: usize = 8;

/// A name from the input: mostly identifiers from a small set (so duplicates and
/// shared names happen), sometimes digits, empty, spaces, non-UTF-8 or NULL.
fn c_name(c: &mut Cursor) -> Option<Vec<u8>> {
    const WORDS: [&str; 8] = ["a", "b", "seq", "x", "_r", "T", "0", "Ünï"];
    Some(match c.below(16) {
        0 => return None,
        1 => Vec::new(),
        2 => b"not ident".to_vec(),
        3 => vec![0xff, 0x41],
        4 => b"01".to_vec(),
        5 => b"12".to_vec(),
        6 => {
            let n = c.below(6) as usize;
            (0..n).map(|_| b'a' + c.below(26)).collect()
        }
        k => WORDS[(k - 7) as usize % WORDS.len()].as_bytes().to_vec(),
    })
}

/// A size or alignment of a primitive type code (`None`: not a primitive).
fn c_prim(code: u32) -> Option<(u64, u64)> {
    sysvring::message::Prim::from_code(code).map(|p| (p.size(), p.align()))
}

/// Decodes a table: up to [`C_STRUCTS`] structs of up to 6 fields, nested fields
/// pointing at any struct (DAGs and cycles), layouts mostly consistent (offsets and
/// sizes computed from the declared nested sizes) with deliberate damage.
fn c_decode(c: &mut Cursor) -> Vec<CStructIn> {
    let n = 1 + c.below(C_STRUCTS as u8) as usize;
    let mut out: Vec<CStructIn> = Vec::with_capacity(n);
    // Decided back to front, so a consistent layout can use the declared sizes of the
    // structs after it; a nested index may point anywhere (cycles included).
    let mut sizes = vec![(0u64, 1u64); n];
    let mut decoded = vec![None; n];
    for i in (0..n).rev() {
        let name = c_name(c);
        let nf = c.below(7) as usize;
        let mut fields = Vec::with_capacity(nf);
        let mut end = 0u64;
        let mut align = 1u64;
        let mode = c.u8();
        for _ in 0..nf {
            let fname = c_name(c);
            let k = c.below(16);
            let (code, nested) = match k {
                0..=11 => (u32::from(k) + 1, None),
                12 | 13 => {
                    // Usually a later struct (a DAG), sometimes any (cycles).
                    let j = if k == 12 && i + 1 < n {
                        i + 1 + c.below((n - i - 1) as u8) as usize
                    } else {
                        c.below(n as u8) as usize
                    };
                    (100, Some(j))
                }
                14 => (100, None),
                _ => (u32::from(c.u8()), None),
            };
            let nd = match c.below(8) {
                0..=4 => 0,
                5 => 1,
                6 => 2,
                _ => c.below(6) as usize,
            };
            let dims: Vec<u64> = (0..nd.min(4))
                .map(|_| match c.below(8) {
                    0 => 0,
                    7 => c.u64(),
                    k => u64::from(k),
                })
                .chain(std::iter::repeat(1).take(nd.saturating_sub(4)))
                .collect();
            let (esize, ealign) = match nested {
                Some(j) if j > i => sizes[j],
                Some(_) => (8, 8),
                None => c_prim(code).unwrap_or((1, 1)),
            };
            let fsize = dims.iter().fold(esize, |a, &d| a.wrapping_mul(d));
            let ealign = ealign.max(1);
            // Consistent: aligned, then (mode bit 0) reserved padding is made explicit
            // by rounding the offset up, which is itself a gap (refused): only
            // aligned-in-sequence layouts are valid.
            let offset = if mode & 1 == 0 {
                end
            } else {
                end.checked_next_multiple_of(ealign).unwrap_or(end)
            };
            let offset = if mode & 2 != 0 && c.below(8) == 0 {
                offset.wrapping_add(c.delta())
            } else {
                offset
            };
            end = offset.wrapping_add(fsize);
            align = align.max(ealign);
            fields.push(CFieldIn {
                name: fname,
                code,
                dims: if nd > 4 { vec![1; nd] } else { dims },
                offset,
                nested,
            });
        }
        let (mut size, mut salign) = (end.checked_next_multiple_of(align).unwrap_or(end), align);
        if mode & 4 != 0 {
            match c.below(4) {
                0 => size = size.wrapping_add(c.delta()),
                1 => salign = u64::from(c.u8()),
                2 => size = c.u64(),
                _ => salign = 1,
            }
        }
        sizes[i] = (size, salign);
        decoded[i] = Some(CStructIn {
            name,
            size,
            align: salign,
            fields,
        });
    }
    out.extend(decoded.into_iter().map(Option::unwrap));
    out
}

/// The Rust oracle: `None` when the table cannot be a Rust description (a cycle, a
/// NULL or non-UTF-8 name, an unknown code, NULL `nested`, more than 4 dimensions)
/// or expands past `limit` bytes of canonical text; otherwise the expanded
/// description of struct `i`.
fn c_oracle(
    t: &[CStructIn],
    i: usize,
    stack: &mut Vec<usize>,
    budget: &mut u64,
) -> Option<sysvring::message::TypeDesc> {
    use sysvring::message::{FieldDesc, Prim, StructDesc, TypeDesc};
    if stack.contains(&i) || stack.len() > 40 {
        return None;
    }
    let s = &t[i];
    let name = String::from_utf8(s.name.clone()?).ok()?;
    *budget = budget.checked_sub(name.len() as u64 + 6)?;
    stack.push(i);
    let mut fields = Vec::new();
    for f in &s.fields {
        let fname = String::from_utf8(f.name.clone()?).ok()?;
        *budget = budget.checked_sub(fname.len() as u64 + 4)?;
        let mut ty = if f.code == 100 {
            c_oracle(t, f.nested?, stack, budget)?
        } else {
            TypeDesc::Prim(Prim::from_code(f.code)?)
        };
        if f.dims.len() > 4 {
            return None;
        }
        for &d in f.dims.iter().rev() {
            ty = TypeDesc::Array(Box::new(ty), d);
        }
        fields.push(FieldDesc {
            name: fname,
            ty,
            offset: f.offset,
        });
    }
    stack.pop();
    Some(TypeDesc::Struct(StructDesc {
        name,
        fields,
        size: s.size,
        align: s.align,
    }))
}

/// `c_fields`: an arbitrary C field table (names, type codes, dimensions, offsets,
/// sizes, nesting with shared structs and cycles) through `sysvring_fingerprint`,
/// which must answer at once with 0 or `SYSVRING_E_BAD_TYPE` and never crash. Where
/// the table is a Rust description (no cycle, valid names and codes) of a bounded
/// expansion, the answer is the Rust one: the fingerprint of the valid description,
/// `BAD_TYPE` for an invalid one or one whose canonical text exceeds
/// `SYSVRING_MAX_DESC_TEXT`.
pub fn c_fields(data: &[u8]) {
    c_fields_answer(data);
}

/// [`c_fields`], returning `sysvring_fingerprint`'s code (for measuring how often a
/// corpus reaches a valid table).
pub fn c_fields_answer(data: &[u8]) -> i32 {
    use std::ffi::c_char;
    use sysvring_c::{sysvring_field, sysvring_struct};
    let mut c = Cursor::new(data);
    let t = c_decode(&mut c);
    // Raw tables: names NUL-terminated (a name's interior NUL cuts it, like C).
    let cnames: Vec<Vec<u8>> = t
        .iter()
        .flat_map(|s| std::iter::once(&s.name).chain(s.fields.iter().map(|f| &f.name)))
        .map(|n| {
            let mut v = n.clone().unwrap_or_default();
            v.push(0);
            v
        })
        .collect();
    let mut structs: Vec<sysvring_struct> = Vec::with_capacity(t.len());
    let mut fields: Vec<Vec<sysvring_field>> = Vec::with_capacity(t.len());
    for _ in &t {
        fields.push(Vec::new());
    }
    let sp: *mut sysvring_struct = {
        structs.resize(
            t.len(),
            sysvring_struct {
                name: std::ptr::null(),
                size: 0,
                align: 0,
                nfields: 0,
                fields: std::ptr::null(),
            },
        );
        structs.as_mut_ptr()
    };
    let mut k = 0;
    for (i, s) in t.iter().enumerate() {
        let name_at = |k: usize, present: bool| -> *const c_char {
            if present {
                cnames[k].as_ptr().cast()
            } else {
                std::ptr::null()
            }
        };
        let sname = name_at(k, s.name.is_some());
        k += 1;
        for f in &s.fields {
            let mut dims = [0u64; 4];
            for (d, &v) in dims.iter_mut().zip(&f.dims) {
                *d = v;
            }
            fields[i].push(sysvring_field {
                name: name_at(k, f.name.is_some()),
                r#type: f.code,
                ndims: f.dims.len() as u32,
                offset: f.offset,
                dims,
                // SAFETY: `j < t.len()`: in bounds of `structs`, never resized.
                nested: f.nested.map_or(std::ptr::null(), |j| unsafe { sp.add(j) }),
            });
            k += 1;
        }
        // SAFETY: `i < t.len()`, in bounds; written through the vector's pointer.
        unsafe {
            *sp.add(i) = sysvring_struct {
                name: sname,
                size: s.size,
                align: s.align,
                nfields: s.fields.len() as u64,
                fields: if s.fields.is_empty() && c.below(2) == 0 {
                    std::ptr::null()
                } else {
                    fields[i].as_ptr()
                },
            };
        }
    }
    let mut fp = 0u64;
    // SAFETY: every pointer in the tables is NULL or points into `cnames`,
    // `fields` or `structs`, all alive and unchanged for the call.
    let rc = unsafe { sysvring_c::sysvring_fingerprint(sp, &mut fp) };
    assert!(
        rc == 0 || rc == sysvring_c::SYSVRING_E_BAD_TYPE,
        "sysvring_fingerprint returned {rc} for {t:?}"
    );
    // A name with an interior NUL is another name in C: no comparison.
    let interior_nul = cnames.iter().any(|n| n[..n.len() - 1].contains(&0));
    if interior_nul {
        return rc;
    }
    // The oracle's budget counts a lower bound of the canonical text: running out
    // of it means the real text exceeds the limit too.
    let limit = sysvring_c::SYSVRING_MAX_DESC_TEXT;
    let mut budget = limit;
    match c_oracle(&t, 0, &mut Vec::new(), &mut budget) {
        // Not a Rust description (a cycle, a NULL or non-UTF-8 name, an unknown code,
        // NULL `nested`, too many dimensions), or too large: refused.
        None => assert_eq!(rc, sysvring_c::SYSVRING_E_BAD_TYPE, "C accepted {t:?}"),
        Some(d) => {
            let text = d.canonical().len() as u64;
            match d.validate() {
                Ok(()) if text <= limit => {
                    assert_eq!(rc, 0, "C refused a valid description {d}");
                    assert_eq!(fp, d.fingerprint(), "fingerprint of {d}");
                }
                _ => assert_eq!(
                    rc,
                    sysvring_c::SYSVRING_E_BAD_TYPE,
                    "C accepted {d} (text {text} bytes)"
                ),
            }
        }
    }
    rc
}

// ---------------------------------------------------------------------------------
// frame_headers
// ---------------------------------------------------------------------------------

/// A frame channel's record headers (and its `head`/`tail` words) written by a
/// hostile peer between the operations of a real sender and receiver: every call
/// returns within its timeout, nothing panics or reads outside the ring, a received
/// frame is never longer than `max_len`; until the first hostile write, every frame
/// arrives exactly as sent (a `VecDeque` model). Also checks [`decode`] itself on the
/// input's words: whatever it accepts lies inside the ring.
///
/// [`decode`]: sysvring::ring::frames::decode
pub fn frame_headers(data: &[u8]) {
    use sysvring::ring::frames::{decode, record_word, Record, TAG_FRAME, TAG_PAD};
    use sysvring::ring::layout::{frame_max_len, frame_record};
    use sysvring::{FrameBuilder, RecvFrameTimeoutError, TryRecvFrameError, TrySendFrameError};

    let mut c = Cursor::new(data);
    let cap = 1u64 << (6 + c.below(7)); // 64 B ..= 4 KiB
    let top = frame_max_len(cap);
    let max_len = u64::from(c.u16()) % (top + 1);
    let sp = spin(&mut c);
    let ch = FrameBuilder::new(Key::private())
        .max_len(max_len as usize)
        .capacity_bytes(cap as usize)
        .spin(sp)
        .transport(sysvring::Transport::ShmRing)
        .create()
        .unwrap_or_else(|e| panic!("cannot create a frame channel: {e}"));
    assert_eq!(
        (ch.capacity_bytes() as u64, ch.max_len() as u64),
        (cap, max_len)
    );
    let area = Geometry::frames(cap, max_len)
        .expect("geometry")
        .slots_offset;
    let att = Shm::from_id(ch.shm_id().expect("a ring"))
        .attach(false)
        .expect("attach");
    let base = NonNull::new(att.as_ptr()).expect("mapped");
    /// The word at `off` (masked into the area) of the mapping at `base`.
    ///
    /// # Safety
    /// `base` maps a frame ring of `cap` bytes at `area` for as long as `'a`.
    unsafe fn word_at<'a>(base: NonNull<u8>, area: usize, cap: u64, off: u64) -> &'a AtomicU64 {
        let off = (off % cap) & !7;
        // SAFETY: inside the ring's area of the mapping (`off + 8 <= cap`), 8-aligned
        // (the area starts 128-aligned); AtomicU64 is valid for any bits.
        unsafe { &*base.as_ptr().add(area + off as usize).cast::<AtomicU64>() }
    }
    // SAFETY: `att` maps the whole segment and outlives every use (dropped last).
    let word = |off: u64| unsafe { word_at(base, area, cap, off) };
    // SAFETY: the control block at its fixed offset of the mapping, all atomics;
    // `att` outlives every use.
    let control: &Control = unsafe { &*base.as_ptr().add(CONTROL_OFFSET).cast::<Control>() };
    let mut tx = Some(ch.sender().expect("sender"));
    let mut rx = Some(ch.receiver().expect("receiver"));
    let mut model: VecDeque<Vec<u8>> = VecDeque::new();
    let mut hostile = false;
    let mut seq = 0u8;
    let mut buf = Vec::new();
    let frame =
        |seq: u8, len: usize| -> Vec<u8> { (0..len).map(|i| seq.wrapping_add(i as u8)).collect() };
    while !c.is_empty() {
        match c.below(12) {
            // Hostile writes.
            0 => {
                word(c.u64()).store(c.u64(), Ordering::Relaxed);
                hostile = true;
            }
            1 => {
                // A plausible header: its own position's check, any tag and length.
                let pos = u64::from(c.u16()) * 8;
                let tag = [TAG_FRAME, TAG_PAD, 0, 3][usize::from(c.below(4))];
                let len = u32::from(c.u16()) % (cap as u32 + 16);
                word(pos).store(record_word(tag, len, pos), Ordering::Relaxed);
                hostile = true;
            }
            2 => {
                let w = if c.below(2) == 0 {
                    &control.head
                } else {
                    &control.tail
                };
                w.fetch_add(c.delta(), Ordering::Relaxed);
                hostile = true;
            }
            // The sender.
            3 | 4 => {
                let Some(t) = tx.as_mut() else { continue };
                let len = usize::from(c.u16()) % (max_len as usize + 2);
                let f = frame(seq, len);
                let timeout = short_timeout(&mut c);
                let r = timed("send_bytes_timeout", timeout, || {
                    t.send_bytes_timeout(&f, timeout)
                });
                match r {
                    Ok(()) => {
                        seq = seq.wrapping_add(1);
                        model.push_back(f);
                    }
                    Err(e) => assert!(
                        hostile
                            || e.is_timeout()
                            || (e.is_too_large() && len > max_len as usize)
                            || (e.is_disconnected() && rx.is_none()),
                        "{e}"
                    ),
                }
            }
            5 => {
                let Some(t) = tx.as_mut() else { continue };
                let len = usize::from(c.u16()) % (max_len as usize + 1);
                let keep = usize::from(c.u16()) % (len + 1);
                let commit = c.below(4) != 0;
                match t.try_reserve(len) {
                    Ok(mut w) => {
                        assert_eq!(w.len(), len);
                        let f = frame(seq, len);
                        w.copy_from_slice(&f);
                        w.truncate(keep);
                        if commit {
                            w.commit();
                            seq = seq.wrapping_add(1);
                            model.push_back(f[..keep].to_vec());
                        }
                    }
                    Err(e) => assert!(
                        hostile
                            || matches!(e, TrySendFrameError::Full)
                            || (e.is_disconnected() && rx.is_none()),
                        "{e}"
                    ),
                }
            }
            // The receiver.
            6 | 7 => {
                let Some(r) = rx.as_mut() else { continue };
                let timeout = short_timeout(&mut c);
                let got = timed("recv_into_timeout", timeout, || {
                    r.recv_into_timeout(&mut buf, timeout)
                });
                match got {
                    Ok(n) => {
                        assert!(n <= max_len as usize && n == buf.len());
                        if !hostile {
                            assert_eq!(Some(&buf), model.front(), "frame as sent");
                            model.pop_front();
                        }
                    }
                    Err(RecvFrameTimeoutError::Timeout) => {
                        assert!(hostile || model.is_empty(), "a sent frame did not arrive")
                    }
                    Err(e) => assert!(
                        hostile || (e.is_disconnected() && tx.is_none() && model.is_empty()),
                        "{e}"
                    ),
                }
            }
            8 => {
                let Some(r) = rx.as_mut() else { continue };
                match r.try_recv_with(|b| b.len()) {
                    Ok(n) => {
                        assert!(n <= max_len as usize);
                        if !hostile {
                            assert_eq!(Some(n), model.pop_front().map(|f| f.len()));
                        }
                    }
                    Err(TryRecvFrameError::Empty) => assert!(hostile || model.is_empty()),
                    Err(e) => assert!(
                        hostile || (e.is_disconnected() && tx.is_none() && model.is_empty()),
                        "{e}"
                    ),
                }
            }
            // Sides that come and go (a new side reads the hostile words afresh).
            9 => {
                tx = match tx.take() {
                    Some(t) => {
                        drop(t);
                        None
                    }
                    None => ch.sender().ok(),
                };
            }
            10 => {
                rx = match rx.take() {
                    Some(r) => {
                        drop(r);
                        None
                    }
                    None => ch.receiver().ok(),
                };
            }
            // `decode` on the input's words: what it accepts lies inside the ring.
            _ => {
                let pos = c.u64();
                let w = c.u64();
                match decode(w, pos, cap, max_len) {
                    Ok(Record::Frame(len)) => {
                        assert!(len <= max_len);
                        assert!((pos & (cap - 1)) + frame_record(len) <= cap);
                    }
                    Ok(Record::Pad) => {
                        let off = pos & (cap - 1);
                        assert!(off > 0 && off + 8 + (w & 0xffff_ffff) == cap);
                    }
                    Ok(Record::Empty) => assert_eq!(w, 0),
                    Err(e) => assert_eq!((e.position, e.word), (pos, w)),
                }
            }
        }
    }
    drop((tx, rx));
    drop(att);
    drop(ch);
}
