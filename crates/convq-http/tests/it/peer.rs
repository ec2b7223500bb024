//! A local stand-in for the Dataverse Web API (the Dataverse client's protocol peer) on
//! 127.0.0.1: answers every GET with a Web API collection body after a delay, or with an error
//! status, and counts what it saw.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

#[derive(Clone)]
pub(crate) struct Behaviour {
    pub(crate) delay: Duration,
    pub(crate) status: StatusCode,
    pub(crate) records: Vec<Value>,
}

impl Behaviour {
    /// Answers 200 with `records` after `delay`.
    pub(crate) fn slow(delay: Duration, records: Vec<Value>) -> Self {
        Self {
            delay,
            status: StatusCode::OK,
            records,
        }
    }

    /// Answers `status` with a Dataverse error body, at once.
    pub(crate) fn failing(status: StatusCode) -> Self {
        Self {
            delay: Duration::ZERO,
            status,
            records: Vec::new(),
        }
    }
}

#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) requests: AtomicUsize,
    in_flight: AtomicUsize,
    pub(crate) max_in_flight: AtomicUsize,
}

pub(crate) struct Peer {
    pub(crate) url: String,
    pub(crate) stats: Arc<Stats>,
}

struct PeerState {
    behaviour: Behaviour,
    stats: Arc<Stats>,
}

impl Peer {
    pub(crate) async fn start(behaviour: Behaviour) -> Self {
        let stats = Arc::new(Stats::default());
        let state = Arc::new(PeerState {
            behaviour,
            stats: Arc::clone(&stats),
        });
        let app = Router::new().fallback(answer).with_state(state);
        let url = super::serve_local(app).await;
        Self { url, stats }
    }

    /// Waits (up to 10 s) until the peer has received `count` requests.
    pub(crate) async fn wait_for_requests(&self, count: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.stats.requests.load(Ordering::SeqCst) < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the peer did not get {count} requests within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn answer(State(state): State<Arc<PeerState>>, headers: HeaderMap) -> impl IntoResponse {
    let stats = &state.stats;
    stats.requests.fetch_add(1, Ordering::SeqCst);
    let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
    assert_eq!(
        headers.get("authorization").and_then(|v| v.to_str().ok()),
        Some("Bearer test-token")
    );
    tokio::time::sleep(state.behaviour.delay).await;
    stats.in_flight.fetch_sub(1, Ordering::SeqCst);
    let body = if state.behaviour.status.is_success() {
        json!({
            "@odata.context": "https://peer/api/data/v9.2/$metadata#msdyn_ocliveworkitems",
            "value": state.behaviour.records,
        })
    } else {
        json!({ "error": { "code": "0x80040220", "message": "peer says no" } })
    };
    (
        state.behaviour.status,
        [("content-type", "application/json; odata.metadata=minimal")],
        body.to_string(),
    )
}

/// One conversation record as the Web API returns it.
pub(crate) fn record(id: &str) -> Value {
    json!({
        "activityid": id,
        "msdyn_ocliveworkitemid": id,
        "_msdyn_liveworkstreamid_value": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "_msdyn_lastsessionid_value": null,
        "statuscode": 3,
        "createdon": "2026-11-20T09:30:00Z",
        "msdyn_title": "Printer on fire",
    })
}
