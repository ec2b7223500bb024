//! Paging an order with ties: the simulated org orders rows that tie on `$orderby` differently
//! on each request, as an org may, so following `@odata.nextLink` repeats and skips rows unless
//! the order is total. convq renders `activityid asc` last for that; without it rows are lost.
use std::collections::BTreeSet;
use std::time::Duration;

use convq_backend::{Backend, EmbeddedStore, RunContext};
use convq_core::{Compiled, Options, compile};
use convq_dataverse::{DataverseClient, DataverseConfig};
use convq_simorg::{SimOrg, SimOrgConfig};
use serde_json::{Value, json};

use crate::{AGENT, now};

/// 40 conversations of one agent, created in two instants: two runs of 20 ties.
fn tied_store() -> EmbeddedStore {
    let records: Vec<Value> = (0..40_u64)
        .map(|n| {
            // Ids whose GUID order is not load order.
            let id = format!("{:08x}-0000-4000-8000-{:012x}", n, (n * 0x9e37_79b9) % (1 << 48));
            json!({
                "activityid": id,
                "_msdyn_activeagentid_value": AGENT,
                "statuscode": 2,
                "createdon": if n % 2 == 0 { "2026-11-19T10:00:00Z" } else { "2026-11-18T10:00:00Z" },
            })
        })
        .collect();
    EmbeddedStore::from_bytes(&serde_json::to_vec(&records).unwrap()).unwrap()
}

/// The ids of every row the client gets over all pages (7 rows a page: 6 pages).
async fn paged_ids(compiled: &Compiled) -> Vec<String> {
    let mut config = SimOrgConfig::default();
    config.latency = Duration::from_millis(1);
    config.now = Some(now());
    let org = SimOrg::start(tied_store(), config, 0).await.unwrap();
    let mut client = DataverseConfig::new(org.url(), "token-a");
    client.page_size = Some(7);
    client.total_timeout = Duration::from_secs(20);
    let client = DataverseClient::new(client).unwrap();
    let rows = client
        .fetch(compiled, &RunContext::at(now()))
        .await
        .unwrap();
    assert_eq!(org.stats().ok, 6);
    rows.iter()
        .map(|r| r["activityid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_a_tied_order_loses_rows_without_the_primary_key_and_none_with_it() {
    let input =
        json!({"agentId": AGENT, "orderBy": [{"attributeName": "createdon", "descending": true}]});
    let compiled = compile(&input.to_string(), &Options::default()).unwrap();
    assert!(
        compiled
            .path
            .ends_with("createdon%20desc%2Cactivityid%20asc")
    );

    // What convq sends: every row once, in the store's order (ties by activityid).
    let ids = paged_ids(&compiled).await;
    let expected: Vec<String> = tied_store()
        .query(&compiled.ast, &RunContext::at(now()))
        .iter()
        .map(|r| r["activityid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(expected.len(), 40);
    assert_eq!(ids, expected);

    // The same request without the tie-breaker: the pages disagree on the order of the ties.
    let mut untied = compiled.clone();
    untied.path = compiled.path.replace("%2Cactivityid%20asc", "");
    assert_ne!(untied.path, compiled.path);
    let ids = paged_ids(&untied).await;
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 40, "as many rows, page for page");
    assert!(
        distinct.len() < 40,
        "some rows repeated and others lost: {} distinct",
        distinct.len()
    );
}
