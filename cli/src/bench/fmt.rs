//! Number formatting shared by the table, the progress lines and the plot.

use super::wiring::Sleeps;

/// `  (12 sleeps, 12 wake-ups)` when the run counted them.
pub fn fmt_sleeps(s: Option<Sleeps>) -> String {
    s.map(|s| format!("  ({} sleeps, {} wake-ups)", s.sleeps, s.wakeups))
        .unwrap_or_default()
}

/// `8 B`, `1 KiB`, ...
pub fn fmt_size(n: usize) -> String {
    if n >= 1024 && n % 1024 == 0 {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} B")
    }
}

/// `12.3 M`, `456 k`, ...
pub fn fmt_count(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.2} G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0} ")
    }
}

/// `180 ns`, `1.25 µs`, `31.2 µs`, `1.20 ms`.
pub fn fmt_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e4 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}
