//! Byte-frame channels (`FrameBuilder`; README "Byte frames", docs/ARCHITECTURE.md
//! "Byte frames"): the API in one process, the typed/frame segment refusals, blocking
//! between threads (each on both transports: `per_transport!` makes
//! `shm_ring::<case>` and `msgq::<case>`), the queue's own limits and a
//! cross-process round trip over it, a scribbler that writes garbage into the record headers, and the
//! SIGKILL test: a producer process killed at random points of a frame, many times,
//! while the parent receives; the consumer never sees a partial frame, every frame
//! committed before a kill is delivered once, in order, and nothing is left behind.
//!
//! `SYSVRING_FRAME_KILLS` sets how many producers are killed (default 40, a CI size;
//! the long run is `SYSVRING_FRAME_KILLS=1000 cargo test --release --test
//! frames kills`); `SYSVRING_FRAME_SEED` fixes the seed (printed by every run).
//!
//! This binary re-executes itself in a role (`child_frame_producer`, which returns at
//! once in a normal run). Every channel is created by the test process, whose handle
//! removes it also while unwinding; children are `Kid`s, killed and reaped on drop.

#[macro_use]
mod support;

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::{
    env, env_key, env_path, key, path_env, proc_sysvipc, role, wait_until, Kid, Rng, TempDir,
    WATCHDOG,
};
use sysvring::sys::Shm;
use sysvring::{
    Builder, Error, FrameBuilder, FrameChannel, Key, RecvFrameTimeoutError, SendFrameError,
    SendFrameTimeoutError, Transport, TryRecvFrameError, TrySendFrameError,
};

/// Top byte of every key this file makes.
const TAG: u8 = 0x2a;

/// Creates a frame channel on the shared-memory ring at a fresh key of this file.
fn create(build: impl Fn(FrameBuilder) -> FrameBuilder) -> FrameChannel {
    create_on(Transport::ShmRing, build)
}

/// Creates a frame channel on transport `t` at a fresh key of this file.
fn create_on(t: Transport, build: impl Fn(FrameBuilder) -> FrameBuilder) -> FrameChannel {
    for _ in 0..64 {
        match build(FrameBuilder::new(key(TAG)).transport(t)).create() {
            Ok(ch) => return ch,
            Err(Error::AlreadyExists) => continue,
            Err(e) => panic!("create: {e}"),
        }
    }
    panic!("no free key");
}

/// A frame whose content is derived from (`inc`, `seq`, `len`) and which ends in a
/// checksum of the rest: a torn, stale or misplaced frame fails [`check_frame`].
/// At least 16 bytes.
fn make_frame(inc: u32, seq: u32, len: usize, out: &mut [u8]) {
    assert!(len >= 16 && out.len() >= len);
    out[..4].copy_from_slice(&inc.to_le_bytes());
    out[4..8].copy_from_slice(&seq.to_le_bytes());
    fill_body(inc, seq, &mut out[8..len - 8]);
    let sum = checksum(&out[..len - 8]);
    out[len - 8..len].copy_from_slice(&sum.to_le_bytes());
}

