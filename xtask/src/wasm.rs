//! `cargo xtask wasm [--test] [--bench]`: the npm package of `crates/convq-wasm`, built from
//! nothing but package registries, with every tool installed on first use.
//!
//! The rustup toolchain has no `wasm32-unknown-unknown` standard library and cannot download one
//! here, so the build uses Debian's `rustc-web` compiler with its std sources (`-Zbuild-std`),
//! in a target directory of its own so the host build cache stays valid. Steps, each skipped
//! when already satisfied:
//!
//! 1. apt: `rustc-web cargo-web rust-web-src rust-web-llvm lld-22` (and `nodejs npm`, and
//!    `chromium` for `--test`) when missing.
//! 2. `wasm-bindgen-cli` at exactly the version of the `wasm-bindgen` crate in `Cargo.lock`, into
//!    the tools directory (`$CONVQ_TOOLS_DIR`, default `~/.cache/convq/tools`).
//! 3. npm `binaryen` (its `wasm-opt`; Debian's binaryen 108 breaks reference types) and
//!    `playwright-core` (drives Debian's Chromium; it never downloads a browser), same directory.
//! 4. `cargo build --release` for wasm32 (opt-level 3, fat LTO, one codegen unit, panic=abort)
//!    with the profile settings passed as environment variables (the workspace profiles stay).
//! 5. `wasm-bindgen --target nodejs` and `--target web`, `wasm-opt -O3`, then `package.json`
//!    and the README into `crates/convq-wasm/pkg/`.
//!
//! `--test` then runs the Node and browser suites (`crates/convq-wasm/tests/**/*.test.js`) with
//! `node --test`; `--bench` times `compile` in Node next to the native compiler.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use std::{env, fs};

use anyhow::{Context as _, bail};

use crate::project_root;

/// npm packages in the tools directory, exact versions.
const NPM_TOOLS: &[(&str, &str)] = &[("binaryen", "132.0.0"), ("playwright-core", "1.65.1")];
/// Debian packages of the wasm toolchain.
const APT_TOOLCHAIN: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "rust-web-src",
    "rust-web-llvm",
    "lld-22",
];
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_RUSTDOC: &str = "/usr/bin/rustdoc";
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_LLD: &str = "/usr/bin/rust-lld";
const DEBIAN_STD_SOURCES: &str = "/usr/lib/rustlib/src/rust/library/std/Cargo.toml";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Relative to the project root.
const CRATE_DIR: &str = "crates/convq-wasm";
const PKG_DIR: &str = "crates/convq-wasm/pkg";
const TARGET_DIR: &str = "target/wasm";

#[derive(Debug, clap::Args)]
pub(crate) struct WasmArgs {
    /// Then run the Node and browser test suites against the package.
    #[arg(long)]
    test: bool,
    /// Then time `compile` in Node and natively, on the same inputs.
    #[arg(long)]
    bench: bool,
}

pub(crate) fn run(args: &WasmArgs) -> anyhow::Result<()> {
    let root = project_root();
    let tools = tools_dir()?;
    let mut steps = Steps::new();

    install_debian_packages(args.test)?;
    steps.done("apt packages");
    let bindgen_version = locked_version(&root, "wasm-bindgen")?;
    let wasm_bindgen = install_wasm_bindgen(&tools, &bindgen_version)?;
    steps.done("wasm-bindgen-cli");
    install_npm_tools(&tools)?;
    steps.done("npm tools");

    let raw = build(&root)?;
    steps.done("cargo build (wasm32)");
    let sizes = package(&root, &tools, &wasm_bindgen, &raw)?;
    steps.done("wasm-bindgen, wasm-opt, package");
    sizes.print();

    if args.test {
        test(&root, &tools)?;
        steps.done("tests");
    }
    if args.bench {
        bench(&root)?;
        steps.done("bench");
    }
    steps.print();
    Ok(())
}

/// `$CONVQ_TOOLS_DIR`, or `~/.cache/convq/tools`: outside the clone, so CI can cache it.
fn tools_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = env::var_os("CONVQ_TOOLS_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let home = env::var_os("HOME").context("HOME is not set; set CONVQ_TOOLS_DIR instead")?;
    Ok(Path::new(&home).join(".cache/convq/tools"))
}

