//! The getConversations service: an axum adapter over [`convq_core`] and [`convq_backend`].
//!
//! No query logic lives here. Each handler converts the request in, calls the core (`/query`) or
//! the backend's `get_conversations` (`/getConversations`), and converts the result out, always
//! as JSON; every error is the failure envelope `{"error":{code,message,path,hint},"status":false}`.
//!
//! | route | answers |
//! |---|---|
//! | `POST /getConversations` | the envelope: 200, 400 (input), 429/503 with `Retry-After` (Dataverse throttled/unavailable), 502/504 (backend), 413, 415 |
//! | `POST /getConversations/batch` | `{"inputs":[...]}` → `{"results":[envelope, ...]}`, in order |
//! | `POST /query` | the [`convq_core::Compiled`] query, or 400 with the envelope |
//! | `GET /healthz` | 200 while the process serves |
//! | `GET /readyz` | 200 when the backend is ready, 503 otherwise |
//! | `GET /openapi.json` | the OpenAPI 3.1 document, from the same types |
//! | `GET /metrics` | Prometheus text: requests by route/method/status, latency histogram |
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::sync::Arc;
//! let state = convq_http::AppState::new(
//!     Arc::new(convq_backend::EmbeddedStore::sample()),
//!     convq_core::Options::default(),
//! );
//! convq_http::serve(convq_http::ServerConfig::default(), state, convq_http::shutdown_signal()).await
//! # }
//! ```

mod args;
mod auth;
mod error;
mod handlers;
mod hosts;
mod metrics;
mod middleware;
mod openapi;
mod server;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::http::HeaderValue;
use axum::routing::{get, post};
use convq_backend::Backend;
use convq_core::Options;

pub use args::{
    DaysReadingArg, START_ERROR_CODES, ServeArgs, StartError, TOKEN_VAR, init_tracing,
    init_tracing_with, parse_duration, parse_duration_or_zero, read_options,
};
pub use auth::{AccessArgs, AccessError, AccessPolicy, ApiKeys, DataverseAuthArgs, EntraConfig};
pub use error::{HTTP_ERROR_CODES, HttpCode};
pub use openapi::document as openapi_document;
pub use server::{ConnectionLimits, Server, serve, shutdown_signal};

/// The header (and, as `correlationId`, the query parameter) that carries the correlation id.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// Request limits, applied to every route.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest request body in bytes; larger bodies get 413.
    pub body_limit: usize,
    /// Longest a request may take, backend call included; slower requests get 504.
    pub request_timeout: Duration,
    /// Requests handled at once (0 counts as 1); more wait for a slot (within their timeout). Only
    /// `/getConversations` and `/query` take a slot, and only once their body is read: a slow
    /// client holds a connection, not a slot, and the probes answer when every slot is busy.
    pub concurrency_limit: usize,
    /// Longest a request body may take to arrive; a client that stops sending gets 408 and its
    /// connection is closed. Default 10 s.
    pub body_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            concurrency_limit: 512,
            body_read_timeout: Duration::from_secs(10),
        }
    }
}

/// How the server listens and what it lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Where to listen; `127.0.0.1:8080` by default (loopback: exposing it is a decision).
    pub addr: SocketAddr,
    /// Body size, timeout and concurrency limits.
    pub limits: Limits,
    /// Browser origins allowed by CORS. Empty (the default): no CORS headers at all.
    pub cors_origins: Vec<HeaderValue>,
    /// Timeouts and limits of the connections themselves.
    pub connections: ConnectionLimits,
    /// `Host` values accepted besides the loopback names (`host` or `host:port`). On a
    /// loopback address only `localhost`, `127.0.0.1` and `[::1]` (any port) and these are
    /// accepted, which stops DNS rebinding; elsewhere, when not empty, only these.
    pub allowed_hosts: Vec<String>,
    /// A fixed "now" for `createdBeforeDays` on the embedded store (reproducible demos and
    /// tests against the sample data); `None` (the default): the system clock.
    pub fixed_now: Option<SystemTime>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            limits: Limits::default(),
            cors_origins: Vec::new(),
            connections: ConnectionLimits::default(),
            allowed_hosts: Vec::new(),
            fixed_now: None,
        }
    }
}

impl ServerConfig {
    /// Sets the listen address.
    #[must_use]
    pub fn with_addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Sets the limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Answers as if it were always `now` (see [`ServerConfig::fixed_now`]).
    #[must_use]
    pub fn with_fixed_now(mut self, now: SystemTime) -> Self {
        self.fixed_now = Some(now);
        self
    }

    /// Allows a browser origin (`https://app.example.com`).
    #[must_use]
    pub fn with_cors_origin(mut self, origin: HeaderValue) -> Self {
        self.cors_origins.push(origin);
        self
    }

    /// Sets the connection limits.
    #[must_use]
    pub fn with_connections(mut self, connections: ConnectionLimits) -> Self {
        self.connections = connections;
        self
    }

    /// Accepts this `Host` value (`api.example.com` or `api.example.com:8443`).
    #[must_use]
    pub fn with_allowed_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(host.into());
        self
    }
}

/// What the handlers share: the backend, the compile options, the limits and the metrics.
/// Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    backend: Arc<dyn Backend>,
    options: Options,
    /// `options` with unknown columns rejected, for `?strict=true`; built once, not per request.
    strict_options: Options,
    limits: Limits,
    cors_origins: Vec<HeaderValue>,
    hosts: hosts::HostPolicy,
    fixed_now: Option<SystemTime>,
    metrics: Arc<metrics::Metrics>,
    openapi: Vec<u8>,
    run_defaults: RunDefaults,
    /// Who may call the protected routes.
    access: auth::AccessPolicy,
    /// Whether `/metrics` is served by the main router (not with `--metrics-addr`).
    metrics_route: bool,
    /// The configuration the state was built with, for the `with_*` copies.
    config: ServerConfig,
}

