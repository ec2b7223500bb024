// The core corpus through the wasm build: for every fixture, compile's outcome equals the core's
// reviewed insta snapshot (crates/convq-core/tests/it/snapshots), errors with code, path, message
// and hint, results field for field.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { ROOT, loadNode, fixtures, readFixture, outcome } = require("../support.js");

const { compile } = loadNode();
const SNAPSHOTS = path.join(ROOT, "crates", "convq-core", "tests", "it", "snapshots");

/** The JSON body of an insta snapshot file: what follows its second `---` line. */
function snapshot(fixtureName) {
  const file = path.join(SNAPSHOTS, `it__corpus__fixtures@${fixtureName}.json.snap`);
  const text = fs.readFileSync(file, "utf8");
  const body = text.split(/^---$/m).slice(2).join("---");
  return JSON.parse(body);
}

const all = fixtures().map(readFixture);

test("the corpus has fixtures and a snapshot for each", () => {
  assert.ok(all.length >= 50, `only ${all.length} fixtures`);
  for (const fixture of all) assert.ok(snapshot(fixture.name), fixture.name);
});

for (const fixture of all) {
  test(`corpus: ${fixture.name}`, () => {
    assert.deepEqual(outcome(compile, fixture.input, fixture.options), snapshot(fixture.name));
  });
}

test("every core error code that the corpus exercises comes out of wasm with its path", () => {
  const seen = new Map();
  for (const fixture of all) {
    const result = outcome(compile, fixture.input, fixture.options);
    if (result.status === false) seen.set(result.error.code, result.error.path);
  }
  // Options errors come from the options, not from an input fixture.
  const badOptions = outcome(compile, { agentId: "2b330c52-6844-4d36-8e05-03c78c9681dc" }, { statusFilter: "in" });
  assert.equal(badOptions.error.path, "/statusFilter");
  seen.set(badOptions.error.code, badOptions.error.path);
  const documented = fs.readFileSync(path.join(ROOT, "docs", "reference", "errors.md"), "utf8");
  // The input errors: the page's first section; the store, Dataverse, HTTP and start-up codes
  // after it never come from compile.
  const input = documented.split(/^## /m).find((section) => section.startsWith("Input"));
  assert.ok(input, "docs/reference/errors.md has no Input section");
  const codes = [...input.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
  assert.ok(codes.length >= 15, `only ${codes.length} codes in docs/reference/errors.md`);
  // input_too_large and request_too_long need megabyte inputs; the core tests them directly.
  const missing = codes.filter((code) => !seen.has(code) && !["input_too_large", "request_too_long"].includes(code));
  assert.deepEqual(missing, []);
});

test("the two size limits, which the corpus leaves to the core, also hold in wasm", () => {
  const agentId = "2b330c52-6844-4d36-8e05-03c78c9681dc";
  const big = JSON.stringify({ agentId, attributes: ["msdyn_title"], pad: "x".repeat(1024 * 1024) });
  assert.throws(() => compile(big), { code: "input_too_large", path: "" });
  const long = { agentId, attributes: Array.from({ length: 500 }, (_, i) => `new_${"x".repeat(70)}_${i}`) };
  assert.throws(() => compile(long), { code: "request_too_long", path: "" });
});