/// Installs the Debian packages that are missing, in one apt-get run.
fn install_debian_packages(browser: bool) -> anyhow::Result<()> {
    let mut missing: Vec<&str> = Vec::new();
    let toolchain = [
        DEBIAN_RUSTC,
        DEBIAN_RUSTDOC,
        DEBIAN_CARGO,
        DEBIAN_LLD,
        DEBIAN_STD_SOURCES,
    ];
    if toolchain.iter().any(|path| !Path::new(path).exists()) {
        missing.extend(APT_TOOLCHAIN);
    }
    if !succeeds(Command::new("node").arg("--version")) {
        missing.extend(["nodejs", "npm"]);
    } else if !succeeds(Command::new("npm").arg("--version")) {
        missing.push("npm");
    }
    if browser && !Path::new(CHROMIUM).exists() {
        missing.push("chromium");
    }
    if missing.is_empty() {
        return Ok(());
    }
    println!("installing Debian packages: {}", missing.join(" "));
    let sudo = !is_root();
    let apt = |args: &[&str]| {
        let mut command = if sudo {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        } else {
            Command::new("apt-get")
        };
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    run_command(&mut apt(&["update"]))?;
    let mut install = apt(&["install", "-y", "--no-install-recommends"]);
    install.args(&missing);
    run_command(&mut install).context(
        "installing the wasm toolchain from Debian (needs root or sudo, and Debian 12 with \
         bookworm-updates/security, where rustc-web 1.96 lives)",
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// The version of `package` in `Cargo.lock`.
fn locked_version(root: &Path, package: &str) -> anyhow::Result<String> {
    let lock = fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    lock_version(&lock, package)
        .with_context(|| format!("{package} is not in Cargo.lock; run `cargo build` once"))
}

fn lock_version(lock: &str, package: &str) -> Option<String> {
    let name_line = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == name_line {
            let version = lines
                .next()?
                .strip_prefix("version = \"")?
                .strip_suffix('"')?;
            return Some(version.to_owned());
        }
    }
    None
}

/// `wasm-bindgen` must be exactly the crate's version: the CLI refuses any other schema.
fn install_wasm_bindgen(tools: &Path, version: &str) -> anyhow::Result<PathBuf> {
    let binary = tools.join("bin/wasm-bindgen");
    let installed = Command::new(&binary)
        .arg("--version")
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    if installed.as_deref() == Some(&format!("wasm-bindgen {version}")) {
        return Ok(binary);
    }
    println!(
        "installing wasm-bindgen-cli {version} into {}",
        tools.display()
    );
    // Not --locked: its lockfile pins a webpki-roots release the registry no longer serves.
    // No default features: they only add TLS for the test runner's downloads.
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_command(
        Command::new(cargo)
            .args([
                "install",
                "wasm-bindgen-cli",
                "--force",
                "--no-default-features",
            ])
            .arg("--version")
            .arg(format!("={version}"))
            .arg("--root")
            .arg(tools),
    )?;
    Ok(binary)
}

/// npm's binaryen and playwright-core at their pinned versions, installed together (npm prunes
/// packages a later install does not name).
fn install_npm_tools(tools: &Path) -> anyhow::Result<()> {
    let current = |name: &str| {
        let manifest = tools.join("node_modules").join(name).join("package.json");
        let text = fs::read_to_string(manifest).ok()?;
        let value: serde_json::Value = serde_json::from_str(&text).ok()?;
        value["version"].as_str().map(str::to_owned)
    };
    if NPM_TOOLS
        .iter()
        .all(|(name, version)| current(name).as_deref() == Some(*version))
    {
        return Ok(());
    }
    fs::create_dir_all(tools).with_context(|| format!("creating {}", tools.display()))?;
    let specs: Vec<String> = NPM_TOOLS
        .iter()
        .map(|(name, version)| format!("{name}@{version}"))
        .collect();
    println!("installing {} into {}", specs.join(" "), tools.display());
    run_command(
        Command::new("npm")
            .args([
                "install",
                "--save-exact",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(tools)
            .args(&specs),
    )
}

/// Builds the cdylib and returns the path of the `.wasm` rustc wrote.
fn build(root: &Path) -> anyhow::Result<PathBuf> {
    let mut command = Command::new(DEBIAN_CARGO);
    command
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-unknown-unknown",
            "-Zbuild-std=std,panic_abort",
            "-p",
            "convq-wasm",
            "--target-dir",
            TARGET_DIR,
        ])
        .env("RUSTC", DEBIAN_RUSTC)
        .env("RUSTDOC", DEBIAN_RUSTDOC)
        // -Zbuild-std on a stable compiler.
        .env("RUSTC_BOOTSTRAP", "1")
        // The release profile of the workspace, plus these, for this build only. opt-level 3,
        // not "s"/"z": measured on the golden input, "s" made `compile` 1.5× slower (19.7 µs
        // against 13.2 µs per call in Node) for a module 20 KB smaller gzipped, and both are far
        // under the 250 KB budget (docs/wasm.md has the numbers).
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "3")
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false");
    // The outer `cargo run` and rustup leave these for the host toolchain; host RUSTFLAGS would
    // also change the wasm build and defeat its cache.
    for name in [
        "CARGO",
        "RUSTUP_TOOLCHAIN",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_ENCODED_RUSTFLAGS",
    ] {
        command.env_remove(name);
    }
    // The wasm-only exports are compiled nowhere else, so their warnings fail this build (cargo
    // caps lints of registry crates and of std, so only the workspace's code is held to it).
    command.env("RUSTFLAGS", "-Dwarnings");
    run_command(&mut command)?;
    Ok(root
        .join(TARGET_DIR)
        .join("wasm32-unknown-unknown/release/convq_wasm.wasm"))
}

/// Sizes of the module at each stage, in bytes.
struct Sizes {
    rustc: u64,
    bindgen: u64,
    optimized: u64,
    gzipped: u64,
}

impl Sizes {
    fn print(&self) {
        println!(
            ".wasm: {} bytes from rustc, {} after wasm-bindgen, {} after wasm-opt -O3, {} gzipped (-9)",
            self.rustc, self.bindgen, self.optimized, self.gzipped
        );
    }
}

/// wasm-bindgen for Node and browsers, wasm-opt, package.json and README.
fn package(root: &Path, tools: &Path, wasm_bindgen: &Path, raw: &Path) -> anyhow::Result<Sizes> {
    let pkg = root.join(PKG_DIR);
    if pkg.exists() {
        fs::remove_dir_all(&pkg).with_context(|| format!("removing {}", pkg.display()))?;
    }
    let wasm_opt = tools.join("node_modules/.bin/wasm-opt");
    let mut sizes = Sizes {
        rustc: file_size(raw)?,
        bindgen: 0,
        optimized: 0,
        gzipped: 0,
    };
    for (target, dir) in [("nodejs", "node"), ("web", "web")] {
        let out = pkg.join(dir);
        run_command(
            Command::new(wasm_bindgen)
                .args(["--target", target, "--out-name", "convq", "--out-dir"])
                .arg(&out)
                .arg(raw),
        )?;
        if target == "nodejs" {
            commonjs_snippets(&out.join("snippets"))?;
        }
        let module = out.join("convq_bg.wasm");
        sizes.bindgen = file_size(&module)?;
        // -O3: -Oz saves 1.4 % of the bytes and costs 8 % of the speed of opt-level 3 code.
        run_command(
            Command::new(&wasm_opt)
                .arg("-O3")
                .arg(&module)
                .arg("-o")
                .arg(&module),
        )?;
        sizes.optimized = file_size(&module)?;
        sizes.gzipped = gzipped_size(&module)?;
    }
    // The web build is ES modules; say so for Node-based tools that load it.
    write(
        &pkg.join("web/package.json"),
        "{\n  \"type\": \"module\"\n}\n",
    )?;
    write(
        &pkg.join("package.json"),
        &package_json(&crate_version(root)?),
    )?;
    fs::copy(
        root.join(CRATE_DIR).join("README.md"),
        pkg.join("README.md"),
    )
    .context("copying crates/convq-wasm/README.md")?;
    println!("wrote {}", pkg.display());
    Ok(sizes)
}

/// The crate's JS modules (`crates/convq-wasm/js/`) are ES modules, which the `web` build imports
/// as they are; the `nodejs` build is CommonJS and `require`s them, so its copies get their
/// closing `export { ... };` turned into `module.exports = { ... };`.
fn commonjs_snippets(dir: &Path) -> anyhow::Result<()> {
    let mut files = Vec::new();
    collect_files(dir, ".js", &mut files)?;
    for file in files {
        let text =
            fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let converted =
            esm_to_commonjs(&text).with_context(|| format!("converting {}", file.display()))?;
        write(&file, &converted)?;
    }
    Ok(())
}

/// An ES module whose only `import`/`export` is a closing `export { a, b };` line, as CommonJS.
/// Anything else is refused rather than half converted.
fn esm_to_commonjs(text: &str) -> anyhow::Result<String> {
    let body = text.trim_end();
    let (head, last) = body.rsplit_once('\n').unwrap_or(("", body));
    let names = last
        .strip_prefix("export {")
        .and_then(|rest| rest.strip_suffix("};"))
        .context("the last line must be `export { name, ... };`")?;
    if let Some(line) = head.lines().find(|line| {
        let line = line.trim_start();
        line.starts_with("export ") || line.starts_with("import ") || line.starts_with("export{")
    }) {
        bail!("only the last line may import or export, found `{line}`");
    }
    Ok(format!("{head}\nmodule.exports = {{{names}}};\n"))
}

/// `package.json`: Node (`require` or `import`) gets the CommonJS build, browsers and bundlers
/// the ES module build (which needs `await init()` first). Written as text because the order of
/// the export conditions is their priority, and serde_json's map would sort them.
fn package_json(version: &str) -> String {
    let version = serde_json::to_string(version).expect("a string serializes");
    let node = r#"{ "types": "./node/convq.d.ts", "default": "./node/convq.js" }"#;
    let web = r#"{ "types": "./web/convq.d.ts", "default": "./web/convq.js" }"#;
    format!(
        r#"{{
  "name": "convq",
  "version": {version},
  "description": "Build the Dataverse Web API query of Omnichannel getConversations in the browser or Node (WebAssembly)",
  "license": "MIT OR Apache-2.0",
  "repository": {{ "type": "git", "url": "https://github.com/convq/convq" }},
  "keywords": ["dynamics-365", "omnichannel", "dataverse", "odata", "fetchxml", "webassembly"],
  "main": "./node/convq.js",
  "module": "./web/convq.js",
  "types": "./node/convq.d.ts",
  "exports": {{
    ".": {{
      "node": {node},
      "browser": {web},
      "import": {web},
      "default": {node}
    }},
    "./node": {node},
    "./web": {web},
    "./web/convq_bg.wasm": "./web/convq_bg.wasm",
    "./package.json": "./package.json"
  }},
  "files": ["node/", "web/", "README.md"],
  "engines": {{ "node": ">=18" }},
  "sideEffects": false
}}
"#
    )
}

