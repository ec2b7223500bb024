//! Run `Microsoft.Omnichannel.getConversations` for real: compile the input with `convq-core`,
//! fetch the records from a [`Backend`], and answer with the API's envelope
//! (`{"result":{"values":[...]},"status":true}` or `{"error":{...},"status":false}`).
//!
//! Two backends, chosen by the caller:
//! - [`EmbeddedStore`]: conversation records loaded into memory (a saved Web API response body, a
//!   JSON array or NDJSON; [`EmbeddedStore::sample`] is the shipped sample). It evaluates the
//!   normalized [`Query`](convq_core::Query), not the rendered string.
//! - `DataverseClient` (crate `convq-dataverse`): GETs
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

mod encoding;
mod error;
mod live;
mod secret;
mod store;
mod timestamp;
pub mod watch;

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use convq_core::{Compiled, Envelope, Options};

pub use encoding::{CONVERT_UTF16, utf16_encoding};
pub use error::{BACKEND_ERROR_CODES, BackendError, RecordLocation, STORE_ERROR_CODES, StoreError};
pub use jiff::tz::TimeZone;
pub use live::{LiveStore, TableMirror};
pub use secret::Secret;
pub use store::{EmbeddedStore, LoadWarning};
pub use timestamp::{InvalidTimestamp, parse_timestamp};

/// A boxed, sendable future: what [`Backend::fetch`] returns (the trait stays object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// When, where and for whom a query runs. The adapter fills it in; core and backends read no
/// clock.
#[derive(Debug, Clone, derive_setters::Setters)]
#[setters(prefix = "with_", strip_option)]
#[non_exhaustive]
pub struct RunContext {
    #[setters(skip)]
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
    #[setters(into)]
    pub correlation_id: Option<String>,
    /// The caller's W3C trace context (`traceparent`, already validated), sent on to Dataverse
    /// so that a trace crosses the service.
    #[setters(into)]
    pub traceparent: Option<String>,
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
            traceparent: None,
            bearer: None,
            deadline: None,
        }
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
}

/// A time zone name that is not in the IANA time zone database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{name:?} is not an IANA time zone name such as Europe/Paris, America/New_York or UTC{}",
    suggestion.as_ref().map_or_else(String::new, |zone| format!("; did you mean {zone}?"))
)]
pub struct InvalidTimeZone {
    /// The name as given.
    pub name: String,
    /// The database's closest name (`Paris` → `Europe/Paris`, `Europe/Pari` → `Europe/Paris`).
    pub suggestion: Option<String>,
}

/// The IANA time zone `name` (`Europe/Paris`, `UTC`), from the time zone database built into
/// convq (the same answer on every machine, wasm included).
///
/// # Errors
/// [`InvalidTimeZone`] when the database has no such zone, with the closest name it has.
pub fn parse_time_zone(name: &str) -> Result<TimeZone, InvalidTimeZone> {
    TimeZone::get(name.trim()).map_err(|_| InvalidTimeZone {
        name: name.to_owned(),
        suggestion: closest_time_zone(name.trim()),
    })
}

/// The zone whose last part is `name` (a city given alone), else the most similar name.
fn closest_time_zone(name: &str) -> Option<String> {
    let name = name.to_ascii_lowercase().replace(' ', "_");
    let mut best: Option<(f64, String)> = None;
    for zone in jiff::tz::db().available() {
        let zone = zone.as_str();
        let lower = zone.to_ascii_lowercase();
        let score = if lower.rsplit('/').next() == Some(name.as_str()) {
            2.0
        } else {
            strsim::jaro_winkler(&name, &lower)
        };
        if best.as_ref().is_none_or(|(top, _)| score > *top) {
            best = Some((score, zone.to_owned()));
        }
    }
    best.filter(|(score, _)| *score >= 0.85)
        .map(|(_, zone)| zone)
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
            append_json_list(out, &values);
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

    /// The Dataverse user (`systemuserid`) whose Entra ID object id is `object_id`; `Ok(None)`
    /// when the organization has no such user. Adapters use it to let a caller ask only for
    /// their own conversations. Backends without users answer
    /// [`BackendError::InvalidConfig`].
    fn systemuser_of<'a>(
        &'a self,
        object_id: &'a str,
        ctx: &'a RunContext,
    ) -> BoxFuture<'a, Result<Option<String>, BackendError>> {
        let _ = (object_id, ctx);
        Box::pin(async move {
            Err(BackendError::InvalidConfig {
                reason: format!(
                    "{} has no users to find an Entra ID object id among",
                    self.describe()
                ),
            })
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
    /// The envelope is a failure of this kind (the envelope carries its code).
    Failure(ErrorKind),
}

/// What kind of failure ended a run: adapters choose exit codes and HTTP statuses by it, not
/// by comparing error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is not JSON (`invalid_json`).
    InputNotJson,
    /// The input is over the core's size limit (`input_too_large`).
    InputTooLarge,
    /// Any other input the core rejects (a `convq-core` error code).
    InvalidInput,
    /// The backend ran out of time (`dataverse_timeout`).
    Timeout,
    /// Still throttled (429) after the allowed retries (`dataverse_throttled`).
    Throttled,
    /// Still unavailable (503) after the allowed retries (`dataverse_unavailable`).
    Unavailable,
    /// The credentials were refused (`dataverse_unauthorized`) or none could be had
    /// (`dataverse_auth_failed`).
    Unauthorized,
    /// The credentials may not read conversations (`dataverse_forbidden`).
    Forbidden,
    /// Any other backend failure.
    Backend,
}

