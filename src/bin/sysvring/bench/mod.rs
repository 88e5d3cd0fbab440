//! `sysvring bench`: throughput and round-trip latency of sysvring channels and of
//! baselines, between real processes, in one run.
//!
//! Every measurement spawns fresh children (this binary, re-executed with the hidden
//! [`CHILD_COMMAND`]); the parent creates the kernel objects they share, starts them
//! together on a semaphore, collects their reports, and removes the objects.
//!
//! Method:
//! - throughput: a producer sends for a time box (or `--messages`), one message per
//!   call; the consumer checks every sequence number and measures its receive rate
//!   after a warm-up fifth of the box, between clock reads taken every 64 messages;
//! - latency: a pinger sends, the ponger echoes, the pinger takes one clock read
//!   around each round trip; the first 5 % of the round trips are dropped;
//! - the sweep runs `--rounds` times (3) and each figure keeps its best round, since
//!   other work on the machine only ever makes a figure worse.

use std::any::Any;
use std::io::{IsTerminal, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sysvring::sys::{MsgQueue, SemSet, Shm};
use sysvring::{Builder, Flavor, Key, Transport};

mod child;
mod msg;
mod procs;
mod raw;
mod report;

use msg::{with_msg, BenchMsg, SIZES};
use procs::{created, field, Created, Group, MsgqGuard, Report, SemGuard, ShmGuard};

/// The hidden subcommand that runs a child role.
pub const CHILD_COMMAND: &str = "__bench-child";

/// Errors of the benchmark: anything printable.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// Result of the benchmark.
pub type Result<T> = std::result::Result<T, Error>;

pub use child::main as child_main;

const USAGE: &str = "\
Usage: sysvring bench [OPTIONS]

Measures, between real processes, one-way throughput and round-trip (ping-pong)
latency of sysvring channels and of baselines, for each message size.

Transports (names for --transports):
  floor     raw cache-line ping-pong through a SysV segment: the latency floor
  ceiling   hand-written SPSC ring in a SysV segment: the throughput ceiling
  spsc      sysvring SPSC channel
  spsc-zc   sysvring SPSC with send_with/recv_with: written and read in place
  mpmc      sysvring MPMC channel, 1 producer x 1 consumer
  mpmc2x2   sysvring MPMC channel, 2 producer and 2 consumer processes (throughput;
            --pairs N for NxN)
  crossbeam crossbeam-channel, 2 producer and 2 consumer threads in one process
            (throughput; --pairs N for NxN): the in-process reference for mpmc2x2
  blocking  sysvring SPSC whose receivers never spin (Spin::Never): they sleep
  semop     raw mailbox + one semop(2) post and one sleeping semop per message
            (latency): the kernel wake-up floor for blocking
  msgq-chan sysvring SPSC channel on the message-queue transport
  pipe      anonymous pipe, one write(2) per message
  unix      Unix stream socket pair, one write(2) per message
  msgq      System V message queue, one msgsnd(2) per message

Options:
  --quick              Fewer sizes (8, 1024), shorter runs (0.1 s), one round
  --sizes LIST         Message sizes in bytes, e.g. 8,64,1024,4096 (the default);
                       supported: 8 16 32 64 128 256 512 1024 2048 4096
  --transports LIST    Comma-separated transports (default: all)
  --messages N         Fixed work instead of time boxes: N messages per throughput
                       run, N round trips per latency run
  --time SECONDS       Time box of each run (default 0.15)
  --rounds N           Run the whole sweep N times and keep, per measurement,
                       the best round: highest throughput, lowest median
                       latency (default 3)
  --capacity N         Ring slots of the ring transports (default 1024)
  --pairs N            Producers and consumers of the mpmc2x2 and crossbeam
                       rows (default 2: 2x2)
  --no-pin             Do not pin the processes of a run on distinct CPUs (by
                       default they are, round robin over the allowed CPUs,
                       when there are two or more: steadier figures)
  --json               Print the results as JSON on stdout instead of the table
  --plot FILE.svg      Also write throughput and latency against size as SVG
  -h, --help           Print this help

Ratios: throughput against the hand ring (ceiling) and the pipe; median latency
against the raw line (floor) and the pipe, where those were measured.
";

/// A measured transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tr {
    Floor,
    Ceiling,
    Spsc,
    SpscZc,
    Mpmc,
    Mpmc2x2,
    Blocking,
    ChanMsgq,
    Crossbeam,
    Semop,
    Pipe,
    Unix,
    Msgq,
}

