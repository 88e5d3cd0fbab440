//! The SIGKILL torture (docs/ARCHITECTURE.md sections 5 and 7): producers and
//! consumers stream messages while one of them is killed at a random moment of each
//! iteration and restarted, in four variants (SPSC ring, MPMC ring with 2 producers
//! and 2 consumers, the same with every child in a PID namespace of its own, SPSC
//! message queue); then a clean stop and the exact invariants
//! written down at [`check_spsc`] and [`check_mpmc`] (nothing torn, nothing invented,
//! order, nothing lost beyond what a killed consumer held, never wedged).
//! `SYSVRING_TORTURE_ITERS` (default 200) and `SYSVRING_TORTURE_SEED`: see
//! [`crash_torture`]. The single-behaviour SIGKILL tests are in `tests/disconnect.rs`,
//! `tests/roles.rs`, `tests/mpmc_recovery.rs` and `tests/admin_gc.rs`.
//!
//! This test binary re-executes itself in a role (`child_torture_*` tests, which
//! return at once in a normal run) and the parent kills those children.
//!
//! Kill timing: the victim is killed once it has made a random amount of
//! progress (0..[`BUDGET`] messages sent or received) or after a random 0-20 ms,
//! whichever comes first, so kills land inside `send`/`recv` (spinning, sleeping in
//! the kernel, or inside a zero-copy closure that lingers a few µs in its slot, see
//! [`dwell`]); one kill in eight does not wait for the victim to connect (lands in
//! exec, open or connect).
//!
//! What the children report travels through small files mapped `MAP_SHARED`
//! ([`Board`]): a store there is in the page cache the moment it is made, so it
//! survives the `SIGKILL` of the process that made it (no write(2), no fsync).
//!
//! Hygiene: every channel is created by the parent (its handle removes the kernel
//! objects, also while unwinding from a failed assertion). Children are [`Kid`]s,
//! killed and reaped on drop. Every wait has a watchdog; no assertion is made on how
//! fast anything is.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::{
    create_unique, env, env_key, env_path, path_env, role, Kid, Msg, Rng, TempDir, WATCHDOG,
};
use sysvring::{
    AnyChannel, Builder, Flavor, RecvTimeoutError, SendTimeoutError, Spin, Transport, TryRecvError,
    TrySendError,
};

/// Top byte of every key this file makes.
const TAG: u8 = 0x3a;

/// Iterations per variant of the torture (env `SYSVRING_TORTURE_ITERS`).
const DEFAULT_ITERS: u64 = 200;

/// Messages one producer incarnation sends at most (then it idles, holding its
/// sender, until killed or stopped): bounds what the consumers record.
const BUDGET: u64 = 4000;

/// Largest batch a child moves with `send_batch`/`recv_batch`.
const BATCH: usize = 8;

/// How long the torture may see no progress at all while a live producer still has
/// messages to send before it calls the channel wedged (a watchdog, not a timing).
const WEDGED: Duration = Duration::from_secs(20);

// -------------------------------------------------------------------------------------
// Message ids (the message, `Msg`, is in tests/support/crash.rs)
// -------------------------------------------------------------------------------------

/// The id of message `index` of producer incarnation `producer`. Incarnations are
/// numbered from 1 in the order they are started, so in an SPSC channel (one
/// producer at a time) ids grow in send order across restarts.
fn msg_id(producer: u64, index: u64) -> u64 {
    (producer << 32) | index
}

fn split_id(id: u64) -> (u64, u64) {
    (id >> 32, id & 0xffff_ffff)
}

// -------------------------------------------------------------------------------------
// Boards: u64 words in a file mapped MAP_SHARED by the parent and one child
// -------------------------------------------------------------------------------------

/// `u64` atomics in a file mapped `MAP_SHARED`: what a child stores there is visible
/// to the parent at once and stays there when the child is killed.
#[derive(Debug)]
struct Board {
    ptr: NonNull<AtomicU64>,
    words: usize,
}

// SAFETY: the mapping is process-wide memory accessed only through atomics.
unsafe impl Send for Board {}
// SAFETY: as above.
unsafe impl Sync for Board {}

impl Board {
    /// Creates a zero-filled (sparse) board file of `words` words and maps it.
    fn create(path: &Path, words: usize) -> Board {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        f.set_len((words * 8) as u64).expect("size the board");
        Board::map(&f, words)
    }

    /// Maps an existing board file.
    fn open(path: &Path) -> Board {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        let words = (f.metadata().expect("stat the board").len() / 8) as usize;
        Board::map(&f, words)
    }

