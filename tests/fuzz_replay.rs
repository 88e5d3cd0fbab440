//! Replays every input of the fuzz corpora (`fuzz/corpus/<target>/*`) through the
//! same function the cargo-fuzz target runs (`fuzz/src/lib.rs`, included as a module),
//! so the corpora are regression tests on the stable toolchain, without libFuzzer.
//!
//! `SYSVRING_FUZZ_INPUT=<file or folder>` replays other inputs instead (a crash
//! artifact, say): `SYSVRING_FUZZ_INPUT=fuzz/artifacts/hostile_peer/crash-... cargo
//! test --test fuzz_replay hostile_peer`.
#![cfg(not(loom))]

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::fs;
use std::path::{Path, PathBuf};

/// The inputs of `target`: its committed corpus, or what `SYSVRING_FUZZ_INPUT` names.
fn inputs(target: &str) -> Vec<PathBuf> {
    let root = match std::env::var_os("SYSVRING_FUZZ_INPUT") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target),
    };
    if root.is_file() {
        return vec![root];
    }
    let mut files: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", root.display());
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    for path in inputs(target) {
        let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Name the input if it fails.
        let r = std::panic::catch_unwind(|| run(&data));
        if let Err(e) = r {
            eprintln!("{target}: failing input {}", path.display());
            std::panic::resume_unwind(e);
        }
    }
}

#[test]
fn open_header() {
    replay("open_header", targets::open_header);
}

#[test]
fn hostile_peer() {
    replay("hostile_peer", targets::hostile_peer);
}

#[test]
fn msgq_frames() {
    replay("msgq_frames", targets::msgq_frames);
}

#[test]
fn ops_vs_model() {
    replay("ops_vs_model", targets::ops_vs_model);
}

#[test]
fn c_fields() {
    replay("c_fields", targets::c_fields);
}

#[test]
fn frame_headers() {
    replay("frame_headers", targets::frame_headers);
}
