//! convq-core's integration tests, one binary (see the crate's `[[test]]` section).
//!
//! - `corpus`: the fixture corpus under `tests/fixtures/`, one insta snapshot per fixture.
//! - `errors`: limits and escaping checked inline (inputs too big for a fixture, tables of
//!   hostile characters).
//! - `render`: the documented golden case and the domain spec's variants, byte for byte.
//! - `props`: proptest properties (no panics, determinism, idempotence, `$filter` round trip,
//!   URL decoding, injection).

mod corpus;
mod errors;
mod options;
mod props;
mod render;

use convq_core::{Compiled, Envelope, Error, Options};
use serde::Serialize;

/// The golden case's agent, used wherever any valid agent will do.
const AGENT: &str = "2b330c52-6844-4d36-8e05-03c78c9681dc";

/// What a snapshot records: the compiled query, or the failure envelope an adapter would print.
/// Typed rather than a `serde_json::Value` so that fields keep their declaration order.
#[derive(Serialize)]
#[serde(untagged)]
enum Outcome<'a> {
    Compiled(&'a Compiled),
    Failure(Envelope),
}

fn outcome(result: &Result<Compiled, Error>) -> Outcome<'_> {
    match result {
        Ok(compiled) => Outcome::Compiled(compiled),
        Err(err) => Outcome::Failure(Envelope::from(err)),
    }
}

/// Options from the camelCase JSON every adapter accepts.
fn options(json: serde_json::Value) -> Options {
    serde_json::from_value(json).expect("valid options")
}
