//! Criterion benchmarks of sysvring between real processes.
//!
//! Each benchmark spawns one long-lived peer process (this bench binary re-executed
//! with `SYSVRING_BENCH_ROLE` set: `main` dispatches to the role before criterion
//! starts) and measures with `iter_custom`:
//!
//! - `spsc/throughput/{8,64,1024,4096}`, `mpmc/throughput/...` (1 producer, 1
//!   consumer): the parent sends `iters` messages, the last one flagged; the peer
//!   acknowledges the flagged one on a second channel, so a sample is the time to
//!   move `iters` messages from one process to the other.
//! - `latency/pingpong/{sysvring_spsc,pipe,unix_stream}`: 64-byte round trips with an
//!   echoing peer; one iteration is one round trip.
//! - `reference/crossbeam/{throughput,pingpong}`: the same two figures between two
//!   threads over an in-process `crossbeam_channel::bounded(1024)`.
//!
//! `sysvring bench` (the binary) gives the same figures as a one-shot table against
//! hand-written and OS baselines; this suite is for tracking changes over time.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytemuck::Zeroable;
use criterion::{BenchmarkId, Criterion, Throughput};
use sysvring::{AnyChannel, Builder, Flavor, Key, RecvTimeoutError, Transport};

/// Environment variable that makes this binary a peer process instead of criterion.
const ROLE: &str = "SYSVRING_BENCH_ROLE";
/// `key0,key1` of the two channels a sysvring peer opens.
const KEYS: &str = "SYSVRING_BENCH_KEYS";
/// Message size of the peer.
const SIZE: &str = "SYSVRING_BENCH_SIZE";
/// `spsc` or `mpmc`.
const FLAVOR: &str = "SYSVRING_BENCH_FLAVOR";

/// Set in the sequence number of the last message of a throughput sample.
const FLUSH: u64 = 1 << 63;
/// Longest wait for a peer before a benchmark gives up.
const TIMEOUT: Duration = Duration::from_secs(30);
const CAPACITY: usize = 1024;
const SIZES: [usize; 4] = [8, 64, 1024, 4096];

// The message types of `sysvring bench`, shared: `Pod` byte arrays whose first eight
// bytes carry a sequence number.
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../cli/src/bench/msg.rs"]
mod msg;

use msg::{BenchMsg as Msg, Msg1K, Msg4K, Msg64, Msg8};

// ---- plumbing ---------------------------------------------------------------------

/// A fresh key from our pid and a counter (collisions are retried).
fn next_key() -> Key {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mixed = std::process::id().wrapping_mul(0x9e37_79b9) ^ n.wrapping_mul(0x85eb_ca6b);
    Key::from_raw(((mixed & 0x0fff_ffff) | 0x5400_0000) as i32)
}

/// Creates a channel at a fresh key; the handle removes it when dropped.
fn create<T: sysvring::Message>(flavor: Flavor, transport: Transport) -> AnyChannel<T> {
    for _ in 0..64 {
        match Builder::<T>::new(next_key())
            .flavor(flavor)
            .capacity(CAPACITY)
            .transport(transport)
            .create()
        {
            Ok(ch) => return ch,
            Err(sysvring::Error::AlreadyExists) => continue,
            Err(e) => panic!("creating a channel: {e}"),
        }
    }
    panic!("no free key for a channel")
}

/// A peer process, killed and reaped on drop unless it exited by itself.
struct Peer(Option<Child>);

impl Peer {
    fn spawn(role: &str, env: &[(&str, String)], stdin: Stdio, stdout: Stdio) -> Peer {
        let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
        cmd.env(ROLE, role)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Peer(Some(cmd.spawn().expect("spawning the peer process")))
    }

    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("peer running")
    }

    /// Waits (bounded) for the peer to exit by itself; panics if it fails.
    fn finish(mut self) {
        let mut child = self.0.take().expect("peer running");
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait().expect("waiting for the peer") {
                Some(s) if s.success() => return,
                Some(s) => panic!("peer process failed: {s}"),
                None if Instant::now() >= until => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("peer process did not exit");
                }
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn flavor_name(f: Flavor) -> &'static str {
    match f {
        Flavor::Spsc => "spsc",
        _ => "mpmc",
    }
}

