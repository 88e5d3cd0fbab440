//! Byte frames from C: `sysvring_frame_options`, `sysvring_frames_*` (the channel),
//! `sysvring_send_bytes`, `sysvring_frame_reserve`/`_commit`/`_abort` (written in
//! place) and `sysvring_recv_bytes`/`sysvring_recv_bytes_in_place`.
//!
//! A frame channel has handles of its own (`sysvring_frame_channel`,
//! `sysvring_frame_sender`, `sysvring_frame_receiver`), as the Rust API has
//! [`FrameBuilder`] beside `Builder`: it has no element type, a capacity in bytes
//! and operations the typed handles do not have, so a C compiler refuses a frame
//! sender given to `sysvring_send` instead of a run-time error. The setup mirrors
//! the typed one: an options struct with `struct_size`, `*_init`, create/open/
//! open_or_create, the same codes and the same time unit.
//!
//! A side's Rust handle takes `&mut self`; a C handle may be used from several
//! threads, so each side is behind a mutex (an SPSC side serializes its callers, as
//! the typed C handles do). A frame reserved by `sysvring_frame_reserve` lives in
//! the sender until `sysvring_frame_commit`/`_abort` (or close), and every other
//! operation on that sender is `SYSVRING_E_FRAME_STATE` meanwhile.

use std::sync::{Mutex, MutexGuard};

use sysvring::ring::layout::MAX_FRAME_RING;
use sysvring::untyped::{
    frames_open_or_create, FrameFailure, UntypedFrameReceiver, UntypedFrameSender,
};
use sysvring::{FrameBuilder, FrameChannel, Transport};

use super::*;

/// How to create or open a frame channel (`sysvring_frame_options_init` fills the
/// defaults).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct sysvring_frame_options {
    /// `sizeof(sysvring_frame_options)`: a struct of another size is refused.
    pub struct_size: u64,
    /// The key (`sysvring_key_ftok`, a raw number, or 0 = `IPC_PRIVATE`).
    pub key: i32,
    /// `SYSVRING_TRANSPORT_AUTO` or `_SHM` (frames over the message queue are not
    /// offered to C yet: `_MSGQ` is `SYSVRING_E_INVALID_ARGUMENT`).
    pub transport: u32,
    /// Permission bits of created objects (default 0600).
    pub mode: u32,
    /// Must be 0.
    pub reserved: u32,
    /// The longest frame; 0: 4096 (create) or any (open).
    pub max_len: u64,
    /// The ring's bytes (rounded up to a power of two); 0: the default (create) or
    /// any (open).
    pub capacity_bytes: u64,
    /// Open: how long to wait for a creator still initialising, in µs (default 1 s).
    pub open_timeout_us: u64,
}

/// An opened or created frame channel (opaque to C).
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct sysvring_frame_channel {
    ch: FrameChannel,
}

/// A frame sender (opaque to C).
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct sysvring_frame_sender {
    end: Mutex<UntypedFrameSender>,
}

/// A frame receiver (opaque to C).
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct sysvring_frame_receiver {
    end: Mutex<UntypedFrameReceiver>,
}

/// A side's lock. A panic inside the library (caught at the boundary) may have
/// poisoned it; the handle's state is whole between operations, so it goes on.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The code of a frame operation's failure; `not_now` is FULL (sends) or EMPTY.
fn frame_code(e: FrameFailure, not_now: c_int) -> Fail {
    let (code, text) = match e {
        FrameFailure::NotNow if not_now == SYSVRING_E_FULL => (not_now, "full".into()),
        FrameFailure::NotNow => (not_now, "empty".into()),
        FrameFailure::Timeout => return wait_code(WaitError::Timeout),
        FrameFailure::Disconnected => return wait_code(WaitError::Disconnected),
        FrameFailure::TooLarge { len, max } => (
            SYSVRING_E_MESSAGE_TOO_LARGE,
            format!("a frame of {len} bytes is longer than the channel's max_len {max}"),
        ),
        FrameFailure::Corrupt(c) => (SYSVRING_E_CORRUPT, c.to_string()),
        FrameFailure::Reserved => (
            SYSVRING_E_FRAME_STATE,
            "a frame is reserved on this sender: sysvring_frame_commit or \
             sysvring_frame_abort it first"
                .into(),
        ),
        FrameFailure::NotReserved => (
            SYSVRING_E_FRAME_STATE,
            "no frame is reserved on this sender (sysvring_frame_reserve first)".into(),
        ),
        FrameFailure::Grow { len, reserved } => (
            SYSVRING_E_INVALID_ARGUMENT,
            format!(
                "invalid argument: commit length {len} is above the reserved {reserved} \
                 (a frame only shrinks); the frame stays reserved"
            ),
        ),
        FrameFailure::TooSmall { len } => (
            SYSVRING_E_BUFFER_TOO_SMALL,
            format!(
                "the next frame has {len} bytes, more than the buffer; it stays in the channel"
            ),
        ),
    };
    set_last(text);
    Fail(code)
}