fn fill_body(inc: u32, seq: u32, body: &mut [u8]) {
    let mut x = (u64::from(inc) << 32 | u64::from(seq)).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for b in body {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The (incarnation, sequence) of an intact frame; `Err` says what is wrong.
fn check_frame(b: &[u8]) -> Result<(u32, u32), String> {
    if b.len() < 16 {
        return Err(format!("frame of {} bytes, under 16", b.len()));
    }
    let n = b.len();
    let sum = u64::from_le_bytes(b[n - 8..].try_into().unwrap());
    if checksum(&b[..n - 8]) != sum {
        return Err(format!("checksum of a frame of {n} bytes"));
    }
    let inc = u32::from_le_bytes(b[..4].try_into().unwrap());
    let seq = u32::from_le_bytes(b[4..8].try_into().unwrap());
    let mut body = vec![0u8; n - 16];
    fill_body(inc, seq, &mut body);
    if body != b[8..n - 8] {
        return Err(format!("body of frame ({inc}, {seq})"));
    }
    Ok((inc, seq))
}

// -------------------------------------------------------------------------------------
// One process
// -------------------------------------------------------------------------------------

per_transport!(
    frames_of_every_length_round_trip_in_place_and_by_copy,
    a_frame_shrinks_before_commit_and_an_aborted_one_leaves_nothing,
    oversized_frames_are_refused_before_writing_and_full_times_out,
    roles_are_exclusive_and_disconnection_follows_the_typed_rules,
    blocking_sides_in_two_threads_move_mixed_frames_in_order,
    the_untyped_receiver_keeps_a_frame_too_long_for_the_slice,
);

/// The C library's receive into a slice: a frame longer than the slice is
/// `TooSmall` and stays (on the queue, in the receiver: it left the queue already).
fn the_untyped_receiver_keeps_a_frame_too_long_for_the_slice(t: Transport) {
    use sysvring::untyped::{FrameFailure, UntypedFrameReceiver, UntypedFrameSender};
    let ch = create_on(t, |b| b.max_len(64).capacity_bytes(1024));
    let mut tx = UntypedFrameSender::from(ch.sender().unwrap());
    let mut rx = UntypedFrameReceiver::from(ch.receiver().unwrap());
    tx.send(b"a frame of 20 bytes.", None).unwrap();
    let p = tx.reserve(10, None).unwrap();
    // SAFETY: `reserve` lent 10 writable bytes until commit.
    unsafe { std::ptr::copy_nonoverlapping(b"in place".as_ptr(), p, 8) };
    tx.commit(8).unwrap();
    let mut small = [0u8; 8];
    assert!(matches!(
        rx.recv_into_slice(&mut small, Some(Duration::ZERO)),
        Err(FrameFailure::TooSmall { len: 20 })
    ));
    let mut big = [0u8; 64];
    assert_eq!(rx.recv_into_slice(&mut big, None).unwrap(), 20);
    assert_eq!(&big[..20], b"a frame of 20 bytes.");
    assert_eq!(rx.recv_with(None, |b| b.to_vec()).unwrap(), b"in place");
    assert!(matches!(
        rx.recv_with(Some(Duration::ZERO), |_| ()),
        Err(FrameFailure::NotNow)
    ));
}

fn frames_of_every_length_round_trip_in_place_and_by_copy(t: Transport) {
    let ch = create_on(t, |b| b.max_len(300).capacity_bytes(2048));
    assert_eq!(ch.transport(), t);
    assert_eq!((ch.max_len(), ch.capacity_bytes()), (300, 2048));
    let mut tx = ch.sender().unwrap();
    let mut rx = ch.receiver().unwrap();
    let mut buf = Vec::new();
    for len in 0..=300usize {
        let f: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
        match len % 3 {
            0 => tx.send_bytes(&f).unwrap(),
            1 => tx.try_send_bytes(&f).unwrap(),
            _ => {
                let mut w = tx.reserve(len).unwrap();
                assert_eq!(w.len(), len);
                w.copy_from_slice(&f);
                w.commit();
            }
        }
        assert_eq!(ch.len(), 1);
        if len % 2 == 0 {
            assert_eq!(rx.recv_into(&mut buf).unwrap(), len);
            assert_eq!(buf, f);
        } else {
            assert!(rx.recv_with(|b| b == &f[..]).unwrap());
        }
    }
    assert_eq!(ch.stats().sent, 301);
    assert_eq!(ch.stats().received, 301);
    assert!(matches!(
        rx.try_recv_into(&mut buf),
        Err(TryRecvFrameError::Empty)
    ));
}

fn a_frame_shrinks_before_commit_and_an_aborted_one_leaves_nothing(t: Transport) {
    let ch = create_on(t, |b| b.max_len(100).capacity_bytes(1024));
    let mut tx = ch.sender().unwrap();
    let mut rx = ch.receiver().unwrap();
    let mut w = tx.reserve(100).unwrap();
    w[..5].copy_from_slice(b"hello");
    w.truncate(5);
    w.truncate(50); // never grows back
    assert_eq!(w.len(), 5);
    w.commit();
    let mut w = tx.try_reserve(80).unwrap();
    w.fill(0xee);
    w.abort(); // what dropping it does
    tx.reserve(10).unwrap().abort();
    tx.send_bytes(b"world").unwrap();
    assert_eq!(rx.recv_with(|b| b.to_vec()).unwrap(), b"hello");
    assert_eq!(rx.recv_with(|b| b.to_vec()).unwrap(), b"world");
    assert!(rx.try_recv_with(|_| ()).unwrap_err().is_empty());
    assert_eq!(ch.stats().sent, 2);
}

/// What both transports promise of a full channel and of frames over `max_len`.
fn oversized_frames_are_refused_before_writing_and_full_times_out(t: Transport) {
    let ch = create_on(t, |b| b.max_len(1016).capacity_bytes(4096));
    let mut tx = ch.sender().unwrap();
    let mut rx = ch.receiver().unwrap();
    let mut n = 0u32;
    while tx.try_send_bytes(&[n as u8; 8]).is_ok() {
        n += 1;
    }
    assert!(n > 0);
    assert!(tx.try_reserve(8).unwrap_err().is_full());
    let big = vec![1u8; 1017];
    let before = ch.stats();
    assert_eq!(
        tx.try_send_bytes(&big),
        Err(TrySendFrameError::TooLarge(sysvring::FrameTooLarge {
            len: 1017,
            max: 1016
        }))
    );
    assert!(tx.reserve(1017).unwrap_err().is_too_large());
    assert!(tx
        .send_bytes_timeout(&big, Duration::ZERO)
        .unwrap_err()
        .is_too_large());
    assert_eq!(ch.stats(), before, "nothing written");
    assert_eq!(
        tx.send_bytes_timeout(&[0; 8], Duration::from_millis(5)),
        Err(SendFrameTimeoutError::Timeout)
    );
    assert!(tx
        .reserve_timeout(8, Duration::from_millis(5))
        .unwrap_err()
        .is_timeout());
    for i in 0..n {
        assert_eq!(rx.recv_with(|b| b.to_vec()).unwrap(), vec![i as u8; 8]);
    }
    assert_eq!(
        rx.recv_with_timeout(Duration::from_millis(5), |_| ()),
        Err(RecvFrameTimeoutError::Timeout)
    );
    for i in 0..20u8 {
        tx.send_bytes(&vec![i; 1016]).unwrap();
        assert!(rx.recv_with(|b| b.len() == 1016 && b[0] == i).unwrap());
    }
}

/// Ring only: its byte accounting (records of 8-byte words, the free header word).
#[test]
fn memory_is_used_by_length_and_oversized_frames_are_refused_before_writing() {
    // 4096 bytes of ring, frames of up to 1016 bytes (a quarter of the ring).
    let ch = create(|b| b.max_len(1016).capacity_bytes(4096));
    let mut tx = ch.sender().unwrap();
    let mut rx = ch.receiver().unwrap();
    // 8-byte frames take 16 bytes each: 255 fit (the header word after the last one
    // stays free), not 4 as with slots of the maximum size.
    let mut n = 0;
    while tx.try_send_bytes(&[n as u8; 8]).is_ok() {
        n += 1;
    }
    assert_eq!(n, 255);
    assert_eq!(ch.bytes_used(), 255 * 16);
    // An empty frame takes its header word: 16 bytes left hold it and the next one.
    tx.try_send_bytes(&[]).unwrap();
    assert!(tx.try_send_bytes(&[]).unwrap_err().is_full());
    let big = vec![1u8; 1017];
    let before = ch.stats();
    assert_eq!(
        tx.try_send_bytes(&big),
        Err(TrySendFrameError::TooLarge(sysvring::FrameTooLarge {
            len: 1017,
            max: 1016
        }))
    );
    assert!(matches!(
        tx.send_bytes(&big),
        Err(SendFrameError::TooLarge(_))
    ));
    assert!(tx.reserve(1017).unwrap_err().is_too_large());
    assert!(tx
        .send_bytes_timeout(&big, Duration::ZERO)
        .unwrap_err()
        .is_too_large());
    assert_eq!(ch.stats(), before, "nothing written");
    // Timeouts while full.
    assert_eq!(
        tx.send_bytes_timeout(&[0; 8], Duration::from_millis(5)),
        Err(SendFrameTimeoutError::Timeout)
    );
    for i in 0..255 {
        assert_eq!(rx.recv_with(|b| b.to_vec()).unwrap(), vec![i as u8; 8]);
    }
    assert_eq!(rx.recv_with(|b| b.len()).unwrap(), 0);
    assert_eq!(
        rx.recv_with_timeout(Duration::from_millis(5), |_| ()),
        Err(RecvFrameTimeoutError::Timeout)
    );
    // A full-sized frame goes through whatever the wrap costs.
    for i in 0..20u8 {
        tx.send_bytes(&vec![i; 1016]).unwrap();
        assert!(rx.recv_with(|b| b.len() == 1016 && b[0] == i).unwrap());
    }
}

#[test]
fn create_refuses_a_max_len_over_a_quarter_of_the_ring() {
    let e = FrameBuilder::new(Key::private())
        .max_len(1017)
        .capacity_bytes(4096)
        .create()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::LayoutMismatch {
                expected: 1016,
                found: 1017,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("quarter of the ring"), "{e}");
    // The default ring grows with max_len.
    let ch = FrameBuilder::new(Key::private())
        .max_len(100_000)
        .create()
        .unwrap();
    assert!(ch.capacity_bytes() >= 4 * 100_008);
}

#[test]
fn typed_and_frame_openers_refuse_each_others_segments_by_name() {
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
    #[repr(C)]
    struct Tick {
        seq: u64,
    }
    let frames = create(|b| b.max_len(64).capacity_bytes(1024));
    let e = Builder::<Tick>::new(frames.key())
        .open_timeout(Duration::from_millis(50))
        .open()
        .unwrap_err();
    match &e {
        Error::TypeMismatch {
            expected_name,
            found_name,
            ..
        } => assert_eq!(
            (&expected_name[..], &found_name[..]),
            ("Tick", "byte frames")
        ),
        other => panic!("{other}"),
    }
    // Even with the frame fingerprint pinned, the flavor word refuses it.
    let fp = match e {
        Error::TypeMismatch { found, .. } => found,
        _ => unreachable!(),
    };
    let e = Builder::<Tick>::new(frames.key())
        .fingerprint(fp)
        .open()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::LayoutMismatch {
                field: "flavor",
                ..
            }
        ),
        "{e}"
    );
    // A frame opener of a typed channel.
    let typed = support::create_unique::<Tick>(TAG, |b| b.transport(sysvring::Transport::ShmRing));
    let e = FrameBuilder::new(typed.key()).open().unwrap_err();
    match &e {
        Error::TypeMismatch {
            expected_name,
            found_name,
            ..
        } => assert_eq!(
            (&expected_name[..], &found_name[..]),
            ("byte frames", "Tick")
        ),
        other => panic!("{other}"),
    }
    // Frame openers with other expectations.
    let e = FrameBuilder::new(frames.key())
        .max_len(65)
        .open()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::LayoutMismatch {
                field: "max_len",
                ..
            }
        ),
        "{e}"
    );
    let e = FrameBuilder::new(frames.key())
        .capacity_bytes(2048)
        .open()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::LayoutMismatch {
                field: "ring bytes",
                ..
            }
        ),
        "{e}"
    );
    let ok = FrameBuilder::new(frames.key())
        .max_len(64)
        .capacity_bytes(1000) // rounded up as create rounds it
        .open()
        .unwrap();
    assert_eq!(ok.capacity_bytes(), 1024);
    assert!(!ok.is_owner());
}

