//! The shared Dataverse path of `convq serve` (coalescing, cache, metrics) against the simulated
//! organization on 127.0.0.1.

use std::time::Duration;

use convq_simorg::{SimOrg, SimOrgConfig, generated_agent, generated_store};
use serde_json::{Value, json};

use super::process::Process;
use super::{get_text, parts, post_json};

/// `convq serve` with `--dataverse` at the simulated organization: a batch of 50 agents costs one
/// upstream request, a repeat comes from the cache with its `Age`, and /metrics says so.
#[tokio::test]
async fn the_service_coalesces_caches_and_counts() {
    let mut config = SimOrgConfig::default();
    config.latency = Duration::from_millis(20);
    let org = SimOrg::start(
        generated_store(50, 2, std::time::SystemTime::now(), 5),
        config,
        0,
    )
    .await
    .unwrap();
    let server = Process::start_with_token(&[
        "--dataverse",
        org.url(),
        "--cache-ttl",
        "60s",
        "--coalesce-window",
        "300ms",
    ])
    .await;
    let inputs: Vec<Value> = (0..50)
        .map(|i| json!({"agentId": generated_agent(i), "status": [1, 2, 3, 4, 5, 6, 7]}))
        .collect();
    let url = server.url("/getConversations/batch");
    let (status, _, body) =
        parts(post_json(&url, json!({"inputs": inputs}).to_string()).await).await;
    assert_eq!(status, 200, "{body}");
    for result in body["results"].as_array().unwrap() {
        assert_eq!(
            result["result"]["values"].as_array().unwrap().len(),
            2,
            "{result}"
        );
    }
    assert_eq!(org.stats().requests, 1, "{:?}", org.stats());
    assert_eq!(org.stats().agents, 50);

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let single = server.url("/getConversations");
    let response = post_json(&single, inputs[7].to_string()).await;
    let age: u64 = response.headers()["age"].to_str().unwrap().parse().unwrap();
    assert!(age >= 1, "{age}");
    assert_eq!(org.stats().requests, 1, "answered from the cache");

    let metrics = get_text(&server.url("/metrics")).await;
    for line in [
        "convq_upstream_requests_total 1",
        "convq_cache_hits_total 1",
        "convq_upstream_calls_per_query_sum 50",
        "convq_throttle_pauses_total 0",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}
