//! Channels whose element is known only at run time (its size, alignment and type
//! tag): the way in for the C library (`capi/`), and the setup steps [`Builder`]
//! takes too, so a channel is made and validated one way whoever asks.
//!
//! Messages move as byte slices of exactly the element size through the same
//! endpoints, presence, linearizability and waiting rules as the typed operations.
//!
//! [`Builder`]: crate::Builder

use std::fmt;
use std::time::Duration;

use crate::error::Error;
use crate::options::{Flavor, Spin, Stats, Transport};
use crate::ring::layout::{Geometry, MAX_CAPACITY};
use crate::sys::{self, Key};
use crate::transport::{
    self, Bytes, BytesOut, Deadline, Expected, Heap, Objects, RecvEnd, SendEnd, TryError, WaitError,
};

pub use crate::transport::TypeTag;

/// Capacity of a channel created without one.
pub const DEFAULT_CAPACITY: usize = 1024;

/// What a caller asks of a channel: everything `create`, `open` and
/// `open_or_create` need, checked the same way for Rust and C.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The key.
    pub key: Key,
    /// The flavor to create (default SPSC) or to insist on when opening.
    pub flavor: Option<Flavor>,
    /// The transport `create` makes.
    pub transport: Transport,
    /// Permission bits of what `create` makes.
    pub mode: u32,
    /// The exact capacity (most messages in flight): what `create` makes (default
    /// [`DEFAULT_CAPACITY`]) or what `open` insists on. `Some(0)` is refused.
    pub capacity: Option<u64>,
    /// Element size in bytes.
    pub elem_size: usize,
    /// Element alignment in bytes.
    pub elem_align: usize,
    /// The element type's fingerprint and name.
    pub ty: TypeTag,
    /// Creator uids trusted besides our own effective uid and root.
    pub trusted: Vec<u32>,
    /// How long `open` waits for a creator to finish initialising.
    pub open_timeout: Duration,
}

/// `LayoutMismatch` for a capacity of 0 (the one capacity rule for every caller).
fn check_capacity(capacity: Option<u64>) -> Result<(), Error> {
    match capacity {
        Some(0) => Err(Error::LayoutMismatch {
            field: "capacity",
            expected: 1,
            found: 0,
        }),
        _ => Ok(()),
    }
}

impl Spec {
    /// Creates the channel's kernel objects (`IPC_CREAT | IPC_EXCL`).
    pub(crate) fn create_shared(&self) -> Result<(Objects, Flavor), Error> {
        check_capacity(self.capacity)?;
        let flavor = self.flavor.unwrap_or_default();
        let kind = flavor;
        let want = self.capacity.unwrap_or(DEFAULT_CAPACITY as u64);
        let geo = Geometry::for_limit(kind, want, self.elem_size, self.elem_align).ok_or(
            Error::LayoutMismatch {
                field: "capacity",
                expected: MAX_CAPACITY,
                found: want,
            },
        )?;
        // Refused before anything is made, by the `sys` check of the call that would
        // refuse it first.
        let first_call = match self.transport {
            Transport::MessageQueue => "semget",
            Transport::ShmRing | Transport::Auto => "shmget",
        };
        sys::validate_mode(first_call, self.mode)?;
        let shared = Objects::create(self.key, geo, self.transport, self.mode, &self.ty)?;
        Ok((shared, flavor))
    }

    /// Opens and validates the channel another process created.
    pub(crate) fn open_shared(&self) -> Result<(Objects, Flavor), Error> {
        check_capacity(self.capacity)?;
        let expect = Expected {
            kind: self.flavor,
            capacity: self.capacity,
            elem_size: self.elem_size,
            elem_align: self.elem_align,
            fingerprint: self.ty.fingerprint,
            type_name: self.ty.name.clone(),
            trusted: self.trusted.clone(),
        };
        let shared = Objects::open(self.key, &expect, self.open_timeout)?;
        let flavor = shared.kind();
        Ok((shared, flavor))
    }

    /// Opens the channel when it exists, creates it otherwise (`IPC_EXCL` decides a
    /// race); `true` when this call created it.
    pub(crate) fn open_or_create_shared(&self) -> Result<((Objects, Flavor), bool), Error> {
        transport::open_or_create(
            self.key.is_private(),
            || self.open_shared(),
            || self.create_shared(),
        )
    }

    /// Creates the channel (see [`Builder::create`](crate::Builder::create)).
    ///
    /// # Errors
    /// As `Builder::create`.
    pub fn create(&self) -> Result<UntypedChannel, Error> {
        self.create_shared().map(|(s, _)| self.wrap(s))
    }

    /// Opens the channel (see [`Builder::open`](crate::Builder::open)).
    ///
    /// # Errors
    /// As `Builder::open`.
    pub fn open(&self) -> Result<UntypedChannel, Error> {
        self.open_shared().map(|(s, _)| self.wrap(s))
    }

    /// Opens or creates the channel; `true` when this call created it.
    ///
    /// # Errors
    /// As `Builder::open_or_create`.
    pub fn open_or_create(&self) -> Result<(UntypedChannel, bool), Error> {
        self.open_or_create_shared()
            .map(|((s, _), created)| (self.wrap(s), created))
    }

    fn wrap(&self, shared: Objects) -> UntypedChannel {
        UntypedChannel {
            shared,
            elem_size: self.elem_size,
        }
    }
}

