// Node side of `cargo xtask wasm --bench`: cold load time of the package, and time per
// `compile` call on the inputs examples/native_bench.rs times natively.
//
//   node crates/convq-wasm/bench/compile.js      (after `cargo xtask wasm`)
"use strict";
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const pkg = process.env.CONVQ_WASM_PKG || path.join(__dirname, "..", "pkg");
const fixtures = path.join(__dirname, "..", "..", "convq-core", "tests", "fixtures");
const INPUTS = ["golden_documented_example", "all_fields", "minimal_agent_id_only"];

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// Cold: a fresh process each time, timing require() (read, compile and instantiate the
// module) and the first call.
const cold = [];
const golden = path.join(fixtures, "golden_documented_example.json");
for (let i = 0; i < 9; i++) {
  const script = `
    const t0 = process.hrtime.bigint();
    const convq = require(${JSON.stringify(path.join(pkg, "node", "convq.js"))});
    const t1 = process.hrtime.bigint();
    convq.compile(require("fs").readFileSync(${JSON.stringify(golden)}, "utf8"));
    const t2 = process.hrtime.bigint();
    process.stdout.write(JSON.stringify([Number(t1 - t0) / 1e6, Number(t2 - t1) / 1e6]));`;
  cold.push(JSON.parse(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" })));
}
console.log(`node ${process.version}: cold require() ${median(cold.map((c) => c[0])).toFixed(2)} ms, ` +
  `first compile ${median(cold.map((c) => c[1])).toFixed(2)} ms (median of 9 fresh processes)`);

const { compile } = require(path.join(pkg, "node", "convq.js"));

function perCall(f) {
  for (let i = 0; i < 2000; i++) f();
  let iterations = 0;
  const start = process.hrtime.bigint();
  while (process.hrtime.bigint() - start < 50_000_000n) {
    f();
    iterations++;
  }
  iterations *= 2;
  const rounds = [];
  // The fastest of 15 rounds: on a shared machine other processes only ever add time.
  for (let r = 0; r < 15; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) f();
    rounds.push(Number(process.hrtime.bigint() - t0) / iterations / 1000);
  }
  return Math.min(...rounds);
}

console.log("wasm in node: time per call, fastest of 15 rounds");
for (const name of INPUTS) {
  const text = fs.readFileSync(path.join(fixtures, `${name}.json`), "utf8");
  const object = JSON.parse(text);
  const fromText = perCall(() => compile(text));
  const fromObject = perCall(() => compile(object));
  console.log(`  ${name.padEnd(28)} JSON text ${fromText.toFixed(2).padStart(8)} µs   object ${fromObject.toFixed(2).padStart(8)} µs`);
}
