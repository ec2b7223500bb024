//! Embedded store benchmarks: load throughput, and queries against 1,000,000 conversations in
//! two store shapes.
//!
//! `cargo bench -p convq-backend --bench query` (a filter such as `typical` runs only
//! those benchmarks, though every store is still generated; about 10 minutes in all).
//! The records are generated here, with statuses skewed as in a real org (the last three days
//! open, waiting or active, older ones mostly closed or resolved):
//! - `typical_agent_1m`: 1,000 agents with about 1,000 conversations each over 90 days, a
//!   contact-centre agent's volume and the case issue 3's "< 1 ms per query" target is about;
//! - `heavy_agent_1m`: 50 agents with about 20,000 conversations each over 365 days, the worst
//!   case the agent index leaves (every query reads 20,000 rows).
//!
//! Each query runs twice: `query` (the `serde_json::Value`s `Backend::fetch` returns, what the CLI
//! prints) and `…/json` (`query_json`, the records' JSON text the HTTP service sends). Both
//! include dropping the answer.
//!
//! Before each store's queries, a child process (this binary again, fresh heap) loads the same
//! 1M records once and prints the load time and the resident memory the store adds (from
//! /proc/self/statm, Linux only).

use std::fmt::Write as _;
use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use convq_backend::{EmbeddedStore, RunContext, parse_timestamp};
use convq_core::{Compiled, Options};
use criterion::{Criterion, Throughput, criterion_group};

const RECORDS: u64 = 1_000_000;
const LOAD_SLICE: u64 = 200_000;
const NOW: &str = "2026-11-20T12:00:00Z";
const NOW_UNIX: u64 = 1_795_176_000;
/// Set (to a store name) in the child process that measures a load.
const LOAD_PROBE: &str = "CONVQ_BENCH_LOAD_PROBE";

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn guid(high: u64, low: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xfff,
        (low >> 48) & 0xfff,
        low & 0xffff_ffff_ffff
    )
}

fn agent(n: u64) -> String {
    guid(0x2b33_0c52_6844_0000 + n, 0x8e05_03c7_8c96_81dc)
}

/// How the generated conversations spread over agents and time.
#[derive(Clone, Copy)]
struct Spread {
    agents: u64,
    days: u64,
}

/// 1,000 agents over 90 days: about 1,000 conversations per agent.
const TYPICAL: Spread = Spread {
    agents: 1_000,
    days: 90,
};
/// 50 agents over a year: about 20,000 conversations per agent.
const HEAVY: Spread = Spread {
    agents: 50,
    days: 365,
};

/// `count` conversations as NDJSON, one per line.
fn ndjson(count: u64, spread: Spread) -> String {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = String::with_capacity(count as usize * 560);
    let (titles, channels) = (
        [
            "Chat with Zoë Müller",
            "Refund request from José",
            "\"Where is my order?\"",
            "配送状況の確認",
        ],
        ["192360000", "192440000", "192300000", "192340000"],
    );
    for i in 0..count {
        let id = guid(rng.next(), i);
        let age = rng.below(spread.days * 86_400);
        let status = if age < 3 * 86_400 {
            [1, 2, 2, 3, 3, 3, 4, 5][rng.below(8) as usize]
        } else {
            [4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 3, 2, 7][rng.below(14) as usize]
        };
        let created = time::OffsetDateTime::from_unix_timestamp((NOW_UNIX - age) as i64)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let queue = rng.below(6);
        writeln!(
            out,
            "{{\"activityid\":\"{id}\",\"msdyn_ocliveworkitemid\":\"{id}\",\"msdyn_title\":{title:?},\
             \"msdyn_channel\":\"{channel}\",\"statuscode\":{status},\"statecode\":0,\
             \"createdon\":\"{created}\",\"_msdyn_activeagentid_value\":\"{agent}\",\
             \"_msdyn_liveworkstreamid_value\":\"{ws}\",\"_msdyn_lastsessionid_value\":\"{session}\",\
             \"_msdyn_cdsqueueid_value@OData.Community.Display.V1.FormattedValue\":\"{queue_name}\",\
             \"_msdyn_cdsqueueid_value\":\"{queue}\",\"msdyn_customerlocale\":\"en-US\"}}",
            title = titles[rng.below(4) as usize],
            channel = channels[rng.below(4) as usize],
            agent = agent(rng.below(spread.agents)),
            ws = guid(7, rng.below(4)),
            session = guid(rng.next(), rng.next()),
            queue = guid(9, queue),
            queue_name = ["billing", "Billing escalations", "Élite support", "Zürich desk", "accounts", "Default queue"][queue as usize],
        )
        .unwrap();
    }
    out
}

/// Resident set size in bytes (Linux), for the memory estimate.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn compile(input: &str) -> Compiled {
    convq_core::compile(input, &Options::default()).unwrap()
}

fn load(c: &mut Criterion) {
    let text = ndjson(LOAD_SLICE, HEAVY);
    let body = format!("{{\"value\":[{}]}}", text.trim_end().replace('\n', ","));
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(LOAD_SLICE));
    group.bench_function("ndjson_200k", |b| {
        b.iter(|| EmbeddedStore::from_bytes(black_box(text.as_bytes())).unwrap());
    });
    group.bench_function("web_api_body_200k", |b| {
        b.iter(|| EmbeddedStore::from_bytes(black_box(body.as_bytes())).unwrap());
    });
    group.finish();
}

fn typical_agent(c: &mut Criterion) {
    queries(c, "typical_agent_1m", TYPICAL);
}

fn heavy_agent(c: &mut Criterion) {
    queries(c, "heavy_agent_1m", HEAVY);
}

