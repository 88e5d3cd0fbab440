//! The message-queue transport against the host's real limits:
//!
//! - `Transport::Auto` falls back to the message queue when the kernel refuses a
//!   segment: inside a fresh IPC namespace (`unshare --ipc`; `kernel.shmmax` is per
//!   namespace) with `shmmax` lowered, `Auto` makes a message-queue channel and two
//!   processes in that namespace exchange messages both ways over it;
//! - a `T` above `msgmax` is `MessageTooLarge` at create and at open (the latter
//!   with a channel made while a namespace's `msgmax` was raised, then lowered);
//! - a `T` of exactly `msgmax` bytes is carried, and the queue's byte budget decides
//!   the capacity (`msgmnb / msgmax` = 2 where it cannot be raised).
//!
//! The namespace cases re-execute this test binary under `unshare --ipc` in a role
//! (`child_*` tests, no-ops in a normal run); they are skipped, with the reason
//! printed, where `unshare` is missing or not permitted. Objects made inside a
//! namespace vanish with it, but every case removes them and checks that its
//! namespace is empty at the end.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use support::{env, proc_sysvipc, role, Kid, WATCHDOG};
use sysvring::sys::{Limits, MsgQueue};
use sysvring::{Builder, Error, Flavor, Key, RecvTimeoutError, Transport, TryRecvError};

/// A request or a reply.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message,
)]
#[repr(C)]
struct Ping {
    seq: u64,
    value: u64,
}

impl Ping {
    fn request(seq: u64) -> Ping {
        Ping {
            seq,
            value: seq.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        }
    }

    fn reply(self) -> Ping {
        Ping {
            seq: self.seq,
            value: !self.value,
        }
    }
}

/// 64 KiB: above the default `msgmax` (8192).
#[derive(Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
#[repr(C)]
struct Kib64([[u8; 4096]; 16]);

impl Kib64 {
    fn filled(b: u8) -> Kib64 {
        Kib64([[b; 4096]; 16])
    }
}

impl std::fmt::Debug for Kib64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kib64([{}; 65536])", self.0[0][0])
    }
}

/// Exactly 8192 bytes: the default `msgmax`.
#[derive(Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
#[repr(C)]
struct AtMsgmax([[u8; 4096]; 2]);

impl AtMsgmax {
    /// Every byte differs with `seq` and its position, so a mixed-up message shows.
    fn new(seq: u8) -> AtMsgmax {
        let mut m = AtMsgmax([[0; 4096]; 2]);
        for (i, b) in m.0.iter_mut().flatten().enumerate() {
            *b = (i as u8).wrapping_mul(31) ^ seq;
        }
        m
    }
}

impl std::fmt::Debug for AtMsgmax {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AtMsgmax({:?}..)", &self.0[0][..4])
    }
}

/// One byte more than the default `msgmax`.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
#[repr(C)]
struct OverMsgmax {
    a: [[u8; 4096]; 2],
    b: u8,
}

const DEFAULT_MSGMAX: u64 = 8192;
const DEFAULT_MSGMNB: u64 = 16384;

/// Sets `/proc/sys/kernel/<name>` (of this process's IPC namespace).
fn set_limit(name: &str, value: u64) {
    let path = format!("/proc/sys/kernel/{name}");
    fs::write(&path, value.to_string()).unwrap_or_else(|e| panic!("write {path}: {e}"));
}

/// Every System V object of this process's IPC namespace, one line each.
fn sysvipc_objects() -> Vec<String> {
    proc_sysvipc()
        .iter()
        .map(|o| format!("{}: key {:#x}, id {}", o.kind, o.key, o.id))
        .collect()
}

/// Panics unless this (private) IPC namespace holds no object.
#[track_caller]
fn assert_namespace_empty(when: &str) {
    let left = sysvipc_objects();
    assert!(
        left.is_empty(),
        "{when}: objects in the namespace:\n{left:#?}"
    );
}

