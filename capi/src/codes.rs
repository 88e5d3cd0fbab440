//! Return codes and the boundary: the `SYSVRING_*` constants, this thread's last
//! error, the mapping of every failure to a code, `catch_unwind` at each entry,
//! `sysvring_strerror` and `sysvring_last_error`.

use super::*;

/// `Error::AlreadyExists`: `create` found an object at the key.
pub const SYSVRING_E_ALREADY_EXISTS: c_int = -1;
/// `Error::NotFound`: `open` found no object at the key.
pub const SYSVRING_E_NOT_FOUND: c_int = -2;
/// `Error::PermissionDenied`.
pub const SYSVRING_E_PERMISSION_DENIED: c_int = -3;
/// `Error::NotSysvring`: the object at the key is not a channel.
pub const SYSVRING_E_NOT_SYSVRING: c_int = -4;
/// `Error::VersionMismatch`: another layout version.
pub const SYSVRING_E_VERSION_MISMATCH: c_int = -5;
/// `Error::TypeMismatch`: the channel holds another element type.
pub const SYSVRING_E_TYPE_MISMATCH: c_int = -6;
/// `Error::LayoutMismatch`: capacity, flavor, size or alignment disagree (or are out
/// of range on create).
pub const SYSVRING_E_LAYOUT_MISMATCH: c_int = -7;
/// `Error::RoleTaken`: a second SPSC sender or receiver.
pub const SYSVRING_E_ROLE_TAKEN: c_int = -8;
/// `Error::MessageTooLarge`: the element does not fit the transport.
pub const SYSVRING_E_MESSAGE_TOO_LARGE: c_int = -9;
/// `Error::NotReady`: the creator never finished initialising.
pub const SYSVRING_E_NOT_READY: c_int = -10;
/// `Error::Removed`: the channel was removed.
pub const SYSVRING_E_REMOVED: c_int = -11;
/// `Error::TooManyProcesses`: the MPMC claimer table is full.
pub const SYSVRING_E_TOO_MANY_PROCESSES: c_int = -12;
/// `Error::Os`: a system call failed (`sysvring_last_error` names it).
pub const SYSVRING_E_OS: c_int = -13;
/// `Error::Untrusted`: the channel was created by a uid this side does not trust
/// (`sysvring_last_error` names it; the Rust API's `.trust_owner(uid)`).
pub const SYSVRING_E_UNTRUSTED: c_int = -15;
/// Reserved for a setup error of a kind a program's header does not know (a newer
/// library); this build maps every `Error` variant to its own code.
pub const SYSVRING_E_OTHER: c_int = -14;
/// `try_send`: the channel is full.
pub const SYSVRING_E_FULL: c_int = -20;
/// `try_recv`: the channel is empty.
pub const SYSVRING_E_EMPTY: c_int = -21;
/// A timed call's timeout passed.
pub const SYSVRING_E_TIMEOUT: c_int = -22;
/// Every peer of the other side is gone (for receives: and the channel is drained).
pub const SYSVRING_E_DISCONNECTED: c_int = -23;
/// A null pointer, a wrong size, an unknown enum value or a bad path.
pub const SYSVRING_E_INVALID_ARGUMENT: c_int = -24;
/// An inconsistent field table (`TypeDesc::validate` refused it).
pub const SYSVRING_E_BAD_TYPE: c_int = -25;
/// A panic inside the library (a bug): caught at the boundary.
pub const SYSVRING_E_PANIC: c_int = -26;
/// A `fill`/`read` callback called back into the handle it was given by (any
/// operation on that handle, `close` included): refused, on both transports, with
/// nothing printed.
pub const SYSVRING_E_REENTRANT: c_int = -27;
/// `create` (or the create half of `open_or_create`): the capacity is above the
/// largest a channel has (2^32 messages), or its ring would not fit in memory.
pub const SYSVRING_E_CAPACITY_TOO_LARGE: c_int = -28;
/// `create`: the host's semaphore limits (`kernel.sem`) leave no room for the
/// channel's semaphore set.
pub const SYSVRING_E_SEMAPHORE_LIMIT: c_int = -29;

/// `sysvring_recv_bytes`: the buffer is shorter than the next frame (its length is
/// reported; the frame stays in the channel).
pub const SYSVRING_E_BUFFER_TOO_SMALL: c_int = -30;
/// A frame channel's next record is not a valid one (a corrupt or hostile peer wrote
/// into the segment): nothing is read past it.
pub const SYSVRING_E_CORRUPT: c_int = -31;
/// A frame sender's reservation: an operation while a frame is reserved (commit or
/// abort it first), or a commit/abort without one.
pub const SYSVRING_E_FRAME_STATE: c_int = -32;

