//! The semaphores of a ring channel's private set (index: use):
//! - [`ITEMS`] (0), [`SPACE`] (1): wake-ups for sleeping receivers/senders. Never
//!   `SEM_UNDO` (the kernel would undo the posts of an exiting process).
//! - [`SENDERS`] (2), [`RECEIVERS`] (3): live counts, changed with `SEM_UNDO` so the
//!   kernel subtracts a killed process.
//! - [`SENDER_ROLE`] (4), [`RECEIVER_ROLE`] (5): SPSC exclusive roles, initialised to
//!   1, taken with `-1 | IPC_NOWAIT | SEM_UNDO` so a killed holder's role comes back.
//! - MPMC only, from [`LIVENESS`] (6) on: one liveness semaphore per claimer-table
//!   entry, raised 0 → 1 with `SEM_UNDO` by the entry's holder (see `liveness.rs`).
//!   Never `SETVAL`/`SETALL` after creation (that would wipe the holders' undo values).

use std::ops::RangeInclusive;

use crate::options::Flavor;
use crate::ring::layout::CLAIMERS;

pub(crate) const ITEMS: u16 = 0;
pub(crate) const SPACE: u16 = 1;
pub(crate) const SENDERS: u16 = 2;
pub(crate) const RECEIVERS: u16 = 3;
pub(crate) const SENDER_ROLE: u16 = 4;
pub(crate) const RECEIVER_ROLE: u16 = 5;
/// The fixed semaphores (an SPSC set has exactly these).
pub(crate) const NSEMS: u16 = 6;
/// The first liveness semaphore of an MPMC set (claimer tag 1).
pub(crate) const LIVENESS: u16 = NSEMS;

/// The sizes a ring channel's set of flavor `kind` may have: SPSC the fixed
/// semaphores; MPMC those and 1..=`CLAIMERS` liveness ones (fewer than 256 on a host
/// whose `SEMMSL` is smaller).
pub(crate) fn set_sizes(kind: Flavor) -> RangeInclusive<u16> {
    match kind {
        Flavor::Spsc => NSEMS..=NSEMS,
        Flavor::Mpmc => LIVENESS + 1..=LIVENESS + CLAIMERS as u16,
    }
}

/// Whether `n` semaphores is the size of some ring channel's set.
pub(crate) fn ring_set_size(n: u16) -> bool {
    set_sizes(Flavor::Spsc).contains(&n) || set_sizes(Flavor::Mpmc).contains(&n)
}
