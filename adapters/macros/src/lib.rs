//! `#[stepcache::step]`: a function cached as a step of a pipeline, keyed on every one
//! of its arguments so that none can be forgotten; `#[derive(stepcache::Record)]`: a
//! struct of a step's several outputs, stored as one record. Use them through the
//! `stepcache` crate, which re-exports and documents them.

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::quote;
use syn::{
    Data, DeriveInput, Fields, FnArg, Ident, ItemFn, LitInt, LitStr, Pat, ReturnType, parse_macro_input, parse_quote,
};

/// The attribute's settings: `name = "..."`, `version = N`, `ignore(a, b)`.
#[derive(Default)]
struct Settings {
    name: Option<LitStr>,
    version: Option<LitInt>,
    ignore: Vec<Ident>,
}

impl Settings {
    fn parse(&mut self, meta: syn::meta::ParseNestedMeta) -> syn::Result<()> {
        if meta.path.is_ident("name") {
            self.name = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("version") {
            self.version = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("ignore") {
            meta.parse_nested_meta(|arg| {
                let ident = arg.path.get_ident().cloned();
                self.ignore
                    .push(ident.ok_or_else(|| arg.error("expected an argument's name"))?);
                Ok(())
            })?;
        } else {
            return Err(meta.error("unknown setting: use name = \"...\", version = N, ignore(argument, ...)"));
        }
        Ok(())
    }
}

/// See `stepcache::step`.
#[proc_macro_attribute]
pub fn step(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut settings = Settings::default();
    let parser = syn::meta::parser(|meta| settings.parse(meta));
    parse_macro_input!(attr with parser);
    let function = parse_macro_input!(item as ItemFn);
    expand(settings, function)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn expand(settings: Settings, function: ItemFn) -> syn::Result<proc_macro2::TokenStream> {
    // `modifiers` holds only `default`, which no free function has.
    let ItemFn {
        attrs, vis, sig, block, ..
    } = function;
    if let Some(token) = &sig.asyncness {
        return Err(syn::Error::new_spanned(
            token,
            "a step function is not async: stepcache::Cache is blocking",
        ));
    }
    let mut names = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                return Err(syn::Error::new_spanned(
                    receiver,
                    "a step function takes no self: make it a free function",
                ));
            }
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => {
                    names.push(ident.ident.clone())
                }
                other => {
                    return Err(syn::Error::new_spanned(
                        other,
                        "a step function's arguments are plain names (they name the key's arguments)",
                    ));
                }
            },
        }
    }
    for ignored in &settings.ignore {
        if !names.contains(ignored) {
            return Err(syn::Error::new_spanned(
                ignored,
                "ignore names an argument the function does not have",
            ));
        }
    }
    let step = settings
        .name
        .unwrap_or_else(|| LitStr::new(&sig.ident.to_string(), sig.ident.span()));
    let version = settings.version.map_or_else(|| quote!(0), |v| quote!(#v));
    let keyed = names.iter().filter(|n| !settings.ignore.contains(n));
    let keyed_names = keyed.clone().map(|n| LitStr::new(&n.to_string(), n.span()));
    let ignored_names = settings.ignore.iter().map(|n| LitStr::new(&n.to_string(), n.span()));
    let output = match &sig.output {
        ReturnType::Default => {
            return Err(syn::Error::new_spanned(
                &sig,
                "a step function returns its result (a Value)",
            ));
        }
        ReturnType::Type(_, ty) => ty.clone(),
    };

    // The wrapper's own variables are hygienic (mixed-site): an argument named `cache` or
    // `key` stays the caller's. An item is not, so the function the body moves into takes
    // a name no argument has.
    let cache = Ident::new("cache", Span::mixed_site());
    let key = Ident::new("key", Span::mixed_site());
    let mut inner_name = String::from("compute");
    while names.iter().any(|n| *n == inner_name) {
        inner_name.push('_');
    }
    let compute = Ident::new(&inner_name, Span::call_site());
    // The function's own body, renamed: the wrapper keys, then computes through it.
    let mut inner = sig.clone();
    inner.ident = compute.clone();
    let mut outer = sig;
    outer.inputs.insert(0, parse_quote!(#cache: &::stepcache::Cache));
    outer.output = parse_quote!(-> ::stepcache::Result<::stepcache::Hit>);
    Ok(quote! {
        #(#attrs)*
        #vis #outer {
            #[allow(clippy::too_many_arguments)]
            #inner #block
            let #key = ::stepcache::Step::new(#step)?.version(#version)#(.ignore(#ignored_names))*.key();
            #(let #key = ::stepcache::StepArg::add_to(&#keyed, #key, #keyed_names);)*
            let #key = #key.build()?;
            #cache.get_or_compute(&#key, || -> #output { #compute(#(#names),*) })
        }
    })
}

/// See `stepcache::Record`.
#[proc_macro_derive(Record)]
pub fn record(item: TokenStream) -> TokenStream {
    let input = parse_macro_input!(item as DeriveInput);
    expand_record(input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn expand_record(input: DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let name = &input.ident;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input,
            "a Record is a struct with named fields (its parts)",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(
            &data.fields,
            "a Record's fields are named: the names name the parts",
        ));
    };
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    let idents: Vec<&Ident> = fields.named.iter().filter_map(|f| f.ident.as_ref()).collect();
    let names: Vec<LitStr> = idents.iter().map(|i| LitStr::new(&i.to_string(), i.span())).collect();
    let missing = names
        .iter()
        .map(|n| LitStr::new(&format!("the record has no part named {}", n.value()), n.span()));
    Ok(quote! {
        impl #impl_generics ::stepcache::Computed for #name #type_generics #where_clause {
            fn into_value(self) -> ::stepcache::Result<::stepcache::Value> {
                ::stepcache::Value::record([
                    #((#names, ::stepcache::IntoPart::into_part(self.#idents)?)),*
                ])
            }
        }

        impl #impl_generics ::core::convert::TryFrom<&::stepcache::Value> for #name #type_generics #where_clause {
            type Error = ::stepcache::Error;

            fn try_from(value: &::stepcache::Value) -> ::stepcache::Result<Self> {
                Ok(#name {
                    #(#idents: ::stepcache::FromPart::from_part(value.part(#names)?.ok_or_else(|| {
                        ::stepcache::Error::new(::stepcache::ErrorKind::WrongType, #missing)
                    })?)?,)*
                })
            }
        }
    })
}
