//! Output of `sysvring bench`: the table, the JSON document and the SVG plot.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use super::{fmt_count, fmt_ns, fmt_size, Opts, Row, Tr};

/// The reference rows for the ratios of `row`: (ceiling, pipe, floor) at its size.
fn refs(rows: &[Row], size: usize) -> (Option<&Row>, Option<&Row>, Option<&Row>) {
    let find = |tr| rows.iter().find(|r| r.size == size && r.tr == tr);
    (find(Tr::Ceiling), find(Tr::Pipe), find(Tr::Floor))
}

/// Throughput of `r` over that of the reference, and median latency likewise.
fn ratios(rows: &[Row], r: &Row) -> [Option<f64>; 4] {
    let (ceil, pipe, floor) = refs(rows, r.size);
    let thr = |x: Option<&Row>| Some(r.thr?.rate / x?.thr?.rate);
    let lat = |x: Option<&Row>| Some(r.lat?.p50 / x?.lat?.p50);
    [thr(ceil), thr(pipe), lat(floor), lat(pipe)]
}

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

fn header(o: &Opts) -> String {
    let work = match o.messages {
        Some(n) => format!("{n} messages or round trips per run"),
        None => format!("{} s per run", o.secs),
    };
    let work = if o.rounds > 1 {
        format!("{work}, best of {} rounds", o.rounds)
    } else {
        work
    };
    let work = if super::cpus(o).is_some() {
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
        let (msgs, mbs) = match r.thr {
            Some(t) => (
                fmt_count(t.rate),
                format!("{:.1}", t.rate * r.size as f64 / 1e6),
            ),
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
            fmt_ratio(rc),
            fmt_ratio(rp),
            p50,
            p99,
            p999,
            fmt_ratio(lf),
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

// ---- JSON ---------------------------------------------------------------------------

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(x: Option<f64>) -> String {
    match x {
        Some(x) if x.is_finite() => {
            if x == x.trunc() && x.abs() < 1e15 {
                format!("{x:.0}")
            } else {
                format!("{x:.6}")
            }
        }
        _ => "null".into(),
    }
}

fn json_sleeps(s: Option<super::Sleeps>) -> String {
    s.map(|s| {
        format!(
            ", \"kernel_sleeps\": {}, \"wakeups\": {}",
            s.sleeps, s.wakeups
        )
    })
    .unwrap_or_default()
}

/// Prints the results as one JSON document.
pub fn json(out: &mut impl Write, o: &Opts, rows: &[Row], elapsed: Duration) -> io::Result<()> {
    let mut s = String::new();
    s.push_str("{\n");
    let _ = writeln!(s, "  \"tool\": \"sysvring bench\",");
    let _ = writeln!(s, "  \"version\": {},", json_str(env!("CARGO_PKG_VERSION")));
    let _ = writeln!(s, "  \"cpus\": {},", cpus());
    let _ = writeln!(
        s,
        "  \"cpu_model\": {},",
        cpu_model().map_or("null".into(), |m| json_str(&m))
    );
    let _ = writeln!(s, "  \"seconds_per_run\": {},", json_num(Some(o.secs)));
    let _ = writeln!(
        s,
        "  \"messages\": {},",
        o.messages.map_or("null".into(), |n| n.to_string())
    );
    let _ = writeln!(s, "  \"rounds\": {},", o.rounds);
    let _ = writeln!(s, "  \"pinned\": {},", super::cpus(o).is_some());
    let _ = writeln!(s, "  \"capacity\": {},", o.capacity);
    let _ = writeln!(
        s,
        "  \"elapsed_s\": {},",
        json_num(Some(elapsed.as_secs_f64()))
    );
    s.push_str("  \"results\": [");
    for (i, r) in rows.iter().enumerate() {
        let [rc, rp, lf, lp] = ratios(rows, r);
        s.push_str(if i == 0 { "\n" } else { ",\n" });
        let _ = write!(
            s,
            "    {{\"transport\": {}, \"label\": {}, \"size\": {}",
            json_str(r.tr.name()),
            json_str(&r.tr.label_for(o.pairs)),
            r.size
        );
        match r.thr {
            Some(t) => {
                let _ = write!(
                    s,
                    ", \"throughput\": {{\"messages\": {}, \"seconds\": {}, \"msgs_per_s\": {}, \"mb_per_s\": {}, \"ratio_ceiling\": {}, \"ratio_pipe\": {}{}}}",
                    t.msgs,
                    json_num(Some(t.secs)),
                    json_num(Some(t.rate.round())),
                    json_num(Some(t.rate * r.size as f64 / 1e6)),
                    json_num(rc),
                    json_num(rp),
                    json_sleeps(t.sleeps)
                );
            }
            None => s.push_str(", \"throughput\": null"),
        }
        match r.lat {
            Some(l) => {
                let _ = write!(
                    s,
                    ", \"latency_ns\": {{\"samples\": {}, \"min\": {}, \"p50\": {}, \"p99\": {}, \"p999\": {}, \"mean\": {}, \"ratio_floor\": {}, \"ratio_pipe\": {}{}}}",
                    l.samples,
                    json_num(Some(l.min)),
                    json_num(Some(l.p50)),
                    json_num(Some(l.p99)),
                    json_num(Some(l.p999)),
                    json_num(Some(l.mean.round())),
                    json_num(lf),
                    json_num(lp),
                    json_sleeps(l.sleeps)
                );
            }
            None => s.push_str(", \"latency_ns\": null"),
        }
        let errs: Vec<String> = r.errors.iter().map(|e| json_str(e)).collect();
        let _ = write!(s, ", \"errors\": [{}]}}", errs.join(", "));
    }
    s.push_str("\n  ]\n}\n");
    out.write_all(s.as_bytes())
}

// ---- SVG ----------------------------------------------------------------------------

/// One colour per row of `Tr::ALL` (in that order), all distinct.
const COLORS: [&str; 13] = [
    "#555555", "#000000", "#d62728", "#ff7f0e", "#e377c2", "#9467bd", "#1f77b4", "#17becf",
    "#2ca02c", "#bcbd22", "#8c564b", "#7f7f7f", "#393b79",
];
const _: () = assert!(COLORS.len() == Tr::ALL.len());

fn color(tr: Tr) -> &'static str {
    COLORS[Tr::ALL.iter().position(|&t| t == tr).unwrap_or(0) % COLORS.len()]
}

fn dashed(tr: Tr) -> bool {
    matches!(tr, Tr::Floor | Tr::Ceiling)
}

/// One log-log panel: x is the message size, y a positive value per transport.
struct Panel<'a> {
    x0: f64,
    y0: f64,
    w: f64,
    h: f64,
    title: &'a str,
    unit: &'a str,
}

fn log_range(vals: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite() && *v > 0.0) {
        lo = lo.min(v.log10());
        hi = hi.max(v.log10());
    }
    if lo > hi {
        return None;
    }
    let (lo, hi) = (lo.floor(), hi.ceil());
    Some(if lo == hi { (lo, lo + 1.0) } else { (lo, hi) })
}

