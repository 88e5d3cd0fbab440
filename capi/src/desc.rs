//! C field tables: a `sysvring_struct` becomes a [`TypeDesc`], validated and
//! fingerprinted by `crate::message`, so a C struct and the same `#[repr(C)]` Rust
//! struct with `#[derive(sysvring::Message)]` get the same fingerprint and name.

use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, c_int, CStr};

use super::SYSVRING_E_BAD_TYPE;
use super::{boundary, deref, invalid, put, set_last, sysvring_options, Fail};
use sysvring::message::{DescError, FieldDesc, Prim, StructDesc, TypeDesc, MAX_DEPTH};
use sysvring::untyped::TypeTag;

/// Field type code of a nested struct (`sysvring_field.nested`); the primitive codes
/// are [`Prim::code`] (`SYSVRING_U8` = 1 … `SYSVRING_F64` = 12).
pub const SYSVRING_STRUCT: u32 = 100;
/// The type code of C's `char`: [`Prim::U8`]'s, so a `char` field has the
/// fingerprint of a Rust `u8` (whatever the signedness of `char`: the bytes travel
/// unchanged). No primitive is added, so no fingerprint changes.
pub const SYSVRING_CHAR: u32 = Prim::U8.code();
/// Most array dimensions of one field.
pub const SYSVRING_MAX_DIMS: usize = 4;
/// Most fields of one struct.
const MAX_FIELDS: u64 = 4096;

/// One field of a C struct description.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct sysvring_field {
    /// The field's name (NUL-terminated UTF-8 identifier).
    pub name: *const c_char,
    /// A primitive code (`SYSVRING_U8` …) or `SYSVRING_STRUCT`.
    pub r#type: u32,
    /// Array dimensions used in `dims` (0: not an array).
    pub ndims: u32,
    /// Offset of the field in the struct (`offsetof`).
    pub offset: u64,
    /// Array lengths, outermost first: `int32_t m[2][3]` is `{2, 3}`.
    pub dims: [u64; SYSVRING_MAX_DIMS],
    /// The nested struct's description when `type` is `SYSVRING_STRUCT`.
    pub nested: *const sysvring_struct,
}

/// A C struct description: what `#[derive(sysvring::Message)]` derives in Rust.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct sysvring_struct {
    /// The struct's name without `struct` (NUL-terminated UTF-8 identifier).
    pub name: *const c_char,
    /// `sizeof`.
    pub size: u64,
    /// `_Alignof`.
    pub align: u64,
    /// Entries in `fields`.
    pub nfields: u64,
    /// The fields in declaration order.
    pub fields: *const sysvring_field,
}

fn bad(what: String) -> Fail {
    set_last(format!("invalid type description: {what}"));
    Fail(SYSVRING_E_BAD_TYPE)
}

/// A [`DescError`] in C terms: the padding rule says what to write instead.
fn bad_desc(e: &DescError) -> Fail {
    bad(match e {
        DescError::Padding { path, end, size } => format!(
            "{path}: the fields end at {end} but sizeof is {size}: implicit padding is not \
             allowed (its bytes would travel uninitialised); declare the {} bytes as an \
             explicit reserved field at the end, e.g. `uint8_t _reserved[{}];`",
            size - end,
            size - end
        ),
        DescError::Misplaced {
            path,
            offset,
            expected,
        } if offset > expected => format!(
            "{path}: at offset {offset}, but the previous field ends at {expected}: implicit \
             padding is not allowed; declare the {} bytes before it as an explicit reserved \
             field, e.g. `uint8_t _reserved[{}];`",
            offset - expected,
            offset - expected
        ),
        other => other.to_string(),
    })
}

/// # Safety
/// A non-null `p` is a NUL-terminated string.
unsafe fn text(p: *const c_char, what: &str) -> Result<String, Fail> {
    if p.is_null() {
        return Err(bad(format!("{what} is NULL")));
    }
    // SAFETY: the caller's contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map(str::to_owned)
        .map_err(|_| bad(format!("{what} is not UTF-8")))
}

/// Most bytes of a description's canonical text (the text the fingerprint hashes, in
/// which a struct used twice appears twice): a larger table is refused before it is
/// expanded. No realistic struct comes near it (a 4096-field struct with long names
/// needs about 100 KiB).
pub const SYSVRING_MAX_DESC_TEXT: u64 = 1 << 20;
/// Most distinct struct descriptions in one table.
const MAX_STRUCTS: usize = 4096;
/// Most fields read across the distinct struct descriptions of one table.
const MAX_FIELDS_TOTAL: u64 = 1 << 16;

