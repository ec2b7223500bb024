//! Repository automation for convq, run as `cargo xtask <command>` (matklad's cargo-xtask
//! convention; the alias lives in `.cargo/config.toml`).
//!
//! - `cargo xtask codegen [--check]`: regenerate every generated file from its source of truth
//!   (`crates/convq-core/src/catalog/generated.rs` and `docs/reference/columns.md` from
//!   `metadata/msdyn_ocliveworkitem.json`; `schema/*.schema.json` and `docs/reference/input.md`,
//!   `errors.md` from the types in `convq-core`). With `--check`, write nothing and fail if a file is
//!   stale.
//! - `cargo xtask docs [--check]`: the same, for the reference docs only.
//! - `cargo xtask sample-data [--check]`: regenerate the seeded sample conversation store
//!   `crates/convq-backend/data/sample-conversations.json` (see `sample_data.rs`).
//! - `cargo xtask wasm [--test] [--bench]`: build the npm package `crates/convq-wasm/pkg/` with
//!   the tools `scripts/setup-wasm.sh` installs (see `wasm.rs`); `--test` runs its Node and
//!   browser tests.
//! - `cargo xtask dist`: write what a release ships to `target/dist/` (see `dist/mod.rs`).
//!
//! Generated files are committed. `cargo test -p xtask` runs every generator in check mode, so a
//! plain `cargo test --workspace` catches drift.

mod codegen;
mod dist;
mod metadata;
mod sample_data;
mod wasm;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

use crate::codegen::Mode;

#[derive(Debug, Parser)]
#[command(name = "xtask", about = "convq repository automation", version = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Regenerate every generated file: the column catalog and the reference docs.
    Codegen {
        /// Write nothing; fail if a generated file is out of date.
        #[arg(long)]
        check: bool,
    },
    /// Regenerate docs/reference/ (columns, input fields, error codes) and the summary and chart
    /// of docs/performance.md.
    Docs {
        /// Write nothing; fail if the docs are out of date.
        #[arg(long)]
        check: bool,
    },
    /// Regenerate the sample conversation store of the embedded backend (seeded, deterministic).
    SampleData {
        /// Write nothing; fail if the committed store is out of date.
        #[arg(long)]
        check: bool,
    },
    /// Build the WebAssembly npm package crates/convq-wasm/pkg/ (tools: scripts/setup-wasm.sh).
    Wasm(wasm::WasmArgs),
    /// Write what a release ships to target/dist/: the npm tarball and the release archive for
    /// this host.
    Dist(dist::DistArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Codegen { check } => codegen::run(Mode::from_check(check)),
        Command::Docs { check } => {
            let mode = Mode::from_check(check);
            codegen::docs::generate(mode)?;
            codegen::reference::generate(mode)?;
            codegen::reference::errors(mode)?;
            codegen::performance::generate(mode)
        }
        Command::Wasm(args) => wasm::run(&args),
        Command::Dist(args) => dist::run(&args),
        Command::SampleData { check } => sample_data::generate(Mode::from_check(check)),
    }
}

/// Runs `command` and returns its standard output; a failure (`what`, e.g. `npm pack`, names the
/// command) carries its standard error.
pub(crate) fn stdout_of(
    command: &mut std::process::Command,
    what: &str,
) -> anyhow::Result<Vec<u8>> {
    let output = command
        .output()
        .with_context(|| format!("running {what}"))?;
    if !output.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(output.stdout)
}

/// The workspace root: every path xtask reads or writes is relative to it, so the commands work
/// from any directory.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
