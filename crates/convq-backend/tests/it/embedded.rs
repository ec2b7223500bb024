//! The embedded store: loading and evaluation, on small hand-made stores.

use convq_backend::{EmbeddedStore, ErrorKind, Outcome, RunContext, StoreError, parse_timestamp};
use convq_core::Options;
use serde_json::{Value, json};

use crate::{AGENT, now, run};

const OTHER_AGENT: &str = "9f1c2d3e-4b5a-4c6d-8e7f-001122334455";

/// A record id that sorts by `n`.
fn id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

fn store(records: &[Value]) -> EmbeddedStore {
    EmbeddedStore::from_bytes(serde_json::to_string(records).unwrap().as_bytes()).unwrap()
}

fn query(store: &EmbeddedStore, input: Value, now_text: &str) -> Vec<Value> {
    let compiled = convq_core::compile(&input.to_string(), &Options::default()).unwrap();
    store.query(
        &compiled.ast,
        &RunContext::at(parse_timestamp(now_text).unwrap()),
    )
}

/// The `activityid`s of the answer, as the numbers given to [`id`].
fn ids(store: &EmbeddedStore, input: Value) -> Vec<u32> {
    query(store, input, "2026-11-20T12:00:00Z")
        .iter()
        .map(|r| {
            let text = r["activityid"].as_str().unwrap();
            u32::from_str_radix(&text[24..], 16).unwrap()
        })
        .collect()
}

fn conversation(n: u32, status: Value, created: Value) -> Value {
    json!({
        "@odata.etag": format!("W/\"{n}\""),
        "activityid": id(n),
        "_msdyn_activeagentid_value": AGENT,
        "statuscode": status,
        "createdon": created,
        "msdyn_title": format!("Conversation {n}"),
    })
}

fn load_error(text: &str) -> StoreError {
    EmbeddedStore::from_bytes(text.as_bytes()).unwrap_err()
}