// ---- benchmarks ---------------------------------------------------------------------

/// One-way throughput of `size`-byte messages through a channel of `flavor`.
fn throughput<M: Msg>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    flavor: Flavor,
    transport: Transport,
) {
    let size = std::mem::size_of::<M>();
    let data = create::<M>(flavor, transport);
    let ack = create::<u64>(Flavor::Spsc, Transport::ShmRing);
    let tx = data.sender().expect("sender");
    let acks = ack.receiver().expect("ack receiver");
    let peer = Peer::spawn(
        "sink",
        &[
            (KEYS, format!("{},{}", data.key().raw(), ack.key().raw())),
            (SIZE, size.to_string()),
            (FLAVOR, flavor_name(flavor).to_string()),
        ],
        Stdio::null(),
        Stdio::null(),
    );
    let mut m = M::zeroed();
    let mut next = 0u64;
    c.throughput(Throughput::Bytes(size as u64));
    c.bench_function(BenchmarkId::from_parameter(size), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                let flag = if i + 1 == iters { FLUSH } else { 0 };
                m.set_seq(next | flag);
                next += 1;
                tx.send(m).expect("peer gone");
            }
            let got = acks.recv_timeout(TIMEOUT).expect("no acknowledgement");
            assert_eq!(got, next - 1, "acknowledged the wrong message");
            start.elapsed()
        })
    });
    drop(tx);
    peer.finish();
}

fn spsc_throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("spsc/throughput");
    for size in SIZES {
        match size {
            8 => throughput::<Msg8>(&mut g, Flavor::Spsc, Transport::ShmRing),
            64 => throughput::<Msg64>(&mut g, Flavor::Spsc, Transport::ShmRing),
            1024 => throughput::<Msg1K>(&mut g, Flavor::Spsc, Transport::ShmRing),
            _ => throughput::<Msg4K>(&mut g, Flavor::Spsc, Transport::ShmRing),
        }
    }
    g.finish();
}

fn mpmc_throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("mpmc/throughput");
    for size in SIZES {
        match size {
            8 => throughput::<Msg8>(&mut g, Flavor::Mpmc, Transport::ShmRing),
            64 => throughput::<Msg64>(&mut g, Flavor::Mpmc, Transport::ShmRing),
            1024 => throughput::<Msg1K>(&mut g, Flavor::Mpmc, Transport::ShmRing),
            _ => throughput::<Msg4K>(&mut g, Flavor::Mpmc, Transport::ShmRing),
        }
    }
    g.finish();
}

/// The two transports side by side: SPSC throughput of 8- and 64-byte messages on the
/// shared-memory ring and on the message queue.
fn transports(c: &mut Criterion) {
    for (name, t) in [
        ("transport/shm", Transport::ShmRing),
        ("transport/msgq", Transport::MessageQueue),
    ] {
        let mut g = c.benchmark_group(name);
        throughput::<Msg8>(&mut g, Flavor::Spsc, t);
        throughput::<Msg64>(&mut g, Flavor::Spsc, t);
        g.finish();
    }
}

