//! `cargo fuzz run open_header`: see `fuzz/README.md`; the body is
//! [`sysvring_fuzz::open_header`], which `tests/fuzz_replay.rs` also runs on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sysvring_fuzz::open_header(data));
