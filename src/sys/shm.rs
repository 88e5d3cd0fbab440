//! Shared-memory segments: `shmget`, `shmat`/`shmdt`, `shmctl`.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{check_mode, cvt, removed_on_einval, IpcPerm, Key, Result, SysError};

/// A shared-memory segment, named by its id.
///
/// A plain handle: dropping it leaves the segment in place. [`Shm::remove`] marks it
/// for removal (`IPC_RMID`); the kernel frees it after the last detach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shm {
    id: i32,
}

/// `IPC_STAT` of a segment, as in `struct shmid_ds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShmStat {
    /// Ownership and permissions.
    pub perm: IpcPerm,
    /// Size in bytes (`shm_segsz`).
    pub size: u64,
    /// Number of current attachments (`shm_nattch`).
    pub nattch: u64,
    /// Pid of the creator (`shm_cpid`).
    pub cpid: i32,
    /// Pid of the last `shmat`/`shmdt` (`shm_lpid`).
    pub lpid: i32,
    /// Last attach time.
    pub atime: SystemTime,
    /// Last detach time.
    pub dtime: SystemTime,
    /// Last change time.
    pub ctime: SystemTime,
}

impl ShmStat {
    /// Whether `IPC_RMID` was called and the segment waits for its last detach.
    pub fn is_marked_for_removal(&self) -> bool {
        self.perm.mode & SHM_DEST != 0
    }
}

/// `SHM_DEST` from <linux/shm.h>: set in the mode of a segment marked for removal.
const SHM_DEST: u32 = 0o1000;

pub(super) fn time(t: libc::time_t) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(t.max(0) as u64)
}

impl Shm {
    /// Creates a new segment of `size` bytes with `IPC_CREAT | IPC_EXCL` and `mode`.
    ///
    /// # Errors
    /// `EEXIST` when the key is taken, `EINVAL` when `size` is 0 or above `shmmax`,
    /// `ENOSPC`/`ENOMEM` when the host's limits are reached.
    pub fn create(key: Key, size: usize, mode: u32) -> Result<Shm> {
        Self::get(
            key,
            size,
            libc::IPC_CREAT | libc::IPC_EXCL | check_mode("shmget", mode)?,
        )
    }

    /// Opens the segment at `key`, creating it (not exclusively) if none exists.
    ///
    /// # Errors
    /// As [`Shm::create`], but an existing segment is returned; `EINVAL` when it is
    /// smaller than `size`.
    pub fn open_or_create(key: Key, size: usize, mode: u32) -> Result<Shm> {
        Self::get(key, size, libc::IPC_CREAT | check_mode("shmget", mode)?)
    }

    /// Opens the existing segment at `key`.
    ///
    /// # Errors
    /// `ENOENT` when no segment exists, `EACCES` without permission.
    pub fn open(key: Key) -> Result<Shm> {
        if key.is_private() {
            return Err(SysError::invalid(
                "shmget",
                "IPC_PRIVATE cannot be opened, only created",
            ));
        }
        Self::get(key, 0, 0)
    }

    fn get(key: Key, size: usize, flags: i32) -> Result<Shm> {
        if size == 0 && flags & libc::IPC_CREAT != 0 {
            return Err(SysError::invalid(
                "shmget",
                "a segment's size must not be 0",
            ));
        }
        // SAFETY: shmget takes plain integers.
        let id = cvt("shmget", unsafe { libc::shmget(key.raw(), size, flags) })?;
        Ok(Shm { id })
    }

    /// A handle for a known segment id (e.g. from `/proc/sysvipc/shm`). Not checked
    /// until used.
    pub const fn from_id(id: i32) -> Shm {
        Shm { id }
    }

    /// The segment id.
    pub const fn id(&self) -> i32 {
        self.id
    }

