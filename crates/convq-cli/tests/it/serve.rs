//! `convq serve`: the HTTP service from the main binary (its behaviour is tested in convq-http;
//! this checks the subcommand starts it with the shared flags and stops on SIGTERM).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;

use crate::convq;

/// A raw HTTP/1.1 exchange (the CLI's tests have no HTTP client, and need none).
fn http(addr: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn serve_answers_get_conversations_and_stops_on_sigterm() {
    let mut child = convq()
        .args(["serve", "--addr", "127.0.0.1:0", "--request-timeout", "5s"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "convq serve exited early"
        );
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };

    let body = crate::example("waiting.json");
    let answer = http(
        &addr,
        &format!(
            "POST /getConversations HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nX-Correlation-Id: cli-1\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-correlation-id: cli-1\r\n"),
        "{answer}"
    );
    assert!(answer.contains(r#""status":true}"#), "{answer}");

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{status}: {rest}");
    assert!(rest.contains("SIGTERM received"), "{rest}");
}

#[test]
fn serve_without_a_token_for_dataverse_exits_1() {
    let output = convq()
        .args([
            "serve",
            "--dataverse",
            "https://contoso.crm.dynamics.com",
            "--auth",
            "token",
        ])
        .env_remove("CONVQ_DATAVERSE_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "error: [dataverse_auth_failed] cannot sign in to Dataverse with \
             CONVQ_DATAVERSE_TOKEN: CONVQ_DATAVERSE_TOKEN is not set"
        ),
        "{stderr}"
    );
}
