use insta_cmd::assert_cmd_snapshot;

use crate::{AGENT, GOLDEN_OPTIONS, assert_exit, convq, example, run, stderr, stdout};

#[test]
fn default_output_is_the_golden_options_string() {
    let output = run(&["query", "examples/waiting.json"]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), format!("{GOLDEN_OPTIONS}\n"));
    assert_eq!(stderr(&output), "");

    let explicit = run(&["query", "--format", "options", "examples/waiting.json"]);
    assert_eq!(explicit, output);
    assert_cmd_snapshot!(convq().args(["query", "examples/waiting.json"]));
}

#[test]
fn stdin_input_gives_the_same_output_as_the_file() {
    let waiting = example("waiting.json");
    assert_cmd_snapshot!(convq().args(["query", "-"]).pass_stdin(waiting.clone()));
    // No FILE reads stdin too.
    let output = crate::run_with_stdin(convq().arg("query"), waiting.into_bytes());
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), format!("{GOLDEN_OPTIONS}\n"));
}

#[test]
fn url_format_is_the_path_or_the_full_url() {
    assert_cmd_snapshot!(convq().args(["query", "--format", "url", "examples/waiting.json"]));
    assert_cmd_snapshot!(convq().args([
        "query",
        "--format",
        "url",
        "--base-url",
        "https://contoso.crm.dynamics.com/",
        "examples/waiting.json"
    ]));
}

#[test]
fn json_format_is_the_whole_compiled_result() {
    let output = run(&["query", "--format", "json", "examples/waiting.json"]);
    assert_exit(&output, 0);
    let compiled: serde_json::Value = serde_json::from_str(stdout(&output)).unwrap();
    assert_eq!(compiled["options"], GOLDEN_OPTIONS);
    assert_eq!(compiled["ast"]["agentId"], AGENT);
    assert_cmd_snapshot!(convq().args(["query", "--format", "json", "examples/waiting.json"]));
}

#[test]
fn fetchxml_format() {
    assert_cmd_snapshot!(convq().args(["query", "--format", "fetchxml", "examples/waiting.json"]));
    assert_cmd_snapshot!(convq().args(["query", "--format", "fetchxml", "examples/lookups.json"]));
}

#[test]
fn ast_format_is_the_normalized_query() {
    assert_cmd_snapshot!(convq().args(["query", "--format", "ast", "examples/lookups.json"]));
}

#[test]
fn lookups_are_selected_and_ordered_by_their_value_properties() {
    assert_cmd_snapshot!(convq().args(["query", "examples/lookups.json"]));
}

#[test]
fn status_filter_styles() {
    assert_cmd_snapshot!(convq().args(["query", "examples/active-and-waiting.json"]));
    assert_cmd_snapshot!(convq().args([
        "query",
        "--status-filter",
        "crm-in",
        "examples/active-and-waiting.json"
    ]));
}

#[test]
fn correlation_id_is_accepted_and_changes_nothing() {
    let with = convq()
        .args(["query", "--correlation-id", "c0ffee", "--format", "json"])
        .arg("examples/waiting.json")
        .output()
        .unwrap();
    let without = run(&["query", "--format", "json", "examples/waiting.json"]);
    assert_exit(&with, 0);
    assert_eq!(with, without);
    assert!(!stdout(&with).contains("c0ffee"));
}

#[test]
fn warnings_go_to_stderr_and_keep_stdout_clean() {
    let input = format!(r#"{{"agentId":"{AGENT}","attributes":["new_priority"],"status":[9]}}"#);
    assert_cmd_snapshot!(convq().args(["query", "-"]).pass_stdin(input.clone()));
    // With --format json the warnings are in the JSON as well, and stdout is still only JSON.
    let output = crate::run_with_stdin(
        convq().args(["query", "--format", "json", "-"]),
        input.into_bytes(),
    );
    assert_exit(&output, 0);
    let compiled: serde_json::Value = serde_json::from_str(stdout(&output)).unwrap();
    let codes: Vec<&str> = compiled["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["unknown_column", "unknown_status"]);
    assert_eq!(stderr(&output).lines().count(), 2, "{}", stderr(&output));
}

#[test]
fn a_byte_order_mark_is_ignored() {
    let mut input = b"\xEF\xBB\xBF".to_vec();
    input.extend_from_slice(example("waiting.json").as_bytes());
    let output = crate::run_with_stdin(convq().args(["query", "-"]), input);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), format!("{GOLDEN_OPTIONS}\n"));
}