    fn map(f: &File, words: usize) -> Board {
        assert!(words > 0);
        // SAFETY: a fresh shared mapping of a file we opened read-write, at least
        // `words * 8` bytes long; the kernel chooses the address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                words * 8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        assert!(
            p != libc::MAP_FAILED,
            "mmap: {}",
            std::io::Error::last_os_error()
        );
        Board {
            ptr: NonNull::new(p.cast::<AtomicU64>()).expect("mmap is non-null"),
            words,
        }
    }

    fn at(&self, i: usize) -> &AtomicU64 {
        assert!(i < self.words, "board word {i} of {}", self.words);
        // SAFETY: in bounds (checked), page-aligned mapping so 8-aligned; AtomicU64 is
        // valid for any bit pattern; the mapping lives as long as `self`.
        unsafe { &*self.ptr.as_ptr().add(i) }
    }

    fn get(&self, i: usize) -> u64 {
        self.at(i).load(Ordering::Acquire)
    }

    fn set(&self, i: usize, v: u64) {
        self.at(i).store(v, Ordering::Release);
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `map`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.words * 8) };
    }
}

// Control board (parent -> children).
const CTRL_STOP: usize = 0; // producers: stop sending (keep the sender)
const CTRL_EXIT: usize = 1; // producers: drop the sender, exit 0
const CTRL_DRAIN: usize = 2; // consumers: exit 0 at the next Disconnected
const CTRL_WORDS: usize = 3;

// Producer board.
const P_STARTED: usize = 0; // connected (holds a sender)
const P_ACKED: usize = 1; // messages 0..acked had send() return Ok
const P_INFLIGHT: usize = 2; // how many beyond `acked` may be in the channel unacked
const P_DONE: usize = 3; // stopped sending (whole budget sent, or told to stop)
const P_EXITED: usize = 4; // exited cleanly (acked is exact, nothing in flight)
const P_WORDS: usize = 8;

// Consumer board: header, then one word per message received (its id).
const C_STARTED: usize = 0;
const C_COUNT: usize = 1; // records 0..count are complete
const C_PENDING: usize = 2; // how many messages it may hold taken but unrecorded
const C_CORRUPT: usize = 3; // messages whose payload did not match their id
const C_EXITED: usize = 4;
const C_RECORDS: usize = 8;

// -------------------------------------------------------------------------------------
// Small helpers
// -------------------------------------------------------------------------------------

/// How long a zero-copy closure lingers in its slot: usually not at all, one time in
/// four up to 50 µs, like a real in-place writer or reader, so that kills also land
/// between claiming and publishing (freeing) a slot.
fn dwell(rng: &mut Rng) -> Duration {
    if rng.range(0, 3) == 0 {
        Duration::from_micros(rng.range(1, 50))
    } else {
        Duration::ZERO
    }
}

fn spin_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// The seed of this run: `SYSVRING_TORTURE_SEED`, or derived from the clock.
fn seed() -> u64 {
    match std::env::var("SYSVRING_TORTURE_SEED") {
        Ok(s) => s.parse().expect("SYSVRING_TORTURE_SEED must be a u64"),
        Err(_) => {
            let t = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock after 1970");
            t.as_nanos() as u64 ^ u64::from(std::process::id()) << 40
        }
    }
}

// -------------------------------------------------------------------------------------
// Torture: child roles
// -------------------------------------------------------------------------------------

/// Opens the channel at `KEY` with the spin chosen by the parent (`SPIN`: 0 never
/// spin, so the blocking paths sleep in the kernel at once; 1 the default).
fn open_torture_channel() -> AnyChannel<Msg> {
    let spin = if env::<u32>("SPIN") == 0 {
        Spin::Never
    } else {
        Spin::default()
    };
    Builder::<Msg>::new(env_key())
        .spin(spin)
        .open()
        .expect("open the torture channel")
}

