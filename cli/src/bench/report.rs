//! Output of `sysvring bench`: the table and the JSON document (serde).

use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use super::catalogue::Tr;
use super::fmt::{fmt_count, fmt_ns, fmt_size};
use super::opts::Opts;
use super::schedule::Row;
use super::wiring::{self, Sleeps};

/// The reference rows for the ratios of `row`: (ceiling, pipe, floor) at its size.
fn refs(rows: &[Row], size: usize) -> (Option<&Row>, Option<&Row>, Option<&Row>) {
    let find = |tr| rows.iter().find(|r| r.size == size && r.tr == tr);
    (find(Tr::Ceiling), find(Tr::Pipe), find(Tr::Floor))
}

/// Throughput of `r` over that of the reference, and median latency likewise.
fn ratios(rows: &[Row], r: &Row) -> [Option<f64>; 4] {
    let (ceil, pipe, floor) = refs(rows, r.size);
    // By bytes: a frame row's messages vary in length (for rows of one size, the
    // same as by messages).
    let thr = |x: Option<&Row>| {
        let x = x?;
        Some(r.thr?.mb_per_s(r.size) / x.thr?.mb_per_s(x.size))
    };
    let lat = |x: Option<&Row>| Some(r.lat?.p50 / x?.lat?.p50);
    [thr(ceil), thr(pipe), lat(floor), lat(pipe)]
}

/// A frame row's MB/s over its reference's (`Tr::reference`) at the same size.
fn reference_ratio(rows: &[Row], r: &Row) -> Option<f64> {
    let reftr = r.tr.reference()?;
    let x = rows.iter().find(|x| x.size == r.size && x.tr == reftr)?;
    Some(r.thr?.mb_per_s(r.size) / x.thr?.mb_per_s(x.size))
}

/// The goal of a frame row against its reference (issue 22).
const FRAMES_GOAL: f64 = 0.8;

/// Whether a figure of `r` lies beyond its bound: faster than the hand ring (the
/// ceiling) or a round trip shorter than the raw line (the floor). Such a figure
/// means that the reference run was disturbed, not that the row beat the hardware.
/// Beyond by more than 5 %, that is: closer than that is within the noise of a run.
fn suspect(rows: &[Row], r: &Row) -> (bool, bool) {
    let [rc, _, lf, _] = ratios(rows, r);
    (
        r.tr.bounded_by_ceiling() && rc.is_some_and(|x| x > 1.0 + SUSPECT_MARGIN),
        r.tr.bounded_by_floor() && lf.is_some_and(|x| x < 1.0 - SUSPECT_MARGIN),
    )
}

/// How far beyond the ceiling or the floor a figure may lie before it is marked.
const SUSPECT_MARGIN: f64 = 0.05;

fn fmt_ratio(x: Option<f64>) -> String {
    match x {
        None => "-".into(),
        Some(x) if !x.is_finite() => "-".into(),
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) if x >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.2}"),
    }
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The first line of the table and the title of the plot.
pub fn header(o: &Opts) -> String {
    let work = match o.messages {
        Some(n) => format!("{n} messages or round trips per run"),
        None => format!("{} s per run", o.secs),
    };
    let work = if o.rounds > 1 {
        format!("{work}, best of {} rounds", o.rounds)
    } else {
        work
    };
    let work = if wiring::cpus(o).is_some() {
        format!("{work}, pinned")
    } else {
        work
    };
    let model = cpu_model().map(|m| format!(", {m}")).unwrap_or_default();
    format!(
        "sysvring bench: {} CPUs{model}; {work}; ring capacity {}",
        cpus(),
        o.capacity
    )
}

