//! The message-queue transport: one `msgsnd` of the bytes of `T` per message, in a
//! private System V queue; its companion semaphore set at the channel's key carries
//! the header (magic, version, flavor, element size, fingerprint, queue id) and the
//! crash-safe presence counts and roles (`SEM_UNDO`), exactly as the ring's set does.
//!
//! Used on request (`Transport::MessageQueue`) or when no segment can be made
//! (`Transport::Auto`). Waiting: the queue itself blocks nothing here; a blocked side
//! polls with `IPC_NOWAIT`, spinning for its spin budget and then sleeping with a
//! backoff of 20 µs up to 2 ms between polls (about 0 CPU while idle) and re-reading
//! peer presence every 100 ms, so a killed peer is noticed and no wake-up can be lost.
//! Removing the channel destroys the messages still queued (unlike a segment, a queue
//! is not kept alive by its users).
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

pub(crate) use objects::MsgqObjects;
pub(crate) use sems::{NSEMS, S_RECEIVERS, S_SENDERS};
pub(super) use sems::{S_EVER_RECEIVERS, S_EVER_SENDERS, S_RECEIVER_ROLE, S_SENDER_ROLE};
pub(crate) use setup::read_header;
