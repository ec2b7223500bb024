//! `cargo xtask dist`: what a release ships, written to `target/dist/`.
//!
//! - `npm.rs`: the npm package, `convq-<version>.tgz` (`npm pack` of `crates/convq-wasm/pkg/`,
//!   which `cargo xtask wasm` builds): CommonJS, ES module and browser entries, the `convq/testing`
//!   test double, types, README and licenses.
//! - `archive.rs`: the release archive for the host target,
//!   `convq-<version>-<target>.tar.gz` (binary, completions, man pages, README, licenses,
//!   CHANGELOG) and its `.sha256`.
//!
//! Each part has its own module; `run` calls them in turn. `--npm` / `--archive` pick one part:
//! CI packs the npm tarball, and the archive with the
//! debug binary its tests built (`--binary`): the LTO release build costs it too much time.

mod archive;
mod npm;

use anyhow::Context as _;

use crate::project_root;
use crate::wasm::Steps;

/// Relative to the project root.
const DIST_DIR: &str = "target/dist";

#[derive(Debug, clap::Args)]
pub(crate) struct DistArgs {
    /// Only the npm tarball (needs `cargo xtask wasm` first).
    #[arg(long, conflicts_with = "archive")]
    npm: bool,
    /// Only the release archive for this host (a release build of convq).
    #[arg(long)]
    archive: bool,
    /// Pack this convq binary instead of building the release one (CI packs the debug binary
    /// its tests built, so the archive's assembly runs on every change without an LTO build).
    #[arg(long, value_name = "PATH")]
    binary: Option<std::path::PathBuf>,
}

pub(crate) fn run(args: &DistArgs) -> anyhow::Result<()> {
    // Neither flag: both parts.
    let (npm, archive) = if args.npm || args.archive {
        (args.npm, args.archive)
    } else {
        (true, true)
    };
    let root = project_root();
    let out = root.join(DIST_DIR);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    if npm {
        let mut steps = Steps::new();
        let tarball = npm::build(&root, &out, &mut steps)?;
        println!("wrote {}", tarball.display());
        steps.print();
    }
    if archive {
        let archive = archive::build(&root, args.binary.as_deref(), &out)?;
        println!("wrote {}", archive.display());
    }
    Ok(())
}
