//! The owned run-time description ([`TypeDesc`]) and its validation.

use std::fmt::{self, Write as _};

use super::{Message, Prim, FNV_OFFSET_BASIS, MAX_DEPTH};
use crate::ring::layout::fnv1a;

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
        // A hash set: a foreign table may have thousands of fields.
        let mut names = std::collections::HashSet::with_capacity(self.fields.len());
        for f in &self.fields {
            if !(is_ident(&f.name) || is_index(&f.name)) {
                return Err(DescError::BadName {
                    path: here,
                    name: f.name.clone(),
                });
            }
            if !names.insert(f.name.as_str()) {
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
