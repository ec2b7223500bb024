//! Configuring `convq serve` as a container service: `CONVQ_*` variables, `PORT`, `--config`
//! and their precedence, `--log-format json`, and the trace context and correlation id carried
//! to Dataverse.

use convq_simorg::testkit::header;
use convq_simorg::{Call, Reply, SimOrg};
use serde_json::Value;

use super::process::Process;
use super::{WAITING, client, post_json};
use crate::{assert_exit, assert_exit_saying, convq};

/// The settings the "listening on" line reports, from a JSON log.
fn listening(process: &Process) -> Value {
    let log = process.log();
    let line = log
        .lines()
        .find(|line| line.contains("listening on"))
        .unwrap_or_else(|| panic!("no listening line: {log}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

fn write_config(text: &str) -> (tempdir::Dir, String) {
    let dir = tempdir::Dir::new();
    let path = dir.path().join("convq.toml");
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

/// A directory of its own under the target's test scratch space, removed on drop.
mod tempdir {
    use std::sync::atomic::{AtomicU32, Ordering};

    pub(crate) struct Dir(std::path::PathBuf);

    impl Dir {
        pub(crate) fn new() -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
                "settings-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        pub(crate) fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[tokio::test]
async fn a_flag_wins_over_its_variable_which_wins_over_the_config_file() {
    let (_dir, config) = write_config(
        r#"
addr = "127.0.0.1:0"
log-format = "json"
body-limit = 1000
request-timeout = "7s"
concurrency-limit = 3
"#,
    );
    let process = Process::start(
        &["--config", &config, "--body-limit", "3000"],
        &[
            ("CONVQ_BODY_LIMIT", "2000"),
            ("CONVQ_REQUEST_TIMEOUT", "8s"),
        ],
    )
    .await;
    let settings = listening(&process);
    assert_eq!(settings["body_limit"], 3000, "the flag: {settings}");
    assert_eq!(
        settings["request_timeout_ms"], 8000,
        "the variable: {settings}"
    );
    assert_eq!(settings["concurrency_limit"], 3, "the file: {settings}");
    assert_eq!(settings["max_connections"], 1024, "the default: {settings}");
    // The body limit in force is the flag's.
    let response = post_json(&process.url("/getConversations"), vec![b' '; 3001]).await;
    assert_eq!(response.status(), 413);
    let response = post_json(&process.url("/getConversations"), WAITING).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_config_file_can_come_from_its_variable() {
    let (_dir, config) = write_config("addr = \"127.0.0.1:0\"\nlog-format = \"json\"\n");
    let process = Process::start(&[], &[("CONVQ_CONFIG", &config)]).await;
    assert_eq!(listening(&process)["body_limit"], 65536);
}

#[tokio::test]
async fn variables_alone_configure_the_service() {
    let process = Process::start(
        &[],
        &[
            ("CONVQ_ADDR", "127.0.0.1:0"),
            ("CONVQ_LOG_FORMAT", "json"),
            ("CONVQ_BODY_LIMIT", "100"),
            ("CONVQ_FORMATTED_VALUES", "true"),
        ],
    )
    .await;
    assert_eq!(listening(&process)["body_limit"], 100);
    let response = post_json(&process.url("/getConversations"), vec![b' '; 101]).await;
    assert_eq!(response.status(), 413);
    let compact = r#"{"agentId":"2b330c52-6844-4d36-8e05-03c78c9681dc","status":[3]}"#;
    let response = post_json(&process.url("/getConversations"), compact).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let first = &body["result"]["values"][0];
    assert!(
        first["statuscode@OData.Community.Display.V1.FormattedValue"].is_string(),
        "CONVQ_FORMATTED_VALUES=true: {first}"
    );
}

#[tokio::test]
async fn port_listens_on_every_interface_and_warns_about_the_open_sample_store() {
    let process = Process::start(&[], &[("PORT", "0")]).await;
    process.assert_logged("listening on http://0.0.0.0:");
    process.assert_logged("the built-in sample store");
    process.assert_logged("to anyone who can reach it");
    let response = post_json(&process.url("/getConversations"), WAITING).await;
    assert_eq!(response.status(), 200);

    // A flag (or CONVQ_ADDR) wins over PORT.
    let process = Process::start(&["--addr", "127.0.0.1:0"], &[("PORT", "1")]).await;
    process.assert_logged("listening on http://127.0.0.1:");
    assert!(!process.log().contains("the built-in sample store"));
}

#[test]
fn bad_settings_are_refused_with_what_to_fix() {
    // (config file, what the error says)
    let files: [(&str, &[&str]); 3] = [
        (
            "adr = \"127.0.0.1:0\"\n",
            &["adr in the config file", "did you mean addr?"],
        ),
        ("[addr]\nhost = \"x\"\n", &["addr in the config file"]),
        (
            "body-limit = \"lots\"\n",
            &["invalid value 'lots' for '--body-limit <BYTES>'"],
        ),
    ];
    for (text, expected) in files {
        let (_dir, path) = write_config(text);
        let output = convq().args(["serve", "--config", &path]).output().unwrap();
        for expected in expected {
            assert_exit_saying(&output, 1, expected);
        }
    }

    let output = convq()
        .args(["serve"])
        .env("PORT", "http")
        .output()
        .unwrap();
    assert_exit_saying(&output, 1, "PORT=\"http\" is not a port number");

    let output = convq()
        .args(["serve", "--config", "/nonexistent/convq.toml"])
        .output()
        .unwrap();
    assert_exit_saying(
        &output,
        1,
        "cannot read the config file /nonexistent/convq.toml",
    );
}

#[tokio::test]
async fn json_logs_and_dataverse_get_the_correlation_id_and_trace_context() {
    // The organization records what it receives.
    let org = SimOrg::scripted(|_: &Call<'_>| Reply::records(&[]))
        .await
        .unwrap();
    let (dir, _) = write_config("");
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "key-one-secret\n").unwrap();
    let process = Process::start(
        &[
            "--dataverse",
            org.url(),
            "--api-keys",
            keys.to_str().unwrap(),
            "--log-format",
            "json",
            "--cache-ttl",
            "0",
        ],
        &[("CONVQ_DATAVERSE_TOKEN", "token-secret")],
    )
    .await;
    let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = client()
        .post(process.url("/getConversations"))
        .header("content-type", "application/json")
        .header("x-api-key", "key-one-secret")
        .header("x-correlation-id", "corr-42")
        .header("traceparent", trace)
        .body(WAITING)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let continued = header(&response, "traceparent");
    assert!(
        continued.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{continued}"
    );
    assert!(continued.ends_with("-01"));
    assert_ne!(continued, trace, "the service's own span id");

    let upstream = org.requests();
    assert_eq!(upstream.len(), 1);
    assert_eq!(
        upstream[0].header("x-ms-client-request-id"),
        Some("corr-42")
    );
    assert_eq!(upstream[0].header("traceparent"), Some(continued.as_str()));

    // An invalid traceparent is ignored, not refused, and not sent on.
    let response = client()
        .post(process.url("/getConversations"))
        .header("content-type", "application/json")
        .header("x-api-key", "key-one-secret")
        .header("traceparent", "00-not-a-trace-01")
        .body(r#"{"agentId":"2b330c52-6844-4d36-8e05-03c78c9681dc","status":[2]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("traceparent").is_none());
    let upstream = org.requests();
    assert_eq!(upstream.len(), 2);
    assert!(upstream[1].headers.get("traceparent").is_none());
    assert!(upstream[1].headers.get("x-ms-client-request-id").is_some());

    let log = process.log();
    let access: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .filter(|line: &Value| line["target"] == "convq_http::access")
        .collect();
    let first = access
        .iter()
        .find(|line| line["correlation_id"] == "corr-42")
        .unwrap_or_else(|| panic!("no access line for corr-42: {log}"));
    assert_eq!(first["route"], "/getConversations");
    assert_eq!(first["status"], 200);
    assert_eq!(first["caller"], "key 1");
    assert_eq!(first["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert!(first["latency_us"].is_u64(), "{first}");
    process.assert_log_free_of(&["key-one-secret", "token-secret"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_finds_the_service_at_the_port_of_its_variables() {
    let process = Process::start(&[], &[]).await;
    let port = process.addr().rsplit(':').next().unwrap().to_owned();
    let healthcheck = |env: &[(&str, &str)], args: &[&str]| {
        let mut command = convq();
        command
            .arg("healthcheck")
            .args(args)
            .env_remove("CONVQ_ADDR")
            .env_remove("PORT");
        for (name, value) in env {
            command.env(name, value);
        }
        command.output().unwrap()
    };
    let output = tokio::task::block_in_place(|| healthcheck(&[("PORT", &port)], &[]));
    assert_exit(&output, 0);
    let addr = format!("0.0.0.0:{port}");
    let output = tokio::task::block_in_place(|| healthcheck(&[("CONVQ_ADDR", &addr)], &[]));
    assert_exit(&output, 0);
    // An image without a CA bundle (or a wrong SSL_CERT_FILE): the plain-HTTP check needs none.
    let url = process.url("/healthz");
    let nowhere = [
        ("SSL_CERT_FILE", "/nonexistent"),
        ("SSL_CERT_DIR", "/nonexistent"),
    ];
    let output = tokio::task::block_in_place(|| healthcheck(&nowhere, &[&url]));
    assert_exit(&output, 0);
    let missing = process.url("/no-such-route");
    let output = tokio::task::block_in_place(|| healthcheck(&[], &[&missing]));
    assert_exit_saying(&output, 1, "404");
    let closed = format!("http://{}/healthz", super::closed_port());
    let output = tokio::task::block_in_place(|| healthcheck(&[], &[&closed]));
    assert_exit_saying(&output, 1, "no answer from");
}
