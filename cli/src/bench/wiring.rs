//! One measurement: the kernel objects a row needs (created, and removed by guards),
//! its children with their typed roles and wires, and the figure from their reports.

use std::any::Any;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sysvring::sys::{MsgQueue, SemSet, Shm};
use sysvring::{Builder, Flavor, Key, Transport};

use super::catalogue::Tr;
use super::error::Result;
use super::frames::{FRAME_MAX, FRAME_MEAN_SIZE};
use super::msg::{with_msg, BenchMsg};
use super::opts::Opts;
use super::procs::{self, created, Base, Created, Group, MsgqGuard, SemGuard, ShmGuard};
use super::protocol::{Report, Role, SysvWire, Wire};
use super::ring;
use super::segment;

/// What one throughput measurement gave.
#[derive(Debug, Clone, Copy)]
pub struct Thr {
    /// Messages received in the measured window.
    pub msgs: u64,
    pub secs: f64,
    pub rate: f64,
    /// Bytes received in the measured window, where the consumers counted them (the
    /// frame rows, whose messages vary in length).
    pub bytes: Option<u64>,
    pub sleeps: Option<Sleeps>,
}

impl Thr {
    /// MB/s (10^6 B/s): the bytes counted in the window, else messages of `size`.
    pub fn mb_per_s(&self, size: usize) -> f64 {
        match self.bytes {
            Some(b) => b as f64 / self.secs / 1e6,
            None => self.rate * size as f64 / 1e6,
        }
    }
}

/// What the sysvring channels of a run counted: times a side went to sleep in the
/// kernel, and wake-ups posted (the whole run, warm-up included).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sleeps {
    pub sleeps: u64,
    pub wakeups: u64,
}

/// Round-trip times, in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct Lat {
    pub samples: u64,
    pub min: f64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub mean: f64,
    pub sleeps: Option<Sleeps>,
}

/// Fraction of a time box that a consumer leaves out of its window.
const WARM: f64 = 0.2;

/// What every child of a measurement shares.
fn base(size: usize, o: &Opts) -> Base {
    // Consumers skip the first fifth of a time box: a ring takes a few milliseconds
    // to settle into its steady state (the slow start of a fresh process pair).
    let warm = if o.messages.is_some() {
        0.0
    } else {
        o.secs * WARM
    };
    Base {
        size,
        secs: o.secs,
        warm,
    }
}

/// The CPUs to pin children on: none with `--no-pin` or fewer than two CPUs.
pub fn cpus(o: &Opts) -> Option<Vec<usize>> {
    o.pin
        .then(procs::allowed_cpus)
        .flatten()
        .filter(|c| c.len() >= 2)
}

/// How long a measurement may take after its start before it is killed.
fn run_timeout(o: &Opts) -> Duration {
    match o.messages {
        Some(_) => Duration::from_secs(300),
        None => Duration::from_secs_f64(o.secs * 4.0 + 20.0),
    }
}

/// A fresh key for a channel: derived from our pid and a counter, so parallel runs
/// and successive channels do not collide (a collision with a foreign object is
/// retried by the caller).
fn next_key() -> Key {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let mixed = pid.wrapping_mul(0x9e37_79b9) ^ n.wrapping_mul(0x85eb_ca6b);
    Key::from_raw(((mixed & 0x0fff_ffff) | 0x5300_0000) as i32)
}

/// A channel the parent created: removed when dropped; its counters readable.
trait Owned {
    fn stats(&self) -> sysvring::Stats;
}

impl<M: BenchMsg> Owned for sysvring::AnyChannel<M> {
    fn stats(&self) -> sysvring::Stats {
        sysvring::Channel::stats(self)
    }
}

impl Owned for sysvring::FrameChannel {
    fn stats(&self) -> sysvring::Stats {
        sysvring::FrameChannel::stats(self)
    }
}