/// Torture producer: incarnation `ID` sends messages `msg_id(ID, 0..BUDGET)` with a
/// random mix of `send`, `send_with`, `try_send`, `send_timeout` and `send_batch`,
/// storing in its board, after every successful call, how many were acknowledged
/// (`P_ACKED`). Before a batch it raises `P_INFLIGHT` to the batch size (a kill after
/// the batch was published but before the acknowledgement leaves that many
/// unacknowledged messages in the channel), and lowers it back to 1 after. A send
/// that finds every receiver gone (the consumer is being restarted) is retried: a
/// channel is disconnected only for as long as no peer is there. Stops sending at
/// `CTRL_STOP` (or when the budget is sent), then idles, still connected, until
/// `CTRL_EXIT`.
#[test]
fn child_torture_producer() {
    if role().as_deref() != Some("torture_producer") {
        return;
    }
    let ctrl = Board::open(&env_path("CTRL"));
    let me = Board::open(&env_path("BOARD"));
    let id: u64 = env("ID");
    let budget: u64 = env("BUDGET");
    let mut rng = Rng::new(env::<u64>("SEED"));
    let deadline = Instant::now() + WATCHDOG * 5;
    me.set(P_INFLIGHT, 1);
    let ch = open_torture_channel();
    let tx = ch.sender().expect("sender (RoleTaken after a kill?)");
    me.set(P_STARTED, 1);
    let mut k = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    while k < budget && ctrl.get(CTRL_STOP) == 0 {
        assert!(Instant::now() < deadline, "watchdog: producer {id}");
        let m = Msg::new(msg_id(id, k));
        let sent = match rng.range(0, 99) {
            0..=49 => tx.send(m).is_ok() as u64,
            50..=64 => {
                let d = dwell(&mut rng);
                tx.send_with(|slot| {
                    *slot = m;
                    spin_for(d);
                })
                .is_ok() as u64
            }
            65..=74 => match tx.try_send(m) {
                Ok(()) => 1,
                Err(TrySendError::Full(_)) => {
                    thread::yield_now();
                    0
                }
                Err(TrySendError::Disconnected(_)) => 0,
            },
            75..=84 => match tx.send_timeout(m, Duration::from_millis(50)) {
                Ok(()) => 1,
                Err(SendTimeoutError::Timeout(_) | SendTimeoutError::Disconnected(_)) => 0,
            },
            _ => {
                let n = (rng.range(1, BATCH as u64)).min(budget - k);
                batch.clear();
                batch.extend((k..k + n).map(|i| Msg::new(msg_id(id, i))));
                me.set(P_INFLIGHT, n);
                let sent = tx.send_batch(&batch).unwrap_or(0) as u64;
                if sent == 0 {
                    me.set(P_INFLIGHT, 1);
                }
                sent
            }
        };
        if sent > 0 {
            k += sent;
            me.set(P_ACKED, k);
            me.set(P_INFLIGHT, 1);
        } else if !tx.is_full() {
            // Every receiver gone: wait for the restarted one.
            thread::sleep(Duration::from_micros(200));
        }
    }
    me.set(P_DONE, 1);
    while ctrl.get(CTRL_EXIT) == 0 {
        assert!(Instant::now() < deadline, "watchdog: idle producer {id}");
        thread::sleep(Duration::from_millis(1));
    }
    drop(tx);
    me.set(P_INFLIGHT, 0);
    me.set(P_EXITED, 1);
}

/// Torture consumer: receives with a random mix of `recv`, `recv_timeout`,
/// `recv_with` (recording inside the closure, i.e. before the slot is freed, which is
/// how an SPSC redelivery becomes visible), `try_recv` and `recv_batch`, checks every
/// payload and appends each id to its board (`C_RECORDS`, then `C_COUNT`). Before a
/// batch it raises `C_PENDING` to the batch size (a kill after the batch was taken but
/// before it was recorded loses that many from the record), 1 otherwise. Exits at the
/// first `Disconnected` after the parent said `DRAIN` (every producer has exited, so
/// the channel is drained); earlier ones are a producer being restarted.
#[test]
fn child_torture_consumer() {
    if role().as_deref() != Some("torture_consumer") {
        return;
    }
    let ctrl = Board::open(&env_path("CTRL"));
    let me = Board::open(&env_path("BOARD"));
    let mut rng = Rng::new(env::<u64>("SEED"));
    let deadline = Instant::now() + WATCHDOG * 5;
    me.set(C_PENDING, 1);
    let ch = open_torture_channel();
    let rx = ch.receiver().expect("receiver (RoleTaken after a kill?)");
    me.set(C_STARTED, 1);
    let record = |m: &Msg| {
        if !m.intact() {
            me.at(C_CORRUPT).fetch_add(1, Ordering::AcqRel);
        }
        let n = me.get(C_COUNT) as usize;
        me.at(C_RECORDS + n).store(m.id, Ordering::Relaxed);
        me.set(C_COUNT, n as u64 + 1);
    };
    let mut buf = [Msg::new(0); BATCH];
    loop {
        assert!(Instant::now() < deadline, "watchdog: consumer");
        let disconnected = match rng.range(0, 99) {
            0..=39 => match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(m) => {
                    record(&m);
                    false
                }
                Err(RecvTimeoutError::Timeout) => false,
                Err(RecvTimeoutError::Disconnected) => true,
            },
            40..=59 => match rx.recv() {
                Ok(m) => {
                    record(&m);
                    false
                }
                Err(_) => true,
            },
            60..=74 => {
                let d = dwell(&mut rng);
                rx.recv_with(|m| {
                    record(m);
                    spin_for(d);
                })
                .is_err()
            }
            75..=84 => match rx.try_recv() {
                Ok(m) => {
                    record(&m);
                    false
                }
                Err(TryRecvError::Empty) => {
                    thread::yield_now();
                    false
                }
                Err(TryRecvError::Disconnected) => true,
            },
            _ => {
                let n = rng.range(1, BATCH as u64) as usize;
                me.set(C_PENDING, n as u64);
                let r = rx.recv_batch(&mut buf[..n]);
                if let Ok(got) = r {
                    for m in &buf[..got] {
                        record(m);
                    }
                }
                me.set(C_PENDING, 1);
                r.is_err()
            }
        };
        if disconnected {
            if ctrl.get(CTRL_DRAIN) != 0 {
                break;
            }
            thread::sleep(Duration::from_micros(500));
        }
    }
    drop(rx);
    me.set(C_PENDING, 0);
    me.set(C_EXITED, 1);
}