#[test]
fn the_three_formats_load_the_same_records() {
    let records: Vec<Value> = (1..=4)
        .map(|n| conversation(n, json!(n), json!("2026-11-19T10:00:00Z")))
        .collect();
    let body = serde_json::to_string_pretty(&json!({
        "@odata.context": "https://contoso.crm.dynamics.com/api/data/v9.2/$metadata#msdyn_ocliveworkitems",
        "value": records,
    }))
    .unwrap();
    let compact_body = serde_json::to_string(&json!({"value": records})).unwrap();
    let array = serde_json::to_string_pretty(&records).unwrap();
    // NDJSON with CRLF line ends, a blank line and a byte order mark.
    let ndjson = format!(
        "\u{feff}{}\r\n\r\n{}\r\n",
        records[..2]
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\r\n"),
        records[2..]
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let input =
        json!({"agentId": AGENT, "orderBy": [{"attributeName": "statuscode", "descending": true}]});
    for text in [body, compact_body, array, ndjson] {
        let store = EmbeddedStore::from_bytes(text.as_bytes()).unwrap();
        assert_eq!(store.len(), 4);
        assert_eq!(ids(&store, input.clone()), [4, 3, 2, 1], "{text}");
    }
    let empty = EmbeddedStore::from_bytes(b"{\"value\": []}").unwrap();
    assert!(empty.is_empty());
}

#[test]
fn load_errors_name_the_record_and_the_property() {
    let ok = |n: u32| conversation(n, json!(3), json!("2026-11-19T10:00:00Z")).to_string();
    let cases = [
        (
            "body: statuscode given as a string",
            format!(
                "{{\"value\": [{}, {}]}}",
                ok(1),
                ok(2).replace("\"statuscode\":3", "\"statuscode\":\"3\"")
            ),
        ),
        (
            "array: a record that is a number",
            format!("[{}, 5]", ok(1)),
        ),
        (
            "ndjson: createdon is not a date",
            format!(
                "{}\n{}\n{}\n",
                ok(1),
                ok(2),
                ok(3).replace("2026-11-19T10:00:00Z", "yesterday")
            ),
        ),
        (
            "ndjson: line 2 is not JSON",
            format!("{}\n{{\"activityid\": \n{}\n", ok(1), ok(3)),
        ),
        (
            "array: agent is not a GUID",
            format!("[{}]", ok(1).replace(AGENT, "agent-7")),
        ),
        (
            "array: statuscode beyond 32 bits",
            format!(
                "[{}]",
                ok(1).replace("\"statuscode\":3", "\"statuscode\":4294967296")
            ),
        ),
        (
            "body: activityid missing",
            "{\"value\": [{\"statuscode\": 3}]}".to_owned(),
        ),
        (
            "array: activityid given twice",
            format!("[{}, {}, {}]", ok(1), ok(2), ok(1)),
        ),
        (
            "array: a property twice in one record",
            format!(
                "[{}]",
                ok(1).replace("\"statuscode\":3", "\"statuscode\":3,\"statuscode\":4")
            ),
        ),
        (
            "body: @odata.nextLink (one page of more)",
            format!(
                "{{\"value\": [{}], \"@odata.nextLink\": \"https://contoso.crm.dynamics.com/api/data/v9.2/msdyn_ocliveworkitems?$skiptoken=x\"}}",
                ok(1)
            ),
        ),
        (
            "body: no value array",
            "{\n  \"@odata.context\": \"x\"\n}".to_owned(),
        ),
        (
            "body: value is not an array",
            "{\n  \"value\": {}\n}".to_owned(),
        ),
        ("a number", "42".to_owned()),
        ("empty", " \n ".to_owned()),
        (
            "syntax error in a printed body",
            "{\n  \"value\": [\n    {\"activityid\": }\n  ]\n}".to_owned(),
        ),
    ];
    let report: Vec<Value> = cases
        .iter()
        .map(|(name, text)| {
            let error = load_error(text);
            json!({"case": name, "error": error.to_body()})
        })
        .collect();
    insta::assert_json_snapshot!(report);
}

#[test]
fn a_missing_file_is_unreadable() {
    let error =
        EmbeddedStore::from_path(std::path::Path::new("/nonexistent/convq.json")).unwrap_err();
    assert_eq!(error.code(), "store_unreadable");
    assert!(error.to_string().contains("/nonexistent/convq.json"));
}

#[test]
fn agent_and_status_filter_with_guids_compared_as_guids() {
    let store = store(&[
        conversation(1, json!(3), json!(null)),
        json!({"activityid": id(2), "_msdyn_activeagentid_value": AGENT.to_uppercase(), "statuscode": 3}),
        json!({"activityid": id(3), "_msdyn_activeagentid_value": OTHER_AGENT, "statuscode": 3}),
        json!({"activityid": id(4), "_msdyn_activeagentid_value": null, "statuscode": 3}),
        json!({"activityid": id(5), "_msdyn_activeagentid_value": AGENT, "statuscode": null}),
        json!({"activityid": id(6), "_msdyn_activeagentid_value": AGENT}),
        json!({"activityid": id(7), "_msdyn_activeagentid_value": AGENT, "statuscode": 2}),
    ]);
    let braced = format!("{{{}}}", AGENT.to_uppercase());
    assert_eq!(ids(&store, json!({"agentId": braced})), [1, 2, 5, 6, 7]);
    assert_eq!(
        ids(&store, json!({"agentId": AGENT, "status": [3, 2]})),
        [1, 2, 7],
        "a null or missing statuscode matches no status filter"
    );
    assert_eq!(ids(&store, json!({"agentId": OTHER_AGENT})), [3]);
    let nobody = "11111111-2222-4333-8444-555555555555";
    assert_eq!(ids(&store, json!({"agentId": nobody})), Vec::<u32>::new());
    // The stored spelling comes back as it was loaded.
    let answer = query(
        &store,
        json!({"agentId": AGENT, "attributes": ["msdyn_activeagentid"], "status": [3]}),
        "2026-11-20T12:00:00Z",
    );
    assert_eq!(
        answer[1]["_msdyn_activeagentid_value"],
        AGENT.to_uppercase()
    );
}

#[test]
fn created_within_days_runs_from_utc_midnight_n_days_back_to_now() {
    let times = [
        "2026-11-18T23:59:59.999Z",  // 1: just before the window of 1 day
        "2026-11-19T00:00:00Z",      // 2: its first instant
        "2026-11-19T01:00:00+02:00", // 3: 2026-11-18T23:00Z, outside
        "2026-11-20T12:00:00Z",      // 4: exactly now
        "2026-11-20T12:00:01Z",      // 5: in the future
        "2026-11-14T00:00:00Z",      // 6: first instant of a 6-day window
    ];
    let mut records: Vec<Value> = times
        .iter()
        .zip(1..)
        .map(|(t, n)| conversation(n, json!(3), json!(t)))
        .collect();
    records.push(conversation(7, json!(3), json!(null)));
    let store = store(&records);
    let days = |n: u32| ids(&store, json!({"agentId": AGENT, "createdBeforeDays": n}));
    assert_eq!(days(1), [2, 4]);
    assert_eq!(days(2), [1, 2, 3, 4]);
    assert_eq!(days(6), [1, 2, 3, 4, 6]);
    assert_eq!(days(5), [1, 2, 3, 4]);
    // Without the filter every record of the agent matches, null dates included.
    assert_eq!(
        ids(&store, json!({"agentId": AGENT})),
        [1, 2, 3, 4, 5, 6, 7]
    );
    // A later now moves the window: at 00:30 on the 21st, one day starts at the 20th, 00:00.
    let later = query(
        &store,
        json!({"agentId": AGENT, "createdBeforeDays": 1}),
        "2026-11-21T00:30:00Z",
    );
    let later: Vec<&str> = later
        .iter()
        .map(|r| r["createdon"].as_str().unwrap())
        .collect();
    assert_eq!(later, ["2026-11-20T12:00:00Z", "2026-11-20T12:00:01Z"]);
}

#[test]
fn ordering_puts_nulls_first_ascending_last_descending_and_is_stable() {
    let store = store(&[
        conversation(1, json!(4), json!("2026-11-19T10:00:00Z")),
        conversation(2, json!(3), json!(null)),
        conversation(3, json!(3), json!("2026-11-19T10:00:00.5Z")),
        json!({"activityid": id(4), "_msdyn_activeagentid_value": AGENT, "statuscode": 4}),
        conversation(5, json!(null), json!("2026-11-18T10:00:00Z")),
        conversation(6, json!(3), json!("2026-11-19T10:00:00Z")),
    ]);
    let order = |keys: Value| ids(&store, json!({"agentId": AGENT, "orderBy": keys}));
    assert_eq!(
        order(json!([{"attributeName": "createdon"}])),
        [2, 4, 5, 1, 6, 3],
        "nulls and missing first, equal dates by activityid, .5 s after the whole second"
    );
    assert_eq!(
        order(json!([{"attributeName": "createdon", "descending": true}])),
        [3, 1, 6, 5, 2, 4],
        "descending: nulls last, ties still by activityid ascending"
    );
    assert_eq!(
        order(json!([
            {"attributeName": "statuscode", "descending": true},
            {"attributeName": "createdon"}
        ])),
        [4, 1, 2, 6, 3, 5]
    );
}

/// The org's collation: case and accents do not count (`Äpfel` ties with `äpfel` and sorts
/// among the A's, before `apple` as `apfel` does), ties by activityid (here load order too).
#[test]
fn text_orders_by_the_orgs_collation() {
    let titled = |n: u32, title: &str| json!({"activityid": id(n), "_msdyn_activeagentid_value": AGENT, "msdyn_title": title});
    let store = store(&[
        titled(1, "banana"),
        titled(2, "Äpfel"),
        titled(3, "apple"),
        titled(4, "Banana"),
        titled(5, "cherry"),
        titled(6, "äpfel"),
    ]);
    assert_eq!(
        ids(
            &store,
            json!({"agentId": AGENT, "orderBy": [{"attributeName": "msdyn_title"}]})
        ),
        [2, 6, 3, 1, 4, 5],
        "case and accent ties by activityid"
    );
    assert_eq!(
        ids(
            &store,
            json!({"agentId": AGENT, "orderBy": [{"attributeName": "msdyn_title", "descending": true}]})
        ),
        [5, 1, 4, 3, 2, 6],
        "ties by activityid ascending, descending too"
    );
}

/// Ties, and the whole answer without orderBy, follow `activityid` as SQL Server orders
/// `uniqueidentifier` (the last group first), not load order and not the text's order: what
/// Dataverse answers for the `activityid asc` convq renders last, or for no order at all.
#[test]
fn ties_and_unordered_answers_follow_activityid_in_sql_server_order() {
    let record = |id: &str, created: &str| json!({"activityid": id, "_msdyn_activeagentid_value": AGENT, "createdon": created});
    // Loaded in reverse SQL Server order; as text, the order would be b, c, a.
    let (a, b, c) = (
        "ffffffff-0000-0000-0000-000000000001",
        "00000000-0000-0000-0000-000000000002",
        "0fffffff-0000-0000-0000-000000000003",
    );
    let store = store(&[
        record(c, "2026-11-19T10:00:00Z"),
        record(b, "2026-11-19T10:00:00Z"),
        record(a, "2026-11-19T10:00:00Z"),
        record(id(9).as_str(), "2026-11-18T10:00:00Z"),
    ]);
    let answer = |input: Value| -> Vec<String> {
        query(&store, input, "2026-11-20T12:00:00Z")
            .iter()
            .map(|r| r["activityid"].as_str().unwrap().to_owned())
            .collect()
    };
    let last = id(9);
    assert_eq!(answer(json!({"agentId": AGENT})), [a, b, c, last.as_str()]);
    for descending in [false, true] {
        let order = answer(json!({"agentId": AGENT,
            "orderBy": [{"attributeName": "createdon", "descending": descending}]}));
        let ties: Vec<&str> = order
            .iter()
            .map(String::as_str)
            .filter(|i| *i != last)
            .collect();
        assert_eq!(ties, [a, b, c], "descending: {descending}");
    }
}

#[test]
fn top_cuts_after_ordering_or_in_store_order() {
    let records: Vec<Value> = (1..=20)
        .map(|n| {
            let created = format!("2026-11-{:02}T08:00:00Z", (n * 7) % 19 + 1);
            conversation(n, json!(3), json!(created))
        })
        .collect();
    let store = store(&records);
    let all = ids(
        &store,
        json!({"agentId": AGENT, "orderBy": [{"attributeName": "createdon", "descending": true}]}),
    );
    for top in [1, 3, 19, 20, 50] {
        let cut = ids(
            &store,
            json!({"agentId": AGENT, "top": top, "orderBy": [{"attributeName": "createdon", "descending": true}]}),
        );
        assert_eq!(cut, all[..all.len().min(top)], "top {top}");
    }
    assert_eq!(ids(&store, json!({"agentId": AGENT, "top": 3})), [1, 2, 3]);
}

#[test]
fn projection_is_activityid_plus_the_selected_properties_with_nulls() {
    let store = store(&[json!({
        "@odata.etag": "W/\"1\"",
        "activityid": id(1),
        "_msdyn_activeagentid_value": AGENT,
        "statuscode": 3,
        "statuscode@OData.Community.Display.V1.FormattedValue": "Waiting",
        "msdyn_title": "«Café» \"quoted\"",
        "msdyn_channel": "192360000,192390000",
        "msdyn_transfercount": 2,
        "new_custom": {"nested": [1, 2]},
    })]);
    let answer = query(
        &store,
        json!({"agentId": AGENT, "attributes": ["msdyn_title", "msdyn_channel", "msdyn_customerlocale", "new_custom", "ownerid"]}),
        "2026-11-20T12:00:00Z",
    );
    insta::assert_json_snapshot!(answer);
}

#[test]
fn envelopes_and_outcomes() {
    let store = store(&[conversation(1, json!(3), json!("2026-11-19T10:00:00Z"))]);
    let ctx = RunContext::at(now()).with_correlation_id("c-1");
    let ok = run(&store, &json!({"agentId": AGENT}).to_string(), &ctx);
    assert_eq!(ok.outcome, Outcome::Success);
    let text = serde_json::to_string(&ok.envelope).unwrap();
    assert!(
        text.starts_with(r#"{"result":{"values":[{"#) && text.ends_with(r#"}]},"status":true}"#),
        "{text}"
    );
    assert!(ok.warnings.is_empty());
    let custom = run(
        &store,
        &json!({"agentId": AGENT, "attributes": ["new_custom"]}).to_string(),
        &ctx,
    );
    assert_eq!(custom.outcome, Outcome::Success);
    assert_eq!(custom.warnings.len(), 1, "the unknown column warns");
    assert_eq!(custom.warnings[0].path, "/attributes/0");
    let bad = run(&store, r#"{"agentId": "x"}"#, &ctx);
    assert_eq!(bad.outcome, Outcome::Failure(ErrorKind::InvalidInput));
    assert!(bad.warnings.is_empty());
    let body = serde_json::to_value(&bad.envelope).unwrap();
    assert_eq!(body["error"]["code"], "invalid_agent_id");
    assert_eq!(body["error"]["path"], "/agentId");
    assert_eq!(body["status"], false);
    assert_eq!(
        convq_backend::Backend::describe(&store),
        "embedded store: 1 conversations, 1 agents"
    );
}

/// Records with a lookup's logical name or a property the catalog does not know load with a
/// warning that points at the first record having it; an agent given only by its logical name
/// would make every answer silently empty, so that record is refused.
#[test]
fn logical_names_and_unknown_properties_are_not_silent() {
    let mut record = conversation(1, json!(3), json!("2026-11-19T08:00:00Z"));
    record["msdyn_customer"] = json!(id(9));
    record["msdyn_titel"] = json!("typo");
    record["msdyn_title@OData.Community.Display.V1.FormattedValue"] = json!("x");
    let second = conversation(2, json!(3), json!("2026-11-19T09:00:00Z"));
    let loaded = store(&[second, record]);
    let warnings: Vec<(&str, &str)> = loaded
        .load_warnings()
        .iter()
        .map(|w| (w.code, w.path.as_str()))
        .collect();
    assert_eq!(
        warnings,
        [
            ("store_logical_name", "/1/msdyn_customer"),
            ("store_unknown_property", "/1/msdyn_titel"),
        ]
    );
    let message = &loaded.load_warnings()[0].message;
    assert!(message.contains("`_msdyn_customer_value`"), "{message}");
    assert!(
        store(&[conversation(3, json!(3), json!(null))])
            .load_warnings()
            .is_empty()
    );

    let mut logical = conversation(4, json!(3), json!("2026-11-19T08:00:00Z"));
    let agent = logical
        .as_object_mut()
        .unwrap()
        .remove("_msdyn_activeagentid_value")
        .unwrap();
    logical["msdyn_activeagentid"] = agent;
    let error = load_error(&json!({ "value": [logical] }).to_string());
    assert_eq!(error.code(), "store_logical_name");
    assert_eq!(error.path(), "/value/0/msdyn_activeagentid");
    assert!(
        error.hint().unwrap().contains("_msdyn_activeagentid_value"),
        "{error}"
    );
}

#[test]
fn the_sample_store_has_only_web_api_properties() {
    assert_eq!(EmbeddedStore::sample().load_warnings(), []);
}
