//! The shipped sample store: envelopes for typical inputs at the store's reference time.

use convq_backend::{Backend, EmbeddedStore, ErrorKind, Outcome, RunContext};
use serde_json::json;

use crate::{AGENT, now, run};

/// Inputs worth a snapshot each: the documentation example and its variants.
pub(crate) fn cases() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            "documented_example_waiting_newest_first",
            json!({
                "attributes": ["msdyn_title", "msdyn_channel"],
                "agentId": AGENT,
                "status": [3],
                "orderBy": [{"attributeName": "createdon", "descending": true}]
            }),
        ),
        (
            "active_or_waiting_last_2_days_by_title",
            json!({
                "agentId": AGENT.to_uppercase(),
                "status": ["2", 3],
                "createdBeforeDays": 2,
                "attributes": ["msdyn_title"],
                "orderBy": [{"attributeName": "msdyn_title"}]
            }),
        ),
        (
            "top_5_oldest_with_queue_and_owner",
            json!({
                "agentId": AGENT,
                "attributes": ["msdyn_cdsqueueid", "ownerid", "msdyn_customerlocale"],
                "orderBy": [{"attributeName": "createdon"}],
                "top": 5
            }),
        ),
        (
            // Queues sort by name, case- and accent-insensitively: "accounts", "billing",
            // "Billing escalations", "Default messaging queue", "Élite support", "Zürich desk".
            "closed_by_queue_name_then_newest_top_4",
            json!({
                "agentId": AGENT,
                "status": [4],
                "attributes": ["msdyn_cdsqueueid"],
                "orderBy": [
                    {"attributeName": "msdyn_cdsqueueid"},
                    {"attributeName": "createdon", "descending": true}
                ],
                "top": 4
            }),
        ),
        (
            "unknown_agent_is_an_empty_success",
            json!({"agentId": "00000000-0000-0000-0000-000000000000"}),
        ),
        (
            "invalid_input_is_a_failure_envelope",
            json!({"agentId": AGENT, "status": [3], "orderBy": [{"attributeName": "createdon", "desc": true}]}),
        ),
    ]
}

#[test]
fn sample_store_envelopes() {
    let store = EmbeddedStore::sample();
    let ctx = RunContext::at(now());
    for (name, input) in cases() {
        let result = run(&store, &input.to_string(), &ctx);
        let expected = if name.starts_with("invalid") {
            Outcome::Failure(ErrorKind::InvalidInput)
        } else {
            Outcome::Success
        };
        assert_eq!(result.outcome, expected, "{name}");
        insta::assert_json_snapshot!(name, result.envelope);
    }
}

#[test]
fn the_documented_example_answers_with_rows() {
    let store = EmbeddedStore::sample();
    let input = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/waiting.json"
    ))
    .unwrap();
    let result = run(&store, &input, &RunContext::at(now()));
    let body = serde_json::to_value(&result.envelope).unwrap();
    let values = body["result"]["values"].as_array().unwrap();
    assert!(values.len() >= 5, "{}", values.len());
    for pair in values.windows(2) {
        assert!(pair[0]["createdon"].as_str() >= pair[1]["createdon"].as_str());
    }
    for value in values {
        assert_eq!(value["statuscode"], 3);
        assert_eq!(value["activityid"], value["msdyn_ocliveworkitemid"]);
    }
}

#[test]
fn the_sample_store_has_what_its_generator_promises() {
    let store = EmbeddedStore::sample();
    assert_eq!(store.len(), 3_000);
    assert_eq!(store.agent_count(), 20);
    assert_eq!(
        store.describe(),
        "embedded store: 3000 conversations, 20 agents"
    );
}