// -------------------------------------------------------------------------------------
// Torture: the parent
// -------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Producer,
    Consumer,
}

/// One child of the torture, alive or not.
#[derive(Debug)]
struct Proc {
    kind: Kind,
    /// Producer: the incarnation number in message ids. Consumer: start order.
    id: u64,
    kid: Kid,
    board: Board,
    killed: bool,
    live: bool,
}

impl Proc {
    fn progress(&self) -> u64 {
        match self.kind {
            Kind::Producer => self.board.get(P_ACKED),
            Kind::Consumer => self.board.get(C_COUNT),
        }
    }
}

/// One torture variant (flavor, transport, sides).
#[derive(Debug, Clone, Copy)]
struct Variant {
    name: &'static str,
    flavor: Flavor,
    transport: Transport,
    producers: usize,
    consumers: usize,
    /// Every child runs in a PID namespace of its own (`unshare --pid --fork`, same
    /// IPC namespace and `/proc`), as containers of one pod do: no pid of a peer
    /// means anything to it, so only kernel-held proof can tell a dead claimer.
    pid_namespaces: bool,
}

const VARIANTS: [Variant; 4] = [
    Variant {
        name: "spsc-ring",
        flavor: Flavor::Spsc,
        transport: Transport::ShmRing,
        producers: 1,
        consumers: 1,
        pid_namespaces: false,
    },
    Variant {
        name: "mpmc-ring",
        flavor: Flavor::Mpmc,
        transport: Transport::ShmRing,
        producers: 2,
        consumers: 2,
        pid_namespaces: false,
    },
    Variant {
        name: "mpmc-ring-pidns",
        flavor: Flavor::Mpmc,
        transport: Transport::ShmRing,
        producers: 2,
        consumers: 2,
        pid_namespaces: true,
    },
    Variant {
        name: "spsc-msgq",
        flavor: Flavor::Spsc,
        transport: Transport::MessageQueue,
        producers: 1,
        consumers: 1,
        pid_namespaces: false,
    },
];

/// What one variant did.
#[derive(Debug, Default)]
struct Summary {
    kills_producer: u64,
    kills_consumer: u64,
    /// Distinct messages received.
    delivered: u64,
    /// Messages received twice (SPSC ring: consumer killed inside `recv_with`).
    redeliveries: u64,
    /// Acknowledged messages nobody recorded, each charged to a killed consumer.
    unrecorded: u64,
    /// Most the killed consumers could have taken without recording.
    unrecorded_allowed: u64,
    /// Received messages whose `send` never returned Ok (producer killed after
    /// publishing, before acknowledging).
    delivered_unacked: u64,
    /// `stats().skipped` at the end (MPMC ring).
    skipped: u64,
}

struct Torture<'a> {
    f: Variant,
    dir: &'a TempDir,
    ch: &'a AnyChannel<Msg>,
    ctrl: Board,
    rng: Rng,
    procs: Vec<Proc>,
    next_producer: u64,
    next_consumer: u64,
    record_words: usize,
}

