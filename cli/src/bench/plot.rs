//! The SVG plot of `sysvring bench --plot`: throughput and median round trip against
//! message size, one line per row.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use super::catalogue::Tr;
use super::opts::Opts;
use super::report::header;
use super::schedule::Row;

/// One colour per row of `Tr::ALL` (in that order), all distinct.
const COLORS: [&str; 15] = [
    "#555555", "#000000", "#d62728", "#ff7f0e", "#637939", "#e7ba52", "#e377c2", "#9467bd",
    "#1f77b4", "#17becf", "#2ca02c", "#bcbd22", "#8c564b", "#7f7f7f", "#393b79",
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
            super::fmt::fmt_size(n)
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
    let thr = series(&|r| r.thr.map(|t| t.mb_per_s(r.size)));
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
