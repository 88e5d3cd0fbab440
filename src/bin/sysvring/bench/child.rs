//! The child processes of the benchmark: `sysvring __bench-child key=value ...`.
//!
//! A child builds its endpoints (opening channels, attaching segments: everything that
//! connects), prints `READY` on stderr, waits on the parent's start semaphore, runs its
//! role, and prints one `RESULT key=value ...` line on stderr. Errors are printed as
//! `ERROR message` and make the child exit with status 1. Stdin and stdout carry the
//! data of the stream transports (pipe, Unix socket) and are unused otherwise.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use sysvring::sys::{MsgQueue, RecvSelect, SemOp, SemSet};
use sysvring::{Builder, Flavor, Key, Receiver, RecvTimeoutError, Sender, Spin, Transport};

use super::msg::{with_msg, BenchMsg};
use super::raw::{HandConsumer, HandProducer, MailIn, MailOut};
use super::Result;

/// How long a child waits for the start signal, and for a peer's message.
const WAIT: Duration = Duration::from_secs(20);

/// Bits of the sequence number below the producer's id.
pub const SEQ_BITS: u32 = 48;

/// `key=value` arguments of a child.
pub struct Args(HashMap<String, String>);

impl Args {
    fn parse(args: &[String]) -> Result<Args> {
        let mut map = HashMap::new();
        for a in args {
            let (k, v) = a
                .split_once('=')
                .ok_or_else(|| format!("bad child argument `{a}`"))?;
            map.insert(k.to_string(), v.to_string());
        }
        Ok(Args(map))
    }

    fn str(&self, k: &str) -> Result<&str> {
        self.0
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| format!("missing child argument `{k}`").into())
    }

    fn num<T: std::str::FromStr>(&self, k: &str) -> Result<T> {
        let v = self.str(k)?;
        v.parse()
            .map_err(|_| format!("bad number `{v}` for `{k}`").into())
    }

    fn opt<T: std::str::FromStr>(&self, k: &str) -> Result<Option<T>> {
        match self.0.get(k) {
            None => Ok(None),
            Some(_) => self.num(k).map(Some),
        }
    }
}

/// Runs a child role; the exit code says whether it succeeded.
pub fn main(args: &[String]) -> std::process::ExitCode {
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ERROR {e}");
            std::process::ExitCode::from(1)
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let a = Args::parse(args)?;
    let size: usize = a.num("size")?;
    with_msg!(size, M => typed::<M>(&a))
}

/// Which way a message goes: `Fwd` is the data of a throughput run and the ping of a
/// latency run, `Back` the pong.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Fwd,
    Back,
}

/// One message at a time, out.
trait Tx<M> {
    fn send(&mut self, m: &M) -> Result<()>;
    /// Tells the receiver that nothing more comes.
    fn finish(self) -> Result<()>;
}

/// One message at a time, in; `None` at the end of the stream.
trait Rx<M: BenchMsg> {
    fn recv(&mut self) -> Result<Option<M>>;
    /// The sequence number of the next message (what a consumer checks).
    fn recv_seq(&mut self) -> Result<Option<u64>> {
        Ok(self.recv()?.map(|m| m.touch()))
    }
}

/// How a transport makes its endpoints in a child.
trait Endpoints<M: BenchMsg> {
    type T: Tx<M>;
    type R: Rx<M>;
    fn tx(a: &Args, dir: Dir) -> Result<Self::T>;
    fn rx(a: &Args, dir: Dir) -> Result<Self::R>;
}

fn typed<M: BenchMsg>(a: &Args) -> Result<()> {
    match a.str("tr")? {
        "sysv" => role::<M, Sysv>(a),
        "sysvzc" => role::<M, SysvInPlace>(a),
        "hand" => role::<M, Hand>(a),
        "mailbox" => role::<M, Mail>(a),
        "semmail" => role::<M, SemMail>(a),
        "xbeam" => xbeam::<M>(a),
        "stream" => role::<M, Stream>(a),
        "msgq" => role::<M, Msgq>(a),
        other => Err(format!("unknown child transport `{other}`").into()),
    }
}