fn roles_are_exclusive_and_disconnection_follows_the_typed_rules(t: Transport) {
    let ch = create_on(t, |b| b.max_len(64).capacity_bytes(1024));
    let other = FrameBuilder::new(ch.key()).open().unwrap();
    let mut rx = ch.receiver().unwrap();
    // No sender has connected yet: empty, not disconnected.
    assert!(rx.try_recv_with(|_| ()).unwrap_err().is_empty());
    let mut tx = ch.sender().unwrap();
    assert!(matches!(other.sender(), Err(Error::RoleTaken)));
    assert!(matches!(other.receiver(), Err(Error::RoleTaken)));
    tx.send_bytes(b"last words").unwrap();
    drop(tx);
    // Drained first, then disconnected.
    assert_eq!(rx.recv_with(|b| b.to_vec()).unwrap(), b"last words");
    assert!(rx.try_recv_with(|_| ()).unwrap_err().is_disconnected());
    assert!(rx.recv_with(|_| ()).unwrap_err().is_disconnected());
    // A sender that connects later makes it live again.
    let mut tx = other.sender().unwrap();
    tx.send_bytes(b"again").unwrap();
    assert_eq!(rx.recv_with(|b| b.to_vec()).unwrap(), b"again");
    drop(rx);
    assert!(tx.try_send_bytes(b"x").unwrap_err().is_disconnected());
    assert!(matches!(
        tx.send_bytes(b"x"),
        Err(SendFrameError::Disconnected)
    ));
    assert!(tx.reserve(1).is_err());
    // Removed by its owner: the survivor ends in Disconnected.
    let mut rx = other.receiver().unwrap();
    ch.remove().unwrap();
    assert!(tx.send_bytes(b"x").is_err());
    assert!(rx.recv_with(|_| ()).unwrap_err().is_disconnected());
}