fn fmt_tick(exp: f64) -> String {
    let v = 10f64.powf(exp);
    if v >= 1e9 {
        format!("{:.0}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.0}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn panel(s: &mut String, p: &Panel<'_>, sizes: &[usize], series: &[(Tr, Vec<(usize, f64)>)]) {
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" font-size="15" font-weight="bold" text-anchor="middle">{}</text>"#,
        p.x0 + p.w / 2.0,
        p.y0 - 14.0,
        p.title
    );
    let _ = writeln!(
        s,
        r##"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#888"/>"##,
        p.x0, p.y0, p.w, p.h
    );
    let lx = |n: usize| (n as f64).log2();
    let (xmin, xmax) = match (sizes.first(), sizes.last()) {
        (Some(&a), Some(&b)) if a != b => (lx(a), lx(b)),
        (Some(&a), _) => (lx(a) - 1.0, lx(a) + 1.0),
        _ => return,
    };
    let Some((ymin, ymax)) = log_range(series.iter().flat_map(|(_, v)| v.iter().map(|p| p.1)))
    else {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#888">no data</text>"##,
            p.x0 + p.w / 2.0,
            p.y0 + p.h / 2.0
        );
        return;
    };
    let px = |n: usize| p.x0 + (lx(n) - xmin) / (xmax - xmin) * p.w;
    let py = |v: f64| p.y0 + p.h - (v.log10() - ymin) / (ymax - ymin) * p.h;
    for &n in sizes {
        let x = px(n);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"##,
            p.y0,
            p.y0 + p.h,
            p.y0 + p.h + 15.0,
            super::fmt_size(n)
        );
    }
    let mut e = ymin;
    while e <= ymax + 1e-9 {
        let y = p.y0 + p.h - (e - ymin) / (ymax - ymin) * p.h;
        let _ = writeln!(
            s,
            r##"<line x1="{}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            p.x0,
            p.x0 + p.w,
            p.x0 - 5.0,
            y + 4.0,
            fmt_tick(e)
        );
        e += 1.0;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">message size</text>"#,
        p.x0 + p.w / 2.0,
        p.y0 + p.h + 32.0
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 {:.1} {:.1})">{}</text>"#,
        p.x0 - 48.0,
        p.y0 + p.h / 2.0,
        p.x0 - 48.0,
        p.y0 + p.h / 2.0,
        p.unit
    );
    for (tr, pts) in series {
        if pts.is_empty() {
            continue;
        }
        let c = color(*tr);
        let d: Vec<String> = pts
            .iter()
            .map(|&(n, v)| format!("{:.1},{:.1}", px(n), py(v)))
            .collect();
        let dash = if dashed(*tr) {
            r#" stroke-dasharray="6,4""#
        } else {
            ""
        };
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2"{dash}/>"#,
            d.join(" ")
        );
        for &(n, v) in pts {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{c}"/>"#,
                px(n),
                py(v)
            );
        }
    }
}

