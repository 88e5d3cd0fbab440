//! `cargo fuzz run hostile_peer`: see `fuzz/README.md`; the body is
//! [`sysvring_fuzz::hostile_peer`], which `tests/fuzz_replay.rs` also runs on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sysvring_fuzz::hostile_peer(data));
