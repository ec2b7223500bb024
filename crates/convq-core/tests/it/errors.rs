//! Errors checked inline: limits whose inputs are too big for a fixture, exact boundaries, and
//! tables of hostile characters in every string field.

use convq_core::{Options, compile, limits};
use serde_json::json;

use crate::{AGENT, options, outcome};

/// Valid JSON of exactly `MAX_INPUT_BYTES + 1` bytes.
pub(crate) fn oversized_input() -> String {
    input_of_size(limits::MAX_INPUT_BYTES + 1)
}

/// A valid input of exactly `size` bytes: the agent, padded with whitespace.
fn input_of_size(size: usize) -> String {
    let mut text = format!("{{\"agentId\": \"{AGENT}\"}}");
    let padding = size - text.len();
    text.insert_str(text.len() - 1, &" ".repeat(padding));
    assert_eq!(text.len(), size);
    text
}

/// An input whose request path (with default options) is exactly `length` characters: one
/// custom column whose name is as long as it has to be. Column names are `[a-z0-9_]`, which
/// percent-encoding leaves alone, so each character of the name is one character of the path.
pub(crate) fn request_of_length(length: usize) -> String {
    let with_name = |len: usize| json!({"agentId": AGENT, "attributes": ["a".repeat(len)]});
    let one = compile(&with_name(1).to_string(), &Options::default())
        .expect("one short custom column compiles")
        .path
        .len();
    with_name(length - one + 1).to_string()
}

#[test]
fn input_size_limit_is_inclusive_and_checked_before_parsing() {
    let at_limit = input_of_size(limits::MAX_INPUT_BYTES);
    assert!(compile(&at_limit, &Options::default()).is_ok());

    let over = compile(&oversized_input(), &Options::default());
    insta::assert_json_snapshot!("input_too_large", outcome(&over));

    // Not JSON at all, but the size is what gets reported: nothing over the limit is parsed.
    let garbage = "x".repeat(limits::MAX_INPUT_BYTES + 1);
    let err = compile(&garbage, &Options::default()).unwrap_err();
    assert_eq!(err.code(), "input_too_large");
}

#[test]
fn request_length_limit_is_inclusive() {
    let at_limit = compile(
        &request_of_length(limits::MAX_URL_LENGTH),
        &Options::default(),
    )
    .expect("a path of exactly 32,768 characters is accepted");
    assert_eq!(at_limit.path.len(), limits::MAX_URL_LENGTH);

    let over = compile(
        &request_of_length(limits::MAX_URL_LENGTH + 1),
        &Options::default(),
    );
    insta::assert_json_snapshot!("request_too_long_path", outcome(&over));
}

#[test]
fn request_length_counts_the_base_url() {
    let base = "https://contoso.crm.dynamics.com";
    let input = request_of_length(limits::MAX_URL_LENGTH - base.len());
    let with_base = options(json!({ "baseUrl": base }));
    let at_limit = compile(&input, &with_base).expect("URL of exactly 32,768 characters");
    assert_eq!(
        at_limit.url.as_deref().map(str::len),
        Some(limits::MAX_URL_LENGTH)
    );

    let longer_base = options(json!({ "baseUrl": format!("{base}.example") }));
    let over = compile(&input, &longer_base);
    insta::assert_json_snapshot!("request_too_long_url", outcome(&over));
}

#[test]
fn array_limits_are_inclusive() {
    let attributes: Vec<String> = (0..limits::MAX_ATTRIBUTES)
        .map(|i| format!("new_col_{i}"))
        .collect();
    let status: Vec<usize> = (0..limits::MAX_STATUSES).collect();
    let order_by: Vec<_> = (0..limits::MAX_ORDER_KEYS)
        .map(|i| json!({ "attributeName": format!("new_col_{i}") }))
        .collect();
    let input = json!({
        "agentId": AGENT,
        "attributes": attributes,
        "status": status,
        "orderBy": order_by,
    });
    let compiled = compile(&input.to_string(), &Options::default()).expect("at the limits");
    assert_eq!(compiled.ast.select.len(), 5 + limits::MAX_ATTRIBUTES);
    assert_eq!(compiled.ast.status.len(), limits::MAX_STATUSES);
    assert_eq!(compiled.ast.order_by.len(), limits::MAX_ORDER_KEYS);
}

/// Characters that mean something in a query string, a `$filter`, a URL or XML, and some
/// Unicode. Whatever field they are put in, the input is rejected at that field: none of them
/// can become query text.
#[test]
fn hostile_characters_are_rejected_in_every_string_field() {
    let hostile = [
        "'", "''", "\"", "+", "#", "&", "%", "%2C", "/", "?", "@", ",", ";", "=", " ", "\t", "\n",
        "(", ")", "$", "[", "]", "{", "}", "<", ">", "\\", "\u{0}", "é", "😀", "\u{200b}",
        "\u{a0}", "\u{feff}", " or ", " eq ", "&$top=1",
    ];
    for h in hostile {
        let cases = [
            (
                json!({ "agentId": format!("2b330c52{h}-6844-4d36-8e05-03c78c9681dc") }),
                "invalid_agent_id",
                "/agentId",
            ),
            (
                json!({ "agentId": AGENT, "attributes": [format!("msdyn{h}title")] }),
                "invalid_column_name",
                "/attributes/0",
            ),
            (
                json!({ "agentId": AGENT, "orderBy": [{ "attributeName": format!("created{h}on") }] }),
                "invalid_column_name",
                "/orderBy/0/attributeName",
            ),
            (
                json!({ "agentId": AGENT, "status": [format!("3{h}2")] }),
                "invalid_status",
                "/status/0",
            ),
        ];
        for (input, code, path) in cases {
            // A comma separates statuses (`"3,2"` is two), as the documentation describes.
            if h == "," && path == "/status/0" {
                continue;
            }
            let err = compile(&input.to_string(), &Options::default())
                .expect_err(&format!("{h:?} in {path}"));
            assert_eq!((err.code(), err.path()), (code, path), "{h:?}: {err}");
        }
    }
}

