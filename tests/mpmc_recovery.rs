//! MPMC crash recovery: the slot of a producer that died while claiming it is
//! skipped, and a live (stalled) process is never taken for dead
//! (docs/ARCHITECTURE.md section 7).
//!
//! - Dead claimers (real `SIGKILL`):
//!   [`mpmc_messages_behind_a_dead_producers_slot_are_received_before_disconnected`],
//!   [`mpmc_producer_killed_between_claim_and_owner_record_does_not_wedge`] (minimal
//!   reproductions of defects found while writing the torture, `tests/torture.rs`).
//! - Stalled ones: [`mpmc_exactly_once_while_peers_are_stopped_and_continued`] pauses
//!   real processes with SIGSTOP at random moments (mid-claim, mid-publish, mid-read:
//!   wherever they happen to be) and resumes them with SIGCONT, while producers and
//!   consumers keep going; every message must arrive exactly once, in each producer's
//!   order, and nothing is skipped (a stalled process is alive).
//!
//! (MPMC producers and consumers killed inside a zero-copy send or receive, between
//! real processes streaming messages, are in `tests/multiprocess.rs`:
//! `mpmc_producer_killed_while_writing_is_skipped`,
//! `mpmc_consumer_killed_while_reading_does_not_wedge`.)
//!
//! This test binary re-executes itself in a role (`child_*` tests, which return at
//! once in a normal run). Hygiene: every channel is created by the parent (its handle
//! removes the kernel objects, also while unwinding from a failed assertion);
//! children are [`Kid`]s, killed and reaped on drop. Every wait has a watchdog.

mod support;

use std::fs;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::{
    create_unique, env, env_key, env_path, path_env, role, wait_file, Kid, Msg, Rng, TempDir,
    WATCHDOG,
};
use sysvring::sys::Shm;
use sysvring::{Builder, Flavor, RecvTimeoutError, Transport};

/// Top byte of every key this file makes.
const TAG: u8 = 0x3e;

// -------------------------------------------------------------------------------------
// Dead claimers are skipped (SIGKILL)
// -------------------------------------------------------------------------------------

/// Child: opens `KEY`, connects a sender and starts a zero-copy send whose closure
/// writes message `u64::MAX`, creates `READY` and sleeps until killed: a producer
/// killed between claiming and publishing an MPMC slot.
#[test]
fn child_stuck_claimer() {
    if role().as_deref() != Some("stuck_claimer") {
        return;
    }
    let ch = Builder::<Msg>::new(env_key()).open().expect("open");
    let tx = ch.sender().expect("sender");
    let _ = tx.send_with(|slot| {
        *slot = Msg::new(u64::MAX);
        fs::write(env_path("READY"), b"").expect("write READY");
        thread::sleep(WATCHDOG * 2);
    });
}

/// MPMC ring: producer P1 is killed between claiming slot 0 and publishing it;
/// producer P2 had sent 3 messages behind it (all acknowledged) and then dropped its
/// sender. Every sender is now gone, but the ring is not empty: the receiver must get
/// the 3 messages (after skipping the dead producer's slot) before `Disconnected`
/// (docs/ARCHITECTURE.md section 7: `recv` returns `Disconnected` once every sender
/// is gone *and the channel is empty*).
#[test]
fn mpmc_messages_behind_a_dead_producers_slot_are_received_before_disconnected() {
    if role().is_some() {
        return;
    }
    let dir = TempDir::new("crash-mpmc-behind");
    let ch = create_unique::<Msg>(TAG, |b| {
        b.capacity(8)
            .flavor(Flavor::Mpmc)
            .transport(Transport::ShmRing)
    });
    let rx = ch.receiver().unwrap();
    let ready = dir.path().join("claimer.ready");
    let mut p1 = Kid::spawn(
        "child_stuck_claimer",
        "stuck_claimer",
        &[
            ("KEY", ch.key().raw().to_string()),
            path_env("READY", &ready),
        ],
    );
    wait_file(&mut p1, &ready);
    let p2 = ch.sender().unwrap();
    for i in 0..3 {
        p2.send(Msg::new(i)).unwrap();
    }
    drop(p2);
    p1.kill();
    let mut got = Vec::new();
    let deadline = Instant::now() + WATCHDOG;
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(m) => got.push(m.id),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => assert!(Instant::now() < deadline, "watchdog"),
        }
    }
    assert_eq!(
        got,
        vec![0, 1, 2],
        "Disconnected while acknowledged messages were still in the ring (stats {:?})",
        ch.stats()
    );
    assert_eq!(ch.stats().skipped, 1);
}