/// Creates the frame channel of a frame row: frames of at most `FRAME_MAX` bytes in
/// a ring of `capacity` mean frames (the bytes of the reference's ring). The
/// returned handle owns it.
fn frame_channel(capacity: usize) -> Result<(i32, Box<dyn Owned>)> {
    for _ in 0..64 {
        let r = sysvring::FrameBuilder::new(next_key())
            .max_len(FRAME_MAX)
            .capacity_bytes(capacity * FRAME_MEAN_SIZE)
            .transport(Transport::ShmRing)
            .create();
        match r {
            Ok(ch) => {
                ch.shm_id()
                    .into_iter()
                    .for_each(|id| created(Created::Shm(id)));
                created(Created::Sem(ch.sem_id()));
                return Ok((ch.key().raw(), Box::new(ch)));
            }
            Err(sysvring::Error::AlreadyExists) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err("no free key for a channel".into())
}

/// Sleeps and wake-ups of the channels of a measurement, from their shared counters.
fn sleeps_of(chans: &[Box<dyn Owned>]) -> Option<Sleeps> {
    (!chans.is_empty()).then(|| {
        chans.iter().fold(Sleeps::default(), |acc, c| {
            let s = c.stats();
            Sleeps {
                sleeps: acc.sleeps + s.sleeps,
                wakeups: acc.wakeups + s.wakeups,
            }
        })
    })
}

/// Creates a sysvring channel of `size`-byte messages. The returned handle owns it:
/// dropping it removes the segment and the semaphores.
fn channel(
    size: usize,
    flavor: Flavor,
    capacity: usize,
    transport: Transport,
) -> Result<(i32, Box<dyn Owned>)> {
    fn typed<M: BenchMsg>(
        flavor: Flavor,
        capacity: usize,
        transport: Transport,
    ) -> Result<(i32, Box<dyn Owned>)> {
        for _ in 0..64 {
            let r = Builder::<M>::new(next_key())
                .flavor(flavor)
                .capacity(capacity)
                .transport(transport)
                .create();
            match r {
                Ok(ch) => {
                    ch.shm_id()
                        .into_iter()
                        .for_each(|id| created(Created::Shm(id)));
                    ch.msg_id()
                        .into_iter()
                        .for_each(|id| created(Created::Msgq(id)));
                    created(Created::Sem(ch.sem_id()));
                    return Ok((ch.key().raw(), Box::new(ch)));
                }
                Err(sysvring::Error::AlreadyExists) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err("no free key for a channel".into())
    }
    with_msg!(size, M => typed::<M>(flavor, capacity, transport))
}

/// The sysvring transport a bench row uses.
fn chan_transport(tr: Tr) -> Transport {
    if tr == Tr::ChanMsgq {
        Transport::MessageQueue
    } else {
        Transport::ShmRing
    }
}

/// The flavor of a row's channels, and whether its receivers never spin.
fn sysv_flavor(tr: Tr) -> (Flavor, bool) {
    match tr {
        Tr::Spsc | Tr::SpscZc | Tr::ChanMsgq => (Flavor::Spsc, false),
        Tr::Blocking => (Flavor::Spsc, true),
        _ => (Flavor::Mpmc, false),
    }
}

/// The wire of a sysvring row over the channels `fwd` (and `back`).
fn sysv_wire(tr: Tr, fwd: i32, back: Option<i32>) -> Wire {
    let (flavor, spin_never) = sysv_flavor(tr);
    let w = SysvWire {
        fwd,
        back,
        flavor,
        spin_never,
    };
    if tr == Tr::SpscZc {
        Wire::SysvInPlace(w)
    } else {
        Wire::Sysv(w)
    }
}

/// One end of a socket pair as a child's stdin or stdout.
fn sock(s: UnixStream) -> Stdio {
    Stdio::from(OwnedFd::from(s))
}

/// A private segment of `bytes`, removed when the guard in `keep` drops.
fn private_shm(bytes: usize, keep: &mut Vec<Box<dyn Any>>) -> Result<i32> {
    let shm = Shm::create(Key::private(), bytes, 0o600)?;
    created(Created::Shm(shm.id()));
    keep.push(Box::new(ShmGuard(shm)));
    Ok(shm.id())
}

/// A private message queue, removed when the guard in `keep` drops.
fn private_msgq(keep: &mut Vec<Box<dyn Any>>) -> Result<i32> {
    let q = MsgQueue::create(Key::private(), 0o600)?;
    created(Created::Msgq(q.id()));
    keep.push(Box::new(MsgqGuard(q)));
    Ok(q.id())
}

/// Measures the one-way throughput of row `tr` at `size`.
pub fn throughput(tr: Tr, size: usize, o: &Opts) -> Result<Thr> {
    // Declared before the group: dropped (removed) after the children are reaped.
    let mut keep: Vec<Box<dyn Any>> = Vec::new();
    let mut chans: Vec<Box<dyn Owned>> = Vec::new();
    // The crossbeam reference is one process of 2N threads: not pinned (it needs
    // every CPU).
    let pin = if tr == Tr::Crossbeam { None } else { cpus(o) };
    let mut g = Group::new(base(size, o), pin)?;
    let producers: u64 = if tr == Tr::Mpmc2x2 { o.pairs as u64 } else { 1 };
    // With --messages, the producers share the work.
    let produce = |p: u64| Role::Produce {
        producer: p,
        count: o
            .messages
            .map(|n| n / producers + u64::from(p < n % producers)),
    };
    let consume = Role::Consume {
        producers: producers as usize,
        // Two consumers each see a subsequence of each producer's messages.
        exact: tr != Tr::Mpmc2x2,
    };
    let null = Stdio::null;
    match tr {
        Tr::Floor | Tr::Semop => return Err("measures latency only".into()),
        Tr::Crossbeam => {
            // Its one report carries both the producers' and the consumers' fields.
            let role = Role::Threads {
                pairs: o.pairs as u64,
                cap: o.capacity,
                count: o.messages,
            };
            g.spawn("threads", role, Wire::Threads, null(), null())?;
        }
        Tr::Ceiling => {
            let shm = private_shm(ring::ring_bytes(size, o.capacity), &mut keep)?;
            let wire = Wire::Hand {
                shm,
                cap: o.capacity,
            };
            g.spawn("producer", produce(0), wire.clone(), null(), null())?;
            g.spawn("consumer", consume, wire, null(), null())?;
        }
        Tr::Spsc | Tr::SpscZc | Tr::Mpmc | Tr::Mpmc2x2 | Tr::Blocking | Tr::ChanMsgq => {
            let flavor = sysv_flavor(tr).0;
            let (key, ch) = channel(size, flavor, o.capacity, chan_transport(tr))?;
            chans.push(ch);
            let wire = sysv_wire(tr, key, None);
            for c in 0..producers {
                let name = format!("consumer {c}");
                g.spawn(&name, consume.clone(), wire.clone(), null(), null())?;
            }
            for p in 0..producers {
                let name = format!("producer {p}");
                g.spawn(&name, produce(p), wire.clone(), null(), null())?;
            }
        }
        Tr::Pipe => {
            // The producer's stdout is the consumer's stdin.
            let prod = g.spawn("producer", produce(0), Wire::Stream, null(), Stdio::piped())?;
            let out = prod.stdout.take().ok_or("producer stdout")?;
            g.spawn("consumer", consume, Wire::Stream, Stdio::from(out), null())?;
        }
        Tr::Unix => {
            // Each child has one end of the pair as stdin and stdout.
            let (sa, sb) = UnixStream::pair()?;
            let (sa2, sb2) = (sa.try_clone()?, sb.try_clone()?);
            g.spawn("producer", produce(0), Wire::Stream, sock(sa), sock(sa2))?;
            g.spawn("consumer", consume, Wire::Stream, sock(sb), sock(sb2))?;
        }
        Tr::Msgq => {
            let wire = Wire::Msgq {
                msgq: private_msgq(&mut keep)?,
            };
            g.spawn("producer", produce(0), wire.clone(), null(), null())?;
            g.spawn("consumer", consume, wire, null(), null())?;
        }
        Tr::Frames | Tr::FramesZc => {
            let (key, ch) = frame_channel(o.capacity)?;
            chans.push(ch);
            let wire = Wire::Frames {
                key,
                zero_copy: tr == Tr::FramesZc,
            };
            g.spawn("consumer", consume, wire.clone(), null(), null())?;
            g.spawn("producer", produce(0), wire, null(), null())?;
        }
    }
    let reports = g.run(run_timeout(o))?;
    drop(g);
    let mut t = throughput_of(&reports)?;
    t.sleeps = sleeps_of(&chans);
    drop(chans);
    drop(keep);
    Ok(t)
}

/// Sums what producers sent and consumers received, checks nothing was lost, and
/// derives the rate from the consumers' windows.
fn throughput_of(reports: &[Report]) -> Result<Thr> {
    let (mut sent, mut recv, mut wn, mut ws) = (0u64, 0u64, 0u64, 0f64);
    let mut wbytes: Option<u64> = None;
    let mut psecs = 0f64;
    for r in reports {
        match *r {
            Report::Sent { sent: n, secs } => {
                sent += n;
                psecs = psecs.max(secs);
            }
            Report::Received {
                recv: n,
                wn: w,
                ws: s,
            } => {
                recv += n;
                wn += w;
                ws = ws.max(s);
            }
            Report::ReceivedBytes {
                recv: n,
                wn: w,
                wbytes: b,
                ws: s,
            } => {
                recv += n;
                wn += w;
                ws = ws.max(s);
                wbytes = Some(wbytes.unwrap_or(0) + b);
            }
            Report::Both {
                sent: a,
                recv: b,
                wn: w,
                ws: s,
                secs,
            } => {
                sent += a;
                recv += b;
                wn += w;
                ws = ws.max(s);
                psecs = psecs.max(secs);
            }
            Report::Latency { .. } | Report::Echoed { .. } => {
                return Err("a latency report in a throughput run".into())
            }
        }
    }
    if sent != recv {
        return Err(format!("{sent} messages sent but {recv} received").into());
    }
    // Too few messages for a consumer window: fall back to the producers' clock.
    let (msgs, secs, bytes) = if wn >= 64 && ws > 0.0 {
        (wn, ws, wbytes)
    } else {
        (sent, psecs, None)
    };
    if secs <= 0.0 {
        return Err("nothing measurable (use more --messages)".into());
    }
    Ok(Thr {
        msgs,
        secs,
        rate: msgs as f64 / secs,
        bytes,
        sleeps: None,
    })
}

/// Measures the round-trip latency of row `tr` at `size`.
pub fn latency(tr: Tr, size: usize, o: &Opts) -> Result<Lat> {
    let mut keep: Vec<Box<dyn Any>> = Vec::new();
    let mut chans: Vec<Box<dyn Owned>> = Vec::new();
    let mut g = Group::new(base(size, o), cpus(o))?;
    let ping = Role::Ping { count: o.messages };
    let pong = Role::Pong;
    let null = Stdio::null;
    match tr {
        Tr::Ceiling | Tr::Mpmc2x2 | Tr::Crossbeam | Tr::Frames | Tr::FramesZc => {
            return Err("measures throughput only".into())
        }
        Tr::Semop => {
            let shm = private_shm(segment::mailbox_bytes(size), &mut keep)?;
            let sems = SemSet::create(Key::private(), 2, 0o600)?;
            created(Created::Sem(sems.id()));
            keep.push(Box::new(SemGuard(sems)));
            let wire = Wire::SemMail {
                shm,
                sem: sems.id(),
            };
            g.spawn("ponger", pong, wire.clone(), null(), null())?;
            g.spawn("pinger", ping, wire, null(), null())?;
        }
        Tr::Floor => {
            let wire = Wire::Mailbox {
                shm: private_shm(segment::mailbox_bytes(size), &mut keep)?,
            };
            g.spawn("ponger", pong, wire.clone(), null(), null())?;
            g.spawn("pinger", ping, wire, null(), null())?;
        }
        Tr::Spsc | Tr::SpscZc | Tr::Mpmc | Tr::Blocking | Tr::ChanMsgq => {
            // One channel each way.
            let flavor = sysv_flavor(tr).0;
            let (k0, c0) = channel(size, flavor, o.capacity, chan_transport(tr))?;
            chans.push(c0);
            let (k1, c1) = channel(size, flavor, o.capacity, chan_transport(tr))?;
            chans.push(c1);
            let wire = sysv_wire(tr, k0, Some(k1));
            g.spawn("ponger", pong, wire.clone(), null(), null())?;
            g.spawn("pinger", ping, wire, null(), null())?;
        }
        Tr::Pipe => {
            // Two pipes: pinger's stdout -> ponger's stdin, ponger's stdout -> pinger's stdin.
            let pinger = g.spawn("pinger", ping, Wire::Stream, Stdio::piped(), Stdio::piped())?;
            let to_pinger = pinger.stdin.take().ok_or("pinger stdin")?;
            let from_pinger = pinger.stdout.take().ok_or("pinger stdout")?;
            g.spawn(
                "ponger",
                pong,
                Wire::Stream,
                Stdio::from(from_pinger),
                Stdio::from(to_pinger),
            )?;
        }
        Tr::Unix => {
            let (sa, sb) = UnixStream::pair()?;
            let (sa2, sb2) = (sa.try_clone()?, sb.try_clone()?);
            g.spawn("ponger", pong, Wire::Stream, sock(sb), sock(sb2))?;
            g.spawn("pinger", ping, Wire::Stream, sock(sa), sock(sa2))?;
        }
        Tr::Msgq => {
            // One queue: pings are type 1, pongs type 2.
            let wire = Wire::Msgq {
                msgq: private_msgq(&mut keep)?,
            };
            g.spawn("ponger", pong, wire.clone(), null(), null())?;
            g.spawn("pinger", ping, wire, null(), null())?;
        }
    }
    let reports = g.run(run_timeout(o))?;
    drop(g);
    let sleeps = sleeps_of(&chans);
    drop(chans);
    drop(keep);
    let (samples, min, p50, p99, p999, mean) = reports
        .iter()
        .find_map(|r| match *r {
            Report::Latency {
                rtts,
                min,
                p50,
                p99,
                p999,
                mean,
            } => Some((rtts, min, p50, p99, p999, mean)),
            _ => None,
        })
        .ok_or("the pinger reported no latency")?;
    Ok(Lat {
        samples,
        min: min.into(),
        p50: p50.into(),
        p99: p99.into(),
        p999: p999.into(),
        mean,
        sleeps,
    })
}
