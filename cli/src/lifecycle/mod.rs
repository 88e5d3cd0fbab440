//! `sysvring ls | stat | rm | gc`: our semantic `ipcs`/`ipcrm`, over the library's
//! `sysvring::admin` (channels are recognised by their headers; nothing else is
//! touched).
//!
//! Addressing is `ipcrm`'s: `--key K` (`0x…` hex or decimal, 32 bits), `--shm ID`,
//! `--sem ID`, `--msg ID`; a bare argument is accepted only when it names exactly
//! one System V object (or the objects of one channel): otherwise the command lists
//! the matches and stops. `--json` output goes through serde.
//!
//! Files, each using only the ones after it: this one (the command lines and the
//! four commands), [`address`] (`KEY|ID` and the target options, resolved to one
//! channel), [`json`] and [`text`] (the two outputs), [`fail`] (a failure's exit
//! status and message).

mod address;
mod fail;
mod json;
mod text;

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use sysvring::admin::{self, ChannelInfo};

use address::{resolve, Target};
use fail::{fail, Fail};
use json::{print_json, ChannelJson, RefusedJson};
use text::{flavor, fmt_ago, id, refused_line, table, transport};

// ---- command lines ---------------------------------------------------------------

/// List the sysvring channels on this host
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Print a JSON array instead of the table
    #[arg(long)]
    json: bool,
}

/// Show one channel: header, users and counters
#[derive(Debug, Args)]
pub struct StatArgs {
    #[command(flatten)]
    target: Target,
    /// Print a JSON object instead of the text
    #[arg(long)]
    json: bool,
}

/// Remove a channel (refused while users remain)
#[derive(Debug, Args)]
pub struct RmArgs {
    #[command(flatten)]
    target: Target,
    /// Remove it even while senders, receivers or attachments remain (ownership
    /// checks still apply)
    #[arg(short, long)]
    force: bool,
    /// Print what was removed as JSON
    #[arg(long)]
    json: bool,
}

/// Remove every channel no live process uses (channels still holding messages
/// are kept unless --force)
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Only show what would be removed: length, users, last activity
    #[arg(short = 'n', long)]
    dry_run: bool,
    /// Also remove unused channels that still hold messages
    #[arg(short, long)]
    force: bool,
    /// Print the outcome as JSON
    #[arg(long)]
    json: bool,
}

// ---- commands ----------------------------------------------------------------------

/// `sysvring ls [--json]`.
pub fn ls(a: &LsArgs) -> ExitCode {
    let scan = match admin::scan() {
        Ok(s) => s,
        Err(e) => return fail(&Fail(1, format!("ls: {e}"))),
    };
    // What is not shown, and why, on stderr (the JSON array stays the channels).
    for r in &scan.refused {
        eprintln!("sysvring ls: {}", refused_line(r));
    }
    if a.json {
        return print_json(
            &scan
                .channels
                .iter()
                .map(ChannelJson::from)
                .collect::<Vec<_>>(),
        );
    }
    print!("{}", table(&scan.channels));
    ExitCode::SUCCESS
}

/// `sysvring stat TARGET [--json]`.
pub fn stat(a: &StatArgs) -> ExitCode {
    let i = match resolve("stat", &a.target) {
        Ok(i) => i,
        Err(f) => return fail(&f),
    };
    if a.json {
        return print_json(&ChannelJson::from(&i));
    }
    let s = &i.stats;
    println!("key          {}", i.key);
    println!("transport    {}", transport(&i));
    println!("flavor       {}", flavor(&i));
    println!(
        "ids          shm {}  sem {}  msg {}",
        id(i.shm_id),
        id(i.sem_id),
        id(i.msg_id)
    );
    if i.frames {
        println!(
            "frames       byte frames of up to {} bytes (spsc)",
            i.elem_size
        );
        println!(
            "capacity     {} bytes  (now {} frames queued)",
            i.capacity, i.len
        );
    } else {
        println!(
            "element      {} bytes, fingerprint {:#018x}",
            i.elem_size, i.fingerprint
        );
        println!("capacity     {}  (now {} queued)", i.capacity, i.len);
    }
    println!(
        "users        {} senders, {} receivers, {} attached",
        i.senders, i.receivers, i.attached
    );
    println!(
        "creator      pid {} ({})",
        i.creator_pid,
        if i.creator_alive { "alive" } else { "gone" }
    );
    println!(
        "state        {}",
        if i.ready { "ready" } else { "initialising" }
    );
    println!("activity     last {}", fmt_ago(i.last_activity));
    println!(
        "stats        sent {}  received {}  wake-ups {}  sleeps {}  skipped {}",
        s.sent, s.received, s.wakeups, s.sleeps, s.skipped
    );
    if !i.claimers.is_empty() {
        let held = i.claimers.iter().filter(|c| c.held).count();
        println!(
            "claimers     {held} held by live processes (kernel-proven), {} given back or \
             left by dead ones",
            i.claimers.len() - held
        );
        for c in &i.claimers {
            println!(
                "  tag {:>3}    {}, pid {} (pid ns {}), taken {} times",
                c.tag,
                if c.held { "held" } else { "free" },
                c.pid,
                c.pid_ns,
                c.generation
            );
        }
    }
    ExitCode::SUCCESS
}

