//! Addressing: parsing `KEY|ID`, `--key`, `--shm`, `--sem`, `--msg` and resolving
//! them to one channel.

use clap::Args;
use sysvring::admin::{self, ChannelInfo, Refused};
use sysvring::sys::IpcKind;

use super::fail::Fail;
use super::text::{flavor, id, kind_name, refused_line, transport};

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

/// A bare `KEY|ID` argument.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bare {
    /// The number as written.
    n: i64,
    /// Written in hex (`0x…`): a key, never an id.
    hex: bool,
}

/// Parses `0x…` hex or decimal into a number that fits a key (32 bits, signed or
/// unsigned), never wrapping.
pub(super) fn parse_number(s: &str) -> Result<(i64, bool), String> {
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
pub(super) fn key_of(n: i64) -> i32 {
    n as u32 as i32
}

pub(super) fn parse_key(s: &str) -> Result<i32, String> {
    let (n, _) = parse_number(s)?;
    if n == 0 {
        return Err(
            "key 0 is IPC_PRIVATE: address a private channel with --shm, --sem or --msg".into(),
        );
    }
    Ok(key_of(n))
}

pub(super) fn parse_id(s: &str) -> Result<i32, String> {
    s.parse::<i32>()
        .ok()
        .filter(|&n| n >= 0)
        .ok_or_else(|| format!("`{s}` is not an id (a decimal number in 0..=2147483647)"))
}

pub(super) fn parse_bare(s: &str) -> Result<Bare, String> {
    parse_number(s).map(|(n, hex)| Bare { n, hex })
}

pub(super) fn not_found(msg: String) -> Fail {
    Fail(1, msg)
}

/// One System V object of `/proc/sysvipc`: kind, key, id.
pub(super) fn proc_objects() -> std::io::Result<Vec<(&'static str, i32, i32)>> {
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

pub(super) fn describe(i: &ChannelInfo) -> String {
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

pub(super) fn owns(i: &ChannelInfo, kind: &str, oid: i32) -> bool {
    match kind {
        "shm" => i.shm_id == Some(oid),
        "sem" => i.sem_id == Some(oid),
        _ => i.msg_id == Some(oid),
    }
}

/// The channel `t` names.
pub(super) fn resolve(cmd: &str, t: &Target) -> Result<ChannelInfo, Fail> {
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
