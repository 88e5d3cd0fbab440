//! What the SIGKILL test files share (`tests/torture.rs`, `tests/disconnect.rs`,
//! `tests/roles.rs`, `tests/mpmc_recovery.rs`, `tests/admin_gc.rs`): the message
//! [`Msg`] whose payload tells a torn one, and the few steps of a child role that is
//! killed: its key and file paths from the environment ([`env_key`], [`env_path`],
//! passed with [`path_env`]) and the `READY` file it creates once it holds what the
//! parent kills it with ([`wait_file`]).

use std::path::{Path, PathBuf};

use sysvring::Key;

use super::{env, wait_until, Kid};

/// A message whose payload is derived from its id, so a torn, stale or half-written
/// slot is detected by the consumer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message,
)]
#[repr(C)]
pub struct Msg {
    pub id: u64,
    pub a: u64,
    pub b: u64,
    pub c: u64,
}

impl Msg {
    pub fn new(id: u64) -> Msg {
        let a = id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x00c0_ffee;
        Msg {
            id,
            a,
            b: !a.rotate_left(23),
            c: id ^ 0x5555_aaaa_5555_aaaa,
        }
    }

    pub fn intact(&self) -> bool {
        *self == Msg::new(self.id)
    }
}

/// The channel key the parent passed to a child role (`KEY`).
pub fn env_key() -> Key {
    Key::from_raw(env("KEY"))
}

/// A file path the parent passed to a child role (see [`path_env`]).
pub fn env_path(name: &str) -> PathBuf {
    PathBuf::from(env::<String>(name))
}

/// The environment entry that passes the path `p` as `name` to a child role.
pub fn path_env(name: &'static str, p: &Path) -> (&'static str, String) {
    (name, p.display().to_string())
}

/// Waits until the file `ready` exists, failing when `kid` exits first (or the
/// watchdog passes).
pub fn wait_file(kid: &mut Kid, ready: &Path) {
    wait_until("the child gets ready", || {
        if let Some(st) = kid.exited() {
            panic!("child exited ({st}) before it was ready:\n{}", kid.output());
        }
        ready.exists()
    });
}
