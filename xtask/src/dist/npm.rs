//! The npm package: `cargo xtask wasm`'s `crates/convq-wasm/pkg/`, packed by `npm pack` into
//! `target/dist/convq-<version>.tgz`, and checked: every entry of `package.json`'s `exports` is in
//! the tarball, with the README and both licenses, and nothing runs or downloads at install time
//! (no `scripts`, no dependencies).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::stdout_of;
use crate::wasm::{self, PKG_DIR, Steps, Tools};

/// Builds the package and packs it into `out`; returns the tarball's path.
pub(super) fn build(root: &Path, out: &Path, steps: &mut Steps) -> anyhow::Result<PathBuf> {
    let tools = Tools::find()?;
    wasm::build_package(root, &tools, steps)?;
    let pkg = root.join(PKG_DIR);
    let stdout = stdout_of(
        Command::new("npm")
            .args(["pack", "--json", "--pack-destination"])
            .arg(out)
            .arg(&pkg),
        "npm pack",
    )?;
    let packed: Value =
        serde_json::from_slice(&stdout).context("reading npm pack's JSON output")?;
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(pkg.join("package.json")).context("reading package.json")?,
    )?;
    check(&manifest, &packed)?;
    steps.done("npm pack");
    let name = packed[0]["filename"]
        .as_str()
        .context("npm pack names no file")?;
    Ok(out.join(name))
}

/// What the tarball must hold and must not do.
fn check(manifest: &Value, packed: &Value) -> anyhow::Result<()> {
    for key in [
        "scripts",
        "dependencies",
        "optionalDependencies",
        "peerDependencies",
        "bin",
    ] {
        if manifest.get(key).is_some() {
            bail!("package.json has `{key}`: installing must run and fetch nothing");
        }
    }
    let files: Vec<&str> = packed[0]["files"]
        .as_array()
        .context("npm pack lists no files")?
        .iter()
        .filter_map(|file| file["path"].as_str())
        .collect();
    let mut wanted = vec!["package.json", "README.md", "LICENSE-MIT", "LICENSE-APACHE"];
    let mut targets = Vec::new();
    collect_targets(&manifest["exports"], &mut targets);
    wanted.extend(targets.iter().map(|target| target.trim_start_matches("./")));
    for module in [
        "node/convq_bg.wasm",
        "web/convq_bg.wasm",
        "testing/convq_testing_bg.wasm",
    ] {
        wanted.push(module);
    }
    let missing: Vec<&&str> = wanted.iter().filter(|file| !files.contains(file)).collect();
    if !missing.is_empty() {
        bail!("the tarball lacks {missing:?} (it has {files:?})");
    }
    Ok(())
}

/// Every file path in an `exports` map, at any depth of conditions.
fn collect_targets<'a>(exports: &'a Value, targets: &mut Vec<&'a str>) {
    match exports {
        Value::String(target) => targets.push(target),
        Value::Object(map) => map
            .values()
            .for_each(|value| collect_targets(value, targets)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn packed(files: &[&str]) -> Value {
        let files: Vec<Value> = files.iter().map(|path| json!({ "path": path })).collect();
        json!([{ "filename": "convq-0.1.0.tgz", "files": files }])
    }

    const COMPLETE: &[&str] = &[
        "package.json",
        "README.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "node/convq.js",
        "node/convq.d.ts",
        "node/convq_bg.wasm",
        "web/convq_bg.wasm",
        "testing/index.mjs",
        "testing/convq_testing_bg.wasm",
    ];

    #[test]
    fn every_export_target_must_be_packed() {
        let manifest = json!({
            "exports": {
                ".": { "node": { "types": "./node/convq.d.ts", "default": "./node/convq.js" } },
                "./testing": { "import": "./testing/index.mjs" },
            }
        });
        check(&manifest, &packed(COMPLETE)).unwrap();
        let without: Vec<&str> = COMPLETE
            .iter()
            .copied()
            .filter(|file| *file != "testing/index.mjs")
            .collect();
        let error = check(&manifest, &packed(&without)).unwrap_err();
        assert!(error.to_string().contains("testing/index.mjs"), "{error}");
    }

    #[test]
    fn install_scripts_and_dependencies_are_refused() {
        for key in ["scripts", "dependencies"] {
            let manifest = json!({ "exports": {}, key: { "postinstall": "node x.js" } });
            let error = check(&manifest, &packed(COMPLETE)).unwrap_err();
            assert!(error.to_string().contains(key), "{error}");
        }
    }
}