/// Runs the child test `test` in `role`, in a fresh IPC namespace (`unshare --ipc`),
/// and fails unless it succeeds. Returns `false` (skipped, reason printed) when
/// `unshare` is missing or not permitted here.
fn run_in_new_ipc_namespace(test: &str, role: &str) -> bool {
    let unshare = if Path::new("/usr/bin/unshare").exists() {
        "/usr/bin/unshare"
    } else {
        "unshare"
    };
    match Command::new(unshare).args(["--ipc", "true"]).output() {
        Err(e) => {
            eprintln!("skipped: cannot run {unshare}: {e}");
            return false;
        }
        Ok(o) if !o.status.success() => {
            let err = String::from_utf8_lossy(&o.stderr);
            if err.contains("Operation not permitted") {
                eprintln!("skipped: {unshare} --ipc is not permitted here (EPERM): {err}");
                return false;
            }
            panic!("{unshare} --ipc true failed with {}: {err}", o.status);
        }
        Ok(_) => {}
    }
    let mut child = Kid::spawn_via(&[unshare, "--ipc", "--"], test, role, &[]);
    let status = child.wait();
    let output = child.output();
    assert!(
        status.success(),
        "{role} in a new IPC namespace failed with {status}:\n{output}"
    );
    println!("{output}");
    true
}

// -------------------------------------------------------------------------------------
// Auto falls back to the message queue
// -------------------------------------------------------------------------------------

/// Keys inside the namespace (which is empty: any key is free).
const REQ_KEY: i32 = 0x6d71_0001;
const REP_KEY: i32 = 0x6d71_0002;
/// Round trips one by one, then in windows of [`WINDOW`].
const ROUND_TRIPS: u64 = 1000;
const WINDOW: u64 = 32;
const WINDOWS: u64 = 50;
/// A `shmmax` below the size of any channel segment.
const TINY_SHMMAX: u64 = 1024;

/// Inside the namespace: lowers `shmmax`, sees the ring refused by the kernel, makes
/// two `Auto` channels (requests SPSC, replies MPMC), which must be message queues,
/// and runs request/reply traffic with a peer process that opens them.
#[test]
fn child_ns_fallback() {
    if role().as_deref() != Some("ns_fallback") {
        return;
    }
    assert_namespace_empty("in the fresh namespace");
    set_limit("shmmax", TINY_SHMMAX);
    assert_eq!(Limits::read().unwrap().shmmax, TINY_SHMMAX);

    // The failure Auto falls back from is real: shmget refuses the segment.
    let r = Builder::<Ping>::new(Key::from_raw(REQ_KEY))
        .capacity(64)
        .transport(Transport::ShmRing)
        .create();
    match r {
        Err(Error::Os(call, ref e)) if e.raw_os_error() == Some(libc::EINVAL) => {
            println!("ShmRing refused as expected: {call}: {e}");
        }
        r => panic!("expected EINVAL from shmget with shmmax {TINY_SHMMAX}, got {r:?}"),
    }
    assert_namespace_empty("after the refused ring");

    let req = Builder::<Ping>::new(Key::from_raw(REQ_KEY))
        .capacity(64)
        .flavor(Flavor::Spsc)
        .create()
        .expect("Auto create (requests)");
    let rep = Builder::<Ping>::new(Key::from_raw(REP_KEY))
        .capacity(64)
        .flavor(Flavor::Mpmc)
        .transport(Transport::Auto)
        .create()
        .expect("Auto create (replies)");
    for ch in [&req, &rep] {
        assert_eq!(ch.transport(), Transport::MessageQueue, "{ch:?}");
        assert!(ch.shm_id().is_none() && ch.msg_id().is_some(), "{ch:?}");
        assert!(ch.is_owner());
    }
    println!("Auto chose {:?}: {req:?} {rep:?}", req.transport());

    let tx = req.sender().unwrap();
    let rx = rep.receiver().unwrap();
    let mut peer = Kid::spawn(
        "child_ns_peer",
        "ns_peer",
        &[
            ("REQ", REQ_KEY.to_string()),
            ("REP", REP_KEY.to_string()),
            ("COUNT", (ROUND_TRIPS + WINDOW * WINDOWS).to_string()),
        ],
    );
    let reply = |seq: u64| match rx.recv_timeout(WATCHDOG) {
        Ok(m) => assert_eq!(m, Ping::request(seq).reply(), "reply {seq}"),
        Err(e) => panic!("reply {seq}: {e:?}\n{}", peer.output()),
    };
    for seq in 0..ROUND_TRIPS {
        tx.send(Ping::request(seq)).expect("send request");
        reply(seq);
    }
    for w in 0..WINDOWS {
        let first = ROUND_TRIPS + w * WINDOW;
        for seq in first..first + WINDOW {
            tx.send(Ping::request(seq)).expect("send request");
        }
        for seq in first..first + WINDOW {
            reply(seq);
        }
    }
    // No more requests: the peer sees Disconnected and leaves, and so do its replies.
    drop(tx);
    peer.wait_ok();
    assert_eq!(
        rx.recv_timeout(WATCHDOG),
        Err(RecvTimeoutError::Disconnected)
    );
    drop(rx);
    drop(req);
    drop(rep);
    assert_namespace_empty("after the channels were dropped");
}

