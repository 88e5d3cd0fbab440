//! The C interface (`include/sysvring.h`, `capi/src`): the header against the Rust
//! declarations, the C examples (`examples/c/`) and the C test program
//! (`tests/c/api.c`) compiled with `cc -Wall -Wextra -Werror` against this build's
//! static library, and C and Rust processes exchanging messages both ways.
//!
//! The library is the staticlib cargo built beside this test binary
//! (`target/<profile>/libsysvring_c.a`: the `sysvring-c` package's `[lib]` is a `staticlib`).
//! `SYSVRING_C_SANITIZE=address` compiles the C side with AddressSanitizer
//! (`.ci/run` does). Every channel is created by the Rust side at a key of this
//! file's tag (`support::key`) and removed by its drop, also when a test fails.

#[macro_use]
#[path = "../../tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use support::{create_unique, key, proc_sysvipc, WATCHDOG};
use sysvring::message::Prim;
use sysvring::{AnyChannel, Flavor, Message, RecvTimeoutError, Transport};
use sysvring_c::{
    self as ffi, sysvring_field, sysvring_frame_options, sysvring_options, sysvring_stats,
    sysvring_struct,
};

const TAG: u8 = 0x35;

/// Messages each way in the exchange tests.
const N: u64 = 1_000_000;

/// The Rust twin of `Sample` in `examples/c/sample.h`.
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable, Message)]
#[repr(C)]
struct Sample {
    seq: u64,
    check: u64,
    value: f64,
    sensor: u32,
    tag: [u8; 4],
}

/// The Rust twin of `Quote` in `tests/c/api.c`.
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable, Message)]
#[repr(C)]
struct Quote {
    sample: Sample,
    levels: [[i16; 3]; 2],
    flags: [u8; 4],
}

/// The Rust twin of `Named` in `tests/c/api.c` (C `char` is `u8`).
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable, Message)]
#[repr(C)]
struct Named {
    id: u32,
    name: [u8; 8],
    delta: u8,
    level: u8,
    _reserved: [u8; 2],
}

/// A struct holding one struct description twice (a DAG in C).
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable, Message)]
#[repr(C)]
struct Pair {
    a: Sample,
    b: Sample,
    both: [Sample; 2],
}

