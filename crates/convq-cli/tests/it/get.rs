//! `convq get`: getConversations answered by the sample store, a `--data` file, or the
//! simulated Dataverse organization on 127.0.0.1.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use convq_simorg::{Call, Reply, SimOrg};
use insta_cmd::assert_cmd_snapshot;
use serde_json::{Value, json};

use crate::{
    AGENT, assert_exit, assert_exit_saying, assert_stderr_starts_with, convq, json_lines, run,
    stderr, stdout,
};

const NOW: &str = "2026-11-20T12:00:00Z";
const TOKEN: &str = "cli-test-token-7f3a";

fn envelope(output: &std::process::Output) -> Value {
    serde_json::from_str(stdout(output)).unwrap_or_else(|e| panic!("{e}: {}", stdout(output)))
}

/// A file in this test binary's scratch directory.
fn scratch(name: &str, contents: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn the_readme_command_answers_from_the_sample_store() {
    assert_cmd_snapshot!(convq().args(["get", "--now", NOW, "examples/waiting.json"]));
    let output = run(&["get", "examples/waiting.json"]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output).lines().count(), 1, "compact when not a TTY");
    let body = envelope(&output);
    assert_eq!(body["status"], true);
    let values = body["result"]["values"].as_array().unwrap();
    assert!(values.len() >= 5);
    assert!(values.iter().all(|v| v["statuscode"] == 3));
}

#[test]
fn created_before_days_counts_back_from_now() {
    let at = |now: &str| {
        let output = run(&["get", "--now", now, "examples/active-and-waiting.json"]);
        assert_exit(&output, 0);
        envelope(&output)["result"]["values"]
            .as_array()
            .unwrap()
            .len()
    };
    let recent = at(NOW);
    assert!(recent > 0);
    // A year later nothing in the sample store is within 7 days.
    assert_eq!(at("2027-11-20T12:00:00Z"), 0);
    assert_cmd_snapshot!(convq().args([
        "get",
        "--now",
        NOW,
        "--correlation-id",
        "c-42",
        "examples/active-and-waiting.json"
    ]));
}

#[test]
fn invalid_input_exits_2_with_the_envelope_and_a_diagnostic() {
    assert_cmd_snapshot!(convq().args(["get", "examples/invalid.json"]));
}

#[test]
fn ndjson_answers_every_line() {
    let output = run(&["get", "--ndjson", "--now", NOW, "examples/batch.ndjson"]);
    assert_exit(&output, 2);
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["status"], true);
    assert_eq!(lines[1]["error"]["code"], "invalid_agent_id");
    assert_eq!(lines[2]["status"], true);
    assert_stderr_starts_with(&output, "line 2: error[invalid_agent_id] at /agentId:");
}

/// `convq get` of `examples/waiting.json` against the store in `data`.
fn get_waiting_from(data: &std::path::Path) -> std::process::Output {
    convq()
        .args(["get", "--data"])
        .arg(data)
        .arg("examples/waiting.json")
        .output()
        .unwrap()
}