/// `sysvring rm TARGET [--force] [--json]`.
pub fn rm(a: &RmArgs) -> ExitCode {
    let i = match resolve("rm", &a.target) {
        Ok(i) => i,
        Err(f) => return fail(&f),
    };
    // The JSON of the channel as it was, before its objects are gone.
    let json = ChannelJson::from(&i);
    match admin::remove(&i, a.force) {
        Ok(()) if a.json => {
            #[derive(Serialize)]
            struct Removed {
                removed: ChannelJson,
            }
            print_json(&Removed { removed: json })
        }
        Ok(()) => {
            println!("removed {} ({} {})", i.key, transport(&i), flavor(&i));
            ExitCode::SUCCESS
        }
        Err(e) => fail(&Fail(1, format!("rm: {e}"))),
    }
}

/// A channel `gc` kept or failed to remove, and why.
#[derive(Serialize)]
struct Skipped {
    channel: ChannelJson,
    reason: String,
}

#[derive(Serialize)]
struct GcJson {
    dry_run: bool,
    /// Removed (or, in a dry run, to be removed).
    removed: Vec<ChannelJson>,
    /// Unused but still holding messages (without --force).
    kept: Vec<Skipped>,
    /// Could not be removed.
    failed: Vec<Skipped>,
    /// Carry a sysvring header but are not provably channels: left alone.
    refused: Vec<RefusedJson>,
}

fn gc_line(verb: &str, i: &ChannelInfo) -> String {
    format!(
        "{verb} {} ({} {}, shm {} sem {} msg {}): {} queued, users {} senders {} receivers {} attached, creator {} {}, last activity {}",
        i.key,
        transport(i),
        flavor(i),
        id(i.shm_id),
        id(i.sem_id),
        id(i.msg_id),
        i.len,
        i.senders,
        i.receivers,
        i.attached,
        i.creator_pid,
        if i.creator_alive { "alive" } else { "gone" },
        fmt_ago(i.last_activity)
    )
}

/// `sysvring gc [--dry-run] [--force] [--json]`: `admin::gc`, which removes every
/// channel that no live process uses (`ChannelInfo::in_use`) and that is empty;
/// `--force` also removes unused channels that still hold messages (never channels
/// in use, never objects that are not provably channels).
pub fn gc(a: &GcArgs) -> ExitCode {
    let report = match admin::gc(a.dry_run, a.force) {
        Ok(r) => r,
        Err(e) => return fail(&Fail(1, format!("gc: {e}"))),
    };
    let verb = if a.dry_run { "would remove" } else { "removed" };
    let mut text = String::new();
    for i in &report.removed {
        let _ = writeln!(text, "{}", gc_line(verb, i));
    }
    for i in &report.kept {
        let _ = writeln!(text, "{}", gc_line("kept", i));
    }
    for (i, e) in &report.failed {
        eprintln!("sysvring gc: {}: {e}", i.key);
    }
    for r in &report.refused {
        eprintln!("sysvring gc: {}", refused_line(r));
    }
    let out = GcJson {
        dry_run: a.dry_run,
        removed: report.removed.iter().map(ChannelJson::from).collect(),
        kept: report
            .kept
            .iter()
            .map(|i| Skipped {
                channel: i.into(),
                reason: format!("holds {} messages (gc --force removes it)", i.len),
            })
            .collect(),
        failed: report
            .failed
            .iter()
            .map(|(i, e)| Skipped {
                channel: i.into(),
                reason: e.to_string(),
            })
            .collect(),
        refused: report.refused.iter().map(RefusedJson::from).collect(),
    };
    let code = if out.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    if a.json {
        let printed = print_json(&out);
        return if out.failed.is_empty() { printed } else { code };
    }
    print!("{text}");
    let mut summary = format!("{verb} {} channel(s)", out.removed.len());
    if !out.kept.is_empty() {
        let _ = write!(
            summary,
            ", kept {} holding messages (--force removes them)",
            out.kept.len()
        );
    }
    if !out.refused.is_empty() {
        let _ = write!(
            summary,
            ", left {} object(s) that are not provably channels alone",
            out.refused.len()
        );
    }
    println!("{summary}");
    code
}
