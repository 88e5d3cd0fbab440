//! The one helper module of the integration tests (`mod support;` in each test file):
//!
//! - [`key`]: unique keys per test file and process; [`create_unique`] and [`fresh`]
//!   move on to the next key on `AlreadyExists`.
//! - [`Kid`]: the re-exec helper (this test binary again, one child test in a role
//!   named by [`ROLE`], optionally through a wrapper such as `unshare`); children end
//!   with [`exit_child`] (`_exit`), never `std::process::exit`. [`fork_child`] only
//!   where a child must change its credentials.
//! - [`WATCHDOG`] and [`wait_until`]: the one watchdog.
//! - [`Guard`] (kernel objects by id), [`TempDir`]; children are killed and reaped by
//!   their own drop. Every cleanup is in `Drop`, so a failing (panicking) test leaves
//!   nothing in `/proc/sysvipc` and no child process behind.
//! - `per_transport!`: one `#[test]` per transport from a body `fn case(t: Transport)`
//!   (invoke with `#[macro_use] mod support;`).
//! - [`open`]: open a channel with a short open timeout (the errors, roles and
//!   disconnection tests).
//! - [`Msg`], [`env_key`], [`env_path`], [`path_env`], [`wait_file`]: what the
//!   SIGKILL test files share (a message that tells a torn payload, a killed child
//!   role's key, paths and `READY` file).
//!
//! Watchdogs fail a test that hangs; they are never assertions on how fast anything
//! is. Each test binary uses a subset of the helpers, hence the allowances.
//!
//! The test files of the other packages (`cli/tests/*.rs`, `capi/tests/c_api.rs`)
//! include this same module with `#[path = "../../tests/support/mod.rs"] mod support;`.
#![allow(dead_code, unused_imports, unused_macros)]

#[macro_use]
mod per_transport;

mod channel;
mod child;
mod crash;
mod exit;
mod guard;
mod key;
mod measure;

pub use channel::open;
pub use child::{
    env, fork_child, fork_lock, role, wait_all, wait_timeout, ForkedChild, Kid, FORK_MTX, ROLE,
};
pub use crash::{env_key, env_path, path_env, wait_file, Msg};
pub use exit::exit_child;
pub use guard::{proc_sysvipc, Guard, ProcIpc, TempDir};
pub use key::{create_unique, fresh, key};
pub use measure::{process_cpu, thread_cpu, Rng};

use std::thread;
use std::time::{Duration, Instant};

/// How long any child or wait may take before the test is failed (and its children
/// killed). Generous: the tests run in parallel on small machines.
pub const WATCHDOG: Duration = Duration::from_secs(60);

/// Polls `cond` until it holds; panics with `what` when [`WATCHDOG`] passes.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WATCHDOG;
    while !cond() {
        assert!(Instant::now() < deadline, "watchdog: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}
