//! The getConversations service: an axum adapter over [`convq_core`] and [`convq_backend`].
//!
//! No query logic lives here. Each handler converts the request in, calls the core (`/query`) or
//! the backend's `get_conversations` (`/getConversations`), and converts the result out, always
//! as JSON; every error is the failure envelope `{"error":{code,message,path,hint},"status":false}`.
//!
//! | route | answers |
//! |---|---|
//! | `POST /getConversations` | the envelope: 200, 400 (input), 429/503 with `Retry-After` (Dataverse throttled/unavailable), 502/504 (backend), 413, 415 |
//! | `GET\|POST /getConversations/stream` | Server-Sent Events: the list, then its changes (`stream`) |
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

mod access;
mod error;
mod handlers;
mod hosts;
mod metrics;
mod middleware;
mod openapi;
mod server;
mod stream;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::FromRef;
use axum::http::HeaderValue;
use axum::routing::{get, post};
use convq_backend::Backend;
use convq_core::Options;

pub use access::{AccessError, AccessPolicy, ApiKeys, EntraConfig, PUBLIC_AUTHORITY};
pub use error::{HTTP_ERROR_CODES, HttpCode};
pub use openapi::document as openapi_document;
pub use server::{
    ConnectionLimits, LISTENING_TARGET, SERVE_ERROR_CODES, ServeError, Server, run, serve,
    shutdown_signal,
};
pub use stream::StreamConfig;

/// The header (and, as `correlationId`, the query parameter) that carries the correlation id.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// Request limits, applied to every route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq, derive_setters::Setters)]
#[setters(prefix = "with_", strip_option)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Where to listen; `127.0.0.1:8080` by default (loopback: exposing it is a decision).
    pub addr: SocketAddr,
    /// Body size, timeout and concurrency limits.
    pub limits: Limits,
    /// Browser origins allowed by CORS. Empty (the default): no CORS headers at all.
    #[setters(skip)]
    pub cors_origins: Vec<HeaderValue>,
    /// Timeouts and limits of the connections themselves.
    pub connections: ConnectionLimits,
    /// `Host` values accepted besides the loopback names (`host` or `host:port`). On a
    /// loopback address only `localhost`, `127.0.0.1` and `[::1]` (any port) and these are
    /// accepted, which stops DNS rebinding; elsewhere, when not empty, only these.
    #[setters(skip)]
    pub allowed_hosts: Vec<String>,
    /// A fixed "now" for `createdBeforeDays` on the embedded store (reproducible demos and
    /// tests against the sample data); `None` (the default): the system clock.
    pub fixed_now: Option<SystemTime>,
    /// Where `/metrics` is served instead of the main address ([`run`] binds it; the main
    /// router then has no `/metrics`). `None` (the default): on the main address.
    pub metrics_addr: Option<SocketAddr>,
    /// What a `/getConversations` request runs with unless its query parameters say otherwise.
    pub run_defaults: RunDefaults,
    /// Live lists (`/getConversations/stream`): interval, heartbeat, subscriber limits.
    pub stream: StreamConfig,
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
            metrics_addr: None,
            run_defaults: RunDefaults::default(),
            stream: StreamConfig::default(),
        }
    }
}

impl ServerConfig {
    /// Allows a browser origin (`https://app.example.com`).
    #[must_use]
    pub fn with_cors_origin(mut self, origin: HeaderValue) -> Self {
        self.cors_origins.push(origin);
        self
    }

    /// Accepts this `Host` value (`api.example.com` or `api.example.com:8443`).
    #[must_use]
    pub fn with_allowed_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(host.into());
        self
    }
}

/// What the handlers share: the backend, the compile options, the configuration, the access
/// policy and the metrics. Cheap to clone. Middleware that needs one part takes it as its own
/// state ([`FromRef`]): the [`Limits`], the [`AccessPolicy`], the `Host` policy.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    options: Options,
    /// `options` with unknown columns rejected, for `?strict=true`; built once, not per request.
    strict_options: Options,
    config: ServerConfig,
    /// `config.allowed_hosts` and the address, parsed once.
    hosts: Arc<hosts::HostPolicy>,
    access: AccessPolicy,
    metrics: Arc<metrics::Metrics>,
    openapi: Vec<u8>,
    /// Live lists' subscribers and poll tasks.
    stream: Arc<stream::Hub>,
    /// Live lists' change-tracked copy of the table (delta mode), for the held identity.
    mirror: Option<Arc<dyn convq_backend::TableMirror>>,
}

/// What a `/getConversations` request runs with unless its query parameters say otherwise
/// (`timeZone`, `formattedValues`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunDefaults {
    /// The time zone of `createdBeforeDays`' day boundaries (UTC by default).
    pub time_zone: Option<convq_backend::TimeZone>,
    /// Whether to answer formatted values.
    pub formatted_values: bool,
}

/// Builds an [`AppState`]: the options first, then the configuration and the access policy, and
/// the backend last, so that a Dataverse client can report to the state's metrics
/// ([`StateBuilder::upstream_observer`]) before the state exists.
#[must_use]
pub struct StateBuilder {
    options: Options,
    config: ServerConfig,
    access: AccessPolicy,
    metrics: Arc<metrics::Metrics>,
    mirror: Option<Arc<dyn convq_backend::TableMirror>>,
}

