//! Run `Microsoft.Omnichannel.getConversations` for real: compile the input with `convq-core`,
//! fetch the records from a [`Backend`], and answer with the API's envelope
//! (`{"result":{"values":[...]},"status":true}` or `{"error":{...},"status":false}`).
//!
//! Two backends, chosen by the caller:
//! - [`EmbeddedStore`]: conversation records loaded into memory (a saved Web API response body, a
//!   JSON array or NDJSON; [`EmbeddedStore::sample`] is the shipped sample). It evaluates the
//!   normalized [`Query`](convq_core::Query), not the rendered string.
//! - `DataverseClient` (the default `dataverse` feature): GETs
//!   [`Compiled::path`](convq_core::Compiled::path) from a Dataverse
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

#[cfg(feature = "dataverse")]
mod auth;
#[cfg(feature = "dataverse")]
mod cache;
#[cfg(feature = "dataverse")]
mod coalesce;
#[cfg(feature = "dataverse")]
mod dataverse;
mod encoding;
mod error;
mod live;
mod observe;
#[cfg(feature = "dataverse")]
mod pacing;
mod secret;
#[cfg(feature = "simorg")]
pub mod simorg;
mod store;
mod timestamp;
pub mod watch;

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use convq_core::{Compiled, Envelope, Options};

#[cfg(feature = "dataverse")]
pub use auth::{AuthMode, Credential, CredentialOptions, TOKEN_VAR};
/// Microsoft's credential trait, for [`Credential::new`].
#[cfg(feature = "dataverse")]
pub use azure_core::credentials::TokenCredential;
#[cfg(feature = "dataverse")]
pub use coalesce::{Shared, SharedConfig};
#[cfg(feature = "dataverse")]
pub use dataverse::{DataverseAuth, DataverseClient, DataverseConfig};
pub use encoding::{CONVERT_UTF16, utf16_encoding};
pub use error::{BACKEND_ERROR_CODES, BackendError, RecordLocation, STORE_ERROR_CODES, StoreError};
pub use jiff::tz::TimeZone;
pub use observe::{Counters, CountersSnapshot, Observer};
pub use live::LiveStore;
pub use secret::Secret;
pub use store::EmbeddedStore;
pub use timestamp::{InvalidTimestamp, parse_timestamp};

/// A boxed, sendable future: what [`Backend::fetch`] returns (the trait stays object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// When, where and for whom a query runs. The adapter fills it in; core and backends read no
/// clock.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunContext {
    /// "Now" for `createdBeforeDays` (the embedded store; Dataverse uses its own clock).
    pub now: SystemTime,
    /// The time zone whose midnights bound `createdBeforeDays` days (the embedded store; Dataverse
    /// uses the user's time zone setting). UTC unless set.
    pub time_zone: TimeZone,
    /// Answer each selected property's formatted value too
    /// (`<property>@OData.Community.Display.V1.FormattedValue`: a lookup's related record name,
    /// a choice's label), as Web API does when asked with `Prefer: odata.include-annotations`.
    pub formatted_values: bool,
    /// getConversations' second argument, for telemetry. It never changes the answer.
    pub correlation_id: Option<String>,
    /// The caller's own bearer token, when the service passes callers' tokens through to
    /// Dataverse (`--auth passthrough`); `None` when the backend's own credential is used.
    pub bearer: Option<Secret>,
    /// When the caller stops waiting (an HTTP request's timeout). A backend that calls out gives
    /// up in time to say why ([`BackendError::DataverseTimeout`]) instead of being cut off.
    pub deadline: Option<std::time::Instant>,
}

impl RunContext {
    /// A context at `now`, in UTC, without formatted values or a correlation id, for the
    /// backend's own identity.
    #[must_use]
    pub fn at(now: SystemTime) -> Self {
        Self {
            now,
            time_zone: TimeZone::UTC,
            formatted_values: false,
            correlation_id: None,
            bearer: None,
            deadline: None,
        }
    }

