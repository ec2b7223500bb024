//! `/getConversations/stream`: live lists over Server-Sent Events, against the simulated
//! organization (changes injected mid-stream) and the replaceable embedded store.

use std::sync::Arc;
use std::time::Duration;

use convq_backend::LiveStore;
use convq_core::Options;
use convq_dataverse::{DataverseClient, DataverseConfig, Shared, SharedConfig, TrackedTable};
use convq_http::{AppState, Server, ServerConfig, StreamConfig};
use convq_simorg::testkit::{conversation, get_status, store_of};
use convq_simorg::{SimOrg, SimOrgConfig};
use serde_json::{Value, json};

use crate::{TestServer, client};

const AGENT_A: &str = "5a5a0000-0000-4000-8000-00000000000a";
const AGENT_B: &str = "5a5a0000-0000-4000-8000-00000000000b";
const INTERVAL: Duration = Duration::from_millis(200);

fn input(agent: &str) -> String {
    json!({"agentId": agent, "attributes": ["msdyn_title"], "orderBy": [{"attributeName": "msdyn_title"}]})
        .to_string()
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
struct Sse {
    id: Option<String>,
    event: String,
    data: Value,
}

/// Reads one SSE stream, event by event.
struct Subscription {
    response: reqwest::Response,
    buffer: String,
    /// How much of `buffer` is known to hold no event end (big events come in many chunks).
    scanned: usize,
}

impl Subscription {
    async fn open(server: &TestServer, agent: &str, last_event_id: Option<&str>) -> Self {
        let mut request = client()
            .post(server.url("/getConversations/stream"))
            .header("content-type", "application/json")
            .body(input(agent));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            response,
            buffer: String::new(),
            scanned: 0,
        }
    }

    /// The next event within 10 s (heartbeat comments skipped); `None` when the stream ended.
    async fn next(&mut self) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(end) = self.buffer[self.scanned..].find("\n\n") {
                let block: String = self.buffer.drain(..self.scanned + end + 2).collect();
                self.scanned = 0;
                let (mut id, mut event, mut data) = (None, String::from("message"), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim_start().to_owned());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim_start().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a comment (heartbeat)
                }
                return Some(Sse {
                    id,
                    event,
                    data: serde_json::from_str(&data).unwrap(),
                });
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("an event within 10 s")
                .expect("the stream reads");
            self.scanned = self.buffer.len().saturating_sub(1);
            match chunk {
                Some(bytes) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => return None,
            }
        }
    }
}

/// The simulated org holding `records` (5 ms latency, `org_config` otherwise) and the
/// coalescing client a service uses in front of it.
async fn org_backend(records: &[Value], mut org_config: SimOrgConfig) -> (SimOrg, Shared) {
    org_config.latency = Duration::from_millis(5);
    let org = SimOrg::start(store_of(records), org_config, 0)
        .await
        .unwrap();
    let mut config = DataverseConfig::new(org.url(), "test-token");
    config.max_retries = 0;
    let mut shared = SharedConfig::default();
    // Wide enough that a loaded machine still starts every poll's fetches within it.
    shared.coalesce_window = Duration::from_millis(100);
    let backend = Shared::new(DataverseClient::new(config).unwrap(), shared);
    (org, backend)
}

async fn org_server(records: &[Value], stream: StreamConfig) -> (SimOrg, TestServer) {
    let (org, backend) = org_backend(records, SimOrgConfig::default()).await;
    let server = TestServer::start(
        Arc::new(backend),
        Options::default(),
        ServerConfig::default().with_stream(stream),
    )
    .await;
    (org, server)
}

/// Two conversations of agent A and one of B: the data the change tests start from.
fn a1_a2_b1() -> [Value; 3] {
    [
        conversation(AGENT_A, 1, "a1"),
        conversation(AGENT_A, 2, "a2"),
        conversation(AGENT_B, 1, "b1"),
    ]
}