/// Flavor: the default (`create`: SPSC) or whatever the channel has (`open`).
pub const SYSVRING_FLAVOR_ANY: u32 = 0;
/// Flavor: single producer, single consumer.
pub const SYSVRING_FLAVOR_SPSC: u32 = 1;
/// Flavor: any number of producers and consumers.
pub const SYSVRING_FLAVOR_MPMC: u32 = 2;
/// Transport: shared memory, else the message queue.
pub const SYSVRING_TRANSPORT_AUTO: u32 = 0;
/// Transport: a ring in a shared-memory segment.
pub const SYSVRING_TRANSPORT_SHM: u32 = 1;
/// Transport: a message queue.
pub const SYSVRING_TRANSPORT_MSGQ: u32 = 2;
/// `timeout_us` that never expires.
pub const SYSVRING_FOREVER: u64 = u64::MAX;

thread_local! {
    static LAST: RefCell<String> = const { RefCell::new(String::new()) };
}

pub(super) fn set_last(text: String) {
    let _ = LAST.try_with(|l| *l.borrow_mut() = text);
}

/// A failure on its way to C: the code, after recording the text.
pub(super) struct Fail(pub(super) c_int);

pub(super) fn invalid(what: &str) -> Fail {
    set_last(format!("invalid argument: {what}"));
    Fail(SYSVRING_E_INVALID_ARGUMENT)
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        set_last(c_text(&e));
        Fail(error_code(&e))
    }
}

/// A setup error in C terms: the library's text names Rust APIs (`Builder::…`,
/// `.trust_owner`) where a C program has an option or nothing at all.
pub fn c_text(e: &Error) -> String {
    match e {
        Error::PermissionDenied => "permission denied: the object's mode does not admit this \
                                    user (its creator chooses the mode with options.mode)"
            .into(),
        Error::Untrusted { creator_uid } => format!(
            "the object at this key was created by uid {creator_uid}, which this process \
             does not trust (only root and its own effective uid are trusted from C: \
             another user may have taken the key); remove the object or create the \
             channel under this uid"
        ),
        Error::TypeMismatch {
            expected,
            found,
            expected_name,
            found_name,
        } => {
            let found_name = if found_name.is_empty() {
                "a type of unknown name (a message-queue channel records no name)"
            } else {
                found_name
            };
            format!(
                "element type mismatch: this side's type is `{expected_name}` (fingerprint \
                 {expected:#018x}), the channel carries `{found_name}` (fingerprint \
                 {found:#018x}); describe the same struct on both sides (same name, \
                 fields, field types, order and sizes), or set the same \
                 options.fingerprint on both"
            )
        }
        Error::LayoutMismatch {
            field,
            expected,
            found,
        } => format!(
            "the channel's {field} is {found}, this side asked for {expected} \
             (layout mismatch)"
        ),
        other => other.to_string(),
    }
}

/// A setup error of `create` or `open_or_create`, where a capacity the ring cannot
/// have (the library's `LayoutMismatch` on "capacity" that reports the asked
/// capacity as found) is [`SYSVRING_E_CAPACITY_TOO_LARGE`]. An opener's capacity
/// mismatch reports the channel's capacity as found, never the asked one.
pub(super) fn create_error(e: Error, asked: Option<u64>) -> Fail {
    match e {
        Error::LayoutMismatch {
            field: "capacity",
            expected,
            found,
        } if Some(found) == asked => {
            set_last(format!(
                "capacity {found} is too large: a channel holds at most {expected} messages, \
                 and its ring (the capacity rounded up to a power of two, times the slot \
                 size) must fit in memory"
            ));
            Fail(SYSVRING_E_CAPACITY_TOO_LARGE)
        }
        e => e.into(),
    }
}