    /// Sets the correlation id.
    #[must_use]
    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sets the caller's deadline.
    #[must_use]
    pub fn with_deadline(mut self, deadline: std::time::Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets the caller's bearer token (pass-through).
    #[must_use]
    pub fn with_bearer(mut self, bearer: Secret) -> Self {
        self.bearer = Some(bearer);
        self
    }

    /// Who the query runs as, as a stable key that is safe to log and to use as a map key
    /// (caches, coalescing, throttling per identity): `"held"` for the backend's own credential,
    /// `"bearer:<first 16 hex digits of SHA-256(token)>"` for a caller's pass-through token.
    /// Two calls with the same token get the same key; the key does not reveal the token.
    #[must_use]
    pub fn identity_key(&self) -> String {
        match &self.bearer {
            None => HELD_IDENTITY.to_owned(),
            Some(token) => format!("bearer:{}", token.fingerprint()),
        }
    }

    /// Sets the time zone of `createdBeforeDays`' day boundaries.
    #[must_use]
    pub fn with_time_zone(mut self, time_zone: TimeZone) -> Self {
        self.time_zone = time_zone;
        self
    }

    /// Asks for formatted values.
    #[must_use]
    pub fn with_formatted_values(mut self, formatted_values: bool) -> Self {
        self.formatted_values = formatted_values;
        self
    }
}

/// A time zone name that is not in the IANA time zone database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not an IANA time zone name such as Europe/Paris, America/New_York or UTC")]
pub struct InvalidTimeZone {
    /// The name as given.
    pub name: String,
}

/// The IANA time zone `name` (`Europe/Paris`, `UTC`), from the time zone database built into
/// convq (the same answer on every machine, wasm included).
///
/// # Errors
/// [`InvalidTimeZone`] when the database has no such zone.
pub fn parse_time_zone(name: &str) -> Result<TimeZone, InvalidTimeZone> {
    TimeZone::get(name.trim()).map_err(|_| InvalidTimeZone {
        name: name.to_owned(),
    })
}

/// [`RunContext::identity_key`] of a run under the backend's own credential.
pub const HELD_IDENTITY: &str = "held";

/// Where conversation records come from.
pub trait Backend: Send + Sync {
    /// Runs a compiled query and returns the records (Web API property names).
    fn fetch<'a>(
        &'a self,
        compiled: &'a Compiled,
        ctx: &'a RunContext,
    ) -> BoxFuture<'a, Result<Vec<serde_json::Value>, BackendError>>;

    /// Runs a compiled query and appends the records' JSON to `out`, comma-separated
    /// (`{...},{...}`, no brackets), exactly as `serde_json` writes the [`fetch`](Self::fetch)
    /// values; returns how many records it wrote. On error, `out` may hold a partial list (the
    /// caller discards it).
    ///
    /// The provided implementation calls [`fetch`](Self::fetch) and serializes the values. A
    /// backend that can write its records' JSON directly (the embedded store) overrides it to skip
    /// building `serde_json::Value`s, which is most of the cost of a small answer.
    fn fetch_json<'a>(
        &'a self,
        compiled: &'a Compiled,
        ctx: &'a RunContext,
        out: &'a mut Vec<u8>,
    ) -> BoxFuture<'a, Result<usize, BackendError>> {
        Box::pin(async move {
            let values = self.fetch(compiled, ctx).await?;
            for (index, value) in values.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                append_json(out, value);
            }
            Ok(values.len())
        })
    }

    /// As [`fetch_json`](Self::fetch_json), also saying how old the answer is: zero when it
    /// was fetched for this call, more when it came from a cache (HTTP adapters send it as
    /// `Age`). The provided implementation calls `fetch_json` and answers zero.
    fn fetch_json_aged<'a>(
        &'a self,
        compiled: &'a Compiled,
        ctx: &'a RunContext,
        out: &'a mut Vec<u8>,
    ) -> BoxFuture<'a, Result<(usize, std::time::Duration), BackendError>> {
        Box::pin(async move {
            let count = self.fetch_json(compiled, ctx, out).await?;
            Ok((count, std::time::Duration::ZERO))
        })
    }

    /// What the backend knows it may answer differently from the org for this query (the
    /// embedded store ordering lookups without their related records' names); adapters show
    /// them with the compile warnings. None by default.
    fn warnings(&self, _compiled: &Compiled) -> Vec<convq_core::Warning> {
        Vec::new()
    }

    /// The instant the backend's data is relative to, if it has one (the sample store): "now"
    /// when a run does not pin one. `None` (the clock) by default.
    fn reference_now(&self) -> Option<SystemTime> {
        None
    }

    /// Whether the backend can answer (store loaded / client configured).
    fn is_ready(&self) -> bool {
        true
    }

    /// Whether the backend can answer now, checked for real where that takes I/O (the
    /// Dataverse client: a token can be had); `Err` says why not. Readiness probes call it.
    fn check_ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if self.is_ready() {
                Ok(())
            } else {
                Err(self.describe())
            }
        })
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