fn blocking_sides_in_two_threads_move_mixed_frames_in_order(t: Transport) {
    let ch = create_on(t, |b| b.max_len(4096).capacity_bytes(1 << 15));
    let mut tx = ch.sender().unwrap();
    let mut rx = ch.receiver().unwrap();
    const N: u32 = 20_000;
    let producer = thread::spawn(move || {
        let mut rng = Rng::new(7);
        let mut buf = vec![0u8; 4096];
        for seq in 0..N {
            let len = rng.range(16, 4096) as usize;
            if seq % 2 == 0 {
                make_frame(1, seq, len, &mut buf);
                tx.send_bytes(&buf[..len]).unwrap();
            } else {
                let mut w = tx.reserve(4096).unwrap();
                make_frame(1, seq, len, &mut w);
                w.truncate(len);
                w.commit();
            }
        }
    });
    let mut buf = Vec::new();
    for seq in 0..N {
        rx.recv_into(&mut buf).unwrap();
        assert_eq!(check_frame(&buf), Ok((1, seq)));
    }
    producer.join().unwrap();
    assert!(rx.recv_with(|_| ()).unwrap_err().is_disconnected());
}

// -------------------------------------------------------------------------------------
// The message-queue transport's own rules
// -------------------------------------------------------------------------------------

#[test]
fn queue_refuses_a_max_len_over_msgmax_or_over_its_budget() {
    let msgmax = sysvring::sys::Limits::query().unwrap().msgmax as usize;
    let e = FrameBuilder::new(Key::private())
        .transport(Transport::MessageQueue)
        .max_len(msgmax + 1)
        .create()
        .unwrap_err();
    assert!(
        matches!(e, Error::MessageTooLarge { size, max } if size == msgmax + 1 && max == msgmax),
        "{e}"
    );
    // A budget that cannot hold one frame of max_len.
    let e = FrameBuilder::new(Key::private())
        .transport(Transport::MessageQueue)
        .max_len(2048)
        .capacity_bytes(1024)
        .create()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::MessageTooLarge {
                size: 2048,
                max: 1024
            }
        ),
        "{e}"
    );
    let ch = create_on(Transport::MessageQueue, |b| b.max_len(msgmax));
    assert_eq!(ch.max_len(), msgmax);
    assert!(ch.msg_id().is_some() && ch.shm_id().is_none());
}

#[test]
fn queue_budget_is_counted_in_bytes() {
    let ch = create_on(Transport::MessageQueue, |b| {
        b.max_len(1016).capacity_bytes(4096)
    });
    assert_eq!(ch.capacity_bytes(), 4096);
    let mut tx = ch.sender().unwrap();
    let mut rx = ch.receiver().unwrap();
    let mut n = 0;
    while tx.try_send_bytes(&[n as u8; 8]).is_ok() {
        n += 1;
    }
    assert_eq!(n, 512);
    assert_eq!((ch.len(), ch.bytes_used()), (512, 4096));
    rx.recv_with(|b| assert_eq!(b, [0u8; 8])).unwrap();
    // The room of one 8-byte frame, not of a max_len one.
    assert!(tx.try_reserve(9).unwrap_err().is_full());
    let mut w = tx.try_reserve(8).unwrap();
    w.copy_from_slice(b"in place");
    w.commit();
}

