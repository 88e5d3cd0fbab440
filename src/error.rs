//! Public error types (a leaf module: every layer may use them, none of them is
//! above it): the setup [`Error`] and the std/crossbeam-style per-operation errors. A
//! failed send hands the message back; `Debug` never requires `T: Debug`.

use std::fmt;
use std::io;

use crate::sys::SysError;

/// Why a channel could not be created, opened or connected to.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// `create` found an object at the key already (`IPC_EXCL`).
    AlreadyExists,
    /// `open` found no object at the key.
    NotFound,
    /// The kernel refused the caller access to the object (its mode bits do not
    /// admit this user or group). A channel made by a user this process does not
    /// trust is [`Error::Untrusted`] instead.
    PermissionDenied,
    /// The object at the key was created by a user this process does not trust
    /// (only root, its own effective uid and the uids given to
    /// [`Builder::trust_owner`](crate::Builder::trust_owner) are trusted): another
    /// user may have squatted the key with a valid-looking header. Its `Display`
    /// names the uid and the fix. Converts to an `io::Error` of kind
    /// `PermissionDenied`.
    Untrusted {
        /// The uid that created the object.
        creator_uid: u32,
    },
    /// The object at the key is not a sysvring channel (bad magic, or too small).
    NotSysvring,
    /// The segment has another layout version than this build.
    VersionMismatch {
        /// This build's layout version.
        expected: u32,
        /// The segment's.
        found: u32,
    },
    /// The segment holds another element type (fingerprints differ).
    TypeMismatch {
        /// The fingerprint of this side's `T` (or its explicit override).
        expected: u64,
        /// The channel's.
        found: u64,
        /// The name of this side's `T` (as [`Message::type_name`](crate::Message)).
        expected_name: String,
        /// The type name the channel's creator stored (empty when unknown: a
        /// message-queue channel stores no name).
        found_name: String,
    },
    /// Capacity, flavor, element size/alignment, stride or total size inconsistent
    /// with what this side expects or with the segment's real size.
    LayoutMismatch {
        /// Which field disagrees.
        field: &'static str,
        /// What this side expected (or the largest value allowed).
        expected: u64,
        /// What was found.
        found: u64,
    },
    /// A second sender or receiver on an SPSC channel while the role is held.
    RoleTaken,
    /// `T` does not fit the transport (e.g. above the host's `msgmax`).
    MessageTooLarge {
        /// Size of one message.
        size: usize,
        /// The most the transport carries.
        max: usize,
    },
    /// The creator never finished initialising the segment within the open timeout.
    NotReady,
    /// The channel was removed (`IPC_RMID`, by its owner or `sysvring rm`) before
    /// this handle could connect to it.
    Removed,
    /// An MPMC ring is already used by as many processes as its claimer table has
    /// entries (each process that makes a sender or receiver takes one until it drops
    /// its channel; a killed process's entry is reused once it is proven gone).
    TooManyProcesses {
        /// Processes one MPMC ring admits at a time.
        max: usize,
    },
    /// The host's System V semaphore limits (`kernel.sem`: `SEMMSL` semaphores per
    /// set, `SEMMNS` in all, `SEMMNI` sets) leave no room for the channel's semaphore
    /// set (an MPMC ring needs one semaphore per process it admits, up to 256, plus
    /// 6).
    SemaphoreLimit,
    /// A system call failed: the call's name and the OS error, exactly as the
    /// [`sys`](crate::sys) layer reported them in its [`SysError`] (never renamed on the
    /// way up).
    Os(&'static str, io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AlreadyExists => f.write_str("a channel already exists at this key"),
            Error::NotFound => f.write_str("no channel exists at this key"),
            Error::PermissionDenied => f.write_str(
                "permission denied: the object's mode does not admit this user (its creator \
                 chooses the mode with `Builder::mode`)",
            ),
            Error::Untrusted { creator_uid } => write!(
                f,
                "permission denied: the object at this key was created by uid {creator_uid}, \
                 which this process does not trust (another user may have taken the key); if \
                 uid {creator_uid} is meant to create this channel, open it with \
                 `.trust_owner({creator_uid})`"
            ),
            Error::NotSysvring => f.write_str("the object at this key is not a sysvring channel"),
            Error::VersionMismatch { expected, found } => {
                write!(
                    f,
                    "layout version mismatch: expected {expected}, found {found}"
                )
            }
            Error::TypeMismatch {
                expected,
                found,
                expected_name,
                found_name,
            } => {
                let found_name = if found_name.is_empty() {
                    "a type of unknown name"
                } else {
                    found_name
                };
                write!(
                    f,
                    "element type mismatch: this side sends `{expected_name}` (fingerprint \
                     {expected:#018x}), the channel carries `{found_name}` (fingerprint \
                     {found:#018x}); use one shared definition of the type in both \
                     programs (same name, fields, field types and order), or pin the same \
                     id on both sides with `Builder::fingerprint`"
                )
            }
            Error::LayoutMismatch {
                field,
                expected,
                found,
            } => {
                write!(
                    f,
                    "layout mismatch in {field}: expected {expected}, found {found}"
                )
            }
            Error::RoleTaken => {
                f.write_str("the sender or receiver role of this spsc channel is taken")
            }
            Error::MessageTooLarge { size, max } => {
                write!(
                    f,
                    "message of {size} bytes is larger than the transport's limit of {max}"
                )
            }
            Error::NotReady => f.write_str("the channel's creator did not finish initialising it"),
            Error::Removed => f.write_str("the channel was removed"),
            Error::TooManyProcesses { max } => write!(
                f,
                "{max} processes already use this mpmc channel (its claimer table is \
                 full): close the channel in a process that no longer needs it"
            ),
            Error::SemaphoreLimit => f.write_str(
                "the host's System V semaphore limits leave no room for this channel's \
                 semaphore set: raise them (`sysctl kernel.sem`: SEMMSL per set, SEMMNS in \
                 all, SEMMNI sets) or remove unused channels (`sysvring gc`)",
            ),
            Error::Os(call, e) => write!(f, "{call}: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Os(_, e) => Some(e),
            _ => None,
        }
    }
}

