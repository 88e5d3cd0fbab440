//! A command's failure: its exit status and message, and how it is reported.

use std::process::ExitCode;

/// A failure: its exit status and message.
pub(super) struct Fail(pub(super) u8, pub(super) String);

/// Prints `f` on stderr (`sysvring MESSAGE`) and returns its exit status.
pub(super) fn fail(f: &Fail) -> ExitCode {
    eprintln!("sysvring {}", f.1);
    ExitCode::from(f.0)
}
