//! Safe, thin wrappers over System V IPC: keys, shared memory, semaphore sets and
//! message queues.
//!
//! This is the only module of the crate that calls `libc::`. Each wrapper is one
//! syscall (or a small, documented group of them); nothing here knows about rings or
//! channels. Every failure is a [`SysError`]: the name of the syscall plus the
//! [`io::Error`] it produced, so a message always says *which* call failed.
//!
//! Ownership is explicit: handles ([`Shm`], [`SemSet`], [`MsgQueue`]) are plain ids
//! and never remove the kernel object on drop; only an explicit `remove()` does.
//! An [`Attachment`] (a mapped segment) is detached when it is dropped.

use std::fmt;
use std::io;

mod ipcs;
mod key;
mod limits;
mod msg;
mod proc;
mod sem;
mod shm;

pub use ipcs::{ipc_entries, IpcEntry, IpcKind};
pub use key::Key;
pub use limits::Limits;
pub use msg::{MsgQueue, MsgStat, RecvSelect};
pub use proc::{
    coarse_monotonic_ns, current_euid, current_pid, fork_generation, forked_since,
    membarrier_global, membarrier_register, membarrier_registered, pid_alive, pid_namespace,
    process_gone, process_start_time,
};
pub use sem::{SemOp, SemSet, SemStat};
pub use shm::{Attachment, Shm, ShmStat};

/// A failed System V call: the syscall's name and the OS error it returned.
///
/// Converts into [`io::Error`] (keeping the kind and the OS error code) and into
/// [`crate::Error`].
#[derive(Debug)]
pub struct SysError {
    call: &'static str,
    source: io::Error,
}

impl SysError {
    /// Wraps an OS error produced by `call`.
    pub fn new(call: &'static str, source: io::Error) -> Self {
        SysError { call, source }
    }

    /// The error of the last failed libc call (`errno`), attributed to `call`.
    pub fn last(call: &'static str) -> Self {
        SysError::new(call, io::Error::last_os_error())
    }

    fn from_errno(call: &'static str, errno: i32) -> Self {
        SysError::new(call, io::Error::from_raw_os_error(errno))
    }

    fn invalid(call: &'static str, msg: &'static str) -> Self {
        SysError::new(call, io::Error::new(io::ErrorKind::InvalidInput, msg))
    }

    /// The name of the syscall that failed, e.g. `"shmget"`.
    pub fn call(&self) -> &'static str {
        self.call
    }

    /// The underlying OS error.
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }

    /// The error's kind.
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }

    /// The raw `errno`, when the error came from the OS.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.raw_os_error()
    }

    /// `EIDRM`: the object was removed (before or during the call). Calls on an id
    /// report an id that no longer exists as `EIDRM` too, never as `EINVAL`.
    pub fn is_removed(&self) -> bool {
        self.raw_os_error() == Some(libc::EIDRM)
    }

    /// `EAGAIN` from a non-blocking operation (`IPC_NOWAIT`) that would have blocked.
    pub fn is_would_block(&self) -> bool {
        self.raw_os_error() == Some(libc::EAGAIN) || self.kind() == io::ErrorKind::WouldBlock
    }

    /// A timed wait ran out of time.
    pub fn is_timeout(&self) -> bool {
        self.kind() == io::ErrorKind::TimedOut
    }

    /// `ENOENT`: no object exists for the key.
    pub fn is_not_found(&self) -> bool {
        self.raw_os_error() == Some(libc::ENOENT)
    }

    /// `EEXIST`: `IPC_EXCL` and an object already exists for the key.
    pub fn is_already_exists(&self) -> bool {
        self.raw_os_error() == Some(libc::EEXIST)
    }

    /// `EACCES`/`EPERM`: the caller lacks permission.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM))
    }

    /// Consumes the error, returning the underlying [`io::Error`].
    pub fn into_io_error(self) -> io::Error {
        self.source
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.call, self.source)
    }
}

impl std::error::Error for SysError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl From<SysError> for io::Error {
    fn from(e: SysError) -> io::Error {
        let kind = e.source.kind();
        match e.source.raw_os_error() {
            // Keep the errno so callers can still match on it; the call name goes
            // into the message of a custom error only when there is no errno.
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(kind, e.to_string()),
        }
    }
}

/// The result of a `sys` call.
pub type Result<T> = std::result::Result<T, SysError>;

/// Maps the `-1` sentinel of a libc call to the `errno` it set.
fn cvt(call: &'static str, ret: libc::c_int) -> Result<libc::c_int> {
    if ret == -1 {
        Err(SysError::last(call))
    } else {
        Ok(ret)
    }
}

/// `EINVAL` from a call on an id is ambiguous: a bad argument, or an id that no
/// longer exists. `exists` asks the kernel (`IPC_STAT`); when the id is gone the
/// error becomes `EIDRM`, so [`SysError::is_removed`] is exact.
fn removed_if_gone(e: SysError, exists: impl FnOnce() -> bool) -> SysError {
    if e.raw_os_error() == Some(libc::EINVAL) && !exists() {
        SysError::from_errno(e.call, libc::EIDRM)
    } else {
        e
    }
}

/// `EINVAL` from `IPC_STAT`/`IPC_RMID`/`shmat` on an id always means the id is gone.
fn removed_on_einval(e: SysError) -> SysError {
    removed_if_gone(e, || false)
}

/// Whether an `IPC_STAT`-style probe says the id still exists (any error other than
/// `EINVAL`/`EIDRM`, e.g. `EACCES`, means it exists).
fn probe_exists(ret: libc::c_int) -> bool {
    ret != -1
        || !matches!(
            io::Error::last_os_error().raw_os_error(),
            Some(libc::EINVAL) | Some(libc::EIDRM)
        )
}

/// Permission bits and ownership of an IPC object, as in `struct ipc_perm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpcPerm {
    /// The key the object was created with (0 for `IPC_PRIVATE`).
    pub key: i32,
    /// Owner's user id.
    pub uid: u32,
    /// Owner's group id.
    pub gid: u32,
    /// Creator's user id.
    pub cuid: u32,
    /// Creator's group id.
    pub cgid: u32,
    /// Permission bits (the low 9 bits are `rwxrwxrwx`; SHM adds state bits above).
    pub mode: u32,
    /// Slot usage sequence number.
    pub seq: u32,
}

impl IpcPerm {
    fn from_raw(p: &libc::ipc_perm) -> Self {
        IpcPerm {
            key: p.__key,
            uid: p.uid,
            gid: p.gid,
            cuid: p.cuid,
            cgid: p.cgid,
            mode: u32::from(p.mode),
            seq: u32::from(p.__seq),
        }
    }
}

/// The check every `*get` wrapper makes of its permission bits before the call (only
/// `rwxrwxrwx` may be given), for a caller that wants to refuse a mode before it
/// makes anything. The error names `call`, the call that would refuse it.
///
/// # Errors
/// `InvalidInput` when `mode` has bits other than `0o777`.
pub fn validate_mode(call: &'static str, mode: u32) -> Result<()> {
    check_mode(call, mode).map(|_| ())
}

/// Validates permission bits: only `rwxrwxrwx` may be given.
fn check_mode(call: &'static str, mode: u32) -> Result<libc::c_int> {
    if mode & !0o777 != 0 {
        return Err(SysError::invalid(call, "mode has bits other than 0o777"));
    }
    Ok(mode as libc::c_int)
}
