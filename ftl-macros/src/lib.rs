//! # cowftl-macros: the blocking copy of cowftl's core, generated from the async source
//!
//! cowftl's I/O core (`ftl/src/engine/*.rs`) is written once, with `async fn` and `.await`
//! over `embedded_storage_async::nor_flash::NorFlash`; it is compiled as it stands for the
//! async API (`cowftl::asynch`). [`blocking!`] compiles the same files a second time for the
//! blocking API: it reads each file, parses it into tokens and
//!
//! - drops every `async` keyword,
//! - drops every `.await`,
//! - renames `embedded_storage_async` to `embedded_storage` (the blocking traits have the
//!   same names, methods and constants),
//!
//! then emits the module. The result is the blocking core, token for token as it would be
//! written by hand, so it costs a blocking-only firmware nothing (see `ftl/src/engine/mod.rs`
//! for the measurement and the alternatives weighed).
//!
//! The core's modules name each other with `super::` paths, so each copy resolves inside its
//! own module tree. The core must not use `async` blocks, async closures or recursion.
//!
//! No dependencies but `proc_macro`: the parser is rustc's own (`str::parse`).

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// `blocking! { #[attrs] pub mod name = "path/relative/to/CARGO_MANIFEST_DIR.rs"; ... }`:
/// each entry becomes `#[attrs] pub mod name { <the file, blocking> }`.
///
/// The emitted module also holds an `include_bytes!` of the file, so cargo rebuilds when it
/// changes.
#[proc_macro]
pub fn blocking(input: TokenStream) -> TokenStream {
    let mut out = TokenStream::new();
    let mut head: Vec<TokenTree> = Vec::new();
    let mut it = input.into_iter();
    while let Some(t) = it.next() {
        match &t {
            TokenTree::Punct(p) if p.as_char() == '=' => {
                let path = match it.next() {
                    Some(TokenTree::Literal(l)) => l,
                    _ => return error("blocking!: expected a string literal path after `=`"),
                };
                match it.next() {
                    Some(TokenTree::Punct(p)) if p.as_char() == ';' => {}
                    _ => return error("blocking!: expected `;` after the path"),
                }
                match module(std::mem::take(&mut head), &path) {
                    Ok(m) => out.extend(m),
                    Err(e) => return error(&e),
                }
            }
            _ => head.push(t),
        }
    }
    if !head.is_empty() {
        return error("blocking!: expected `mod name = \"path\";`");
    }
    out
}

/// `head` (attributes, visibility, `mod name`) followed by the blocking copy of the file.
fn module(head: Vec<TokenTree>, path: &Literal) -> Result<TokenStream, String> {
    let rel = path.to_string();
    let rel = rel
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or("blocking!: the path must be a plain string literal")?;
    let dir =
        std::env::var("CARGO_MANIFEST_DIR").map_err(|e| format!("CARGO_MANIFEST_DIR: {e}"))?;
    let full = std::path::Path::new(&dir).join(rel);
    let src = std::fs::read_to_string(&full).map_err(|e| format!("{}: {e}", full.display()))?;
    let tokens: TokenStream = src
        .parse()
        .map_err(|e| format!("{}: {e:?}", full.display()))?;
    let mut body = blocking_tokens(tokens);
    // `const _: &[u8] = include_bytes!("/abs/path");`: cargo's dependency tracking.
    let full = full.to_str().ok_or("blocking!: non-UTF-8 path")?;
    let track: TokenStream = format!("const _: &[u8] = include_bytes!({full:?});")
        .parse()
        .map_err(|e| format!("{e:?}"))?;
    body.extend(track);
    let mut out: TokenStream = head.into_iter().collect();
    out.extend([TokenTree::Group(Group::new(Delimiter::Brace, body))]);
    Ok(out)
}

/// The transformation itself, recursively into every group.
fn blocking_tokens(input: TokenStream) -> TokenStream {
    let mut out: Vec<TokenTree> = Vec::new();
    let mut it = input.into_iter().peekable();
    while let Some(t) = it.next() {
        match t {
            TokenTree::Ident(ref i) if i.to_string() == "async" => {}
            TokenTree::Ident(ref i) if i.to_string() == "embedded_storage_async" => {
                out.push(TokenTree::Ident(Ident::new("embedded_storage", i.span())));
            }
            TokenTree::Punct(ref p) if p.as_char() == '.' => {
                if matches!(it.peek(), Some(TokenTree::Ident(i)) if i.to_string() == "await") {
                    it.next();
                } else {
                    out.push(t);
                }
            }
            TokenTree::Group(g) => {
                let mut n = Group::new(g.delimiter(), blocking_tokens(g.stream()));
                n.set_span(g.span());
                out.push(TokenTree::Group(n));
            }
            t => out.push(t),
        }
    }
    out.into_iter().collect()
}

/// `compile_error!("msg")`.
fn error(msg: &str) -> TokenStream {
    let span = Span::call_site();
    let mut bang = Punct::new('!', Spacing::Alone);
    bang.set_span(span);
    let mut args = TokenStream::new();
    args.extend([TokenTree::Literal(Literal::string(msg))]);
    [
        TokenTree::Ident(Ident::new("compile_error", span)),
        TokenTree::Punct(bang),
        TokenTree::Group(Group::new(Delimiter::Parenthesis, args)),
        TokenTree::Punct(Punct::new(';', Spacing::Alone)),
    ]
    .into_iter()
    .collect()
}
