//! C field tables: a `sysvring_struct` becomes a [`TypeDesc`], validated and
//! fingerprinted by `crate::message`, so a C struct and the same `#[repr(C)]` Rust
//! struct with `#[derive(sysvring::Message)]` get the same fingerprint and name.

use std::ffi::{c_char, c_int, CStr};

use super::SYSVRING_E_BAD_TYPE;
use super::{boundary, deref, invalid, put, set_last, sysvring_options, Fail};
use sysvring::message::{FieldDesc, Prim, StructDesc, TypeDesc, MAX_DEPTH};
use sysvring::untyped::TypeTag;

/// Field type code of a nested struct (`sysvring_field.nested`); the primitive codes
/// are [`Prim::code`] (`SYSVRING_U8` = 1 … `SYSVRING_F64` = 12).
pub const SYSVRING_STRUCT: u32 = 100;
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

/// The [`TypeDesc`] of a C struct description (not yet validated).
///
/// # Safety
/// `s` and everything it points to (names, fields, nested structs) are valid.
pub(super) unsafe fn struct_desc(s: &sysvring_struct, depth: usize) -> Result<TypeDesc, Fail> {
    if depth > MAX_DEPTH {
        return Err(bad(format!("nested deeper than {MAX_DEPTH}")));
    }
    // SAFETY: the caller's contract.
    let name = unsafe { text(s.name, "a struct name")? };
    if s.nfields > MAX_FIELDS {
        return Err(bad(format!("{name}: more than {MAX_FIELDS} fields")));
    }
    if s.nfields > 0 && s.fields.is_null() {
        return Err(bad(format!("{name}: fields is NULL")));
    }
    let mut fields = Vec::with_capacity(s.nfields as usize);
    for i in 0..s.nfields as usize {
        // SAFETY: `fields` holds `nfields` entries (the caller's contract).
        let f = unsafe { &*s.fields.add(i) };
        // SAFETY: as above.
        let fname = unsafe { text(f.name, "a field name")? };
        let mut ty = if f.r#type == SYSVRING_STRUCT {
            if f.nested.is_null() {
                return Err(bad(format!("{name}.{fname}: nested is NULL")));
            }
            // SAFETY: a non-null `nested` is a valid description (the contract).
            unsafe { struct_desc(&*f.nested, depth + 1)? }
        } else {
            match Prim::from_code(f.r#type) {
                Some(p) => TypeDesc::Prim(p),
                None => {
                    return Err(bad(format!(
                        "{name}.{fname}: unknown type code {}",
                        f.r#type
                    )))
                }
            }
        };
        if f.ndims as usize > SYSVRING_MAX_DIMS {
            return Err(bad(format!(
                "{name}.{fname}: ndims above {SYSVRING_MAX_DIMS}"
            )));
        }
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

/// A validated description of a C struct.
///
/// # Safety
/// As [`struct_desc`].
pub(super) unsafe fn validated(s: &sysvring_struct) -> Result<TypeDesc, Fail> {
    // SAFETY: the caller's contract.
    let d = unsafe { struct_desc(s, 0)? };
    d.validate().map_err(|e| bad(e.to_string()))?;
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