/// Round trips of 64-byte messages: sysvring SPSC, pipe, Unix stream socket.
fn latency(c: &mut Criterion) {
    let mut g = c.benchmark_group("latency/pingpong");

    // sysvring: one channel each way.
    {
        let ping = create::<Msg64>(Flavor::Spsc, Transport::ShmRing);
        let pong = create::<Msg64>(Flavor::Spsc, Transport::ShmRing);
        let tx = ping.sender().expect("sender");
        let rx = pong.receiver().expect("receiver");
        let peer = Peer::spawn(
            "echo",
            &[
                (KEYS, format!("{},{}", ping.key().raw(), pong.key().raw())),
                (SIZE, "64".into()),
                (FLAVOR, "spsc".into()),
            ],
            Stdio::null(),
            Stdio::null(),
        );
        let mut m = Msg64::zeroed();
        let mut seq = 0u64;
        g.bench_function("sysvring_spsc", |b| {
            b.iter(|| {
                m.set_seq(seq);
                tx.send(m).expect("peer gone");
                let r = rx.recv_timeout(TIMEOUT).expect("no pong");
                assert_eq!(r.seq(), seq);
                seq += 1;
            })
        });
        drop(tx);
        peer.finish();
    }

    // A pipe each way: the peer's stdin and stdout.
    {
        let mut peer = Peer::spawn("echo-stream", &[], Stdio::piped(), Stdio::piped());
        let mut w = peer.child().stdin.take().expect("stdin");
        let mut r = peer.child().stdout.take().expect("stdout");
        stream_pingpong(&mut g, "pipe", &mut w, &mut r);
        drop(w);
        peer.finish();
    }

    // One Unix stream socket pair: the peer's end is its stdin and stdout.
    {
        let (mut a, b) = UnixStream::pair().expect("socketpair");
        let b2 = b.try_clone().expect("dup");
        let peer = Peer::spawn(
            "echo-stream",
            &[],
            Stdio::from(OwnedFd::from(b)),
            Stdio::from(OwnedFd::from(b2)),
        );
        a.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        let mut a2 = a.try_clone().expect("dup");
        stream_pingpong(&mut g, "unix_stream", &mut a, &mut a2);
        drop(a);
        drop(a2);
        peer.finish();
    }
    g.finish();
}

fn stream_pingpong(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    w: &mut impl Write,
    r: &mut impl Read,
) {
    let mut m = Msg64::zeroed();
    let mut back = Msg64::zeroed();
    let mut seq = 0u64;
    g.bench_function(name, |b| {
        b.iter(|| {
            m.set_seq(seq);
            w.write_all(bytemuck::bytes_of(&m)).expect("write");
            r.read_exact(bytemuck::bytes_of_mut(&mut back))
                .expect("read");
            assert_eq!(back.seq(), seq);
            seq += 1;
        })
    });
}

/// The same figures between two threads of one process over crossbeam-channel.
fn crossbeam_reference(c: &mut Criterion) {
    let mut g = c.benchmark_group("reference/crossbeam");
    {
        let (tx, rx) = crossbeam_channel::bounded::<Msg64>(CAPACITY);
        let (ack_tx, ack_rx) = crossbeam_channel::bounded::<u64>(1);
        let sink = std::thread::spawn(move || {
            for m in rx {
                if m.seq() & FLUSH != 0 {
                    let _ = ack_tx.send(m.seq() & !FLUSH);
                }
            }
        });
        let mut m = Msg64::zeroed();
        let mut next = 0u64;
        g.throughput(Throughput::Bytes(64));
        g.bench_function("throughput/64", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for i in 0..iters {
                    let flag = if i + 1 == iters { FLUSH } else { 0 };
                    m.set_seq(next | flag);
                    next += 1;
                    tx.send(m).expect("sink gone");
                }
                let got = ack_rx.recv_timeout(TIMEOUT).expect("no acknowledgement");
                assert_eq!(got, next - 1);
                start.elapsed()
            })
        });
        drop(tx);
        sink.join().expect("sink thread");
    }
    {
        let (ping_tx, ping_rx) = crossbeam_channel::bounded::<Msg64>(CAPACITY);
        let (pong_tx, pong_rx) = crossbeam_channel::bounded::<Msg64>(CAPACITY);
        let echo = std::thread::spawn(move || {
            for m in ping_rx {
                if pong_tx.send(m).is_err() {
                    break;
                }
            }
        });
        let mut m = Msg64::zeroed();
        let mut seq = 0u64;
        g.throughput(Throughput::Elements(1));
        g.bench_function("pingpong/64", |b| {
            b.iter(|| {
                m.set_seq(seq);
                ping_tx.send(m).expect("echo gone");
                let r = pong_rx.recv_timeout(TIMEOUT).expect("no pong");
                assert_eq!(r.seq(), seq);
                seq += 1;
            })
        });
        drop(ping_tx);
        echo.join().expect("echo thread");
    }
    g.finish();
}

