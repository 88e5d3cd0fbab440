//! A separately compiled producer for type-identity checks: it defines its own
//! `Tick`, opens the channel at the key given on the command line, and sends `N`
//! ticks. Another program (the `examples` test, or your consumer) that defines the
//! same `#[repr(C)]` struct with `#[derive(sysvring::Message)]` receives them: the
//! fingerprint is structural (type name, field names, types and offsets), so the two
//! builds agree without sharing code. A different definition is refused at `open`
//! with `TypeMismatch`, which this program prints (exit code 3).
//!
//! Run: `cargo run --example tick_sender -- KEY N` against a channel of `Tick` that
//! another process created at `KEY` (decimal or `0x` hex).

use sysvring::{Builder, Error, Key};

/// A market tick, as the consumer defines it too.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
#[repr(C)]
struct Tick {
    seq: u64,
    price: f64,
}

fn parse_key(s: &str) -> Option<i32> {
    let v = match s.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok()?,
        None => s.parse().ok()?,
    };
    i32::try_from(v)
        .ok()
        .or_else(|| u32::try_from(v).ok().map(|u| u as i32))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(key), Some(n)) = (
        args.get(1).and_then(|s| parse_key(s)),
        args.get(2).and_then(|s| s.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: tick_sender KEY N");
        std::process::exit(2);
    };
    let ch = match Builder::<Tick>::new(Key::from_raw(key)).open() {
        Ok(ch) => ch,
        Err(e @ Error::TypeMismatch { .. }) => {
            println!("refused: {e}");
            std::process::exit(3);
        }
        Err(e) => {
            eprintln!("open: {e}");
            std::process::exit(1);
        }
    };
    let tx = ch.sender().unwrap_or_else(|e| {
        eprintln!("sender: {e}");
        std::process::exit(1);
    });
    for seq in 0..n {
        if let Err(e) = tx.send(Tick {
            seq,
            price: seq as f64 * 0.5,
        }) {
            eprintln!("send: {e}");
            std::process::exit(1);
        }
    }
    println!("sent {n} ticks");
}