/// `SYSVRING_FOREVER`: `None`; else that long (0: one try).
fn frame_timeout(us: u64) -> Option<Duration> {
    timeout(us)
}

/// A live frame sender, unless NULL or inside its own callback.
///
/// # Safety
/// A non-null `tx` is a live frame sender from this library.
unsafe fn frame_sender<'a>(
    tx: *mut sysvring_frame_sender,
) -> Result<&'a sysvring_frame_sender, Fail> {
    not_in_callback(tx)?;
    // SAFETY: the caller's contract.
    unsafe { deref(tx, "sender") }
}

/// A live frame receiver, unless NULL or inside its own callback.
///
/// # Safety
/// A non-null `rx` is a live frame receiver from this library.
unsafe fn frame_receiver<'a>(
    rx: *mut sysvring_frame_receiver,
) -> Result<&'a sysvring_frame_receiver, Fail> {
    not_in_callback(rx)?;
    // SAFETY: the caller's contract.
    unsafe { deref(rx, "receiver") }
}

/// The defaults `sysvring_frame_options_init` writes.
fn frame_defaults() -> sysvring_frame_options {
    sysvring_frame_options {
        struct_size: std::mem::size_of::<sysvring_frame_options>() as u64,
        key: 0,
        transport: SYSVRING_TRANSPORT_AUTO,
        mode: 0o600,
        reserved: 0,
        max_len: 0,
        capacity_bytes: 0,
        open_timeout_us: DEFAULT_OPEN_TIMEOUT_US,
    }
}

/// The builder the options describe, and the capacity asked (for `create_error`).
///
/// # Safety
/// `o` is NULL or points to a readable `u64` and, when that is our size, a whole
/// `sysvring_frame_options`.
unsafe fn frame_plan(o: *const sysvring_frame_options) -> Result<(FrameBuilder, u64), Fail> {
    // SAFETY: the caller's contract; `struct_size` first, through a u64.
    let size = unsafe { deref(o.cast::<u64>(), "options")? };
    if *size != std::mem::size_of::<sysvring_frame_options>() as u64 {
        return Err(invalid(
            "options.struct_size is not sizeof(sysvring_frame_options): start from \
             sysvring_frame_options_init()",
        ));
    }
    // SAFETY: the size says the whole struct is there.
    let o = unsafe { *o };
    if o.reserved != 0 {
        return Err(invalid("options.reserved is not 0"));
    }
    let transport = match o.transport {
        SYSVRING_TRANSPORT_AUTO => Transport::Auto,
        SYSVRING_TRANSPORT_SHM => Transport::ShmRing,
        SYSVRING_TRANSPORT_MSGQ => {
            return Err(invalid(
                "options.transport: frames over the message queue are not implemented",
            ))
        }
        _ => return Err(invalid("options.transport")),
    };
    let too_big = |what: &str| invalid(&format!("options.{what} does not fit in size_t"));
    let mut b = FrameBuilder::new(Key::from_raw(o.key))
        .mode(o.mode)
        .transport(transport)
        .open_timeout(timeout(o.open_timeout_us).unwrap_or(Duration::MAX));
    if o.max_len != 0 {
        b = b.max_len(usize::try_from(o.max_len).map_err(|_| too_big("max_len"))?);
    }
    if o.capacity_bytes != 0 {
        let bytes = usize::try_from(o.capacity_bytes).map_err(|_| too_big("capacity_bytes"))?;
        b = b.capacity_bytes(bytes);
    }
    Ok((b, o.capacity_bytes))
}

