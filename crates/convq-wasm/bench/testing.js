// What `createOmnichannel` costs a test suite that creates a fake per test: loading the module
// (require), the first creation, and later ones (median of 200, or of 20 for the sample store),
// for 5 records and for the 3,000 of the sample store; plus a first getConversations.
//   node crates/convq-wasm/bench/testing.js     (after `cargo xtask wasm`; CONVQ_WASM_PKG to override)
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const zlib = require("node:zlib");

const PKG = process.env.CONVQ_WASM_PKG || path.join(__dirname, "..", "pkg");
const t0 = performance.now();
const { createOmnichannel, SAMPLE_CONVERSATIONS, SAMPLE_NOW } = require(path.join(PKG, "testing", "index.js"));
const loaded = performance.now() - t0;
const AGENT = "2b330c52-6844-4d36-8e05-03c78c9681dc";
const small = Array.from({ length: 5 }, (_, i) => ({
  activityid: `00000000-0000-4000-8000-00000000000${i}`,
  _msdyn_activeagentid_value: AGENT,
  statuscode: 2 + (i % 2),
  createdon: `2026-11-1${i}T08:00:00Z`,
  msdyn_title: `Conversation ${i}`,
}));
const sample = fs.readFileSync(SAMPLE_CONVERSATIONS, "utf8");

function time(records, rounds) {
  const first = performance.now();
  createOmnichannel({ records, now: SAMPLE_NOW });
  const firstMs = performance.now() - first;
  const times = [];
  for (let i = 0; i < rounds; i += 1) {
    const start = performance.now();
    createOmnichannel({ records, now: SAMPLE_NOW });
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { firstMs, laterMedianMs: times[times.length >> 1], laterMaxMs: times[times.length - 1] };
}

async function main() {
  const five = time(small, 200);
  const thousands = time(sample, 20);
  const fake = createOmnichannel({ records: small, now: SAMPLE_NOW });
  let start = performance.now();
  await fake.getConversations({ agentId: AGENT, status: [2] });
  const firstCall = performance.now() - start;
  start = performance.now();
  for (let i = 0; i < 200; i += 1) await fake.getConversations({ agentId: AGENT, status: [2] });
  const call = (performance.now() - start) / 200;
  const gz = (file) => zlib.gzipSync(fs.readFileSync(path.join(PKG, "testing", file)), { level: 9 }).length;
  const result = {
    node: process.version,
    requireMs: +loaded.toFixed(1),
    create5: fmt(five),
    create3000: fmt(thousands),
    getConversations5: { firstMs: +firstCall.toFixed(3), laterMeanMs: +call.toFixed(3) },
    gzippedBytes: {
      "convq_testing_bg.wasm": gz("convq_testing_bg.wasm"),
      "index.js + convq_testing.js": gz("index.js") + gz("convq_testing.js"),
      "sample-conversations.json": gz("sample-conversations.json"),
    },
  };
  console.log(JSON.stringify(result, null, 2));
}

function fmt({ firstMs, laterMedianMs, laterMaxMs }) {
  return { firstMs: +firstMs.toFixed(3), laterMedianMs: +laterMedianMs.toFixed(3), laterMaxMs: +laterMaxMs.toFixed(3) };
}

main();