/// Prints the table.
pub fn table(out: &mut impl Write, o: &Opts, rows: &[Row], elapsed: Duration) -> io::Result<()> {
    writeln!(out, "{}", header(o))?;
    writeln!(
        out,
        "throughput: one way, messages/s and MB/s (10^6 B/s); latency: round trip (ping-pong)"
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<7} {:<22} │{:>10} {:>9} {:>6} {:>6} │{:>9} {:>9} {:>9} {:>7} {:>6}",
        "size",
        "transport",
        "msg/s",
        "MB/s",
        "×ceil",
        "×pipe",
        "p50",
        "p99",
        "p99.9",
        "×floor",
        "×pipe"
    )?;
    let mut last = None;
    for r in rows {
        if last.is_some() && last != Some(r.size) {
            writeln!(out)?;
        }
        let size = if last == Some(r.size) {
            String::new()
        } else {
            fmt_size(r.size)
        };
        last = Some(r.size);
        let failed = !r.errors.is_empty();
        let dash = |ok: bool| if failed && !ok { "error" } else { "-" }.to_string();
        let [rc, rp, lf, lp] = ratios(rows, r);
        let (above, below) = suspect(rows, r);
        let mark = |x: Option<f64>, bad: bool| {
            let s = fmt_ratio(x);
            if bad {
                format!("{s}!")
            } else {
                s
            }
        };
        let (msgs, mbs) = match r.thr {
            Some(t) => (fmt_count(t.rate), format!("{:.1}", t.mb_per_s(r.size))),
            None => (dash(!r.tr.throughput()), dash(!r.tr.throughput())),
        };
        let (p50, p99, p999) = match r.lat {
            Some(l) => (fmt_ns(l.p50), fmt_ns(l.p99), fmt_ns(l.p999)),
            None => (
                dash(!r.tr.latency()),
                dash(!r.tr.latency()),
                dash(!r.tr.latency()),
            ),
        };
        writeln!(
            out,
            "{:<7} {:<22} │{:>10} {:>9} {:>6} {:>6} │{:>9} {:>9} {:>9} {:>7} {:>6}",
            size,
            r.tr.label_for(o.pairs),
            msgs,
            mbs,
            mark(rc, above),
            fmt_ratio(rp),
            p50,
            p99,
            p999,
            mark(lf, below),
            fmt_ratio(lp)
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "×ceil, ×pipe: throughput over the hand ring's and the pipe's (higher is better);"
    )?;
    writeln!(
        out,
        "×floor, ×pipe: median round trip over the raw line's and the pipe's (lower is better)."
    )?;
    for r in rows.iter().filter(|r| r.tr.reference().is_some()) {
        let (Some(t), Some(reftr)) = (r.thr, r.tr.reference()) else {
            continue;
        };
        let ratio = reference_ratio(rows, r);
        writeln!(
            out,
            "{}: frames of 16 B-4 KiB (uniform), {:.1} MB/s = {}x the reference, {} at {} \
             (the mean frame), same run; goal >= {FRAMES_GOAL}x{}",
            r.tr.label_for(o.pairs),
            t.mb_per_s(r.size),
            fmt_ratio(ratio),
            reftr.label(),
            fmt_size(r.size),
            match ratio {
                Some(x) if x >= FRAMES_GOAL => ": met",
                Some(_) => ": NOT met",
                None => "",
            }
        )?;
    }
    let suspects: Vec<_> = rows
        .iter()
        .filter(|r| suspect(rows, r) != (false, false))
        .collect();
    if !suspects.is_empty() {
        writeln!(
            out,
            "! suspect: more than 5 % beyond the ceiling or the floor measured in the same run \
             ({}); the reference run was disturbed: rerun with more --rounds on a quieter \
             machine.",
            suspects
                .iter()
                .map(|r| format!("{} {}", r.tr.label_for(o.pairs), fmt_size(r.size)))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    if o.rounds > 1 {
        spread_table(out, o, rows)?;
    }
    let errors: Vec<_> = rows
        .iter()
        .flat_map(|r| r.errors.iter().map(move |e| (r, e)))
        .collect();
    if !errors.is_empty() {
        writeln!(out)?;
        writeln!(out, "errors:")?;
        for (r, e) in errors {
            writeln!(
                out,
                "  {} {}: {e}",
                r.tr.label_for(o.pairs),
                fmt_size(r.size)
            )?;
        }
    }
    writeln!(out, "total time: {:.1} s", elapsed.as_secs_f64())?;
    Ok(())
}

/// The spread of every figure over the rounds.
fn spread_table(out: &mut impl Write, o: &Opts, rows: &[Row]) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "spread over {} rounds (min–max): throughput msg/s, median round trip",
        o.rounds
    )?;
    for r in rows {
        let thr = r
            .rate_spread()
            .map(|(lo, hi)| format!("{}–{}", fmt_count(lo), fmt_count(hi)))
            .unwrap_or_else(|| "-".into());
        let lat = r
            .median_spread()
            .map(|(lo, hi)| format!("{}–{}", fmt_ns(lo), fmt_ns(hi)))
            .unwrap_or_else(|| "-".into());
        if thr == "-" && lat == "-" {
            continue;
        }
        writeln!(
            out,
            "  {:<7} {:<22} │{:>21} │{:>21}",
            fmt_size(r.size),
            r.tr.label_for(o.pairs),
            thr,
            lat
        )?;
    }
    Ok(())
}

