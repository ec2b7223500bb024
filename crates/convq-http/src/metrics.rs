//! Prometheus metrics, one registry per [`AppState`](crate::AppState): no global recorder, so
//! several servers in one process (the tests) count separately.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use convq_dataverse::Observer;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Latency buckets in seconds: the service answers from memory in well under a millisecond, and
/// a Dataverse round trip takes tens to thousands of milliseconds, so both ends need resolution.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

pub(crate) struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    upstream: Upstream,
}

/// What the shared Dataverse path reports (coalescing, cache, pacing): see
/// [`convq_dataverse::Observer`]. Zero with an embedded store.
#[derive(Clone)]
pub(crate) struct Upstream {
    requests: IntCounter,
    calls_per_query: Histogram,
    cache_hits: IntCounter,
    throttle_pauses: IntCounter,
    queue_wait: Histogram,
}

impl Observer for Upstream {
    fn upstream_request(&self) {
        self.requests.inc();
    }

    fn upstream_query(&self, calls: usize) {
        self.calls_per_query.observe(calls as f64);
    }

    fn cache_hit(&self) {
        self.cache_hits.inc();
    }

    fn throttle_pause(&self, _wait: Duration) {
        self.throttle_pauses.inc();
    }

    fn queue_wait(&self, wait: Duration) {
        self.queue_wait.observe(wait.as_secs_f64());
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "convq_http_requests_total",
                "HTTP requests answered, by route, method and status.",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric definition");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "convq_http_request_duration_seconds",
                "Time from receiving a request to its response, by route and method.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route", "method"],
        )
        .expect("valid metric definition");
        let in_flight = IntGauge::new(
            "convq_http_requests_in_flight",
            "Requests being handled right now.",
        )
        .expect("valid metric definition");
        let counter =
            |name: &str, help: &str| IntCounter::new(name, help).expect("valid metric definition");
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
                .expect("valid metric definition")
        };
        let upstream = Upstream {
            requests: counter(
                "convq_upstream_requests_total",
                "HTTP requests sent to Dataverse (every page and retry).",
            ),
            calls_per_query: histogram(
                "convq_upstream_calls_per_query",
                "Calls answered by one upstream query (coalescing).",
                &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0],
            ),
            cache_hits: counter("convq_cache_hits_total", "Calls answered from the cache."),
            throttle_pauses: counter(
                "convq_throttle_pauses_total",
                "429/503 answers that paused every request of their identity.",
            ),
            queue_wait: histogram(
                "convq_upstream_queue_wait_seconds",
                "Time a Dataverse request waited at its identity's gate.",
                LATENCY_BUCKETS,
            ),
        };
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(in_flight.clone()),
            Box::new(upstream.requests.clone()),
            Box::new(upstream.calls_per_query.clone()),
            Box::new(upstream.cache_hits.clone()),
            Box::new(upstream.throttle_pauses.clone()),
            Box::new(upstream.queue_wait.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        Self {
            registry,
            requests,
            latency,
            in_flight,
            upstream,
        }
    }

    /// The observer to give the Dataverse client.
    pub(crate) fn upstream(&self) -> Arc<dyn Observer> {
        Arc::new(self.upstream.clone())
    }

    /// Counts a request as in flight until the guard drops (also when the client goes away
    /// and the request's future is dropped).
    pub(crate) fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    pub(crate) fn observe(&self, route: &str, method: &str, status: StatusCode, seconds: f64) {
        self.requests
            .with_label_values(&[route, method, status.as_str()])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(seconds);
    }

    /// The text exposition format (version 0.0.4).
    pub(crate) fn render(&self) -> (String, Vec<u8>) {
        let encoder = TextEncoder::new();
        let mut out = Vec::new();
        encoder
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding into a Vec cannot fail");
        (encoder.format_type().to_owned(), out)
    }
}

pub(crate) struct InFlight(IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_renders_by_route_method_and_status() {
        let metrics = Metrics::new();
        metrics.observe("/healthz", "GET", StatusCode::OK, 0.000_2);
        metrics.observe("/healthz", "GET", StatusCode::OK, 0.000_2);
        metrics.observe("/query", "POST", StatusCode::BAD_REQUEST, 0.003);
        let guard = metrics.in_flight();
        let (content_type, body) = metrics.render();
        drop(guard);
        let text = String::from_utf8(body).unwrap();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        assert!(
            text.contains(
                r#"convq_http_requests_total{method="GET",route="/healthz",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"convq_http_requests_total{method="POST",route="/query",status="400"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"convq_http_request_duration_seconds_bucket{method="POST",route="/query",le="0.005"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"convq_http_request_duration_seconds_bucket{method="POST",route="/query",le="0.0025"} 0"#),
            "{text}"
        );
        assert!(text.contains("convq_http_requests_in_flight 1"), "{text}");
        assert_eq!(metrics.in_flight.get(), 0);
    }
}