/// The tests' first change to [`a1_a2_b1`]: a1's title changed and b2 added.
fn a1_changed_b2_added() -> [Value; 4] {
    [
        conversation(AGENT_A, 1, "a1 changed"),
        conversation(AGENT_A, 2, "a2"),
        conversation(AGENT_B, 1, "b1"),
        conversation(AGENT_B, 2, "b2"),
    ]
}

/// Makes each version the org's data in turn, three intervals apart.
async fn publish(org: &SimOrg, versions: &[&[Value]]) {
    for version in versions {
        org.replace_store(store_of(version));
        tokio::time::sleep(INTERVAL * 3).await;
    }
}

/// How many requests the org gets during five intervals without changes.
async fn requests_in_five_quiet_intervals(org: &SimOrg) -> u64 {
    let before = org.stats().requests;
    tokio::time::sleep(INTERVAL * 5).await;
    org.stats().requests - before
}

fn fast_stream() -> StreamConfig {
    let mut stream = StreamConfig::default();
    stream.interval = INTERVAL;
    stream
}

/// Every subscriber of an agent gets the list, then each injected change once and in order;
/// every group costs one upstream request per interval, however many subscribers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_sees_each_change_once_in_order() {
    let v0 = a1_a2_b1();
    let (org, server) = org_server(&v0, fast_stream()).await;
    let mut subs = Vec::new();
    for agent in [AGENT_A, AGENT_B] {
        for _ in 0..4 {
            subs.push((agent, Subscription::open(&server, agent, None).await));
        }
    }
    for (agent, sub) in &mut subs {
        let first = sub.next().await.unwrap();
        assert_eq!(first.event, "snapshot", "{first:?}");
        assert_eq!(first.data["agentId"], *agent);
        let count = if *agent == AGENT_A { 2 } else { 1 };
        assert_eq!(first.data["values"].as_array().unwrap().len(), count);
    }
    // Requests during a few quiet intervals: one per interval (one shape, one identity).
    let quiet = requests_in_five_quiet_intervals(&org).await;
    assert!((3..=6).contains(&quiet), "{quiet} requests in 5 intervals");

    // Three changes, each a few intervals apart.
    let v2 = [
        conversation(AGENT_A, 2, "a2"),
        conversation(AGENT_B, 2, "b2"),
    ];
    publish(&org, &[&a1_changed_b2_added(), &v2]).await;
    let expected_a = [
        (
            "changed",
            conversation(AGENT_A, 1, "")["activityid"].clone(),
        ),
        (
            "removed",
            conversation(AGENT_A, 1, "")["activityid"].clone(),
        ),
    ];
    let expected_b = [
        ("added", conversation(AGENT_B, 2, "")["activityid"].clone()),
        (
            "removed",
            conversation(AGENT_B, 1, "")["activityid"].clone(),
        ),
    ];
    for (agent, sub) in &mut subs {
        let expected = if *agent == AGENT_A {
            &expected_a
        } else {
            &expected_b
        };
        let mut ids = Vec::new();
        for (kind, id) in expected {
            let event = sub.next().await.unwrap();
            assert_eq!(
                (event.event.as_str(), &event.data["id"]),
                (*kind, id),
                "{event:?}"
            );
            ids.push(event.id.unwrap());
        }
        let sequence: Vec<u64> = ids
            .iter()
            .map(|id| id.rsplit_once('-').unwrap().1.parse().unwrap())
            .collect();
        assert!(sequence.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    }
    // Nothing else came: a new change is the next event of every subscriber.
    org.replace_store(store_of(&[
        conversation(AGENT_A, 2, "a2 again"),
        conversation(AGENT_B, 2, "b2 again"),
    ]));
    for (_, sub) in &mut subs {
        let event = sub.next().await.unwrap();
        assert_eq!(event.event, "changed", "{event:?}");
    }
    let stats = org.stats();
    assert_eq!(stats.throttled, 0);
    // Agents per request: both agents ride in (nearly) every poll's request; the first
    // fetches of the two lists may go alone.
    assert!(stats.agents * 10 >= 18 * (stats.ok - 2), "{stats:?}");
}

