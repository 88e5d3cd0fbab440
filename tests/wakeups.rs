//! Sleeping and waking (docs/ARCHITECTURE.md section 6) between real processes: a busy stream
//! stays off the kernel, a blocked side costs ~0 CPU, bursts separated by pauses
//! never lose a wake-up, and the wake-up semaphores never pile up tokens.
//!
//! Figures are printed (run with `--nocapture` to see them). The only bounds asserted
//! are the contract's: wake-ups per message, CPU of a blocked side, semaphore values.
//! Watchdogs fail a hanging test; no assertion is made on elapsed time.

#[macro_use]
mod support;

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use support::{create_unique, env, role, Kid, Rng, WATCHDOG};
use sysvring::sys::SemSet;
use sysvring::{
    AnyChannel, Builder, Flavor, Key, RecvTimeoutError, SendTimeoutError, Spin, Transport,
};

/// Top byte of every key this file makes.
const TAG: u8 = 0x2d;

/// Semaphore indices of a ring channel's set.
const ITEMS: u16 = 0;
const SPACE: u16 = 1;

fn spin_from(name: &str) -> Spin {
    match name {
        "never" => Spin::Never,
        "default" => Spin::default(),
        other => panic!("unknown spin {other}"),
    }
}

/// Child: opens the channel at `KEY` with spin `SPIN` and sends `0..COUNT`. With
/// `BURSTY=1`, sends in bursts of random size (seed `SEED`) separated by short
/// random sleeps.
#[test]
fn child_producer() {
    if role().as_deref() != Some("producer") {
        return;
    }
    let count: u64 = env("COUNT");
    let bursty: u32 = env("BURSTY");
    let spin: String = env("SPIN");
    let ch = Builder::<u64>::new(Key::from_raw(env("KEY")))
        .spin(spin_from(&spin))
        .open()
        .expect("open");
    let tx = ch.sender().expect("sender");
    let mut rng = Rng::new(env("SEED"));
    let mut i = 0;
    while i < count {
        let burst = if bursty == 1 {
            rng.range(1, 300)
        } else {
            count
        };
        let end = (i + burst).min(count);
        while i < end {
            tx.send(i).expect("send");
            i += 1;
        }
        if bursty == 1 {
            // 0..=150 µs: often shorter than a kernel wake-up, often longer.
            match rng.range(0, 3) {
                0 => thread::yield_now(),
                _ => thread::sleep(Duration::from_micros(rng.range(1, 150))),
            }
        }
    }
}

fn spawn_producer(ch: &AnyChannel<u64>, count: u64, bursty: bool, spin: &str) -> Kid {
    Kid::spawn(
        "child_producer",
        "producer",
        &[
            ("KEY", ch.key().raw().to_string()),
            ("COUNT", count.to_string()),
            ("BURSTY", u32::from(bursty).to_string()),
            ("SPIN", spin.to_string()),
            ("SEED", std::process::id().to_string()),
        ],
    )
}

/// Samples the ITEMS and SPACE semaphores of a channel on a thread until stopped;
/// returns the largest values seen.
struct SemMonitor {
    stop: Arc<AtomicBool>,
    max: Arc<[AtomicI32; 2]>,
    thread: Option<thread::JoinHandle<()>>,
}

impl SemMonitor {
    fn start(ch: &AnyChannel<u64>) -> SemMonitor {
        let set = SemSet::from_id(ch.sem_id()).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new([AtomicI32::new(0), AtomicI32::new(0)]);
        let (s, m) = (stop.clone(), max.clone());
        let thread = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                for (i, sem) in [ITEMS, SPACE].into_iter().enumerate() {
                    if let Ok(v) = set.get_val(sem) {
                        m[i].fetch_max(v, Ordering::Relaxed);
                    }
                }
                thread::sleep(Duration::from_micros(200));
            }
        });
        SemMonitor {
            stop,
            max,
            thread: Some(thread),
        }
    }

    /// Stops sampling; the largest (ITEMS, SPACE) seen.
    fn finish(mut self) -> (i32, i32) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        (
            self.max[0].load(Ordering::Relaxed),
            self.max[1].load(Ordering::Relaxed),
        )
    }
}

impl Drop for SemMonitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Current (ITEMS, SPACE) values.
fn sem_values(ch: &AnyChannel<u64>) -> (i32, i32) {
    let set = SemSet::from_id(ch.sem_id()).unwrap();
    (set.get_val(ITEMS).unwrap(), set.get_val(SPACE).unwrap())
}

/// What a receiving loop saw.
#[derive(Debug, Default)]
struct Received {
    count: u64,
    /// Receives that waited a whole sleep slice (100 ms) or more: what a lost
    /// wake-up looks like (reported, not asserted: a loaded host can stall too).
    stalls: u64,
    elapsed: Duration,
}

