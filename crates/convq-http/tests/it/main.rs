//! convq-http's integration tests, one binary. Every test starts the real server in-process on
//! an ephemeral loopback port and speaks HTTP to it with reqwest (or raw TCP where reqwest would
//! hide the framing). The process itself (`convq serve`: flags, signals, signing in, caller
//! checks) is tested in convq-cli.
//!
//! - `routes`: every endpoint's success answer, against the real sample store.
//! - `errors`: every error status (400, 404, 405, 413, 415, 502, 504) and its envelope.
//! - `correlation`: the correlation id round trip.
//! - `connections`: slow and half-sent clients, idle connections, the connection limit,
//!   malformed requests.
//! - `hosts`: the `Host` check (421).
//! - `limits`: concurrency limit and CORS.
//! - `org`: a failing organization: 503, rejected credentials and readiness.
//! - `openapi`: the document is OpenAPI 3.1, covers every route, and real answers match it.
//! - `parity`: `/query` answers exactly what `convq_core::compile` returns, for every fixture.
//! - `scale`: `/getConversations/batch` (each input alone, in order).
//! - `shutdown`: graceful stop in-process, and work that outlasts the grace period.
//! - `stream`: live lists (`/getConversations/stream`): changes, resumes, slow consumers.
//!
//! The backends are the real ones: the embedded sample store, and the Dataverse client talking
//! to the simulated organization (`convq-simorg`) on 127.0.0.1, scripted by `peer` (slow or
//! failing on demand) and `org` (an answer switched by the test).

mod connections;
mod correlation;
mod errors;
mod hosts;
mod limits;
mod openapi;
mod org;
mod parity;
mod peer;
mod routes;
mod scale;
mod shutdown;
mod stream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use convq_backend::{Backend, EmbeddedStore};
use convq_core::Options;
use convq_dataverse::{DataverseClient, DataverseConfig};
use convq_http::{AppState, Limits, Server, ServerConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The documentation's example: waiting conversations of one agent, newest first.
const WAITING: &str = r#"{
  "attributes": ["msdyn_title", "msdyn_channel"],
  "agentId": "2b330c52-6844-4d36-8e05-03c78c9681dc",
  "status": [3],
  "orderBy": [{ "attributeName": "createdon", "descending": true }]
}"#;

/// A server running on 127.0.0.1 in this test's runtime.
struct TestServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    async fn start(backend: Arc<dyn Backend>, options: Options, config: ServerConfig) -> Self {
        let config = config.with_addr(SocketAddr::from(([127, 0, 0, 1], 0)));
        let state = AppState::new(backend, options);
        let server = Server::bind(&config, &state)
            .await
            .expect("bind 127.0.0.1:0");
        let addr = server.local_addr().expect("bound address");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Self {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// The sample store with default options and limits.
    async fn sample() -> Self {
        Self::with_config(ServerConfig::default()).await
    }

    async fn with_config(config: ServerConfig) -> Self {
        Self::start(
            Arc::new(EmbeddedStore::sample()),
            Options::default(),
            config,
        )
        .await
    }

    /// The Dataverse client against `org` (the local peer), with this total timeout.
    async fn dataverse(org: &str, total_timeout: Duration, limits: Limits) -> Self {
        let mut config = DataverseConfig::new(org, "test-token");
        config.total_timeout = total_timeout;
        config.max_retries = 0;
        let client = DataverseClient::new(config).expect("valid Dataverse config");
        Self::start(
            Arc::new(client),
            Options::default(),
            ServerConfig::default().with_limits(limits),
        )
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Signals shutdown and waits for the server to finish.
    async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let task = self.task.take().expect("running");
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the server stops within 10 s")
            .expect("the server task does not panic")
    }
}

/// The default [`Limits`] with a change (its fields are public; it has no setters).
fn limits_with(change: impl FnOnce(&mut Limits)) -> Limits {
    let mut limits = Limits::default();
    change(&mut limits);
    limits
}

/// A client that never uses a proxy (the environment may set one; our servers are local).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client")
}

/// POSTs `body` as JSON.
async fn post_json(url: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    post_as(url, Some("application/json"), body).await
}

/// POSTs `body` with this `Content-Type` (`None`: no such header at all).
async fn post_as(
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

/// The body of a GET that must succeed at the transport level (e.g. `/metrics`).
async fn get_text(url: &str) -> String {
    let response = client().get(url).send().await.expect("the server answers");
    response.text().await.expect("body")
}

/// A loopback address nothing listens on: the port was just released.
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("bound address")
}

/// POSTs [`WAITING`] to `/getConversations` and checks that it fails with `status` and `code`;
/// the failure body.
async fn assert_waiting_fails(server: &TestServer, status: u16, code: &str) -> serde_json::Value {
    let (actual, _, body) = parts(post_json(&server.url("/getConversations"), WAITING).await).await;
    assert_eq!((actual, error_code(&body)), (status, code), "{body}");
    body
}

/// Status, correlation id header and JSON body of a response.
async fn parts(response: reqwest::Response) -> (u16, String, serde_json::Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let id = response
        .headers()
        .get("x-correlation-id")
        .expect("every response has a correlation id")
        .to_str()
        .unwrap()
        .to_owned();
    let text = response.text().await.expect("body");
    assert_eq!(content_type, "application/json", "{status}: {text}");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, id, body)
}

/// The text field `error.<field>` of a failure envelope (`message`, `hint`).
fn error_text<'a>(body: &'a serde_json::Value, field: &str) -> &'a str {
    body["error"][field]
        .as_str()
        .unwrap_or_else(|| panic!("no error.{field} text: {body}"))
}

/// The `error.code` of a failure envelope, after checking the envelope's shape.
fn error_code(body: &serde_json::Value) -> &str {
    assert_eq!(body["status"], false, "{body}");
    let error = body["error"].as_object().expect("error object");
    for key in ["code", "message", "path"] {
        assert!(error[key].is_string(), "{key} missing: {body}");
    }
    assert!(!error["message"].as_str().unwrap().is_empty(), "{body}");
    error["code"].as_str().unwrap()
}
