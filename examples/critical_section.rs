//! Three processes serialise a critical section with a binary semaphore taken with
//! `SEM_UNDO`. One of them is killed with `SIGKILL` while it holds the lock; the kernel
//! undoes its `-1`, so the other two still get in.
//!
//! Run: `cargo run --example critical_section`. The supervisor creates a segment (who
//! is inside) and a semaphore set (`LOCK` = 1, `INSIDE` = 0) under one key and starts
//! three workers (this program again, role `worker`). Worker 0 takes the lock and
//! stays inside; workers 1 and 2 queue on the lock (`GETNCNT` = 2). The supervisor
//! kills worker 0, and workers 1 and 2 then take turns in the section, each checking
//! that nobody else is inside. The supervisor removes everything at the end.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread;
use std::time::Duration;

use common::{set_main_role, spawn_self, wait_until, who, Owned, Rendezvous, Result, TIMEOUT};
use sysvring::sys::{current_pid, Attachment, SemOp, SemSet, Shm};

/// Semaphore numbers: the binary lock, and "worker 0 is inside" (a signal to the
/// supervisor, posted without undo).
const LOCK: u16 = 0;
const INSIDE: u16 = 1;
/// Rounds each surviving worker spends in the section.
const ROUNDS: u32 = 3;

/// The shared words: the pid inside the section (0 when free) and the pid the
/// supervisor killed.
struct Shared<'a> {
    owner: &'a AtomicI32,
    killed: &'a AtomicI32,
}

fn shared(a: &Attachment) -> Shared<'_> {
    assert!(a.len() >= 8);
    // SAFETY: the mapping is page-aligned, at least 8 bytes long (checked above) and
    // stays mapped while `a` is borrowed; every process accesses these two words only
    // atomically.
    unsafe {
        let p = a.as_ptr().cast::<AtomicI32>();
        Shared {
            owner: &*p,
            killed: &*p.add(1),
        }
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        None => supervisor(),
        Some("worker") if args.len() == 5 => worker(&args[2], &args[3], &args[4]),
        _ => Err("usage: critical_section [worker PATH ID N]".into()),
    }
}

fn supervisor() -> Result<()> {
    set_main_role("supervisor");
    let mut owned = Owned::default();
    let (rv, (shm, sem)) = Rendezvous::create("critical_section", |key| {
        let shm = owned.shm(Shm::create(key, 4096, 0o600)?);
        let sem = owned.sem(SemSet::create(key, 2, 0o600)?);
        Ok((shm, sem))
    })?;
    sem.set_val(LOCK, 1)?;
    println!(
        "{} created shmid={} semid={} key={}; the lock is free",
        who(),
        shm.id(),
        sem.id(),
        rv.key()
    );
    let a = shm.attach(false)?;
    let sh = shared(&a);
    let [path, id] = rv.args();

    let mut victim = spawn_self(&["worker", &path, &id, "0"])?;
    sem.op_timeout(&[SemOp::new(INSIDE, -1)], TIMEOUT)?;
    let mut others = [
        spawn_self(&["worker", &path, &id, "1"])?,
        spawn_self(&["worker", &path, &id, "2"])?,
    ];
    wait_until("workers 1 and 2 to queue on the lock", || {
        Ok(sem.get_ncnt(LOCK)? == 2)
    })?;
    println!(
        "{} worker 0 (pid {}) holds the lock; {} workers wait for it",
        who(),
        victim.pid(),
        sem.get_ncnt(LOCK)?
    );

    // Say who is about to die before it dies: the kernel may hand the lock on at once.
    sh.killed.store(victim.pid() as i32, Ordering::SeqCst);
    victim.kill()?;
    let st = victim.wait()?;
    println!(
        "{} killed worker 0 (pid {}) inside the critical section: {st}",
        who(),
        victim.pid()
    );
    if st.signal() != Some(libc::SIGKILL) {
        return Err(format!("worker 0 ended with {st}, not by SIGKILL").into());
    }
    for w in &mut others {
        w.wait_success()?;
    }
    println!(
        "{} workers 1 and 2 got in after the kill; lock value is {} again (SEM_UNDO)",
        who(),
        sem.get_val(LOCK)?
    );
    Ok(())
}

fn worker(path: &str, id: &str, n: &str) -> Result<()> {
    let key = Rendezvous::key_of(path, id)?;
    let shm = Shm::open(key)?;
    let sem = SemSet::open(key)?;
    let a = shm.attach(false)?;
    let sh = shared(&a);
    let me = current_pid();
    let lock = || sem.op_timeout(&[SemOp::new(LOCK, -1).undo()], TIMEOUT);
    let unlock = || sem.op(&[SemOp::new(LOCK, 1).undo()]);

    if n == "0" {
        lock()?;
        sh.owner.store(me, Ordering::SeqCst);
        println!("{} worker 0 is inside the critical section", who());
        sem.op(&[SemOp::new(INSIDE, 1)])?;
        // The supervisor kills us here. Bounded, should it not.
        thread::sleep(TIMEOUT);
        return Err("worker 0 was not killed".into());
    }

    for round in 1..=ROUNDS {
        lock()?;
        let prev = sh.owner.swap(me, Ordering::SeqCst);
        if prev != 0 {
            if prev != sh.killed.load(Ordering::SeqCst) {
                return Err(format!("mutual exclusion violated: pid {prev} is inside").into());
            }
            println!(
                "{} worker {n} got the lock that killed pid {prev} never released: SEM_UNDO gave it back",
                who()
            );
        }
        println!(
            "{} worker {n} in the critical section (round {round})",
            who()
        );
        thread::sleep(Duration::from_millis(20));
        if sh.owner.swap(0, Ordering::SeqCst) != me {
            return Err("mutual exclusion violated while inside".into());
        }
        unlock()?;
    }
    Ok(())
}