/// A setup error of `create` (or the create half of `open_or_create`), in C terms:
/// a ring over the largest is `CAPACITY_TOO_LARGE`; a `max_len` whose record does
/// not fit a quarter of the ring says so (the library's `LayoutMismatch` reports the
/// asked value as found).
fn frames_create_error(e: Error, asked_bytes: u64) -> Fail {
    match e {
        Error::LayoutMismatch {
            field: "ring bytes",
            expected,
            found,
        } if expected == MAX_FRAME_RING && found == asked_bytes => {
            set_last(format!(
                "capacity_bytes {found} is too large: a frame ring has at most {expected} bytes"
            ));
            Fail(SYSVRING_E_CAPACITY_TOO_LARGE)
        }
        Error::LayoutMismatch {
            field: "max_len (a record within a quarter of the ring)",
            expected,
            found,
        } => {
            set_last(format!(
                "max_len {found} does not fit this ring: a frame's record (8 bytes of header \
                 and the payload rounded up to 8) must fit a quarter of the ring, so at most \
                 {expected} here; raise options.capacity_bytes (layout mismatch)"
            ));
            Fail(SYSVRING_E_LAYOUT_MISMATCH)
        }
        e => e.into(),
    }
}

fn boxed_frames(out: *mut *mut sysvring_frame_channel, ch: FrameChannel) {
    let ch = Box::into_raw(Box::new(sysvring_frame_channel { ch }));
    // SAFETY: `out` is non-null (checked by the caller) and writable by contract.
    unsafe { out.write(ch) };
}

/// Fills `o` with the defaults.
#[no_mangle]
pub unsafe extern "C" fn sysvring_frame_options_init(o: *mut sysvring_frame_options) -> c_int {
    boundary(|| {
        // SAFETY: the caller passes NULL or a writable `sysvring_frame_options`.
        unsafe { put(o, frame_defaults(), "options")? };
        Ok(0)
    })
}

/// Creates a frame channel (`IPC_CREAT | IPC_EXCL`); this handle owns it.
#[no_mangle]
pub unsafe extern "C" fn sysvring_frames_create(
    o: *const sysvring_frame_options,
    out: *mut *mut sysvring_frame_channel,
) -> c_int {
    boundary(|| {
        // SAFETY: the caller's contract on `o`.
        let (b, asked) = unsafe { frame_plan(o)? };
        if out.is_null() {
            return Err(invalid("out is NULL"));
        }
        let ch = b.create().map_err(|e| frames_create_error(e, asked))?;
        boxed_frames(out, ch);
        Ok(0)
    })
}

/// Opens the frame channel another process created, checking it against the options.
#[no_mangle]
pub unsafe extern "C" fn sysvring_frames_open(
    o: *const sysvring_frame_options,
    out: *mut *mut sysvring_frame_channel,
) -> c_int {
    boundary(|| {
        // SAFETY: the caller's contract on `o`.
        let (b, _) = unsafe { frame_plan(o)? };
        if out.is_null() {
            return Err(invalid("out is NULL"));
        }
        boxed_frames(out, b.open()?);
        Ok(0)
    })
}

/// Opens the frame channel, or creates it if there is none; `*created` (may be NULL)
/// says which happened.
#[no_mangle]
pub unsafe extern "C" fn sysvring_frames_open_or_create(
    o: *const sysvring_frame_options,
    out: *mut *mut sysvring_frame_channel,
    created: *mut c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: the caller's contract on `o`.
        let (b, asked) = unsafe { frame_plan(o)? };
        if out.is_null() {
            return Err(invalid("out is NULL"));
        }
        let (ch, made) = frames_open_or_create(b).map_err(|e| frames_create_error(e, asked))?;
        if !created.is_null() {
            // SAFETY: non-null and writable by the caller's contract.
            unsafe { created.write(c_int::from(made)) };
        }
        boxed_frames(out, ch);
        Ok(0)
    })
}

/// Closes a frame channel handle (NULL is allowed).
#[no_mangle]
pub unsafe extern "C" fn sysvring_frames_close(ch: *mut sysvring_frame_channel) -> c_int {
    boundary(|| {
        if !ch.is_null() {
            // SAFETY: from `Box::into_raw` here, closed once (the caller's contract).
            drop(unsafe { Box::from_raw(ch) });
        }
        Ok(0)
    })
}

/// Connects the frame sender in this process.
#[no_mangle]
pub unsafe extern "C" fn sysvring_frames_sender_open(
    ch: *const sysvring_frame_channel,
    out: *mut *mut sysvring_frame_sender,
) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle from this library.
        let ch = unsafe { deref(ch, "channel")? };
        if out.is_null() {
            return Err(invalid("out is NULL"));
        }
        let end = Mutex::new(UntypedFrameSender::from(ch.ch.sender()?));
        let tx = Box::into_raw(Box::new(sysvring_frame_sender { end }));
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { out.write(tx) };
        Ok(0)
    })
}

