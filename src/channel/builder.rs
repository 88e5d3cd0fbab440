//! [`Builder`]: configures, then creates or opens, a channel.

use std::fmt;
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::time::Duration;

use super::untyped::{Spec, TypeTag};
use super::AnyChannel;
use crate::error::Error;
use crate::message::Message;
use crate::options::{Flavor, Spin, Transport};
use crate::sys::Key;

/// Configures and then creates or opens a channel of `T` at a key.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use sysvring::{Builder, Flavor, Key};
/// let ch = Builder::<u64>::new(Key::from_raw(0x5eed))
///     .capacity(1024)
///     .flavor(Flavor::Mpmc)
///     .create()?;
/// let tx = ch.sender()?;
/// tx.send(42)?;
/// # Ok(()) }
/// ```
pub struct Builder<T> {
    key: Key,
    capacity: Option<usize>,
    flavor: Option<Flavor>,
    transport: Transport,
    mode: u32,
    fingerprint: Option<u64>,
    spin: Spin,
    open_timeout: Duration,
    trusted: Vec<u32>,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Builder<T> {
    fn clone(&self) -> Self {
        Builder {
            key: self.key,
            capacity: self.capacity,
            flavor: self.flavor,
            transport: self.transport,
            mode: self.mode,
            fingerprint: self.fingerprint,
            spin: self.spin,
            open_timeout: self.open_timeout,
            trusted: self.trusted.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Builder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("key", &self.key)
            .field("capacity", &self.capacity)
            .field("flavor", &self.flavor)
            .field("transport", &self.transport)
            .field("mode", &format_args!("{:#o}", self.mode))
            .field("fingerprint", &self.fingerprint)
            .field("spin", &self.spin)
            .finish()
    }
}

pub use super::untyped::DEFAULT_CAPACITY;

impl<T: Message> Builder<T> {
    /// A builder for the channel at `key`, with defaults: capacity 1024, SPSC,
    /// `Transport::Auto`, mode 0o600, the default fingerprint of `T`, the default spin.
    pub fn new(key: Key) -> Self {
        Builder {
            key,
            capacity: None,
            flavor: None,
            transport: Transport::Auto,
            mode: 0o600,
            fingerprint: None,
            spin: Spin::default(),
            open_timeout: Duration::from_secs(1),
            trusted: Vec::new(),
            _t: PhantomData,
        }
    }

    /// The most messages the channel holds at a time (default
    /// [`DEFAULT_CAPACITY`]): `len() <= capacity() == capacity` always, a send beyond
    /// it waits or reports `Full`. The ring behind it may have more slots (a power of
    /// two). On `open`, when set, the channel's capacity must be exactly this (else
    /// `LayoutMismatch`).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// SPSC (default) or MPMC. On `open`, when set, the segment's flavor must match
    /// (else `LayoutMismatch`); when not set, whatever the creator chose is used.
    pub fn flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = Some(flavor);
        self
    }

    /// Which transport `create` makes (`Auto` by default).
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Permission bits of the objects `create` makes (default `0o600`; only the low
    /// nine bits are allowed).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Pins the type fingerprint instead of `T`'s structural one
    /// ([`Message::fingerprint`]), e.g. for a program in another language that
    /// describes its type its own way, or to keep two differently named types
    /// compatible.
    pub fn fingerprint(mut self, id: u64) -> Self {
        self.fingerprint = Some(id);
        self
    }

    /// How long a blocked side spins before it sleeps (default [`Spin::default`]).
    pub fn spin(mut self, spin: Spin) -> Self {
        self.spin = spin;
        self
    }

    /// Trusts channels created by `uid` on `open`. By default `open` accepts only
    /// objects created by this process's effective uid or by root: an object another
    /// user created at our key (squatting it, even with a valid header) is refused
    /// with [`Error::Untrusted`], which names that user's uid.
    pub fn trust_owner(mut self, uid: u32) -> Self {
        self.trusted.push(uid);
        self
    }

    /// How long `open` waits for a creator to finish initialising (default 1 s).
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        self.open_timeout = timeout;
        self
    }

    /// The setup steps' view of this builder (shared with the C library).
    fn spec(&self) -> Spec {
        Spec {
            key: self.key,
            flavor: self.flavor,
            transport: self.transport,
            mode: self.mode,
            capacity: self.capacity.map(|c| c as u64),
            elem_size: size_of::<T>(),
            elem_align: align_of::<T>(),
            ty: TypeTag {
                fingerprint: self.fingerprint.unwrap_or_else(T::fingerprint),
                name: T::type_name(),
            },
            trusted: self.trusted.clone(),
            open_timeout: self.open_timeout,
        }
    }

    /// Creates the channel (`IPC_CREAT | IPC_EXCL`). The returned handle owns it: the
    /// segment and semaphores are removed when it and every handle made from it are
    /// dropped, or by [`AnyChannel::remove`].
    ///
    /// # Errors
    /// `AlreadyExists` when the key is taken; `LayoutMismatch` for a capacity of 0 or
    /// too large; `MessageTooLarge` for a `T` the transport cannot carry;
    /// `PermissionDenied`; `Os` for anything else the kernel refused.
    pub fn create(self) -> Result<AnyChannel<T>, Error> {
        let (shared, flavor) = self.spec().create_shared()?;
        Ok(AnyChannel::new(shared, flavor, self.spin))
    }

    /// Opens the channel another process created at this key, waiting up to the open
    /// timeout for it to be initialised, and validates it against `T` and the
    /// builder's settings.
    ///
    /// # Errors
    /// `NotFound`, `PermissionDenied`, `Untrusted`, `NotSysvring` (also for a plain
    /// message queue at the key, and for an all-zero segment whose creator is gone
    /// or whose size no ring has), `VersionMismatch`,
    /// `TypeMismatch`, `LayoutMismatch`, `NotReady`, or `Os`.
    pub fn open(self) -> Result<AnyChannel<T>, Error> {
        let (shared, flavor) = self.spec().open_shared()?;
        Ok(AnyChannel::new(shared, flavor, self.spin))
    }

    /// Opens the channel when it exists (validating it exactly as [`open`] does),
    /// creates it otherwise. Two programs started in either order, or at the same
    /// moment, both succeed: creation is `IPC_EXCL`, so exactly one creates and the
    /// other, finding the key taken, opens what it made (waiting up to the open
    /// timeout for it to be initialised). The creator's choices (capacity, flavor,
    /// transport) win; the opener's explicit expectations are still checked.
    ///
    /// [`open`]: Builder::open
    ///
    /// # Errors
    /// As [`open`] and [`create`](Builder::create); `NotFound` only if the channel
    /// keeps appearing and vanishing under us (another process creating and removing
    /// it in a loop).
    pub fn open_or_create(self) -> Result<AnyChannel<T>, Error> {
        let ((shared, flavor), _) = self.spec().open_or_create_shared()?;
        Ok(AnyChannel::new(shared, flavor, self.spin))
    }
}