fn role<M: BenchMsg, E: Endpoints<M>>(a: &Args) -> Result<()> {
    if let Some(cpu) = a.opt("cpu")? {
        super::procs::pin(cpu)?;
    }
    let go = SemSet::from_id(a.num("go")?)?;
    let p = Params {
        secs: Duration::from_secs_f64(a.num("secs")?),
        count: a.opt("count")?,
        producer: a.opt("producer")?.unwrap_or(0),
        producers: a.opt("producers")?.unwrap_or(1),
        exact: a.opt::<u8>("exact")?.unwrap_or(1) != 0,
        warm: Duration::from_secs_f64(a.opt("warm")?.unwrap_or(0.0)),
    };
    match a.str("role")? {
        "produce" => produce(E::tx(a, Dir::Fwd)?, &p, &go),
        "consume" => consume(E::rx(a, Dir::Fwd)?, &p, &go),
        "ping" => {
            let tx = E::tx(a, Dir::Fwd)?;
            let rx = E::rx(a, Dir::Back)?;
            ping(tx, rx, &p, &go)
        }
        "pong" => {
            let rx = E::rx(a, Dir::Fwd)?;
            let tx = E::tx(a, Dir::Back)?;
            pong(rx, tx, &go)
        }
        other => Err(format!("unknown child role `{other}`").into()),
    }
}

struct Params {
    secs: Duration,
    count: Option<u64>,
    producer: u64,
    producers: usize,
    exact: bool,
    /// How long after the first message a consumer starts its measurement window.
    warm: Duration,
}

/// Everything is connected: say so, and wait for the parent's go.
fn ready(go: &SemSet) -> Result<()> {
    eprintln!("READY");
    go.op_timeout(&[SemOp::new(0, -1)], WAIT)
        .map_err(|e| format!("waiting for the start signal: {e}"))?;
    Ok(())
}

fn produce<M: BenchMsg>(mut tx: impl Tx<M>, p: &Params, go: &SemSet) -> Result<()> {
    let tag = p.producer << SEQ_BITS;
    let mut m = M::zeroed();
    ready(go)?;
    let start = Instant::now();
    let mut i = 0u64;
    match p.count {
        Some(n) => {
            while i < n {
                m.set_seq(tag | i);
                tx.send(&m)?;
                i += 1;
            }
        }
        None => loop {
            for _ in 0..64 {
                m.set_seq(tag | i);
                tx.send(&m)?;
                i += 1;
            }
            if start.elapsed() >= p.secs {
                break;
            }
        },
    }
    let secs = start.elapsed().as_secs_f64();
    tx.finish()?;
    eprintln!("RESULT sent={i} secs={secs}");
    Ok(())
}

/// A consumer's measurement window: it starts `warm` after the first message (a ring
/// settles into its steady state only after a while) and ends at the last multiple of
/// 64 received: a clock read per message would slow the fastest transports down, and
/// the end of the stream is seen only after the producer left.
struct Window {
    warm: Duration,
    n: u64,
    first: Option<Instant>,
    base: Option<(u64, Duration)>,
    last: (u64, Duration),
}

impl Window {
    fn new(warm: Duration) -> Window {
        Window {
            warm,
            n: 0,
            first: None,
            base: None,
            last: (0, Duration::ZERO),
        }
    }

    /// Counts one message.
    #[inline]
    fn received(&mut self) {
        self.n += 1;
        match self.first {
            None => self.first = Some(Instant::now()),
            Some(t) if self.n % 64 == 1 => {
                let e = t.elapsed();
                self.last = (self.n - 1, e);
                if self.base.is_none() && e >= self.warm {
                    self.base = Some(self.last);
                }
            }
            Some(_) => {}
        }
    }

    /// Messages received, and messages and time inside the window.
    fn finish(self) -> (u64, u64, Duration) {
        let (n0, t0) = self.base.unwrap_or_default();
        (
            self.n,
            self.last.0.saturating_sub(n0),
            self.last.1.saturating_sub(t0),
        )
    }
}

fn consume<M: BenchMsg>(mut rx: impl Rx<M>, p: &Params, go: &SemSet) -> Result<()> {
    let mut next = vec![0u64; p.producers];
    let mask = (1u64 << SEQ_BITS) - 1;
    ready(go)?;
    let mut w = Window::new(p.warm);
    while let Some(s) = rx.recv_seq()? {
        let (id, q) = ((s >> SEQ_BITS) as usize, s & mask);
        match next.get_mut(id) {
            Some(nx) if q == *nx || (!p.exact && q > *nx) => *nx = q + 1,
            Some(nx) => {
                return Err(format!(
                    "out of order: message {q} of producer {id} after {}",
                    *nx as i64 - 1
                )
                .into())
            }
            None => return Err(format!("message from unknown producer {id}").into()),
        }
        w.received();
    }
    let (n, wn, ws) = w.finish();
    eprintln!("RESULT recv={n} wn={wn} ws={}", ws.as_secs_f64());
    Ok(())
}

