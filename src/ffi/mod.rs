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
//! message. The field table becomes a [`TypeDesc`](crate::message::TypeDesc) that is validated and
//! fingerprinted exactly as `#[derive(sysvring::Message)]` does for the same
//! `#[repr(C)]` struct, so C and Rust peers check each other's types.
//!
//! Threads: every handle may be used from any thread, and by several at once, like
//! the `Send + Sync` Rust handles: an MPMC sender or receiver is used concurrently,
//! an SPSC side serializes its callers. A `fill`/`read` callback must not call back
//! into the handle it was given by (that call ends in `SYSVRING_E_PANIC`).

#![allow(clippy::missing_safety_doc)]

mod desc;

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::error::Error;
use crate::options::{Flavor, Spin, Transport};
use crate::ring::layout::{Geometry, RingKind, MAX_CAPACITY};
use crate::sys::{self, Key};
use crate::transport::{Deadline, Expect, RecvEnd, SendEnd, Shared, TryError, TypeTag, WaitError};

pub use desc::{
    sysvring_field, sysvring_fingerprint, sysvring_struct, SYSVRING_MAX_DIMS, SYSVRING_STRUCT,
};

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

/// How to create or open a channel (`sysvring_options_init` fills the defaults).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct sysvring_options {
    /// `sizeof(sysvring_options)`: a struct of another size is refused.
    pub struct_size: u64,
    /// The key (`sysvring_key_ftok`, a raw number, or 0 = `IPC_PRIVATE`).
    pub key: i32,
    /// `SYSVRING_FLAVOR_*`.
    pub flavor: u32,
    /// `SYSVRING_TRANSPORT_*` (create only).
    pub transport: u32,
    /// Permission bits of created objects (default 0600; only 0777 bits allowed).
    pub mode: u32,
    /// Element size in bytes; 0 takes it from `type`/`prim`.
    pub elem_size: u64,
    /// Element alignment; 0 takes it from `type`/`prim`.
    pub elem_align: u64,
    /// Most messages in flight; 0: the default 1024 (create) or any (open).
    pub capacity: u64,
    /// The element's struct description, or NULL.
    pub r#type: *const sysvring_struct,
    /// Without `type`: a primitive element (`SYSVRING_U8` … `SYSVRING_F64`), or 0.
    pub prim: u32,
    /// Open: how long to wait for the creator to finish (ms; 0: 1000).
    pub open_timeout_ms: u32,
    /// Without `type` and `prim`: the raw fingerprint to use.
    pub fingerprint: u64,
    /// With a raw fingerprint: the type name to record (NULL: empty).
    pub type_name: *const c_char,
}

/// A channel's counters (`sysvring_stats`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
#[allow(non_camel_case_types)]
pub struct sysvring_stats {
    /// Messages sent so far.
    pub sent: u64,
    /// Messages received so far.
    pub received: u64,
    /// Wake-ups posted to sleeping peers.
    pub wakeups: u64,
    /// Times a blocked side slept in the kernel.
    pub sleeps: u64,
    /// MPMC slots skipped because their producer died.
    pub skipped: u64,
    /// Live senders.
    pub senders: u32,
    /// Live receivers.
    pub receivers: u32,
}

/// An opened or created channel (opaque to C).
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct sysvring_channel {
    shared: Shared,
    elem_size: usize,
}

/// A sender (opaque to C).
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct sysvring_sender {
    end: SendEnd<()>,
    elem_size: usize,
}

/// A receiver (opaque to C).
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct sysvring_receiver {
    end: RecvEnd<()>,
    elem_size: usize,
}

/// Fills a slot in place (`sysvring_send_in_place`): `slot` has `size` writable bytes.
#[allow(non_camel_case_types)]
pub type sysvring_fill_fn =
    Option<unsafe extern "C" fn(slot: *mut c_void, size: usize, ctx: *mut c_void)>;
/// Reads a message in place (`sysvring_recv_in_place`).
#[allow(non_camel_case_types)]
pub type sysvring_read_fn =
    Option<unsafe extern "C" fn(msg: *const c_void, size: usize, ctx: *mut c_void)>;

thread_local! {
    static LAST: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last(text: String) {
    let _ = LAST.try_with(|l| *l.borrow_mut() = text);
}

/// A failure on its way to C: the code, after recording the text.
struct Fail(c_int);

fn invalid(what: &str) -> Fail {
    set_last(format!("invalid argument: {what}"));
    Fail(SYSVRING_E_INVALID_ARGUMENT)
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        set_last(e.to_string());
        Fail(error_code(&e))
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
        Error::Os(..) => SYSVRING_E_OS,
        // No wildcard: a new variant must get its own code here (and in the header).
    }
}