#[test]
fn a_foreign_frame_over_max_len_on_the_queue_is_dropped_and_counted() {
    let ch = create_on(Transport::MessageQueue, |b| b.max_len(64));
    let mut tx = ch.sender().unwrap();
    let mut rx = ch.receiver().unwrap();
    let q = sysvring::sys::MsgQueue::from_id(ch.msg_id().unwrap());
    q.send(1, &[0xee; 65], true).unwrap();
    q.send(1, &[0xee; 4000], true).unwrap();
    tx.send_bytes(b"good").unwrap();
    assert_eq!(rx.recv_with(|b| b.to_vec()).unwrap(), b"good");
    assert_eq!(ch.stats().skipped, 2);
    // A hostile flood never keeps a try busy nor hands anything out.
    for _ in 0..100 {
        q.send(1, &[0xee; 100], true).unwrap();
    }
    let mut tries = 0;
    loop {
        match rx.try_recv_with(|b| b.to_vec()) {
            Err(TryRecvFrameError::Empty) if ch.is_empty() => break,
            Err(TryRecvFrameError::Empty) => tries += 1,
            other => panic!("{other:?}"),
        }
        assert!(tries < 100);
    }
    assert_eq!(ch.stats().skipped, 102);
}

#[test]
fn typed_and_frame_openers_refuse_each_others_queues_by_name() {
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
    #[repr(C)]
    struct Tick {
        seq: u64,
    }
    let frames = create_on(Transport::MessageQueue, |b| {
        b.max_len(64).capacity_bytes(1024)
    });
    let e = Builder::<Tick>::new(frames.key())
        .open_timeout(Duration::from_millis(50))
        .open()
        .unwrap_err();
    let fp = match &e {
        Error::TypeMismatch {
            expected_name,
            found_name,
            found,
            ..
        } => {
            assert_eq!(
                (&expected_name[..], &found_name[..]),
                ("Tick", "byte frames")
            );
            *found
        }
        other => panic!("{other}"),
    };
    // Even with the frame fingerprint pinned, the kind word refuses it.
    let e = Builder::<Tick>::new(frames.key())
        .fingerprint(fp)
        .open()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::LayoutMismatch {
                field: "flavor",
                ..
            }
        ),
        "{e}"
    );
    // A frame opener of a typed queue channel.
    let typed = support::create_unique::<Tick>(TAG, |b| b.transport(Transport::MessageQueue));
    let e = FrameBuilder::new(typed.key()).open().unwrap_err();
    match &e {
        Error::TypeMismatch { expected_name, .. } => assert_eq!(expected_name, "byte frames"),
        other => panic!("{other}"),
    }
    // Frame openers with other expectations.
    let e = FrameBuilder::new(frames.key())
        .max_len(65)
        .open()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::LayoutMismatch {
                field: "max_len",
                ..
            }
        ),
        "{e}"
    );
    let e = FrameBuilder::new(frames.key())
        .capacity_bytes(2048)
        .open()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::LayoutMismatch {
                field: "queue bytes",
                ..
            }
        ),
        "{e}"
    );
    let ok = FrameBuilder::new(frames.key())
        .max_len(64)
        .capacity_bytes(1024)
        .open()
        .unwrap();
    assert_eq!(ok.transport(), Transport::MessageQueue);
    assert_eq!((ok.max_len(), ok.capacity_bytes()), (64, 1024));
    assert!(!ok.is_owner());
    // `ls`/`stat` see a frame channel on the queue.
    let info = sysvring::admin::list()
        .unwrap()
        .into_iter()
        .find(|i| i.key == frames.key())
        .expect("listed");
    assert!(info.frames && info.transport == Transport::MessageQueue);
    assert_eq!((info.elem_size, info.capacity), (64, 1024));
}

