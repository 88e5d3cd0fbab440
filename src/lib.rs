//! # sysvring
//!
//! Typed, lock-free channels between processes on one Linux host, built on System V
//! IPC: a ring in a shared-memory segment (SPSC or MPMC), semaphores for sleeping
//! and crash-safe presence (`SEM_UNDO`), and a message-queue transport behind the
//! same API.
//!
//! ```no_run
//! use sysvring::{Builder, Flavor, Key};
//!
//! #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
//! #[repr(C)]
//! struct Tick { seq: u64, price: f64 }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = Key::from_raw(0x7e57_0001);
//! // Producer process: create the channel and send.
//! let ch = Builder::<Tick>::new(key).capacity(4096).flavor(Flavor::Spsc).create()?;
//! let tx = ch.sender()?;
//! for seq in 0..10 {
//!     tx.send(Tick { seq, price: 1.5 })?;
//! }
//! # drop(tx);
//! // Consumer process (same key and T): open and receive until the producer is gone.
//! let rx = Builder::<Tick>::new(key).open()?.receiver()?;
//! for tick in rx.iter() {
//!     println!("{} {}", tick.seq, tick.price);
//! }
//! # Ok(()) }
//! ```
//!
//! ## One contract, both transports
//!
//! [`Builder`] returns an [`AnyChannel`] (the transport chosen at run time); a
//! [`ShmChannel`] or [`MsgqChannel`] has it in its type. All implement the
//! [`Channel`] trait, so code is written once and runs on either, statically
//! dispatched:
//!
//! ```no_run
//! use sysvring::{Builder, Channel, Key, MsgqChannel, ShmChannel, Transport};
//!
//! fn drain<C: Channel<u64>>(ch: &C) -> Result<u64, Box<dyn std::error::Error>> {
//!     let rx = ch.receiver()?;
//!     Ok(rx.try_iter().sum())
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ring: ShmChannel<u64> =
//!     Builder::new(Key::private()).transport(Transport::ShmRing).create()?.try_into()?;
//! let queue: MsgqChannel<u64> =
//!     Builder::new(Key::private()).transport(Transport::MessageQueue).create()?.try_into()?;
//! ring.sender()?.send(1)?;
//! queue.sender()?.send(2)?;
//! assert_eq!(drain(&ring)? + drain(&queue)?, 3);
//! # Ok(()) }
//! ```
//!
//! ## Byte frames
//!
//! A [`FrameChannel`] carries byte frames of `0..=max_len` bytes (serialized data,
//! records of varying length) in a byte ring that stores each frame by its length:
//! [`FrameSender::send_bytes`] or [`FrameSender::reserve`] (written in place, shrunk,
//! then committed), and [`FrameReceiver::recv_with`] (read in place) or
//! [`FrameReceiver::recv_into`]. SPSC, with the same blocking, disconnection and
//! crash rules as the typed SPSC ring; see [`FrameBuilder`].
//!
//! Layers (arrows point down only): `channel` (this API) → `transport` (shm ring |
//! message queue) → `ring` (algorithms on raw memory) → [`sys`] (safe SysV calls);
//! errors and options are leaves every layer uses. `docs/ARCHITECTURE.md` in the
//! repository describes them, file by file.
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod admin;
mod channel;
mod error;
pub mod message;
mod options;
#[doc(hidden)]
pub mod ring;
mod sync;
pub mod sys;
#[doc(hidden)]
pub mod transport;

/// Channels whose element is known only at run time: the C library's way in (see
/// `docs/ARCHITECTURE.md`).
#[doc(hidden)]
pub use channel::untyped;
pub use channel::{
    AnyChannel, Builder, Channel, FrameBuilder, FrameChannel, FrameReceiver, FrameSender,
    FrameWriter, IntoIter, Iter, MsgqChannel, Receiver, Sender, ShmChannel, TryIter,
    WrongTransport, DEFAULT_CAPACITY, DEFAULT_FRAME_MAX_LEN, DEFAULT_FRAME_RING,
};
pub use error::{
    CorruptFrame, Error, FrameTooLarge, RecvError, RecvFrameError, RecvFrameTimeoutError,
    RecvTimeoutError, SendError, SendFrameError, SendFrameTimeoutError, SendTimeoutError,
    TryRecvError, TryRecvFrameError, TrySendError, TrySendFrameError,
};
pub use message::Message;
pub use options::{Flavor, Spin, Stats, Transport};
pub use sys::Key;
/// `#[derive(Message)]`: implements [`Message`] for a `#[repr(C)]` struct of messages.
#[cfg(feature = "derive")]
pub use sysvring_derive::Message;

/// The version of the segment layout this build reads and writes; a channel made by
/// a build with another version is refused with [`Error::VersionMismatch`].
pub const LAYOUT_VERSION: u32 = ring::layout::VERSION;
