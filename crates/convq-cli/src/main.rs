//! `convq`: the command line of convq, a reimplementation of Dynamics 365 Omnichannel's
//! `Microsoft.Omnichannel.getConversations` query.
//!
//! Each subcommand lives in its own module with a clap `Args` struct and a
//! `run(&Args) -> anyhow::Result<Outcome>`; this file only parses the command line, dispatches,
//! and turns the result into the exit status documented in [`EXIT_STATUS`].

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// glibc's allocator took about a third of the service's CPU under load (every response buffer
// triggered `malloc_consolidate`); see docs/performance.md.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod config;
mod docs;
mod errors;
mod flags;
mod get;
mod health;
mod input;
mod output;
mod query;
mod serve;

const EXIT_STATUS: &str = "\
Exit status:
  0  success (warnings do not change it)
  1  convq could not do its job: a bad command line, a file it cannot read, stdout closed
  2  the input was rejected: an invalid getConversations input or option value
     (with --ndjson: at least one line was rejected; every line still got its answer)
  3  convq get: the backend failed to answer (Dataverse error, timeout, throttling);
     the failure envelope is on stdout (with --ndjson: at least one line)";

/// Compile Dynamics 365 Omnichannel getConversations input into Dataverse Web API queries.
///
/// convq takes the input JSON of Microsoft.Omnichannel.getConversations (agentId, attributes,
/// status, orderBy, createdBeforeDays, plus top), validates and normalizes it, and renders the
/// query for the conversation table msdyn_ocliveworkitems: the Xrm.WebApi options string, the
/// request URL, or FetchXML.
#[derive(Debug, Parser)]
#[command(
    name = "convq",
    version = VERSION,
    arg_required_else_help = true,
    after_help = query::EXAMPLES,
    after_long_help = long_help_footer(query::EXAMPLES),
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(after_help = query::EXAMPLES, after_long_help = long_help_footer(query::EXAMPLES))]
    Query(query::QueryArgs),
    #[command(after_help = get::EXAMPLES, after_long_help = long_help_footer(get::EXAMPLES))]
    Get(get::GetArgs),
    /// Serve getConversations over HTTP until SIGINT or SIGTERM.
    ///
    /// Routes: POST /getConversations, POST /getConversations/batch ({"inputs":[...]}), POST
    /// /query, GET /healthz, /readyz, /openapi.json, /metrics. Logs go to stderr (RUST_LOG=debug
    /// for more; --log-format json for log pipelines). Every flag can also be set by its CONVQ_*
    /// variable or in a --config file; a flag wins over its variable, the variable over the file.
    #[command(after_help = serve::EXAMPLES, after_long_help = long_help_footer(serve::EXAMPLES))]
    // Boxed: the service's flags are several times the size of the other commands'.
    Serve(Box<serve::ServeArgs>),
    #[command(after_help = health::EXAMPLES)]
    Healthcheck(health::HealthcheckArgs),
    #[command(after_help = docs::COMPLETIONS_EXAMPLES)]
    Completions(docs::CompletionsArgs),
    #[command(after_help = docs::MAN_EXAMPLES)]
    Man(docs::ManArgs),
    Errors(errors::ErrorsArgs),
}

/// `convq --version`: the version and the commit it was built from (see build.rs).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("CONVQ_COMMIT"), ")");

/// What `--help` shows after the options: the examples, then the exit status (`-h` shows the
/// examples only).
fn long_help_footer(examples: &str) -> String {
    format!("{examples}\n\n{EXIT_STATUS}")
}

/// The whole command line, for completions and man pages.
fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// How a subcommand that ran to the end went. Failures to run at all are `Err` instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Every input compiled.
    Success,
    /// At least one input was rejected, and reported.
    Rejected,
    /// A backend failed to answer at least one input (`convq get`), and it was reported.
    BackendFailed,
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version go to stdout and succeed; usage errors exit with 1, keeping 2
            // for rejected input so that scripts can tell the two apart.
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match &cli.command {
        Command::Query(args) => query::run(args),
        Command::Get(args) => get::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Healthcheck(args) => health::run(args),
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args),
        Command::Errors(args) => errors::run(args),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Rejected) => ExitCode::from(2),
        Ok(Outcome::BackendFailed) => ExitCode::from(3),
        Err(error) => {
            // A reader that stopped listening (`convq ... | head -1`) is not worth a message.
            let broken_pipe = error.chain().any(|cause| {
                cause
                    .downcast_ref::<io::Error>()
                    .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            });
            if !broken_pipe {
                let _ = writeln!(io::stderr(), "error: {error:#}");
            }
            ExitCode::from(1)
        }
    }
}

/// The command line, with `serve`'s settings from `PORT` and `--config` (see [`config`]).
fn parse() -> Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut matches = command().try_get_matches_from(&args)?;
    if let Some(("serve", serve)) = matches.subcommand() {
        let serve_command = command()
            .find_subcommand("serve")
            .cloned()
            .expect("serve is a subcommand");
        let reparse = config::serve_args(&serve_command, serve, &args)
            .map_err(|message| command().error(clap::error::ErrorKind::InvalidValue, message))?;
        if let Some(args) = reparse {
            matches = command().try_get_matches_from(&args)?;
        }
    }
    Cli::from_arg_matches(&matches)
}

/// Logs to stderr, one line per event; `RUST_LOG` overrides `default` (`info` for the service,
/// `warn` for `convq get`), except for the line that says where the server listens, which is
/// always printed (with port 0 it is the only way to learn the port).
pub(crate) fn init_tracing(default: &str, format: flags::service::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
        .add_directive(
            format!("{}=info", convq_http::LISTENING_TARGET)
                .parse()
                .expect("a valid directive"),
        );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second call keeps the first subscriber.
    let _ = match format {
        // One object per line, the event's fields (correlation_id, caller, route, status,
        // latency_us) at the top level beside timestamp, level, target and message.
        flags::service::LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        // Colour codes only for a person at a terminal, not in files and log collectors.
        flags::service::LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}