impl Tr {
    const ALL: [Tr; 13] = [
        Tr::Floor,
        Tr::Ceiling,
        Tr::Spsc,
        Tr::SpscZc,
        Tr::Mpmc,
        Tr::Mpmc2x2,
        Tr::Crossbeam,
        Tr::Blocking,
        Tr::Semop,
        Tr::ChanMsgq,
        Tr::Pipe,
        Tr::Unix,
        Tr::Msgq,
    ];

    /// Name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Tr::Floor => "floor",
            Tr::Ceiling => "ceiling",
            Tr::Spsc => "spsc",
            Tr::SpscZc => "spsc-zc",
            Tr::Mpmc => "mpmc",
            Tr::Mpmc2x2 => "mpmc2x2",
            Tr::Blocking => "blocking",
            Tr::Crossbeam => "crossbeam",
            Tr::Semop => "semop",
            Tr::ChanMsgq => "msgq-chan",
            Tr::Pipe => "pipe",
            Tr::Unix => "unix",
            Tr::Msgq => "msgq",
        }
    }

    /// Name in the table and the plot.
    pub fn label(self) -> &'static str {
        match self {
            Tr::Floor => "raw line (floor)",
            Tr::Ceiling => "hand ring (ceiling)",
            Tr::Spsc => "sysvring spsc",
            Tr::SpscZc => "sysvring zero-copy",
            Tr::Mpmc => "sysvring mpmc 1x1",
            Tr::Mpmc2x2 => "sysvring mpmc NxN",
            Tr::Blocking => "sysvring blocking",
            Tr::Crossbeam => "crossbeam NxN threads",
            Tr::Semop => "raw semop (wake floor)",
            Tr::ChanMsgq => "sysvring msgq",
            Tr::Pipe => "pipe",
            Tr::Unix => "unix stream",
            Tr::Msgq => "sysv msgq",
        }
    }

    /// [`Tr::label`] with the producer and consumer counts of the NxN rows filled in.
    pub fn label_for(self, pairs: usize) -> String {
        self.label().replace("NxN", &format!("{pairs}x{pairs}"))
    }

    fn throughput(self) -> bool {
        !matches!(self, Tr::Floor | Tr::Semop)
    }

    fn latency(self) -> bool {
        !matches!(self, Tr::Ceiling | Tr::Mpmc2x2 | Tr::Crossbeam)
    }
}

/// The command line of `bench`.
#[derive(Debug, Clone)]
pub struct Opts {
    pub sizes: Vec<usize>,
    pub transports: Vec<Tr>,
    pub messages: Option<u64>,
    pub secs: f64,
    pub rounds: usize,
    pub capacity: usize,
    pub json: bool,
    pub plot: Option<std::path::PathBuf>,
    pub pin: bool,
    /// Producers (and consumers) of the `mpmc2x2` and `crossbeam` rows.
    pub pairs: usize,
}

