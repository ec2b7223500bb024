//! What the CLI prints: results on stdout, diagnostics on stderr, never mixed.
//!
//! Diagnostics read `error[code] at /pointer: message` (then `  hint: ...`) and
//! `warning[code] at /pointer: message`, prefixed with `line N: ` when the input is NDJSON.
//! Machine-readable output (results, failure envelopes) goes to stdout only.

use std::fmt::Write as _;
use std::io::{self, Write};

use convq_cli::OptionsError;
use convq_core::{Envelope, Error, ErrorBody, Options, Warning};

/// Writes a result to stdout, ending it with exactly one newline, and flushes (NDJSON consumers
/// wait for each line).
///
/// # Errors
/// stdout is closed or cannot be written.
pub(crate) fn print(out: &mut impl Write, text: &str) -> io::Result<()> {
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// The failure envelope `{"error":{...},"status":false}` as one compact JSON line.
///
/// # Errors
/// Never in practice: the envelope is strings and a boolean.
pub(crate) fn failure_envelope(error: &Error) -> serde_json::Result<String> {
    serde_json::to_string(&Envelope::from(error))
}

/// Reports a rejected input on stderr.
pub(crate) fn report_error(error: &Error, line: Option<usize>) {
    let mut text = format_diagnostic(
        "error",
        error.code(),
        error.path(),
        &error.to_string(),
        line,
    );
    if let Some(hint) = error.hint() {
        let _ = writeln!(text, "  hint: {hint}");
    }
    to_stderr(&text);
}

/// Reports the error of a failure envelope on stderr (`convq get`, where the error may come from
/// a backend rather than the core).
pub(crate) fn report_failure(error: &ErrorBody, line: Option<usize>) {
    let mut text = format_diagnostic("error", &error.code, &error.path, &error.message, line);
    if let Some(hint) = &error.hint {
        let _ = writeln!(text, "  hint: {hint}");
    }
    to_stderr(&text);
}

/// Reports a warning on stderr.
pub(crate) fn report_warning(warning: &Warning, line: Option<usize>) {
    to_stderr(&format_diagnostic(
        "warning",
        warning.code.as_str(),
        &warning.path,
        &warning.message,
        line,
    ));
}

/// Reports what loading a `--data` store noticed (a lookup's logical name, an unknown property).
pub(crate) fn report_store_warning(warning: &convq_backend::LoadWarning) {
    to_stderr(&format_diagnostic(
        "warning",
        warning.code,
        &warning.path,
        &warning.message,
        None,
    ));
}

fn format_diagnostic(
    severity: &str,
    code: &str,
    path: &str,
    message: &str,
    line: Option<usize>,
) -> String {
    let mut text = String::new();
    if let Some(line) = line {
        let _ = write!(text, "line {line}: ");
    }
    let _ = write!(text, "{severity}[{code}]");
    if !path.is_empty() {
        let _ = write!(text, " at {path}");
    }
    let _ = writeln!(text, ": {message}");
    text
}

/// Diagnostics are best effort: if stderr is gone there is nobody to tell, and the exit code
/// still says what happened.
fn to_stderr(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// The options of `--options` and the flags. Invalid options are rejected like invalid input:
/// reported on stderr in the same shape, `Ok(None)` (exit 2). A file that cannot be read is a
/// failure to run (`Err`, exit 1), like an unreadable input file.
///
/// # Errors
/// The `--options` file cannot be read.
pub(crate) fn options_or_report(
    options: Result<Options, OptionsError>,
) -> anyhow::Result<Option<Options>> {
    match options {
        Ok(options) => Ok(Some(options)),
        Err(error @ OptionsError::File { .. }) => Err(error.into()),
        Err(error) => {
            to_stderr(&format_diagnostic(
                "error",
                error.code(),
                "",
                &error.to_string(),
                None,
            ));
            Ok(None)
        }
    }
}
