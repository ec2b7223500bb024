//! `cargo xtask wasm [--test] [--bench]`: the npm package of `crates/convq-wasm`, in
//! `crates/convq-wasm/pkg/` (`cargo xtask dist` packs it).
//!
//! The tools come first, from `scripts/setup-wasm.sh` (CI runs it): a wasm32 standard library,
//! `wasm-bindgen-cli` at the crate's version and npm's `binaryen`, in the tools directory
//! (`$CONVQ_TOOLS_DIR`, default `~/.cache/convq/tools`). This command installs nothing; it says
//! what is missing.
//!
//! 1. `cargo build --release --target wasm32-unknown-unknown`, twice: the package's module
//!    (`--no-default-features`: `compile` and `getConversations`, no store) and the test double's
//!    (default features: the embedded store too, for `convq/testing`). With rustup's
//!    `wasm32-unknown-unknown` target when the active toolchain has it (any OS); otherwise
//!    Debian's `rustc-web` with its std sources and `-Zbuild-std` (where rustup cannot download
//!    the target). `CONVQ_WASM_TOOLCHAIN=rustup|debian` forces one. The profile settings are
//!    passed as environment variables (the workspace profiles stay) and the build has a target
//!    directory of its own (the host build cache stays valid).
//! 2. `wasm-bindgen --target nodejs` (`node/`, CommonJS) and `--target web` (`web/`, ES module),
//!    and `--target nodejs` of the double (`testing/`); `wasm-opt -O3` on each module.
//! 3. ES module entries for Node beside the CommonJS builds, `package.json`, README and licenses.
//!
//! `--test` then runs the Node and browser suites (`crates/convq-wasm/tests/**/*.test.js`) with
//! `node --test`; `--bench` times `compile` in Node next to the native compiler.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use std::{env, fs};

use anyhow::{Context as _, bail};

use crate::stdout_of;

use crate::project_root;

const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_RUSTDOC: &str = "/usr/bin/rustdoc";
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_STD_SOURCES: &str = "/usr/lib/rustlib/src/rust/library/std/Cargo.toml";
const CHROMIUM: &str = "/usr/bin/chromium";
const TARGET: &str = "wasm32-unknown-unknown";
const SETUP: &str = "run scripts/setup-wasm.sh first";

/// Relative to the project root.
const CRATE_DIR: &str = "crates/convq-wasm";
pub(crate) const PKG_DIR: &str = "crates/convq-wasm/pkg";
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
    let mut steps = Steps::new();
    let tools = Tools::find()?;
    build_package(&root, &tools, &mut steps)?;
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

/// Builds `crates/convq-wasm/pkg/` and prints the module sizes.
pub(crate) fn build_package(root: &Path, tools: &Tools, steps: &mut Steps) -> anyhow::Result<()> {
    let toolchain = Toolchain::find()?;
    let package = build(root, toolchain, Module::Package)?;
    let double = build(root, toolchain, Module::Testing)?;
    steps.done("cargo build (wasm32, twice)");
    let sizes = package_dir(root, tools, &package, &double)?;
    steps.done("wasm-bindgen, wasm-opt, package");
    sizes.print();
    Ok(())
}

/// The tools `scripts/setup-wasm.sh` installs.
pub(crate) struct Tools {
    dir: PathBuf,
    wasm_bindgen: PathBuf,
    wasm_opt: PathBuf,
}

impl Tools {
    /// Finds the tools, checking that wasm-bindgen is the crate's version (the CLI refuses any
    /// other schema).
    pub(crate) fn find() -> anyhow::Result<Self> {
        let dir = match env::var_os("CONVQ_TOOLS_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => {
                Path::new(&env::var_os("HOME").context("HOME is not set; set CONVQ_TOOLS_DIR")?)
                    .join(".cache/convq/tools")
            }
        };
        let version = locked_version(&project_root(), "wasm-bindgen")?;
        let wasm_bindgen = dir.join("bin/wasm-bindgen");
        let installed = Command::new(&wasm_bindgen)
            .arg("--version")
            .output()
            .ok()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
        if installed.as_deref() != Some(&format!("wasm-bindgen {version}")) {
            bail!(
                "{} is not wasm-bindgen {version} (found {installed:?}): {SETUP}",
                wasm_bindgen.display()
            );
        }
        let wasm_opt = dir.join("node_modules/.bin/wasm-opt");
        if !wasm_opt.exists() {
            bail!("{} is missing: {SETUP}", wasm_opt.display());
        }
        Ok(Self {
            dir,
            wasm_bindgen,
            wasm_opt,
        })
    }

    /// npm packages of the tools directory (playwright-core, typescript), for `NODE_PATH`.
    pub(crate) fn node_modules(&self) -> PathBuf {
        self.dir.join("node_modules")
    }
}