/// The peer, in the same namespace: opens both channels (whatever transport they
/// are), checks they are message queues, and answers every request until the
/// requests are disconnected.
#[test]
fn child_ns_peer() {
    if role().as_deref() != Some("ns_peer") {
        return;
    }
    let count: u64 = env("COUNT");
    assert_eq!(
        Limits::read().unwrap().shmmax,
        TINY_SHMMAX,
        "the peer is not in its parent's IPC namespace"
    );
    let req = Builder::<Ping>::new(Key::from_raw(env("REQ")))
        .open()
        .expect("open requests");
    let rep = Builder::<Ping>::new(Key::from_raw(env("REP")))
        .open()
        .expect("open replies");
    assert_eq!(req.transport(), Transport::MessageQueue);
    assert_eq!(rep.transport(), Transport::MessageQueue);
    assert_eq!((req.flavor(), rep.flavor()), (Flavor::Spsc, Flavor::Mpmc));
    assert!(!req.is_owner() && !rep.is_owner());
    let rx = req.receiver().expect("receiver");
    let tx = rep.sender().expect("sender");
    let mut seq = 0u64;
    loop {
        match rx.recv_timeout(WATCHDOG) {
            Ok(m) => {
                assert_eq!(m, Ping::request(seq), "request {seq}");
                tx.send(m.reply()).expect("send reply");
                seq += 1;
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => panic!("watchdog: request {seq}"),
        }
    }
    assert_eq!(seq, count, "requests answered");
    println!("peer {} answered {seq} requests", std::process::id());
}

#[test]
fn auto_falls_back_to_the_message_queue_when_shmmax_is_too_small() {
    let host_shmmax = Limits::read().unwrap().shmmax;
    if run_in_new_ipc_namespace("child_ns_fallback", "ns_fallback") {
        // The namespace's limit was its own.
        assert_eq!(Limits::read().unwrap().shmmax, host_shmmax);
    }
}

// -------------------------------------------------------------------------------------
// MessageTooLarge at create and at open
// -------------------------------------------------------------------------------------

const BIG_KEY: i32 = 0x6d71_0003;

/// Inside the namespace: a 64 KiB `T` on the message queue is refused at create
/// under the default `msgmax`; made while `msgmax` is raised it works, and once
/// `msgmax` is lowered again an opener is refused.
#[test]
fn child_ns_message_too_large() {
    if role().as_deref() != Some("ns_too_large") {
        return;
    }
    assert_namespace_empty("in the fresh namespace");
    set_limit("msgmax", DEFAULT_MSGMAX);
    let key = Key::from_raw(BIG_KEY);
    let size = std::mem::size_of::<Kib64>();
    match Builder::<Kib64>::new(key)
        .transport(Transport::MessageQueue)
        .create()
    {
        Err(Error::MessageTooLarge { size: s, max }) => {
            assert_eq!((s, max as u64), (size, DEFAULT_MSGMAX))
        }
        r => panic!("expected MessageTooLarge at create, got {r:?}"),
    }
    assert_namespace_empty("after the refused create");
    // Auto makes a ring for it (no shared-memory limit is in the way).
    let ring = Builder::<Kib64>::new(key).capacity(2).create().unwrap();
    assert_eq!(ring.transport(), Transport::ShmRing);
    drop(ring);

    // Raised (and the default byte budget of a new queue with it: raising one
    // queue's budget past msgmnb needs CAP_SYS_RESOURCE, which a container's root
    // may lack): the queue carries 64 KiB messages.
    set_limit("msgmax", size as u64);
    set_limit("msgmnb", 2 * size as u64);
    let ch = Builder::<Kib64>::new(key)
        .capacity(2)
        .transport(Transport::MessageQueue)
        .create()
        .expect("create under a raised msgmax");
    assert_eq!(ch.transport(), Transport::MessageQueue);
    {
        let (tx, rx) = (ch.sender().unwrap(), ch.receiver().unwrap());
        tx.send(Kib64::filled(7)).unwrap();
        assert_eq!(rx.recv_timeout(WATCHDOG), Ok(Kib64::filled(7)));
        let opened = Builder::<Kib64>::new(key).open().expect("open");
        assert_eq!(opened.transport(), Transport::MessageQueue);
    }

    // Lowered again: the channel exists, but this host cannot carry its messages.
    set_limit("msgmax", DEFAULT_MSGMAX);
    match Builder::<Kib64>::new(key).open() {
        Err(Error::MessageTooLarge { size: s, max }) => {
            assert_eq!((s, max as u64), (size, DEFAULT_MSGMAX))
        }
        r => panic!("expected MessageTooLarge at open, got {r:?}"),
    }
    drop(ch);
    assert_namespace_empty("after the channel was dropped");
}

#[test]
fn message_too_large_for_a_64_kib_type_at_create_and_at_open() {
    // On this host too, at create (nothing is made).
    let msgmax = Limits::read().unwrap().msgmax;
    if msgmax < std::mem::size_of::<Kib64>() as u64 {
        let r = Builder::<Kib64>::new(Key::private())
            .transport(Transport::MessageQueue)
            .create();
        assert!(
            matches!(r, Err(Error::MessageTooLarge { size: 65536, max }) if max as u64 == msgmax),
            "{r:?}"
        );
    }
    run_in_new_ipc_namespace("child_ns_message_too_large", "ns_too_large");
}

/// Inside the namespace: `msgmax` raised to 64 KiB but the default byte budget of a
/// queue (`msgmnb`) left at 16 KiB: one 64 KiB message fits no queue whose budget
/// this process cannot raise. `create` must then refuse (`MessageTooLarge`), or
/// else make a channel that really holds `capacity()` messages.
#[test]
fn child_ns_budget_below_one_message() {
    if role().as_deref() != Some("ns_budget") {
        return;
    }
    let size = std::mem::size_of::<Kib64>() as u64;
    set_limit("msgmax", size);
    set_limit("msgmnb", DEFAULT_MSGMNB);
    let r = Builder::<Kib64>::new(Key::from_raw(BIG_KEY))
        .capacity(2)
        .transport(Transport::MessageQueue)
        .create();
    match r {
        Err(Error::MessageTooLarge { size: s, max }) => {
            assert_eq!(s as u64, size);
            assert!((max as u64) < size);
        }
        Ok(ch) => {
            let qbytes = MsgQueue::from_id(ch.msg_id().unwrap())
                .stat()
                .unwrap()
                .qbytes;
            let cap = ch.capacity();
            let (tx, _rx) = (ch.sender().unwrap(), ch.receiver().unwrap());
            for i in 0..cap {
                let r = tx.try_send(Kib64::filled(i as u8));
                assert!(
                    r.is_ok(),
                    "capacity() says {cap}, but message {i} does not fit (queue budget \
                     {qbytes} bytes, message {size} bytes): {:?}",
                    r.map_err(|e| e.is_full())
                );
            }
        }
        Err(e) => panic!("expected MessageTooLarge or a working channel, got {e:?}"),
    }
    assert_namespace_empty("at the end");
}

/// Regression for a queue channel whose byte budget holds no message: it reported
/// capacity 1 and every send waited forever.
#[test]
fn message_queue_whose_budget_holds_no_message_is_refused() {
    run_in_new_ipc_namespace("child_ns_budget_below_one_message", "ns_budget");
}

// -------------------------------------------------------------------------------------
// A T of exactly msgmax
// -------------------------------------------------------------------------------------

/// Whether this host has the default `msgmax`/`msgmnb` these tests are written for.
fn default_limits(what: &str) -> bool {
    let l = Limits::read().unwrap();
    if (l.msgmax, l.msgmnb) != (DEFAULT_MSGMAX, DEFAULT_MSGMNB) {
        eprintln!(
            "skipped {what}: msgmax {} and msgmnb {} here, written for {DEFAULT_MSGMAX} and {DEFAULT_MSGMNB}",
            l.msgmax, l.msgmnb
        );
        return false;
    }
    true
}

/// Fills a fresh message-queue channel of `AtMsgmax` (asked for `asked` slots) to
/// its capacity, checks it is full, drains it and checks every byte; returns the
/// capacity.
fn fill_and_drain_at_msgmax(flavor: Flavor, asked: usize) -> usize {
    let ch = Builder::<AtMsgmax>::new(Key::private())
        .capacity(asked)
        .flavor(flavor)
        .transport(Transport::MessageQueue)
        .create()
        .unwrap_or_else(|e| panic!("{flavor:?}: a T of exactly msgmax: {e}"));
    let qbytes = MsgQueue::from_id(ch.msg_id().unwrap())
        .stat()
        .unwrap()
        .qbytes;
    let cap = ch.capacity();
    // What the byte budget admits (the creator asks for more when it may).
    assert_eq!(
        cap as u64,
        (qbytes / DEFAULT_MSGMAX).min(asked as u64),
        "{flavor:?}: qbytes {qbytes}"
    );
    let (tx, rx) = (ch.sender().unwrap(), ch.receiver().unwrap());
    for lap in 0..3u8 {
        for i in 0..cap as u8 {
            tx.try_send(AtMsgmax::new(lap * 16 + i))
                .unwrap_or_else(|e| panic!("{flavor:?}: send {i} of {cap}: {e:?}"));
        }
        assert!(tx.try_send(AtMsgmax::new(0)).unwrap_err().is_full());
        assert_eq!(tx.len(), cap);
        for i in 0..cap as u8 {
            assert_eq!(rx.try_recv(), Ok(AtMsgmax::new(lap * 16 + i)), "{flavor:?}");
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }
    cap
}

#[test]
fn a_type_of_exactly_msgmax_is_carried_and_one_byte_more_is_too_large() {
    if !default_limits("a_type_of_exactly_msgmax_is_carried") {
        return;
    }
    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
        let cap = fill_and_drain_at_msgmax(flavor, 4);
        assert!(cap >= 2, "{flavor:?}: msgmnb admits two, got {cap}");
    }
    let r = Builder::<OverMsgmax>::new(Key::private())
        .transport(Transport::MessageQueue)
        .create();
    assert!(
        matches!(
            r,
            Err(Error::MessageTooLarge {
                size: 8193,
                max: 8192
            })
        ),
        "{r:?}"
    );
}

/// Child: drops privileges, so the queue's byte budget stays at `msgmnb`.
#[test]
fn child_unprivileged_budget() {
    if role().as_deref() != Some("unprivileged_budget") {
        return;
    }
    // SAFETY: plain syscalls; glibc applies them to every thread of the process.
    unsafe {
        assert_eq!(libc::setgid(65534), 0);
        assert_eq!(libc::setuid(65534), 0);
    }
    unprivileged_budget_case();
}

fn unprivileged_budget_case() {
    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
        let cap = fill_and_drain_at_msgmax(flavor, 8);
        assert_eq!(
            cap as u64,
            DEFAULT_MSGMNB / DEFAULT_MSGMAX,
            "{flavor:?}: capacity of a queue of msgmax-sized messages"
        );
    }
}

/// Without the privilege to raise a queue's byte budget, a channel of `msgmax`-sized
/// messages holds `msgmnb / msgmax` = 2 of them whatever was asked, and says so.
#[test]
fn without_privilege_the_byte_budget_admits_two_msgmax_messages() {
    if !default_limits("without_privilege_the_byte_budget_admits_two") {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        Kid::spawn("child_unprivileged_budget", "unprivileged_budget", &[]).wait_ok();
    } else {
        unprivileged_budget_case();
    }
}
