//! Native side of `cargo xtask wasm --bench`: time per `compile` call for the inputs
//! `bench/compile.js` times in Node, so the two can be put side by side.
//!
//! Run with `cargo run --release -p convq-wasm --example native_bench`. It times the same work the
//! wasm export does in Rust (compile, then serialize to JSON) and the bare `convq_core::compile`.
//! A plain timing loop, not criterion: the numbers are for a table, not for regression tracking.

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
    println!("native (release, this machine): time per call, fastest of 15 rounds");
    for name in INPUTS {
        let path = fixtures.join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let to_json = per_call(|| {
            black_box(convq_wasm::glue::compile_to_json(black_box(&text), &options).is_ok());
        });
        let bare = per_call(|| {
            black_box(convq_core::compile(black_box(&text), &options).is_ok());
        });
        println!(
            "  {name:<28} compile+JSON {:>8.2} µs   compile {:>8.2} µs",
            micros(to_json),
            micros(bare)
        );
    }
}

/// The fastest of 15 rounds, each long enough (about 100 ms) to make the clock's resolution moot.
/// The fastest, not the median: on a shared 2-core machine other processes only ever add time.
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
    let iterations = calibration.max(1) * 2;
    let rounds: Vec<Duration> = (0..15)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            start.elapsed() / iterations
        })
        .collect();
    rounds.into_iter().min().expect("15 rounds")
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
