//! The child processes of the benchmark: `sysvring __bench-child SPEC`, where SPEC is
//! a [`ChildSpec`] in JSON.
//!
//! A child builds its endpoints (opening channels, attaching segments: everything that
//! connects), says [`ChildMsg::Ready`] on stderr, waits on the parent's start
//! semaphore, runs its role, and says [`ChildMsg::Done`] with its report. An error is
//! [`ChildMsg::Failed`] and exit status 1. Stdin and stdout carry the data of the
//! stream transports (pipe, Unix socket) and are unused otherwise.

use std::time::{Duration, Instant};

use sysvring::sys::{SemOp, SemSet};

use super::endpoints::{self, Dir, Endpoints, Rx, Tx};
use super::error::Result;
use super::frames::{touch, FrameWindow, Lengths, FRAME_MAX};
use super::msg::{with_msg, BenchMsg};
use super::protocol::{ChildMsg, ChildSpec, Report, Role, Wire, WAIT};

/// Bits of the sequence number below the producer's id.
pub const SEQ_BITS: u32 = 48;

/// Runs a child role; the exit code says whether it succeeded.
pub fn main(spec: &str) -> std::process::ExitCode {
    match ChildSpec::from_arg(spec).and_then(|s| run(&s)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            ChildMsg::Failed(e.to_string()).emit();
            std::process::ExitCode::from(1)
        }
    }
}

fn run(s: &ChildSpec) -> Result<()> {
    super::procs::die_with_parent(s.parent)?;
    if let Some(cpu) = s.cpu {
        super::procs::pin(cpu)?;
    }
    with_msg!(s.size, M => typed::<M>(s))
}

fn typed<M: BenchMsg>(s: &ChildSpec) -> Result<()> {
    match &s.wire {
        Wire::Sysv(w) => role::<M, endpoints::Sysv>(s, w),
        Wire::SysvInPlace(w) => role::<M, endpoints::SysvInPlace>(s, w),
        Wire::Hand { shm, cap } => role::<M, endpoints::Hand>(s, &(*shm, *cap)),
        Wire::Mailbox { shm } => role::<M, endpoints::Mail>(s, shm),
        Wire::SemMail { shm, sem } => role::<M, endpoints::SemMail>(s, &(*shm, *sem)),
        Wire::Stream => role::<M, endpoints::Stream>(s, &()),
        Wire::Msgq { msgq } => role::<M, endpoints::Msgq>(s, msgq),
        Wire::Frames { key, zero_copy } => frames(s, *key, *zero_copy),
        Wire::Threads => match s.role {
            Role::Threads { pairs, cap, count } => threads::<M>(s, pairs, cap, count),
            _ => Err("the threads wire runs the threads role only".into()),
        },
    }
}

fn role<M: BenchMsg, E: Endpoints<M>>(s: &ChildSpec, cfg: &E::Cfg) -> Result<()> {
    let go = SemSet::from_id(s.go)?;
    let secs = Duration::from_secs_f64(s.secs);
    match s.role {
        Role::Produce { producer, count } => {
            produce(E::tx(cfg, Dir::Fwd)?, producer, count, secs, &go)
        }
        Role::Consume { producers, exact } => {
            let warm = Duration::from_secs_f64(s.warm);
            consume(E::rx(cfg, Dir::Fwd)?, producers, exact, warm, &go)
        }
        Role::Ping { count } => {
            let tx = E::tx(cfg, Dir::Fwd)?;
            let rx = E::rx(cfg, Dir::Back)?;
            ping(tx, rx, count, secs, &go)
        }
        Role::Pong => {
            let rx = E::rx(cfg, Dir::Fwd)?;
            let tx = E::tx(cfg, Dir::Back)?;
            pong(rx, tx, &go)
        }
        Role::Threads { .. } => Err("the threads role needs the threads wire".into()),
    }
}

/// Everything is connected: say so, and wait for the parent's go.
fn ready(go: &SemSet) -> Result<()> {
    ChildMsg::Ready.emit();
    go.op_timeout(&[SemOp::new(0, -1)], WAIT)
        .map_err(|e| endpoints::explain("waiting for the start signal", &e))?;
    Ok(())
}