// ---- peer roles -----------------------------------------------------------------------

/// Runs the peer role named in `ROLE`; returns the exit code.
fn peer(role: &str) -> i32 {
    let size: usize = std::env::var(SIZE)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let r = match (role, size) {
        ("echo-stream", _) => echo_stream(),
        (_, 8) => sysv_peer::<Msg8>(role),
        (_, 64) => sysv_peer::<Msg64>(role),
        (_, 1024) => sysv_peer::<Msg1K>(role),
        (_, 4096) => sysv_peer::<Msg4K>(role),
        (_, s) => Err(format!("unsupported size {s}")),
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("bench peer ({role}): {e}");
            1
        }
    }
}

fn keys() -> Result<(Key, Key), String> {
    let v = std::env::var(KEYS).map_err(|_| "no keys".to_string())?;
    let (a, b) = v.split_once(',').ok_or("bad keys")?;
    let k = |s: &str| {
        s.parse::<i32>()
            .map(Key::from_raw)
            .map_err(|e| e.to_string())
    };
    Ok((k(a)?, k(b)?))
}

fn sysv_peer<M: Msg>(role: &str) -> Result<(), String> {
    let (k0, k1) = keys()?;
    let flavor = match std::env::var(FLAVOR).as_deref() {
        Ok("mpmc") => Flavor::Mpmc,
        _ => Flavor::Spsc,
    };
    let err = |e: sysvring::Error| e.to_string();
    let rx = Builder::<M>::new(k0)
        .flavor(flavor)
        .open()
        .map_err(err)?
        .receiver()
        .map_err(err)?;
    let recv = || match rx.try_recv() {
        Ok(m) => Ok(Some(m)),
        Err(sysvring::TryRecvError::Disconnected) => Ok(None),
        Err(sysvring::TryRecvError::Empty) => match rx.recv_timeout(TIMEOUT) {
            Ok(m) => Ok(Some(m)),
            Err(RecvTimeoutError::Disconnected) => Ok(None),
            Err(RecvTimeoutError::Timeout) => Err("the parent went silent".to_string()),
        },
    };
    match role {
        "sink" => {
            let acks = Builder::<u64>::new(k1)
                .open()
                .map_err(err)?
                .sender()
                .map_err(err)?;
            let mut expect = 0u64;
            while let Some(m) = recv()? {
                let s = m.seq();
                if s & !FLUSH != expect {
                    return Err(format!("message {} after {}", s & !FLUSH, expect));
                }
                expect += 1;
                if s & FLUSH != 0 {
                    acks.send(s & !FLUSH).map_err(|_| "ack channel gone")?;
                }
            }
            Ok(())
        }
        "echo" => {
            let tx = Builder::<M>::new(k1)
                .flavor(flavor)
                .open()
                .map_err(err)?
                .sender()
                .map_err(err)?;
            while let Some(m) = recv()? {
                tx.send(m).map_err(|_| "pong channel gone")?;
            }
            Ok(())
        }
        other => Err(format!("unknown role {other}")),
    }
}

/// Echoes 64-byte messages from stdin to stdout until end of file.
fn echo_stream() -> Result<(), String> {
    use std::os::fd::AsFd;
    let dup = |fd: std::os::fd::BorrowedFd<'_>| {
        fd.try_clone_to_owned()
            .map(std::fs::File::from)
            .map_err(|e| e.to_string())
    };
    let mut input = dup(std::io::stdin().as_fd())?;
    let mut output = dup(std::io::stdout().as_fd())?;
    let mut buf = [0u8; 64];
    loop {
        let mut got = 0;
        while got < buf.len() {
            match input.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return Ok(()),
                Ok(0) => return Err("end of file inside a message".into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        output.write_all(&buf).map_err(|e| e.to_string())?;
    }
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        std::process::exit(peer(&role));
    }
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    spsc_throughput(&mut c);
    mpmc_throughput(&mut c);
    transports(&mut c);
    latency(&mut c);
    crossbeam_reference(&mut c);
    c.final_summary();
}
