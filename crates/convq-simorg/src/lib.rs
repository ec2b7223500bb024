//! A simulated Dataverse organization for tests and load runs: an HTTP
//! server on 127.0.0.1 that answers the Web API queries convq sends for
//! `msdyn_ocliveworkitems` from an [`EmbeddedStore`], with Dataverse's service protection
//! limits scaled for a test, added latency, and counts of what it received.
//!
//! What it speaks:
//! - `GET /api/data/v9.2/msdyn_ocliveworkitems?$select&$filter&$orderby&$top` with the filters
//!   convq renders (one agent or an `or` of agents, status as `eq`, an `or` chain or
//!   `Microsoft.Dynamics.CRM.In`, `Microsoft.Dynamics.CRM.LastXDays`); anything else is a 400
//!   with a Web API error body.
//! - Paging: `Prefer: odata.maxpagesize=N` (else the configured page size) and
//!   `@odata.nextLink` with a `$skiptoken`.
//! - Rows of several agents come interleaved (round robin over the agents' answers), the way
//!   a real combined answer mixes agents: each agent's rows keep the order of its own query.
//! - Rows that tie on every `$orderby` key come in a different order on each request (seeded,
//!   [`SimOrgConfig::tie_seed`]), as SQL Server is free to order them: a client paging an order
//!   that is not total repeats and skips rows, as it would against an org. An order that has
//!   `activityid`, or no `$orderby` (Dataverse then orders by the primary key), has no ties.
//! - `Authorization: Bearer <token>` is required; the token is the identity the limits count.
//! - Limits per identity (Dataverse counts per user, per web server; this is one server):
//!   `max_requests` per sliding `window` (0x80072322), `max_execution` of combined execution
//!   time per window (0x80072321), `max_concurrent` in flight (0x80072326); over any, 429 with
//!   `Retry-After` (whole seconds, at least 1) and that error code. A request's execution time
//!   is `latency` plus `execution_per_agent` for each agent its filter names (what it sleeps).
//! - Change tracking, as Microsoft documents it: `Prefer: odata.track-changes` on a GET with
//!   only `$select` answers every record (paged, `$skiptoken`) and, on the last page,
//!   `@odata.deltaLink` (`$deltatoken`); a GET of that link answers the records new or changed
//!   since (all selected columns) and `{"@odata.context": ".../$deletedEntity", "id",
//!   "reason": "deleted"}` for each record gone, with a new `@odata.deltaLink`. Each data
//!   replacement is a version; tokens of the last 64 versions are kept.
//!   [`SimOrg::expire_delta_tokens`] expires every token (410 Gone, as OData says; what
//!   Dataverse answers is not documented). [`SimOrgConfig::change_tracking`] off: the table
//!   does not track changes, and a track-changes request is a 400 (code `0x80072491`, the
//!   simulator's choice: Dataverse's answer is not documented either).
//! - `GET /_simorg/stats`: the counts, as JSON ([`SimStats`]).
//! - `PUT /_simorg/data`: replaces every record (a body in any store format), so a test or a
//!   load run can change the org mid-stream ([`SimOrg::replace_store`] in-process).
//!
//! Or, for tests of the client's edges, a scripted organization ([`SimOrg::scripted`]): each
//! request gets the [`Reply`] a test's script gives it (a 429 with `Retry-After`, a 401, a 5xx,
//! a slow, malformed or huge answer), and every request is recorded ([`SimOrg::requests`]).
//!
//! [`testkit`]: what the service tests of convq-http and convq-cli share.

mod script;
pub mod testkit;

pub use script::{Call, Reply, Seen};

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use convq_core::{DaysReading, Options, Query};
use reqwest::Url;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use uuid::Uuid;

use convq_backend::{EmbeddedStore, LiveStore, RunContext};

/// The entity set path convq queries.
const PATH: &str = "/api/data/v9.2/msdyn_ocliveworkitems";

