//! Code generation: one `generate(mode)` per artefact, sharing [`ensure_file_contents`].
//!
//! Generators read their sources only (never what they generate: no bootstrapping), render the
//! whole file, and hand it to [`ensure_file_contents`], which writes it or, in check mode,
//! reports it stale.

pub(crate) mod catalog;
pub(crate) mod docs;
pub(crate) mod performance;
pub(crate) mod reference;
pub(crate) mod schema;
pub(crate) mod typescript;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::{fs, io};

use anyhow::{Context as _, bail};

use crate::project_root;

/// What a generator does with a file whose committed contents differ from what it renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Overwrite the file.
    Write,
    /// Leave the file alone and fail.
    Check,
}

impl Mode {
    pub(crate) fn from_check(check: bool) -> Self {
        if check { Self::Check } else { Self::Write }
    }
}

/// Runs every generator. In check mode it reports every stale file, not just the first.
pub(crate) fn run(mode: Mode) -> anyhow::Result<()> {
    let results = [
        catalog::generate(mode),
        schema::generate(mode),
        typescript::generate(mode),
        docs::generate(mode),
        reference::generate(mode),
        performance::generate(mode),
    ];
    let mut errors: Vec<String> = Vec::new();
    for message in results
        .into_iter()
        .filter_map(Result::err)
        .map(|e| format!("{e:#}"))
    {
        // Generators sharing a source report the same problem with it once.
        if !errors.contains(&message) {
            errors.push(message);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        bail!("{}", errors.join("\n"))
    }
}

/// Makes `path` (relative to the project root) hold `contents`.
///
/// Newlines are normalized to `\n` on both sides before comparing, so a CRLF checkout is not
/// "stale". In [`Mode::Write`] a differing or missing file is written and `updated <path>` is
/// printed; in [`Mode::Check`] it is an error that says how to fix it.
pub(crate) fn ensure_file_contents(path: &Path, contents: &str, mode: Mode) -> anyhow::Result<()> {
    let contents = normalize_newlines(contents);
    let full = project_root().join(path);
    let current = match fs::read_to_string(&full) {
        Ok(text) => Some(normalize_newlines(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if current.as_deref() == Some(contents.as_str()) {
        return Ok(());
    }
    match mode {
        Mode::Check => bail!(
            "{} is stale: run `cargo xtask codegen` and commit the result",
            path.display()
        ),
        Mode::Write => {
            if let Some(dir) = full.parent() {
                fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            fs::write(&full, contents).with_context(|| format!("writing {}", path.display()))?;
            println!("updated {}", path.display());
            Ok(())
        }
    }
}

fn normalize_newlines(text: &str) -> String {
    text.replace("\r\n", "\n")
}

/// Formats Rust source with `rustfmt --edition 2024` (through stdin, from the project root so a
/// `rustfmt.toml` there applies), so generated code passes `cargo fmt --check`.
pub(crate) fn reformat(source: &str) -> anyhow::Result<String> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024"])
        .current_dir(project_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running rustfmt (install it with `rustup component add rustfmt`)")?;
    // Write from a second thread: rustfmt may fill the stdout pipe before it has read all input.
    let mut stdin = child.stdin.take().context("rustfmt stdin")?;
    let input = source.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().context("waiting for rustfmt")?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the thread feeding rustfmt panicked"))?
        .context("writing to rustfmt")?;
    if !output.status.success() {
        bail!(
            "rustfmt failed on generated code ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8(output.stdout).context("rustfmt printed invalid UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cargo test` fails when a committed generated file no longer matches its source.
    #[test]
    fn codegen_is_fresh() {
        if let Err(e) = run(Mode::Check) {
            panic!("{e:#}");
        }
    }

    #[test]
    fn newlines_are_normalized() {
        assert_eq!(normalize_newlines("a\r\nb\n"), "a\nb\n");
    }
}
