use insta_cmd::assert_cmd_snapshot;

use crate::convq;

/// What each way of asking for help prints, and where: one snapshot each, named as when each
/// was its own test.
#[test]
fn help_output() {
    let cases: [(&str, &[&str]); 4] = [
        ("top_level_help_shows_examples_and_exit_status", &["--help"]),
        (
            "query_help_shows_every_option_examples_and_exit_status",
            &["query", "--help"],
        ),
        ("short_help_shows_examples_only", &["query", "-h"]),
        ("no_arguments_print_help_on_stderr_and_exit_1", &[]),
    ];
    for (name, args) in cases {
        assert_cmd_snapshot!(name, convq().args(args));
    }
}

/// A bad value and a misspelt flag: clap's usage errors, exit 1 (not clap's 2).
#[test]
fn usage_errors_exit_1_not_2() {
    for (name, args) in [
        ("usage_errors_exit_1_not_2", ["--format", "sql"]),
        ("usage_errors_exit_1_not_2-2", ["--frmat", "url"]),
    ] {
        assert_cmd_snapshot!(
            name,
            convq().arg("query").args(args).arg("examples/waiting.json")
        );
    }
}

/// `convq serve --help`: every flag of the service under its heading (Data, Compile options,
/// Dataverse, Service, Access), the groups `get` shares defined once.
#[test]
fn serve_help_shows_every_flag_under_its_heading() {
    assert_cmd_snapshot!(convq().args(["serve", "--help"]));
}
