//! The endpoints of each transport in a child: one message at a time out ([`Tx`]) and
//! in ([`Rx`]), made by an [`Endpoints`] from its part of the [`super::protocol::Wire`].

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;

use sysvring::sys::{MsgQueue, RecvSelect, SemOp, SemSet, SysError};
use sysvring::{Builder, Key, Receiver, RecvTimeoutError, Sender, Spin, Transport};

use super::error::Result;
use super::msg::BenchMsg;
use super::protocol::{SysvWire, WAIT};
use super::segment::{self, MailIn, MailOut, SegConsumer, SegProducer};

/// Which way a message goes: `Fwd` is the data of a throughput run and the ping of a
/// latency run, `Back` the pong.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Fwd,
    Back,
}

/// One message at a time, out.
pub trait Tx<M> {
    fn send(&mut self, m: &M) -> Result<()>;
    /// Tells the receiver that nothing more comes.
    fn finish(self) -> Result<()>;
}

/// One message at a time, in; `None` at the end of the stream.
pub trait Rx<M: BenchMsg> {
    fn recv(&mut self) -> Result<Option<M>>;
    /// The sequence number of the next message (what a consumer checks).
    fn recv_seq(&mut self) -> Result<Option<u64>> {
        Ok(self.recv()?.map(|m| m.touch()))
    }
}

/// How a transport makes its endpoints in a child, from its configuration `Cfg`.
pub trait Endpoints<M: BenchMsg> {
    type Cfg;
    type T: Tx<M>;
    type R: Rx<M>;
    fn tx(cfg: &Self::Cfg, dir: Dir) -> Result<Self::T>;
    fn rx(cfg: &Self::Cfg, dir: Dir) -> Result<Self::R>;
}

/// A System V error in words a user can act on: an object removed under us was
/// removed by another process (the parent gave up, or someone ran `ipcrm`), not a
/// bare errno.
pub fn explain(what: &str, e: &SysError) -> String {
    if e.is_removed() {
        format!("{what}: {}: removed by another process", e.call())
    } else {
        format!("{what}: {e}")
    }
}

// ---- sysvring channels ------------------------------------------------------------

/// sysvring channels, messages by value.
pub struct Sysv;

impl<M: BenchMsg> Tx<M> for Sender<M> {
    #[inline(always)]
    fn send(&mut self, m: &M) -> Result<()> {
        Sender::send(self, *m).map_err(|_| "sysvring send: peer exited (disconnected)".into())
    }
    fn finish(self) -> Result<()> {
        drop(self);
        Ok(())
    }
}

impl<M: BenchMsg> Rx<M> for Receiver<M> {
    #[inline]
    fn recv(&mut self) -> Result<Option<M>> {
        // recv_timeout tries the ring first and reads the clock only once it has
        // spun a while: a message that is there or arrives soon costs no clock read.
        match self.recv_timeout(WAIT) {
            Ok(m) => Ok(Some(m)),
            Err(RecvTimeoutError::Disconnected) => Ok(None),
            Err(RecvTimeoutError::Timeout) => {
                Err(format!("sysvring recv: nothing for {WAIT:?}").into())
            }
        }
    }
}

fn open<M: BenchMsg>(w: &SysvWire, dir: Dir, receiver: bool) -> Result<sysvring::AnyChannel<M>> {
    let raw = match dir {
        Dir::Fwd => w.fwd,
        Dir::Back => w.back.ok_or("no channel for the way back")?,
    };
    let flavor = w.flavor;
    let mut b = Builder::<M>::new(Key::from_raw(raw))
        .flavor(flavor)
        .transport(Transport::ShmRing);
    if receiver && w.spin_never {
        b = b.spin(Spin::Never);
    }
    Ok(b.open()?)
}

impl<M: BenchMsg> Endpoints<M> for Sysv {
    type Cfg = SysvWire;
    type T = Sender<M>;
    type R = Receiver<M>;
    fn tx(w: &SysvWire, dir: Dir) -> Result<Sender<M>> {
        Ok(open::<M>(w, dir, false)?.sender()?)
    }
    fn rx(w: &SysvWire, dir: Dir) -> Result<Receiver<M>> {
        Ok(open::<M>(w, dir, true)?.receiver()?)
    }
}

/// sysvring SPSC used in place: the producer writes each message straight into its
/// slot (`send_with`), the consumer reads what it needs where it lies (`recv_with`).
pub struct SysvInPlace;

pub struct InPlaceTx<M: BenchMsg>(Sender<M>);
pub struct InPlaceRx<M: BenchMsg>(Receiver<M>);

impl<M: BenchMsg> Tx<M> for InPlaceTx<M> {
    #[inline]
    fn send(&mut self, m: &M) -> Result<()> {
        self.0
            .send_with(|slot| *slot = *m)
            .map_err(|_| "sysvring send_with: peer exited (disconnected)".into())
    }
    fn finish(self) -> Result<()> {
        drop(self);
        Ok(())
    }
}

