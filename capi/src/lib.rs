//! The C interface (`include/sysvring.h`): the same channels for C programs.
//!
//! Every function here is `extern "C"` and `#[no_mangle]`, takes and returns only C
//! types (integers, pointers to the `#[repr(C)]` structs below, opaque handles), and
//! returns `0` or a negative code ([`SYSVRING_E_*`](SYSVRING_E_ALREADY_EXISTS)) that
//! `sysvring_strerror` names; `sysvring_last_error` gives this thread's last failure
//! in words (a `TypeMismatch` names both types). Each body runs under
//! `catch_unwind`: a panic becomes [`SYSVRING_E_PANIC`], never an unwind into C. A
//! null pointer, a buffer of the wrong size or an inconsistent field table is an
//! error code, never a crash.
//!
//! A C element type is known only at run time (size, alignment, a field table), so
//! the handles carry untyped endpoints (`transport::raw`): the same rings, queues,
//! presence, crash rules and waiting as the Rust API, copying `elem_size` bytes per
//! message. The field table becomes a [`TypeDesc`](sysvring::message::TypeDesc) that is validated and
//! fingerprinted exactly as `#[derive(sysvring::Message)]` does for the same
//! `#[repr(C)]` struct, so C and Rust peers check each other's types.
//!
//! Threads: every handle may be used from any thread, and by several at once, like
//! the `Send + Sync` Rust handles: an MPMC sender or receiver is used concurrently,
//! an SPSC side serializes its callers. A `fill`/`read` callback that calls back into
//! the handle it was given by gets [`SYSVRING_E_REENTRANT`] from that call, on both
//! transports, before anything reaches the library (a per-thread list of the
//! handles whose callback runs now).

#![allow(clippy::missing_safety_doc)]

mod codes;
mod desc;
mod frames;
mod setup;
mod types;

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use sysvring::transport::{TryError, WaitError};
use sysvring::untyped::{Spec, UntypedChannel, UntypedReceiver, UntypedSender};
use sysvring::{Error, Flavor, Key, Transport};

pub use desc::{
    sysvring_field, sysvring_fingerprint, sysvring_struct, SYSVRING_CHAR, SYSVRING_MAX_DESC_TEXT,
    SYSVRING_MAX_DIMS, SYSVRING_STRUCT,
};

pub use codes::*;
pub use frames::*;
use setup::*;
pub use types::*;

thread_local! {
    /// The handles (addresses) whose `fill`/`read` callback runs on this thread now.
    static IN_CALLBACK: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// `SYSVRING_E_REENTRANT` when `h`'s callback is running on this thread.
fn not_in_callback<T>(h: *const T) -> Result<(), Fail> {
    let inside = IN_CALLBACK
        .try_with(|v| {
            let v = v.borrow();
            !v.is_empty() && v.contains(&(h as usize))
        })
        .unwrap_or(false);
    if inside {
        set_last("a fill/read callback called back into its own handle".into());
        return Err(Fail(SYSVRING_E_REENTRANT));
    }
    Ok(())
}

/// Marks `h`'s callback as running on this thread until dropped.
struct InCallback(usize);

impl InCallback {
    fn enter<T>(h: *const T) -> InCallback {
        let _ = IN_CALLBACK.try_with(|v| v.borrow_mut().push(h as usize));
        InCallback(h as usize)
    }
}

impl Drop for InCallback {
    fn drop(&mut self) {
        let _ = IN_CALLBACK.try_with(|v| {
            let mut v = v.borrow_mut();
            if let Some(i) = v.iter().rposition(|&h| h == self.0) {
                v.remove(i);
            }
        });
    }
}

/// A live sender, unless NULL or inside its own callback.
///
/// # Safety
/// A non-null `tx` is a live sender from this library.
unsafe fn sender<'a>(tx: *mut sysvring_sender) -> Result<&'a sysvring_sender, Fail> {
    not_in_callback(tx)?;
    // SAFETY: the caller's contract.
    unsafe { deref(tx, "sender") }
}

/// A live receiver, unless NULL or inside its own callback.
///
/// # Safety
/// A non-null `rx` is a live receiver from this library.
unsafe fn receiver<'a>(rx: *mut sysvring_receiver) -> Result<&'a sysvring_receiver, Fail> {
    not_in_callback(rx)?;
    // SAFETY: the caller's contract.
    unsafe { deref(rx, "receiver") }
}

/// Closes a channel handle (NULL is allowed). The owner's close removes the channel
/// once its senders and receivers are closed too.
#[no_mangle]
pub unsafe extern "C" fn sysvring_channel_close(ch: *mut sysvring_channel) -> c_int {
    boundary(|| {
        if !ch.is_null() {
            // SAFETY: a non-null `ch` came from `Box::into_raw` in this library and is
            // closed once (the caller's contract).
            drop(unsafe { Box::from_raw(ch) });
        }
        Ok(0)
    })
}

/// Connects a sender in this process.
#[no_mangle]
pub unsafe extern "C" fn sysvring_sender_open(
    ch: *const sysvring_channel,
    out: *mut *mut sysvring_sender,
) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle from this library.
        let ch = unsafe { deref(ch, "channel")? };
        if out.is_null() {
            return Err(invalid("out is NULL"));
        }
        let tx = Box::into_raw(Box::new(sysvring_sender {
            end: ch.ch.sender()?,
        }));
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { out.write(tx) };
        Ok(0)
    })
}