/// A reconnect with `Last-Event-ID` gets only what it missed; an unknown id gets the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_resumes_from_last_event_id() {
    let v0 = [conversation(AGENT_A, 1, "a1")];
    let (org, server) = org_server(&v0, fast_stream()).await;
    let mut sub = Subscription::open(&server, AGENT_A, None).await;
    assert_eq!(sub.next().await.unwrap().event, "snapshot");
    org.replace_store(store_of(&[conversation(AGENT_A, 1, "a1 v1")]));
    let seen = sub.next().await.unwrap();
    assert_eq!(seen.event, "changed");
    drop(sub);
    // Missed while away: a change and an addition.
    org.replace_store(store_of(&[
        conversation(AGENT_A, 1, "a1 v2"),
        conversation(AGENT_A, 2, "a2"),
    ]));
    tokio::time::sleep(INTERVAL * 3).await;
    let mut again = Subscription::open(&server, AGENT_A, seen.id.as_deref()).await;
    let first = again.next().await.unwrap();
    assert_eq!(
        (first.event.as_str(), &first.data["record"]["msdyn_title"]),
        ("changed", &json!("a1 v2"))
    );
    let second = again.next().await.unwrap();
    assert_eq!(second.event, "added", "{second:?}");
    let mut fresh = Subscription::open(&server, AGENT_A, Some("1-999")).await;
    let first = fresh.next().await.unwrap();
    assert_eq!(first.event, "snapshot");
    assert_eq!(
        first.id, second.id,
        "a snapshot stands where the last change is"
    );
}

/// A subscriber that stops reading is dropped with a final `dropped` event; the server keeps
/// at most its queue for it. The embedded store, replaced every interval with big records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_dropped() {
    let big = |version: u32| {
        store_of(&[conversation(
            AGENT_A,
            1,
            &format!("{version} {}", "x".repeat(512 * 1024)),
        )])
    };
    let live = LiveStore::new(big(0));
    let mut stream = StreamConfig::default();
    stream.interval = Duration::from_millis(50);
    stream.queue = 4;
    let server = TestServer::start(
        Arc::new(live.clone()),
        Options::default(),
        ServerConfig::default().with_stream(stream),
    )
    .await;
    let mut slow = Subscription::open(&server, AGENT_A, None).await;
    // Half a megabyte per event: 30 MB offered, far more than the sockets' buffers and the
    // queue hold, while `slow` reads nothing.
    for version in 1..=60 {
        live.replace(big(version));
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let mut last = None;
    while let Some(event) = slow.next().await {
        last = Some(event);
    }
    let last = last.expect("events before the end");
    assert_eq!(last.event, "dropped", "{last:?}");
    assert!(
        last.data["reason"]
            .as_str()
            .unwrap()
            .contains("Last-Event-ID")
    );
}

