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

use std::fmt::{self, Write as _};

use crate::ring::layout::fnv1a;

/// The FNV-1a 64-bit offset basis: the hash of the empty text.
pub const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// Bytes of the header's type-name field: see [`encode_type_name`].
pub const TYPE_NAME_LEN: usize = 64;

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

/// A primitive type of a description, with the code a C field table uses for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
#[non_exhaustive]
pub enum Prim {
    /// `u8` / `uint8_t`.
    U8 = 1,
    /// `u16` / `uint16_t`.
    U16 = 2,
    /// `u32` / `uint32_t`.
    U32 = 3,
    /// `u64` / `uint64_t`.
    U64 = 4,
    /// `u128` / `unsigned __int128`.
    U128 = 5,
    /// `i8` / `int8_t`.
    I8 = 6,
    /// `i16` / `int16_t`.
    I16 = 7,
    /// `i32` / `int32_t`.
    I32 = 8,
    /// `i64` / `int64_t`.
    I64 = 9,
    /// `i128` / `__int128`.
    I128 = 10,
    /// `f32` / `float`.
    F32 = 11,
    /// `f64` / `double`.
    F64 = 12,
}

impl Prim {
    /// Every primitive, in code order.
    pub const ALL: [Prim; 12] = [
        Prim::U8,
        Prim::U16,
        Prim::U32,
        Prim::U64,
        Prim::U128,
        Prim::I8,
        Prim::I16,
        Prim::I32,
        Prim::I64,
        Prim::I128,
        Prim::F32,
        Prim::F64,
    ];

    /// The stable code of this primitive (for C field tables).
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The primitive with this code, if any.
    pub const fn from_code(code: u32) -> Option<Prim> {
        if code >= 1 && code <= Prim::ALL.len() as u32 {
            Some(Prim::ALL[code as usize - 1])
        } else {
            None
        }
    }

    /// Its name in the canonical description (the Rust type's name).
    pub const fn as_str(self) -> &'static str {
        match self {
            Prim::U8 => "u8",
            Prim::U16 => "u16",
            Prim::U32 => "u32",
            Prim::U64 => "u64",
            Prim::U128 => "u128",
            Prim::I8 => "i8",
            Prim::I16 => "i16",
            Prim::I32 => "i32",
            Prim::I64 => "i64",
            Prim::I128 => "i128",
            Prim::F32 => "f32",
            Prim::F64 => "f64",
        }
    }

    /// Its size in bytes (the same on every target).
    pub const fn size(self) -> u64 {
        match self {
            Prim::U8 | Prim::I8 => 1,
            Prim::U16 | Prim::I16 => 2,
            Prim::U32 | Prim::I32 | Prim::F32 => 4,
            Prim::U64 | Prim::I64 | Prim::F64 => 8,
            Prim::U128 | Prim::I128 => 16,
        }
    }

    /// Its alignment on this target (`u64` is 4-aligned on some 32-bit targets).
    pub const fn align(self) -> u64 {
        use std::mem::align_of;
        (match self {
            Prim::U8 => align_of::<u8>(),
            Prim::U16 => align_of::<u16>(),
            Prim::U32 => align_of::<u32>(),
            Prim::U64 => align_of::<u64>(),
            Prim::U128 => align_of::<u128>(),
            Prim::I8 => align_of::<i8>(),
            Prim::I16 => align_of::<i16>(),
            Prim::I32 => align_of::<i32>(),
            Prim::I64 => align_of::<i64>(),
            Prim::I128 => align_of::<i128>(),
            Prim::F32 => align_of::<f32>(),
            Prim::F64 => align_of::<f64>(),
        }) as u64
    }
}

impl fmt::Display for Prim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The compile-time description of a [`Message`] type (its [`Message::SHAPE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Shape {
    /// A primitive.
    Prim(Prim),
    /// `[element; length]`.
    Array(&'static Shape, u64),
    /// A `#[repr(C)]` struct.
    Struct(&'static StructShape),
}

/// A struct in a [`Shape`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StructShape {
    /// The name without module path.
    pub name: &'static str,
    /// The fields in declaration order.
    pub fields: &'static [FieldShape],
    /// `size_of` the struct.
    pub size: u64,
    /// `align_of` the struct.
    pub align: u64,
}

/// A field of a [`StructShape`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldShape {
    /// The field's name, or its index in a tuple struct.
    pub name: &'static str,
    /// The field's type.
    pub ty: Shape,
    /// `offset_of` the field.
    pub offset: u64,
}