/// Connects a receiver in this process.
#[no_mangle]
pub unsafe extern "C" fn sysvring_receiver_open(
    ch: *const sysvring_channel,
    out: *mut *mut sysvring_receiver,
) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle from this library.
        let ch = unsafe { deref(ch, "channel")? };
        if out.is_null() {
            return Err(invalid("out is NULL"));
        }
        let rx = Box::into_raw(Box::new(sysvring_receiver {
            end: ch.ch.receiver()?,
        }));
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { out.write(rx) };
        Ok(0)
    })
}

/// Closes a sender (NULL is allowed): the last one closed disconnects receivers.
#[no_mangle]
pub unsafe extern "C" fn sysvring_sender_close(tx: *mut sysvring_sender) -> c_int {
    boundary(|| {
        not_in_callback(tx)?;
        if !tx.is_null() {
            // SAFETY: from `Box::into_raw` here, closed once (the caller's contract).
            drop(unsafe { Box::from_raw(tx) });
        }
        Ok(0)
    })
}

/// Closes a receiver (NULL is allowed).
#[no_mangle]
pub unsafe extern "C" fn sysvring_receiver_close(rx: *mut sysvring_receiver) -> c_int {
    boundary(|| {
        not_in_callback(rx)?;
        if !rx.is_null() {
            // SAFETY: from `Box::into_raw` here, closed once (the caller's contract).
            drop(unsafe { Box::from_raw(rx) });
        }
        Ok(0)
    })
}

/// The message at `msg` as a slice of exactly the element size.
///
/// # Safety
/// A non-null `msg` is readable for `size` bytes.
unsafe fn msg_bytes<'a>(msg: *const c_void, size: usize, elem: usize) -> Result<&'a [u8], Fail> {
    if msg.is_null() {
        return Err(invalid("message is NULL"));
    }
    if size != elem {
        return Err(invalid(&format!(
            "size {size} is not the element size {elem}"
        )));
    }
    // SAFETY: non-null, readable for `size` bytes (the caller's contract).
    Ok(unsafe { std::slice::from_raw_parts(msg.cast::<u8>(), size) })
}

