//! Semaphore sets: `semget`, `semop`/`semtimedop`, `semctl`.

use std::io;
use std::time::{Duration, Instant, SystemTime};

use super::shm::time;
use super::{
    check_mode, cvt, probe_exists, removed_if_gone, removed_on_einval, IpcPerm, Key, Result,
    SysError,
};

/// One operation of an atomic `semop` call (`struct sembuf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemOp {
    /// Index of the semaphore in the set.
    pub num: u16,
    /// `> 0` adds, `< 0` waits until it can subtract, `0` waits for zero.
    pub op: i16,
    /// `IPC_NOWAIT` and/or `SEM_UNDO` (see [`SemOp::nowait`], [`SemOp::undo`]).
    pub flags: i16,
}

impl SemOp {
    /// An operation adding `op` to semaphore `num`, with no flags.
    pub const fn new(num: u16, op: i16) -> SemOp {
        SemOp { num, op, flags: 0 }
    }

    /// Adds `IPC_NOWAIT`: fail with `EAGAIN` instead of blocking.
    pub const fn nowait(mut self) -> SemOp {
        self.flags |= libc::IPC_NOWAIT as i16;
        self
    }

    /// Adds `SEM_UNDO`: the kernel reverts this change when the process exits.
    /// Only for balanced presence/lock operations: the per-process adjustment is
    /// limited to ±32767.
    pub const fn undo(mut self) -> SemOp {
        self.flags |= libc::SEM_UNDO as i16;
        self
    }

    fn raw(&self) -> libc::sembuf {
        libc::sembuf {
            sem_num: self.num,
            sem_op: self.op,
            sem_flg: self.flags,
        }
    }
}

/// `IPC_STAT` of a semaphore set, as in `struct semid_ds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemStat {
    /// Ownership and permissions.
    pub perm: IpcPerm,
    /// Number of semaphores in the set.
    pub nsems: u32,
    /// Time of the last `semop`.
    pub otime: SystemTime,
    /// Time of the last change.
    pub ctime: SystemTime,
}

/// A semaphore set, named by its id.
///
/// A plain handle: dropping it leaves the set in place; [`SemSet::remove`] removes it
/// and wakes every waiter with `EIDRM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SemSet {
    id: i32,
    nsems: u16,
}

const MAX_OPS: usize = 32;

impl SemSet {
    /// Creates a new set of `nsems` semaphores (all 0) with `IPC_CREAT | IPC_EXCL`.
    ///
    /// # Errors
    /// `EEXIST` when the key is taken, `EINVAL` when `nsems` is 0 or above `semmsl`,
    /// `ENOSPC` at the host's limits.
    pub fn create(key: Key, nsems: u16, mode: u32) -> Result<SemSet> {
        if nsems == 0 {
            return Err(SysError::invalid(
                "semget",
                "a set needs at least one semaphore",
            ));
        }
        let flags = libc::IPC_CREAT | libc::IPC_EXCL | check_mode("semget", mode)?;
        // SAFETY: semget takes plain integers.
        let id = cvt("semget", unsafe {
            libc::semget(key.raw(), i32::from(nsems), flags)
        })?;
        Ok(SemSet { id, nsems })
    }

    /// Opens the existing set at `key`.
    ///
    /// # Errors
    /// `ENOENT` when none exists, `EACCES` without permission.
    pub fn open(key: Key) -> Result<SemSet> {
        if key.is_private() {
            return Err(SysError::invalid(
                "semget",
                "IPC_PRIVATE cannot be opened, only created",
            ));
        }
        // SAFETY: semget takes plain integers.
        let id = cvt("semget", unsafe { libc::semget(key.raw(), 0, 0) })?;
        Self::from_id(id)
    }

    /// A handle for a known set id; reads the set's size with `IPC_STAT`.
    ///
    /// # Errors
    /// As [`SemSet::stat`].
    pub fn from_id(id: i32) -> Result<SemSet> {
        let mut s = SemSet { id, nsems: 1 };
        s.nsems = u16::try_from(s.stat()?.nsems).unwrap_or(u16::MAX);
        Ok(s)
    }

    /// The set id.
    pub const fn id(&self) -> i32 {
        self.id
    }

    /// Number of semaphores in the set.
    pub const fn len(&self) -> u16 {
        self.nsems
    }

    /// Whether the set is empty (never true for a real set).
    pub const fn is_empty(&self) -> bool {
        self.nsems == 0
    }

    fn check(&self, call: &'static str, num: u16) -> Result<libc::c_int> {
        if num >= self.nsems {
            return Err(SysError::invalid(call, "semaphore index out of range"));
        }
        Ok(libc::c_int::from(num))
    }

    fn ctl(&self, num: u16, cmd: libc::c_int) -> Result<libc::c_int> {
        let n = self.check("semctl", num)?;
        // SAFETY: these commands (GETVAL, GETNCNT, GETZCNT, GETPID) take no fourth
        // argument.
        cvt("semctl", unsafe { libc::semctl(self.id, n, cmd) }).map_err(|e| self.gone(e))
    }