fn parse(args: &[String]) -> Result<Option<Opts>> {
    let mut o = Opts {
        sizes: vec![8, 64, 1024, 4096],
        transports: Tr::ALL.to_vec(),
        messages: None,
        secs: 0.15,
        rounds: 3,
        capacity: 1024,
        json: false,
        plot: None,
        pin: true,
        pairs: 2,
    };
    let mut quick = false;
    let (mut sizes, mut secs, mut rounds) = (None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = || -> Result<String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value").into())
        };
        match flag {
            "-h" | "--help" => return Ok(None),
            "--quick" => quick = true,
            "--json" => o.json = true,
            "--pin" => o.pin = true,
            "--no-pin" => o.pin = false,
            "--sizes" => {
                let v = value()?;
                let mut s = Vec::new();
                for x in v.split(',').filter(|x| !x.is_empty()) {
                    let n: usize = x.trim().parse().map_err(|_| format!("bad size `{x}`"))?;
                    if !SIZES.contains(&n) {
                        return Err(format!("unsupported size {n}; supported: {SIZES:?}").into());
                    }
                    if !s.contains(&n) {
                        s.push(n);
                    }
                }
                if s.is_empty() {
                    return Err("--sizes is empty".into());
                }
                s.sort_unstable();
                sizes = Some(s);
            }
            "--transports" => {
                let v = value()?;
                let mut t = Vec::new();
                for x in v.split(',').filter(|x| !x.is_empty()) {
                    let tr = Tr::ALL
                        .into_iter()
                        .find(|tr| tr.name() == x.trim())
                        .ok_or_else(|| format!("unknown transport `{x}` (see --help)"))?;
                    if !t.contains(&tr) {
                        t.push(tr);
                    }
                }
                if t.is_empty() {
                    return Err("--transports is empty".into());
                }
                // Keep the table's order, whatever the order on the command line.
                o.transports = Tr::ALL.into_iter().filter(|tr| t.contains(tr)).collect();
            }
            "--messages" => {
                let n: u64 = value()?.parse().map_err(|_| "bad --messages")?;
                if n == 0 {
                    return Err("--messages must be at least 1".into());
                }
                o.messages = Some(n);
            }
            "--time" => {
                let s: f64 = value()?.parse().map_err(|_| "bad --time")?;
                if !(s > 0.0 && s <= 60.0) {
                    return Err("--time must be in (0, 60] seconds".into());
                }
                secs = Some(s);
            }
            "--rounds" => {
                let n: usize = value()?.parse().map_err(|_| "bad --rounds")?;
                if !(1..=100).contains(&n) {
                    return Err("--rounds must be in 1..=100".into());
                }
                rounds = Some(n);
            }
            "--capacity" => {
                let n: usize = value()?.parse().map_err(|_| "bad --capacity")?;
                if !(2..=1 << 20).contains(&n) || !n.is_power_of_two() {
                    return Err("--capacity must be a power of two in 2..=1048576".into());
                }
                o.capacity = n;
            }
            "--plot" => o.plot = Some(value()?.into()),
            "--pairs" => {
                let n: usize = value()?.parse().map_err(|_| "bad --pairs")?;
                if !(1..=64).contains(&n) {
                    return Err("--pairs must be in 1..=64".into());
                }
                o.pairs = n;
            }
            other => return Err(format!("unknown option `{other}` (see --help)").into()),
        }
    }
    if quick {
        o.sizes = vec![8, 1024];
        o.secs = 0.1;
        o.rounds = 1;
    }
    if let Some(r) = rounds {
        o.rounds = r;
    }
    if let Some(s) = sizes {
        o.sizes = s;
    }
    if let Some(s) = secs {
        o.secs = s;
    }
    Ok(Some(o))
}