/// A created or opened channel of run-time-sized elements.
pub struct UntypedChannel {
    shared: Objects,
    elem_size: usize,
}

impl fmt::Debug for UntypedChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UntypedChannel")
            .field("key", &self.shared.key())
            .field("transport", &self.shared.transport())
            .field("elem_size", &self.elem_size)
            .finish()
    }
}

impl UntypedChannel {
    /// Connects a sender in this process.
    ///
    /// # Errors
    /// `RoleTaken`, `Removed`, or `Os`.
    pub fn sender(&self) -> Result<UntypedSender, Error> {
        Ok(UntypedSender {
            end: self.shared.sender::<()>(Spin::default())?,
            elem_size: self.elem_size,
        })
    }

    /// Connects a receiver in this process.
    ///
    /// # Errors
    /// `RoleTaken`, `Removed`, or `Os`.
    pub fn receiver(&self) -> Result<UntypedReceiver, Error> {
        Ok(UntypedReceiver {
            end: self.shared.receiver::<()>(Spin::default())?,
            elem_size: self.elem_size,
        })
    }

    /// The element size in bytes.
    pub fn elem_size(&self) -> usize {
        self.elem_size
    }

    /// Messages in the channel now.
    pub fn len(&self) -> u64 {
        self.shared.len()
    }

    /// Whether the channel is empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Messages the channel holds at most.
    pub fn capacity(&self) -> u64 {
        self.shared.capacity()
    }

    /// The transport in use (never `Auto`).
    pub fn transport(&self) -> Transport {
        self.shared.transport()
    }

    /// The channel's counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Keeps the kernel objects when this handle is dropped.
    pub fn disown(&self) {
        self.shared.disown()
    }

    /// Removes the kernel objects now (`IPC_RMID`).
    ///
    /// # Errors
    /// `PermissionDenied` or `Os`.
    pub fn remove(&self) -> Result<(), Error> {
        self.shared.remove()
    }
}

/// The sending side of an [`UntypedChannel`]: messages are byte slices of exactly the
/// element size.
#[derive(Debug)]
pub struct UntypedSender {
    end: SendEnd<()>,
    elem_size: usize,
}

/// The receiving side of an [`UntypedChannel`].
#[derive(Debug)]
pub struct UntypedReceiver {
    end: RecvEnd<()>,
    elem_size: usize,
}

/// `None` waits forever; `Some(d)` up to `d`.
fn deadline(timeout: Option<Duration>) -> Deadline {
    match timeout {
        None => Deadline::Never,
        Some(d) => Deadline::After(d),
    }
}

impl UntypedSender {
    /// The element size in bytes: every message is exactly this long.
    pub fn elem_size(&self) -> usize {
        self.elem_size
    }

    /// Sends without blocking.
    ///
    /// # Panics
    /// When `msg.len()` is not the element size (the caller checks it).
    pub fn try_send(&self, msg: &[u8]) -> Result<(), TryError> {
        assert_eq!(msg.len(), self.elem_size, "message of the element size");
        self.end.try_put(&Bytes(msg))
    }

    /// Sends, waiting while the channel is full up to `timeout` (`None`: forever).
    ///
    /// # Panics
    /// When `msg.len()` is not the element size.
    pub fn send_timeout(&self, msg: &[u8], timeout: Option<Duration>) -> Result<(), WaitError> {
        assert_eq!(msg.len(), self.elem_size, "message of the element size");
        self.end.put_until(&Bytes(msg), deadline(timeout))
    }

    /// Waits (up to `timeout`) for room, then lets `f` fill the message in place
    /// through a pointer to `elem_size` writable bytes, aligned to the element's
    /// alignment; it is published when `f` returns. `f` may run foreign code: a
    /// re-entrant use of this sender from `f` is refused with a panic.
    pub fn send_in_place(
        &self,
        timeout: Option<Duration>,
        f: impl FnOnce(*mut u8),
    ) -> Result<(), WaitError> {
        self.end
            .put_in_place::<(), Heap>(self.elem_size, deadline(timeout), f)
    }
}

impl UntypedReceiver {
    /// The element size in bytes.
    pub fn elem_size(&self) -> usize {
        self.elem_size
    }

    /// Receives into `out` (exactly the element size) without blocking.
    ///
    /// # Panics
    /// When `out.len()` is not the element size.
    pub fn try_recv(&self, out: &mut [u8]) -> Result<(), TryError> {
        assert_eq!(out.len(), self.elem_size, "buffer of the element size");
        self.end.try_take(&mut BytesOut(out))
    }

    /// Receives into `out`, waiting while empty up to `timeout` (`None`: forever).
    ///
    /// # Panics
    /// When `out.len()` is not the element size.
    pub fn recv_timeout(&self, out: &mut [u8], timeout: Option<Duration>) -> Result<(), WaitError> {
        assert_eq!(out.len(), self.elem_size, "buffer of the element size");
        self.end.take_until(&mut BytesOut(out), deadline(timeout))
    }

    /// Waits (up to `timeout`) for a message, then lets `f` read it in place through
    /// a pointer to `elem_size` bytes; the slot is freed when `f` returns.
    pub fn recv_in_place(
        &self,
        timeout: Option<Duration>,
        f: impl FnOnce(*const u8),
    ) -> Result<(), WaitError> {
        self.end
            .take_in_place::<(), Heap>(self.elem_size, deadline(timeout), f)
    }
}