#[test]
fn data_files_replace_the_sample_store() {
    let other = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d";
    let ndjson = [
        json!({"activityid": "00000000-0000-4000-8000-000000000001", "_msdyn_activeagentid_value": AGENT, "statuscode": 3, "createdon": "2026-11-19T10:00:00Z", "msdyn_title": "first"}),
        json!({"activityid": "00000000-0000-4000-8000-000000000002", "_msdyn_activeagentid_value": other, "statuscode": 3}),
        json!({"activityid": "00000000-0000-4000-8000-000000000003", "_msdyn_activeagentid_value": AGENT, "statuscode": 2}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let path = scratch("get-data.ndjson", &ndjson);
    let output = get_waiting_from(&path);
    assert_exit(&output, 0);
    assert_eq!(
        envelope(&output),
        json!({"result": {"values": [{
            "activityid": "00000000-0000-4000-8000-000000000001",
            "msdyn_ocliveworkitemid": null,
            "_msdyn_liveworkstreamid_value": null,
            "_msdyn_lastsessionid_value": null,
            "statuscode": 3,
            "createdon": "2026-11-19T10:00:00Z",
            "msdyn_title": "first",
            "msdyn_channel": null
        }]}, "status": true})
    );

    let broken = scratch(
        "get-broken.json",
        "{\"value\": [{\"activityid\": \"00000000-0000-4000-8000-000000000001\", \"statuscode\": \"3\"}]}",
    );
    let output = get_waiting_from(&broken);
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stderr(&output),
        "error: [store_malformed_record] at /value/0/statuscode record 0 of `value`: `statuscode` must be an integer, e.g. 3\n"
    );
}

/// A `--data` record that names a lookup by its logical name, or has a property the catalog does
/// not know, is a warning with its pointer on stderr; an agent given only by its logical name
/// is refused, since no query could find the record.
#[test]
fn data_records_with_logical_names_warn_or_are_refused() {
    let body = json!({"value": [{
        "activityid": "00000000-0000-4000-8000-000000000001",
        "_msdyn_activeagentid_value": AGENT, "statuscode": 3,
        "msdyn_customer": "11111111-1111-4111-8111-111111111111", "msdyn_titel": "typo"
    }]});
    let output = get_waiting_from(&scratch("get-logical.json", &body.to_string()));
    assert_exit(&output, 0);
    let text = stderr(&output);
    assert!(
        text.starts_with(
            "warning[store_logical_name] at /value/0/msdyn_customer: record 0 of `value`: \
             `msdyn_customer` is the column's logical name; Web API returns this lookup as \
             `_msdyn_customer_value`"
        ),
        "{text}"
    );
    assert!(
        text.contains("warning[store_unknown_property] at /value/0/msdyn_titel: "),
        "{text}"
    );

    let agent = json!([{"activityid": "00000000-0000-4000-8000-000000000001", "msdyn_activeagentid": AGENT}]);
    let output = get_waiting_from(&scratch("get-logical-agent.json", &agent.to_string()));
    assert_exit(&output, 1);
    assert_stderr_starts_with(
        &output,
        "error: [store_logical_name] at /0/msdyn_activeagentid record 0 of the array: \
         `msdyn_activeagentid` is the agent lookup's logical name",
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    let output = run(&["get", "--now", "tomorrow", "examples/waiting.json"]);
    assert_exit_saying(&output, 1, "\"tomorrow\" is not an RFC 3339 timestamp");

    let output = convq()
        .args(["get", "--dataverse", "https://contoso.crm.dynamics.com"])
        .args(["--auth", "token", "examples/waiting.json"])
        .env_remove("CONVQ_DATAVERSE_TOKEN")
        .output()
        .unwrap();
    assert_exit(&output, 1);
    assert_eq!(
        stderr(&output),
        "error: [dataverse_auth_failed] cannot sign in to Dataverse with CONVQ_DATAVERSE_TOKEN: \
         CONVQ_DATAVERSE_TOKEN is not set\n"
    );

    let output = run(&[
        "get",
        "--data",
        "x.json",
        "--dataverse",
        "https://contoso.crm.dynamics.com",
    ]);
    assert_exit_saying(&output, 1, "cannot be used with");
}

/// The simulated organization, scripted with one answer per request, in order, each after its
/// delay; and the runtime that serves it (it stops with the runtime).
fn stand_in(answers: Vec<(Duration, u16, String)>) -> (tokio::runtime::Runtime, SimOrg) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let org = runtime
        .block_on(SimOrg::scripted(move |call: &Call<'_>| {
            match answers.get(call.index) {
                Some((delay, status, body)) => {
                    Reply::text(*status, "application/json", body.clone()).after(*delay)
                }
                None => Reply::text(500, "text/plain", "no answer scripted for this request"),
            }
        }))
        .unwrap();
    (runtime, org)
}