/// The serialized envelope of a run and how it ended: what [`get_conversations_json`] returns.
#[derive(Debug, Clone)]
pub struct JsonRunResult {
    /// The envelope's JSON text: byte for byte `serde_json::to_vec(&envelope)` of the
    /// [`RunResult::envelope`] that [`get_conversations`] gives for the same run.
    pub body: Vec<u8>,
    /// How it ended.
    pub outcome: Outcome,
    /// The failure envelope's error (also in `body`), so an adapter can map it, e.g. to an HTTP
    /// status, without parsing `body`; `None` on success.
    pub error: Option<convq_core::ErrorBody>,
    /// As [`RunResult::warnings`].
    pub warnings: Vec<convq_core::Warning>,
    /// How old the records are: zero when fetched for this call, more when they came from
    /// a cache ([`SharedConfig::cache_ttl`]). Zero on failure.
    pub age: std::time::Duration,
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

/// As [`get_conversations`], answering the envelope's JSON text rather than the envelope: the
/// records go from the backend straight into the body ([`Backend::fetch_json`]), without a
/// `serde_json::Value` per record. For servers, where that round trip is most of a request's cost.
///
/// Never panics and never returns an error, like [`get_conversations`].
pub async fn get_conversations_json(
    backend: &dyn Backend,
    input: &str,
    options: &Options,
    ctx: &RunContext,
) -> JsonRunResult {
    let mut compiled = match convq_core::compile(input, options) {
        Ok(compiled) => compiled,
        Err(error) => {
            return failure_json(error.to_body(), Outcome::InvalidInput, Vec::new());
        }
    };
    compiled.warnings.extend(backend.warnings(&compiled));
    // Serde writes `Envelope::Success` (an untagged enum of structs) as these two literals around
    // the records; a unit test checks them against serde's own output.
    let mut body = Vec::with_capacity(1024);
    body.extend_from_slice(SUCCESS_HEAD);
    match backend.fetch_json_aged(&compiled, ctx, &mut body).await {
        Ok((_, age)) => {
            body.extend_from_slice(SUCCESS_TAIL);
            JsonRunResult {
                body,
                outcome: Outcome::Success,
                error: None,
                warnings: compiled.warnings,
                age,
            }
        }
        Err(error) => {
            let outcome = Outcome::BackendFailure {
                timeout: error.is_timeout(),
            };
            failure_json(error.to_body(), outcome, compiled.warnings)
        }
    }
}

const SUCCESS_HEAD: &[u8] = br#"{"result":{"values":["#;
const SUCCESS_TAIL: &[u8] = br#"]},"status":true}"#;

fn failure_json(
    error: convq_core::ErrorBody,
    outcome: Outcome,
    warnings: Vec<convq_core::Warning>,
) -> JsonRunResult {
    let mut body = Vec::with_capacity(256);
    // A failure is the rare path: the clone keeps the envelope type the one source of its shape.
    append_json(&mut body, &Envelope::failure(error.clone()));
    JsonRunResult {
        body,
        outcome,
        error: Some(error),
        warnings,
        age: std::time::Duration::ZERO,
    }
}

/// Appends the JSON of `value` to `out`.
///
/// # Panics
/// Never for the types used here (`serde_json::Value`, `str`, `Number`, envelopes): a `Vec`'s
/// `io::Write` cannot fail and their `Serialize` implementations have no error case (string keys,
/// finite numbers). `serde_json::Value`'s own `Display` relies on the same fact.
pub(crate) fn append_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("serializing JSON values into a Vec cannot fail");
}

async fn run(
    backend: &dyn Backend,
    compiled: Result<Compiled, convq_core::Error>,
    ctx: &RunContext,
) -> RunResult {
    let mut compiled = match compiled {
        Ok(compiled) => compiled,
        Err(error) => {
            return RunResult {
                envelope: Envelope::from(&error),
                outcome: Outcome::InvalidInput,
                warnings: Vec::new(),
            };
        }
    };
    compiled.warnings.extend(backend.warnings(&compiled));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_keys_name_the_caller_without_the_token() {
        let ctx = RunContext::at(SystemTime::UNIX_EPOCH);
        assert_eq!(ctx.identity_key(), "held");
        let alice = ctx.clone().with_bearer(Secret::new("alice-token"));
        let key = alice.identity_key();
        assert!(
            key.starts_with("bearer:") && key.len() == "bearer:".len() + 16,
            "{key}"
        );
        assert!(!key.contains("alice"));
        assert_eq!(key, alice.clone().identity_key());
        let bob = ctx.with_bearer(Secret::new("bob-token"));
        assert_ne!(key, bob.identity_key());
        assert!(!format!("{alice:?}").contains("alice-token"));
    }

    #[test]
    fn the_success_literals_are_what_serde_writes_around_the_records() {
        let empty = serde_json::to_vec(&Envelope::success(Vec::new())).unwrap();
        assert_eq!(empty, [SUCCESS_HEAD, SUCCESS_TAIL].concat());
        let one =
            serde_json::to_vec(&Envelope::success(vec![serde_json::json!({"a": 1})])).unwrap();
        assert_eq!(one, [SUCCESS_HEAD, br#"{"a":1}"#, SUCCESS_TAIL].concat());
    }
}
