// Parity with the native CLI: for every fixture of the core corpus, what wasm `compile` returns
// (or throws) is byte for byte what `convq query --format json` prints.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { CLI, loadNode, fixtures, readFixture, outcome } = require("../support.js");

const { compile } = loadNode();

/**
 * The CLI flags that give the same `convq_core::Options` as the fixture's options object, or
 * null when one has no flag.
 */
function cliFlags(options) {
  const flags = [];
  for (const [key, value] of Object.entries(options ?? {})) {
    if (key === "baseUrl") flags.push("--base-url", value);
    else if (key === "unknownColumns") flags.push(...(value === "error" ? ["--strict"] : []));
    else if (key === "statusFilter") flags.push("--status-filter", value === "crmIn" ? "crm-in" : "or-chain");
    else if (key === "createdBeforeDays")
      flags.push("--created-before-days", value === "olderThanXDays" ? "older-than-x-days" : "last-x-days");
    // No flag of its own: the --options JSON, which the flags above would override.
    else if (key === "extraColumns") flags.push("--options", JSON.stringify({ extraColumns: value }));
    else return null;
  }
  return flags;
}

test("the native CLI is built", () => {
  assert.ok(fs.existsSync(CLI), `${CLI} is missing: build it with \`cargo build -p convq-cli\``);
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "convq-parity-"));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

for (const file of fixtures()) {
  const fixture = readFixture(file);
  const flags = cliFlags(fixture.options);
  const skip = flags === null && "the CLI has no flag for one of its options (corpus.test.js checks it against the core snapshot)";
  test(`parity: ${fixture.name}`, { skip }, () => {
    let inputFile = file;
    if (fixture.options !== undefined) {
      inputFile = path.join(tmp, `${fixture.name}.input.json`);
      fs.writeFileSync(inputFile, JSON.stringify(fixture.input));
    }
    const cli = spawnSync(CLI, ["query", "--format", "json", ...flags, inputFile], { encoding: "utf8" });
    const result = outcome(compile, fixture.input, fixture.options);
    if (result.status === false) {
      assert.equal(cli.status, 2, `${fixture.name}: CLI exit status\n${cli.stderr}`);
      assert.equal(cli.stdout, `${JSON.stringify(result)}\n`);
    } else {
      assert.equal(cli.status, 0, `${fixture.name}: CLI exit status\n${cli.stderr}`);
      // serde_json's pretty printer and JSON.stringify(_, null, 2) write the same text.
      assert.equal(cli.stdout, `${JSON.stringify(result, null, 2)}\n`);
    }
  });
}