/// The buffer at `buf` as a mutable slice of exactly the element size.
///
/// # Safety
/// A non-null `buf` is writable for `size` bytes.
unsafe fn buf_bytes<'a>(buf: *mut c_void, size: usize, elem: usize) -> Result<&'a mut [u8], Fail> {
    if buf.is_null() {
        return Err(invalid("buffer is NULL"));
    }
    if size != elem {
        return Err(invalid(&format!(
            "size {size} is not the element size {elem}"
        )));
    }
    // SAFETY: non-null, writable for `size` bytes (the caller's contract); a C
    // buffer never aliases memory this library holds a reference to.
    Ok(unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), size) })
}

/// Sends `size` bytes at `msg` (the element size), blocking while full for at most
/// `timeout_us` (`SYSVRING_FOREVER`: no limit).
#[no_mangle]
pub unsafe extern "C" fn sysvring_send_timeout(
    tx: *mut sysvring_sender,
    msg: *const c_void,
    size: usize,
    timeout_us: u64,
) -> c_int {
    boundary(|| {
        // SAFETY: `tx` is NULL or a live sender; `msg` readable for `size` bytes.
        let tx = unsafe { sender(tx)? };
        // SAFETY: as above.
        let m = unsafe { msg_bytes(msg, size, tx.end.elem_size())? };
        tx.end
            .send_timeout(m, timeout(timeout_us))
            .map_err(wait_code)?;
        Ok(0)
    })
}

/// Sends, blocking while the channel is full.
#[no_mangle]
pub unsafe extern "C" fn sysvring_send(
    tx: *mut sysvring_sender,
    msg: *const c_void,
    size: usize,
) -> c_int {
    // SAFETY: the same contract.
    unsafe { sysvring_send_timeout(tx, msg, size, SYSVRING_FOREVER) }
}

/// Sends without blocking (`SYSVRING_E_FULL` when full).
#[no_mangle]
pub unsafe extern "C" fn sysvring_try_send(
    tx: *mut sysvring_sender,
    msg: *const c_void,
    size: usize,
) -> c_int {
    boundary(|| {
        // SAFETY: `tx` is NULL or a live sender; `msg` readable for `size` bytes.
        let tx = unsafe { sender(tx)? };
        // SAFETY: as above.
        let m = unsafe { msg_bytes(msg, size, tx.end.elem_size())? };
        tx.end
            .try_send(m)
            .map_err(|e| try_code(e, SYSVRING_E_FULL))?;
        Ok(0)
    })
}

/// Receives one message into `buf` (`size` = the element size), blocking while empty
/// for at most `timeout_us` (`SYSVRING_FOREVER`: no limit).
#[no_mangle]
pub unsafe extern "C" fn sysvring_recv_timeout(
    rx: *mut sysvring_receiver,
    buf: *mut c_void,
    size: usize,
    timeout_us: u64,
) -> c_int {
    boundary(|| {
        // SAFETY: `rx` is NULL or a live receiver; `buf` writable for `size` bytes.
        let rx = unsafe { receiver(rx)? };
        // SAFETY: as above.
        let b = unsafe { buf_bytes(buf, size, rx.end.elem_size())? };
        rx.end
            .recv_timeout(b, timeout(timeout_us))
            .map_err(wait_code)?;
        Ok(0)
    })
}

/// Receives, blocking while the channel is empty.
#[no_mangle]
pub unsafe extern "C" fn sysvring_recv(
    rx: *mut sysvring_receiver,
    buf: *mut c_void,
    size: usize,
) -> c_int {
    // SAFETY: the same contract.
    unsafe { sysvring_recv_timeout(rx, buf, size, SYSVRING_FOREVER) }
}

/// Receives without blocking (`SYSVRING_E_EMPTY` when empty).
#[no_mangle]
pub unsafe extern "C" fn sysvring_try_recv(
    rx: *mut sysvring_receiver,
    buf: *mut c_void,
    size: usize,
) -> c_int {
    boundary(|| {
        // SAFETY: `rx` is NULL or a live receiver; `buf` writable for `size` bytes.
        let rx = unsafe { receiver(rx)? };
        // SAFETY: as above.
        let b = unsafe { buf_bytes(buf, size, rx.end.elem_size())? };
        rx.end
            .try_recv(b)
            .map_err(|e| try_code(e, SYSVRING_E_EMPTY))?;
        Ok(0)
    })
}

