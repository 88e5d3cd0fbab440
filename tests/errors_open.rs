//! Errors of creating and opening a channel (`Builder::create`, `Builder::open`):
//! every setup `sysvring::Error` variant, each from a real situation (a real channel
//! opened with the wrong expectations, foreign or crafted objects at the key), and
//! errors that must not mislead (issue 14): a plain message queue at the key is
//! `NotSysvring` (not `NotFound`); an all-zero segment whose creator is gone, or
//! whose size no ring has, is `NotSysvring` at once instead of a wait for a creator
//! that never existed and then `NotReady`. (`RoleTaken`, from `sender()` and
//! `receiver()`, is in `tests/roles.rs`; `Untrusted`, which names the creator's uid
//! and `.trust_owner(uid)`, in `tests/security.rs`; `MessageTooLarge` against the
//! host's real limits in `tests/msgq_limits.rs`.)
//!
//! "At once" is asserted as "returns with `NotSysvring`" under an open timeout of
//! 30 s ([`LONG`]; a wait would end in `NotReady`), with a watchdog for a hang: never
//! a timing bound.
//!
//! Hygiene: channels are removed by their creator handle (also when a test panics);
//! raw objects made here are registered with a [`support::Guard`] that removes them
//! on drop. Keys carry this file's tag ([`TAG`]) in their top byte.
//!
//! Every check that applies to both transports is one generic body
//! `fn case(t: Transport)` instantiated per transport by `per_transport!`
//! (`shm_ring::*`, `msgq::*`, listed at the end); the plain `#[test]`s are either
//! transport-neutral (the opener does not choose a transport) or ring-only, each
//! saying why.

#[macro_use]
mod support;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use support::{create_unique, fork_child, fresh, key, open, role, Guard, Kid, WATCHDOG};
use sysvring::sys::{MsgQueue, SemSet, Shm};
use sysvring::{AnyChannel, Builder, Error, Flavor, Key, Transport};

/// Top byte of every key this file makes.
const TAG: u8 = 0x3f;

/// Both transports (for the checks that cross them).
const TRANSPORTS: [Transport; 2] = [Transport::ShmRing, Transport::MessageQueue];

/// A raw segment of `size` bytes at a fresh key of this file (none a channel of
/// another transport holds), registered with `raw`.
fn raw_shm(raw: &mut Guard, size: usize) -> (Key, Shm) {
    loop {
        let k = key(TAG);
        if Builder::<u8>::new(k).open().is_ok() {
            continue;
        }
        match Shm::create(k, size, 0o600) {
            Ok(s) => return (k, raw.shm(s)),
            Err(e) if e.is_already_exists() => continue,
            Err(e) => panic!("shmget: {e}"),
        }
    }
}

/// A channel of `T` at a fresh key of this file, on transport `t`.
fn make<T: sysvring::Message>(t: Transport, flavor: Flavor, cap: usize) -> AnyChannel<T> {
    create_unique::<T>(TAG, |b| b.transport(t).flavor(flavor).capacity(cap))
}

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

/// Panics unless `r` is `LayoutMismatch` on `field`; returns (expected, found).
#[track_caller]
fn layout_mismatch<T>(r: Result<T, Error>, field: &str) -> (u64, u64) {
    match r {
        Err(Error::LayoutMismatch {
            field: f,
            expected,
            found,
        }) if f == field => (expected, found),
        Err(e) => panic!("expected LayoutMismatch in {field}, got {e:?}"),
        Ok(_) => panic!("expected LayoutMismatch in {field}, got Ok"),
    }
}

fn type_mismatch_for_another_type_of_the_same_size(t: Transport) {
    let ch = make::<u64>(t, Flavor::Spsc, 16);
    match open::<i64>(ch.key()) {
        Err(Error::TypeMismatch {
            expected, found, ..
        }) => assert_ne!(expected, found),
        r => panic!("{t:?}: expected TypeMismatch, got {r:?}"),
    }
    // The same type opens.
    let opened = open::<u64>(ch.key()).unwrap();
    assert_eq!(opened.transport(), t);
    assert!(!opened.is_owner());
}

