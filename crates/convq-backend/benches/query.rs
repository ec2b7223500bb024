//! Embedded store benchmarks: load throughput, and queries against 1,000,000 conversations.
//!
//! `cargo bench -p convq-backend --bench query`. The records are generated here (50 agents,
//! 20,000 conversations each over 365 days; statuses skewed as in a real org: the last three
//! days open, waiting or active, older ones mostly closed or resolved). The resident memory
//! the 1M-record store adds is printed (from /proc/self/statm, Linux only).

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, SystemTime};

use convq_backend::{EmbeddedStore, parse_timestamp};
use convq_core::{Compiled, Options};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const AGENTS: u64 = 50;
const RECORDS: u64 = 1_000_000;
const LOAD_SLICE: u64 = 200_000;
const NOW: &str = "2026-11-20T12:00:00Z";
const NOW_UNIX: u64 = 1_795_176_000;

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

/// `count` conversations as NDJSON, one per line.
fn ndjson(count: u64) -> String {
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
        let age = rng.below(365 * 86_400);
        let status = if age < 3 * 86_400 {
            [1, 2, 2, 3, 3, 3, 4, 5][rng.below(8) as usize]
        } else {
            [4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 3, 2, 7][rng.below(14) as usize]
        };
        let created = time::OffsetDateTime::from_unix_timestamp((NOW_UNIX - age) as i64)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        writeln!(
            out,
            "{{\"activityid\":\"{id}\",\"msdyn_ocliveworkitemid\":\"{id}\",\"msdyn_title\":{title:?},\
             \"msdyn_channel\":\"{channel}\",\"statuscode\":{status},\"statecode\":0,\
             \"createdon\":\"{created}\",\"_msdyn_activeagentid_value\":\"{agent}\",\
             \"_msdyn_liveworkstreamid_value\":\"{ws}\",\"_msdyn_lastsessionid_value\":\"{session}\",\
             \"_msdyn_cdsqueueid_value\":\"{queue}\",\"msdyn_customerlocale\":\"en-US\"}}",
            title = titles[rng.below(4) as usize],
            channel = channels[rng.below(4) as usize],
            agent = agent(rng.below(AGENTS)),
            ws = guid(7, rng.below(4)),
            session = guid(rng.next(), rng.next()),
            queue = guid(9, rng.below(6)),
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
    let text = ndjson(LOAD_SLICE);
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

fn queries(c: &mut Criterion) {
    let text = ndjson(RECORDS);
    let before = resident_bytes();
    let store = EmbeddedStore::from_bytes(text.as_bytes()).unwrap();
    let after = resident_bytes();
    drop(text);
    if let (Some(before), Some(after)) = (before, after) {
        eprintln!(
            "1M-record store: {} records, about {} MB resident ({} bytes per record)",
            store.len(),
            after.saturating_sub(before) / 1_000_000,
            after.saturating_sub(before) / RECORDS
        );
    }
    let now: SystemTime = parse_timestamp(NOW).unwrap();
    let agent = agent(7);
    let cases = [
        (
            "documented_example_waiting_newest_first",
            format!(
                r#"{{"attributes":["msdyn_title","msdyn_channel"],"agentId":"{agent}","status":[3],"orderBy":[{{"attributeName":"createdon","descending":true}}]}}"#
            ),
        ),
        (
            "open_statuses_last_7_days",
            format!(
                r#"{{"agentId":"{agent}","status":[1,2,3,5],"createdBeforeDays":7,"orderBy":[{{"attributeName":"createdon","descending":true}}]}}"#
            ),
        ),
        (
            "all_of_the_agent_newest_top_50",
            format!(
                r#"{{"agentId":"{agent}","orderBy":[{{"attributeName":"createdon","descending":true}}],"top":50}}"#
            ),
        ),
        (
            "closed_by_title_then_date_top_100",
            format!(
                r#"{{"agentId":"{agent}","status":[4],"orderBy":[{{"attributeName":"msdyn_title"}},{{"attributeName":"createdon"}}],"top":100}}"#
            ),
        ),
        (
            "all_20k_of_the_agent_unordered",
            format!(r#"{{"agentId":"{agent}"}}"#),
        ),
    ];
    let mut group = c.benchmark_group("query_1m");
    for (name, input) in &cases {
        let compiled = compile(input);
        eprintln!("{name}: {} rows", store.query(&compiled.ast, now).len());
        group.bench_function(*name, |b| {
            b.iter(|| store.query(black_box(&compiled.ast), now));
        });
    }
    group.finish();
}

criterion_group!(benches, queries, load);
criterion_main!(benches);