/// The package version: the workspace version, read through `cargo metadata`.
fn crate_version(root: &Path) -> anyhow::Result<String> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    metadata["packages"]
        .as_array()
        .and_then(|packages| packages.iter().find(|p| p["name"] == "convq-wasm"))
        .and_then(|p| p["version"].as_str())
        .map(str::to_owned)
        .context("convq-wasm is not in cargo metadata")
}

/// Both JS suites, with `node --test`. The parity suite compares against the native CLI, so it
/// is built first (debug, the host toolchain).
fn test(root: &Path, tools: &Path) -> anyhow::Result<()> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_command(Command::new(cargo).current_dir(root).args([
        "build",
        "--quiet",
        "-p",
        "convq-cli",
        "--bin",
        "convq",
    ]))?;
    let tests_dir = root.join(CRATE_DIR).join("tests");
    let mut files = Vec::new();
    collect_files(&tests_dir, ".test.js", &mut files)?;
    files.sort();
    if files.is_empty() {
        bail!("no *.test.js under {}", tests_dir.display());
    }
    run_command(
        Command::new("node")
            .current_dir(root)
            .arg("--test")
            .args(&files)
            .env("CONVQ_WASM_PKG", root.join(PKG_DIR))
            .env("CONVQ_CLI", root.join("target/debug/convq"))
            .env("CONVQ_CHROMIUM", CHROMIUM)
            .env("NODE_PATH", tools.join("node_modules")),
    )
}

