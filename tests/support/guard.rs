//! Removing what a test made: [`Guard`] for kernel objects, [`TempDir`] for files.
//! (Children are killed and reaped by their own drop: [`super::Kid`],
//! [`super::ForkedChild`].) Everything happens in `Drop`, so a failing (panicking)
//! test leaves nothing in `/proc/sysvipc` and no directory behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use sysvring::admin;
use sysvring::sys::{MsgQueue, SemSet, Shm};
use sysvring::{AnyChannel, Key};

/// Removes, when dropped (also while the test unwinds), every kernel object registered
/// with it, in the order registered. Errors (already removed) are ignored.
#[derive(Debug, Default)]
pub struct Guard {
    items: Vec<Item>,
}

#[derive(Debug)]
enum Item {
    Shm(Shm),
    Sem(SemSet),
    Msg(MsgQueue),
    Channel(ChannelIds),
    ListedAt(Key),
}

/// The ids of a channel's objects and the key they were made at.
#[derive(Debug)]
struct ChannelIds {
    key: Key,
    shm: Option<i32>,
    msg: Option<i32>,
    sem: i32,
}

impl Guard {
    pub fn new() -> Guard {
        Guard::default()
    }

    /// Registers a segment (by id) and hands it back.
    pub fn shm(&mut self, shm: Shm) -> Shm {
        self.items.push(Item::Shm(shm));
        shm
    }

    /// Registers a semaphore set (by id) and hands it back.
    pub fn sem(&mut self, sem: SemSet) -> SemSet {
        self.items.push(Item::Sem(sem));
        sem
    }

    /// Registers a message queue (by id) and hands it back.
    pub fn msg(&mut self, msg: MsgQueue) -> MsgQueue {
        self.items.push(Item::Msg(msg));
        msg
    }

    /// Registers the objects of `ch` (by id) that a child process created: a child
    /// killed by the watchdog never runs its destructors. They are removed only if
    /// the object at the key (the segment, or for the message queue transport the
    /// semaphore set) is still there, so a recycled id is never touched.
    pub fn channel<T>(&mut self, ch: &AnyChannel<T>) {
        self.items.push(Item::Channel(ChannelIds {
            key: ch.key(),
            shm: ch.shm_id(),
            msg: ch.msg_id(),
            sem: ch.sem_id(),
        }));
    }

    /// Registers whatever sysvring channel `admin::list` shows at `key` when the guard
    /// drops (a child made it, and a killed child runs no destructor).
    pub fn listed_at(&mut self, key: Key) {
        self.items.push(Item::ListedAt(key));
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for item in &self.items {
            match item {
                Item::Shm(s) => {
                    let _ = s.remove();
                }
                Item::Sem(s) => {
                    let _ = s.remove();
                }
                Item::Msg(q) => {
                    let _ = q.remove();
                }
                Item::Channel(ids) => ids.remove(),
                Item::ListedAt(key) => {
                    if let Ok(list) = admin::list() {
                        for i in list.iter().filter(|i| i.key == *key) {
                            let _ = admin::remove(i, true);
                        }
                    }
                }
            }
        }
    }
}

impl ChannelIds {
    fn remove(&self) {
        // The object at the key tells whether the channel is still there, i.e. nobody
        // removed it properly. Its companions (IPC_PRIVATE) go with it.
        let still_there = match self.shm {
            Some(id) => Shm::from_id(id)
                .stat()
                .is_ok_and(|st| st.perm.key == self.key.raw()),
            None => SemSet::from_id(self.sem)
                .and_then(|s| s.stat())
                .is_ok_and(|st| st.perm.key == self.key.raw()),
        };
        if !still_there {
            return;
        }
        if let Some(id) = self.msg {
            let _ = MsgQueue::from_id(id).remove();
        }
        if let Ok(set) = SemSet::from_id(self.sem) {
            let _ = set.remove();
        }
        if let Some(id) = self.shm {
            let _ = Shm::from_id(id).remove();
        }
    }
}

/// A directory removed (with its contents) on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("sysvring-{what}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One object listed in `/proc/sysvipc/{shm,sem,msg}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
        let text = fs::read_to_string(format!("/proc/sysvipc/{kind}")).unwrap_or_default();
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
