//! `Shared` (coalescing, cache, pacing) against the simulated organization on 127.0.0.1.
//!
//! The property: for random stores and random groups of inputs sent at once, every coalesced
//! answer equals the answer of the same input run alone (rows and order), with small pages
//! (paging) and a URL limit that fits only a few agents per request (the split).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use convq_backend::{Backend, EmbeddedStore, RunContext};
use convq_core::{Compiled, Options, compile};
use convq_dataverse::{Counters, DataverseClient, DataverseConfig, Shared, SharedConfig};
use convq_simorg::{SimOrg, SimOrgConfig};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::now;

const AGENTS: [&str; 5] = [
    "2b330c52-6844-4d36-8e05-03c78c9681dc",
    "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d",
    "ffffffff-0000-4000-8000-000000000001",
    "10000000-0000-4000-8000-000000000000",
    // In no store: an agent without conversations.
    "00000000-0000-4000-8000-00000000abcd",
];
const DAYS: [&str; 5] = [
    "2026-11-20T11:00:00Z",
    "2026-11-19T08:00:00Z",
    "2026-11-18T23:59:59Z",
    "2026-11-10T12:00:00Z",
    "2026-11-20T11:00:00Z",
];
const TITLES: [&str; 4] = ["alpha", "Alpha", "beta", "zeta"];

fn store() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec((0..4usize, 1..5i64, 0..DAYS.len(), 0..TITLES.len()), 0..40).prop_map(
        |rows| {
            rows.into_iter()
                .enumerate()
                .map(|(i, (agent, status, day, title))| {
                    let id = format!("00000000-0000-4000-8000-{i:012x}");
                    json!({
                        "activityid": id,
                        "msdyn_ocliveworkitemid": id,
                        "_msdyn_activeagentid_value": AGENTS[agent],
                        "statuscode": status,
                        "createdon": DAYS[day],
                        "msdyn_title": TITLES[title],
                    })
                })
                .collect()
        },
    )
}

/// A few query shapes, so that random groups share some.
fn shape() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({})),
        Just(json!({"status": [1, 2]})),
        Just(
            json!({"status": [3], "orderBy": [{"attributeName": "createdon", "descending": true}]})
        ),
        Just(json!({"attributes": ["msdyn_title"], "orderBy": [{"attributeName": "msdyn_title"}]})),
        Just(json!({"attributes": ["msdyn_activeagentid"], "createdBeforeDays": 2})),
        Just(json!({"orderBy": [{"attributeName": "msdyn_title"}], "top": 2})),
    ]
}

fn inputs() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec((shape(), 0..AGENTS.len()), 1..14).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(mut shape, agent)| {
                shape["agentId"] = json!(AGENTS[agent]);
                shape.to_string()
            })
            .collect()
    })
}

fn client(org: &SimOrg, page_size: u32, max_url_length: usize) -> DataverseClient {
    let mut config = DataverseConfig::new(org.url(), "token-a");
    config.page_size = Some(page_size);
    config.max_url_length = max_url_length;
    config.total_timeout = Duration::from_secs(20);
    DataverseClient::new(config).unwrap()
}

