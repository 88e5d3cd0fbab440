//! No heap allocation per message (docs/ARCHITECTURE.md section 7: "No serialization and no heap
//! allocation per message"): a counting global allocator wraps `System` and counts the allocations
//! (`alloc`, `alloc_zeroed`, `realloc`) made by threads that switched counting on.
//! After a warm-up, a steady stream of `send`/`recv` (and their `try_`/`_timeout`
//! forms) must allocate nothing, on the ring (both flavours, one thread and across
//! threads) and on the message queue (64-byte messages).
//!
//! The tests of this binary run one at a time ([`serial`]): the counter is global,
//! and only the threads of the running test switch it on.

#[macro_use]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use sysvring::{AnyChannel, Builder, Flavor, Key, Receiver, Sender, Transport, TryRecvError};

/// `System`, counting the allocations of threads whose [`COUNTING`] flag is set.
struct Counting;

/// Allocations made so far by counting threads.
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are counted. Const-initialised, no
    /// destructor: reading it never allocates (nor recurses into the allocator).
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note_alloc() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; counting touches only an
// atomic and a const thread-local.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: the caller's contract is passed on to `System`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Serialises the tests of this binary (the counter is shared by all threads).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts the allocations this thread makes while running `f`.
fn counted<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCS.load(Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, ALLOCS.load(Ordering::SeqCst) - before)
}

/// A 64-byte message carrying its sequence number.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message,
)]
#[repr(C)]
struct Msg64 {
    seq: u64,
    rest: [u64; 7],
}

impl Msg64 {
    fn new(seq: u64) -> Msg64 {
        Msg64 {
            seq,
            rest: [seq.wrapping_mul(0x9e37_79b9_7f4a_7c15); 7],
        }
    }
}

fn channel(t: Transport, flavor: Flavor) -> AnyChannel<Msg64> {
    let ch = Builder::<Msg64>::new(Key::private())
        .capacity(64)
        .flavor(flavor)
        .transport(t)
        .create()
        .unwrap_or_else(|e| panic!("create {t:?} {flavor:?}: {e}"));
    assert_eq!(ch.transport(), t);
    ch
}

/// `n` messages through every sending and receiving call in turn, sender and
/// receiver in this thread; checks every message (the checks allocate nothing).
fn same_thread_rounds(tx: &Sender<Msg64>, rx: &Receiver<Msg64>, n: u64) {
    let mut seq = 0u64;
    for _ in 0..n / 4 {
        tx.send(Msg64::new(seq)).unwrap();
        assert_eq!(rx.recv().unwrap().seq, seq);
        seq += 1;
        tx.try_send(Msg64::new(seq)).unwrap();
        assert_eq!(rx.try_recv().unwrap().seq, seq);
        seq += 1;
        tx.send_timeout(Msg64::new(seq), Duration::from_secs(10))
            .unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap().seq, seq);
        seq += 1;
        tx.send_with(|m| *m = Msg64::new(seq)).unwrap();
        assert_eq!(rx.recv_with(|m| m.seq).unwrap(), seq);
        seq += 1;
    }
}

/// Warm-up, then 100k sends and receives in one thread: zero allocations.
fn same_thread_allocates_nothing(t: Transport, flavor: Flavor, n: u64) {
    let _serial = serial();
    let ch = channel(t, flavor);
    // Connecting is not per message: outside the counted window.
    let (tx, rx) = (ch.sender().unwrap(), ch.receiver().unwrap());
    same_thread_rounds(&tx, &rx, 1000);
    let ((), allocs) = counted(|| same_thread_rounds(&tx, &rx, n));
    assert_eq!(
        allocs, 0,
        "{t:?} {flavor:?}: {allocs} allocations in {n} messages"
    );
}

/// A sender thread and a receiver thread (this one): after a warm-up of 1000
/// messages, 10k more with counting on in both threads: zero allocations.
fn cross_thread_allocates_nothing(t: Transport, flavor: Flavor) {
    const WARM: u64 = 1000;
    const N: u64 = 10_000;
    let _serial = serial();
    let ch = channel(t, flavor);
    let rx = ch.receiver().unwrap();
    let tx = ch.sender().unwrap();
    let barrier = Barrier::new(2);
    let sent_allocs = thread::scope(|s| {
        let barrier = &barrier;
        let sender = s.spawn(move || {
            for seq in 0..WARM {
                tx.send(Msg64::new(seq)).unwrap();
            }
            barrier.wait();
            let ((), allocs) = counted(|| {
                for seq in WARM..WARM + N {
                    tx.send(Msg64::new(seq)).unwrap();
                }
            });
            allocs
        });
        for seq in 0..WARM {
            assert_eq!(rx.recv().unwrap().seq, seq);
        }
        barrier.wait();
        let ((), allocs) = counted(|| {
            for seq in WARM..WARM + N {
                let m = rx.recv().unwrap();
                assert_eq!(m, Msg64::new(seq));
            }
        });
        // Each thread's delta covers its own counting window (and may include the
        // other's allocations): both are 0 only if neither thread allocated.
        allocs.max(sender.join().unwrap())
    });
    assert_eq!(
        sent_allocs, 0,
        "{t:?} {flavor:?}: allocations in {N} cross-thread messages"
    );
}

