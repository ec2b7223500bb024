//! The Dataverse client against the simulated organization's scripted answers on 127.0.0.1.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use convq_backend::{Backend, BackendError, ErrorKind, Outcome, RunContext, get_conversations};
use convq_core::{Compiled, Options};
use convq_dataverse::{DataverseClient, DataverseConfig};
use convq_simorg::{Call, Reply, SimOrg};
use serde_json::{Value, json};

use crate::{AGENT, now};

const TOKEN: &str = "eyJ0eXAi.test-token.s1gnature";

/// A scripted organization.
async fn start(script: impl Fn(&Call<'_>) -> Reply + Send + Sync + 'static) -> SimOrg {
    SimOrg::scripted(script).await.unwrap()
}

fn config(base: &str) -> DataverseConfig {
    let mut config = DataverseConfig::new(base, TOKEN);
    config.page_size = Some(2);
    config.total_timeout = Duration::from_secs(10);
    config.connect_timeout = Duration::from_secs(2);
    config
}

/// A client of `server` with [`config`] changed by `change`.
fn client_with(server: &SimOrg, change: impl FnOnce(&mut DataverseConfig)) -> DataverseClient {
    let mut config = config(server.url());
    change(&mut config);
    DataverseClient::new(config).unwrap()
}

/// An organization that answers every request 429 with this `Retry-After`, and a client of it
/// with [`config`] changed by `change`.
async fn throttled(
    retry_after: &'static str,
    change: impl FnOnce(&mut DataverseConfig),
) -> (SimOrg, DataverseClient) {
    let server = start(move |_| Reply::json(429, &json!({})).with_retry_after(retry_after)).await;
    let client = client_with(&server, change);
    (server, client)
}

fn compiled(input: &Value) -> Compiled {
    convq_core::compile(&input.to_string(), &Options::default()).unwrap()
}

/// The documented example plus a day filter (its `'` and `(` must travel intact) and a title.
fn example() -> Value {
    json!({
        "attributes": ["msdyn_title", "msdyn_channel"],
        "agentId": AGENT,
        "status": [3, 2],
        "createdBeforeDays": 7,
        "orderBy": [{"attributeName": "createdon", "descending": true}]
    })
}

fn row(n: usize) -> Value {
    json!({
        "@odata.etag": format!("W/\"{n}\""),
        "activityid": format!("00000000-0000-4000-8000-{n:012x}"),
        "statuscode": 3,
        "msdyn_title": format!("Row {n} «ü» \"q\""),
    })
}

/// Pages of two rows; `pages` of them, each but the last with a nextLink to the next.
fn paged(pages: usize) -> impl Fn(&Call<'_>) -> Reply {
    move |call: &Call<'_>| {
        let page = call.index;
        let mut body = json!({
            "@odata.context": format!("{}/api/data/v9.2/$metadata#msdyn_ocliveworkitems", call.base),
            "value": [row(2 * page + 1), row(2 * page + 2)],
        });
        if page + 1 < pages {
            // A skiptoken as Dataverse writes it: an encoded paging cookie.
            body["@odata.nextLink"] = json!(format!(
                "{}/api/data/v9.2/msdyn_ocliveworkitems?$select=msdyn_title&$skiptoken=%3Ccookie%20pagenumber=%22{}%22%20pagingcookie=%22%253ccookie%2520page%253d%25221%2522%253e%22%20/%3E",
                call.base,
                page + 2
            ));
        }
        Reply::json(200, &body)
    }
}

async fn fetch(client: &DataverseClient, input: &Value) -> Result<Vec<Value>, BackendError> {
    client.fetch(&compiled(input), &RunContext::at(now())).await
}

/// The error of a fetch of [`example`] that must fail, and how long it took.
async fn failure(client: &DataverseClient) -> (BackendError, Duration) {
    let started = Instant::now();
    let error = fetch(client, &example()).await.unwrap_err();
    (error, started.elapsed())
}

fn assert_no_token(error: &BackendError) {
    let shown = format!("{error} {error:?} {:?}", error.to_body());
    assert!(!shown.contains("test-token"), "{shown}");
}

