//! Every endpoint's success answer, against the real sample store.

use std::time::SystemTime;

use convq_backend::{Backend, EmbeddedStore, Outcome, RunContext};
use convq_core::Options;
use convq_simorg::testkit::header;

use crate::{TestServer, WAITING, client, parts, post_json};

#[tokio::test]
async fn get_conversations_answers_the_envelope_of_the_backend() {
    let server = TestServer::sample().await;
    let (status, _, body) = parts(post_json(&server.url("/getConversations"), WAITING).await).await;
    assert_eq!(status, 200, "{body}");

    // The same run, straight through the backend crate: the adapter adds nothing and drops
    // nothing. (No createdBeforeDays in the input, so "now" does not matter.)
    let store = EmbeddedStore::sample();
    let direct = convq_backend::get_conversations(
        &store,
        WAITING,
        &Options::default(),
        &RunContext::at(SystemTime::now()),
    )
    .await;
    assert_eq!(direct.outcome, Outcome::Success);
    assert_eq!(body, serde_json::to_value(&direct.envelope).unwrap());

    let values = body["result"]["values"].as_array().expect("values");
    assert!(
        !values.is_empty(),
        "the sample has waiting conversations for this agent"
    );
    assert!(values.iter().all(|v| v["statuscode"] == 3), "{body}");
    let created: Vec<&str> = values
        .iter()
        .map(|v| v["createdon"].as_str().unwrap())
        .collect();
    let mut sorted = created.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(created, sorted, "newest first");
}

#[tokio::test]
async fn query_answers_the_compiled_query() {
    let server = TestServer::sample().await;
    let (status, _, body) = parts(post_json(&server.url("/query"), WAITING).await).await;
    assert_eq!(status, 200, "{body}");
    let compiled = convq_core::compile(WAITING, &Options::default()).unwrap();
    assert_eq!(body, serde_json::to_value(&compiled).unwrap());
    assert_eq!(
        body["filter"],
        "_msdyn_activeagentid_value eq 2b330c52-6844-4d36-8e05-03c78c9681dc and statuscode eq 3"
    );
}

#[tokio::test]
async fn strict_query_parameter_turns_unknown_column_warnings_into_errors() {
    let server = TestServer::sample().await;
    let input =
        r#"{"agentId": "2b330c52-6844-4d36-8e05-03c78c9681dc", "attributes": ["msdyn_titel"]}"#;
    let (status, _, body) = parts(post_json(&server.url("/query"), input).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["warnings"][0]["code"], "unknown_column", "{body}");

    // getConversations answers the envelope unchanged and the warning in a header.
    let response = post_json(&server.url("/getConversations"), input).await;
    let warnings: Vec<&str> = response
        .headers()
        .get_all("x-convq-warning")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(warnings, ["unknown_column /attributes/0"]);
    let (status, _, body) = parts(response).await;
    assert_eq!((status, &body["status"]), (200, &serde_json::json!(true)));

    for path in ["/query?strict=true", "/getConversations?strict=true"] {
        let (status, _, body) = parts(post_json(&server.url(path), input).await).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(crate::error_code(&body), "unknown_column");
        assert_eq!(body["error"]["path"], "/attributes/0");
        assert_eq!(body["error"]["hint"], "did you mean `msdyn_title`?");
    }
}

#[tokio::test]
async fn warning_headers_are_capped_with_a_summary() {
    let server = TestServer::sample().await;
    let attributes: Vec<String> = (0..20).map(|i| format!("unknown_{i}")).collect();
    let input = serde_json::json!({
        "agentId": "2b330c52-6844-4d36-8e05-03c78c9681dc",
        "attributes": attributes,
    });
    let response = post_json(&server.url("/getConversations"), input.to_string()).await;
    let warnings: Vec<String> = response
        .headers()
        .get_all("x-convq-warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = (0..7)
        .map(|i| format!("unknown_column /attributes/{i}"))
        .collect();
    expected.push("more_warnings 13".to_owned());
    assert_eq!(warnings, expected);
    let (status, _, _) = parts(response).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn health_readiness_and_the_openapi_document() {
    let server = TestServer::sample().await;
    let get = |path: &str| client().get(server.url(path)).send();

    let (status, _, body) = parts(get("/healthz").await.unwrap()).await;
    assert_eq!((status, body), (200, serde_json::json!({"status": "ok"})));

    let (status, _, body) = parts(get("/readyz").await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["backend"], EmbeddedStore::sample().describe());

    let (status, _, body) = parts(get("/openapi.json").await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body, convq_http::openapi_document());
}

#[tokio::test]
async fn metrics_count_requests_by_route_method_and_status() {
    let server = TestServer::sample().await;
    for _ in 0..3 {
        post_json(&server.url("/getConversations"), WAITING).await;
    }
    post_json(&server.url("/getConversations"), "{").await;
    client().get(server.url("/healthz")).send().await.unwrap();
    client().get(server.url("/nowhere")).send().await.unwrap();

    let response = client().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = header(&response, "content-type");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    for line in [
        r#"convq_http_requests_total{method="POST",route="/getConversations",status="200"} 3"#,
        r#"convq_http_requests_total{method="POST",route="/getConversations",status="400"} 1"#,
        r#"convq_http_requests_total{method="GET",route="/healthz",status="200"} 1"#,
        r#"convq_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"convq_http_request_duration_seconds_count{method="POST",route="/getConversations"} 4"#,
        // The /metrics request itself is in flight while it renders.
        "convq_http_requests_in_flight 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn a_fixed_now_answers_created_before_days_from_that_time() {
    let recent = r#"{"agentId":"2b330c52-6844-4d36-8e05-03c78c9681dc","createdBeforeDays":7}"#;
    let count = |now: &str| {
        let now = convq_backend::parse_timestamp(now).unwrap();
        async move {
            let server =
                TestServer::with_config(convq_http::ServerConfig::default().with_fixed_now(now))
                    .await;
            let (status, _, body) =
                parts(post_json(&server.url("/getConversations"), recent).await).await;
            assert_eq!(status, 200, "{body}");
            server.stop().await.unwrap();
            body["result"]["values"].as_array().unwrap().len()
        }
    };
    // The sample store's conversations end at 2026-11-20; a year later none is within 7 days.
    assert!(count("2026-11-20T12:00:00Z").await > 0);
    assert_eq!(count("2027-11-20T12:00:00Z").await, 0);
}
