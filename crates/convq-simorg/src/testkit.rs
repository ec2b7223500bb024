//! What convq-http's and convq-cli's service tests share: an HTTP client for local servers and
//! the checks of convq's answers, conversation records and stores of them, and two
//! scripted organizations ([`Peer`]: slow or failing on demand; [`Switched`]: an [`Answer`] the
//! test switches). Everything talks to 127.0.0.1 only.

mod peer;

pub use peer::{Behaviour, Peer, record};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use crate::{Call, Reply, SimOrg};

/// The documentation's example: waiting conversations of one agent, newest first.
pub const WAITING: &str = r#"{
  "attributes": ["msdyn_title", "msdyn_channel"],
  "agentId": "2b330c52-6844-4d36-8e05-03c78c9681dc",
  "status": [3],
  "orderBy": [{ "attributeName": "createdon", "descending": true }]
}"#;

/// Conversation `n` of `agent`, waiting (statuscode 3), titled `title`: the records the live-list
/// tests change. Its id tells the agent's last hex digit and `n` apart, so ids differ between
/// agents.
#[must_use]
pub fn conversation(agent: &str, n: u32, title: &str) -> serde_json::Value {
    let agent_digit = agent.as_bytes().last().copied().unwrap_or(0);
    let id = format!("00000000-0000-4000-8000-{agent_digit:04x}{n:08x}");
    serde_json::json!({
        "activityid": id,
        "msdyn_ocliveworkitemid": id,
        "_msdyn_activeagentid_value": agent,
        "statuscode": 3,
        "createdon": "2026-11-20T10:00:00Z",
        "msdyn_title": title,
    })
}

/// An embedded store holding `records`.
///
/// # Panics
/// The records are not a store (a test's own mistake).
#[must_use]
pub fn store_of(records: &[serde_json::Value]) -> convq_backend::EmbeddedStore {
    convq_backend::EmbeddedStore::from_bytes(&serde_json::to_vec(records).unwrap()).unwrap()
}

/// A client that never uses a proxy (the environment may set one; our servers are local).
///
/// # Panics
/// The client cannot be built.
#[must_use]
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client")
}

/// POSTs `body` as JSON.
///
/// # Panics
/// The server does not answer.
pub async fn post_json(url: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    post_as(url, Some("application/json"), body).await
}

/// POSTs `body` with this `Content-Type` (`None`: no such header at all).
///
/// # Panics
/// The server does not answer.
pub async fn post_as(
    url: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = client().post(url).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.expect("the server answers")
}

/// The status of a GET (e.g. `/readyz`).
///
/// # Panics
/// The server does not answer.
pub async fn get_status(url: &str) -> u16 {
    let response = client().get(url).send().await.expect("the server answers");
    response.status().as_u16()
}

/// The body of a GET that must succeed at the transport level (e.g. `/metrics`).
///
/// # Panics
/// The server does not answer, or its body cannot be read.
pub async fn get_text(url: &str) -> String {
    let response = client().get(url).send().await.expect("the server answers");
    response.text().await.expect("body")
}

/// A loopback address nothing listens on: the port was just released.
///
/// # Panics
/// No port of 127.0.0.1 can be bound.
#[must_use]
pub fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("bound address")
}

/// Serves `router` on a free loopback port (a stand-in for a remote service); its base URL.
///
/// # Panics
/// No port of 127.0.0.1 can be bound.
pub async fn serve_local(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let base = format!("http://{}", listener.local_addr().expect("bound address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

/// The value of a header the response must have, as text.
///
/// # Panics
/// There is no such header, or it is not visible ASCII.
#[must_use]
pub fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .to_owned()
}

/// Status, correlation id header and JSON body of a response.
///
/// # Panics
/// The response has no correlation id, is not `application/json`, or its body is not JSON.
pub async fn parts(response: reqwest::Response) -> (u16, String, serde_json::Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let id = header(&response, "x-correlation-id");
    let text = response.text().await.expect("body");
    assert_eq!(content_type, "application/json", "{status}: {text}");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, id, body)
}

/// The `error.code` of a failure envelope, after checking the envelope's shape.
///
/// # Panics
/// `body` is not a failure envelope with a code, a message and a path.
#[must_use]
pub fn error_code(body: &serde_json::Value) -> &str {
    assert_eq!(body["status"], false, "{body}");
    let error = body["error"].as_object().expect("error object");
    for key in ["code", "message", "path"] {
        assert!(error[key].is_string(), "{key} missing: {body}");
    }
    assert!(!error["message"].as_str().unwrap().is_empty(), "{body}");
    error["code"].as_str().unwrap()
}

/// The text field `error.<field>` of a failure envelope (`message`, `hint`).
///
/// # Panics
/// There is no such text.
#[must_use]
pub fn error_text<'a>(body: &'a serde_json::Value, field: &str) -> &'a str {
    body["error"][field]
        .as_str()
        .unwrap_or_else(|| panic!("no error.{field} text: {body}"))
}

/// What a [`Switched`] organization answers every request with.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// 200 with one record, `a`.
    Records,
    /// This status with a Dataverse error body (`peer says no`).
    Status(u16),
    /// 200 with a collection body of about this many bytes, sent chunked.
    Huge(usize),
}

impl Answer {
    fn reply(self) -> Reply {
        match self {
            Self::Records => Reply::records(&[record("a")]),
            Self::Status(status) => Reply::dataverse_error(status, "0x80072560", "peer says no"),
            Self::Huge(bytes) => Reply::streamed_records(bytes, record("big")),
        }
    }
}

/// The scripted organization answering every request with the [`Answer`] the test last
/// [`set`](Self::set).
pub struct Switched {
    answer: Arc<Mutex<Answer>>,
    org: SimOrg,
}

impl Switched {
    /// Starts it on 127.0.0.1 answering `answer`.
    ///
    /// # Panics
    /// No port can be bound.
    pub async fn start(answer: Answer) -> Self {
        let answer = Arc::new(Mutex::new(answer));
        let current = Arc::clone(&answer);
        let org = SimOrg::scripted(move |_: &Call<'_>| {
            current
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .reply()
        })
        .await
        .expect("bind 127.0.0.1:0");
        Self { answer, org }
    }

    /// Answers the next requests with `answer`.
    pub fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner) = answer;
    }

    /// `http://127.0.0.1:<port>`: the organization URL.
    #[must_use]
    pub fn url(&self) -> &str {
        self.org.url()
    }
}

/// A URL on 127.0.0.1 or ::1, as a clap value parser: the load examples send traffic nowhere else.
///
/// # Errors
/// Any other URL.
pub fn loopback_url(url: &str) -> Result<String, String> {
    if url.starts_with("http://127.0.0.1:") || url.starts_with("http://[::1]:") {
        Ok(url.to_owned())
    } else {
        Err(format!(
            "{url}: loopback only (http://127.0.0.1:PORT or http://[::1]:PORT)"
        ))
    }
}