/// The code of a setup error (one per variant).
pub fn error_code(e: &Error) -> c_int {
    match e {
        Error::AlreadyExists => SYSVRING_E_ALREADY_EXISTS,
        Error::NotFound => SYSVRING_E_NOT_FOUND,
        Error::PermissionDenied => SYSVRING_E_PERMISSION_DENIED,
        Error::NotSysvring => SYSVRING_E_NOT_SYSVRING,
        Error::VersionMismatch { .. } => SYSVRING_E_VERSION_MISMATCH,
        Error::TypeMismatch { .. } => SYSVRING_E_TYPE_MISMATCH,
        Error::LayoutMismatch { .. } => SYSVRING_E_LAYOUT_MISMATCH,
        Error::RoleTaken => SYSVRING_E_ROLE_TAKEN,
        Error::MessageTooLarge { .. } => SYSVRING_E_MESSAGE_TOO_LARGE,
        Error::NotReady => SYSVRING_E_NOT_READY,
        Error::Removed => SYSVRING_E_REMOVED,
        Error::TooManyProcesses { .. } => SYSVRING_E_TOO_MANY_PROCESSES,
        Error::Untrusted { .. } => SYSVRING_E_UNTRUSTED,
        Error::SemaphoreLimit => SYSVRING_E_SEMAPHORE_LIMIT,
        Error::Os(..) => SYSVRING_E_OS,
        // `Error` is `#[non_exhaustive]` to other crates: the test below fails when
        // the library gains a variant this match does not name.
        _ => SYSVRING_E_OTHER,
    }
}

pub(super) fn try_code(e: TryError, not_now: c_int) -> Fail {
    match e {
        TryError::NotNow => {
            set_last(
                if not_now == SYSVRING_E_FULL {
                    "full"
                } else {
                    "empty"
                }
                .into(),
            );
            Fail(not_now)
        }
        TryError::Disconnected => wait_code(WaitError::Disconnected),
    }
}

pub(super) fn wait_code(e: WaitError) -> Fail {
    match e {
        WaitError::Timeout => {
            set_last("timed out".into());
            Fail(SYSVRING_E_TIMEOUT)
        }
        WaitError::Disconnected => {
            set_last("disconnected".into());
            Fail(SYSVRING_E_DISCONNECTED)
        }
    }
}

/// Runs `f` at the boundary: its result as a code, a panic as `SYSVRING_E_PANIC`.
pub(super) fn boundary(f: impl FnOnce() -> Result<c_int, Fail>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(Fail(code))) => code,
        Err(_) => {
            set_last("panic inside sysvring (a bug)".into());
            SYSVRING_E_PANIC
        }
    }
}

/// `&T` from a C pointer, or `INVALID_ARGUMENT` for NULL.
///
/// # Safety
/// A non-null `p` points to a live, properly aligned `T` for `'a`.
pub(super) unsafe fn deref<'a, T>(p: *const T, what: &str) -> Result<&'a T, Fail> {
    // SAFETY: the caller's contract; `as_ref` checks for null.
    unsafe { p.as_ref() }.ok_or_else(|| invalid(&format!("{what} is NULL")))
}

/// Stores `v` through an out-pointer, or `INVALID_ARGUMENT` for NULL.
///
/// # Safety
/// A non-null `p` points to writable, aligned memory for a `T`.
pub(super) unsafe fn put<T>(p: *mut T, v: T, what: &str) -> Result<(), Fail> {
    if p.is_null() {
        return Err(invalid(&format!("{what} is NULL")));
    }
    // SAFETY: non-null, and the caller's contract.
    unsafe { p.write(v) };
    Ok(())
}

