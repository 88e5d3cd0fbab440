//! The lifecycle commands of the `sysvring` binary against real channels: `ls`
//! (table and `--json`), `stat`, `rm` (refused while users remain, `--force`), and
//! `gc --dry-run` after every user was SIGKILLed. (A real `gc` would also collect
//! channels that tests running in parallel just abandoned on purpose, so this suite
//! removes what it made with `rm`; `tests/admin_gc.rs` covers the collection itself.)
//! And `bench`, the README's main job, run small over every row; the command line's
//! usage errors (exit 2) and help (exit 0), which never touch a channel. What needs a
//! host-wide `gc` or an empty IPC namespace is in `cli/tests/gc.rs`.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::Duration;

use support::{env, key, role, wait_until, Kid};

/// Top byte of this file's keys.
const TAG: u8 = 0x30;
use serde_json::Value;
use sysvring::{Builder, Flavor, Key, Transport};

/// Runs the command: its exit code, stdout and stderr.
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sysvring"))
        .args(args)
        .output()
        .expect("run sysvring");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sysvring(args: &[&str]) -> (bool, String) {
    let (code, mut text, err) = run(args);
    text.push_str(&err);
    (code == 0, text)
}

/// Stdout of a successful command, parsed as JSON.
fn json(args: &[&str]) -> Value {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "sysvring {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("sysvring {args:?}: {e}: {out}"))
}