/// Decimal digits of `n` (its length in the canonical text).
fn digits(n: u64) -> u64 {
    u64::from(n.checked_ilog10().unwrap_or(0)) + 1
}

/// What the first pass learns of one struct description.
#[derive(Clone, Copy)]
struct Measured {
    /// Nesting below it, as [`MAX_DEPTH`] counts it (a struct's fields are one level
    /// down, an array's element one more).
    height: usize,
    /// Bytes of its canonical text (saturating).
    text: u64,
}

/// The first pass over a field table: every distinct struct description (by
/// address) is read once, its layout checked against its own size and the declared
/// sizes of the structs it holds before any of them is entered; cycles, nesting and
/// the total work are bounded. What it accepts expands to at most
/// [`SYSVRING_MAX_DESC_TEXT`] bytes, so the second pass (building the
/// [`TypeDesc`] the library validates and fingerprints) is bounded too.
#[derive(Default)]
struct Walk {
    /// `None` while a struct is being measured (seeing it again is a cycle).
    seen: HashMap<*const sysvring_struct, Option<Measured>>,
    fields_read: u64,
}

impl Walk {
    /// # Safety
    /// `p` is a valid description (the caller's contract on the whole table).
    unsafe fn measure(
        &mut self,
        p: *const sysvring_struct,
        path: &str,
        chain: usize,
    ) -> Result<Measured, Fail> {
        match self.seen.get(&p) {
            Some(Some(m)) => return Ok(*m),
            Some(None) => {
                return Err(bad(format!(
                    "{path}: a struct that contains itself (the field table has a cycle)"
                )))
            }
            None => {}
        }
        if chain > MAX_DEPTH {
            return Err(bad_desc(&DescError::TooDeep { path: path.into() }));
        }
        if self.seen.len() >= MAX_STRUCTS {
            return Err(bad(format!(
                "more than {MAX_STRUCTS} distinct struct descriptions"
            )));
        }
        // SAFETY: the caller's contract.
        let s = unsafe { &*p };
        // SAFETY: as above.
        let name = unsafe { text(s.name, "a struct name")? };
        let here = if path.is_empty() {
            name.clone()
        } else {
            path.to_owned()
        };
        if s.nfields == 0 {
            return Err(bad_desc(&DescError::NoFields { path: here }));
        }
        if s.nfields > MAX_FIELDS {
            return Err(bad(format!("{here}: more than {MAX_FIELDS} fields")));
        }
        if s.fields.is_null() {
            return Err(bad(format!("{here}: fields is NULL")));
        }
        self.fields_read += s.nfields;
        if self.fields_read > MAX_FIELDS_TOTAL {
            return Err(bad(format!(
                "more than {MAX_FIELDS_TOTAL} fields in all the struct descriptions"
            )));
        }
        let shape_ok = |size: u64, align: u64| align.is_power_of_two() && size % align == 0;
        if !shape_ok(s.size, s.align) {
            return Err(bad_desc(&DescError::BadAlign {
                path: here,
                size: s.size,
                align: s.align,
            }));
        }
        self.seen.insert(p, None);
        // SAFETY: `fields` holds `nfields` entries (the caller's contract).
        let fields = unsafe { std::slice::from_raw_parts(s.fields, s.nfields as usize) };
        // This struct's own layout, from its fields' declared sizes: nothing nested
        // is entered before it is consistent.
        let mut names = HashSet::with_capacity(fields.len());
        let mut end = 0u64;
        let mut text_len = (name.len() as u64)
            .saturating_add(4 + digits(s.size) + digits(s.align) + fields.len() as u64 - 1);
        for f in fields {
            // SAFETY: as above.
            let fname = unsafe { text(f.name, "a field name")? };
            let at = format!("{here}.{fname}");
            if !names.insert(fname.clone()) {
                return Err(bad_desc(&DescError::DuplicateField {
                    path: here,
                    field: fname,
                }));
            }
            if f.ndims as usize > SYSVRING_MAX_DIMS {
                return Err(bad(format!("{at}: ndims above {SYSVRING_MAX_DIMS}")));
            }
            let (mut size, align, base_text) = if f.r#type == SYSVRING_STRUCT {
                // SAFETY: a non-null `nested` is a valid description (the contract).
                let n = unsafe { f.nested.as_ref() }
                    .ok_or_else(|| bad(format!("{at}: nested is NULL")))?;
                if !shape_ok(n.size, n.align) {
                    return Err(bad_desc(&DescError::BadAlign {
                        path: at,
                        size: n.size,
                        align: n.align,
                    }));
                }
                (n.size, n.align, 0)
            } else {
                let prim = Prim::from_code(f.r#type)
                    .ok_or_else(|| bad(format!("{at}: unknown type code {}", f.r#type)))?;
                (prim.size(), prim.align(), prim.as_str().len() as u64)
            };
            let dims = &f.dims[..f.ndims as usize];
            let mut ty_text = base_text;
            // Innermost dimension first, as the array types nest (and as the library
            // checks them: `[[T; 0]; n]` has size 0 for any n).
            for &n in dims.iter().rev() {
                size = size
                    .checked_mul(n)
                    .ok_or_else(|| bad_desc(&DescError::TooLarge { path: at.clone() }))?;
                ty_text = ty_text.saturating_add(3 + digits(n));
            }
            let align = align.min(s.align);
            if f.offset % align != 0 {
                return Err(bad_desc(&DescError::Misaligned {
                    path: at,
                    offset: f.offset,
                    align,
                }));
            }
            if f.offset != end {
                return Err(bad_desc(&DescError::Misplaced {
                    path: at,
                    offset: f.offset,
                    expected: end,
                }));
            }
            end = end
                .checked_add(size)
                .ok_or_else(|| bad_desc(&DescError::TooLarge { path: at.clone() }))?;
            if end > s.size {
                return Err(bad_desc(&DescError::OutOfBounds {
                    path: at,
                    end,
                    size: s.size,
                }));
            }
            text_len = text_len
                .saturating_add(fname.len() as u64 + 2 + digits(f.offset))
                .saturating_add(ty_text);
        }
        if end != s.size {
            return Err(bad_desc(&DescError::Padding {
                path: here,
                end,
                size: s.size,
            }));
        }
        // Then the structs it holds, each once.
        let mut height = 0;
        for f in fields {
            let below = if f.r#type == SYSVRING_STRUCT {
                // SAFETY: read above.
                let fname = unsafe { text(f.name, "a field name")? };
                // SAFETY: checked non-null above; valid by the contract.
                let m = unsafe { self.measure(f.nested, &format!("{here}.{fname}"), chain + 1)? };
                text_len = text_len.saturating_add(m.text);
                m.height
            } else {
                0
            };
            height = height.max(1 + f.ndims as usize + below);
            if text_len > SYSVRING_MAX_DESC_TEXT {
                return Err(bad(format!(
                    "{here}: the description expands to more than {SYSVRING_MAX_DESC_TEXT} \
                     bytes of canonical text (each use of a nested struct counts in full); \
                     no fingerprint is computed for it"
                )));
            }
        }
        if height > MAX_DEPTH {
            return Err(bad_desc(&DescError::TooDeep { path: here }));
        }
        let m = Measured {
            height,
            text: text_len,
        };
        self.seen.insert(p, Some(m));
        Ok(m)
    }
}

/// The [`TypeDesc`] of a C struct description that [`Walk::measure`] accepted
/// (acyclic, at most [`SYSVRING_MAX_DESC_TEXT`] bytes expanded).
///
/// # Safety
/// `s` and everything it points to (names, fields, nested structs) are valid.
unsafe fn build(s: &sysvring_struct) -> Result<TypeDesc, Fail> {
    // SAFETY: the caller's contract.
    let name = unsafe { text(s.name, "a struct name")? };
    // SAFETY: measured: `fields` holds `nfields` entries.
    let raw = unsafe { std::slice::from_raw_parts(s.fields, s.nfields as usize) };
    let mut fields = Vec::with_capacity(raw.len());
    for f in raw {
        // SAFETY: as above.
        let fname = unsafe { text(f.name, "a field name")? };
        let mut ty = if f.r#type == SYSVRING_STRUCT {
            // SAFETY: measured: non-null and valid.
            unsafe { build(&*f.nested)? }
        } else {
            TypeDesc::Prim(Prim::from_code(f.r#type).ok_or_else(|| bad("type code".into()))?)
        };
        // `m[2][3]` is `[[T; 3]; 2]`: wrap from the innermost dimension out.
        for &n in f.dims[..f.ndims as usize].iter().rev() {
            ty = TypeDesc::Array(Box::new(ty), n);
        }
        fields.push(FieldDesc {
            name: fname,
            ty,
            offset: f.offset,
        });
    }
    Ok(TypeDesc::Struct(StructDesc {
        name,
        fields,
        size: s.size,
        align: s.align,
    }))
}

/// A validated description of a C struct: checked within a fixed budget first
/// ([`Walk`]), then built and validated by the library exactly as a Rust type's.
///
/// # Safety
/// `s` and everything it points to (names, fields, nested structs) are valid.
pub(super) unsafe fn validated(s: &sysvring_struct) -> Result<TypeDesc, Fail> {
    // SAFETY: the caller's contract.
    unsafe { Walk::default().measure(s, "", 0)? };
    // SAFETY: as above; measured, so acyclic and bounded.
    let d = unsafe { build(s)? };
    d.validate().map_err(|e| bad_desc(&e))?;
    Ok(d)
}

/// The type tag, size and alignment the options describe.
///
/// # Safety
/// The pointers in `o` are NULL or valid.
pub(super) unsafe fn type_of(o: &sysvring_options) -> Result<(TypeTag, u64, u64), Fail> {
    if !o.r#type.is_null() {
        // SAFETY: non-null and valid by the caller's contract.
        let d = unsafe { validated(&*o.r#type)? };
        let tag = TypeTag {
            fingerprint: d.fingerprint(),
            name: d.name(),
        };
        return Ok((tag, d.size(), d.align()));
    }
    if o.prim != 0 {
        let p = Prim::from_code(o.prim).ok_or_else(|| invalid("options.prim"))?;
        let d = TypeDesc::Prim(p);
        let tag = TypeTag {
            fingerprint: d.fingerprint(),
            name: d.name(),
        };
        return Ok((tag, d.size(), d.align()));
    }
    let name = if o.type_name.is_null() {
        String::new()
    } else {
        // SAFETY: a non-null `type_name` is a NUL-terminated string.
        unsafe { CStr::from_ptr(o.type_name) }
            .to_str()
            .map_err(|_| invalid("options.type_name is not UTF-8"))?
            .to_owned()
    };
    let tag = TypeTag {
        fingerprint: o.fingerprint,
        name,
    };
    Ok((tag, 0, 0))
}

/// The fingerprint of a C struct description into `*out` (after validating it:
/// `SYSVRING_E_BAD_TYPE` for an inconsistent table). The same value
/// `#[derive(sysvring::Message)]` gives the same `#[repr(C)]` struct in Rust.
#[no_mangle]
pub unsafe extern "C" fn sysvring_fingerprint(s: *const sysvring_struct, out: *mut u64) -> c_int {
    boundary(|| {
        // SAFETY: `s` is NULL or a valid description (the caller's contract).
        let s = unsafe { deref(s, "type")? };
        // SAFETY: as above.
        let d = unsafe { validated(s)? };
        // SAFETY: `out` is NULL or writable.
        unsafe { put(out, d.fingerprint(), "out")? };
        Ok(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    /// The first pass measures exactly the canonical text the library hashes, so the
    /// budget is "at most `SYSVRING_MAX_DESC_TEXT` bytes of canonical text", exactly.
    #[test]
    fn the_measured_text_is_the_canonical_text() {
        let n = |s: &str| CString::new(s).unwrap();
        let names = [
            n("Inner"),
            n("x"),
            n("long_name_12"),
            n("Outer"),
            n("a"),
            n("b"),
        ];
        let field = |name: &CString, ty: u32, offset: u64, dims: &[u64], nested| {
            let mut d = [0; SYSVRING_MAX_DIMS];
            d[..dims.len()].copy_from_slice(dims);
            sysvring_field {
                name: name.as_ptr(),
                r#type: ty,
                ndims: dims.len() as u32,
                offset,
                dims: d,
                nested,
            }
        };
        let inner_fields = [
            field(&names[1], Prim::U16.code(), 0, &[3, 11], std::ptr::null()),
            field(&names[2], Prim::U8.code(), 66, &[1234], std::ptr::null()),
        ];
        let inner = sysvring_struct {
            name: names[0].as_ptr(),
            size: 1300,
            align: 2,
            nfields: 2,
            fields: inner_fields.as_ptr(),
        };
        let outer_fields = [
            field(&names[4], SYSVRING_STRUCT, 0, &[], &inner),
            field(&names[5], SYSVRING_STRUCT, 1300, &[2, 1, 5], &inner),
        ];
        let outer = sysvring_struct {
            name: names[3].as_ptr(),
            size: 1300 * 11,
            align: 2,
            nfields: 2,
            fields: outer_fields.as_ptr(),
        };
        for s in [&inner, &outer] {
            // SAFETY: the tables above are complete and alive.
            let m = unsafe { Walk::default().measure(s, "", 0) }.ok().unwrap();
            // SAFETY: as above.
            let d = unsafe { build(s) }.ok().unwrap();
            d.validate().unwrap();
            assert_eq!(m.text, d.canonical().len() as u64, "{d}");
        }
    }
}
