//! The compile options: `--options` and `--created-before-days`, taken by `query`, `get` and
//! `serve` (heading "Compile options"; `query` adds its own flags under it).

use convq_cli::OptionsError;
use convq_core::{DaysReading, Options};

/// `--options FILE|JSON`, and `--created-before-days` on top.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Compile options")]
pub(crate) struct OptionsArgs {
    /// Compile options: a JSON file, or the JSON itself (the camelCase form of
    /// convq_core::Options, e.g. {"unknownColumns":"error","extraColumns":[...]}).
    #[arg(long, value_name = "FILE|JSON")]
    options: Option<String>,

    /// What createdBeforeDays N means: created within the last N days (LastXDays) or more than
    /// N days ago (OlderThanXDays); the getConversations documentation does not say which
    /// [default: last-x-days]. Overrides --options.
    #[arg(long, value_enum, value_name = "READING")]
    created_before_days: Option<DaysReadingArg>,
}

impl OptionsArgs {
    /// The options given, or the defaults, with `--created-before-days` on top.
    pub(crate) fn options(&self) -> Result<Options, OptionsError> {
        let options = self
            .options
            .as_deref()
            .map_or_else(|| Ok(Options::default()), read_options)?;
        Ok(match self.created_before_days {
            Some(reading) => options.with_created_before_days(reading.into()),
            None => options,
        })
    }
}

/// `--created-before-days`: what `createdBeforeDays: N` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DaysReadingArg {
    /// Created within the last N days: Microsoft.Dynamics.CRM.LastXDays / last-x-days.
    LastXDays,
    /// Created more than N days ago: Microsoft.Dynamics.CRM.OlderThanXDays / olderthan-x-days.
    OlderThanXDays,
}

impl From<DaysReadingArg> for DaysReading {
    fn from(reading: DaysReadingArg) -> Self {
        match reading {
            DaysReadingArg::LastXDays => DaysReading::LastXDays,
            DaysReadingArg::OlderThanXDays => DaysReading::OlderThanXDays,
        }
    }
}

/// Reads an `--options` value: the options JSON itself (it starts with `{`), or the path of a
/// file that holds it (`FILE`, or `@FILE` as earlier versions spelled it). The options are
/// checked once here (a bad base URL would otherwise fail every request).
///
/// # Errors
/// [`OptionsError::File`] when the file cannot be read, [`OptionsError::Invalid`] when the
/// JSON is not valid options.
fn read_options(given: &str) -> Result<Options, OptionsError> {
    let (text, from) = if given.trim_start().starts_with('{') {
        (given.to_owned(), String::new())
    } else {
        let path = given.strip_prefix('@').unwrap_or(given);
        let file_error = |error| OptionsError::File {
            path: path.into(),
            error,
        };
        let bytes = std::fs::read(path).map_err(file_error)?;
        let text = convq_core::decode_input(&bytes)
            .map_err(|e| OptionsError::Invalid(format!("{e} in {path}")))?
            .into_owned();
        (text, format!(" in {path}"))
    };
    // The core's reading, as the HTTP service and the wasm package read options; the message
    // names the pointer so a long options file can be fixed.
    let options = Options::from_json(&text).map_err(|error| {
        let at = match error.path() {
            "" => String::new(),
            pointer => format!(" (at {pointer})"),
        };
        let message = match &error {
            convq_core::Error::InvalidOptions { message, .. } => message.clone(),
            other => other.to_string(),
        };
        OptionsError::Invalid(format!("{message}{at}{from}"))
    })?;
    // Checked once here: a bad base URL would otherwise fail every request.
    if let Err(error) = convq_core::compile(
        r#"{"agentId":"00000000-0000-0000-0000-000000000000"}"#,
        &options,
    ) {
        return Err(OptionsError::Invalid(format!("{error}{from}")));
    }
    Ok(options)
}
