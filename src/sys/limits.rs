//! Host limits of System V IPC, as the kernel publishes them under `/proc/sys/kernel`.

use std::fs;
use std::io;

use super::{Result, SysError};

/// The System V IPC limits of this host (or of this IPC namespace).
///
/// Read from `/proc/sys/kernel/{shmmax,shmall,shmmni,msgmax,msgmnb,msgmni,sem}`.
/// Raise them with `sysctl` (e.g. `sysctl -w kernel.msgmax=65536`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest shared-memory segment, in bytes.
    pub shmmax: u64,
    /// Total shared memory, in pages.
    pub shmall: u64,
    /// Most shared-memory segments on the host.
    pub shmmni: u64,
    /// Largest message, in bytes.
    pub msgmax: u64,
    /// Default byte budget of a message queue (`msg_qbytes` of a new queue).
    pub msgmnb: u64,
    /// Most message queues on the host.
    pub msgmni: u64,
    /// Most semaphores in one set.
    pub semmsl: u64,
    /// Most semaphores on the host.
    pub semmns: u64,
    /// Most operations in one `semop` call.
    pub semopm: u64,
    /// Most semaphore sets on the host.
    pub semmni: u64,
    /// Largest value of a semaphore (fixed by the kernel, 32767).
    pub semvmx: u64,
}

fn read_u64(name: &str) -> io::Result<u64> {
    let path = format!("/proc/sys/kernel/{name}");
    let s = fs::read_to_string(&path)?;
    s.trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{path}: {e}")))
}

impl Limits {
    /// Reads the current limits.
    ///
    /// # Errors
    /// When `/proc/sys/kernel` cannot be read or holds something unexpected.
    pub fn read() -> io::Result<Limits> {
        Self::query().map_err(SysError::into_io_error)
    }

    /// [`read`](Self::read) as a `sys` result: a failure names the read of
    /// `/proc/sys/kernel` as its call.
    ///
    /// # Errors
    /// As for [`read`](Self::read).
    pub fn query() -> Result<Limits> {
        Self::parse().map_err(|e| SysError::new("read(/proc/sys/kernel)", e))
    }

    fn parse() -> io::Result<Limits> {
        let sem = fs::read_to_string("/proc/sys/kernel/sem")?;
        let f: Vec<u64> = sem
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if f.len() != 4 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "/proc/sys/kernel/sem: expected four numbers",
            ));
        }
        Ok(Limits {
            shmmax: read_u64("shmmax")?,
            shmall: read_u64("shmall")?,
            shmmni: read_u64("shmmni")?,
            msgmax: read_u64("msgmax")?,
            msgmnb: read_u64("msgmnb")?,
            msgmni: read_u64("msgmni")?,
            semmsl: f[0],
            semmns: f[1],
            semopm: f[2],
            semmni: f[3],
            semvmx: 32767,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_readable_and_sane() {
        let l = Limits::read().unwrap();
        assert!(l.shmmax > 0 && l.msgmax > 0 && l.msgmnb >= l.msgmax.min(l.msgmnb));
        assert!(l.semmsl >= 1 && l.semopm >= 1);
        assert_eq!(l.semvmx, 32767);
    }
}
