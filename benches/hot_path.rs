//! Instructions per message on the hot path, for `valgrind --tool=callgrind`.
//!
//! Timings on a shared 2-core machine swing several-fold; instruction counts do not.
//! This program sends and receives `N` messages in one thread (the ring never full,
//! never empty for long: no waiting, no other process), so what callgrind counts is
//! the per-message work of the library against a minimal hand-written ring doing
//! the same in the same binary:
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

/// A one-thread SPSC ring over a plain buffer: cached indices, no presence checks,
/// no wake-ups, no validation. What the library's per-message work is compared with.
struct HandRing {
    slots: Vec<u64>,
    head: std::sync::atomic::AtomicU64,
    tail: std::sync::atomic::AtomicU64,
}

impl HandRing {
    fn push(&self, v: u64) -> bool {
        use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
        let t = self.tail.load(Relaxed);
        if t - self.head.load(Acquire) >= self.slots.len() as u64 {
            return false;
        }
        let i = (t as usize) & (self.slots.len() - 1);
        // SAFETY: i is masked into the buffer; one thread uses the ring.
        unsafe { (self.slots.as_ptr() as *mut u64).add(i).write(v) };
        self.tail.store(t + 1, Release);
        true
    }

    fn pop(&self) -> Option<u64> {
        use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
        let h = self.head.load(Relaxed);
        if h == self.tail.load(Acquire) {
            return None;
        }
        let i = (h as usize) & (self.slots.len() - 1);
        // SAFETY: as in push.
        let v = unsafe { self.slots.as_ptr().add(i).read() };
        self.head.store(h + 1, Release);
        Some(v)
    }
}

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
        let r = HandRing {
            slots: vec![0; 1024],
            head: 0.into(),
            tail: 0.into(),
        };
        for i in 0..n {
            // black_box: keep the loop a loop of pushes and pops (the optimizer would
            // otherwise see through a ring private to this function).
            let r = std::hint::black_box(&r);
            assert!(r.push(std::hint::black_box(i)));
            sum = sum.wrapping_add(r.pop().expect("a message"));
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
