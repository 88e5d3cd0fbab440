//! `sysvring ls | stat | rm | gc`: our semantic `ipcs`/`ipcrm`, over the library's
//! `sysvring::admin` (channels are recognised by their headers; nothing else is
//! touched).
//!
//! Addressing is `ipcrm`'s: `--key K` (`0x…` hex or decimal, 32 bits), `--shm ID`,
//! `--sem ID`, `--msg ID`; a bare argument is accepted only when it names exactly
//! one System V object (or the objects of one channel): otherwise the command lists
//! the matches and stops. `--json` output goes through serde.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use serde::Serialize;
use sysvring::admin::Refused;
use sysvring::admin::{self, ChannelInfo};
use sysvring::sys::IpcKind;
use sysvring::{Flavor, Transport};

// ---- command lines ---------------------------------------------------------------

/// List the sysvring channels on this host
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Print a JSON array instead of the table
    #[arg(long)]
    json: bool,
}

/// Which channel: exactly one of these.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// A key or an id, accepted only when it names exactly one object
    #[arg(value_name = "KEY|ID", value_parser = parse_bare)]
    spec: Option<Bare>,
    /// The channel at this key (0x… hex or decimal, 32 bits)
    #[arg(long, value_name = "KEY", value_parser = parse_key)]
    key: Option<i32>,
    /// The channel whose shared-memory segment has this id
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    shm: Option<i32>,
    /// The channel whose semaphore set has this id
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    sem: Option<i32>,
    /// The channel whose message queue has this id
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    msg: Option<i32>,
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

// ---- addresses ---------------------------------------------------------------------

/// A bare `KEY|ID` argument.
#[derive(Debug, Clone, Copy)]
struct Bare {
    /// The number as written.
    n: i64,
    /// Written in hex (`0x…`): a key, never an id.
    hex: bool,
}

/// Parses `0x…` hex or decimal into a number that fits a key (32 bits, signed or
/// unsigned), never wrapping.
fn parse_number(s: &str) -> Result<(i64, bool), String> {
    let (n, hex) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => (
            i64::from_str_radix(h, 16).map_err(|_| format!("`{s}` is not a hex number"))?,
            true,
        ),
        None => (
            s.parse::<i64>()
                .map_err(|_| format!("`{s}` is not a number (0x… hex or decimal)"))?,
            false,
        ),
    };
    if !(i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&n) || (hex && n < 0) {
        return Err(format!("`{s}` does not fit a 32-bit key or id"));
    }
    Ok((n, hex))
}

/// A key as the kernel stores it (`key_t`, signed): 0xffffffff is -1.
fn key_of(n: i64) -> i32 {
    n as u32 as i32
}

fn parse_key(s: &str) -> Result<i32, String> {
    let (n, _) = parse_number(s)?;
    if n == 0 {
        return Err(
            "key 0 is IPC_PRIVATE: address a private channel with --shm, --sem or --msg".into(),
        );
    }
    Ok(key_of(n))
}

fn parse_id(s: &str) -> Result<i32, String> {
    s.parse::<i32>()
        .ok()
        .filter(|&n| n >= 0)
        .ok_or_else(|| format!("`{s}` is not an id (a decimal number in 0..=2147483647)"))
}

fn parse_bare(s: &str) -> Result<Bare, String> {
    parse_number(s).map(|(n, hex)| Bare { n, hex })
}

/// A failure: its exit status and message.
struct Fail(u8, String);

fn not_found(msg: String) -> Fail {
    Fail(1, msg)
}

/// One System V object of `/proc/sysvipc`: kind, key, id.
fn proc_objects() -> std::io::Result<Vec<(&'static str, i32, i32)>> {
    let mut out = Vec::new();
    for kind in ["shm", "sem", "msg"] {
        let text = std::fs::read_to_string(format!("/proc/sysvipc/{kind}"))?;
        for line in text.lines().skip(1) {
            let mut w = line.split_whitespace().map(str::parse::<i64>);
            if let (Some(Ok(key)), Some(Ok(id))) = (w.next(), w.next()) {
                out.push((kind, key as i32, id as i32));
            }
        }
    }
    Ok(out)
}

fn describe(i: &ChannelInfo) -> String {
    format!(
        "channel {} ({} {}; shm {} sem {} msg {})",
        i.key,
        transport(i),
        flavor(i),
        id(i.shm_id),
        id(i.sem_id),
        id(i.msg_id)
    )
}

fn owns(i: &ChannelInfo, kind: &str, oid: i32) -> bool {
    match kind {
        "shm" => i.shm_id == Some(oid),
        "sem" => i.sem_id == Some(oid),
        _ => i.msg_id == Some(oid),
    }
}

