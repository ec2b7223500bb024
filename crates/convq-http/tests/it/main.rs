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
//! to the simulated organization (`convq-simorg`) on 127.0.0.1, scripted by its `testkit`: a
//! `Peer` (slow or failing on demand) or `Switched` (an answer the test switches).

mod connections;
mod correlation;
mod errors;
mod hosts;
mod limits;
mod openapi;
mod org;
mod parity;
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
// The client, checks and scripted organizations shared with convq-cli's `serve` tests.
use convq_simorg::testkit::{
    WAITING, client, closed_port, error_code, error_text, get_text, parts, post_as, post_json,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server running on 127.0.0.1 in this test's runtime.
struct TestServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    async fn start(backend: Arc<dyn Backend>, options: Options, config: ServerConfig) -> Self {
        Self::serve(&AppState::new(backend, options), config).await
    }

    /// Serves `state` with `config`, on a free port of 127.0.0.1.
    async fn serve(state: &AppState, config: ServerConfig) -> Self {
        let config = config.with_addr(SocketAddr::from(([127, 0, 0, 1], 0)));
        let server = Server::bind(&config, state)
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

/// POSTs [`WAITING`] to `/getConversations` and checks that it fails with `status` and `code`;
/// the failure body.
async fn assert_waiting_fails(server: &TestServer, status: u16, code: &str) -> serde_json::Value {
    let (actual, _, body) = parts(post_json(&server.url("/getConversations"), WAITING).await).await;
    assert_eq!((actual, error_code(&body)), (status, code), "{body}");
    body
}
