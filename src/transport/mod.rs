//! Transports: where a channel's messages live and how its sides sleep.
//!
//! - [`shm`]: a ring in a System V shared-memory segment; no syscall per message.
//!
//! Contract every transport meets (checked by the conformance tests in `tests/`):
//! - FIFO per producer; every message is delivered once (see the crash notes of
//!   each transport for the one documented exception);
//! - `try_*` never block; blocking calls sleep without busy-spinning once their spin
//!   budget is spent, and wake within one slice of a peer's death;
//! - `Disconnected` only after a peer of the other side has connected and every such
//!   peer is gone (dropped or killed), and, for receivers, the channel is drained.

pub mod shm;