fn a_pinned_fingerprint_makes_types_compatible(t: Transport) {
    let ch = create_unique::<u64>(TAG, |b| b.transport(t).fingerprint(0xfeed));
    let tx = ch.sender().unwrap();
    let other = Builder::<i64>::new(ch.key())
        .fingerprint(0xfeed)
        .open()
        .unwrap();
    let rx = other.receiver().unwrap();
    tx.send(u64::MAX).unwrap();
    assert_eq!(rx.recv(), Ok(-1i64));
    // Without the pin the default fingerprint of i64 differs.
    assert!(matches!(
        open::<i64>(ch.key()),
        Err(Error::TypeMismatch { found: 0xfeed, .. })
    ));
}

fn layout_mismatch_for_a_type_of_another_size(t: Transport) {
    // Another type of another size: the type is compared first, so the error names
    // both types (not just a size).
    let ch = make::<u64>(t, Flavor::Spsc, 16);
    match open::<u32>(ch.key()) {
        Err(e @ Error::TypeMismatch { .. }) => {
            let Error::TypeMismatch {
                expected_name,
                found_name,
                ..
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(expected_name, "u32");
            if t == Transport::ShmRing {
                assert_eq!(found_name, "u64");
            }
            assert!(e.to_string().contains("`u32`"), "{e}");
        }
        r => panic!("expected TypeMismatch, got {:?}", r.map(|_| ())),
    }
    // The same fingerprint pinned on both sides: the sizes still have to agree.
    let ch = create_unique::<u64>(TAG, |b| b.transport(t).fingerprint(0xfeed));
    let pinned = |r: Result<AnyChannel<u32>, Error>| layout_mismatch(r, "element size");
    assert_eq!(
        pinned(
            Builder::<u32>::new(ch.key())
                .fingerprint(0xfeed)
                .open_timeout(Duration::from_millis(200))
                .open()
        ),
        (4, 8),
        "{t:?}"
    );
    layout_mismatch(
        Builder::<[u64; 2]>::new(ch.key())
            .fingerprint(0xfeed)
            .open_timeout(Duration::from_millis(200))
            .open(),
        "element size",
    );
}

/// Same size, other alignment (with one fingerprint pinned on both sides: another
/// type is a `TypeMismatch` first).
///
/// Ring only: the ring lays its slots out by alignment; a message queue copies bytes
/// and has no alignment to disagree on (another type of the same size is still a
/// `TypeMismatch` there, by its fingerprint).
#[test]
fn layout_mismatch_for_another_alignment_on_the_ring() {
    let ch = create_unique::<u64>(TAG, |b| b.transport(Transport::ShmRing).fingerprint(0xfeed));
    assert_eq!(
        layout_mismatch(
            Builder::<[u8; 8]>::new(ch.key())
                .fingerprint(0xfeed)
                .open_timeout(Duration::from_millis(200))
                .open(),
            "element alignment"
        ),
        (1, 8)
    );
    assert!(matches!(
        open::<[u8; 8]>(ch.key()),
        Err(Error::TypeMismatch { .. })
    ));
}

fn layout_mismatch_for_the_other_flavour_when_asked_for(t: Transport) {
    for (made, asked) in [(Flavor::Spsc, Flavor::Mpmc), (Flavor::Mpmc, Flavor::Spsc)] {
        let ch = make::<u64>(t, made, 16);
        let r = Builder::<u64>::new(ch.key()).flavor(asked).open();
        layout_mismatch(r, "flavor");
        // Without asking, the creator's flavour is used; asking for it works.
        assert_eq!(open::<u64>(ch.key()).unwrap().flavor(), made);
        let same = Builder::<u64>::new(ch.key()).flavor(made).open().unwrap();
        assert_eq!(same.flavor(), made, "{t:?}");
    }
}

fn layout_mismatch_for_another_capacity_when_asked_for(t: Transport) {
    let ch = make::<u64>(t, Flavor::Spsc, 64);
    let cap = ch.capacity();
    let r = Builder::<u64>::new(ch.key()).capacity(cap * 2).open();
    assert_eq!(
        layout_mismatch(r, "capacity"),
        (2 * cap as u64, cap as u64),
        "{t:?}"
    );
    // Capacity is exact: one less is another channel, the same one matches.
    let r = Builder::<u64>::new(ch.key()).capacity(cap - 1).open();
    assert_eq!(
        layout_mismatch(r, "capacity"),
        (cap as u64 - 1, cap as u64),
        "{t:?}"
    );
    let ok = Builder::<u64>::new(ch.key()).capacity(cap).open();
    assert_eq!(ok.unwrap().capacity(), cap, "{t:?}");
}

fn capacity_zero_or_too_large_is_a_layout_mismatch(t: Transport) {
    let b = Builder::<u64>::new(key(TAG)).transport(t).capacity(0);
    layout_mismatch(b.create(), "capacity");
    let b = Builder::<u64>::new(key(TAG)).transport(t).capacity(0);
    layout_mismatch(b.open(), "capacity");
    let b = Builder::<u64>::new(key(TAG)).transport(t).capacity(1 << 40);
    layout_mismatch(b.create(), "capacity");
}

// Crafted segments: ring only (a message-queue channel has no segment; its header is
// a semaphore set, checked below and in `not_ready_for_a_channel_whose_creator_never_finished`).

#[test]
fn not_sysvring_for_a_foreign_segment_of_random_bytes() {
    let mut raw = Guard::new();
    let (k, shm) = raw_shm(&mut raw, 4096);
    let att = shm.attach(false).unwrap();
    let mut rng = support::Rng::new(0x5eed);
    let bytes: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8 | 1).collect();
    att.write(0, &bytes);
    assert!(matches!(open::<u64>(k), Err(Error::NotSysvring)));
    // Random bytes never become a channel, whatever the wait.
    assert!(matches!(
        Builder::<u64>::new(k).open_timeout(WATCHDOG).open(),
        Err(Error::NotSysvring)
    ));
    // Create does not take over the key either.
    assert!(matches!(
        Builder::<u64>::new(k).create(),
        Err(Error::AlreadyExists)
    ));
}

