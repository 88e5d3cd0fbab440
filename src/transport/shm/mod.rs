//! The shared-memory transport: a ring in a System V segment, a private semaphore set
//! for sleeping and for crash-safe presence and roles.
//!
//! Files: `objects.rs` ([`ShmObjects`]), `sems.rs` (the semaphore indices),
//! `setup.rs` (create, open, `validate`), `wait.rs` (the blocking wait),
//! `recovery.rs` (MPMC claims that block a side) and `liveness.rs` (the claimer-table
//! entry a process holds, held by a `SEM_UNDO` semaphore: kernel-proven death). This file only declares them and re-exports what the rest
//! of the crate uses.

mod liveness;
mod objects;
mod recovery;
mod sems;
mod setup;
mod wait;

pub(crate) use objects::ShmObjects;
pub(crate) use sems::{
    ring_set_size, set_sizes, LIVENESS, RECEIVERS, RECEIVER_ROLE, SENDERS, SENDER_ROLE,
};
pub(crate) use setup::{validate, validate_frames, FrameExpect};
