//! The test double of `Microsoft.Omnichannel` behind `convq/testing`: getConversations answered
//! by the embedded store, through the same path as the CLI and HTTP adapters
//! ([`convq_backend::get_conversations_json`]), so its envelopes and errors are theirs.
//!
//! The wasm export (`createOmnichannel`) only turns its JS arguments into the ones here.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use convq_backend::watch::Feed;
use convq_backend::{EmbeddedStore, RunContext, TimeZone};
use convq_core::{ErrorBody, Options};
use serde_json::{Value, json};

use crate::error::AdapterError;

/// Events kept per live list, as `/getConversations/stream` keeps them.
const RESUME_EVENTS: usize = 256;

/// How the double answers, besides its records and "now": what `convq get` takes as flags.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Settings {
    /// The IANA time zone whose midnights bound `createdBeforeDays` days (`Europe/Paris`), as
    /// `convq get --time-zone`; UTC when `None`.
    pub time_zone: Option<String>,
    /// Answer the selected properties' formatted values too, as `convq get --formatted-values`.
    pub formatted_values: bool,
    /// The compile options (the `createdBeforeDays` reading, `extraColumns`, ...), as for
    /// `compile`.
    pub options: Options,
}

/// One live list of the double: the server's feed ([`Feed`]) over the double's answers, so
/// `convq/testing`'s `watchConversations` sends the events, ids and positions that
/// `/getConversations/stream` sends for the same change.
#[derive(Debug)]
pub struct LiveList {
    feed: Feed,
    agent: String,
}

impl LiveList {
    /// `agent`'s list; `epoch` is the first part of its event ids.
    #[must_use]
    pub fn new(agent: &str, epoch: u64) -> Self {
        Self {
            feed: Feed::new(agent, epoch, RESUME_EVENTS),
            agent: agent.to_owned(),
        }
    }

    /// Takes an answer (the getConversations envelope as JSON text); the events as JSON text
    /// `[{"event", "id", "data"}]`: the `snapshot` for the first answer, then the changes. A
    /// failure is a `failed` event (no id) and leaves the list as it was, as on the server.
    #[must_use]
    pub fn apply(&mut self, envelope: &str) -> String {
        let envelope: Value = serde_json::from_str(envelope).unwrap_or(Value::Null);
        let events: Vec<Value> = match envelope.pointer("/result/values").and_then(Value::as_array)
        {
            Some(values) => {
                let first = !self.feed.is_ready();
                let changes = self.feed.apply(values.clone());
                let events = if first {
                    self.feed.snapshot().into_iter().collect()
                } else {
                    changes
                };
                events
                    .iter()
                    .map(|e| {
                        let data: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
                        json!({ "event": e.kind.as_str(), "id": e.id, "data": data })
                    })
                    .collect()
            }
            None => {
                let error = envelope.get("error").cloned().unwrap_or(Value::Null);
                vec![
                    json!({ "event": "failed", "data": { "agentId": self.agent, "error": error } }),
                ]
            }
        };
        Value::Array(events).to_string()
    }
}

/// An Omnichannel whose conversations are the given records.
#[derive(Debug)]
pub struct Omnichannel {
    store: EmbeddedStore,
    /// "now", the time zone and formatted values; each call adds its correlation id.
    ctx: RunContext,
    options: Options,
}

