//! The test double of `Microsoft.Omnichannel` behind `convq/testing`: getConversations answered
//! by the embedded store, through the same path as the CLI and HTTP adapters
//! ([`convq_backend::get_conversations_json`]), so its envelopes and errors are theirs.
//!
//! The wasm export (`createOmnichannel`) only turns its JS arguments into the ones here.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use convq_backend::{EmbeddedStore, RunContext};
use convq_core::{ErrorBody, Options};

use crate::error::AdapterError;

/// The time zones the double accepts: the store evaluates `createdBeforeDays` on UTC days.
pub const TIME_ZONES: &[&str] = &["UTC"];

/// An Omnichannel whose conversations are the given records.
#[derive(Debug)]
pub struct Omnichannel {
    store: EmbeddedStore,
    now: SystemTime,
}

impl Omnichannel {
    /// Loads the records (a Web API response body `{"value": [...]}`, a JSON array of records, or
    /// NDJSON, as JSON text) and fixes "now" for `createdBeforeDays`.
    ///
    /// # Errors
    /// The store's error (its path prefixed with `/records`) for records it cannot load;
    /// `invalid_options` at `/timeZone` for a time zone the store cannot evaluate.
    pub fn new(records: &str, now: SystemTime, time_zone: Option<&str>) -> Result<Self, ErrorBody> {
        if let Some(zone) = time_zone.filter(|zone| !TIME_ZONES.contains(zone)) {
            return Err(AdapterError::InvalidOptions {
                path: "/timeZone".to_owned(),
                message: format!(
                    "the embedded store evaluates createdBeforeDays in UTC only, not {zone:?}"
                ),
            }
            .into());
        }
        let store = EmbeddedStore::from_bytes(records.as_bytes()).map_err(|error| {
            let mut body = error.to_body();
            body.path.insert_str(0, "/records");
            body
        })?;
        Ok(Self { store, now })
    }

    /// getConversations' answer for input JSON text, as the envelope's JSON text.
    #[must_use]
    pub fn get_conversations(&self, input: &str, correlation_id: Option<String>) -> String {
        let mut ctx = RunContext::at(self.now);
        ctx.correlation_id = correlation_id;
        let options = Options::default();
        let result = ready(convq_backend::get_conversations_json(
            &self.store,
            input,
            &options,
            &ctx,
        ));
        String::from_utf8(result.body).expect("serde_json writes UTF-8")
    }
}

/// The output of a future that is ready when first polled: the embedded store answers without
/// waiting on anything, so no executor is needed (and wasm32 has no tokio).
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("the embedded store never waits"),
    }
}

/// "now" given as milliseconds since 1970 (`Date.prototype.getTime`, `Date.now()`).
///
/// # Errors
/// `invalid_options` at `/now` for a value that is not a finite number of milliseconds.
pub fn now_from_millis(millis: f64) -> Result<SystemTime, AdapterError> {
    let invalid = || AdapterError::InvalidOptions {
        path: "/now".to_owned(),
        message: format!("{millis} is not a valid time (milliseconds since 1970)"),
    };
    if !millis.is_finite() {
        return Err(invalid());
    }
    let offset = Duration::try_from_secs_f64(millis.abs() / 1000.0).map_err(|_| invalid())?;
    if millis >= 0.0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    }
    .ok_or_else(invalid)
}

/// "now" given as RFC 3339 text, as `convq get --now` takes it.
///
/// # Errors
/// `invalid_options` at `/now` with the parser's message.
pub fn now_from_text(text: &str) -> Result<SystemTime, AdapterError> {
    convq_backend::parse_timestamp(text).map_err(|error| AdapterError::InvalidOptions {
        path: "/now".to_owned(),
        message: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../convq-backend/data/sample-conversations.json");
    const AGENT: &str = "2b330c52-6844-4d36-8e05-03c78c9681dc";

    fn at(text: &str) -> SystemTime {
        now_from_text(text).unwrap()
    }

    /// The double's answer is byte for byte the native one, for every outcome.
    #[test]
    fn answers_are_the_native_store_answers() {
        let now = at("2026-11-20T12:00:00Z");
        let double = Omnichannel::new(SAMPLE, now, None).unwrap();
        let store = EmbeddedStore::from_bytes(SAMPLE.as_bytes()).unwrap();
        let ctx = RunContext::at(now);
        for input in [
            format!(r#"{{"agentId": "{AGENT}", "status": [3], "createdBeforeDays": 7}}"#),
            format!(r#"{{"agentId": "{AGENT}", "orderBy": [{{"attributeName": "createdon"}}]}}"#),
            r#"{"agentId": "nope"}"#.to_owned(),
        ] {
            let options = Options::default();
            let native = ready(convq_backend::get_conversations_json(
                &store, &input, &options, &ctx,
            ));
            assert_eq!(
                double
                    .get_conversations(&input, Some("c-1".into()))
                    .as_bytes(),
                native.body,
                "{input}"
            );
        }
        let answer =
            double.get_conversations(&format!(r#"{{"agentId": "{AGENT}", "status": [3]}}"#), None);
        assert!(answer.starts_with(r#"{"result":{"values":[{"#), "{answer}");
    }

    #[test]
    fn bad_records_name_their_place_under_records() {
        let now = at("2026-11-20T12:00:00Z");
        let body = Omnichannel::new(r#"[{"activityid": 3}]"#, now, None).unwrap_err();
        assert!(body.path.starts_with("/records/0"), "{body:?}");
        let body = Omnichannel::new("{", now, None).unwrap_err();
        assert!(body.path.starts_with("/records"), "{body:?}");
    }

    #[test]
    fn only_utc_is_accepted_as_time_zone() {
        let now = at("2026-11-20T12:00:00Z");
        assert!(Omnichannel::new("[]", now, Some("UTC")).is_ok());
        let body = Omnichannel::new("[]", now, Some("Europe/Paris")).unwrap_err();
        assert_eq!(
            (body.code.as_str(), body.path.as_str()),
            ("invalid_options", "/timeZone")
        );
        assert!(
            body.message.contains("\"Europe/Paris\""),
            "{}",
            body.message
        );
    }

    #[test]
    fn now_from_millis_and_text_agree() {
        assert_eq!(
            now_from_millis(1_795_176_000_000.0).unwrap(),
            at("2026-11-20T12:00:00Z")
        );
        assert_eq!(
            now_from_millis(-1000.0).unwrap(),
            UNIX_EPOCH - Duration::from_secs(1)
        );
        for bad in [f64::NAN, f64::INFINITY, 1e300] {
            assert_eq!(now_from_millis(bad).unwrap_err().path(), "/now");
        }
        assert_eq!(now_from_text("yesterday").unwrap_err().path(), "/now");
    }
}
