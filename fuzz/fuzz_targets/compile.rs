//! Fuzz `convq_core::compile` with arbitrary text, under default and strict options.
//!
//! Crashes are panics (the compiler must return an error for any input) and broken invariants:
//! a success's request path decodes to its options string, and an error has a documented code.

#![no_main]

use convq_core::{Compiled, ERROR_CODES, Options, StatusFilter, UnknownColumns, compile};
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;

fuzz_target!(|data: &[u8]| {
    // Invalid UTF-8 cannot reach `compile(&str)`; lossy decoding still exercises the bytes
    // around it instead of discarding the input.
    let text = String::from_utf8_lossy(data);
    let strict = Options::default()
        .with_unknown_columns(UnknownColumns::Error)
        .with_status_filter(StatusFilter::CrmIn);
    for options in [Options::default(), strict] {
        match compile(&text, &options) {
            Ok(compiled) => check(&compiled),
            Err(err) => assert!(
                ERROR_CODES.iter().any(|(code, _)| *code == err.code()),
                "undocumented error code {}",
                err.code()
            ),
        }
    }
});

fn check(compiled: &Compiled) {
    let (_, query) = compiled.path.split_once('?').expect("the path has a query");
    let decoded = percent_decode_str(query)
        .decode_utf8()
        .expect("the query decodes to UTF-8");
    assert_eq!(
        compiled.options.strip_prefix('?'),
        Some(&*decoded),
        "the path does not decode to the options string"
    );
}
