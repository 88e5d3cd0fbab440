//! `cargo fuzz run c_fields`: see `fuzz/README.md`; the body is
//! [`sysvring_fuzz::c_fields`], which `tests/fuzz_replay.rs` also runs on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sysvring_fuzz::c_fields(data));
