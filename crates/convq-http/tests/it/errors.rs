//! Every error status, each with the failure envelope (and the correlation id header).

use std::time::Duration;

use convq_core::{Envelope, Options};
use convq_http::Limits;
use convq_simorg::testkit::{Behaviour, Peer, record};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    TestServer, WAITING, assert_waiting_fails, client, closed_port, error_code, error_text,
    limits_with, parts, post_as, post_json,
};

/// Checks that `body` is exactly this failure envelope, with an empty `path`: these errors are
/// about the request, not a place in the input.
fn assert_envelope(body: &serde_json::Value, code: &str, hint: &str, message: &str) {
    let expected = serde_json::json!({
        "error": {"code": code, "hint": hint, "message": message, "path": ""},
        "status": false,
    });
    assert_eq!(body, &expected);
}

#[tokio::test]
async fn invalid_input_is_400_with_the_core_error_code_and_pointer() {
    let server = TestServer::sample().await;
    for input in [
        r#"{"agentId": "not-a-guid"}"#,
        r#"{"agentId": "2b330c52-6844-4d36-8e05-03c78c9681dc", "status": [3, "x"]}"#,
        r#"{"agentId": "2b330c52-6844-4d36-8e05-03c78c9681dc", "orderBy": [{"attributeName": "createdon", "desc": true}]}"#,
        "{",
        "",
    ] {
        let expected =
            Envelope::from(&convq_core::compile(input, &Options::default()).unwrap_err());
        for route in ["/getConversations", "/query"] {
            let (status, _, body) = parts(post_json(&server.url(route), input).await).await;
            assert_eq!(status, 400, "{route} {input}");
            assert_eq!(
                body,
                serde_json::to_value(&expected).unwrap(),
                "{route} {input}"
            );
        }
    }
    let (_, _, body) = parts(post_json(&server.url("/query"), r#"{"agentId": "x"}"#).await).await;
    assert_eq!(
        (error_code(&body), body["error"]["path"].as_str()),
        ("invalid_agent_id", Some("/agentId"))
    );
}

#[tokio::test]
async fn request_problems_are_400() {
    let server = TestServer::sample().await;
    let (status, _, body) =
        parts(post_json(&server.url("/query"), b"{\"agentId\": \"\xff\"}".to_vec()).await).await;
    assert_eq!(status, 400);
    // The core's decode_input, as the CLI and the wasm package read bytes: same code, position.
    assert_eq!(
        body,
        serde_json::json!({"error": {
            "code": "invalid_json",
            "message": "the input is not valid JSON: invalid UTF-8 byte 0xff (line 1, column 14)",
            "path": "",
        }, "status": false})
    );

    let (status, _, body) =
        parts(post_json(&server.url("/getConversations?top=5"), WAITING).await).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "invalid_query_parameter")
    );
    let (status, _, body) = parts(post_json(&server.url("/query?strict=1"), WAITING).await).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "invalid_query_parameter")
    );
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let server = TestServer::sample().await;
    let (status, _, body) = parts(
        client()
            .get(server.url("/getconversations"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert_envelope(
        &body,
        "not_found",
        "the routes are listed in /openapi.json",
        "no route for /getconversations",
    );

    for (method, path, allowed) in [
        (reqwest::Method::GET, "/getConversations", "POST"),
        (reqwest::Method::PUT, "/query", "POST"),
        (reqwest::Method::POST, "/healthz", "GET,HEAD"),
        (reqwest::Method::DELETE, "/metrics", "GET,HEAD"),
    ] {
        let response = client()
            .request(method.clone(), server.url(path))
            .send()
            .await
            .unwrap();
        let allow = response
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().replace(' ', ""));
        let (status, _, body) = parts(response).await;
        assert_eq!(status, 405, "{method} {path}");
        assert_eq!(error_code(&body), "method_not_allowed");
        assert_eq!(allow.as_deref(), Some(allowed), "{method} {path}");
    }
}

#[tokio::test]
async fn non_json_content_types_are_415() {
    let server = TestServer::sample().await;
    let get_conversations = server.url("/getConversations");
    let plain = post_as(&get_conversations, Some("text/plain"), WAITING).await;
    let (status, _, body) = parts(plain).await;
    assert_eq!(status, 415);
    assert_envelope(
        &body,
        "unsupported_media_type",
        "send Content-Type: application/json",
        "the body must be JSON; Content-Type is text/plain",
    );

    let missing = post_as(&server.url("/query"), None, WAITING).await;
    let (status, _, body) = parts(missing).await;
    assert_eq!((status, error_code(&body)), (415, "unsupported_media_type"));
    assert_eq!(
        body["error"]["message"],
        "the body must be JSON; Content-Type is none"
    );

    let charset = post_as(
        &server.url("/query"),
        Some("application/json; charset=utf-8"),
        WAITING,
    )
    .await;
    assert_eq!(charset.status(), 200);
}

/// `WAITING` padded with spaces to exactly `size` bytes (still valid JSON).
fn padded(size: usize) -> String {
    let mut body = WAITING.to_owned();
    body.push_str(&" ".repeat(size - WAITING.len()));
    body
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let server = TestServer::sample().await;
    let limit = Limits::default().body_limit;
    assert_eq!(limit, 64 * 1024);

    let (status, _, body) =
        parts(post_json(&server.url("/getConversations"), padded(limit)).await).await;
    assert_eq!(status, 200, "exactly at the limit is fine: {body}");

    // Content-Length over the limit: refused before the body is read.
    let (status, _, body) =
        parts(post_json(&server.url("/getConversations"), padded(limit + 1)).await).await;
    assert_eq!(status, 413);
    assert_envelope(
        &body,
        "payload_too_large",
        "send a smaller body; getConversations input is a few hundred bytes",
        "the request body is over the 65536-byte limit",
    );

    // Chunked, so no Content-Length: refused while reading.
    let (status, head, body) = raw_chunked(&server, "/query", &padded(limit + 1)).await;
    assert_eq!(status, 413, "{head}\n{body}");
    assert!(
        head.to_ascii_lowercase().contains("x-correlation-id:"),
        "{head}"
    );
    assert!(body.contains(r#""code":"payload_too_large""#), "{body}");
}

/// Sends `body` with `Transfer-Encoding: chunked` over a raw connection and returns the status,
/// the head and the rest of the answer.
async fn raw_chunked(server: &TestServer, path: &str, body: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.addr
    )
    .into_bytes();
    for chunk in body.as_bytes().chunks(8 * 1024) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    // The server may answer and close before it has read everything; that is the point.
    let _ = stream.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, rest) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    (status, head.to_owned(), rest.to_owned())
}

#[tokio::test]
async fn backend_failures_are_502() {
    // Nothing listens on a port that was just released.
    let closed = format!("http://{}", closed_port());
    let server = TestServer::dataverse(&closed, Duration::from_secs(5), Limits::default()).await;
    assert_waiting_fails(&server, 502, "dataverse_unreachable").await;

    let peer = Peer::start(Behaviour::failing(
        reqwest::StatusCode::INTERNAL_SERVER_ERROR,
    ))
    .await;
    let server = TestServer::dataverse(&peer.url, Duration::from_secs(5), Limits::default()).await;
    let body = assert_waiting_fails(&server, 502, "dataverse_error").await;
    assert!(
        error_text(&body, "message").contains("peer says no"),
        "Dataverse's message is passed on: {body}"
    );
}

#[tokio::test]
async fn timeouts_are_504() {
    let peer = Peer::start(Behaviour::slow(Duration::from_secs(3), vec![record("a")])).await;

    // The backend's own timeout (shorter than the server's).
    let server =
        TestServer::dataverse(&peer.url, Duration::from_millis(200), Limits::default()).await;
    assert_waiting_fails(&server, 504, "dataverse_timeout").await;

    // The server's request timeout (shorter than the backend's): a hung org is still reported
    // as the org's timeout, with what was awaited, just before the request times out.
    let limits = limits_with(|l| l.request_timeout = Duration::from_secs(1));
    let server = TestServer::dataverse(&peer.url, Duration::from_secs(30), limits).await;
    let started = std::time::Instant::now();
    let body = assert_waiting_fails(&server, 504, "dataverse_timeout").await;
    let took = started.elapsed();
    // The code says the org's deadline fired first; the time says it did not wait for the
    // org's 3 s answer.
    assert!(took < Duration::from_millis(2500), "{took:?}");
    let message = error_text(&body, "message");
    assert!(
        message.contains(
            "the caller's deadline ran out while waiting for the status line and headers of page 1"
        ),
        "{message}"
    );
    assert!(body["error"]["hint"].as_str().is_some(), "{body}");
}

/// Whatever a client sends, an error body stays small: values are quoted by a short prefix.
#[tokio::test]
async fn no_error_body_is_over_4_kb() {
    let server = TestServer::sample().await;
    let big = "k".repeat(60_000);
    let agent = "2b330c52-6844-4d36-8e05-03c78c9681dc";
    let inputs = [
        format!(r#"{{"agentId": "{agent}", "{big}": 1}}"#),
        format!(r#"{{"agentId": "{big}"}}"#),
        format!(r#"{{"agentId": "{agent}", "attributes": ["{big}"]}}"#),
        format!(r#"{{"agentId": "{agent}", "status": ["{big}"]}}"#),
        format!(r#"{{"agentId": "{agent}", "orderBy": [{{"attributeName": "{big}"}}]}}"#),
        format!(r#"{{"agentId": "{agent}", "createdBeforeDays": "{big}"}}"#),
        format!(r#"{{"{big}"#),
    ];
    for input in &inputs {
        for path in ["/getConversations", "/query?strict=true"] {
            let response = post_json(&server.url(path), input.clone()).await;
            let status = response.status();
            let body = response.text().await.unwrap();
            assert!(status.is_client_error(), "{path}: {status}");
            assert!(
                body.len() <= 4096,
                "{path}: {} bytes for {}…: {}…",
                body.len(),
                &input[..40],
                &body[..200.min(body.len())]
            );
        }
    }
    let long = "p".repeat(6000);
    for url in [
        server.url(&format!("/{long}")),
        server.url(&format!("/query?{long}=1")),
        server.url(&format!("/query?strict={long}")),
    ] {
        let response = post_json(&url, WAITING).await;
        assert!(response.status().is_client_error());
        let body = response.text().await.unwrap();
        assert!(body.len() <= 4096, "{}: {body}", body.len());
    }
}

#[tokio::test]
async fn ndjson_bodies_say_what_to_do_and_utf16_bodies_are_read() {
    let server = TestServer::sample().await;
    let ndjson = format!(
        "{}\n{}\n",
        WAITING.replace('\n', ""),
        r#"{"agentId":"2b330c52-6844-4d36-8e05-03c78c9681dc"}"#
    );
    // NDJSON declared as JSON: the core's invalid_json, with the batch route as the hint.
    let (status, _, body) =
        parts(post_json(&server.url("/getConversations"), ndjson.clone()).await).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_json"));
    assert_eq!(
        body["error"]["hint"],
        "this route takes one input, and the body holds one per line (NDJSON); for several, \
         POST {\"inputs\": [input, ...]} to /getConversations/batch, or each input alone here"
    );
    // Broken JSON that is not NDJSON keeps the core's answer (no hint).
    let (_, _, body) = parts(post_json(&server.url("/getConversations"), "{\n}\n}").await).await;
    assert_eq!(body["error"]["code"], "invalid_json");
    assert!(body["error"].get("hint").is_none(), "{body}");
    // NDJSON declared as NDJSON: 415 with the same pointer.
    let get_conversations = server.url("/getConversations");
    let declared = post_as(&get_conversations, Some("application/x-ndjson"), ndjson).await;
    let (status, _, body) = parts(declared).await;
    assert_eq!((status, error_code(&body)), (415, "unsupported_media_type"));
    assert!(
        error_text(&body, "hint").contains("/getConversations/batch"),
        "{body}"
    );
    // UTF-16 (what Windows PowerShell 5 sends by default for a string body read from a file)
    // is decoded: the same answer as the UTF-8 body.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(WAITING.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let (status, _, body) = parts(post_json(&server.url("/getConversations"), utf16).await).await;
    let (_, _, utf8) = parts(post_json(&server.url("/getConversations"), WAITING).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, utf8);
    assert!(!body["result"]["values"].as_array().unwrap().is_empty());
}
