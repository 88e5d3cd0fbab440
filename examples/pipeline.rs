//! A producer process and a consumer process meeting by key.
//!
//! `cargo run --example pipeline` starts both as child processes of this one (the
//! consumer first, to show that start order does not matter), or run the roles by
//! hand in two terminals:
//!
//! ```text
//! cargo run --example pipeline -- consumer 0x7e570001
//! cargo run --example pipeline -- producer 0x7e570001
//! ```

use std::process::Command;
use std::time::{Duration, Instant};

use sysvring::{Builder, Error, Flavor, Key};

/// The message: plain old data, copied as bytes into the ring.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
#[repr(C)]
struct Tick {
    seq: u64,
    price: f64,
}

const TICKS: u64 = 100_000;

fn producer(key: Key) -> Result<(), Box<dyn std::error::Error>> {
    let ch = Builder::<Tick>::new(key)
        .capacity(4096)
        .flavor(Flavor::Spsc)
        .create()?;
    let tx = ch.sender()?;
    for seq in 0..TICKS {
        tx.send(Tick {
            seq,
            price: 100.0 + seq as f64 / 100.0,
        })?;
    }
    // The creator removes the channel when it drops its handles; wait (bounded) until
    // the consumer has taken everything so nothing is lost with the segment.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ch.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    println!("producer: sent {TICKS} ticks");
    Ok(())
}

fn consumer(key: Key) -> Result<(), Box<dyn std::error::Error>> {
    // The producer may not have created the channel yet: retry for a while.
    let deadline = Instant::now() + Duration::from_secs(10);
    let ch = loop {
        match Builder::<Tick>::new(key).open() {
            Ok(ch) => break ch,
            Err(Error::NotFound) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => return Err(e.into()),
        }
    };
    let rx = ch.receiver()?;
    let (mut n, mut last) = (0u64, None);
    for tick in rx.iter() {
        assert_eq!(tick.seq, n, "ticks arrive in order");
        n += 1;
        last = Some(tick);
    }
    println!("consumer: received {n} ticks, last {last:?}");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let parse = |s: &str| i32::from_str_radix(s.trim_start_matches("0x"), 16).map(Key::from_raw);
    match args.get(1).map(String::as_str) {
        Some("producer") => producer(parse(&args[2])?),
        Some("consumer") => consumer(parse(&args[2])?),
        _ => {
            let key = format!("{:#x}", 0x7e57_0000 | (std::process::id() & 0xffff));
            let exe = std::env::current_exe()?;
            let mut c = Command::new(&exe).args(["consumer", &key]).spawn()?;
            let mut p = Command::new(&exe).args(["producer", &key]).spawn()?;
            let (ps, cs) = (p.wait()?, c.wait()?);
            if !ps.success() || !cs.success() {
                return Err(format!("producer {ps}, consumer {cs}").into());
            }
            Ok(())
        }
    }
}