/// Zero-copy send: waits (at most `timeout_us`) for a free slot, calls `fill(slot,
/// elem_size, ctx)` to write the message in place, then publishes it; on an error
/// `fill` was not called. `fill` must not call back into this sender. (Message
/// queue: `fill` writes a local buffer first, which is then sent: on a timeout or
/// disconnection it was called and its message dropped.)
#[no_mangle]
pub unsafe extern "C" fn sysvring_send_in_place(
    tx: *mut sysvring_sender,
    fill: sysvring_fill_fn,
    ctx: *mut c_void,
    timeout_us: u64,
) -> c_int {
    boundary(|| {
        // SAFETY: `tx` is NULL or a live sender.
        let tx = unsafe { sender(tx)? };
        let fill = fill.ok_or_else(|| invalid("fill is NULL"))?;
        let size = tx.end.elem_size();
        let me: *const sysvring_sender = tx;
        tx.end
            .send_in_place(timeout(timeout_us), |slot| {
                let _inside = InCallback::enter(me);
                // SAFETY: `slot` has `size` writable bytes until the call returns; the
                // callback's own contract is the caller's.
                unsafe { fill(slot.cast(), size, ctx) }
            })
            .map_err(wait_code)?;
        Ok(0)
    })
}

/// Zero-copy receive: waits (at most `timeout_us`) for a message, calls `read(msg,
/// elem_size, ctx)` on it in place, then frees the slot. (Message queue: a copy.)
#[no_mangle]
pub unsafe extern "C" fn sysvring_recv_in_place(
    rx: *mut sysvring_receiver,
    read: sysvring_read_fn,
    ctx: *mut c_void,
    timeout_us: u64,
) -> c_int {
    boundary(|| {
        // SAFETY: `rx` is NULL or a live receiver.
        let rx = unsafe { receiver(rx)? };
        let read = read.ok_or_else(|| invalid("read is NULL"))?;
        let size = rx.end.elem_size();
        let me: *const sysvring_receiver = rx;
        rx.end
            .recv_in_place(timeout(timeout_us), |msg| {
                let _inside = InCallback::enter(me);
                // SAFETY: `msg` has `size` readable bytes until the call returns.
                unsafe { read(msg.cast(), size, ctx) }
            })
            .map_err(wait_code)?;
        Ok(0)
    })
}

/// Messages in the channel now, into `*out`.
#[no_mangle]
pub unsafe extern "C" fn sysvring_len(ch: *const sysvring_channel, out: *mut u64) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle; `out` NULL or writable.
        let ch = unsafe { deref(ch, "channel")? };
        // SAFETY: as above.
        unsafe { put(out, ch.ch.len(), "out")? };
        Ok(0)
    })
}

/// Messages the channel holds at most, into `*out`.
#[no_mangle]
pub unsafe extern "C" fn sysvring_capacity(ch: *const sysvring_channel, out: *mut u64) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle; `out` NULL or writable.
        let ch = unsafe { deref(ch, "channel")? };
        // SAFETY: as above.
        unsafe { put(out, ch.ch.capacity(), "out")? };
        Ok(0)
    })
}

/// The element size the channel was made or opened with, into `*out`.
#[no_mangle]
pub unsafe extern "C" fn sysvring_elem_size(ch: *const sysvring_channel, out: *mut u64) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle; `out` NULL or writable.
        let ch = unsafe { deref(ch, "channel")? };
        // SAFETY: as above.
        unsafe { put(out, ch.ch.elem_size() as u64, "out")? };
        Ok(0)
    })
}