impl Error {
    /// `Os` for a failed call whose errno says nothing about the channel (no
    /// `NotFound`/`PermissionDenied` classification), its call name unchanged.
    pub(crate) fn os(e: SysError) -> Error {
        let call = e.call();
        Error::Os(call, e.into_io_error())
    }
}

impl From<SysError> for Error {
    /// Maps the errno of a failed call to its variant: `ENOENT` is `NotFound`, `EEXIST`
    /// `AlreadyExists`, `EACCES`/`EPERM` `PermissionDenied`, anything else `Os`.
    fn from(e: SysError) -> Error {
        if e.is_not_found() {
            Error::NotFound
        } else if e.is_already_exists() {
            Error::AlreadyExists
        } else if e.is_permission_denied() {
            Error::PermissionDenied
        } else {
            Error::os(e)
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::AlreadyExists => io::ErrorKind::AlreadyExists,
            Error::NotFound => io::ErrorKind::NotFound,
            Error::PermissionDenied | Error::Untrusted { .. } => io::ErrorKind::PermissionDenied,
            Error::Removed => io::ErrorKind::NotConnected,
            Error::Os(_, io) => io.kind(),
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

/// [`Sender::send`](crate::Sender::send) failed: every receiver is gone. Holds the
/// message.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// [`Sender::try_send`](crate::Sender::try_send) failed. Holds the message.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is full.
    Full(T),
    /// Every receiver is gone.
    Disconnected(T),
}

/// [`Sender::send_timeout`](crate::Sender::send_timeout) failed. Holds the message.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SendTimeoutError<T> {
    /// The channel stayed full until the timeout.
    Timeout(T),
    /// Every receiver is gone.
    Disconnected(T),
}

/// [`Receiver::recv`](crate::Receiver::recv) failed: the channel is empty and every
/// sender is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

/// [`Receiver::try_recv`](crate::Receiver::try_recv) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// The channel is empty.
    Empty,
    /// The channel is empty and every sender is gone.
    Disconnected,
}

/// [`Receiver::recv_timeout`](crate::Receiver::recv_timeout) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvTimeoutError {
    /// The channel stayed empty until the timeout.
    Timeout,
    /// The channel is empty and every sender is gone.
    Disconnected,
}

impl<T> SendError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> TrySendError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Disconnected(v) => v,
        }
    }

    /// Whether the channel was full.
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }

    /// Whether every receiver was gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, TrySendError::Disconnected(_))
    }
}

impl<T> SendTimeoutError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendTimeoutError::Timeout(v) | SendTimeoutError::Disconnected(v) => v,
        }
    }

    /// Whether the send timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, SendTimeoutError::Timeout(_))
    }

    /// Whether every receiver was gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, SendTimeoutError::Disconnected(_))
    }
}

impl TryRecvError {
    /// Whether the channel was empty.
    pub fn is_empty(&self) -> bool {
        matches!(self, TryRecvError::Empty)
    }

    /// Whether every sender was gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, TryRecvError::Disconnected)
    }
}

impl RecvTimeoutError {
    /// Whether the receive timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RecvTimeoutError::Timeout)
    }

    /// Whether every sender was gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, RecvTimeoutError::Disconnected)
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Disconnected(_) => f.write_str("Disconnected(..)"),
        }
    }
}