#[tokio::test]
async fn pages_are_followed_unchanged_with_the_web_api_headers() {
    let server = start(paged(3)).await;
    let client = DataverseClient::new(config(server.url())).unwrap();
    let compiled = compiled(&example());
    let rows = client
        .fetch(&compiled, &RunContext::at(now()))
        .await
        .unwrap();
    let numbers: Vec<&str> = rows
        .iter()
        .map(|r| r["msdyn_title"].as_str().unwrap())
        .collect();
    assert_eq!(
        numbers,
        [
            "Row 1 «ü» \"q\"",
            "Row 2 «ü» \"q\"",
            "Row 3 «ü» \"q\"",
            "Row 4 «ü» \"q\"",
            "Row 5 «ü» \"q\"",
            "Row 6 «ü» \"q\""
        ]
    );
    assert_eq!(rows[0]["@odata.etag"], "W/\"1\"", "rows come back as sent");

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    // The compiled path, except that the URL parser escapes ' in queries (WHATWG rules).
    assert_eq!(requests[0].target, compiled.path.replace('\'', "%27"));
    assert!(requests[0].target.contains(
        "Microsoft.Dynamics.CRM.LastXDays(PropertyName%3D%27createdon%27%2CPropertyValue%3D7)"
    ));
    assert!(requests[0].target.contains(
        "$filter=_msdyn_activeagentid_value%20eq%202b330c52-6844-4d36-8e05-03c78c9681dc%20and%20(statuscode%20eq%202%20or%20statuscode%20eq%203)"
    ));
    // Later pages: the nextLink byte for byte, including its double-encoded cookie.
    assert_eq!(
        requests[1].target,
        "/api/data/v9.2/msdyn_ocliveworkitems?$select=msdyn_title&$skiptoken=%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253ccookie%2520page%253d%25221%2522%253e%22%20/%3E"
    );
    for seen in &requests {
        let header = |name: &str| seen.headers.get(name).map(|v| v.to_str().unwrap());
        assert_eq!(header("accept"), Some("application/json"));
        assert_eq!(header("odata-version"), Some("4.0"));
        assert_eq!(header("odata-maxversion"), Some("4.0"));
        assert_eq!(header("if-none-match"), Some("null"));
        assert_eq!(header("prefer"), Some("odata.maxpagesize=2"));
        assert_eq!(
            header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }
}

#[tokio::test]
async fn paging_stops_at_top_and_without_a_page_size_no_prefer_is_sent() {
    let server = start(paged(10)).await;
    let client = client_with(&server, |c| c.page_size = None);
    let mut input = example();
    input["top"] = json!(3);
    let rows = fetch(&client, &input).await.unwrap();
    assert_eq!(rows.len(), 3);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "two pages hold three rows");
    assert!(
        requests[0].target.ends_with("&$top=3"),
        "{}",
        requests[0].target
    );
    assert!(requests[0].headers.get("prefer").is_none());
}