impl Torture<'_> {
    fn spawn(&mut self, kind: Kind) {
        let (role, test, id, words) = match kind {
            Kind::Producer => {
                self.next_producer += 1;
                (
                    "torture_producer",
                    "child_torture_producer",
                    self.next_producer,
                    P_WORDS,
                )
            }
            Kind::Consumer => {
                self.next_consumer += 1;
                (
                    "torture_consumer",
                    "child_torture_consumer",
                    self.next_consumer,
                    C_RECORDS + self.record_words,
                )
            }
        };
        let path = self
            .dir
            .path()
            .join(format!("{}-{role}-{id}.board", self.f.name));
        let board = Board::create(&path, words);
        // `--kill-child`: the SIGKILL of `unshare` (what `Kid::kill` sends) reaches the
        // child in the new namespace at once (its parent-death signal).
        let via: &[&str] = if self.f.pid_namespaces {
            &["unshare", "--pid", "--kill-child=SIGKILL", "--"]
        } else {
            &[]
        };
        let kid = Kid::spawn_via(
            via,
            test,
            role,
            &[
                ("KEY", self.ch.key().raw().to_string()),
                path_env(
                    "CTRL",
                    &self.dir.path().join(format!("{}.ctrl", self.f.name)),
                ),
                path_env("BOARD", &path),
                ("ID", id.to_string()),
                ("BUDGET", BUDGET.to_string()),
                ("SEED", self.rng.next_u64().to_string()),
                ("SPIN", u64::from(self.rng.range(0, 3) != 0).to_string()),
            ],
        );
        self.procs.push(Proc {
            kind,
            id,
            kid,
            board,
            killed: false,
            live: true,
        });
    }

    /// Fails the test when a child that should run has exited on its own.
    fn check_alive(&mut self) {
        for p in self.procs.iter_mut().filter(|p| p.live) {
            if let Some(st) = p.kid.exited() {
                panic!(
                    "[{}] {:?} {} exited on its own ({st}):\n{}",
                    self.f.name,
                    p.kind,
                    p.id,
                    p.kid.output()
                );
            }
        }
    }

    /// Sum of everything acknowledged and recorded so far, and whether some live
    /// producer still has messages to send (then the channel must move).
    fn progress(&self) -> (u64, bool) {
        let mut sum = 0;
        let mut must_move = false;
        for p in &self.procs {
            sum += p.progress();
            if p.live && p.kind == Kind::Producer {
                must_move |= p.board.get(P_STARTED) != 0 && p.board.get(P_DONE) == 0;
            }
        }
        (sum, must_move)
    }
}