/// The transport in use: `SYSVRING_TRANSPORT_SHM` or `_MSGQ` (or a negative code).
#[no_mangle]
pub unsafe extern "C" fn sysvring_transport(ch: *const sysvring_channel) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle.
        let ch = unsafe { deref(ch, "channel")? };
        Ok(match ch.ch.transport() {
            Transport::MessageQueue => SYSVRING_TRANSPORT_MSGQ as c_int,
            _ => SYSVRING_TRANSPORT_SHM as c_int,
        })
    })
}

/// The channel's counters into `*out`; `size` must be `sizeof(sysvring_stats)`.
#[no_mangle]
pub unsafe extern "C" fn sysvring_stats_get(
    ch: *const sysvring_channel,
    out: *mut sysvring_stats,
    size: usize,
) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle.
        let ch = unsafe { deref(ch, "channel")? };
        // SAFETY: `out` is NULL or writable for `size` bytes (the caller's contract).
        unsafe { put_stats(ch.ch.stats(), out, size) }
    })
}

/// Keeps the kernel objects after this process closes its handles.
#[no_mangle]
pub unsafe extern "C" fn sysvring_keep(ch: *const sysvring_channel) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle.
        unsafe { deref(ch, "channel")? }.ch.disown();
        Ok(0)
    })
}

/// Removes the channel now (`IPC_RMID`); peers drain it and then see disconnected.
#[no_mangle]
pub unsafe extern "C" fn sysvring_remove(ch: *const sysvring_channel) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle.
        unsafe { deref(ch, "channel")? }.ch.remove()?;
        Ok(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_code_and_its_text() {
        let code = boundary(|| panic!("boom"));
        assert_eq!(code, SYSVRING_E_PANIC);
        let mut buf = [0 as c_char; 64];
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { sysvring_last_error(buf.as_mut_ptr(), buf.len()) };
        // SAFETY: `sysvring_last_error` NUL-terminated it.
        let text = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
        assert_eq!(n, text.len());
        assert!(text.contains("panic"), "{text}");
    }

    #[test]
    fn every_error_variant_has_its_own_code() {
        let io = || std::io::Error::from_raw_os_error(22);
        let all = [
            (Error::AlreadyExists, SYSVRING_E_ALREADY_EXISTS),
            (Error::NotFound, SYSVRING_E_NOT_FOUND),
            (Error::PermissionDenied, SYSVRING_E_PERMISSION_DENIED),
            (
                Error::Untrusted { creator_uid: 65534 },
                SYSVRING_E_UNTRUSTED,
            ),
            (Error::NotSysvring, SYSVRING_E_NOT_SYSVRING),
            (
                Error::VersionMismatch {
                    expected: 1,
                    found: 2,
                },
                SYSVRING_E_VERSION_MISMATCH,
            ),
            (
                Error::TypeMismatch {
                    expected: 1,
                    found: 2,
                    expected_name: "A".into(),
                    found_name: "B".into(),
                },
                SYSVRING_E_TYPE_MISMATCH,
            ),
            (
                Error::LayoutMismatch {
                    field: "capacity",
                    expected: 1,
                    found: 2,
                },
                SYSVRING_E_LAYOUT_MISMATCH,
            ),
            (Error::RoleTaken, SYSVRING_E_ROLE_TAKEN),
            (
                Error::MessageTooLarge { size: 2, max: 1 },
                SYSVRING_E_MESSAGE_TOO_LARGE,
            ),
            (Error::NotReady, SYSVRING_E_NOT_READY),
            (Error::Removed, SYSVRING_E_REMOVED),
            (
                Error::TooManyProcesses { max: 256 },
                SYSVRING_E_TOO_MANY_PROCESSES,
            ),
            (Error::SemaphoreLimit, SYSVRING_E_SEMAPHORE_LIMIT),
            (Error::Os("semop", io()), SYSVRING_E_OS),
        ];
        for (e, code) in &all {
            assert_eq!(error_code(e), *code, "{e}");
        }
        let codes: std::collections::BTreeSet<c_int> = all.iter().map(|(_, c)| *c).collect();
        assert_eq!(codes.len(), all.len());
    }
}