/// Files under `dir` whose name ends with `suffix`, outside `node_modules`; none if `dir` is
/// missing.
fn collect_files(dir: &Path, suffix: &str, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            if path.file_name() != Some(OsStr::new("node_modules")) {
                collect_files(&path, suffix, files)?;
            }
        } else if path.to_string_lossy().ends_with(suffix) {
            files.push(path);
        }
    }
    Ok(())
}

/// `compile` per call in Node (the package) and natively (the same inputs, release build).
/// The native times go through a file so that the Node table can show each call's ratio.
fn bench(root: &Path) -> anyhow::Result<()> {
    let native = root.join(TARGET_DIR).join("native-bench.json");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_command(
        Command::new(cargo)
            .current_dir(root)
            .args([
                "run",
                "--quiet",
                "--release",
                "-p",
                "convq-wasm",
                "--example",
                "native_bench",
            ])
            .env("CONVQ_NATIVE_BENCH", &native),
    )?;
    run_command(
        Command::new("node")
            .current_dir(root)
            .arg(root.join(CRATE_DIR).join("bench/compile.js"))
            .env("CONVQ_WASM_PKG", root.join(PKG_DIR))
            .env("CONVQ_NATIVE_BENCH", &native),
    )
}

fn file_size(path: &Path) -> anyhow::Result<u64> {
    Ok(fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len())
}

