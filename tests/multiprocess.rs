//! Channels between real processes: this test binary re-executes itself in a role
//! (`child_*` tests, which return at once in a normal run) and the parent checks
//! what arrived.
//!
//! Every behaviour both transports promise is one generic body `fn case(t: Transport)`
//! instantiated per transport by `per_transport!` (`shm_ring::*`, `msgq::*`, listed at
//! the end); the plain `#[test]`s are ring-only, each saying why.
//!
//! Hygiene: the parent creates every channel (its handle removes the objects, also
//! while unwinding from a failed assertion) except in the creator-exits case, where
//! a [`Guard`] removes what a killed child could leave. Children are
//! [`Kid`]s: killed and reaped on drop. Every wait has a watchdog ([`WATCHDOG`]); no
//! assertion is made on how fast anything is.

#[macro_use]
mod support;

use std::collections::HashSet;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use support::{create_unique, env, role, wait_until, Guard, Kid, TempDir, WATCHDOG};
use sysvring::{AnyChannel, Builder, Error, Flavor, Key, Receiver, RecvTimeoutError, Transport};

/// Top byte of every key this file makes.
const TAG: u8 = 0x2b;

/// A message with a payload derived from its producer and sequence number, so a torn,
/// stale or misplaced slot is detected.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message,
)]
#[repr(C)]
struct Msg {
    seq: u64,
    producer: u64,
    a: u64,
    b: u64,
}

impl Msg {
    fn new(producer: u64, seq: u64) -> Msg {
        let a = (seq ^ producer.rotate_left(40)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Msg {
            seq,
            producer,
            a,
            b: !a.rotate_left(17) ^ seq,
        }
    }

    fn assert_intact(&self) {
        assert_eq!(
            *self,
            Msg::new(self.producer, self.seq),
            "corrupt message {self:?}"
        );
    }
}

fn key_env(ch: &AnyChannel<Msg>) -> (&'static str, String) {
    ("KEY", ch.key().raw().to_string())
}

/// The ring transport, explicitly (for the ring-only cases).
fn ring(b: Builder<Msg>) -> Builder<Msg> {
    b.transport(Transport::ShmRing)
}

fn env_key() -> Key {
    Key::from_raw(env("KEY"))
}

/// Receives one message, failing the test when [`WATCHDOG`] passes; `None` once
/// the channel is disconnected.
fn recv_watched(rx: &Receiver<Msg>, deadline: Instant) -> Option<Msg> {
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(m) => return Some(m),
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => {
                assert!(Instant::now() < deadline, "watchdog: receive");
            }
        }
    }
}

// -------------------------------------------------------------------------------------
// Child roles (no-ops in a normal run)
// -------------------------------------------------------------------------------------

/// Opens the channel at `KEY` and sends `COUNT` messages of producer `ID`: the first
/// half one by one with `send`, the rest with (partial, non-blocking) `send_batch`.
#[test]
fn child_producer() {
    if role().as_deref() != Some("producer") {
        return;
    }
    let id: u64 = env("ID");
    let count: u64 = env("COUNT");
    let ch = Builder::<Msg>::new(env_key()).open().expect("open");
    let tx = ch.sender().expect("sender");
    let half = count / 2;
    for seq in 0..half {
        tx.send(Msg::new(id, seq)).expect("send");
    }
    let rest: Vec<Msg> = (half..count).map(|s| Msg::new(id, s)).collect();
    let mut done = 0;
    let deadline = Instant::now() + WATCHDOG;
    while done < rest.len() {
        let end = (done + 37).min(rest.len());
        let n = tx.send_batch(&rest[done..end]).expect("send_batch");
        if n == 0 {
            // Full: block for one slot with the ordinary send.
            tx.send(rest[done]).expect("send");
            done += 1;
            assert!(Instant::now() < deadline, "watchdog: producer");
        }
        done += n;
    }
}

