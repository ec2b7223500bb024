//! `convq get --watch`: poll the input's list every interval and print what changed, as NDJSON
//! (`{"id","event","data"}` per line; `data` as `/getConversations/stream` sends it).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use anyhow::Context;
use convq_backend::watch::Feed;
use convq_backend::{Backend, LiveStore, RunContext};
use convq_core::Options;

use super::GetArgs;
use crate::Outcome;
use crate::output;

/// Runs until interrupted or `--watch-for` ends. An input that does not compile exits 2 at
/// once; a failing backend prints a `failed` line and tries again next interval.
pub(super) fn run(
    args: &GetArgs,
    backend: Box<dyn Backend>,
    options: &Options,
    ctx: RunContext,
) -> anyhow::Result<Outcome> {
    let source = args.input.source();
    let mut reader = source.open(args.input.file.is_some())?;
    let text = crate::input::read_document(&mut reader)
        .with_context(|| format!("cannot read {source}"))?;
    let compiled = match text.and_then(|text| convq_core::compile(&text, options)) {
        Ok(compiled) => compiled,
        Err(error) => {
            output::report_error(&error, None);
            output::print(
                &mut std::io::stdout().lock(),
                &output::failure_envelope(&error)?,
            )?;
            return Ok(Outcome::Rejected);
        }
    };
    for warning in &compiled.warnings {
        output::report_warning(warning, None);
    }
    // --data: answer from a store that is read again when the file changes.
    let reloading = args
        .data
        .data
        .as_ref()
        .map(|path| Reload::new(path.clone()));
    let live = match &reloading {
        Some(reload) => Some(LiveStore::new(
            convq_backend::EmbeddedStore::from_path(&reload.path)
                .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?,
        )),
        None => None,
    };
    let backend: Box<dyn Backend> = match &live {
        Some(live) => Box::new(live.clone()),
        None => backend,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let started = Instant::now();
    let mut feed = Feed::new(compiled.ast.agent_id.to_string(), epoch(), 0);
    let mut reloading = reloading;
    let mut out = std::io::stdout().lock();
    loop {
        if let (Some(reload), Some(live)) = (&mut reloading, &live) {
            reload.check(live);
        }
        let mut ctx = ctx.clone();
        if args.data.now.is_none() && backend.reference_now().is_none() {
            ctx.now = SystemTime::now();
        }
        match runtime.block_on(backend.fetch(&compiled, &ctx)) {
            Ok(rows) => {
                let first = !feed.is_ready();
                let events = feed.apply(rows);
                let events = if first {
                    feed.snapshot().into_iter().collect()
                } else {
                    events
                };
                for event in events {
                    let line = format!(
                        r#"{{"id":{},"event":"{}","data":{}}}"#,
                        serde_json::Value::from(event.id),
                        event.kind.as_str(),
                        event.data
                    );
                    writeln!(out, "{line}")?;
                }
            }
            Err(error) => {
                let line =
                    serde_json::json!({"event": "failed", "data": {"error": error.to_body()}});
                writeln!(out, "{line}")?;
            }
        }
        out.flush()?;
        let next = Instant::now() + args.watch.interval;
        if let Some(limit) = args.watch.watch_for
            && next.duration_since(started) > limit
        {
            return Ok(Outcome::Success);
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// Ids from the clock, so ids of two runs differ.
fn epoch() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A `--data` file, read again when its modification time or size changes.
pub(crate) struct Reload {
    path: PathBuf,
    seen: Option<(SystemTime, u64)>,
}

impl Reload {
    pub(crate) fn new(path: PathBuf) -> Self {
        let seen = stamp(&path);
        Self { path, seen }
    }

    /// Reloads `live` when the file changed; a file that does not load is reported on stderr
    /// and the previous records kept.
    pub(crate) fn check(&mut self, live: &LiveStore) {
        let now = stamp(&self.path);
        if now == self.seen {
            return;
        }
        self.seen = now;
        if let Err(error) = live.reload(&self.path) {
            eprintln!(
                "convq: [{}] {} not reloaded: {error}",
                error.code(),
                self.path.display()
            );
        }
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}
