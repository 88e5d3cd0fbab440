//! `sysvring`: the command-line tool of the crate.
//!
//! - `sysvring bench`: measures the channels against hand-written and OS baselines,
//!   between real processes (this binary re-executed in hidden child roles).
//! - `sysvring ls | stat | rm | gc` (the lifecycle commands, [`lifecycle`]):
//!   inspection and cleanup of channels.
//!
//! Exit status: 0 on success, 1 when something was not found or failed, 2 for a
//! usage error (unknown option, extra or missing argument, bad value, ambiguous
//! address).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod lifecycle;

/// sysvring: typed lock-free channels between processes over System V IPC
#[derive(Debug, Parser)]
#[command(name = "sysvring", version, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    Bench(bench::BenchArgs),
    Ls(lifecycle::LsArgs),
    Stat(lifecycle::StatArgs),
    Rm(lifecycle::RmArgs),
    Gc(lifecycle::GcArgs),
    /// A child process of `bench` (internal).
    #[command(name = bench::CHILD_COMMAND, hide = true)]
    BenchChild {
        /// The child's spec, in JSON.
        spec: String,
    },
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Bench(a) => bench::main(a),
        Cmd::BenchChild { spec } => bench::child_main(&spec),
        Cmd::Ls(a) => lifecycle::ls(&a),
        Cmd::Stat(a) => lifecycle::stat(&a),
        Cmd::Rm(a) => lifecycle::rm(&a),
        Cmd::Gc(a) => lifecycle::gc(&a),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
        assert_eq!(super::bench::CHILD_COMMAND, "__bench-child");
    }
}
