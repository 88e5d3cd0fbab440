//! Message types and their structural identity.
//!
//! A channel carries values of one type `T: Message`: a [`bytemuck::Pod`] type that
//! also describes itself structurally ([`Message::SHAPE`]): its name without module
//! path; for a struct every field's name, type (recursively) and offset; its size and
//! alignment. Two processes agree on `T` when their descriptions are identical, which
//! they check through a 64-bit [fingerprint](Message::fingerprint) of that description.
//!
//! `Message` is implemented for the fixed-width integers (`u8` … `u128`, `i8` …
//! `i128`), `f32`, `f64`, and arrays `[T; N]` of any `Message` type; structs get it
//! from `#[derive(sysvring::Message)]` (feature `derive`, on by default):
//!
//! ```
//! use sysvring::Message;
//!
//! #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Message)]
//! #[repr(C)]
//! struct Tick {
//!     seq: u64,
//!     price: f64,
//! }
//!
//! assert_eq!(Tick::type_name(), "Tick");
//! assert_eq!(Tick::type_desc().canonical(), "Tick{seq:u64@0,price:f64@8}#16/8");
//! assert_eq!(Tick::fingerprint(), 0x7531_27c8_6547_fe50);
//! // The fingerprint is a `const fn` of the description:
//! const TICK: u64 = <Tick as Message>::SHAPE.fingerprint();
//! assert_eq!(TICK, Tick::fingerprint());
//! ```
//!
//! # The canonical description (version 1)
//!
//! The fingerprint is the 64-bit FNV-1a hash (offset basis `0xcbf29ce484222325`,
//! prime `0x100000001b3`) of the UTF-8 bytes of this text, with no separators beyond
//! those shown and every number in decimal ASCII without sign or leading zeros:
//!
//! ```text
//! desc   = prim | array | struct
//! prim   = "u8" | "u16" | "u32" | "u64" | "u128"
//!        | "i8" | "i16" | "i32" | "i64" | "i128" | "f32" | "f64"
//! array  = "[" desc ";" LENGTH "]"
//! struct = NAME "{" field *("," field) "}" "#" SIZE "/" ALIGN
//! field  = NAME ":" desc "@" OFFSET
//! ```
//!
//! `Tick{seq:u64@0,price:f64@8}#16/8`, `[u8;4]`, and a nested struct appears with its
//! own full description: `Quote{tick:Tick{seq:u64@0,price:f64@8}#16/8@0,…}#…/…`.
//! A struct's `NAME` is its identifier without module path (`r#` removed), a field's
//! is its identifier or, for a tuple struct, its index (`0`, `1`, …); fields come in
//! declaration order (which `#[repr(C)]` keeps in memory). Nothing else enters it: no
//! crate or module path, no `type_name`, no `TypeId`, no compiler version. So the
//! fingerprint is the same for identical definitions in any crate, build, compiler
//! version or language (C builds a [`TypeDesc`] from a field table), and differs when a
//! type or field is renamed, when fields are reordered or retyped, or when the layout
//! (offsets, size, alignment) differs. The algorithm is fixed: a change is a new
//! layout version, and tests assert the fingerprints of fixed types.
//!
//! # `usize` and `isize` are not messages
//!
//! Their size differs between targets (a 32-bit and a 64-bit process can share a host),
//! and their description would have to say which; use `u64`/`u32` (`i64`/`i32`)
//! explicitly. `bool`, `char`, pointers and references are not `Pod`.
//!
//! # Two forms of the description
//!
//! [`Shape`] is the compile-time form (`&'static` data, a `const` of every `Message`
//! type, `const fn` fingerprint); [`TypeDesc`] is the owned run-time form that a
//! foreign field table (C) builds, [validates](TypeDesc::validate) and fingerprints.
//! Both give the same [canonical text](TypeDesc::canonical) and fingerprint for the
//! same type: [`Shape::to_desc`] converts.
//!
//! # Errors of the derive
//!
//! `#[derive(Message)]` refuses, with a compile error naming the reason: enums and
//! unions; generic structs (lifetime, type or const parameters); structs without
//! `#[repr(C)]` or `#[repr(transparent)]` (`align(N)` and `packed` may be added); and
//! structs without fields. A field whose type is not a `Message` (`usize`, `bool`, a
//! struct without the derive) fails with "`X` is not a `sysvring::Message`"; a struct
//! that is not `bytemuck::Pod` (not derived, or with padding) fails the `Pod` bound.
//! Each of these is a compile error (the examples below are checked to fail):
//!
//! ```compile_fail
//! #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
//! struct NoRepr { seq: u64 } // needs `#[repr(C)]`
//! ```
//!
//! ```compile_fail
//! #[derive(Clone, Copy, sysvring::Message)]
//! #[repr(u8)]
//! enum Side { Buy, Sell } // enums are not messages
//! ```
//!
//! ```compile_fail
//! #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
//! #[repr(C)]
//! struct Generic<T: Copy + 'static> { value: T } // generic
//! ```
//!
//! ```compile_fail,E0277
//! #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
//! #[repr(C)]
//! struct Len { len: usize } // `usize` is not a Message
//! ```
//!
//! ```compile_fail,E0277
//! #[derive(Clone, Copy, sysvring::Message)]
//! #[repr(C)]
//! struct NotPod { seq: u64 } // no `bytemuck::Pod`
//! ```

