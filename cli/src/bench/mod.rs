//! `sysvring bench`: throughput and round-trip latency of sysvring channels and of
//! baselines, between real processes, in one run.
//!
//! Every measurement spawns fresh children (this binary, re-executed with the hidden
//! [`CHILD_COMMAND`] and a typed [`protocol::ChildSpec`]); the parent creates the kernel
//! objects they share, starts them together on a semaphore, collects their reports,
//! and removes the objects.
//!
//! Method:
//! - throughput: a producer sends for a time box (or `--messages`), one message per
//!   call; the consumer checks every sequence number and measures its receive rate
//!   after a warm-up fifth of the box, between clock reads taken every 64 messages;
//! - latency: a pinger sends, the ponger echoes, the pinger takes one clock read
//!   around each round trip; the first 5 % of the round trips are dropped;
//! - the sweep runs `--rounds` times (3) and each figure keeps its best round, since
//!   other work on the machine only ever makes a figure worse; the spread of the
//!   rounds is reported too.
//!
//! Files: [`opts`] (command line), [`catalogue`] (the rows), [`schedule`] (the sweep
//! and progress), [`wiring`] (one measurement: objects, children, figures),
//! [`procs`] (children and guards), [`protocol`] (the parent-child protocol), [`child`]
//! and [`endpoints`] (the child side), [`report`] and [`plot`] (output), [`msg`] and
//! [`ring`] (the message types and the reference ring, shared with `benches/`),
//! [`frames`] (what the byte-frame rows' children share),
//! [`error`] (the error type). Arrows point one way: this file uses the files, they
//! use one another and never this file; `tests/layers.rs` checks for cycles.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

mod catalogue;
mod child;
mod endpoints;
mod error;
mod fmt;
mod frames;
pub mod msg;
mod opts;
mod plot;
mod procs;
mod protocol;
mod report;
pub mod ring;
mod schedule;
mod segment;
mod wiring;

pub use child::main as child_main;
pub use opts::BenchArgs;
pub use protocol::CHILD_COMMAND;

/// Runs `sysvring bench`.
pub fn main(args: BenchArgs) -> ExitCode {
    let opts = opts::Opts::from(args);
    if let Some(path) = &opts.plot {
        if let Err(e) = opts::check_plot(path) {
            eprintln!(
                "sysvring bench: --plot {}: cannot write there: {e}",
                path.display()
            );
            return ExitCode::from(2);
        }
    }
    if let Err(e) = procs::catch_interrupts() {
        eprintln!("sysvring bench: {e}");
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let rows = schedule::run_all(&opts);
    let elapsed = started.elapsed();
    let leaked = procs::leaked();
    if !leaked.is_empty() {
        eprintln!("sysvring bench: BUG: System V objects left behind: {leaked:?}");
    }
    if let Some(sig) = procs::interrupt_signal() {
        eprintln!(
            "sysvring bench: interrupted after {:.1} s; its children and System V objects are gone",
            elapsed.as_secs_f64()
        );
        return ExitCode::from(128 + sig as u8);
    }
    let mut out = std::io::stdout().lock();
    let printed = if opts.json {
        report::json(&mut out, &opts, &rows, elapsed)
    } else {
        report::table(&mut out, &opts, &rows, elapsed)
    };
    if let Err(e) = printed.and_then(|()| out.flush()) {
        eprintln!("sysvring bench: writing the results: {e}");
        return ExitCode::FAILURE;
    }
    if let Some(path) = &opts.plot {
        match plot::svg(path, &opts, &rows) {
            Ok(()) => eprintln!("plot written to {}", path.display()),
            Err(e) => {
                eprintln!("sysvring bench: writing {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if !leaked.is_empty() || rows.iter().any(|r| !r.errors.is_empty()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
