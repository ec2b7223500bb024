//! A failing organization: 503, and rejected credentials then readiness. The simulated
//! organization on 127.0.0.1, scripted with an answer the test switches. (A huge page, through
//! `convq serve`, is in convq-cli's tests.)

use std::time::Duration;

use convq_http::Limits;
use convq_simorg::testkit::{Answer, Switched};

use crate::{
    TestServer, WAITING, assert_waiting_fails, client, error_code, error_text, parts, post_json,
};

#[tokio::test]
async fn a_503_is_unavailable_not_throttled() {
    let org = Switched::start(Answer::Status(503)).await;
    let server = TestServer::dataverse(org.url(), Duration::from_secs(5), Limits::default()).await;
    let body = assert_waiting_fails(&server, 503, "dataverse_unavailable").await;
    assert!(error_text(&body, "hint").contains("maintenance"), "{body}");
    org.set(Answer::Status(429));
    let response = post_json(&server.url("/getConversations"), WAITING).await;
    // convq's callers learn they are throttled, and for how long: not a bare 502.
    let retry_after = response.headers().get("retry-after").cloned();
    let (status, _, body) = parts(response).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(error_code(&body), "dataverse_throttled", "{body}");
    let seconds: u64 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
    assert!(seconds >= 1, "{seconds}");
}

#[tokio::test]
async fn readiness_follows_rejected_credentials() {
    let org = Switched::start(Answer::Records).await;
    let server = TestServer::dataverse(org.url(), Duration::from_secs(5), Limits::default()).await;
    let ready = || async {
        let response = client().get(server.url("/readyz")).send().await.unwrap();
        let (status, _, body) = parts(response).await;
        (status, body["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(ready().await, (200, "ready".to_owned()));
    for rejected in [401, 403] {
        org.set(Answer::Status(rejected));
        let (status, _, body) =
            parts(post_json(&server.url("/getConversations"), WAITING).await).await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(
            ready().await,
            (503, "not_ready".to_owned()),
            "after {rejected}"
        );
    }
    org.set(Answer::Records);
    let (status, _, body) = parts(post_json(&server.url("/getConversations"), WAITING).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ready().await, (200, "ready".to_owned()), "ready again");
}