/// The `ls --json` object of the channel at `key`, if listed.
fn listed(key: Key) -> Option<Value> {
    let all = json(&["ls", "--json"]);
    let list = all.as_array().expect("ls --json is an array");
    list.iter()
        .find(|o| o["key"] == key.to_string().as_str())
        .cloned()
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
    let ch = Builder::<[u64; 2]>::new(Key::from_raw(env::<i32>("CLI_KEY")))
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
        let key = key(TAG);
        let mut child = Kid::spawn(
            "child_hold_channel",
            t,
            &[("CLI_KEY", key.raw().to_string())],
        );
        wait_until("the child's channel is listed", || {
            listed(key).is_some_and(|o| o["senders"] == 1 && o["receivers"] == 1)
        });
        let o = listed(key).unwrap();
        assert_eq!(o["transport"], t, "{o}");
        assert!(o["flavor"] == "mpmc" && o["elem_size"] == 16, "{o}");
        assert_eq!(o["len"], 1, "{o}");
        assert!(o["last_activity"].is_u64(), "{o}");
        if t == "shm" {
            assert_eq!(o["creator_alive"], true, "{o}");
            assert_eq!(o["creator_pid"], child.pid(), "{o}");
        }
        let st = json(&["stat", "--key", &key.to_string(), "--json"]);
        assert_eq!(st["key"], o["key"], "{st}");
        if t == "shm" {
            // The MPMC child took one claimer entry (its first send): held, by its pid.
            let c = &st["claimers"];
            assert!(
                c.as_array().is_some_and(|a| a.len() == 1)
                    && c[0]["held"] == true
                    && c[0]["pid"] == child.pid(),
                "{st}"
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
            listed(key).is_some_and(|o| o["senders"] == 0 && o["receivers"] == 0)
        });
        let o = listed(key).unwrap();
        assert!(o["creator_alive"] == false && o["in_use"] == false, "{o}");
        if t == "shm" {
            // Its entry is no longer held: the kernel undid its liveness semaphore.
            assert!(o["claimers"][0]["held"] == false, "{o}");
        }
        let (ok, dry) = sysvring(&["gc", "--dry-run"]);
        assert!(
            ok && dry.contains(&key.to_string()),
            "gc --dry-run must name it: {dry}"
        );
        assert!(listed(key).is_some(), "a dry run removes nothing");
        let removed = json(&["rm", &key.to_string(), "--json"]);
        assert_eq!(
            removed["removed"]["key"],
            key.to_string().as_str(),
            "{removed}"
        );
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
    // Not found: exit 1.
    let (code, _, err) = run(&["stat", "0x7fff0001"]);
    assert!(
        code == 1 && err.contains("no sysvring channel"),
        "{code} {err}"
    );
    let (code, _, err) = run(&["stat", "--key", "0x7fff0001"]);
    assert!(
        code == 1 && err.contains("no sysvring channel"),
        "{code} {err}"
    );
    let (code, _, err) = run(&["rm", "--shm", "2147483647"]);
    assert!(
        code == 1 && err.contains("no sysvring channel"),
        "{code} {err}"
    );
    // Usage errors: exit 2, whatever the command.
    for args in [
        &["rm"][..],
        &["stat"],
        &["ls", "--bogus"],
        &["ls", "extra"],
        &["stat", "--key", "1", "--bogus"],
        &["stat", "1", "2"],
        &["stat", "--key", "1", "--shm", "2"],
        &["rm", "--dry-run", "0x7fff0001"],
        &["rm", "-n", "0x7fff0001"],
        &["rm", "0x7fff0001", "extra"],
        &["gc", "--dryrun"],
        &["gc", "extra"],
        &["gc", "-x"],
        &["bench", "--bogus"],
        &["bench", "extra"],
        &["bench", "--pairs", "0"],
        &["frobnicate"],
        &[],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, 2, "sysvring {args:?}: {out}{err}");
    }
    // Keys are 32 bits: nothing wraps (4294967296 is not 0, the IPC_PRIVATE key).
    for args in [
        &["stat", "4294967296"][..],
        &["stat", "--key", "4294967296"],
        &["stat", "--key", "0x100000000"],
        &["rm", "--key", "-2147483649"],
        &["stat", "--shm", "-1"],
        &["stat", "--key", "0"],
        &["stat", "zero"],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, 2, "sysvring {args:?}: {out}{err}");
        assert!(!err.is_empty(), "sysvring {args:?} says why");
    }
    // Help and version on every command: exit 0, on stdout.
    for args in [
        &["--help"][..],
        &["--version"],
        &["help"],
        &["help", "gc"],
        &["ls", "--help"],
        &["stat", "--help"],
        &["rm", "--help"],
        &["gc", "--help"],
        &["gc", "-h"],
        &["bench", "--help"],
    ] {
        let (code, out, _) = run(args);
        assert!(code == 0 && !out.is_empty(), "sysvring {args:?}: {code}");
    }
    let (_, out, _) = run(&["bench", "--help"]);
    assert!(
        out.contains("ceiling") && out.contains("--messages"),
        "{out}"
    );
}

#[test]
fn foreign_objects_are_never_listed_or_collected() {
    if role().is_some() {
        return;
    }
    let key = key(TAG);
    let mut g = support::Guard::new();
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
/// A queue channel made with `Key::private()` (its set and queue are at key 0) is
/// found by its semaphore set: `ls` lists it, `stat --sem` and `--msg` show it, `rm
/// --sem` removes both of its objects.
#[test]
fn a_private_queue_channel_is_listed_and_removable() {
    if role().is_some() {
        return;
    }
    let ch = Builder::<u64>::new(Key::private())
        .transport(Transport::MessageQueue)
        .create()
        .expect("a private queue channel");
    // Removed at the end whatever happens (the handle owns the objects).
    let (sem, msg) = (ch.sem_id(), ch.msg_id().expect("a queue"));
    let all = json(&["ls", "--json"]);
    let o = all
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["sem_id"] == sem)
        .cloned()
        .unwrap_or_else(|| panic!("not listed: {all}"));
    assert_eq!(o["key"], Key::private().to_string().as_str(), "{o}");
    assert!(o["transport"] == "msgq" && o["msg_id"] == msg, "{o}");
    let info = sysvring::admin::list()
        .unwrap()
        .into_iter()
        .find(|i| i.sem_id == Some(sem))
        .expect("admin::list");
    assert_eq!(info.msg_id, Some(msg));
    let st = json(&["stat", "--sem", &sem.to_string(), "--json"]);
    assert_eq!(st["msg_id"], msg, "{st}");
    let st = json(&["stat", "--msg", &msg.to_string(), "--json"]);
    assert_eq!(st["sem_id"], sem, "{st}");
    // This process holds it open (the queue channel's kernel-held holder count), so a
    // plain `rm` refuses, as it does for a ring some process has mapped.
    assert_eq!(st["attached"], 1, "{st}");
    let (ok, refused) = sysvring(&["rm", "--sem", &sem.to_string()]);
    assert!(!ok && refused.contains("in use"), "{refused}");
    let removed = json(&["rm", "--sem", &sem.to_string(), "--json", "--force"]);
    assert_eq!(removed["removed"]["msg_id"], msg, "{removed}");
    assert!(sysvring::sys::SemSet::from_id(sem).is_err(), "set removed");
    assert!(
        sysvring::sys::MsgQueue::from_id(msg).stat().is_err(),
        "queue removed"
    );
    drop(ch);
}