impl Shape {
    /// The fingerprint: FNV-1a 64 of the [canonical text](Shape::canonical), computed
    /// without allocating (usable in `const` items).
    pub const fn fingerprint(&self) -> u64 {
        hash_shape(FNV_OFFSET_BASIS, self)
    }

    /// The canonical description (module docs).
    pub fn canonical(&self) -> String {
        self.to_desc().canonical()
    }

    /// The type's name: the struct's name, the primitive's, or `[element;length]`.
    pub fn name(&self) -> String {
        self.to_desc().name()
    }

    /// Size in bytes.
    pub const fn size(&self) -> u64 {
        match *self {
            Shape::Prim(p) => p.size(),
            Shape::Array(e, n) => e.size().saturating_mul(n),
            Shape::Struct(s) => s.size,
        }
    }

    /// Alignment in bytes.
    pub const fn align(&self) -> u64 {
        match *self {
            Shape::Prim(p) => p.align(),
            Shape::Array(e, _) => e.align(),
            Shape::Struct(s) => s.align,
        }
    }

    /// The owned form of this description.
    pub fn to_desc(&self) -> TypeDesc {
        match *self {
            Shape::Prim(p) => TypeDesc::Prim(p),
            Shape::Array(e, n) => TypeDesc::Array(Box::new(e.to_desc()), n),
            Shape::Struct(s) => TypeDesc::Struct(StructDesc {
                name: s.name.to_owned(),
                fields: s
                    .fields
                    .iter()
                    .map(|f| FieldDesc {
                        name: f.name.to_owned(),
                        ty: f.ty.to_desc(),
                        offset: f.offset,
                    })
                    .collect(),
                size: s.size,
                align: s.align,
            }),
        }
    }
}

/// `n` in decimal ASCII, hashed into `h`.
const fn hash_dec(h: u64, mut n: u64) -> u64 {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let (_, used) = digits.split_at(at);
    fnv1a(used, h)
}

/// The canonical text of `s`, hashed into `h` piece by piece.
const fn hash_shape(mut h: u64, s: &Shape) -> u64 {
    match *s {
        Shape::Prim(p) => fnv1a(p.as_str().as_bytes(), h),
        Shape::Array(e, n) => {
            h = fnv1a(b"[", h);
            h = hash_shape(h, e);
            h = fnv1a(b";", h);
            h = hash_dec(h, n);
            fnv1a(b"]", h)
        }
        Shape::Struct(st) => {
            h = fnv1a(st.name.as_bytes(), h);
            h = fnv1a(b"{", h);
            let mut i = 0;
            while i < st.fields.len() {
                let f = &st.fields[i];
                if i > 0 {
                    h = fnv1a(b",", h);
                }
                h = fnv1a(f.name.as_bytes(), h);
                h = fnv1a(b":", h);
                h = hash_shape(h, &f.ty);
                h = fnv1a(b"@", h);
                h = hash_dec(h, f.offset);
                i += 1;
            }
            h = fnv1a(b"}#", h);
            h = hash_dec(h, st.size);
            h = fnv1a(b"/", h);
            hash_dec(h, st.align)
        }
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

/// The owned, language-neutral description of a message type: what a C field table
/// describes, with the same [canonical text](TypeDesc::canonical) and
/// [fingerprint](TypeDesc::fingerprint) as [`Message::SHAPE`] gives the equivalent
/// Rust type. `Display` writes the canonical text.
///
/// ```
/// use sysvring::message::{FieldDesc, Prim, StructDesc, TypeDesc};
///
/// let tick = TypeDesc::Struct(StructDesc {
///     name: "Tick".into(),
///     fields: vec![
///         FieldDesc { name: "seq".into(), ty: TypeDesc::Prim(Prim::U64), offset: 0 },
///         FieldDesc { name: "price".into(), ty: TypeDesc::Prim(Prim::F64), offset: 8 },
///     ],
///     size: 16,
///     align: 8,
/// });
/// tick.validate()?;
/// assert_eq!(tick.to_string(), "Tick{seq:u64@0,price:f64@8}#16/8");
/// assert_eq!(tick.fingerprint(), 0x7531_27c8_6547_fe50);
/// # Ok::<(), sysvring::message::DescError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TypeDesc {
    /// A primitive.
    Prim(Prim),
    /// `[element; length]`.
    Array(Box<TypeDesc>, u64),
    /// A `#[repr(C)]` struct.
    Struct(StructDesc),
}

/// A struct in a [`TypeDesc`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StructDesc {
    /// The name without module path: an identifier.
    pub name: String,
    /// The fields in declaration (= memory) order.
    pub fields: Vec<FieldDesc>,
    /// Size in bytes.
    pub size: u64,
    /// Alignment in bytes.
    pub align: u64,
}