    /// Attaches the segment read-write (or `SHM_RDONLY` when `read_only`).
    ///
    /// # Errors
    /// `EACCES` without permission, `EIDRM`/`EINVAL` when the segment was removed.
    pub fn attach(&self, read_only: bool) -> Result<Attachment> {
        let size = self.stat()?.size as usize;
        let flags = if read_only { libc::SHM_RDONLY } else { 0 };
        // SAFETY: a null address lets the kernel choose where to map; the returned
        // mapping is owned by the Attachment and detached exactly once in its Drop.
        let p = unsafe { libc::shmat(self.id, std::ptr::null(), flags) };
        if p as isize == -1 {
            return Err(removed_on_einval(SysError::last("shmat")));
        }
        let ptr = NonNull::new(p.cast::<u8>())
            .ok_or_else(|| SysError::invalid("shmat", "null mapping"))?;
        Ok(Attachment {
            ptr,
            len: size,
            read_only,
            shm: *self,
        })
    }

    /// `IPC_STAT`.
    ///
    /// # Errors
    /// `EACCES` without read permission, `EINVAL`/`EIDRM` when removed.
    pub fn stat(&self) -> Result<ShmStat> {
        let ds = self.raw_stat()?;
        Ok(ShmStat {
            perm: IpcPerm::from_raw(&ds.shm_perm),
            size: ds.shm_segsz as u64,
            nattch: ds.shm_nattch,
            cpid: ds.shm_cpid,
            lpid: ds.shm_lpid,
            atime: time(ds.shm_atime),
            dtime: time(ds.shm_dtime),
            ctime: time(ds.shm_ctime),
        })
    }

    fn raw_stat(&self) -> Result<libc::shmid_ds> {
        // SAFETY: shmid_ds is plain data; all-zero is a valid value.
        let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: `ds` is a valid, writable shmid_ds for IPC_STAT to fill.
        cvt("shmctl", unsafe {
            libc::shmctl(self.id, libc::IPC_STAT, &mut ds)
        })
        .map_err(removed_on_einval)?;
        Ok(ds)
    }

    /// `IPC_SET`: changes owner uid/gid and permission bits.
    ///
    /// # Errors
    /// `EPERM` unless the caller is the owner, creator or privileged.
    pub fn set(&self, uid: u32, gid: u32, mode: u32) -> Result<()> {
        let mode = check_mode("shmctl", mode)?;
        let mut ds = self.raw_stat()?;
        ds.shm_perm.uid = uid;
        ds.shm_perm.gid = gid;
        ds.shm_perm.mode = mode as libc::c_ushort;
        // SAFETY: `ds` is a fully initialised shmid_ds read back from the kernel.
        cvt("shmctl", unsafe {
            libc::shmctl(self.id, libc::IPC_SET, &mut ds)
        })
        .map_err(removed_on_einval)?;
        Ok(())
    }

    /// `IPC_RMID`: marks the segment for removal; it goes away after the last detach
    /// and its key is free at once.
    ///
    /// # Errors
    /// `EPERM` unless owner, creator or privileged; `EINVAL`/`EIDRM` when already gone.
    pub fn remove(&self) -> Result<()> {
        // SAFETY: IPC_RMID takes no buffer.
        cvt("shmctl", unsafe {
            libc::shmctl(self.id, libc::IPC_RMID, std::ptr::null_mut())
        })
        .map_err(removed_on_einval)?;
        Ok(())
    }
}

/// A mapping of a segment into this process; detached (`shmdt`) on drop.
///
/// The memory is shared with other processes that may write it at any time, so it is
/// exposed only as a raw pointer plus copying accessors that copy byte-wise
/// atomically: never as a Rust reference to plain bytes.
#[derive(Debug)]
pub struct Attachment {
    ptr: NonNull<u8>,
    len: usize,
    read_only: bool,
    shm: Shm,
}

// SAFETY: the attachment is a process-wide mapping with no thread affinity; all access
// through it is by raw pointer (callers synchronise with atomics).
unsafe impl Send for Attachment {}
// SAFETY: as above: &Attachment only hands out the raw pointer and copies.
unsafe impl Sync for Attachment {}

