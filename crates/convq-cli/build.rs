//! Records the git commit the binary is built from, for `convq --version`.
//!
//! Sets `CONVQ_COMMIT` to the short hash and commit date (`1a2b3c4d5e6f 2026-12-01`). Without
//! git or a `.git` (a crates.io or vendored source), the build does not fail: `CONVQ_COMMIT`
//! from the environment is used if set (release builds from a tarball can pass it), else
//! `unknown commit`.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-env-changed=CONVQ_COMMIT");
    let commit = std::env::var("CONVQ_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(from_git)
        .unwrap_or_else(|| "unknown commit".to_owned());
    println!("cargo::rustc-env=CONVQ_COMMIT={commit}");
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn from_git() -> Option<String> {
    let commit = git(&["log", "-1", "--format=%h %cs", "--abbrev=12"])?;
    // Rebuild when HEAD moves: HEAD itself (a branch switch), the branch's ref, and packed-refs
    // (where `git gc` moves refs). Only files that exist: a missing one would rerun every build.
    for name in ["HEAD", "packed-refs"] {
        watch(git(&["rev-parse", "--git-path", name]));
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(git(&["rev-parse", "--git-path", &branch]));
    }
    Some(commit)
}

fn watch(path: Option<String>) {
    let Some(path) = path else { return };
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    if path.exists() {
        println!("cargo::rerun-if-changed={}", path.display());
    }
}
