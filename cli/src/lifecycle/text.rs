//! The text output: names of transports, flavors and kinds, the `ls` table.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use sysvring::admin::{ChannelInfo, Refused};
use sysvring::sys::IpcKind;
use sysvring::{Flavor, Transport};

pub(super) fn transport(i: &ChannelInfo) -> &'static str {
    match i.transport {
        Transport::ShmRing => "shm",
        Transport::MessageQueue => "msgq",
        Transport::Auto => "auto",
    }
}

pub(super) fn flavor(i: &ChannelInfo) -> &'static str {
    if i.frames {
        return "frame";
    }
    match i.flavor {
        Some(Flavor::Spsc) => "spsc",
        Some(Flavor::Mpmc) => "mpmc",
        None => "?",
    }
}

pub(super) fn id(v: Option<i32>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

pub(super) fn kind_name(k: IpcKind) -> &'static str {
    match k {
        IpcKind::Shm => "shm",
        IpcKind::Sem => "sem",
        IpcKind::Msg => "msg",
    }
}

/// One candidate that is not provably a channel, and why.
pub(super) fn refused_line(r: &Refused) -> String {
    format!(
        "{} {} (key {}, created by uid {}) carries a sysvring header but is left alone: {}",
        kind_name(r.kind),
        r.id,
        r.key,
        r.creator_uid,
        r.reason
    )
}

pub(super) fn fmt_ago(t: Option<SystemTime>) -> String {
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

pub(super) fn table(list: &[ChannelInfo]) -> String {
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
