//! `TrackedTable`: the conversation table kept current with change tracking, against the
//! simulated organization (paged first read, delta links, deleted entities, a new column).

use std::time::Duration;

use convq_backend::{EmbeddedStore, RunContext, TableMirror};
use convq_core::{Compiled, Options};
use convq_dataverse::{DataverseClient, DataverseConfig, Shared, SharedConfig, TrackedTable};
use convq_simorg::testkit::{conversation, store_of};
use convq_simorg::{SimOrg, SimOrgConfig};
use serde_json::json;

use crate::{AGENT, now};

fn compiled(attributes: &[&str]) -> Compiled {
    let input = json!({"agentId": AGENT, "attributes": attributes});
    convq_core::compile(&input.to_string(), &Options::default()).unwrap()
}

fn titles(store: &EmbeddedStore, query: &Compiled) -> Vec<String> {
    store
        .query(&query.ast, &RunContext::at(now()))
        .iter()
        .map(|r| r["msdyn_title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn the_copy_follows_the_feed_through_pages_changes_and_deletions() {
    let mut config = SimOrgConfig::default();
    config.latency = Duration::from_millis(1);
    config.page_size = 2;
    let org = SimOrg::start(
        store_of(&[
            conversation(AGENT, 1, "one"),
            conversation(AGENT, 2, "two"),
            conversation(AGENT, 3, "three"),
        ]),
        config,
        0,
    )
    .await
    .unwrap();
    let client = DataverseClient::new(DataverseConfig::new(org.url(), "test-token")).unwrap();
    let shared = Shared::new(client, SharedConfig::default());
    let table = TrackedTable::new(&shared);
    let query = [compiled(&["msdyn_title"])];

    // The first read: three records on two pages.
    let copy = table.mirror(&query, Duration::ZERO).await.unwrap().unwrap();
    assert_eq!(titles(&copy, &query[0]), ["one", "two", "three"]);
    assert_eq!(org.stats().requests, 2);
    // Fresh enough: no request.
    let again = table.mirror(&query, Duration::from_secs(60)).await.unwrap();
    assert!(again.is_some());
    assert_eq!(org.stats().requests, 2);

    // A change, a new record and a deletion: one delta request.
    org.replace_store(store_of(&[
        conversation(AGENT, 1, "one changed"),
        conversation(AGENT, 3, "three"),
        conversation(AGENT, 4, "four"),
    ]));
    let copy = table.mirror(&query, Duration::ZERO).await.unwrap().unwrap();
    assert_eq!(titles(&copy, &query[0]), ["one changed", "three", "four"]);
    assert_eq!(org.stats().requests, 3);
    // No change: one request, the same records.
    let copy = table.mirror(&query, Duration::ZERO).await.unwrap().unwrap();
    assert_eq!(copy.len(), 3);
    assert_eq!(org.stats().requests, 4);

    // A query reading a column the copy lacks: the table is read again with it (two pages).
    let wider = [compiled(&["msdyn_title", "msdyn_channel"])];
    let copy = table
        .mirror(&wider, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(titles(&copy, &wider[0]), ["one changed", "three", "four"]);
    assert_eq!(org.stats().requests, 6);
    let stats = org.stats();
    assert_eq!((stats.rejected, stats.agents), (0, 0), "{stats:?}");
}

#[tokio::test]
async fn a_table_without_change_tracking_is_not_available() {
    let mut config = SimOrgConfig::default();
    config.latency = Duration::from_millis(1);
    config.change_tracking = false;
    let org = SimOrg::start(store_of(&[conversation(AGENT, 1, "one")]), config, 0)
        .await
        .unwrap();
    let client = DataverseClient::new(DataverseConfig::new(org.url(), "test-token")).unwrap();
    let table = TrackedTable::new(&Shared::new(client, SharedConfig::default()));
    let query = [compiled(&["msdyn_title"])];
    // The second call knows it for good: no second request.
    for call in 1..=2 {
        let mirrored = table.mirror(&query, Duration::ZERO).await.unwrap();
        assert!(mirrored.is_none(), "call {call}");
    }
    assert_eq!(org.stats().requests, 1);
}
