//! A failing organization: a huge page (refused at the cap, with the server's peak memory
//! reported), 503, and rejected credentials then readiness. A local stand-in for the Web API on
//! 127.0.0.1 whose answer is switched by the test.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use convq_http::Limits;
use hyper::body::Frame;
use serde_json::json;

use crate::peer::record;
use crate::process::Process;
use crate::{
    TestServer, WAITING, assert_waiting_fails, client, error_code, error_text, parts, post_json,
};

#[derive(Clone, Copy)]
enum Answer {
    /// 200 with a collection body of about this many bytes, sent chunked.
    Huge(usize),
    Status(u16),
    Records,
}

#[derive(Clone)]
struct Org {
    url: String,
    answer: Arc<Mutex<Answer>>,
}

impl Org {
    async fn start(answer: Answer) -> Self {
        let answer = Arc::new(Mutex::new(answer));
        let app = Router::new()
            .fallback(respond)
            .with_state(Arc::clone(&answer));
        let url = crate::serve_local(app).await;
        Self { url, answer }
    }

    fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }
}

async fn respond(State(answer): State<Arc<Mutex<Answer>>>) -> Response {
    let answer = *answer.lock().unwrap();
    match answer {
        Answer::Huge(bytes) => (
            [("content-type", "application/json")],
            Body::new(Records::new(bytes)),
        )
            .into_response(),
        Answer::Status(status) => (
            StatusCode::from_u16(status).unwrap(),
            [("content-type", "application/json")],
            json!({"error": {"code": "0x80072560", "message": "peer says no"}}).to_string(),
        )
            .into_response(),
        Answer::Records => (
            [("content-type", "application/json")],
            json!({"value": [record("a")]}).to_string(),
        )
            .into_response(),
    }
}

/// `{"value":[record,record,...]}` of about `left` bytes, produced 64 KiB at a time (chunked,
/// no Content-Length: the client can only find out by reading).
struct Records {
    left: usize,
    chunk: Bytes,
    started: bool,
}

impl Records {
    fn new(bytes: usize) -> Self {
        let one = format!("{},", record("big"));
        let chunk = one.repeat((64 << 10) / one.len());
        Self {
            left: bytes,
            chunk: Bytes::from(chunk),
            started: false,
        }
    }
}

impl HttpBody for Records {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if !this.started {
            this.started = true;
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"{\"value\":[")))));
        }
        if this.left == 0 {
            return Poll::Ready(None);
        }
        if this.left <= this.chunk.len() {
            this.left = 0;
            let last = format!("{}]}}", record("last"));
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(last)))));
        }
        this.left -= this.chunk.len();
        Poll::Ready(Some(Ok(Frame::data(this.chunk.clone()))))
    }
}

/// Resident and peak resident memory of a process, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test]
async fn a_400_mib_page_is_refused_at_the_cap_and_memory_is_reused() {
    let org = Org::start(Answer::Records).await;
    // No answer cache: each request below must read the org's current page, not the answer
    // cached from the one before.
    let process = Process::start_with_token(&[
        "--dataverse",
        &org.url,
        "--dataverse-timeout",
        "60s",
        "--request-timeout",
        "60s",
        "--cache-ttl",
        "0",
    ])
    .await;
    let pid = process.pid();
    let url = process.url("/getConversations");
    let (status, _, body) = parts(post_json(&url, WAITING).await).await;
    assert_eq!(status, 200, "{body}");
    let (baseline, _) = memory(pid);

    // Streamed by the org: holding it whole would take over 400 MiB; reading stops at 64.
    org.set(Answer::Huge(400 << 20));
    let (status, _, body) = parts(post_json(&url, WAITING).await).await;
    assert_eq!(
        (status, error_code(&body)),
        (502, "dataverse_response_too_large"),
        "{body}"
    );
    assert_eq!(
        body["error"]["message"],
        "Dataverse sent more than 67108864 bytes for one page; convq stopped reading instead of \
         holding it all in memory"
    );
    let (after_refused, peak_refused) = memory(pid);

    // A large page under the cap (16 MiB) is answered, twice: the memory of one answer is
    // reused by the next, not kept on top of it.
    org.set(Answer::Huge(16 << 20));
    let mut after = Vec::new();
    for _ in 0..2 {
        let response = post_json(&url, WAITING).await;
        assert_eq!(response.status(), 200);
        let answer = response.bytes().await.unwrap();
        assert!(answer.len() > 12 << 20, "{}", answer.len());
        after.push(memory(pid));
    }
    eprintln!(
        "server memory (MiB): baseline {baseline:.1} RSS; 400 MiB page refused at the 64 MiB cap: \
         peak {peak_refused:.1}, then {after_refused:.1} RSS; two 16 MiB pages answered: \
         RSS/peak after each {after:.1?}"
    );
    assert!(
        peak_refused - baseline < 256.0,
        "refusing costs a few times the 64 MiB cap, not the 400 MiB page: peak {peak_refused:.1} MiB"
    );
    // The second answer reuses the first one's memory: the high-water mark does not grow by
    // another answer's worth. (Resident memory itself moves by tens of MiB with the
    // allocator's page retention, so it is not what is compared.)
    let (_, first_peak) = after[0];
    let (_, last_peak) = after[1];
    assert!(
        last_peak < first_peak + 16.0,
        "memory does not grow with each large answer: {after:.1?}"
    );
    assert!(last_peak < 400.0, "{after:.1?}");
    process.signal("TERM");
    process.wait().await;
}

#[tokio::test]
async fn a_503_is_unavailable_not_throttled() {
    let org = Org::start(Answer::Status(503)).await;
    let server = TestServer::dataverse(&org.url, Duration::from_secs(5), Limits::default()).await;
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
    let org = Org::start(Answer::Records).await;
    let server = TestServer::dataverse(&org.url, Duration::from_secs(5), Limits::default()).await;
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
