//! Two unrelated processes exchange requests and replies through one shared segment,
//! synchronised by two semaphores: no sleeps, no polling.
//!
//! Run: `cargo run --example listener_talker`. The listener creates a segment and a set
//! of two semaphores under one key (segments and semaphore sets have separate key
//! spaces), then starts the talker (this program again, role `talker`). Each round the
//! talker writes a request and posts `REQUEST`; the listener, blocked on `REQUEST`,
//! reads it, writes the reply and posts `REPLY`, on which the talker is blocked. The
//! listener removes both objects at the end.
//!
//! Both semaphores start at 0, which is what `semget` gives a new set, so there is no
//! window in which the talker could see them uninitialised.

mod common;

use common::{
    read_str, set_main_role, spawn_self, who, write_str, Owned, Rendezvous, Result, TIMEOUT,
};
use sysvring::sys::{SemOp, SemSet, Shm};

const SIZE: usize = 4096;
/// Where the request and the reply live in the segment.
const REQ_AT: usize = 0;
const REPLY_AT: usize = SIZE / 2;
/// Semaphore numbers: "a request is ready", "a reply is ready".
const REQUEST: u16 = 0;
const REPLY: u16 = 1;
const ROUNDS: u32 = 3;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        None => listener(),
        Some("talker") if args.len() == 4 => talker(&args[2], &args[3]),
        _ => Err("usage: listener_talker [talker PATH ID]".into()),
    }
}

fn listener() -> Result<()> {
    set_main_role("listener");
    let mut owned = Owned::default();
    let (rv, (shm, sem)) = Rendezvous::create("listener_talker", |key| {
        let shm = owned.shm(Shm::create(key, SIZE, 0o600)?);
        let sem = owned.sem(SemSet::create(key, 2, 0o600)?);
        Ok((shm, sem))
    })?;
    println!(
        "{} created shmid={} semid={} key={}",
        who(),
        shm.id(),
        sem.id(),
        rv.key()
    );
    let a = shm.attach(false)?;

    let [path, id] = rv.args();
    let mut talker = spawn_self(&["talker", &path, &id])?;
    for _ in 0..ROUNDS {
        // Blocks until the talker posts REQUEST (bounded, in case it died).
        sem.op_timeout(&[SemOp::new(REQUEST, -1)], TIMEOUT)?;
        let request = read_str(&a, REQ_AT, REPLY_AT);
        println!("{} got request: {request}", who());
        let n: u64 = request
            .rsplit(' ')
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or("malformed request")?;
        write_str(
            &a,
            REPLY_AT,
            SIZE - REPLY_AT,
            &format!("{n} squared is {}", n * n),
        )?;
        sem.op(&[SemOp::new(REPLY, 1)])?;
    }
    talker.wait_success()?;
    println!("{} {ROUNDS} rounds done", who());
    Ok(())
}

fn talker(path: &str, id: &str) -> Result<()> {
    let key = Rendezvous::key_of(path, id)?;
    let shm = Shm::open(key)?;
    let sem = SemSet::open(key)?;
    let a = shm.attach(false)?;
    println!("{} opened shmid={} semid={}", who(), shm.id(), sem.id());
    for round in 1..=ROUNDS {
        let request = format!("round {round}: square {}", round + 10);
        write_str(&a, REQ_AT, REPLY_AT, &request)?;
        println!("{} sends: {request}", who());
        sem.op(&[SemOp::new(REQUEST, 1)])?;
        sem.op_timeout(&[SemOp::new(REPLY, -1)], TIMEOUT)?;
        println!(
            "{} got reply: {}",
            who(),
            read_str(&a, REPLY_AT, SIZE - REPLY_AT)
        );
    }
    Ok(())
}
