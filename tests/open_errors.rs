//! Errors of `Builder::open` that must not mislead (issue 14): a plain message queue
//! at the key is `NotSysvring` (not `NotFound`); an all-zero segment whose creator is
//! gone, or whose size no ring has, is `NotSysvring` at once instead of a wait for a
//! creator that never existed and then `NotReady`. (`Untrusted`, which names the
//! creator's uid and `.trust_owner(uid)`, is in `tests/security.rs`.)
//!
//! "At once" is asserted as "returns with `NotSysvring`" under an open timeout of
//! 30 s (a wait would end in `NotReady`), with a watchdog for a hang: never a timing
//! bound.

mod support;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use support::{fork_child, fresh, Guard, WATCHDOG};
use sysvring::sys::{MsgQueue, Shm};
use sysvring::{Builder, Error, Key};

/// Top byte of this file's keys.
const TAG: u8 = 0x36;

/// An open timeout far above anything the checks take: a wait would show.
const LONG: Duration = Duration::from_secs(30);

/// Opens the key with [`LONG`] on another thread; fails the test if it hangs.
fn open_with_watchdog(k: Key) -> Result<(), Error> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let r = Builder::<u64>::new(k).open_timeout(LONG).open().map(drop);
        let _ = tx.send(r);
    });
    rx.recv_timeout(WATCHDOG)
        .expect("watchdog: open did not return")
}

#[test]
fn a_plain_message_queue_at_the_key_is_not_sysvring() {
    let mut g = Guard::new();
    let (k, q) = fresh(TAG, |k| MsgQueue::create(k, 0o600));
    g.msg(q);
    let r = Builder::<u64>::new(k).open();
    assert!(matches!(r, Err(Error::NotSysvring)), "{r:?}");
}

#[test]
fn an_all_zero_segment_whose_creator_is_gone_is_not_sysvring_at_once() {
    let mut g = Guard::new();
    let (k, _) = fresh(TAG, |k| {
        // Made by a child that exits: its creator pid is gone.
        let key = k;
        let mut kid = fork_child(move || match Shm::create(key, 1 << 16, 0o600) {
            Ok(_) => 0,
            Err(e) if e.is_already_exists() => 17,
            Err(_) => 1,
        });
        match kid.exit_code() {
            0 => Shm::open(k),
            17 => Shm::create(k, 1, 0o600), // taken: AlreadyExists, next key
            c => panic!("child failed: {c}"),
        }
    });
    let seg = g.shm(Shm::open(k).unwrap());
    assert_eq!(seg.stat().unwrap().size, 1 << 16);
    let r = open_with_watchdog(k);
    assert!(matches!(r, Err(Error::NotSysvring)), "{r:?}");
}

#[test]
fn an_all_zero_segment_of_a_size_no_ring_has_is_not_sysvring_at_once() {
    let mut g = Guard::new();
    // A live creator (this process), but 4100 bytes is no ring's size.
    let (k, seg) = fresh(TAG, |k| Shm::create(k, 4100, 0o600));
    g.shm(seg);
    let r = open_with_watchdog(k);
    assert!(matches!(r, Err(Error::NotSysvring)), "{r:?}");
}
