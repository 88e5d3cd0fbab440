//! What touches the whole host, run where it touches only what the test made: in a
//! private IPC namespace (`unshare --ipc`, as root). The outer test re-executes this
//! binary there; inside, `/proc/sysvipc` starts empty, other suites running at the
//! same time are out of sight (a real `gc` could otherwise collect channels their
//! tests abandon on purpose), and every object left at the end dies with the
//! namespace.
//!
//! - `gc` removes what SIGKILLed users left, keeps channels that still hold messages
//!   until `--force`, never touches foreign objects; its dry run shows length, users
//!   and last activity; every `--json` parses;
//! - usage errors (`gc --dryrun`, `rm --dry-run KEY`, `rm -n KEY`, ...) and `--help`
//!   remove nothing;
//! - a bare id that names two objects (a C program's segment 0 and a queue channel's
//!   set and queue 0, as in a fresh namespace) is refused, and nothing is removed;
//! - a header forged by another user (uid 65534) that names root's semaphore set, and
//!   a kept channel whose set id was reused by another program after `ipcrm -s`,
//!   are not channels: `ls` says why, `gc` and `rm` leave every object alone;
//! - `ls`, `stat`, `rm` and `gc --dry-run` do not attach a foreign segment (its
//!   `shm_lpid`, `shm_atime` and `shm_nattch` are unchanged);
//! - `bench`, interrupted with SIGINT at a random moment, leaves no object and no
//!   child behind.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use support::{env, key, proc_sysvipc, role, wait_until, Guard, Kid, ROLE, WATCHDOG};

/// Top byte of this file's keys.
const TAG: u8 = 0x32;
use serde_json::Value;
use sysvring::admin;
use sysvring::ring::layout::Header;
use sysvring::sys::{SemSet, Shm};
use sysvring::{Builder, Flavor, Key, Transport};

/// The role of the re-executed binary that runs the suite inside the namespace.
const NAMESPACE: &str = "ipc-namespace";

/// Runs the command: exit code, stdout, stderr.
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

/// Stdout of a command that must succeed.
fn sysvring(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "sysvring {args:?}: {out}{err}");
    out
}

fn json(args: &[&str]) -> Value {
    let out = sysvring(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("sysvring {args:?}: {e}: {out}"))
}

fn ls_entry(key: Key) -> Option<Value> {
    json(&["ls", "--json"])
        .as_array()
        .expect("an array")
        .iter()
        .find(|o| o["key"] == key.to_string().as_str())
        .cloned()
}

/// Every (kind, id) in /proc/sysvipc.
fn ids() -> BTreeSet<(String, i32)> {
    proc_sysvipc()
        .into_iter()
        .map(|o| (o.kind.to_string(), o.id))
        .collect()
}