/// Which compiler builds for wasm32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Toolchain {
    /// The active rustup toolchain, which has the `wasm32-unknown-unknown` target installed.
    Rustup,
    /// Debian's `rustc-web` 1.96, building std from its sources (`-Zbuild-std`).
    Debian,
}

impl Toolchain {
    fn find() -> anyhow::Result<Self> {
        match env::var("CONVQ_WASM_TOOLCHAIN").as_deref() {
            Ok("rustup") => return Ok(Self::Rustup),
            Ok("debian") => return Ok(Self::Debian),
            Ok(other) => bail!("CONVQ_WASM_TOOLCHAIN is {other:?}; expected rustup or debian"),
            Err(_) => {}
        }
        if has_rustup_target() {
            Ok(Self::Rustup)
        } else if [DEBIAN_RUSTC, DEBIAN_CARGO, DEBIAN_STD_SOURCES]
            .iter()
            .all(|path| Path::new(path).exists())
        {
            Ok(Self::Debian)
        } else {
            bail!("no standard library for {TARGET}: {SETUP}")
        }
    }
}

/// Whether the active toolchain's sysroot has the wasm32 standard library.
fn has_rustup_target() -> bool {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .is_some_and(|out| {
            let sysroot = String::from_utf8_lossy(&out.stdout);
            Path::new(sysroot.trim())
                .join("lib/rustlib")
                .join(TARGET)
                .join("lib")
                .is_dir()
        })
}

/// The two modules built from the crate.
#[derive(Debug, Clone, Copy)]
enum Module {
    /// `compile` and `getConversations`: what the package's main entries load.
    Package,
    /// Also `createOmnichannel` with the embedded store: `convq/testing`.
    Testing,
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

/// Builds one module and returns the path of a copy of the `.wasm` rustc wrote (both builds
/// write the same file name).
fn build(root: &Path, toolchain: Toolchain, module: Module) -> anyhow::Result<PathBuf> {
    let mut command = match toolchain {
        Toolchain::Rustup => Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into())),
        Toolchain::Debian => {
            let mut command = Command::new(DEBIAN_CARGO);
            command
                .args(["-Zbuild-std=std,panic_abort"])
                .env("RUSTC", DEBIAN_RUSTC)
                .env("RUSTDOC", DEBIAN_RUSTDOC)
                // -Zbuild-std on a stable compiler.
                .env("RUSTC_BOOTSTRAP", "1")
                // rustup's toolchain choice must not reach Debian's cargo.
                .env_remove("RUSTUP_TOOLCHAIN");
            command
        }
    };
    command
        .current_dir(root)
        .args(["build", "--release", "--locked", "--target", TARGET])
        .args(["-p", "convq-wasm", "--target-dir", TARGET_DIR])
        .args(match module {
            Module::Package => &["--no-default-features"][..],
            Module::Testing => &[][..],
        })
        // The release profile of the workspace, plus these, for this build only. opt-level 3,
        // not "s"/"z": measured on the golden input, "s" made `compile` 1.5× slower (19.7 µs
        // against 13.2 µs per call in Node) for a module 20 KB smaller gzipped, and both are far
        // under the 250 KB budget (docs/wasm.md has the numbers).
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "3")
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false");
    // The outer `cargo run` leaves these for the host build; host RUSTFLAGS would also change the
    // wasm build and defeat its cache.
    for name in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_ENCODED_RUSTFLAGS",
    ] {
        if toolchain == Toolchain::Rustup || name != "RUSTC" {
            command.env_remove(name);
        }
    }
    // The wasm-only exports are compiled nowhere else, so their warnings fail this build (cargo
    // caps lints of registry crates and of std, so only the workspace's code is held to it).
    command.env("RUSTFLAGS", "-Dwarnings");
    run_command(&mut command)?;
    let out = root.join(TARGET_DIR);
    let name = match module {
        Module::Package => "convq.wasm",
        Module::Testing => "convq-testing.wasm",
    };
    let copy = out.join(name);
    fs::copy(out.join(TARGET).join("release/convq_wasm.wasm"), &copy)
        .context("copying the built module")?;
    Ok(copy)
}

/// Sizes of the package's module at each stage, in bytes, and of the double's.
struct Sizes {
    rustc: u64,
    bindgen: u64,
    optimized: u64,
    gzipped: u64,
    testing_gzipped: u64,
}

