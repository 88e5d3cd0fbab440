//! Message queues: `msgget`, `msgsnd`/`msgrcv`, `msgctl`.

use std::io;
use std::time::SystemTime;

use super::shm::time;
use super::{
    check_mode, cvt, probe_exists, removed_if_gone, removed_on_einval, IpcPerm, Key, Limits,
    Result, SysError,
};

/// Which message `msgrcv` takes, exactly as msgrcv(2) defines `msgtyp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvSelect {
    /// `msgtyp == 0`: the first message in the queue.
    Any,
    /// `msgtyp > 0`: the first message of exactly this type.
    Type(i64),
    /// `msgtyp < 0`: the first message of the lowest type that is `<= max`.
    UpTo(i64),
    /// `MSG_EXCEPT` (Linux): the first message whose type is not this one.
    Except(i64),
}

impl RecvSelect {
    fn raw(self) -> Result<(libc::c_long, libc::c_int)> {
        let bad = |m| Err(SysError::invalid("msgrcv", m));
        match self {
            RecvSelect::Any => Ok((0, 0)),
            RecvSelect::Type(t) if t > 0 => Ok((t as libc::c_long, 0)),
            RecvSelect::UpTo(t) if t > 0 => Ok((-(t as libc::c_long), 0)),
            RecvSelect::Except(t) if t > 0 => Ok((t as libc::c_long, libc::MSG_EXCEPT)),
            _ => bad("message types are positive"),
        }
    }
}

/// `IPC_STAT` of a queue, as in `struct msqid_ds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgStat {
    /// Ownership and permissions.
    pub perm: IpcPerm,
    /// Messages in the queue (`msg_qnum`).
    pub qnum: u64,
    /// Byte budget of the queue (`msg_qbytes`).
    pub qbytes: u64,
    /// Bytes in the queue now (`msg_cbytes`).
    pub cbytes: u64,
    /// Pid of the last `msgsnd`.
    pub lspid: i32,
    /// Pid of the last `msgrcv`.
    pub lrpid: i32,
    /// Time of the last `msgsnd`.
    pub stime: SystemTime,
    /// Time of the last `msgrcv`.
    pub rtime: SystemTime,
    /// Time of the last change.
    pub ctime: SystemTime,
}

/// A message queue, named by its id.
///
/// A plain handle: dropping it leaves the queue in place; [`MsgQueue::remove`]
/// removes it and wakes every waiter with `EIDRM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsgQueue {
    id: i32,
}

/// Messages up to this size go through a stack buffer (no allocation per message).
const STACK_WORDS: usize = 8192 / 8 + 1;

/// Runs `f` with a word-aligned, zeroed buffer of at least `bytes` bytes. The stack
/// buffer comes in three sizes so that a small message does not pay for zeroing 8 KiB
/// on every call.
fn with_buf<R>(bytes: usize, f: impl FnOnce(&mut [u64]) -> R) -> R {
    fn on_stack<const N: usize, R>(words: usize, f: impl FnOnce(&mut [u64]) -> R) -> R {
        let mut stack = [0u64; N];
        f(&mut stack[..words])
    }
    let words = bytes.div_ceil(8);
    if words <= 16 {
        on_stack::<16, R>(words, f)
    } else if words <= 160 {
        on_stack::<160, R>(words, f)
    } else if words <= STACK_WORDS {
        on_stack::<STACK_WORDS, R>(words, f)
    } else {
        let mut heap = vec![0u64; words];
        f(&mut heap)
    }
}

const MTYPE: usize = std::mem::size_of::<libc::c_long>();

impl MsgQueue {
    /// Creates a new queue with `IPC_CREAT | IPC_EXCL`.
    ///
    /// # Errors
    /// `EEXIST` when the key is taken, `ENOSPC` at the host's limit.
    pub fn create(key: Key, mode: u32) -> Result<MsgQueue> {
        let flags = libc::IPC_CREAT | libc::IPC_EXCL | check_mode("msgget", mode)?;
        // SAFETY: msgget takes plain integers.
        let id = cvt("msgget", unsafe { libc::msgget(key.raw(), flags) })?;
        Ok(MsgQueue { id })
    }

