//! `cargo fuzz run msgq_frames`: see `fuzz/README.md`; the body is
//! [`sysvring_fuzz::msgq_frames`], which `tests/fuzz_replay.rs` also runs on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sysvring_fuzz::msgq_frames(data));