fn try_code(e: TryError, not_now: c_int) -> Fail {
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

fn wait_code(e: WaitError) -> Fail {
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
fn boundary(f: impl FnOnce() -> Result<c_int, Fail>) -> c_int {
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
unsafe fn deref<'a, T>(p: *const T, what: &str) -> Result<&'a T, Fail> {
    // SAFETY: the caller's contract; `as_ref` checks for null.
    unsafe { p.as_ref() }.ok_or_else(|| invalid(&format!("{what} is NULL")))
}

/// Stores `v` through an out-pointer, or `INVALID_ARGUMENT` for NULL.
///
/// # Safety
/// A non-null `p` points to writable, aligned memory for a `T`.
unsafe fn put<T>(p: *mut T, v: T, what: &str) -> Result<(), Fail> {
    if p.is_null() {
        return Err(invalid(&format!("{what} is NULL")));
    }
    // SAFETY: non-null, and the caller's contract.
    unsafe { p.write(v) };
    Ok(())
}

fn timeout(us: u64) -> Deadline {
    if us == SYSVRING_FOREVER {
        Deadline::Never
    } else {
        Deadline::After(Duration::from_micros(us))
    }
}

/// What the options ask for, checked.
struct Plan {
    key: Key,
    flavor: Option<Flavor>,
    transport: Transport,
    mode: u32,
    elem_size: usize,
    elem_align: usize,
    capacity: Option<u64>,
    ty: TypeTag,
    open_timeout: Duration,
}

/// # Safety
/// `o` is NULL or points to a `sysvring_options` whose pointers are NULL or valid.
unsafe fn plan(o: *const sysvring_options) -> Result<Plan, Fail> {
    // SAFETY: the caller's contract; we read `struct_size` first through a u64 so a
    // caller's older, smaller struct is refused before the rest is read.
    let size = unsafe { deref(o.cast::<u64>(), "options")? };
    if *size != std::mem::size_of::<sysvring_options>() as u64 {
        return Err(invalid(
            "options.struct_size is not sizeof(sysvring_options)",
        ));
    }
    // SAFETY: as above, and the size says the whole struct is there.
    let o = unsafe { &*o };
    let flavor = match o.flavor {
        SYSVRING_FLAVOR_ANY => None,
        SYSVRING_FLAVOR_SPSC => Some(Flavor::Spsc),
        SYSVRING_FLAVOR_MPMC => Some(Flavor::Mpmc),
        _ => return Err(invalid("options.flavor")),
    };
    let transport = match o.transport {
        SYSVRING_TRANSPORT_AUTO => Transport::Auto,
        SYSVRING_TRANSPORT_SHM => Transport::ShmRing,
        SYSVRING_TRANSPORT_MSGQ => Transport::MessageQueue,
        _ => return Err(invalid("options.transport")),
    };
    // SAFETY: the caller's contract on `type` and `type_name`.
    let (ty, size, align) = unsafe { desc::type_of(o)? };
    // A raw fingerprint (size 0) takes the caller's size and alignment as given.
    let elem_size = match o.elem_size {
        0 => size,
        n if n == size || size == 0 => n,
        _ => return Err(invalid("options.elem_size differs from the type's size")),
    };
    let elem_align = match o.elem_align {
        0 => align,
        n if n == align || align == 0 => n,
        _ => {
            return Err(invalid(
                "options.elem_align differs from the type's alignment",
            ))
        }
    };
    if elem_size == 0 || elem_align == 0 {
        return Err(invalid(
            "element size and alignment are needed with a raw fingerprint",
        ));
    }
    let (Ok(elem_size), Ok(elem_align)) = (usize::try_from(elem_size), usize::try_from(elem_align))
    else {
        return Err(invalid("element size"));
    };
    Ok(Plan {
        key: Key::from_raw(o.key),
        flavor,
        transport,
        mode: o.mode,
        elem_size,
        elem_align,
        capacity: (o.capacity != 0).then_some(o.capacity),
        ty,
        open_timeout: Duration::from_millis(match o.open_timeout_ms {
            0 => 1000,
            ms => u64::from(ms),
        }),
    })
}

fn create(p: &Plan) -> Result<Shared, Error> {
    let kind = RingKind::from(p.flavor.unwrap_or_default());
    let want = p.capacity.unwrap_or(crate::DEFAULT_CAPACITY as u64);
    let geo = Geometry::for_limit(kind, want, p.elem_size, p.elem_align).ok_or(
        Error::LayoutMismatch {
            field: "capacity",
            expected: MAX_CAPACITY,
            found: want,
        },
    )?;
    let first_call = match p.transport {
        Transport::MessageQueue => "semget",
        Transport::ShmRing | Transport::Auto => "shmget",
    };
    sys::validate_mode(first_call, p.mode)?;
    Shared::create(p.key, geo, p.transport, p.mode, &p.ty)
}

fn open(p: &Plan) -> Result<Shared, Error> {
    let expect = Expect {
        kind: p.flavor.map(RingKind::from),
        capacity: p.capacity,
        elem_size: p.elem_size,
        elem_align: p.elem_align,
        fingerprint: p.ty.fingerprint,
        type_name: p.ty.name.clone(),
        trusted: Vec::new(),
    };
    Shared::open(p.key, &expect, p.open_timeout)
}

/// Opens the channel at the key, or creates it when there is none; a creator that
/// wins the race between our open and our create (`AlreadyExists`) is opened. The
/// same steps as `Builder::open_or_create` (which needs a Rust `T`).
fn open_or_create(p: &Plan) -> Result<(Shared, bool), Error> {
    const TRIES: u32 = 64;
    if p.key.is_private() {
        // Nobody else can name a private channel: there is nothing to open.
        return create(p).map(|s| (s, true));
    }
    for attempt in 0..TRIES {
        match open(p) {
            Err(Error::NotFound) => {}
            r => return r.map(|s| (s, false)),
        }
        match create(p) {
            Err(Error::AlreadyExists) => {}
            r => return r.map(|s| (s, true)),
        }
        // Created by someone else between our open and our create, or removed
        // between our create and open: look again, backing off a little.
        std::thread::sleep(Duration::from_micros(50 << attempt.min(6)));
    }
    Err(Error::NotFound)
}

fn boxed(out: *mut *mut sysvring_channel, shared: Shared, elem_size: usize) -> Result<(), Fail> {
    if out.is_null() {
        return Err(invalid("out is NULL"));
    }
    let ch = Box::into_raw(Box::new(sysvring_channel { shared, elem_size }));
    // SAFETY: `out` is non-null and, by the caller's contract, writable.
    unsafe { out.write(ch) };
    Ok(())
}

/// Fills `o` with the defaults: its `struct_size`, key 0 (private), flavor and
/// transport "any"/auto, mode 0600, everything else 0/NULL.
#[no_mangle]
pub unsafe extern "C" fn sysvring_options_init(o: *mut sysvring_options) -> c_int {
    boundary(|| {
        let v = sysvring_options {
            struct_size: std::mem::size_of::<sysvring_options>() as u64,
            key: 0,
            flavor: SYSVRING_FLAVOR_ANY,
            transport: SYSVRING_TRANSPORT_AUTO,
            mode: 0o600,
            elem_size: 0,
            elem_align: 0,
            capacity: 0,
            r#type: std::ptr::null(),
            prim: 0,
            open_timeout_ms: 0,
            fingerprint: 0,
            type_name: std::ptr::null(),
        };
        // SAFETY: the caller passes NULL or a writable `sysvring_options`.
        unsafe { put(o, v, "options")? };
        Ok(0)
    })
}

/// `ftok(path, id)` into `*key`.
#[no_mangle]
pub unsafe extern "C" fn sysvring_key_ftok(path: *const c_char, id: c_int, key: *mut i32) -> c_int {
    boundary(|| {
        if path.is_null() {
            return Err(invalid("path is NULL"));
        }
        // SAFETY: a non-null `path` is a NUL-terminated string (the caller's contract).
        let path = unsafe { CStr::from_ptr(path) };
        let path = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path.to_bytes());
        let k = Key::from_path(path, id).map_err(Error::from)?;
        // SAFETY: the caller passes NULL or a writable int32_t.
        unsafe { put(key, k.raw(), "key")? };
        Ok(0)
    })
}

/// Creates the channel (`IPC_CREAT | IPC_EXCL`); this handle owns it (removes it when
/// closed, unless `sysvring_keep`).
#[no_mangle]
pub unsafe extern "C" fn sysvring_create(
    o: *const sysvring_options,
    out: *mut *mut sysvring_channel,
) -> c_int {
    boundary(|| {
        // SAFETY: the caller's contract on `o`.
        let p = unsafe { plan(o)? };
        if out.is_null() {
            return Err(invalid("out is NULL"));
        }
        let shared = create(&p)?;
        boxed(out, shared, p.elem_size)?;
        Ok(0)
    })
}

/// Opens the channel another process created, checking it against the options.
#[no_mangle]
pub unsafe extern "C" fn sysvring_open(
    o: *const sysvring_options,
    out: *mut *mut sysvring_channel,
) -> c_int {
    boundary(|| {
        // SAFETY: the caller's contract on `o`.
        let p = unsafe { plan(o)? };
        if out.is_null() {
            return Err(invalid("out is NULL"));
        }
        let shared = open(&p)?;
        boxed(out, shared, p.elem_size)?;
        Ok(0)
    })
}

/// Opens the channel, or creates it if there is none (a start-up race resolved with
/// `IPC_EXCL`). `*created` (may be NULL) says which happened.
#[no_mangle]
pub unsafe extern "C" fn sysvring_open_or_create(
    o: *const sysvring_options,
    out: *mut *mut sysvring_channel,
    created: *mut c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: the caller's contract on `o`.
        let p = unsafe { plan(o)? };
        if out.is_null() {
            return Err(invalid("out is NULL"));
        }
        let (shared, made) = open_or_create(&p)?;
        if !created.is_null() {
            // SAFETY: non-null and writable by the caller's contract.
            unsafe { created.write(c_int::from(made)) };
        }
        boxed(out, shared, p.elem_size)?;
        Ok(0)
    })
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
        let end = ch.shared.sender::<()>(Spin::default())?;
        let tx = Box::into_raw(Box::new(sysvring_sender {
            end,
            elem_size: ch.elem_size,
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
        let end = ch.shared.receiver::<()>(Spin::default())?;
        let rx = Box::into_raw(Box::new(sysvring_receiver {
            end,
            elem_size: ch.elem_size,
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
        let tx = unsafe { deref(tx, "sender")? };
        // SAFETY: as above.
        let m = unsafe { msg_bytes(msg, size, tx.elem_size)? };
        tx.end
            .send_raw_until(m, timeout(timeout_us))
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
        let tx = unsafe { deref(tx, "sender")? };
        // SAFETY: as above.
        let m = unsafe { msg_bytes(msg, size, tx.elem_size)? };
        tx.end
            .try_send_raw(m)
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
        let rx = unsafe { deref(rx, "receiver")? };
        // SAFETY: as above.
        let b = unsafe { buf_bytes(buf, size, rx.elem_size)? };
        rx.end
            .recv_raw_until(b, timeout(timeout_us))
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
        let rx = unsafe { deref(rx, "receiver")? };
        // SAFETY: as above.
        let b = unsafe { buf_bytes(buf, size, rx.elem_size)? };
        rx.end
            .try_recv_raw(b)
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
        let tx = unsafe { deref(tx, "sender")? };
        let fill = fill.ok_or_else(|| invalid("fill is NULL"))?;
        let size = tx.elem_size;
        tx.end
            .send_in_place(size, timeout(timeout_us), |slot| {
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
        let rx = unsafe { deref(rx, "receiver")? };
        let read = read.ok_or_else(|| invalid("read is NULL"))?;
        let size = rx.elem_size;
        rx.end
            .recv_in_place(size, timeout(timeout_us), |msg| {
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
        unsafe { put(out, ch.shared.len(), "out")? };
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
        unsafe { put(out, ch.shared.capacity(), "out")? };
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
        unsafe { put(out, ch.elem_size as u64, "out")? };
        Ok(0)
    })
}

/// The transport in use: `SYSVRING_TRANSPORT_SHM` or `_MSGQ` (or a negative code).
#[no_mangle]
pub unsafe extern "C" fn sysvring_transport(ch: *const sysvring_channel) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle.
        let ch = unsafe { deref(ch, "channel")? };
        Ok(match ch.shared.transport() {
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
        if size != std::mem::size_of::<sysvring_stats>() {
            return Err(invalid("size is not sizeof(sysvring_stats)"));
        }
        let s = ch.shared.stats();
        let v = sysvring_stats {
            sent: s.sent,
            received: s.received,
            wakeups: s.wakeups,
            sleeps: s.sleeps,
            skipped: s.skipped,
            senders: s.senders,
            receivers: s.receivers,
        };
        // SAFETY: `out` NULL or writable for a `sysvring_stats` (size checked).
        unsafe { put(out, v, "out")? };
        Ok(0)
    })
}

/// Keeps the kernel objects after this process closes its handles.
#[no_mangle]
pub unsafe extern "C" fn sysvring_keep(ch: *const sysvring_channel) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle.
        unsafe { deref(ch, "channel")? }.shared.disown();
        Ok(0)
    })
}

/// Removes the channel now (`IPC_RMID`); peers drain it and then see disconnected.
#[no_mangle]
pub unsafe extern "C" fn sysvring_remove(ch: *const sysvring_channel) -> c_int {
    boundary(|| {
        // SAFETY: `ch` is NULL or a live handle.
        unsafe { deref(ch, "channel")? }.shared.remove()?;
        Ok(0)
    })
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
            (Error::Os("semop", io()), SYSVRING_E_OS),
        ];
        for (e, code) in &all {
            assert_eq!(error_code(e), *code, "{e}");
        }
        let codes: std::collections::BTreeSet<c_int> = all.iter().map(|(_, c)| *c).collect();
        assert_eq!(codes.len(), all.len());
    }
}
