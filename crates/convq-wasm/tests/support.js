// Shared by the Node and browser suites. Run them after `cargo xtask wasm`:
//   cargo xtask wasm --test            (builds the CLI too, sets every variable below)
//   node --test crates/convq-wasm/tests/node/*.test.js crates/convq-wasm/tests/browser/*.test.js
// CONVQ_WASM_PKG: the package directory (default crates/convq-wasm/pkg)
// CONVQ_CLI: the native CLI for the parity suite (default target/debug/convq)
// CONVQ_CHROMIUM: the browser (default /usr/bin/chromium)
// NODE_PATH: where playwright-core is (cargo xtask wasm installs it in ~/.cache/convq/tools)
"use strict";
const fs = require("node:fs");
const path = require("node:path");

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

module.exports = { CRATE, ROOT, PKG, FIXTURES, CLI, CHROMIUM, GOLDEN_FIXTURE, loadNode, fixtures, readFixture, outcome };
