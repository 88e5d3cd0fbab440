//! Helpers shared by the integration tests: cleanup guards, unique keys, child
//! processes (re-exec or fork) and watchdogs.
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use sysvring::sys::{Key, MsgQueue, SemSet, Shm};

mod exit;
#[allow(unused_imports)] // Each test binary uses a subset of the helpers.
pub use exit::exit_child;

/// Generous bound for anything a test waits on. A watchdog fails the test when it
/// passes; it is never an assertion on how fast something is.
pub const WATCHDOG: Duration = Duration::from_secs(30);

/// Removes every object registered with it when dropped, also when the test panics.
/// Errors (already removed) are ignored.
#[derive(Debug, Default)]
pub struct IpcGuard {
    shm: Vec<Shm>,
    sem: Vec<SemSet>,
    msg: Vec<MsgQueue>,
}

impl IpcGuard {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a segment for removal and hands it back.
    pub fn shm(&mut self, shm: Shm) -> Shm {
        self.shm.push(shm);
        shm
    }

    /// Registers a semaphore set for removal and hands it back.
    pub fn sem(&mut self, sem: SemSet) -> SemSet {
        self.sem.push(sem);
        sem
    }

    /// Registers a message queue for removal and hands it back.
    pub fn msg(&mut self, msg: MsgQueue) -> MsgQueue {
        self.msg.push(msg);
        msg
    }
}

impl Drop for IpcGuard {
    fn drop(&mut self) {
        for s in &self.shm {
            let _ = s.remove();
        }
        for s in &self.sem {
            let _ = s.remove();
        }
        for q in &self.msg {
            let _ = q.remove();
        }
    }
}

/// Tag in the top bits of every key made by [`unique_key`] (`0b01` then 29 bits).
const KEY_TAG: i32 = 0x4000_0000;

/// A key no other live process makes: a tag, this process's pid (22 bits, Linux's
/// largest `pid_max`) and a per-process counter (8 bits), so parallel tests and
/// parallel test binaries never collide. Not `IPC_PRIVATE`.
pub fn unique_key() -> Key {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    assert!(n < 256, "unique_key: more than 255 keys in one test binary");
    let pid = std::process::id() as i32;
    Key::from_raw(KEY_TAG | ((pid & 0x3f_ffff) << 8) | n as i32)
}

/// Serialises `fork()` with every other fork in this binary (nix's `FORK_MTX`).
pub static FORK_MTX: Mutex<()> = Mutex::new(());

/// Locks [`FORK_MTX`], ignoring poisoning by a failed test.
pub fn fork_lock() -> MutexGuard<'static, ()> {
    FORK_MTX.lock().unwrap_or_else(|e| e.into_inner())
}

/// A forked child: killed and reaped on drop if still running.
#[derive(Debug)]
pub struct ForkedChild {
    pid: libc::pid_t,
    reaped: bool,
}

impl ForkedChild {
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Waits for the child (watchdog: [`WATCHDOG`]) and returns its raw wait status.
    pub fn wait(&mut self) -> libc::c_int {
        let deadline = Instant::now() + WATCHDOG;
        loop {
            let mut status = 0;
            // SAFETY: waitpid on our own child with a valid status pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            if r == self.pid {
                self.reaped = true;
                return status;
            }
            assert!(r == 0, "waitpid: {}", std::io::Error::last_os_error());
            assert!(
                Instant::now() < deadline,
                "watchdog: forked child {} still running",
                self.pid
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits and returns the exit code; panics if the child was killed by a signal.
    pub fn exit_code(&mut self) -> i32 {
        let st = self.wait();
        assert!(
            libc::WIFEXITED(st),
            "forked child {} did not exit normally (status {st:#x})",
            self.pid
        );
        libc::WEXITSTATUS(st)
    }

    /// Sends `SIGKILL`.
    pub fn kill(&self) {
        // SAFETY: signalling our own, not yet reaped, child.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
    }
}

impl Drop for ForkedChild {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill();
            let mut status = 0;
            // SAFETY: reaping our own child with a valid status pointer.
            unsafe { libc::waitpid(self.pid, &mut status, 0) };
        }
    }
}

