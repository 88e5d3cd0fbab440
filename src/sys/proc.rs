//! Process identity: pid, liveness and start time (to tell a reused pid apart).

use std::fs;

/// The calling process's id.
pub fn current_pid() -> i32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    unsafe { libc::getpid() }
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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static FORKS: AtomicU64 = AtomicU64::new(0);
static ATFORK: Once = Once::new();

extern "C" fn on_fork_child() {
    // Async-signal-safe: one atomic increment.
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// A counter that changes in a child process after every `fork(2)`: a handle that
/// saved it can tell, with one atomic load, whether it is still in the process that
/// made it (SEM_UNDO adjustments are per process and not inherited).
///
/// The first call registers a `pthread_atfork` child handler; forks before it are
/// not counted, so call it when a handle is made.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_is_alive_with_a_start_time() {
        let me = current_pid();
        assert!(pid_alive(me));
        let t = process_start_time(me).unwrap();
        assert_eq!(process_start_time(me), Some(t));
        assert!(!pid_alive(0));
        assert_eq!(process_start_time(-1), None);
    }
}
