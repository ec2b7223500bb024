//! `cargo xtask dist`: what a release ships, written to `target/dist/`.
//!
//! - `npm.rs`: the npm package, `convq-<version>.tgz` (`npm pack` of `crates/convq-wasm/pkg/`,
//!   which `cargo xtask wasm` builds): CommonJS, ES module and browser entries, the `convq/testing`
//!   test double, types, README and licenses.
//!
//! Each part has its own module; `run` calls them in turn.

mod npm;

use anyhow::Context as _;

use crate::project_root;
use crate::wasm::Steps;

/// Relative to the project root.
const DIST_DIR: &str = "target/dist";

#[derive(Debug, clap::Args)]
pub(crate) struct DistArgs {}

pub(crate) fn run(_args: &DistArgs) -> anyhow::Result<()> {
    let root = project_root();
    let out = root.join(DIST_DIR);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut steps = Steps::new();
    let tarball = npm::build(&root, &out, &mut steps)?;
    println!("wrote {}", tarball.display());
    steps.print();
    Ok(())
}
