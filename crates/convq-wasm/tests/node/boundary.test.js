// How values cross between JS and wasm: the input as UTF-8 (js/text.js) and the result as a tape
// (src/tape.rs, js/tape.js). compile's results must be exactly what JSON.parse makes of the CLI's
// output, so these check what the corpus and parity suites cannot see: plain objects, key order,
// text that is not ASCII, the buffer sizes, and the decoder on tapes no compile result produces.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const url = require("node:url");
const vm = require("node:vm");
const { CRATE, PKG, GOLDEN_FIXTURE, loadNode } = require("../support.js");

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
  // The JS side keeps struct keys across calls; results with and without warnings, with a URL,
  // errors in between and object input must each still be what a fresh JSON.parse would give.
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

test("inputs near the size limit: three-byte characters fit the buffer, the limit counts bytes", () => {
  // 300,000 euro signs: 900,000 bytes, under 1 MiB, in the largest buffer the limit needs.
  const under = `{"agentId": "${AGENT}", "x": "${"\u20ac".repeat(300_000)}"}`;
  assert.throws(() => compile(under), { code: "unknown_field", path: "/x" });
  // 400,000 of them: fewer UTF-16 units than the limit, more bytes.
  const over = `{"agentId": "${AGENT}", "x": "${"\u20ac".repeat(400_000)}"}`;
  assert.throws(() => compile(over), {
    code: "input_too_large",
    message: `the input is ${Buffer.byteLength(over)} bytes; the limit is ${MIB} bytes`,
  });
  // More units than the limit allows bytes: rejected without the buffer.
  const long = `{"x": "${"a".repeat(MIB)}"}`;
  assert.throws(() => compile(long), {
    code: "input_too_large",
    message: `the input is ${Buffer.byteLength(long)} bytes; the limit is ${MIB} bytes`,
  });
  // And the buffer still serves small inputs afterwards.
  assert.equal(compile({ agentId: AGENT }).ast.agentId, AGENT);
});

/**
 * The tape decoder of the Node build (CommonJS) and of the source (ES module), each a fresh
 * instance: the tapes below reset its key list, which would break the instance compile uses.
 */
async function decoders() {
  const snippets = path.join(PKG, "node", "snippets");
  const [crateDir] = fs.readdirSync(snippets);
  const source = fs.readFileSync(path.join(snippets, crateDir, "js", "tape.js"), "utf8");
  const module = { exports: {} };
  vm.runInThisContext(`(function (module, exports) {${source}\n})`)(module, module.exports);
  const esm = (await import(url.pathToFileURL(path.join(CRATE, "js", "tape.js")))).decodeTape;
  return { commonjs: module.exports.decodeTape, esm };
}

// Words of the format in src/tape.rs: tag in the low three bits, operand above.
const w = (tag, operand = 0) => (operand << 3) | tag;
const [NULL, BOOL, INT, NUMBER, STRING, ARRAY, OBJECT] = [0, 1, 2, 3, 4, 5, 6];
const [KEY, KEY_NEW, KEY_TEXT] = [0, 1, 2];

test("the tape decoder, in both module forms, builds what JSON.parse would", async () => {
  for (const [form, decodeTape] of Object.entries(await decoders())) {
    // {"caf\u00e9": ["\u{1f600}", 5, -2.5e-7, true, null], "__proto__": {"a": false}, "a": ""}
    // with "a" a struct key (introduced here, then reused) and the others map keys.
    const text = "caf\u00e9\u{1f600}-2.5e-7__proto__a";
    const words = Uint32Array.from([
      0,
      w(OBJECT, 3),
      w(KEY_TEXT, 4), w(ARRAY, 5), w(STRING, 2), w(INT, 5), w(NUMBER, 7), w(BOOL, 1), w(NULL),
      w(KEY_TEXT, 9), w(OBJECT, 1), w(KEY_NEW, 1), w(BOOL, 0),
      w(KEY, 0), w(STRING, 0),
    ]);
    const value = decodeTape(text, words);
    const expected = JSON.parse('{"caf\u00e9": ["\u{1f600}", 5, -2.5e-7, true, null], "__proto__": {"a": false}, "a": ""}');
    assert.deepEqual(value, expected, form);
    assert.deepEqual(Object.keys(value), ["caf\u00e9", "__proto__", "a"], form);
    assert.equal(Object.getPrototypeOf(value), Object.prototype, `${form}: __proto__ is an own key`);

    // The key list is kept: the next tape says it holds one key and uses it by index.
    assert.deepEqual(decodeTape("", Uint32Array.from([1, w(OBJECT, 1), w(KEY, 0), w(INT, 1)])), { a: 1 }, form);
    // A tape that says the list is empty (the Rust side started over) introduces keys afresh.
    assert.deepEqual(decodeTape("b", Uint32Array.from([0, w(OBJECT, 1), w(KEY_NEW, 1), w(INT, 2)])), { b: 2 }, form);
    assert.deepEqual(decodeTape("", Uint32Array.from([1, w(OBJECT, 1), w(KEY, 0), w(INT, 3)])), { b: 3 }, form);

    assert.throws(() => decodeTape("", Uint32Array.from([0, 7])), /bad value word/, form);
  }
});
