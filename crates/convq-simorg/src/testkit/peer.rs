//! The Dataverse client's protocol peer: the simulated organization, scripted to answer every
//! GET with a Web API collection body after a delay, or with an error status; it counts what it
//! saw.

use std::time::Duration;

use axum::http::StatusCode;
use convq_simorg::{Call, Reply, SimOrg};
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

/// The simulated organization, scripted to answer with a [`Behaviour`].
pub(crate) struct Peer {
    pub(crate) url: String,
    pub(crate) org: SimOrg,
}

impl Peer {
    pub(crate) async fn start(behaviour: Behaviour) -> Self {
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
    pub(crate) async fn wait_for_requests(&self, count: u64) {
        assert!(
            self.org
                .wait_for_requests(count, Duration::from_secs(10))
                .await,
            "the peer did not get {count} requests within 10 s"
        );
    }
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