/// GET takes the input's fields as query parameters (what a browser's EventSource sends); the
/// subscriber limit answers 429 `too_many_subscribers`, and a closed stream frees its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_by_fields_and_the_subscriber_limit() {
    let live = LiveStore::new(store_of(&[conversation(AGENT_A, 1, "a1")]));
    let mut stream = fast_stream();
    stream.max_per_caller = 2;
    // Heartbeats are the writes that reveal a closed connection.
    stream.heartbeat = INTERVAL;
    let server = TestServer::start(
        Arc::new(live),
        Options::default(),
        ServerConfig::default().with_stream(stream),
    )
    .await;
    let url = server.url(&format!(
        "/getConversations/stream?agentId={AGENT_A}&attributes=msdyn_title&status=3"
    ));
    let open = || async { client().get(&url).send().await.unwrap() };
    let first = open().await;
    let mut first = Subscription {
        response: first,
        buffer: String::new(),
        scanned: 0,
    };
    let snapshot = first.next().await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(snapshot.data["values"][0]["msdyn_title"], "a1");
    let second = open().await;
    assert_eq!(second.status(), 200);
    let third = open().await;
    assert_eq!(third.status(), 429);
    let body: Value = third.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_subscribers", "{body}");
    drop(first);
    // The place comes back once the server notices the closed stream (its next write).
    let mut admitted = false;
    for _ in 0..50 {
        tokio::time::sleep(INTERVAL).await;
        let again = open().await;
        if again.status() == 200 {
            admitted = true;
            break;
        }
    }
    assert!(admitted, "a closed stream's place was never given back");
    // A bad input is the usual 400 envelope, before any stream.
    let bad = get_status(&server.url("/getConversations/stream?agentId=nope")).await;
    assert_eq!(bad, 400);
}

/// The simulated org (`change_tracking` as given, 2 rows per page so the first read pages) and
/// a server in delta mode in front of it: the held identity's lists run on a change-tracked copy.
async fn delta_server(records: &[Value], change_tracking: bool) -> (SimOrg, TestServer) {
    let mut org_config = SimOrgConfig::default();
    org_config.page_size = 2;
    org_config.change_tracking = change_tracking;
    let (org, backend) = org_backend(records, org_config).await;
    let state = AppState::builder(Options::default())
        .mirror(Arc::new(TrackedTable::new(&backend)))
        .build(Arc::new(backend));
    let config = ServerConfig::default()
        .with_stream(fast_stream())
        .with_addr(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let server = Server::bind(&config, &state).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    let server = TestServer {
        addr,
        shutdown: Some(tx),
        task: Some(task),
    };
    (org, server)
}

/// Opens a subscription with this input.
async fn open_input(server: &TestServer, input: &Value) -> Subscription {
    let response = client()
        .post(server.url("/getConversations/stream"))
        .header("content-type", "application/json")
        .body(input.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    Subscription {
        response,
        buffer: String::new(),
        scanned: 0,
    }
}

/// The next events of `sub`, as (event, id of the record).
async fn next_changes(sub: &mut Subscription, count: usize) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for _ in 0..count {
        let event = sub.next().await.unwrap();
        out.push((event.event, event.data["id"].clone()));
    }
    out
}

fn id_of(agent: &str, n: u32) -> Value {
    conversation(agent, n, "")["activityid"].clone()
}

/// Delta mode: a change, a new record and a deletion each reach every subscriber once and in
/// order; the org gets one request per interval (change tracking, no `$filter`), whatever the
/// number of agents and shapes; the first read is paged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_mode_sends_each_change_once_with_one_request_per_interval() {
    let v0 = a1_a2_b1();
    let (org, server) = delta_server(&v0, true).await;
    let other_shape = json!({"agentId": AGENT_A, "status": [3], "attributes": ["msdyn_title"]});
    let mut subs = Vec::new();
    for agent in [AGENT_A, AGENT_B] {
        for _ in 0..3 {
            subs.push((agent, Subscription::open(&server, agent, None).await));
        }
    }
    let mut shaped = open_input(&server, &other_shape).await;
    for (agent, sub) in &mut subs {
        let first = sub.next().await.unwrap();
        assert_eq!(first.event, "snapshot", "{first:?}");
        let count = if *agent == AGENT_A { 2 } else { 1 };
        assert_eq!(first.data["values"].as_array().unwrap().len(), count);
    }
    let first = shaped.next().await.unwrap();
    assert_eq!(
        first.data["values"].as_array().unwrap().len(),
        2,
        "{first:?}"
    );

    let quiet = requests_in_five_quiet_intervals(&org).await;
    assert!(
        (3..=6).contains(&quiet),
        "{quiet} requests in 5 intervals, 2 agents, 2 shapes"
    );

    // A change of a1, a new b2, then a1 deleted.
    let v2 = [
        conversation(AGENT_A, 2, "a2"),
        conversation(AGENT_B, 1, "b1"),
        conversation(AGENT_B, 2, "b2"),
    ];
    publish(&org, &[&a1_changed_b2_added(), &v2]).await;
    for (agent, sub) in &mut subs {
        let expected = if *agent == AGENT_A {
            vec![
                ("changed".to_owned(), id_of(AGENT_A, 1)),
                ("removed".to_owned(), id_of(AGENT_A, 1)),
            ]
        } else {
            vec![("added".to_owned(), id_of(AGENT_B, 2))]
        };
        assert_eq!(next_changes(sub, expected.len()).await, expected);
    }
    assert_eq!(
        next_changes(&mut shaped, 2).await,
        [
            ("changed".to_owned(), id_of(AGENT_A, 1)),
            ("removed".to_owned(), id_of(AGENT_A, 1))
        ]
    );
    // Nothing else came: the next change is the next event.
    org.replace_store(store_of(&[
        conversation(AGENT_A, 2, "a2 again"),
        conversation(AGENT_B, 2, "b2"),
    ]));
    for (agent, sub) in &mut subs {
        let expected = if *agent == AGENT_A {
            ("changed".to_owned(), id_of(AGENT_A, 2))
        } else {
            ("removed".to_owned(), id_of(AGENT_B, 1))
        };
        assert_eq!(next_changes(sub, 1).await, [expected]);
    }
    let stats = org.stats();
    // No query with a $filter went out (each would name its agents): change tracking only.
    assert_eq!(
        (stats.agents, stats.rejected, stats.throttled),
        (0, 0, 0),
        "{stats:?}"
    );
}