/// A field of a [`StructDesc`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldDesc {
    /// The field's name (an identifier), or its index in a tuple struct.
    pub name: String,
    /// The field's type.
    pub ty: TypeDesc,
    /// Offset in bytes from the start of the struct.
    pub offset: u64,
}

impl From<Prim> for TypeDesc {
    fn from(p: Prim) -> TypeDesc {
        TypeDesc::Prim(p)
    }
}

impl TypeDesc {
    /// The description of `T`.
    pub fn of<T: Message>() -> TypeDesc {
        T::type_desc()
    }

    /// The canonical description (module docs), e.g. `Tick{seq:u64@0,price:f64@8}#16/8`.
    pub fn canonical(&self) -> String {
        self.to_string()
    }

    /// FNV-1a 64 of the [canonical text](TypeDesc::canonical). The text identifies
    /// the type only when the description is [valid](TypeDesc::validate) (names
    /// without delimiters, a consistent layout): validate a foreign table first.
    pub fn fingerprint(&self) -> u64 {
        fnv1a(self.canonical().as_bytes(), FNV_OFFSET_BASIS)
    }

    /// The type's name: the struct's name, the primitive's, or `[element;length]`.
    pub fn name(&self) -> String {
        match self {
            TypeDesc::Prim(p) => p.as_str().to_owned(),
            TypeDesc::Array(e, n) => format!("[{};{n}]", e.name()),
            TypeDesc::Struct(s) => s.name.clone(),
        }
    }

    /// Size in bytes (saturating: [`validate`](TypeDesc::validate) refuses overflow).
    pub fn size(&self) -> u64 {
        match self {
            TypeDesc::Prim(p) => p.size(),
            TypeDesc::Array(e, n) => e.size().saturating_mul(*n),
            TypeDesc::Struct(s) => s.size,
        }
    }

    /// Alignment in bytes (a primitive's on this target).
    pub fn align(&self) -> u64 {
        match self {
            TypeDesc::Prim(p) => p.align(),
            TypeDesc::Array(e, _) => e.align(),
            TypeDesc::Struct(s) => s.align,
        }
    }

    /// Checks that the description is a consistent `Pod` layout on this target:
    /// names are identifiers (a field may be a tuple index) and unique within their
    /// struct; a struct has fields, a power-of-two alignment and a size that is a
    /// multiple of it; fields are in offset order, each aligned (to the smaller of its
    /// own and the struct's alignment, so packed structs pass), each starting exactly
    /// where the previous one ends and the last ending at the size (no overlap and no
    /// padding, as `Pod` requires); sizes do not overflow; nesting is at most
    /// [`MAX_DEPTH`] deep. The first inconsistency found is returned, with the path to it.
    pub fn validate(&self) -> Result<(), DescError> {
        let mut path = String::new();
        self.check(&mut path, 0).map(|_| ())
    }

    /// Validates at `path` (`Outer.field[]`) and returns the size.
    fn check(&self, path: &mut String, depth: usize) -> Result<u64, DescError> {
        if depth > MAX_DEPTH {
            return Err(DescError::TooDeep { path: path.clone() });
        }
        match self {
            TypeDesc::Prim(p) => Ok(p.size()),
            TypeDesc::Array(e, n) => {
                let len = path.len();
                path.push_str("[]");
                let elem = e.check(path, depth + 1)?;
                path.truncate(len);
                elem.checked_mul(*n)
                    .ok_or_else(|| DescError::TooLarge { path: path.clone() })
            }
            TypeDesc::Struct(s) => s.check(path, depth),
        }
    }
}

