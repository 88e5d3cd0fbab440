//! Runs every program in `examples/` and checks that it succeeds, prints what it
//! should, and leaves no System V object behind.
//!
//! `cargo test` builds the examples, but `cargo test --test examples` does not, and a
//! binary left from an earlier build may be stale; so the first test to need them runs
//! `cargo build --examples` with this test binary's profile and target directory
//! (a no-op when they are fresh).

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use support::{proc_sysvipc, wait_timeout};

/// Watchdog for one example run (they finish in a few seconds).
const RUN_LIMIT: Duration = Duration::from_secs(30);
/// Watchdog for building the examples.
const BUILD_LIMIT: Duration = Duration::from_secs(600);

/// `<target-dir>/[<triple>/]<profile>`, where this test binary lives (in `deps/`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary in <profile>/deps")
        .to_path_buf()
}

/// Builds the examples once per test binary; returns where they are.
fn examples_dir() -> &'static Path {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(build_examples)
        .as_deref()
        .unwrap_or_else(|e| panic!("building the examples failed:\n{e}"))
}

fn build_examples() -> Result<PathBuf, String> {
    let profile_dir = profile_dir();
    let dir_name = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    // Cargo's `dev` and `test` profiles write to `debug/`; other profiles to their name.
    let profile = if dir_name == "debug" { "dev" } else { dir_name };
    let parent = profile_dir.parent().ok_or("no target directory")?;
    // A target directory holds CACHEDIR.TAG; otherwise `parent` is `<target-dir>/<triple>`.
    let (target_dir, triple) = if parent.join("CACHEDIR.TAG").exists() {
        (parent, None)
    } else {
        (
            parent.parent().ok_or("no target directory")?,
            parent.file_name().and_then(|n| n.to_str()),
        )
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--examples",
        "--profile",
        profile,
        "--manifest-path",
    ])
    .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
    .arg("--target-dir")
    .arg(target_dir);
    if let Some(t) = triple {
        cmd.args(["--target", t]);
    }
    let (ok, out, _) = run(cmd, BUILD_LIMIT);
    if ok {
        Ok(profile_dir.join("examples"))
    } else {
        Err(out)
    }
}

/// Runs `cmd` with a watchdog; returns whether it succeeded, its stdout + stderr and
/// its pid.
fn run(mut cmd: Command, limit: Duration) -> (bool, String, u32) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let pid = child.id();
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let t_err = thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let status = wait_timeout(&mut child, limit);
    let out = t_out.join().unwrap();
    let err = t_err.join().unwrap();
    (
        status.success(),
        format!("{out}{err}\n(exit status: {status})"),
        pid,
    )
}

/// The objects an example's output names: `key=0x..` and `shmid=`/`semid=`/`msqid=`.
fn named_objects(out: &str) -> (Vec<i32>, Vec<(&'static str, i32)>) {
    let mut keys = Vec::new();
    let mut ids = Vec::new();
    for word in out.split(|c: char| c.is_whitespace() || c == ',' || c == ';') {
        if let Some(hex) = word.strip_prefix("key=0x") {
            if let Ok(k) = u32::from_str_radix(hex, 16) {
                keys.push(k as i32);
            }
        }
        for (prefix, kind) in [("shmid=", "shm"), ("semid=", "sem"), ("msqid=", "msg")] {
            if let Some(id) = word.strip_prefix(prefix).and_then(|s| s.parse().ok()) {
                ids.push((kind, id));
            }
        }
    }
    (keys, ids)
}

/// Runs an example and checks it succeeded, printed each of `expected`, named the
/// objects it made, and left none of them behind.
fn check_example(name: &str, expected: &[&str]) -> String {
    let exe = examples_dir().join(name);
    assert!(exe.exists(), "{} is missing", exe.display());
    let (ok, out, pid) = run(Command::new(&exe), RUN_LIMIT);
    assert!(ok, "example {name} failed:\n{out}");
    for e in expected {
        assert!(
            out.contains(e),
            "example {name} did not print {e:?}:\n{out}"
        );
    }

    let (keys, ids) = named_objects(&out);
    assert!(!ids.is_empty(), "example {name} named no object:\n{out}");
    let left: Vec<_> = proc_sysvipc()
        .into_iter()
        .filter(|o| keys.contains(&o.key) || ids.contains(&(o.kind, o.id)))
        .collect();
    assert!(
        left.is_empty(),
        "example {name} left {left:?} behind:\n{out}"
    );
    // The rendezvous file, named after the example and the pid of its main process.
    let file = std::env::temp_dir().join(format!("sysvring-{name}-{pid}"));
    assert!(!file.exists(), "example {name} left {}", file.display());
    out
}

#[test]
fn writer_reader() {
    let out = check_example(
        "writer_reader",
        &["wrote: hello from the writer", "removed shmid="],
    );
    // The reader, another process, printed the writer's line.
    let line = out
        .lines()
        .find(|l| l.starts_with("[reader ") && l.contains("read: "))
        .unwrap_or_else(|| panic!("no reader line:\n{out}"));
    assert!(line.ends_with(&format!(
        "read: hello from the writer, pid {}",
        writer_pid(&out)
    )));
}

fn writer_pid(out: &str) -> String {
    let l = out.lines().find(|l| l.starts_with("[writer ")).unwrap();
    l["[writer ".len()..l.find(']').unwrap()].to_string()
}

#[test]
fn counter() {
    let out = check_example(
        "counter",
        &["nattch=2", "counter = 10", "sees 10", "removed shmid="],
    );
    // Values the viewer printed only go up.
    let seen: Vec<u64> = out
        .lines()
        .filter_map(|l| l.split("sees ").nth(1))
        .map(|v| v.trim().parse().unwrap())
        .collect();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
}

#[test]
fn parent_child() {
    check_example(
        "parent_child",
        &[
            "key=IPC_PRIVATE",
            "inherited the attachment (nattch=2)",
            "read: what is 6 * 7?",
            "answered: 42, says the child",
            "removed shmid=",
        ],
    );
}

#[test]
fn listener_talker() {
    let out = check_example(
        "listener_talker",
        &[
            "got reply: 11 squared is 121",
            "got reply: 13 squared is 169",
            "3 rounds done",
            "removed shmid=",
            "removed semid=",
        ],
    );
    // Strict alternation: each request is answered before the next is sent.
    let order: Vec<&str> = out
        .lines()
        .filter_map(|l| {
            if l.contains("sends: ") {
                Some("send")
            } else if l.contains("got reply: ") {
                Some("reply")
            } else {
                None
            }
        })
        .collect();
    assert_eq!(order, ["send", "reply"].repeat(3), "{out}");
}

#[test]
fn critical_section() {
    let out = check_example(
        "critical_section",
        &[
            "worker 0 is inside the critical section",
            "2 workers wait for it",
            "SIGKILL",
            "never released: SEM_UNDO gave it back",
            "worker 1 in the critical section (round 3)",
            "worker 2 in the critical section (round 3)",
            "got in after the kill; lock value is 1 again",
        ],
    );
    assert_eq!(
        out.matches("never released").count(),
        1,
        "exactly one worker inherits the killed holder's lock:\n{out}"
    );
}

#[test]
fn mailbox() {
    let out = check_example(
        "mailbox",
        &[
            "left 8 messages",
            "read 2 alerts, 3 orders, 2 other, 1 end",
            "removed msqid=",
        ],
    );
    // The receiver read by type: both alerts before any order, orders before notes.
    let received: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("type "))
        .collect();
    let first = |p: &str| received.iter().position(|l| l.contains(p)).unwrap();
    assert!(
        first("alert: backup failed") < first("order: 4 widgets"),
        "{out}"
    );
    assert!(
        first("order: 1 gizmo") < first("note: the meeting"),
        "{out}"
    );
    assert!(received.last().unwrap().contains("end of mail"), "{out}");
}

