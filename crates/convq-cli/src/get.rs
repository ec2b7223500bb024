//! `convq get`: run getConversations and print what it resolves with.

use std::collections::VecDeque;
use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use convq_backend::{
    Backend, EmbeddedStore, ErrorKind, Outcome as RunOutcome, RunContext, RunResult, TimeZone,
};
use convq_core::{Envelope, Options};

use crate::Outcome;
use crate::flags::data::DataArgs;
use crate::flags::dataverse::{DataverseArgs, PageSizeArgs};
use crate::flags::options::OptionsArgs;
use crate::input::{self, InputArgs, NdjsonLines, Source};
use crate::output;

pub(crate) mod watch;

pub(crate) const EXAMPLES: &str = "\
Examples:
  convq get examples/waiting.json
  convq get examples/active-and-waiting.json
  convq get --now 2026-11-20T12:00:00Z --time-zone Europe/Paris examples/active-and-waiting.json
  convq get --formatted-values examples/lookups.json
  convq get --data conversations.json examples/waiting.json
  az login && convq get --dataverse https://contoso.crm.dynamics.com examples/waiting.json
  convq get --dataverse https://contoso.crm.dynamics.com --auth managed-identity examples/waiting.json
  convq get --ndjson examples/batch.ndjson";

/// Run getConversations and print its answer.
///
/// Compiles the input like `convq query`, runs it, and prints the envelope getConversations
/// resolves with: {"result":{"values":[...]},"status":true}, or {"error":{...},"status":false}.
/// Pretty-printed on a terminal, one compact line otherwise.
///
/// Without --data or --dataverse it answers from the built-in sample store: 3,000 generated
/// conversations created in the 90 days up to 2026-11-20T12:00:00Z, which is "now" for it
/// unless --now says otherwise. Invalid input exits with 2, a failing backend with 3.
#[derive(Debug, clap::Args)]
pub(crate) struct GetArgs {
    #[command(flatten)]
    input: InputArgs,

    /// With --ndjson: lines run at once (their answers still print in input order). With
    /// --dataverse, lines of the same query shape share Dataverse requests.
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    concurrency: u32,

    #[command(flatten)]
    options: OptionsArgs,

    #[command(flatten)]
    data: DataArgs,

    #[command(flatten)]
    dataverse: DataverseArgs,

    #[command(flatten)]
    page: PageSizeArgs,

    #[command(flatten)]
    watch: crate::flags::stream::WatchArgs,
}