#[test]
fn not_sysvring_for_a_segment_too_small_for_a_header() {
    let mut raw = Guard::new();
    let (k, _) = raw_shm(&mut raw, 64);
    assert!(matches!(open::<u64>(k), Err(Error::NotSysvring)));
}

#[test]
fn not_sysvring_for_a_foreign_semaphore_set_or_queue_at_the_key() {
    let mut raw = Guard::new();
    // A set of another size.
    let k = key(TAG);
    raw.sem(SemSet::create(k, 3, 0o600).unwrap());
    assert!(matches!(open::<u64>(k), Err(Error::NotSysvring)), "sem set");
}

// Not sysvring, and at once (issue 14): a plain message queue at the key (the queue
// half of the previous test), all-zero segments that no creator is still filling.

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

fn already_exists_when_the_key_is_taken(t: Transport) {
    let ch = make::<u64>(t, Flavor::Spsc, 16);
    for t2 in TRANSPORTS {
        if (t, t2) == (Transport::MessageQueue, Transport::ShmRing) {
            // See ring_create_over_a_message_queue_channel_is_already_exists.
            continue;
        }
        let r = Builder::<u64>::new(ch.key()).transport(t2).create();
        assert!(
            matches!(r, Err(Error::AlreadyExists)),
            "{t:?} then {t2:?}: {r:?}"
        );
    }
    // The failed creates did not disturb the channel.
    let tx = ch.sender().unwrap();
    let rx = open::<u64>(ch.key()).unwrap().receiver().unwrap();
    tx.send(5).unwrap();
    assert_eq!(rx.recv(), Ok(5));
}

/// One key names one channel, whichever transport: creating a ring (explicitly or by
/// `Auto`) where a message-queue channel lives must fail with `AlreadyExists`, as the
/// reverse does. (The ring's objects are a segment at the key and a semaphore set
/// at `IPC_PRIVATE`, so `IPC_EXCL` never sees the queue channel's set at the key.)
#[test]
fn ring_create_over_a_message_queue_channel_is_already_exists() {
    let ch = make::<u64>(Transport::MessageQueue, Flavor::Spsc, 16);
    for t in [Transport::ShmRing, Transport::Auto] {
        let r = Builder::<u64>::new(ch.key()).transport(t).create();
        assert!(
            matches!(r, Err(Error::AlreadyExists)),
            "a {t:?} channel was created over a message-queue channel: {r:?}"
        );
    }
}

fn not_found_for_an_unused_key(t: Transport) {
    let k = loop {
        let k = key(TAG);
        if Shm::open(k).is_err() && SemSet::open(k).is_err() && MsgQueue::open(k).is_err() {
            break k;
        }
    };
    assert!(matches!(open::<u64>(k), Err(Error::NotFound)));
    // A removed channel's key is free again.
    let ch = make::<u64>(t, Flavor::Spsc, 16);
    let k = ch.key();
    drop(ch);
    assert!(matches!(open::<u64>(k), Err(Error::NotFound)), "{t:?}");
}