impl StructDesc {
    fn check(&self, path: &mut String, depth: usize) -> Result<u64, DescError> {
        if path.is_empty() {
            path.push_str(&self.name);
        }
        let here = path.clone();
        if !is_ident(&self.name) {
            return Err(DescError::BadName {
                path: here,
                name: self.name.clone(),
            });
        }
        if self.fields.is_empty() {
            return Err(DescError::NoFields { path: here });
        }
        if !self.align.is_power_of_two() || self.size % self.align != 0 {
            return Err(DescError::BadAlign {
                path: here,
                size: self.size,
                align: self.align,
            });
        }
        let mut end = 0u64;
        for (i, f) in self.fields.iter().enumerate() {
            if !(is_ident(&f.name) || is_index(&f.name)) {
                return Err(DescError::BadName {
                    path: here,
                    name: f.name.clone(),
                });
            }
            if self.fields[..i].iter().any(|g| g.name == f.name) {
                return Err(DescError::DuplicateField {
                    path: here,
                    field: f.name.clone(),
                });
            }
            let len = path.len();
            path.push('.');
            path.push_str(&f.name);
            let size = f.ty.check(path, depth + 1)?;
            let at = path.clone();
            path.truncate(len);
            let align = f.ty.align().min(self.align);
            if f.offset % align != 0 {
                return Err(DescError::Misaligned {
                    path: at,
                    offset: f.offset,
                    align,
                });
            }
            if f.offset != end {
                return Err(DescError::Misplaced {
                    path: at,
                    offset: f.offset,
                    expected: end,
                });
            }
            end = end
                .checked_add(size)
                .ok_or(DescError::TooLarge { path: at.clone() })?;
            if end > self.size {
                return Err(DescError::OutOfBounds {
                    path: at,
                    end,
                    size: self.size,
                });
            }
        }
        if end != self.size {
            return Err(DescError::Padding {
                path: here,
                end,
                size: self.size,
            });
        }
        Ok(self.size)
    }
}

/// An identifier: a letter or `_`, then letters, digits or `_` (Unicode allowed).
fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// A tuple index: `0`, or decimal digits without a leading zero.
fn is_index(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

impl fmt::Display for TypeDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeDesc::Prim(p) => f.write_str(p.as_str()),
            TypeDesc::Array(e, n) => write!(f, "[{e};{n}]"),
            TypeDesc::Struct(s) => {
                f.write_str(&s.name)?;
                f.write_char('{')?;
                for (i, field) in s.fields.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{}:{}@{}", field.name, field.ty, field.offset)?;
                }
                write!(f, "}}#{}/{}", s.size, s.align)
            }
        }
    }
}

/// Why a [`TypeDesc`] is inconsistent. `path` names the place: the outer struct's
/// name, then `.field` and `[]` (array element) steps, e.g. `Quote.levels[].px`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DescError {
    /// A struct or field name that is not an identifier (or tuple index).
    BadName {
        /// Where.
        path: String,
        /// The name.
        name: String,
    },
    /// Two fields of one struct share a name.
    DuplicateField {
        /// The struct.
        path: String,
        /// The repeated name.
        field: String,
    },
    /// A struct without fields.
    NoFields {
        /// The struct.
        path: String,
    },
    /// An alignment that is not a power of two, or a size not a multiple of it.
    BadAlign {
        /// The struct.
        path: String,
        /// Its size.
        size: u64,
        /// Its alignment.
        align: u64,
    },
    /// A field at an offset that its alignment does not allow.
    Misaligned {
        /// The field.
        path: String,
        /// Its offset.
        offset: u64,
        /// The alignment it needs.
        align: u64,
    },
    /// A field that does not start where the previous one ends: out of order,
    /// overlapping, or after padding.
    Misplaced {
        /// The field.
        path: String,
        /// Its offset.
        offset: u64,
        /// Where the previous field ends (0 for the first).
        expected: u64,
    },
    /// A field that ends past the struct's size.
    OutOfBounds {
        /// The field.
        path: String,
        /// Where it ends.
        end: u64,
        /// The struct's size.
        size: u64,
    },
    /// Trailing padding: the fields end before the struct's size.
    Padding {
        /// The struct.
        path: String,
        /// Where the last field ends.
        end: u64,
        /// The struct's size.
        size: u64,
    },
    /// A size that overflows 64 bits.
    TooLarge {
        /// Where.
        path: String,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep {
        /// Where.
        path: String,
    },
}

