//! The fixture corpus: every `tests/fixtures/*.json` is compiled and its outcome snapshotted.
//!
//! Fixture format (one rule, so a fixture is easy to write):
//! - By default the file's text, byte for byte, is the input, compiled with `Options::default()`.
//!   That keeps malformed JSON, duplicate keys and odd whitespace testable.
//! - A file whose top level is an object with exactly the two keys `options` and `input` is
//!   compiled as `compile(input.to_string(), options)`, with `options` in the camelCase JSON
//!   form of `convq_core::Options` (`{"baseUrl": ..., "unknownColumns": "error", ...}`). Such an
//!   object could never be valid input itself (both keys are unknown fields).
//!
//! Each snapshot is the pretty JSON of the `Compiled` value or of the failure envelope
//! (`{"error": {...}, "status": false}`), with the fixture recorded as `input_file`.
//! Name fixtures after what they show; an `error_<code>_...` name must fail with that code.

use std::collections::BTreeSet;
use std::path::Path;

use convq_core::{Compiled, ERROR_CODES, Error, Options, compile};

use crate::{errors, outcome};

/// Compiles one fixture as described in the module documentation.
fn compile_fixture(path: &Path) -> Result<Compiled, Error> {
    let text = std::fs::read_to_string(path).expect("fixture is UTF-8 text");
    let with_options = match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(mut object)) if object.len() == 2 => {
            object.remove("options").zip(object.remove("input"))
        }
        _ => None,
    };
    match with_options {
        Some((options, input)) => {
            let options: Options = serde_json::from_value(options)
                .unwrap_or_else(|e| panic!("{}: bad options: {e}", path.display()));
            compile(&input.to_string(), &options)
        }
        None => compile(&text, &Options::default()),
    }
}

fn fixture_paths() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/fixtures exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn fixtures() {
    insta::glob!("../fixtures", "*.json", |path| {
        let result = compile_fixture(path);
        insta::assert_json_snapshot!(outcome(&result));
    });
}

/// A fixture named `error_<code>_...` fails with exactly that code; any other fixture compiles.
/// Keeps names honest, so the corpus can be read by its file list.
#[test]
fn fixture_names_say_whether_and_how_they_fail() {
    for path in fixture_paths() {
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let result = compile_fixture(&path);
        match name.strip_prefix("error_") {
            Some(rest) => {
                let err = result.expect_err(&name);
                let code = err.code();
                assert!(
                    rest == code || rest.starts_with(&format!("{code}_")),
                    "{name} failed with {code}: {err}"
                );
            }
            None => {
                if let Err(err) = result {
                    panic!("{name} should compile, got {}: {err}", err.code());
                }
            }
        }
    }
}

/// Every documented error code is produced by some fixture, or (for the two that need inputs
/// of 32 KiB and more) by the inputs `errors` builds, or (`invalid_options`) by options text; and nothing produces an undocumented code.
#[test]
fn every_error_code_is_exercised() {
    let documented: BTreeSet<&str> = ERROR_CODES.iter().map(|(code, _)| *code).collect();
    let mut seen = BTreeSet::new();
    for path in fixture_paths() {
        if let Err(err) = compile_fixture(&path) {
            seen.insert(err.code());
        }
    }
    for (input, options) in [
        (errors::oversized_input(), Options::default()),
        (errors::request_of_length(32_769), Options::default()),
    ] {
        seen.insert(compile(&input, &options).unwrap_err().code());
    }
    // Options are read before any input: their one code comes from `Options::from_json`.
    seen.insert(Options::from_json("[]").unwrap_err().code());
    let undocumented: Vec<_> = seen.difference(&documented).collect();
    let unexercised: Vec<_> = documented.difference(&seen).collect();
    assert!(undocumented.is_empty(), "undocumented: {undocumented:?}");
    assert!(unexercised.is_empty(), "no fixture for: {unexercised:?}");
}
