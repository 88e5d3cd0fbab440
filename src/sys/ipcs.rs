//! The kernel's tables of System V objects, `/proc/sysvipc/{shm,sem,msg}` (what
//! `ipcs` prints): the one parser of them in the crate.

use std::fs;
use std::io;

/// Which table of `/proc/sysvipc` to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpcKind {
    /// Shared-memory segments (`/proc/sysvipc/shm`).
    Shm,
    /// Semaphore sets (`/proc/sysvipc/sem`).
    Sem,
    /// Message queues (`/proc/sysvipc/msg`).
    Msg,
}

impl IpcKind {
    fn file(self) -> &'static str {
        match self {
            IpcKind::Shm => "/proc/sysvipc/shm",
            IpcKind::Sem => "/proc/sysvipc/sem",
            IpcKind::Msg => "/proc/sysvipc/msg",
        }
    }
}

/// One row of a `/proc/sysvipc` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpcEntry {
    /// The key (0 for `IPC_PRIVATE`).
    pub key: i32,
    /// The object's id.
    pub id: i32,
    /// Every numeric column of the row in order, key and id included (`perms` is
    /// read as the decimal number the kernel prints); e.g. `columns[3]` is a
    /// segment's size or a set's number of semaphores.
    pub columns: Vec<i64>,
}

/// The objects of one kind in this IPC namespace, as the kernel lists them.
///
/// # Errors
/// When the table cannot be read (no System V IPC, or no `/proc`).
pub fn ipc_entries(kind: IpcKind) -> io::Result<Vec<IpcEntry>> {
    let text = fs::read_to_string(kind.file())?;
    Ok(text
        .lines()
        .skip(1)
        .map(|l| {
            l.split_whitespace()
                .filter_map(|w| w.parse::<i64>().ok())
                .collect::<Vec<_>>()
        })
        .filter(|r| r.len() >= 2)
        .map(|columns| IpcEntry {
            key: columns[0] as i32,
            id: columns[1] as i32,
            columns,
        })
        .collect())
}