/// Opens the channel at `KEY`, receives until disconnected, checks every payload and
/// writes `(producer, seq)` pairs to the file `OUT`.
#[test]
fn child_consumer() {
    if role().as_deref() != Some("consumer") {
        return;
    }
    let out: String = env("OUT");
    let ch = Builder::<Msg>::new(env_key()).open().expect("open");
    let rx = ch.receiver().expect("receiver");
    let mut w = BufWriter::new(fs::File::create(out).expect("create OUT"));
    let deadline = Instant::now() + WATCHDOG;
    let mut buf = [Msg::new(0, 0); 16];
    let mut n = 0u64;
    // Alternate a blocking receive with a batch of what is there.
    while let Some(m) = recv_watched(&rx, deadline) {
        let k = rx.recv_batch(&mut buf).unwrap_or(0);
        for m in std::iter::once(&m).chain(&buf[..k]) {
            m.assert_intact();
            w.write_all(&m.producer.to_le_bytes()).unwrap();
            w.write_all(&m.seq.to_le_bytes()).unwrap();
            n += 1;
        }
    }
    w.flush().unwrap();
    println!("consumer {} received {n}", std::process::id());
}

/// Creates the channel at `KEY` itself, waits for a receiver, sends `COUNT` messages
/// and exits: its handle removes the channel while the receiver still drains it.
#[test]
fn child_creator_producer() {
    if role().as_deref() != Some("creator_producer") {
        return;
    }
    let count: u64 = env("COUNT");
    let ch = Builder::<Msg>::new(env_key())
        .capacity(1024)
        .transport(Transport::ShmRing)
        .create()
        .expect("create");
    let tx = ch.sender().expect("sender");
    wait_until("a receiver connects", || ch.stats().receivers >= 1);
    for seq in 0..count {
        tx.send(Msg::new(0, seq)).expect("send");
    }
}

/// Sends `COUNT` messages, then sleeps until it is killed.
#[test]
fn child_hanging_producer() {
    if role().as_deref() != Some("hanging_producer") {
        return;
    }
    let count: u64 = env("COUNT");
    let ch = Builder::<Msg>::new(env_key()).open().expect("open");
    let tx = ch.sender().expect("sender");
    for seq in 0..count {
        tx.send(Msg::new(0, seq)).expect("send");
    }
    thread::sleep(WATCHDOG * 2);
}

// -------------------------------------------------------------------------------------
// Parent tests
// -------------------------------------------------------------------------------------

fn spawn_producer(ch: &AnyChannel<Msg>, id: u64, count: u64) -> Kid {
    Kid::spawn(
        "child_producer",
        "producer",
        &[
            key_env(ch),
            ("ID", id.to_string()),
            ("COUNT", count.to_string()),
        ],
    )
}

fn spawn_consumer(dir: &TempDir, ch: &AnyChannel<Msg>, out: &str) -> Kid {
    let path = dir.path().join(out);
    Kid::spawn(
        "child_consumer",
        "consumer",
        &[key_env(ch), ("OUT", path.display().to_string())],
    )
}

/// Reads a consumer's `(producer, seq)` pairs.
fn read_pairs(dir: &TempDir, out: &str) -> Vec<(u64, u64)> {
    let bytes = fs::read(dir.path().join(out)).expect("read consumer output");
    assert_eq!(bytes.len() % 16, 0);
    bytes
        .chunks_exact(16)
        .map(|c| {
            (
                u64::from_le_bytes(c[..8].try_into().unwrap()),
                u64::from_le_bytes(c[8..].try_into().unwrap()),
            )
        })
        .collect()
}

