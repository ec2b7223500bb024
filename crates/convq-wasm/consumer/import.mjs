// The ES module entries of the installed package, and its browser build initialized in Node.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { compile, getConversations } from "convq";
import { createOmnichannel } from "convq/testing";
import init, { compile as webCompile } from "convq/web";

const AGENT = "2b330c52-6844-4d36-8e05-03c78c9681dc";
assert.match(import.meta.resolve("convq"), /node_modules\/convq\/node\/convq\.mjs$/);
assert.equal(typeof getConversations, "function");
const expected = compile({ agentId: AGENT }).options;
assert.ok(expected.startsWith("?$select="));

// The browser build fetches convq_bg.wasm beside itself; here it is handed the bytes.
const wasm = createRequire(import.meta.url).resolve("convq/web/convq_bg.wasm");
await init({ module_or_path: await readFile(wasm) });
assert.equal(webCompile({ agentId: AGENT }).options, expected);

const answer = await createOmnichannel({ records: "[]" }).getConversations(JSON.stringify({ agentId: AGENT }));
assert.deepEqual(answer, { result: { values: [] }, status: true });
console.log("import: ok");