/// Child: create (role `creator`) or open (role `user`) the channel, connect a sender
/// and a receiver, send `GC_SEND` messages, then sleep until killed.
#[test]
fn child_user() {
    let Some(r) = role() else { return };
    if r == NAMESPACE {
        return;
    }
    let key = Key::from_raw(env::<i32>("GC_KEY"));
    let t = if env::<i32>("GC_MSGQ") == 1 {
        Transport::MessageQueue
    } else {
        Transport::ShmRing
    };
    let ch = if r == "creator" {
        Builder::<u64>::new(key)
            .transport(t)
            .flavor(Flavor::Mpmc)
            .create()
            .expect("create")
    } else {
        Builder::<u64>::new(key).open().expect("open")
    };
    let (tx, _rx) = (ch.sender().unwrap(), ch.receiver().unwrap());
    for i in 0..env::<i32>("GC_SEND") {
        tx.send(i as u64).unwrap();
    }
    println!("ready");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn in_a_private_ipc_namespace() {
    if role().is_some() {
        return;
    }
    let probe = Command::new("unshare")
        .args(["--ipc", "true"])
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: `unshare --ipc` is not available here (it needs root)");
        return;
    }
    let out = Command::new("unshare")
        .args(["--ipc", "--"])
        .arg(std::env::current_exe().expect("current_exe"))
        .args([
            "namespace_suite",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, NAMESPACE)
        .stdin(Stdio::null())
        .output()
        .expect("unshare");
    assert!(
        out.status.success(),
        "the suite failed in its namespace:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The suite, inside the namespace (in this order: the ambiguity needs fresh ids).
#[test]
fn namespace_suite() {
    if role().as_deref() != Some(NAMESPACE) {
        return;
    }
    assert!(
        proc_sysvipc().is_empty(),
        "not a fresh IPC namespace: {:?}",
        proc_sysvipc()
    );
    a_bare_id_naming_two_objects_is_refused();
    usage_errors_and_help_remove_nothing();
    gc_removes_what_killed_users_left_and_keeps_what_holds_messages();
    a_forged_header_naming_another_users_set_is_left_alone();
    a_set_id_reused_after_ipcrm_is_not_the_channels();
    inspection_does_not_attach_a_foreign_segment();
    bench_interrupted_leaves_nothing_behind();
}

/// As in the issue: a C program's segment is shmid 0, a kept queue channel's set and
/// queue are 0 too: `rm 0` must not pick one.
fn a_bare_id_naming_two_objects_is_refused() {
    let mut g = Guard::new();
    let foreign = g.shm(sysvring::sys::Shm::create(key(TAG), 4096, 0o600).unwrap());
    let key = key(TAG);
    let ch = Builder::<u64>::new(key)
        .transport(Transport::MessageQueue)
        .create()
        .expect("a queue channel");
    let n = foreign.id();
    let o = ls_entry(key).expect("listed");
    assert!(
        o["sem_id"] == n || o["msg_id"] == n,
        "a fresh namespace numbers each kind from 0: segment {n}, channel {o}"
    );
    let spec = n.to_string();
    for cmd in ["rm", "stat"] {
        let (code, _, err) = run(&[cmd, &spec]);
        assert_eq!(code, 2, "{cmd} {spec}: {err}");
        assert!(
            err.contains("ambiguous") && err.contains(&format!("shm {n}")),
            "{err}"
        );
        assert!(
            err.contains(&key.to_string()),
            "the matches are listed: {err}"
        );
    }
    let (code, _, err) = run(&["rm", "--force", &spec]);
    assert_eq!(code, 2, "--force does not resolve an ambiguity: {err}");
    assert!(foreign.stat().is_ok(), "the foreign segment is still there");
    assert!(ls_entry(key).is_some(), "the channel is still there");
    // Addressed without ambiguity.
    let st = json(&["stat", "--msg", &o["msg_id"].to_string(), "--json"]);
    assert_eq!(st["key"], key.to_string().as_str());
    let st = json(&["stat", &key.to_string(), "--json"]);
    assert_eq!(st["msg_id"], o["msg_id"]);
    let (code, _, err) = run(&["stat", "--shm", &spec]);
    assert!(code == 1 && err.contains("no sysvring channel"), "{err}");
    drop(ch);
    // Now the number names one object, a foreign one: not found, nothing removed.
    let (code, _, err) = run(&["rm", &spec]);
    assert!(code == 1 && err.contains("not a sysvring channel"), "{err}");
    assert!(foreign.stat().is_ok());
}

/// A channel `gc` would collect (its only user was SIGKILLed, nothing queued) is
/// still there after every usage error and `--help`.
fn usage_errors_and_help_remove_nothing() {
    let key = key(TAG);
    let env = [
        ("GC_KEY", key.raw().to_string()),
        ("GC_MSGQ", "0".to_string()),
        ("GC_SEND", "0".to_string()),
    ];
    let mut creator = Kid::spawn("child_user", "creator", &env);
    wait_until("the creator's channel", || ls_entry(key).is_some());
    creator.kill();
    let _ = creator.wait();
    wait_until("collectable", || {
        ls_entry(key).is_some_and(|o| o["in_use"] == false)
    });
    let k = key.to_string();
    for args in [
        &["gc", "--dryrun"][..],
        &["gc", "--json", "extra"],
        &["gc", "--force", "--bogus"],
        &["rm", "--dry-run", &k],
        &["rm", "-n", &k],
        &["rm", &k, "extra"],
        &["rm", "--key", &k, &k],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, 2, "sysvring {args:?}: {out}{err}");
        assert!(ls_entry(key).is_some(), "sysvring {args:?} removed it");
    }
    for args in [&["gc", "--help"][..], &["gc", "-h"], &["rm", "--help", &k]] {
        let (code, _, _) = run(args);
        assert_eq!(code, 0, "sysvring {args:?}");
        assert!(ls_entry(key).is_some(), "sysvring {args:?} removed it");
    }
    let dry = json(&["gc", "--dry-run", "--json"]);
    assert_eq!(dry["dry_run"], true);
    assert!(ls_entry(key).is_some(), "a dry run removes nothing");
    let removed = json(&["rm", "--key", &k, "--json"]);
    assert_eq!(removed["removed"]["key"], k.as_str());
    assert!(ls_entry(key).is_none());
}

fn gc_removes_what_killed_users_left_and_keeps_what_holds_messages() {
    // Foreign objects, at keys of their own, one with a sysvring-sized set.
    let mut foreign = Guard::new();
    let fshm = foreign.shm(sysvring::sys::Shm::create(key(TAG), 4096, 0o600).unwrap());
    let fsem = foreign.sem(sysvring::sys::SemSet::create(key(TAG), 25, 0o600).unwrap());
    let fq = foreign.msg(sysvring::sys::MsgQueue::create(key(TAG), 0o600).unwrap());

    for msgq in [0, 1] {
        for send in [0, 1] {
            let before = ids();
            let key = key(TAG);
            let k = key.to_string();
            let env = [
                ("GC_KEY", key.raw().to_string()),
                ("GC_MSGQ", msgq.to_string()),
                ("GC_SEND", send.to_string()),
            ];
            let mut creator = Kid::spawn("child_user", "creator", &env);
            wait_until("the creator's channel", || ls_entry(key).is_some());
            let mut user = Kid::spawn("child_user", "user", &env);
            wait_until("two senders and two receivers", || {
                ls_entry(key).is_some_and(|o| o["senders"] == 2 && o["receivers"] == 2)
            });
            let queued = 2 * send;
            wait_until("both users sent", || {
                ls_entry(key).is_some_and(|o| o["len"] == queued)
            });
            creator.kill();
            user.kill();
            let _ = (creator.wait(), user.wait());
            wait_until("the kernel undid both users", || {
                ls_entry(key).is_some_and(|o| o["senders"] == 0 && o["receivers"] == 0)
            });
            let o = ls_entry(key).unwrap();
            assert!(o["creator_alive"] == false && o["in_use"] == false, "{o}");

            // The dry run shows length, users and last activity.
            let dry = sysvring(&["gc", "--dry-run", "--force"]);
            let line = dry
                .lines()
                .find(|l| l.contains(&k))
                .unwrap_or_else(|| panic!("gc --dry-run must name {k}: {dry}"));
            assert!(line.starts_with(&format!("would remove {k}")), "{line}");
            assert!(line.contains(&format!("{queued} queued")), "{line}");
            assert!(line.contains("0 senders 0 receivers 0 attached"), "{line}");
            assert!(
                line.contains("last activity") && line.contains(" ago"),
                "{line}"
            );
            let dry = json(&["gc", "--dry-run", "--force", "--json"]);
            let names = |v: &Value, what: &str| {
                v[what]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["key"] == k.as_str() || c["channel"]["key"] == k.as_str())
            };
            assert!(names(&dry, "removed"), "{dry}");
            assert!(ls_entry(key).is_some(), "a dry run removes nothing");

            if send == 1 {
                // Still holding messages: gc keeps it and says so.
                let out = sysvring(&["gc"]);
                assert!(
                    out.contains(&format!("kept {k}")) && out.contains("2 queued"),
                    "{out}"
                );
                let kept = json(&["gc", "--json"]);
                assert!(names(&kept, "kept") && !names(&kept, "removed"), "{kept}");
                assert!(
                    ls_entry(key).is_some(),
                    "gc removed a channel holding messages"
                );
                let out = json(&["gc", "--force", "--json"]);
                assert!(names(&out, "removed"), "gc --force: {out}");
            } else {
                let out = sysvring(&["gc"]);
                assert!(out.contains(&format!("removed {k}")), "gc output: {out}");
            }
            assert!(ls_entry(key).is_none(), "still listed after gc");
            assert!(
                sysvring::sys::Shm::open(key).is_err() && sysvring::sys::SemSet::open(key).is_err()
            );
            let after = ids();
            assert!(
                after.is_subset(&before),
                "gc left {:?}",
                after.difference(&before).collect::<Vec<_>>()
            );
            assert!(
                fshm.stat().is_ok() && fsem.stat().is_ok() && fq.stat().is_ok(),
                "gc touched a foreign object"
            );
        }
    }
}

/// uid and gid of `nobody`.
const NOBODY: u32 = 65534;

/// Child, as `nobody`: makes a kept ring channel at `FORGE_KEY` (its own segment and
/// set, mode 0644), then points the segment's header at semaphore set `FORGE_SET`
/// (root's).
#[test]
fn child_forge() {
    if role().as_deref() != Some("forge") {
        return;
    }
    // SAFETY: plain credential syscalls (glibc applies them to every thread); the
    // null list with length 0 clears the supplementary groups.
    let ok = unsafe {
        libc::setgroups(0, std::ptr::null()) == 0
            && libc::setgid(NOBODY) == 0
            && libc::setuid(NOBODY) == 0
    };
    assert!(ok, "could not become nobody");
    let key = Key::from_raw(env::<i32>("FORGE_KEY"));
    let ch = Builder::<u64>::new(key)
        .mode(0o644)
        .create()
        .expect("create as nobody");
    ch.keep();
    drop(ch);
    let att = Shm::open(key).unwrap().attach(false).unwrap();
    att.write(
        std::mem::offset_of!(Header, sem_id),
        &env::<u32>("FORGE_SET").to_le_bytes(),
    );
    println!("forged");
}

/// The objects `nobody` made: its segment at `key` and its private ring set (the
/// only private semaphore sets nobody has in this namespace), for the guard.
fn nobodys_objects(g: &mut Guard, key: Key) {
    if let Ok(s) = Shm::open(key) {
        g.shm(s);
    }
    let text = std::fs::read_to_string("/proc/sysvipc/sem").unwrap();
    for line in text.lines().skip(1) {
        let c: Vec<i64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        // key semid perms nsems uid gid cuid ...
        if c.len() > 6 && c[0] == 0 && c[6] == i64::from(NOBODY) {
            if let Ok(s) = SemSet::from_id(c[1] as i32) {
                g.sem(s);
            }
        }
    }
}

/// As in the issue: uid 65534 forges a segment header that names a semaphore set of
/// root's (here a private set of a ring set's size, so only the creator check can
/// tell). Root's `ls` says why it is no channel, and neither `gc` (also `--force`)
/// nor `rm` (also `--force`, by key or by id) removes the set or the segment.
fn a_forged_header_naming_another_users_set_is_left_alone() {
    let mut g = Guard::new();
    let victim = g.sem(SemSet::create(Key::private(), 6, 0o600).unwrap());
    let key = key(TAG);
    let mut forger = Kid::spawn(
        "child_forge",
        "forge",
        &[
            ("FORGE_KEY", key.raw().to_string()),
            ("FORGE_SET", victim.id().to_string()),
        ],
    );
    let status = forger.wait();
    nobodys_objects(&mut g, key);
    assert!(status.success(), "forger: {}", forger.output());
    let seg = Shm::open(key).expect("the forged segment");
    assert_eq!(seg.stat().unwrap().perm.cuid, NOBODY);
    let shm_id = seg.id().to_string();

    let (code, out, err) = run(&["ls"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains(&key.to_string()),
        "listed as a channel: {out}"
    );
    assert!(
        err.contains(&format!("shm {shm_id}"))
            && err.contains(&format!("semaphore set {}", victim.id()))
            && err.contains("uid 0")
            && err.contains(&format!("uid {NOBODY}")),
        "ls says why: {err}"
    );
    assert!(ls_entry(key).is_none());
    for args in [
        &["gc"][..],
        &["gc", "--force"],
        &["rm", "--key", &key.to_string()],
        &["rm", "--force", "--key", &key.to_string()],
        &["rm", "--shm", &shm_id],
        &["rm", "--force", "--shm", &shm_id],
    ] {
        let (code, out, err) = run(args);
        if args[0] == "rm" {
            assert_eq!(code, 1, "sysvring {args:?}: {out}{err}");
            assert!(err.contains("left alone"), "sysvring {args:?}: {err}");
        } else {
            assert_eq!(code, 0, "sysvring {args:?}: {out}{err}");
        }
        assert!(
            victim.stat().is_ok(),
            "sysvring {args:?} removed root's semaphore set"
        );
        assert!(seg.stat().is_ok(), "sysvring {args:?} removed the segment");
    }
    let gc = json(&["gc", "--dry-run", "--json"]);
    let refused = gc["refused"].as_array().expect("refused");
    assert!(
        refused
            .iter()
            .any(|r| r["kind"] == "shm" && r["id"] == seg.id() && r["creator_uid"] == NOBODY),
        "{gc}"
    );
    // The library says the same.
    let scan = admin::scan().unwrap();
    assert!(!scan.channels.iter().any(|i| i.key == key));
    assert!(scan.refused.iter().any(|r| r.id == seg.id()));
}

/// A kept channel outlives its creator; someone removes its set (`ipcrm -s`) and
/// another program's set gets the same id (forced with `sem_next_id`, which only
/// this namespace sees). `ls` does not show that set as the channel's, `gc` does not
/// remove it.
fn a_set_id_reused_after_ipcrm_is_not_the_channels() {
    let mut g = Guard::new();
    let key = key(TAG);
    let ch = Builder::<u64>::new(key).create().expect("create");
    let seg = g.shm(Shm::from_id(ch.shm_id().unwrap()));
    let old = ch.sem_id();
    ch.keep();
    drop(ch);
    SemSet::from_id(old).unwrap().remove().unwrap();
    if std::fs::write("/proc/sys/kernel/sem_next_id", old.to_string()).is_err() {
        eprintln!("skipped: sem_next_id is not writable here");
        return;
    }
    let other = g.sem(SemSet::create(Key::private(), 1, 0o600).unwrap());
    let _ = std::fs::write("/proc/sys/kernel/sem_next_id", "-1");
    assert_eq!(other.id(), old, "sem_next_id reuses the id");
    assert!(ls_entry(key).is_none(), "shown as a channel");
    assert!(!admin::list().unwrap().iter().any(|i| i.sem_id == Some(old)));
    for args in [&["gc"][..], &["gc", "--force"]] {
        sysvring(args);
        assert!(other.stat().is_ok(), "sysvring {args:?} removed the set");
        assert!(seg.stat().is_ok(), "sysvring {args:?} removed the segment");
    }
}

/// A C program's segment (4096 bytes, root's, like many) is never attached by
/// inspection: its last-attach pid, attach time and attach count are the kernel's
/// initial ones after `ls`, `stat`, `rm` and `gc --dry-run`. A live ring channel of
/// root's, made a second earlier, is there too (its set is not the segment's).
fn inspection_does_not_attach_a_foreign_segment() {
    let mut g = Guard::new();
    let ch = Builder::<u64>::new(key(TAG)).create().expect("create");
    // The segment is made in a later second than the channel's set.
    let second = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    let t0 = second(SystemTime::now());
    while second(SystemTime::now()) == t0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    // The kernel's IPC times come from a clock that may lag by a tick.
    std::thread::sleep(Duration::from_millis(100));
    let (fkey, foreign) = support::fresh(TAG, |k| Shm::create(k, 4096, 0o600));
    let foreign = g.shm(foreign);
    let before = foreign.stat().unwrap();
    let id = foreign.id().to_string();
    let k = fkey.to_string();
    sysvring(&["ls"]);
    sysvring(&["ls", "--json"]);
    sysvring(&["gc", "--dry-run"]);
    for args in [
        &["stat", "--shm", &id][..],
        &["stat", "--key", &k],
        &["rm", "--shm", &id],
        &["rm", &k],
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, 1, "sysvring {args:?}: {err}");
    }
    assert!(ls_entry(ch.key()).is_some(), "the channel is listed");
    let after = foreign.stat().unwrap();
    assert_eq!(
        (after.lpid, after.atime, after.dtime, after.nattch),
        (before.lpid, before.atime, before.dtime, before.nattch),
        "inspection attached the foreign segment"
    );
    assert_eq!((after.lpid, after.nattch), (0, 0), "never attached");
}

/// Pids of the live children of this process.
fn children() -> Vec<i32> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid ...: comm may hold spaces, so split after its ')'.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let mut f = rest.split_whitespace();
        let (state, ppid) = (f.next(), f.next());
        if ppid == Some(me.as_str()) && state != Some("Z") {
            out.push(pid);
        }
    }
    out
}

