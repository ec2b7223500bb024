//! The `Host` check: on loopback only loopback names (and `--allowed-host` values) are served,
//! against DNS rebinding; on other addresses `--allowed-host` restricts when given.

use std::net::SocketAddr;
use std::sync::Arc;

use convq_backend::EmbeddedStore;
use convq_core::Options;
use convq_http::{AppState, Server, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{TestServer, error_code};

/// Status and body of a GET /readyz sent to `addr` with this `Host` header (raw: reqwest
/// derives `Host` from the URL).
async fn with_host(addr: SocketAddr, host: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /readyz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

#[tokio::test]
async fn a_loopback_server_answers_only_for_loopback_names() {
    let config = ServerConfig::default().with_allowed_host("convq.internal");
    let server = TestServer::with_config(config).await;
    let port = server.addr.port();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_owned(),
        format!("convq.internal:{port}"),
    ] {
        assert_eq!(with_host(server.addr, &host).await.0, 200, "{host}");
    }
    for host in [
        format!("rebound.example.com:{port}"),
        "rebound.example.com".to_owned(),
        format!("localhost.example.com:{port}"),
        format!("127.0.0.2:{port}"),
    ] {
        let (status, body) = with_host(server.addr, &host).await;
        assert_eq!(status, 421, "{host}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error_code(&body), "host_not_allowed", "{host}");
    }
    let (_, body) = with_host(server.addr, &"x".repeat(4000)).await;
    assert!(body.len() < 1024, "the host is not echoed whole: {body}");
}

async fn unspecified(config: ServerConfig) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    // Bound to every address, reached through loopback only.
    let config = config.with_addr(SocketAddr::from(([0, 0, 0, 0], 0)));
    let state = AppState::new(Arc::new(EmbeddedStore::sample()), Options::default());
    let server = Server::bind(&config, &state).await.unwrap();
    let port = server.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    (SocketAddr::from(([127, 0, 0, 1], port)), tx)
}

#[tokio::test]
async fn other_addresses_restrict_hosts_only_when_asked() {
    let (addr, _stop) = unspecified(ServerConfig::default()).await;
    assert_eq!(with_host(addr, "anything.example.com").await.0, 200);

    let (addr, _stop) =
        unspecified(ServerConfig::default().with_allowed_host("api.example.com")).await;
    assert_eq!(with_host(addr, "api.example.com").await.0, 200);
    assert_eq!(with_host(addr, "API.example.com:443").await.0, 200);
    assert_eq!(with_host(addr, "other.example.com").await.0, 421);
    assert_eq!(with_host(addr, "127.0.0.1").await.0, 421);
}