/// Checks consumer outputs: every `(producer, seq)` for `seq < count` exactly once in
/// total, and each producer's messages in increasing order within each consumer.
fn check_exactly_once(outputs: &[Vec<(u64, u64)>], producers: u64, count: u64) {
    let mut seen = HashSet::new();
    for (c, pairs) in outputs.iter().enumerate() {
        let mut last = vec![None::<u64>; producers as usize];
        for &(p, s) in pairs {
            assert!(p < producers && s < count, "consumer {c}: bogus ({p}, {s})");
            if let Some(prev) = last[p as usize] {
                assert!(
                    s > prev,
                    "consumer {c}: producer {p} out of order: {s} after {prev}"
                );
            }
            last[p as usize] = Some(s);
            assert!(seen.insert((p, s)), "({p}, {s}) delivered twice");
        }
    }
    assert_eq!(
        seen.len() as u64,
        producers * count,
        "messages lost: {} of {}",
        producers * count - seen.len() as u64,
        producers * count
    );
}

/// One million 32-byte messages from a producer process arrive in order and intact;
/// the receiver then sees `Disconnected`.
fn spsc_million_messages_from_another_process(t: Transport) {
    const COUNT: u64 = 1_000_000;
    let ch = create_unique::<Msg>(TAG, |b| b.capacity(4096).flavor(Flavor::Spsc).transport(t));
    let rx = ch.receiver().unwrap();
    let mut producer = spawn_producer(&ch, 7, COUNT);

    let deadline = Instant::now() + WATCHDOG;
    let mut buf = vec![Msg::new(0, 0); 64];
    let mut next = 0u64;
    while next < COUNT {
        // First half one by one, the second half in batches.
        let k = if next < COUNT / 2 {
            0
        } else {
            rx.recv_batch(&mut buf).unwrap()
        };
        let got: &[Msg] = if k > 0 {
            &buf[..k]
        } else {
            match recv_watched(&rx, deadline) {
                Some(m) => {
                    buf[0] = m;
                    &buf[..1]
                }
                None => panic!(
                    "disconnected after {next} of {COUNT}\n{}",
                    producer.output()
                ),
            }
        };
        for m in got {
            m.assert_intact();
            assert_eq!((m.producer, m.seq), (7, next), "out of order");
            next += 1;
        }
    }
    producer.wait_ok();
    assert_eq!(recv_watched(&rx, deadline), None, "expected Disconnected");
    let st = ch.stats();
    // Ring only: sent/received are counters in the ring's shared control lines (a
    // message queue counts each process's own: here the receiver's alone).
    if t == Transport::ShmRing {
        assert_eq!((st.sent, st.received), (COUNT, COUNT));
    } else {
        assert_eq!((st.sent, st.received), (0, COUNT));
    }
    assert_eq!((st.senders, st.receivers), (0, 1));
}

/// Two producer processes and two consumer processes on an MPMC channel over
/// transport `t`: every message is delivered exactly once and each producer's order
/// is kept. The consumers start (and block) before any sender has connected.
fn mpmc_two_producers_two_consumers_exactly_once(t: Transport) {
    // One syscall per message on the message queue: fewer messages.
    let count: u64 = if t == Transport::ShmRing {
        200_000
    } else {
        50_000
    };
    let dir = TempDir::new("mp-mpmc");
    let ch = create_unique::<Msg>(TAG, |b| b.capacity(256).flavor(Flavor::Mpmc).transport(t));
    let mut consumers = vec![
        spawn_consumer(&dir, &ch, "c0"),
        spawn_consumer(&dir, &ch, "c1"),
    ];
    wait_until("both consumers connect", || ch.stats().receivers == 2);
    // Ring only: `sleeps` counts sleeps in the ring's shared control lines.
    if t == Transport::ShmRing {
        wait_until("both consumers sleep", || ch.stats().sleeps >= 2);
    }
    // Longer than a sleep slice: the blocked consumers re-check presence and must keep
    // waiting, since no sender has ever connected.
    thread::sleep(Duration::from_millis(300));
    for c in &mut consumers {
        assert!(
            c.exited().is_none(),
            "consumer exited before any sender connected:\n{}",
            c.output()
        );
    }

    // The parent holds a sender until both producers are done, so a producer that
    // finishes first does not disconnect the channel for the consumers.
    let hold = ch.sender().unwrap();
    let mut producers = vec![spawn_producer(&ch, 0, count), spawn_producer(&ch, 1, count)];
    support::wait_all(&mut producers);
    drop(hold);
    support::wait_all(&mut consumers);

    let outputs = [read_pairs(&dir, "c0"), read_pairs(&dir, "c1")];
    check_exactly_once(&outputs, 2, count);
    let st = ch.stats();
    // Ring only: sent/received are ring counters.
    if t == Transport::ShmRing {
        assert_eq!((st.sent, st.received), (2 * count, 2 * count));
    }
    assert_eq!((st.senders, st.receivers, st.skipped), (0, 0, 0));
}

