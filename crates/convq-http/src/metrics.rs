//! Prometheus metrics, one registry per [`AppState`](crate::AppState): no global recorder, so
//! several servers in one process (the tests) count separately.

use axum::http::StatusCode;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
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
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(in_flight.clone()),
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
        }
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
