use insta_cmd::assert_cmd_snapshot;

use crate::convq;

#[test]
fn top_level_help_shows_examples_and_exit_status() {
    assert_cmd_snapshot!(convq().arg("--help"));
}

#[test]
fn query_help_shows_every_option_examples_and_exit_status() {
    assert_cmd_snapshot!(convq().args(["query", "--help"]));
}

#[test]
fn short_help_shows_examples_only() {
    assert_cmd_snapshot!(convq().args(["query", "-h"]));
}

#[test]
fn no_arguments_print_help_on_stderr_and_exit_1() {
    assert_cmd_snapshot!(convq());
}

#[test]
fn usage_errors_exit_1_not_2() {
    assert_cmd_snapshot!(convq().args(["query", "--format", "sql", "examples/waiting.json"]));
    assert_cmd_snapshot!(convq().args(["query", "--frmat", "url", "examples/waiting.json"]));
}
