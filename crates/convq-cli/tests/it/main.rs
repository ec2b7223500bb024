//! End-to-end tests of the `convq` binary: real processes, real files from `examples/`, real
//! pipes. Snapshots record the arguments, stdin, exit status, stdout and stderr.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

mod docs;
mod errors;
mod formats;
mod get;
mod help;
mod ndjson;
mod options;
mod serve;
mod watch;

/// The golden case of the issue: the options string for `examples/waiting.json`.
const GOLDEN_OPTIONS: &str = "?$select=msdyn_ocliveworkitemid,_msdyn_liveworkstreamid_value,_msdyn_lastsessionid_value,statuscode,createdon,msdyn_title,msdyn_channel&$filter=_msdyn_activeagentid_value eq 2b330c52-6844-4d36-8e05-03c78c9681dc and statuscode eq 3&$orderby=createdon desc,activityid asc";

const AGENT: &str = "2b330c52-6844-4d36-8e05-03c78c9681dc";

/// `convq` run from the workspace root, so that `examples/...` paths in arguments and
/// snapshots are the ones the README uses.
fn convq() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_convq"));
    cmd.current_dir(workspace_root());
    // Help wraps at the terminal width; fix it so snapshots do not depend on the terminal.
    cmd.env("COLUMNS", "100");
    cmd.env_remove("CLICOLOR_FORCE");
    cmd
}

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("crates/convq-cli sits two levels below the workspace root")
}

fn example(name: &str) -> String {
    let path = workspace_root().join("examples").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Starts `cmd` with stdin, stdout and stderr all pipes to this test.
fn spawn_piped(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn convq")
}

/// Runs with `stdin` piped in (plain `Command`, for inputs too large to snapshot).
fn run_with_stdin(cmd: &mut Command, stdin: Vec<u8>) -> Output {
    use std::io::Write;
    let mut child = spawn_piped(cmd);
    let mut pipe = child.stdin.take().unwrap();
    // Written from a thread: the child may answer (and fill stdout) before reading everything.
    let writer = std::thread::spawn(move || pipe.write_all(&stdin));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    output
}

/// `convq` with these arguments, run to the end.
fn run(args: &[&str]) -> Output {
    convq().args(args).output().expect("run convq")
}

/// Checks the exit status; stderr says why when it is not the expected one.
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "{}", stderr(output));
}

/// Checks the exit status and that stderr contains `text`.
fn assert_exit_saying(output: &Output, code: i32, text: &str) {
    assert_exit(output, code);
    assert!(stderr(output).contains(text), "{}", stderr(output));
}

/// Checks that stderr starts with `prefix`.
fn assert_stderr_starts_with(output: &Output, prefix: &str) {
    assert!(stderr(output).starts_with(prefix), "{}", stderr(output));
}

/// Each line of stdout, parsed as JSON (NDJSON output).
fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

fn stdout(output: &Output) -> &str {
    std::str::from_utf8(&output.stdout).unwrap()
}

fn stderr(output: &Output) -> &str {
    std::str::from_utf8(&output.stderr).unwrap()
}