/// An SPSC consumer process started before its producer waits (no sender has ever
/// connected), then gets everything and `Disconnected` once the producer exits.
fn spsc_consumer_started_before_producer(t: Transport) {
    const COUNT: u64 = 20_000;
    let dir = TempDir::new("mp-early");
    let ch = create_unique::<Msg>(TAG, |b| b.capacity(64).flavor(Flavor::Spsc).transport(t));
    let mut consumer = spawn_consumer(&dir, &ch, "c");
    wait_until("the consumer connects", || ch.stats().receivers == 1);
    // Ring only: `sleeps` is a ring counter (the queue's waiter just polls).
    if t == Transport::ShmRing {
        wait_until("the consumer sleeps", || ch.stats().sleeps >= 1);
    }
    thread::sleep(Duration::from_millis(300));
    assert!(
        consumer.exited().is_none(),
        "consumer gave up before any sender connected:\n{}",
        consumer.output()
    );
    let mut producer = spawn_producer(&ch, 3, COUNT);
    producer.wait_ok();
    consumer.wait_ok();
    check_exactly_once(
        &[read_pairs(&dir, "c")
            .into_iter()
            .map(|(p, s)| {
                assert_eq!(p, 3);
                (0, s)
            })
            .collect()],
        1,
        COUNT,
    );
}

/// A receiver that connects after the sender process has exited still gets every
/// message, then `Disconnected` (both flavours).
fn receiver_connecting_after_the_sender_exited_gets_everything(t: Transport) {
    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
        let dir = TempDir::new("mp-late");
        let ch = create_unique::<Msg>(TAG, |b| b.capacity(1024).flavor(flavor).transport(t));
        // All of it must fit: with no receiver ever connected a sender waits when full.
        const COUNT: u64 = 1000;
        let count = COUNT.min(ch.capacity() as u64);
        println!("{t:?} {flavor:?}: capacity {}", ch.capacity());
        let mut producer = spawn_producer(&ch, 0, count);
        producer.wait_ok();
        let st = ch.stats();
        assert_eq!((st.senders, st.receivers), (0, 0), "{t:?} {flavor:?}");
        assert_eq!(ch.len(), count as usize, "{t:?} {flavor:?}");

        let mut consumer = spawn_consumer(&dir, &ch, "c");
        consumer.wait_ok();
        check_exactly_once(&[read_pairs(&dir, "c")], 1, count);
        assert!(ch.is_empty());
    }
}