/// Child: opens `KEY` (an MPMC ring of 2 slots), connects a sender, then does exactly
/// what `Mpmc::claim` does first for position `FROM`: the CAS of the slot's stamp from
/// (FROM, untagged) to (FROM, its claimer tag), and stops there (creates `READY`,
/// sleeps until killed): a producer SIGKILLed between claiming the slot and moving
/// `tail` past it. The window is a few instructions wide, so it is emulated here
/// rather than raced.
#[test]
fn child_half_claimer() {
    if role().as_deref() != Some("half_claimer") {
        return;
    }
    use sysvring::ring::layout::{Claimer, Geometry, CLAIMERS, CLAIMERS_OFFSET};
    use sysvring::ring::mpmc::encode;
    use sysvring::Flavor;
    let ch = Builder::<Msg>::new(env_key()).open().expect("open");
    let _tx = ch.sender().expect("sender");
    let from: u64 = env("FROM");
    let att = Shm::open(env_key())
        .expect("shm")
        .attach(false)
        .expect("attach");
    let geo = Geometry::for_type::<Msg>(Flavor::Mpmc, 2).expect("geometry");
    let base = att.as_ptr();
    // Our claimer tag: the table entry whose identity word (diagnostics) holds our
    // pid in its high half, taken by `sender()`.
    let me = u64::from(std::process::id());
    let tag = (0..CLAIMERS)
        .find(|&i| {
            // SAFETY: the segment is a validated MPMC ring (opened above): its claimer
            // table has CLAIMERS entries of atomics at CLAIMERS_OFFSET.
            let id = unsafe {
                &*base
                    .add(CLAIMERS_OFFSET + std::mem::size_of::<Claimer>() * i)
                    .cast::<AtomicU64>()
            };
            id.load(Ordering::SeqCst) >> 32 == me
        })
        .expect("registered") as u16
        + 1;
    let slot = (from & (geo.capacity - 1)) as usize;
    // SAFETY: slot < capacity, so the stamp (first 8 bytes of the slot) is inside the
    // validated segment, 8-aligned, and an atomic word.
    let stamp = unsafe {
        &*base
            .add(geo.slots_offset + slot * geo.stride)
            .cast::<AtomicU64>()
    };
    stamp
        .compare_exchange(
            encode(from, 0),
            encode(from, tag),
            Ordering::AcqRel,
            Ordering::Relaxed,
        )
        .expect("claim by CAS on the stamp");
    fs::write(env_path("READY"), b"").expect("write READY");
    thread::sleep(WATCHDOG * 2);
}

/// MPMC ring: a producer killed right after its claiming CAS on the slot's stamp,
/// before it moved `tail` past it, must not wedge the queue: the next producer moves
/// `tail` on for it, and the receiver, finding the slot claimed by a process proven
/// dead, skips it (counted in `stats().skipped`) and receives the message behind it.
#[test]
fn mpmc_producer_killed_between_claim_and_owner_record_does_not_wedge() {
    if role().is_some() {
        return;
    }
    let dir = TempDir::new("crash-mpmc-owner");
    let ch = create_unique::<Msg>(TAG, |b| {
        b.capacity(2)
            .flavor(Flavor::Mpmc)
            .transport(Transport::ShmRing)
    });
    let tx = ch.sender().unwrap();
    let rx = ch.receiver().unwrap();
    // One lap: both slots were last claimed by this (live) process.
    for i in 0..2 {
        tx.send(Msg::new(i)).unwrap();
        assert_eq!(rx.recv().unwrap(), Msg::new(i));
    }
    let ready = dir.path().join("half.ready");
    let mut half = Kid::spawn(
        "child_half_claimer",
        "half_claimer",
        &[
            ("KEY", ch.key().raw().to_string()),
            ("FROM", "2".to_string()),
            path_env("READY", &ready),
        ],
    );
    wait_file(&mut half, &ready);
    half.kill();
    tx.send(Msg::new(7)).unwrap();
    let r = rx.recv_timeout(Duration::from_secs(5));
    assert_eq!(
        r,
        Ok(Msg::new(7)),
        "wedged behind the slot of a producer killed between claim and index move \
         (stats {:?})",
        ch.stats()
    );
    assert_eq!(ch.stats().skipped, 1);
}

/// Producer incarnations of [`mpmc_a_producer_restarted_1000_times_each_in_a_pid_namespace_of_its_own`].
const RESTARTS: u64 = 1000;