/// The queue's round trip between processes: a producer process (the kill test's
/// role, run to a clean end) sends checksummed frames of random lengths, in place
/// and by copy; this process receives every one, intact and in order, then
/// `Disconnected`; nothing is left behind.
#[test]
fn frames_cross_processes_over_the_queue_checksummed() {
    const FRAMES: u64 = 5000;
    let ch = create_on(Transport::MessageQueue, |b| b.max_len(KILL_MAX_LEN));
    let (msg_id, sem_id) = (ch.msg_id().expect("a queue"), ch.sem_id());
    let dir = TempDir::new("frames-msgq");
    let board_path = dir.path().join("p1");
    let board = Board::create(&board_path);
    let mut rx = ch.receiver().unwrap();
    let mut kid = Kid::spawn(
        "child_frame_producer",
        "frame_producer",
        &[
            ("KEY", ch.key().raw().to_string()),
            ("INC", "1".to_string()),
            ("LAST", FRAMES.to_string()),
            ("SEED", seed().to_string()),
            path_env("BOARD", &board_path),
        ],
    );
    let mut buf = Vec::new();
    let mut seq = 0u64;
    let deadline = Instant::now() + WATCHDOG;
    loop {
        assert!(Instant::now() < deadline, "stuck after {seq} frames");
        match rx.recv_into_timeout(&mut buf, Duration::from_millis(50)) {
            Ok(len) => {
                assert!((16..=KILL_MAX_LEN).contains(&len));
                assert_eq!(check_frame(&buf), Ok((1, seq as u32)));
                seq += 1;
            }
            Err(RecvFrameTimeoutError::Timeout) => {
                if let Some(st) = kid.exited() {
                    assert!(seq == FRAMES, "producer exited ({st}) after {seq}");
                }
            }
            Err(RecvFrameTimeoutError::Disconnected) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(seq, FRAMES);
    assert_eq!(board.at(B_COMMITTED).load(Ordering::Acquire), FRAMES);
    kid.wait_ok();
    assert_eq!(ch.stats().skipped, 0);
    drop(rx);
    drop(ch);
    let left: Vec<_> = proc_sysvipc()
        .into_iter()
        .filter(|o| (o.kind == "msg" && o.id == msg_id) || (o.kind == "sem" && o.id == sem_id))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

// -------------------------------------------------------------------------------------
// A hostile peer
// -------------------------------------------------------------------------------------

/// A second read-write attachment of a channel's segment: a peer that scribbles.
struct Scribbler {
    base: NonNull<u8>,
    _att: sysvring::sys::Attachment,
}

impl Scribbler {
    fn new(ch: &FrameChannel) -> Scribbler {
        let att = Shm::from_id(ch.shm_id().expect("a ring"))
            .attach(false)
            .expect("attach");
        Scribbler {
            base: NonNull::new(att.as_ptr()).unwrap(),
            _att: att,
        }
    }

    /// The word at byte `off` of the ring's area.
    fn ring_word(&self, off: usize) -> &AtomicU64 {
        let area = sysvring::ring::layout::Geometry::frames(1024, 0)
            .unwrap()
            .slots_offset;
        assert!(off % 8 == 0 && off + 8 <= 1024);
        // SAFETY: inside the 1024-byte area of the mapped segment, aligned to 8;
        // AtomicU64 is valid for any bits.
        unsafe { &*self.base.as_ptr().add(area + off).cast::<AtomicU64>() }
    }

    fn control(&self) -> &sysvring::ring::layout::Control {
        // SAFETY: the control block of the mapped segment (at its fixed offset),
        // all atomics.
        unsafe {
            &*self
                .base
                .as_ptr()
                .add(sysvring::ring::layout::CONTROL_OFFSET)
                .cast()
        }
    }
}

#[test]
fn garbage_in_the_record_headers_is_a_clear_error_never_a_crash_or_a_hang() {
    let ch = create(|b| b.max_len(200).capacity_bytes(1024));
    let mut tx = ch.sender().unwrap();
    let mut rx = ch.receiver().unwrap();
    let s = Scribbler::new(&ch);
    tx.send_bytes(b"first").unwrap();
    // The record header at offset 0: a length over max_len.
    let good = s.ring_word(0).load(Ordering::Relaxed);
    s.ring_word(0)
        .store(good & !0xffff_ffff | 5000, Ordering::Relaxed);
    let c = match rx.recv_with(|_| ()) {
        Err(sysvring::RecvFrameError::Corrupt(c)) => c,
        other => panic!("expected Corrupt, got {other:?}"),
    };
    assert_eq!(c.position, 0);
    assert!(c.to_string().contains("max_len"), "{c}");
    // Reported again, never skipped.
    assert!(rx.try_recv_with(|_| ()).unwrap_err().is_corrupt());
    assert!(rx
        .recv_with_timeout(Duration::from_millis(1), |_| ())
        .unwrap_err()
        .is_corrupt());
    // Repaired, it is delivered.
    s.ring_word(0).store(good, Ordering::Relaxed);
    assert_eq!(rx.recv_with(|b| b.to_vec()).unwrap(), b"first");
    // Random garbage anywhere in the area and in the indices: every call returns
    // (Ok, Empty, Full, Corrupt, Timeout) within its timeout, nothing panics.
    let mut rng = Rng::new(0x5c21b);
    let mut buf = Vec::new();
    let step = Duration::from_millis(2);
    for round in 0..3000u32 {
        match rng.range(0, 9) {
            0..=2 => s
                .ring_word(rng.range(0, 127) as usize * 8)
                .store(rng.next_u64(), Ordering::Relaxed),
            3 => {
                let off = rng.range(0, 127) * 8;
                // A plausible header: right check, random length and tag.
                let w = rng.range(0, 300) | rng.range(0, 3) << 32 | ((off >> 3) & 0xff_ffff) << 40;
                s.ring_word(off as usize).store(w, Ordering::Relaxed)
            }
            4 => s
                .control()
                .head
                .store(rng.next_u64() % 4096, Ordering::Relaxed),
            5 => s
                .control()
                .tail
                .store(rng.next_u64() % 4096, Ordering::Relaxed),
            _ => {}
        }
        let t0 = Instant::now();
        let len = rng.range(0, 200) as usize;
        let _ = tx.send_bytes_timeout(&frame_bytes(round, len), step);
        let _ = rx.recv_into_timeout(&mut buf, step);
        let _ = rx.try_recv_with(|b| b.len());
        if round % 50 == 0 {
            // Fresh sides read the hostile indices again.
            drop((tx, rx));
            tx = ch.sender().unwrap();
            rx = ch.receiver().unwrap();
        }
        assert!(
            t0.elapsed() < step * 2 + Duration::from_secs(3),
            "a call overran"
        );
        assert!(buf.len() <= 200);
    }
}

fn frame_bytes(seed: u32, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seed as usize + i) as u8).collect()
}

// -------------------------------------------------------------------------------------
// SIGKILL of the producer at random points of a frame
// -------------------------------------------------------------------------------------

/// Words of a producer's board: a file mapped `MAP_SHARED`, so what the child stores
/// survives its SIGKILL.
const B_STARTED: usize = 0;
/// Frames whose `commit` (or `send_bytes`) returned.
const B_COMMITTED: usize = 1;
/// 1 while a reserved frame is being written (between `reserve` and `commit`).
const B_IN_FRAME: usize = 2;
const B_WORDS: usize = 3;

struct Board {
    ptr: NonNull<AtomicU64>,
}

// SAFETY: process-wide shared memory reached through atomics only.
unsafe impl Send for Board {}
// SAFETY: as above.
unsafe impl Sync for Board {}

impl Board {
    fn create(path: &Path) -> Board {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .expect("create board");
        f.set_len((B_WORDS * 8) as u64).unwrap();
        Board::map(&f)
    }

    fn open(path: &Path) -> Board {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .expect("open board");
        Board::map(&f)
    }

    fn map(f: &std::fs::File) -> Board {
        // SAFETY: a fresh shared mapping of a file of B_WORDS words, opened
        // read-write; the kernel picks the address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                B_WORDS * 8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        assert!(p != libc::MAP_FAILED, "mmap");
        Board {
            ptr: NonNull::new(p.cast()).unwrap(),
        }
    }

    fn at(&self, i: usize) -> &AtomicU64 {
        assert!(i < B_WORDS);
        // SAFETY: in bounds of the page-aligned mapping; atomics are valid for any bits.
        unsafe { &*self.ptr.as_ptr().add(i) }
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `map`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), B_WORDS * 8) };
    }
}