/// Forks; the child runs `f` and `_exit`s with its return value (101 if it panics).
///
/// The test harness is multithreaded, so `f` must only do what is safe after `fork`
/// in a multithreaded process: async-signal-safe syscalls, no allocation, no locks.
/// The `sys` wrappers qualify on their syscall paths (their errors from the OS carry
/// a raw errno, which does not allocate).
pub fn fork_child<F: FnOnce() -> i32>(f: F) -> ForkedChild {
    let _lock = fork_lock();
    // SAFETY: the child only runs `f` (restricted as documented above) and then
    // `_exit`s without returning into the harness or running destructors.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
        // SAFETY: `_exit` ends the child at once, skipping atexit handlers and the
        // parent's destructors (which would remove the parent's objects).
        unsafe { libc::_exit(code) };
    }
    ForkedChild { pid, reaped: false }
}

/// Environment variable naming the role of a re-executed test binary.
pub const ROLE_VAR: &str = "SYSVRING_TEST_ROLE";

/// The role this process was re-executed with, if any.
pub fn role() -> Option<String> {
    std::env::var(ROLE_VAR).ok()
}

/// Reads a numeric variable that the parent passed to a re-executed child.
pub fn env_i32(name: &str) -> i32 {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} not set"))
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A re-executed copy of this test binary running one test in a role; killed and
/// reaped on drop if still running.
#[derive(Debug)]
pub struct RoleChild {
    child: Child,
    done: bool,
}

/// Re-executes this test binary to run only `test` (`--exact`), with
/// [`ROLE_VAR`]`=role` and `envs` set. Output is captured and shown on failure.
pub fn spawn_role(test: &str, role: &str, envs: &[(&str, String)]) -> RoleChild {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE_VAR, role)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    RoleChild {
        child: cmd.spawn().expect("re-exec the test binary"),
        done: false,
    }
}

impl RoleChild {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits (watchdog: [`WATCHDOG`]) and returns the status and the captured output.
    pub fn wait(&mut self) -> (ExitStatus, String) {
        let status = wait_timeout(&mut self.child, WATCHDOG);
        self.done = true;
        let mut out = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut out);
        }
        (status, out)
    }

    /// Waits and panics (showing the child's output) unless it exited with 0.
    pub fn wait_success(&mut self) -> String {
        let (st, out) = self.wait();
        assert!(st.success(), "child failed with {st}:\n{out}");
        out
    }

    /// Sends `SIGKILL`.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }
}

impl Drop for RoleChild {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits for `child`, killing it and panicking when `limit` passes (watchdog).
pub fn wait_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "watchdog: child {} still running after {limit:?}",
                child.id()
            );
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Polls `cond` until it holds; panics with `what` when [`WATCHDOG`] passes.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WATCHDOG;
    while !cond() {
        assert!(Instant::now() < deadline, "watchdog: {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// One object listed in `/proc/sysvipc/{shm,sem,msg}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProcIpc {
    /// `"shm"`, `"sem"` or `"msg"`.
    pub kind: &'static str,
    pub key: i32,
    pub id: i32,
}

/// Every SysV IPC object the kernel lists now.
pub fn proc_sysvipc() -> Vec<ProcIpc> {
    let mut v = Vec::new();
    for kind in ["shm", "sem", "msg"] {
        let text = std::fs::read_to_string(format!("/proc/sysvipc/{kind}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let mut f = line.split_whitespace();
            let (Some(key), Some(id)) = (f.next(), f.next()) else {
                continue;
            };
            if let (Ok(key), Ok(id)) = (key.parse::<i64>(), id.parse::<i32>()) {
                v.push(ProcIpc {
                    kind,
                    key: key as i32,
                    id,
                });
            }
        }
    }
    v
}