impl Sizes {
    fn print(&self) {
        println!(
            "convq_bg.wasm: {} bytes from rustc, {} after wasm-bindgen, {} after wasm-opt -O3, \
             {} gzipped (-9); testing module {} gzipped",
            self.rustc, self.bindgen, self.optimized, self.gzipped, self.testing_gzipped
        );
    }
}

/// wasm-bindgen for Node and browsers, wasm-opt, the ES module entries, package.json, README and
/// licenses.
fn package_dir(root: &Path, tools: &Tools, package: &Path, double: &Path) -> anyhow::Result<Sizes> {
    let pkg = root.join(PKG_DIR);
    if pkg.exists() {
        fs::remove_dir_all(&pkg).with_context(|| format!("removing {}", pkg.display()))?;
    }
    let mut sizes = Sizes {
        rustc: file_size(package)?,
        bindgen: 0,
        optimized: 0,
        gzipped: 0,
        testing_gzipped: 0,
    };
    for (module, target, dir, name) in [
        (package, "nodejs", "node", "convq"),
        (package, "web", "web", "convq"),
        (double, "nodejs", "testing", "convq_testing"),
    ] {
        let out = pkg.join(dir);
        run_command(
            Command::new(&tools.wasm_bindgen)
                .args(["--target", target, "--out-name", name, "--out-dir"])
                .arg(&out)
                .arg(module),
        )?;
        let wasm = out.join(format!("{name}_bg.wasm"));
        let bound = file_size(&wasm)?;
        // -O3: -Oz saves 1.4 % of the bytes and costs 8 % of the speed of opt-level 3 code.
        run_command(
            Command::new(&tools.wasm_opt)
                .arg("-O3")
                .arg(&wasm)
                .arg("-o")
                .arg(&wasm),
        )?;
        if dir == "testing" {
            sizes.testing_gzipped = gzipped_size(&wasm)?;
        } else {
            sizes.bindgen = bound;
            sizes.optimized = file_size(&wasm)?;
            sizes.gzipped = gzipped_size(&wasm)?;
        }
    }
    // ES module entries for Node: the CommonJS builds, re-exported by name.
    write(
        &pkg.join("node/convq.mjs"),
        &esm_entry(
            "./convq.js",
            &["compile", "getConversations", "watchConversations"],
        ),
    )?;
    // `convq/testing`: the fake (hand-written JS over the double's module, which keeps the
    // queries), its declarations, and the sample store as a fixture.
    for (from, to) in TESTING_FILES {
        fs::copy(root.join(from), pkg.join(to)).with_context(|| format!("copying {from}"))?;
    }
    write(
        &pkg.join("testing/index.mjs"),
        &esm_entry("./index.js", TESTING_EXPORTS),
    )?;
    // The web build is ES modules; say so for Node-based tools that load it.
    write(
        &pkg.join("web/package.json"),
        "{\n  \"type\": \"module\"\n}\n",
    )?;
    write(
        &pkg.join("package.json"),
        &package_json(&crate_version(root)?),
    )?;
    for (from, to) in [
        (format!("{CRATE_DIR}/README.md"), "README.md"),
        ("LICENSE-MIT".to_owned(), "LICENSE-MIT"),
        ("LICENSE-APACHE".to_owned(), "LICENSE-APACHE"),
    ] {
        fs::copy(root.join(&from), pkg.join(to)).with_context(|| format!("copying {from}"))?;
    }
    println!("wrote {}", pkg.display());
    Ok(sizes)
}

/// The files of `convq/testing` besides the double's module, from the project root to `pkg/`.
const TESTING_FILES: [(&str, &str); 4] = [
    ("crates/convq-wasm/js/testing.js", "testing/index.js"),
    ("crates/convq-wasm/js/testing.d.ts", "testing/index.d.ts"),
    ("crates/convq-wasm/js/globals.d.ts", "testing/globals.d.ts"),
    (
        "crates/convq-backend/data/sample-conversations.json",
        "testing/sample-conversations.json",
    ),
];

/// What `convq/testing` exports (`js/testing.js`), for its ES module entry.
const TESTING_EXPORTS: &[&str] = &[
    "createOmnichannel",
    "SAMPLE_CONVERSATIONS",
    "SAMPLE_NOW",
    "compile",
    "getConversations",
];

/// An ES module re-exporting `names` from the CommonJS module `from`.
fn esm_entry(from: &str, names: &[&str]) -> String {
    format!(
        "// @generated by `cargo xtask wasm`: the ES module entry of the CommonJS build beside it.\n\
         import cjs from {from:?};\n\
         export const {{ {} }} = cjs;\n",
        names.join(", ")
    )
}

