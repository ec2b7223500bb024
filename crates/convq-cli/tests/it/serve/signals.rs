//! Graceful shutdown of `convq serve`: SIGTERM/SIGINT sent with `kill`, requests in flight
//! finish, then the process exits 0; bad flags stop the start with a coded error.

use std::time::Duration;

use convq_simorg::testkit::{Behaviour, Peer, record};
use tokio::io::AsyncWriteExt;

use super::process::Process;
use super::{WAITING, client, get_status, parts};

/// A peer that answers one record, `late`, after `delay`: the request is still in flight when
/// the shutdown comes.
async fn late_peer(delay: Duration) -> Peer {
    Peer::start(Behaviour::slow(delay, vec![record("late")])).await
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let peer = late_peer(Duration::from_millis(1000)).await;
    let process = Process::start_with_token(&["--dataverse", &peer.url]).await;

    let url = process.url("/getConversations");
    let in_flight = tokio::spawn(async move {
        let response = client()
            .post(url)
            .header("content-type", "application/json")
            .header("x-correlation-id", "in-flight-1")
            .body(WAITING)
            .send()
            .await
            .unwrap();
        parts(response).await
    });
    // The request is at the backend (and stays there for a second) when the signal comes.
    peer.wait_for_requests(1).await;
    process.signal("TERM");

    let (status, id, body) = in_flight.await.unwrap();
    assert_eq!((status, id.as_str()), (200, "in-flight-1"), "{body}");
    assert_eq!(body["result"]["values"][0]["activityid"], "late");

    let (exit, log) = process.wait().await;
    assert!(exit.success(), "{exit}\n{log}");
    assert!(log.contains("SIGTERM received"), "{log}");
    let access = log
        .lines()
        .find(|line| line.contains(r#"correlation_id="in-flight-1""#))
        .unwrap_or_else(|| panic!("no access log line:\n{log}"));
    for field in [
        "method=POST",
        r#"route="/getConversations""#,
        "status=200",
        "latency_us=",
    ] {
        assert!(access.contains(field), "{field} missing: {access}");
    }
    assert!(
        !log.contains("test-token"),
        "the token is never logged:\n{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal"
    );
}

#[tokio::test]
async fn sigint_stops_an_idle_server() {
    let process = Process::start_with_token(&[]).await;
    assert_eq!(get_status(&process.url("/readyz")).await, 200);
    // A request hyper refuses before the service sees it still gets an access-log line.
    let mut stream = tokio::net::TcpStream::connect(process.addr())
        .await
        .unwrap();
    stream.write_all(b"GARBAGE\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer)
        .await
        .unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 400 "));
    process.signal("INT");
    let (exit, log) = process.wait().await;
    assert!(exit.success(), "{exit}\n{log}");
    assert!(log.contains("SIGINT received"), "{log}");
    assert!(
        log.lines()
            .any(|line| line.contains(r#"route="malformed""#) && line.contains("status=400")),
        "{log}"
    );
}

#[tokio::test]
async fn bad_configuration_stops_the_start_with_a_coded_error() {
    for (args, env_token, code) in [
        (
            vec![
                "--dataverse",
                "https://contoso.crm.dynamics.com",
                "--auth",
                "token",
            ],
            false,
            "dataverse_auth_failed",
        ),
        (
            vec!["--data", "/nonexistent/conversations.json"],
            true,
            "store_unreadable",
        ),
        (
            vec!["--options", r#"{"unknownColumns":"maybe"}"#],
            true,
            "invalid_options",
        ),
        (
            vec!["--cors-origin", "app.example.com"],
            true,
            "invalid_cors_origin",
        ),
    ] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_convq"));
        command.args(["serve", "--addr", "127.0.0.1:0"]).args(&args);
        if env_token {
            command.env("CONVQ_DATAVERSE_TOKEN", "test-token");
        } else {
            command.env_remove("CONVQ_DATAVERSE_TOKEN");
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: [{code}] ")),
            "{args:?}: {stderr}"
        );
    }
}

#[tokio::test]
async fn sigterm_with_half_sent_requests_exits_within_the_grace_period() {
    // The read timeouts are far away: only the grace period can end these connections.
    let process = Process::start_with_token(&[
        "--shutdown-grace",
        "1s",
        "--header-read-timeout",
        "60s",
        "--body-read-timeout",
        "60s",
    ])
    .await;
    let addr = process.addr().to_owned();
    let mut held = Vec::new();
    for partial in [
        format!("POST /query HTTP/1.1\r\nHost: {addr}\r\nContent-Ty"),
        format!(
            "POST /query HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\n\r\n{{\"agentId\""
        ),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(partial.as_bytes()).await.unwrap();
        held.push(stream);
    }
    // Both connections are at the server (the second one's request is reading its body).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    process.signal("TERM");
    let (exit, log) = process.wait().await;
    let took = started.elapsed();
    assert!(exit.success(), "{exit}\n{log}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "exited after {took:?}, the grace period is 1 s\n{log}"
    );
    assert!(log.contains("grace period over"), "{log}");
    drop(held);
}