/// A byte-frame channel is listed as one (`frame`), `stat` shows its `max_len`, ring
/// bytes and queued frames, and `rm` removes it.
#[test]
fn a_frame_channel_is_listed_stated_and_removable() {
    if role().is_some() {
        return;
    }
    let ch = sysvring::FrameBuilder::new(Key::private())
        .max_len(300)
        .capacity_bytes(4096)
        .transport(sysvring::Transport::ShmRing)
        .create()
        .expect("a private frame channel");
    let mut tx = ch.sender().unwrap();
    tx.send_bytes(b"one").unwrap();
    tx.send_bytes(&[7; 300]).unwrap();
    let shm = ch.shm_id().expect("a ring");
    let all = json(&["ls", "--json"]);
    let o = all
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["shm_id"] == shm)
        .cloned()
        .unwrap_or_else(|| panic!("not listed: {all}"));
    assert_eq!(o["flavor"], "frame", "{o}");
    assert_eq!(o["frames"], true, "{o}");
    assert_eq!(
        (o["elem_size"].as_u64(), o["capacity"].as_u64()),
        (Some(300), Some(4096))
    );
    assert_eq!(o["len"], 2, "{o}");
    assert_eq!(
        (o["stats"]["sent"].as_u64(), o["senders"].as_u64()),
        (Some(2), Some(1))
    );
    let (ok, text) = sysvring(&["stat", "--shm", &shm.to_string()]);
    assert!(ok, "{text}");
    assert!(text.contains("byte frames of up to 300 bytes"), "{text}");
    assert!(text.contains("4096 bytes  (now 2 frames queued)"), "{text}");
    drop(tx);
    let removed = json(&["rm", "--shm", &shm.to_string(), "--force", "--json"]);
    assert_eq!(removed["removed"]["shm_id"], shm, "{removed}");
    // Marked for removal; gone once our mapping goes.
    drop(ch);
    assert!(
        sysvring::sys::Shm::from_id(shm).stat().is_err(),
        "segment removed"
    );
}

