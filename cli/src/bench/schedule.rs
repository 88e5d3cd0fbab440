//! The sweep: every row at every size, throughput and latency, `--rounds` times;
//! each figure keeps its best round and the spread of all of them. Progress (with an
//! estimate of the time left) goes to stderr.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use super::catalogue::Tr;
use super::fmt::{fmt_count, fmt_ns, fmt_size, fmt_sleeps};
use super::frames::FRAME_MEAN_SIZE;
use super::opts::Opts;
use super::procs;
use super::wiring::{self, Lat, Thr};

/// One row of the results: a transport at a size.
#[derive(Debug, Clone)]
pub struct Row {
    pub tr: Tr,
    pub size: usize,
    /// The best throughput round.
    pub thr: Option<Thr>,
    /// The best latency round.
    pub lat: Option<Lat>,
    /// Every round's rate, messages per second.
    pub rates: Vec<f64>,
    /// Every round's median round trip, nanoseconds.
    pub medians: Vec<f64>,
    pub errors: Vec<String>,
}

/// Lowest and highest of `v`, when it has two values or more.
fn spread(v: &[f64]) -> Option<(f64, f64)> {
    (v.len() >= 2).then(|| {
        v.iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            })
    })
}

impl Row {
    /// Lowest and highest throughput over the rounds (messages per second).
    pub fn rate_spread(&self) -> Option<(f64, f64)> {
        spread(&self.rates)
    }

    /// Lowest and highest median round trip over the rounds (nanoseconds).
    pub fn median_spread(&self) -> Option<(f64, f64)> {
        spread(&self.medians)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Throughput,
    Latency,
}

/// The rows of the sweep, size by size: every transport at every size, but the
/// frame rows only at the mean frame size, together with their references (the
/// fixed-size channel of that size, measured even when `--sizes` or `--transports`
/// leaves it out).
fn plan(o: &Opts) -> Vec<(usize, Tr)> {
    let refs: Vec<Tr> = o.transports.iter().filter_map(|t| t.reference()).collect();
    let mut sizes = o.sizes.clone();
    if !refs.is_empty() && !sizes.contains(&FRAME_MEAN_SIZE) {
        sizes.push(FRAME_MEAN_SIZE);
        sizes.sort_unstable();
    }
    let mut out = Vec::new();
    for &size in &sizes {
        for tr in Tr::ALL {
            let asked = o.transports.contains(&tr);
            let keep = if tr.reference().is_some() {
                asked && size == FRAME_MEAN_SIZE
            } else {
                (asked && o.sizes.contains(&size))
                    || (size == FRAME_MEAN_SIZE && refs.contains(&tr))
            };
            if keep {
                out.push((size, tr));
            }
        }
    }
    out
}

/// Runs the sweep; stops early (with what it has) once interrupted.
pub fn run_all(o: &Opts) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut jobs = Vec::new();
    for (size, tr) in plan(o) {
        {
            rows.push(Row {
                tr,
                size,
                thr: None,
                lat: None,
                rates: Vec::new(),
                medians: Vec::new(),
                errors: Vec::new(),
            });
            let i = rows.len() - 1;
            if tr.throughput() {
                jobs.push((i, Kind::Throughput));
            }
            if tr.latency() {
                jobs.push((i, Kind::Latency));
            }
        }
    }
    // Rounds run the whole sweep again rather than repeating a measurement at once:
    // interference from the rest of the machine comes in bursts, and a burst spoils
    // one round of a measurement, not all of them.
    let total = jobs.len() * o.rounds;
    let mut p = Progress::new(total);
    'rounds: for round in 0..o.rounds {
        for (n, &(i, kind)) in jobs.iter().enumerate() {
            if procs::interrupted() {
                break 'rounds;
            }
            let (tr, size) = (rows[i].tr, rows[i].size);
            let what = match kind {
                Kind::Throughput => "throughput",
                Kind::Latency => "latency",
            };
            p.start(
                round * jobs.len() + n,
                &format!(
                    "{:>6}  {:<22} {what}",
                    fmt_size(size),
                    tr.label_for(o.pairs)
                ),
            );
            let row = &mut rows[i];
            let r = match kind {
                Kind::Throughput => wiring::throughput(tr, size, o).map(|t| {
                    let s = format!(
                        "{}/s  {:.1} MB/s{}",
                        fmt_count(t.rate),
                        t.mb_per_s(size),
                        fmt_sleeps(t.sleeps)
                    );
                    row.rates.push(t.rate);
                    // Best round: the highest rate.
                    if row.thr.map_or(true, |b| t.rate > b.rate) {
                        row.thr = Some(t);
                    }
                    s
                }),
                Kind::Latency => wiring::latency(tr, size, o).map(|l| {
                    let s = format!(
                        "p50 {}  p99 {}  p99.9 {}{}",
                        fmt_ns(l.p50),
                        fmt_ns(l.p99),
                        fmt_ns(l.p999),
                        fmt_sleeps(l.sleeps)
                    );
                    row.medians.push(l.p50);
                    // Best round: the lowest median (its tail comes with it).
                    if row.lat.map_or(true, |b| l.p50 < b.p50) {
                        row.lat = Some(l);
                    }
                    s
                }),
            };
            match r {
                Ok(s) => p.done(&s),
                // An interrupted measurement is not a failure of the row.
                Err(_) if procs::interrupted() => break 'rounds,
                Err(e) => {
                    let e = format!("{what}: {e}");
                    p.failed(&e);
                    row.errors.push(e);
                }
            }
        }
    }
    p.finish();
    rows
}

/// Progress on stderr: one line per measurement, rewritten in place on a terminal,
/// with the time left estimated from the measurements done so far.
struct Progress {
    total: usize,
    tty: bool,
    line: String,
    started: Instant,
}

fn fmt_eta(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

impl Progress {
    fn new(total: usize) -> Self {
        Progress {
            total,
            tty: std::io::stderr().is_terminal(),
            line: String::new(),
            started: Instant::now(),
        }
    }

    fn start(&mut self, n: usize, what: &str) {
        let w = self.total.to_string().len();
        let eta = if n == 0 {
            String::new()
        } else {
            let left = self
                .started
                .elapsed()
                .mul_f64((self.total - n) as f64 / n as f64);
            format!(" eta {}", fmt_eta(left))
        };
        self.line = format!("[{:>w$}/{}{eta}] {what}", n + 1, self.total);
        if self.tty {
            eprint!("\r\x1b[2K{} ...", self.line);
            let _ = std::io::stderr().flush();
        }
    }

    fn done(&mut self, result: &str) {
        if self.tty {
            eprint!("\r\x1b[2K{}  {result}", self.line);
        } else {
            eprintln!("{}  {result}", self.line);
        }
    }

    fn failed(&mut self, e: &str) {
        if self.tty {
            eprintln!("\r\x1b[2K{}  FAILED", self.line);
        } else {
            eprintln!("{}  FAILED", self.line);
        }
        eprintln!("    {e}");
    }

    fn finish(&mut self) {
        if self.tty {
            if procs::interrupted() {
                eprintln!("\r\x1b[2K{}  interrupted", self.line);
            } else {
                eprintln!("\r\x1b[2K[{0}/{0}] done", self.total);
            }
        }
    }
}
