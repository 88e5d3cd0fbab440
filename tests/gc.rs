//! `sysvring gc` for real: every user of a channel SIGKILLed, creator included, and
//! the command removes everything they left, while foreign objects survive.
//!
//! `gc` is host-wide (it removes every sysvring channel no live process uses), so
//! this is the only test in its binary: cargo runs test binaries one at a time, so
//! no other test of the suite has a channel momentarily abandoned while it runs.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::{env_i32, proc_sysvipc, role, spawn_role, unique_key, wait_until, IpcGuard};
use sysvring::{Builder, Flavor, Key, Transport};

fn sysvring(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sysvring"))
        .args(args)
        .output()
        .expect("run sysvring");
    assert!(
        out.status.success(),
        "sysvring {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ls_entry(key: Key) -> Option<String> {
    let out = sysvring(&["ls", "--json"]);
    let needle = format!("\"key\":\"{key}\"");
    out.split("{\"key\"")
        .map(|o| format!("{{\"key\"{o}"))
        .find(|o| o.contains(&needle))
}

/// Every (kind, id) in /proc/sysvipc.
fn ids() -> BTreeSet<(String, i32)> {
    proc_sysvipc()
        .into_iter()
        .map(|o| (o.kind.to_string(), o.id))
        .collect()
}

/// Child: create (role `creator`) or open (role `user`) the channel, connect a sender
/// and a receiver, send one message, then sleep until killed.
#[test]
fn child_user() {
    let Some(r) = role() else { return };
    let key = Key::from_raw(env_i32("GC_KEY"));
    let t = if env_i32("GC_MSGQ") == 1 {
        Transport::MessageQueue
    } else {
        Transport::ShmRing
    };
    let ch = if r == "creator" {
        Builder::<u64>::new(key)
            .transport(t)
            .flavor(Flavor::Mpmc)
            .create()
            .expect("create")
    } else {
        Builder::<u64>::new(key).open().expect("open")
    };
    let (tx, _rx) = (ch.sender().unwrap(), ch.receiver().unwrap());
    tx.send(1).unwrap();
    println!("ready");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn gc_removes_what_killed_users_left_and_nothing_else() {
    if role().is_some() {
        return;
    }
    // Foreign objects, at keys of their own, one with a sysvring-sized set.
    let mut foreign = IpcGuard::new();
    let fshm = foreign.shm(sysvring::sys::Shm::create(unique_key(), 4096, 0o600).unwrap());
    let fsem = foreign.sem(sysvring::sys::SemSet::create(unique_key(), 25, 0o600).unwrap());
    let fq = foreign.msg(sysvring::sys::MsgQueue::create(unique_key(), 0o600).unwrap());

    for msgq in [0, 1] {
        let before = ids();
        let key = unique_key();
        let env = [
            ("GC_KEY", key.raw().to_string()),
            ("GC_MSGQ", msgq.to_string()),
        ];
        let mut creator = spawn_role("child_user", "creator", &env);
        wait_until("the creator's channel", || ls_entry(key).is_some());
        let mut user = spawn_role("child_user", "user", &env);
        wait_until("two senders and two receivers", || {
            ls_entry(key)
                .is_some_and(|o| o.contains("\"senders\":2") && o.contains("\"receivers\":2"))
        });
        creator.kill();
        user.kill();
        let _ = (creator.wait(), user.wait());
        wait_until("the kernel undid both users", || {
            ls_entry(key)
                .is_some_and(|o| o.contains("\"senders\":0") && o.contains("\"receivers\":0"))
        });
        let o = ls_entry(key).unwrap();
        assert!(
            o.contains("\"creator_alive\":false") && o.contains("\"in_use\":false"),
            "{o}"
        );

        let out = sysvring(&["gc"]);
        assert!(out.contains(&format!("removed {key}")), "gc output: {out}");
        assert!(ls_entry(key).is_none(), "still listed after gc");
        assert!(
            sysvring::sys::Shm::open(key).is_err() && sysvring::sys::SemSet::open(key).is_err()
        );
        let after = ids();
        assert!(
            after.is_subset(&before),
            "gc left {:?}",
            after.difference(&before).collect::<Vec<_>>()
        );
        assert!(
            fshm.stat().is_ok() && fsem.stat().is_ok() && fq.stat().is_ok(),
            "gc touched a foreign object"
        );
    }
}
