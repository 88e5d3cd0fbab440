//! The `--json` output: serde views of channels and refused candidates.

use std::process::ExitCode;
use std::time::UNIX_EPOCH;

use serde::Serialize;
use sysvring::admin::{ChannelInfo, Refused};

use super::fail::{fail, Fail};
use super::text::{flavor, kind_name, transport};

/// A refused candidate as JSON.
#[derive(Serialize)]
pub(super) struct RefusedJson {
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

/// A channel as JSON.
#[derive(Serialize)]
pub(super) struct ChannelJson {
    key: String,
    transport: &'static str,
    flavor: &'static str,
    /// A byte-frame channel: `elem_size` is its max_len, `capacity` its ring's bytes,
    /// `len` and `stats` count frames.
    frames: bool,
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
    /// MPMC ring: the claimer-table entries ever taken (`held`: kernel-proven live).
    claimers: Vec<ClaimerJson>,
}

#[derive(Serialize)]
pub(super) struct ClaimerJson {
    tag: u16,
    held: bool,
    pid: u32,
    pid_ns: u64,
    generation: u64,
}

#[derive(Serialize)]
pub(super) struct StatsJson {
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
            frames: i.frames,
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
            claimers: i
                .claimers
                .iter()
                .map(|c| ClaimerJson {
                    tag: c.tag,
                    held: c.held,
                    pid: c.pid,
                    pid_ns: c.pid_ns,
                    generation: c.generation,
                })
                .collect(),
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

pub(super) fn print_json(v: &impl Serialize) -> ExitCode {
    match serde_json::to_string(v) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&Fail(1, format!("json: {e}"))),
    }
}