/// An all-zero header object at the key looks like a creator still at work: a
/// segment large enough for any header (ring), or a semaphore set of a queue
/// channel's size (message queue).
fn not_ready_for_a_channel_whose_creator_never_finished(t: Transport) {
    let mut raw = Guard::new();
    let k = match t {
        Transport::ShmRing => raw_shm(&mut raw, 1 << 20).0,
        _ => {
            // A real queue channel's set tells the size; the crafted one is all zero.
            let nsems = SemSet::from_id(make::<u64>(t, Flavor::Spsc, 2).sem_id())
                .unwrap()
                .len();
            loop {
                let k = key(TAG);
                if Shm::open(k).is_ok() {
                    continue;
                }
                match SemSet::create(k, nsems, 0o600) {
                    Ok(s) => {
                        raw.sem(s);
                        break k;
                    }
                    Err(e) if e.is_already_exists() => continue,
                    Err(e) => panic!("semget: {e}"),
                }
            }
        }
    };
    let start = Instant::now();
    let r = Builder::<u64>::new(k)
        .open_timeout(Duration::from_millis(200))
        .open();
    assert!(matches!(r, Err(Error::NotReady)), "{r:?}");
    assert!(start.elapsed() >= Duration::from_millis(200));
}

// Crafted copies of a real header: ring only (the segment layout).

/// Byte offsets of header fields, checked against a real header
/// by [`real_header`].
const OFF_VERSION: usize = 8;
const OFF_CAPACITY: usize = 16;

/// A real channel's first 1024 bytes (header and control lines).
fn real_header(ch: &AnyChannel<u64>) -> Vec<u8> {
    let att = Shm::from_id(ch.shm_id().expect("a ring channel"))
        .attach(true)
        .unwrap();
    let mut h = vec![0u8; 1024];
    att.read(0, &mut h);
    assert_eq!(&h[..8], b"SYSVRING", "magic at offset 0");
    assert_eq!(
        u32::from_ne_bytes(h[OFF_VERSION..OFF_VERSION + 4].try_into().unwrap()),
        sysvring::LAYOUT_VERSION,
        "layout version at offset 8"
    );
    assert_eq!(
        u64::from_ne_bytes(h[OFF_CAPACITY..OFF_CAPACITY + 8].try_into().unwrap()),
        ch.capacity() as u64,
        "capacity at offset 16"
    );
    h
}

#[test]
fn layout_mismatch_for_a_valid_header_on_a_short_segment() {
    let ch = make::<u64>(Transport::ShmRing, Flavor::Spsc, 1024);
    let header = real_header(&ch);
    let mut raw = Guard::new();
    let (k, shm) = raw_shm(&mut raw, 4096);
    shm.attach(false).unwrap().write(0, &header);
    let (needed, size) = layout_mismatch(open::<u64>(k), "segment size");
    assert_eq!(size, 4096);
    assert!(needed > 4096);
}

#[test]
fn layout_mismatch_for_a_header_whose_capacity_disagrees_with_its_sizes() {
    let ch = make::<u64>(Transport::ShmRing, Flavor::Spsc, 1024);
    let mut header = real_header(&ch);
    header[OFF_CAPACITY..OFF_CAPACITY + 8].copy_from_slice(&2048u64.to_ne_bytes());
    let mut raw = Guard::new();
    let (k, shm) = raw_shm(&mut raw, 1 << 20);
    shm.attach(false).unwrap().write(0, &header);
    let r = open::<u64>(k);
    assert!(
        matches!(r, Err(Error::LayoutMismatch { .. })),
        "expected LayoutMismatch, got {r:?}"
    );
}

#[test]
fn version_mismatch_for_a_header_of_another_layout_version() {
    let ch = make::<u64>(Transport::ShmRing, Flavor::Spsc, 16);
    let mut header = real_header(&ch);
    header[OFF_VERSION..OFF_VERSION + 4].copy_from_slice(&99u32.to_ne_bytes());
    let mut raw = Guard::new();
    let (k, shm) = raw_shm(&mut raw, 1 << 16);
    shm.attach(false).unwrap().write(0, &header);
    assert!(matches!(
        open::<u64>(k),
        Err(Error::VersionMismatch {
            expected: sysvring::LAYOUT_VERSION,
            found: 99
        })
    ));
}

