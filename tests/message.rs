//! `#[derive(sysvring::Message)]` from another crate: names, canonical descriptions
//! and fingerprints of derived structs, and their agreement with hand-built
//! (C-style) field tables.

use sysvring::message::{FieldDesc, Prim, Shape, StructDesc, TypeDesc};
use sysvring::Message;

/// The fingerprint of `Tick { seq: u64, price: f64 }`: a constant, so that a change
/// of algorithm is a visible decision (the unit tests and the module docs assert it too).
const TICK_FINGERPRINT: u64 = 0x7531_27c8_6547_fe50;
const U64_FINGERPRINT: u64 = 0x4d35_d319_3e8d_66f2;

mod feed {
    #[derive(
        Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message,
    )]
    #[repr(C)]
    pub struct Tick {
        pub seq: u64,
        pub price: f64,
    }
}

mod other {
    pub mod deeper {
        use sysvring::Message;

        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Message)]
        #[repr(C)]
        pub struct Tick {
            pub seq: u64,
            pub price: f64,
        }
    }
}

mod renamed_field {
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
    #[repr(C)]
    pub struct Tick {
        pub sequence: u64,
        pub price: f64,
    }
}

mod reordered {
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
    #[repr(C)]
    pub struct Tick {
        pub price: f64,
        pub seq: u64,
    }
}

mod retyped {
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
    #[repr(C)]
    pub struct Tick {
        pub seq: f64,
        pub price: f64,
    }
}

mod renamed_type {
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, sysvring::Message)]
    #[repr(C)]
    pub struct Quote {
        pub seq: u64,
        pub price: f64,
    }
}

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Message)]
#[repr(C)]
struct Level {
    px: i64,
    qty: u32,
    orders: u32,
}

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Message)]
#[repr(C)]
struct Book {
    tick: feed::Tick,
    bids: [Level; 4],
    venue: [u8; 8],
    flags: [[u16; 2]; 2],
}

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Message)]
#[repr(C)]
struct Pair(u32, i32);

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Message)]
#[repr(transparent)]
struct Seq(u64);

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Message)]
#[repr(C, packed)]
struct Packed {
    tag: u8,
    value: u32,
}

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Message)]
#[repr(C, align(16))]
struct Wide {
    lanes: [u32; 4],
}

#[allow(non_camel_case_types)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Message)]
#[repr(C)]
struct r#Raw {
    r#type: u32,
    r#match: u32,
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

fn arr(e: TypeDesc, n: u64) -> TypeDesc {
    TypeDesc::Array(Box::new(e), n)
}

#[test]
fn fixed_fingerprints_are_constants() {
    assert_eq!(feed::Tick::fingerprint(), TICK_FINGERPRINT);
    assert_eq!(u64::fingerprint(), U64_FINGERPRINT);
    const AT_COMPILE_TIME: u64 = <feed::Tick as Message>::SHAPE.fingerprint();
    assert_eq!(AT_COMPILE_TIME, TICK_FINGERPRINT);
    assert_eq!(
        feed::Tick::type_desc().canonical(),
        "Tick{seq:u64@0,price:f64@8}#16/8"
    );
}

#[test]
fn same_definition_in_two_modules_is_the_same_type() {
    assert_eq!(
        feed::Tick::fingerprint(),
        other::deeper::Tick::fingerprint()
    );
    assert_eq!(feed::Tick::type_name(), "Tick");
    assert_eq!(other::deeper::Tick::type_name(), "Tick");
    assert_eq!(
        <feed::Tick as Message>::SHAPE,
        <other::deeper::Tick as Message>::SHAPE
    );
}

#[test]
fn renamed_reordered_or_retyped_is_another_type() {
    let base = feed::Tick::fingerprint();
    let others = [
        ("renamed field", renamed_field::Tick::fingerprint()),
        ("reordered", reordered::Tick::fingerprint()),
        ("retyped", retyped::Tick::fingerprint()),
        ("renamed type", renamed_type::Quote::fingerprint()),
        ("bare u64 pair", <[u64; 2]>::fingerprint()),
    ];
    for (what, fp) in others {
        assert_ne!(fp, base, "{what}");
    }
    let mut all: Vec<u64> = others.iter().map(|o| o.1).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), others.len());
    assert_eq!(renamed_type::Quote::type_name(), "Quote");
}

#[test]
fn nested_structs_and_arrays_match_a_field_table() {
    // Book as a C program would describe it, field by field.
    let tick = st(
        "Tick",
        vec![
            field("seq", Prim::U64.into(), 0),
            field("price", Prim::F64.into(), 8),
        ],
        16,
        8,
    );
    let level = st(
        "Level",
        vec![
            field("px", Prim::I64.into(), 0),
            field("qty", Prim::U32.into(), 8),
            field("orders", Prim::U32.into(), 12),
        ],
        16,
        8,
    );
    let book = st(
        "Book",
        vec![
            field("tick", tick, 0),
            field("bids", arr(level, 4), 16),
            field("venue", arr(Prim::U8.into(), 8), 80),
            field("flags", arr(arr(Prim::U16.into(), 2), 2), 88),
        ],
        96,
        8,
    );
    book.validate().unwrap();
    assert_eq!(book, Book::type_desc());
    assert_eq!(book.fingerprint(), Book::fingerprint());
    assert_eq!(book.name(), Book::type_name());
    assert_eq!(
        book.canonical(),
        "Book{tick:Tick{seq:u64@0,price:f64@8}#16/8@0,\
         bids:[Level{px:i64@0,qty:u32@8,orders:u32@12}#16/8;4]@16,\
         venue:[u8;8]@80,flags:[[u16;2];2]@88}#96/8"
    );
    let books = arr(book, 2);
    assert_eq!(books.fingerprint(), <[Book; 2]>::fingerprint());
    assert_eq!(<[Book; 2]>::type_name(), "[Book;2]");
}

#[test]
fn every_derived_description_is_valid_and_consistent() {
    fn check<T: Message>(canonical: &str) {
        let desc = T::type_desc();
        desc.validate().unwrap();
        assert_eq!(desc.canonical(), canonical);
        assert_eq!(T::SHAPE.canonical(), canonical);
        assert_eq!(T::fingerprint(), desc.fingerprint());
        assert_eq!(T::SHAPE.size(), std::mem::size_of::<T>() as u64);
        assert_eq!(T::SHAPE.align(), std::mem::align_of::<T>() as u64);
    }
    check::<Pair>("Pair{0:u32@0,1:i32@4}#8/4");
    check::<Seq>("Seq{0:u64@0}#8/8");
    check::<Packed>("Packed{tag:u8@0,value:u32@1}#5/1");
    check::<Wide>("Wide{lanes:[u32;4]@0}#16/16");
    check::<Raw>("Raw{type:u32@0,match:u32@4}#8/4");
    check::<[feed::Tick; 3]>("[Tick{seq:u64@0,price:f64@8}#16/8;3]");
    check::<u128>("u128");
    check::<[i8; 64]>("[i8;64]");
}

#[test]
fn the_shape_is_plain_static_data() {
    match <Book as Message>::SHAPE {
        Shape::Struct(s) => {
            assert_eq!(s.name, "Book");
            let names: Vec<&str> = s.fields.iter().map(|f| f.name).collect();
            assert_eq!(names, ["tick", "bids", "venue", "flags"]);
            assert_eq!(s.fields[1].ty, <[Level; 4] as Message>::SHAPE);
            assert_eq!(s.fields[1].offset, 16);
        }
        other => panic!("not a struct: {other:?}"),
    }
}
