// How values cross between JS and wasm: the input as JSON text, the result as serde_json's text
// through JSON.parse. compile's results must be exactly what JSON.parse makes of the CLI's output,
// so these check what the corpus and parity suites cannot see: plain objects, key order, results
// of different shapes one after another, text that is not ASCII, and inputs at the size limit.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const { GOLDEN_FIXTURE, loadNode } = require("../support.js");

const { compile } = loadNode();
const AGENT = "2b330c52-6844-4d36-8e05-03c78c9681dc";
const MIB = 1024 * 1024;

test("results are plain objects and arrays, keys in the CLI's order", () => {
  const text = fs.readFileSync(GOLDEN_FIXTURE, "utf8");
  const compiled = compile(text);
  // What JSON.parse builds: the same keys in the same order, all the way down.
  const reparsed = JSON.parse(JSON.stringify(compiled));
  const shapes = (value) =>
    Array.isArray(value)
      ? value.map(shapes)
      : value !== null && typeof value === "object"
        ? Object.fromEntries(Object.keys(value).map((k) => [k, shapes(value[k])]))
        : typeof value;
  assert.deepEqual(shapes(compiled), shapes(reparsed));
  assert.deepEqual(Object.keys(compiled), ["ast", "select", "filter", "orderby", "top", "options", "path", "url", "fetchxml", "warnings"]);
  for (const object of [compiled, compiled.ast, compiled.ast.select[0], compiled.ast.orderBy[0]]) {
    assert.equal(Object.getPrototypeOf(object), Object.prototype);
    for (const key of Object.keys(object)) {
      assert.ok(Object.getOwnPropertyDescriptor(object, key).writable, key);
    }
  }
  assert.ok(Array.isArray(compiled.warnings) && Array.isArray(compiled.ast.select));
  // Each call builds its own objects.
  const again = compile(text);
  assert.notEqual(again.ast, compiled.ast);
  again.ast.select.pop();
  assert.equal(compile(text).ast.select.length, compiled.ast.select.length);
});

test("results of different shapes one after another keep their keys apart", () => {
  // Results with and without warnings, with a URL, errors in between and object input must each
  // be what a fresh JSON.parse would give, call after call.
  const inputs = [
    [{ agentId: AGENT }, undefined],
    [{ agentId: AGENT, attributes: ["new_tier"], status: [3, 42] }, undefined],
    ['{"agentId": 1}', undefined],
    [{ agentId: AGENT, top: 7 }, { baseUrl: "https://contoso.crm.dynamics.com" }],
    [{ agentId: AGENT, attributes: ["new_tier"] }, { extraColumns: [{ logicalName: "new_tier", type: "Lookup" }] }],
  ];
  const first = inputs.map(([input, options]) => {
    try {
      return JSON.stringify(compile(input, options));
    } catch (err) {
      return err.code;
    }
  });
  assert.equal(first[2], "invalid_type");
  assert.equal(JSON.parse(first[1]).warnings.length, 2);
  assert.equal(JSON.parse(first[3]).top, 7);
  for (let round = 0; round < 3; round++) {
    inputs.forEach(([input, options], i) => {
      if (typeof first[i] !== "string" || !first[i].startsWith("{")) return;
      assert.equal(JSON.stringify(compile(input, options)), first[i]);
    });
  }
});

test("input text that is not ASCII arrives as the same characters", () => {
  // The message quotes the input's value: every character survives the trip, including ones
  // outside the Basic Multilingual Plane, and a lone surrogate becomes U+FFFD as in UTF-8.
  for (const [value, shown] of [
    ["\u00e9t\u00e9", "\u00e9t\u00e9"],
    ["\u{1f600}x", "\u{1f600}x"],
    ["\ud800x", "\ufffdx"],
  ]) {
    const message = `\`/agentId\` is not a GUID: "${shown}"`;
    assert.throws(() => compile(`{"agentId": "${value}"}`), { code: "invalid_agent_id", message });
    // An object goes through JSON.stringify, which escapes a lone surrogate instead.
    if (shown === value) assert.throws(() => compile({ agentId: value }), { code: "invalid_agent_id", message });
  }
});

test("inputs near the size limit: the limit counts UTF-8 bytes", () => {
  // 300,000 euro signs: 900,000 bytes, under 1 MiB.
  const under = `{"agentId": "${AGENT}", "x": "${"\u20ac".repeat(300_000)}"}`;
  assert.throws(() => compile(under), { code: "unknown_field", path: "/x" });
  // 400,000 of them: fewer UTF-16 units than the limit, more bytes.
  const over = `{"agentId": "${AGENT}", "x": "${"\u20ac".repeat(400_000)}"}`;
  assert.throws(() => compile(over), {
    code: "input_too_large",
    message: `the input is ${Buffer.byteLength(over)} bytes; the limit is ${MIB} bytes`,
  });
  // More UTF-16 units than the limit allows bytes.
  const long = `{"x": "${"a".repeat(MIB)}"}`;
  assert.throws(() => compile(long), {
    code: "input_too_large",
    message: `the input is ${Buffer.byteLength(long)} bytes; the limit is ${MIB} bytes`,
  });
  // And small inputs still compile afterwards.
  assert.equal(compile({ agentId: AGENT }).ast.agentId, AGENT);
});