/// The query shapes, each against one agent of a 1M-record store built with `spread`.
fn queries(c: &mut Criterion, group_name: &str, spread: Spread) {
    run_load_probe(group_name);
    let store = EmbeddedStore::from_bytes(ndjson(RECORDS, spread).as_bytes()).unwrap();
    let now = RunContext::at(parse_timestamp(NOW).unwrap());
    let one_agent = agent(7);
    let cases = [
        (
            "documented_example_waiting_newest_first",
            format!(
                r#"{{"attributes":["msdyn_title","msdyn_channel"],"agentId":"{one_agent}","status":[3],"orderBy":[{{"attributeName":"createdon","descending":true}}]}}"#
            ),
        ),
        (
            "open_statuses_last_7_days",
            format!(
                r#"{{"agentId":"{one_agent}","status":[1,2,3,5],"createdBeforeDays":7,"orderBy":[{{"attributeName":"createdon","descending":true}}]}}"#
            ),
        ),
        (
            "all_of_the_agent_newest_top_50",
            format!(
                r#"{{"agentId":"{one_agent}","orderBy":[{{"attributeName":"createdon","descending":true}}],"top":50}}"#
            ),
        ),
        (
            "closed_by_title_then_date_top_100",
            format!(
                r#"{{"agentId":"{one_agent}","status":[4],"orderBy":[{{"attributeName":"msdyn_title"}},{{"attributeName":"createdon"}}],"top":100}}"#
            ),
        ),
        (
            "closed_by_queue_name_then_date_top_100",
            format!(
                r#"{{"agentId":"{one_agent}","status":[4],"orderBy":[{{"attributeName":"msdyn_cdsqueueid"}},{{"attributeName":"createdon"}}],"top":100}}"#
            ),
        ),
        (
            "all_of_the_agent_unordered",
            format!(r#"{{"agentId":"{one_agent}"}}"#),
        ),
    ];
    let mut group = c.benchmark_group(group_name);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for (name, input) in &cases {
        let compiled = compile(input);
        eprintln!(
            "{group_name}/{name}: {} rows",
            store.query(&compiled.ast, &now).len()
        );
        group.bench_function(*name, |b| {
            b.iter(|| store.query(black_box(&compiled.ast), &now));
        });
        group.bench_function(format!("{name}/json"), |b| {
            b.iter(|| {
                // A new buffer each time, as the HTTP service starts a body per request.
                let mut out = Vec::new();
                store.query_json(black_box(&compiled.ast), &now, &mut out);
                out
            });
        });
    }
    // The documented example for a different agent each time, as a service answering many
    // agents sees it: the agent's records are not in the CPU caches.
    let every_agent: Vec<Compiled> = (0..spread.agents)
        .map(|n| {
            compile(&format!(
                r#"{{"attributes":["msdyn_title","msdyn_channel"],"agentId":"{}","status":[3],"orderBy":[{{"attributeName":"createdon","descending":true}}]}}"#,
                agent(n)
            ))
        })
        .collect();
    let rows: usize = every_agent
        .iter()
        .map(|compiled| store.query(&compiled.ast, &now).len())
        .sum();
    eprintln!(
        "{group_name}/documented_example_next_agent_each_time: {} rows on average",
        rows / every_agent.len()
    );
    let mut next = 0;
    group.bench_function("documented_example_next_agent_each_time", |b| {
        b.iter(|| {
            next = (next + 1) % every_agent.len();
            store.query(black_box(&every_agent[next].ast), &now)
        });
    });
    group.bench_function("documented_example_next_agent_each_time/json", |b| {
        b.iter(|| {
            next = (next + 1) % every_agent.len();
            let mut out = Vec::new();
            store.query_json(black_box(&every_agent[next].ast), &now, &mut out);
            out
        });
    });
    group.finish();
}

/// Runs this binary again with [`LOAD_PROBE`] set and prints what it measured: a fresh process,
/// so the resident memory it reports is the store's, not what earlier stores left to the
/// allocator.
fn run_load_probe(store: &str) {
    let probe =
        std::env::current_exe().and_then(|exe| Command::new(exe).env(LOAD_PROBE, store).output());
    match probe {
        Ok(output) if output.status.success() => {
            eprint!("{}", String::from_utf8_lossy(&output.stdout));
        }
        Ok(output) => eprintln!(
            "{store}: the load probe failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => eprintln!("{store}: the load probe did not start: {error}"),
    }
}

/// The child's side of [`run_load_probe`]: one timed load of the 1M records.
fn load_probe(store: &str) {
    let spread = if store.starts_with("heavy") {
        HEAVY
    } else {
        TYPICAL
    };
    let text = ndjson(RECORDS, spread);
    let before = resident_bytes();
    let start = Instant::now();
    let loaded = EmbeddedStore::from_bytes(text.as_bytes()).unwrap();
    let elapsed = start.elapsed();
    let after = resident_bytes();
    print!(
        "{store}: {} records of {} agents ({} MB of NDJSON) loaded in {:.2} s ({:.0} records/s)",
        loaded.len(),
        loaded.agent_count(),
        text.len() / 1_000_000,
        elapsed.as_secs_f64(),
        RECORDS as f64 / elapsed.as_secs_f64()
    );
    match (before, after) {
        (Some(before), Some(after)) => {
            let added = after.saturating_sub(before);
            println!(
                ", {} MB resident ({} bytes per record)",
                added / 1_000_000,
                added / RECORDS
            );
        }
        _ => println!(),
    }
}

criterion_group!(benches, typical_agent, heavy_agent, load);

// criterion_main!, plus the load probe's entry.
fn main() {
    if let Ok(store) = std::env::var(LOAD_PROBE) {
        load_probe(&store);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