// ---- JSON ---------------------------------------------------------------------------

/// Lowest and highest value over the rounds.
#[derive(Serialize)]
struct Spread {
    min: f64,
    max: f64,
}

impl Spread {
    fn of(s: Option<(f64, f64)>) -> Option<Spread> {
        s.map(|(min, max)| Spread { min, max })
    }
}

#[derive(Serialize)]
struct JsonThroughput {
    messages: u64,
    seconds: f64,
    msgs_per_s: f64,
    mb_per_s: f64,
    /// The row this one is compared with (a frame row: the fixed-size channel of
    /// the mean frame size), and MB/s over its MB/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio_reference: Option<f64>,
    ratio_ceiling: Option<f64>,
    ratio_pipe: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kernel_sleeps: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wakeups: Option<u64>,
    /// Messages per second, over the rounds.
    spread: Option<Spread>,
}

#[derive(Serialize)]
struct JsonLatency {
    samples: u64,
    min: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    mean: f64,
    ratio_floor: Option<f64>,
    ratio_pipe: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kernel_sleeps: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wakeups: Option<u64>,
    /// Median round trip, over the rounds.
    spread: Option<Spread>,
}

#[derive(Serialize)]
struct JsonRow<'a> {
    transport: &'static str,
    label: String,
    size: usize,
    throughput: Option<JsonThroughput>,
    latency_ns: Option<JsonLatency>,
    /// A figure beyond the ceiling or the floor of the same run.
    suspect: bool,
    errors: &'a [String],
}

#[derive(Serialize)]
struct JsonDoc<'a> {
    tool: &'static str,
    version: &'static str,
    cpus: usize,
    cpu_model: Option<String>,
    seconds_per_run: f64,
    messages: Option<u64>,
    rounds: usize,
    pinned: bool,
    capacity: usize,
    elapsed_s: f64,
    results: Vec<JsonRow<'a>>,
}

fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|x| x.is_finite())
}

fn sleeps(s: Option<Sleeps>) -> (Option<u64>, Option<u64>) {
    (s.map(|s| s.sleeps), s.map(|s| s.wakeups))
}

/// Prints the results as one JSON document.
pub fn json(out: &mut impl Write, o: &Opts, rows: &[Row], elapsed: Duration) -> io::Result<()> {
    let results = rows
        .iter()
        .map(|r| {
            let [rc, rp, lf, lp] = ratios(rows, r);
            let (above, below) = suspect(rows, r);
            JsonRow {
                transport: r.tr.name(),
                label: r.tr.label_for(o.pairs),
                size: r.size,
                throughput: r.thr.map(|t| {
                    let (kernel_sleeps, wakeups) = sleeps(t.sleeps);
                    JsonThroughput {
                        messages: t.msgs,
                        seconds: t.secs,
                        msgs_per_s: t.rate.round(),
                        mb_per_s: t.mb_per_s(r.size),
                        reference: r.tr.reference().map(Tr::name),
                        ratio_reference: finite(reference_ratio(rows, r)),
                        ratio_ceiling: finite(rc),
                        ratio_pipe: finite(rp),
                        kernel_sleeps,
                        wakeups,
                        spread: Spread::of(r.rate_spread()),
                    }
                }),
                latency_ns: r.lat.map(|l| {
                    let (kernel_sleeps, wakeups) = sleeps(l.sleeps);
                    JsonLatency {
                        samples: l.samples,
                        min: l.min,
                        p50: l.p50,
                        p99: l.p99,
                        p999: l.p999,
                        mean: l.mean.round(),
                        ratio_floor: finite(lf),
                        ratio_pipe: finite(lp),
                        kernel_sleeps,
                        wakeups,
                        spread: Spread::of(r.median_spread()),
                    }
                }),
                suspect: above || below,
                errors: &r.errors,
            }
        })
        .collect();
    let doc = JsonDoc {
        tool: "sysvring bench",
        version: env!("CARGO_PKG_VERSION"),
        cpus: cpus(),
        cpu_model: cpu_model(),
        seconds_per_run: o.secs,
        messages: o.messages,
        rounds: o.rounds,
        pinned: wiring::cpus(o).is_some(),
        capacity: o.capacity,
        elapsed_s: elapsed.as_secs_f64(),
        results,
    };
    serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::from)?;
    writeln!(out)
}
