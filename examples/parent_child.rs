//! An `IPC_PRIVATE` segment shared across `fork()`: the attachment is inherited, so
//! parent and child share the memory without any key.
//!
//! Run: `cargo run --example parent_child`. The parent creates a private segment,
//! attaches it, writes a question and forks. The child reads the question through the
//! inherited mapping, writes its answer and exits; the parent waits for it, prints the
//! answer and removes the segment.

mod common;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use common::{read_str, set_main_role, who, write_str, Owned, Result, TIMEOUT};
use sysvring::sys::{current_pid, Attachment, Key, Shm};

const SIZE: usize = 4096;
/// Offsets of the question and the answer in the segment.
const QUESTION: usize = 0;
const ANSWER: usize = SIZE / 2;

fn main() -> Result<()> {
    set_main_role("parent");
    let mut owned = Owned::default();
    let shm = owned.shm(Shm::create(Key::private(), SIZE, 0o600)?);
    println!("{} created shmid={} key=IPC_PRIVATE", who(), shm.id());
    let a = shm.attach(false)?;
    write_str(&a, QUESTION, ANSWER, "what is 6 * 7?")?;
    println!("{} asks: what is 6 * 7?", who());

    // Nothing may sit in the stdout buffer at fork, or both processes would print it.
    std::io::stdout().flush()?;
    // SAFETY: this program is single-threaded, so the child is a complete copy that may
    // run ordinary code. It never returns into `main`: it ends with `_exit`, so it
    // neither runs the parent's destructors (which would remove the segment) nor
    // flushes anything twice.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    if pid == 0 {
        let code = match child(&a) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("child: {e}");
                1
            }
        };
        // SAFETY: ends the child at once, without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }

    println!("{} forked child {pid}", who());
    let status = wait_child(pid)?;
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("child {pid} failed (wait status {status:#x})").into());
    }
    println!(
        "{} child {pid} answered: {} (nattch is back to {})",
        who(),
        read_str(&a, ANSWER, SIZE - ANSWER),
        shm.stat()?.nattch
    );
    Ok(())
}

fn child(a: &Attachment) -> Result<()> {
    let who = format!("[child {}]", current_pid());
    let question = read_str(a, QUESTION, ANSWER);
    println!(
        "{who} inherited the attachment (nattch={})",
        a.shm().stat()?.nattch
    );
    println!("{who} read: {question}");
    write_str(a, ANSWER, SIZE - ANSWER, "42, says the child")?;
    Ok(())
}

/// `waitpid` with a time limit; returns the raw wait status.
fn wait_child(pid: libc::pid_t) -> Result<libc::c_int> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mut status = 0;
        // SAFETY: waits for our own child, with a valid pointer for the status.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return Ok(status);
        }
        if r < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        if Instant::now() >= deadline {
            // SAFETY: signals and reaps our own child, which has not been reaped yet.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return Err(format!("child {pid} did not finish").into());
        }
        thread::sleep(Duration::from_millis(2));
    }
}
