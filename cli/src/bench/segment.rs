//! The hand-written baselines over a bare System V segment:
//!
//! - the reference ring of [`super::ring`] in a segment: the throughput ceiling
//!   (what the hardware gives one message at a time, with no presence checks, no
//!   wake-ups, no validation);
//! - [`MailOut`]/[`MailIn`]: one sequence word and a payload, written and spun on: the
//!   round-trip latency floor (a message crossing the cache-coherence fabric twice).
//!
//! The parent creates the segment and removes it; children attach by id.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use sysvring::sys::{Attachment, Shm};

use super::error::Result;
use super::msg::BenchMsg;
use super::ring::{self, HandConsumer, HandProducer, Region, Spinner, LINE};

/// A System V segment attached read-write: the region of a ring or mailbox shared
/// between processes.
pub struct Segment(Attachment);

impl Segment {
    /// Attaches segment `shm_id`, which must hold `need` bytes.
    pub fn attach(shm_id: i32, need: usize) -> Result<Segment> {
        let att = Shm::from_id(shm_id).attach(false)?;
        if att.len() < need {
            return Err(format!("segment {shm_id}: {} bytes, need {need}", att.len()).into());
        }
        Ok(Segment(att))
    }
}

// SAFETY: a shmat mapping is page-aligned and valid for `len()` bytes until the
// attachment is dropped (shmdt), which the Segment owns. Every process maps it
// through this module, which uses the control words atomically and the payloads by
// raw copies only.
unsafe impl Region for Segment {
    fn base(&self) -> *mut u8 {
        self.0.as_ptr()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// The producing side of the hand ring in a segment.
pub type SegProducer<M> = HandProducer<M, Segment>;
/// The consuming side of the hand ring in a segment.
pub type SegConsumer<M> = HandConsumer<M, Segment>;

/// Attaches the producing side of the ring of `capacity` slots in segment `shm_id`
/// (zero-filled by `shmget`).
pub fn hand_producer<M: BenchMsg>(shm_id: i32, capacity: usize) -> Result<SegProducer<M>> {
    let seg = Segment::attach(shm_id, ring::ring_bytes(M::SIZE, capacity))?;
    Ok(HandProducer::new(seg, capacity)?)
}

/// Attaches the consuming side of the ring in segment `shm_id`.
pub fn hand_consumer<M: BenchMsg>(shm_id: i32, capacity: usize) -> Result<SegConsumer<M>> {
    let seg = Segment::attach(shm_id, ring::ring_bytes(M::SIZE, capacity))?;
    Ok(HandConsumer::new(seg, capacity)?)
}

/// Bytes of the two mailboxes (ping and pong) for `size`-byte messages.
pub fn mailbox_bytes(size: usize) -> usize {
    2 * mailbox_stride(size)
}

fn mailbox_stride(size: usize) -> usize {
    (8 + size).div_ceil(LINE) * LINE
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

/// A mailbox in a segment: its sequence word at `off`, the payload right after.
struct Mailbox {
    seg: Segment,
    off: usize,
}

impl Mailbox {
    fn attach<M: BenchMsg>(shm_id: i32, off: usize) -> Result<Mailbox> {
        let seg = Segment::attach(shm_id, mailbox_bytes(M::SIZE))?;
        Ok(Mailbox { seg, off })
    }

    #[inline]
    fn seq(&self) -> &AtomicU64 {
        // SAFETY: `off` is 0 or a stride (a multiple of LINE), and the segment holds
        // both boxes (checked at attach).
        unsafe { ring::word(&self.seg, self.off) }
    }

    #[inline]
    fn payload(&self) -> *mut u8 {
        self.seg.ptr(self.off + 8)
    }
}

/// The sending half of the latency floor: a sequence word and the payload right
/// after it (an 8-byte message shares the line with the word). Only correct in
/// ping-pong, where a writer never writes again before its previous message was
/// answered.
pub struct MailOut<M> {
    b: Mailbox,
    sent: u64,
    _m: PhantomData<M>,
}

/// The receiving half of the latency floor.
pub struct MailIn<M> {
    b: Mailbox,
    seen: u64,
    _m: PhantomData<M>,
}

impl<M: BenchMsg> MailOut<M> {
    /// Attaches the pinger's (or ponger's) outgoing box in segment `shm_id`.
    pub fn attach(shm_id: i32, pinger: bool) -> Result<Self> {
        Ok(MailOut {
            b: Mailbox::attach::<M>(shm_id, boxes(M::SIZE, pinger).0)?,
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
        unsafe { self.b.payload().cast::<M>().write_unaligned(*m) };
        self.sent += 1;
        // SYNC(mailbox): Release; pairs with the Acquire in `MailIn::recv`.
        self.b.seq().store(self.sent, Ordering::Release);
        Ok(())
    }

    /// Tells the peer to stop.
    pub fn finish(self) {
        self.b.seq().store(STOP, Ordering::Release);
    }
}

impl<M: BenchMsg> MailIn<M> {
    /// Attaches the pinger's (or ponger's) incoming box in segment `shm_id`.
    pub fn attach(shm_id: i32, pinger: bool) -> Result<Self> {
        Ok(MailIn {
            b: Mailbox::attach::<M>(shm_id, boxes(M::SIZE, pinger).1)?,
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
            // SYNC(mailbox): Acquire; pairs with the Release in `MailOut::send`.
            let v = self.b.seq().load(Ordering::Acquire);
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
            self.b.payload().cast::<M>().read_unaligned()
        }))
    }
}