impl ErrorKind {
    /// The kind of a rejected input.
    #[must_use]
    pub fn of_input(error: &convq_core::Error) -> Self {
        match error {
            convq_core::Error::InvalidJson { .. } => Self::InputNotJson,
            convq_core::Error::InputTooLarge { .. } => Self::InputTooLarge,
            _ => Self::InvalidInput,
        }
    }

    /// Whether the input was rejected (rather than the backend failing).
    #[must_use]
    pub fn is_input(self) -> bool {
        matches!(
            self,
            Self::InputNotJson | Self::InputTooLarge | Self::InvalidInput
        )
    }
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

impl RunResult {
    /// The run of an input rejected before it reached getConversations (too large, not UTF-8):
    /// the core's failure envelope.
    #[must_use]
    pub fn rejected(error: &convq_core::Error) -> Self {
        Self {
            envelope: Envelope::from(error),
            outcome: Outcome::Failure(ErrorKind::of_input(error)),
            warnings: Vec::new(),
        }
    }
}

/// The serialized envelope of a run and how it ended: what [`get_conversations_json`] returns.
#[derive(Debug, Clone)]
pub struct JsonRunResult {
    /// The envelope's JSON text: byte for byte `serde_json::to_vec(&envelope)` of the
    /// [`RunResult::envelope`] that [`get_conversations`] gives for the same run.
    pub body: Vec<u8>,
    /// How it ended.
    pub outcome: Outcome,
    /// The failure envelope's error (also in `body`), so an adapter can show it without
    /// parsing `body`; `None` on success.
    pub error: Option<convq_core::ErrorBody>,
    /// As [`RunResult::warnings`].
    pub warnings: Vec<convq_core::Warning>,
    /// How old the records are: zero when fetched for this call, more when they came from
    /// a cache ([`Backend::fetch_json_aged`]). Zero on failure.
    pub age: std::time::Duration,
    /// On a throttled or unavailable Dataverse, how long it asked to wait
    /// ([`BackendError::retry_after`]).
    pub retry_after: Option<std::time::Duration>,
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
    let run = run(backend, input, options, ctx, None).await;
    RunResult {
        envelope: match run.answer {
            Ok(fetched) => Envelope::success(fetched.values),
            Err(error) => Envelope::failure(error),
        },
        outcome: run.outcome,
        warnings: run.warnings,
    }
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
    // Serde writes `Envelope::Success` (an untagged enum of structs) as these two literals around
    // the records; a unit test checks them against serde's own output.
    let mut body = Vec::with_capacity(1024);
    body.extend_from_slice(&SUCCESS_FRAME.0);
    let run = run(backend, input, options, ctx, Some(&mut body)).await;
    match run.answer {
        Ok(fetched) => {
            body.extend_from_slice(&SUCCESS_FRAME.1);
            JsonRunResult {
                body,
                outcome: run.outcome,
                error: None,
                warnings: run.warnings,
                age: fetched.age,
                retry_after: None,
            }
        }
        Err(error) => {
            let mut body = Vec::with_capacity(256);
            // A failure is the rare path: the clone keeps the envelope type the one source of
            // its shape.
            append_json(&mut body, &Envelope::failure(error.clone()));
            JsonRunResult {
                body,
                outcome: run.outcome,
                error: Some(error),
                warnings: run.warnings,
                age: std::time::Duration::ZERO,
                retry_after: run.retry_after,
            }
        }
    }
}

/// The success envelope's text before and after its records, as serde writes
/// `Envelope::success` (split inside its empty `values` array), so a body whose records are
/// written straight into it is the envelope's own serialization.
static SUCCESS_FRAME: std::sync::LazyLock<(Vec<u8>, Vec<u8>)> = std::sync::LazyLock::new(|| {
    let mut empty = Vec::new();
    append_json(&mut empty, &Envelope::success(Vec::new()));
    let split = empty
        .windows(2)
        .position(|pair| pair == b"[]")
        .map_or(empty.len(), |at| at + 1);
    let tail = empty.split_off(split);
    (empty, tail)
});

/// Appends the JSON of `value` to `out`.
///
/// # Panics
/// Never for the types used here (`serde_json::Value`, `str`, `Number`, envelopes): a `Vec`'s
/// `io::Write` cannot fail and their `Serialize` implementations have no error case (string keys,
/// finite numbers). `serde_json::Value`'s own `Display` relies on the same fact.
fn append_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("serializing JSON values into a Vec cannot fail");
}