/// Runs one variant: `iters` kills, then a clean stop and the checks.
fn torture(f: Variant, iters: u64, seed: u64) -> Summary {
    let dir = TempDir::new(&format!("crash-{}", f.name));
    let mut rng = Rng::new(seed);
    let caps: &[usize] = if f.transport == Transport::MessageQueue {
        &[4, 64, 1024]
    } else {
        &[2, 8, 64, 1024]
    };
    let cap = caps[rng.range(0, caps.len() as u64 - 1) as usize];
    let ch = create_unique::<Msg>(TAG, |b| {
        b.capacity(cap).flavor(f.flavor).transport(f.transport)
    });
    let ctrl = Board::create(&dir.path().join(format!("{}.ctrl", f.name)), CTRL_WORDS);
    eprintln!(
        "[{}] key {} capacity {} ({} iterations)",
        f.name,
        ch.key(),
        ch.capacity(),
        iters
    );
    let mut t = Torture {
        f,
        dir: &dir,
        ch: &ch,
        ctrl,
        rng,
        procs: Vec::new(),
        next_producer: 0,
        next_consumer: 0,
        // Every producer incarnation (at most one per iteration plus the first ones)
        // sends at most BUDGET messages; one consumer could receive them all.
        record_words: ((iters as usize) + f.producers + 1) * BUDGET as usize,
    };
    for _ in 0..f.producers {
        t.spawn(Kind::Producer);
    }
    for _ in 0..f.consumers {
        t.spawn(Kind::Consumer);
    }
    let mut s = Summary::default();
    let mut last = (0u64, Instant::now());
    for _ in 0..iters {
        let live: Vec<usize> = (0..t.procs.len()).filter(|&i| t.procs[i].live).collect();
        let v = live[t.rng.range(0, live.len() as u64 - 1) as usize];
        // Usually let the victim connect first (kills land in send/recv); one time in
        // eight kill it wherever it is (exec, open, connect).
        if t.rng.range(0, 7) != 0 {
            let started = if t.procs[v].kind == Kind::Producer {
                P_STARTED
            } else {
                C_STARTED
            };
            let deadline = Instant::now() + WATCHDOG;
            while t.procs[v].board.get(started) == 0 {
                t.check_alive();
                assert!(Instant::now() < deadline, "watchdog: child start");
                thread::sleep(Duration::from_micros(100));
            }
        }
        // Kill when the victim has made a random amount of progress, or after a
        // random delay of 0-20 ms, whichever comes first.
        let target = t.procs[v].progress() + t.rng.range(0, BUDGET);
        let limit = Duration::from_micros(t.rng.range(0, 20_000));
        let start = Instant::now();
        let mut polls = 0u32;
        while t.procs[v].progress() < target && start.elapsed() < limit {
            polls += 1;
            if polls % 16 == 0 {
                t.check_alive();
            }
            thread::sleep(Duration::from_micros(50));
        }
        t.check_alive();
        let kind = t.procs[v].kind;
        t.procs[v].kid.kill(); // SIGKILL, then reap
        t.procs[v].killed = true;
        t.procs[v].live = false;
        match kind {
            Kind::Producer => s.kills_producer += 1,
            Kind::Consumer => s.kills_consumer += 1,
        }
        t.spawn(kind);
        // Wedge watchdog: while a live producer has messages left, acknowledgements or
        // records must keep coming.
        let (sum, must_move) = t.progress();
        if sum != last.0 || !must_move {
            last = (sum, Instant::now());
        }
        assert!(
            last.1.elapsed() < WEDGED,
            "[{}] wedged: no message acknowledged or received for {WEDGED:?} (seed {seed})",
            f.name
        );
    }
    // Stop: producers stop sending but stay connected until the consumers have
    // emptied the channel (MPMC: including skipping the slots of producers killed in
    // the last iterations, which needs a live sender, see
    // `mpmc_messages_behind_a_dead_producers_slot_are_received_before_disconnected`
    // in tests/mpmc_recovery.rs); then they exit, and the consumers drain until
    // Disconnected.
    t.ctrl.set(CTRL_STOP, 1);
    let deadline = Instant::now() + WATCHDOG;
    loop {
        t.check_alive();
        let stopped = t
            .procs
            .iter()
            .filter(|p| p.live && p.kind == Kind::Producer)
            .all(|p| p.board.get(P_DONE) != 0);
        if stopped && ch.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "[{}] wedged: {} message(s) left in the channel after {WATCHDOG:?} (stats {:?}, \
             seed {seed})",
            f.name,
            ch.len(),
            ch.stats()
        );
        thread::sleep(Duration::from_millis(1));
    }
    t.ctrl.set(CTRL_EXIT, 1);
    for p in t
        .procs
        .iter_mut()
        .filter(|p| p.live && p.kind == Kind::Producer)
    {
        p.kid.wait_ok();
    }
    t.ctrl.set(CTRL_DRAIN, 1);
    for p in t
        .procs
        .iter_mut()
        .filter(|p| p.live && p.kind == Kind::Consumer)
    {
        p.kid.wait_ok();
    }
    s.skipped = ch.stats().skipped;

    // Collect what every incarnation reported.
    let producers: BTreeMap<u64, Produced> = t
        .procs
        .iter()
        .filter(|p| p.kind == Kind::Producer)
        .map(|p| {
            let exited = p.board.get(P_EXITED) != 0;
            assert!(
                exited || p.killed,
                "producer {} neither exited nor was killed",
                p.id
            );
            (
                p.id,
                Produced {
                    acked: p.board.get(P_ACKED),
                    inflight: if exited { 0 } else { p.board.get(P_INFLIGHT) },
                },
            )
        })
        .collect();
    let consumers: Vec<Consumed> = t
        .procs
        .iter()
        .filter(|p| p.kind == Kind::Consumer)
        .map(|p| {
            let exited = p.board.get(C_EXITED) != 0;
            assert!(
                exited || p.killed,
                "consumer {} neither exited nor was killed",
                p.id
            );
            let n = p.board.get(C_COUNT) as usize;
            assert_eq!(
                p.board.get(C_CORRUPT),
                0,
                "[{}] consumer {} received corrupt (torn) messages (seed {seed})",
                f.name,
                p.id
            );
            Consumed {
                records: (0..n).map(|i| p.board.get(C_RECORDS + i)).collect(),
                allowance: if exited { 0 } else { p.board.get(C_PENDING) },
                killed: p.killed,
            }
        })
        .collect();
    let r = match f.flavor {
        Flavor::Spsc => check_spsc(
            &producers,
            &consumers,
            f.transport == Transport::ShmRing,
            &mut s,
        ),
        Flavor::Mpmc => check_mpmc(&producers, &consumers, &mut s),
    };
    if let Err(e) = r {
        panic!(
            "[{}] {e}\n(seed {seed}; replay with SYSVRING_TORTURE_SEED={seed})",
            f.name
        );
    }
    s
}

/// What a producer incarnation reported.
#[derive(Debug, Clone, Copy)]
struct Produced {
    /// Its messages `0..acked` had `send` return Ok.
    acked: u64,
    /// How many more (from `acked` on) may have been sent without an acknowledgement
    /// (killed after publishing); 0 when it exited cleanly.
    inflight: u64,
}

/// What a consumer incarnation recorded.
#[derive(Debug)]
struct Consumed {
    /// Ids in the order received.
    records: Vec<u64>,
    /// How many messages it may have taken from the channel without recording them
    /// (its `C_PENDING` when killed; 0 when it exited cleanly).
    allowance: u64,
    killed: bool,
}

