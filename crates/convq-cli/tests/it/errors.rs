use insta_cmd::assert_cmd_snapshot;

use crate::{AGENT, assert_exit, assert_stderr_starts_with, convq, run_with_stdin, stdout};

const BAD_AGENT: &str = r#"{"agentId": "2b330c52-6844-4d36-8e05"}"#;

#[test]
fn invalid_input_exits_2_with_code_path_and_hint_on_stderr() {
    assert_cmd_snapshot!(convq().args(["query", "-"]).pass_stdin(BAD_AGENT));
}

#[test]
fn invalid_input_with_json_format_prints_the_failure_envelope_on_stdout() {
    let output = run_with_stdin(
        convq().args(["query", "--format", "json", "-"]),
        BAD_AGENT.into(),
    );
    assert_exit(&output, 2);
    // One compact line: the API's failure envelope, nothing else.
    assert_eq!(stdout(&output).lines().count(), 1);
    let envelope: serde_json::Value = serde_json::from_str(stdout(&output)).unwrap();
    assert_eq!(envelope["status"], false);
    assert_eq!(envelope["error"]["code"], "invalid_agent_id");
    assert_eq!(envelope["error"]["path"], "/agentId");
    assert_stderr_starts_with(&output, "error[invalid_agent_id] at /agentId: ");
    assert_cmd_snapshot!(
        convq()
            .args(["query", "--format", "json", "-"])
            .pass_stdin(BAD_AGENT)
    );
}

#[test]
fn other_formats_print_nothing_on_stdout_for_invalid_input() {
    for format in ["options", "url", "fetchxml", "ast"] {
        let output = run_with_stdin(
            convq().args(["query", "--format", format, "-"]),
            BAD_AGENT.into(),
        );
        assert_eq!(output.status.code(), Some(2), "{format}");
        assert_eq!(stdout(&output), "", "{format}");
    }
}

#[test]
fn a_typo_gets_did_you_mean() {
    assert_cmd_snapshot!(convq().args(["query", "examples/invalid.json"]));
}

#[test]
fn malformed_json_reports_line_and_column() {
    assert_cmd_snapshot!(
        convq()
            .args(["query", "-"])
            .pass_stdin(format!("{{\n  \"agentId\": \"{AGENT}\",\n}}"))
    );
}

#[test]
fn input_that_is_not_utf8_is_invalid_json() {
    let output = run_with_stdin(
        convq().args(["query", "--format", "json", "-"]),
        b"{\"agentId\": \"\xff\"}".to_vec(),
    );
    assert_exit(&output, 2);
    assert_eq!(
        stdout(&output),
        "{\"error\":{\"code\":\"invalid_json\",\"message\":\"the input is not valid JSON: \
         invalid UTF-8 byte 0xff (line 1, column 14)\",\"path\":\"\"},\"status\":false}\n"
    );
}

#[test]
fn input_over_1_mib_is_rejected_with_its_size() {
    let mut input = format!(r#"{{"agentId": "{AGENT}"}}"#).into_bytes();
    input.resize(3 * 1024 * 1024, b' ');
    let output = run_with_stdin(convq().args(["query", "--format", "json", "-"]), input);
    assert_exit(&output, 2);
    let envelope: serde_json::Value = serde_json::from_str(stdout(&output)).unwrap();
    assert_eq!(envelope["error"]["code"], "input_too_large");
    assert_eq!(
        envelope["error"]["message"],
        "the input is 3145728 bytes; the limit is 1048576 bytes"
    );
}

#[test]
fn strict_mode_rejects_unknown_columns() {
    let input = format!(r#"{{"agentId":"{AGENT}","attributes":["msdyn_titel"]}}"#);
    assert_cmd_snapshot!(
        convq()
            .args(["query", "--strict", "-"])
            .pass_stdin(input.clone())
    );
    // Without --strict the same input compiles, with a warning.
    let output = run_with_stdin(convq().args(["query", "-"]), input.into_bytes());
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains(",msdyn_titel&"),
        "{}",
        stdout(&output)
    );
    assert_stderr_starts_with(&output, "warning[unknown_column] at /attributes/0: ");
}

#[test]
fn an_invalid_base_url_is_rejected_input() {
    assert_cmd_snapshot!(convq().args([
        "query",
        "--format",
        "url",
        "--base-url",
        "contoso.crm.dynamics.com",
        "examples/waiting.json"
    ]));
}

#[test]
fn a_missing_file_exits_1_and_names_it() {
    assert_cmd_snapshot!(convq().args(["query", "examples/does-not-exist.json"]));
}

#[test]
fn a_directory_is_not_readable_input() {
    let output = convq().args(["query", "examples"]).output().unwrap();
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "");
    assert_stderr_starts_with(&output, "error: cannot read examples: ");
}

#[test]
fn a_utf16_file_is_read_like_its_utf8_text() {
    // What Windows PowerShell 5's `>` writes: UTF-16 little-endian with a byte order mark.
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("utf16.json");
    let text = crate::example("waiting.json");
    let bytes: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    std::fs::write(&path, bytes).unwrap();
    let utf16 = convq().args(["query"]).arg(&path).output().unwrap();
    let utf8 = convq()
        .args(["query", "examples/waiting.json"])
        .output()
        .unwrap();
    assert_exit(&utf16, 0);
    assert_exit(&utf8, 0);
    assert!(stdout(&utf16).contains("$filter="), "{}", stdout(&utf16));
    assert_eq!(stdout(&utf16), stdout(&utf8));
}