impl fmt::Display for DescError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DescError::BadName { path, name } => {
                write!(f, "{path}: {name:?} is not an identifier")
            }
            DescError::DuplicateField { path, field } => {
                write!(f, "{path}: field {field:?} appears twice")
            }
            DescError::NoFields { path } => write!(f, "{path}: a struct without fields"),
            DescError::BadAlign { path, size, align } => write!(
                f,
                "{path}: alignment {align} is not a power of two dividing the size {size}"
            ),
            DescError::Misaligned {
                path,
                offset,
                align,
            } => write!(f, "{path}: offset {offset} is not a multiple of {align}"),
            DescError::Misplaced {
                path,
                offset,
                expected,
            } => write!(
                f,
                "{path}: at offset {offset}, but the previous field ends at {expected} \
                 (fields must be in order, without overlap or padding)"
            ),
            DescError::OutOfBounds { path, end, size } => {
                write!(f, "{path}: ends at {end}, past the struct's size {size}")
            }
            DescError::Padding { path, end, size } => write!(
                f,
                "{path}: the fields end at {end} but the size is {size} (padding is not Pod)"
            ),
            DescError::TooLarge { path } => write!(f, "{path}: the size overflows 64 bits"),
            DescError::TooDeep { path } => {
                write!(f, "{path}: nested more than {MAX_DEPTH} levels deep")
            }
        }
    }
}

impl std::error::Error for DescError {}

/// The header's type-name field: `name`'s UTF-8 bytes, NUL-padded to
/// [`TYPE_NAME_LEN`] (no terminator when exactly that long). A longer name is cut at
/// the last character boundary at or before byte 61 and ends in `...`, so a reader
/// sees it was truncated; the fingerprint, not the name, decides type identity.
pub fn encode_type_name(name: &str) -> [u8; TYPE_NAME_LEN] {
    let mut out = [0u8; TYPE_NAME_LEN];
    if name.len() <= TYPE_NAME_LEN {
        out[..name.len()].copy_from_slice(name.as_bytes());
    } else {
        let mut cut = TYPE_NAME_LEN - 3;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        out[..cut].copy_from_slice(&name.as_bytes()[..cut]);
        out[cut..cut + 3].copy_from_slice(b"...");
    }
    out
}

