//! The classic pair of shared-memory programs: a writer puts a line into a segment, and
//! a second, unrelated process finds the segment by its key and prints the line.
//!
//! Run: `cargo run --example writer_reader`. The writer creates a segment with the key
//! `ftok(tempfile, id)`, writes a line and detaches; the segment outlives the
//! attachment. It then starts the reader (this program again, with the role `reader`
//! and the ftok arguments), which opens the segment by key, attaches it read-only and
//! prints the line. The writer removes the segment and the file at the end, also when
//! something fails.

mod common;

use common::{read_str, set_main_role, spawn_self, who, write_str, Owned, Rendezvous, Result};
use sysvring::sys::{current_pid, Shm};

/// Size of the segment.
const SIZE: usize = 4096;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        None => writer(),
        Some("reader") if args.len() == 4 => reader(&args[2], &args[3]),
        _ => Err("usage: writer_reader [reader PATH ID]".into()),
    }
}

fn writer() -> Result<()> {
    set_main_role("writer");
    let mut owned = Owned::default();
    let (rv, shm) = Rendezvous::create("writer_reader", |key| {
        Shm::create(key, SIZE, 0o600).map(|s| owned.shm(s))
    })?;
    println!(
        "{} created shmid={} key={} size={SIZE}",
        who(),
        shm.id(),
        rv.key()
    );

    let line = format!("hello from the writer, pid {}", current_pid());
    {
        let a = shm.attach(false)?;
        write_str(&a, 0, SIZE, &line)?;
        println!("{} wrote: {line}", who());
    } // detached here; the segment stays until it is removed
    println!("{} detached, nattch={}", who(), shm.stat()?.nattch);

    let [path, id] = rv.args();
    let mut reader = spawn_self(&["reader", &path, &id])?;
    reader.wait_success()?;
    println!("{} the reader is done", who());
    Ok(())
}

fn reader(path: &str, id: &str) -> Result<()> {
    let key = Rendezvous::key_of(path, id)?;
    let shm = Shm::open(key)?;
    let a = shm.attach(true)?;
    let st = shm.stat()?;
    println!(
        "{} opened shmid={} key={key} size={} created by pid {}",
        who(),
        shm.id(),
        st.size,
        st.cpid
    );
    println!("{} read: {}", who(), read_str(&a, 0, a.len()));
    Ok(())
}
