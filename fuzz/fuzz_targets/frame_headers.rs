//! `cargo fuzz run frame_headers`: see `fuzz/README.md`; the body is
//! [`sysvring_fuzz::frame_headers`], which `tests/fuzz_replay.rs` also runs on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sysvring_fuzz::frame_headers(data));