#[test]
fn ring_spsc_send_recv_allocate_nothing() {
    same_thread_allocates_nothing(Transport::ShmRing, Flavor::Spsc, 100_000);
}

#[test]
fn ring_mpmc_send_recv_allocate_nothing() {
    same_thread_allocates_nothing(Transport::ShmRing, Flavor::Mpmc, 100_000);
}

#[test]
fn ring_spsc_cross_thread_allocates_nothing() {
    cross_thread_allocates_nothing(Transport::ShmRing, Flavor::Spsc);
}

#[test]
fn ring_mpmc_cross_thread_allocates_nothing() {
    cross_thread_allocates_nothing(Transport::ShmRing, Flavor::Mpmc);
}

/// 64-byte messages through the queue (one `msgsnd`/`msgrcv` each, through a stack
/// buffer).
#[test]
fn msgq_send_recv_of_64_byte_messages_allocate_nothing() {
    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
        same_thread_allocates_nothing(Transport::MessageQueue, flavor, 100_000);
    }
}

#[test]
fn msgq_cross_thread_allocates_nothing() {
    for flavor in [Flavor::Spsc, Flavor::Mpmc] {
        cross_thread_allocates_nothing(Transport::MessageQueue, flavor);
    }
}

/// A receiver polling an empty queue (`try_recv`, and what a blocked `recv` does
/// between messages) allocates nothing either, on both transports.
fn try_recv_on_an_empty_channel_allocates_nothing(t: Transport) {
    let _serial = serial();
    let ch = channel(t, Flavor::Spsc);
    let (_tx, rx) = (ch.sender().unwrap(), ch.receiver().unwrap());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    let ((), allocs) = counted(|| {
        for _ in 0..10_000 {
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        }
    });
    assert_eq!(
        allocs, 0,
        "{t:?}: {allocs} allocations in 10000 empty polls"
    );
}

/// A receiver blocked on an empty channel for several sleep slices (100 ms each:
/// the ring sleeps in `semtimedop` and wakes at each slice's timeout; the queue
/// polls) allocates nothing while it waits, on both transports.
fn a_blocked_wait_allocates_nothing(t: Transport) {
    let _serial = serial();
    let ch = channel(t, Flavor::Spsc);
    let (_tx, rx) = (ch.sender().unwrap(), ch.receiver().unwrap());
    let (r, allocs) = counted(|| rx.recv_timeout(Duration::from_millis(350)));
    assert_eq!(r, Err(sysvring::RecvTimeoutError::Timeout), "{t:?}");
    assert_eq!(
        allocs, 0,
        "{t:?}: {allocs} allocations in a 350 ms blocked wait"
    );
}

/// The allocator counts what it should (guards the tests above against a counter
/// that never counts).
#[test]
fn the_counter_counts() {
    let _serial = serial();
    let (v, allocs) = counted(|| std::hint::black_box(vec![1u8; 100]));
    assert_eq!(v.len(), 100);
    assert!(allocs >= 1);
    let (_, other_thread) = counted(|| thread::spawn(|| vec![0u8; 10]).join().unwrap());
    // The spawned thread's own allocations are not counted, only this thread's
    // (spawning allocates here).
    assert!(other_thread >= 1);
}

per_transport!(
    try_recv_on_an_empty_channel_allocates_nothing,
    a_blocked_wait_allocates_nothing,
);

/// Byte frames of mixed lengths through every frame call, sender and receiver in this
/// thread, after a warm-up: the zero-copy path (`reserve`, write, `truncate`,
/// `commit`; `recv_with` in place) and the copies (`send_bytes`, `recv_into` into a
/// buffer that has grown to the longest frame) allocate nothing per frame, also
/// across the ring's wrap (a 16 KiB ring, frames up to 1 KiB).
#[test]
fn frames_zero_copy_and_copies_allocate_nothing() {
    let _serial = serial();
    let ch = sysvring::FrameBuilder::new(Key::private())
        .max_len(1024)
        .capacity_bytes(16 * 1024)
        .create()
        .unwrap();
    let (mut tx, mut rx) = (ch.sender().unwrap(), ch.receiver().unwrap());
    let src = [0x5au8; 1024];
    let mut buf = Vec::with_capacity(1024);
    let mut rounds = |n: usize| {
        for i in 0..n {
            let len = (i * 37) % 1025;
            let mut w = tx.reserve(1024).unwrap();
            w[..len].copy_from_slice(&src[..len]);
            w.truncate(len);
            w.commit();
            assert_eq!(rx.recv_with(|b| b.len()).unwrap(), len);
            tx.try_send_bytes(&src[..len]).unwrap();
            assert_eq!(rx.try_recv_into(&mut buf).unwrap(), len);
            tx.send_bytes_timeout(&src[..len], Duration::from_secs(10))
                .unwrap();
            assert!(rx
                .recv_with_timeout(Duration::from_secs(10), |b| b[..] == src[..len])
                .unwrap());
            tx.send_bytes(&src[..len]).unwrap();
            assert_eq!(rx.recv_into(&mut buf).unwrap(), len);
        }
    };
    rounds(1000);
    let ((), allocs) = counted(|| rounds(20_000));
    assert_eq!(allocs, 0, "{allocs} allocations in 80000 frames");
}
