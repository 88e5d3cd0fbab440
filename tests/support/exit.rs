//! Ending a child role process.

/// Ends a child role with `code` at once, without `std::process::exit`: the role runs
/// on libtest's test thread, and `process::exit` from a thread other than the main
/// one unmaps the main thread's signal stack (rust-lang/rust#161018; seen here as a
/// SIGSEGV of a child in CI). Flushes what the child printed first.
pub fn exit_child(code: i32) -> ! {
    use std::io::Write;
    let _ = (std::io::stdout().flush(), std::io::stderr().flush());
    // SAFETY: _exit ends the process immediately; nothing runs after it.
    unsafe { libc::_exit(code) }
}
