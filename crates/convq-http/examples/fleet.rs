//! A fleet of agents' screens polling `POST /getConversations` (scripts/load-org.sh): each agent
//! of the simulated organization's generated store asks for its conversations every interval,
//! starting at a random offset. Loopback only; bounded by `--duration`.
//!
//! Prints one JSON line: calls, ok, failed, latency p50/p99 (ms), staleness (the `Age` header:
//! mean and max seconds), and the first failure's body.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use convq_simorg::generated_agent;
use convq_simorg::testkit::loopback_url;
use serde_json::json;

#[derive(clap::Parser)]
struct Args {
    /// The convq service (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080", value_parser = loopback_url)]
    url: String,
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// Seconds between an agent's calls.
    #[arg(long, default_value_t = 10.0)]
    interval: f64,
    /// Seconds the fleet runs.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
}

#[derive(Default)]
struct Tally {
    latencies: Vec<f64>,
    ages: Vec<u64>,
    failed: u64,
    first_failure: Option<String>,
}

#[tokio::main]
async fn main() {
    let args: Args = clap::Parser::parse();
    let (url, agents) = (args.url, args.agents);
    let interval = Duration::from_secs_f64(args.interval);
    let duration = Duration::from_secs_f64(args.duration);
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(agents)
        .build()
        .unwrap();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let tasks: Vec<_> = (0..agents)
        .map(|i| {
            let (client, url, tally) = (
                client.clone(),
                format!("{url}/getConversations"),
                tally.clone(),
            );
            let body =
                json!({"agentId": generated_agent(i), "status": [1, 2, 3, 4, 5, 6, 7]}).to_string();
            // Spread the first polls over one interval, deterministically.
            let offset = interval.mul_f64((i as f64 * 0.618_034) % 1.0);
            tokio::spawn(async move {
                let mut next = started + offset;
                while next < started + duration {
                    tokio::time::sleep_until(next.into()).await;
                    next += interval;
                    let sent = Instant::now();
                    let response = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    let result = match response {
                        Ok(r) => {
                            let age = r
                                .headers()
                                .get("age")
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| v.parse::<u64>().ok());
                            let status = r.status();
                            let text = r.text().await.unwrap_or_default();
                            if status.is_success() && text.contains(r#""status":true"#) {
                                Ok(age.unwrap_or(0))
                            } else {
                                Err(format!("{status} {text}"))
                            }
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    let elapsed = sent.elapsed().as_secs_f64() * 1000.0;
                    let mut tally = tally.lock().unwrap();
                    match result {
                        Ok(age) => {
                            tally.latencies.push(elapsed);
                            tally.ages.push(age);
                        }
                        Err(e) => {
                            tally.failed += 1;
                            tally.first_failure.get_or_insert(e);
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut tally = tally.lock().unwrap();
    tally.latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        let l = &tally.latencies;
        if l.is_empty() {
            0.0
        } else {
            l[((l.len() - 1) as f64 * p).round() as usize]
        }
    };
    let ok = tally.latencies.len() as u64;
    let mean_age = tally.ages.iter().sum::<u64>() as f64 / ok.max(1) as f64;
    println!(
        "{}",
        json!({
            "calls": ok + tally.failed,
            "ok": ok,
            "failed": tally.failed,
            "p50_ms": (pct(0.5) * 10.0).round() / 10.0,
            "p99_ms": (pct(0.99) * 10.0).round() / 10.0,
            "mean_age_s": (mean_age * 100.0).round() / 100.0,
            "max_age_s": tally.ages.iter().max().copied().unwrap_or(0),
            "seconds": started.elapsed().as_secs_f64(),
            "first_failure": tally.first_failure.as_deref().map(|f| f.chars().take(300).collect::<String>()),
        })
    );
}
