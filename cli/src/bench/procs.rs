//! Spawning, starting, watching and reaping the child processes of one measurement,
//! and guards that remove the kernel objects the parent created.
//!
//! Every child is this binary re-executed as `sysvring __bench-child SPEC`. Its stderr
//! is the control channel (one [`ChildMsg`] a line), read by one thread per child. A [`Group`] kills and reaps whatever is still running when it is dropped, so
//! an error or a panic in the parent never leaves a child behind; it is declared after
//! the guards of the objects the children use, so they are removed after the children
//! are gone.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sysvring::sys::{MsgQueue, SemOp, SemSet, Shm};

use super::error::{Error, Result};
use super::protocol::{ChildMsg, ChildSpec, Report, Role, Wire, CHILD_COMMAND};

/// How long children may take to start and connect.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// How often a waiting parent looks at the interrupt flag.
const POLL: Duration = Duration::from_millis(20);

static INTERRUPTED: AtomicI32 = AtomicI32::new(0);

/// Whether SIGINT or SIGTERM arrived (after [`catch_interrupts`]).
pub fn interrupted() -> bool {
    interrupt_signal().is_some()
}

/// The signal that interrupted the run, if one did.
pub fn interrupt_signal() -> Option<i32> {
    Some(INTERRUPTED.load(Ordering::Relaxed)).filter(|&s| s != 0)
}

extern "C" fn on_interrupt(sig: libc::c_int) {
    // Async-signal-safe: one atomic store. The main path sees the flag, kills and
    // reaps the children, and removes every object it made.
    INTERRUPTED.store(sig, Ordering::Relaxed);
}

/// Makes SIGINT and SIGTERM set the [`interrupted`] flag instead of killing the
/// process, so that the run ends through its guards: children killed and reaped,
/// every segment, semaphore set and queue it made removed. Children are spawned
/// afterwards with the default dispositions (exec resets caught signals).
pub fn catch_interrupts() -> Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `sa` is fully initialised (zeroed is a valid sigaction: empty mask,
        // no flags) before the call; the handler only stores to an atomic, which is
        // async-signal-safe; SA_RESTART keeps the parent's blocking calls going (it
        // polls the flag instead). No other code of this program installs handlers.
        let r = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if r != 0 {
            return Err(format!("sigaction: {}", std::io::Error::last_os_error()).into());
        }
    }
    Ok(())
}

/// What a child said on its stderr.
enum Event {
    Line(usize, String),
    Eof(usize),
}

/// What every child of a measurement shares.
#[derive(Debug, Clone, Copy)]
pub struct Base {
    /// Message size in bytes.
    pub size: usize,
    /// Time box in seconds.
    pub secs: f64,
    /// A consumer's warm-up in seconds.
    pub warm: f64,
}

/// The children of one measurement.
pub struct Group {
    children: Vec<(String, Option<Child>)>,
    tx: mpsc::Sender<Event>,
    rx: mpsc::Receiver<Event>,
    go: SemGuard,
    base: Base,
    cpus: Option<Vec<usize>>,
}

impl Group {
    /// A group whose children share `base` and start together on a fresh semaphore.
    /// With `cpus`, the children are pinned round-robin on those CPUs, in the order
    /// they are spawned.
    pub fn new(base: Base, cpus: Option<Vec<usize>>) -> Result<Group> {
        let go = SemGuard(SemSet::create(sysvring::Key::private(), 1, 0o600)?);
        created(Created::Sem(go.0.id()));
        let (tx, rx) = mpsc::channel();
        Ok(Group {
            children: Vec::new(),
            tx,
            rx,
            go,
            base,
            cpus,
        })
    }

