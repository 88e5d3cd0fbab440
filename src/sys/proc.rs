//! Process identity: pid, liveness and start time (to tell a reused pid apart); the
//! fork generation, membarrier, and the coarse clock that bounds how often a handle
//! asks the kernel about its peers.

use std::fs;

/// The calling process's id.
pub fn current_pid() -> i32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    unsafe { libc::getpid() }
}

/// `CLOCK_MONOTONIC_COARSE` in nanoseconds: the monotonic time of the last timer
/// tick (a resolution of 1 to 10 ms, `CONFIG_HZ`), read from the vDSO without a
/// syscall and without reading a hardware clock, so a few nanoseconds whatever the
/// clock source. For spacing out checks, never for measuring.
#[inline]
pub fn coarse_monotonic_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; CLOCK_MONOTONIC_COARSE exists on
    // every Linux this crate supports, so the call cannot fail (it would leave zero).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut t) };
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}

/// The calling process's effective user id.
pub fn current_euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether a process with this pid exists (`kill(pid, 0)`; `EPERM` counts as alive).
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission check.
    let r = unsafe { libc::kill(pid, 0) };
    let exists = r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    // A zombie (killed, not yet reaped) still answers kill(0) but is dead.
    exists && !matches!(process_state(pid), Some('Z') | Some('X'))
}

/// The state letter of `pid` (field 3 of `/proc/PID/stat`).
fn process_state(pid: i32) -> Option<char> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// The start time of `pid` in clock ticks since boot (field 22 of `/proc/PID/stat`),
/// or `None` when the process does not exist. A pid and its start time together name
/// one process even when the pid is reused.
pub fn process_start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: skip past the last ')'.
    let rest = &s[s.rfind(')')? + 1..];
    // After ')' come field 3 (state) onwards; start time is field 22.
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// The inode of this process's pid namespace (`/proc/self/ns/pid`), 0 if unknown.
/// Pids from another namespace name other processes (or none) here.
pub fn pid_namespace() -> u64 {
    use std::os::unix::fs::MetadataExt;
    static NS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *NS.get_or_init(|| fs::metadata("/proc/self/ns/pid").map_or(0, |m| m.ino()))
}

/// Whether the process `pid`, started at `start` (the low 32 bits of its start time
/// in clock ticks since boot; 0 if unknown), in pid namespace `pid_ns` (0 if
/// unknown), is **proven** gone: no such pid, a zombie, or the pid now names a
/// process started at another time (reused).
///
/// Anything that cannot be proven counts as alive: a stopped, traced, throttled or
/// swapped-out process, a pid of another pid namespace, a pid we may not signal or
/// whose `/proc` entry we cannot read. Recovery that frees a claim of a live process
/// would let its late write land in someone else's slot.
pub fn process_gone(pid: u32, start: u32, pid_ns: u64) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    let ours = pid_namespace();
    if pid_ns != 0 && ours != 0 && pid_ns != ours {
        return false;
    }
    if !pid_alive(pid) {
        return true;
    }
    match process_start_time(pid) {
        Some(t) => start != 0 && t as u32 != start,
        // Vanished between the two reads, or unreadable: gone only if kill says so.
        None => !pid_alive(pid),
    }
}

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Once;

static FORKS: AtomicU64 = AtomicU64::new(0);
static ATFORK: Once = Once::new();

extern "C" fn on_fork_child() {
    // Async-signal-safe: atomic stores only. A child is not registered for
    // membarrier (registration belongs to the address space).
    FORKS.fetch_add(1, Ordering::Relaxed);
    MEMBARRIER.store(false, Ordering::Relaxed);
}

static MEMBARRIER: AtomicBool = AtomicBool::new(false);

const MEMBARRIER_CMD_GLOBAL_EXPEDITED: libc::c_int = 1 << 1;
const MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED: libc::c_int = 1 << 2;

/// Registers this process for `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)` barriers
/// issued by other processes; returns whether it is registered (false on kernels
/// without it). Idempotent; a forked child must register again.
pub fn membarrier_register() -> bool {
    fork_generation(); // installs the atfork handler that clears the flag in children
                       // SAFETY: membarrier(cmd, flags, cpu_id) takes plain integers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED,
            0,
            0,
        )
    };
    let ok = r == 0;
    MEMBARRIER.store(ok, Ordering::Relaxed);
    ok
}

/// Whether this process is registered (see [`membarrier_register`]).
#[inline]
pub fn membarrier_registered() -> bool {
    MEMBARRIER.load(Ordering::Relaxed)
}

/// `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`: every running thread of every
/// registered process executes a full memory barrier before this returns. Lets a
/// slow path pair with fast paths that use only a compiler fence. Returns false when
/// the kernel refuses.
pub fn membarrier_global() -> bool {
    // SAFETY: membarrier(cmd, flags, cpu_id) takes plain integers.
    unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0 }
}

/// A counter that changes in a child process after every `fork(2)`: a handle that
/// saved it can tell, with one atomic load, whether it is still in the process that
/// made it (SEM_UNDO adjustments are per process and not inherited).
///
/// The first call registers a `pthread_atfork` child handler; forks before it are
/// not counted, so call it when a handle is made.
#[inline]
pub fn fork_generation() -> u64 {
    ATFORK.call_once(|| {
        // SAFETY: registers a child handler that only does an atomic increment, which
        // is async-signal-safe; no prepare/parent handlers.
        unsafe {
            libc::pthread_atfork(None, None, Some(on_fork_child));
        }
    });
    FORKS.load(Ordering::Relaxed)
}

/// Whether this is no longer the process in which [`fork_generation`] returned
/// `generation`: one load, for the hot path of a handle that called
/// `fork_generation` when it was made (which installed the counting handler).
#[inline(always)]
pub fn forked_since(generation: u64) -> bool {
    FORKS.load(Ordering::Relaxed) != generation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_clock_moves_forward() {
        let a = coarse_monotonic_ns();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let b = coarse_monotonic_ns();
        assert!(a > 0 && b > a, "{a} then {b}");
    }

    #[test]
    fn self_is_alive_with_a_start_time() {
        let me = current_pid();
        assert!(pid_alive(me));
        let t = process_start_time(me).unwrap();
        assert_eq!(process_start_time(me), Some(t));
        assert!(!pid_alive(0));
        assert!(!process_gone(me as u32, t as u32, pid_namespace()));
        assert!(!process_gone(me as u32, 0, 0), "unknown start: not proven");
        assert!(
            process_gone(me as u32, t as u32 ^ 1, 0),
            "another start: reused"
        );
        assert!(
            !process_gone(me as u32, t as u32 ^ 1, pid_namespace() ^ 1),
            "other ns"
        );
        assert!(!process_gone(0, 0, 0));
        assert_eq!(process_start_time(-1), None);
    }
}