mod desc;
mod name;
mod shape;
#[cfg(test)]
mod tests;

pub use desc::{DescError, FieldDesc, StructDesc, TypeDesc};
pub use name::{decode_type_name, encode_type_name};
pub use shape::{FieldShape, Prim, Shape, StructShape};

/// The FNV-1a 64-bit offset basis: the hash of the empty text.
pub const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// Bytes of the header's type-name field (the segment layout's): see
/// [`encode_type_name`].
pub const TYPE_NAME_LEN: usize = crate::ring::layout::TYPE_NAME_LEN;

/// Deepest nesting of arrays and structs that [`TypeDesc::validate`] accepts.
pub const MAX_DEPTH: usize = 32;

/// A type whose values can travel through a sysvring channel: plain old data
/// (`bytemuck::Pod`) that describes itself structurally.
///
/// Derive it with `#[derive(sysvring::Message)]` on a `#[repr(C)]` struct (see the
/// [module docs](crate::message)); it is implemented for the fixed-width integers,
/// `f32`, `f64` and arrays of messages.
///
/// # Safety
///
/// [`SHAPE`](Message::SHAPE) must describe `Self` exactly: for a struct its name, every
/// field in declaration order with that field type's own `SHAPE` and its real offset,
/// and `size_of::<Self>()` and `align_of::<Self>()`. Peers trust a matching fingerprint
/// to mean a matching layout. The provided methods must not be overridden.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `sysvring::Message`",
    label = "not a `sysvring::Message`",
    note = "derive it on a `#[repr(C)]` struct whose fields are messages: \
            `#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]`",
    note = "`usize`, `isize`, `bool`, `char`, pointers and references are not messages: \
            use fixed-width integers such as `u64`"
)]
pub unsafe trait Message: bytemuck::Pod {
    /// The structural description of `Self`.
    const SHAPE: Shape;

    /// The fingerprint: FNV-1a 64 of the canonical description (module docs). Also
    /// available in `const` context as `<T as Message>::SHAPE.fingerprint()`.
    fn fingerprint() -> u64 {
        Self::SHAPE.fingerprint()
    }

    /// The type's name without module path: `Tick`, `u64`, `[Tick;4]`.
    fn type_name() -> String {
        Self::SHAPE.name()
    }

    /// The owned description, as a foreign field table would build it.
    fn type_desc() -> TypeDesc {
        Self::SHAPE.to_desc()
    }
}

macro_rules! prim_message {
    ($($t:ty => $p:ident),* $(,)?) => {$(
        // SAFETY: a primitive is described as itself; its size and alignment follow
        // from the `Prim` (`Prim::size` is its fixed width, `Prim::align` its
        // `align_of` on this target).
        unsafe impl Message for $t {
            const SHAPE: Shape = Shape::Prim(Prim::$p);
        }
    )*};
}

prim_message! {
    u8 => U8, u16 => U16, u32 => U32, u64 => U64, u128 => U128,
    i8 => I8, i16 => I16, i32 => I32, i64 => I64, i128 => I128,
    f32 => F32, f64 => F64,
}

// SAFETY: the unit type is an empty struct named `()`: size 0, alignment 1, which is
// its layout. (A zero-sized message carries only its arrival.)
unsafe impl Message for () {
    const SHAPE: Shape = Shape::Struct(&StructShape {
        name: "()",
        fields: &[],
        size: 0,
        align: 1,
    });
}

// SAFETY: an array is its element type's description repeated `N` times without
// padding (size `N * size_of::<T>()`, alignment `align_of::<T>()`), which is what
// `Shape::Array` says. The bound `[T; N]: Pod` is bytemuck's: every length with its
// `min_const_generics` feature, the common lengths without it.
unsafe impl<T: Message, const N: usize> Message for [T; N]
where
    [T; N]: bytemuck::Pod,
{
    const SHAPE: Shape = Shape::Array(&T::SHAPE, N as u64);
}