impl<M: BenchMsg> Rx<M> for InPlaceRx<M> {
    #[inline]
    fn recv(&mut self) -> Result<Option<M>> {
        Ok(self.0.recv_with(|m| *m).ok())
    }
    #[inline]
    fn recv_seq(&mut self) -> Result<Option<u64>> {
        Ok(self.0.recv_with(|m| m.touch()).ok())
    }
}

impl<M: BenchMsg> Endpoints<M> for SysvInPlace {
    type Cfg = SysvWire;
    type T = InPlaceTx<M>;
    type R = InPlaceRx<M>;
    fn tx(w: &SysvWire, dir: Dir) -> Result<Self::T> {
        Ok(InPlaceTx(open::<M>(w, dir, false)?.sender()?))
    }
    fn rx(w: &SysvWire, dir: Dir) -> Result<Self::R> {
        Ok(InPlaceRx(open::<M>(w, dir, true)?.receiver()?))
    }
}

// ---- hand-written ring and mailbox --------------------------------------------------

/// The reference ring in segment `.0` with `.1` slots.
pub struct Hand;

impl<M: BenchMsg> Tx<M> for SegProducer<M> {
    #[inline(always)]
    fn send(&mut self, m: &M) -> Result<()> {
        Ok(self.push(*m)?)
    }
    fn finish(self) -> Result<()> {
        SegProducer::finish(self);
        Ok(())
    }
}

impl<M: BenchMsg> Rx<M> for SegConsumer<M> {
    #[inline(always)]
    fn recv(&mut self) -> Result<Option<M>> {
        Ok(self.pop()?)
    }
}

impl<M: BenchMsg> Endpoints<M> for Hand {
    type Cfg = (i32, usize);
    type T = SegProducer<M>;
    type R = SegConsumer<M>;
    fn tx(&(shm, cap): &(i32, usize), dir: Dir) -> Result<Self::T> {
        if dir != Dir::Fwd {
            return Err("the hand ring measures throughput only".into());
        }
        segment::hand_producer(shm, cap)
    }
    fn rx(&(shm, cap): &(i32, usize), dir: Dir) -> Result<Self::R> {
        if dir != Dir::Fwd {
            return Err("the hand ring measures throughput only".into());
        }
        segment::hand_consumer(shm, cap)
    }
}

/// The spun-on mailboxes of segment `Cfg`.
pub struct Mail;

impl<M: BenchMsg> Tx<M> for MailOut<M> {
    #[inline]
    fn send(&mut self, m: &M) -> Result<()> {
        MailOut::send(self, m)
    }
    fn finish(self) -> Result<()> {
        MailOut::finish(self);
        Ok(())
    }
}

impl<M: BenchMsg> Rx<M> for MailIn<M> {
    #[inline]
    fn recv(&mut self) -> Result<Option<M>> {
        MailIn::recv(self)
    }
}

impl<M: BenchMsg> Endpoints<M> for Mail {
    type Cfg = i32;
    type T = MailOut<M>;
    type R = MailIn<M>;
    // The pinger sends Fwd and receives Back: it is the one whose Tx is Fwd.
    fn tx(&shm: &i32, dir: Dir) -> Result<Self::T> {
        MailOut::attach(shm, dir == Dir::Fwd)
    }
    fn rx(&shm: &i32, dir: Dir) -> Result<Self::R> {
        MailIn::attach(shm, dir == Dir::Back)
    }
}

// ---- the kernel wake-up floor: a mailbox and a semaphore per direction ----------------

/// The raw SysV semaphore round trip: the mailbox of the latency floor, but the
/// reader sleeps in `semop` and the writer posts after every message (what a
/// channel whose receivers never spin costs at least).
pub struct SemMail;

pub struct SemOut<M> {
    out: MailOut<M>,
    sems: SemSet,
    num: u16,
}

pub struct SemIn<M> {
    inbox: MailIn<M>,
    sems: SemSet,
    num: u16,
}

impl<M: BenchMsg> Tx<M> for SemOut<M> {
    #[inline]
    fn send(&mut self, m: &M) -> Result<()> {
        self.out.send(m)?;
        self.sems
            .op(&[SemOp::new(self.num, 1)])
            .map_err(|e| explain("semaphore post", &e).into())
    }
    fn finish(self) -> Result<()> {
        self.out.finish();
        self.sems
            .op(&[SemOp::new(self.num, 1)])
            .map_err(|e| explain("semaphore post", &e).into())
    }
}

impl<M: BenchMsg> Rx<M> for SemIn<M> {
    #[inline]
    fn recv(&mut self) -> Result<Option<M>> {
        // semop is a full barrier: the box is written once the post is seen.
        self.sems
            .op_timeout(&[SemOp::new(self.num, -1)], WAIT)
            .map_err(|e| explain("semaphore wait", &e))?;
        self.inbox.recv()
    }
}

