//! The command line of `sysvring bench` (clap), and the options it resolves to.

use std::path::PathBuf;

use clap::Args;

use super::catalogue::{self, Tr};
use super::msg::SIZES;

/// `sysvring bench [OPTIONS]`.
#[derive(Debug, Args)]
#[command(
    about = "Measure throughput and latency of sysvring against baselines",
    long_about = "Measures, between real processes, one-way throughput and round-trip \
                  (ping-pong) latency of sysvring channels and of baselines, for each \
                  message size.",
    after_help = catalogue::HELP
)]
pub struct BenchArgs {
    /// Fewer sizes (8, 1024), shorter runs (0.1 s), one round
    #[arg(long)]
    quick: bool,
    /// Message sizes in bytes [default: 8,64,1024,4096]; supported: 8 16 32 64 128
    /// 256 512 1024 2048 4096
    #[arg(long, value_name = "LIST", value_parser = parse_sizes)]
    sizes: Option<Sizes>,
    /// Comma-separated transports [default: all]: floor, ceiling, spsc, spsc-zc,
    /// mpmc, mpmc2x2, blocking, crossbeam, semop, msgq-chan, pipe, unix, msgq
    #[arg(long, value_name = "LIST", value_parser = parse_transports)]
    transports: Option<Transports>,
    /// Fixed work instead of time boxes: N messages per throughput run, N round trips
    /// per latency run
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    messages: Option<u64>,
    /// Time box of each run in seconds [default: 0.15]
    #[arg(long, value_name = "SECONDS", value_parser = parse_secs)]
    time: Option<f64>,
    /// Run the whole sweep N times and keep, per measurement, the best round: highest
    /// throughput, lowest median latency [default: 3]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=100))]
    rounds: Option<u16>,
    /// Ring slots of the ring transports (a power of two)
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = parse_capacity)]
    capacity: usize,
    /// Producers and consumers of the mpmc2x2 and crossbeam rows (NxN)
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = parse_pairs)]
    pairs: usize,
    /// Pin the processes of a run on distinct CPUs, round robin over the allowed
    /// CPUs, when there are two or more (the default: steadier figures)
    #[arg(long, overrides_with = "no_pin")]
    pin: bool,
    /// Do not pin the processes of a run
    #[arg(long, overrides_with = "pin")]
    no_pin: bool,
    /// Print the results as JSON on stdout instead of the table
    #[arg(long)]
    json: bool,
    /// Also write throughput and latency against size as SVG (checked before the run)
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

#[derive(Debug, Clone)]
struct Sizes(Vec<usize>);

#[derive(Debug, Clone)]
struct Transports(Vec<Tr>);

fn parse_sizes(v: &str) -> Result<Sizes, String> {
    let mut s = Vec::new();
    for x in v.split(',').filter(|x| !x.is_empty()) {
        let n: usize = x.trim().parse().map_err(|_| format!("bad size `{x}`"))?;
        if !SIZES.contains(&n) {
            return Err(format!("unsupported size {n}; supported: {SIZES:?}"));
        }
        if !s.contains(&n) {
            s.push(n);
        }
    }
    if s.is_empty() {
        return Err("--sizes is empty".into());
    }
    s.sort_unstable();
    Ok(Sizes(s))
}

fn parse_transports(v: &str) -> Result<Transports, String> {
    let mut t = Vec::new();
    for x in v.split(',').filter(|x| !x.is_empty()) {
        let tr = Tr::ALL
            .into_iter()
            .find(|tr| tr.name() == x.trim())
            .ok_or_else(|| format!("unknown transport `{x}` (see --help)"))?;
        if !t.contains(&tr) {
            t.push(tr);
        }
    }
    if t.is_empty() {
        return Err("--transports is empty".into());
    }
    // Keep the table's order, whatever the order on the command line.
    Ok(Transports(
        Tr::ALL.into_iter().filter(|tr| t.contains(tr)).collect(),
    ))
}

fn parse_secs(v: &str) -> Result<f64, String> {
    let s: f64 = v.parse().map_err(|_| format!("bad --time `{v}`"))?;
    if !(s > 0.0 && s <= 60.0) {
        return Err("--time must be in (0, 60] seconds".into());
    }
    Ok(s)
}

fn parse_capacity(v: &str) -> Result<usize, String> {
    let n: usize = v.parse().map_err(|_| format!("bad --capacity `{v}`"))?;
    if !(2..=1 << 20).contains(&n) || !n.is_power_of_two() {
        return Err("--capacity must be a power of two in 2..=1048576".into());
    }
    Ok(n)
}

fn parse_pairs(v: &str) -> Result<usize, String> {
    let n: usize = v.parse().map_err(|_| format!("bad --pairs `{v}`"))?;
    if !(1..=64).contains(&n) {
        return Err("--pairs must be in 1..=64".into());
    }
    Ok(n)
}

/// The options of a run, resolved.
#[derive(Debug, Clone)]
pub struct Opts {
    pub sizes: Vec<usize>,
    pub transports: Vec<Tr>,
    pub messages: Option<u64>,
    pub secs: f64,
    pub rounds: usize,
    pub capacity: usize,
    pub json: bool,
    pub plot: Option<PathBuf>,
    pub pin: bool,
    /// Producers (and consumers) of the `mpmc2x2` and `crossbeam` rows.
    pub pairs: usize,
}

impl From<BenchArgs> for Opts {
    fn from(a: BenchArgs) -> Opts {
        // --quick sets the sizes, the time box and the rounds; explicit options win.
        let (sizes, secs, rounds) = if a.quick {
            (vec![8, 1024], 0.1, 1)
        } else {
            (vec![8, 64, 1024, 4096], 0.15, 3)
        };
        Opts {
            sizes: a.sizes.map_or(sizes, |s| s.0),
            transports: a.transports.map_or_else(|| Tr::ALL.to_vec(), |t| t.0),
            messages: a.messages,
            secs: a.time.unwrap_or(secs),
            rounds: a.rounds.map_or(rounds, usize::from),
            capacity: a.capacity,
            json: a.json,
            plot: a.plot,
            pin: !a.no_pin,
            pairs: a.pairs,
        }
    }
}

/// Checks that the plot can be written, before a run of many seconds: an existing
/// file is opened for appending (not truncated), a new one created and removed.
pub fn check_plot(path: &std::path::Path) -> std::io::Result<()> {
    use std::fs::OpenOptions;
    if path.exists() {
        OpenOptions::new().append(true).open(path).map(drop)
    } else {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|_| std::fs::remove_file(path))
    }
}