/// Receives `0..count` in order with spin as the channel was opened, then
/// `Disconnected`; fails when [`WATCHDOG`] passes.
fn receive_all(rx: &sysvring::Receiver<u64>, count: u64, producer: &mut Kid) -> Received {
    let start = Instant::now();
    let deadline = start + WATCHDOG;
    let mut r = Received::default();
    while r.count < count {
        let t = Instant::now();
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(v) => {
                assert_eq!(v, r.count, "out of order");
                r.count += 1;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => panic!(
                "disconnected after {} of {count}:\n{}",
                r.count,
                producer.output()
            ),
        }
        if t.elapsed() >= Duration::from_millis(100) {
            r.stalls += 1;
        }
        assert!(
            Instant::now() < deadline,
            "watchdog: {} of {count} received (a lost wake-up?)\n{}",
            r.count,
            producer.output()
        );
    }
    r.elapsed = start.elapsed();
    producer.wait_ok();
    assert_eq!(
        rx.recv_timeout(WATCHDOG),
        Err(RecvTimeoutError::Disconnected)
    );
    r
}

/// A million messages from a producer process to a consumer that keeps up: wake-ups
/// (kernel posts) stay under 1% of the messages, and the semaphores stay small.
#[test]
fn busy_stream_needs_few_wakeups() {
    const COUNT: u64 = 1_000_000;
    let ch = create_unique::<u64>(TAG, |b| {
        b.capacity(1024)
            .flavor(Flavor::Spsc)
            .transport(Transport::ShmRing)
    });
    let rx = ch.receiver().unwrap();
    let monitor = SemMonitor::start(&ch);
    let mut producer = spawn_producer(&ch, COUNT, false, "default");
    let r = receive_all(&rx, COUNT, &mut producer);
    let (max_items, max_space) = monitor.finish();
    let st = ch.stats();
    let after = sem_values(&ch);
    println!(
        "busy stream: {COUNT} messages in {:?}, wakeups {}, sleeps {}, stalls {}, \
         max ITEMS {max_items} SPACE {max_space}, after {after:?}",
        r.elapsed, st.wakeups, st.sleeps, r.stalls
    );
    assert_eq!((st.sent, st.received), (COUNT, COUNT));
    assert!(
        st.wakeups < COUNT / 100,
        "{} wake-ups for {COUNT} messages",
        st.wakeups
    );
    assert!(max_items < 100 && max_space < 100, "semaphores piled up");
    assert!(
        after.0 < 100 && after.1 < 100,
        "semaphores after: {after:?}"
    );
}

/// Bursts of random size separated by short pauses, with `Spin::Never` on both
/// sides so every empty or full ring goes through register / re-check / sleep: all
/// million messages arrive (a lost wake-up would stall for a whole slice each time,
/// and the watchdog fails the test), and ITEMS/SPACE stay small during and after.
#[test]
fn bursts_and_pauses_never_lose_a_wakeup() {
    const COUNT: u64 = 1_000_000;
    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
        let ch = create_unique::<u64>(TAG, |b| {
            b.capacity(64)
                .flavor(flavor)
                .transport(Transport::ShmRing)
                .spin(Spin::Never)
        });
        let rx = ch.receiver().unwrap();
        let monitor = SemMonitor::start(&ch);
        let mut producer = spawn_producer(&ch, COUNT, true, "never");
        let r = receive_all(&rx, COUNT, &mut producer);
        let (max_items, max_space) = monitor.finish();
        let st = ch.stats();
        let after = sem_values(&ch);
        println!(
            "bursts {flavor:?}: {COUNT} messages in {:?}, wakeups {}, sleeps {}, \
             stalls {}, max ITEMS {max_items} SPACE {max_space}, after {after:?}",
            r.elapsed, st.wakeups, st.sleeps, r.stalls
        );
        assert_eq!((st.sent, st.received), (COUNT, COUNT));
        assert!(st.sleeps > 0, "the sleep path was not exercised");
        assert!(
            max_items < 100 && max_space < 100,
            "{flavor:?}: semaphores piled up: ITEMS {max_items}, SPACE {max_space}"
        );
        assert!(
            after.0 < 100 && after.1 < 100,
            "semaphores after: {after:?}"
        );
    }
}