impl<T> fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            SendTimeoutError::Disconnected(_) => f.write_str("Disconnected(..)"),
        }
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a disconnected channel")
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("sending on a full channel"),
            TrySendError::Disconnected(_) => f.write_str("sending on a disconnected channel"),
        }
    }
}

impl<T> fmt::Display for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("timed out waiting on send operation"),
            SendTimeoutError::Disconnected(_) => f.write_str("sending on a disconnected channel"),
        }
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("receiving on an empty and disconnected channel")
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("receiving on an empty channel"),
            TryRecvError::Disconnected => {
                f.write_str("receiving on an empty and disconnected channel")
            }
        }
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out waiting on receive operation"),
            RecvTimeoutError::Disconnected => f.write_str("channel is empty and disconnected"),
        }
    }
}

impl<T> std::error::Error for SendError<T> {}
impl<T> std::error::Error for TrySendError<T> {}
impl<T> std::error::Error for SendTimeoutError<T> {}
impl std::error::Error for RecvError {}
impl std::error::Error for TryRecvError {}
impl std::error::Error for RecvTimeoutError {}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(e: SendError<T>) -> Self {
        TrySendError::Disconnected(e.0)
    }
}

impl<T> From<SendError<T>> for SendTimeoutError<T> {
    fn from(e: SendError<T>) -> Self {
        SendTimeoutError::Disconnected(e.0)
    }
}

impl From<RecvError> for TryRecvError {
    fn from(_: RecvError) -> Self {
        TryRecvError::Disconnected
    }
}

impl From<RecvError> for RecvTimeoutError {
    fn from(_: RecvError) -> Self {
        RecvTimeoutError::Disconnected
    }
}

// ---- byte frames ---------------------------------------------------------------------

/// A record read from a frame channel's ring is not one a producer following the
/// protocol writes (a corrupt or hostile peer wrote into the segment). Nothing is read
/// past it: every later receive reports it again, and the channel is best dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorruptFrame {
    /// The record's position in the ring (bytes since the channel was made).
    pub position: u64,
    /// The record's header word as found.
    pub word: u64,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for CorruptFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "corrupt frame record at byte {} of the ring (header word {:#018x}): {}",
            self.position, self.word, self.reason
        )
    }
}

impl std::error::Error for CorruptFrame {}

/// A frame longer than the channel's `max_len` (which is at most a quarter of its
/// ring): refused before anything is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTooLarge {
    /// The frame's length.
    pub len: usize,
    /// The channel's `max_len`.
    pub max: usize,
}

impl fmt::Display for FrameTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frame of {} bytes is over the channel's max_len of {}",
            self.len, self.max
        )
    }
}

impl std::error::Error for FrameTooLarge {}

/// [`FrameSender::send_bytes`](crate::FrameSender::send_bytes) or
/// [`reserve`](crate::FrameSender::reserve) failed (the frame stays the caller's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFrameError {
    /// The frame is over `max_len`; nothing was written.
    TooLarge(FrameTooLarge),
    /// Every receiver is gone.
    Disconnected,
}

/// [`FrameSender::try_send_bytes`](crate::FrameSender::try_send_bytes) or
/// [`try_reserve`](crate::FrameSender::try_reserve) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrySendFrameError {
    /// The ring has no room for the frame now.
    Full,
    /// The frame is over `max_len`; nothing was written.
    TooLarge(FrameTooLarge),
    /// Every receiver is gone.
    Disconnected,
}

/// [`FrameSender::send_bytes_timeout`](crate::FrameSender::send_bytes_timeout) or
/// [`reserve_timeout`](crate::FrameSender::reserve_timeout) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFrameTimeoutError {
    /// The ring had no room for the frame until the timeout.
    Timeout,
    /// The frame is over `max_len`; nothing was written.
    TooLarge(FrameTooLarge),
    /// Every receiver is gone.
    Disconnected,
}

/// A blocking frame receive failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvFrameError {
    /// The channel is empty and every sender is gone.
    Disconnected,
    /// The next record is corrupt.
    Corrupt(CorruptFrame),
}

/// A non-blocking frame receive failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvFrameError {
    /// The channel is empty.
    Empty,
    /// The channel is empty and every sender is gone.
    Disconnected,
    /// The next record is corrupt.
    Corrupt(CorruptFrame),
}

/// A frame receive with a timeout failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvFrameTimeoutError {
    /// The channel stayed empty until the timeout.
    Timeout,
    /// The channel is empty and every sender is gone.
    Disconnected,
    /// The next record is corrupt.
    Corrupt(CorruptFrame),
}

macro_rules! frame_error_helpers {
    ($ty:ident { $($variant:ident => $is:ident: $doc:literal),* }) => {
        impl $ty {
            $(
                #[doc = $doc]
                pub fn $is(&self) -> bool {
                    matches!(self, $ty::$variant { .. })
                }
            )*
        }
    };
}