/// `bench` interrupted at random moments (before, during and after its children run)
/// removes every object and child it made.
fn bench_interrupted_leaves_nothing_behind() {
    // Orphans of the bench become our children: a child it left would show.
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only changes who reaps orphans of this
    // process's descendants; this process runs nothing else.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(r, 0, "prctl: {}", std::io::Error::last_os_error());
    let before = ids();
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let mut interrupted = 0;
    for trial in 0..8u32 {
        // 0..1200 ms: the full run takes about a second or two.
        let delay = Duration::from_millis(
            u64::from(seed.wrapping_add(trial.wrapping_mul(0x9e37_79b9)) >> 8) % 1200,
        );
        let mut bench = Command::new(env!("CARGO_BIN_EXE_sysvring"))
            .args([
                "bench",
                "--messages",
                "2000",
                "--sizes",
                "8",
                "--rounds",
                "1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn bench");
        std::thread::sleep(delay);
        // SAFETY: kill(2) on our own child, still unreaped (so the pid is its).
        unsafe { libc::kill(bench.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + WATCHDOG;
        let status = loop {
            if let Some(s) = bench.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = bench.kill();
                let _ = bench.wait();
                panic!("bench did not stop within {WATCHDOG:?} of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let left = ids();
        assert!(
            left.is_subset(&before),
            "trial {trial} (SIGINT after {delay:?}): bench left {:?}",
            left.difference(&before).collect::<Vec<_>>()
        );
        // Its children were killed and reaped before it exited.
        let orphans = children();
        assert!(
            orphans.is_empty(),
            "trial {trial} (SIGINT after {delay:?}): children left: {orphans:?}"
        );
        // Interrupted (130), or done before the signal came (0).
        match status.code() {
            Some(130) => interrupted += 1,
            Some(0) => {}
            other => panic!("trial {trial} after {delay:?}: bench ended with {other:?}"),
        }
    }
    eprintln!("bench: {interrupted} of 8 trials interrupted, nothing left behind");
    assert!(interrupted > 0, "no trial caught the bench running");
}
