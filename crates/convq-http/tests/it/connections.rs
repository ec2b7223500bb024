//! Connections: slow and half-sent clients hold connections, not work slots, and are cut off by
//! the header- and body-read timeouts while the probes and real requests keep answering; idle
//! kept-alive connections close; the connection limit holds; malformed requests are answered
//! by hyper and counted. Every raw client here is bounded in count and time.

use std::time::{Duration, Instant};

use convq_http::{ConnectionLimits, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{TestServer, WAITING, client, error_code, get_text, limits_with, parts, post_json};

/// Reads until the server closes the connection (or `within` passes: then panics), and returns
/// what it sent.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut answer))
        .await
        .unwrap_or_else(|_| panic!("the server did not close the connection within {within:?}"))
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

/// A connection that sends the head of a POST and one byte of its 100-byte body, then nothing.
async fn slow_body_client(server: &TestServer) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /getConversations HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{",
        server.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// A connection that sends half a request head, then nothing.
async fn half_head_client(server: &TestServer) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /getConversations HTTP/1.1\r\nHost: {}\r\nContent-Ty",
        server.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn slow_clients_do_not_starve_the_others() {
    const SLOW: usize = 48;
    let timeout = Duration::from_secs(4);
    let config = ServerConfig::default()
        .with_limits(limits_with(|l| {
            l.concurrency_limit = 4;
            l.body_read_timeout = timeout;
        }))
        .with_connections(ConnectionLimits::default().with_header_read_timeout(timeout));
    let server = TestServer::with_config(config).await;

    // Many more slow clients than work slots, half of each kind.
    let mut slow_bodies = Vec::new();
    let mut half_heads = Vec::new();
    for _ in 0..SLOW / 2 {
        slow_bodies.push(slow_body_client(&server).await);
        half_heads.push(half_head_client(&server).await);
    }
    let started = Instant::now();

    // While they hang on, the probes and real work answer at once.
    let probe = client();
    for _ in 0..3 {
        for path in ["/healthz", "/readyz"] {
            let response =
                tokio::time::timeout(Duration::from_secs(1), probe.get(server.url(path)).send())
                    .await
                    .unwrap_or_else(|_| panic!("{path} did not answer within 1 s"))
                    .unwrap();
            assert_eq!(response.status(), 200, "{path}");
        }
        let (status, _, body) = tokio::time::timeout(Duration::from_secs(1), async {
            parts(post_json(&server.url("/getConversations"), WAITING).await).await
        })
        .await
        .expect("getConversations answered within 1 s");
        assert_eq!(status, 200, "{body}");
    }
    assert!(
        started.elapsed() < timeout,
        "the probes ran while the slow clients were still connected"
    );

    // Then the slow bodies get 408 with the envelope, and their connections close.
    for mut stream in slow_bodies {
        let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
        assert!(answer.contains("connection: close"), "{answer}");
        let body = answer.split_once("\r\n\r\n").unwrap().1;
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(error_code(&body), "request_body_timeout");
    }
    // The half heads are disconnected without an answer (hyper has no request to answer).
    for mut stream in half_heads {
        let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await;
        assert!(!answer.contains("200 OK"), "{answer}");
    }
    assert!(
        started.elapsed() < timeout + Duration::from_secs(3),
        "cut off at the timeouts: {:?}",
        started.elapsed()
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn idle_kept_alive_connections_are_closed() {
    let config = ServerConfig::default().with_connections(
        ConnectionLimits::default().with_header_read_timeout(Duration::from_millis(400)),
    );
    let server = TestServer::with_config(config).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    stream.write_all(request.as_bytes()).await.unwrap();
    let started = Instant::now();
    // The answer, then nothing more: the connection stays open only for the idle timeout.
    let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    let idle = started.elapsed();
    assert!(
        idle >= Duration::from_millis(300) && idle < Duration::from_secs(3),
        "closed after {idle:?}"
    );
}

#[tokio::test]
async fn the_connection_limit_holds_new_clients_back_until_one_closes() {
    let config = ServerConfig::default()
        .with_connections(ConnectionLimits::default().with_max_connections(2));
    let server = TestServer::with_config(config).await;
    let first = half_head_client(&server).await;
    let _second = half_head_client(&server).await;
    // Let the server accept both before the third arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut third = TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    );
    third.write_all(request.as_bytes()).await.unwrap();
    let mut byte = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), third.read(&mut byte))
            .await
            .is_err(),
        "a third connection is not served while two are open"
    );
    drop(first);
    let answer = read_until_closed(&mut third, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
}

#[tokio::test]
async fn malformed_requests_get_hyper_answers_and_are_counted() {
    let server = TestServer::sample().await;
    let host = server.addr;
    for (request, status) in [
        ("GARBAGE\r\n\r\n".to_owned(), "400"),
        (
            format!(
                "POST /query HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\n\
                 Content-Length: 3\r\n\r\n{{}}"
            ),
            "400",
        ),
        (
            format!(
                "GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\n\r\n",
                "a".repeat(512 * 1024)
            ),
            "431",
        ),
    ] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        // The server may answer and close before it has read everything.
        let _ = stream.write_all(request.as_bytes()).await;
        let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{status}: {answer}"
        );
    }
    let metrics = get_text(&server.url("/metrics")).await;
    for (status, count) in [("400", 2), ("431", 1)] {
        let line = metrics
            .lines()
            .find(|line| {
                line.starts_with("convq_http_requests_total")
                    && line.contains(r#"route="malformed""#)
                    && line.contains(&format!(r#"status="{status}""#))
            })
            .unwrap_or_else(|| panic!("no malformed {status} count:\n{metrics}"));
        assert!(line.ends_with(&format!(" {count}")), "{line}");
    }
}