/// `package.json`. Node gets the CommonJS build (`require`) or its ES module entry (`import`);
/// browsers and bundlers the web build (which needs `await init()` first); `convq/testing` is the
/// test double. Written as text because the order of the export conditions is their priority, and
/// serde_json's map would sort them. No `scripts`: installing runs nothing and fetches nothing.
fn package_json(version: &str) -> String {
    let version = serde_json::to_string(version).expect("a string serializes");
    let node = r#"{ "types": "./node/convq.d.ts", "import": "./node/convq.mjs", "default": "./node/convq.js" }"#;
    let web = r#"{ "types": "./web/convq.d.ts", "default": "./web/convq.js" }"#;
    let testing = r#"{ "types": "./testing/index.d.ts", "import": "./testing/index.mjs", "default": "./testing/index.js" }"#;
    format!(
        r#"{{
  "name": "convq",
  "version": {version},
  "description": "Build the Dataverse Web API query of Omnichannel getConversations in the browser or Node (WebAssembly)",
  "license": "MIT OR Apache-2.0",
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
    "./testing": {testing},
    "./testing/globals": {{ "types": "./testing/globals.d.ts" }},
    "./testing/sample-conversations.json": "./testing/sample-conversations.json",
    "./package.json": "./package.json"
  }},
  "files": ["node/", "web/", "testing/", "README.md", "LICENSE-MIT", "LICENSE-APACHE"],
  "engines": {{ "node": ">=18" }},
  "sideEffects": false
}}
"#
    )
}

/// The package version: the workspace version, read through `cargo metadata`.
fn crate_version(root: &Path) -> anyhow::Result<String> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let stdout = stdout_of(
        Command::new(cargo).current_dir(root).args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ]),
        "cargo metadata",
    )?;
    let metadata: serde_json::Value = serde_json::from_slice(&stdout)?;
    metadata["packages"]
        .as_array()
        .and_then(|packages| packages.iter().find(|p| p["name"] == "convq-wasm"))
        .and_then(|p| p["version"].as_str())
        .map(str::to_owned)
        .context("convq-wasm is not in cargo metadata")
}

/// Both JS suites, with `node --test`. The parity suites compare against the native CLI, so it
/// is built first (debug, the host toolchain).
fn test(root: &Path, tools: &Tools) -> anyhow::Result<()> {
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
    if !Path::new(CHROMIUM).exists() {
        bail!("{CHROMIUM} is missing: run scripts/setup-wasm.sh --test first");
    }
    run_command(
        Command::new("node")
            .current_dir(root)
            .arg("--test")
            .args(&files)
            .env("CONVQ_WASM_PKG", root.join(PKG_DIR))
            .env("CONVQ_CLI", root.join("target/debug/convq"))
            .env("CONVQ_CHROMIUM", CHROMIUM)
            .env("NODE_PATH", tools.node_modules()),
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
pub(crate) struct Steps {
    start: Instant,
    last: Instant,
    done: Vec<(&'static str, f64)>,
}

impl Steps {
    pub(crate) fn new() -> Self {
        let now = Instant::now();
        Self {
            start: now,
            last: now,
            done: Vec::new(),
        }
    }

    pub(crate) fn done(&mut self, name: &'static str) {
        let now = Instant::now();
        self.done.push((name, (now - self.last).as_secs_f64()));
        self.last = now;
    }

    pub(crate) fn print(&self) {
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

    #[test]
    fn package_json_routes_node_to_commonjs_and_browsers_to_esm() {
        let text = package_json("1.2.3");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["name"], "convq");
        assert_eq!(value["version"], "1.2.3");
        let root = &value["exports"]["."];
        // Order matters: Node resolves the first matching condition, so check the text.
        let positions: Vec<usize> = [
            "\"node\": {",
            "\"browser\"",
            "\"import\": {",
            "\"default\": {",
        ]
        .iter()
        .map(|key| text.find(key).unwrap())
        .collect();
        assert!(positions.is_sorted(), "{text}");
        assert_eq!(root["node"]["default"], "./node/convq.js");
        assert_eq!(root["node"]["import"], "./node/convq.mjs");
        assert_eq!(root["browser"]["default"], "./web/convq.js");
        assert_eq!(
            value["exports"]["./testing"]["import"],
            "./testing/index.mjs"
        );
        assert_eq!(
            value["exports"]["./testing"]["default"],
            "./testing/index.js"
        );
        assert!(value.get("scripts").is_none() && value.get("dependencies").is_none());
        assert_eq!(value["types"], "./node/convq.d.ts");
    }
}
