//! `--options FILE|JSON` on `query` and `get` (as `serve` takes it), and durations with units.

use insta_cmd::assert_cmd_snapshot;
use serde_json::Value;

use crate::{assert_exit, assert_stderr_starts_with, convq, run, stderr, stdout};

#[test]
fn query_takes_options_from_a_file() {
    // Strict mode from the file accepts the declared custom columns; the lookup is `_x_value`.
    assert_cmd_snapshot!(convq().args([
        "query",
        "--options",
        "examples/options.json",
        "examples/custom-columns.json"
    ]));
    // Without the declarations, the same strict options reject the first custom column.
    let output = run(&[
        "query",
        "--options",
        r#"{"unknownColumns":"error"}"#,
        "examples/custom-columns.json",
    ]);
    assert_exit(&output, 2);
    assert_stderr_starts_with(&output, "error[unknown_column] at /attributes/1:");
}

#[test]
fn flags_win_over_the_options_they_repeat() {
    let run = |args: &[&str]| {
        let output = convq()
            .args(["query"])
            .args(args)
            .arg("examples/custom-columns.json")
            .output()
            .unwrap();
        assert_exit(&output, 0);
        stdout(&output).to_owned()
    };
    let crm_in = r#"{"statusFilter":"crmIn","baseUrl":"https://a.crm.dynamics.com"}"#;
    assert!(run(&["--options", crm_in]).contains("Microsoft.Dynamics.CRM.In("));
    assert!(
        run(&["--options", crm_in, "--status-filter", "or-chain"])
            .contains("(statuscode eq 2 or statuscode eq 3)")
    );
    let url = run(&[
        "--options",
        crm_in,
        "--format",
        "url",
        "--base-url",
        "https://b.crm.dynamics.com",
    ]);
    assert!(
        url.starts_with("https://b.crm.dynamics.com/api/data/"),
        "{url}"
    );
    // `@FILE`, as `serve` spelled it first, reads the file too.
    assert!(run(&["--options", "@examples/options.json"]).contains("_new_supervisorid_value"));
}

#[test]
fn get_takes_options() {
    let output = run(&[
        "get",
        "--options",
        "examples/options.json",
        "examples/custom-columns.json",
    ]);
    assert_exit(&output, 0);
    let envelope: Value = serde_json::from_str(stdout(&output)).unwrap();
    let values = envelope["result"]["values"].as_array().unwrap();
    assert!(!values.is_empty());
    // The declared lookup is asked for by its value property (absent from the sample records).
    assert!(
        values
            .iter()
            .all(|v| v["_new_supervisorid_value"].is_null())
    );
    assert!(
        stderr(&output).is_empty(),
        "declared columns do not warn: {}",
        stderr(&output)
    );
}

#[test]
fn invalid_options_are_rejected_like_input_and_a_missing_file_is_a_failure_to_run() {
    assert_cmd_snapshot!(convq().args([
        "query",
        "--options",
        r#"{"statusFilter":"in"}"#,
        "examples/waiting.json"
    ]));
    assert_cmd_snapshot!(convq().args([
        "get",
        "--options",
        r#"{"baseUrl":"contoso.crm.dynamics.com"}"#,
        "examples/waiting.json"
    ]));
    assert_cmd_snapshot!(convq().args([
        "get",
        "--options",
        "examples/no-such-options.json",
        "examples/waiting.json"
    ]));
}

#[test]
fn durations_take_units_and_bad_ones_say_what_is_expected() {
    assert_cmd_snapshot!(convq().args([
        "get",
        "--dataverse",
        "http://127.0.0.1:9",
        "--timeout",
        "20 parsecs",
        "examples/waiting.json"
    ]));
    assert_cmd_snapshot!(convq().args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--request-timeout",
        "0s"
    ]));
}
