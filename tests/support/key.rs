//! The one key scheme: unique keys per test file and process, and creation that moves
//! on to the next key while one is taken.

use std::sync::atomic::{AtomicU32, Ordering};

use sysvring::sys::SysError;
use sysvring::{AnyChannel, Builder, Error, Key};

/// How many keys a create tries before the test fails.
const TRIES: usize = 64;

/// A key no other process or test file makes: `tag` (one byte per test file, below
/// `0x80` so the key is positive) in the top byte, this process's pid (15 bits,
/// `pid_max` is 32768 here; the rest is folded in) and a per-process counter (9
/// bits). Never `IPC_PRIVATE`. Where the fold or a leftover of a crashed earlier run
/// collides, the create fails with `AlreadyExists` and [`create_unique`] or [`fresh`]
/// move on to the next key.
pub fn key(tag: u8) -> Key {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let pid = (pid ^ (pid >> 15)) & 0x7fff;
    // Counter: 8 bits at the bottom, one more bit above the pid.
    let raw = (u32::from(tag) << 24) | ((n >> 8 & 1) << 23) | (pid << 8) | (n & 0xff);
    Key::from_raw(raw as i32)
}

/// Creates a channel at a fresh [`key`] of this file, retrying with the next key while
/// one is taken (a leftover of a crashed earlier run, say).
pub fn create_unique<T: sysvring::Message>(
    tag: u8,
    build: impl Fn(Builder<T>) -> Builder<T>,
) -> AnyChannel<T> {
    for _ in 0..TRIES {
        match build(Builder::new(key(tag))).create() {
            Ok(ch) => return ch,
            Err(Error::AlreadyExists) => continue,
            Err(e) => panic!("create: {e}"),
        }
    }
    panic!("no free key after {TRIES} tries");
}

/// Creates a raw kernel object (`Shm::create`, `SemSet::create`, `MsgQueue::create`
/// with `IPC_EXCL`) at a fresh [`key`] of this file, retrying with the next key while
/// one is taken; returns the key and the object.
pub fn fresh<R>(tag: u8, mut create: impl FnMut(Key) -> Result<R, SysError>) -> (Key, R) {
    for _ in 0..TRIES {
        let k = key(tag);
        match create(k) {
            Ok(r) => return (k, r),
            Err(e) if e.is_already_exists() => continue,
            Err(e) => panic!("create at {k:?}: {e}"),
        }
    }
    panic!("no free key after {TRIES} tries");
}
