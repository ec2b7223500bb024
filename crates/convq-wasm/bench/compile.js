// Node side of `cargo xtask wasm --bench`: cold load time of the package, and time per
// `compile` call on the inputs examples/native_bench.rs times natively.
//
//   node crates/convq-wasm/bench/compile.js      (after `cargo xtask wasm`)
//
// Per call: CPU time of the process (`process.cpuUsage`, which also counts V8's helper threads),
// the median of 15 rounds, as native_bench counts its thread's CPU time: on a shared machine,
// time the scheduler gives other processes would otherwise count. The median, not the fastest:
// CPU time already leaves out most of the other processes, and on this VM a round now and then
// is credited with less CPU time than it can have used. Each input is timed as JSON
// text and as an object, and the result either read the way most callers do (`options`, for
// retrieveMultipleRecords, and `path`) or walked in full. With CONVQ_NATIVE_BENCH pointing at
// native_bench's JSON, each time is also shown as a multiple of the native `compile`.
"use strict";
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const pkg = process.env.CONVQ_WASM_PKG || path.join(__dirname, "..", "pkg");
const fixtures = path.join(__dirname, "..", "..", "convq-core", "tests", "fixtures");
const INPUTS = ["golden_documented_example", "all_fields", "minimal_agent_id_only"];
const native = process.env.CONVQ_NATIVE_BENCH && fs.existsSync(process.env.CONVQ_NATIVE_BENCH)
  ? JSON.parse(fs.readFileSync(process.env.CONVQ_NATIVE_BENCH, "utf8"))
  : {};

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

/** CPU time of this process so far, in microseconds. */
function cpu() {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** Microseconds per call of f, the median of 15 rounds of about 50 ms each. */
function perCall(f) {
  // Long enough for V8 to have moved the hot wasm and JS functions to its optimizing tier,
  // whose background compiles would otherwise count as this call's CPU time.
  const warm = process.hrtime.bigint();
  while (process.hrtime.bigint() - warm < 300_000_000n) f();
  let iterations = 0;
  const start = process.hrtime.bigint();
  while (process.hrtime.bigint() - start < 50_000_000n) {
    f();
    iterations++;
  }
  const rounds = [];
  for (let r = 0; r < 15; r++) {
    const t0 = cpu();
    for (let i = 0; i < iterations; i++) f();
    rounds.push((cpu() - t0) / iterations);
  }
  return median(rounds);
}

// What the calls read, summed into `sink` so that no read can be optimized away.
let sink = 0;
const readOptions = (compiled) => {
  sink += compiled.options.length + compiled.path.length;
};
const readAll = (compiled) => {
  sink += walk(compiled);
};
function walk(value) {
  if (typeof value === "string") return value.length;
  if (value === null || typeof value !== "object") return 1;
  let n = 0;
  for (const key of Object.keys(value)) n += walk(value[key]);
  return n;
}

console.log("wasm in node: CPU time per call in µs, median of 15 rounds (and × the native compile)");
const columns = ["text, options", "text, all", "object, options", "object, all"];
console.log(`  ${"".padEnd(28)}${columns.map((c) => c.padStart(16)).join("")}`);
for (const name of INPUTS) {
  const text = fs.readFileSync(path.join(fixtures, `${name}.json`), "utf8");
  const object = JSON.parse(text);
  const cells = [];
  for (const input of [text, object]) {
    for (const read of [readOptions, readAll]) {
      const time = perCall(() => read(compile(input)));
      const ratio = native[name] ? ` (${(time / native[name]).toFixed(1)}×)` : "";
      cells.push(`${time.toFixed(2)}${ratio}`.padStart(16));
    }
  }
  console.log(`  ${name.padEnd(28)}${cells.join("")}`);
}
if (sink === 0) console.log("(nothing was read)");
