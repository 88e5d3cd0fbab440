//! `#[derive(Message)]` for `sysvring`: implements
//! `sysvring::Message` for a `#[repr(C)]` (or `#[repr(transparent)]`) struct whose
//! fields all implement `Message`. Use it through the re-export, `sysvring::Message`.
//!
//! The generated `unsafe impl` describes the struct as `sysvring::message::Shape`:
//! its name without module path; each field's name, type (through the field type's
//! own `Message` impl) and offset (`core::mem::offset_of!`); its size and alignment.
//! Every path is fully qualified (`::sysvring::…`, `::core::…`), so the derive works
//! from any crate that depends on `sysvring`.
//!
//! Refused with a compile error: enums, unions, generic structs (lifetimes, types or
//! consts), structs without `#[repr(C)]`/`#[repr(transparent)]` (the Rust layout is
//! unspecified), and structs without fields. A field whose type is not a `Message`
//! fails the trait bound; a struct that is not `bytemuck::Pod` fails the supertrait.
#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::{parse_macro_input, Data, DeriveInput, Error, Index, LitStr, Member};

/// Derives `sysvring::Message` for a `#[repr(C)]` or `#[repr(transparent)]` struct
/// (also with `align(N)` or `packed`) whose fields all implement `Message`.
///
/// It does not derive `bytemuck::Pod`: derive `bytemuck::Pod` and `bytemuck::Zeroable`
/// next to it (the trait requires `Pod`, so a forgotten or impossible `Pod` is a
/// compile error).
#[proc_macro_derive(Message)]
pub fn derive_message(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

/// The impl for `input`, or the first reason it cannot be derived.
fn expand(input: &DeriveInput) -> Result<TokenStream2, Error> {
    let ident = &input.ident;
    let fields = match &input.data {
        Data::Struct(s) => &s.fields,
        Data::Enum(e) => {
            return Err(Error::new(
                e.enum_token.span,
                "`Message` cannot be derived for enums: not every bit pattern is a valid \
                 enum value (not `Pod`); use a `#[repr(C)]` struct with an integer field",
            ))
        }
        Data::Union(u) => {
            return Err(Error::new(
                u.union_token.span,
                "`Message` cannot be derived for unions: a union has no single structural \
                 description; use a `#[repr(C)]` struct or a byte array",
            ))
        }
    };
    if !input.generics.params.is_empty() {
        return Err(Error::new_spanned(
            &input.generics,
            "`Message` cannot be derived for generic structs: the description must be \
             one fixed layout; write a concrete `#[repr(C)]` struct",
        ));
    }
    check_repr(input)?;
    if fields.is_empty() {
        return Err(Error::new(
            ident.span(),
            "`Message` cannot be derived for a struct without fields: a message must \
             carry data (its size must not be zero)",
        ));
    }

    let name = LitStr::new(&ident.unraw().to_string(), ident.span());
    let entries = fields.iter().enumerate().map(|(i, field)| {
        let (member, field_name) = match &field.ident {
            Some(id) => (Member::Named(id.clone()), id.unraw().to_string()),
            None => (Member::Unnamed(Index::from(i)), i.to_string()),
        };
        let field_name = LitStr::new(&field_name, Span::call_site());
        let ty = &field.ty;
        quote! {
            ::sysvring::message::FieldShape {
                name: #field_name,
                ty: <#ty as ::sysvring::Message>::SHAPE,
                offset: ::core::mem::offset_of!(#ident, #member) as u64,
            }
        }
    });
    Ok(quote! {
        // SAFETY: the description is generated from the definition itself: the name,
        // every field in declaration order with its type's own description and its
        // `offset_of!`, and `size_of`/`align_of` of the `#[repr(C)]` struct.
        #[automatically_derived]
        unsafe impl ::sysvring::Message for #ident {
            const SHAPE: ::sysvring::message::Shape =
                ::sysvring::message::Shape::Struct(&::sysvring::message::StructShape {
                    name: #name,
                    fields: &[#(#entries),*],
                    size: ::core::mem::size_of::<#ident>() as u64,
                    align: ::core::mem::align_of::<#ident>() as u64,
                });
        }
    })
}

/// Accepts `#[repr(C)]` and `#[repr(transparent)]`, optionally with `align(N)` or
/// `packed`/`packed(N)`; refuses every other representation.
fn check_repr(input: &DeriveInput) -> Result<(), Error> {
    let mut fixed = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("C") || meta.path.is_ident("transparent") {
                fixed = true;
                Ok(())
            } else if meta.path.is_ident("align") || meta.path.is_ident("packed") {
                if meta.input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    content.parse::<syn::LitInt>()?;
                }
                Ok(())
            } else {
                Err(meta.error(format!(
                    "`#[derive(Message)]` supports `repr(C)` and `repr(transparent)` \
                     (with `align(N)` or `packed`), not `repr({})`",
                    meta.path.to_token_stream()
                )))
            }
        })?;
    }
    if fixed {
        Ok(())
    } else {
        Err(Error::new(
            input.ident.span(),
            "`#[derive(Message)]` needs `#[repr(C)]` (or `#[repr(transparent)]`): the \
             default Rust layout may reorder fields between builds, so it cannot be \
             described or shared with another process",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> String {
        let input: DeriveInput = syn::parse_str(src).unwrap();
        expand(&input).unwrap_err().to_string()
    }

    #[test]
    fn refusals_say_why() {
        assert!(err("struct A { x: u8 }").contains("needs `#[repr(C)]`"));
        assert!(err("#[repr(Rust)] struct A { x: u8 }").contains("not `repr(Rust)`"));
        assert!(err("#[repr(C)] enum E { A }").contains("enums"));
        assert!(err("#[repr(C)] union U { a: u8 }").contains("unions"));
        assert!(err("#[repr(C)] struct G<T> { x: T }").contains("generic"));
        assert!(err("#[repr(C)] struct L<'a> { x: &'a u8 }").contains("generic"));
        assert!(err("#[repr(C)] struct U;").contains("without fields"));
        assert!(err("#[repr(C)] struct U {}").contains("without fields"));
    }

    #[test]
    fn accepted_reprs_expand() {
        for src in [
            "#[repr(C)] struct A { x: u8 }",
            "#[repr(C, align(16))] struct A { x: [u8; 16] }",
            "#[repr(C, packed)] struct A { x: u8, y: u32 }",
            "#[repr(C)] #[repr(packed(2))] struct A { x: u8, y: u32 }",
            "#[repr(transparent)] struct A(u64);",
            "#[repr(C)] struct r#A { r#type: u8 }",
        ] {
            let input: DeriveInput = syn::parse_str(src).unwrap();
            let out = expand(&input).unwrap().to_string();
            assert!(
                out.contains("unsafe impl :: sysvring :: Message for"),
                "{out}"
            );
        }
        let input: DeriveInput = syn::parse_str("#[repr(C)] struct r#A { r#type: u8 }").unwrap();
        let out = expand(&input).unwrap().to_string();
        assert!(out.contains("name : \"A\""), "{out}");
        assert!(out.contains("name : \"type\""), "{out}");
    }
}