impl StateBuilder {
    /// The configuration (default: [`ServerConfig::default`]).
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Who may call the protected routes (default: [`AccessPolicy::open`]).
    pub fn access(mut self, access: AccessPolicy) -> Self {
        self.access = access;
        self
    }

    /// Live lists of the held identity run their queries on `mirror`, a copy of the table kept
    /// current from a change feed (`convq_dataverse::TrackedTable`: delta mode), instead of
    /// asking the backend per query shape. Pass-through callers' lists never use it.
    pub fn mirror(mut self, mirror: Arc<dyn convq_backend::TableMirror>) -> Self {
        self.mirror = Some(mirror);
        self
    }

    /// Where a Dataverse client reports its calls, for the upstream counters of `/metrics`
    /// (`DataverseClient::with_observer`).
    #[must_use]
    pub fn upstream_observer(&self) -> Arc<dyn convq_dataverse::Observer> {
        self.metrics.upstream()
    }

    /// The state, answering from `backend`.
    #[must_use]
    pub fn build(self, backend: Arc<dyn Backend>) -> AppState {
        let Self {
            options,
            config,
            access,
            metrics,
            mirror,
        } = self;
        let strict_options = options
            .clone()
            .with_unknown_columns(convq_core::UnknownColumns::Error);
        let openapi = serde_json::to_vec_pretty(&openapi::document())
            .expect("the OpenAPI document is plain JSON");
        let hosts = Arc::new(hosts::HostPolicy::new(
            config.addr.ip(),
            &config.allowed_hosts,
        ));
        AppState {
            inner: Arc::new(Inner {
                backend,
                options,
                strict_options,
                config,
                hosts,
                access,
                metrics,
                openapi,
                stream: Arc::default(),
                mirror,
            }),
        }
    }
}

impl AppState {
    /// A state with the default configuration, open to anyone who can reach it.
    #[must_use]
    pub fn new(backend: Arc<dyn Backend>, options: Options) -> Self {
        Self::builder(options).build(backend)
    }

    /// A builder, for a configuration or access policy other than the defaults.
    pub fn builder(options: Options) -> StateBuilder {
        StateBuilder {
            options,
            config: ServerConfig::default(),
            access: AccessPolicy::open(),
            metrics: Arc::new(metrics::Metrics::new()),
            mirror: None,
        }
    }

    /// The same backend, options, access policy and metrics with the configuration `config`.
    #[must_use]
    pub fn with_config(&self, config: &ServerConfig) -> Self {
        StateBuilder {
            options: self.inner.options.clone(),
            config: config.clone(),
            access: self.inner.access.clone(),
            metrics: Arc::clone(&self.inner.metrics),
            mirror: self.inner.mirror.clone(),
        }
        .build(Arc::clone(&self.inner.backend))
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The run defaults in force.
    #[must_use]
    pub fn run_defaults(&self) -> &RunDefaults {
        &self.inner.config.run_defaults
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
        &self.inner.config.limits
    }

    /// Who may call the protected routes.
    #[must_use]
    pub fn access(&self) -> &AccessPolicy {
        &self.inner.access
    }

    /// "Now" for a request: the fixed time if one is configured (`serve --now`), else the
    /// store's own "now" when it has one (the sample store), else the clock.
    fn now(&self) -> SystemTime {
        self.inner
            .config
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

impl FromRef<AppState> for Limits {
    fn from_ref(state: &AppState) -> Self {
        state.inner.config.limits
    }
}

impl FromRef<AppState> for AccessPolicy {
    fn from_ref(state: &AppState) -> Self {
        state.inner.access.clone()
    }
}

impl FromRef<AppState> for Arc<hosts::HostPolicy> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.inner.hosts)
    }
}

impl FromRef<AppState> for Arc<metrics::Metrics> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.inner.metrics)
    }
}

/// The service: every route, with the limits, CORS, metrics, correlation ids and access log of
/// `state`. Bind it with [`serve`] / [`Server`], or call it in-process.
pub fn router(state: AppState) -> Router {
    // Callers are checked on these; /healthz, /readyz and /metrics stay open for probes, and
    // /openapi.json for clients that read how to call before they have a credential.
    let protected = Router::new()
        .route("/getConversations", post(handlers::get_conversations))
        .route("/getConversations/batch", post(handlers::batch))
        .route("/query", post(handlers::query))
        // The routes above (the work) share the concurrency limit; the routes below answer even
        // when every slot is busy, so probes keep working under load.
        .route_layer(middleware::work_limit(&state))
        // Streams last; they take no work slot (they would hold it for hours).
        .route(
            "/getConversations/stream",
            get(stream::subscribe_get).post(stream::subscribe_post),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::authenticate,
        ));
    let mut routes = protected
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .route("/openapi.json", get(handlers::openapi));
    if state.inner.config.metrics_addr.is_none() {
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