    /// Whether the set still exists (for telling a removed id from a bad argument).
    fn exists(&self) -> bool {
        // SAFETY: semid_ds is plain data; IPC_STAT writes one through the pointer.
        let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        probe_exists(unsafe {
            libc::semctl(self.id, 0, libc::IPC_STAT, &mut ds as *mut libc::semid_ds)
        })
    }

    fn gone(&self, e: SysError) -> SysError {
        removed_if_gone(e, || self.exists())
    }

    /// `SETVAL`: sets semaphore `num` to `val` (0..=32767). Clears every process's
    /// undo adjustment for it.
    ///
    /// # Errors
    /// `ERANGE` above 32767, `EINVAL` for an index out of range.
    pub fn set_val(&self, num: u16, val: i32) -> Result<()> {
        let n = self.check("semctl", num)?;
        // SAFETY: SETVAL takes `union semun` by value; its `val` member is a c_int, which
        // is what we pass (the x86_64/aarch64 ABI passes it in the same register).
        cvt("semctl", unsafe {
            libc::semctl(self.id, n, libc::SETVAL, val as libc::c_int)
        })
        .map_err(|e| self.gone(e))?;
        Ok(())
    }

    /// `GETVAL`: the value of semaphore `num`.
    ///
    /// # Errors
    /// `EINVAL` for an index out of range or a removed set.
    pub fn get_val(&self, num: u16) -> Result<i32> {
        self.ctl(num, libc::GETVAL)
    }

    /// `GETALL`: every value in the set.
    ///
    /// # Errors
    /// `EACCES` without read permission, `EIDRM`/`EINVAL` when removed.
    pub fn get_all(&self) -> Result<Vec<u16>> {
        let mut v = vec![0u16; usize::from(self.nsems)];
        // SAFETY: GETALL writes `nsems` unsigned shorts through the pointer; `v` has
        // exactly that many.
        cvt("semctl", unsafe {
            libc::semctl(self.id, 0, libc::GETALL, v.as_mut_ptr())
        })
        .map_err(|e| self.gone(e))?;
        Ok(v)
    }

    /// `SETALL`: sets every value in the set.
    ///
    /// # Errors
    /// `EINVAL` when `vals` does not have one value per semaphore, `ERANGE` above 32767.
    pub fn set_all(&self, vals: &[u16]) -> Result<()> {
        if vals.len() != usize::from(self.nsems) {
            return Err(SysError::invalid(
                "semctl",
                "SETALL needs one value per semaphore",
            ));
        }
        // SAFETY: SETALL reads `nsems` unsigned shorts through the pointer; `vals` has
        // exactly that many and outlives the call.
        cvt("semctl", unsafe {
            libc::semctl(self.id, 0, libc::SETALL, vals.as_ptr())
        })
        .map_err(|e| self.gone(e))?;
        Ok(())
    }

    /// `GETNCNT`: how many processes wait for semaphore `num` to increase.
    ///
    /// # Errors
    /// As [`SemSet::get_val`].
    pub fn get_ncnt(&self, num: u16) -> Result<i32> {
        self.ctl(num, libc::GETNCNT)
    }

    /// `GETZCNT`: how many processes wait for semaphore `num` to become zero.
    ///
    /// # Errors
    /// As [`SemSet::get_val`].
    pub fn get_zcnt(&self, num: u16) -> Result<i32> {
        self.ctl(num, libc::GETZCNT)
    }

    /// `GETPID`: pid of the last process that operated on semaphore `num`.
    ///
    /// # Errors
    /// As [`SemSet::get_val`].
    pub fn get_pid(&self, num: u16) -> Result<i32> {
        self.ctl(num, libc::GETPID)
    }

    /// `IPC_STAT`.
    ///
    /// # Errors
    /// `EACCES` without read permission, `EIDRM`/`EINVAL` when removed.
    pub fn stat(&self) -> Result<SemStat> {
        // SAFETY: semid_ds is plain data; all-zero is a valid value.
        let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: IPC_STAT writes a semid_ds through the pointer; `ds` is one.
        cvt("semctl", unsafe {
            libc::semctl(self.id, 0, libc::IPC_STAT, &mut ds as *mut libc::semid_ds)
        })
        .map_err(removed_on_einval)?;
        Ok(SemStat {
            perm: IpcPerm::from_raw(&ds.sem_perm),
            nsems: ds.sem_nsems as u32,
            otime: time(ds.sem_otime),
            ctime: time(ds.sem_ctime),
        })
    }

    /// `IPC_RMID`: removes the set at once; blocked waiters fail with `EIDRM`.
    ///
    /// # Errors
    /// `EPERM` unless owner, creator or privileged; `EINVAL`/`EIDRM` when already gone.
    pub fn remove(&self) -> Result<()> {
        // SAFETY: IPC_RMID takes no fourth argument.
        cvt("semctl", unsafe {
            libc::semctl(self.id, 0, libc::IPC_RMID)
        })
        .map_err(removed_on_einval)?;
        Ok(())
    }

