//! Plumbing shared by the examples: a rendezvous key, cleanup of what an example
//! creates, and re-spawning the example itself as an unrelated peer process.
//!
//! Not every example uses every helper.
#![allow(dead_code)]

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use sysvring::sys::{Key, MsgQueue, SemSet, Shm, SysError};

/// The result type of the examples.
pub type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// How long any wait in an example may take before it gives up with an error.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A temporary file whose `ftok` key the processes of one run share, the classic
/// rendezvous of unrelated processes. Parallel runs get different files (and so
/// different keys); the file is deleted on drop.
#[derive(Debug)]
pub struct Rendezvous {
    path: PathBuf,
    id: i32,
    key: Key,
}

impl Rendezvous {
    /// Creates the file and calls `create` with `ftok(file, id)` for project ids
    /// `'A'`, `'B'`, ... until `create` does not fail with `EEXIST` (ftok keys can
    /// collide with unrelated objects). Returns the rendezvous and what `create` made.
    pub fn create<T>(
        name: &str,
        mut create: impl FnMut(Key) -> std::result::Result<T, SysError>,
    ) -> Result<(Rendezvous, T)> {
        let path = std::env::temp_dir().join(format!("sysvring-{name}-{}", std::process::id()));
        std::fs::write(&path, b"")?;
        let mut rv = Rendezvous {
            path,
            id: 0,
            key: Key::private(),
        };
        for id in i32::from(b'A')..=i32::from(b'Z') {
            rv.id = id;
            rv.key = Key::from_path(&rv.path, id)?;
            match create(rv.key) {
                Ok(t) => return Ok((rv, t)),
                Err(e) if e.is_already_exists() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err("every ftok project id of the rendezvous file is taken".into())
    }

    /// The key of a rendezvous another process created (`ftok(path, id)`).
    pub fn key_of(path: &str, id: &str) -> Result<Key> {
        Ok(Key::from_path(path, id.parse()?)?)
    }

    /// The key.
    pub fn key(&self) -> Key {
        self.key
    }

    /// The two arguments a peer passes to [`Rendezvous::key_of`].
    pub fn args(&self) -> [String; 2] {
        [self.path.display().to_string(), self.id.to_string()]
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Rendezvous {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Everything an example created; removed (`IPC_RMID`) when dropped, on every path,
/// errors and panics included.
#[derive(Debug, Default)]
pub struct Owned {
    shm: Vec<Shm>,
    sem: Vec<SemSet>,
    msg: Vec<MsgQueue>,
}

impl Owned {
    /// Takes ownership of a segment.
    pub fn shm(&mut self, shm: Shm) -> Shm {
        self.shm.push(shm);
        shm
    }

    /// Takes ownership of a semaphore set.
    pub fn sem(&mut self, sem: SemSet) -> SemSet {
        self.sem.push(sem);
        sem
    }

    /// Takes ownership of a message queue.
    pub fn msg(&mut self, msg: MsgQueue) -> MsgQueue {
        self.msg.push(msg);
        msg
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        for s in self.shm.drain(..) {
            report("shmid", s.id(), s.remove());
        }
        for s in self.sem.drain(..) {
            report("semid", s.id(), s.remove());
        }
        for q in self.msg.drain(..) {
            report("msqid", q.id(), q.remove());
        }
    }
}

fn report(what: &str, id: i32, r: std::result::Result<(), SysError>) {
    match r {
        Ok(()) => println!("[{} {}] removed {what}={id}", role(), std::process::id()),
        Err(e) => eprintln!("removing {what}={id}: {e}"),
    }
}

static MAIN_ROLE: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Names the role of the process the user started (the default is `main`).
pub fn set_main_role(name: &'static str) {
    let _ = MAIN_ROLE.set(name);
}

/// The role of this process: its first argument, or the name given to
/// [`set_main_role`] for the process the user started.
pub fn role() -> String {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| MAIN_ROLE.get().copied().unwrap_or("main").into())
}

/// A copy of this example started with `args` (the first one is its role); killed
/// and reaped on drop unless it was waited for.
#[derive(Debug)]
pub struct Peer {
    child: Child,
    waited: bool,
}

/// Starts this example again as a separate process with `args`.
pub fn spawn_self<S: AsRef<str>>(args: &[S]) -> Result<Peer> {
    let exe = std::env::current_exe()?;
    let child = Command::new(exe)
        .args(args.iter().map(AsRef::as_ref))
        .spawn()?;
    Ok(Peer {
        child,
        waited: false,
    })
}

impl Peer {
    /// The peer's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to [`TIMEOUT`] for the peer to end.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(st) = self.child.try_wait()? {
                self.waited = true;
                return Ok(st);
            }
            if Instant::now() >= deadline {
                return Err(format!("peer {} did not finish in {TIMEOUT:?}", self.pid()).into());
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits up to [`TIMEOUT`] and fails unless the peer exited with status 0.
    pub fn wait_success(&mut self) -> Result<()> {
        let st = self.wait()?;
        if st.success() {
            Ok(())
        } else {
            Err(format!("peer {} failed: {st}", self.pid()).into())
        }
    }

    /// Sends `SIGKILL`.
    pub fn kill(&mut self) -> Result<()> {
        Ok(self.child.kill()?)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if !self.waited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `cond` every few milliseconds for up to [`TIMEOUT`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + TIMEOUT;
    while !cond()? {
        if Instant::now() >= deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// Reads the NUL-terminated string at `offset` (at most `max` bytes) from a segment.
pub fn read_str(a: &sysvring::sys::Attachment, offset: usize, max: usize) -> String {
    let mut buf = vec![0u8; max];
    a.read(offset, &mut buf);
    let end = buf.iter().position(|&b| b == 0).unwrap_or(max);
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Writes `s` NUL-terminated at `offset` (`s` must fit in `max - 1` bytes).
pub fn write_str(a: &sysvring::sys::Attachment, offset: usize, max: usize, s: &str) -> Result<()> {
    if s.len() >= max {
        return Err(format!("{} bytes do not fit in {max}", s.len()).into());
    }
    a.write(offset, s.as_bytes());
    a.write(offset + s.len(), &[0]);
    Ok(())
}

/// `[role pid]`, the prefix of every line an example prints.
pub fn who() -> String {
    format!("[{} {}]", role(), std::process::id())
}
