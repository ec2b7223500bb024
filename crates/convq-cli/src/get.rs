//! `convq get`: run getConversations and print what it resolves with.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use convq_backend::{
    Backend, DataverseClient, DataverseConfig, EmbeddedStore, Outcome as RunOutcome, RunContext,
    RunResult,
};
use convq_core::Envelope;

use crate::Outcome;
use crate::input::{self, InputArgs, NdjsonLines, Source};
use crate::output;
use crate::query::OptionsArg;

pub(crate) const EXAMPLES: &str = "\
Examples:
  convq get examples/waiting.json
  convq get --now 2026-11-20T12:00:00Z examples/active-and-waiting.json
  convq get --data conversations.json examples/waiting.json
  CONVQ_DATAVERSE_TOKEN=... convq get --dataverse https://contoso.crm.dynamics.com examples/waiting.json
  convq get --ndjson examples/batch.ndjson";

/// Run getConversations and print its answer.
///
/// Compiles the input like `convq query`, runs it, and prints the envelope getConversations
/// resolves with: {"result":{"values":[...]},"status":true}, or {"error":{...},"status":false}.
/// Pretty-printed on a terminal, one compact line otherwise.
///
/// Without --data or --dataverse it answers from the built-in sample store: 3,000 generated
/// conversations created in the 90 days up to 2026-11-20T12:00:00Z (pass --now near that date
/// for createdBeforeDays). Invalid input exits with 2, a failing backend with 3.
#[derive(Debug, clap::Args)]
pub(crate) struct GetArgs {
    #[command(flatten)]
    input: InputArgs,

    #[command(flatten)]
    options: OptionsArg,

    /// Answer from this conversation file (a saved Web API response body, a JSON array of
    /// records, or NDJSON) instead of the sample store.
    #[arg(long, value_name = "FILE", conflicts_with = "dataverse")]
    data: Option<PathBuf>,

    /// Answer from this Dataverse organization (e.g. https://contoso.crm.dynamics.com), with
    /// the bearer token from the CONVQ_DATAVERSE_TOKEN environment variable.
    #[arg(long, value_name = "URL")]
    dataverse: Option<String>,

    /// "Now" for createdBeforeDays with a store (RFC 3339, e.g. 2026-11-20T12:00:00Z); the
    /// clock by default. Dataverse always uses its own clock.
    #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
    now: Option<SystemTime>,

    /// Rows per Dataverse page (Prefer: odata.maxpagesize), 1..=5000.
    #[arg(long, value_name = "N", requires = "dataverse",
          value_parser = clap::value_parser!(u32).range(1..=5_000))]
    page_size: Option<u32>,

    /// Longest the Dataverse fetch may take, all pages and retries included (e.g. 20s, 500ms,
    /// 2m; a bare number is seconds).
    #[arg(long, value_name = "DURATION", requires = "dataverse", default_value = "60s",
          value_parser = convq_http::parse_duration)]
    timeout: Duration,
}

fn parse_now(text: &str) -> Result<SystemTime, String> {
    convq_backend::parse_timestamp(text).map_err(|e| e.to_string())
}

pub(crate) fn run(args: &GetArgs) -> anyhow::Result<Outcome> {
    let Some(options) = output::options_or_report(args.options.options())? else {
        return Ok(Outcome::Rejected);
    };
    let backend = backend(args)?;
    let source = args.input.source();
    let mut reader = source.open(args.input.file.is_some())?;
    let mut ctx = RunContext::at(args.now.unwrap_or_else(SystemTime::now));
    ctx.correlation_id = args.input.correlation_id.clone();
    // One request at a time: a current-thread runtime, only in this subcommand.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let stdout = io::stdout();
    let pretty = stdout.is_terminal();
    let mut out = stdout.lock();
    let mut get = |text: Result<String, convq_core::Error>| match text {
        Ok(text) => runtime.block_on(convq_backend::get_conversations(
            backend.as_ref(),
            &text,
            &options,
            &ctx,
        )),
        // Input too large or not UTF-8: the core's own errors, rejected like any invalid input.
        Err(error) => RunResult {
            envelope: Envelope::from(&error),
            outcome: RunOutcome::InvalidInput,
            warnings: Vec::new(),
        },
    };
    if args.input.ndjson {
        run_ndjson(&source, reader, &mut get, &mut out)
    } else {
        let text =
            input::read_document(&mut reader).with_context(|| format!("cannot read {source}"))?;
        let result = get(text);
        let outcome = report(&result, None);
        let json = if pretty {
            serde_json::to_string_pretty(&result.envelope)?
        } else {
            serde_json::to_string(&result.envelope)?
        };
        output::print(&mut out, &json)?;
        Ok(outcome)
    }
}

/// The backend the flags ask for. Failing to set one up is a failure to run (exit 1), not a
/// getConversations answer: no query ran.
fn backend(args: &GetArgs) -> anyhow::Result<Box<dyn Backend>> {
    if let Some(url) = &args.dataverse {
        let Some(token) = std::env::var(convq_http::TOKEN_VAR)
            .ok()
            .filter(|t| !t.trim().is_empty())
        else {
            bail!(
                "--dataverse needs a bearer token in the {} environment variable",
                convq_http::TOKEN_VAR
            );
        };
        let mut config = DataverseConfig::new(url.clone(), token.trim());
        config.page_size = args.page_size;
        config.total_timeout = args.timeout;
        let client =
            DataverseClient::new(config).map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
        return Ok(Box::new(client));
    }
    if let Some(path) = &args.data {
        let store = EmbeddedStore::from_path(path).map_err(|e| {
            let at = if e.path().is_empty() {
                String::new()
            } else {
                format!(" at {}", e.path())
            };
            anyhow::anyhow!("[{}]{at} {e}", e.code())
        })?;
        return Ok(Box::new(store));
    }
    Ok(Box::new(EmbeddedStore::sample()))
}

/// Reports a failure (and compile warnings) on stderr; returns the CLI outcome.
fn report(result: &RunResult, line: Option<usize>) -> Outcome {
    for warning in &result.warnings {
        output::report_warning(warning, line);
    }
    if let Envelope::Failure { error, .. } = &result.envelope {
        output::report_failure(error, line);
    }
    match result.outcome {
        RunOutcome::Success => Outcome::Success,
        RunOutcome::InvalidInput => Outcome::Rejected,
        RunOutcome::BackendFailure { .. } => Outcome::BackendFailed,
    }
}

fn run_ndjson(
    source: &Source,
    reader: impl BufRead,
    get: &mut impl FnMut(Result<String, convq_core::Error>) -> RunResult,
    out: &mut impl Write,
) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::Success;
    for line in NdjsonLines::new(reader) {
        let line = line.with_context(|| format!("cannot read {source}"))?;
        let result = get(line.text);
        // A backend failure (3) outweighs a rejected line (2).
        outcome = match (outcome, report(&result, Some(line.number))) {
            (Outcome::BackendFailed, _) | (_, Outcome::BackendFailed) => Outcome::BackendFailed,
            (Outcome::Rejected, _) | (_, Outcome::Rejected) => Outcome::Rejected,
            _ => Outcome::Success,
        };
        output::print(out, &serde_json::to_string(&result.envelope)?)?;
    }
    Ok(outcome)
}
