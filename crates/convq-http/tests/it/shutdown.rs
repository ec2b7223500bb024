//! Graceful shutdown in-process: requests in flight finish, then the server stops. (SIGTERM and
//! SIGINT to `convq serve` are in convq-cli's tests.)

use std::sync::Arc;
use std::time::Duration;

use convq_dataverse::{DataverseClient, DataverseConfig};
use convq_http::{ConnectionLimits, Limits, ServerConfig};
use convq_simorg::testkit::{Behaviour, Peer, record};

use crate::{TestServer, WAITING, client, limits_with, parts, post_json};

/// A peer that answers one record, `late`, after `delay`: the request is still in flight when
/// the shutdown comes.
async fn late_peer(delay: Duration) -> Peer {
    Peer::start(Behaviour::slow(delay, vec![record("late")])).await
}

#[tokio::test]
async fn in_process_shutdown_finishes_the_request_in_flight() {
    let peer = late_peer(Duration::from_millis(800)).await;
    let server = TestServer::dataverse(&peer.url, Duration::from_secs(10), Limits::default()).await;
    let url = server.url("/getConversations");
    let in_flight = tokio::spawn(async move { parts(post_json(&url, WAITING).await).await });
    peer.wait_for_requests(1).await;

    let addr = server.addr;
    server.stop().await.expect("clean stop");
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["values"][0]["activityid"], "late");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting connections"
    );
}

#[tokio::test]
async fn in_process_shutdown_stops_work_that_outlasts_the_grace_period() {
    let peer = late_peer(Duration::from_secs(8)).await;
    let mut config = DataverseConfig::new(&peer.url, "test-token");
    config.total_timeout = Duration::from_secs(30);
    let server = crate::TestServer::start(
        Arc::new(DataverseClient::new(config).unwrap()),
        convq_core::Options::default(),
        ServerConfig::default()
            .with_connections(
                ConnectionLimits::default().with_shutdown_grace(Duration::from_millis(300)),
            )
            .with_limits(limits_with(|l| l.request_timeout = Duration::from_secs(30))),
    )
    .await;
    let url = server.url("/getConversations");
    let in_flight = tokio::spawn(async move {
        client()
            .post(url)
            .header("content-type", "application/json")
            .body(WAITING)
            .send()
            .await
    });
    peer.wait_for_requests(1).await;
    let started = std::time::Instant::now();
    server.stop().await.expect("clean stop");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped after {:?}",
        started.elapsed()
    );
    assert!(
        in_flight.await.unwrap().is_err(),
        "the connection was closed"
    );
}
