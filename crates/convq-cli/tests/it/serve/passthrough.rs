//! Pass-through (`--auth passthrough`) as a shared service: one caller's rejected token is that
//! caller's problem (401 with `WWW-Authenticate`, so a web app renews it), never everyone's
//! (`/readyz` follows the organization's reachability, not any one caller's token).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::auth::{challenge, json_answer, post};
use super::process::Process;
use super::{closed_port, get_status, serve_local};

/// An organization that rejects `junk…` tokens (401) and lets `nobody…` read nothing (403);
/// other tokens read one conversation. Counts the calls without any token.
async fn org(anonymous: Arc<AtomicUsize>) -> String {
    async fn answer(State(anonymous): State<Arc<AtomicUsize>>, headers: HeaderMap) -> Response {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let (status, body) = match token {
            None => {
                anonymous.fetch_add(1, Ordering::SeqCst);
                (StatusCode::UNAUTHORIZED, json!({}))
            }
            Some(token) if token.starts_with("junk") => (
                StatusCode::UNAUTHORIZED,
                json!({"error": {"code": "0x80072560", "message": "token refused"}}),
            ),
            Some(token) if token.starts_with("nobody") => (
                StatusCode::FORBIDDEN,
                json!({"error": {"code": "0x80040220", "message": "no read access"}}),
            ),
            Some(_) => (StatusCode::OK, json!({"value": [{"activityid": "a1"}]})),
        };
        json_answer(status, &body)
    }
    serve_local(Router::new().fallback(answer).with_state(anonymous)).await
}

#[tokio::test]
async fn a_junk_pass_through_token_cannot_take_the_service_out_of_rotation() {
    let anonymous = Arc::new(AtomicUsize::new(0));
    let org = org(Arc::clone(&anonymous)).await;
    let process = Process::start(
        &[
            "--dataverse",
            &org,
            "--auth",
            "passthrough",
            "--cache-ttl",
            "0",
        ],
        &[],
    )
    .await;
    let url = process.url("/getConversations");
    let ready = process.url("/readyz");
    assert_eq!(get_status(&ready).await, 200);

    // Anyone can send a junk token: Dataverse rejects it, the caller is told to renew it.
    for _ in 0..3 {
        let (status, headers, body) = post(&url, &[("authorization", "Bearer junk-7f3a")]).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["status"], false);
        assert_eq!(body["error"]["code"], "dataverse_unauthorized");
        let challenge = challenge(&headers);
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
        assert_eq!(get_status(&ready).await, 200, "still in rotation");
    }
    // A caller without read access: their own 403, still not everyone's readiness.
    let (status, _, body) = post(&url, &[("authorization", "Bearer nobody-51c0")]).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "dataverse_forbidden");
    assert_eq!(get_status(&ready).await, 200);
    // And a good caller is served all along.
    let (status, _, body) = post(&url, &[("authorization", "Bearer alice-0c11")]).await;
    assert_eq!(status, 200, "{body}");
    // Readiness asked the organization without any token: it never holds one.
    assert!(anonymous.load(Ordering::SeqCst) >= 1);
    process.assert_log_free_of(&["junk-7f3a", "nobody-51c0", "alice-0c11"]);
}

#[tokio::test]
async fn pass_through_readiness_follows_the_organizations_reachability() {
    let closed = closed_port();
    let process = Process::start(
        &[
            "--dataverse",
            &format!("http://{closed}"),
            "--auth",
            "passthrough",
        ],
        &[],
    )
    .await;
    assert_eq!(get_status(&process.url("/readyz")).await, 503);
}
