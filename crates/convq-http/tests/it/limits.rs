//! The concurrency limit, and CORS (off by default, per origin when configured).

use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use convq_http::ServerConfig;
use convq_simorg::testkit::{Behaviour, Peer, record};

use crate::{TestServer, WAITING, client, limits_with, parts, post_json};

/// Four requests at once against a backend that takes 300 ms each.
async fn four_at_once(concurrency_limit: usize) -> (Duration, u64) {
    let peer = Peer::start(Behaviour::slow(
        Duration::from_millis(300),
        vec![record("a")],
    ))
    .await;
    let limits = limits_with(|l| l.concurrency_limit = concurrency_limit);
    let server = TestServer::dataverse(&peer.url, Duration::from_secs(10), limits).await;
    let url = server.url("/getConversations");
    let started = Instant::now();
    let answers: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { parts(post_json(&url, WAITING).await).await })
        })
        .collect();
    for answer in answers {
        let (status, _, body) = answer.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["values"][0]["activityid"], "a");
    }
    let stats = peer.org.stats();
    assert_eq!(stats.requests, 4);
    (started.elapsed(), stats.max_in_flight)
}

#[tokio::test]
async fn the_concurrency_limit_queues_requests() {
    let (serial, max_in_flight) = four_at_once(1).await;
    assert_eq!(
        max_in_flight, 1,
        "one request at a time reached the backend"
    );
    assert!(serial >= Duration::from_millis(1200), "{serial:?}");

    // The same load with room for all four does run them together: the check above can fail.
    // (Compared with the serial run rather than a fixed time: the test machine may be busy.)
    let (elapsed, max_in_flight) = four_at_once(8).await;
    assert!(max_in_flight > 1, "{max_in_flight}");
    assert!(
        elapsed < serial * 3 / 4,
        "{elapsed:?} vs {serial:?} one at a time"
    );
}

async fn preflight(server: &TestServer, origin: &str) -> reqwest::Response {
    client()
        .request(reqwest::Method::OPTIONS, server.url("/getConversations"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-correlation-id",
        )
        .send()
        .await
        .unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let server = TestServer::sample().await;
    let response = preflight(&server, "https://app.example.com").await;
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    let (status, _, _) = parts(response).await;
    assert_eq!(
        status, 405,
        "no CORS layer: OPTIONS is just a method the route lacks"
    );
}

#[tokio::test]
async fn cors_allows_the_configured_origins_only() {
    let config = ServerConfig::default()
        .with_cors_origin(HeaderValue::from_static("https://app.example.com"));
    let server = TestServer::with_config(config).await;

    let response = preflight(&server, "https://app.example.com").await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let methods = header(&response, "access-control-allow-methods").unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let headers = header(&response, "access-control-allow-headers").unwrap();
    assert!(headers.contains("x-correlation-id"), "{headers}");

    let response = client()
        .post(server.url("/getConversations"))
        .header("origin", "https://app.example.com")
        .header("content-type", "application/json")
        .body(WAITING)
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        header(&response, "access-control-expose-headers"),
        Some("x-correlation-id,traceparent"),
        "browsers may read the correlation id and the trace context"
    );

    let response = preflight(&server, "https://evil.example.com").await;
    assert_eq!(header(&response, "access-control-allow-origin"), None);
}