/// The channel `t` names.
fn resolve(cmd: &str, t: &Target) -> Result<ChannelInfo, Fail> {
    let scan = admin::scan().map_err(|e| Fail(1, format!("{cmd}: {e}")))?;
    let list = &scan.channels;
    // Not found: say so, or why the object there is not shown as a channel.
    let missing = |r: &dyn Fn(&Refused) -> bool, what: String| {
        not_found(match scan.refused.iter().find(|x| r(x)) {
            Some(x) => format!(
                "{cmd}: no sysvring channel with {what}: {}",
                refused_line(x)
            ),
            None => format!("{cmd}: no sysvring channel with {what}"),
        })
    };
    let pick = |f: &dyn Fn(&ChannelInfo) -> bool, r: &dyn Fn(&Refused) -> bool, what: String| {
        list.iter()
            .find(|i| f(i))
            .cloned()
            .ok_or_else(|| missing(r, what))
    };
    if let Some(k) = t.key {
        let key = sysvring::Key::from_raw(k);
        return pick(
            &|i| i.key.raw() == k,
            &|r| r.key.raw() == k,
            format!("key {key}"),
        );
    }
    if let Some(n) = t.shm {
        return pick(
            &|i| i.shm_id == Some(n),
            &|r| (r.kind, r.id) == (IpcKind::Shm, n),
            format!("shm id {n}"),
        );
    }
    if let Some(n) = t.sem {
        return pick(
            &|i| i.sem_id == Some(n),
            &|r| (r.kind, r.id) == (IpcKind::Sem, n),
            format!("sem id {n}"),
        );
    }
    if let Some(n) = t.msg {
        return pick(&|i| i.msg_id == Some(n), &|_| false, format!("msg id {n}"));
    }
    let Some(b) = t.spec else {
        return Err(Fail(
            2,
            format!("{cmd}: expected KEY|ID, --key, --shm, --sem or --msg"),
        ));
    };
    let key = key_of(b.n);
    let as_id = (!b.hex && b.n >= 0 && b.n <= i64::from(i32::MAX)).then_some(b.n as i32);
    let mut matches: Vec<String> = Vec::new();
    let mut found: Option<&ChannelInfo> = None;
    for i in list {
        let by_key = key != 0 && i.key.raw() == key;
        let by_id = as_id.is_some_and(|n| [i.shm_id, i.sem_id, i.msg_id].contains(&Some(n)));
        if by_key || by_id {
            matches.push(describe(i));
            found = Some(i);
        }
    }
    let objects = proc_objects().map_err(|e| Fail(1, format!("{cmd}: /proc/sysvipc: {e}")))?;
    let mut foreign = Vec::new();
    for (kind, okey, oid) in objects {
        if list.iter().any(|i| owns(i, kind, oid)) {
            continue;
        }
        if (key != 0 && okey == key) || as_id == Some(oid) {
            let why = scan
                .refused
                .iter()
                .find(|r| kind_name(r.kind) == kind && r.id == oid)
                .map_or_else(
                    || "not a sysvring channel".to_string(),
                    |r| format!("not a channel sysvring can prove: {}", r.reason),
                );
            foreign.push(format!(
                "{kind} {oid} (key {}, {why})",
                sysvring::Key::from_raw(okey)
            ));
        }
    }
    let spec = if b.hex {
        format!("{:#x}", b.n)
    } else {
        b.n.to_string()
    };
    match (found, matches.len() + foreign.len()) {
        (_, 0) => Err(not_found(format!(
            "{cmd}: no sysvring channel with key or id {spec}"
        ))),
        (Some(i), 1) => Ok(i.clone()),
        (None, _) if foreign.len() == 1 => {
            Err(not_found(format!("{cmd}: {spec} names {}", foreign[0])))
        }
        _ => {
            matches.extend(foreign);
            Err(Fail(
                2,
                format!(
                    "{cmd}: `{spec}` is ambiguous, it matches:\n  {}\naddress one with --key, --shm, --sem or --msg",
                    matches.join("\n  ")
                ),
            ))
        }
    }
}

// ---- presentation -------------------------------------------------------------------

fn transport(i: &ChannelInfo) -> &'static str {
    match i.transport {
        Transport::ShmRing => "shm",
        Transport::MessageQueue => "msgq",
        Transport::Auto => "auto",
    }
}

fn flavor(i: &ChannelInfo) -> &'static str {
    match i.flavor {
        Some(Flavor::Spsc) => "spsc",
        Some(Flavor::Mpmc) => "mpmc",
        None => "?",
    }
}

