//! Crash safety with real processes and real `SIGKILL` (docs/ARCHITECTURE.md sections 5 and 7).
//!
//! This test binary re-executes itself in a role (`child_*` tests, which return at
//! once in a normal run) and the parent kills those children at random moments:
//!
//! 1. [`crash_torture`]: producers and consumers stream messages while one of them is
//!    killed at a random moment of each iteration and restarted; three flavours (SPSC
//!    ring, MPMC ring with 2 producers and 2 consumers, SPSC message queue). The exact
//!    invariants are written down at [`check_spsc`] and [`check_mpmc`].
//! 2. [`every_user_killed_then_gc_finds_and_removes_the_channel`]: creator, sender and
//!    receiver all killed; `admin` sees the channel unused and removes it (only it).
//! 3. `killed_*_disconnects_a_blocked_*`: a side blocked in the kernel returns
//!    `Disconnected` once its only peer is killed (the delay is printed, never asserted).
//! 4. [`killed_spsc_sender_role_is_taken_over_at_once`]: the role of a killed SPSC
//!    sender (and receiver) is free at once, even before the killed process is reaped.
//! 5. Minimal reproductions of defects found on the way (section at the end):
//!    `mpmc_messages_behind_a_dead_producers_slot_are_received_before_disconnected`,
//!    `mpmc_producer_killed_between_claim_and_owner_record_does_not_wedge`,
//!    `admin_counts_every_attached_process_and_gc_spares_an_open_channel`, and the
//!    regression guard `gc_leaves_a_foreign_zeroed_semaphore_set_alone`.
//!
//! Torture kill timing: the victim is killed once it has made a random amount of
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
//! Hygiene: every channel of the torture and of tests 3 and 4 is created by the parent
//! (its handle removes the kernel objects, also while unwinding from a failed
//! assertion); test 2's channel is created by a child and guarded by a [`Guard`].
//! Children are [`Kid`]s, killed and reaped on drop. Every wait has a watchdog; no
//! assertion is made on how fast anything is.

#[macro_use]
mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::{
    create_unique, env, exit_child, fresh, key, proc_sysvipc, role, wait_until, Guard, Kid, Rng,
    TempDir, WATCHDOG,
};
use sysvring::admin::{self, ChannelInfo};
use sysvring::sys::{MsgQueue, SemSet, Shm};
use sysvring::{
    AnyChannel, Builder, Error, Flavor, Key, RecvTimeoutError, SendTimeoutError, Spin, Transport,
    TryRecvError, TrySendError,
};

/// Top byte of every key this file makes.
const TAG: u8 = 0x2e;

/// Iterations per flavour of the torture (env `SYSVRING_TORTURE_ITERS`).
const DEFAULT_ITERS: u64 = 200;

/// Messages one producer incarnation sends at most (then it idles, holding its
/// sender, until killed or stopped): bounds what the consumers record.
const BUDGET: u64 = 4000;

/// Largest batch a child moves with `send_batch`/`recv_batch`.
const BATCH: usize = 8;

/// How long the torture may see no progress at all while a live producer still has
/// messages to send before it calls the channel wedged (a watchdog, not a timing).
const WEDGED: Duration = Duration::from_secs(20);

/// Watchdog of the blocked-side tests (3): how long a blocked call may take to see
/// its killed peer before the test fails. Never an assertion on speed.
const DISCONNECT_WATCHDOG: Duration = Duration::from_secs(10);

// -------------------------------------------------------------------------------------
// Messages
// -------------------------------------------------------------------------------------

/// A message whose payload is derived from its id, so a torn, stale or half-written
/// slot is detected by the consumer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message,
)]
#[repr(C)]
struct Msg {
    id: u64,
    a: u64,
    b: u64,
    c: u64,
}

impl Msg {
    fn new(id: u64) -> Msg {
        let a = id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x00c0_ffee;
        Msg {
            id,
            a,
            b: !a.rotate_left(23),
            c: id ^ 0x5555_aaaa_5555_aaaa,
        }
    }

