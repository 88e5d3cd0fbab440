//! The message-queue transport: one `msgsnd` of the bytes of `T` per message, in a
//! private System V queue; its companion semaphore set at the channel's key carries
//! the header (magic, version, flavor, element size, fingerprint, queue id) and the
//! crash-safe presence counts and roles (`SEM_UNDO`), exactly as the ring's set does.
//!
//! Used on request (`Transport::MessageQueue`) or when no segment can be made
//! (`Transport::Auto`). Waiting: the queue itself blocks nothing here; a blocked side
//! polls with `IPC_NOWAIT`, spinning for its spin budget and then sleeping with a
//! backoff of 20 µs up to 2 ms between polls (about 0 CPU while idle), and looks at
//! peer presence after every failed poll (below), so a killed peer is noticed and no
//! wake-up can be lost. Removing the channel destroys the messages still queued
//! (unlike a segment, a queue is not kept alive by its users).
//!
//! Presence: the live counts are in the kernel only (no shared memory to mirror them
//! in, as the ring does), and reading one is a `semctl`, so it is not read per
//! message. An endpoint trusts the kernel's last "alive" answer for 10 ms
//! (`link::PRESENCE_CHECK`) and asks again sooner when an endpoint of the other side
//! was dropped in this process ([`departed`]) or a non-blocking call fails (queue
//! full or empty: that was a syscall already, and a clean disconnect in another
//! process is then seen at once). So a send is one `msgsnd` and a read of the coarse
//! clock, a receive one `msgrcv`. A peer killed or dropped in another process is seen
//! within 10 ms plus a tick of that clock (1 to 10 ms), and one poll's nap (at most
//! 2 ms) while blocked, by a side that keeps sending or waiting: well inside the
//! 200 ms the crate promises. A sender may put a few messages into the queue
//! meanwhile; a receiver that connects later gets them.
//!
//! Crashes: a producer killed in `msgsnd` either sent the whole message or nothing
//! (the kernel copies it atomically). A consumer killed right after `msgrcv` returned
//! loses that one message: the kernel already took it off the queue, so this
//! transport is at-most-once for it, where the ring is at-least-once.
//!
//! Files: `objects.rs` ([`MsgqObjects`]), `sems.rs` (the indices of the companion
//! set), `setup.rs` (the header in the set, create, open, [`read_header`]) and
//! `wait.rs` (the polling wait). This file only declares them and re-exports what the
//! rest of the crate uses.

mod objects;
mod sems;
mod setup;
mod wait;

pub(crate) use objects::{departed, MsgqObjects};
pub(crate) use sems::{NSEMS, S_RECEIVERS, S_SENDERS};
pub(super) use sems::{S_EVER_RECEIVERS, S_EVER_SENDERS, S_RECEIVER_ROLE, S_SENDER_ROLE};
pub(crate) use setup::read_header;
