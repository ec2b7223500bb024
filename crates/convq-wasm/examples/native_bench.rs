//! Native side of `cargo xtask wasm --bench`: time per `compile` call for the inputs
//! `bench/compile.js` times in Node, so the two can be put side by side.
//!
//! Run with `cargo run --release -p convq-wasm --example native_bench`. It times the bare
//! `convq_core::compile` (what the wasm call is held against) and compile plus `serde_json`
//! output (what the CLI and HTTP adapters do). A plain timing loop, not criterion: the numbers
//! are for a table, not for regression tracking. With `CONVQ_NATIVE_BENCH=FILE`, it also writes
//! the compile times as JSON (`{"fixture": microseconds}`) for `bench/compile.js` to divide by.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use convq_core::Options;

/// Fixtures of the core corpus, shared with `bench/compile.js`.
const INPUTS: &[&str] = &[
    "golden_documented_example",
    "all_fields",
    "minimal_agent_id_only",
];

fn main() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../convq-core/tests/fixtures");
    let options = Options::default();
    println!("native (release, this machine): CPU time per call, median of 15 rounds");
    let mut compile_times = serde_json::Map::new();
    for name in INPUTS {
        let path = fixtures.join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        // The results go through black_box whole, so none of the work can be optimized away.
        let to_json = per_call(|| {
            black_box(convq_wasm::glue::compile_to_json(black_box(&text), &options).ok());
        });
        let bare = per_call(|| {
            black_box(convq_core::compile(black_box(&text), &options).ok());
        });
        println!(
            "  {name:<28} compile+JSON {:>8.2} µs   compile {:>8.2} µs",
            micros(to_json),
            micros(bare)
        );
        compile_times.insert((*name).to_owned(), micros(bare).into());
    }
    if let Some(file) = std::env::var_os("CONVQ_NATIVE_BENCH") {
        let json = serde_json::Value::Object(compile_times).to_string();
        std::fs::write(&file, json).unwrap_or_else(|e| panic!("writing {file:?}: {e}"));
    }
}

/// The median of 15 rounds of CPU time, each long enough (about 50 ms) to make the clock's
/// resolution moot. CPU time leaves out most of what other processes on a shared machine cost;
/// the median, not the fastest, because this VM now and then credits a round with less CPU time
/// than it can have used.
fn per_call(mut f: impl FnMut()) -> Duration {
    for _ in 0..1_000 {
        f();
    }
    let start = Instant::now();
    let mut calibration = 0u32;
    while start.elapsed() < Duration::from_millis(50) {
        f();
        calibration += 1;
    }
    let iterations = calibration.max(1);
    let mut rounds: Vec<Duration> = (0..15)
        .map(|_| {
            let start = cpu_time();
            for _ in 0..iterations {
                f();
            }
            (cpu_time() - start) / iterations
        })
        .collect();
    rounds.sort();
    rounds[rounds.len() / 2]
}

/// CPU time of this thread (Linux: `/proc/thread-self/schedstat`, in nanoseconds), so that time
/// the scheduler gives other processes does not count; wall-clock time where that is missing.
/// `bench/compile.js` counts the Node process's CPU time the same way.
fn cpu_time() -> Duration {
    static WALL: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .map_or_else(
            || WALL.get_or_init(Instant::now).elapsed(),
            Duration::from_nanos,
        )
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
