//! Atomics used in shared memory, switched to loom's under `cfg(loom)` so the ring
//! algorithms can be model-checked on heap memory.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// Atomics for a handle's process-local *hints* (an MPMC handle's position cursors),
/// never in shared memory: always the real ones, also under `cfg(loom)`. Any value of
/// a hint is safe (every claim it suggests is checked by a CAS on a shared stamp), so
/// loom need not explore its interleavings; in the loom models each handle is used by
/// one thread, where a hint always reads that thread's own last write.
pub(crate) use std::sync::atomic::{AtomicBool as HintBool, AtomicU64 as HintU64};