/// A side blocked for a second (receiver on an empty channel, sender on a full one,
/// each with a live peer) uses almost no CPU: under 50 ms of its thread's time. The
/// ring runs each flavour and spin setting; the message queue has one of each.
fn a_blocked_side_uses_almost_no_cpu(t: Transport) {
    let cases: Vec<(Transport, Flavor, Spin)> = match t {
        Transport::MessageQueue => vec![(t, Flavor::Spsc, Spin::default())],
        _ => vec![
            (t, Flavor::Spsc, Spin::default()),
            (t, Flavor::Mpmc, Spin::default()),
            (t, Flavor::Spsc, Spin::Never),
            (t, Flavor::Spsc, Spin::For(Duration::from_millis(1))),
        ],
    };
    // The cases run side by side (each measures only its own thread).
    let threads: Vec<_> = cases
        .into_iter()
        .map(|(t, flavor, spin)| {
            thread::spawn(move || {
                let ch = create_unique::<u64>(TAG, |b| {
                    b.capacity(4).flavor(flavor).transport(t).spin(spin)
                });
                let tx = ch.sender().unwrap();
                let rx = ch.receiver().unwrap();

                let cpu = support::thread_cpu();
                let start = Instant::now();
                assert_eq!(
                    rx.recv_timeout(Duration::from_secs(1)),
                    Err(RecvTimeoutError::Timeout)
                );
                let (recv_cpu, recv_wall) = (support::thread_cpu() - cpu, start.elapsed());

                while tx.try_send(0).is_ok() {}
                let cpu = support::thread_cpu();
                let start = Instant::now();
                assert!(matches!(
                    tx.send_timeout(1, Duration::from_secs(1)),
                    Err(SendTimeoutError::Timeout(1))
                ));
                let (send_cpu, send_wall) = (support::thread_cpu() - cpu, start.elapsed());
                println!(
                    "blocked {t:?} {flavor:?} {spin:?}: receiver {recv_cpu:?} CPU in \
                     {recv_wall:?}, sender {send_cpu:?} CPU in {send_wall:?}"
                );
                assert!(recv_wall >= Duration::from_secs(1) && send_wall >= Duration::from_secs(1));
                let limit = Duration::from_millis(50);
                assert!(
                    recv_cpu < limit,
                    "{t:?} {flavor:?} {spin:?}: blocked receiver used {recv_cpu:?} CPU"
                );
                assert!(
                    send_cpu < limit,
                    "{t:?} {flavor:?} {spin:?}: blocked sender used {send_cpu:?} CPU"
                );
            })
        })
        .collect();
    let mut failed = Vec::new();
    for t in threads {
        if let Err(e) = t.join() {
            failed.push(
                e.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
            );
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

/// Many sleepers on both sides at once: four producer and four consumer threads on
/// a tiny MPMC ring with `Spin::Never`, producers pausing at random. Every message
/// arrives exactly once (a lost wake-up would leave a sleeper behind until its slice
/// ends; the watchdog fails a test that hangs), and the semaphores stay small.
#[test]
fn many_sleepers_on_both_sides_never_lose_a_wakeup() {
    const PRODUCERS: u64 = 4;
    const CONSUMERS: usize = 4;
    const EACH: u64 = 50_000;
    let ch = create_unique::<u64>(TAG, |b| {
        b.capacity(4)
            .flavor(Flavor::Mpmc)
            .transport(Transport::ShmRing)
            .spin(Spin::Never)
    });
    let monitor = SemMonitor::start(&ch);
    let start = Instant::now();
    let deadline = start + WATCHDOG;
    let got: Vec<Vec<u64>> = thread::scope(|s| {
        // Every consumer connects before any producer can finish and disconnect.
        let rxs: Vec<_> = (0..CONSUMERS).map(|_| ch.receiver().unwrap()).collect();
        let txs: Vec<_> = (0..PRODUCERS).map(|_| ch.sender().unwrap()).collect();
        for (p, tx) in txs.into_iter().enumerate() {
            s.spawn(move || {
                let mut rng = Rng::new(p as u64 + 1);
                for i in 0..EACH {
                    let v = (p as u64) << 32 | i;
                    while let Err(e) = tx.send_timeout(v, Duration::from_secs(1)) {
                        assert!(e.is_timeout(), "producer {p}: disconnected");
                        assert!(Instant::now() < deadline, "watchdog: producer {p}");
                    }
                    if rng.range(0, 63) == 0 {
                        thread::sleep(Duration::from_micros(rng.range(1, 100)));
                    }
                }
            });
        }
        let consumers: Vec<_> = rxs
            .into_iter()
            .map(|rx| {
                s.spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        match rx.recv_timeout(Duration::from_secs(1)) {
                            Ok(v) => got.push(v),
                            Err(RecvTimeoutError::Disconnected) => return got,
                            Err(RecvTimeoutError::Timeout) => {
                                assert!(Instant::now() < deadline, "watchdog: consumer")
                            }
                        }
                    }
                })
            })
            .collect();
        consumers.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let elapsed = start.elapsed();
    let (max_items, max_space) = monitor.finish();
    let st = ch.stats();
    println!(
        "many sleepers: {} messages in {elapsed:?}, wakeups {}, sleeps {}, \
         max ITEMS {max_items} SPACE {max_space}, after {:?}",
        PRODUCERS * EACH,
        st.wakeups,
        st.sleeps,
        sem_values(&ch)
    );
    // Exactly once, each producer's messages in order within each consumer.
    let mut seen = vec![0u64; PRODUCERS as usize];
    for g in &got {
        let mut last = vec![None; PRODUCERS as usize];
        for &v in g {
            let (p, i) = ((v >> 32) as usize, v & 0xffff_ffff);
            assert!(last[p].map_or(true, |l| i > l), "producer {p} out of order");
            last[p] = Some(i);
            seen[p] += 1;
        }
    }
    assert_eq!(seen, vec![EACH; PRODUCERS as usize], "lost or duplicated");
    assert!(max_items < 100 && max_space < 100, "semaphores piled up");
    let after = sem_values(&ch);
    assert!(
        after.0 < 100 && after.1 < 100,
        "semaphores after: {after:?}"
    );
}

per_transport!(a_blocked_side_uses_almost_no_cpu);