    fn raw_ops(&self, ops: &[SemOp], buf: &mut [libc::sembuf; MAX_OPS]) -> Result<usize> {
        if ops.is_empty() || ops.len() > MAX_OPS {
            return Err(SysError::invalid(
                "semop",
                "between 1 and 32 operations per call",
            ));
        }
        for (i, op) in ops.iter().enumerate() {
            self.check("semop", op.num)?;
            buf[i] = op.raw();
        }
        Ok(ops.len())
    }

    /// `semop`: applies every operation atomically, blocking as they require.
    /// `EINTR` is retried.
    ///
    /// # Errors
    /// [`SysError::is_would_block`] when an `IPC_NOWAIT` operation would block,
    /// [`SysError::is_removed`] when the set is removed (also while blocked),
    /// `ERANGE` when a value or an undo adjustment would pass 32767,
    /// `EINVAL` (before any call) for an index out of range or 0 or more than 32 ops.
    pub fn op(&self, ops: &[SemOp]) -> Result<()> {
        // SAFETY: sembuf is plain data; all-zero is valid.
        let mut buf: [libc::sembuf; MAX_OPS] = unsafe { std::mem::zeroed() };
        let n = self.raw_ops(ops, &mut buf)?;
        loop {
            // SAFETY: `buf` holds `n` initialised sembufs.
            let r = unsafe { libc::semop(self.id, buf.as_mut_ptr(), n) };
            if r == 0 {
                return Ok(());
            }
            let e = SysError::last("semop");
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(self.gone(e));
            }
        }
    }

    /// `semtimedop`: like [`SemSet::op`], but gives up after `timeout`.
    /// `EINTR` is retried with the time that is left.
    ///
    /// # Errors
    /// [`SysError::is_timeout`] (kind `TimedOut`) when the time ran out, otherwise as
    /// [`SemSet::op`].
    pub fn op_timeout(&self, ops: &[SemOp], timeout: Duration) -> Result<()> {
        // SAFETY: sembuf is plain data; all-zero is valid.
        let mut buf: [libc::sembuf; MAX_OPS] = unsafe { std::mem::zeroed() };
        let n = self.raw_ops(ops, &mut buf)?;
        let start = Instant::now();
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            let ts = libc::timespec {
                tv_sec: left.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            };
            // SAFETY: semtimedop(semid, sops, nsops, timeout): `buf` holds `n` sembufs
            // and `ts` is a valid timespec; both outlive the call.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_semtimedop,
                    self.id,
                    buf.as_mut_ptr(),
                    n,
                    &ts as *const libc::timespec,
                )
            };
            if r == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN)
                    if ops.iter().all(|o| o.flags & libc::IPC_NOWAIT as i16 == 0) =>
                {
                    return Err(SysError::new(
                        "semtimedop",
                        io::Error::from(io::ErrorKind::TimedOut),
                    ));
                }
                _ => return Err(self.gone(SysError::new("semtimedop", e))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(n: u16) -> SemSet {
        SemSet::create(Key::private(), n, 0o600).unwrap()
    }

    #[test]
    fn values_and_ops() {
        let s = set(3);
        assert_eq!(s.len(), 3);
        s.set_val(1, 5).unwrap();
        assert_eq!(s.get_val(1).unwrap(), 5);
        s.op(&[SemOp::new(1, -2), SemOp::new(2, 1)]).unwrap();
        assert_eq!(s.get_all().unwrap(), vec![0, 3, 1]);
        s.set_all(&[1, 2, 3]).unwrap();
        assert_eq!(s.get_all().unwrap(), vec![1, 2, 3]);
        assert_eq!(s.get_pid(0).unwrap(), crate::sys::current_pid());
        assert_eq!(s.get_ncnt(0).unwrap(), 0);
        assert_eq!(s.get_zcnt(0).unwrap(), 0);
        assert_eq!(s.stat().unwrap().nsems, 3);
        s.remove().unwrap();
    }

    #[test]
    fn nowait_and_timeout_are_reported() {
        let s = set(1);
        let e = s.op(&[SemOp::new(0, -1).nowait()]).unwrap_err();
        assert!(e.is_would_block(), "{e}");
        let e = s
            .op_timeout(&[SemOp::new(0, -1)], Duration::from_millis(20))
            .unwrap_err();
        assert!(e.is_timeout(), "{e}");
        assert_eq!(e.call(), "semtimedop");
        s.remove().unwrap();
    }

    #[test]
    fn bad_index_and_range() {
        let s = set(2);
        let e = s.get_val(2).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(s.op(&[SemOp::new(7, 1)]).is_err());
        assert!(s.op(&[]).is_err());
        let e = s.set_val(0, 40000).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ERANGE));
        s.remove().unwrap();
        assert!(s.get_val(0).unwrap_err().is_removed());
    }
}
