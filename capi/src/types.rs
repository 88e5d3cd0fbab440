//! The `#[repr(C)]` structs, handles and callback types of `include/sysvring.h`.

use super::*;

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
    /// Must be 0. (Where version 1 of this struct, 80 bytes, had `open_timeout_ms`:
    /// a struct of that size is still accepted, with that meaning.)
    pub reserved: u32,
    /// Without `type` and `prim`: the raw fingerprint to use.
    pub fingerprint: u64,
    /// With a raw fingerprint: the type name to record (NULL: empty).
    pub type_name: *const c_char,
    /// Open: how long to wait for a creator still initialising the channel, in µs
    /// like every timeout (`sysvring_options_init`: 1 s; 0: do not wait;
    /// `SYSVRING_FOREVER`: no limit).
    pub open_timeout_us: u64,
}

/// The size of version 1 of [`sysvring_options`] (without `open_timeout_us`, with
/// `open_timeout_ms` in place of `reserved`), still accepted.
pub(super) const OPTIONS_V1_SIZE: u64 = 80;

/// The default `open_timeout_us`: 1 s.
pub(super) const DEFAULT_OPEN_TIMEOUT_US: u64 = 1_000_000;

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
    pub(super) ch: UntypedChannel,
}

/// A sender (opaque to C).
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct sysvring_sender {
    pub(super) end: UntypedSender,
}

/// A receiver (opaque to C).
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct sysvring_receiver {
    pub(super) end: UntypedReceiver,
}

/// Fills a slot in place (`sysvring_send_in_place`): `slot` has `size` writable bytes.
#[allow(non_camel_case_types)]
pub type sysvring_fill_fn =
    Option<unsafe extern "C" fn(slot: *mut c_void, size: usize, ctx: *mut c_void)>;
/// Reads a message in place (`sysvring_recv_in_place`).
#[allow(non_camel_case_types)]
pub type sysvring_read_fn =
    Option<unsafe extern "C" fn(msg: *const c_void, size: usize, ctx: *mut c_void)>;
