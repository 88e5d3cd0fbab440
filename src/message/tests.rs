//! Unit tests of the message descriptions.

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