/// Reads a type-name field written by [`encode_type_name`] (or by anyone: the bytes
/// are untrusted): up to the first NUL, invalid UTF-8 replaced.
pub fn decode_type_name(raw: &[u8; TYPE_NAME_LEN]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C)]
    struct Tick {
        seq: u64,
        price: f64,
    }

    // SAFETY: written as the derive writes it: every field in order with its type's
    // SHAPE and offset_of, and size_of/align_of the struct.
    unsafe impl Message for Tick {
        const SHAPE: Shape = Shape::Struct(&StructShape {
            name: "Tick",
            fields: &[
                FieldShape {
                    name: "seq",
                    ty: u64::SHAPE,
                    offset: std::mem::offset_of!(Tick, seq) as u64,
                },
                FieldShape {
                    name: "price",
                    ty: f64::SHAPE,
                    offset: std::mem::offset_of!(Tick, price) as u64,
                },
            ],
            size: std::mem::size_of::<Tick>() as u64,
            align: std::mem::align_of::<Tick>() as u64,
        });
    }

    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C)]
    struct Book {
        tick: Tick,
        levels: [[u32; 2]; 4],
        venue: [u8; 8],
    }

    // SAFETY: as for Tick.
    unsafe impl Message for Book {
        const SHAPE: Shape = Shape::Struct(&StructShape {
            name: "Book",
            fields: &[
                FieldShape {
                    name: "tick",
                    ty: Tick::SHAPE,
                    offset: std::mem::offset_of!(Book, tick) as u64,
                },
                FieldShape {
                    name: "levels",
                    ty: <[[u32; 2]; 4]>::SHAPE,
                    offset: std::mem::offset_of!(Book, levels) as u64,
                },
                FieldShape {
                    name: "venue",
                    ty: <[u8; 8]>::SHAPE,
                    offset: std::mem::offset_of!(Book, venue) as u64,
                },
            ],
            size: std::mem::size_of::<Book>() as u64,
            align: std::mem::align_of::<Book>() as u64,
        });
    }

    fn field(name: &str, ty: TypeDesc, offset: u64) -> FieldDesc {
        FieldDesc {
            name: name.into(),
            ty,
            offset,
        }
    }

    fn st(name: &str, fields: Vec<FieldDesc>, size: u64, align: u64) -> TypeDesc {
        TypeDesc::Struct(StructDesc {
            name: name.into(),
            fields,
            size,
            align,
        })
    }

    /// Tick as a C field table would describe it.
    fn tick_table() -> TypeDesc {
        st(
            "Tick",
            vec![
                field("seq", Prim::U64.into(), 0),
                field("price", Prim::F64.into(), 8),
            ],
            16,
            8,
        )
    }

    fn arr(e: TypeDesc, n: u64) -> TypeDesc {
        TypeDesc::Array(Box::new(e), n)
    }

    /// Independent FNV-1a 64, written out here so the test does not trust `fnv1a`.
    fn fnv(text: &str) -> u64 {
        text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    }

    #[test]
    fn fixed_fingerprints() {
        // A change here changes every channel's type identity: a layout version bump.
        assert_eq!(u64::fingerprint(), 0x4d35_d319_3e8d_66f2);
        assert_eq!(Tick::fingerprint(), 0x7531_27c8_6547_fe50);
        assert_eq!(u64::fingerprint(), fnv("u64"));
        assert_eq!(Tick::fingerprint(), fnv("Tick{seq:u64@0,price:f64@8}#16/8"));
        assert_eq!(<[u8; 4]>::fingerprint(), fnv("[u8;4]"));
    }

    #[test]
    fn canonical_text_and_names() {
        assert_eq!(Tick::SHAPE.canonical(), "Tick{seq:u64@0,price:f64@8}#16/8");
        assert_eq!(
            Book::SHAPE.canonical(),
            "Book{tick:Tick{seq:u64@0,price:f64@8}#16/8@0,levels:[[u32;2];4]@16,\
             venue:[u8;8]@48}#56/8"
        );
        assert_eq!(Tick::type_name(), "Tick");
        assert_eq!(Book::type_name(), "Book");
        assert_eq!(<[Tick; 3]>::type_name(), "[Tick;3]");
        assert_eq!(i128::type_name(), "i128");
        for p in Prim::ALL {
            assert_eq!(Prim::from_code(p.code()), Some(p));
            assert_eq!(TypeDesc::Prim(p).name(), p.to_string());
        }
        assert_eq!(Prim::from_code(0), None);
        assert_eq!(Prim::from_code(13), None);
    }

    #[test]
    fn every_primitive_matches_its_type() {
        fn check<T: Message>(p: Prim) {
            assert_eq!(T::SHAPE, Shape::Prim(p));
            assert_eq!(p.size(), std::mem::size_of::<T>() as u64);
            assert_eq!(p.align(), std::mem::align_of::<T>() as u64);
            assert_eq!(T::fingerprint(), fnv(p.as_str()));
        }
        check::<u8>(Prim::U8);
        check::<u16>(Prim::U16);
        check::<u32>(Prim::U32);
        check::<u64>(Prim::U64);
        check::<u128>(Prim::U128);
        check::<i8>(Prim::I8);
        check::<i16>(Prim::I16);
        check::<i32>(Prim::I32);
        check::<i64>(Prim::I64);
        check::<i128>(Prim::I128);
        check::<f32>(Prim::F32);
        check::<f64>(Prim::F64);
        let fps: std::collections::HashSet<u64> = Prim::ALL
            .iter()
            .map(|&p| TypeDesc::Prim(p).fingerprint())
            .collect();
        assert_eq!(fps.len(), Prim::ALL.len());
    }

    #[test]
    fn trait_and_table_agree() {
        let book = st(
            "Book",
            vec![
                field("tick", tick_table(), 0),
                field("levels", arr(arr(Prim::U32.into(), 2), 4), 16),
                field("venue", arr(Prim::U8.into(), 8), 48),
            ],
            56,
            8,
        );
        book.validate().unwrap();
        assert_eq!(book, Book::type_desc());
        assert_eq!(book.fingerprint(), Book::fingerprint());
        assert_eq!(tick_table().fingerprint(), Tick::fingerprint());
        let books = arr(book, 3);
        assert_eq!(books.fingerprint(), <[Book; 3]>::fingerprint());
        assert_eq!(books.name(), "[Book;3]");
        assert_eq!(books.size(), 3 * 56);
        assert_eq!(books.align(), 8);
        // The const hash and the text hash agree everywhere.
        for shape in [
            Book::SHAPE,
            <[Book; 2]>::SHAPE,
            <[[u8; 3]; 128]>::SHAPE,
            u128::SHAPE,
        ] {
            assert_eq!(shape.fingerprint(), fnv(&shape.canonical()));
            assert_eq!(shape.to_desc().fingerprint(), shape.fingerprint());
            assert_eq!(shape.size(), shape.to_desc().size());
            assert_eq!(shape.align(), shape.to_desc().align());
            shape.to_desc().validate().unwrap();
        }
        const BOOK: u64 = Book::SHAPE.fingerprint();
        assert_eq!(BOOK, Book::fingerprint());
    }

    #[test]
    fn changes_change_the_fingerprint() {
        let base = tick_table().fingerprint();
        let variants = [
            // renamed field
            st(
                "Tick",
                vec![
                    field("sequence", Prim::U64.into(), 0),
                    field("price", Prim::F64.into(), 8),
                ],
                16,
                8,
            ),
            // renamed type
            st(
                "Tock",
                vec![
                    field("seq", Prim::U64.into(), 0),
                    field("price", Prim::F64.into(), 8),
                ],
                16,
                8,
            ),
            // reordered
            st(
                "Tick",
                vec![
                    field("price", Prim::F64.into(), 0),
                    field("seq", Prim::U64.into(), 8),
                ],
                16,
                8,
            ),
            // retyped
            st(
                "Tick",
                vec![
                    field("seq", Prim::F64.into(), 0),
                    field("price", Prim::F64.into(), 8),
                ],
                16,
                8,
            ),
            // signedness
            st(
                "Tick",
                vec![
                    field("seq", Prim::I64.into(), 0),
                    field("price", Prim::F64.into(), 8),
                ],
                16,
                8,
            ),
        ];
        for v in &variants {
            v.validate().unwrap();
            assert_ne!(v.fingerprint(), base, "{v}");
        }
        assert_ne!(
            arr(Prim::U8.into(), 4).fingerprint(),
            arr(Prim::U8.into(), 5).fingerprint()
        );
        assert_ne!(
            arr(Prim::U8.into(), 4).fingerprint(),
            Prim::U32.into_desc().fingerprint()
        );
    }

    impl Prim {
        fn into_desc(self) -> TypeDesc {
            self.into()
        }
    }

    #[test]
    fn validation_refuses_inconsistent_tables() {
        let err = |d: TypeDesc| d.validate().unwrap_err();
        let two = |a: (&str, Prim, u64), b: (&str, Prim, u64), size, align| {
            st(
                "T",
                vec![field(a.0, a.1.into(), a.2), field(b.0, b.1.into(), b.2)],
                size,
                align,
            )
        };
        use Prim::*;
        assert!(matches!(
            err(two(("a", U32, 4), ("b", U32, 0), 8, 4)),
            DescError::Misplaced {
                offset: 4,
                expected: 0,
                ..
            }
        ));
        assert!(matches!(
            err(two(("a", U64, 0), ("b", U32, 4), 16, 8)),
            DescError::Misplaced {
                offset: 4,
                expected: 8,
                ..
            }
        ));
        // A gap (padding) between fields.
        assert!(matches!(
            err(two(("a", U8, 0), ("b", U32, 4), 8, 4)),
            DescError::Misplaced {
                offset: 4,
                expected: 1,
                ..
            }
        ));
        assert!(matches!(
            err(two(("a", U32, 0), ("b", U32, 4), 16, 4)),
            DescError::Padding {
                end: 8,
                size: 16,
                ..
            }
        ));
        assert!(matches!(
            err(two(("a", U32, 0), ("b", U64, 4), 8, 4)),
            DescError::OutOfBounds {
                end: 12,
                size: 8,
                ..
            }
        ));
        assert!(matches!(
            err(two(("a", U32, 0), ("b", U64, 4), 16, 8)),
            DescError::Misaligned { align: 8, .. }
        ));
        // packed(4): a u64 at offset 4 is fine when the struct's alignment is 4.
        two(("a", U32, 0), ("b", U64, 4), 12, 4).validate().unwrap();
        assert!(matches!(
            err(two(("a", U32, 0), ("b", U64, 4), 12, 8)),
            DescError::BadAlign { .. }
        ));
        assert!(matches!(
            err(two(("a", U32, 0), ("b", U32, 4), 8, 3)),
            DescError::BadAlign { .. }
        ));
        assert!(matches!(
            err(two(("a", U32, 0), ("b", U32, 4), 4, 4)),
            DescError::OutOfBounds {
                end: 8,
                size: 4,
                ..
            }
        ));
        assert!(matches!(
            err(two(("a", U32, 0), ("a", U32, 4), 8, 4)),
            DescError::DuplicateField { .. }
        ));
        assert!(matches!(
            err(two(("a b", U32, 0), ("c", U32, 4), 8, 4)),
            DescError::BadName { .. }
        ));
        assert!(matches!(
            err(two(("a", U32, 0), ("01", U32, 4), 8, 4)),
            DescError::BadName { .. }
        ));
        assert!(matches!(
            err(st("T{", vec![field("a", U8.into(), 0)], 1, 1)),
            DescError::BadName { .. }
        ));
        assert!(matches!(
            err(st("T", vec![], 0, 1)),
            DescError::NoFields { .. }
        ));
        assert!(matches!(
            err(arr(arr(U64.into(), 1 << 40), 1 << 40)),
            DescError::TooLarge { .. }
        ));
        let mut deep = TypeDesc::Prim(U8);
        for _ in 0..=MAX_DEPTH {
            deep = arr(deep, 1);
        }
        assert!(matches!(err(deep), DescError::TooDeep { .. }));
        // Packed: a u32 at offset 1 is fine when the struct's alignment is 1.
        two(("a", U8, 0), ("b", U32, 1), 5, 1).validate().unwrap();
        two(("0", U32, 0), ("1", U32, 4), 8, 4).validate().unwrap();
        // The path names the nested field.
        let nested = st(
            "Outer",
            vec![field(
                "inner",
                arr(two(("a", U8, 0), ("b", U32, 2), 8, 4), 2),
                0,
            )],
            16,
            4,
        );
        let e = err(nested);
        assert!(e.to_string().starts_with("Outer.inner[].b: "), "{e}");
    }

    #[test]
    fn type_names_fit_the_header() {
        let short = encode_type_name("Tick");
        assert_eq!(&short[..5], b"Tick\0");
        assert_eq!(decode_type_name(&short), "Tick");
        let exact = "x".repeat(TYPE_NAME_LEN);
        assert_eq!(decode_type_name(&encode_type_name(&exact)), exact);
        let long = format!("{}é{}", "y".repeat(60), "z".repeat(20));
        let got = decode_type_name(&encode_type_name(&long));
        assert_eq!(got, format!("{}...", "y".repeat(60)));
        assert!(got.len() <= TYPE_NAME_LEN);
        let mut junk = [0xffu8; TYPE_NAME_LEN];
        junk[3] = 0;
        assert_eq!(decode_type_name(&junk), "\u{fffd}\u{fffd}\u{fffd}");
    }
}