/// What one measurement gave.
#[derive(Debug, Clone, Copy)]
pub struct Thr {
    /// Messages received in the measured window.
    pub msgs: u64,
    pub secs: f64,
    pub rate: f64,
    pub sleeps: Option<Sleeps>,
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

/// One row of the results: a transport at a size.
#[derive(Debug, Clone)]
pub struct Row {
    pub tr: Tr,
    pub size: usize,
    pub thr: Option<Thr>,
    pub lat: Option<Lat>,
    pub errors: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Throughput,
    Latency,
}

/// Runs `sysvring bench`.
pub fn main(args: &[String]) -> ExitCode {
    let opts = match parse(args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sysvring bench: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let rows = run_all(&opts);
    let elapsed = started.elapsed();
    let leaked = procs::leaked();
    if !leaked.is_empty() {
        eprintln!("sysvring bench: BUG: System V objects left behind: {leaked:?}");
    }
    let mut out = std::io::stdout().lock();
    let printed = if opts.json {
        report::json(&mut out, &opts, &rows, elapsed)
    } else {
        report::table(&mut out, &opts, &rows, elapsed)
    };
    if let Err(e) = printed.and_then(|()| out.flush()) {
        eprintln!("sysvring bench: writing the results: {e}");
        return ExitCode::FAILURE;
    }
    if let Some(path) = &opts.plot {
        match report::svg(path, &opts, &rows) {
            Ok(()) => eprintln!("plot written to {}", path.display()),
            Err(e) => {
                eprintln!("sysvring bench: writing {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if !leaked.is_empty() || rows.iter().any(|r| !r.errors.is_empty()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn run_all(o: &Opts) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut jobs = Vec::new();
    for &size in &o.sizes {
        for &tr in &o.transports {
            rows.push(Row {
                tr,
                size,
                thr: None,
                lat: None,
                errors: Vec::new(),
            });
            let i = rows.len() - 1;
            if tr.throughput() {
                jobs.push((i, Kind::Throughput));
            }
            if tr.latency() {
                jobs.push((i, Kind::Latency));
            }
        }
    }
    // Rounds run the whole sweep again rather than repeating a measurement at once:
    // interference from the rest of the machine comes in bursts, and a burst spoils
    // one round of a measurement, not all of them.
    let total = jobs.len() * o.rounds;
    let mut p = Progress::new(total);
    for round in 0..o.rounds {
        for (n, &(i, kind)) in jobs.iter().enumerate() {
            let (tr, size) = (rows[i].tr, rows[i].size);
            let what = match kind {
                Kind::Throughput => "throughput",
                Kind::Latency => "latency",
            };
            p.start(
                round * jobs.len() + n,
                &format!(
                    "{:>6}  {:<22} {what}",
                    fmt_size(size),
                    tr.label_for(o.pairs)
                ),
            );
            let r = match kind {
                Kind::Throughput => throughput(tr, size, o).map(|t| {
                    let s = format!(
                        "{}/s  {:.1} MB/s{}",
                        fmt_count(t.rate),
                        t.rate * size as f64 / 1e6,
                        fmt_sleeps(t.sleeps)
                    );
                    // Best round: the highest rate.
                    if rows[i].thr.map_or(true, |b| t.rate > b.rate) {
                        rows[i].thr = Some(t);
                    }
                    s
                }),
                Kind::Latency => latency(tr, size, o).map(|l| {
                    let s = format!(
                        "p50 {}  p99 {}  p99.9 {}{}",
                        fmt_ns(l.p50),
                        fmt_ns(l.p99),
                        fmt_ns(l.p999),
                        fmt_sleeps(l.sleeps)
                    );
                    // Best round: the lowest median (its tail comes with it).
                    if rows[i].lat.map_or(true, |b| l.p50 < b.p50) {
                        rows[i].lat = Some(l);
                    }
                    s
                }),
            };
            match r {
                Ok(s) => p.done(&s),
                Err(e) => {
                    let e = format!("{what}: {e}");
                    p.failed(&e);
                    rows[i].errors.push(e);
                }
            }
        }
    }
    p.finish();
    rows
}

/// Progress on stderr: one line per measurement, rewritten in place on a terminal.
struct Progress {
    total: usize,
    tty: bool,
    line: String,
}

impl Progress {
    fn new(total: usize) -> Self {
        Progress {
            total,
            tty: std::io::stderr().is_terminal(),
            line: String::new(),
        }
    }

    fn start(&mut self, n: usize, what: &str) {
        let w = self.total.to_string().len();
        self.line = format!("[{:>w$}/{}] {what}", n + 1, self.total);
        if self.tty {
            eprint!("\r\x1b[2K{} ...", self.line);
            let _ = std::io::stderr().flush();
        }
    }

    fn done(&mut self, result: &str) {
        if self.tty {
            eprint!("\r\x1b[2K{}  {result}", self.line);
        } else {
            eprintln!("{}  {result}", self.line);
        }
    }

    fn failed(&mut self, e: &str) {
        if self.tty {
            eprintln!("\r\x1b[2K{}  FAILED", self.line);
        } else {
            eprintln!("{}  FAILED", self.line);
        }
        eprintln!("    {e}");
    }

    fn finish(&mut self) {
        if self.tty {
            eprintln!("\r\x1b[2K[{0}/{0}] done", self.total);
        }
    }
}

// ---- one measurement ----------------------------------------------------------------

/// Arguments every child of a measurement gets.
fn common(size: usize, o: &Opts) -> Vec<String> {
    // Consumers skip the first fifth of a time box: a ring takes a few milliseconds
    // to settle into its steady state (the slow start of a fresh process pair).
    let warm = if o.messages.is_some() {
        0.0
    } else {
        o.secs * WARM
    };
    vec![
        format!("size={size}"),
        format!("secs={}", o.secs),
        format!("warm={warm}"),
    ]
}

/// Fraction of a time box that a consumer leaves out of its window.
const WARM: f64 = 0.2;

fn args(list: &[&dyn std::fmt::Display]) -> Vec<String> {
    list.iter().map(|a| a.to_string()).collect()
}

/// The CPUs to pin children on: none with `--no-pin` or fewer than two CPUs.
fn cpus(o: &Opts) -> Option<Vec<usize>> {
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

impl<M: BenchMsg> Owned for sysvring::Channel<M> {
    fn stats(&self) -> sysvring::Stats {
        sysvring::Channel::stats(self)
    }
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

fn sysv_flavor(tr: Tr) -> (Flavor, &'static str, &'static str) {
    match tr {
        Tr::Spsc | Tr::SpscZc | Tr::ChanMsgq => (Flavor::Spsc, "spsc", "default"),
        Tr::Blocking => (Flavor::Spsc, "spsc", "never"),
        _ => (Flavor::Mpmc, "mpmc", "default"),
    }
}

/// `args` plus more.
fn plus(args: &[String], more: impl IntoIterator<Item = String>) -> Vec<String> {
    args.iter().cloned().chain(more).collect()
}

/// One end of a socket pair as a child's stdin or stdout.
fn sock(s: UnixStream) -> Stdio {
    Stdio::from(OwnedFd::from(s))
}

fn throughput(tr: Tr, size: usize, o: &Opts) -> Result<Thr> {
    // Declared before the group: dropped (removed) after the children are reaped.
    let mut keep: Vec<Box<dyn Any>> = Vec::new();
    let mut chans: Vec<Box<dyn Owned>> = Vec::new();
    // The crossbeam reference is one process of 2N threads: not pinned (it needs
    // every CPU).
    let pin = if tr == Tr::Crossbeam { None } else { cpus(o) };
    let mut g = Group::new(common(size, o), pin)?;
    let producers: u64 = if tr == Tr::Mpmc2x2 { o.pairs as u64 } else { 1 };
    // With --messages, the producers share the work.
    let producer = |a: &[String], p: u64| {
        let count = o
            .messages
            .map(|n| format!("count={}", n / producers + u64::from(p < n % producers)));
        plus(
            a,
            ["role=produce".into(), format!("producer={p}")]
                .into_iter()
                .chain(count),
        )
    };
    let consumer = |a: &[String]| plus(a, ["role=consume".into()]);
    let null = Stdio::null;
    match tr {
        Tr::Floor | Tr::Semop => return Err("measures latency only".into()),
        Tr::Crossbeam => {
            // Its one report carries both the producers' and the consumers' fields.
            let count = o.messages.map(|n| format!("count={n}"));
            let a = plus(
                &args(&[
                    &"tr=xbeam",
                    &"role=xbeam",
                    &format!("cap={}", o.capacity),
                    &format!("pairs={}", o.pairs),
                ]),
                count,
            );
            g.spawn("threads", &a, null(), null())?;
        }
        Tr::Ceiling => {
            let shm = Shm::create(Key::private(), raw::ring_bytes(size, o.capacity), 0o600)?;
            created(Created::Shm(shm.id()));
            keep.push(Box::new(ShmGuard(shm)));
            let a = args(&[
                &"tr=hand",
                &format!("shm={}", shm.id()),
                &format!("cap={}", o.capacity),
            ]);
            g.spawn("producer", &producer(&a, 0), null(), null())?;
            g.spawn("consumer", &consumer(&a), null(), null())?;
        }
        Tr::Spsc | Tr::SpscZc | Tr::Mpmc | Tr::Mpmc2x2 | Tr::Blocking | Tr::ChanMsgq => {
            let (flavor, fname, spin) = sysv_flavor(tr);
            let (key, ch) = channel(size, flavor, o.capacity, chan_transport(tr))?;
            chans.push(ch);
            let a = args(&[
                &if tr == Tr::SpscZc {
                    "tr=sysvzc"
                } else {
                    "tr=sysv"
                },
                &format!("key0={key}"),
                &format!("flavor={fname}"),
                &format!("spin={spin}"),
                &format!("producers={producers}"),
                // Two consumers each see a subsequence of each producer's messages.
                &format!("exact={}", u8::from(tr != Tr::Mpmc2x2)),
            ]);
            for c in 0..producers {
                g.spawn(&format!("consumer {c}"), &consumer(&a), null(), null())?;
            }
            for p in 0..producers {
                g.spawn(&format!("producer {p}"), &producer(&a, p), null(), null())?;
            }
        }
        Tr::Pipe => {
            // The producer's stdout is the consumer's stdin.
            let a = args(&[&"tr=stream"]);
            let prod = g.spawn("producer", &producer(&a, 0), null(), Stdio::piped())?;
            let out = prod.stdout.take().ok_or("producer stdout")?;
            g.spawn("consumer", &consumer(&a), Stdio::from(out), null())?;
        }
        Tr::Unix => {
            // Each child has one end of the pair as stdin and stdout.
            let (sa, sb) = UnixStream::pair()?;
            let (sa2, sb2) = (sa.try_clone()?, sb.try_clone()?);
            let a = args(&[&"tr=stream"]);
            g.spawn("producer", &producer(&a, 0), sock(sa), sock(sa2))?;
            g.spawn("consumer", &consumer(&a), sock(sb), sock(sb2))?;
        }
        Tr::Msgq => {
            let q = MsgQueue::create(Key::private(), 0o600)?;
            created(Created::Msgq(q.id()));
            keep.push(Box::new(MsgqGuard(q)));
            let a = args(&[&"tr=msgq", &format!("msgq={}", q.id())]);
            g.spawn("producer", &producer(&a, 0), null(), null())?;
            g.spawn("consumer", &consumer(&a), null(), null())?;
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
    let mut psecs = 0f64;
    for r in reports {
        if r.contains_key("sent") {
            sent += field::<u64>(r, "sent")?;
            psecs = psecs.max(field(r, "secs")?);
        }
        if r.contains_key("recv") {
            recv += field::<u64>(r, "recv")?;
            wn += field::<u64>(r, "wn")?;
            ws = ws.max(field(r, "ws")?);
        }
    }
    if sent != recv {
        return Err(format!("{sent} messages sent but {recv} received").into());
    }
    // Too few messages for a consumer window: fall back to the producers' clock.
    let (msgs, secs) = if wn >= 64 && ws > 0.0 {
        (wn, ws)
    } else {
        (sent, psecs)
    };
    if secs <= 0.0 {
        return Err("nothing measurable (use more --messages)".into());
    }
    Ok(Thr {
        msgs,
        secs,
        rate: msgs as f64 / secs,
        sleeps: None,
    })
}

fn latency(tr: Tr, size: usize, o: &Opts) -> Result<Lat> {
    let mut keep: Vec<Box<dyn Any>> = Vec::new();
    let mut chans: Vec<Box<dyn Owned>> = Vec::new();
    let mut g = Group::new(common(size, o), cpus(o))?;
    let ping = |a: &[String]| {
        let count = o.messages.map(|n| format!("count={n}"));
        plus(a, ["role=ping".to_string()].into_iter().chain(count))
    };
    let pong = |a: &[String]| plus(a, ["role=pong".into()]);
    let null = Stdio::null;
    match tr {
        Tr::Ceiling | Tr::Mpmc2x2 | Tr::Crossbeam => return Err("measures throughput only".into()),
        Tr::Semop => {
            let shm = Shm::create(Key::private(), raw::mailbox_bytes(size), 0o600)?;
            created(Created::Shm(shm.id()));
            keep.push(Box::new(ShmGuard(shm)));
            let sems = SemSet::create(Key::private(), 2, 0o600)?;
            created(Created::Sem(sems.id()));
            keep.push(Box::new(SemGuard(sems)));
            let a = args(&[
                &"tr=semmail",
                &format!("shm={}", shm.id()),
                &format!("sem={}", sems.id()),
            ]);
            g.spawn("ponger", &pong(&a), null(), null())?;
            g.spawn("pinger", &ping(&a), null(), null())?;
        }
        Tr::Floor => {
            let shm = Shm::create(Key::private(), raw::mailbox_bytes(size), 0o600)?;
            created(Created::Shm(shm.id()));
            keep.push(Box::new(ShmGuard(shm)));
            let a = args(&[&"tr=mailbox", &format!("shm={}", shm.id())]);
            g.spawn("ponger", &pong(&a), null(), null())?;
            g.spawn("pinger", &ping(&a), null(), null())?;
        }
        Tr::Spsc | Tr::SpscZc | Tr::Mpmc | Tr::Blocking | Tr::ChanMsgq => {
            // One channel each way.
            let (flavor, fname, spin) = sysv_flavor(tr);
            let (k0, c0) = channel(size, flavor, o.capacity, chan_transport(tr))?;
            chans.push(c0);
            let (k1, c1) = channel(size, flavor, o.capacity, chan_transport(tr))?;
            chans.push(c1);
            let a = args(&[
                &if tr == Tr::SpscZc {
                    "tr=sysvzc"
                } else {
                    "tr=sysv"
                },
                &format!("key0={k0}"),
                &format!("key1={k1}"),
                &format!("flavor={fname}"),
                &format!("spin={spin}"),
            ]);
            g.spawn("ponger", &pong(&a), null(), null())?;
            g.spawn("pinger", &ping(&a), null(), null())?;
        }
        Tr::Pipe => {
            // Two pipes: pinger's stdout -> ponger's stdin, ponger's stdout -> pinger's stdin.
            let a = args(&[&"tr=stream"]);
            let pinger = g.spawn("pinger", &ping(&a), Stdio::piped(), Stdio::piped())?;
            let to_pinger = pinger.stdin.take().ok_or("pinger stdin")?;
            let from_pinger = pinger.stdout.take().ok_or("pinger stdout")?;
            g.spawn(
                "ponger",
                &pong(&a),
                Stdio::from(from_pinger),
                Stdio::from(to_pinger),
            )?;
        }
        Tr::Unix => {
            let (sa, sb) = UnixStream::pair()?;
            let (sa2, sb2) = (sa.try_clone()?, sb.try_clone()?);
            let a = args(&[&"tr=stream"]);
            g.spawn("ponger", &pong(&a), sock(sb), sock(sb2))?;
            g.spawn("pinger", &ping(&a), sock(sa), sock(sa2))?;
        }
        Tr::Msgq => {
            // One queue: pings are type 1, pongs type 2.
            let q = MsgQueue::create(Key::private(), 0o600)?;
            created(Created::Msgq(q.id()));
            keep.push(Box::new(MsgqGuard(q)));
            let a = args(&[&"tr=msgq", &format!("msgq={}", q.id())]);
            g.spawn("ponger", &pong(&a), null(), null())?;
            g.spawn("pinger", &ping(&a), null(), null())?;
        }
    }
    let reports = g.run(run_timeout(o))?;
    drop(g);
    let sleeps = sleeps_of(&chans);
    drop(chans);
    drop(keep);
    let r = reports
        .iter()
        .find(|r| r.contains_key("rtts"))
        .ok_or("the pinger reported no latency")?;
    Ok(Lat {
        samples: field(r, "rtts")?,
        min: field(r, "min")?,
        p50: field(r, "p50")?,
        p99: field(r, "p99")?,
        p999: field(r, "p999")?,
        mean: field(r, "mean")?,
        sleeps,
    })
}

// ---- formatting shared by the table and the progress lines ---------------------------

fn fmt_sleeps(s: Option<Sleeps>) -> String {
    s.map(|s| format!("  ({} sleeps, {} wake-ups)", s.sleeps, s.wakeups))
        .unwrap_or_default()
}

/// `8 B`, `1 KiB`, ...
pub fn fmt_size(n: usize) -> String {
    if n >= 1024 && n % 1024 == 0 {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} B")
    }
}

/// `12.3 M`, `456 k`, ...
pub fn fmt_count(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.2} G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0} ")
    }
}

/// `180 ns`, `1.25 µs`, `31.2 µs`, `1.20 ms`.
pub fn fmt_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e4 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}
