//! Pass-through (`--auth passthrough`) as a shared service: one caller's rejected token is that
//! caller's problem (401 with `WWW-Authenticate`, so a web app renews it), never everyone's
//! (`/readyz` follows the organization's reachability, not any one caller's token).

use convq_simorg::{Call, Reply, SimOrg};
use serde_json::json;

use super::auth::{challenge, post};
use super::process::Process;
use super::{closed_port, get_status};

/// The organization's answer to a caller: it rejects `junk…` tokens (401) and lets `nobody…`
/// read nothing (403); other tokens read one conversation, and no token gets a 401.
fn answer(call: &Call<'_>) -> Reply {
    match call.request.bearer() {
        None => Reply::json(401, &json!({})),
        Some(token) if token.starts_with("junk") => {
            Reply::dataverse_error(401, "0x80072560", "token refused")
        }
        Some(token) if token.starts_with("nobody") => {
            Reply::dataverse_error(403, "0x80040220", "no read access")
        }
        Some(_) => Reply::records(&[json!({ "activityid": "a1" })]),
    }
}

#[tokio::test]
async fn a_junk_pass_through_token_cannot_take_the_service_out_of_rotation() {
    let org = SimOrg::scripted(answer).await.unwrap();
    let process = Process::start(
        &[
            "--dataverse",
            org.url(),
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
    let anonymous = org
        .requests()
        .iter()
        .filter(|seen| seen.bearer().is_none())
        .count();
    assert!(anonymous >= 1, "{anonymous}");
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