/// Checks shared by both shapes: every record is a message some producer really
/// sent (`index < acked + inflight`); counts what was delivered unacknowledged.
fn check_sent(producers: &BTreeMap<u64, Produced>, consumers: &[Consumed]) -> Result<(), String> {
    for (c, con) in consumers.iter().enumerate() {
        for &id in &con.records {
            let (p, k) = split_id(id);
            let Some(pr) = producers.get(&p) else {
                return Err(format!(
                    "consumer {c} received {id:#x} of unknown producer {p}"
                ));
            };
            if k >= pr.acked + pr.inflight {
                return Err(format!(
                    "consumer {c} received {p}:{k}, never sent (producer acked {}, in flight {})",
                    pr.acked, pr.inflight
                ));
            }
        }
    }
    Ok(())
}

/// How many of `ids` were received without their `send` returning Ok.
fn unacked(producers: &BTreeMap<u64, Produced>, ids: impl Iterator<Item = u64>) -> u64 {
    ids.filter(|&id| {
        let (p, k) = split_id(id);
        producers.get(&p).is_some_and(|pr| k >= pr.acked)
    })
    .count() as u64
}

/// SPSC (ring or message queue). Producers run one at a time, so ids grow in send
/// order across restarts; consumers run one at a time, in start order. Let `S` be the
/// concatenation of every consumer's records in that order. Checked:
///
/// - every record is a message a producer sent (`check_sent`), intact (in the child);
/// - order: within one consumer, strictly increasing; across a consumer restart, the
///   next record is greater than the previous one, or equal to it (one redelivery)
///   only on the ring and only when the earlier consumer was killed: it recorded the
///   message inside `recv_with` and died before the slot was freed, which
///   docs/ARCHITECTURE.md section 5 allows ("the message it had not acknowledged
///   is delivered to the next receiver"). So nothing is received twice otherwise, and S is FIFO;
/// - loss: every acknowledged message (index < acked) is in S, except *holes* that a
///   killed consumer explains. A hole between two consecutive distinct records `x`
///   (recorded by consumer `a`) and `y` (consumer `b`) is only possible when the
///   consumers `a..b` in between were killed: each could hold up to its `C_PENDING`
///   messages taken from the channel but not yet recorded (1, or the batch size
///   inside `recv_batch`). So the holes of each gap are at most the sum of those
///   allowances; a hole inside one consumer's run (a == b) is a lost message.
fn check_spsc(
    producers: &BTreeMap<u64, Produced>,
    consumers: &[Consumed],
    ring: bool,
    s: &mut Summary,
) -> Result<(), String> {
    check_sent(producers, consumers)?;
    // S, deduplicated, with the consumer that first recorded each id.
    let mut seq: Vec<(u64, usize)> = Vec::new();
    for (c, con) in consumers.iter().enumerate() {
        for (i, &id) in con.records.iter().enumerate() {
            if let Some(&(prev, pc)) = seq.last() {
                if id > prev {
                    // in order
                } else if id == prev && i == 0 && pc < c && ring && consumers[pc].killed {
                    s.redeliveries += 1;
                    continue;
                } else {
                    let (pp, pk) = split_id(prev);
                    let (ip, ik) = split_id(id);
                    return Err(format!(
                        "order: consumer {c} received {ip}:{ik} after {pp}:{pk} (consumer {pc})"
                    ));
                }
            }
            seq.push((id, c));
        }
    }
    s.delivered = seq.len() as u64;
    let got: HashSet<u64> = seq.iter().map(|&(id, _)| id).collect();
    s.delivered_unacked = unacked(producers, seq.iter().map(|&(id, _)| id));
    // Holes, grouped by the gap of S they fall in.
    let mut gaps: BTreeMap<usize, (u64, usize, usize)> = BTreeMap::new();
    for (&p, pr) in producers {
        for k in 0..pr.acked {
            let id = msg_id(p, k);
            if got.contains(&id) {
                continue;
            }
            let at = seq.partition_point(|&(x, _)| x < id);
            let a = if at == 0 { 0 } else { seq[at - 1].1 };
            let b = seq.get(at).map_or(consumers.len(), |&(_, c)| c);
            gaps.entry(at).or_insert((0, a, b)).0 += 1;
            s.unrecorded += 1;
        }
    }
    for (at, (holes, a, b)) in gaps {
        let allowed: u64 = consumers[a..b].iter().map(|c| c.allowance).sum();
        if holes > allowed {
            let near = seq.get(at).map(|&(x, _)| split_id(x));
            return Err(format!(
                "lost {holes} acknowledged message(s) before {near:?}, between consumers {a} \
                 and {b}; killed consumers there explain at most {allowed}"
            ));
        }
    }
    s.unrecorded_allowed = consumers.iter().map(|c| c.allowance).sum();
    Ok(())
}