/// Connects the frame receiver in this process.
#[no_mangle]
pub unsafe extern "C" fn sysvring_frames_receiver_open(
    ch: *const sysvring_frame_channel,
    out: *mut *mut sysvring_frame_receiver,
) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle from this library.
        let ch = unsafe { deref(ch, "channel")? };
        if out.is_null() {
            return Err(invalid("out is NULL"));
        }
        let end = Mutex::new(UntypedFrameReceiver::from(ch.ch.receiver()?));
        let rx = Box::into_raw(Box::new(sysvring_frame_receiver { end }));
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { out.write(rx) };
        Ok(0)
    })
}

/// Closes a frame sender (NULL is allowed); a reserved frame is aborted.
#[no_mangle]
pub unsafe extern "C" fn sysvring_frames_sender_close(tx: *mut sysvring_frame_sender) -> c_int {
    boundary(|| {
        not_in_callback(tx)?;
        if !tx.is_null() {
            // SAFETY: from `Box::into_raw` here, closed once (the caller's contract).
            drop(unsafe { Box::from_raw(tx) });
        }
        Ok(0)
    })
}

/// Closes a frame receiver (NULL is allowed).
#[no_mangle]
pub unsafe extern "C" fn sysvring_frames_receiver_close(rx: *mut sysvring_frame_receiver) -> c_int {
    boundary(|| {
        not_in_callback(rx)?;
        if !rx.is_null() {
            // SAFETY: from `Box::into_raw` here, closed once (the caller's contract).
            drop(unsafe { Box::from_raw(rx) });
        }
        Ok(0)
    })
}

/// Copies `len` bytes at `data` into the channel as one frame, waiting for room at
/// most `timeout_us` (0: one try, `FULL`; `SYSVRING_FOREVER`: no limit).
#[no_mangle]
pub unsafe extern "C" fn sysvring_send_bytes(
    tx: *mut sysvring_frame_sender,
    data: *const c_void,
    len: usize,
    timeout_us: u64,
) -> c_int {
    boundary(|| {
        // SAFETY: `tx` is NULL or a live frame sender.
        let tx = unsafe { frame_sender(tx)? };
        let frame: &[u8] = if len == 0 {
            &[]
        } else if data.is_null() {
            return Err(invalid("data is NULL"));
        } else {
            // SAFETY: non-null, readable for `len` bytes (the caller's contract).
            unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) }
        };
        lock(&tx.end)
            .send(frame, frame_timeout(timeout_us))
            .map_err(|e| frame_code(e, SYSVRING_E_FULL))?;
        Ok(0)
    })
}

/// Reserves a frame of `len` bytes in the ring (waiting as `sysvring_send_bytes`)
/// and stores a pointer to its `len` writable bytes in `*data`.
#[no_mangle]
pub unsafe extern "C" fn sysvring_frame_reserve(
    tx: *mut sysvring_frame_sender,
    len: usize,
    data: *mut *mut c_void,
    timeout_us: u64,
) -> c_int {
    boundary(|| {
        // SAFETY: `tx` is NULL or a live frame sender.
        let tx = unsafe { frame_sender(tx)? };
        if data.is_null() {
            return Err(invalid("data is NULL"));
        }
        let p = lock(&tx.end)
            .reserve(len, frame_timeout(timeout_us))
            .map_err(|e| frame_code(e, SYSVRING_E_FULL))?;
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { data.write(p.cast()) };
        Ok(0)
    })
}

/// Publishes the reserved frame with its first `len` bytes (`len` at most the
/// reserved length: a frame shrinks, never grows).
#[no_mangle]
pub unsafe extern "C" fn sysvring_frame_commit(
    tx: *mut sysvring_frame_sender,
    len: usize,
) -> c_int {
    boundary(|| {
        // SAFETY: `tx` is NULL or a live frame sender.
        let tx = unsafe { frame_sender(tx)? };
        lock(&tx.end)
            .commit(len)
            .map_err(|e| frame_code(e, SYSVRING_E_FULL))?;
        Ok(0)
    })
}

/// Drops the reserved frame unpublished.
#[no_mangle]
pub unsafe extern "C" fn sysvring_frame_abort(tx: *mut sysvring_frame_sender) -> c_int {
    boundary(|| {
        // SAFETY: `tx` is NULL or a live frame sender.
        let tx = unsafe { frame_sender(tx)? };
        lock(&tx.end)
            .abort()
            .map_err(|e| frame_code(e, SYSVRING_E_FULL))?;
        Ok(0)
    })
}