/// Every this many incarnations, one dies inside its zero-copy send (mid-claim).
const MID_CLAIM_EVERY: u64 = 50;

/// Whether incarnation `i` dies mid-claim (its message is never published).
fn dies_mid_claim(i: u64) -> bool {
    i % MID_CLAIM_EVERY == MID_CLAIM_EVERY / 2
}

/// Child (single-threaded): starts [`RESTARTS`] producers one after the other, each
/// in a PID namespace of its own when `PIDNS` is 1 (so neither the receiver nor the
/// next producer can prove anything from its pid). Each opens `KEY`, makes a sender
/// (taking a claimer-table entry), sends its number and SIGKILLs itself while it still
/// holds the entry; every [`MID_CLAIM_EVERY`]th kills itself inside `send_with`
/// instead, with its slot claimed and never published.
#[test]
fn child_restarting_producer() {
    if role().as_deref() != Some("restarting_producer") {
        return;
    }
    let pidns = env::<u32>("PIDNS") == 1;
    for i in 0..RESTARTS {
        // Incarnation i: `run` in a new process; with `pidns`, a process that unshares
        // the PID namespace forks the namespace's init, which forks the producer (an
        // init ignores a SIGKILL from inside its namespace, the producer does not).
        let code = in_child(|| {
            if !pidns {
                return produce_and_die(i);
            }
            // SAFETY: unshare(2) with a flag and no pointers.
            if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
                eprintln!("unshare(CLONE_NEWPID): {}", std::io::Error::last_os_error());
                return 2;
            }
            in_child(|| in_child(|| produce_and_die(i)))
        });
        assert_eq!(code, 0, "incarnation {i} did not die by SIGKILL");
    }
}

/// Forks; the child runs `f` and exits with its code. Returns 0 if the child was
/// SIGKILLed or exited with 0, else its code (or 3 for another signal).
fn in_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: this process runs one test on one thread (`--test-threads=1`), so the
    // forked process may allocate and lock as any process does.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = f();
        // SAFETY: ends the child without running the harness's destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: reaping our own child with a valid status pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid, "waitpid: {}", std::io::Error::last_os_error());
    if libc::WIFSIGNALED(status) {
        if libc::WTERMSIG(status) == libc::SIGKILL {
            0
        } else {
            3
        }
    } else {
        libc::WEXITSTATUS(status)
    }
}