    /// Opens the existing queue at `key`.
    ///
    /// # Errors
    /// `ENOENT` when none exists, `EACCES` without permission.
    pub fn open(key: Key) -> Result<MsgQueue> {
        if key.is_private() {
            return Err(SysError::invalid(
                "msgget",
                "IPC_PRIVATE cannot be opened, only created",
            ));
        }
        // SAFETY: msgget takes plain integers.
        let id = cvt("msgget", unsafe { libc::msgget(key.raw(), 0) })?;
        Ok(MsgQueue { id })
    }

    /// A handle for a known queue id. Not checked until used.
    pub const fn from_id(id: i32) -> MsgQueue {
        MsgQueue { id }
    }

    /// The queue id.
    pub const fn id(&self) -> i32 {
        self.id
    }

    /// `msgsnd`: sends `data` as one message of type `mtype` (> 0). Blocks while the
    /// queue is full unless `nowait`. `EINTR` is retried.
    ///
    /// # Errors
    /// `EINVAL` for `mtype <= 0` or `data` longer than `msgmax`;
    /// [`SysError::is_would_block`] when `nowait` and the queue is full;
    /// [`SysError::is_removed`] when the queue is removed.
    pub fn send(&self, mtype: i64, data: &[u8], nowait: bool) -> Result<()> {
        if mtype <= 0 {
            return Err(SysError::invalid("msgsnd", "message types are positive"));
        }
        let flags = if nowait { libc::IPC_NOWAIT } else { 0 };
        with_buf(MTYPE + data.len(), |buf| {
            buf[0] = mtype as u64;
            // SAFETY: `buf` has room for the mtype word plus `data.len()` bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    data.as_ptr(),
                    buf.as_mut_ptr().cast::<u8>().add(MTYPE),
                    data.len(),
                )
            };
            loop {
                // SAFETY: `buf` starts with a c_long mtype followed by `data.len()` bytes.
                let r = unsafe { libc::msgsnd(self.id, buf.as_ptr().cast(), data.len(), flags) };
                if r == 0 {
                    return Ok(());
                }
                let e = SysError::last("msgsnd");
                if e.raw_os_error() != Some(libc::EINTR) {
                    return Err(self.explain_send(e, data.len()));
                }
            }
        })
    }

    /// `msgrcv`: receives one message chosen by `select` into `buf`, returning its
    /// type and length. Blocks while there is none unless `nowait`. `EINTR` is retried.
    ///
    /// # Errors
    /// `E2BIG` when the message is longer than `buf` (the message stays in the queue:
    /// never silently truncated); `ENOMSG`, reported as
    /// [`SysError::is_would_block`], when `nowait` and nothing matches;
    /// [`SysError::is_removed`] when the queue is removed.
    pub fn recv(&self, buf: &mut [u8], select: RecvSelect, nowait: bool) -> Result<(i64, usize)> {
        let (typ, mut flags) = select.raw()?;
        if nowait {
            flags |= libc::IPC_NOWAIT;
        }
        with_buf(MTYPE + buf.len(), |raw| loop {
            // SAFETY: `raw` has room for the mtype word plus `buf.len()` bytes.
            let r =
                unsafe { libc::msgrcv(self.id, raw.as_mut_ptr().cast(), buf.len(), typ, flags) };
            if r >= 0 {
                let n = r as usize;
                // SAFETY: the kernel wrote `n <= buf.len()` bytes after the mtype word.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        raw.as_ptr().cast::<u8>().add(MTYPE),
                        buf.as_mut_ptr(),
                        n,
                    )
                };
                return Ok((raw[0] as i64, n));
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::E2BIG) {
                return Err(SysError::new(
                    "msgrcv",
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        "message longer than the receive buffer (left in the queue)",
                    ),
                ));
            }
            if let Some(err) = self.recv_error(e) {
                return Err(err);
            }
        })
    }

    /// What a failed `msgrcv` reports: `None` for EINTR (call again), would-block for
    /// an empty queue under IPC_NOWAIT, removed/other errors otherwise.
    fn recv_error(&self, e: io::Error) -> Option<SysError> {
        match e.raw_os_error() {
            Some(libc::EINTR) => None,
            Some(libc::ENOMSG) => Some(SysError::new(
                "msgrcv",
                io::Error::from(io::ErrorKind::WouldBlock),
            )),
            _ => Some(self.gone(SysError::new("msgrcv", e))),
        }
    }

    /// Whether the queue still exists (for telling a removed id from a bad argument).
    fn exists(&self) -> bool {
        // SAFETY: msqid_ds is plain data; IPC_STAT writes one through the pointer.
        let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        probe_exists(unsafe { libc::msgctl(self.id, libc::IPC_STAT, &mut ds) })
    }

    fn gone(&self, e: SysError) -> SysError {
        removed_if_gone(e, || self.exists())
    }

    /// `EINVAL` from msgsnd: the queue is gone, or the message is above `msgmax`.
    fn explain_send(&self, e: SysError, len: usize) -> SysError {
        let e = self.gone(e);
        if e.raw_os_error() == Some(libc::EINVAL)
            && Limits::read().is_ok_and(|l| len as u64 > l.msgmax)
        {
            return SysError::new(
                "msgsnd",
                io::Error::new(io::ErrorKind::InvalidInput, "message longer than msgmax"),
            );
        }
        e
    }

    /// Takes the first message chosen by `select` out of the queue and throws it away,
    /// whatever its length (`msgrcv` of 0 bytes with `MSG_NOERROR`); returns its type.
    /// For frames that must be dropped (too long for any buffer the caller has).
    ///
    /// # Errors
    /// As [`MsgQueue::recv`], but never `E2BIG`.
    pub fn discard(&self, select: RecvSelect, nowait: bool) -> Result<i64> {
        let (typ, mut flags) = select.raw()?;
        flags |= libc::MSG_NOERROR;
        if nowait {
            flags |= libc::IPC_NOWAIT;
        }
        let mut raw = [0u64; 1];
        loop {
            // SAFETY: `raw` holds the mtype word; msgsz 0 with MSG_NOERROR writes no text.
            let r = unsafe { libc::msgrcv(self.id, raw.as_mut_ptr().cast(), 0, typ, flags) };
            if r >= 0 {
                return Ok(raw[0] as i64);
            }
            if let Some(err) = self.recv_error(io::Error::last_os_error()) {
                return Err(err);
            }
        }
    }

    fn raw_stat(&self) -> Result<libc::msqid_ds> {
        // SAFETY: msqid_ds is plain data; all-zero is valid.
        let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: IPC_STAT fills the msqid_ds `ds` points to.
        cvt("msgctl", unsafe {
            libc::msgctl(self.id, libc::IPC_STAT, &mut ds)
        })
        .map_err(removed_on_einval)?;
        Ok(ds)
    }

    /// `IPC_STAT`.
    ///
    /// # Errors
    /// `EACCES` without read permission, `EIDRM`/`EINVAL` when removed.
    pub fn stat(&self) -> Result<MsgStat> {
        let ds = self.raw_stat()?;
        Ok(MsgStat {
            perm: IpcPerm::from_raw(&ds.msg_perm),
            qnum: ds.msg_qnum,
            qbytes: ds.msg_qbytes,
            cbytes: ds.__msg_cbytes,
            lspid: ds.msg_lspid,
            lrpid: ds.msg_lrpid,
            stime: time(ds.msg_stime),
            rtime: time(ds.msg_rtime),
            ctime: time(ds.msg_ctime),
        })
    }

    /// `IPC_SET` of `msg_qbytes`, the queue's byte budget. Raising it above `msgmnb`
    /// needs `CAP_SYS_RESOURCE`.
    ///
    /// # Errors
    /// `EPERM` when not allowed.
    pub fn set_qbytes(&self, qbytes: u64) -> Result<()> {
        let mut ds = self.raw_stat()?;
        ds.msg_qbytes = qbytes as libc::msglen_t;
        // SAFETY: `ds` is a fully initialised msqid_ds read back from the kernel.
        cvt("msgctl", unsafe {
            libc::msgctl(self.id, libc::IPC_SET, &mut ds)
        })
        .map_err(removed_on_einval)?;
        Ok(())
    }

    /// `IPC_SET` of owner and permission bits.
    ///
    /// # Errors
    /// `EPERM` unless owner, creator or privileged.
    pub fn set_owner(&self, uid: u32, gid: u32, mode: u32) -> Result<()> {
        let mode = check_mode("msgctl", mode)?;
        let mut ds = self.raw_stat()?;
        ds.msg_perm.uid = uid;
        ds.msg_perm.gid = gid;
        ds.msg_perm.mode = mode as libc::c_ushort;
        // SAFETY: `ds` is a fully initialised msqid_ds read back from the kernel.
        cvt("msgctl", unsafe {
            libc::msgctl(self.id, libc::IPC_SET, &mut ds)
        })
        .map_err(removed_on_einval)?;
        Ok(())
    }

    /// `IPC_RMID`: removes the queue at once (messages included); blocked senders and
    /// receivers fail with `EIDRM`.
    ///
    /// # Errors
    /// `EPERM` unless owner, creator or privileged; `EINVAL`/`EIDRM` when already gone.
    pub fn remove(&self) -> Result<()> {
        // SAFETY: IPC_RMID takes no buffer.
        cvt("msgctl", unsafe {
            libc::msgctl(self.id, libc::IPC_RMID, std::ptr::null_mut())
        })
        .map_err(removed_on_einval)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_recv_and_selection() {
        let q = MsgQueue::create(Key::private(), 0o600).unwrap();
        for (t, d) in [(3, b"c3"), (1, b"a1"), (2, b"b2"), (1, b"a2")] {
            q.send(t, d, false).unwrap();
        }
        let st = q.stat().unwrap();
        assert_eq!(st.qnum, 4);
        assert_eq!(st.cbytes, 8);
        let mut buf = [0u8; 16];
        assert_eq!(q.recv(&mut buf, RecvSelect::Type(2), true).unwrap(), (2, 2));
        assert_eq!(&buf[..2], b"b2");
        assert_eq!(q.recv(&mut buf, RecvSelect::UpTo(3), true).unwrap().0, 1);
        assert_eq!(&buf[..2], b"a1");
        assert_eq!(q.recv(&mut buf, RecvSelect::Except(1), true).unwrap().0, 3);
        assert_eq!(q.recv(&mut buf, RecvSelect::Any, true).unwrap().0, 1);
        assert!(q
            .recv(&mut buf, RecvSelect::Any, true)
            .unwrap_err()
            .is_would_block());
        q.remove().unwrap();
    }

    #[test]
    fn discard_drops_a_frame_of_any_length() {
        let q = MsgQueue::create(Key::private(), 0o600).unwrap();
        q.send(2, &[1u8; 4000], false).unwrap();
        q.send(1, b"kept", false).unwrap();
        assert_eq!(q.discard(RecvSelect::Type(2), true).unwrap(), 2);
        assert_eq!(q.stat().unwrap().qnum, 1);
        assert!(q
            .discard(RecvSelect::Type(2), true)
            .unwrap_err()
            .is_would_block());
        let mut b = [0u8; 4];
        assert_eq!(q.recv(&mut b, RecvSelect::Any, true).unwrap(), (1, 4));
        q.remove().unwrap();
    }

    #[test]
    fn truncation_is_an_error_and_keeps_the_message() {
        let q = MsgQueue::create(Key::private(), 0o600).unwrap();
        q.send(1, &[7u8; 100], false).unwrap();
        let mut small = [0u8; 10];
        let e = q.recv(&mut small, RecvSelect::Any, true).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let mut big = [0u8; 100];
        assert_eq!(q.recv(&mut big, RecvSelect::Any, true).unwrap(), (1, 100));
        q.remove().unwrap();
    }

    #[test]
    fn too_long_and_bad_types() {
        let q = MsgQueue::create(Key::private(), 0o600).unwrap();
        let max = crate::sys::Limits::read().unwrap().msgmax as usize;
        let e = q.send(1, &vec![0u8; max + 1], true).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(!e.is_removed());
        assert!(q.send(0, b"x", true).is_err());
        let mut b = [0u8; 1];
        assert!(q.recv(&mut b, RecvSelect::Type(-1), true).is_err());
        q.remove().unwrap();
        assert!(q.send(1, b"x", true).unwrap_err().is_removed());
    }

    #[test]
    fn qbytes_can_be_lowered() {
        let q = MsgQueue::create(Key::private(), 0o600).unwrap();
        q.set_qbytes(1024).unwrap();
        assert_eq!(q.stat().unwrap().qbytes, 1024);
        q.remove().unwrap();
    }
}