frame_error_helpers!(SendFrameError {
    TooLarge => is_too_large: "Whether the frame was over `max_len`.",
    Disconnected => is_disconnected: "Whether every receiver was gone."
});
frame_error_helpers!(TrySendFrameError {
    Full => is_full: "Whether the ring had no room.",
    TooLarge => is_too_large: "Whether the frame was over `max_len`.",
    Disconnected => is_disconnected: "Whether every receiver was gone."
});
frame_error_helpers!(SendFrameTimeoutError {
    Timeout => is_timeout: "Whether the send timed out.",
    TooLarge => is_too_large: "Whether the frame was over `max_len`.",
    Disconnected => is_disconnected: "Whether every receiver was gone."
});
frame_error_helpers!(RecvFrameError {
    Disconnected => is_disconnected: "Whether every sender was gone (and the channel empty).",
    Corrupt => is_corrupt: "Whether the next record was corrupt."
});
frame_error_helpers!(TryRecvFrameError {
    Empty => is_empty: "Whether the channel was empty.",
    Disconnected => is_disconnected: "Whether every sender was gone (and the channel empty).",
    Corrupt => is_corrupt: "Whether the next record was corrupt."
});
frame_error_helpers!(RecvFrameTimeoutError {
    Timeout => is_timeout: "Whether the receive timed out.",
    Disconnected => is_disconnected: "Whether every sender was gone (and the channel empty).",
    Corrupt => is_corrupt: "Whether the next record was corrupt."
});

impl fmt::Display for SendFrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendFrameError::TooLarge(e) => e.fmt(f),
            SendFrameError::Disconnected => f.write_str("sending on a disconnected channel"),
        }
    }
}

impl fmt::Display for TrySendFrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendFrameError::Full => f.write_str("sending on a full channel"),
            TrySendFrameError::TooLarge(e) => e.fmt(f),
            TrySendFrameError::Disconnected => f.write_str("sending on a disconnected channel"),
        }
    }
}

impl fmt::Display for SendFrameTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendFrameTimeoutError::Timeout => f.write_str("timed out waiting on send operation"),
            SendFrameTimeoutError::TooLarge(e) => e.fmt(f),
            SendFrameTimeoutError::Disconnected => f.write_str("sending on a disconnected channel"),
        }
    }
}

impl fmt::Display for RecvFrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvFrameError::Disconnected => {
                f.write_str("receiving on an empty and disconnected channel")
            }
            RecvFrameError::Corrupt(e) => e.fmt(f),
        }
    }
}

impl fmt::Display for TryRecvFrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvFrameError::Empty => f.write_str("receiving on an empty channel"),
            TryRecvFrameError::Disconnected => {
                f.write_str("receiving on an empty and disconnected channel")
            }
            TryRecvFrameError::Corrupt(e) => e.fmt(f),
        }
    }
}

impl fmt::Display for RecvFrameTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvFrameTimeoutError::Timeout => f.write_str("timed out waiting on receive operation"),
            RecvFrameTimeoutError::Disconnected => f.write_str("channel is empty and disconnected"),
            RecvFrameTimeoutError::Corrupt(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SendFrameError {}
impl std::error::Error for TrySendFrameError {}
impl std::error::Error for SendFrameTimeoutError {}
impl std::error::Error for RecvFrameError {}
impl std::error::Error for TryRecvFrameError {}
impl std::error::Error for RecvFrameTimeoutError {}

impl From<SendFrameError> for TrySendFrameError {
    fn from(e: SendFrameError) -> Self {
        match e {
            SendFrameError::TooLarge(t) => TrySendFrameError::TooLarge(t),
            SendFrameError::Disconnected => TrySendFrameError::Disconnected,
        }
    }
}

impl From<SendFrameError> for SendFrameTimeoutError {
    fn from(e: SendFrameError) -> Self {
        match e {
            SendFrameError::TooLarge(t) => SendFrameTimeoutError::TooLarge(t),
            SendFrameError::Disconnected => SendFrameTimeoutError::Disconnected,
        }
    }
}

impl From<RecvFrameError> for TryRecvFrameError {
    fn from(e: RecvFrameError) -> Self {
        match e {
            RecvFrameError::Disconnected => TryRecvFrameError::Disconnected,
            RecvFrameError::Corrupt(c) => TryRecvFrameError::Corrupt(c),
        }
    }
}

impl From<RecvFrameError> for RecvFrameTimeoutError {
    fn from(e: RecvFrameError) -> Self {
        match e {
            RecvFrameError::Disconnected => RecvFrameTimeoutError::Disconnected,
            RecvFrameError::Corrupt(c) => RecvFrameTimeoutError::Corrupt(c),
        }
    }
}

impl From<CorruptFrame> for io::Error {
    fn from(e: CorruptFrame) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}
