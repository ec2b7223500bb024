//! What the shared Dataverse path reports for metrics: the adapters decide how to record it
//! (Prometheus in the service, a summary in the CLI), so the backend depends on no metrics crate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Receives the events of [`Shared`](crate::Shared) and the Dataverse client. Every method
/// has an empty default; implementations must be cheap (they run on the request path).
pub trait Observer: Send + Sync {
    /// One HTTP request went to Dataverse (each page and each retry counts, as they do toward
    /// Dataverse's limits).
    fn upstream_request(&self) {}
    /// One upstream query (all its pages) answered `calls` calls at once.
    fn upstream_query(&self, calls: usize) {
        let _ = calls;
    }
    /// A call was answered from the cache.
    fn cache_hit(&self) {}
    /// Dataverse answered 429/503 with a wait: every request of the identity pauses for `wait`.
    fn throttle_pause(&self, wait: Duration) {
        let _ = wait;
    }
    /// A request waited `wait` at the identity's gate (concurrency limit or pause) before going out.
    fn queue_wait(&self, wait: Duration) {
        let _ = wait;
    }
}

impl std::fmt::Debug for dyn Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

/// An [`Observer`] that counts, for summaries and tests.
#[derive(Debug, Default)]
pub struct Counters {
    upstream_requests: AtomicU64,
    upstream_queries: AtomicU64,
    calls: AtomicU64,
    cache_hits: AtomicU64,
    throttle_pauses: AtomicU64,
    queue_wait_micros: AtomicU64,
}

/// What [`Counters`] counted so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CountersSnapshot {
    /// HTTP requests sent to Dataverse.
    pub upstream_requests: u64,
    /// Upstream queries (each one or more pages).
    pub upstream_queries: u64,
    /// Calls answered by those queries.
    pub calls: u64,
    /// Calls answered from the cache.
    pub cache_hits: u64,
    /// 429/503 pauses.
    pub throttle_pauses: u64,
    /// Time spent waiting at the gate, all requests together.
    pub queue_wait: Duration,
}

impl Counters {
    /// The counts so far.
    #[must_use]
    pub fn snapshot(&self) -> CountersSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CountersSnapshot {
            upstream_requests: get(&self.upstream_requests),
            upstream_queries: get(&self.upstream_queries),
            calls: get(&self.calls),
            cache_hits: get(&self.cache_hits),
            throttle_pauses: get(&self.throttle_pauses),
            queue_wait: Duration::from_micros(get(&self.queue_wait_micros)),
        }
    }
}

impl Observer for Counters {
    fn upstream_request(&self) {
        self.upstream_requests.fetch_add(1, Ordering::Relaxed);
    }

    fn upstream_query(&self, calls: usize) {
        self.upstream_queries.fetch_add(1, Ordering::Relaxed);
        self.calls.fetch_add(calls as u64, Ordering::Relaxed);
    }

    fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    fn throttle_pause(&self, _wait: Duration) {
        self.throttle_pauses.fetch_add(1, Ordering::Relaxed);
    }

    fn queue_wait(&self, wait: Duration) {
        let micros = u64::try_from(wait.as_micros()).unwrap_or(u64::MAX);
        self.queue_wait_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// Observes nothing: the default of the Dataverse client.
#[derive(Debug, Default)]
pub(crate) struct Nothing;

impl Observer for Nothing {}
