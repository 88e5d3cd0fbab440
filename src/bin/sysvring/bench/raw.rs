//! The two hand-written baselines over a bare System V segment:
//!
//! - [`HandProducer`]/[`HandConsumer`]: a minimal SPSC ring with cached indices, the
//!   throughput ceiling (what the hardware gives one message at a time, with no
//!   presence checks, no wake-ups, no validation);
//! - [`MailOut`]/[`MailIn`]: one sequence word and a payload, written and spun on: the
//!   round-trip latency floor (a message crossing the cache-coherence fabric twice).
//!
//! Both work on an [`Attachment`]'s raw pointer with atomics on separate 128-byte
//! lines. The parent creates the segment and removes it; children attach by id.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sysvring::sys::{Attachment, Shm};

use super::msg::BenchMsg;
use super::Result;

/// Control words each sit on their own line (two 64-byte lines: adjacent-line
/// prefetch pairs them).
const LINE: usize = 128;
const HEAD: usize = 0;
const TAIL: usize = LINE;
const DONE: usize = 2 * LINE;
const SLOTS: usize = 3 * LINE;

/// How long a spinning side waits for its peer before it gives up.
const SPIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes of a hand ring of `capacity` slots of `size` bytes.
pub fn ring_bytes(size: usize, capacity: usize) -> usize {
    SLOTS + size * capacity
}

/// Bytes of the two mailboxes (ping and pong) for `size`-byte messages.
pub fn mailbox_bytes(size: usize) -> usize {
    2 * mailbox_stride(size)
}

fn mailbox_stride(size: usize) -> usize {
    (8 + size).div_ceil(LINE) * LINE
}

/// A spin-wait with a timeout checked every few thousand iterations.
struct Spinner {
    n: u32,
    start: Option<Instant>,
}

impl Spinner {
    fn new() -> Self {
        Spinner { n: 0, start: None }
    }

    #[inline]
    fn spin(&mut self, what: &str) -> Result<()> {
        std::hint::spin_loop();
        self.n = self.n.wrapping_add(1);
        if self.n % 1024 == 0 {
            let start = *self.start.get_or_insert_with(Instant::now);
            if start.elapsed() > SPIN_TIMEOUT {
                return Err(format!("{what}: peer silent for {SPIN_TIMEOUT:?}").into());
            }
            // The peer has not moved for a while: it may share our core (a loaded
            // machine), and would then only run at the next tick. Let it run now.
            std::thread::yield_now();
        }
        Ok(())
    }
}

/// A mapped segment plus typed access to its control words.
struct Region {
    att: Attachment,
}

impl Region {
    fn attach(shm_id: i32, need: usize) -> Result<Region> {
        let att = Shm::from_id(shm_id).attach(false)?;
        if att.len() < need {
            return Err(format!("segment {shm_id}: {} bytes, need {need}", att.len()).into());
        }
        Ok(Region { att })
    }

    /// The atomic word at `off`.
    #[inline]
    fn word(&self, off: usize) -> &AtomicU64 {
        debug_assert!(off % 8 == 0 && off + 8 <= self.att.len());
        // SAFETY: `off` is 8-aligned inside the mapping (checked at attach for every
        // offset used here), the mapping is page-aligned, and this word is only ever
        // accessed atomically, by every process. The reference lives no longer than
        // `self`, which keeps the mapping.
        unsafe { &*self.att.as_ptr().add(off).cast::<AtomicU64>() }
    }

    #[inline]
    fn ptr(&self, off: usize) -> *mut u8 {
        // SAFETY: callers pass offsets inside the mapping (checked at attach).
        unsafe { self.att.as_ptr().add(off) }
    }
}

/// Producing side of the hand-written ring.
pub struct HandProducer<M> {
    r: Region,
    cap: u64,
    tail: u64,
    head_cache: u64,
    _m: PhantomData<M>,
}

/// Consuming side of the hand-written ring.
pub struct HandConsumer<M> {
    r: Region,
    cap: u64,
    head: u64,
    tail_cache: u64,
    _m: PhantomData<M>,
}

impl<M: BenchMsg> HandProducer<M> {
    /// Attaches the ring in segment `shm_id` (zero-filled by `shmget`).
    pub fn attach(shm_id: i32, capacity: usize) -> Result<Self> {
        let r = Region::attach(shm_id, ring_bytes(M::SIZE, capacity))?;
        Ok(HandProducer {
            r,
            cap: capacity as u64,
            tail: 0,
            head_cache: 0,
            _m: PhantomData,
        })
    }

    /// Writes `m` into the next slot and publishes it; spins while full.
    #[inline]
    pub fn push(&mut self, m: &M) -> Result<()> {
        if self.tail.wrapping_sub(self.head_cache) >= self.cap {
            let mut s = Spinner::new();
            loop {
                self.head_cache = self.r.word(HEAD).load(Ordering::Acquire);
                if self.tail.wrapping_sub(self.head_cache) < self.cap {
                    break;
                }
                s.spin("hand ring push")?;
            }
        }
        let slot = SLOTS + (self.tail % self.cap) as usize * M::SIZE;
        // SAFETY: the slot is inside the mapping (size checked at attach) and free: the
        // consumer released it (head > tail - cap, Acquire above) and reads it only
        // after our Release of the new tail. M is Pod: a byte copy is a valid write.
        unsafe { self.r.ptr(slot).cast::<M>().write_unaligned(*m) };
        self.tail = self.tail.wrapping_add(1);
        self.r.word(TAIL).store(self.tail, Ordering::Release);
        Ok(())
    }