/// A static description of a code (never NULL; "unknown error" for other values).
#[no_mangle]
pub extern "C" fn sysvring_strerror(code: c_int) -> *const c_char {
    let s: &'static CStr = match code {
        0 => c"success",
        SYSVRING_E_ALREADY_EXISTS => c"a channel already exists at this key",
        SYSVRING_E_NOT_FOUND => c"no channel exists at this key",
        SYSVRING_E_PERMISSION_DENIED => c"permission denied",
        SYSVRING_E_NOT_SYSVRING => c"the object at this key is not a sysvring channel",
        SYSVRING_E_VERSION_MISMATCH => c"layout version mismatch",
        SYSVRING_E_TYPE_MISMATCH => c"the channel holds another element type",
        SYSVRING_E_LAYOUT_MISMATCH => c"capacity, flavor, element size or alignment mismatch",
        SYSVRING_E_ROLE_TAKEN => c"the SPSC role is taken by a live handle",
        SYSVRING_E_MESSAGE_TOO_LARGE => c"the element does not fit the transport",
        SYSVRING_E_NOT_READY => c"the channel's creator did not finish initialising it",
        SYSVRING_E_REMOVED => c"the channel was removed",
        SYSVRING_E_TOO_MANY_PROCESSES => c"too many processes on this MPMC channel",
        SYSVRING_E_OS => c"a system call failed",
        SYSVRING_E_UNTRUSTED => c"channel created by an untrusted user",
        SYSVRING_E_OTHER => c"other setup error",
        SYSVRING_E_FULL => c"the channel is full",
        SYSVRING_E_EMPTY => c"the channel is empty",
        SYSVRING_E_TIMEOUT => c"timed out",
        SYSVRING_E_DISCONNECTED => c"disconnected: every peer of the other side is gone",
        SYSVRING_E_INVALID_ARGUMENT => c"invalid argument",
        SYSVRING_E_BAD_TYPE => c"invalid type description",
        SYSVRING_E_PANIC => c"internal error (panic caught)",
        SYSVRING_E_REENTRANT => c"a callback called back into its own handle",
        SYSVRING_E_CAPACITY_TOO_LARGE => c"the capacity is too large",
        SYSVRING_E_SEMAPHORE_LIMIT => c"the host's semaphore limits (kernel.sem) are too small",
        SYSVRING_E_BUFFER_TOO_SMALL => c"the buffer is shorter than the frame",
        SYSVRING_E_CORRUPT => c"a corrupt frame record in the channel",
        SYSVRING_E_FRAME_STATE => {
            c"a frame is reserved on this sender (commit or abort it), or none is"
        }
        _ => c"unknown error",
    };
    s.as_ptr()
}

/// Copies this thread's last failure, in words, into `buf` (NUL-terminated, cut to
/// `len`); returns the full length without the NUL (like `snprintf`).
#[no_mangle]
pub unsafe extern "C" fn sysvring_last_error(buf: *mut c_char, len: usize) -> usize {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let text = LAST.try_with(|l| l.borrow().clone()).unwrap_or_default();
        if !buf.is_null() && len > 0 {
            let n = text.len().min(len - 1);
            // SAFETY: `buf` is writable for `len` bytes (the caller's contract) and
            // `n + 1 <= len`; a Rust string never overlaps a C buffer.
            unsafe {
                std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
                buf.add(n).write(0);
            }
        }
        text.len()
    }));
    r.unwrap_or(0)
}

/// Writes `s` to `*out` as a `sysvring_stats`, after checking that `size` is
/// `sizeof(sysvring_stats)` (both channel kinds' `_stats_get`).
///
/// # Safety
/// `out` is NULL or writable for `size` bytes.
pub(super) unsafe fn put_stats(
    s: sysvring::Stats,
    out: *mut sysvring_stats,
    size: usize,
) -> Result<c_int, Fail> {
    if size != std::mem::size_of::<sysvring_stats>() {
        return Err(invalid("size is not sizeof(sysvring_stats)"));
    }
    let v = sysvring_stats {
        sent: s.sent,
        received: s.received,
        wakeups: s.wakeups,
        sleeps: s.sleeps,
        skipped: s.skipped,
        senders: s.senders,
        receivers: s.receivers,
    };
    // SAFETY: `out` NULL or writable for a `sysvring_stats` (size checked above).
    unsafe { put(out, v, "out")? };
    Ok(0)
}

#[cfg(test)]
mod variant_tests {
    /// Every variant of the library's `Error` enum has its own arm in `error_code`.
    #[test]
    fn every_error_variant_has_a_code() {
        let lib = include_str!("../../src/error.rs");
        let start = lib.find("pub enum Error {").expect("the Error enum");
        let body = &lib[start..];
        let body = &body[..body.find("\n}").expect("end of the enum")];
        let here = include_str!("codes.rs");
        let mut seen = 0;
        for line in body.lines().skip(1) {
            let t = line.trim_start();
            if line.starts_with("    ") && !line.starts_with("     ") {
                if let Some(c) = t.chars().next().filter(|c| c.is_ascii_uppercase()) {
                    let _ = c;
                    let name: String = t.chars().take_while(|c| c.is_alphanumeric()).collect();
                    seen += 1;
                    assert!(
                        here.contains(&format!("Error::{name} "))
                            || here.contains(&format!("Error::{name}("))
                            || here.contains(&format!("Error::{name} =>")),
                        "Error::{name} has no C code in error_code"
                    );
                }
            }
        }
        assert!(seen >= 14, "found {seen} variants: the parse is wrong");
    }
}