const KILL_MAX_LEN: usize = 2000;
const KILL_RING: usize = 16 * 1024;

/// The producer role: incarnation `INC` sends checksummed frames of random lengths
/// (16..=max_len) until killed (or, with `LAST` set, `LAST` frames, then exits
/// cleanly). Most frames are written in place in small pieces with pauses between
/// them, so a kill usually lands in the middle of a frame; the rest go through
/// `send_bytes`. After each commit returns it counts the frame in its board.
#[test]
fn child_frame_producer() {
    if role().as_deref() != Some("frame_producer") {
        return;
    }
    let inc: u32 = env("INC");
    let last: u64 = env("LAST");
    let board = Board::open(&env_path("BOARD"));
    let mut rng = Rng::new(env::<u64>("SEED"));
    let ch = FrameBuilder::new(env_key()).open().expect("open");
    let deadline = Instant::now() + WATCHDOG;
    let mut tx = loop {
        match ch.sender() {
            Ok(tx) => break tx,
            // The previous incarnation's role comes back when the kernel has undone it.
            Err(Error::RoleTaken) if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("sender: {e}"),
        }
    };
    board.at(B_STARTED).store(1, Ordering::Release);
    let mut scratch = vec![0u8; KILL_MAX_LEN];
    let mut seq = 0u32;
    loop {
        if last != 0 && u64::from(seq) == last {
            drop(tx);
            support::exit_child(0);
        }
        let len = rng.range(16, KILL_MAX_LEN as u64) as usize;
        make_frame(inc, seq, len, &mut scratch);
        if rng.range(0, 3) == 0 {
            tx.send_bytes(&scratch[..len]).expect("send_bytes");
        } else {
            let room = rng.range(len as u64, KILL_MAX_LEN as u64) as usize;
            let mut w = tx.reserve(room).expect("reserve");
            board.at(B_IN_FRAME).store(1, Ordering::Relaxed);
            // Garbage first where the frame will be, then the frame in pieces.
            w.fill(0xa5);
            let mut at = 0;
            while at < len {
                let n = (rng.range(1, 256) as usize).min(len - at);
                w[at..at + n].copy_from_slice(&scratch[at..at + n]);
                at += n;
                for _ in 0..rng.range(0, 2000) {
                    std::hint::spin_loop();
                }
            }
            w.truncate(len);
            w.commit();
            board.at(B_IN_FRAME).store(0, Ordering::Relaxed);
        }
        seq += 1;
        board
            .at(B_COMMITTED)
            .store(u64::from(seq), Ordering::Release);
    }
}

/// How many producers the kill test kills (`SYSVRING_FRAME_KILLS`, default 40).
fn kills() -> u32 {
    std::env::var("SYSVRING_FRAME_KILLS")
        .map(|s| s.parse().expect("SYSVRING_FRAME_KILLS must be a number"))
        .unwrap_or(40)
}

