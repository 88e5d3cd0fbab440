//! Helpers of the channel-level integration tests (`model`, `multiprocess`, `errors`,
//! `wakeups`): per-file unique keys, re-executed child processes with a watchdog,
//! temporary directories, and guards that remove kernel objects by id.
//!
//! Every guard here cleans up in `Drop`, so a failing (panicking) test leaves nothing
//! in `/proc/sysvipc` and no child process behind. Watchdogs fail a test that hangs;
//! they are never assertions on how fast something is.
#![allow(dead_code)]

#[path = "../common/exit.rs"]
mod exit;
#[allow(unused_imports)] // Each test binary uses a subset of the helpers.
pub use exit::exit_child;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use sysvring::sys::{MsgQueue, SemSet, Shm};
use sysvring::{Builder, Channel, Error, Key};

/// How long any child or wait may take before the test is failed (and its children
/// killed). Generous: the tests run in parallel on small machines.
pub const WATCHDOG: Duration = Duration::from_secs(60);

/// Environment variable naming the role a re-executed test binary plays.
pub const ROLE: &str = "SYSVRING_CHAN_TEST_ROLE";

/// The role this process was re-executed with (`None` in a normal test run, where the
/// child "tests" return at once).
pub fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// A variable the parent passed to a re-executed child.
pub fn env<T: std::str::FromStr>(name: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} not set"))
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

/// A key no other process or test file makes: `tag` (one byte per test file) in the
/// top byte, this process's pid (15 bits, `pid_max` is 32768 here; the rest is
/// folded in) and a per-process counter. Callers that create with it retry on
/// `AlreadyExists` through [`create_unique`].
pub fn key(tag: u8) -> Key {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let pid = (pid ^ (pid >> 15)) & 0x7fff;
    // Counter: 8 bits at the bottom, one more bit above the pid.
    let raw = (u32::from(tag) << 24) | ((n >> 8 & 1) << 23) | (pid << 8) | (n & 0xff);
    Key::from_raw(raw as i32)
}

/// Creates a channel at a fresh [`key`] of this file, retrying with the next key while
/// one is taken (a leftover of a crashed earlier run, say).
pub fn create_unique<T: bytemuck::Pod>(
    tag: u8,
    build: impl Fn(Builder<T>) -> Builder<T>,
) -> Channel<T> {
    for _ in 0..64 {
        match build(Builder::new(key(tag))).create() {
            Ok(ch) => return ch,
            Err(Error::AlreadyExists) => continue,
            Err(e) => panic!("create: {e}"),
        }
    }
    panic!("no free key after 64 tries");
}

/// A re-executed copy of this test binary running one child test in a role. Its
/// output goes to a log file shown when it fails. Killed and reaped on drop if it
/// still runs (a failing parent never leaves children behind).
#[derive(Debug)]
pub struct Kid {
    child: Child,
    log: PathBuf,
    name: String,
    done: bool,
}

impl Kid {
    /// Starts `test` (`--exact`) with [`ROLE`]`=role` and `envs`; its output goes to
    /// `dir/<role>-<n>.log`.
    pub fn spawn(dir: &TempDir, test: &str, role: &str, envs: &[(&str, String)]) -> Kid {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let log = dir.path().join(format!("{role}-{n}.log"));
        let out = fs::File::create(&log).expect("create child log");
        let err = out.try_clone().expect("dup child log");
        let exe = std::env::current_exe().expect("current_exe");
        let mut cmd = Command::new(exe);
        cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Kid {
            child: cmd.spawn().expect("re-exec the test binary"),
            log,
            name: format!("{role} ({test})"),
            done: false,
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Whether the child has exited (reaping it if so).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let st = self.child.try_wait().expect("try_wait");
        if st.is_some() {
            self.done = true;
        }
        st
    }

    /// Waits for the child; kills it and panics when [`WATCHDOG`] passes.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WATCHDOG;
        loop {
            if let Some(st) = self.exited() {
                return st;
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!(
                    "watchdog: child {} still running after {WATCHDOG:?}\n{}",
                    self.name,
                    self.output()
                );
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits and panics (showing the child's output) unless it exited with 0.
    pub fn wait_ok(&mut self) {
        let st = self.wait();
        assert!(
            st.success(),
            "child {} failed with {st}:\n{}",
            self.name,
            self.output()
        );
    }

    /// What the child wrote so far.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `SIGKILL`s and reaps the child.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.done = true;
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if !self.done {
            self.kill();
        }
    }
}

/// Waits for every kid; on the first failure the others are killed by their drop.
pub fn wait_all(kids: &mut [Kid]) {
    for k in kids.iter_mut() {
        k.wait_ok();
    }
}

/// A directory removed (with its contents) on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("sysvring-{what}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Removes, on drop, the kernel objects of a channel that a child process created
/// (a child killed by the watchdog never runs its destructors). Only objects still
/// at the recorded key are removed, so a recycled id is never touched.
#[derive(Debug)]
pub struct ObjectsAt {
    key: Key,
    shm: Option<i32>,
    msg: Option<i32>,
    sem: i32,
}

impl ObjectsAt {
    /// Records the objects of `ch` (opened at its key).
    pub fn of<T>(ch: &Channel<T>) -> ObjectsAt {
        ObjectsAt {
            key: ch.key(),
            shm: ch.shm_id(),
            msg: ch.msg_id(),
            sem: ch.sem_id(),
        }
    }
}

impl Drop for ObjectsAt {
    fn drop(&mut self) {
        // The object at the key (the segment, or for the message queue transport the
        // semaphore set) tells whether the channel is still there, i.e. nobody removed
        // it properly. Its companions (IPC_PRIVATE) go with it.
        let still_there = match self.shm {
            Some(id) => Shm::from_id(id)
                .stat()
                .is_ok_and(|st| st.perm.key == self.key.raw()),
            None => SemSet::from_id(self.sem)
                .and_then(|s| s.stat())
                .is_ok_and(|st| st.perm.key == self.key.raw()),
        };
        if !still_there {
            return;
        }
        if let Some(id) = self.msg {
            let _ = MsgQueue::from_id(id).remove();
        }
        if let Ok(set) = SemSet::from_id(self.sem) {
            let _ = set.remove();
        }
        if let Some(id) = self.shm {
            let _ = Shm::from_id(id).remove();
        }
    }
}

/// Polls `cond` until it holds; panics with `what` when [`WATCHDOG`] passes.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WATCHDOG;
    while !cond() {
        assert!(Instant::now() < deadline, "watchdog: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// CPU time (user + system) used so far by the calling thread.
pub fn thread_cpu() -> Duration {
    rusage(libc::RUSAGE_THREAD)
}

/// CPU time (user + system) used so far by this process.
pub fn process_cpu() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: an all-zero rusage is a valid value; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid `who` and a pointer to a live rusage.
    let r = unsafe { libc::getrusage(who, &mut ru) };
    assert_eq!(r, 0, "getrusage: {}", std::io::Error::last_os_error());
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A small, seedable xorshift generator (no `rand` dependency).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}
