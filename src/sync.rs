//! Atomics used in shared memory, switched to loom's under `cfg(loom)` so the ring
//! algorithms can be model-checked on heap memory.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