fn ctx() -> RunContext {
    RunContext::at(now())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn compiled(inputs: &[String]) -> Vec<Compiled> {
    inputs
        .iter()
        .map(|i| compile(i, &Options::default()).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn coalesced_answers_equal_each_input_alone(
        records in store(),
        inputs in inputs(),
        page_size in 1u32..4,
        agents_per_request in 1usize..4,
    ) {
        let store = EmbeddedStore::from_bytes(&serde_json::to_vec(&records).unwrap()).unwrap();
        let runtime = runtime();
        runtime.block_on(async {
            let org = start_org(store, |c| {
                c.latency = Duration::from_millis(1);
                c.now = Some(now());
            })
            .await;
            let compiled = compiled(&inputs);
            // Room for the longest single request plus a few agents: the split happens.
            let longest = compiled
                .iter()
                .map(|c| c.path.len() + 2 * c.path.matches('\'').count())
                .max()
                .unwrap();
            let max_url = org.url().len() + longest + 40 + 78 * (agents_per_request - 1);

            let alone = client(&org, page_size, max_url);
            let ctx = ctx();
            let mut expected = Vec::new();
            for c in &compiled {
                expected.push(alone.fetch(c, &ctx).await.unwrap());
            }

            let counters = Arc::new(Counters::default());
            let shared = Shared::new(
                client(&org, page_size, max_url).with_observer(counters.clone()),
                shared_config(|c| c.coalesce_window = Duration::from_millis(30)),
            );
            let before = org.stats();
            let calls = compiled.iter().map(|c| {
                let (shared, ctx) = (shared.clone(), ctx.clone());
                let c = c.clone();
                tokio::spawn(async move { shared.fetch(&c, &ctx).await })
            });
            let calls: Vec<_> = calls.collect();
            for (index, call) in calls.into_iter().enumerate() {
                let got = call.await.unwrap().unwrap();
                prop_assert_eq!(&got, &expected[index], "input {}", &inputs[index]);
            }
            let after = org.stats();
            let snapshot = counters.snapshot();
            prop_assert_eq!(snapshot.upstream_requests, after.requests - before.requests);
            prop_assert_eq!(after.throttled, 0);
            // Identical inputs and shared shapes never cost more requests than running alone.
            prop_assert!(snapshot.upstream_requests <= before.requests);
            Ok(())
        })?;
    }
}

/// Distinct agents of one shape share requests: 1,000 calls, ten upstream requests (the URL
/// limit would allow about 400 agents per request; the execution-time bound allows 100).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_agents_cost_a_few_requests() {
    let org = generated_org(1_000, 3, 11, |_| {}).await;
    let counters = Arc::new(Counters::default());
    let mut dv = DataverseConfig::new(org.url(), "token-a");
    dv.total_timeout = Duration::from_secs(20);
    let shared = Shared::new(
        DataverseClient::new(dv)
            .unwrap()
            .with_observer(counters.clone()),
        shared_config(|c| c.coalesce_window = Duration::from_millis(200)),
    );
    let calls: Vec<_> = (0..1_000)
        .map(|i| {
            let input = json!({"agentId": convq_simorg::generated_agent(i), "status": [1, 2, 3, 4, 5, 6, 7]});
            let c = compile(&input.to_string(), &Options::default()).unwrap();
            let shared = shared.clone();
            tokio::spawn(async move { shared.fetch(&c, &ctx()).await.map(|rows| rows.len()) })
        })
        .collect();
    let mut rows = 0;
    for call in calls {
        rows += call.await.unwrap().unwrap();
    }
    assert_eq!(rows, 3_000);
    let stats = org.stats();
    // At most 100 agents a request (SharedConfig::max_agents_per_request): 10 requests,
    // a few more when a busy machine spreads the calls over two coalescing windows.
    assert!((10..=15).contains(&stats.requests), "{stats:?}");
    assert!(stats.max_agents <= 100, "{stats:?}");
    assert_eq!(stats.agents, 1_000, "{stats:?}");
    let snapshot = counters.snapshot();
    assert_eq!(snapshot.calls, 1_000);
    assert_eq!(snapshot.upstream_queries, stats.requests);
}

/// A cache hit says its age; another identity or a different input misses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_answers_with_an_age() {
    let store = EmbeddedStore::sample();
    let org = start_org(store, |c| c.latency = Duration::from_millis(1)).await;
    let counters = Arc::new(Counters::default());
    let shared = Shared::new(
        client(&org, 5_000, 32_768).with_observer(counters.clone()),
        shared_config(|c| c.cache_ttl = Duration::from_secs(60)),
    );
    let c = &compiled(&[json!({"agentId": AGENTS[0]}).to_string()])[0];
    let ctx = RunContext::at(SystemTime::now());
    let mut first = Vec::new();
    let (_, age) = shared.fetch_json_aged(c, &ctx, &mut first).await.unwrap();
    assert_eq!(age, Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut second = Vec::new();
    let (_, age) = shared.fetch_json_aged(c, &ctx, &mut second).await.unwrap();
    assert!(age >= Duration::from_millis(20), "{age:?}");
    assert_eq!(first, second);
    assert_eq!(counters.snapshot().cache_hits, 1);
    assert_eq!(org.stats().requests, 1);
}

/// Paced: a 429 pauses the identity; every call still succeeds within its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_identity_waits_and_every_call_succeeds() {
    let org = generated_org(40, 1, 3, |c| {
        c.latency = Duration::from_millis(5);
        c.window = Duration::from_secs(1);
        c.max_requests = 10;
    })
    .await;
    let counters = Arc::new(Counters::default());
    let mut dv = DataverseConfig::new(org.url(), "token-a");
    dv.total_timeout = Duration::from_secs(20);
    dv.max_retries = 100;
    dv.max_concurrent = 10;
    let shared = Shared::new(
        DataverseClient::new(dv)
            .unwrap()
            .with_observer(counters.clone()),
        shared_config(|c| c.coalesce_window = Duration::ZERO),
    );
    let calls: Vec<_> = (0..30)
        .map(|i| {
            let input = json!({"agentId": convq_simorg::generated_agent(i)});
            let c = compile(&input.to_string(), &Options::default()).unwrap();
            let shared = shared.clone();
            tokio::spawn(async move { shared.fetch(&c, &ctx()).await.map(|rows| rows.len()) })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), 1);
    }
    let stats = org.stats();
    let snapshot = counters.snapshot();
    assert!(snapshot.throttle_pauses >= 1, "{snapshot:?}");
    assert_eq!(stats.ok, 30, "{stats:?}");
    // One round of 429s per window at most: the pause holds everyone, not only the one.
    assert!(stats.throttled <= 20, "{stats:?}");
}

