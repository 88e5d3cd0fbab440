//! Handles shaped like crossbeam's: `Sender`/`Receiver` are `Send + Sync` and `Clone`
//! (clones share the process's registration), `Receiver` has an owned iterator,
//! `same_channel`, `Channel::is_full`; exact capacity; `Builder::open_or_create`
//! resolving a start-up race between processes.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use support::{create_unique, env, exit_child, key, role, Kid};
use sysvring::{
    Builder, Error, Flavor, Key, Receiver, RecvTimeoutError, Sender, Transport, TryRecvError,
    TrySendError,
};

const TAG: u8 = 0x38;

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn handles_are_send_and_sync() {
    assert_send_sync::<Sender<u64>>();
    assert_send_sync::<Receiver<u64>>();
    assert_send_sync::<sysvring::AnyChannel<u64>>();
}

/// MPMC: four threads send through clones of one sender, two threads receive through
/// clones of one receiver; every message arrives exactly once; dropping the last
/// sender clone disconnects the receivers.
fn cloned_mpmc(transport: Transport) {
    const PER: u64 = 20_000;
    let ch = create_unique::<u64>(TAG, |b| {
        b.capacity(64).flavor(Flavor::Mpmc).transport(transport)
    });
    let tx = ch.sender().unwrap();
    let rx = ch.receiver().unwrap();
    let receivers: Vec<_> = (0..2)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    match rx.recv_timeout(Duration::from_secs(30)) {
                        Ok(v) => got.push(v),
                        Err(RecvTimeoutError::Disconnected) => return got,
                        Err(RecvTimeoutError::Timeout) => panic!("stuck"),
                    }
                }
            })
        })
        .collect();
    drop(rx);
    let senders: Vec<_> = (0..4u64)
        .map(|id| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..PER {
                    tx.send(id << 32 | i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for s in senders {
        s.join().unwrap();
    }
    let mut all = HashSet::new();
    for r in receivers {
        let got = r.join().unwrap();
        // Per-producer order within each receiver.
        let mut last = [None; 4];
        for &v in &got {
            let (id, i) = ((v >> 32) as usize, v & 0xffff_ffff);
            assert!(
                last[id].map_or(true, |l| l < i),
                "{transport:?}: out of order"
            );
            last[id] = Some(i);
            assert!(all.insert(v), "{transport:?}: {v:#x} twice");
        }
    }
    assert_eq!(all.len() as u64, 4 * PER, "{transport:?}");
}

#[test]
fn cloned_mpmc_senders_and_receivers_deliver_exactly_once_ring() {
    cloned_mpmc(Transport::ShmRing);
}

#[test]
fn cloned_mpmc_senders_and_receivers_deliver_exactly_once_msgq() {
    cloned_mpmc(Transport::MessageQueue);
}

/// SPSC: threads share one `&Sender` (Sync): their calls are serialized, nothing is
/// lost or duplicated, each thread's messages keep their order.
#[test]
fn threads_share_one_spsc_sender() {
    const PER: u64 = 20_000;
    let ch = create_unique::<u64>(TAG, |b| {
        b.capacity(16)
            .flavor(Flavor::Spsc)
            .transport(Transport::ShmRing)
    });
    let tx = Arc::new(ch.sender().unwrap());
    let rx = ch.receiver().unwrap();
    // A second sender handle in this process is still refused: the role is exclusive.
    assert!(matches!(ch.sender(), Err(Error::RoleTaken)));
    let start = Arc::new(Barrier::new(3));
    let workers: Vec<_> = (0..3u64)
        .map(|id| {
            let (tx, start) = (tx.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for i in 0..PER {
                    if i % 2 == 0 {
                        tx.send(id << 32 | i).unwrap();
                    } else {
                        tx.send_with(|m| *m = id << 32 | i).unwrap();
                    }
                }
            })
        })
        .collect();
    let mut last = [None; 3];
    for _ in 0..3 * PER {
        let v = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        let (id, i) = ((v >> 32) as usize, v & 0xffff_ffff);
        assert!(
            last[id].map_or(true, |l| l + 1 == i),
            "thread {id}: {i} after {last:?}"
        );
        last[id] = Some(i);
    }
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn owned_iterator_same_channel_and_is_full() {
    let ch = create_unique::<u32>(TAG, |b| {
        b.capacity(3)
            .flavor(Flavor::Mpmc)
            .transport(Transport::ShmRing)
    });
    let other = create_unique::<u32>(TAG, |b| b.capacity(3).flavor(Flavor::Mpmc));
    let tx = ch.sender().unwrap();
    let tx2 = ch.sender().unwrap();
    let reopened = Builder::<u32>::new(ch.key()).open().unwrap();
    let tx3 = reopened.sender().unwrap();
    assert!(tx.same_channel(&tx.clone()));
    assert!(tx.same_channel(&tx2));
    assert!(tx.same_channel(&tx3));
    assert!(!tx.same_channel(&other.sender().unwrap()));
    assert_eq!(ch.capacity(), 3);
    for i in 0..3 {
        assert!(!ch.is_full());
        tx.try_send(i).unwrap();
        assert!(ch.len() <= ch.capacity());
    }
    assert!(ch.is_full() && tx.is_full());
    assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
    let rx = ch.receiver().unwrap();
    assert!(rx.same_channel(&rx.clone()));
    drop((tx, tx2, tx3));
    // The owned iterator ends at disconnection.
    let got: Vec<u32> = rx.into_iter().collect();
    assert_eq!(got, vec![0, 1, 2]);
}

/// MPMC `capacity(1)` holds exactly one message.
#[test]
fn mpmc_capacity_one_holds_one() {
    for t in [Transport::ShmRing, Transport::MessageQueue] {
        let ch = create_unique::<u64>(TAG, |b| b.capacity(1).flavor(Flavor::Mpmc).transport(t));
        let tx = ch.sender().unwrap();
        let _rx = ch.receiver().unwrap();
        assert_eq!(ch.capacity(), 1, "{t:?}");
        tx.try_send(1).unwrap();
        assert!(
            matches!(tx.try_send(2), Err(TrySendError::Full(2))),
            "{t:?}"
        );
        assert_eq!(ch.len(), 1, "{t:?}");
    }
}

/// Child: `open_or_create` at `KEY` once the parent says go (a file appears); exits
/// 10 when it created, 11 when it opened, 1 on any error.
#[test]
fn child_starter() {
    if role().as_deref() != Some("starter") {
        return;
    }
    let key = Key::from_raw(env::<i32>("KEY"));
    let go: String = env("GO");
    while !std::path::Path::new(&go).exists() {
        std::hint::spin_loop();
    }
    match Builder::<u64>::new(key)
        .capacity(8)
        .flavor(Flavor::Mpmc)
        .transport(Transport::ShmRing)
        .open_or_create()
    {
        Ok(ch) => {
            let created = ch.is_owner();
            // Stay until the parent has seen both (the creator's drop removes it).
            let done: String = env("DONE");
            while !std::path::Path::new(&done).exists() {
                thread::sleep(Duration::from_millis(1));
            }
            exit_child(if created { 10 } else { 11 })
        }
        Err(e) => {
            eprintln!("open_or_create: {e}");
            exit_child(1)
        }
    }
}

/// Two processes call `open_or_create` at the same moment, many times: one creates,
/// the other opens, never an error.
#[test]
fn open_or_create_from_two_processes_at_once() {
    if role().is_some() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("sysvring-ooc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    struct Rm(std::path::PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _rm = Rm(dir.clone());
    for round in 0..20 {
        let k = key(TAG);
        let mut guard = support::Guard::new();
        guard.listed_at(k);
        let go = dir.join(format!("go-{round}"));
        let done = dir.join(format!("done-{round}"));
        let envs = [
            ("KEY", k.raw().to_string()),
            ("GO", go.to_str().unwrap().to_string()),
            ("DONE", done.to_str().unwrap().to_string()),
        ];
        let mut kids: Vec<Kid> = (0..2)
            .map(|_| Kid::spawn("child_starter", "starter", &envs))
            .collect();
        std::fs::write(&go, b"").unwrap();
        // Both are inside their channel by the time the channel has two attachments.
        support::wait_until("both started", || {
            kids.iter_mut().any(|k| k.exited().is_some())
                || sysvring::admin::list()
                    .unwrap_or_default()
                    .iter()
                    .any(|i| i.key == k && i.attached >= 2)
        });
        std::fs::write(&done, b"").unwrap();
        let mut codes: Vec<i32> = kids
            .iter_mut()
            .map(|k| k.wait().code().unwrap_or(-1))
            .collect();
        codes.sort_unstable();
        assert_eq!(
            codes,
            vec![10, 11],
            "round {round}: one creator and one opener:\n{}\n{}",
            kids[0].output(),
            kids[1].output()
        );
    }
}