impl Omnichannel {
    /// Loads the records (a Web API response body `{"value": [...]}`, a JSON array of records, or
    /// NDJSON, as JSON text) and fixes "now" and the [`Settings`] of every answer.
    ///
    /// # Errors
    /// `invalid_options` at `/timeZone` for a name the time zone database does not have; the
    /// store's error (its path prefixed with `/records`) for records it cannot load.
    pub fn new(records: &str, now: SystemTime, settings: Settings) -> Result<Self, ErrorBody> {
        let Settings {
            time_zone,
            formatted_values,
            options,
        } = settings;
        let time_zone = match time_zone {
            // The zone database bundled into convq (jiff's), the one `--time-zone` reads.
            Some(name) => convq_backend::parse_time_zone(&name).map_err(|error| {
                AdapterError::InvalidOptions {
                    path: "/timeZone".to_owned(),
                    message: error.to_string(),
                }
            })?,
            None => TimeZone::UTC,
        };
        let store = EmbeddedStore::from_bytes(records.as_bytes()).map_err(|error| {
            let mut body = error.to_body();
            body.path.insert_str(0, "/records");
            body
        })?;
        let ctx = RunContext::at(now)
            .with_time_zone(time_zone)
            .with_formatted_values(formatted_values);
        Ok(Self {
            store,
            ctx,
            options,
        })
    }

    /// getConversations' answer for input JSON text, as the envelope's JSON text.
    #[must_use]
    pub fn get_conversations(&self, input: &str, correlation_id: Option<String>) -> String {
        let mut ctx = self.ctx.clone();
        ctx.correlation_id = correlation_id;
        let result = ready(convq_backend::get_conversations_json(
            &self.store,
            input,
            &self.options,
            &ctx,
        ));
        String::from_utf8(result.body).expect("serde_json writes UTF-8")
    }