fn id(v: Option<i32>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn kind_name(k: IpcKind) -> &'static str {
    match k {
        IpcKind::Shm => "shm",
        IpcKind::Sem => "sem",
        IpcKind::Msg => "msg",
    }
}

/// One candidate that is not provably a channel, and why.
fn refused_line(r: &Refused) -> String {
    format!(
        "{} {} (key {}, created by uid {}) carries a sysvring header but is left alone: {}",
        kind_name(r.kind),
        r.id,
        r.key,
        r.creator_uid,
        r.reason
    )
}

/// A refused candidate as JSON.
#[derive(Serialize)]
struct RefusedJson {
    kind: &'static str,
    id: i32,
    key: String,
    creator_uid: u32,
    reason: String,
}

impl From<&Refused> for RefusedJson {
    fn from(r: &Refused) -> RefusedJson {
        RefusedJson {
            kind: kind_name(r.kind),
            id: r.id,
            key: r.key.to_string(),
            creator_uid: r.creator_uid,
            reason: r.reason.clone(),
        }
    }
}

fn fmt_ago(t: Option<SystemTime>) -> String {
    let Some(t) = t else {
        return "unknown".into();
    };
    let s = SystemTime::now()
        .duration_since(t)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        7200..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86400),
    }
}

/// A channel as JSON.
#[derive(Serialize)]
struct ChannelJson {
    key: String,
    transport: &'static str,
    flavor: &'static str,
    shm_id: Option<i32>,
    sem_id: Option<i32>,
    msg_id: Option<i32>,
    elem_size: u64,
    fingerprint: String,
    capacity: u64,
    len: u64,
    senders: u32,
    receivers: u32,
    attached: u64,
    creator_pid: i32,
    creator_uid: u32,
    creator_alive: bool,
    ready: bool,
    in_use: bool,
    /// Seconds since the Unix epoch.
    last_activity: Option<u64>,
    stats: StatsJson,
}

#[derive(Serialize)]
struct StatsJson {
    sent: u64,
    received: u64,
    wakeups: u64,
    sleeps: u64,
    skipped: u64,
}

impl From<&ChannelInfo> for ChannelJson {
    fn from(i: &ChannelInfo) -> ChannelJson {
        let s = &i.stats;
        ChannelJson {
            key: i.key.to_string(),
            transport: transport(i),
            flavor: flavor(i),
            shm_id: i.shm_id,
            sem_id: i.sem_id,
            msg_id: i.msg_id,
            elem_size: i.elem_size,
            fingerprint: format!("{:#018x}", i.fingerprint),
            capacity: i.capacity,
            len: i.len,
            senders: i.senders,
            receivers: i.receivers,
            attached: i.attached,
            creator_pid: i.creator_pid,
            creator_uid: i.creator_uid,
            creator_alive: i.creator_alive,
            ready: i.ready,
            in_use: i.in_use(),
            last_activity: i
                .last_activity
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
            stats: StatsJson {
                sent: s.sent,
                received: s.received,
                wakeups: s.wakeups,
                sleeps: s.sleeps,
                skipped: s.skipped,
            },
        }
    }
}

fn print_json(v: &impl Serialize) -> ExitCode {
    match serde_json::to_string(v) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&Fail(1, format!("json: {e}"))),
    }
}

fn table(list: &[ChannelInfo]) -> String {
    let mut out = format!(
        "{:<10} {:>8} {:>8} {:>8} {:<5} {:<5} {:>6} {:<18} {:>8} {:>8} {:>4} {:>4} {:>8} {}\n",
        "key",
        "shmid",
        "semid",
        "msqid",
        "trans",
        "flav",
        "size",
        "fingerprint",
        "capacity",
        "len",
        "tx",
        "rx",
        "creator",
        "alive"
    );
    for i in list {
        let _ = writeln!(
            out,
            "{:<10} {:>8} {:>8} {:>8} {:<5} {:<5} {:>6} {:#018x} {:>8} {:>8} {:>4} {:>4} {:>8} {}",
            i.key.to_string(),
            id(i.shm_id),
            id(i.sem_id),
            id(i.msg_id),
            transport(i),
            flavor(i),
            i.elem_size,
            i.fingerprint,
            i.capacity,
            i.len,
            i.senders,
            i.receivers,
            i.creator_pid,
            if i.creator_alive { "yes" } else { "no" }
        );
    }
    out
}

fn fail(f: &Fail) -> ExitCode {
    eprintln!("sysvring {}", f.1);
    ExitCode::from(f.0)
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
    println!(
        "element      {} bytes, fingerprint {:#018x}",
        i.elem_size, i.fingerprint
    );
    println!("capacity     {}  (now {} queued)", i.capacity, i.len);
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