/// Appends `records` to `out` comma-separated (`{...},{...}`, no brackets), as
/// [`Backend::fetch_json`] writes them; for backends that hold their records as values.
pub fn append_json_list(out: &mut Vec<u8>, records: &[serde_json::Value]) {
    for (index, record) in records.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        append_json(out, record);
    }
}

/// What a run fetched: the records as values, or (when they went into a JSON body) nothing
/// but their age.
struct Fetched {
    values: Vec<serde_json::Value>,
    age: std::time::Duration,
}

/// A run before it becomes an envelope or its JSON text.
struct Run {
    answer: Result<Fetched, convq_core::ErrorBody>,
    outcome: Outcome,
    warnings: Vec<convq_core::Warning>,
    /// [`BackendError::retry_after`] of a failed fetch.
    retry_after: Option<std::time::Duration>,
}

/// The one run pipeline of both entry points: compile (core) → the backend's warnings → fetch,
/// as values or, given `json`, as the records' JSON appended to it.
async fn run(
    backend: &dyn Backend,
    input: &str,
    options: &Options,
    ctx: &RunContext,
    json: Option<&mut Vec<u8>>,
) -> Run {
    let mut compiled = match convq_core::compile(input, options) {
        Ok(compiled) => compiled,
        Err(error) => {
            return Run {
                answer: Err(error.to_body()),
                outcome: Outcome::Failure(ErrorKind::of_input(&error)),
                warnings: Vec::new(),
                retry_after: None,
            };
        }
    };
    compiled.warnings.extend(backend.warnings(&compiled));
    let fetched = match json {
        None => backend.fetch(&compiled, ctx).await.map(|values| Fetched {
            values,
            age: std::time::Duration::ZERO,
        }),
        Some(out) => backend
            .fetch_json_aged(&compiled, ctx, out)
            .await
            .map(|(_, age)| Fetched {
                values: Vec::new(),
                age,
            }),
    };
    match fetched {
        Ok(fetched) => Run {
            answer: Ok(fetched),
            outcome: Outcome::Success,
            warnings: compiled.warnings,
            retry_after: None,
        },
        Err(error) => Run {
            answer: Err(error.to_body()),
            outcome: Outcome::Failure(error.kind()),
            warnings: compiled.warnings,
            retry_after: error.retry_after(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_time_zones_suggest_the_closest() {
        for (given, suggested) in [
            ("Paris", Some("Europe/Paris")),
            ("Europe/Pariss", Some("Europe/Paris")),
            ("america/new york", Some("America/New_York")),
            ("Xyzzy/Plugh", None),
        ] {
            let error = parse_time_zone(given).unwrap_err();
            assert_eq!(error.suggestion.as_deref(), suggested, "{given}");
            if let Some(zone) = suggested {
                assert!(
                    error
                        .to_string()
                        .ends_with(&format!("; did you mean {zone}?"))
                );
            }
        }
        assert!(parse_time_zone("europe/paris").is_ok());
    }

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
    fn the_success_frame_is_what_serde_writes_around_the_records() {
        let (head, tail) = &*SUCCESS_FRAME;
        assert_eq!(head.as_slice(), br#"{"result":{"values":["#);
        assert_eq!(tail.as_slice(), br#"]},"status":true}"#);
        let one =
            serde_json::to_vec(&Envelope::success(vec![serde_json::json!({"a": 1})])).unwrap();
        assert_eq!(one, [head.as_slice(), br#"{"a":1}"#, tail].concat());
    }
}