    /// `Xrm.WebApi.retrieveMultipleRecords("msdyn_ocliveworkitem", options)` answered from the
    /// same store: the options string is read back into getConversations input by the core
    /// ([`convq_core::read_options_string`]) and run as getConversations is, so both APIs see
    /// the same records in the same order. Returns the JSON text
    /// `{"skipToken": <$skiptoken or null>, "answer": <the getConversations envelope>}`, or the
    /// reason the options string cannot be read (an option convq does not render).
    ///
    /// # Errors
    /// The core's [`convq_core::OptionsStringError`] message.
    pub fn retrieve_multiple(&self, options: &str) -> Result<String, String> {
        let read = convq_core::read_options_string(options, &["$skiptoken"])
            .map_err(|error| error.to_string())?;
        let mut compile_options = self.options.clone();
        if let Some(reading) = read.reading {
            compile_options = compile_options.with_created_before_days(reading);
        }
        let result = ready(convq_backend::get_conversations_json(
            &self.store,
            &read.input.to_string(),
            &compile_options,
            &self.ctx,
        ));
        let skip = read.passed.into_iter().next().map(|(_, value)| value);
        let mut out = String::with_capacity(result.body.len() + 40);
        out.push_str(r#"{"skipToken":"#);
        out.push_str(&serde_json::to_string(&skip).expect("a string serializes"));
        out.push_str(r#","answer":"#);
        out.push_str(std::str::from_utf8(&result.body).expect("serde_json writes UTF-8"));
        out.push('}');
        Ok(out)
    }

    /// What loading the records noticed (a lookup's logical name, a property the catalog does
    /// not know), as a JSON array of `{code, path, message}` with paths under `/records`.
    #[must_use]
    pub fn load_warnings(&self) -> String {
        let warnings: Vec<serde_json::Value> = self
            .store
            .load_warnings()
            .iter()
            .map(|w| {
                serde_json::json!({
                    "code": w.code,
                    "path": format!("/records{}", w.path),
                    "message": w.message,
                })
            })
            .collect();
        serde_json::Value::Array(warnings).to_string()
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
    use convq_core::DaysReading;

    use super::*;

    const SAMPLE: &str = include_str!("../../convq-backend/data/sample-conversations.json");
    const AGENT: &str = "2b330c52-6844-4d36-8e05-03c78c9681dc";

    fn at(text: &str) -> SystemTime {
        now_from_text(text).unwrap()
    }

    fn settings(zone: Option<&str>, formatted_values: bool, reading: DaysReading) -> Settings {
        Settings {
            time_zone: zone.map(str::to_owned),
            formatted_values,
            options: Options::default().with_created_before_days(reading),
        }
    }

    /// The `createdon` of every record of the answer, which must be a success.
    fn created(answer: &str) -> Vec<String> {
        let answer: serde_json::Value = serde_json::from_str(answer).unwrap();
        answer["result"]["values"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .map(|row| row["createdon"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The double's answer is byte for byte the native one, for every outcome and every setting.
    #[test]
    fn answers_are_the_native_store_answers() {
        let now = at("2026-11-20T12:00:00Z");
        let store = EmbeddedStore::from_bytes(SAMPLE.as_bytes()).unwrap();
        for zone in [None, Some("Europe/Paris"), Some("America/New_York")] {
            for formatted_values in [false, true] {
                for reading in [DaysReading::LastXDays, DaysReading::OlderThanXDays] {
                    let settings = settings(zone, formatted_values, reading);
                    let double = Omnichannel::new(SAMPLE, now, settings.clone()).unwrap();
                    let ctx = RunContext::at(now)
                        .with_time_zone(zone.map_or(TimeZone::UTC, |z| TimeZone::get(z).unwrap()))
                        .with_formatted_values(formatted_values)
                        .with_correlation_id("c-1");
                    for input in [
                        format!(
                            r#"{{"agentId": "{AGENT}", "attributes": ["msdyn_channel"], "createdBeforeDays": 3}}"#
                        ),
                        format!(
                            r#"{{"agentId": "{AGENT}", "orderBy": [{{"attributeName": "createdon"}}]}}"#
                        ),
                        r#"{"agentId": "nope"}"#.to_owned(),
                    ] {
                        let native = ready(convq_backend::get_conversations_json(
                            &store,
                            &input,
                            &settings.options,
                            &ctx,
                        ));
                        assert_eq!(
                            double
                                .get_conversations(&input, Some("c-1".into()))
                                .as_bytes(),
                            native.body,
                            "{input} {settings:?}"
                        );
                    }
                }
            }
        }
        let double = Omnichannel::new(SAMPLE, now, Settings::default()).unwrap();
        let answer =
            double.get_conversations(&format!(r#"{{"agentId": "{AGENT}", "status": [3]}}"#), None);
        assert!(answer.starts_with(r#"{"result":{"values":[{"#), "{answer}");
    }

    /// Days end at the zone's midnights: at 12:00 UTC on 20 November, "the last 3 days" start
    /// at 17 November 00:00 in UTC but at 16 November 23:00 UTC in Paris (UTC+1), which keeps the
    /// agent's conversation of 16 November 23:53 UTC.
    #[test]
    fn the_time_zone_moves_the_day_boundaries() {
        let now = at("2026-11-20T12:00:00Z");
        let input = format!(r#"{{"agentId": "{AGENT}", "createdBeforeDays": 3}}"#);
        let answer = |zone: Option<&str>| {
            let settings = settings(zone, false, DaysReading::LastXDays);
            created(
                &Omnichannel::new(SAMPLE, now, settings)
                    .unwrap()
                    .get_conversations(&input, None),
            )
        };
        let utc = answer(None);
        assert_eq!(answer(Some("UTC")), utc);
        assert!(
            utc.iter().all(|c| c.as_str() >= "2026-11-17T00:00:00Z"),
            "{utc:?}"
        );
        let paris = answer(Some("Europe/Paris"));
        let added: Vec<&String> = paris.iter().filter(|c| !utc.contains(c)).collect();
        assert_eq!(added, ["2026-11-16T23:53:33Z"]);
        assert_eq!(paris.len(), utc.len() + 1);
    }

    #[test]
    fn older_than_x_days_keeps_what_last_x_days_leaves_out() {
        let now = at("2026-11-20T12:00:00Z");
        let input = format!(r#"{{"agentId": "{AGENT}", "createdBeforeDays": 3}}"#);
        let all = format!(r#"{{"agentId": "{AGENT}"}}"#);
        let double =
            |reading| Omnichannel::new(SAMPLE, now, settings(None, false, reading)).unwrap();
        let last = created(&double(DaysReading::LastXDays).get_conversations(&input, None));
        let older = created(&double(DaysReading::OlderThanXDays).get_conversations(&input, None));
        assert!(!last.is_empty() && !older.is_empty());
        assert!(
            older.iter().all(|c| c.as_str() < "2026-11-17T00:00:00Z"),
            "{older:?}"
        );
        let mut both = [last, older].concat();
        both.sort();
        let mut every = created(&double(DaysReading::LastXDays).get_conversations(&all, None));
        every.sort();
        assert_eq!(both, every);
    }

    #[test]
    fn formatted_values_add_the_annotations_of_selected_properties() {
        let now = at("2026-11-20T12:00:00Z");
        let input = format!(
            r#"{{"agentId": "{AGENT}", "status": [3], "attributes": ["msdyn_channel"], "top": 1}}"#
        );
        let row = |formatted_values| {
            let settings = settings(None, formatted_values, DaysReading::LastXDays);
            let answer = Omnichannel::new(SAMPLE, now, settings)
                .unwrap()
                .get_conversations(&input, None);
            let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
            answer["result"]["values"][0].as_object().unwrap().clone()
        };
        const ANNOTATION: &str = "@OData.Community.Display.V1.FormattedValue";
        let plain = row(false);
        assert!(
            plain
                .keys()
                .all(|key| !key.contains('@') || key == "@odata.etag"),
            "{plain:?}"
        );
        let formatted = row(true);
        assert_eq!(
            formatted[&format!("statuscode{ANNOTATION}")],
            "Waiting",
            "{formatted:?}"
        );
        assert!(formatted.contains_key(&format!("msdyn_channel{ANNOTATION}")));
        assert!(formatted.contains_key(&format!("_msdyn_liveworkstreamid_value{ANNOTATION}")));
        // Only the selected properties' annotations: the agent lookup is not selected.
        assert!(!formatted.contains_key(&format!("_msdyn_activeagentid_value{ANNOTATION}")));
        let without: serde_json::Map<_, _> = formatted
            .into_iter()
            .filter(|(key, _)| !key.ends_with(ANNOTATION))
            .collect();
        assert_eq!(without, plain);
    }

    /// retrieveMultipleRecords with the options string `compile` renders answers the records
    /// getConversations answers for the same input.
    #[test]
    fn retrieve_multiple_answers_as_get_conversations() {
        let now = at("2026-11-20T12:00:00Z");
        let double = Omnichannel::new(SAMPLE, now, Settings::default()).unwrap();
        let input = format!(
            r#"{{"agentId": "{AGENT}", "status": [2, 3], "createdBeforeDays": 5, "attributes": ["msdyn_title"], "orderBy": [{{"attributeName": "createdon", "descending": true}}]}}"#
        );
        let compiled = convq_core::compile(&input, &Options::default()).unwrap();
        let answer: serde_json::Value =
            serde_json::from_str(&double.retrieve_multiple(&compiled.options).unwrap()).unwrap();
        let expected: serde_json::Value =
            serde_json::from_str(&double.get_conversations(&input, None)).unwrap();
        assert_eq!(answer["answer"], expected);
        assert!(!expected["result"]["values"].as_array().unwrap().is_empty());
        assert_eq!(answer["skipToken"], serde_json::Value::Null);
        let paged: serde_json::Value = serde_json::from_str(
            &double
                .retrieve_multiple(&format!("{}&$skiptoken=3", compiled.options))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(paged["skipToken"], "3");
        let error = double
            .retrieve_multiple("?$select=msdyn_title&$expand=x")
            .unwrap_err();
        assert!(error.contains("$expand is not supported"), "{error}");
    }

    #[test]
    fn load_warnings_point_under_records() {
        let now = at("2026-11-20T12:00:00Z");
        let records = format!(
            r#"[{{"activityid": "00000000-0000-4000-8000-000000000001", "_msdyn_activeagentid_value": "{AGENT}", "msdyn_customer": "x"}}]"#
        );
        let double = Omnichannel::new(&records, now, Settings::default()).unwrap();
        let warnings: serde_json::Value = serde_json::from_str(&double.load_warnings()).unwrap();
        assert_eq!(warnings[0]["code"], "store_logical_name");
        assert_eq!(warnings[0]["path"], "/records/0/msdyn_customer");
        let sample = Omnichannel::new(SAMPLE, now, Settings::default()).unwrap();
        assert_eq!(sample.load_warnings(), "[]");
    }

    #[test]
    fn bad_records_name_their_place_under_records() {
        let now = at("2026-11-20T12:00:00Z");
        let body =
            Omnichannel::new(r#"[{"activityid": 3}]"#, now, Settings::default()).unwrap_err();
        assert!(body.path.starts_with("/records/0"), "{body:?}");
        let body = Omnichannel::new("{", now, Settings::default()).unwrap_err();
        assert!(body.path.starts_with("/records"), "{body:?}");
    }

    #[test]
    fn time_zones_are_iana_names() {
        let now = at("2026-11-20T12:00:00Z");
        let zone = |name: &str| Settings {
            time_zone: Some(name.to_owned()),
            ..Settings::default()
        };
        for good in ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"] {
            assert!(Omnichannel::new("[]", now, zone(good)).is_ok(), "{good}");
        }
        for bad in ["Mars/Olympus", "", "+01:00"] {
            let body = Omnichannel::new("[]", now, zone(bad)).unwrap_err();
            assert_eq!(
                (body.code.as_str(), body.path.as_str()),
                ("invalid_options", "/timeZone")
            );
            assert!(
                body.message.contains(&format!(
                    "{bad:?} is not an IANA time zone name such as Europe/Paris"
                )),
                "{}",
                body.message
            );
        }
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

    #[test]
    fn live_lists_send_the_servers_events() {
        let agent = "2b330c52-6844-4d36-8e05-03c78c9681dc";
        let answer = |ids: &[(&str, &str)]| {
            let values: Vec<Value> = ids
                .iter()
                .map(|(id, title)| json!({ "activityid": id, "msdyn_title": title }))
                .collect();
            json!({ "result": { "values": values }, "status": true }).to_string()
        };
        let mut list = LiveList::new(agent, 3);
        let first: Value =
            serde_json::from_str(&list.apply(&answer(&[("a", "1"), ("b", "1")]))).unwrap();
        assert_eq!(
            first,
            json!([{ "event": "snapshot", "id": "3-0", "data": { "agentId": agent, "values": [
                { "activityid": "a", "msdyn_title": "1" }, { "activityid": "b", "msdyn_title": "1" }
            ] } }])
        );
        let next: Value =
            serde_json::from_str(&list.apply(&answer(&[("c", "1"), ("b", "2")]))).unwrap();
        let summary: Vec<(&str, &str, &str)> = next
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["event"].as_str().unwrap(),
                    e["id"].as_str().unwrap(),
                    e["data"]["id"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("removed", "3-1", "a"),
                ("added", "3-2", "c"),
                ("changed", "3-3", "b")
            ]
        );
        assert_eq!(next[1]["data"]["position"], 0);
        let failure = r#"{"error":{"code":"throttled","message":"m","path":""},"status":false}"#;
        let failed: Value = serde_json::from_str(&list.apply(failure)).unwrap();
        assert_eq!(
            failed,
            json!([{ "event": "failed", "data": { "agentId": agent, "error": { "code": "throttled", "message": "m", "path": "" } } }])
        );
        assert_eq!(list.apply(&answer(&[("c", "1"), ("b", "2")])), "[]");
    }
}
