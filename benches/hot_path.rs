//! Instructions per message on the hot path, for `valgrind --tool=callgrind`.
//!
//! Timings on a shared 2-core machine swing several-fold; instruction counts do not.
//! This program sends and receives `N` messages in one thread (the ring never full,
//! never empty for long: no waiting, no other process), so what callgrind counts is
//! the per-message work of the library against the hand-written reference ring (the
//! one `sysvring bench` measures as its ceiling, included from
//! `cli/src/bench/ring.rs`) doing the same in the same binary:
//!
//! ```text
//! cargo bench --bench hot_path --no-run
//! B=$(ls -t target/release/deps/hot_path-* | grep -v '\.d$' | head -1)
//! for case in hand spsc spsc-zc spsc-try mpmc; do
//!   for n in 1000000 2000000; do
//!     valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$case.$n $B $case $n
//!   done
//! done
//! ```
//!
//! The difference of the two totals (`callgrind_annotate /tmp/cg.CASE.N | grep
//! 'PROGRAM TOTALS'`) divided by 1,000,000 is the cost of one send plus one receive
//! without the setup. Run without valgrind it prints its own nanoseconds per message
//! (single thread: no cache line crosses cores, so this is the instruction cost
//! only, not the cross-process figure `sysvring bench` gives).

use std::time::Instant;

use sysvring::{Builder, Flavor, Key};

// The one hand-written reference ring of the crate, shared with `sysvring bench` (the
// ceiling row): cached indices, no presence checks, no wake-ups, no validation. Here
// it lives on the heap and one thread pushes and pops.
#[allow(dead_code)]
#[path = "../cli/src/bench/ring.rs"]
mod ring;

use ring::{HandConsumer, HandProducer, HeapRegion};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`: run a short default case then.
    let case = args.get(1).filter(|a| !a.starts_with('-')).cloned();
    let n: u64 = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let cases = match case {
        Some(c) => vec![c],
        None => ["hand", "spsc", "spsc-zc", "spsc-try", "mpmc"]
            .map(String::from)
            .to_vec(),
    };
    for case in cases {
        let start = Instant::now();
        let sum = run(&case, n);
        let ns = start.elapsed().as_nanos() as f64 / n as f64;
        println!("{case:<9} {n} messages  {ns:.1} ns per send+recv  (checksum {sum})");
    }
}

fn run(case: &str, n: u64) -> u64 {
    let mut sum = 0u64;
    if case == "hand" {
        const CAP: usize = 1024;
        let region = HeapRegion::new(ring::ring_bytes(std::mem::size_of::<u64>(), CAP));
        let mut tx = HandProducer::<u64, _>::new(&region, CAP).expect("a ring");
        let mut rx = HandConsumer::<u64, _>::new(&region, CAP).expect("a ring");
        for i in 0..n {
            // black_box: keep the loop a loop of pushes and pops (the optimizer would
            // otherwise see through a ring private to this function).
            let (tx, rx) = (std::hint::black_box(&mut tx), std::hint::black_box(&mut rx));
            tx.push(std::hint::black_box(i)).expect("room");
            sum = sum.wrapping_add(rx.pop().expect("no error").expect("a message"));
        }
        return sum;
    }
    let flavor = if case == "mpmc" {
        Flavor::Mpmc
    } else {
        Flavor::Spsc
    };
    let ch = Builder::<u64>::new(Key::private())
        .capacity(1024)
        .flavor(flavor)
        .create()
        .expect("a channel");
    let tx = ch.sender().expect("sender");
    let rx = ch.receiver().expect("receiver");
    match case {
        "spsc" | "mpmc" => {
            for i in 0..n {
                tx.send(i).expect("send");
                sum = sum.wrapping_add(rx.recv().expect("recv"));
            }
        }
        "spsc-zc" => {
            for i in 0..n {
                tx.send_with(|slot| *slot = i).expect("send_with");
                sum = sum.wrapping_add(rx.recv_with(|m| *m).expect("recv_with"));
            }
        }
        "spsc-try" => {
            for i in 0..n {
                tx.try_send(i).expect("try_send");
                sum = sum.wrapping_add(rx.try_recv().expect("try_recv"));
            }
        }
        other => panic!("unknown case `{other}` (hand, spsc, spsc-zc, spsc-try, mpmc)"),
    }
    sum
}
