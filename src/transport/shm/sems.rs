//! The semaphores of a ring channel's private set (index: use):
//! - [`ITEMS`] (0), [`SPACE`] (1): wake-ups for sleeping receivers/senders. Never
//!   `SEM_UNDO` (the kernel would undo the posts of an exiting process).
//! - [`SENDERS`] (2), [`RECEIVERS`] (3): live counts, changed with `SEM_UNDO` so the
//!   kernel subtracts a killed process.
//! - [`SENDER_ROLE`] (4), [`RECEIVER_ROLE`] (5): SPSC exclusive roles, initialised to
//!   1, taken with `-1 | IPC_NOWAIT | SEM_UNDO` so a killed holder's role comes back.

pub(crate) const ITEMS: u16 = 0;
pub(crate) const SPACE: u16 = 1;
pub(crate) const SENDERS: u16 = 2;
pub(crate) const RECEIVERS: u16 = 3;
pub(crate) const SENDER_ROLE: u16 = 4;
pub(crate) const RECEIVER_ROLE: u16 = 5;
pub(crate) const NSEMS: u16 = 6;
