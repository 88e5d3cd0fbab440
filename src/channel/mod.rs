//! The user-facing channel, the top layer: [`Builder`], [`Channel`], [`Sender`],
//! [`Receiver`]; and the byte-frame channel ([`FrameBuilder`] and its handles). It uses the transport's setup entry points and endpoints only; every
//! per-message decision (presence, waiting, wake-ups) is the transport's.

mod builder;
mod contract;
mod frames;
mod handle;
mod receiver;
mod sender;
pub mod untyped;

pub use builder::{Builder, DEFAULT_CAPACITY};
pub use contract::{Channel, MsgqChannel, ShmChannel, WrongTransport};
pub use frames::{
    FrameBuilder, FrameChannel, FrameReceiver, FrameSender, FrameWriter, DEFAULT_FRAME_MAX_LEN,
    DEFAULT_FRAME_RING,
};
pub use handle::AnyChannel;
pub use receiver::{IntoIter, Iter, Receiver, TryIter};
pub use sender::Sender;
