//! `cargo bench -p convq-core --bench compile`: the cost of `compile` against a floor measured
//! in the same group, `serde_json::from_str::<serde_json::Value>` of the same input (the parse
//! alone, which any compile has to do). The target (issue 10) is `compile` within 2.5× the floor on the golden input.
//!
//! Inputs: the documented example, and a large input at every array limit (500 attributes: the
//! selectable catalog columns plus custom `new_col_N` names; 64 statuses; 16 orderBy keys).
//!
//! Times on a shared machine move with its load; instruction counts do not. For those, run the
//! bench under `valgrind --tool=callgrind` with `--profile-time 1` and a `--bench` filter per
//! function, or a small binary that calls `compile` N times and one that calls it once.

use std::hint::black_box;

use convq_core::catalog::{self, ColumnType};
use convq_core::{Options, compile, limits};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

const GOLDEN: &str = r#"{"attributes":["msdyn_title","msdyn_channel"],"orderBy":[{"attributeName":"createdon","descending":true}],"agentId":"2b330c52-6844-4d36-8e05-03c78c9681dc","status":[3]}"#;

fn large_input() -> String {
    let selectable = || {
        catalog::columns()
            .iter()
            .filter(|c| c.column_type.unsupported_reason().is_none())
    };
    let mut attributes: Vec<String> = selectable().map(|c| c.logical_name.to_owned()).collect();
    let known = attributes.len();
    attributes.extend((0..limits::MAX_ATTRIBUTES - known).map(|i| format!("new_col_{i}")));
    let status: Vec<usize> = (1..=limits::MAX_STATUSES).collect();
    let order_by: Vec<_> = selectable()
        .filter(|c| c.column_type != ColumnType::MultiSelectPicklist)
        .take(limits::MAX_ORDER_KEYS)
        .enumerate()
        .map(|(i, c)| json!({"attributeName": c.logical_name, "descending": i % 2 == 0}))
        .collect();
    json!({
        "agentId": "{2B330C52-6844-4D36-8E05-03C78C9681DC}",
        "attributes": attributes,
        "status": status,
        "orderBy": order_by,
        "createdBeforeDays": 30,
        "top": 5000,
    })
    .to_string()
}

fn bench(c: &mut Criterion) {
    let large = large_input();
    let options = Options::default();
    let compiled = compile(&large, &options).expect("the large input compiles");
    // The five default columns are among the catalog's, so they de-duplicate.
    assert_eq!(compiled.ast.select.len(), limits::MAX_ATTRIBUTES);
    assert_eq!(compiled.ast.status.len(), limits::MAX_STATUSES);
    assert_eq!(compiled.ast.order_by.len(), limits::MAX_ORDER_KEYS);
    // Issue 11: a 64 KiB unknown key, and a 64 KiB unknown column in strict mode, cost about what
    // reading them costs (no "did you mean" search on names that long).
    let long = "x".repeat(64 * 1024);
    let unknown_key =
        json!({"agentId": "2b330c52-6844-4d36-8e05-03c78c9681dc", long.clone(): 1}).to_string();
    let unknown_column =
        json!({"agentId": "2b330c52-6844-4d36-8e05-03c78c9681dc", "attributes": [long]})
            .to_string();
    let strict = Options::default().with_unknown_columns(convq_core::UnknownColumns::Error);
    assert!(compile(&unknown_key, &strict).is_err() && compile(&unknown_column, &strict).is_err());
    for (name, input, options) in [
        ("unknown_key_64k", unknown_key.as_str(), &strict),
        ("unknown_column_64k", unknown_column.as_str(), &strict),
        ("golden", GOLDEN, &options),
        ("large", large.as_str(), &options),
    ] {
        let mut group = c.benchmark_group(name);
        group.bench_function("floor", |b| {
            b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(input)).unwrap());
        });
        group.bench_function("compile", |b| {
            b.iter(|| black_box(compile(black_box(input), options)));
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
