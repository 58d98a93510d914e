//! The `#[asyncio::main]` and `#[asyncio::test]` attributes.
//!
//! Use them through the `asyncio` crate, which re-exports both. Each turns an
//! `async fn` into a plain function that builds an `asyncio::Runner` and runs
//! the body as the main task, the way `asyncio.run(main())` does.
//!
//! Arguments, comma separated:
//! - `debug`: run the loop in debug mode (`asyncio.run(main(), debug=True)`);
//! - `virtual_time`: start the loop on a paused virtual clock that jumps to
//!   the next timer whenever every task is waiting (for tests).

use proc_macro::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Ident, ItemFn, Token};

#[derive(Default)]
struct Options {
    debug: bool,
    virtual_time: bool,
}

fn parse_options(args: TokenStream) -> syn::Result<Options> {
    let idents = Punctuated::<Ident, Token![,]>::parse_terminated.parse(args)?;
    let mut opts = Options::default();
    for ident in idents {
        match ident.to_string().as_str() {
            "debug" => opts.debug = true,
            "virtual_time" => opts.virtual_time = true,
            other => {
                return Err(syn::Error::new(
                    ident.span(),
                    format!("unknown option `{other}`: expected `debug` or `virtual_time`"),
                ))
            }
        }
    }
    Ok(opts)
}

fn expand(args: TokenStream, item: TokenStream, is_test: bool) -> syn::Result<proc_macro2::TokenStream> {
    let opts = parse_options(args)?;
    let mut func: ItemFn = syn::parse(item)?;
    if func.sig.asyncness.take().is_none() {
        return Err(syn::Error::new_spanned(
            func.sig.fn_token,
            "the function must be `async fn`",
        ));
    }
    if !func.sig.inputs.is_empty() {
        return Err(syn::Error::new_spanned(
            &func.sig.inputs,
            "the function must take no arguments",
        ));
    }
    let debug = opts.debug.then(|| quote! { .debug(true) });
    let virtual_time = opts.virtual_time.then(|| quote! { .virtual_time(true) });
    let body = &func.block;
    let runner = quote! {
        ::asyncio::Runner::new() #debug #virtual_time
    };
    // A `main` is also the entry of process-pool workers (the same program
    // started again): in a worker, the hook serves jobs and never returns.
    let worker_hook = (!is_test).then(|| quote! { ::asyncio::executor::worker_entry(); });
    let new_body = quote! {
        {
            #worker_hook
            let mut __runner = #runner;
            let __output = __runner.run(async move #body);
            __runner.close();
            __output
        }
    };
    func.block = syn::parse2(new_body)?;
    let attrs = &func.attrs;
    let vis = &func.vis;
    let sig = &func.sig;
    let block = &func.block;
    let test_attr = if is_test {
        quote! { #[::core::prelude::v1::test] }
    } else {
        quote! {}
    };
    Ok(quote! {
        #test_attr
        #(#attrs)*
        #vis #sig #block
    })
}

/// Runs an `async fn main` on a fresh event loop, as `asyncio.run(main())`.
///
/// It first calls `asyncio::executor::worker_entry()`, so the program can
/// use a `ProcessPoolExecutor`: in a worker process, `main` serves jobs
/// instead of running its body.
///
/// `#[asyncio::main(debug)]` turns on debug mode; `#[asyncio::main(virtual_time)]`
/// starts on a paused virtual clock.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, false)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Runs an `async fn` test on a fresh event loop.
///
/// Accepts the same options as `#[asyncio::main]`: `debug` and `virtual_time`.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, true)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