/// A `T` larger than the host's `msgmax` (8192 by default) on the message queue.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
#[repr(C)]
struct Big {
    a: [u8; 4096],
    b: [u8; 4096],
    c: [u8; 4096],
    d: [u8; 4096],
}

/// Message queue only: `msgmax` bounds one message; the ring carries any `T` its
/// segment fits (checked at the end). More in `tests/msgq_limits.rs`.
#[test]
fn message_too_large_for_the_message_queue() {
    let msgmax: usize = std::fs::read_to_string("/proc/sys/kernel/msgmax")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(8192);
    if msgmax >= std::mem::size_of::<Big>() {
        eprintln!(
            "skipped: msgmax {msgmax} admits a {}-byte T",
            std::mem::size_of::<Big>()
        );
        return;
    }
    let r = Builder::<Big>::new(key(TAG))
        .transport(Transport::MessageQueue)
        .create();
    match r {
        Err(Error::MessageTooLarge { size, max }) => {
            assert_eq!(size, std::mem::size_of::<Big>());
            assert!(max < size);
        }
        r => panic!("expected MessageTooLarge, got {r:?}"),
    }
    // The ring carries it.
    let ch = make::<Big>(Transport::ShmRing, Flavor::Spsc, 2);
    assert_eq!(ch.transport(), Transport::ShmRing);
}

fn os_error_for_a_mode_with_more_than_permission_bits(t: Transport) {
    let r = Builder::<u64>::new(key(TAG))
        .transport(t)
        .mode(0o4600)
        .create();
    assert!(matches!(r, Err(Error::Os(..))), "{t:?}: {r:?}");
}

/// Child: drops privileges and opens the channel at `KEY` (mode 0o600, owned by root).
#[test]
fn child_unprivileged_open() {
    if role().as_deref() != Some("unprivileged_open") {
        return;
    }
    // SAFETY: plain syscalls; glibc applies them to every thread of the process.
    unsafe {
        assert_eq!(libc::setgid(65534), 0);
        assert_eq!(libc::setuid(65534), 0);
    }
    let key = Key::from_raw(support::env("KEY"));
    let what: String = support::env("WHAT");
    let r = Builder::<u64>::new(key).open();
    assert!(matches!(r, Err(Error::PermissionDenied)), "{what}: {r:?}");
}

/// `PermissionDenied` for a channel (on transport `t`) that this user may not use.
///
/// (The message-queue open reads the set's size with `IPC_STAT`; without read
/// permission `SemSet::from_id` reports an unknown size, which the size check turns
/// into `NotSysvring`.)
fn permission_denied_for_another_users_channel(t: Transport) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // Root bypasses IPC permissions: open as nobody in a child process.
        let ch = make::<u64>(t, Flavor::Spsc, 16);
        let mut kid = Kid::spawn(
            "child_unprivileged_open",
            "unprivileged_open",
            &[
                ("KEY", ch.key().raw().to_string()),
                ("WHAT", format!("{t:?}")),
            ],
        );
        kid.wait_ok();
    } else {
        // An object at the key that we may not read, even as its owner: a segment
        // (ring) or a semaphore set (the message queue's header).
        let mut raw = Guard::new();
        let k = key(TAG);
        match t {
            Transport::ShmRing => {
                raw.shm(Shm::create(k, 4096, 0).unwrap());
            }
            _ => {
                raw.sem(SemSet::create(k, 23, 0).unwrap());
            }
        }
        let r = open::<u64>(k);
        assert!(matches!(r, Err(Error::PermissionDenied)), "{t:?}: {r:?}");
    }
}

// -------------------------------------------------------------------------------------
// The cases above that run on both transports
// -------------------------------------------------------------------------------------

per_transport!(
    type_mismatch_for_another_type_of_the_same_size,
    a_pinned_fingerprint_makes_types_compatible,
    layout_mismatch_for_a_type_of_another_size,
    layout_mismatch_for_the_other_flavour_when_asked_for,
    layout_mismatch_for_another_capacity_when_asked_for,
    capacity_zero_or_too_large_is_a_layout_mismatch,
    already_exists_when_the_key_is_taken,
    not_found_for_an_unused_key,
    not_ready_for_a_channel_whose_creator_never_finished,
    os_error_for_a_mode_with_more_than_permission_bits,
    permission_denied_for_another_users_channel,
);
