//! The compile-time description ([`Shape`]) and its `const` fingerprint.

use std::fmt;

use super::{FieldDesc, StructDesc, TypeDesc, FNV_OFFSET_BASIS};
use crate::ring::layout::fnv1a;

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

/// The compile-time description of a [`Message`](super::Message) type (its
/// [`Message::SHAPE`](super::Message::SHAPE)).
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