impl Attachment {
    /// Start of the mapping.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length of the mapping (the segment size at attach time).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never true for a real segment).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether it was attached with `SHM_RDONLY`.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The segment this maps.
    pub fn shm(&self) -> Shm {
        self.shm
    }

    /// Copies `buf.len()` bytes starting at `offset` out of the segment.
    ///
    /// The copy is byte-wise atomic (Relaxed loads): other processes may write the
    /// segment meanwhile without a data race, but the copy may then mix old and new
    /// bytes. Order it against their writes with atomics of your own.
    ///
    /// # Panics
    /// When the range is out of bounds.
    pub fn read(&self, offset: usize, buf: &mut [u8]) {
        assert!(
            offset.checked_add(buf.len()).is_some_and(|e| e <= self.len),
            "read out of bounds"
        );
        for (i, b) in buf.iter_mut().enumerate() {
            // SAFETY: `offset + i < len`, so the byte is inside the mapping, which stays
            // mapped while `self` lives; `AtomicU8` has the size and alignment of `u8`
            // and is valid for any bit pattern; an atomic load does not race with the
            // (atomic or not) writes of other processes in this process's model.
            *b = unsafe { &*self.ptr.as_ptr().add(offset + i).cast::<AtomicU8>() }
                .load(Ordering::Relaxed);
        }
    }

    /// Copies `data` into the segment at `offset`, byte-wise atomically (Relaxed
    /// stores; see [`read`](Self::read)).
    ///
    /// # Panics
    /// When the range is out of bounds or the mapping is read-only.
    pub fn write(&self, offset: usize, data: &[u8]) {
        assert!(!self.read_only, "write to a read-only attachment");
        assert!(
            offset
                .checked_add(data.len())
                .is_some_and(|e| e <= self.len),
            "write out of bounds"
        );
        for (i, &b) in data.iter().enumerate() {
            // SAFETY: `offset + i < len` inside a writable mapping (checked above) that
            // stays mapped while `self` lives; `AtomicU8` has the layout of `u8`; an
            // atomic store does not race with concurrent accesses of other processes.
            unsafe { &*self.ptr.as_ptr().add(offset + i).cast::<AtomicU8>() }
                .store(b, Ordering::Relaxed);
        }
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from shmat and is detached only here, once.
        unsafe {
            libc::shmdt(self.ptr.as_ptr().cast());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_segment_roundtrip_and_stat() {
        let shm = Shm::create(Key::private(), 4096, 0o600).unwrap();
        let a = shm.attach(false).unwrap();
        a.write(10, b"hello");
        let st = shm.stat().unwrap();
        assert_eq!(st.size, 4096);
        assert_eq!(st.nattch, 1);
        assert_eq!(st.cpid, super::super::current_pid());
        assert_eq!(st.perm.mode & 0o777, 0o600);
        let b = shm.attach(true).unwrap();
        let mut buf = [0u8; 5];
        b.read(10, &mut buf);
        assert_eq!(&buf, b"hello");
        assert_eq!(shm.stat().unwrap().nattch, 2);
        drop(b);
        shm.remove().unwrap();
        assert!(shm.stat().unwrap().is_marked_for_removal());
        drop(a);
        assert!(shm.stat().unwrap_err().is_removed());
    }

    #[test]
    fn size_zero_and_too_large_are_errors() {
        let e = Shm::create(Key::private(), 0, 0o600).unwrap_err();
        assert_eq!(e.call(), "shmget");
        let e = Shm::create(Key::private(), usize::MAX - 4096, 0o600).unwrap_err();
        assert_eq!(e.call(), "shmget");
    }

    #[test]
    fn bad_mode_is_rejected() {
        assert!(Shm::create(Key::private(), 64, 0o1777).is_err());
    }

    #[test]
    fn ipc_set_changes_mode() {
        let shm = Shm::create(Key::private(), 64, 0o600).unwrap();
        let st = shm.stat().unwrap();
        shm.set(st.perm.uid, st.perm.gid, 0o640).unwrap();
        assert_eq!(shm.stat().unwrap().perm.mode & 0o777, 0o640);
        shm.remove().unwrap();
    }
}