/// With formatted values, `Prefer` asks for the FormattedValue annotations too (beside the
/// page size, in one header); without, it does not.
#[tokio::test]
async fn formatted_values_are_asked_for_with_prefer() {
    let server = start(paged(1)).await;
    let client = DataverseClient::new(config(server.url())).unwrap();
    let ctx = RunContext::at(now()).with_formatted_values(true);
    client.fetch(&compiled(&example()), &ctx).await.unwrap();
    let unpaged = client_with(&server, |c| c.page_size = None);
    unpaged.fetch(&compiled(&example()), &ctx).await.unwrap();
    let requests = server.requests();
    let prefer = |i: usize| {
        requests[i]
            .headers
            .get("prefer")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(
        prefer(0).as_deref(),
        Some(
            "odata.maxpagesize=2,odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\""
        )
    );
    assert_eq!(
        prefer(1).as_deref(),
        Some("odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"")
    );
}

#[tokio::test]
async fn the_page_cap_is_an_error_not_a_partial_answer() {
    let server = start(paged(usize::MAX)).await;
    let client = client_with(&server, |c| c.max_pages = 3);
    let error = fetch(&client, &example()).await.unwrap_err();
    assert_eq!(error.code(), "dataverse_page_limit");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn retry_after_is_honoured_on_429() {
    let server = start(|call| {
        if call.index == 0 {
            Reply::dataverse_error(
                429,
                "0x80072322",
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
            )
            .with_retry_after("1")
        } else {
            Reply::json(200, &json!({"value": [row(1)]}))
        }
    })
    .await;
    let client = DataverseClient::new(config(server.url())).unwrap();
    let started = Instant::now();
    let rows = fetch(&client, &example()).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn retries_are_bounded() {
    let server = start(|_| Reply::json(503, &json!({})).with_retry_after("0")).await;
    let client = client_with(&server, |c| {
        c.max_retries = 2;
        c.max_retry_wait = Duration::from_millis(50);
    });
    let (error, took) = failure(&client).await;
    assert!(took < Duration::from_secs(5));
    assert_eq!(error.code(), "dataverse_unavailable");
    assert_eq!(
        error.to_string(),
        "Dataverse is unavailable (HTTP 503) and still was after 2 retries; it asked to wait 0 s"
    );
    assert!(error.hint().unwrap().contains("maintenance"), "{error:?}");
    assert_eq!(server.requests().len(), 3, "the first try and two retries");
}

/// A `Retry-After` longer than a call's own retry cap fails that call at once, with the wait;
/// the identity stays paused for all of it, so the next call sends nothing and is told what is
/// left.
#[tokio::test]
async fn a_long_retry_after_fails_the_call_and_holds_the_identity_for_all_of_it() {
    let (server, client) = throttled("300", |c| c.max_retry_wait = Duration::from_secs(30)).await;
    let (error, first) = failure(&client).await;
    assert!(
        matches!(error, BackendError::DataverseThrottled { retries: 0, retry_after: Some(wait), .. } if wait == Duration::from_secs(300)),
        "{error:?}"
    );
    let (error, second) = failure(&client).await;
    match error {
        BackendError::DataverseThrottled {
            retry_after: Some(left),
            ..
        } => assert!(
            left > Duration::from_secs(290) && left <= Duration::from_secs(300),
            "{left:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(first + second < Duration::from_secs(5));
    assert_eq!(server.requests().len(), 1, "nothing sent during the pause");
}

#[tokio::test]
async fn a_wait_past_the_deadline_fails_at_once() {
    let (_server, client) = throttled("20", |c| c.total_timeout = Duration::from_secs(5)).await;
    let (error, took) = failure(&client).await;
    assert_eq!(error.code(), "dataverse_throttled");
    assert!(took < Duration::from_secs(2));
}

#[tokio::test]
async fn dataverse_error_bodies_become_failure_envelopes() {
    let server = start(|call| match call.index {
        0 => Reply::dataverse_error(401, "0x80072560", "The user is not a member of the organization."),
        1 => Reply::dataverse_error(400, "0x0", "Could not find a property named 'msdyn_nope' on type 'Microsoft.Dynamics.CRM.msdyn_ocliveworkitem'."),
        _ => Reply::text(500, "text/html", "<html>oops</html>"),
    })
    .await;
    let client = DataverseClient::new(config(server.url())).unwrap();
    let ctx = RunContext::at(now());
    let input = example().to_string();
    let mut envelopes = Vec::new();
    for kind in [
        ErrorKind::Unauthorized,
        ErrorKind::Backend,
        ErrorKind::Backend,
    ] {
        let run = get_conversations(&client, &input, &Options::default(), &ctx).await;
        assert_eq!(run.outcome, Outcome::Failure(kind));
        let text = serde_json::to_string(&run.envelope).unwrap();
        assert!(!text.contains("test-token"), "{text}");
        envelopes.push(run.envelope);
    }
    insta::assert_json_snapshot!(envelopes);
}

#[tokio::test]
async fn malformed_bodies_are_bad_responses() {
    let bodies = [
        "<html>login</html>",
        r#"{"value": 5}"#,
        r#"{"value": [1, 2]}"#,
        r#"{"value": [{"activityid": "x"}]"#,
    ];
    let server = start(move |call: &Call<'_>| Reply::text(200, "", bodies[call.index])).await;
    let client = DataverseClient::new(config(server.url())).unwrap();
    let mut messages = Vec::new();
    for _ in bodies {
        let error = fetch(&client, &example()).await.unwrap_err();
        assert_eq!(error.code(), "dataverse_bad_response");
        assert_no_token(&error);
        messages.push(error.to_string());
    }
    insta::assert_json_snapshot!(messages);
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let server =
        start(|_| Reply::json(200, &json!({"value": []})).after(Duration::from_secs(10))).await;
    let client = client_with(&server, |c| c.total_timeout = Duration::from_millis(300));
    let started = Instant::now();
    let run = get_conversations(
        &client,
        &example().to_string(),
        &Options::default(),
        &RunContext::at(now()),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run.outcome, Outcome::Failure(ErrorKind::Timeout));
    let body = serde_json::to_value(&run.envelope).unwrap();
    assert_eq!(body["error"]["code"], "dataverse_timeout");
    assert_eq!(
        body["error"]["message"],
        "Dataverse did not answer within 300 ms: the Dataverse timeout ran out while waiting for \
         the status line and headers of page 1"
    );
}

#[tokio::test]
async fn the_callers_deadline_comes_first_and_says_so() {
    let server =
        start(|_| Reply::json(200, &json!({"value": []})).after(Duration::from_secs(10))).await;
    let client = DataverseClient::new(config(server.url())).unwrap();
    let started = Instant::now();
    let ctx = RunContext::at(now()).with_deadline(started + Duration::from_secs(1));
    let error = client.fetch(&compiled(&example()), &ctx).await.unwrap_err();
    let took = started.elapsed();
    // At the deadline (less its margin), not at the org's 10 s answer; the exact time is the
    // test machine's to decide.
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(error.code(), "dataverse_timeout");
    let message = error.to_string();
    assert!(
        message.contains(
            "the caller's deadline ran out while waiting for the status line and \
                          headers of page 1"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn oversized_pages_and_answers_are_refused() {
    // Two pages of about 1 KB each (a new server per client: the page is the call's index).
    let two_pages = || {
        start(|call| {
            let rows: Vec<Value> = (0..8).map(|n| row(call.index * 8 + n)).collect();
            let mut body = json!({"value": rows});
            if call.index == 0 {
                body["@odata.nextLink"] = json!(format!(
                    "{}/api/data/v9.2/msdyn_ocliveworkitems?$skiptoken=2",
                    call.base
                ));
            }
            Reply::json(200, &body)
        })
    };
    let page_size = {
        let rows: Vec<Value> = (0..8).map(row).collect();
        json!({"value": rows}).to_string().len() as u64
    };

    let server = two_pages().await;
    let client = client_with(&server, |c| c.max_page_bytes = page_size - 1);
    let error = fetch(&client, &example()).await.unwrap_err();
    assert_eq!(error.code(), "dataverse_response_too_large");
    assert_eq!(
        error.to_string(),
        format!(
            "Dataverse sent more than {} bytes for one page; convq stopped reading instead of \
             holding it all in memory",
            page_size - 1
        )
    );

    // Each page fits, both together do not.
    let server = two_pages().await;
    let mut config = self::config(server.url());
    config.max_response_bytes = page_size * 3 / 2;
    let client = DataverseClient::new(config).unwrap();
    let error = fetch(&client, &example()).await.unwrap_err();
    assert_eq!(error.code(), "dataverse_response_too_large");
    assert!(
        error.to_string().contains("for the whole answer"),
        "{error}"
    );

    // With room for both, both pages come back.
    let server = two_pages().await;
    let mut config = self::config(server.url());
    config.max_response_bytes = page_size * 3;
    let client = DataverseClient::new(config).unwrap();
    assert_eq!(fetch(&client, &example()).await.unwrap().len(), 16);
}

#[tokio::test]
async fn rejected_credentials_make_the_client_unready_until_a_call_succeeds() {
    let server = start(|call| match call.index {
        0 => Reply::dataverse_error(401, "0x80072560", "no"),
        1 => Reply::dataverse_error(403, "0x80040220", "no"),
        2 => Reply::dataverse_error(500, "0x0", "oops"),
        _ => Reply::json(200, &json!({"value": [row(1)]})),
    })
    .await;
    let client = DataverseClient::new(config(server.url())).unwrap();
    assert!(client.is_ready(), "ready before any call");
    for (code, ready) in [
        ("dataverse_unauthorized", false),
        ("dataverse_forbidden", false),
        // Another failure says nothing about the credentials: still not ready.
        ("dataverse_error", false),
    ] {
        let error = fetch(&client, &example()).await.unwrap_err();
        assert_eq!(error.code(), code);
        assert_eq!(client.is_ready(), ready, "{code}");
    }
    fetch(&client, &example()).await.unwrap();
    assert!(client.is_ready(), "ready again after a success");
}

/// The error a fetch gets from a server that always answers `reply`.
async fn error_for(reply: Reply) -> BackendError {
    let server = start(move |_| reply.clone()).await;
    let client = DataverseClient::new(config(server.url())).unwrap();
    fetch(&client, &example()).await.unwrap_err()
}

#[tokio::test]
async fn long_dataverse_messages_are_cut() {
    let error = error_for(Reply::dataverse_error(400, "0x0", &"x".repeat(100_000))).await;
    // Over the 64 KiB error-body limit: the body is not used at all.
    assert_eq!(
        error.to_string(),
        "Dataverse answered HTTP 400: Bad Request"
    );
    let error = error_for(Reply::dataverse_error(400, "0x0", &"y".repeat(20_000))).await;
    let message = error.to_string();
    assert!(message.len() < 1100, "{}", message.len());
    assert!(message.contains("yyy…"), "{message}");
}

#[tokio::test]
async fn a_refused_connection_is_unreachable() {
    // Bind, note the port, close: nothing listens there any more.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = DataverseClient::new(config(&format!("http://127.0.0.1:{port}"))).unwrap();
    let error = fetch(&client, &example()).await.unwrap_err();
    assert_eq!(error.code(), "dataverse_unreachable");
    assert!(
        error.to_string().starts_with(&format!(
            "cannot reach Dataverse at http://127.0.0.1:{port}: "
        )),
        "{error}"
    );
    assert_no_token(&error);
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let elsewhere = start(|_| Reply::json(200, &json!({"value": []}))).await;
    let target: SocketAddr = elsewhere.url()["http://".len()..].parse().unwrap();
    let server = start(move |_| {
        Reply::json(
            200,
            &json!({
                "value": [row(1)],
                "@odata.nextLink": format!("http://localhost:{}/api/data/v9.2/msdyn_ocliveworkitems?$skiptoken=1", target.port()),
            }),
        )
    })
    .await;
    let client = DataverseClient::new(config(server.url())).unwrap();
    let error = fetch(&client, &example()).await.unwrap_err();
    assert_eq!(error.code(), "dataverse_bad_response");
    assert!(
        error.to_string().contains("does not send the token there"),
        "{error}"
    );
    assert!(elsewhere.requests().is_empty(), "the token went elsewhere");
}

/// `x-ms-dop-hint` sets how many requests of the identity go out at once: after a hint of 1,
/// four concurrent calls go one after another.
#[tokio::test]
async fn the_dop_hint_sets_the_concurrency() {
    let server = start(|_| {
        Reply::json(200, &json!({"value": []}))
            .after(Duration::from_millis(100))
            .with_header("x-ms-dop-hint", "1")
    })
    .await;
    let client = std::sync::Arc::new(DataverseClient::new(config(server.url())).unwrap());
    fetch(&client, &example()).await.unwrap();
    let started = Instant::now();
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let client = std::sync::Arc::clone(&client);
            tokio::spawn(async move { fetch(&client, &example()).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "one at a time: {:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 5);
}
