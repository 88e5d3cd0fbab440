//! The claimer-table entry a process holds in one channel (see `recovery.rs`, which
//! takes and gives it back, and `ring::claimers`).

use crate::ring::claimers::ClaimerId;

/// The claimer-table entry a process holds in one channel, and the fork generation it
/// was taken in (a forked child is another process and takes its own).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Registration {
    pub(super) tag: u16,
    pub(super) me: ClaimerId,
    pub(super) fork_gen: u64,
}
