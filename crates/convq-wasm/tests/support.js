// Shared by the Node and browser suites. Run them after `cargo xtask wasm`:
//   cargo xtask wasm --test            (builds the CLI too, sets every variable below)
//   node --test crates/convq-wasm/tests/node/*.test.js crates/convq-wasm/tests/browser/*.test.js
// CONVQ_WASM_PKG: the package directory (default crates/convq-wasm/pkg)
// CONVQ_CLI: the native CLI for the parity suite (default target/debug/convq)
// CONVQ_CHROMIUM: the browser (default /usr/bin/chromium)
// NODE_PATH: where playwright-core is (cargo xtask wasm installs it in ~/.cache/convq/tools)
"use strict";
const fs = require("node:fs");
const http = require("node:http");
const os = require("node:os");
const path = require("node:path");
const { spawn } = require("node:child_process");

const CRATE = path.join(__dirname, "..");
const ROOT = path.join(CRATE, "..", "..");
const PKG = process.env.CONVQ_WASM_PKG || path.join(CRATE, "pkg");
const FIXTURES = path.join(ROOT, "crates", "convq-core", "tests", "fixtures");
const CLI = process.env.CONVQ_CLI || path.join(ROOT, "target", "debug", "convq");
const CHROMIUM = process.env.CONVQ_CHROMIUM || "/usr/bin/chromium";

/** The documented example (domain spec section 0), as the core corpus has it. */
const GOLDEN_FIXTURE = path.join(FIXTURES, "golden_documented_example.json");

function loadNode() {
  const entry = path.join(PKG, "node", "convq.js");
  if (!fs.existsSync(entry)) {
    throw new Error(`${entry} is missing: run \`cargo xtask wasm\` first`);
  }
  return require(entry);
}

/** Every fixture of the core corpus, sorted by name. */
function fixtures() {
  return fs
    .readdirSync(FIXTURES)
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((name) => path.join(FIXTURES, name));
}

/**
 * A fixture as the core corpus defines it: the file's text is the input, unless its top level is
 * an object with exactly the keys `options` and `input`.
 */
function readFixture(file) {
  const text = fs.readFileSync(file, "utf8");
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { name: path.basename(file, ".json"), text, input: text, options: undefined };
  }
  const wrapped =
    parsed !== null &&
    typeof parsed === "object" &&
    !Array.isArray(parsed) &&
    Object.keys(parsed).length === 2 &&
    "options" in parsed &&
    "input" in parsed;
  return wrapped
    ? { name: path.basename(file, ".json"), text, input: parsed.input, options: parsed.options }
    : { name: path.basename(file, ".json"), text, input: text, options: undefined };
}

/**
 * compile()'s outcome as the JSON value the CLI prints with `--format json`: the Compiled object,
 * or the failure envelope rebuilt from the thrown error's properties.
 */
function outcome(compile, input, options) {
  try {
    return compile(input, options);
  } catch (err) {
    if (!err || err.name !== "ConvqError") throw err;
    const error = { code: err.code, message: err.message, path: err.path };
    if ("hint" in err) error.hint = err.hint;
    return { error, status: false };
  }
}


/**
 * `convq serve --addr 127.0.0.1:0 ...args` (the native CLI): resolves with its base URL when it
 * logs "listening on"; `stop()` ends it. Bounded: rejects after 30 s or when it exits first.
 */
function startServe(args) {
  const child = spawn(CLI, ["serve", "--addr", "127.0.0.1:0", ...args], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  let log = "";
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`convq serve did not start in 30 s:\n${log}`)), 30_000);
    child.once("exit", (code) => reject(new Error(`convq serve exited (${code}):\n${log}`)));
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (text) => {
      log += text;
      const found = /listening on (http:\/\/[^\s"]+)/.exec(log);
      if (found) {
        clearTimeout(timer);
        resolve({ url: found[1], stop, log: () => log });
      }
    });
  });
}

/** Writes the store file in one step (a new file renamed over it), as `--data` reloads read it. */
function writeRecords(file, records) {
  const next = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(next, JSON.stringify(records, null, 1));
  fs.renameSync(next, file);
}

/** A fresh directory under the system's temporary directory, removed after the test. */
function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "convq-wasm-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Resolves when `predicate()` holds; rejects naming `what` after `ms` (polls every 20 ms). */
async function waitFor(predicate, what, ms = 10_000) {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };

/** Serves /www/ from the crate and /pkg/ from the package directory, on 127.0.0.1 only. */
function serveFiles() {
  const roots = { www: path.join(CRATE, "www"), pkg: PKG };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    const [, top, ...rest] = decodeURIComponent(url.pathname).split("/");
    const base = roots[top];
    const file = base && path.resolve(base, rest.join("/") || "index.html");
    if (!file || !file.startsWith(base + path.sep) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] || "application/octet-stream" });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** Debian's Chromium, headless, with a throwaway profile closed after the test. */
async function launchChromium(t) {
  const { chromium } = require("playwright-core");
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "convq-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    viewport: { width: 1200, height: 760 },
  });
  t.after(async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  });
  return context;
}

module.exports = {
  CRATE,
  ROOT,
  PKG,
  FIXTURES,
  CLI,
  CHROMIUM,
  GOLDEN_FIXTURE,
  loadNode,
  fixtures,
  readFixture,
  outcome,
  startServe,
  writeRecords,
  tempDir,
  waitFor,
  serveFiles,
  launchChromium,
};
