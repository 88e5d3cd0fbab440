//! The lifecycle commands of the `sysvring` binary against real channels: `ls`
//! (table and `--json`), `stat`, `rm` (refused while users remain, `--force`), and
//! `gc --dry-run` after every user was SIGKILLed. (A real `gc` would also collect
//! channels that tests running in parallel just abandoned on purpose, so this suite
//! removes what it made with `rm`; `tests/crash.rs` covers the collection itself.)
//! And `bench`, the README's main job, run small over every row.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{env_i32, role, spawn_role, unique_key, wait_until};
use sysvring::{Builder, Flavor, Key, Transport};

fn sysvring(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sysvring"))
        .args(args)
        .output()
        .expect("run sysvring");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The `ls --json` object of the channel at `key`, if listed.
fn listed(key: Key) -> Option<String> {
    let (ok, out) = sysvring(&["ls", "--json"]);
    assert!(ok, "ls --json failed: {out}");
    let needle = format!("\"key\":\"{key}\"");
    out.split("},{\"key\"")
        .find(|o| o.contains(&needle) || o.starts_with(&format!(":\"{key}\"")))
        .map(str::to_string)
}

/// Child: create a channel at the key, connect a sender and a receiver, then wait to
/// be killed.
#[test]
fn child_hold_channel() {
    let Some(r) = role() else { return };
    let t = if r == "msgq" {
        Transport::MessageQueue
    } else {
        Transport::ShmRing
    };
    let ch = Builder::<[u64; 2]>::new(Key::from_raw(env_i32("CLI_KEY")))
        .transport(t)
        .flavor(Flavor::Mpmc)
        .capacity(8)
        .create()
        .expect("create");
    let (tx, _rx) = (ch.sender().unwrap(), ch.receiver().unwrap());
    tx.send([1, 2]).unwrap();
    println!("ready");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn ls_stat_rm_and_gc_see_a_killed_channel() {
    if role().is_some() {
        return;
    }
    for t in ["shm", "msgq"] {
        let key = unique_key();
        let mut child = spawn_role(
            "child_hold_channel",
            t,
            &[("CLI_KEY", key.raw().to_string())],
        );
        wait_until("the child's channel is listed", || {
            listed(key)
                .is_some_and(|o| o.contains("\"senders\":1") && o.contains("\"receivers\":1"))
        });
        let o = listed(key).unwrap();
        assert!(o.contains(&format!("\"transport\":\"{t}\"")), "{o}");
        assert!(
            o.contains("\"flavor\":\"mpmc\"") && o.contains("\"elem_size\":16"),
            "{o}"
        );
        assert!(o.contains("\"len\":1"), "{o}");
        if t == "shm" {
            assert!(o.contains("\"creator_alive\":true"), "{o}");
            assert!(
                o.contains(&format!("\"creator_pid\":{}", child.pid())),
                "{o}"
            );
        }
        let (ok, table) = sysvring(&["ls"]);
        assert!(ok && table.contains(&key.to_string()), "{table}");
        let (ok, st) = sysvring(&["stat", &key.to_string()]);
        assert!(ok && st.contains("1 senders, 1 receivers"), "{st}");
        let (ok, msg) = sysvring(&["rm", &key.to_string()]);
        assert!(
            !ok && msg.contains("in use"),
            "rm must refuse a live channel: {msg}"
        );

        child.kill();
        let _ = child.wait();
        wait_until("the kernel undid the killed users", || {
            listed(key)
                .is_some_and(|o| o.contains("\"senders\":0") && o.contains("\"receivers\":0"))
        });
        let o = listed(key).unwrap();
        assert!(
            o.contains("\"creator_alive\":false") && o.contains("\"in_use\":false"),
            "{o}"
        );
        let (ok, dry) = sysvring(&["gc", "--dry-run"]);
        assert!(
            ok && dry.contains(&key.to_string()),
            "gc --dry-run must name it: {dry}"
        );
        assert!(listed(key).is_some(), "a dry run removes nothing");
        let (ok, msg) = sysvring(&["rm", &key.to_string()]);
        assert!(ok, "{msg}");
        assert!(listed(key).is_none(), "removed");
        assert!(
            sysvring::sys::Shm::open(key).is_err() && sysvring::sys::SemSet::open(key).is_err()
        );
    }
}

#[test]
fn unknown_channels_and_options_are_errors() {
    if role().is_some() {
        return;
    }
    let (ok, out) = sysvring(&["stat", "0x7fff0001"]);
    assert!(!ok && out.contains("no sysvring channel"), "{out}");
    let (ok, _) = sysvring(&["rm"]);
    assert!(!ok);
    let (ok, _) = sysvring(&["ls", "--bogus"]);
    assert!(!ok);
}

#[test]
fn foreign_objects_are_never_listed_or_collected() {
    if role().is_some() {
        return;
    }
    let key = unique_key();
    let mut g = common::IpcGuard::new();
    let shm = g.shm(sysvring::sys::Shm::create(key, 4096, 0o600).unwrap());
    shm.attach(false).unwrap().write(0, &[0xab; 4096]);
    let sem = g.sem(sysvring::sys::SemSet::create(key, 25, 0o600).unwrap());
    assert!(listed(key).is_none());
    let (ok, dry) = sysvring(&["gc", "--dry-run"]);
    assert!(ok && !dry.contains(&key.to_string()), "{dry}");
    assert!(shm.stat().is_ok() && sem.stat().is_ok());
}

/// The README's main job, small: every row of `bench` runs between real processes
/// (fixed work, so nothing depends on the machine's speed), gives figures and no
/// error, and leaves no System V object behind (the command checks the objects it
/// made and fails otherwise). `--pairs` reaches the NxN rows.
#[test]
fn bench_runs_every_row() {
    if role().is_some() {
        return;
    }
    let (ok, out) = sysvring(&[
        "bench",
        "--messages",
        "2000",
        "--sizes",
        "8,64",
        "--rounds",
        "1",
        "--pairs",
        "3",
        "--json",
    ]);
    assert!(ok, "{out}");
    for tr in [
        "floor",
        "ceiling",
        "spsc",
        "spsc-zc",
        "mpmc",
        "mpmc2x2",
        "crossbeam",
        "blocking",
        "semop",
        "msgq-chan",
        "pipe",
        "unix",
        "msgq",
    ] {
        let rows = out.matches(&format!("{{\"transport\": \"{tr}\",")).count();
        assert_eq!(rows, 2, "{tr}: one row per size in {out}");
    }
    assert!(out.contains("\"sysvring mpmc 3x3\""), "{out}");
    assert!(out.contains("\"crossbeam 3x3 threads\""), "{out}");
    assert_eq!(out.matches("\"errors\": []").count(), 26, "{out}");
    // A row measures what it can: throughput-only and latency-only rows say so.
    assert!(
        out.contains("\"label\": \"raw semop (wake floor)\", \"size\": 8, \"throughput\": null")
    );
    let (ok, out) = sysvring(&["bench", "--pairs", "0"]);
    assert!(!ok && out.contains("--pairs"), "{out}");
    let (ok, out) = sysvring(&["bench", "--transports", "carrier-pigeon"]);
    assert!(!ok && out.contains("unknown transport"), "{out}");
}