/// The creator is the producer: it sends and exits, which removes the channel. A
/// receiver that was connected drains everything from the still-mapped segment, then
/// sees `Disconnected`; the key is free again.
///
/// Ring only: a removed segment stays mapped until its last detach, whereas removing
/// a message queue destroys the messages still in it (see `transport::msgq`).
#[test]
fn creator_that_sends_and_exits_loses_nothing() {
    const COUNT: u64 = 500;
    let key = loop {
        let k = support::key(TAG);
        if sysvring::sys::Shm::open(k).is_err() {
            break k;
        }
    };
    let mut producer = Kid::spawn(
        "child_creator_producer",
        "creator_producer",
        &[("KEY", key.raw().to_string()), ("COUNT", COUNT.to_string())],
    );
    let deadline = Instant::now() + WATCHDOG;
    let ch = loop {
        match Builder::<Msg>::new(key).open() {
            Ok(ch) => break ch,
            Err(Error::NotFound) => {
                assert!(
                    producer.exited().is_none(),
                    "producer exited:\n{}",
                    producer.output()
                );
                assert!(Instant::now() < deadline, "watchdog: open");
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("open: {e}"),
        }
    };
    let mut cleanup = Guard::new();
    cleanup.channel(&ch);
    assert!(!ch.is_owner());
    let rx = ch.receiver().unwrap();
    producer.wait_ok();

    // The creator is gone and removed the channel: nothing is at the key any more.
    assert!(matches!(
        Builder::<Msg>::new(key).open(),
        Err(Error::NotFound)
    ));
    for seq in 0..COUNT {
        let m = recv_watched(&rx, deadline).unwrap_or_else(|| panic!("lost {seq}.."));
        m.assert_intact();
        assert_eq!(m.seq, seq);
    }
    assert_eq!(recv_watched(&rx, deadline), None);
    assert_eq!(rx.try_recv(), Err(sysvring::TryRecvError::Disconnected));
    let shm = ch.shm_id().expect("a ring channel");
    drop(rx);
    drop(ch);
    // Our detach was the last: the segment is gone.
    assert!(sysvring::sys::Shm::from_id(shm).stat().is_err());
}

// -------------------------------------------------------------------------------------
// Crashes (SIGKILL)
// -------------------------------------------------------------------------------------

/// A producer killed with SIGKILL disconnects the channel (the kernel undoes its
/// `SEM_UNDO` presence) and gives the SPSC sender role back.
fn killed_producer_disconnects_and_frees_the_role(t: Transport) {
    const COUNT: u64 = 10;
    let ch = create_unique::<Msg>(TAG, |b| b.capacity(64).flavor(Flavor::Spsc).transport(t));
    let rx = ch.receiver().unwrap();
    let mut producer = Kid::spawn(
        "child_hanging_producer",
        "hanging_producer",
        &[key_env(&ch), ("COUNT", COUNT.to_string())],
    );
    let deadline = Instant::now() + WATCHDOG;
    for seq in 0..COUNT {
        let m = recv_watched(&rx, deadline).expect("message");
        assert_eq!(m.seq, seq, "{t:?}");
    }
    assert_eq!(ch.stats().senders, 1, "{t:?}");
    assert!(matches!(ch.sender(), Err(Error::RoleTaken)), "{t:?}");
    producer.kill();

    // Within the presence-check slice, not the watchdog.
    assert_eq!(
        rx.recv_timeout(WATCHDOG),
        Err(RecvTimeoutError::Disconnected),
        "{t:?}"
    );
    assert_eq!(ch.stats().senders, 0, "{t:?}");
    let tx = ch.sender().expect("the killed producer's role came back");
    tx.send(Msg::new(1, 0)).unwrap();
    assert_eq!(rx.recv().unwrap(), Msg::new(1, 0), "{t:?}");
}

/// Child: sends `COUNT` messages of producer 0, then starts a zero-copy send whose
/// closure half-writes the slot, creates the file `READY` and sleeps until killed.
#[test]
fn child_stuck_sender() {
    if role().as_deref() != Some("stuck_sender") {
        return;
    }
    let count: u64 = env("COUNT");
    let ready: String = env("READY");
    let ch = Builder::<Msg>::new(env_key()).open().expect("open");
    let tx = ch.sender().expect("sender");
    for seq in 0..count {
        tx.send(Msg::new(0, seq)).expect("send");
    }
    let _ = tx.send_with(|slot| {
        slot.seq = 0xdead;
        slot.producer = 0;
        fs::write(&ready, b"").unwrap();
        thread::sleep(WATCHDOG * 2);
    });
}

/// Child: receives `COUNT` messages (checking they are `0..COUNT`), then starts a
/// zero-copy receive whose closure writes the message's seq to the file `READY` and
/// sleeps until killed.
#[test]
fn child_stuck_receiver() {
    if role().as_deref() != Some("stuck_receiver") {
        return;
    }
    let count: u64 = env("COUNT");
    let ready: String = env("READY");
    let ch = Builder::<Msg>::new(env_key()).open().expect("open");
    let rx = ch.receiver().expect("receiver");
    for seq in 0..count {
        assert_eq!(rx.recv().expect("recv").seq, seq);
    }
    let _ = rx.recv_with(|m| {
        // Written aside, then renamed: the parent sees the file only with its content.
        let tmp = format!("{ready}.tmp");
        fs::write(&tmp, m.seq.to_string()).unwrap();
        fs::rename(&tmp, &ready).unwrap();
        thread::sleep(WATCHDOG * 2);
    });
}

fn spawn_stuck(dir: &TempDir, ch: &AnyChannel<Msg>, role: &str, count: u64) -> (Kid, PathBuf) {
    let ready = dir.path().join(format!("{role}.ready"));
    let kid = Kid::spawn(
        &format!("child_{role}"),
        role,
        &[
            key_env(ch),
            ("COUNT", count.to_string()),
            ("READY", ready.display().to_string()),
        ],
    );
    (kid, ready)
}

fn wait_ready(kid: &mut Kid, ready: &Path) {
    wait_until("the child reaches its closure", || {
        assert!(kid.exited().is_none(), "child exited:\n{}", kid.output());
        ready.exists()
    });
}

/// SPSC: a producer killed in the middle of writing a slot in place never makes the
/// half-written message visible; the next producer's messages arrive intact. (On the
/// message queue `send_with` fills a local message: killed before its `msgsnd`,
/// nothing is sent either.)
fn spsc_producer_killed_while_writing_leaves_nothing_visible(t: Transport) {
    let dir = TempDir::new("mp-stuck-tx");
    let ch = create_unique::<Msg>(TAG, |b| b.capacity(8).flavor(Flavor::Spsc).transport(t));
    let rx = ch.receiver().unwrap();
    let (mut kid, ready) = spawn_stuck(&dir, &ch, "stuck_sender", 3);
    wait_ready(&mut kid, &ready);
    kid.kill();
    let deadline = Instant::now() + WATCHDOG;
    for seq in 0..3 {
        let m = recv_watched(&rx, deadline).expect("message");
        m.assert_intact();
        assert_eq!(m.seq, seq);
    }
    assert_eq!(
        rx.recv_timeout(WATCHDOG),
        Err(RecvTimeoutError::Disconnected),
        "the half-written message became visible"
    );
    let tx = ch.sender().expect("the role came back");
    for seq in 3..20 {
        tx.send(Msg::new(0, seq)).unwrap();
        let m = rx.recv().unwrap();
        m.assert_intact();
        assert_eq!(m.seq, seq);
    }
}

/// SPSC: a consumer killed while reading a slot in place loses nothing: the next
/// receiver gets that message first.
///
/// Ring only: `recv_with` reads in place and frees the slot after the closure; on the
/// message queue the `msgrcv` has taken the message out before the closure runs, so
/// it dies with the consumer.
#[test]
fn spsc_consumer_killed_while_reading_loses_nothing() {
    let dir = TempDir::new("mp-stuck-rx");
    let ch = create_unique::<Msg>(TAG, |b| ring(b.capacity(16).flavor(Flavor::Spsc)));
    let tx = ch.sender().unwrap();
    for seq in 0..10 {
        tx.send(Msg::new(0, seq)).unwrap();
    }
    let (mut kid, ready) = spawn_stuck(&dir, &ch, "stuck_receiver", 3);
    wait_ready(&mut kid, &ready);
    assert_eq!(fs::read_to_string(&ready).unwrap(), "3");
    kid.kill();
    let rx = ch.receiver().expect("the role came back");
    let got: Vec<u64> = rx.try_iter().map(|m| m.seq).collect();
    assert_eq!(got, (3..10).collect::<Vec<_>>());
}

/// MPMC: a producer killed between claiming and publishing a slot does not wedge the
/// queue: the slot is skipped (and counted) once its owner is seen dead, and every
/// other message arrives, in order. (The message queue has no slot to claim: nothing
/// is skipped there, and nothing may wedge either.)
fn mpmc_producer_killed_while_writing_is_skipped(t: Transport) {
    const MORE: u64 = 40;
    let dir = TempDir::new("mp-mpmc-stuck-tx");
    let ch = create_unique::<Msg>(TAG, |b| b.capacity(8).flavor(Flavor::Mpmc).transport(t));
    let rx = ch.receiver().unwrap();
    let (mut kid, ready) = spawn_stuck(&dir, &ch, "stuck_sender", 3);
    wait_ready(&mut kid, &ready);
    // Another producer queues behind the stuck slot (more than a lap: it blocks). It
    // connects before the kill: a sender still starting then would leave no live
    // sender, and the receiver would rightly report Disconnected.
    let opened = Builder::<Msg>::new(ch.key()).open().unwrap();
    let tx = opened.sender().unwrap();
    let other = thread::spawn(move || {
        let _keep = opened;
        for seq in 0..MORE {
            tx.send_timeout(Msg::new(1, seq), WATCHDOG).expect("send");
        }
    });
    let deadline = Instant::now() + WATCHDOG;
    for seq in 0..3 {
        let m = recv_watched(&rx, deadline).expect("message");
        assert_eq!((m.producer, m.seq), (0, seq));
    }
    kid.kill();
    for seq in 0..MORE {
        let m = recv_watched(&rx, deadline).expect("message");
        m.assert_intact();
        assert_eq!((m.producer, m.seq), (1, seq), "after the skipped slot");
    }
    other.join().unwrap();
    // Ring only: a skipped slot exists (and is counted) only in the ring.
    let skipped = if t == Transport::ShmRing { 1 } else { 0 };
    assert_eq!(ch.stats().skipped, skipped);
    assert!(rx.try_recv().is_err());
}

/// MPMC: a consumer killed while reading a slot in place does not wedge the queue
/// for the producers of the next laps (the message it held is lost with it).
fn mpmc_consumer_killed_while_reading_does_not_wedge(t: Transport) {
    const MORE: u64 = 40;
    let dir = TempDir::new("mp-mpmc-stuck-rx");
    let ch = create_unique::<Msg>(TAG, |b| b.capacity(4).flavor(Flavor::Mpmc).transport(t));
    let tx = ch.sender().unwrap();
    for seq in 0..3 {
        tx.send(Msg::new(0, seq)).unwrap();
    }
    let (mut kid, ready) = spawn_stuck(&dir, &ch, "stuck_receiver", 1);
    wait_ready(&mut kid, &ready);
    assert_eq!(fs::read_to_string(&ready).unwrap(), "1");
    kid.kill();
    let rx = ch.receiver().unwrap();
    let opened = Builder::<Msg>::new(ch.key()).open().unwrap();
    let more = thread::spawn(move || {
        let tx = opened.sender().unwrap();
        for seq in 0..MORE {
            tx.send_timeout(Msg::new(1, seq), WATCHDOG)
                .expect("send (wedged behind the dead consumer's slot?)");
        }
    });
    let deadline = Instant::now() + WATCHDOG;
    let m = recv_watched(&rx, deadline).expect("message");
    assert_eq!((m.producer, m.seq), (0, 2));
    for seq in 0..MORE {
        let m = recv_watched(&rx, deadline).expect("message");
        m.assert_intact();
        assert_eq!((m.producer, m.seq), (1, seq));
    }
    more.join().unwrap();
    drop(tx);
}

per_transport!(
    spsc_million_messages_from_another_process,
    mpmc_two_producers_two_consumers_exactly_once,
    spsc_consumer_started_before_producer,
    receiver_connecting_after_the_sender_exited_gets_everything,
    killed_producer_disconnects_and_frees_the_role,
    spsc_producer_killed_while_writing_leaves_nothing_visible,
    mpmc_producer_killed_while_writing_is_skipped,
    mpmc_consumer_killed_while_reading_does_not_wedge,
);
