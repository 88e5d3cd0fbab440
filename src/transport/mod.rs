//! Transports: where a channel's messages live and how its sides sleep.
//!
//! - `shm`: a ring in a System V shared-memory segment; no syscall per message.
//! - `msgq`: a System V message queue; one `msgsnd`/`msgrcv` per message.
//!
//! This layer sits below the public facade (the `channel` module) and never imports it.
//! What the facade sees of it:
//! - setup: `Objects::create` and `Objects::open` (an `Expected` says what an opener
//!   requires), then the channel-wide queries on `Objects`;
//! - one endpoint per side, `SendEnd` and `RecvEnd`: an enum with one variant per
//!   ring algorithm and one for the queue, each carrying what its fast path reads, so
//!   an operation is one `match` (never `dyn`); presence, the fork check and waiting
//!   are the endpoint's business, and blocking calls end in a `WaitError`;
//! - `inspect`: read-only inspection, shared by `Channel::stats` and `admin`.
//!
//! Files (this one only declares; arrows between them point one way):
//! `frames.rs` (the byte-frame channel's objects and endpoints, on the ring's
//! `RingEnd` or the queue's `QueueEnd`), `terms.rs` (the vocabulary: `Side`, `Deadline`, `WaitError`, `TryError`, `SLICE`),
//! `presence.rs` (`SEM_UNDO` registration), `setup.rs` (`Expected`, `TypeTag`,
//! `Ownership`, `open_or_create`), `objects.rs` (`Objects`: one channel's kernel objects
//! as this process holds them), `endpoint.rs` (the per-side dispatch), `link.rs` (each
//! transport's endpoint: presence, fork check, waking, waiting), `exclusive.rs` (the
//! SPSC side's biased lock), `payload.rs` (what an operation moves: a typed value or
//! bytes, so typed and C callers run the same operations), `inspect.rs` (read-only).
//!
//! Contract every transport meets (checked by the conformance tests in `tests/`):
//! - FIFO per producer; every message is delivered once (see each transport's crash
//!   notes for the one documented exception);
//! - `try_*` never block; blocking calls stop burning CPU once their spin budget is
//!   spent, and notice a killed peer within one slice (100 ms);
//! - `Disconnected` only after a peer of the other side has connected and every such
//!   peer is gone (dropped or killed), and, for receivers, the channel is drained;
//! - a wrong element type is refused at `open` (`TypeMismatch`/`LayoutMismatch`).

mod endpoint;
mod exclusive;
mod frames;
pub(crate) mod inspect;
mod link;
pub(crate) mod msgq;
mod objects;
mod payload;
mod presence;
mod setup;
pub(crate) mod shm;
mod terms;

pub(crate) use endpoint::{RecvEnd, SendEnd};
pub(crate) use frames::{
    FrameGrant, FrameObjects, FrameOpen, FrameRecvEnd, FrameSendEnd, Peeked, QueueShape,
};
pub(crate) use objects::Objects;
pub(crate) use payload::{Bytes, BytesOut, Heap};
pub use setup::TypeTag;
pub(crate) use setup::{open_or_create, Expected};
pub(crate) use shm::FrameExpect;
pub use terms::{Deadline, Side, TryError, WaitError};
