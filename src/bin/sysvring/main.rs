//! `sysvring`: the command-line tool of the crate.
//!
//! - `sysvring bench`: measures the channels against hand-written and OS baselines,
//!   between real processes (this binary re-executed in hidden child roles).
//! - `sysvring ls | stat | rm | gc`: inspection and cleanup of channels.

use std::process::ExitCode;

mod admin;
mod bench;

const USAGE: &str = "\
sysvring: typed lock-free channels between processes over System V IPC

Usage: sysvring <COMMAND> [OPTIONS]

Commands:
  bench     Measure throughput and latency of sysvring against baselines
            (run `sysvring bench --help` for its options)
  ls [--json]              List the sysvring channels on this host
  stat KEY|ID [--json]     Show one channel: header, users and counters
  rm KEY|ID [--force]      Remove a channel (refused while users remain)
  gc [--dry-run]           Remove every channel no live process uses
  help      Print this help

Options:
  -h, --help     Print this help
  -V, --version  Print the version
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    match cmd.as_str() {
        "bench" => bench::main(rest),
        bench::CHILD_COMMAND => bench::child_main(rest),
        "ls" => admin::ls(rest),
        "stat" => admin::stat(rest),
        "rm" => admin::rm(rest),
        "gc" => admin::gc(rest),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        "-V" | "--version" => {
            println!("sysvring {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("sysvring: unknown command `{other}`\n");
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
