//! [`Channel`]: the contract every transport's channel fulfils, and the channel types
//! of each transport ([`ShmChannel`], [`MsgqChannel`]) beside the run-time choice
//! ([`AnyChannel`]).

use std::ops::Deref;

use super::{AnyChannel, Receiver, Sender};
use crate::error::Error;
use crate::message::Message;
use crate::options::{Flavor, Stats, Transport};
use crate::sys::Key;

/// What every channel of `T` offers, whichever transport is behind it: code written
/// once against this trait runs over the shared-memory ring ([`ShmChannel`]), the
/// message queue ([`MsgqChannel`]) and the run-time choice ([`AnyChannel`], what
/// [`Builder::create`](crate::Builder::create) returns).
///
/// Every method is statically dispatched (no `dyn`), and the [`Sender`] and
/// [`Receiver`] it makes are the same types on every transport, so a generic function
/// costs nothing per message.
///
/// ```no_run
/// use sysvring::{Builder, Channel, Key, MsgqChannel, ShmChannel, Transport};
///
/// /// Sends 0..n and returns how many messages are waiting (any transport).
/// fn produce<C: Channel<u64>>(ch: &C, n: u64) -> Result<usize, Box<dyn std::error::Error>> {
///     let tx = ch.sender()?;
///     for i in 0..n {
///         tx.send(i)?;
///     }
///     Ok(ch.len())
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ring: ShmChannel<u64> = Builder::new(Key::private())
///     .transport(Transport::ShmRing)
///     .create()?
///     .try_into()?;
/// let queue: MsgqChannel<u64> = Builder::new(Key::private())
///     .transport(Transport::MessageQueue)
///     .create()?
///     .try_into()?;
/// assert_eq!(produce(&ring, 10)?, 10);
/// assert_eq!(produce(&queue, 10)?, 10);
/// # Ok(()) }
/// ```
pub trait Channel<T: Message> {
    /// Connects a sender in this process.
    ///
    /// # Errors
    /// `RoleTaken` when an SPSC channel already has a live sender; `Removed` when the
    /// channel was removed; `TooManyProcesses`; `Os` when a call fails.
    fn sender(&self) -> Result<Sender<T>, Error>;

    /// Connects a receiver in this process.
    ///
    /// # Errors
    /// As [`sender`](Channel::sender), for the receiving role.
    fn receiver(&self) -> Result<Receiver<T>, Error>;

    /// The transport in use (never `Auto`).
    fn transport(&self) -> Transport;

    /// The flavor of the channel.
    fn flavor(&self) -> Flavor;

    /// The key the channel lives at.
    fn key(&self) -> Key;

    /// Messages the channel holds at most (`len() <= capacity()` always).
    fn capacity(&self) -> usize;

    /// Messages in the channel now.
    fn len(&self) -> usize;

    /// Whether the channel is empty now.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the channel is full now (`len() == capacity()`).
    fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    /// The counters of the channel, shared by every process using it.
    fn stats(&self) -> Stats;

    /// Keeps the kernel objects after this process drops its handles.
    fn keep(&self);

    /// Removes the channel now (`IPC_RMID`); peers drain it, then see `Disconnected`.
    ///
    /// # Errors
    /// `PermissionDenied` unless the caller owns or created the objects.
    fn remove(&self) -> Result<(), Error>;
}

impl<T: Message> Channel<T> for AnyChannel<T> {
    #[inline]
    fn sender(&self) -> Result<Sender<T>, Error> {
        AnyChannel::sender(self)
    }
    #[inline]
    fn receiver(&self) -> Result<Receiver<T>, Error> {
        AnyChannel::receiver(self)
    }
    fn transport(&self) -> Transport {
        AnyChannel::transport(self)
    }
    fn flavor(&self) -> Flavor {
        AnyChannel::flavor(self)
    }
    fn key(&self) -> Key {
        AnyChannel::key(self)
    }
    fn capacity(&self) -> usize {
        AnyChannel::capacity(self)
    }
    fn len(&self) -> usize {
        AnyChannel::len(self)
    }
    fn stats(&self) -> Stats {
        AnyChannel::stats(self)
    }
    fn keep(&self) {
        AnyChannel::keep(self)
    }
    fn remove(&self) -> Result<(), Error> {
        AnyChannel::remove(self)
    }
}

/// A channel whose transport is known at compile time: the same handle as
/// [`AnyChannel`] (its methods are reachable through `Deref`), checked once when it
/// is made from one.
macro_rules! transport_channel {
    ($(#[$doc:meta])* $name:ident, $transport:path) => {
        $(#[$doc])*
        pub struct $name<T>(AnyChannel<T>);

        impl<T> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.0).finish()
            }
        }

        impl<T> $name<T> {
            /// The run-time-typed handle this one wraps.
            pub fn into_inner(self) -> AnyChannel<T> {
                self.0
            }
        }

        impl<T> Deref for $name<T> {
            type Target = AnyChannel<T>;
            fn deref(&self) -> &AnyChannel<T> {
                &self.0
            }
        }

        impl<T> TryFrom<AnyChannel<T>> for $name<T> {
            type Error = WrongTransport<T>;
            /// The channel as this transport's type; the channel back (in the error)
            /// when it uses the other transport.
            fn try_from(ch: AnyChannel<T>) -> Result<Self, WrongTransport<T>> {
                if ch.transport() == $transport {
                    Ok($name(ch))
                } else {
                    Err(WrongTransport {
                        expected: $transport,
                        channel: ch,
                    })
                }
            }
        }

        impl<T: Message> Channel<T> for $name<T> {
            #[inline]
            fn sender(&self) -> Result<Sender<T>, Error> {
                self.0.sender()
            }
            #[inline]
            fn receiver(&self) -> Result<Receiver<T>, Error> {
                self.0.receiver()
            }
            fn transport(&self) -> Transport {
                $transport
            }
            fn flavor(&self) -> Flavor {
                self.0.flavor()
            }
            fn key(&self) -> Key {
                self.0.key()
            }
            fn capacity(&self) -> usize {
                self.0.capacity()
            }
            fn len(&self) -> usize {
                self.0.len()
            }
            fn stats(&self) -> Stats {
                self.0.stats()
            }
            fn keep(&self) {
                self.0.keep()
            }
            fn remove(&self) -> Result<(), Error> {
                self.0.remove()
            }
        }
    };
}

transport_channel!(
    /// A channel over the shared-memory ring (`Transport::ShmRing`): made from an
    /// [`AnyChannel`] with `try_into()`.
    ShmChannel,
    Transport::ShmRing
);
transport_channel!(
    /// A channel over the System V message queue (`Transport::MessageQueue`): made
    /// from an [`AnyChannel`] with `try_into()`.
    MsgqChannel,
    Transport::MessageQueue
);

/// The channel handed to `ShmChannel::try_from`/`MsgqChannel::try_from` uses the
/// other transport; the channel is given back.
pub struct WrongTransport<T> {
    /// The transport that was asked for.
    pub expected: Transport,
    /// The channel, unchanged.
    pub channel: AnyChannel<T>,
}

impl<T> std::fmt::Debug for WrongTransport<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrongTransport")
            .field("expected", &self.expected)
            .field("found", &self.channel.transport())
            .finish()
    }
}

impl<T> std::fmt::Display for WrongTransport<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the channel uses the {:?} transport, not {:?}: create it with \
             Builder::transport({:?}), or keep it as an AnyChannel",
            self.channel.transport(),
            self.expected,
            self.expected
        )
    }
}

impl<T> std::error::Error for WrongTransport<T> {}
