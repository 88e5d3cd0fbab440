//! Options to channels: `sysvring_options_init`, `sysvring_key_ftok` and
//! create/open/open_or_create from run-time size, alignment and type description.

use super::*;

pub(super) fn timeout(us: u64) -> Option<Duration> {
    if us == SYSVRING_FOREVER {
        None
    } else {
        Some(Duration::from_micros(us))
    }
}

/// # Safety
/// `o` is NULL or points to a `sysvring_options` whose pointers are NULL or valid.
pub(super) unsafe fn plan(o: *const sysvring_options) -> Result<Spec, Fail> {
    // SAFETY: the caller's contract; we read `struct_size` first through a u64 so a
    // caller's older, smaller struct is not read past its end.
    let size = unsafe { deref(o.cast::<u64>(), "options")? };
    let o: sysvring_options = match *size {
        n if n == std::mem::size_of::<sysvring_options>() as u64 => {
            // SAFETY: as above, and the size says the whole struct is there.
            let o = unsafe { *o };
            if o.reserved != 0 {
                return Err(invalid("options.reserved is not 0"));
            }
            o
        }
        OPTIONS_V1_SIZE => {
            // Version 1: the same fields up to `type_name`, `open_timeout_ms` (0:
            // 1000) where `reserved` is now, and no `open_timeout_us`.
            let mut v = defaults();
            // SAFETY: the caller's struct has `OPTIONS_V1_SIZE` readable bytes, a
            // prefix of ours with the same layout; `v` is a local of the larger size.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    o.cast::<u8>(),
                    std::ptr::addr_of_mut!(v).cast::<u8>(),
                    OPTIONS_V1_SIZE as usize,
                )
            };
            v.open_timeout_us = match v.reserved {
                0 => DEFAULT_OPEN_TIMEOUT_US,
                ms => u64::from(ms) * 1000,
            };
            v
        }
        _ => {
            return Err(invalid(
                "options.struct_size is not sizeof(sysvring_options): start from \
                 sysvring_options_init()",
            ))
        }
    };
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
    let (ty, size, align) = unsafe { desc::type_of(&o)? };
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
    Ok(Spec {
        key: Key::from_raw(o.key),
        flavor,
        transport,
        mode: o.mode,
        elem_size,
        elem_align,
        capacity: (o.capacity != 0).then_some(o.capacity),
        ty,
        trusted: Vec::new(),
        open_timeout: timeout(o.open_timeout_us).unwrap_or(Duration::MAX),
    })
}

pub(super) fn boxed(out: *mut *mut sysvring_channel, ch: UntypedChannel) -> Result<(), Fail> {
    if out.is_null() {
        return Err(invalid("out is NULL"));
    }
    let ch = Box::into_raw(Box::new(sysvring_channel { ch }));
    // SAFETY: `out` is non-null and, by the caller's contract, writable.
    unsafe { out.write(ch) };
    Ok(())
}

/// Fills `o` with the defaults: its `struct_size`, key 0 (private), flavor and
/// transport "any"/auto, mode 0600, `open_timeout_us` 1 s, everything else 0/NULL.
#[no_mangle]
pub unsafe extern "C" fn sysvring_options_init(o: *mut sysvring_options) -> c_int {
    boundary(|| {
        // SAFETY: the caller passes NULL or a writable `sysvring_options`.
        unsafe { put(o, defaults(), "options")? };
        Ok(0)
    })
}

/// The options `sysvring_options_init` writes.
fn defaults() -> sysvring_options {
    sysvring_options {
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
        reserved: 0,
        fingerprint: 0,
        type_name: std::ptr::null(),
        open_timeout_us: DEFAULT_OPEN_TIMEOUT_US,
    }
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
        boxed(out, p.create().map_err(|e| create_error(e, p.capacity))?)?;
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
        boxed(out, p.open()?)?;
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
        let (ch, made) = p
            .open_or_create()
            .map_err(|e| create_error(e, p.capacity))?;
        if !created.is_null() {
            // SAFETY: non-null and writable by the caller's contract.
            unsafe { created.write(c_int::from(made)) };
        }
        boxed(out, ch)?;
        Ok(0)
    })
}