    /// Spawns a child named `name` (for messages) in `role` over `wire`, with stdin
    /// and stdout.
    pub fn spawn(
        &mut self,
        name: &str,
        role: Role,
        wire: Wire,
        stdin: Stdio,
        stdout: Stdio,
    ) -> Result<&mut Child> {
        let exe = std::env::current_exe()?;
        let idx = self.children.len();
        let cpu = self
            .cpus
            .as_ref()
            .filter(|c| !c.is_empty())
            .map(|c| c[idx % c.len()]);
        let spec = ChildSpec {
            size: self.base.size,
            secs: self.base.secs,
            warm: self.base.warm,
            go: self.go.0.id(),
            parent: std::process::id() as i32,
            cpu,
            role,
            wire,
        };
        let mut child = Command::new(exe)
            .arg(CHILD_COMMAND)
            .arg(spec.to_arg())
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning {name}: {e}"))?;
        // The Command (and with it the parent's copies of the data descriptors) is
        // gone here: only the children hold the pipe and socket ends.
        let stderr = child.stderr.take().expect("stderr is piped");
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(Event::Line(idx, l)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = tx.send(Event::Eof(idx));
        });
        self.children.push((name.to_string(), Some(child)));
        Ok(self.children[idx].1.as_mut().expect("just spawned"))
    }

    /// Waits until every child is ready, starts them all at once, and collects their
    /// reports, within `timeout` after the start. Fails at the first child error, and
    /// soon after SIGINT or SIGTERM (see [`interrupted`]).
    pub fn run(&mut self, timeout: Duration) -> Result<Vec<Report>> {
        let n = self.children.len();
        let mut reports: Vec<Option<Report>> = vec![None; n];
        let mut notes: Vec<String> = Vec::new();
        let mut ready = 0;
        let mut done = 0;
        let mut deadline = Instant::now() + READY_TIMEOUT;
        while done < n {
            if interrupted() {
                return Err(self.failure("interrupted".into(), &[]));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let ev = match self.rx.recv_timeout(left.min(POLL)) {
                Ok(ev) => ev,
                Err(mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => continue,
                Err(_) => {
                    let what = if ready < n {
                        "to get ready"
                    } else {
                        "to finish"
                    };
                    return Err(self.failure(format!("children took too long {what}"), &notes));
                }
            };
            match ev {
                Event::Line(i, l) => {
                    let name = &self.children[i].0;
                    match ChildMsg::parse(&l) {
                        Some(ChildMsg::Ready) => {
                            ready += 1;
                            if ready == n {
                                let k = i16::try_from(n).map_err(|_| "too many children")?;
                                self.go.0.op(&[SemOp::new(0, k)])?;
                                deadline = Instant::now() + timeout;
                            }
                        }
                        Some(ChildMsg::Done(r)) => reports[i] = Some(r),
                        Some(ChildMsg::Failed(e)) => {
                            return Err(self.failure(format!("{name}: {e}"), &notes));
                        }
                        None => notes.push(format!("{name}: {l}")),
                    }
                }
                Event::Eof(i) => {
                    done += 1;
                    let status = self.reap(i)?;
                    let name = &self.children[i].0;
                    if !status.success() {
                        return Err(self.failure(format!("{name} exited with {status}"), &notes));
                    }
                    if ready < n {
                        return Err(self.failure(format!("{name} exited before start"), &notes));
                    }
                }
            }
        }
        reports
            .into_iter()
            .zip(&self.children)
            .map(|(r, (name, _))| r.ok_or_else(|| format!("{name} reported nothing").into()))
            .collect()
    }

    /// Waits (bounded) for child `i`, whose stderr just closed.
    fn reap(&mut self, i: usize) -> Result<std::process::ExitStatus> {
        let (name, slot) = &mut self.children[i];
        let child = slot.as_mut().ok_or("child reaped twice")?;
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = child.try_wait()? {
                *slot = None;
                return Ok(status);
            }
            if Instant::now() >= until {
                return Err(format!("{name} closed stderr but did not exit").into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn failure(&mut self, what: String, notes: &[String]) -> Error {
        self.kill_all();
        // Collect what the children said while dying.
        let mut notes = notes.to_vec();
        while let Ok(ev) = self.rx.recv_timeout(Duration::from_millis(50)) {
            if let Event::Line(i, l) = ev {
                notes.push(format!("{}: {l}", self.children[i].0));
            }
        }
        let mut msg = what;
        for n in notes.iter().take(8) {
            msg.push_str("\n    ");
            msg.push_str(n);
        }
        msg.into()
    }

    /// Kills and reaps every child still running.
    fn kill_all(&mut self) {
        for (_, slot) in &mut self.children {
            if let Some(mut c) = slot.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Removes a semaphore set on drop.
pub struct SemGuard(pub SemSet);

impl Drop for SemGuard {
    fn drop(&mut self) {
        let _ = self.0.remove();
    }
}

/// Removes a segment on drop.
pub struct ShmGuard(pub Shm);

impl Drop for ShmGuard {
    fn drop(&mut self) {
        let _ = self.0.remove();
    }
}

/// Removes a message queue on drop.
pub struct MsgqGuard(pub MsgQueue);

impl Drop for MsgqGuard {
    fn drop(&mut self) {
        let _ = self.0.remove();
    }
}

/// A kernel object the parent created, remembered so that the end of the run can
/// check that it is gone.
#[derive(Debug, Clone, Copy)]
pub enum Created {
    Shm(i32),
    Sem(i32),
    Msgq(i32),
}

static CREATED: std::sync::Mutex<Vec<Created>> = std::sync::Mutex::new(Vec::new());

/// Remembers an object the parent created.
pub fn created(o: Created) {
    CREATED.lock().unwrap_or_else(|e| e.into_inner()).push(o);
}

/// The objects created during the run that still exist (should be none).
pub fn leaked() -> Vec<Created> {
    let list = CREATED.lock().unwrap_or_else(|e| e.into_inner());
    list.iter()
        .copied()
        .filter(|o| {
            let gone = |e: &sysvring::sys::SysError| e.is_removed() || e.is_not_found();
            match *o {
                Created::Shm(id) => Shm::from_id(id).stat().err().map_or(true, |e| !gone(&e)),
                Created::Sem(id) => SemSet::from_id(id)
                    .and_then(|s| s.stat())
                    .err()
                    .map_or(true, |e| !gone(&e)),
                Created::Msgq(id) => MsgQueue::from_id(id)
                    .stat()
                    .err()
                    .map_or(true, |e| !gone(&e)),
            }
        })
        .collect()
}

/// The CPUs this process may run on (`Cpus_allowed_list` of `/proc/self/status`).
pub fn allowed_cpus() -> Option<Vec<usize>> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?
        .trim();
    let mut cpus = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<usize>().ok()?..=b.parse::<usize>().ok()?),
            None => cpus.push(part.parse().ok()?),
        }
    }
    (!cpus.is_empty()).then_some(cpus)
}

/// Makes the kernel SIGKILL the calling child when the bench that spawned it
/// (`parent`) dies, even by SIGKILL, when no cleanup of its own can run: no child
/// outlives it. Fails when that parent is already gone.
pub fn die_with_parent(parent: i32) -> Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and changes nothing but
    // this process's parent-death signal; getppid cannot fail.
    let (r, ppid) = unsafe {
        (
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0),
            libc::getppid(),
        )
    };
    if r != 0 {
        return Err(format!("prctl: {}", std::io::Error::last_os_error()).into());
    }
    // The parent may have died before the prctl: then we were reparented already.
    if ppid != parent {
        return Err("the bench that started this child is gone (peer exited)".into());
    }
    Ok(())
}

/// Pins the calling process on `cpu`.
pub fn pin(cpu: usize) -> Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(format!("cpu {cpu} out of range").into());
    }
    // SAFETY: cpu_set_t is a plain bit array: all-zero is the valid empty set;
    // CPU_SET writes inside it (cpu < CPU_SETSIZE, checked above); sched_setaffinity
    // reads `size_of::<cpu_set_t>()` bytes from a valid reference. The std-only
    // alternative does not exist, and the `sys` layer is about IPC, not scheduling.
    let r = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if r != 0 {
        return Err(format!(
            "sched_setaffinity({cpu}): {}",
            std::io::Error::last_os_error()
        )
        .into());
    }
    Ok(())
}
