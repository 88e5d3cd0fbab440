//! A counter process updates a number in a shared segment every 100 ms; a viewer
//! process attaches the same segment read-only and prints each value it sees.
//!
//! Run: `cargo run --example counter`. The counter creates the segment, starts the
//! viewer (this program again, role `viewer`), waits until the viewer has attached
//! (`shm_nattch` reaches 2), then counts to 10. The viewer stops at 10. Both sides
//! access the number only atomically. The counter removes the segment at the end.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{set_main_role, spawn_self, wait_until, who, Owned, Rendezvous, Result, TIMEOUT};
use sysvring::sys::{Attachment, Shm};

/// The last value the counter writes.
const LAST: u64 = 10;
/// Time between two updates.
const PERIOD: Duration = Duration::from_millis(100);

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        None => counter(),
        Some("viewer") if args.len() == 4 => viewer(&args[2], &args[3]),
        _ => Err("usage: counter [viewer PATH ID]".into()),
    }
}

/// The counter word at the start of the segment.
fn counter_word(a: &Attachment) -> &AtomicU64 {
    assert!(a.len() >= std::mem::size_of::<AtomicU64>());
    // SAFETY: the mapping is page-aligned (so aligned for AtomicU64), at least 8 bytes
    // long (checked above) and stays mapped while `a` is borrowed. Every process
    // touches this word only through atomic operations, so there is no data race. The
    // viewer's read-only mapping only loads it: an aligned 8-byte atomic load does not
    // write memory on the targets this crate supports.
    unsafe { &*a.as_ptr().cast::<AtomicU64>() }
}

fn counter() -> Result<()> {
    set_main_role("counter");
    let mut owned = Owned::default();
    let (rv, shm) = Rendezvous::create("counter", |key| {
        Shm::create(key, 4096, 0o600).map(|s| owned.shm(s))
    })?;
    println!("{} created shmid={} key={}", who(), shm.id(), rv.key());
    let a = shm.attach(false)?;
    let n = counter_word(&a);

    let [path, id] = rv.args();
    let mut viewer = spawn_self(&["viewer", &path, &id])?;
    wait_until("the viewer to attach", || Ok(shm.stat()?.nattch >= 2))?;
    println!("{} the viewer attached (nattch=2), counting", who());

    for i in 1..=LAST {
        thread::sleep(PERIOD);
        // SYNC(counter): Release; pairs with the viewer's Acquire load.
        n.store(i, Ordering::Release);
        println!("{} counter = {i}", who());
    }
    viewer.wait_success()?;
    println!("{} the viewer saw {LAST}; done", who());
    Ok(())
}

fn viewer(path: &str, id: &str) -> Result<()> {
    let shm = Shm::open(Rendezvous::key_of(path, id)?)?;
    let a = shm.attach(true)?;
    println!("{} attached shmid={} read-only", who(), shm.id());
    let n = counter_word(&a);
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = 0;
    while seen < LAST {
        // SYNC(counter): Acquire; pairs with the counter's Release store.
        let v = n.load(Ordering::Acquire);
        if v != seen {
            println!("{} sees {v}", who());
            seen = v;
        }
        if Instant::now() >= deadline {
            return Err(format!("the counter stopped at {seen}").into());
        }
        thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}