/// Writes throughput (MB/s) and median round trip (µs) against message size.
pub fn svg(path: &Path, o: &Opts, rows: &[Row]) -> io::Result<()> {
    // Room for the legend: three entries a row under the panels.
    let legend_rows = o.transports.len().div_ceil(3) as f64;
    let (w, h) = (1000.0, 70.0 + 300.0 + 60.0 + legend_rows * 22.0 + 16.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="22" font-size="13" text-anchor="middle">{}</text>"#,
        w / 2.0,
        header(o).replace('&', "&amp;").replace('<', "&lt;")
    );
    let mut sizes: Vec<usize> = rows.iter().map(|r| r.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let series = |f: &dyn Fn(&Row) -> Option<f64>| -> Vec<(Tr, Vec<(usize, f64)>)> {
        o.transports
            .iter()
            .map(|&tr| {
                let pts = rows
                    .iter()
                    .filter(|r| r.tr == tr)
                    .filter_map(|r| f(r).map(|v| (r.size, v)))
                    .collect();
                (tr, pts)
            })
            .collect()
    };
    let thr = series(&|r| r.thr.map(|t| t.rate * r.size as f64 / 1e6));
    let lat = series(&|r| r.lat.map(|l| l.p50 / 1e3));
    let top = 70.0;
    let (pw, ph) = (390.0, 300.0);
    panel(
        &mut s,
        &Panel {
            x0: 80.0,
            y0: top,
            w: pw,
            h: ph,
            title: "one-way throughput",
            unit: "MB/s",
        },
        &sizes,
        &thr,
    );
    panel(
        &mut s,
        &Panel {
            x0: 580.0,
            y0: top,
            w: pw,
            h: ph,
            title: "round-trip latency (median)",
            unit: "µs",
        },
        &sizes,
        &lat,
    );
    // Legend: three columns under the panels.
    let ly = top + ph + 60.0;
    for (i, tr) in o.transports.iter().enumerate() {
        let (col, row) = (i % 3, i / 3);
        let x = 80.0 + col as f64 * 300.0;
        let y = ly + row as f64 * 22.0;
        let dash = if dashed(*tr) {
            r#" stroke-dasharray="6,4""#
        } else {
            ""
        };
        let _ = writeln!(
            s,
            r#"<line x1="{x}" y1="{y}" x2="{:.1}" y2="{y}" stroke="{}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}" font-size="12">{}</text>"#,
            x + 30.0,
            color(*tr),
            x + 38.0,
            y + 4.0,
            tr.label_for(o.pairs)
        );
    }
    s.push_str("</svg>\n");
    std::fs::write(path, s)
}
