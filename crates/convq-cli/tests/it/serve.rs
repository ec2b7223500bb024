//! `convq serve`: the HTTP service from the main binary. Its routes are tested in-process in
//! convq-http; here the process: the flags, the start-up, signals, signing in and caller checks
//! (the modules below, through [`process::Process`]), against the simulated organization
//! (`convq-simorg`) and local stand-ins for the identity endpoints, on 127.0.0.1.
//!
//! - `auth`: managed identity across token lifetimes, pass-through, API keys, Entra ID tokens,
//!   the non-loopback safe default, `--metrics-addr`.
//! - `entra`: what an Entra ID token must carry (roles or scopes), both audience forms,
//!   sovereign clouds, start-up refusals, `--entra-own-agent`.
//! - `passthrough`: a caller's rejected token gets 401 and never takes `/readyz` down.
//! - `signin`: client secret and workload identity against a local Entra ID token endpoint over
//!   TLS (a test CA).
//! - `signals`: SIGTERM/SIGINT with a request in flight, the grace period, coded start errors.
//! - `org`: a 400 MiB page refused at the cap, with the server's peak memory.
//! - `scale`: coalescing, the cache's `Age` and the upstream metrics against the simulated org.
//! - `settings`: `CONVQ_*` variables, `PORT`, `--config` and their precedence, JSON logs, the
//!   trace context and correlation id sent on to Dataverse.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;

use crate::{assert_exit, convq};
// The client, checks and scripted organizations shared with convq-http's tests.
use convq_simorg::testkit::{
    WAITING, client, closed_port, error_code, get_status, get_text, parts, post_json, serve_local,
};

mod auth;
mod entra;
mod org;
mod passthrough;
mod process;
mod scale;
mod settings;
mod signals;
mod signin;

/// A raw HTTP/1.1 exchange (the CLI's tests have no HTTP client, and need none).
fn http(addr: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Starts `convq serve` on a free loopback port with `args`; returns the child, its address
/// (read from the "listening on" line) and the rest of its stderr.
fn spawn_serve(
    args: &[&str],
    rust_log: &str,
) -> (
    std::process::Child,
    String,
    BufReader<std::process::ChildStderr>,
) {
    let mut child = convq()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", rust_log)
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
    (child, addr, stderr)
}

fn post(addr: &str, path: &str, body: &str, correlation_id: &str) -> String {
    http(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nX-Correlation-Id: {correlation_id}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// Sends SIGTERM and returns the exit status and the rest of stderr.
fn terminate(
    mut child: std::process::Child,
    mut stderr: BufReader<std::process::ChildStderr>,
) -> (std::process::ExitStatus, String) {
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    (status, rest)
}

#[test]
fn serve_answers_get_conversations_and_stops_on_sigterm() {
    let (child, addr, stderr) = spawn_serve(&["--request-timeout", "5s"], "info");
    let answer = post(
        &addr,
        "/getConversations",
        &crate::example("waiting.json"),
        "cli-1",
    );
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-correlation-id: cli-1\r\n"),
        "{answer}"
    );
    assert!(answer.contains(r#""status":true}"#), "{answer}");

    let (status, rest) = terminate(child, stderr);
    assert!(status.success(), "{status}: {rest}");
    assert!(rest.contains("SIGTERM received"), "{rest}");
}

#[test]
fn the_address_is_printed_at_any_log_level_and_now_fixes_the_clock() {
    // RUST_LOG=warn hides the access log, not where the server listens (spawn_serve reads it).
    let body = crate::example("active-and-waiting.json");
    let count = |now: &str| {
        let (child, addr, stderr) =
            spawn_serve(&["--now", now, "--request-timeout", "1m 30s"], "warn");
        let answer = post(&addr, "/getConversations", &body, "cli-2");
        let (status, rest) = terminate(child, stderr);
        assert!(status.success(), "{status}: {rest}");
        assert!(
            !rest.contains("INFO"),
            "only warnings after the address: {rest}"
        );
        let json = answer.split("\r\n\r\n").nth(1).unwrap();
        let envelope: serde_json::Value = serde_json::from_str(json).unwrap();
        envelope["result"]["values"].as_array().unwrap().len()
    };
    // createdBeforeDays 7: the sample store's last week at its end date, nothing a year on.
    assert!(count("2026-11-20T12:00:00Z") > 0);
    assert_eq!(count("2027-11-20T12:00:00Z"), 0);
}

#[test]
fn a_port_in_use_names_the_address_and_what_to_do() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = convq()
        .args(["serve", "--addr", &addr])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert_exit(&output, 1);
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "error: [address_in_use] cannot listen on {addr}: Address already in use (os error \
             98) (another process listens there: stop it, or pick another --addr; port 0 picks a \
             free one)\n"
        )
    );
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
    assert_exit(&output, 1);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "error: [dataverse_auth_failed] cannot sign in to Dataverse with \
             CONVQ_DATAVERSE_TOKEN: CONVQ_DATAVERSE_TOKEN is not set"
        ),
        "{stderr}"
    );
}
