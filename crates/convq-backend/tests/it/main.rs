//! convq-backend's integration tests, one binary (see the crate's `[[test]]` section).
//!
//! - `embedded`: loading (each format, every error with its location), filters, the
//!   `createdBeforeDays` window at a fixed `now`, ordering with nulls, `top`, projection.
//! - `sample`: envelopes of the shipped sample store, as insta snapshots.
//! - `differential`: proptest; the store's answer equals a naive reference evaluation written
//!   here, for random stores and random inputs.
//! - `json_body`: proptest; `get_conversations_json` writes byte for byte the serialized
//!   envelope of `get_conversations`, for the embedded store and the trait's provided method.

mod differential;
mod embedded;
mod json_body;
mod sample;

use std::time::SystemTime;

use convq_backend::{Backend, RunContext, RunResult};
use convq_core::Options;

/// The documentation example's agent.
const AGENT: &str = "2b330c52-6844-4d36-8e05-03c78c9681dc";

/// The sample store's reference time, used as "now" throughout.
fn now() -> SystemTime {
    convq_backend::parse_timestamp("2026-11-20T12:00:00Z").unwrap()
}

/// Runs getConversations on a current-thread runtime, as the CLI does.
fn run(backend: &dyn Backend, input: &str, ctx: &RunContext) -> RunResult {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(convq_backend::get_conversations(
            backend,
            input,
            &Options::default(),
            ctx,
        ))
}