fn seed() -> u64 {
    match std::env::var("SYSVRING_FRAME_SEED") {
        Ok(s) => s.parse().expect("SYSVRING_FRAME_SEED must be a u64"),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

/// What the receiving thread saw, per incarnation (index = incarnation).
struct Seen {
    count: Vec<AtomicU64>,
}

#[test]
fn kills_of_the_producer_mid_frame_never_show_a_partial_frame() {
    let kills = kills();
    let seed = seed();
    eprintln!("frames kill test: {kills} kills, SYSVRING_FRAME_SEED={seed}");
    let mut rng = Rng::new(seed);
    let ch = create(|b| b.max_len(KILL_MAX_LEN).capacity_bytes(KILL_RING));
    let (shm_id, sem_id) = (ch.shm_id().expect("a ring"), ch.sem_id());
    let dir = TempDir::new("frames-kill");
    let incarnations = kills + 1;
    let seen = Arc::new(Seen {
        count: (0..=incarnations).map(|_| AtomicU64::new(0)).collect(),
    });
    let finished = Arc::new(AtomicBool::new(false));
    let mut rx = ch.receiver().unwrap();
    // The consumer: checks every frame (intact, incarnations in order, each one's
    // sequence numbers 0, 1, 2... without a gap), until the last producer is gone.
    let consumer = {
        let (seen, finished) = (seen.clone(), finished.clone());
        thread::spawn(move || {
            let mut buf = Vec::new();
            let mut cur = 0u32;
            loop {
                match rx.recv_into_timeout(&mut buf, Duration::from_millis(50)) {
                    Ok(_) => {
                        let (inc, seq) = check_frame(&buf).unwrap_or_else(|e| {
                            panic!("a torn or invented frame after incarnation {cur}: {e}")
                        });
                        assert!(
                            inc >= cur && inc <= incarnations,
                            "incarnation {inc} after {cur}"
                        );
                        cur = inc;
                        let c = &seen.count[inc as usize];
                        assert_eq!(
                            u64::from(seq),
                            c.load(Ordering::Relaxed),
                            "frame {seq} of incarnation {inc} out of order"
                        );
                        c.store(u64::from(seq) + 1, Ordering::Release);
                    }
                    Err(RecvFrameTimeoutError::Timeout) => {}
                    Err(RecvFrameTimeoutError::Disconnected) => {
                        if finished.load(Ordering::Acquire) {
                            return;
                        }
                        thread::sleep(Duration::from_millis(1));
                    }
                    Err(RecvFrameTimeoutError::Corrupt(c)) => panic!("{c}"),
                }
            }
        })
    };
    let spawn = |inc: u32, last: u64, rng: &mut Rng| {
        let board_path = dir.path().join(format!("p{inc}"));
        let board = Board::create(&board_path);
        let kid = Kid::spawn(
            "child_frame_producer",
            "frame_producer",
            &[
                ("KEY", ch.key().raw().to_string()),
                ("INC", inc.to_string()),
                ("LAST", last.to_string()),
                ("SEED", rng.next_u64().to_string()),
                path_env("BOARD", &board_path),
            ],
        );
        (kid, board)
    };
    let (mut after_sending, mut mid_frame) = (0, 0);
    for inc in 1..=kills {
        let (mut kid, board) = spawn(inc, 0, &mut rng);
        // One kill in eight lands early (exec, open, connect); the others once the
        // producer is sending, after a random number of frames or time.
        if rng.range(0, 7) != 0 {
            wait_until("the producer connects", || {
                if let Some(st) = kid.exited() {
                    panic!("producer {inc} exited ({st}):\n{}", kid.output());
                }
                board.at(B_STARTED).load(Ordering::Acquire) == 1
            });
            let frames = rng.range(0, 60);
            let until = Instant::now() + Duration::from_micros(rng.range(0, 20_000));
            while board.at(B_COMMITTED).load(Ordering::Acquire) < frames && Instant::now() < until {
                std::hint::spin_loop();
            }
        } else {
            thread::sleep(Duration::from_micros(rng.range(0, 3000)));
        }
        kid.kill();
        let committed = board.at(B_COMMITTED).load(Ordering::Acquire);
        mid_frame += board.at(B_IN_FRAME).load(Ordering::Relaxed);
        // Everything committed arrives (and at most the one frame published just
        // before the kill, whose count the producer had not stored yet).
        wait_until("the consumer receives every committed frame", || {
            seen.count[inc as usize].load(Ordering::Acquire) >= committed
        });
        let got = seen.count[inc as usize].load(Ordering::Acquire);
        assert!(
            got <= committed + 1,
            "incarnation {inc}: {got} received, {committed} committed"
        );
        if committed > 0 {
            after_sending += 1;
        }
    }
    // A last, clean producer: the channel is not wedged, and ends in Disconnected.
    let last = 500;
    let (mut kid, board) = spawn(incarnations, last, &mut rng);
    wait_until("the last producer connects", || {
        board.at(B_STARTED).load(Ordering::Acquire) == 1
    });
    // From now on a Disconnected is the end (this producer exits when done).
    finished.store(true, Ordering::Release);
    kid.wait_ok();
    consumer.join().expect("consumer");
    assert_eq!(
        seen.count[incarnations as usize].load(Ordering::Acquire),
        last
    );
    eprintln!(
        "of {kills} producers, {after_sending} were killed after committing a frame and \
         {mid_frame} while writing one in place"
    );
    if kills >= 100 {
        assert!(mid_frame > 0, "no kill landed inside a frame");
    }
    drop(ch);
    let left: Vec<_> = proc_sysvipc()
        .into_iter()
        .filter(|o| (o.kind == "shm" && o.id == shm_id) || (o.kind == "sem" && o.id == sem_id))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