/// Delta mode on a table without change tracking: the lists are polled as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_mode_falls_back_to_polling_without_change_tracking() {
    let (org, server) = delta_server(&[conversation(AGENT_A, 1, "a1")], false).await;
    let mut sub = Subscription::open(&server, AGENT_A, None).await;
    let first = sub.next().await.unwrap();
    assert_eq!(first.event, "snapshot", "{first:?}");
    assert_eq!(first.data["values"][0]["msdyn_title"], "a1");
    org.replace_store(store_of(&[conversation(AGENT_A, 1, "a1 changed")]));
    let changed = sub.next().await.unwrap();
    assert_eq!(
        (
            changed.event.as_str(),
            &changed.data["record"]["msdyn_title"]
        ),
        ("changed", &json!("a1 changed"))
    );
    let stats = org.stats();
    // The one refused change-tracking read, then per-agent queries.
    assert_eq!(stats.rejected, 1, "{stats:?}");
    assert!(stats.agents >= 2, "{stats:?}");
}

/// An expired delta token: the table is read again in full, and changes still come once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_delta_token_reads_the_table_again() {
    let (org, server) = delta_server(&[conversation(AGENT_A, 1, "a1")], true).await;
    let mut sub = Subscription::open(&server, AGENT_A, None).await;
    assert_eq!(sub.next().await.unwrap().event, "snapshot");
    org.expire_delta_tokens();
    org.replace_store(store_of(&[
        conversation(AGENT_A, 1, "a1"),
        conversation(AGENT_A, 2, "a2"),
    ]));
    assert_eq!(
        next_changes(&mut sub, 1).await,
        [("added".to_owned(), id_of(AGENT_A, 2))]
    );
    org.replace_store(store_of(&[conversation(AGENT_A, 2, "a2")]));
    assert_eq!(
        next_changes(&mut sub, 1).await,
        [("removed".to_owned(), id_of(AGENT_A, 1))]
    );
    let stats = org.stats();
    // The refused (410) delta link, and nothing but change tracking.
    assert_eq!((stats.rejected, stats.agents), (1, 0), "{stats:?}");
}
