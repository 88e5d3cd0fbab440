//! The setup steps both transports share: what an opener expects ([`Expected`],
//! [`TypeTag`]), who removes the objects ([`Ownership`]), the start-up race resolved
//! with `IPC_EXCL` ([`open_or_create`]) and when `Auto` falls back to the queue.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::error::Error;
use crate::options::Flavor;
use crate::sync::Ordering;
use crate::sys;

/// Ownership of a channel's kernel objects, the same for both transports: the
/// creator's handle owns them (removes them on drop) until it gives them up; a copy
/// of that handle inherited across `fork` is never the owner in the child.
#[derive(Debug)]
pub(crate) struct Ownership {
    owner: AtomicBool,
    fork_gen: u64,
}

impl Ownership {
    pub(crate) fn new(owner: bool) -> Ownership {
        Ownership {
            owner: AtomicBool::new(owner),
            fork_gen: sys::fork_generation(),
        }
    }

    pub(crate) fn is_owner(&self) -> bool {
        self.owner.load(Ordering::Relaxed)
    }

    pub(crate) fn disown(&self) {
        self.owner.store(false, Ordering::Relaxed);
    }

    /// Whether `Drop` removes the objects: the owner, in the process that made it.
    pub(crate) fn removes_on_drop(&self) -> bool {
        self.is_owner() && sys::fork_generation() == self.fork_gen
    }
}

/// The outcome of removing a channel's objects (`IPC_RMID` on each): the first error
/// other than "already removed", as the `sys` call reported it.
pub(crate) fn removed(results: [sys::Result<()>; 2]) -> Result<(), Error> {
    for r in results {
        match r {
            Err(e) if !e.is_removed() => return Err(e.into()),
            _ => {}
        }
    }
    Ok(())
}

/// Whether a failed segment creation means "shared memory is not available here"
/// (host limits or policy), so `Auto` falls back to the message queue.
pub(super) fn shm_unavailable(e: &Error) -> bool {
    match e {
        Error::PermissionDenied => true,
        Error::Os(_, io) => matches!(
            io.raw_os_error(),
            Some(28 /* ENOSPC */) | Some(12 /* ENOMEM */) | Some(22 /* EINVAL */)
        ),
        _ => false,
    }
}

/// Opens a channel when it exists, creates it otherwise: the start-up race of two
/// programs resolved by `IPC_EXCL` (exactly one `create` succeeds; the other finds
/// the key taken and opens what it made). A private key names nothing to open.
/// Returns the channel and whether this call created it.
///
/// # Errors
/// `open`'s and `create`'s; `NotFound` only if the channel keeps appearing and
/// vanishing under us (another process creating and removing it in a loop).
pub(crate) fn open_or_create<C>(
    private: bool,
    mut open: impl FnMut() -> Result<C, Error>,
    mut create: impl FnMut() -> Result<C, Error>,
) -> Result<(C, bool), Error> {
    const TRIES: u32 = 64;
    if private {
        return create().map(|c| (c, true));
    }
    for attempt in 0..TRIES {
        match open() {
            Err(Error::NotFound) => {}
            r => return r.map(|c| (c, false)),
        }
        match create() {
            Err(Error::AlreadyExists) => {}
            r => return r.map(|c| (c, true)),
        }
        // Created by someone else between our open and our create, or removed
        // between our create and open: look again, backing off a little.
        std::thread::sleep(Duration::from_micros(50 << attempt.min(6)));
    }
    Err(Error::NotFound)
}

/// A channel's element type as its creator records it: the fingerprint that decides
/// identity, and the name that error messages and `sysvring stat` show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeTag {
    /// The type's fingerprint (or an explicit override).
    pub fingerprint: u64,
    /// The type's name (without module path).
    pub name: String,
}

/// What an opener expects of the channel (either transport).
#[derive(Debug, Clone)]
pub(crate) struct Expected {
    pub kind: Option<Flavor>,
    /// The exact capacity (most messages in flight), when the opener set one.
    pub capacity: Option<u64>,
    pub elem_size: usize,
    pub elem_align: usize,
    pub fingerprint: u64,
    /// The opener's type name (for `TypeMismatch`).
    pub type_name: String,
    /// Creator uids trusted besides our own effective uid and root.
    pub trusted: Vec<u32>,
}

impl Expected {
    /// Refuses an object created by a uid we do not trust: another user could have
    /// squatted our key with a perfectly valid header.
    pub(crate) fn check_creator(&self, cuid: u32) -> Result<(), Error> {
        check_creator(cuid, &self.trusted)
    }
}

/// Refuses an object created by a uid we do not trust (root, our effective uid and
/// `trusted` are trusted): see [`Expected::check_creator`].
pub(crate) fn check_creator(cuid: u32, trusted: &[u32]) -> Result<(), Error> {
    if cuid == 0 || cuid == sys::current_euid() || trusted.contains(&cuid) {
        Ok(())
    } else {
        Err(Error::Untrusted { creator_uid: cuid })
    }
}

pub(crate) fn mismatch(field: &'static str, expected: u64, found: u64) -> Error {
    Error::LayoutMismatch {
        field,
        expected,
        found,
    }
}