/// The default [`SharedConfig`] with one change.
fn shared_config(change: impl FnOnce(&mut SharedConfig)) -> SharedConfig {
    let mut config = SharedConfig::default();
    change(&mut config);
    config
}

/// A simulated org over `store`, with the default [`SimOrgConfig`] changed by `change`.
async fn start_org(store: EmbeddedStore, change: impl FnOnce(&mut SimOrgConfig)) -> SimOrg {
    let mut config = SimOrgConfig::default();
    change(&mut config);
    SimOrg::start(store, config, 0).await.unwrap()
}

/// A simulated org over the [generated store](convq_simorg::generated_store) of `agents` with
/// `per_agent` conversations each at `now()` (seeded),
/// its clock at that `now()`, with the default [`SimOrgConfig`] changed by `change`.
async fn generated_org(
    agents: usize,
    per_agent: usize,
    seed: u64,
    change: impl FnOnce(&mut SimOrgConfig),
) -> SimOrg {
    let store = convq_simorg::generated_store(agents, per_agent, now(), seed);
    start_org(store, |c| {
        c.now = Some(now());
        change(c);
    })
    .await
}

/// The simulated org's execution-time limit: a request's time is its latency plus a cost per
/// agent it names; past the window's budget, 429 with 0x80072321 and a `Retry-After`, which
/// pauses the identity (the call gives up at once: the wait is past its retry cap).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_execution_time_limit_answers_429() {
    let org = generated_org(10, 1, 5, |c| {
        c.latency = Duration::from_millis(5);
        c.execution_per_agent = Duration::from_millis(10);
        c.max_execution = Duration::from_millis(150);
    })
    .await;
    let mut dv = DataverseConfig::new(org.url(), "token-a");
    dv.total_timeout = Duration::from_secs(20);
    let client = DataverseClient::new(dv).unwrap();
    let agents: Vec<String> = (0..10)
        .map(|i| convq_simorg::generated_agent(i).to_string())
        .collect();
    // One agent: 15 ms; ten requests of 15 ms reach the 150 ms budget.
    for agent in &agents {
        let c = compile(&json!({"agentId": agent}).to_string(), &Options::default()).unwrap();
        client.fetch(&c, &ctx()).await.unwrap();
    }
    let c = compile(
        &json!({"agentId": agents[0]}).to_string(),
        &Options::default(),
    )
    .unwrap();
    let error = client.fetch(&c, &ctx()).await.unwrap_err();
    assert_eq!(error.code(), "dataverse_throttled", "{error:?}");
    let wait = error.retry_after().unwrap();
    assert!(
        wait > Duration::from_secs(290),
        "{wait:?}: the 5-minute window"
    );
    let stats = org.stats();
    assert_eq!(
        (stats.ok, stats.throttled, stats.throttled_execution),
        (10, 1, 1),
        "{stats:?}"
    );
    assert_eq!(stats.execution_ms, 150, "{stats:?}");
}