#[test]
fn the_failure_envelope_omits_an_absent_hint() {
    let err = compile(
        &json!({ "agentId": AGENT, "status": true }).to_string(),
        &Options::default(),
    )
    .unwrap_err();
    assert_eq!(err.hint(), None);
    assert_eq!(
        serde_json::to_string(&outcome(&Err(err))).unwrap(),
        r#"{"error":{"code":"invalid_type","message":"`/status` must be an array of statuscode values or a comma-separated string, found a boolean","path":"/status"},"status":false}"#
    );
}

#[test]
fn the_first_error_in_check_order_is_reported() {
    // Unknown keys first, then the agent, then attributes, status, orderBy, days, top.
    let input = json!({
        "agentId": "nope",
        "attributes": ["a b"],
        "status": ["x"],
        "createdBeforeDays": 0,
    });
    let err = compile(&input.to_string(), &Options::default()).unwrap_err();
    assert_eq!(err.path(), "/agentId");

    let mut with_unknown = input;
    with_unknown["colour"] = json!(1);
    let err = compile(&with_unknown.to_string(), &Options::default()).unwrap_err();
    assert_eq!((err.code(), err.path()), ("unknown_field", "/colour"));
}

/// A value of any size is quoted as a short prefix (cut on a character boundary, with an
/// ellipsis), whatever field it is in, so an error body stays small: issue 11.
#[test]
fn hostile_values_are_quoted_short_and_error_bodies_stay_under_4_kb() {
    let strict = options(json!({ "unknownColumns": "error" }));
    for long in ["x".repeat(64 * 1024), "é😀".repeat(16 * 1024)] {
        let key = format!("{{\"agentId\": \"{AGENT}\", \"{long}\": 1, \"{long}\": 2}}");
        let cases = [
            (
                json!({ "agentId": AGENT, long.clone(): 1 }),
                "unknown_field",
            ),
            (
                json!({ "agentId": AGENT, "orderBy": [{ long.clone(): 1 }] }),
                "unknown_field",
            ),
            (json!({ "agentId": long.clone() }), "invalid_agent_id"),
            (
                json!({ "agentId": AGENT, "attributes": [format!("{long} x")] }),
                "invalid_column_name",
            ),
            (
                json!({ "agentId": AGENT, "status": [format!("{long},1")] }),
                "invalid_status",
            ),
            (
                json!({ "agentId": AGENT, "orderBy": [{ "attributeName": format!("{long} desc") }] }),
                "invalid_column_name",
            ),
        ];
        let mut outcomes: Vec<_> = cases
            .into_iter()
            .map(|(input, code)| (compile(&input.to_string(), &Options::default()), code))
            .collect();
        outcomes.push((compile(&key, &Options::default()), "duplicate_key"));
        let base = options(json!({ "baseUrl": format!("https://{long}/api") }));
        outcomes.push((
            compile(&format!("{{\"agentId\": \"{AGENT}\"}}"), &base),
            "invalid_base_url",
        ));
        if long.is_ascii() {
            let column = json!({ "agentId": AGENT, "attributes": [long.clone()] }).to_string();
            outcomes.push((compile(&column, &strict), "unknown_column"));
            let twice = json!({ "agentId": AGENT, "orderBy": [
                { "attributeName": long.clone() }, { "attributeName": long.clone() }
            ] });
            outcomes.push((compile(&twice.to_string(), &strict), "unknown_column"));
            let digits = json!({ "agentId": AGENT, "status": ["9".repeat(64 * 1024)] });
            outcomes.push((
                compile(&digits.to_string(), &Options::default()),
                "invalid_status",
            ));
        }
        for (result, code) in outcomes {
            let err = result.expect_err(code);
            assert_eq!(err.code(), code);
            let body = serde_json::to_string(&err.to_body()).unwrap();
            assert!(body.len() <= 4096, "{code}: {} bytes", body.len());
            assert!(body.contains('…'), "{code}: {body}");
        }
    }
}

/// A long custom column is passed through whole, but its warning quotes a short prefix.
#[test]
fn warnings_quote_a_short_prefix_of_a_long_column_name() {
    let long = "x".repeat(20_000);
    let input = json!({ "agentId": AGENT, "attributes": [long.clone()] }).to_string();
    let compiled = compile(&input, &Options::default()).expect("a long custom column compiles");
    assert_eq!(compiled.ast.select.last().unwrap().logical_name, long);
    let message = &compiled.warnings[0].message;
    assert!(
        message.len() < 300 && message.contains("xxx…`"),
        "{message}"
    );
}