/// One producer incarnation: see [`child_restarting_producer`]. Returns only on
/// failure.
fn produce_and_die(i: u64) -> i32 {
    let ch = Builder::<Msg>::new(env_key()).open().expect("open");
    let tx = ch.sender().expect("sender (a free claimer entry)");
    let die = || {
        // SAFETY: SIGKILL to ourselves: the process ends here.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    };
    if dies_mid_claim(i) {
        let _ = tx.send_with(|slot| {
            *slot = Msg::new(i);
            die();
        });
    } else {
        tx.send(Msg::new(i)).expect("send");
    }
    die();
    4
}

/// Table entries come back: a producer restarted [`RESTARTS`] times, each incarnation
/// SIGKILLed while holding its claimer-table entry (256 of them) and every
/// [`MID_CLAIM_EVERY`]th while holding a claimed slot, each in a PID namespace of its
/// own (where no pid proves anything to the receiver or to the next producer) when
/// `unshare --pid` works here.
/// Every published message arrives exactly once and in order, the mid-claim slots are
/// skipped, and no incarnation is refused an entry (`TooManyProcesses`).
#[test]
fn mpmc_a_producer_restarted_1000_times_each_in_a_pid_namespace_of_its_own() {
    if role().is_some() {
        return;
    }
    let ch = create_unique::<Msg>(TAG, |b| {
        b.capacity(4)
            .flavor(Flavor::Mpmc)
            .transport(Transport::ShmRing)
    });
    let rx = ch.receiver().unwrap();
    let pidns = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !pidns {
        eprintln!("unshare --pid does not work here: the producers share our PID namespace");
    }
    let mut kid = Kid::spawn(
        "child_restarting_producer",
        "restarting_producer",
        &[
            ("KEY", ch.key().raw().to_string()),
            ("PIDNS", u32::from(pidns).to_string()),
        ],
    );
    let expected: Vec<u64> = (0..RESTARTS).filter(|&i| !dies_mid_claim(i)).collect();
    let mut got = Vec::with_capacity(expected.len());
    let deadline = Instant::now() + WATCHDOG;
    while got.len() < expected.len() {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(m) => {
                assert!(m.intact(), "torn: {m:?}");
                got.push(m.id);
            }
            // Between two incarnations no sender is alive: a moment of `Disconnected`.
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                thread::sleep(Duration::from_millis(1));
                if let Some(st) = kid.exited() {
                    // Everything is sent; what is left must arrive without waiting.
                    if let Ok(m) = rx.recv_timeout(Duration::from_secs(2)) {
                        got.push(m.id);
                        continue;
                    }
                    panic!(
                        "the producer ended ({st}) with {} of {} messages received \
                         (stats {:?}):\n{}",
                        got.len(),
                        expected.len(),
                        ch.stats(),
                        kid.output()
                    );
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "watchdog: {} of {} messages after {WATCHDOG:?} (stats {:?})",
            got.len(),
            expected.len(),
            ch.stats()
        );
    }
    kid.wait_ok();
    assert_eq!(got, expected, "exactly once, in order");
    assert_eq!(
        ch.stats().skipped,
        RESTARTS / MID_CLAIM_EVERY,
        "each mid-claim death skipped once"
    );
    assert_eq!(rx.try_recv(), Err(sysvring::TryRecvError::Disconnected));
}

// -------------------------------------------------------------------------------------
// Stalled claimers never are (SIGSTOP, SIGCONT)
// -------------------------------------------------------------------------------------

/// Messages per producer process.
const PER_PRODUCER: u64 = 30_000_000;

/// `producer << 40 | seq`.
fn msg(producer: u64, seq: u64) -> u64 {
    producer << 40 | seq
}

/// Child: opens the channel and sends `PER_PRODUCER` messages as producer `ID`.
#[test]
fn child_stall_producer() {
    if role().as_deref() != Some("stall_producer") {
        return;
    }
    let id: u64 = env("ID");
    let ch = Builder::<u64>::new(env_key()).open().expect("open");
    let tx = ch.sender().expect("sender");
    let mut batch = Vec::with_capacity(8);
    let mut seq = 0;
    while seq < PER_PRODUCER {
        // Mix single sends and batches, so pauses land in both paths.
        if seq % 3 == 0 {
            tx.send(msg(id, seq)).expect("send");
            seq += 1;
        } else {
            batch.clear();
            batch.extend((seq..(seq + 5).min(PER_PRODUCER)).map(|s| msg(id, s)));
            let mut off = 0;
            while off < batch.len() {
                off += tx.send_batch(&batch[off..]).expect("send_batch");
                if off < batch.len() {
                    tx.send(batch[off]).expect("send");
                    off += 1;
                }
            }
            seq += batch.len() as u64;
        }
    }
}

/// Child: receives until disconnected; writes one bitmap per producer (a set bit per
/// sequence number received) to `OUT`, failing on a duplicate or a per-producer
/// order violation seen by this consumer.
#[test]
fn child_stall_consumer() {
    if role().as_deref() != Some("stall_consumer") {
        return;
    }
    let ch = Builder::<u64>::new(env_key()).open().expect("open");
    let rx = ch.receiver().expect("receiver");
    let words = PER_PRODUCER.div_ceil(64) as usize;
    let mut seen = vec![vec![0u64; words]; 2];
    let mut last = [None::<u64>; 2];
    let mut record = |m: u64| {
        let (p, s) = ((m >> 40) as usize, m & ((1 << 40) - 1));
        assert!(p < 2 && s < PER_PRODUCER, "corrupt message {m:#x}");
        let bit = 1u64 << (s % 64);
        let w = &mut seen[p][(s / 64) as usize];
        assert_eq!(*w & bit, 0, "producer {p} message {s} received twice");
        *w |= bit;
        if let Some(l) = last[p] {
            assert!(s > l, "producer {p}: {s} after {l}");
        }
        last[p] = Some(s);
    };
    let mut buf = [0u64; 7];
    let mut n = 0u64;
    loop {
        n += 1;
        if n % 4 == 0 {
            match rx.recv_batch(&mut buf) {
                Ok(k) => buf[..k].iter().for_each(|&m| record(m)),
                Err(_) => break,
            }
        } else {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(m) => record(m),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    }
    let bytes: Vec<u8> = seen
        .iter()
        .flatten()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    fs::write(env::<String>("OUT"), bytes).expect("write OUT");
}

/// 2 producer and 2 consumer processes on a 64-message MPMC ring; a chaos thread
/// pauses a random one of them with SIGSTOP for 5–60 ms at random moments and resumes
/// it; the creator removes the channel as soon as the producers are done. Every
/// message is received exactly once.
#[test]
fn mpmc_exactly_once_while_peers_are_stopped_and_continued() {
    if role().is_some() {
        return;
    }
    let dir = TempDir::new("stall-mpmc");
    let ch = create_unique::<u64>(TAG, |b| {
        b.capacity(64)
            .flavor(Flavor::Mpmc)
            .transport(Transport::ShmRing)
    });
    let key = ch.key().raw().to_string();
    let outs: Vec<_> = (0..2)
        .map(|i| dir.path().join(format!("consumer-{i}.bits")))
        .collect();
    let mut consumers: Vec<Kid> = outs
        .iter()
        .map(|out| {
            Kid::spawn(
                "child_stall_consumer",
                "stall_consumer",
                &[
                    ("KEY", key.clone()),
                    ("OUT", out.to_str().unwrap().to_string()),
                ],
            )
        })
        .collect();
    let mut producers: Vec<Kid> = (0..2u64)
        .map(|id| {
            Kid::spawn(
                "child_stall_producer",
                "stall_producer",
                &[("KEY", key.clone()), ("ID", id.to_string())],
            )
        })
        .collect();
    // The pids the chaos thread may signal: a child's pid is taken out, under the
    // lock, when it is reaped, so a reused pid is never signalled; the chaos thread
    // holds the lock for a whole pause, so a child it stopped is continued first.
    let pids: Arc<Mutex<Vec<i32>>> = Arc::new(Mutex::new(
        producers
            .iter()
            .chain(consumers.iter())
            .map(|k| k.pid())
            .collect(),
    ));
    // On a panic, the chaos thread stops before the kids are killed and reaped.
    struct Calm(Arc<Mutex<Vec<i32>>>);
    impl Drop for Calm {
        fn drop(&mut self) {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }
    let _calm = Calm(pids.clone());
    let chaos = {
        let pids = pids.clone();
        thread::spawn(move || {
            let mut rng = Rng::new(u64::from(std::process::id()));
            let mut pauses = 0;
            loop {
                thread::sleep(Duration::from_millis(rng.range(1, 20)));
                let live = pids.lock().unwrap_or_else(|e| e.into_inner());
                if live.is_empty() {
                    return pauses;
                }
                let pid = live[rng.range(0, live.len() as u64 - 1) as usize];
                // SAFETY: kill(2) on a child we have not reaped (see `pids`).
                unsafe { libc::kill(pid, libc::SIGSTOP) };
                thread::sleep(Duration::from_millis(rng.range(5, 60)));
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGCONT) };
                pauses += 1;
            }
        })
    };
    let deadline = Instant::now() + WATCHDOG * 3;
    let reap = |kids: &mut Vec<Kid>| {
        for k in kids.iter_mut() {
            loop {
                {
                    let mut live = pids.lock().unwrap_or_else(|e| e.into_inner());
                    if k.exited().is_some() {
                        live.retain(|&p| p != k.pid());
                        break;
                    }
                }
                assert!(Instant::now() < deadline, "watchdog");
                thread::sleep(Duration::from_millis(10));
            }
        }
    };
    reap(&mut producers);
    ch.remove().expect("remove");
    reap(&mut consumers);
    let pauses = chaos.join().unwrap();
    eprintln!("{pauses} pauses over {PER_PRODUCER} messages per producer");
    eprintln!("{pauses} pauses");
    for k in producers.iter_mut().chain(consumers.iter_mut()) {
        k.wait_ok();
    }
    let words = PER_PRODUCER.div_ceil(64) as usize;
    let maps: Vec<Vec<u64>> = outs
        .iter()
        .map(|o| {
            fs::read(o)
                .expect("consumer output")
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                .collect()
        })
        .collect();
    for p in 0..2 {
        let mut missing = Vec::new();
        for s in 0..PER_PRODUCER {
            let (w, bit) = (p * words + (s / 64) as usize, 1u64 << (s % 64));
            let a = maps[0][w] & bit != 0;
            let b = maps[1][w] & bit != 0;
            assert!(
                !(a && b),
                "producer {p} message {s} received by both consumers"
            );
            if !a && !b {
                missing.push(s);
            }
        }
        assert!(
            missing.is_empty(),
            "producer {p}: {} messages lost (first {:?}) with {pauses} pauses, stats {:?}",
            missing.len(),
            &missing[..missing.len().min(8)],
            ch.stats()
        );
    }
    assert_eq!(
        ch.stats().skipped,
        0,
        "a stalled process was taken for dead"
    );
}
