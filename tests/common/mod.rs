//! Compatibility path for `tests/cli.rs` and `tests/gc.rs` only, which still say
//! `mod common;`: the old names over the one helper module, `tests/support`. Nothing
//! else may use it; it goes once those two files say `mod support;` (then delete this
//! directory).
#![allow(dead_code, unused_imports)]

#[path = "../support/mod.rs"]
mod support;

pub use support::*;

/// Top byte of the keys of the files that still use this path.
const TAG: u8 = 0x30;

/// [`support::env`] for an `i32`.
pub fn env_i32(name: &str) -> i32 {
    env(name)
}

/// [`Kid::spawn`].
pub fn spawn_role(test: &str, role: &str, envs: &[(&str, String)]) -> Kid {
    Kid::spawn(test, role, envs)
}

/// [`support::key`] with this path's tag.
pub fn unique_key() -> sysvring::Key {
    key(TAG)
}

/// [`Guard`].
pub type IpcGuard = Guard;
