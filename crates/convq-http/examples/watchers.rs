//! Live-list subscribers (scripts/watch-org.sh): `--agents` agents' dashboards each hold a
//! `/getConversations/stream` open while the simulated organization's data changes every
//! `--change-every` seconds (`PUT /_simorg/data`: `--changes` agents get one record's title set
//! to the change's time). Loopback only; bounded by `--duration`.
//!
//! Prints one JSON line: subscribers, events by kind, changes made, changes seen (each
//! `changed` event whose title carries a change time), latency from the change to the event
//! (p50/p99/max ms), and streams that ended early. Changes stop `--drain` seconds (default 10)
//! before the end.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use convq_simorg::testkit::loopback_url;
use serde_json::{Value, json};

#[derive(clap::Parser)]
struct Args {
    /// The convq service (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080", value_parser = loopback_url)]
    url: String,
    /// The simulated organization (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8081", value_parser = loopback_url)]
    org: String,
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// Records per agent.
    #[arg(long, default_value_t = 5)]
    per_agent: usize,
    /// Agents whose list a change touches.
    #[arg(long, default_value_t = 10)]
    changes: usize,
    /// Seconds between changes.
    #[arg(long, default_value_t = 1.0)]
    change_every: f64,
    /// Seconds the run lasts.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Seconds before the end when changes stop.
    #[arg(long, default_value_t = 10.0)]
    drain: f64,
}

fn agent(i: usize) -> String {
    format!("5a5a0000-0000-4000-8000-{i:012x}")
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Every record: `per_agent` per agent, record 0's title set by `titles`.
fn records(agents: usize, per_agent: usize, titles: &HashMap<usize, String>) -> Vec<u8> {
    let mut out = Vec::new();
    for a in 0..agents {
        for r in 0..per_agent {
            let id = format!("00000000-{a:04x}-4000-8000-{r:012x}");
            let title = match (r, titles.get(&a)) {
                (0, Some(title)) => title.clone(),
                _ => format!("conversation {r}"),
            };
            out.push(json!({
                "activityid": id,
                "msdyn_ocliveworkitemid": id,
                "_msdyn_activeagentid_value": agent(a),
                "statuscode": 1 + (r % 7),
                "createdon": "2026-11-20T10:00:00Z",
                "msdyn_title": title,
            }));
        }
    }
    serde_json::to_vec(&out).unwrap()
}

#[derive(Default)]
struct Tally {
    events: HashMap<String, u64>,
    latencies_ms: Vec<u64>,
    ended: u64,
    connected: u64,
    first_problem: Option<String>,
}

#[tokio::main]
async fn main() {
    let args: Args = clap::Parser::parse();
    let Args {
        url,
        org,
        agents,
        per_agent,
        changes,
        drain,
        ..
    } = args;
    let every = Duration::from_secs_f64(args.change_every);
    let duration = Duration::from_secs_f64(args.duration);
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(agents)
        .build()
        .unwrap();
    let mut titles = HashMap::new();
    let put = |client: reqwest::Client, body: Vec<u8>| {
        let org = org.clone();
        async move {
            let response = client
                .put(format!("{org}/_simorg/data"))
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{}", response.status());
        }
    };
    put(client.clone(), records(agents, per_agent, &titles)).await;

    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let end = started + duration;
    let mut tasks = Vec::new();
    for i in 0..agents {
        let (client, tally) = (client.clone(), Arc::clone(&tally));
        let body = json!({"agentId": agent(i), "attributes": ["msdyn_title"]}).to_string();
        let url = format!("{url}/getConversations/stream");
        tasks.push(tokio::spawn(async move {
            let problem = |tally: &Mutex<Tally>, text: String| {
                let mut t = tally.lock().unwrap();
                t.ended += 1;
                t.first_problem.get_or_insert(text);
            };
            let mut response = match client
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => r,
                Ok(r) => return problem(&tally, format!("status {}", r.status())),
                Err(e) => return problem(&tally, e.to_string()),
            };
            tally.lock().unwrap().connected += 1;
            let mut buffer = String::new();
            loop {
                let chunk = tokio::time::timeout_at(end.into(), response.chunk()).await;
                let bytes = match chunk {
                    Err(_) => return,
                    Ok(Ok(Some(bytes))) => bytes,
                    Ok(Ok(None)) => return problem(&tally, "the stream ended".into()),
                    Ok(Err(e)) => return problem(&tally, e.to_string()),
                };
                buffer.push_str(&String::from_utf8_lossy(&bytes));
                while let Some(at) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..at + 2).collect();
                    let mut event = "message";
                    let mut data = "";
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event: ") {
                            event = v;
                        } else if let Some(v) = line.strip_prefix("data: ") {
                            data = v;
                        }
                    }
                    if data.is_empty() {
                        continue;
                    }
                    let now = unix_ms();
                    let mut t = tally.lock().unwrap();
                    *t.events.entry(event.to_owned()).or_default() += 1;
                    if event == "changed"
                        && let Ok(value) = serde_json::from_str::<Value>(data)
                        && let Some(at) = value["record"]["msdyn_title"]
                            .as_str()
                            .and_then(|s| s.strip_prefix("changed at "))
                            .and_then(|s| s.parse::<u64>().ok())
                    {
                        t.latencies_ms.push(now.saturating_sub(at));
                    }
                }
            }
        }));
    }
    // Let the subscriptions open before changing anything.
    tokio::time::sleep(Duration::from_secs(3).min(duration / 4)).await;
    let mut made = 0u64;
    let mut next = 0usize;
    let mut tick = tokio::time::interval(every);
    // Changes stop `--drain` seconds before the end, so the last ones can still arrive.
    let drain = Duration::from_secs_f64(drain);
    while Instant::now() + every + drain < end {
        tick.tick().await;
        let at = unix_ms();
        for _ in 0..changes {
            titles.insert(next % agents, format!("changed at {at}"));
            next += 1;
            made += 1;
        }
        put(client.clone(), records(agents, per_agent, &titles)).await;
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut t = tally.lock().unwrap();
    t.latencies_ms.sort_unstable();
    let pct = |p: f64| {
        t.latencies_ms
            .get(((t.latencies_ms.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{}",
        json!({
            "subscribers": agents,
            "connected": t.connected,
            "events": t.events,
            "changes_made": made,
            "changes_seen": t.latencies_ms.len(),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": t.latencies_ms.last().copied().unwrap_or(0),
            "ended_early": t.ended,
            "first_problem": t.first_problem,
        })
    );
}