fn ping<M: BenchMsg>(
    mut tx: impl Tx<M>,
    mut rx: impl Rx<M>,
    p: &Params,
    go: &SemSet,
) -> Result<()> {
    let mut m = M::zeroed();
    let mut rtts: Vec<u32> = Vec::with_capacity(1 << 16);
    ready(go)?;
    let start = Instant::now();
    let mut i = 0u64;
    loop {
        if p.count.is_some_and(|n| i >= n) {
            break;
        }
        m.set_seq(i);
        let t0 = Instant::now();
        tx.send(&m)?;
        let r = rx.recv()?.ok_or("the ponger ended early")?;
        let t1 = Instant::now();
        if r.touch() != i {
            return Err(format!("pong {} for ping {i}", r.seq()).into());
        }
        rtts.push((t1 - t0).as_nanos().min(u128::from(u32::MAX)) as u32);
        i += 1;
        if p.count.is_none() && t1 - start >= p.secs {
            break;
        }
    }
    tx.finish()?;
    drop(rx);
    // The first 5 % warm caches, branch predictors and the peer's spin state.
    let warm = rtts.len() / 20;
    let mut v = rtts.split_off(warm);
    if v.is_empty() {
        return Err("no round trip measured".into());
    }
    v.sort_unstable();
    let q = |f: f64| v[((f * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    let mean = v.iter().map(|&x| u64::from(x)).sum::<u64>() as f64 / v.len() as f64;
    eprintln!(
        "RESULT rtts={} min={} p50={} p99={} p999={} mean={mean}",
        v.len(),
        v[0],
        q(0.50),
        q(0.99),
        q(0.999)
    );
    Ok(())
}

fn pong<M: BenchMsg>(mut rx: impl Rx<M>, mut tx: impl Tx<M>, go: &SemSet) -> Result<()> {
    ready(go)?;
    let mut n = 0u64;
    while let Some(m) = rx.recv()? {
        tx.send(&m)?;
        n += 1;
    }
    tx.finish()?;
    eprintln!("RESULT echoed={n}");
    Ok(())
}

// ---- sysvring channels ------------------------------------------------------------

struct Sysv;

impl<M: BenchMsg> Tx<M> for Sender<M> {
    #[inline(always)]
    fn send(&mut self, m: &M) -> Result<()> {
        Sender::send(self, *m).map_err(|_| "sysvring send: disconnected".into())
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

fn open<M: BenchMsg>(a: &Args, dir: Dir, receiver: bool) -> Result<sysvring::Channel<M>> {
    let key = Key::from_raw(a.num(if dir == Dir::Fwd { "key0" } else { "key1" })?);
    let flavor = match a.str("flavor")? {
        "spsc" => Flavor::Spsc,
        "mpmc" => Flavor::Mpmc,
        other => return Err(format!("unknown flavor `{other}`").into()),
    };
    let mut b = Builder::<M>::new(key)
        .flavor(flavor)
        .transport(Transport::ShmRing);
    if receiver && a.str("spin")? == "never" {
        b = b.spin(Spin::Never);
    }
    Ok(b.open()?)
}

impl<M: BenchMsg> Endpoints<M> for Sysv {
    type T = Sender<M>;
    type R = Receiver<M>;
    fn tx(a: &Args, dir: Dir) -> Result<Sender<M>> {
        Ok(open::<M>(a, dir, false)?.sender()?)
    }
    fn rx(a: &Args, dir: Dir) -> Result<Receiver<M>> {
        Ok(open::<M>(a, dir, true)?.receiver()?)
    }
}

/// sysvring SPSC used in place: the producer writes each message straight into its
/// slot (`send_with`), the consumer reads what it needs where it lies (`recv_with`).
struct SysvInPlace;

struct InPlaceTx<M: BenchMsg>(Sender<M>);
struct InPlaceRx<M: BenchMsg>(Receiver<M>);

impl<M: BenchMsg> Tx<M> for InPlaceTx<M> {
    #[inline]
    fn send(&mut self, m: &M) -> Result<()> {
        self.0
            .send_with(|slot| *slot = *m)
            .map_err(|_| "sysvring send_with: disconnected".into())
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
    type T = InPlaceTx<M>;
    type R = InPlaceRx<M>;
    fn tx(a: &Args, dir: Dir) -> Result<Self::T> {
        Ok(InPlaceTx(open::<M>(a, dir, false)?.sender()?))
    }
    fn rx(a: &Args, dir: Dir) -> Result<Self::R> {
        Ok(InPlaceRx(open::<M>(a, dir, true)?.receiver()?))
    }
}

// ---- hand-written ring and mailbox --------------------------------------------------

struct Hand;

impl<M: BenchMsg> Tx<M> for HandProducer<M> {
    #[inline]
    fn send(&mut self, m: &M) -> Result<()> {
        self.push(m)
    }
    fn finish(self) -> Result<()> {
        HandProducer::finish(self);
        Ok(())
    }
}

impl<M: BenchMsg> Rx<M> for HandConsumer<M> {
    #[inline]
    fn recv(&mut self) -> Result<Option<M>> {
        self.pop()
    }
}

impl<M: BenchMsg> Endpoints<M> for Hand {
    type T = HandProducer<M>;
    type R = HandConsumer<M>;
    fn tx(a: &Args, dir: Dir) -> Result<Self::T> {
        if dir != Dir::Fwd {
            return Err("the hand ring measures throughput only".into());
        }
        HandProducer::attach(a.num("shm")?, a.num("cap")?)
    }
    fn rx(a: &Args, dir: Dir) -> Result<Self::R> {
        if dir != Dir::Fwd {
            return Err("the hand ring measures throughput only".into());
        }
        HandConsumer::attach(a.num("shm")?, a.num("cap")?)
    }
}

struct Mail;

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
    type T = MailOut<M>;
    type R = MailIn<M>;
    // The pinger sends Fwd and receives Back: it is the one whose Tx is Fwd.
    fn tx(a: &Args, dir: Dir) -> Result<Self::T> {
        MailOut::attach(a.num("shm")?, dir == Dir::Fwd)
    }
    fn rx(a: &Args, dir: Dir) -> Result<Self::R> {
        MailIn::attach(a.num("shm")?, dir == Dir::Back)
    }
}

// ---- the kernel wake-up floor: a mailbox and a semaphore per direction ----------------

/// The raw SysV semaphore round trip: the mailbox of the latency floor, but the
/// reader sleeps in `semop` and the writer posts after every message (what a
/// channel whose receivers never spin costs at least).
struct SemMail;

struct SemOut<M> {
    out: MailOut<M>,
    sems: SemSet,
    num: u16,
}

struct SemIn<M> {
    inbox: MailIn<M>,
    sems: SemSet,
    num: u16,
}

impl<M: BenchMsg> Tx<M> for SemOut<M> {
    #[inline]
    fn send(&mut self, m: &M) -> Result<()> {
        self.out.send(m)?;
        Ok(self.sems.op(&[SemOp::new(self.num, 1)])?)
    }
    fn finish(self) -> Result<()> {
        self.out.finish();
        Ok(self.sems.op(&[SemOp::new(self.num, 1)])?)
    }
}

impl<M: BenchMsg> Rx<M> for SemIn<M> {
    #[inline]
    fn recv(&mut self) -> Result<Option<M>> {
        // semop is a full barrier: the box is written once the post is seen.
        self.sems
            .op_timeout(&[SemOp::new(self.num, -1)], WAIT)
            .map_err(|e| format!("semop: {e}"))?;
        self.inbox.recv()
    }
}

impl<M: BenchMsg> Endpoints<M> for SemMail {
    type T = SemOut<M>;
    type R = SemIn<M>;
    // Semaphore 0 carries pings (Fwd), 1 pongs (Back).
    fn tx(a: &Args, dir: Dir) -> Result<Self::T> {
        Ok(SemOut {
            out: MailOut::attach(a.num("shm")?, dir == Dir::Fwd)?,
            sems: SemSet::from_id(a.num("sem")?)?,
            num: u16::from(dir == Dir::Back),
        })
    }
    fn rx(a: &Args, dir: Dir) -> Result<Self::R> {
        Ok(SemIn {
            inbox: MailIn::attach(a.num("shm")?, dir == Dir::Back)?,
            sems: SemSet::from_id(a.num("sem")?)?,
            num: u16::from(dir == Dir::Back),
        })
    }
}

// ---- the in-process reference: crossbeam-channel between threads ---------------------

/// `pairs` producer and as many consumer threads of one process over a bounded
/// crossbeam-channel of `cap` slots: what MPMC NxN between processes is compared with.
#[cfg(feature = "bench-reference")]
fn xbeam<M: BenchMsg>(a: &Args) -> Result<()> {
    // Not pinned: the one process runs all four threads on every allowed CPU.
    let go = SemSet::from_id(a.num("go")?)?;
    let secs = Duration::from_secs_f64(a.num("secs")?);
    let warm = Duration::from_secs_f64(a.opt("warm")?.unwrap_or(0.0));
    let count: Option<u64> = a.opt("count")?;
    let pairs: u64 = a.opt("pairs")?.unwrap_or(2);
    let (tx, rx) = crossbeam_channel::bounded::<M>(a.num("cap")?);
    ready(&go)?;
    let start = Instant::now();
    let (sent, recv, windows) = std::thread::scope(|s| {
        let producers: Vec<_> = (0..pairs)
            .map(|p| {
                let tx = tx.clone();
                s.spawn(move || {
                    let mut m = M::zeroed();
                    let mut i = 0u64;
                    let quota = count.map(|n| n / pairs + u64::from(p < n % pairs));
                    loop {
                        if quota.is_some_and(|q| i >= q)
                            || (quota.is_none() && i % 64 == 0 && start.elapsed() >= secs)
                        {
                            break;
                        }
                        m.set_seq(p << SEQ_BITS | i);
                        if tx.send(m).is_err() {
                            break;
                        }
                        i += 1;
                    }
                    i
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..pairs)
            .map(|_| {
                let rx = rx.clone();
                s.spawn(move || {
                    let mut w = Window::new(warm);
                    while let Ok(m) = rx.recv() {
                        std::hint::black_box(m.touch());
                        w.received();
                    }
                    w.finish()
                })
            })
            .collect();
        drop(rx);
        let sent: u64 = producers.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        let mut recv = 0;
        let mut windows = Vec::new();
        for h in consumers {
            let (n, wn, ws) = h.join().unwrap_or_default();
            recv += n;
            windows.push((wn, ws));
        }
        (sent, recv, windows)
    });
    let wn: u64 = windows.iter().map(|w| w.0).sum();
    let ws = windows.iter().map(|w| w.1).max().unwrap_or_default();
    eprintln!(
        "RESULT sent={sent} recv={recv} wn={wn} ws={} secs={}",
        ws.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(not(feature = "bench-reference"))]
fn xbeam<M: BenchMsg>(_: &Args) -> Result<()> {
    Err("built without the `bench-reference` feature (crossbeam-channel)".into())
}

// ---- streams: pipe and Unix socket on stdin/stdout ------------------------------------

struct Stream;

/// A stream carrying fixed-size messages: one `write` per message.
struct StreamTx(File);

/// Reads exactly one message per call (no read-ahead buffer).
struct StreamRx(File);

impl<M: BenchMsg> Tx<M> for StreamTx {
    #[inline]
    fn send(&mut self, m: &M) -> Result<()> {
        Ok(self.0.write_all(bytemuck::bytes_of(m))?)
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
                Ok(0) => return Err("stream ended inside a message".into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(m))
    }
}

impl<M: BenchMsg> Endpoints<M> for Stream {
    type T = StreamTx;
    type R = StreamRx;
    fn tx(_: &Args, _: Dir) -> Result<StreamTx> {
        Ok(StreamTx(File::from(
            std::io::stdout().as_fd().try_clone_to_owned()?,
        )))
    }
    fn rx(_: &Args, _: Dir) -> Result<StreamRx> {
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

struct Msgq;

struct MsgqTx {
    q: MsgQueue,
    mtype: i64,
}

struct MsgqRx {
    q: MsgQueue,
    select: RecvSelect,
}

impl<M: BenchMsg> Tx<M> for MsgqTx {
    #[inline]
    fn send(&mut self, m: &M) -> Result<()> {
        Ok(self.q.send(self.mtype, bytemuck::bytes_of(m), false)?)
    }
    fn finish(self) -> Result<()> {
        if self.mtype == MT_FWD {
            self.q.send(MT_END, &[], false)?;
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
            .recv(bytemuck::bytes_of_mut(&mut m), self.select, false)?;
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
    type T = MsgqTx;
    type R = MsgqRx;
    fn tx(a: &Args, dir: Dir) -> Result<MsgqTx> {
        let q = MsgQueue::from_id(a.num("msgq")?);
        q.stat()?;
        let mtype = if dir == Dir::Fwd { MT_FWD } else { MT_BACK };
        Ok(MsgqTx { q, mtype })
    }
    fn rx(a: &Args, dir: Dir) -> Result<MsgqRx> {
        let q = MsgQueue::from_id(a.num("msgq")?);
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
