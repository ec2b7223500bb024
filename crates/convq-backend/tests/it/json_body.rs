//! `get_conversations_json` writes, byte for byte, what serializing `get_conversations`'s
//! envelope gives (same key order, same escaping, same numbers), with the same outcome, error
//! and warnings: for the embedded store's own writer (random stores and inputs, from the
//! differential test's generators plus properties of every JSON type) and for the trait's
//! provided `fetch_json` (a backend that answers fixed values or a fixed error).

use std::time::{Duration, SystemTime};

use convq_backend::{
    Backend, BackendError, BoxFuture, EmbeddedStore, ErrorKind, JsonRunResult, Outcome, RunContext,
    RunResult,
};
use convq_core::{Compiled, Envelope, Options};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::differential::{BASE, input, offset, serialize, store};
use crate::{AGENT, now};

/// A property only some records have, with values of every JSON type.
const EXTRA: &str = "cr123_extra";
/// A property no record has (projected as `null`).
const MISSING: &str = "cr123_missing";

/// Both runs of one input on one runtime.
fn both(backend: &dyn Backend, input: &str, ctx: &RunContext) -> (RunResult, JsonRunResult) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let options = Options::default();
    runtime.block_on(async {
        (
            convq_backend::get_conversations(backend, input, &options, ctx).await,
            convq_backend::get_conversations_json(backend, input, &options, ctx).await,
        )
    })
}

/// Checks everything the two runs must agree on.
fn agree(values: &RunResult, json: &JsonRunResult) -> Result<(), TestCaseError> {
    let expected = serde_json::to_vec(&values.envelope).unwrap();
    // As text (both are UTF-8 JSON) so a failure shows a readable difference.
    prop_assert_eq!(
        String::from_utf8_lossy(&json.body),
        String::from_utf8_lossy(&expected)
    );
    prop_assert_eq!(json.outcome, values.outcome);
    prop_assert_eq!(&json.warnings, &values.warnings);
    let error = match &values.envelope {
        Envelope::Success { .. } => None,
        Envelope::Failure { error, .. } => Some(error),
    };
    prop_assert_eq!(json.error.as_ref(), error);
    Ok(())
}

/// Text with the characters JSON escapes, multi-byte ones, and GUID look-alikes.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(
            prop_oneof![
                1 => any::<char>(),
                1 => proptest::sample::select(&['"', '\\', '\n', '\u{1f}', '\u{7f}', '/', 'é'][..]),
            ],
            0..12,
        )
        .prop_map(|chars| chars.into_iter().collect()),
        Just(AGENT.to_owned()),
        Just(AGENT.to_uppercase()),
    ]
}

/// Any JSON value: every number representation (negative, beyond i64, floats), nested arrays
/// and objects with keys that need escaping.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_filter_map("JSON has finite numbers only", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        4 => text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((text(), inner), 0..4)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Mostly text (the type whose writing differs most from serde's: copied when it needs no
/// escaping), else any JSON.
fn extra_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => text().prop_map(Value::String),
        1 => json_value(),
    ]
}

/// The differential test's stores, with [`EXTRA`] on some records.
fn store_with_extras() -> impl Strategy<Value = Vec<Value>> {
    store().prop_flat_map(|records| {
        let n = records.len();
        (
            Just(records),
            proptest::collection::vec(proptest::option::weighted(0.8, extra_value()), n),
        )
            .prop_map(|(mut records, extras)| {
                for (record, extra) in records.iter_mut().zip(extras) {
                    if let Some(extra) = extra {
                        record[EXTRA] = extra;
                    }
                }
                records
            })
    })
}

/// The differential test's inputs, often without their status and date filters (so more
/// records match), sometimes selecting [`EXTRA`] and [`MISSING`] (unknown columns: passed
/// through with warnings), sometimes invalid.
fn any_input() -> impl Strategy<Value = Value> {
    (
        input(),
        any::<bool>(),
        0..4_u8,
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(mut input, unfiltered, extras, invalid)| {
            if unfiltered {
                let object = input.as_object_mut().unwrap();
                object.remove("status");
                object.remove("createdBeforeDays");
            }
            let attributes = input["attributes"].as_array_mut().unwrap();
            if extras & 1 != 0 {
                attributes.push(json!(EXTRA));
            }
            if extras & 2 != 0 {
                attributes.insert(0, json!(MISSING));
            }
            if invalid {
                input["agentId"] = json!("not a GUID");
            }
            input
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_embedded_store_writes_the_bytes_serde_writes(
        records in store_with_extras(),
        input in any_input(),
        format in 0..3_u8,
        now_offset in offset(0, 2),
    ) {
        let store = EmbeddedStore::from_bytes(serialize(&records, format).as_bytes()).unwrap();
        let now = SystemTime::UNIX_EPOCH
            + Duration::from_secs(u64::try_from(BASE + now_offset).unwrap());
        let (values, json) = both(&store, &input.to_string(), &RunContext::at(now));
        agree(&values, &json)?;
    }

    #[test]
    fn the_provided_fetch_json_writes_the_bytes_serde_writes(
        answer in prop_oneof![
            4 => proptest::collection::vec(json_value(), 0..6).prop_map(Answer::Values),
            1 => Just(Answer::Timeout),
            1 => text().prop_map(Answer::BadResponse),
        ],
        with_unknown_column in any::<bool>(),
    ) {
        let mut input = json!({"agentId": AGENT, "attributes": ["msdyn_title"]});
        if with_unknown_column {
            input["attributes"] = json!([MISSING]);
        }
        let (values, json) = both(&answer, &input.to_string(), &RunContext::at(now()));
        agree(&values, &json)?;
    }
}

/// A backend that answers the same each time: a test double of a remote backend, to exercise
/// the trait's provided `fetch_json`.
#[derive(Debug, Clone)]
enum Answer {
    Values(Vec<Value>),
    Timeout,
    BadResponse(String),
}

impl Backend for Answer {
    fn fetch<'a>(
        &'a self,
        _: &'a Compiled,
        _: &'a RunContext,
    ) -> BoxFuture<'a, Result<Vec<Value>, BackendError>> {
        let answer = match self {
            Self::Values(values) => Ok(values.clone()),
            Self::Timeout => Err(BackendError::DataverseTimeout {
                after: Duration::from_millis(1_500),
                waiting_for: "page 1".to_owned(),
            }),
            Self::BadResponse(reason) => Err(BackendError::DataverseBadResponse {
                reason: reason.clone(),
            }),
        };
        Box::pin(std::future::ready(answer))
    }

    fn describe(&self) -> String {
        "fixed answer".to_owned()
    }
}

#[test]
fn the_sample_store_writes_the_bytes_serde_writes() {
    let store = EmbeddedStore::sample();
    let ctx = RunContext::at(now());
    let mut successes = 0;
    for (name, input) in crate::sample::cases() {
        let (values, json) = both(&store, &input.to_string(), &ctx);
        agree(&values, &json).unwrap_or_else(|e| panic!("{name}: {e}"));
        successes += usize::from(json.outcome == Outcome::Success);
    }
    assert!(successes >= 4, "{successes}");
}

#[test]
fn a_timeout_is_a_timeout_failure_with_the_backend_code() {
    let (_, json) = both(
        &Answer::Timeout,
        &json!({"agentId": AGENT}).to_string(),
        &RunContext::at(now()),
    );
    assert_eq!(json.outcome, Outcome::Failure(ErrorKind::Timeout));
    let body: Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(body["status"], false);
    assert_eq!(body["error"]["code"], json.error.unwrap().code);
}