/// `sample_make` of `sample.h`.
fn sample(i: u64) -> Sample {
    Sample {
        seq: i,
        check: i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        value: i as f64 * 0.5,
        sensor: (i % 7) as u32,
        tag: [b'S', i as u8, (i >> 8) as u8, b'E'],
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>`: where cargo put this test binary's `deps/` and the library.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

fn sanitize() -> bool {
    std::env::var("SYSVRING_C_SANITIZE").is_ok_and(|v| v == "address")
}

/// The C programs, compiled once per test process.
fn programs() -> &'static BTreeMap<&'static str, PathBuf> {
    static P: OnceLock<BTreeMap<&'static str, PathBuf>> = OnceLock::new();
    P.get_or_init(|| {
        let dir = profile_dir();
        // `deps/` holds the library cargo just built for this test run; the copy in
        // `target/<profile>/` is refreshed by `cargo build` only.
        let lib = [
            dir.join("deps/libsysvring_c.a"),
            dir.join("libsysvring_c.a"),
        ]
        .into_iter()
        .filter(|p| p.exists())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .unwrap_or_else(|| {
            panic!(
                "no libsysvring_c.a in {}: build the library (cargo build --lib)",
                dir.display()
            )
        });
        let out = dir.join(if sanitize() { "c_api-asan" } else { "c_api" });
        std::fs::create_dir_all(&out).unwrap();
        let sources = [
            ("writer", "examples/c/writer.c"),
            ("reader", "examples/c/reader.c"),
            ("counter", "examples/c/counter.c"),
            ("crash", "examples/c/crash.c"),
            ("api", "tests/c/api.c"),
            ("frames", "tests/c/frames.c"),
        ];
        let mut map = BTreeMap::new();
        for (name, src) in sources {
            let bin = out.join(name);
            // Built beside its final name, then renamed: a half-written binary is
            // never run.
            let tmp = out.join(format!(".{name}.{}", std::process::id()));
            let mut cc = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
            cc.current_dir(root())
                .args(["-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror"])
                .args(["-Iinclude", "-Iexamples/c", "-o"])
                .arg(&tmp)
                .arg(src)
                .arg(&lib)
                .args(["-pthread", "-ldl", "-lm"]);
            if sanitize() {
                cc.args(["-fsanitize=address", "-fno-omit-frame-pointer"]);
            }
            let o = cc.output().expect("run cc");
            assert!(
                o.status.success(),
                "cc {src} failed:\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
            std::fs::rename(&tmp, &bin).unwrap();
            map.insert(name, bin);
        }
        map
    })
}

/// A C program run by a test: killed and reaped on drop (a failing test leaves no
/// process behind).
struct Prog(Child);

impl Prog {
    fn spawn(name: &str, args: &[String]) -> Prog {
        let child = Command::new(&programs()[name])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn C program");
        Prog(child)
    }

    /// Waits (watchdog) and returns the output; panics unless it exited 0.
    fn finish(self) -> String {
        self.finish_both().0
    }

    /// As [`finish`](Prog::finish), with what it wrote to stderr.
    fn finish_both(mut self) -> (String, String) {
        let deadline = Instant::now() + WATCHDOG;
        while self.0.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "watchdog: C program hangs");
            thread::sleep(Duration::from_millis(5));
        }
        let child = std::mem::replace(&mut self.0, dummy());
        let o: Output = child.wait_with_output().unwrap();
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        assert!(
            o.status.success(),
            "{:?}\nstdout: {out}\nstderr: {err}",
            o.status
        );
        (out, err)
    }
}

/// A finished child to leave in a `Prog` whose real child was taken.
fn dummy() -> Child {
    Command::new("true").spawn().unwrap()
}

impl Drop for Prog {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(name: &str, args: &[String]) -> String {
    Prog::spawn(name, args).finish()
}

fn hex(k: sysvring::Key) -> String {
    format!("{:#x}", k.raw())
}

fn flavor_arg(f: Flavor) -> String {
    match f {
        Flavor::Mpmc => "mpmc".into(),
        _ => "spsc".into(),
    }
}

fn sample_channel(f: Flavor, t: Transport) -> AnyChannel<Sample> {
    create_unique::<Sample>(TAG, |b| b.flavor(f).transport(t).capacity(4096))
}

// ---- the header against the Rust declarations ----

/// Name and parameter count of every function `text` declares or defines.
fn functions(text: &str, marker: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    while let Some(i) = rest.find(marker) {
        rest = &rest[i + marker.len()..];
        let Some(open) = rest.find('(') else { break };
        let name = rest[..open].trim();
        let name = name.rsplit([' ', '*']).next().unwrap();
        if !name.starts_with("sysvring_") {
            continue;
        }
        // The parameter list up to the matching parenthesis.
        let mut depth = 0;
        let mut params = String::new();
        for c in rest[open..].chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            params.push(c);
            if depth == 0 {
                break;
            }
        }
        let inner = params[1..params.len() - 1].trim();
        let mut n = 0;
        let mut d = 0;
        for c in inner.chars() {
            match c {
                '(' | '<' => d += 1,
                ')' | '>' => d -= 1,
                ',' if d == 0 => n += 1,
                _ => {}
            }
        }
        let arity = if inner.is_empty() || inner == "void" {
            0
        } else {
            // A trailing comma (rustfmt) is not another parameter.
            n + usize::from(!inner.trim_end().ends_with(','))
        };
        out.insert(name.to_owned(), arity);
    }
    out
}

fn header() -> String {
    std::fs::read_to_string(root().join("include/sysvring.h")).unwrap()
}

fn ffi_sources() -> String {
    [
        "src/lib.rs",
        "src/codes.rs",
        "src/setup.rs",
        "src/types.rs",
        "src/desc.rs",
        "src/frames.rs",
    ]
    .iter()
    .map(|p| std::fs::read_to_string(root().join(p)).unwrap())
    .collect()
}

#[test]
fn the_header_declares_exactly_the_exported_functions() {
    let rust_src = ffi_sources();
    let rust = functions(&rust_src, "extern \"C\" fn ");
    // Prototypes: lines that start with a return type (not typedefs of callbacks).
    let h = header();
    let protos: String = h
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            (l.starts_with("int ") || l.starts_with("const char *") || l.starts_with("size_t "))
                && l.contains("sysvring_")
        })
        .map(|l| format!("@@{l}\n"))
        .collect();
    let c = functions(&protos, "@@");
    assert_eq!(
        rust, c,
        "header prototypes (name -> parameters) differ from capi/src"
    );
    assert!(rust.len() >= 28, "{rust:?}");
    // The C test programs call every one of them (so -Werror checks each prototype
    // against its use).
    let tests_c: String = ["tests/c/api.c", "tests/c/frames.c"]
        .iter()
        .map(|p| std::fs::read_to_string(root().join(p)).unwrap())
        .collect();
    for name in c.keys() {
        assert!(
            tests_c.contains(&format!("{name}(")),
            "neither tests/c/api.c nor tests/c/frames.c calls {name}"
        );
    }
    // The shared library exports exactly these `sysvring_*` symbols.
    let so = [
        profile_dir().join("deps/libsysvring_c.so"),
        profile_dir().join("libsysvring_c.so"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .expect("libsysvring_c.so");
    let nm = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&so)
        .output()
        .expect("nm");
    assert!(nm.status.success());
    let exported: BTreeSet<String> = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|n| n.starts_with("sysvring_"))
        .map(str::to_owned)
        .collect();
    let declared: BTreeSet<String> = c.keys().cloned().collect();
    assert_eq!(exported, declared, "exported symbols of {}", so.display());
    // Every exported function is `#[no_mangle]`.
    assert_eq!(
        rust_src
            .lines()
            .filter(|l| l.trim() == "#[no_mangle]")
            .count(),
        rust.len(),
        "each extern \"C\" fn has #[no_mangle]"
    );
}

/// The header alone compiles as strict C99 and as C++ (its `extern "C"` block).
#[test]
fn the_header_is_valid_c99_and_cxx() {
    let probe = "#include \"sysvring.h\"\nint main(void) { sysvring_options o; \
                 return sysvring_options_init(&o); }\n";
    for (compiler, lang, std) in [("cc", "c", "-std=c99"), ("c++", "c++", "-std=c++11")] {
        let mut cmd = Command::new(compiler);
        cmd.current_dir(root())
            .args([std, "-Wall", "-Wextra", "-Werror", "-pedantic", "-Iinclude"])
            .args(["-fsyntax-only", "-x", lang, "-"])
            .stdin(Stdio::piped());
        let Ok(mut child) = cmd.spawn() else {
            assert_ne!(compiler, "cc", "no C compiler");
            continue; // no C++ compiler on this host
        };
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(probe.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "{compiler}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// `#define NAME VALUE` of the header, numbers only.
fn defines() -> BTreeMap<String, i128> {
    let mut m = BTreeMap::new();
    for l in header().lines() {
        let mut w = l.split_whitespace();
        if w.next() != Some("#define") {
            continue;
        }
        let (Some(name), Some(v)) = (w.next(), w.next()) else {
            continue;
        };
        let v = v
            .trim_start_matches('(')
            .trim_end_matches(')')
            .trim_end_matches('u');
        if let Ok(v) = v.parse::<i128>() {
            m.insert(name.to_owned(), v);
        }
    }
    m
}

#[test]
fn the_header_constants_are_the_rust_constants() {
    let d = defines();
    let rust: &[(&str, i128)] = &[
        (
            "SYSVRING_E_ALREADY_EXISTS",
            ffi::SYSVRING_E_ALREADY_EXISTS.into(),
        ),
        ("SYSVRING_E_NOT_FOUND", ffi::SYSVRING_E_NOT_FOUND.into()),
        (
            "SYSVRING_E_PERMISSION_DENIED",
            ffi::SYSVRING_E_PERMISSION_DENIED.into(),
        ),
        (
            "SYSVRING_E_NOT_SYSVRING",
            ffi::SYSVRING_E_NOT_SYSVRING.into(),
        ),
        (
            "SYSVRING_E_VERSION_MISMATCH",
            ffi::SYSVRING_E_VERSION_MISMATCH.into(),
        ),
        (
            "SYSVRING_E_TYPE_MISMATCH",
            ffi::SYSVRING_E_TYPE_MISMATCH.into(),
        ),
        (
            "SYSVRING_E_LAYOUT_MISMATCH",
            ffi::SYSVRING_E_LAYOUT_MISMATCH.into(),
        ),
        ("SYSVRING_E_ROLE_TAKEN", ffi::SYSVRING_E_ROLE_TAKEN.into()),
        (
            "SYSVRING_E_MESSAGE_TOO_LARGE",
            ffi::SYSVRING_E_MESSAGE_TOO_LARGE.into(),
        ),
        ("SYSVRING_E_NOT_READY", ffi::SYSVRING_E_NOT_READY.into()),
        ("SYSVRING_E_REMOVED", ffi::SYSVRING_E_REMOVED.into()),
        (
            "SYSVRING_E_TOO_MANY_PROCESSES",
            ffi::SYSVRING_E_TOO_MANY_PROCESSES.into(),
        ),
        ("SYSVRING_E_OS", ffi::SYSVRING_E_OS.into()),
        ("SYSVRING_E_OTHER", ffi::SYSVRING_E_OTHER.into()),
        ("SYSVRING_E_UNTRUSTED", ffi::SYSVRING_E_UNTRUSTED.into()),
        ("SYSVRING_E_FULL", ffi::SYSVRING_E_FULL.into()),
        ("SYSVRING_E_EMPTY", ffi::SYSVRING_E_EMPTY.into()),
        ("SYSVRING_E_TIMEOUT", ffi::SYSVRING_E_TIMEOUT.into()),
        (
            "SYSVRING_E_DISCONNECTED",
            ffi::SYSVRING_E_DISCONNECTED.into(),
        ),
        (
            "SYSVRING_E_INVALID_ARGUMENT",
            ffi::SYSVRING_E_INVALID_ARGUMENT.into(),
        ),
        ("SYSVRING_E_BAD_TYPE", ffi::SYSVRING_E_BAD_TYPE.into()),
        ("SYSVRING_E_PANIC", ffi::SYSVRING_E_PANIC.into()),
        ("SYSVRING_E_REENTRANT", ffi::SYSVRING_E_REENTRANT.into()),
        (
            "SYSVRING_E_CAPACITY_TOO_LARGE",
            ffi::SYSVRING_E_CAPACITY_TOO_LARGE.into(),
        ),
        (
            "SYSVRING_E_SEMAPHORE_LIMIT",
            ffi::SYSVRING_E_SEMAPHORE_LIMIT.into(),
        ),
        (
            "SYSVRING_E_BUFFER_TOO_SMALL",
            ffi::SYSVRING_E_BUFFER_TOO_SMALL.into(),
        ),
        ("SYSVRING_E_CORRUPT", ffi::SYSVRING_E_CORRUPT.into()),
        ("SYSVRING_E_FRAME_STATE", ffi::SYSVRING_E_FRAME_STATE.into()),
        ("SYSVRING_MAX_DESC_TEXT", ffi::SYSVRING_MAX_DESC_TEXT.into()),
        ("SYSVRING_FLAVOR_ANY", ffi::SYSVRING_FLAVOR_ANY.into()),
        ("SYSVRING_FLAVOR_SPSC", ffi::SYSVRING_FLAVOR_SPSC.into()),
        ("SYSVRING_FLAVOR_MPMC", ffi::SYSVRING_FLAVOR_MPMC.into()),
        (
            "SYSVRING_TRANSPORT_AUTO",
            ffi::SYSVRING_TRANSPORT_AUTO.into(),
        ),
        ("SYSVRING_TRANSPORT_SHM", ffi::SYSVRING_TRANSPORT_SHM.into()),
        (
            "SYSVRING_TRANSPORT_MSGQ",
            ffi::SYSVRING_TRANSPORT_MSGQ.into(),
        ),
        ("SYSVRING_STRUCT", ffi::SYSVRING_STRUCT.into()),
        ("SYSVRING_MAX_DIMS", ffi::SYSVRING_MAX_DIMS as i128),
    ];
    for (name, v) in rust {
        assert_eq!(d.get(*name), Some(v), "{name}");
    }
    // Every `pub const SYSVRING_*` of capi/src is in the table above (or FOREVER).
    let src = ffi_sources();
    let consts: BTreeSet<&str> = src
        .split("pub const ")
        .skip(1)
        .filter_map(|s| s.split(':').next())
        .filter(|n| n.starts_with("SYSVRING_"))
        .collect();
    let listed: BTreeSet<&str> = rust
        .iter()
        .map(|(n, _)| *n)
        .chain(["SYSVRING_FOREVER", "SYSVRING_CHAR"])
        .collect();
    assert_eq!(consts, listed);
    assert!(header().contains("#define SYSVRING_FOREVER         UINT64_MAX"));
    // `char` is described as `u8`: no primitive of its own, no fingerprint changed.
    assert!(header().contains("#define SYSVRING_CHAR   SYSVRING_U8"));
    assert_eq!(ffi::SYSVRING_CHAR, Prim::U8.code());
    assert_eq!(ffi::SYSVRING_FOREVER, u64::MAX);
    // The primitive codes are `Prim::code`, named after the Rust type.
    for p in Prim::ALL {
        let name = format!("SYSVRING_{}", p.as_str().to_uppercase());
        assert_eq!(d.get(&name), Some(&i128::from(p.code())), "{name}");
    }
    // Distinct error codes, each with its own text.
    let codes: BTreeSet<i128> = rust
        .iter()
        .filter(|(n, _)| n.starts_with("SYSVRING_E_"))
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(codes.len(), 28);
    let texts: BTreeSet<String> = codes
        .iter()
        .map(|&c| {
            let p = ffi::sysvring_strerror(c as i32);
            // SAFETY: sysvring_strerror returns a static NUL-terminated string.
            unsafe { std::ffi::CStr::from_ptr(p) }
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(texts.len(), codes.len());
}

#[test]
fn the_header_structs_have_the_rust_layout() {
    // The same numbers as the static_asserts in tests/c/api.c.
    assert_eq!(size_of::<sysvring_options>(), 88);
    assert_eq!(offset_of!(sysvring_options, key), 8);
    assert_eq!(offset_of!(sysvring_options, capacity), 40);
    assert_eq!(offset_of!(sysvring_options, r#type), 48);
    assert_eq!(offset_of!(sysvring_options, prim), 56);
    assert_eq!(offset_of!(sysvring_options, reserved), 60);
    assert_eq!(offset_of!(sysvring_options, fingerprint), 64);
    assert_eq!(offset_of!(sysvring_options, type_name), 72);
    assert_eq!(offset_of!(sysvring_options, open_timeout_us), 80);
    assert_eq!(size_of::<sysvring_field>(), 64);
    assert_eq!(offset_of!(sysvring_field, offset), 16);
    assert_eq!(offset_of!(sysvring_field, nested), 56);
    assert_eq!(size_of::<sysvring_struct>(), 40);
    assert_eq!(offset_of!(sysvring_struct, fields), 32);
    assert_eq!(size_of::<sysvring_stats>(), 48);
    assert_eq!(offset_of!(sysvring_stats, receivers), 44);
    // The same numbers as the static_asserts in tests/c/frames.c.
    assert_eq!(size_of::<sysvring_frame_options>(), 48);
    assert_eq!(offset_of!(sysvring_frame_options, key), 8);
    assert_eq!(offset_of!(sysvring_frame_options, transport), 12);
    assert_eq!(offset_of!(sysvring_frame_options, reserved), 20);
    assert_eq!(offset_of!(sysvring_frame_options, max_len), 24);
    assert_eq!(offset_of!(sysvring_frame_options, capacity_bytes), 32);
    assert_eq!(offset_of!(sysvring_frame_options, open_timeout_us), 40);
}

// ---- type identity ----

#[test]
fn a_c_struct_and_its_rust_twin_have_one_fingerprint() {
    let out = run("api", &["fingerprints".into()]);
    let fp: BTreeMap<&str, u64> = out
        .lines()
        .map(|l| {
            let (name, hex) = l.split_once(' ').unwrap();
            (name, u64::from_str_radix(hex, 16).unwrap())
        })
        .collect();
    assert_eq!(
        fp["Sample"],
        Sample::fingerprint(),
        "{}",
        Sample::type_desc()
    );
    assert_eq!(fp["Quote"], Quote::fingerprint(), "{}", Quote::type_desc());
    assert_eq!(fp["Named"], Named::fingerprint(), "{}", Named::type_desc());
}

fn a_c_struct_with_one_field_changed_is_refused(t: Transport) {
    let ch = sample_channel(Flavor::Spsc, t);
    run("api", &["mismatch".into(), hex(ch.key())]);
}

// ---- error codes, bad arguments, leftovers ----

/// Every error code the C test can provoke from a real situation; none of these
/// documented error paths (re-entry included) prints anything.
#[test]
fn every_error_code_from_a_real_situation() {
    let keys: Vec<sysvring::Key> = (0..8).map(|_| key(TAG)).collect();
    let taken = |k: &sysvring::Key| proc_sysvipc().iter().any(|o| o.key == k.raw());
    assert!(!keys.iter().any(taken), "a key is taken (leftover?)");
    let (out, err) = Prog::spawn(
        "api",
        &std::iter::once("errors".to_string())
            .chain(keys.iter().map(|k| hex(*k)))
            .collect::<Vec<_>>(),
    )
    .finish_both();
    assert_eq!(out.trim(), "ok");
    assert_eq!(err, "", "the C library printed on an error path");
    assert!(!keys.iter().any(taken), "the C test left an object behind");
}

// ---- C producer -> Rust consumer, Rust producer -> C consumer ----

fn c_to_rust(f: Flavor, t: Transport) {
    let ch = sample_channel(f, t);
    let rx = ch.receiver().unwrap();
    let writer = Prog::spawn(
        "writer",
        &[hex(ch.key()), N.to_string(), flavor_arg(f), "auto".into()],
    );
    let deadline = Instant::now() + WATCHDOG;
    let mut i = 0u64;
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(s) => {
                assert_eq!(s, sample(i), "message {i}");
                i += 1;
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => assert!(Instant::now() < deadline, "watchdog"),
        }
    }
    assert_eq!(i, N);
    writer.finish();
}

fn rust_to_c(f: Flavor, t: Transport) {
    let ch = sample_channel(f, t);
    let tx = ch.sender().unwrap();
    let reader = Prog::spawn("reader", &[hex(ch.key()), N.to_string(), flavor_arg(f)]);
    for i in 0..N {
        tx.send(sample(i)).unwrap();
    }
    drop(tx);
    let out = reader.finish();
    assert_eq!(out.trim(), format!("reader: received {N}"));
}

#[test]
fn c_producer_rust_consumer_spsc_shm() {
    c_to_rust(Flavor::Spsc, Transport::ShmRing);
}

#[test]
fn c_producer_rust_consumer_mpmc_shm() {
    c_to_rust(Flavor::Mpmc, Transport::ShmRing);
}

#[test]
fn c_producer_rust_consumer_spsc_msgq() {
    c_to_rust(Flavor::Spsc, Transport::MessageQueue);
}

#[test]
fn c_producer_rust_consumer_mpmc_msgq() {
    c_to_rust(Flavor::Mpmc, Transport::MessageQueue);
}

#[test]
fn rust_producer_c_consumer_spsc_shm() {
    rust_to_c(Flavor::Spsc, Transport::ShmRing);
}

#[test]
fn rust_producer_c_consumer_mpmc_shm() {
    rust_to_c(Flavor::Mpmc, Transport::ShmRing);
}

#[test]
fn rust_producer_c_consumer_spsc_msgq() {
    rust_to_c(Flavor::Spsc, Transport::MessageQueue);
}

#[test]
fn rust_producer_c_consumer_mpmc_msgq() {
    rust_to_c(Flavor::Mpmc, Transport::MessageQueue);
}

/// The C writer/reader pair against each other (the reader creates, as in the
/// README), on a key the test owns afterwards only for cleanup.
#[test]
fn c_writer_and_c_reader() {
    let k = key(TAG);
    let reader = Prog::spawn("reader", &[hex(k), "10000".into()]);
    // The writer opens what the reader created (or creates it and the reader opens).
    run("writer", &[hex(k), "10000".into()]);
    assert_eq!(reader.finish().trim(), "reader: received 10000");
    assert!(!proc_sysvipc().iter().any(|o| o.key == k.raw()));
}

// ---- the counter ----

fn the_c_counter_adds_with_rust(t: Transport) {
    const ADDS: u64 = 20_000;
    // C adders -> Rust sum (two adders at once: MPMC).
    let ch = create_unique::<u64>(TAG, |b| b.flavor(Flavor::Mpmc).transport(t));
    let rx = ch.receiver().unwrap();
    let adders: Vec<Prog> = (0..2)
        .map(|_| Prog::spawn("counter", &["add".into(), hex(ch.key()), ADDS.to_string()]))
        .collect();
    let (mut sum, mut n) = (0u64, 0u64);
    let deadline = Instant::now() + WATCHDOG;
    // One adder may finish before the other connects: `Disconnected` is a state, so
    // count messages rather than stop at the first one.
    while n < 2 * ADDS {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(v) => {
                sum += v;
                n += 1;
            }
            Err(_) => assert!(Instant::now() < deadline, "watchdog"),
        }
    }
    for a in adders {
        a.finish();
    }
    assert_eq!(sum, ADDS * (ADDS + 1));
    drop(rx);
    drop(ch);

    // Rust adder -> C sum.
    let ch = create_unique::<u64>(TAG, |b| b.flavor(Flavor::Mpmc).transport(t));
    let tx = ch.sender().unwrap();
    let summer = Prog::spawn("counter", &["sum".into(), hex(ch.key())]);
    for i in 1..=ADDS {
        tx.send(i).unwrap();
    }
    drop(tx);
    assert_eq!(summer.finish().trim(), (ADDS * (ADDS + 1) / 2).to_string());
}

per_transport!(
    a_c_struct_with_one_field_changed_is_refused,
    the_c_counter_adds_with_rust
);

// ---- crash ----

/// A C producer SIGKILLed mid-stream: the Rust consumer gets every message it
/// published, in order and intact, then `Disconnected`.
fn killed_c_producer(f: Flavor, t: Transport) {
    let ch = create_unique::<Sample>(TAG, |b| b.flavor(f).transport(t).capacity(64));
    let rx = ch.receiver().unwrap();
    let mut crash = Prog::spawn("crash", &[hex(ch.key()), flavor_arg(f)]);
    let mut line = String::new();
    BufReader::new(crash.0.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    let mut i = 0u64;
    while i < 10_000 {
        let s = rx.recv_timeout(WATCHDOG).expect("the producer sends");
        assert_eq!(s, sample(i));
        i += 1;
    }
    crash.0.kill().unwrap(); // SIGKILL
    crash.0.wait().unwrap();
    let deadline = Instant::now() + WATCHDOG;
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(s) => {
                assert_eq!(s, sample(i));
                i += 1;
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => assert!(Instant::now() < deadline, "watchdog"),
        }
    }
    assert!(i >= 10_000);
}

#[test]
fn a_killed_c_producer_disconnects_its_rust_consumer_spsc() {
    killed_c_producer(Flavor::Spsc, Transport::ShmRing);
}

#[test]
fn a_killed_c_producer_disconnects_its_rust_consumer_mpmc() {
    killed_c_producer(Flavor::Mpmc, Transport::ShmRing);
}

#[test]
fn a_killed_c_producer_disconnects_its_rust_consumer_msgq() {
    killed_c_producer(Flavor::Spsc, Transport::MessageQueue);
}

// ---- field tables: shared nodes, cycles, the budget ----

/// A C field of a primitive (or nested struct) with its name kept alive by `names`.
fn c_field(
    names: &mut Vec<std::ffi::CString>,
    name: &str,
    ty: u32,
    offset: u64,
    dims: &[u64],
    nested: *const sysvring_struct,
) -> sysvring_field {
    let n = std::ffi::CString::new(name).unwrap();
    let p = n.as_ptr();
    names.push(n);
    let mut d = [0u64; ffi::SYSVRING_MAX_DIMS];
    d[..dims.len()].copy_from_slice(dims);
    sysvring_field {
        name: p,
        r#type: ty,
        ndims: dims.len() as u32,
        offset,
        dims: d,
        nested,
    }
}

/// `sysvring_fingerprint` of `s`: the fingerprint or the code and its text.
fn c_fingerprint(s: &sysvring_struct) -> Result<u64, (i32, String)> {
    let mut fp = 0u64;
    // SAFETY: `s` and everything it points to are alive for the call.
    let rc = unsafe { ffi::sysvring_fingerprint(s, &mut fp) };
    if rc == 0 {
        return Ok(fp);
    }
    let mut buf = [0 as std::ffi::c_char; 1024];
    // SAFETY: `buf` is writable for its length.
    unsafe { ffi::sysvring_last_error(buf.as_mut_ptr(), buf.len()) };
    // SAFETY: NUL-terminated by `sysvring_last_error`.
    let text = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Err((rc, text.to_string_lossy().into_owned()))
}

/// The C table of `Sample` (as `examples/c/sample.h`).
fn sample_table(names: &mut Vec<std::ffi::CString>) -> (Vec<sysvring_field>, std::ffi::CString) {
    let null = std::ptr::null();
    let f = vec![
        c_field(names, "seq", 4, 0, &[], null),
        c_field(names, "check", 4, 8, &[], null),
        c_field(names, "value", 12, 16, &[], null),
        c_field(names, "sensor", 3, 24, &[], null),
        c_field(names, "tag", 1, 28, &[4], null),
    ];
    (f, std::ffi::CString::new("Sample").unwrap())
}

/// One struct description used three times (two fields and an array of it): each
/// use is validated once, and the fingerprint is Rust's.
#[test]
fn a_shared_struct_description_has_the_rust_fingerprint() {
    let mut names = Vec::new();
    let (sf, sname) = sample_table(&mut names);
    let sample = sysvring_struct {
        name: sname.as_ptr(),
        size: size_of::<Sample>() as u64,
        align: 8,
        nfields: sf.len() as u64,
        fields: sf.as_ptr(),
    };
    let pf = [
        c_field(&mut names, "a", ffi::SYSVRING_STRUCT, 0, &[], &sample),
        c_field(&mut names, "b", ffi::SYSVRING_STRUCT, 32, &[], &sample),
        c_field(&mut names, "both", ffi::SYSVRING_STRUCT, 64, &[2], &sample),
    ];
    let pname = std::ffi::CString::new("Pair").unwrap();
    let pair = sysvring_struct {
        name: pname.as_ptr(),
        size: size_of::<Pair>() as u64,
        align: 8,
        nfields: 3,
        fields: pf.as_ptr(),
    };
    assert_eq!(c_fingerprint(&pair), Ok(Pair::fingerprint()));
}

/// Two structs that hold each other: a cycle, refused (no stack overflow).
#[test]
fn a_cycle_of_struct_descriptions_is_refused() {
    let mut names = Vec::new();
    let an = std::ffi::CString::new("A").unwrap();
    let bn = std::ffi::CString::new("B").unwrap();
    let empty = |name: &std::ffi::CString| sysvring_struct {
        name: name.as_ptr(),
        size: 8,
        align: 8,
        nfields: 1,
        fields: std::ptr::null(),
    };
    // Raw pointers throughout: the two descriptions point at each other.
    let a = Box::into_raw(Box::new(empty(&an)));
    let b = Box::into_raw(Box::new(empty(&bn)));
    let af = Box::into_raw(Box::new(c_field(
        &mut names,
        "b",
        ffi::SYSVRING_STRUCT,
        0,
        &[],
        b,
    )));
    let bf = Box::into_raw(Box::new(c_field(
        &mut names,
        "a",
        ffi::SYSVRING_STRUCT,
        0,
        &[],
        a,
    )));
    // SAFETY: `a` and `b` are live boxes; `af` and `bf` too.
    unsafe {
        (*a).fields = af;
        (*b).fields = bf;
    }
    // SAFETY: as above.
    let (code, text) = c_fingerprint(unsafe { &*a }).unwrap_err();
    assert_eq!(code, ffi::SYSVRING_E_BAD_TYPE);
    assert!(text.contains("cycle"), "{text}");
    // SAFETY: each from `Box::into_raw` above, freed once, no longer used.
    unsafe {
        drop(Box::from_raw(a));
        drop(Box::from_raw(b));
        drop(Box::from_raw(af));
        drop(Box::from_raw(bf));
    }
}

/// The issue's table: 66 entries, 33 structs each holding two fields of the next,
/// 2^32 leaves. Answered with an error code (it used to exhaust memory and abort),
/// as is the same table with an inconsistent top-level size; a lower part of it
/// that fits the budget gets the fingerprint of its expansion.
#[test]
fn a_66_entry_table_of_2_pow_32_leaves_is_answered() {
    const LEVELS: usize = 33;
    let mut names = Vec::new();
    let snames: Vec<std::ffi::CString> = (0..LEVELS)
        .map(|i| std::ffi::CString::new(format!("L{i}")).unwrap())
        .collect();
    let mut fields: Vec<[sysvring_field; 2]> = Vec::with_capacity(LEVELS);
    let mut structs: Vec<sysvring_struct> = Vec::with_capacity(LEVELS);
    // Built from the bottom (index 0 here is level 32): fixed addresses first.
    for _ in 0..LEVELS {
        let f = c_field(&mut names, "a", 4, 0, &[], std::ptr::null());
        let g = c_field(&mut names, "b", 4, 8, &[], std::ptr::null());
        fields.push([f, g]);
    }
    let mut size = 16u64;
    for lvl in (0..LEVELS).rev() {
        structs.push(sysvring_struct {
            name: snames[lvl].as_ptr(),
            size,
            align: 8,
            nfields: 2,
            fields: std::ptr::null(),
        });
        size *= 2;
    }
    // structs[k] is level LEVELS-1-k; its fields are fields[k], which hold
    // structs[k-1] (the next level down). Linked through raw pointers of the two
    // vectors, which are not resized any more.
    let sp = structs.as_mut_ptr();
    let fp = fields.as_mut_ptr();
    for k in 0..LEVELS {
        // SAFETY: `k` and `k - 1` are in bounds of both vectors.
        unsafe {
            let f = &mut *fp.add(k);
            if k > 0 {
                let below = sp.add(k - 1);
                for g in f.iter_mut() {
                    g.r#type = ffi::SYSVRING_STRUCT;
                    g.nested = below;
                }
                f[1].offset = (*below).size;
            }
            (*sp.add(k)).fields = f.as_ptr();
        }
    }
    let top = &structs[LEVELS - 1];
    let (code, text) = c_fingerprint(top).unwrap_err();
    assert_eq!(code, ffi::SYSVRING_E_BAD_TYPE, "{text}");
    assert!(
        text.contains("expands to more than 1048576 bytes"),
        "{text}"
    );
    let mut wrong = *top;
    wrong.size += 8;
    let (code, text) = c_fingerprint(&wrong).unwrap_err();
    assert_eq!(code, ffi::SYSVRING_E_BAD_TYPE, "{text}");
    assert!(text.contains("L0"), "{text}");
    // Eight levels (128 leaves) fit: the fingerprint of the expanded description.
    let part = &structs[7];
    fn expand(level: usize, bottom: usize) -> sysvring::message::TypeDesc {
        use sysvring::message::{FieldDesc, StructDesc, TypeDesc};
        let (ty, half) = if level == bottom {
            (TypeDesc::Prim(Prim::U64), 8)
        } else {
            let t = expand(level + 1, bottom);
            let h = t.size();
            (t, h)
        };
        TypeDesc::Struct(StructDesc {
            name: format!("L{level}"),
            fields: vec![
                FieldDesc {
                    name: "a".into(),
                    ty: ty.clone(),
                    offset: 0,
                },
                FieldDesc {
                    name: "b".into(),
                    ty,
                    offset: half,
                },
            ],
            size: 2 * half,
            align: 8,
        })
    }
    let want = expand(LEVELS - 8, LEVELS - 1);
    want.validate().unwrap();
    assert_eq!(c_fingerprint(part), Ok(want.fingerprint()));
}

/// The README's C example ("From C") compiles against the header, strictly.
#[test]
fn the_readme_c_example_compiles() {
    let readme = std::fs::read_to_string(root().join("../README.md")).unwrap();
    let section = &readme[readme.find("## From C").expect("a From C section")..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut blocks = section
        .split("```c\n")
        .skip(1)
        .map(|b| &b[..b.find("```").unwrap()]);
    let block = blocks.next().expect("a C block");
    // Declarations first, then the statements (from the options on) in a function.
    let split = block.find("sysvring_options o;").expect("the options");
    let program = format!(
        "{}\nint main(void) {{\n{}\n(void)rc;\nreturn 0;\n}}\n",
        &block[..split],
        &block[split..]
    );
    cc_syntax(&program);
    // The byte-frame block: statements, with what it leaves to the reader declared.
    let frames = blocks.next().expect("the byte-frame C block");
    let program = format!(
        "#include \"sysvring.h\"\n\
         static size_t serialize_into(void *p, size_t cap) {{ (void)p; return cap; }}\n\
         static void on_frame(const void *f, size_t n, void *c) {{ (void)f; (void)n; (void)c; }}\n\
         int main(void) {{\nint rc;\nsysvring_frame_receiver *frx = NULL;\n\
         char buf[1500];\nvoid *ctx = NULL;\n{frames}\n(void)rc;\nreturn 0;\n}}\n"
    );
    cc_syntax(&program);
}

/// `program` compiles as strict C11 with every warning an error.
fn cc_syntax(program: &str) {
    let mut child = Command::new("cc")
        .current_dir(root())
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-Iinclude",
        ])
        .args(["-fsyntax-only", "-x", "c", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cc");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(program.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "{program}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

// ---- byte frames: a C writer and a Rust reader (and back), checksummed ----

/// Frames each way in the frame exchange tests: `SYSVRING_C_FRAMES` (the long run
/// of the issue is `SYSVRING_C_FRAMES=1000000`), else a size that keeps CI fast.
fn frame_count() -> u64 {
    std::env::var("SYSVRING_C_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000)
}

/// The longest frame and the ring of the exchange tests: a ring of eight longest
/// records, so the sides wrap and wait on each other often.
const FRAME_MAX: usize = 2048;
const FRAME_RING: usize = 16 * 1024;

/// The twin of `gen` in `tests/c/frames.c`: one xorshift64* stream; a frame's length
/// is `next() % (max_len + 1)`, its bytes the little-endian bytes of `next()` calls.
struct FrameGen(u64);

impl FrameGen {
    fn new(seed: u64) -> FrameGen {
        FrameGen(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The next frame into `buf` (replacing its contents).
    fn frame(&mut self, max_len: usize, buf: &mut Vec<u8>) {
        let len = (self.next() % (max_len as u64 + 1)) as usize;
        buf.clear();
        while buf.len() < len {
            let w = self.next().to_le_bytes();
            let take = (len - buf.len()).min(8);
            buf.extend_from_slice(&w[..take]);
        }
    }
}

/// FNV-1a over a frame's length (one step) and bytes, as `fnv` in `frames.c`.
fn fnv(mut h: u64, frame: &[u8]) -> u64 {
    const PRIME: u64 = 0x100_0000_01b3;
    h = (h ^ frame.len() as u64).wrapping_mul(PRIME);
    for &b in frame {
        h = (h ^ u64::from(b)).wrapping_mul(PRIME);
    }
    h
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// A frame channel at a fresh key of this file (removed by its drop).
fn frame_channel() -> sysvring::FrameChannel {
    for _ in 0..64 {
        match sysvring::FrameBuilder::new(key(TAG))
            .max_len(FRAME_MAX)
            .capacity_bytes(FRAME_RING)
            .create()
        {
            Ok(ch) => return ch,
            Err(sysvring::Error::AlreadyExists) => continue,
            Err(e) => panic!("create: {e}"),
        }
    }
    panic!("no free key");
}

/// The C writer's summary line: "sent COUNT CHECKSUM".
fn c_summary(out: &str, verb: &str) -> (u64, u64) {
    let line = out.lines().find(|l| l.starts_with(verb)).expect(verb);
    let mut w = line.split_whitespace().skip(1);
    let n = w.next().unwrap().parse().unwrap();
    let sum = u64::from_str_radix(w.next().unwrap(), 16).unwrap();
    (n, sum)
}

#[test]
fn c_frame_writer_rust_frame_reader() {
    use sysvring::RecvFrameTimeoutError;
    let n = frame_count();
    let seed = 0x005e_edf4_a3e5_u64;
    let ch = frame_channel();
    let mut rx = ch.receiver().unwrap();
    let writer = Prog::spawn(
        "frames",
        &[
            "writer".into(),
            hex(ch.key()),
            n.to_string(),
            seed.to_string(),
        ],
    );
    let mut gen = FrameGen::new(seed);
    let (mut want, mut got) = (Vec::new(), Vec::with_capacity(FRAME_MAX));
    let mut sum = FNV_START;
    let deadline = Instant::now() + WATCHDOG;
    let mut i = 0u64;
    loop {
        // In place for even frames, copied out for odd ones.
        let r = if i % 2 == 0 {
            ch.len(); // a query between frames: the counters stay consistent
            rx.recv_with_timeout(Duration::from_secs(1), |b| {
                got.clear();
                got.extend_from_slice(b);
            })
        } else {
            rx.recv_into_timeout(&mut got, Duration::from_secs(1))
                .map(|_| ())
        };
        match r {
            Ok(()) => {
                gen.frame(FRAME_MAX, &mut want);
                assert!(
                    got == want,
                    "frame {i}: {} bytes, want {}",
                    got.len(),
                    want.len()
                );
                sum = fnv(sum, &got);
                i += 1;
            }
            Err(RecvFrameTimeoutError::Disconnected) => break,
            Err(RecvFrameTimeoutError::Timeout) => assert!(Instant::now() < deadline, "watchdog"),
            Err(e) => panic!("frame {i}: {e}"),
        }
    }
    assert_eq!(i, n);
    let (sent, c_sum) = c_summary(&writer.finish(), "sent");
    assert_eq!(
        (sent, c_sum),
        (n, sum),
        "count and checksum of the C writer"
    );
    assert_eq!(ch.stats().sent, n);
}

#[test]
fn rust_frame_writer_c_frame_reader() {
    let n = frame_count();
    let seed = 0x0dd0_ba11_u64;
    let ch = frame_channel();
    let mut tx = ch.sender().unwrap();
    let reader = Prog::spawn(
        "frames",
        &[
            "reader".into(),
            hex(ch.key()),
            n.to_string(),
            seed.to_string(),
        ],
    );
    let mut gen = FrameGen::new(seed);
    let mut frame = Vec::new();
    let mut sum = FNV_START;
    for i in 0..n {
        gen.frame(FRAME_MAX, &mut frame);
        sum = fnv(sum, &frame);
        if i % 2 == 0 {
            tx.send_bytes(&frame).unwrap();
        } else {
            let mut w = tx.reserve(FRAME_MAX).unwrap();
            w[..frame.len()].copy_from_slice(&frame);
            w.truncate(frame.len());
            w.commit();
        }
    }
    drop(tx);
    let (received, c_sum) = c_summary(&reader.finish(), "received");
    assert_eq!(
        (received, c_sum),
        (n, sum),
        "count and checksum of the C reader"
    );
}

/// Every frame error code the C test provokes from a real situation, nothing
/// printed, nothing left behind.
#[test]
fn every_frame_error_code_from_a_real_situation() {
    let keys: Vec<sysvring::Key> = (0..3).map(|_| key(TAG)).collect();
    let taken = |k: &sysvring::Key| proc_sysvipc().iter().any(|o| o.key == k.raw());
    assert!(!keys.iter().any(taken), "a key is taken (leftover?)");
    let (out, err) = Prog::spawn(
        "frames",
        &std::iter::once("errors".to_string())
            .chain(keys.iter().map(|k| hex(*k)))
            .collect::<Vec<_>>(),
    )
    .finish_both();
    assert_eq!(out.trim(), "ok");
    assert_eq!(err, "", "the C library printed on an error path");
    assert!(!keys.iter().any(taken), "the C test left an object behind");
}