/// Limits, latency and paging of a [`SimOrg`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SimOrgConfig {
    /// Added to every answered request (throttled ones answer at once). Default 50 ms.
    pub latency: Duration,
    /// The sliding window of `max_requests`. Default 5 minutes (Dataverse's).
    pub window: Duration,
    /// Requests per identity per window. Default 6,000 (Dataverse's).
    pub max_requests: usize,
    /// Requests per identity in flight. Default 52 (Dataverse's).
    pub max_concurrent: usize,
    /// Combined execution time per identity per window. Default 1,200 s (Dataverse's 20 min).
    pub max_execution: Duration,
    /// Execution time a request costs per agent its filter names, on top of `latency`: how a
    /// request naming many agents trades the request limit for the execution-time limit.
    /// Default zero.
    pub execution_per_agent: Duration,
    /// Rows per page without `Prefer: odata.maxpagesize`. Default 5,000 (Dataverse's).
    pub page_size: usize,
    /// "Now" for `LastXDays`; the clock when `None`.
    pub now: Option<SystemTime>,
    /// Seed of the order of rows that tie on `$orderby`, drawn afresh for each request;
    /// `None` orders them by `activityid`. Default `Some(0)`.
    pub tie_seed: Option<u64>,
    /// Whether the table tracks changes (`Prefer: odata.track-changes`). Default true.
    pub change_tracking: bool,
}

impl Default for SimOrgConfig {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(50),
            window: Duration::from_secs(300),
            max_requests: 6_000,
            max_concurrent: 52,
            max_execution: Duration::from_secs(1_200),
            execution_per_agent: Duration::ZERO,
            page_size: 5_000,
            now: None,
            tie_seed: Some(0),
            change_tracking: true,
        }
    }
}

/// What a [`SimOrg`] received and answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SimStats {
    /// Requests received (every status).
    pub requests: u64,
    /// Answered 200.
    pub ok: u64,
    /// Answered 429.
    pub throttled: u64,
    /// Of those, for the execution-time limit (0x80072321).
    pub throttled_execution: u64,
    /// Execution time of the answered requests, summed, in milliseconds.
    pub execution_ms: u64,
    /// Most agents one answered request named.
    pub max_agents: u64,
    /// Answered 400/401/404.
    pub rejected: u64,
    /// Agents named by the 200 answers' filters, summed (over `ok`: agents per request).
    pub agents: u64,
    /// Most requests in flight at once.
    pub max_in_flight: u64,
}

/// A running simulated organization. Stops when dropped.
#[derive(Debug)]
pub struct SimOrg {
    url: String,
    counts: Arc<Counts>,
    /// The requests received, when scripted.
    seen: Arc<Mutex<Vec<Seen>>>,
    /// The records and their versions (not when scripted).
    data: Option<Arc<OrgState>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

#[derive(Debug)]
struct OrgState {
    store: LiveStore,
    /// The versions of the data, for delta tokens.
    versions: Mutex<Versions>,
    config: SimOrgConfig,
    identities: Mutex<HashMap<String, Usage>>,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Usage {
    recent: VecDeque<Instant>,
    /// When each answered request ended, and its execution time.
    executions: VecDeque<(Instant, Duration)>,
    execution: Duration,
    in_flight: usize,
}

/// The data's versions: each replacement is one. A delta token names a version and the
/// generation it belongs to ([`SimOrg::expire_delta_tokens`] starts a new generation).
#[derive(Debug)]
struct Versions {
    generation: u64,
    latest: u64,
    kept: VecDeque<(u64, Arc<EmbeddedStore>)>,
}

/// Versions whose delta tokens still work.
const VERSIONS_KEPT: usize = 64;

impl OrgState {
    fn replace(&self, store: EmbeddedStore) {
        let mut versions = self.versions.lock().unwrap_or_else(PoisonError::into_inner);
        self.store.replace(store);
        versions.latest += 1;
        let latest = versions.latest;
        versions.kept.push_back((latest, self.store.current()));
        if versions.kept.len() > VERSIONS_KEPT {
            versions.kept.pop_front();
        }
    }