fn gzipped_size(path: &Path) -> anyhow::Result<u64> {
    let output = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .context("running gzip")?;
    if !output.status.success() {
        bail!("gzip failed on {}", path.display());
    }
    Ok(output.stdout.len() as u64)
}

fn write(path: &Path, contents: &str) -> anyhow::Result<()> {
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

fn succeeds(command: &mut Command) -> bool {
    command.output().is_ok_and(|out| out.status.success())
}

/// Runs a command with inherited output; a non-zero exit is an error naming the command.
fn run_command(command: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{command:?}");
    let status = command
        .status()
        .with_context(|| format!("starting {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

/// Wall-clock time per step, printed at the end (CI budgets the wasm job by these).
struct Steps {
    start: Instant,
    last: Instant,
    done: Vec<(&'static str, f64)>,
}

impl Steps {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            start: now,
            last: now,
            done: Vec::new(),
        }
    }

    fn done(&mut self, name: &'static str) {
        let now = Instant::now();
        self.done.push((name, (now - self.last).as_secs_f64()));
        self.last = now;
    }

    fn print(&self) {
        for (name, seconds) in &self.done {
            println!("{seconds:8.1}s  {name}");
        }
        println!(
            "{:8.1}s  total",
            (Instant::now() - self.start).as_secs_f64()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_version_reads_the_line_after_the_name() {
        let lock = "[[package]]\nname = \"wasm-bindgen-futures\"\nversion = \"0.4.80\"\n\n\
                    [[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n";
        assert_eq!(
            lock_version(lock, "wasm-bindgen").as_deref(),
            Some("0.2.130")
        );
        assert_eq!(lock_version(lock, "js-sys"), None);
    }

    /// The pin in the workspace manifest and the lockfile agree, so the CLI xtask installs
    /// matches the crate the package is built with.
    #[test]
    fn wasm_bindgen_is_pinned_to_the_locked_version() {
        let root = project_root();
        let locked = locked_version(&root, "wasm-bindgen").unwrap();
        let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains(&format!("wasm-bindgen = \"={locked}\"")),
            "Cargo.toml must pin wasm-bindgen = \"={locked}\""
        );
    }

    /// The crate's own JS modules convert: each has one export line, which becomes
    /// module.exports, and nothing else changes.
    #[test]
    fn js_modules_convert_to_commonjs() {
        let mut files = Vec::new();
        collect_files(
            &project_root().join(CRATE_DIR).join("js"),
            ".js",
            &mut files,
        )
        .unwrap();
        assert!(files.len() >= 2, "{files:?}");
        for file in files {
            let module = fs::read_to_string(&file).unwrap();
            let converted = esm_to_commonjs(&module).unwrap();
            let last = converted.trim_end().lines().last().unwrap();
            assert!(
                last.starts_with("module.exports = { "),
                "{}: {last}",
                file.display()
            );
            assert!(!converted.contains("export {"));
            assert_eq!(
                converted.lines().count(),
                module.trim_end().lines().count(),
                "{}: only the last line changes",
                file.display()
            );
        }
    }

    #[test]
    fn esm_to_commonjs_refuses_what_it_would_get_wrong() {
        assert_eq!(
            esm_to_commonjs("const a = 1;\nfunction b() {}\nexport { a, b };\n").unwrap(),
            "const a = 1;\nfunction b() {}\nmodule.exports = { a, b };\n"
        );
        for text in [
            "export function a() {}\n",
            "import x from \"y\";\nexport { x };\n",
            "export const a = 1;\nexport { a };\n",
            "const a = 1;\n",
        ] {
            assert!(esm_to_commonjs(text).is_err(), "{text}");
        }
    }

    #[test]
    fn package_json_routes_node_to_commonjs_and_browsers_to_esm() {
        let text = package_json("1.2.3");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["name"], "convq");
        assert_eq!(value["version"], "1.2.3");
        let root = &value["exports"]["."];
        // Order matters: Node resolves the first matching condition, so check the text.
        let positions: Vec<usize> = ["\"node\": {", "\"browser\"", "\"import\"", "\"default\": {"]
            .iter()
            .map(|key| text.find(key).unwrap())
            .collect();
        assert!(positions.is_sorted(), "{text}");
        assert_eq!(root["node"]["default"], "./node/convq.js");
        assert_eq!(root["browser"]["default"], "./web/convq.js");
        assert_eq!(value["types"], "./node/convq.d.ts");
    }
}