    fn intact(&self) -> bool {
        *self == Msg::new(self.id)
    }
}

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

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::ShmRing => "shm",
        Transport::MessageQueue => "msgq",
        Transport::Auto => "auto",
    }
}

fn transport_from(s: &str) -> Transport {
    match s {
        "shm" => Transport::ShmRing,
        "msgq" => Transport::MessageQueue,
        _ => panic!("transport {s}"),
    }
}

fn env_key() -> Key {
    Key::from_raw(env("KEY"))
}

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(env::<String>(name))
}

fn path_env(name: &'static str, p: &Path) -> (&'static str, String) {
    (name, p.display().to_string())
}

/// Waits until the file `ready` exists, failing when `kid` exits first (or the
/// watchdog passes).
fn wait_file(kid: &mut Kid, ready: &Path) {
    wait_until("the child gets ready", || {
        if let Some(st) = kid.exited() {
            panic!("child exited ({st}) before it was ready:\n{}", kid.output());
        }
        ready.exists()
    });
}

/// `SIGKILL`s a child without reaping it.
fn sigkill(pid: i32) {
    // SAFETY: signalling our own child, not yet reaped (its pid cannot be reused).
    let r = unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
}

/// The state letter of a task (`Z` for a zombie) from its `stat` file, `None` when
/// gone.
fn task_state(stat: &Path) -> Option<char> {
    let s = fs::read_to_string(stat).ok()?;
    s[s.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Whether every thread of process `pid` has exited (zombies or gone): the kernel
/// has then run the process's exit work, `SEM_UNDO` adjustments included, even if
/// the parent has not reaped it yet. (The leader alone turning `Z` is not enough:
/// the other threads may still be exiting, and the undo runs when the last one does.)
fn all_threads_exited(pid: i32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    tasks
        .flatten()
        .all(|t| matches!(task_state(&t.path().join("stat")), Some('Z' | 'X') | None))
}

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

/// One torture flavour.
#[derive(Debug, Clone, Copy)]
struct Flavour {
    name: &'static str,
    flavor: Flavor,
    transport: Transport,
    producers: usize,
    consumers: usize,
}

const FLAVOURS: [Flavour; 3] = [
    Flavour {
        name: "spsc-ring",
        flavor: Flavor::Spsc,
        transport: Transport::ShmRing,
        producers: 1,
        consumers: 1,
    },
    Flavour {
        name: "mpmc-ring",
        flavor: Flavor::Mpmc,
        transport: Transport::ShmRing,
        producers: 2,
        consumers: 2,
    },
    Flavour {
        name: "spsc-msgq",
        flavor: Flavor::Spsc,
        transport: Transport::MessageQueue,
        producers: 1,
        consumers: 1,
    },
];

/// What one flavour did.
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
    f: Flavour,
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
        let kid = Kid::spawn(
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

/// Runs one flavour: `iters` kills, then a clean stop and the checks.
fn torture(f: Flavour, iters: u64, seed: u64) -> Summary {
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
    // `mpmc_messages_behind_a_dead_producers_slot_are_received_before_disconnected`);
    // then they exit, and the consumers drain until Disconnected.
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

/// Crash torture: for each flavour, `SYSVRING_TORTURE_ITERS` (default 200) times,
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
    for f in FLAVOURS {
        let fseed = rng.next_u64();
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

// -------------------------------------------------------------------------------------
// 2. Every user killed: admin sees the channel unused and removes it (only it)
// -------------------------------------------------------------------------------------

/// Child: creates the channel at `KEY` on transport `T` (exit code 17 when the key
/// is taken), connects a sender, sends 3 messages, creates `READY` and sleeps until
/// killed. `keep()` is not needed: a killed process runs no destructor.
#[test]
fn child_gc_creator() {
    if role().as_deref() != Some("gc_creator") {
        return;
    }
    let t = transport_from(&env::<String>("T"));
    let ch = match Builder::<Msg>::new(env_key())
        .capacity(16)
        .transport(t)
        .create()
    {
        Ok(ch) => ch,
        Err(Error::AlreadyExists) => exit_child(17),
        Err(e) => panic!("create: {e}"),
    };
    let tx = ch.sender().expect("sender");
    for i in 0..3 {
        tx.send(Msg::new(i)).expect("send");
    }
    fs::write(env_path("READY"), b"").expect("write READY");
    thread::sleep(WATCHDOG * 2);
}

/// Child: opens the channel at `KEY`, connects a receiver, receives one message,
/// creates `READY` and sleeps until killed.
#[test]
fn child_gc_receiver() {
    if role().as_deref() != Some("gc_receiver") {
        return;
    }
    let ch = Builder::<Msg>::new(env_key()).open().expect("open");
    let rx = ch.receiver().expect("receiver");
    let m = rx.recv_timeout(WATCHDOG).expect("recv");
    assert_eq!(m, Msg::new(0));
    fs::write(env_path("READY"), b"").expect("write READY");
    thread::sleep(WATCHDOG * 2);
}

/// One row of `/proc/sysvipc/{shm,sem,msg}`: (kind, key, id).
type IpcRow = (&'static str, i32, i32);

fn sysvipc() -> HashSet<IpcRow> {
    proc_sysvipc()
        .into_iter()
        .map(|o| (o.kind, o.key, o.id))
        .collect()
}

/// The rows of a channel's objects.
fn rows_of(i: &ChannelInfo) -> Vec<(&'static str, i32)> {
    let mut v = Vec::new();
    v.extend(i.shm_id.map(|id| ("shm", id)));
    v.extend(i.sem_id.map(|id| ("sem", id)));
    v.extend(i.msg_id.map(|id| ("msg", id)));
    v
}

fn listed(k: Key) -> Option<ChannelInfo> {
    admin::list()
        .expect("admin::list")
        .into_iter()
        .find(|i| i.key == k)
}

/// Objects that are not sysvring channels, at keys of this file: gc must leave them
/// alone. Removed on drop (by its guard).
struct Foreign {
    shm: Shm,
    sem: SemSet,
    msg: MsgQueue,
    _guard: Guard,
}

impl Foreign {
    fn create() -> Foreign {
        let mut g = Guard::new();
        let shm = g.shm(fresh(TAG, |k| Shm::create(k, 4096, 0o600)).1);
        let sem = g.sem(fresh(TAG, |k| SemSet::create(k, 3, 0o600)).1);
        let msg = g.msg(fresh(TAG, |k| MsgQueue::create(k, 0o600)).1);
        Foreign {
            shm,
            sem,
            msg,
            _guard: g,
        }
    }

    fn rows(&self) -> Vec<(&'static str, i32)> {
        vec![
            ("shm", self.shm.id()),
            ("sem", self.sem.id()),
            ("msg", self.msg.id()),
        ]
    }

    fn all_there(&self) -> bool {
        self.shm.stat().is_ok() && self.sem.stat().is_ok() && self.msg.stat().is_ok()
    }
}

fn present(rows: &HashSet<IpcRow>, kind: &str, id: i32) -> bool {
    rows.iter().any(|&(k, _, i)| k == kind && i == id)
}

/// The creator (a child, also the sender) and the receiver (another child) of a
/// channel are both SIGKILLed. Before: `admin::list()` shows 1 sender and 1 receiver.
/// After: 0 and 0, nothing attached, creator dead, so not in use; `admin::gc(true, true)`
/// (dry run) lists it, and none of the foreign objects (a raw segment, a raw
/// semaphore set and a raw queue at other keys). `admin` has no gc filtered by key,
/// and the real `gc(false)` removes *every* unused sysvring object on the host, which
/// would break tests running in parallel, so the channel is removed with
/// `admin::remove(&info, false)` (what gc does per channel); the real gc is exercised
/// by `tests/gc.rs`, alone in its binary. Afterwards none of the
/// channel's objects is in `/proc/sysvipc`, the foreign ones are, and once they are
/// removed too nothing this test made is left.
fn every_user_killed_then_gc_finds_and_removes_the_channel(t: Transport) {
    if role().is_some() {
        return;
    }
    let dir = TempDir::new("crash-gc");
    let before = sysvipc();
    let foreign = Foreign::create();
    let ready = dir.path().join("creator.ready");
    let (mut creator, k) = (0..64)
        .find_map(|_| {
            let k = key(TAG);
            let mut kid = Kid::spawn(
                "child_gc_creator",
                "gc_creator",
                &[
                    ("KEY", k.raw().to_string()),
                    ("T", transport_name(t).to_string()),
                    path_env("READY", &ready),
                ],
            );
            let deadline = Instant::now() + WATCHDOG;
            loop {
                if ready.exists() {
                    return Some((kid, k));
                }
                if let Some(st) = kid.exited() {
                    assert_eq!(st.code(), Some(17), "creator failed:\n{}", kid.output());
                    return None;
                }
                assert!(Instant::now() < deadline, "watchdog: creator");
                thread::sleep(Duration::from_millis(1));
            }
        })
        .expect("a free key for the channel");
    let mut leftovers = Guard::new();
    leftovers.listed_at(k);
    let rready = dir.path().join("receiver.ready");
    let mut receiver = Kid::spawn(
        "child_gc_receiver",
        "gc_receiver",
        &[("KEY", k.raw().to_string()), path_env("READY", &rready)],
    );
    wait_file(&mut receiver, &rready);

    let live = listed(k).expect("the channel is listed");
    assert_eq!(live.transport, t);
    assert_eq!((live.senders, live.receivers), (1, 1), "{t:?} live counts");
    assert!(live.in_use() && live.creator_alive, "{t:?}: {live:?}");
    if t == Transport::ShmRing {
        // Exactly 2 (creator and receiver): see
        // `admin_counts_every_attached_process_and_gc_spares_an_open_channel`.
        assert!(
            live.attached >= 1,
            "creator and receiver attached: {live:?}"
        );
    }
    let dry = admin::gc(true, true).expect("gc dry run").removed;
    assert!(
        !dry.iter().any(|i| i.key == k),
        "{t:?}: gc would remove a channel in use"
    );

    creator.kill();
    receiver.kill();

    let dead = listed(k).expect("the channel is still listed after the kill");
    assert_eq!(
        (dead.senders, dead.receivers, dead.attached),
        (0, 0, 0),
        "{t:?}: the kernel undid the killed users' presence: {dead:?}"
    );
    assert!(!dead.creator_alive && !dead.in_use(), "{t:?}: {dead:?}");
    assert_eq!(dead.len, 2, "{t:?}: 3 sent, 1 received");
    let dry = admin::gc(true, true).expect("gc dry run").removed;
    let mine = dry
        .iter()
        .find(|i| i.key == k)
        .unwrap_or_else(|| panic!("{t:?}: gc(dry run) does not list the dead channel"));
    assert_eq!(rows_of(mine), rows_of(&dead));
    for i in &dry {
        for row in foreign.rows() {
            assert!(
                !rows_of(i).contains(&row),
                "gc would remove a foreign object {row:?}: {i:?}"
            );
        }
    }
    admin::remove(&dead, false).expect("remove the unused channel");

    assert!(listed(k).is_none(), "{t:?}: still listed after removal");
    let now = sysvipc();
    for (kind, id) in rows_of(&dead) {
        assert!(!present(&now, kind, id), "{t:?}: {kind} {id} left behind");
    }
    assert!(
        now.iter().all(|&(_, key, _)| key != k.raw()),
        "{t:?}: key left"
    );
    assert!(foreign.all_there(), "a foreign object did not survive");
    let foreign_rows = foreign.rows();
    drop(foreign);
    let after = sysvipc();
    // Others' tests may come and go meanwhile: compare what this test made.
    for &(kind, key, id) in after.difference(&before) {
        let ours = foreign_rows.contains(&(kind, id))
            || rows_of(&dead).contains(&(kind, id))
            || key == k.raw();
        assert!(!ours, "{t:?}: {kind} {id} (key {key:#x}) left behind");
    }
    eprintln!(
        "{t:?}: /proc/sysvipc had {} objects before, {} after",
        before.len(),
        after.len()
    );
}

// The real, host-wide `gc` runs in tests/gc.rs, alone in its binary.

// -------------------------------------------------------------------------------------
// 3. A blocked side returns Disconnected once its only peer is killed
// -------------------------------------------------------------------------------------

/// Child: opens the channel at `KEY`, connects one side (`SIDE`: `send` or `recv`),
/// creates `READY` and sleeps until killed, never sending or receiving.
#[test]
fn child_idle_peer() {
    if role().as_deref() != Some("idle_peer") {
        return;
    }
    let ch = Builder::<Msg>::new(env_key()).open().expect("open");
    let side: String = env("SIDE");
    let _tx = (side == "send").then(|| ch.sender().expect("sender"));
    let _rx = (side == "recv").then(|| ch.receiver().expect("receiver"));
    fs::write(env_path("READY"), b"").expect("write READY");
    thread::sleep(WATCHDOG * 2);
}

#[derive(Debug, Clone, Copy)]
enum Blocked {
    Recv,
    RecvTimeout,
    Send,
    SendTimeout,
}

/// Blocks in `call` in a thread of this process, SIGKILLs the only peer, and returns
/// the delay from the kill to the call's return. Fails unless the call returns the
/// disconnection within [`DISCONNECT_WATCHDOG`].
fn blocked_until_peer_killed(t: Transport, call: Blocked) -> Duration {
    let dir = TempDir::new("crash-blocked");
    let ch = create_unique::<Msg>(TAG, |b| b.capacity(4).flavor(Flavor::Spsc).transport(t));
    let receiving = matches!(call, Blocked::Recv | Blocked::RecvTimeout);
    let rx = receiving.then(|| ch.receiver().unwrap());
    let tx = (!receiving).then(|| ch.sender().unwrap());
    let ready = dir.path().join("peer.ready");
    let mut peer = Kid::spawn(
        "child_idle_peer",
        "idle_peer",
        &[
            ("KEY", ch.key().raw().to_string()),
            ("SIDE", if receiving { "send" } else { "recv" }.to_string()),
            path_env("READY", &ready),
        ],
    );
    wait_file(&mut peer, &ready);
    if let Some(tx) = &tx {
        let mut n = 0;
        while tx.try_send(Msg::new(n)).is_ok() {
            n += 1;
        }
        assert!(n >= 1 && tx.is_full(), "{t:?}: could not fill the channel");
    }
    let (done_tx, done_rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let long = Duration::from_secs(30);
        let r: Result<(), String> = match (call, rx, tx) {
            (Blocked::Recv, Some(rx), _) => match rx.recv() {
                Err(_) => Ok(()),
                Ok(m) => Err(format!("received {m:?}")),
            },
            (Blocked::RecvTimeout, Some(rx), _) => match rx.recv_timeout(long) {
                Err(RecvTimeoutError::Disconnected) => Ok(()),
                r => Err(format!("{r:?}")),
            },
            (Blocked::Send, _, Some(tx)) => match tx.send(Msg::new(u64::MAX)) {
                Err(_) => Ok(()),
                Ok(()) => Err("sent into a full channel".into()),
            },
            (Blocked::SendTimeout, _, Some(tx)) => match tx.send_timeout(Msg::new(1), long) {
                Err(SendTimeoutError::Disconnected(_)) => Ok(()),
                r => Err(format!("{r:?}")),
            },
            _ => unreachable!(),
        };
        let _ = done_tx.send((r, Instant::now()));
    });
    // Long past the spin budget: the call sleeps in the kernel by now.
    thread::sleep(Duration::from_millis(300));
    assert!(
        done_rx.try_recv().is_err(),
        "{t:?} {call:?} returned before its peer was killed"
    );
    let killed = Instant::now();
    peer.kill();
    let (r, at) = done_rx.recv_timeout(DISCONNECT_WATCHDOG).unwrap_or_else(|_| {
        panic!("watchdog: {t:?} {call:?} still blocked {DISCONNECT_WATCHDOG:?} after its only peer was SIGKILLed")
    });
    worker.join().expect("worker");
    if let Err(e) = r {
        panic!("{t:?} {call:?}: expected Disconnected, got {e}");
    }
    let delay = at.saturating_duration_since(killed);
    eprintln!("{t:?} {call:?}: Disconnected {delay:?} after the SIGKILL of the only peer");
    delay
}

/// A receiver blocked in `recv()` (and in `recv_timeout(30 s)`) whose only sender
/// process is SIGKILLed returns `Disconnected`; both transports. The delay is printed.
fn killed_sender_disconnects_a_blocked_receiver(t: Transport) {
    if role().is_some() {
        return;
    }
    blocked_until_peer_killed(t, Blocked::Recv);
    blocked_until_peer_killed(t, Blocked::RecvTimeout);
}

/// A sender blocked in `send()` (and in `send_timeout(30 s)`) on a full channel whose
/// only receiver process is SIGKILLed returns the disconnection; both transports.
fn killed_receiver_disconnects_a_blocked_sender(t: Transport) {
    if role().is_some() {
        return;
    }
    blocked_until_peer_killed(t, Blocked::Send);
    blocked_until_peer_killed(t, Blocked::SendTimeout);
}

// -------------------------------------------------------------------------------------
// 4. A killed SPSC sender's (receiver's) role is taken over at once
// -------------------------------------------------------------------------------------

/// Exit code of a role child that got `RoleTaken`.
const ROLE_TAKEN_EXIT: i32 = 42;

/// Child: opens `KEY` and takes the sender role (`SIDE=send`: then sends messages
/// `FIRST..FIRST+COUNT`) or the receiver role (`SIDE=recv`: receives `COUNT` messages,
/// checking they are `FIRST..`); exits with [`ROLE_TAKEN_EXIT`] on `RoleTaken`. Then
/// creates `READY` and sleeps until killed.
#[test]
fn child_role_taker() {
    if role().as_deref() != Some("role_taker") {
        return;
    }
    let ch = Builder::<Msg>::new(env_key()).open().expect("open");
    let first: u64 = env("FIRST");
    let count: u64 = env("COUNT");
    let taken = |e: Error| -> ! {
        eprintln!("role: {e}");
        exit_child(if matches!(e, Error::RoleTaken) {
            ROLE_TAKEN_EXIT
        } else {
            1
        })
    };
    let side: String = env("SIDE");
    let _keep: Box<dyn std::any::Any> = if side == "send" {
        let tx = ch.sender().unwrap_or_else(|e| taken(e));
        for i in first..first + count {
            tx.send(Msg::new(i)).expect("send");
        }
        Box::new(tx)
    } else {
        let rx = ch.receiver().unwrap_or_else(|e| taken(e));
        for i in first..first + count {
            assert_eq!(rx.recv_timeout(WATCHDOG).expect("recv"), Msg::new(i));
        }
        Box::new(rx)
    };
    fs::write(env_path("READY"), b"").expect("write READY");
    thread::sleep(WATCHDOG * 2);
}

fn spawn_role_taker(
    dir: &TempDir,
    ch: &AnyChannel<Msg>,
    side: &str,
    first: u64,
    count: u64,
    name: &str,
) -> (Kid, PathBuf) {
    let ready = dir.path().join(format!("{name}.ready"));
    let kid = Kid::spawn(
        "child_role_taker",
        "role_taker",
        &[
            ("KEY", ch.key().raw().to_string()),
            ("SIDE", side.to_string()),
            ("FIRST", first.to_string()),
            ("COUNT", count.to_string()),
            path_env("READY", &ready),
        ],
    );
    (kid, ready)
}

/// Waits for a role taker to be ready, failing with a clear message on `RoleTaken`.
fn wait_role(kid: &mut Kid, ready: &Path, what: &str) {
    wait_until(what, || {
        if let Some(st) = kid.exited() {
            assert_ne!(
                st.code(),
                Some(ROLE_TAKEN_EXIT),
                "{what}: RoleTaken, the killed holder's role was not given back:\n{}",
                kid.output()
            );
            panic!("{what}: exited with {st}:\n{}", kid.output());
        }
        ready.exists()
    });
}

/// SIGKILLs `kid` and waits until all its threads have exited, *not* reaping it: the
/// kernel runs the `SEM_UNDO` adjustments in `exit`, before the process becomes a
/// zombie.
fn kill_leave_zombie(kid: &Kid) {
    sigkill(kid.pid());
    wait_until("the killed child becomes a zombie", || {
        all_threads_exited(kid.pid())
    });
}

/// SPSC, both transports: a sender process (holding the exclusive role) is SIGKILLed;
/// a restarted sender process takes the role with its first `sender()` call, no
/// `RoleTaken` and no retry, while the killed one is still an unreaped zombie, and its
/// messages follow the killed one's in order. Then the same for the receiver role
/// (nothing is lost: the killed receiver was idle), and the parent itself takes the
/// sender role at once after the restarted sender is killed too.
fn killed_spsc_sender_role_is_taken_over_at_once(t: Transport) {
    if role().is_some() {
        return;
    }
    let dir = TempDir::new("crash-role");
    let ch = create_unique::<Msg>(TAG, |b| b.capacity(64).flavor(Flavor::Spsc).transport(t));

    // Sender role.
    let rx = ch.receiver().unwrap();
    let (mut a, ready) = spawn_role_taker(&dir, &ch, "send", 0, 5, "sender-a");
    wait_role(&mut a, &ready, "first sender");
    for i in 0..5 {
        assert_eq!(rx.recv_timeout(WATCHDOG), Ok(Msg::new(i)), "{t:?}");
    }
    assert!(matches!(ch.sender(), Err(Error::RoleTaken)), "{t:?}");
    kill_leave_zombie(&a);
    assert_eq!(ch.stats().senders, 0, "{t:?}: presence undone at exit");
    let (mut b, ready) = spawn_role_taker(&dir, &ch, "send", 5, 5, "sender-b");
    wait_role(&mut b, &ready, "restarted sender");
    for i in 5..10 {
        assert_eq!(rx.recv_timeout(WATCHDOG), Ok(Msg::new(i)), "{t:?}");
    }
    b.kill();
    drop(a); // reaps the zombie
    let tx = ch.sender().expect("the parent takes the role at once");

    // Receiver role.
    for i in 0..6 {
        tx.send(Msg::new(i)).unwrap();
    }
    drop(rx);
    let (mut c, ready) = spawn_role_taker(&dir, &ch, "recv", 0, 3, "receiver-c");
    wait_role(&mut c, &ready, "first receiver");
    kill_leave_zombie(&c);
    let (mut d, ready) = spawn_role_taker(&dir, &ch, "recv", 3, 3, "receiver-d");
    wait_role(&mut d, &ready, "restarted receiver");
    d.kill();
    drop(c);
    let rx = ch
        .receiver()
        .expect("the parent takes the receiver role at once");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{t:?}");
}

// -------------------------------------------------------------------------------------
// Minimal reproductions of crash-safety defects found while writing the above
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
    use sysvring::ring::layout::{Geometry, RingKind, CLAIMERS, CLAIMERS_OFFSET};
    use sysvring::ring::mpmc::encode;
    let ch = Builder::<Msg>::new(env_key()).open().expect("open");
    let _tx = ch.sender().expect("sender");
    let from: u64 = env("FROM");
    let att = Shm::open(env_key())
        .expect("shm")
        .attach(false)
        .expect("attach");
    let geo = Geometry::for_type::<Msg>(RingKind::Mpmc, 2).expect("geometry");
    let base = att.as_ptr();
    // Our claimer tag: the table entry (16 bytes each) whose identity word holds our
    // pid in its high half, taken by `sender()`.
    let me = u64::from(std::process::id());
    let tag = (0..CLAIMERS)
        .find(|&i| {
            // SAFETY: the segment is a validated MPMC ring (opened above): its claimer
            // table has CLAIMERS 16-byte entries of atomics at CLAIMERS_OFFSET.
            let id = unsafe { &*base.add(CLAIMERS_OFFSET + 16 * i).cast::<AtomicU64>() };
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

/// Child: creates the channel at `KEY` (a ring), gives up ownership (`keep`) and
/// exits, leaving it to whoever opens it.
#[test]
fn child_keep_creator() {
    if role().as_deref() != Some("keep_creator") {
        return;
    }
    let ch = match Builder::<Msg>::new(env_key())
        .transport(Transport::ShmRing)
        .create()
    {
        Ok(ch) => ch,
        Err(Error::AlreadyExists) => exit_child(17),
        Err(e) => panic!("create: {e}"),
    };
    ch.keep();
}

/// `admin::list()` counts the processes attached to a ring segment: one process (this
/// one) holding an open `Channel` handle, whose creator has exited, is `attached: 1`
/// and `in_use()`, so `gc` must not list it. (`inspect_shm` takes `IPC_STAT` before
/// its own attach, then subtracts its own attachment from that count.)
#[test]
fn admin_counts_every_attached_process_and_gc_spares_an_open_channel() {
    if role().is_some() {
        return;
    }
    let k = (0..64)
        .map(|_| key(TAG))
        .find(|&k| {
            let mut kid = Kid::spawn(
                "child_keep_creator",
                "keep_creator",
                &[("KEY", k.raw().to_string())],
            );
            match kid.wait().code() {
                Some(0) => true,
                Some(17) => false,
                _ => panic!("creator failed:\n{}", kid.output()),
            }
        })
        .expect("a free key");
    let mut leftovers = Guard::new();
    leftovers.listed_at(k);
    let ch = Builder::<Msg>::new(k).open().expect("open");
    let info = listed(k).expect("listed");
    let dry = admin::gc(true, true).expect("gc dry run").removed;
    drop(ch);
    assert_eq!(info.attached, 1, "this process is attached: {info:?}");
    assert!(info.in_use());
    assert!(
        !dry.iter().any(|i| i.key == k),
        "gc would remove a channel this process has open"
    );
}

/// A semaphore set of another program that happens to have as many semaphores as a
/// message-queue channel's header (25), all still 0 as `semget` makes them, is not a
/// sysvring channel: `gc` must not list (remove) it.
#[test]
fn gc_leaves_a_foreign_zeroed_semaphore_set_alone() {
    if role().is_some() {
        return;
    }
    let mut g = Guard::new();
    let set = g.sem(fresh(TAG, |k| SemSet::create(k, 25, 0o600)).1);
    let dry = admin::gc(true, true).expect("gc dry run").removed;
    assert!(
        !dry.iter().any(|i| i.sem_id == Some(set.id())),
        "gc would remove a foreign semaphore set: {:?}",
        dry.iter().find(|i| i.sem_id == Some(set.id()))
    );
}

// -------------------------------------------------------------------------------------
// The cases above that run on both transports
// -------------------------------------------------------------------------------------

per_transport!(
    every_user_killed_then_gc_finds_and_removes_the_channel,
    killed_sender_disconnects_a_blocked_receiver,
    killed_receiver_disconnects_a_blocked_sender,
    killed_spsc_sender_role_is_taken_over_at_once,
);