    /// The latest version, or the one `token` (`<version>!<generation>`) names when it is kept.
    fn version(&self, token: Option<&str>) -> Option<(u64, u64, Arc<EmbeddedStore>)> {
        let versions = self.versions.lock().unwrap_or_else(PoisonError::into_inner);
        let wanted = match token {
            None => versions.latest,
            Some(token) => {
                let (version, generation) = token.split_once('!')?;
                if generation.parse::<u64>().ok()? != versions.generation {
                    return None;
                }
                version.parse().ok()?
            }
        };
        versions
            .kept
            .iter()
            .find(|(v, _)| *v == wanted)
            .map(|(v, store)| (*v, versions.generation, Arc::clone(store)))
    }
}

/// Which limit a request hit, and how many seconds to wait.
#[derive(Debug, Clone, Copy)]
enum Limit {
    Requests(u64),
    Execution(u64),
    Concurrency(u64),
}

#[derive(Debug, Default)]
pub(crate) struct Counts {
    requests: AtomicU64,
    ok: AtomicU64,
    throttled: AtomicU64,
    throttled_execution: AtomicU64,
    execution_ms: AtomicU64,
    max_agents: AtomicU64,
    rejected: AtomicU64,
    agents: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

impl SimOrg {
    /// Starts on `127.0.0.1:port` (0: any free port).
    ///
    /// # Errors
    /// The port cannot be bound.
    pub async fn start(
        store: EmbeddedStore,
        config: SimOrgConfig,
        port: u16,
    ) -> std::io::Result<Self> {
        let listener = listen(port).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let counts = Arc::new(Counts::default());
        let store = LiveStore::new(store);
        let versions = Mutex::new(Versions {
            generation: 0,
            latest: 0,
            kept: VecDeque::from([(0, store.current())]),
        });
        let state = Arc::new(OrgState {
            store,
            versions,
            config,
            identities: Mutex::default(),
            counts: Arc::clone(&counts),
        });
        let app = Router::new()
            .route(PATH, get(conversations))
            .route("/_simorg/stats", get(stats))
            .route("/_simorg/data", axum::routing::put(replace_data))
            .with_state(Arc::clone(&state));
        let mut org = Self::serve(listener, app, url, counts, Arc::default());
        org.data = Some(state);
        Ok(org)
    }

    /// Starts on a free port of 127.0.0.1, answering every request (any method and path) with
    /// what `script` returns for it, and recording it.
    ///
    /// # Errors
    /// No port can be bound.
    pub async fn scripted(
        script: impl Fn(&Call<'_>) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let listener = listen(0).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let counts = Arc::new(Counts::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(script::ScriptState {
            base: url.clone(),
            script: Box::new(script),
            seen: Arc::clone(&seen),
            counts: Arc::clone(&counts),
        });
        let app = Router::new().fallback(script::scripted).with_state(state);
        Ok(Self::serve(listener, app, url, counts, seen))
    }

    fn serve(
        listener: tokio::net::TcpListener,
        app: Router,
        url: String,
        counts: Arc<Counts>,
        seen: Arc<Mutex<Vec<Seen>>>,
    ) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            url,
            counts,
            seen,
            data: None,
            stop: Some(stop),
        }
    }

    /// `http://127.0.0.1:<port>`: the organization URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The counts so far. Scripted, `ok`, `throttled` and `rejected` count the replies' statuses
    /// (2xx, 429, any other) and `agents` stays 0.
    #[must_use]
    pub fn stats(&self) -> SimStats {
        self.counts.stats()
    }