/// Receives the next frame into `buf` (`cap` bytes; NULL when `cap` is 0), its
/// length into `*len`, waiting at most `timeout_us`. A frame longer than `cap` is
/// `BUFFER_TOO_SMALL` with its length in `*len`, and stays in the channel.
#[no_mangle]
pub unsafe extern "C" fn sysvring_recv_bytes(
    rx: *mut sysvring_frame_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_us: u64,
) -> c_int {
    boundary(|| {
        // SAFETY: `rx` is NULL or a live frame receiver.
        let rx = unsafe { frame_receiver(rx)? };
        if len.is_null() {
            return Err(invalid("len is NULL"));
        }
        let buf: &mut [u8] = if cap == 0 {
            &mut []
        } else if buf.is_null() {
            return Err(invalid("buf is NULL"));
        } else {
            // SAFETY: non-null, writable for `cap` bytes (the caller's contract); a C
            // buffer never aliases memory this library holds a reference to.
            unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), cap) }
        };
        let r = lock(&rx.end).recv_into_slice(buf, frame_timeout(timeout_us));
        match r {
            Ok(n) => {
                // SAFETY: non-null (checked) and writable by the caller's contract.
                unsafe { len.write(n) };
                Ok(0)
            }
            Err(e) => {
                if let FrameFailure::TooSmall { len: n } = e {
                    // SAFETY: as above.
                    unsafe { len.write(n) };
                }
                Err(frame_code(e, SYSVRING_E_EMPTY))
            }
        }
    })
}

/// Zero-copy receive: waits (at most `timeout_us`) for a frame, calls `read(frame,
/// len, ctx)` on it in place, then frees it.
#[no_mangle]
pub unsafe extern "C" fn sysvring_recv_bytes_in_place(
    rx: *mut sysvring_frame_receiver,
    read: sysvring_read_fn,
    ctx: *mut c_void,
    timeout_us: u64,
) -> c_int {
    boundary(|| {
        // SAFETY: `rx` is NULL or a live frame receiver.
        let rx = unsafe { frame_receiver(rx)? };
        let read = read.ok_or_else(|| invalid("read is NULL"))?;
        let me: *const sysvring_frame_receiver = rx;
        lock(&rx.end)
            .recv_with(frame_timeout(timeout_us), |frame| {
                let _inside = InCallback::enter(me);
                // SAFETY: `frame` is readable for its length until the call returns;
                // the callback's own contract is the caller's.
                unsafe { read(frame.as_ptr().cast(), frame.len(), ctx) }
            })
            .map_err(|e| frame_code(e, SYSVRING_E_EMPTY))?;
        Ok(0)
    })
}

/// The longest frame of the channel, into `*out`.
#[no_mangle]
pub unsafe extern "C" fn sysvring_frames_max_len(
    ch: *const sysvring_frame_channel,
    out: *mut u64,
) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle; `out` NULL or writable.
        let ch = unsafe { deref(ch, "channel")? };
        // SAFETY: as above.
        unsafe { put(out, ch.ch.max_len() as u64, "out")? };
        Ok(0)
    })
}

/// The ring's size in bytes, into `*out`.
#[no_mangle]
pub unsafe extern "C" fn sysvring_frames_capacity_bytes(
    ch: *const sysvring_frame_channel,
    out: *mut u64,
) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle; `out` NULL or writable.
        let ch = unsafe { deref(ch, "channel")? };
        // SAFETY: as above.
        unsafe { put(out, ch.ch.capacity_bytes() as u64, "out")? };
        Ok(0)
    })
}

/// Frames in the channel now, into `*out`.
#[no_mangle]
pub unsafe extern "C" fn sysvring_frames_len(
    ch: *const sysvring_frame_channel,
    out: *mut u64,
) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle; `out` NULL or writable.
        let ch = unsafe { deref(ch, "channel")? };
        // SAFETY: as above.
        unsafe { put(out, ch.ch.len() as u64, "out")? };
        Ok(0)
    })
}

/// The channel's counters (`sent`/`received` count frames) into `*out`.
#[no_mangle]
pub unsafe extern "C" fn sysvring_frames_stats_get(
    ch: *const sysvring_frame_channel,
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
pub unsafe extern "C" fn sysvring_frames_keep(ch: *const sysvring_frame_channel) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle.
        unsafe { deref(ch, "channel")? }.ch.keep();
        Ok(0)
    })
}

/// Removes the frame channel now (`IPC_RMID`).
#[no_mangle]
pub unsafe extern "C" fn sysvring_frames_remove(ch: *const sysvring_frame_channel) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle.
        unsafe { deref(ch, "channel")? }.ch.remove()?;
        Ok(0)
    })
}
