//! `cargo bench -p convq-http --bench routes`: one request through the whole router, in process
//! (no socket, no kernel), per route: `/healthz` (the middleware alone), `/query` (the core's
//! compile and its JSON), `/getConversations` (compile, the sample store, the envelope). The
//! differences between them are what the work routes cost above the shared middleware; the load
//! script (`scripts/load.sh`) measures the same routes over real sockets.
//!
//! The state is what `convq serve` with no flags serves (the built-in sample store, default
//! options and limits), without the access log, which every route writes alike.

use std::hint::black_box;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, header};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use tower::ServiceExt;

const INPUT: &str = include_str!("../../../examples/waiting.json");

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let state = convq_http::AppState::new(
        Arc::new(convq_backend::EmbeddedStore::sample()),
        convq_core::Options::default(),
    );
    let app = convq_http::router(state);
    let request = |method: &str, path: &str, body: &'static str| {
        let builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "127.0.0.1");
        if body.is_empty() {
            builder.body(Body::empty())
        } else {
            builder
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, body.len())
                .body(Body::from(body))
        }
        .expect("a valid request")
    };
    let call = |method: &'static str, path: &'static str, body: &'static str| {
        let app = app.clone();
        async move {
            let response = app.oneshot(request(method, path, body)).await.unwrap();
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            response.into_body().collect().await.unwrap().to_bytes()
        }
    };
    let mut group = c.benchmark_group("route");
    for (name, method, path, body) in [
        ("healthz", "GET", "/healthz", ""),
        ("query", "POST", "/query", INPUT),
        ("getConversations", "POST", "/getConversations", INPUT),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| black_box(runtime.block_on(call(method, path, body))));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
