//! `cargo fuzz run ops_vs_model`: see `fuzz/README.md`; the body is
//! [`sysvring_fuzz::ops_vs_model`], which `tests/fuzz_replay.rs` also runs on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sysvring_fuzz::ops_vs_model(data));
