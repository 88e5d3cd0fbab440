//! Child processes: the one re-exec helper ([`Kid`]: this test binary again, running
//! one child test in a role) and, for the few tests whose child must change its
//! credentials, a forked child that only makes syscalls ([`fork_child`]). Both are
//! killed and reaped on drop, so a failing parent never leaves a child behind.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::WATCHDOG;

/// Environment variable naming the role a re-executed test binary plays.
pub const ROLE: &str = "SYSVRING_TEST_ROLE";

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

/// A re-executed copy of this test binary running one child test in a role. Its
/// output goes to a log file of its own (removed on drop) and is shown when it fails.
/// Killed and reaped on drop if it still runs.
#[derive(Debug)]
pub struct Kid {
    child: Child,
    log: PathBuf,
    name: String,
    done: bool,
}

impl Kid {
    /// Starts `test` (`--exact`) with [`ROLE`]`=role` and `envs`.
    pub fn spawn(test: &str, role: &str, envs: &[(&str, String)]) -> Kid {
        Kid::spawn_via(&[], test, role, envs)
    }

    /// [`Kid::spawn`] through a wrapper that execs the rest of its command line
    /// (`via`, e.g. `["unshare", "--ipc", "--"]`; empty: none).
    pub fn spawn_via(via: &[&str], test: &str, role: &str, envs: &[(&str, String)]) -> Kid {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let log = std::env::temp_dir().join(format!(
            "sysvring-kid-{}-{n}-{role}.log",
            std::process::id()
        ));
        let out = fs::File::create(&log).expect("create child log");
        let err = out.try_clone().expect("dup child log");
        let exe = std::env::current_exe().expect("current_exe");
        let mut cmd = match via.split_first() {
            None => Command::new(exe),
            Some((wrapper, args)) => {
                let mut c = Command::new(wrapper);
                c.args(args).arg(exe);
                c
            }
        };
        cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = fs::remove_file(&log);
                panic!("re-exec the test binary: {e}");
            }
        };
        Kid {
            child,
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
        let _ = fs::remove_file(&self.log);
    }
}

/// Waits for every kid; on the first failure the others are killed by their drop.
pub fn wait_all(kids: &mut [Kid]) {
    for k in kids.iter_mut() {
        k.wait_ok();
    }
}

/// Waits for a child that is not a [`Kid`] (another program), killing it and
/// panicking when `limit` passes (watchdog).
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
