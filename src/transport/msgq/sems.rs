//! The semaphores of a message-queue channel's companion set (at the channel's key):
//! the header, encoded in 15-bit words (magic, version, flavor, state, fingerprint,
//! element size, queue id, capacity, creator pid), and the crash-safe presence counts
//! and roles (`SEM_UNDO`), as in the ring's set, and [`S_HOLDERS`]: the processes that
//! hold the channel open (`SEM_UNDO`), the queue's kernel-held counterpart of a
//! segment's attach count.

pub(super) const S_MAGIC_A: usize = 0;
pub(super) const S_MAGIC_B: usize = 1;
pub(super) const S_VERSION: usize = 2;
pub(super) const S_KIND: usize = 3;
pub(super) const S_STATE: usize = 4;
pub(super) const S_FP: usize = 5; // 5 x 15 bits
pub(super) const S_SIZE: usize = 10; // 2 x 15 bits
pub(super) const S_QID: usize = 12; // 3 x 15 bits
pub(crate) const S_SENDERS: u16 = 15;
pub(crate) const S_RECEIVERS: u16 = 16;
pub(in crate::transport) const S_SENDER_ROLE: u16 = 17;
pub(in crate::transport) const S_RECEIVER_ROLE: u16 = 18;
pub(in crate::transport) const S_EVER_SENDERS: u16 = 19;
pub(in crate::transport) const S_EVER_RECEIVERS: u16 = 20;
pub(super) const S_CAP: usize = 21; // 2 x 15 bits
pub(super) const S_PID: usize = 23; // 2 x 15 bits
/// Processes holding the channel open, each +1 with `SEM_UNDO` (so a killed one is
/// subtracted by the kernel, in any PID namespace).
pub(crate) const S_HOLDERS: u16 = 25;
pub(crate) const NSEMS: u16 = 26;
/// The size of a set of layout version 3 (before [`S_HOLDERS`]): recognised only to
/// report the version mismatch.
pub(super) const NSEMS_V3: u16 = 25;