#[test]
fn dataverse_answers_with_the_token_from_the_environment() {
    let page = json!({"value": [{"@odata.etag": "W/\"1\"", "activityid": "00000000-0000-4000-8000-000000000001", "statuscode": 3}]});
    let (_runtime, org) = stand_in(vec![(Duration::ZERO, 200, page.to_string())]);
    let output = convq()
        .args([
            "get",
            "--dataverse",
            org.url(),
            "--page-size",
            "50",
            "examples/waiting.json",
        ])
        .env("CONVQ_DATAVERSE_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_exit(&output, 0);
    assert_eq!(
        envelope(&output),
        json!({"result": {"values": page["value"]}, "status": true})
    );
    let requests = org.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert_eq!(request.method, "GET");
    assert!(
        request
            .target
            .to_lowercase()
            .starts_with("/api/data/v9.2/msdyn_ocliveworkitems?$select=msdyn_ocliveworkitemid%2c"),
        "{}",
        request.target
    );
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(request.header("prefer"), Some("odata.maxpagesize=50"));
    assert_eq!(request.header("odata-version"), Some("4.0"));
}

#[test]
fn dataverse_failures_exit_3_without_the_token() {
    let unauthorized = json!({"error": {"code": "0x80072560", "message": "The user is not a member of the organization."}});
    let (_runtime, org) = stand_in(vec![
        (Duration::ZERO, 401, unauthorized.to_string()),
        (
            Duration::from_secs(3),
            200,
            json!({"value": []}).to_string(),
        ),
    ]);
    let base = org.url();
    let output = convq()
        .args(["get", "--dataverse", base, "examples/waiting.json"])
        .env("CONVQ_DATAVERSE_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_exit(&output, 3);
    let body = envelope(&output);
    assert_eq!(body["error"]["code"], "dataverse_unauthorized");
    assert_stderr_starts_with(&output, "error[dataverse_unauthorized]: Dataverse rejected");
    for text in [stdout(&output), stderr(&output)] {
        assert!(!text.contains(TOKEN), "{text}");
    }

    let output = convq()
        .args([
            "get",
            "--dataverse",
            base,
            "--timeout",
            "300ms",
            "examples/waiting.json",
        ])
        .env("CONVQ_DATAVERSE_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_exit(&output, 3);
    assert_eq!(envelope(&output)["error"]["code"], "dataverse_timeout");
}

#[test]
fn get_help_shows_every_option_examples_and_exit_status() {
    assert_cmd_snapshot!(convq().args(["get", "--help"]));
}

/// Every `convq get` example of the README that answers from the sample store runs without
/// `--now` and answers what it answers at the sample's reference instant: on any date, the
/// same non-empty answer (the sample store's "now" is its own).
#[test]
fn readme_examples_answer_without_now() {
    let readme = std::fs::read_to_string(crate::workspace_root().join("README.md")).unwrap();
    let examples: Vec<Vec<String>> = readme
        .lines()
        .filter_map(|line| {
            let command = line.trim().split('#').next()?.trim();
            let rest = command
                .strip_prefix("cargo run -q --bin convq -- get ")
                .or_else(|| command.strip_prefix("convq get "))?;
            Some(
                rest.split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|args| {
            !args
                .iter()
                .any(|a| a.starts_with("--data") || a == "--now" || a == "--ndjson")
        })
        .collect();
    assert!(
        examples.len() >= 2,
        "the README's convq get examples: {examples:?}"
    );
    for args in &examples {
        let today = convq().arg("get").args(args).output().unwrap();
        assert!(today.status.success(), "{args:?}: {}", stderr(&today));
        let answer = envelope(&today);
        assert!(
            !answer["result"]["values"].as_array().unwrap().is_empty(),
            "{args:?} answers nothing"
        );
        let pinned = convq()
            .args(["get", "--now", NOW])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(envelope(&pinned), answer, "{args:?}");
    }
}

/// The options of a run: the reading of createdBeforeDays, the time zone, formatted values.
#[test]
fn get_flags_change_the_answer_as_documented() {
    let run = |extra: &[&str]| {
        let output = convq()
            .args(["get", "--now", NOW])
            .args(extra)
            .arg("examples/active-and-waiting.json")
            .output()
            .unwrap();
        assert!(output.status.success(), "{extra:?}: {}", stderr(&output));
        envelope(&output)["result"]["values"]
            .as_array()
            .unwrap()
            .clone()
    };
    let recent = run(&[]);
    let older = run(&["--created-before-days", "older-than-x-days"]);
    assert!(!recent.is_empty() && !older.is_empty());
    let created = |rows: &[Value]| -> Vec<String> {
        rows.iter()
            .map(|r| r["createdon"].as_str().unwrap().to_owned())
            .collect()
    };
    // Created on or after 2026-11-13T00:00Z (7 days back), or before it.
    assert!(created(&recent).iter().all(|c| c.as_str() >= "2026-11-13"));
    assert!(created(&older).iter().all(|c| c.as_str() < "2026-11-13"));
    // Tokyo's midnight is nine hours earlier: the window starts at 2026-11-12T15:00Z.
    let tokyo = run(&["--time-zone", "Asia/Tokyo"]);
    assert!(
        created(&tokyo)
            .iter()
            .all(|c| c.as_str() >= "2026-11-12T15")
    );
    assert!(tokyo.len() >= recent.len());

    let formatted = run(&["--formatted-values"]);
    let label = "statuscode@OData.Community.Display.V1.FormattedValue";
    assert!(
        formatted
            .iter()
            .all(|r| r[label] == "Waiting" || r[label] == "Active")
    );
    assert!(recent.iter().all(|r| r.get(label).is_none()));
    assert!(recent.iter().all(|r| r["@odata.etag"].is_string()));

    // `crate::run`: `run` in this test is the closure above.
    let output = crate::run(&[
        "get",
        "--time-zone",
        "Mars/Olympus_Mons",
        "examples/waiting.json",
    ]);
    assert_exit_saying(&output, 1, "not an IANA time zone name");
}

/// Ordering by a lookup the store has no names for warns that the org's order may differ.
#[test]
fn ordering_by_an_unnamed_lookup_warns() {
    let input =
        json!({"agentId": AGENT, "orderBy": [{"attributeName": "msdyn_lastsessionid"}], "top": 3});
    let path = scratch("unnamed-lookup.json", &input.to_string());
    let output = convq().arg("get").arg(&path).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("warning[order_may_differ] at /orderBy/0/attributeName"),
        "{}",
        stderr(&output)
    );
    // Named lookups (the queue) do not warn.
    let input =
        json!({"agentId": AGENT, "orderBy": [{"attributeName": "msdyn_cdsqueueid"}], "top": 3});
    let path = scratch("named-lookup.json", &input.to_string());
    let output = convq().arg("get").arg(&path).output().unwrap();
    assert_eq!(stderr(&output), "");
}

/// `get --dataverse` refuses a request URL over 32,768 characters before sending anything.
#[test]
fn get_dataverse_checks_the_full_url_length() {
    let attributes: Vec<String> = (0..500)
        .map(|i| format!("new_custom_column_{i:04}_with_a_rather_long_logical_name_for_testing"))
        .collect();
    let input = json!({"agentId": AGENT, "attributes": attributes});
    let path = scratch("long-url.json", &input.to_string());
    // Nothing listens on port 9 of loopback: a request would fail as a backend error (3).
    let output = convq()
        .args(["get", "--dataverse", "http://127.0.0.1:9"])
        .arg(&path)
        .env("CONVQ_DATAVERSE_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("error[request_too_long]"),
        "{}",
        stderr(&output)
    );
}

/// A fake Azure CLI on `PATH`: `az account get-access-token` prints what Azure CLI 2.54+ prints
/// (or fails like a signed-out CLI), and records its arguments.
fn fake_az(signed_in: bool) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "convq-az-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let args = dir.join("args");
    let body = if signed_in {
        format!(
            "echo \"$@\" > {}\nexpires=$(( $(date +%s) + 3600 ))\n\
             printf '{{\"accessToken\":\"az-token-5f1c\",\"expiresOn\":\"2030-01-01 00:00:00.000000\",\"expires_on\":%s,\"subscription\":\"s\",\"tenant\":\"t\",\"tokenType\":\"Bearer\"}}\\n' \"$expires\"\n",
            args.display()
        )
    } else {
        "echo \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n".to_owned()
    };
    let script = dir.join("az");
    std::fs::write(&script, format!("#!/bin/sh\n{body}")).unwrap();
    let mut permissions = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&script, permissions).unwrap();
    (dir, args)
}

/// `convq` with no Azure settings in its environment and `dir` first on `PATH`; managed identity
/// is pointed at a closed port on loopback (never the instance metadata service).
fn convq_signed_out(dir: &std::path::Path) -> Command {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut command = convq();
    for name in [
        "CONVQ_DATAVERSE_TOKEN",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "MSI_ENDPOINT",
    ] {
        command.env_remove(name);
    }
    command
        .env("IDENTITY_ENDPOINT", format!("http://{closed}/msi/token"))
        .env("IDENTITY_HEADER", "h")
        .env(
            "PATH",
            format!(
                "{}:{}",
                dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        );
    command
}

#[test]
fn the_azure_cli_signs_in_after_az_login() {
    let page = json!({"value": []});
    for mode in ["azure-cli", "default"] {
        let (dir, args) = fake_az(true);
        let (_runtime, org) = stand_in(vec![(Duration::ZERO, 200, page.to_string())]);
        let base = org.url();
        let output = convq_signed_out(&dir)
            .args([
                "get",
                "--dataverse",
                base,
                "--auth",
                mode,
                "examples/waiting.json",
            ])
            .env("RUST_LOG", "info")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{mode}: {}", stderr(&output));
        let requests = org.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        assert_eq!(
            requests[0].header("authorization"),
            Some("Bearer az-token-5f1c")
        );
        let called = std::fs::read_to_string(&args).unwrap();
        assert!(
            called.starts_with(&format!(
                "account get-access-token -o json --scope {base}/.default"
            )),
            "{called}"
        );
        let log = stderr(&output);
        assert!(
            log.contains("signed in to Dataverse with Azure CLI"),
            "{log}"
        );
        if mode == "default" {
            // The chain says why the ones before did not sign in.
            assert!(
                log.contains("environment client secret did not sign in"),
                "{log}"
            );
            assert!(log.contains("managed identity did not sign in"), "{log}");
        }
        assert!(!log.contains("az-token-5f1c"), "{log}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn when_no_credential_signs_in_the_error_says_why_each_failed() {
    let (dir, _) = fake_az(false);
    let output = convq_signed_out(&dir)
        .args([
            "get",
            "--dataverse",
            "http://127.0.0.1:9",
            "examples/waiting.json",
        ])
        .output()
        .unwrap();
    assert_exit(&output, 3);
    let body = envelope(&output);
    assert_eq!(body["error"]["code"], "dataverse_auth_failed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("cannot sign in to Dataverse with default: "),
        "{message}"
    );
    for part in [
        "environment client secret: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET not set",
        "workload identity: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE not set",
        "managed identity: ",
        "Azure CLI: ",
        "az login",
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn passthrough_is_for_the_service() {
    let output = convq()
        .args(["get", "--dataverse", "https://contoso.crm.dynamics.com"])
        .args(["--auth", "passthrough", "examples/waiting.json"])
        .output()
        .unwrap();
    assert_exit_saying(&output, 1, "--auth passthrough is for `convq serve`");
}