/// MPMC ring, 2 producers and 2 consumers. Checked:
///
/// - every record is a message a producer sent (`check_sent`), intact (in the child);
/// - nothing is received twice (a killed MPMC consumer's message is lost, never
///   redelivered; a skipped slot's producer sends again only if its publish failed);
/// - order: for each consumer and each producer incarnation, indices strictly
///   increase (a consumer claims increasing positions; a producer's messages take
///   increasing positions);
/// - loss: the acknowledged messages nobody recorded are at most the sum of the
///   killed consumers' `C_PENDING` (each may die holding that many taken, unrecorded
///   or claimed, unreleased messages). A producer killed between claim and publish
///   costs nothing acknowledged: its slot is skipped (`stats().skipped`).
fn check_mpmc(
    producers: &BTreeMap<u64, Produced>,
    consumers: &[Consumed],
    s: &mut Summary,
) -> Result<(), String> {
    check_sent(producers, consumers)?;
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for (c, con) in consumers.iter().enumerate() {
        let mut last: HashMap<u64, u64> = HashMap::new();
        for &id in &con.records {
            let (p, k) = split_id(id);
            if let Some(first) = seen.insert(id, c) {
                return Err(format!(
                    "{p}:{k} received twice (consumers {first} and {c})"
                ));
            }
            if let Some(&prev) = last.get(&p) {
                if k <= prev {
                    return Err(format!(
                        "order: consumer {c} received {p}:{k} after {p}:{prev}"
                    ));
                }
            }
            last.insert(p, k);
        }
    }
    s.delivered = seen.len() as u64;
    let mut holes = Vec::new();
    for (&p, pr) in producers {
        for k in 0..pr.acked {
            if !seen.contains_key(&msg_id(p, k)) {
                holes.push((p, k));
            }
        }
    }
    s.delivered_unacked = unacked(producers, seen.keys().copied());
    s.unrecorded = holes.len() as u64;
    s.unrecorded_allowed = consumers.iter().map(|c| c.allowance).sum();
    if s.unrecorded > s.unrecorded_allowed {
        return Err(format!(
            "lost {} acknowledged message(s) (first {:?}); killed consumers explain at most {}",
            s.unrecorded,
            &holes[..holes.len().min(8)],
            s.unrecorded_allowed
        ));
    }
    Ok(())
}

/// Whether `unshare --pid` works here. Not permitted (no `CAP_SYS_ADMIN`, a locked-down
/// container) fails the test unless `SYSVRING_NO_PID_NAMESPACES=1` says to run the
/// other variants without it.
fn pid_namespaces_available() -> bool {
    let out = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "true"])
        .output();
    match out {
        Ok(o) if o.status.success() => true,
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            assert!(
                std::env::var_os("SYSVRING_NO_PID_NAMESPACES").is_some(),
                "`unshare --pid --fork` does not work here ({why}); the PID-namespace \
                 variant of the torture needs it (run as root or with CAP_SYS_ADMIN), or \
                 set SYSVRING_NO_PID_NAMESPACES=1 to run without that variant"
            );
            eprintln!("mpmc-ring-pidns NOT RUN: unshare --pid: {why}");
            false
        }
    }
}

/// Crash torture: for each variant, `SYSVRING_TORTURE_ITERS` (default 200) times,
/// kill a random producer or consumer at a random moment and start a new one; then
/// stop cleanly and check the invariants of [`check_spsc`] / [`check_mpmc`]. Also
/// never wedged: a watchdog fails the run when nothing moves for [`WEDGED`] while a
/// producer still has messages to send, and every final wait has one. The seed is
/// printed; `SYSVRING_TORTURE_SEED` replays the choices (not the kill timings).
#[test]
fn crash_torture() {
    if role().is_some() {
        return;
    }
    let iters: u64 = std::env::var("SYSVRING_TORTURE_ITERS")
        .map(|s| s.parse().expect("SYSVRING_TORTURE_ITERS must be a number"))
        .unwrap_or(DEFAULT_ITERS);
    let seed = seed();
    eprintln!("crash torture: seed {seed} (replay with SYSVRING_TORTURE_SEED={seed})");
    let mut rng = Rng::new(seed);
    for f in VARIANTS {
        let fseed = rng.next_u64();
        if f.pid_namespaces && !pid_namespaces_available() {
            continue;
        }
        let start = Instant::now();
        let s = torture(f, iters, fseed);
        eprintln!(
            "[{}] {:.1?}: kills {} producers + {} consumers; {} messages delivered \
             ({} never acknowledged), {} redelivered, {} acknowledged but unrecorded \
             (allowed {}), {} slots skipped (seed {fseed})",
            f.name,
            start.elapsed(),
            s.kills_producer,
            s.kills_consumer,
            s.delivered,
            s.delivered_unacked,
            s.redeliveries,
            s.unrecorded,
            s.unrecorded_allowed,
            s.skipped,
        );
    }
}