/// How long `get` waits for Dataverse unless `--dataverse-timeout` says otherwise.
const GET_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) fn run(args: &GetArgs) -> anyhow::Result<Outcome> {
    let Some(options) = output::options_or_report(args.options.options())? else {
        return Ok(Outcome::Rejected);
    };
    let backend = backend(args, &options)?;
    let source = args.input.source();
    let mut reader = source.open(args.input.file.is_some())?;
    let now = args
        .data
        .now
        .or_else(|| backend.reference_now())
        .unwrap_or_else(SystemTime::now);
    let mut ctx = RunContext::at(now)
        .with_time_zone(args.data.time_zone.clone().unwrap_or(TimeZone::UTC))
        .with_formatted_values(args.data.formatted_values);
    ctx.correlation_id.clone_from(&args.input.correlation_id);
    let mut options = options;
    if let Some(url) = &args.dataverse.dataverse {
        // The full request URL, checked against Dataverse's 32,768 characters as
        // `query --base-url` checks it: a longer one is an input error, not a failed request.
        options = options.with_base_url(url.as_str());
    }
    if args.watch.watch {
        drop(reader);
        return watch::run(args, backend, &options, ctx);
    }
    // Workers run the lines (--ndjson) while this thread reads the input: a read waiting on a
    // pipe never holds up the lines in flight.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let stdout = io::stdout();
    let pretty = stdout.is_terminal();
    let mut out = stdout.lock();
    let get = |text: Result<String, convq_core::Error>| match text {
        Ok(text) => runtime.block_on(convq_backend::get_conversations(
            backend.as_ref(),
            &text,
            &options,
            &ctx,
        )),
        // Input too large or not UTF-8: the core's own errors, rejected like any invalid input.
        Err(error) => RunResult::rejected(&error),
    };
    if args.input.ndjson {
        let lines = Lines {
            backend: Arc::from(backend),
            options: Arc::new(options),
            ctx,
            concurrency: args.concurrency as usize,
        };
        runtime.block_on(run_ndjson(&source, reader, lines, &mut out))
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
fn backend(args: &GetArgs, options: &Options) -> anyhow::Result<Box<dyn Backend>> {
    if let Some(url) = &args.dataverse.dataverse {
        if args.dataverse.auth == convq_dataverse::AuthMode::Passthrough {
            bail!(
                "--auth passthrough is for `convq serve` (it forwards each caller's token); \
                 here use default, token, azure-cli or another credential"
            );
        }
        // Warnings on stderr; RUST_LOG=info also says which credential signed in. (Why none
        // did is in the error itself.)
        crate::init_tracing("warn", crate::flags::service::LogFormat::Text);
        let auth = args
            .dataverse
            .dataverse_auth()
            .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
        let mut connect = convq_dataverse::ConnectOptions::default();
        connect.page_size = args.page.page_size;
        connect.total_timeout = args.dataverse.timeout.unwrap_or(GET_TIMEOUT);
        connect.max_concurrent = args.dataverse.max_concurrent as usize;
        connect.shared.coalesce_window = args.dataverse.coalesce_window;
        connect.shared.cache_ttl = args.dataverse.cache_ttl.unwrap_or(Duration::ZERO);
        connect.shared.status_filter = options.status_filter;
        let shared = convq_dataverse::connect(url, auth, &connect)
            .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
        return Ok(Box::new(shared));
    }
    if let Some(path) = &args.data.data {
        let store = EmbeddedStore::from_path(path).map_err(|e| {
            let at = if e.path().is_empty() {
                String::new()
            } else {
                format!(" at {}", e.path())
            };
            anyhow::anyhow!("[{}]{at} {e}", e.code())
        })?;
        for warning in store.load_warnings() {
            output::report_store_warning(warning);
        }
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
        RunOutcome::Failure(kind) if kind.is_input() => Outcome::Rejected,
        RunOutcome::Failure(_) => Outcome::BackendFailed,
    }
}

/// What each NDJSON line runs with.
struct Lines {
    backend: Arc<dyn Backend>,
    options: Arc<Options>,
    ctx: RunContext,
    concurrency: usize,
}

/// Runs the lines, up to `concurrency` at once, and prints each answer in input order. A
/// progress bar on a terminal (stderr), and a summary line on stderr at the end.
async fn run_ndjson(
    source: &Source,
    reader: impl BufRead,
    lines: Lines,
    out: &mut impl Write,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let progress = if io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::no_length().with_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos} lines ({per_sec}, {elapsed}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut summary = Summary::default();
    let mut pending: VecDeque<(usize, tokio::task::JoinHandle<RunResult>)> = VecDeque::new();
    let mut finish = |number: usize, result: RunResult, out: &mut dyn Write| {
        progress.suspend(|| summary.add(report(&result, Some(number))));
        progress.inc(1);
        output::print(&mut &mut *out, &serde_json::to_string(&result.envelope)?)
    };
    for line in NdjsonLines::new(reader) {
        let line = line.with_context(|| format!("cannot read {source}"))?;
        if pending.len() >= lines.concurrency
            && let Some((number, task)) = pending.pop_front()
        {
            finish(number, joined(task.await), out)?;
        }
        let (backend, options, ctx) = (
            Arc::clone(&lines.backend),
            Arc::clone(&lines.options),
            lines.ctx.clone(),
        );
        let task = tokio::spawn(async move {
            match line.text {
                Ok(text) => {
                    convq_backend::get_conversations(backend.as_ref(), &text, &options, &ctx).await
                }
                // Input too large or not UTF-8: the core's own errors, rejected like any
                // invalid input.
                Err(error) => RunResult::rejected(&error),
            }
        });
        pending.push_back((line.number, task));
    }
    while let Some((number, task)) = pending.pop_front() {
        finish(number, joined(task.await), out)?;
    }
    progress.finish_and_clear();
    let _ = writeln!(
        io::stderr(),
        "{} lines: {} ok, {} rejected, {} failed ({:.1} s)",
        summary.ok + summary.rejected + summary.failed,
        summary.ok,
        summary.rejected,
        summary.failed,
        started.elapsed().as_secs_f64()
    );
    // A backend failure (3) outweighs a rejected line (2).
    Ok(if summary.failed > 0 {
        Outcome::BackendFailed
    } else if summary.rejected > 0 {
        Outcome::Rejected
    } else {
        Outcome::Success
    })
}

/// A line's run, or (it cannot panic short of a bug) a failure envelope in its place.
fn joined(result: Result<RunResult, tokio::task::JoinError>) -> RunResult {
    result.unwrap_or_else(|error| RunResult {
        envelope: Envelope::failure(convq_core::ErrorBody::new(
            "internal_error",
            format!("the line could not be run: {error}"),
            "",
            None,
        )),
        outcome: RunOutcome::Failure(ErrorKind::Backend),
        warnings: Vec::new(),
    })
}

#[derive(Debug, Default)]
struct Summary {
    ok: usize,
    rejected: usize,
    failed: usize,
}

impl Summary {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Success => self.ok += 1,
            Outcome::Rejected => self.rejected += 1,
            Outcome::BackendFailed => self.failed += 1,
        }
    }
}