fn done(r: Report) -> Result<()> {
    ChildMsg::Done(r).emit();
    Ok(())
}

fn produce<M: BenchMsg>(
    mut tx: impl Tx<M>,
    producer: u64,
    count: Option<u64>,
    secs: Duration,
    go: &SemSet,
) -> Result<()> {
    let tag = producer << SEQ_BITS;
    let mut m = M::zeroed();
    ready(go)?;
    let start = Instant::now();
    let mut i = 0u64;
    match count {
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
            if start.elapsed() >= secs {
                break;
            }
        },
    }
    let secs = start.elapsed().as_secs_f64();
    tx.finish()?;
    done(Report::Sent { sent: i, secs })
}

/// A consumer's measurement window: it starts `warm` after the first message (a ring
/// settles into its steady state only after a while) and ends at the last multiple of
/// 64 received: a clock read per message would slow the fastest transports down, and
/// the end of the stream is seen only after the producer left.
pub struct Window {
    warm: Duration,
    n: u64,
    first: Option<Instant>,
    base: Option<(u64, Duration)>,
    last: (u64, Duration),
}

impl Window {
    pub fn new(warm: Duration) -> Window {
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
    pub fn received(&mut self) {
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
    pub fn finish(self) -> (u64, u64, Duration) {
        let (n0, t0) = self.base.unwrap_or_default();
        (
            self.n,
            self.last.0.saturating_sub(n0),
            self.last.1.saturating_sub(t0),
        )
    }
}

fn consume<M: BenchMsg>(
    mut rx: impl Rx<M>,
    producers: usize,
    exact: bool,
    warm: Duration,
    go: &SemSet,
) -> Result<()> {
    let mut next = vec![0u64; producers];
    let mask = (1u64 << SEQ_BITS) - 1;
    ready(go)?;
    let mut w = Window::new(warm);
    while let Some(s) = rx.recv_seq()? {
        let (id, q) = ((s >> SEQ_BITS) as usize, s & mask);
        match next.get_mut(id) {
            Some(nx) if q == *nx || (!exact && q > *nx) => *nx = q + 1,
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
    let (recv, wn, ws) = w.finish();
    done(Report::Received {
        recv,
        wn,
        ws: ws.as_secs_f64(),
    })
}

fn ping<M: BenchMsg>(
    mut tx: impl Tx<M>,
    mut rx: impl Rx<M>,
    count: Option<u64>,
    secs: Duration,
    go: &SemSet,
) -> Result<()> {
    let mut m = M::zeroed();
    let mut rtts: Vec<u32> = Vec::with_capacity(1 << 16);
    ready(go)?;
    let start = Instant::now();
    let mut i = 0u64;
    loop {
        if count.is_some_and(|n| i >= n) {
            break;
        }
        m.set_seq(i);
        let t0 = Instant::now();
        tx.send(&m)?;
        let r = rx.recv()?.ok_or("the ponger ended early (peer exited)")?;
        let t1 = Instant::now();
        if r.touch() != i {
            return Err(format!("pong {} for ping {i}", r.seq()).into());
        }
        rtts.push((t1 - t0).as_nanos().min(u128::from(u32::MAX)) as u32);
        i += 1;
        if count.is_none() && t1 - start >= secs {
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
    done(Report::Latency {
        rtts: v.len() as u64,
        min: v[0],
        p50: q(0.50),
        p99: q(0.99),
        p999: q(0.999),
        mean,
    })
}

fn pong<M: BenchMsg>(mut rx: impl Rx<M>, mut tx: impl Tx<M>, go: &SemSet) -> Result<()> {
    ready(go)?;
    let mut n = 0u64;
    while let Some(m) = rx.recv()? {
        tx.send(&m)?;
        n += 1;
    }
    tx.finish()?;
    done(Report::Echoed { echoed: n })
}

// ---- byte frames ---------------------------------------------------------------------

/// A frame row's role over the frame channel at `key` (`bench::frames`).
fn frames(s: &ChildSpec, key: i32, zero_copy: bool) -> Result<()> {
    let go = SemSet::from_id(s.go)?;
    let ch = sysvring::FrameBuilder::new(sysvring::Key::from_raw(key)).open()?;
    match s.role {
        Role::Produce { count, .. } => {
            let tx = ch.sender()?;
            drop(ch);
            frames_produce(tx, zero_copy, count, Duration::from_secs_f64(s.secs), &go)
        }
        Role::Consume { .. } => {
            let rx = ch.receiver()?;
            drop(ch);
            frames_consume(rx, zero_copy, Duration::from_secs_f64(s.warm), &go)
        }
        _ => Err("the frame rows measure throughput only".into()),
    }
}

fn frames_produce(
    mut tx: sysvring::FrameSender,
    zero_copy: bool,
    count: Option<u64>,
    secs: Duration,
    go: &SemSet,
) -> Result<()> {
    // The frames' bytes: a pattern, written once (as a fixed-size producer leaves its
    // message alone but for the sequence number).
    let mut buf: Vec<u8> = (0..FRAME_MAX).map(|i| i as u8).collect();
    let mut lens = Lengths::new();
    let gone = |_| "sysvring frames: peer exited (disconnected)";
    ready(go)?;
    let start = Instant::now();
    let mut i = 0u64;
    'run: loop {
        for _ in 0..64 {
            if count.is_some_and(|n| i >= n) {
                break 'run;
            }
            let len = lens.next_len();
            buf[..8].copy_from_slice(&i.to_le_bytes());
            if zero_copy {
                let mut w = tx.reserve(len).map_err(gone)?;
                w.copy_from_slice(&buf[..len]);
                w.commit();
            } else {
                tx.send_bytes(&buf[..len]).map_err(gone)?;
            }
            i += 1;
        }
        if count.is_none() && start.elapsed() >= secs {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(tx);
    done(Report::Sent { sent: i, secs })
}

fn frames_consume(
    mut rx: sysvring::FrameReceiver,
    zero_copy: bool,
    warm: Duration,
    go: &SemSet,
) -> Result<()> {
    use sysvring::RecvFrameTimeoutError as E;
    let mut lens = Lengths::new();
    let mut buf = Vec::with_capacity(FRAME_MAX);
    ready(go)?;
    let mut w = FrameWindow::new(warm);
    let mut next = 0u64;
    loop {
        let r = if zero_copy {
            rx.recv_with_timeout(WAIT, |b| (b.len(), touch(b)))
        } else {
            rx.recv_into_timeout(&mut buf, WAIT)
                .map(|n| (n, touch(&buf)))
        };
        let (len, seq) = match r {
            Ok(x) => x,
            Err(E::Disconnected) => break,
            Err(E::Timeout) => return Err(format!("sysvring frames: nothing for {WAIT:?}").into()),
            Err(e) => return Err(format!("sysvring frames: {e}").into()),
        };
        let want = lens.next_len();
        if seq != next || len != want {
            return Err(format!(
                "frame {seq} of {len} bytes where frame {next} of {want} bytes was due"
            )
            .into());
        }
        next += 1;
        w.received(len);
    }
    let (recv, wn, wbytes, ws) = w.finish();
    done(Report::ReceivedBytes {
        recv,
        wn,
        wbytes,
        ws: ws.as_secs_f64(),
    })
}

// ---- the in-process reference: crossbeam-channel between threads ---------------------

/// `pairs` producer and as many consumer threads of one process over a bounded
/// crossbeam-channel of `cap` slots: what MPMC NxN between processes is compared with.
#[cfg(feature = "bench-reference")]
fn threads<M: BenchMsg>(s: &ChildSpec, pairs: u64, cap: usize, count: Option<u64>) -> Result<()> {
    // Not pinned: the one process runs all its threads on every allowed CPU.
    let go = SemSet::from_id(s.go)?;
    let secs = Duration::from_secs_f64(s.secs);
    let warm = Duration::from_secs_f64(s.warm);
    let (tx, rx) = crossbeam_channel::bounded::<M>(cap);
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
    done(Report::Both {
        sent,
        recv,
        wn,
        ws: ws.as_secs_f64(),
        secs: start.elapsed().as_secs_f64(),
    })
}

#[cfg(not(feature = "bench-reference"))]
fn threads<M: BenchMsg>(_: &ChildSpec, _: u64, _: usize, _: Option<u64>) -> Result<()> {
    Err("built without the `bench-reference` feature (crossbeam-channel)".into())
}