    /// Tells the consumer that nothing more comes.
    pub fn finish(self) {
        self.r.word(DONE).store(1, Ordering::Release);
    }
}

impl<M: BenchMsg> HandConsumer<M> {
    /// Attaches the ring in segment `shm_id`.
    pub fn attach(shm_id: i32, capacity: usize) -> Result<Self> {
        let r = Region::attach(shm_id, ring_bytes(M::SIZE, capacity))?;
        Ok(HandConsumer {
            r,
            cap: capacity as u64,
            head: 0,
            tail_cache: 0,
            _m: PhantomData,
        })
    }

    /// The next message, spinning while empty; `None` once the producer finished and
    /// everything was read.
    #[inline]
    pub fn pop(&mut self) -> Result<Option<M>> {
        if self.tail_cache == self.head {
            let mut s = Spinner::new();
            loop {
                // Read DONE before TAIL: a finished producer published its last tail
                // before DONE, so seeing DONE and then an unchanged tail means the end.
                let done = self.r.word(DONE).load(Ordering::Acquire) != 0;
                self.tail_cache = self.r.word(TAIL).load(Ordering::Acquire);
                if self.tail_cache != self.head {
                    break;
                }
                if done {
                    return Ok(None);
                }
                s.spin("hand ring pop")?;
            }
        }
        if self.tail_cache.wrapping_sub(self.head) > self.cap {
            return Err("hand ring: corrupt tail".into());
        }
        let slot = SLOTS + (self.head % self.cap) as usize * M::SIZE;
        // SAFETY: in bounds (checked at attach); published by the producer's Release of
        // tail, which our Acquire load saw; it does not rewrite the slot until we
        // publish head past it.
        let m = unsafe { self.r.ptr(slot).cast::<M>().read_unaligned() };
        self.head = self.head.wrapping_add(1);
        self.r.word(HEAD).store(self.head, Ordering::Release);
        Ok(Some(m))
    }
}

/// Sequence word value that means "the pinger is done".
const STOP: u64 = u64::MAX;

/// Offsets of the outgoing and incoming boxes for the pinger (or the ponger).
fn boxes(size: usize, pinger: bool) -> (usize, usize) {
    let (a, b) = (0, mailbox_stride(size));
    if pinger {
        (a, b)
    } else {
        (b, a)
    }
}

/// The sending half of the latency floor: a sequence word and the payload right
/// after it (an 8-byte message shares the line with the word). Only correct in
/// ping-pong, where a writer never writes again before its previous message was
/// answered.
pub struct MailOut<M> {
    r: Region,
    off: usize,
    sent: u64,
    _m: PhantomData<M>,
}

/// The receiving half of the latency floor.
pub struct MailIn<M> {
    r: Region,
    off: usize,
    seen: u64,
    _m: PhantomData<M>,
}

impl<M: BenchMsg> MailOut<M> {
    /// Attaches the pinger's (or ponger's) outgoing box in segment `shm_id`.
    pub fn attach(shm_id: i32, pinger: bool) -> Result<Self> {
        let r = Region::attach(shm_id, mailbox_bytes(M::SIZE))?;
        Ok(MailOut {
            r,
            off: boxes(M::SIZE, pinger).0,
            sent: 0,
            _m: PhantomData,
        })
    }

    /// Copies `m` into the box and bumps its sequence word.
    #[inline]
    pub fn send(&mut self, m: &M) -> Result<()> {
        // SAFETY: the payload lies inside the mapping (size checked at attach); in
        // ping-pong the peer reads it only after our Release below and before it
        // answers, and we write again only after its answer.
        unsafe { self.r.ptr(self.off + 8).cast::<M>().write_unaligned(*m) };
        self.sent += 1;
        self.r.word(self.off).store(self.sent, Ordering::Release);
        Ok(())
    }

    /// Tells the peer to stop.
    pub fn finish(self) {
        self.r.word(self.off).store(STOP, Ordering::Release);
    }
}

impl<M: BenchMsg> MailIn<M> {
    /// Attaches the pinger's (or ponger's) incoming box in segment `shm_id`.
    pub fn attach(shm_id: i32, pinger: bool) -> Result<Self> {
        let r = Region::attach(shm_id, mailbox_bytes(M::SIZE))?;
        Ok(MailIn {
            r,
            off: boxes(M::SIZE, pinger).1,
            seen: 0,
            _m: PhantomData,
        })
    }

    /// Spins until the box's sequence word moves, then copies the payload; `None`
    /// when the peer said stop.
    #[inline]
    pub fn recv(&mut self) -> Result<Option<M>> {
        let mut s = Spinner::new();
        loop {
            let v = self.r.word(self.off).load(Ordering::Acquire);
            if v == STOP {
                return Ok(None);
            }
            if v != self.seen {
                self.seen = v;
                break;
            }
            s.spin("mailbox recv")?;
        }
        // SAFETY: in bounds; published by the peer's Release, seen by our Acquire; the
        // peer does not write it again before we answer.
        Ok(Some(unsafe {
            self.r.ptr(self.off + 8).cast::<M>().read_unaligned()
        }))
    }
}
