//! `convq-simorg`: a simulated Dataverse organization on 127.0.0.1 for load runs (see
//! `convq_simorg`). Prints `listening on http://127.0.0.1:PORT` and serves until
//! SIGINT/SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use convq_backend::EmbeddedStore;
use convq_simorg::{SimOrg, SimOrgConfig, generated_store};

/// A simulated Dataverse organization (loopback only) with Dataverse's service protection limits.
#[derive(Debug, Parser)]
struct Args {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Answer from this store file; without it, a generated store of --agents agents.
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// Agents of the generated store (ids 5a5a0000-0000-4000-8000-00000000000N, N in hex from 0).
    #[arg(long, default_value_t = 1_000)]
    agents: usize,
    /// Conversations per agent of the generated store.
    #[arg(long, default_value_t = 5)]
    per_agent: usize,
    /// Added to every answered request (e.g. 50ms).
    #[arg(long, default_value = "50ms", value_parser = duration)]
    latency: Duration,
    /// Sliding window of --max-requests (Dataverse: 300s).
    #[arg(long, default_value = "300s", value_parser = duration)]
    window: Duration,
    /// Requests per identity per window (Dataverse: 6000).
    #[arg(long, default_value_t = 6_000)]
    max_requests: usize,
    /// Requests per identity in flight (Dataverse: 52).
    #[arg(long, default_value_t = 52)]
    max_concurrent: usize,
    /// Combined execution time per identity per window (Dataverse: 1200s).
    #[arg(long, default_value = "1200s", value_parser = duration)]
    max_execution: Duration,
    /// Execution time a request costs per agent it names, on top of --latency (e.g. 5ms).
    #[arg(long, default_value = "0ms", value_parser = duration)]
    execution_per_agent: Duration,
    /// Rows per page without Prefer: odata.maxpagesize.
    #[arg(long, default_value_t = 5_000)]
    page_size: usize,
    /// The table does not track changes: `Prefer: odata.track-changes` is refused.
    #[arg(long)]
    no_change_tracking: bool,
}

/// `50ms`, `30s`, `5m` or a number of seconds.
fn duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, "s"), |i| text.split_at(i));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{text:?}: use ms, s or m")),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let store = match &args.data {
        Some(path) => EmbeddedStore::from_path(path).map_err(std::io::Error::other)?,
        None => generated_store(args.agents, args.per_agent, std::time::SystemTime::now(), 7),
    };
    let mut config = SimOrgConfig::default();
    config.latency = args.latency;
    config.window = args.window;
    config.max_requests = args.max_requests;
    config.max_concurrent = args.max_concurrent;
    config.max_execution = args.max_execution;
    config.execution_per_agent = args.execution_per_agent;
    config.page_size = args.page_size;
    config.change_tracking = !args.no_change_tracking;
    let org = SimOrg::start(store, config, args.port).await?;
    eprintln!("listening on {}", org.url());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!(
        "stats {}",
        serde_json::to_string(&org.stats()).unwrap_or_default()
    );
    Ok(())
}
