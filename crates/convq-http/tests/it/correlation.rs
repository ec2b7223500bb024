//! The correlation id: taken from the header or the query, generated when absent, always echoed.

use crate::{TestServer, WAITING, client, error_code, parts};

async fn post(server: &TestServer, path: &str, header: Option<&str>) -> reqwest::Response {
    let mut request = client()
        .post(server.url(path))
        .header("content-type", "application/json")
        .body(WAITING);
    if let Some(id) = header {
        request = request.header("x-correlation-id", id);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn given_ids_come_back_unchanged() {
    let server = TestServer::sample().await;
    let (status, id, _) = parts(post(&server, "/getConversations", Some("req-42/a:b")).await).await;
    assert_eq!((status, id.as_str()), (200, "req-42/a:b"));

    let (status, id, _) = parts(
        post(
            &server,
            "/getConversations?correlationId=from-query%21",
            None,
        )
        .await,
    )
    .await;
    assert_eq!((status, id.as_str()), (200, "from-query!"));

    // Both, equal: fine.
    let (status, id, _) =
        parts(post(&server, "/query?correlationId=same", Some("same")).await).await;
    assert_eq!((status, id.as_str()), (200, "same"));

    // Every route echoes it, errors included.
    let response = client()
        .get(server.url("/nowhere"))
        .header("x-correlation-id", "lost")
        .send()
        .await
        .unwrap();
    let (status, id, _) = parts(response).await;
    assert_eq!((status, id.as_str()), (404, "lost"));
}

#[tokio::test]
async fn absent_ids_are_generated_uuid_v4() {
    let server = TestServer::sample().await;
    let (_, first, _) = parts(post(&server, "/getConversations", None).await).await;
    let (_, second, _) = parts(post(&server, "/getConversations", None).await).await;
    for id in [&first, &second] {
        let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(uuid.get_version_num(), 4, "{id}");
    }
    assert_ne!(first, second);
}

#[tokio::test]
async fn bad_or_conflicting_ids_are_400_with_a_generated_id() {
    let server = TestServer::sample().await;
    let too_long = "x".repeat(129);
    for (path, header, code) in [
        (
            "/getConversations?correlationId=a",
            Some("b"),
            "conflicting_correlation_id",
        ),
        (
            "/getConversations",
            Some(too_long.as_str()),
            "invalid_correlation_id",
        ),
        (
            "/getConversations?correlationId=",
            None,
            "invalid_correlation_id",
        ),
        (
            "/query?correlationId=has%20space",
            None,
            "invalid_correlation_id",
        ),
    ] {
        let (status, id, body) = parts(post(&server, path, header).await).await;
        assert_eq!((status, error_code(&body)), (400, code), "{path}");
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{path}: {id}");
    }
}