impl<M: BenchMsg> Endpoints<M> for SemMail {
    type Cfg = (i32, i32);
    type T = SemOut<M>;
    type R = SemIn<M>;
    // Semaphore 0 carries pings (Fwd), 1 pongs (Back).
    fn tx(&(shm, sem): &(i32, i32), dir: Dir) -> Result<Self::T> {
        Ok(SemOut {
            out: MailOut::attach(shm, dir == Dir::Fwd)?,
            sems: SemSet::from_id(sem)?,
            num: u16::from(dir == Dir::Back),
        })
    }
    fn rx(&(shm, sem): &(i32, i32), dir: Dir) -> Result<Self::R> {
        Ok(SemIn {
            inbox: MailIn::attach(shm, dir == Dir::Back)?,
            sems: SemSet::from_id(sem)?,
            num: u16::from(dir == Dir::Back),
        })
    }
}

// ---- streams: pipe and Unix socket on stdin/stdout ------------------------------------

/// Stdin and stdout.
pub struct Stream;

/// A stream carrying fixed-size messages: one `write` per message.
pub struct StreamTx(File);

/// Reads exactly one message per call (no read-ahead buffer).
pub struct StreamRx(File);

impl<M: BenchMsg> Tx<M> for StreamTx {
    #[inline]
    fn send(&mut self, m: &M) -> Result<()> {
        self.0
            .write_all(bytemuck::bytes_of(m))
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::BrokenPipe => "write: peer exited (broken pipe)".into(),
                _ => e.into(),
            })
    }
    fn finish(self) -> Result<()> {
        Ok(())
    }
}

impl<M: BenchMsg> Rx<M> for StreamRx {
    #[inline]
    fn recv(&mut self) -> Result<Option<M>> {
        let mut m = M::zeroed();
        let buf = bytemuck::bytes_of_mut(&mut m);
        let mut got = 0;
        while got < buf.len() {
            match self.0.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err("stream ended inside a message (peer exited)".into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(m))
    }
}

impl<M: BenchMsg> Endpoints<M> for Stream {
    type Cfg = ();
    type T = StreamTx;
    type R = StreamRx;
    fn tx(_: &(), _: Dir) -> Result<StreamTx> {
        Ok(StreamTx(File::from(
            std::io::stdout().as_fd().try_clone_to_owned()?,
        )))
    }
    fn rx(_: &(), _: Dir) -> Result<StreamRx> {
        Ok(StreamRx(File::from(
            std::io::stdin().as_fd().try_clone_to_owned()?,
        )))
    }
}

// ---- System V message queue -----------------------------------------------------------

/// Message types: data and ping travel as 1, pongs as 2, the end marker as 3.
const MT_FWD: i64 = 1;
const MT_BACK: i64 = 2;
const MT_END: i64 = 3;

/// The message queue `Cfg`.
pub struct Msgq;

pub struct MsgqTx {
    q: MsgQueue,
    mtype: i64,
}

pub struct MsgqRx {
    q: MsgQueue,
    select: RecvSelect,
}

impl<M: BenchMsg> Tx<M> for MsgqTx {
    #[inline]
    fn send(&mut self, m: &M) -> Result<()> {
        self.q
            .send(self.mtype, bytemuck::bytes_of(m), false)
            .map_err(|e| explain("message queue", &e).into())
    }
    fn finish(self) -> Result<()> {
        if self.mtype == MT_FWD {
            self.q
                .send(MT_END, &[], false)
                .map_err(|e| explain("message queue", &e))?;
        }
        Ok(())
    }
}

impl<M: BenchMsg> Rx<M> for MsgqRx {
    #[inline]
    fn recv(&mut self) -> Result<Option<M>> {
        let mut m = M::zeroed();
        let (t, n) = self
            .q
            .recv(bytemuck::bytes_of_mut(&mut m), self.select, false)
            .map_err(|e| explain("message queue", &e))?;
        if t == MT_END {
            return Ok(None);
        }
        if n != M::SIZE {
            return Err(format!("msgq: message of {n} bytes, expected {}", M::SIZE).into());
        }
        Ok(Some(m))
    }
}

impl<M: BenchMsg> Endpoints<M> for Msgq {
    type Cfg = i32;
    type T = MsgqTx;
    type R = MsgqRx;
    fn tx(&id: &i32, dir: Dir) -> Result<MsgqTx> {
        let q = MsgQueue::from_id(id);
        q.stat()?;
        let mtype = if dir == Dir::Fwd { MT_FWD } else { MT_BACK };
        Ok(MsgqTx { q, mtype })
    }
    fn rx(&id: &i32, dir: Dir) -> Result<MsgqRx> {
        let q = MsgQueue::from_id(id);
        q.stat()?;
        // Fwd receivers take data and the end marker (everything but pongs).
        let select = if dir == Dir::Fwd {
            RecvSelect::Except(MT_BACK)
        } else {
            RecvSelect::Type(MT_BACK)
        };
        Ok(MsgqRx { q, select })
    }
}
