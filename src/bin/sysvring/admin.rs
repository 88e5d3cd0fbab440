//! `sysvring ls | stat | rm | gc`: our semantic `ipcs`/`ipcrm`, over the library's
//! `sysvring::admin` (channels are recognised by their headers; nothing else is
//! touched).

use std::fmt::Write as _;
use std::process::ExitCode;

use sysvring::admin::{self, ChannelInfo};
use sysvring::{Flavor, Transport};

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

fn json_id(v: Option<i32>) -> String {
    v.map_or_else(|| "null".to_string(), |v| v.to_string())
}

/// One channel as a JSON object (hand-written: no dependency for a dozen fields).
fn json(i: &ChannelInfo) -> String {
    let s = &i.stats;
    format!(
        concat!(
            "{{\"key\":\"{}\",\"transport\":\"{}\",\"flavor\":\"{}\",\"shm_id\":{},",
            "\"sem_id\":{},\"msg_id\":{},\"elem_size\":{},\"fingerprint\":\"{:#018x}\",",
            "\"capacity\":{},\"len\":{},\"senders\":{},\"receivers\":{},\"attached\":{},",
            "\"creator_pid\":{},\"creator_alive\":{},\"ready\":{},\"in_use\":{},",
            "\"stats\":{{\"sent\":{},\"received\":{},\"wakeups\":{},\"sleeps\":{},\"skipped\":{}}}}}"
        ),
        i.key,
        transport(i),
        flavor(i),
        json_id(i.shm_id),
        json_id(i.sem_id),
        json_id(i.msg_id),
        i.elem_size,
        i.fingerprint,
        i.capacity,
        i.len,
        i.senders,
        i.receivers,
        i.attached,
        i.creator_pid,
        i.creator_alive,
        i.ready,
        i.in_use(),
        s.sent,
        s.received,
        s.wakeups,
        s.sleeps,
        s.skipped
    )
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

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("sysvring: {msg}");
    ExitCode::FAILURE
}

/// `sysvring ls [--json]`.
pub fn ls(args: &[String]) -> ExitCode {
    let as_json = args.iter().any(|a| a == "--json");
    if let Some(bad) = args.iter().find(|a| *a != "--json") {
        return fail(format!("ls: unknown option `{bad}`"));
    }
    match admin::list() {
        Ok(list) if as_json => {
            let items: Vec<String> = list.iter().map(json).collect();
            println!("[{}]", items.join(","));
            ExitCode::SUCCESS
        }
        Ok(list) => {
            print!("{}", table(&list));
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("ls: {e}")),
    }
}

fn find(cmd: &str, spec: Option<&String>) -> Result<ChannelInfo, ExitCode> {
    let Some(spec) = spec else {
        return Err(fail(format!("{cmd}: expected KEY or ID")));
    };
    match admin::find(spec) {
        Ok(Some(i)) => Ok(i),
        Ok(None) => Err(fail(format!(
            "{cmd}: no sysvring channel with key or id {spec}"
        ))),
        Err(e) => Err(fail(format!("{cmd}: {e}"))),
    }
}

/// `sysvring stat KEY|ID [--json]`.
pub fn stat(args: &[String]) -> ExitCode {
    let as_json = args.iter().any(|a| a == "--json");
    let spec = args.iter().find(|a| !a.starts_with("--"));
    let i = match find("stat", spec) {
        Ok(i) => i,
        Err(code) => return code,
    };
    if as_json {
        println!("{}", json(&i));
        return ExitCode::SUCCESS;
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
    println!(
        "stats        sent {}  received {}  wake-ups {}  sleeps {}  skipped {}",
        s.sent, s.received, s.wakeups, s.sleeps, s.skipped
    );
    ExitCode::SUCCESS
}

/// `sysvring rm KEY|ID [--force]`.
pub fn rm(args: &[String]) -> ExitCode {
    let force = args.iter().any(|a| a == "--force" || a == "-f");
    let spec = args.iter().find(|a| !a.starts_with('-'));
    let i = match find("rm", spec) {
        Ok(i) => i,
        Err(code) => return code,
    };
    match admin::remove(&i, force) {
        Ok(()) => {
            println!("removed {} ({} {})", i.key, transport(&i), flavor(&i));
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("rm: {e}")),
    }
}

/// `sysvring gc [--dry-run]`.
pub fn gc(args: &[String]) -> ExitCode {
    let dry = args.iter().any(|a| a == "--dry-run" || a == "-n");
    match admin::gc(dry) {
        Ok(list) => {
            let verb = if dry { "would remove" } else { "removed" };
            for i in &list {
                println!(
                    "{verb} {} ({} {}, shm {} sem {} msg {})",
                    i.key,
                    transport(i),
                    flavor(i),
                    id(i.shm_id),
                    id(i.sem_id),
                    id(i.msg_id)
                );
            }
            println!("{verb} {} channel(s)", list.len());
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("gc: {e}")),
    }
}
