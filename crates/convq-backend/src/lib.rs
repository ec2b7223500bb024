//! Run `Microsoft.Omnichannel.getConversations` for real: compile the input with `convq-core`,
//! fetch the records from a [`Backend`], and answer with the API's envelope
//! (`{"result":{"values":[...]},"status":true}` or `{"error":{...},"status":false}`).
//!
//! Two backends, chosen by the caller:
//! - [`EmbeddedStore`]: conversation records loaded into memory (a saved Web API response body, a
//!   JSON array or NDJSON; [`EmbeddedStore::sample`] is the shipped sample). It evaluates the
//!   normalized [`Query`](convq_core::Query), not the rendered string.
//! - [`DataverseClient`]: GETs [`Compiled::path`](convq_core::Compiled::path) from a Dataverse
//!   organization with a bearer token, following `@odata.nextLink`.
//!
//! ```
//! use convq_backend::{EmbeddedStore, Outcome, RunContext, get_conversations};
//!
//! let store = EmbeddedStore::sample();
//! let ctx = RunContext::at(convq_backend::parse_timestamp("2026-11-20T12:00:00Z").unwrap());
//! let input = r#"{"agentId": "2b330c52-6844-4d36-8e05-03c78c9681dc", "status": [3], "top": 2}"#;
//! let run = tokio_test_block_on(get_conversations(&store, input, &Default::default(), &ctx));
//! assert_eq!(run.outcome, Outcome::Success);
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```
//!
//! Core and backends read no clock: "now" (for `createdBeforeDays`) comes in [`RunContext`].

mod dataverse;
mod error;
mod store;
mod timestamp;

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use convq_core::{Compiled, Envelope, Options};

pub use dataverse::{DataverseClient, DataverseConfig, Secret};
pub use error::{BACKEND_ERROR_CODES, BackendError, RecordLocation, StoreError};
pub use store::EmbeddedStore;
pub use timestamp::{InvalidTimestamp, parse_timestamp};

/// A boxed, sendable future: what [`Backend::fetch`] returns (the trait stays object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// When and for whom a query runs. The adapter fills it in; core and backends read no clock.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// "Now" for `createdBeforeDays` (the embedded store; Dataverse uses its own clock).
    pub now: SystemTime,
    /// getConversations' second argument, for telemetry. It never changes the answer.
    pub correlation_id: Option<String>,
}

impl RunContext {
    /// A context at `now` without a correlation id.
    #[must_use]
    pub fn at(now: SystemTime) -> Self {
        Self {
            now,
            correlation_id: None,
        }
    }

    /// Sets the correlation id.
    #[must_use]
    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }
}

/// Where conversation records come from.
pub trait Backend: Send + Sync {
    /// Runs a compiled query and returns the records (Web API property names).
    fn fetch<'a>(
        &'a self,
        compiled: &'a Compiled,
        ctx: &'a RunContext,
    ) -> BoxFuture<'a, Result<Vec<serde_json::Value>, BackendError>>;

    /// Whether the backend can answer (store loaded / client configured).
    fn is_ready(&self) -> bool {
        true
    }

    /// One line for logs and readiness probes, e.g. `embedded store: 3000 conversations`.
    /// Never contains a token.
    fn describe(&self) -> String;
}

/// How a run ended, for exit codes, HTTP statuses and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The envelope is a success.
    Success,
    /// The input did not compile (the envelope carries a `convq-core` error code).
    InvalidInput,
    /// The backend failed (the envelope carries a [`BackendError`] code).
    BackendFailure {
        /// Whether it was a timeout (HTTP adapters answer 504 rather than 502).
        timeout: bool,
    },
}

/// The envelope of a run and how it ended.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// What getConversations resolves with.
    pub envelope: Envelope,
    /// How it ended.
    pub outcome: Outcome,
    /// What compilation warned about (unknown columns, unknown statuses); empty when the input
    /// was rejected. Adapters show them beside the envelope (stderr, a header), never in it.
    pub warnings: Vec<convq_core::Warning>,
}

/// getConversations on input JSON text: compile (core) → fetch (backend) → envelope.
///
/// Never panics and never returns an error: every failure is a failure envelope, and
/// [`RunResult::outcome`] says which kind.
pub async fn get_conversations(
    backend: &dyn Backend,
    input: &str,
    options: &Options,
    ctx: &RunContext,
) -> RunResult {
    run(backend, convq_core::compile(input, options), ctx).await
}

/// As [`get_conversations`], for input that is already parsed.
pub async fn get_conversations_value(
    backend: &dyn Backend,
    input: &serde_json::Value,
    options: &Options,
    ctx: &RunContext,
) -> RunResult {
    run(backend, convq_core::compile_value(input, options), ctx).await
}

async fn run(
    backend: &dyn Backend,
    compiled: Result<Compiled, convq_core::Error>,
    ctx: &RunContext,
) -> RunResult {
    let compiled = match compiled {
        Ok(compiled) => compiled,
        Err(error) => {
            return RunResult {
                envelope: Envelope::from(&error),
                outcome: Outcome::InvalidInput,
                warnings: Vec::new(),
            };
        }
    };
    let (envelope, outcome) = match backend.fetch(&compiled, ctx).await {
        Ok(values) => (Envelope::success(values), Outcome::Success),
        Err(error) => (
            Envelope::failure(error.to_body()),
            Outcome::BackendFailure {
                timeout: error.is_timeout(),
            },
        ),
    };
    RunResult {
        envelope,
        outcome,
        warnings: compiled.warnings,
    }
}