/// What a `/getConversations` request runs with unless its query parameters say otherwise
/// (`timeZone`, `formattedValues`).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RunDefaults {
    /// The time zone of `createdBeforeDays`' day boundaries (UTC by default).
    pub time_zone: Option<convq_backend::TimeZone>,
    /// Whether to answer formatted values.
    pub formatted_values: bool,
}

impl RunDefaults {
    /// Sets the time zone.
    #[must_use]
    pub fn with_time_zone(mut self, time_zone: convq_backend::TimeZone) -> Self {
        self.time_zone = Some(time_zone);
        self
    }

    /// Sets whether to answer formatted values.
    #[must_use]
    pub fn with_formatted_values(mut self, formatted_values: bool) -> Self {
        self.formatted_values = formatted_values;
        self
    }
}

impl AppState {
    /// A state with default limits and no CORS.
    #[must_use]
    pub fn new(backend: Arc<dyn Backend>, options: Options) -> Self {
        Self::build(
            backend,
            options,
            &ServerConfig::default(),
            Arc::new(metrics::Metrics::new()),
            auth::AccessPolicy::open(),
            true,
        )
    }

    /// The same state with these inbound rules.
    #[must_use]
    pub fn with_access(&self, access: AccessPolicy) -> Self {
        Self::build(
            Arc::clone(&self.inner.backend),
            self.inner.options.clone(),
            &self.inner.config,
            Arc::clone(&self.inner.metrics),
            access,
            self.inner.metrics_route,
        )
    }

    /// The same state without the `/metrics` route (served elsewhere, see [`metrics_router`]).
    #[must_use]
    pub fn without_metrics_route(&self) -> Self {
        Self::build(
            Arc::clone(&self.inner.backend),
            self.inner.options.clone(),
            &self.inner.config,
            Arc::clone(&self.inner.metrics),
            self.inner.access.clone(),
            false,
        )
    }

    /// The same backend and options with the limits and CORS origins of `config`.
    #[must_use]
    pub fn with_config(&self, config: &ServerConfig) -> Self {
        Self::build(
            Arc::clone(&self.inner.backend),
            self.inner.options.clone(),
            config,
            Arc::clone(&self.inner.metrics),
            self.inner.access.clone(),
            self.inner.metrics_route,
        )
        .with_run_defaults(self.inner.run_defaults.clone())
    }

    /// The same state with these run defaults.
    #[must_use]
    pub fn with_run_defaults(&self, run_defaults: RunDefaults) -> Self {
        let mut state = self.clone();
        Arc::make_mut(&mut state.inner).run_defaults = run_defaults;
        state
    }

    /// The run defaults in force.
    #[must_use]
    pub fn run_defaults(&self) -> &RunDefaults {
        &self.inner.run_defaults
    }

    pub(crate) fn build(
        backend: Arc<dyn Backend>,
        options: Options,
        config: &ServerConfig,
        metrics: Arc<metrics::Metrics>,
        access: AccessPolicy,
        metrics_route: bool,
    ) -> Self {
        let strict_options = options
            .clone()
            .with_unknown_columns(convq_core::UnknownColumns::Error);
        let openapi = serde_json::to_vec_pretty(&openapi::document())
            .expect("the OpenAPI document is plain JSON");
        Self {
            inner: Arc::new(Inner {
                backend,
                options,
                strict_options,
                limits: config.limits.clone(),
                cors_origins: config.cors_origins.clone(),
                hosts: hosts::HostPolicy::new(config.addr.ip(), &config.allowed_hosts),
                fixed_now: config.fixed_now,
                metrics,
                openapi,
                run_defaults: RunDefaults::default(),
                access,
                metrics_route,
                config: config.clone(),
            }),
        }
    }

    /// The backend requests run against.
    #[must_use]
    pub fn backend(&self) -> &dyn Backend {
        self.inner.backend.as_ref()
    }

    /// The compile options in force.
    #[must_use]
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// The limits in force.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// "Now" for a request: the fixed time if one is configured (`serve --now`), else the
    /// store's own "now" when it has one (the sample store), else the clock.
    fn now(&self) -> SystemTime {
        self.inner
            .fixed_now
            .or_else(|| self.backend().reference_now())
            .unwrap_or_else(SystemTime::now)
    }

    fn options_for(&self, strict: bool) -> &Options {
        if strict {
            &self.inner.strict_options
        } else {
            &self.inner.options
        }
    }
}

/// The service: every route, with the limits, CORS, metrics, correlation ids and access log of
/// `state`. Bind it with [`serve`] / [`Server`], or call it in-process.
pub fn router(state: AppState) -> Router {
    // Callers are checked on these; /healthz, /readyz and /metrics stay open for probes.
    let protected = Router::new()
        .route("/getConversations", post(handlers::get_conversations))
        .route("/getConversations/batch", post(handlers::batch))
        .route("/query", post(handlers::query))
        .route("/openapi.json", get(handlers::openapi))
        // The routes above (the work) share the concurrency limit; the routes below answer even
        // when every slot is busy, so probes keep working under load.
        .route_layer(middleware::work_limit(&state))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    let mut routes = protected
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz));
    if state.inner.metrics_route {
        routes = routes.route("/metrics", get(handlers::metrics));
    }
    let routes = routes
        .fallback(handlers::not_found)
        .with_state(state.clone());
    middleware::apply(routes, &state)
}

/// `/metrics` alone, for `--metrics-addr`: the metrics of `state`'s router.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(handlers::metrics))
        .with_state(state)
}
