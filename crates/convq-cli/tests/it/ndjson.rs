use std::io::{BufRead, BufReader, Write};
use std::sync::mpsc;
use std::time::Duration;

use insta_cmd::assert_cmd_snapshot;

use crate::{
    AGENT, GOLDEN_OPTIONS, assert_exit, assert_stderr_starts_with, convq, example, json_lines, run,
    run_with_stdin, spawn_piped, stderr, stdout,
};

#[test]
fn batch_gives_one_line_per_input_in_order_and_exits_2() {
    let output = run(&["query", "--ndjson", "examples/batch.ndjson"]);
    assert_exit(&output, 2);
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0]["filter"],
        format!("_msdyn_activeagentid_value eq {AGENT} and statuscode eq 3")
    );
    assert_eq!(lines[1]["status"], false);
    assert_eq!(lines[1]["error"]["code"], "invalid_agent_id");
    assert_eq!(lines[2]["ast"]["createdBeforeDays"]["days"], 7);
    assert_cmd_snapshot!(convq().args(["query", "--ndjson", "examples/batch.ndjson"]));
}

#[test]
fn results_match_single_input_json() {
    // The same data as `--format json`, on one line.
    let single = run(&["query", "--format", "json", "examples/waiting.json"]);
    let single: serde_json::Value = serde_json::from_str(stdout(&single)).unwrap();
    assert_eq!(single["options"], GOLDEN_OPTIONS);
    let input = serde_json::to_string(
        &serde_json::from_str::<serde_json::Value>(&example("waiting.json")).unwrap(),
    )
    .unwrap();
    let output = run_with_stdin(
        convq().args(["query", "--ndjson"]),
        format!("{input}\n").into_bytes(),
    );
    assert_exit(&output, 0);
    let lines: Vec<&str> = stdout(&output).lines().collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(lines[0]).unwrap(),
        single
    );
}

#[test]
fn blank_lines_are_skipped_and_diagnostics_name_input_lines() {
    let input = format!(
        "\n{{\"agentId\":\"{AGENT}\",\"attributes\":[\"new_x\"]}}\r\n   \n{{\"agentId\":1}}\n{{\"agentId\":\"{AGENT}\"}}"
    );
    assert_cmd_snapshot!(convq().args(["query", "--ndjson", "-"]).pass_stdin(input));
}

#[test]
fn an_oversized_line_does_not_stop_the_rest() {
    let mut input = vec![b' '; 1024 * 1024 + 1];
    input.extend_from_slice(format!("\n{{\"agentId\":\"{AGENT}\"}}\n").as_bytes());
    let output = run_with_stdin(convq().args(["query", "--ndjson", "-"]), input);
    assert_exit(&output, 2);
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["error"]["code"], "input_too_large");
    assert_eq!(lines[1]["ast"]["agentId"], AGENT);
    assert_stderr_starts_with(
        &output,
        "line 1: error[input_too_large]: the input is 1048577 bytes",
    );
}

#[test]
fn all_valid_lines_exit_0() {
    let output = run_with_stdin(
        convq().args([
            "query",
            "--ndjson",
            "--base-url",
            "https://contoso.crm.dynamics.com",
            "-",
        ]),
        format!("{{\"agentId\":\"{AGENT}\"}}\n{{\"agentId\":\"{AGENT}\",\"top\":5}}\n")
            .into_bytes(),
    );
    assert_exit(&output, 0);
    let urls: Vec<String> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["url"].to_string())
        .collect();
    assert_eq!(urls.len(), 2);
    assert!(
        urls.iter()
            .all(|u| u.starts_with("\"https://contoso.crm.dynamics.com/api/data/v9.2/"))
    );
    assert!(urls[1].ends_with("&$top=5\""), "{}", urls[1]);
}

/// Each answer arrives while stdin is still open: a producer can write a line and wait for it.
#[test]
fn answers_stream_before_the_input_ends() {
    let mut child = spawn_piped(convq().args(["query", "--ndjson", "-"]));
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });

    for (status, expected) in [(3, "statuscode eq 3"), (1, "statuscode eq 1")] {
        writeln!(stdin, r#"{{"agentId":"{AGENT}","status":[{status}]}}"#).unwrap();
        stdin.flush().unwrap();
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("an answer per line while stdin stays open");
        let compiled: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(
            compiled["filter"].as_str().unwrap().ends_with(expected),
            "{line}"
        );
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert!(
        rx.recv_timeout(Duration::from_secs(30)).is_err(),
        "no extra output"
    );
}

/// `get --ndjson` runs lines at once but prints in input order, the same answers as one at a
/// time, and ends with a summary line on stderr.
#[test]
fn get_ndjson_runs_lines_at_once_in_order_with_a_summary() {
    let mut input = String::new();
    for top in 1..=40 {
        input.push_str(&format!("{{\"agentId\":\"{AGENT}\",\"top\":{top}}}\n"));
    }
    input.push_str("{\"agentId\":\"x\"}\n");
    let run = |concurrency: &str| {
        run_with_stdin(
            convq().args(["get", "--ndjson", "--concurrency", concurrency, "-"]),
            input.clone().into_bytes(),
        )
    };
    let (one, many) = (run("1"), run("16"));
    assert_eq!(stdout(&one), stdout(&many));
    let lines = json_lines(&many);
    assert_eq!(lines.len(), 41);
    for (index, line) in lines[..40].iter().enumerate() {
        assert_eq!(
            line["result"]["values"].as_array().unwrap().len(),
            index + 1
        );
    }
    assert_exit(&many, 2);
    let last = stderr(&many).lines().last().unwrap().to_owned();
    assert!(
        last.starts_with("41 lines: 40 ok, 1 rejected, 0 failed ("),
        "{}",
        stderr(&many)
    );
}

#[test]
fn ndjson_combines_with_format_one_line_per_input() {
    assert_cmd_snapshot!(convq().args([
        "query",
        "--ndjson",
        "--format",
        "url",
        "--base-url",
        "https://contoso.crm.dynamics.com",
        "examples/batch.ndjson"
    ]));
    // FetchXML on one line: the same document as `--format fetchxml` without its line breaks.
    let output = run(&[
        "query",
        "--ndjson",
        "--format",
        "fetchxml",
        "examples/batch.ndjson",
    ]);
    assert_exit(&output, 2);
    let lines: Vec<&str> = stdout(&output).lines().collect();
    assert_eq!(lines.len(), 3);
    let first_input = example("batch.ndjson").lines().next().unwrap().to_owned();
    let single = run_with_stdin(
        convq().args(["query", "--format", "fetchxml", "-"]),
        first_input.into(),
    );
    assert!(stdout(&single).lines().count() > 5, "FetchXML is indented");
    let joined: String = stdout(&single).lines().map(str::trim_start).collect();
    assert_eq!(lines[0], joined);
    assert!(
        lines[0].starts_with("<fetch><entity name=\"msdyn_ocliveworkitem\">"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(r#"{"error":{"code":"invalid_agent_id""#),
        "{}",
        lines[1]
    );
    assert!(lines[2].ends_with("</fetch>"), "{}", lines[2]);
    // AST and JSON are compact, one object per line.
    for format in ["ast", "json"] {
        let output = run(&[
            "query",
            "--ndjson",
            "--format",
            format,
            "examples/batch.ndjson",
        ]);
        for line in stdout(&output).lines() {
            let _: serde_json::Value = serde_json::from_str(line).unwrap();
        }
        assert_eq!(stdout(&output).lines().count(), 3, "{format}");
    }
}