    /// The requests received so far, in order of arrival (scripted only; empty otherwise).
    #[must_use]
    pub fn requests(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits up to `within` until `count` requests have arrived; whether they did.
    pub async fn wait_for_requests(&self, count: u64, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while self.stats().requests < count {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Answers from `store` from now on (a change of the org's data, for live lists' tests). A
    /// scripted organization has no data: there it does nothing.
    pub fn replace_store(&self, store: EmbeddedStore) {
        if let Some(data) = &self.data {
            data.replace(store);
        }
    }

    /// Expires every delta token given so far: a GET of an earlier `@odata.deltaLink` answers
    /// 410 Gone. Does nothing when scripted.
    pub fn expire_delta_tokens(&self) {
        if let Some(data) = &self.data {
            data.versions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .generation += 1;
        }
    }
}

async fn listen(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}

impl Drop for SimOrg {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Counts {
    fn stats(&self) -> SimStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let c = self;
        SimStats {
            requests: get(&c.requests),
            ok: get(&c.ok),
            throttled: get(&c.throttled),
            throttled_execution: get(&c.throttled_execution),
            execution_ms: get(&c.execution_ms),
            max_agents: get(&c.max_agents),
            rejected: get(&c.rejected),
            agents: get(&c.agents),
            max_in_flight: get(&c.max_in_flight),
        }
    }
}

impl OrgState {
    /// Admits a request of `identity`, or says which limit it hit and how many seconds to wait.
    fn admit(&self, identity: &str) -> Result<(), Limit> {
        let now = Instant::now();
        let mut identities = self
            .identities
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let usage = identities.entry(identity.to_owned()).or_default();
        while usage
            .recent
            .front()
            .is_some_and(|&t| now.duration_since(t) >= self.config.window)
        {
            usage.recent.pop_front();
        }
        while let Some(&(at, took)) = usage.executions.front() {
            if now.duration_since(at) < self.config.window {
                break;
            }
            usage.executions.pop_front();
            usage.execution = usage.execution.saturating_sub(took);
        }
        let seconds = |wait: Duration| wait.as_secs_f64().ceil().max(1.0) as u64;
        if usage.in_flight >= self.config.max_concurrent {
            return Err(Limit::Concurrency(1));
        }
        if usage.recent.len() >= self.config.max_requests {
            let oldest = usage.recent.front().copied().unwrap_or(now);
            let wait = (oldest + self.config.window).saturating_duration_since(now);
            return Err(Limit::Requests(seconds(wait)));
        }
        if usage.execution >= self.config.max_execution {
            // Until enough of the window's execution time has aged out.
            let mut left = usage.execution;
            let mut until = now;
            for &(at, took) in &usage.executions {
                left = left.saturating_sub(took);
                until = at + self.config.window;
                if left < self.config.max_execution {
                    break;
                }
            }
            return Err(Limit::Execution(seconds(
                until.saturating_duration_since(now),
            )));
        }
        usage.recent.push_back(now);
        usage.in_flight += 1;
        Ok(())
    }

    /// Ends a request of `identity` that ran for `execution`.
    fn release(&self, identity: &str, execution: Duration) {
        let mut identities = self
            .identities
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(usage) = identities.get_mut(identity) {
            usage.in_flight = usage.in_flight.saturating_sub(1);
            usage.executions.push_back((Instant::now(), execution));
            usage.execution += execution;
        }
    }
}

async fn replace_data(State(state): State<Arc<OrgState>>, body: axum::body::Bytes) -> Response {
    match EmbeddedStore::from_bytes(&body) {
        Ok(store) => {
            state.replace(store);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, "0x80040203", &e.to_string()),
    }
}

async fn stats(State(state): State<Arc<OrgState>>) -> Response {
    axum::Json(state.counts.stats()).into_response()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

async fn conversations(State(state): State<Arc<OrgState>>, request: Request) -> Response {
    let counts = &state.counts;
    let serial = counts.requests.fetch_add(1, Ordering::Relaxed);
    let headers = request.headers().clone();
    let Some(identity) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
    else {
        counts.rejected.fetch_add(1, Ordering::Relaxed);
        return error(StatusCode::UNAUTHORIZED, "0x80040220", "no bearer token");
    };
    if let Err(limit) = state.admit(&identity) {
        counts.throttled.fetch_add(1, Ordering::Relaxed);
        let (code, message, seconds) = match limit {
            Limit::Requests(s) => (
                "0x80072322",
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
                s,
            ),
            Limit::Execution(s) => {
                counts.throttled_execution.fetch_add(1, Ordering::Relaxed);
                (
                    "0x80072321",
                    "Combined execution time of incoming requests exceeded limit of 1,200,000 \
                     milliseconds over time window of 300 seconds. Decrease number of concurrent \
                     requests or reduce the duration of requests and try again later.",
                    s,
                )
            }
            Limit::Concurrency(s) => (
                "0x80072326",
                "Number of concurrent requests exceeded the limit of 52.",
                s,
            ),
        };
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, code, message);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, seconds.into());
        return response;
    }
    let in_flight = counts.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    counts.max_in_flight.fetch_max(in_flight, Ordering::Relaxed);
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let target = request.uri().to_string();
    let tracked = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == "odata.track-changes")
        || target.contains("$deltatoken=");
    let answer = if tracked {
        track_answer(&state, &host, &target, &headers)
    } else {
        answer(&state, &host, &target, &headers, serial)
            .map_err(|message| (StatusCode::BAD_REQUEST, "0x80060888", message))
    };
    let agents = answer.as_ref().map_or(0, |(_, agents)| *agents);
    let execution = state.config.latency
        + state
            .config
            .execution_per_agent
            .saturating_mul(u32::try_from(agents).unwrap_or(u32::MAX));
    tokio::time::sleep(execution).await;
    counts.in_flight.fetch_sub(1, Ordering::Relaxed);
    state.release(&identity, execution);
    match answer {
        Ok((body, agents)) => {
            counts.ok.fetch_add(1, Ordering::Relaxed);
            counts.agents.fetch_add(agents, Ordering::Relaxed);
            counts.max_agents.fetch_max(agents, Ordering::Relaxed);
            counts.execution_ms.fetch_add(
                u64::try_from(execution.as_millis()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            axum::Json(body).into_response()
        }
        Err((status, code, message)) => {
            counts.rejected.fetch_add(1, Ordering::Relaxed);
            error(status, code, &message)
        }
    }
}

/// The page asked for, and how many agents the filter named.
fn answer(
    state: &OrgState,
    host: &str,
    target: &str,
    headers: &HeaderMap,
    serial: u64,
) -> Result<(Value, u64), String> {
    let url = Url::parse(&format!("http://{host}{target}")).map_err(|e| e.to_string())?;
    let mut select = None;
    let mut filter = None;
    let mut orderby = None;
    let mut top = None;
    let mut skip = 0usize;
    for (name, value) in url.query_pairs() {
        match &*name {
            "$select" => select = Some(value.into_owned()),
            "$filter" => filter = Some(value.into_owned()),
            "$orderby" => orderby = Some(value.into_owned()),
            "$top" => top = Some(value.parse::<usize>().map_err(|e| e.to_string())?),
            "$skiptoken" => skip = value.parse().map_err(|_| "bad $skiptoken".to_owned())?,
            other => return Err(format!("unsupported query option {other}")),
        }
    }
    let filter = parse_filter(&filter.ok_or("a $filter is required")?)?;
    let select = select.unwrap_or_default();
    let mut attributes: Vec<&str> = select.split(',').filter(|s| !s.is_empty()).collect();
    // The order keys, projected to find the ties (those not selected are removed after).
    let keys: Vec<&str> = orderby
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter_map(|key| key.split(' ').next().filter(|k| !k.is_empty()))
        .collect();
    let added: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| *k != "activityid" && !attributes.contains(k))
        .collect();
    attributes.extend(&added);
    let mut input = json!({ "attributes": attributes });
    if !filter.status.is_empty() {
        input["status"] = json!(filter.status);
    }
    if let Some(days) = filter.days {
        input["createdBeforeDays"] = json!(days);
    }
    if let Some(orderby) = &orderby {
        let keys: Result<Vec<Value>, String> = orderby
            .split(',')
            .map(|key| match key.split_once(' ') {
                Some((name, "asc")) => Ok(json!({"attributeName": name, "descending": false})),
                Some((name, "desc")) => Ok(json!({"attributeName": name, "descending": true})),
                None => Ok(json!({"attributeName": key})),
                _ => Err(format!("bad $orderby key {key:?}")),
            })
            .collect();
        input["orderBy"] = Value::Array(keys?);
    }
    let now = state.config.now.unwrap_or_else(SystemTime::now);
    let ties = match state.config.tie_seed {
        Some(seed) if !keys.is_empty() && !keys.contains(&"activityid") => {
            Some(seed ^ serial.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        }
        _ => None,
    };
    let store = state.store.current();
    let mut answers = Vec::with_capacity(filter.agents.len());
    for agent in &filter.agents {
        input["agentId"] = json!(agent);
        let query: Query = convq_core::compile(&input.to_string(), &Options::default())
            .map_err(|e| format!("{e} at {}", e.path()))?
            .ast;
        let mut rows = store.query(&query, &RunContext::at(now));
        if let Some(seed) = ties {
            shuffle_ties(&mut rows, &keys, seed);
        }
        for row in &mut rows {
            if let Value::Object(row) = row {
                row.retain(|name, _| {
                    !added.iter().any(|a| {
                        name == a || name.strip_prefix(a).is_some_and(|r| r.starts_with('@'))
                    })
                });
            }
        }
        answers.push(rows.into_iter());
    }
    // Round robin over the agents: a combined answer mixes them.
    let mut rows = Vec::new();
    loop {
        let before = rows.len();
        rows.extend(answers.iter_mut().filter_map(Iterator::next));
        if rows.len() == before {
            break;
        }
    }
    if let Some(top) = top {
        rows.truncate(top);
    }
    let page_size = page_size(state, headers);
    let end = rows.len().min(skip.saturating_add(page_size));
    let page: Vec<Value> = rows
        .get(skip..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let mut body = json!({
        "@odata.context": format!("http://{host}/api/data/v9.2/$metadata#msdyn_ocliveworkitems"),
        "value": page,
    });
    if end < rows.len() {
        let mut next = url.clone();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(name, _)| name != "$skiptoken")
            .map(|(n, v)| (n.into_owned(), v.into_owned()))
            .collect();
        next.query_pairs_mut()
            .clear()
            .extend_pairs(pairs)
            .append_pair("$skiptoken", &end.to_string());
        body["@odata.nextLink"] = json!(next.to_string());
    }
    Ok((body, filter.agents.len() as u64))
}

/// Why a request was refused: status, Dataverse-style code, message.
type Refusal = (StatusCode, &'static str, String);

/// The page size a request prefers (`odata.maxpagesize`), else the configured one.
fn page_size(state: &OrgState, headers: &HeaderMap) -> usize {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(state.config.page_size)
        .max(1)
}

/// Every record of `store`, projected to `select` (with formatted values when asked), by
/// agent.
fn project_all(store: &EmbeddedStore, select: &str, formatted: bool) -> Result<Vec<Value>, String> {
    let attributes: Vec<&str> = select.split(',').filter(|s| !s.is_empty()).collect();
    let mut input = json!({ "attributes": attributes });
    let ctx = RunContext::at(SystemTime::UNIX_EPOCH).with_formatted_values(formatted);
    let mut agents = store.agents();
    agents.sort_unstable();
    let mut rows = Vec::new();
    for agent in agents {
        input["agentId"] = json!(agent);
        let query: Query = convq_core::compile(&input.to_string(), &Options::default())
            .map_err(|e| format!("{e} at {}", e.path()))?
            .ast;
        rows.extend(store.query(&query, &ctx));
    }
    Ok(rows)
}

/// A change-tracking request: the first read (every record, paged, then `@odata.deltaLink`) or
/// a delta link (what changed since its version).
fn track_answer(
    state: &OrgState,
    host: &str,
    target: &str,
    headers: &HeaderMap,
) -> Result<(Value, u64), Refusal> {
    let bad = |message: String| (StatusCode::BAD_REQUEST, "0x80060888", message);
    let url = Url::parse(&format!("http://{host}{target}")).map_err(|e| bad(e.to_string()))?;
    let mut select = String::new();
    let mut delta = None;
    let mut skip = None;
    for (name, value) in url.query_pairs() {
        match &*name {
            "$select" => select = value.into_owned(),
            "$deltatoken" => delta = Some(value.into_owned()),
            "$skiptoken" => skip = Some(value.into_owned()),
            other => {
                return Err(bad(format!(
                    "the query option {other} is not supported with change tracking"
                )));
            }
        }
    }
    if !state.config.change_tracking {
        return Err((
            StatusCode::BAD_REQUEST,
            "0x80072491",
            "Change tracking is not enabled for the entity msdyn_ocliveworkitem.".to_owned(),
        ));
    }
    let gone = || {
        (
            StatusCode::GONE,
            "0x80072492",
            "The delta token has expired or is not valid; read the table again.".to_owned(),
        )
    };
    let formatted = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("odata.include-annotations"));
    let base = format!("http://{host}{PATH}");
    let context = format!("http://{host}/api/data/v9.2/$metadata#msdyn_ocliveworkitems");
    let delta_link = |version: u64, generation: u64| {
        let mut link = Url::parse(&base).expect("the entity set URL parses");
        link.query_pairs_mut()
            .append_pair("$select", &select)
            .append_pair("$deltatoken", &format!("{version}!{generation}"));
        link.to_string()
    };
    if let Some(token) = delta {
        let (_, _, old) = state.version(Some(&token)).ok_or_else(gone)?;
        let (version, generation, new) = state.version(None).ok_or_else(gone)?;
        let before = project_all(&old, &select, formatted).map_err(bad)?;
        let after = project_all(&new, &select, formatted).map_err(bad)?;
        let id = |row: &Value| {
            row.get("activityid")
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let old_rows: HashMap<String, &Value> =
            before.iter().filter_map(|r| Some((id(r)?, r))).collect();
        let new_ids: std::collections::HashSet<String> = after.iter().filter_map(id).collect();
        let mut value: Vec<Value> = after
            .iter()
            .filter(|r| id(r).and_then(|i| old_rows.get(&i).copied()) != Some(*r))
            .cloned()
            .collect();
        for row in &before {
            if let Some(gone_id) = id(row).filter(|i| !new_ids.contains(i)) {
                value.push(json!({
                    "@odata.context": format!("{context}/$deletedEntity"),
                    "id": gone_id,
                    "reason": "deleted",
                }));
            }
        }
        let body = json!({
            "@odata.context": format!("{context}/$delta"),
            "@odata.deltaLink": delta_link(version, generation),
            "value": value,
        });
        return Ok((body, 0));
    }
    // The first read: the version of its first page is in the `$skiptoken` of the next.
    let (offset, token) = match skip.as_deref().map(|s| s.split_once('~')) {
        None => (0, None),
        Some(Some((offset, token))) => (
            offset
                .parse::<usize>()
                .map_err(|_| bad("bad $skiptoken".to_owned()))?,
            Some(token.to_owned()),
        ),
        Some(None) => return Err(bad("bad $skiptoken".to_owned())),
    };
    let (version, generation, store) = state.version(token.as_deref()).ok_or_else(gone)?;
    let rows = project_all(&store, &select, formatted).map_err(bad)?;
    let end = rows
        .len()
        .min(offset.saturating_add(page_size(state, headers)));
    let mut body = json!({
        "@odata.context": format!("{context}/$delta"),
        "value": rows.get(offset..end).map(<[Value]>::to_vec).unwrap_or_default(),
    });
    if end < rows.len() {
        let mut next = Url::parse(&base).expect("the entity set URL parses");
        next.query_pairs_mut()
            .append_pair("$select", &select)
            .append_pair("$skiptoken", &format!("{end}~{version}!{generation}"));
        body["@odata.nextLink"] = json!(next.to_string());
    } else {
        body["@odata.deltaLink"] = json!(delta_link(version, generation));
    }
    Ok((body, 0))
}

/// Shuffles each run of rows equal on every `keys` property, with a generator seeded by `seed`.
/// Rows equal as JSON tie in the store; rows the collation ties but JSON tells apart (`Zoë`,
/// `zoe`) keep their order, so this shuffles no more than an org may.
fn shuffle_ties(rows: &mut [Value], keys: &[&str], seed: u64) {
    let mut next = xorshift(seed);
    let same = |a: &Value, b: &Value| keys.iter().all(|k| a.get(*k) == b.get(*k));
    let mut start = 0;
    while start < rows.len() {
        let mut end = start + 1;
        while end < rows.len() && same(&rows[start], &rows[end]) {
            end += 1;
        }
        // Fisher-Yates over rows[start..end].
        for i in (start + 1..end).rev() {
            let j = start + (next() % (i - start + 1) as u64) as usize;
            rows.swap(i, j);
        }
        start = end;
    }
}

/// xorshift64*: enough spread for test data and tie orders, no dependency.
fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed | 1;
    move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[derive(Debug, Default)]
struct Filter {
    agents: Vec<Uuid>,
    status: Vec<i64>,
    days: Option<u32>,
}

/// Reads the `$filter` convq renders: one agent or an `or` of agents (a coalesced request), then
/// the status and created terms of a one-agent query, read back as convq-core reads an options
/// string ([`convq_core::read_options_string`]).
fn parse_filter(text: &str) -> Result<Filter, String> {
    const AGENT: &str = "_msdyn_activeagentid_value eq ";
    let bad = || format!("unsupported $filter: {text}");
    let (agents, terms) = text
        .split_once(" and ")
        .map_or((text, None), |(agents, terms)| (agents, Some(terms)));
    let agents = agents
        .strip_prefix('(')
        .and_then(|a| a.strip_suffix(')'))
        .unwrap_or(agents);
    let mut filter = Filter::default();
    for agent in agents.split(" or ") {
        let id = agent.strip_prefix(AGENT).ok_or_else(bad)?;
        filter.agents.push(Uuid::parse_str(id).map_err(|_| bad())?);
    }
    if let Some(terms) = terms {
        let one_agent = format!("$filter={AGENT}{} and {terms}", filter.agents[0]);
        let read = convq_core::read_options_string(&one_agent, &[])
            .map_err(|error| format!("{}: {error}", bad()))?;
        // The organization counts days as LastXDays does; convq renders nothing else for it.
        if read.reading == Some(DaysReading::OlderThanXDays) {
            return Err(bad());
        }
        if let Some(status) = read.input.get("status") {
            filter.status = serde_json::from_value(status.clone()).map_err(|_| bad())?;
        }
        filter.days = read
            .input
            .get("createdBeforeDays")
            .and_then(Value::as_u64)
            .and_then(|days| u32::try_from(days).ok());
    }
    Ok(filter)
}

/// A generated store for load runs: `agents` agents with `per_agent` conversations each,
/// created in the 30 days before `now`, statuses spread over 1..=7. Deterministic for a seed.
///
/// # Panics
/// Never: the records are generated in the store's format.
#[must_use]
pub fn generated_store(
    agents: usize,
    per_agent: usize,
    now: SystemTime,
    seed: u64,
) -> EmbeddedStore {
    let mut next = xorshift(seed);
    let now_secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let mut records = Vec::with_capacity(agents * per_agent);
    for a in 0..agents {
        let agent = Uuid::from_u64_pair(0x5a5a_0000_0000_4000 | a as u64, 0x8000_0000_0000_0000);
        for _ in 0..per_agent {
            let id = Uuid::from_u64_pair(next() & !0xF000 | 0x4000, next() >> 2 | 1 << 63);
            let created = now_secs.saturating_sub(next() % (30 * 86_400));
            let created = time::OffsetDateTime::from_unix_timestamp(created as i64)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_else(|| "2026-01-01T00:00:00Z".to_owned());
            records.push(json!({
                "activityid": id,
                "msdyn_ocliveworkitemid": id,
                "_msdyn_activeagentid_value": agent,
                "statuscode": 1 + next() % 7,
                "createdon": created,
                "msdyn_title": format!("conversation {}", next() % 10_000),
            }));
        }
    }
    let bytes = serde_json::to_vec(&Value::Array(records)).unwrap_or_default();
    EmbeddedStore::from_bytes(&bytes).expect("generated records are valid store records")
}

/// The agent ids of [`generated_store`], in order.
#[must_use]
pub fn generated_agent(index: usize) -> Uuid {
    Uuid::from_u64_pair(0x5a5a_0000_0000_4000 | index as u64, 0x8000_0000_0000_0000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_convq_renders_are_read() {
        let a = "2b330c52-6844-4d36-8e05-03c78c9681dc";
        let b = "5a5a0000-0000-4000-8000-000000000000";
        let f = parse_filter(&format!(
            "(_msdyn_activeagentid_value eq {a} or _msdyn_activeagentid_value eq {b}) and \
             (statuscode eq 2 or statuscode eq 3) and \
             Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)"
        ))
        .unwrap();
        assert_eq!(f.agents.len(), 2);
        assert_eq!(f.status, [2, 3]);
        assert_eq!(f.days, Some(7));
        let f = parse_filter(&format!(
            "_msdyn_activeagentid_value eq {a} and \
             Microsoft.Dynamics.CRM.In(PropertyName='statuscode',PropertyValues=['1','4'])"
        ))
        .unwrap();
        assert_eq!((f.agents.len(), f.status.as_slice()), (1, &[1, 4][..]));
        assert!(parse_filter("statuscode eq 3").is_err());
        // A term convq does not render, and the days reading the organization does not count.
        for term in [
            "contains(msdyn_title,'x')",
            "Microsoft.Dynamics.CRM.OlderThanXDays(PropertyName='createdon',PropertyValue=7)",
        ] {
            let error = parse_filter(&format!("_msdyn_activeagentid_value eq {a} and {term}"));
            assert!(error.unwrap_err().starts_with("unsupported $filter: "));
        }
    }
}
