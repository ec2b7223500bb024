//! The Dataverse client's protocol peer: the simulated organization, scripted to answer every
//! GET with a Web API collection body after a delay, or with an error status; it counts what it
//! saw.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::{Call, Reply, SimOrg};

/// What a [`Peer`] answers.
#[derive(Clone)]
pub struct Behaviour {
    /// How long before it answers.
    pub delay: Duration,
    /// Its status; an error status gets a Dataverse error body.
    pub status: StatusCode,
    /// The collection's records (on success).
    pub records: Vec<Value>,
}

impl Behaviour {
    /// Answers 200 with `records` after `delay`.
    pub fn slow(delay: Duration, records: Vec<Value>) -> Self {
        Self {
            delay,
            status: StatusCode::OK,
            records,
        }
    }

    /// Answers `status` with a Dataverse error body, at once.
    pub fn failing(status: StatusCode) -> Self {
        Self {
            delay: Duration::ZERO,
            status,
            records: Vec::new(),
        }
    }
}

/// The simulated organization, scripted to answer with a [`Behaviour`].
pub struct Peer {
    /// The organization URL.
    pub url: String,
    /// The organization (its counts and the requests it saw).
    pub org: SimOrg,
}

impl Peer {
    /// Starts the peer on 127.0.0.1; it asserts every request carries `Bearer test-token`.
    ///
    /// # Panics
    /// No port can be bound.
    pub async fn start(behaviour: Behaviour) -> Self {
        let org = SimOrg::scripted(move |call: &Call<'_>| {
            assert_eq!(call.request.header("authorization"), Some("Bearer test-token"));
            let reply = if behaviour.status.is_success() {
                Reply::json(
                    behaviour.status.as_u16(),
                    &json!({
                        "@odata.context": "https://peer/api/data/v9.2/$metadata#msdyn_ocliveworkitems",
                        "value": behaviour.records,
                    }),
                )
            } else {
                Reply::dataverse_error(behaviour.status.as_u16(), "0x80040220", "peer says no")
            };
            reply.after(behaviour.delay)
        })
        .await
        .unwrap();
        Self {
            url: org.url().to_owned(),
            org,
        }
    }

    /// Waits (up to 10 s) until the peer has received `count` requests.
    ///
    /// # Panics
    /// It has not by then.
    pub async fn wait_for_requests(&self, count: u64) {
        assert!(
            self.org
                .wait_for_requests(count, Duration::from_secs(10))
                .await,
            "the peer did not get {count} requests within 10 s"
        );
    }
}

/// One conversation record as the Web API returns it.
#[must_use]
pub fn record(id: &str) -> Value {
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
