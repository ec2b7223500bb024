//! `convq query`: compile getConversations input and print the Dataverse query.

use std::io::{self, BufRead, Write};

use anyhow::Context;
use convq_cli::OptionsError;
use convq_core::{Compiled, Options, StatusFilter, UnknownColumns};

use crate::Outcome;
use crate::flags::options::OptionsArgs;
use crate::input::{self, InputArgs, NdjsonLines, Source};
use crate::output;

pub(crate) const EXAMPLES: &str = "\
Examples:
  convq query examples/waiting.json
  convq query --format url --base-url https://contoso.crm.dynamics.com examples/waiting.json
  echo '{\"agentId\":\"2b330c52-6844-4d36-8e05-03c78c9681dc\",\"status\":[2,3]}' | convq query -
  convq query --format fetchxml examples/lookups.json
  convq query --ndjson examples/batch.ndjson";

/// Compile getConversations input into the Dataverse Web API query.
///
/// Reads one getConversations input (the JSON object with agentId, attributes, status, orderBy,
/// createdBeforeDays and top) and prints the query for the conversation table
/// (msdyn_ocliveworkitems) in the chosen --format, or with --ndjson compiles one input per line.
///
/// Results go to stdout; warnings and errors go to stderr, as `warning[code] at /pointer: message`
/// and `error[code] at /pointer: message` followed by a hint. Warnings do not change the exit
/// status; invalid input exits with 2.
#[derive(Debug, clap::Args)]
pub(crate) struct QueryArgs {
    /// What to print [default: options; with --ndjson, json]. With --ndjson, one line per
    /// input: that rendering on one line (FetchXML without its line breaks, JSON compact), or
    /// the failure envelope.
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<Format>,

    #[command(flatten)]
    input: InputArgs,

    #[command(flatten)]
    compile: CompileArgs,
}

/// The arguments that become [`Options`]: everything that shapes the query besides the input.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Compile options")]
pub(crate) struct CompileArgs {
    #[command(flatten)]
    file: OptionsArgs,

    /// Organization URL, e.g. https://contoso.crm.dynamics.com; makes `url` the full request URL.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,

    /// Reject columns the catalog does not know (by default they pass through with a warning,
    /// since organizations add custom columns).
    #[arg(long)]
    strict: bool,

    /// How a status filter with several values is written [default: or-chain].
    #[arg(long, value_enum, value_name = "STYLE")]
    status_filter: Option<StatusFilterArg>,
}

impl CompileArgs {
    /// The options from `--options`, then the flags given on top of them (a flag wins).
    pub(crate) fn options(&self) -> Result<Options, OptionsError> {
        let mut options = self.file.options()?;
        if let Some(style) = self.status_filter {
            options = options.with_status_filter(match style {
                StatusFilterArg::OrChain => StatusFilter::OrChain,
                StatusFilterArg::CrmIn => StatusFilter::CrmIn,
            });
        }
        if let Some(base_url) = &self.base_url {
            options = options.with_base_url(base_url);
        }
        if self.strict {
            options = options.with_unknown_columns(UnknownColumns::Error);
        }
        Ok(options)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StatusFilterArg {
    /// (statuscode eq 2 or statuscode eq 3): plain OData 4.0, accepted everywhere.
    OrChain,
    /// Microsoft.Dynamics.CRM.In(PropertyName='statuscode',PropertyValues=['2','3']).
    CrmIn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// The Xrm.WebApi.retrieveMultipleRecords options string: ?$select=...&$filter=...
    Options,
    /// The percent-encoded request URL (with --base-url), else the request path.
    Url,
    /// Everything compiled, as JSON; on invalid input, the failure envelope on stdout too.
    Json,
    /// The equivalent FetchXML query.
    Fetchxml,
    /// The normalized query (AST), as JSON.
    Ast,
}

pub(crate) fn run(args: &QueryArgs) -> anyhow::Result<Outcome> {
    let Some(options) = output::options_or_report(args.compile.options())? else {
        return Ok(Outcome::Rejected);
    };
    let source = args.input.source();
    let explicit_stdin = args.input.file.is_some();
    let mut reader = source.open(explicit_stdin)?;
    let mut stdout = io::stdout().lock();
    if args.input.ndjson {
        let format = args.format.unwrap_or(Format::Json);
        run_ndjson(&source, reader, &options, format, &mut stdout)
    } else {
        let format = args.format.unwrap_or(Format::Options);
        run_one(&source, &mut reader, &options, format, &mut stdout)
    }
}

fn run_one(
    source: &Source,
    reader: &mut dyn BufRead,
    options: &Options,
    format: Format,
    out: &mut impl Write,
) -> anyhow::Result<Outcome> {
    let text = input::read_document(reader).with_context(|| format!("cannot read {source}"))?;
    match text.and_then(|text| convq_core::compile(&text, options)) {
        Ok(compiled) => {
            for warning in &compiled.warnings {
                output::report_warning(warning, None);
            }
            output::print(out, &render(&compiled, format)?)?;
            Ok(Outcome::Success)
        }
        Err(error) => {
            output::report_error(&error, None);
            if format == Format::Json {
                output::print(out, &output::failure_envelope(&error)?)?;
            }
            Ok(Outcome::Rejected)
        }
    }
}

fn render(compiled: &Compiled, format: Format) -> serde_json::Result<String> {
    Ok(match format {
        Format::Options => compiled.options.clone(),
        Format::Url => compiled
            .url
            .clone()
            .unwrap_or_else(|| compiled.path.clone()),
        Format::Json => serde_json::to_string_pretty(compiled)?,
        Format::Fetchxml => compiled.fetchxml.clone(),
        Format::Ast => serde_json::to_string_pretty(&compiled.ast)?,
    })
}

/// One input's rendering on one line, for `--ndjson`.
fn render_line(compiled: &Compiled, format: Format) -> serde_json::Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string(compiled)?,
        Format::Ast => serde_json::to_string(&compiled.ast)?,
        // The core indents FetchXML between elements only (names, GUIDs and numbers hold no
        // line breaks), so dropping each break and its indentation keeps the same document.
        Format::Fetchxml => compiled.fetchxml.lines().map(str::trim_start).collect(),
        Format::Options | Format::Url => render(compiled, format)?,
    })
}

fn run_ndjson(
    source: &Source,
    reader: impl BufRead,
    options: &Options,
    format: Format,
    out: &mut impl Write,
) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::Success;
    for line in NdjsonLines::new(reader) {
        let line = line.with_context(|| format!("cannot read {source}"))?;
        let json = match line
            .text
            .and_then(|text| convq_core::compile(&text, options))
        {
            Ok(compiled) => {
                for warning in &compiled.warnings {
                    output::report_warning(warning, Some(line.number));
                }
                render_line(&compiled, format)?
            }
            Err(error) => {
                output::report_error(&error, Some(line.number));
                outcome = Outcome::Rejected;
                output::failure_envelope(&error)?
            }
        };
        output::print(out, &json)?;
    }
    Ok(outcome)
}