// ---- type identity across separately compiled programs -----------------------------

/// The `Tick` of `examples/tick_sender.rs`, defined again here: another build of the
/// same definition.
mod twin {
    #[derive(
        Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message,
    )]
    #[repr(C)]
    pub struct Tick {
        pub seq: u64,
        pub price: f64,
    }
}

/// Definitions that differ from the example's `Tick` in one way each.
mod renamed {
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
    #[repr(C)]
    pub struct Tick {
        pub seq: u64,
        pub px: f64,
    }
}
mod reordered {
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
    #[repr(C)]
    pub struct Tick {
        pub price: f64,
        pub seq: u64,
    }
}
mod retyped {
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
    #[repr(C)]
    pub struct Tick {
        pub seq: f64,
        pub price: f64,
    }
}

/// Creates a channel of `T` at a fresh key and runs `tick_sender KEY n` against it.
fn run_tick_sender<T: sysvring::Message>(n: u64) -> (sysvring::AnyChannel<T>, (bool, String, u32)) {
    let ch = support::create_unique::<T>(0x37, |b| b.capacity(64));
    let exe = examples_dir().join("tick_sender");
    let mut cmd = Command::new(&exe);
    cmd.arg(ch.key().raw().to_string()).arg(n.to_string());
    let rx = ch.receiver().expect("receiver");
    drop(rx);
    let out = run(cmd, RUN_LIMIT);
    (ch, out)
}

/// A separately compiled program with an identical definition of `Tick` sends; this
/// program receives every tick intact.
#[test]
fn identical_definitions_in_two_builds_exchange_messages() {
    const N: u64 = 10_000;
    let ch = support::create_unique::<twin::Tick>(0x37, |b| b.capacity(64));
    let rx = ch.receiver().expect("receiver");
    let exe = examples_dir().join("tick_sender");
    let mut cmd = Command::new(&exe);
    cmd.arg(ch.key().raw().to_string()).arg(N.to_string());
    let sender = thread::spawn(move || run(cmd, RUN_LIMIT));
    for seq in 0..N {
        let t = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("tick {seq}: {e:?}"));
        assert_eq!(
            t,
            twin::Tick {
                seq,
                price: seq as f64 * 0.5
            }
        );
    }
    let (ok, out, _) = sender.join().unwrap();
    assert!(ok, "tick_sender failed:\n{out}");
    assert!(out.contains(&format!("sent {N} ticks")), "{out}");
}

/// A field renamed, reordered or changed from `u64` to `f64` is another type: the
/// separately compiled sender is refused with `TypeMismatch`, naming both types.
#[test]
fn a_renamed_reordered_or_retyped_field_is_refused() {
    fn refused<T: sysvring::Message>(what: &str) {
        let (_ch, (ok, out, _)) = run_tick_sender::<T>(1);
        assert!(!ok, "{what}: the sender was accepted:\n{out}");
        assert!(
            out.contains("refused: element type mismatch") && out.contains("`Tick`"),
            "{what}: {out}"
        );
        assert!(
            out.contains("(exit status: exit status: 3)"),
            "{what}: {out}"
        );
    }
    refused::<renamed::Tick>("renamed");
    refused::<reordered::Tick>("reordered");
    refused::<retyped::Tick>("retyped");
}