/// A byte-frame channel on the message queue is listed as one (`frame`, `msgq`),
/// and `stat` shows its `max_len` and its budget in bytes.
#[test]
fn a_frame_channel_on_the_queue_is_listed_and_stated() {
    if role().is_some() {
        return;
    }
    let ch = sysvring::FrameBuilder::new(Key::private())
        .max_len(300)
        .capacity_bytes(4096)
        .transport(sysvring::Transport::MessageQueue)
        .create()
        .expect("a private frame channel on the queue");
    let mut tx = ch.sender().unwrap();
    tx.send_bytes(b"one").unwrap();
    tx.send_bytes(&[7; 300]).unwrap();
    let msg = ch.msg_id().expect("a queue");
    let all = json(&["ls", "--json"]);
    let o = all
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["msg_id"] == msg)
        .cloned()
        .unwrap_or_else(|| panic!("not listed: {all}"));
    assert_eq!(o["flavor"], "frame", "{o}");
    assert_eq!(o["transport"], "msgq", "{o}");
    assert_eq!(o["frames"], true, "{o}");
    assert_eq!(
        (o["elem_size"].as_u64(), o["capacity"].as_u64()),
        (Some(300), Some(4096))
    );
    assert_eq!(o["len"], 2, "{o}");
    let (ok, text) = sysvring(&["stat", "--sem", &ch.sem_id().to_string()]);
    assert!(ok, "{text}");
    assert!(text.contains("byte frames of up to 300 bytes"), "{text}");
    assert!(text.contains("4096 bytes  (now 2 frames queued)"), "{text}");
}

#[test]
fn bench_runs_every_row() {
    if role().is_some() {
        return;
    }
    let (code, out, err) = run(&[
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
    assert_eq!(code, 0, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let rows = doc["results"].as_array().expect("results");
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
        let n = rows.iter().filter(|r| r["transport"] == tr).count();
        // spsc and spsc-zc are measured at 2 KiB too: the frame rows' references.
        let want = if tr.starts_with("spsc") { 3 } else { 2 };
        assert_eq!(n, want, "{tr}: one row per size in {out}");
    }
    // The frame rows: once, at the mean frame size, each with its reference of the
    // same run and the ratio of their MB/s.
    for (tr, reference) in [("frames", "spsc"), ("frames-zc", "spsc-zc")] {
        let f: Vec<_> = rows.iter().filter(|r| r["transport"] == tr).collect();
        assert_eq!(f.len(), 1, "{tr}: {out}");
        assert_eq!(f[0]["size"], 2048, "{tr}");
        let t = &f[0]["throughput"];
        assert_eq!(t["reference"], reference, "{t}");
        assert!(t["mb_per_s"].as_f64().is_some_and(|x| x > 0.0), "{t}");
        assert!(
            t["ratio_reference"].as_f64().is_some_and(|x| x > 0.0),
            "{t}"
        );
        assert!(f[0]["latency_ns"].is_null(), "{tr}: throughput only");
        assert!(rows
            .iter()
            .any(|r| r["transport"] == reference && r["size"] == 2048));
    }
    assert!(
        rows.iter().any(|r| r["label"] == "sysvring mpmc 3x3"),
        "{out}"
    );
    assert!(
        rows.iter().any(|r| r["label"] == "crossbeam 3x3 threads"),
        "{out}"
    );
    for r in rows {
        assert_eq!(r["errors"], serde_json::json!([]), "{r}");
        assert!(r["suspect"].is_boolean(), "{r}");
    }
    // A row measures what it can: throughput-only and latency-only rows say so.
    let semop = rows
        .iter()
        .find(|r| r["transport"] == "semop" && r["size"] == 8)
        .expect("semop row");
    assert!(semop["throughput"].is_null() && semop["latency_ns"]["p50"].is_number());
    let ceiling = rows
        .iter()
        .find(|r| r["transport"] == "ceiling")
        .expect("ceiling row");
    assert!(ceiling["latency_ns"].is_null() && ceiling["throughput"]["msgs_per_s"].is_number());
    let (ok, out) = sysvring(&["bench", "--pairs", "0"]);
    assert!(!ok && out.contains("--pairs"), "{out}");
    let (ok, out) = sysvring(&["bench", "--transports", "carrier-pigeon"]);
    assert!(!ok && out.contains("unknown transport"), "{out}");
    // The plot's path is checked before anything runs.
    let (code, _, err) = run(&["bench", "--plot", "/nonexistent/dir/x.svg"]);
    assert!(code == 2 && err.contains("--plot"), "{code} {err}");
}
