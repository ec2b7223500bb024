//! [`Shared`]: the Dataverse client as a service for a whole team needs it. Calls with the
//! same query shape (everything but `agentId`) arriving within the coalescing window become
//! one Dataverse request naming all their agents ([`convq_core::render_agents`]), split back
//! per agent; identical calls in flight share one request; answers are kept for the cache
//! TTL; and every request passes its identity's pacing gate (see `pacing`).
//!
//! Calls of different identities never share anything: the identity is part of every key.
//! Calls with `top` are not combined with other agents (`top` is per agent; combining would
//! fetch every row of every agent), only with identical calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use convq_core::{AGENT_PROPERTY, AgentsRequest, Compiled, Query, StatusFilter, render_agents};
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use convq_backend::{Backend, BackendError, BoxFuture, RunContext, append_json_list};

use crate::cache::{Cache, Key};
use crate::dataverse::DataverseClient;

/// How [`Shared`] combines and keeps answers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedConfig {
    /// How long the first call of a query shape waits for others to join it; zero turns
    /// coalescing off (every call is its own request). Default 50 ms.
    pub coalesce_window: Duration,
    /// How long an answer is kept; zero (the default) keeps nothing.
    pub cache_ttl: Duration,
    /// How the calls' queries were compiled ([`convq_core::Options::status_filter`]): a
    /// combined request renders its status filter the same way. A call compiled otherwise
    /// runs alone.
    pub status_filter: StatusFilter,
    /// Most agents one combined request names. Dataverse limits execution time (1,200 s per 5
    /// minutes) as well as requests (6,000), and a request naming many agents runs longer: at
    /// most this many keeps a combined request from trading the request limit for the
    /// execution-time limit (see docs/performance.md). Default 100.
    pub max_agents_per_request: usize,
}

impl Default for SharedConfig {
    fn default() -> Self {
        Self {
            coalesce_window: Duration::from_millis(50),
            cache_ttl: Duration::ZERO,
            status_filter: StatusFilter::default(),
            max_agents_per_request: 100,
        }
    }
}

/// A [`DataverseClient`] shared by many callers: coalescing, cache and pacing. A
/// [`Backend`]; clones share everything.
#[derive(Clone, Debug)]
pub struct Shared {
    inner: Arc<Inner>,
}

/// What the waiters of one request get (each waiter clones the error it gets).
type Answer = Result<Arc<Vec<Value>>, Arc<BackendError>>;
type Slot = watch::Sender<Option<Answer>>;

#[derive(Debug)]
struct Inner {
    client: DataverseClient,
    config: SharedConfig,
    cache: Cache,
    /// Requests on their way, by identity and path: identical calls wait for the same one.
    in_flight: Mutex<HashMap<Key, Arc<Slot>>>,
    /// Open groups (within their window), by identity and query shape.
    groups: Mutex<HashMap<(String, String), Group>>,
}

#[derive(Debug)]
struct Group {
    /// The first call's context: the identity (and pass-through token) every member shares.
    ctx: RunContext,
    query: Query,
    /// `'` in the request path (the `url` crate sends each as three characters).
    quotes: usize,
    members: Vec<Member>,
}

#[derive(Debug)]
struct Member {
    agent: Uuid,
    key: Key,
    slot: Arc<Slot>,
    /// "Now" of the call that opened the request, for the cache's day boundary.
    wall: SystemTime,
    day_bound: bool,
}

impl Shared {
    /// Wraps `client`.
    #[must_use]
    pub fn new(client: DataverseClient, config: SharedConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                cache: Cache::new(config.cache_ttl),
                config,
                in_flight: Mutex::default(),
                groups: Mutex::default(),
            }),
        }
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> &SharedConfig {
        &self.inner.config
    }

    /// The client every request goes through (its pacing gates).
    pub(crate) fn client(&self) -> &DataverseClient {
        &self.inner.client
    }

    /// The records of `compiled` and their age.
    async fn rows(
        &self,
        compiled: &Compiled,
        ctx: &RunContext,
    ) -> Result<(Arc<Vec<Value>>, Duration), BackendError> {
        let inner = &self.inner;
        let identity = ctx.identity_key();
        // Formatted values change the answer (Prefer: include-annotations), not the path.
        let mut path = compiled.path.clone();
        if ctx.formatted_values {
            path.push_str(" +formatted-values");
        }
        let key: Key = (identity.clone(), path);
        if let Some((rows, age)) = inner.cache.get(&key) {
            inner.client.observer().cache_hit();
            return Ok((rows, age));
        }
        let day_bound = compiled.ast.created_before_days.is_some();
        if inner.config.coalesce_window.is_zero() {
            let fetched = Instant::now();
            let rows = Arc::new(inner.client.fetch(compiled, ctx).await?);
            inner
                .cache
                .put(key, Arc::clone(&rows), fetched, ctx.now, day_bound);
            return Ok((rows, Duration::ZERO));
        }

        let total = inner.client.config().total_timeout;
        let mut deadline = Instant::now() + inner.config.coalesce_window + total;
        // Never wait past the caller's deadline (the shared request itself stops at the
        // deadline of the call that started it).
        if let Some(callers) = ctx.deadline {
            deadline = deadline.min(Instant::from_std(callers));
        }
        let (mut receiver, start) = {
            let mut in_flight = inner
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match in_flight.get(&key) {
                Some(slot) => (slot.subscribe(), None),
                None => {
                    let (sender, receiver) = watch::channel(None);
                    let slot = Arc::new(sender);
                    in_flight.insert(key.clone(), Arc::clone(&slot));
                    (receiver, Some(slot))
                }
            }
        };
        if let Some(slot) = start {
            let member = Member {
                agent: compiled.ast.agent_id,
                key,
                slot,
                wall: ctx.now,
                day_bound,
            };
            if compiled.top.is_some() || !self.combinable(compiled) {
                self.alone(compiled, ctx.clone(), member);
            } else {
                self.join(compiled, ctx, identity, member);
            }
        }
        let answer =
            match tokio::time::timeout_at(deadline, receiver.wait_for(Option::is_some)).await {
                Ok(Ok(answer)) => answer.clone(),
                // The request task ended without answering (it cannot, short of a panic) or the
                // deadline passed: a throttled identity says so, anything else is a timeout.
                Ok(Err(_)) | Err(_) => None,
            };
        match answer {
            Some(Ok(rows)) => Ok((rows, Duration::ZERO)),
            Some(Err(error)) => Err(BackendError::clone(&error)),
            None => {
                let gate = inner.client.pacing().gate(&ctx.identity_key());
                Err(match gate.paused_until() {
                    Some(until) => BackendError::DataverseThrottled {
                        status: 429,
                        retries: 0,
                        retry_after: Some(until - Instant::now()),
                    },
                    None => BackendError::DataverseTimeout {
                        after: total,
                        waiting_for:
                            "a deadline ran out while waiting for the shared request for the same \
                                      query"
                                .to_owned(),
                    },
                })
            }
        }
    }

    /// Whether a combined request renders `compiled`'s filter exactly (same status style).
    fn combinable(&self, compiled: &Compiled) -> bool {
        let agent = compiled.ast.agent_id;
        render_agents(
            &compiled.ast,
            &[agent],
            self.inner.config.status_filter,
            usize::MAX,
        )
        .is_ok_and(|requests| {
            requests
                .first()
                .is_some_and(|r| r.filter == compiled.filter)
        })
    }

    /// Runs `compiled` as its own request (identical calls still share it).
    fn alone(&self, compiled: &Compiled, ctx: RunContext, member: Member) {
        let inner = Arc::clone(&self.inner);
        let (path, top) = (compiled.path.clone(), compiled.top);
        tokio::spawn(async move {
            let fetched = Instant::now();
            let answer = inner
                .client
                .fetch_path(&path, top, &ctx)
                .await
                .map(Arc::new)
                .map_err(Arc::new);
            inner
                .client
                .observer()
                .upstream_query(member.slot.receiver_count());
            inner.deliver(member, answer, fetched);
        });
    }

    /// Adds the call to the open group of its shape, opening one when there is none.
    fn join(&self, compiled: &Compiled, ctx: &RunContext, identity: String, member: Member) {
        let mut shape = compiled.ast.clone();
        shape.agent_id = Uuid::nil();
        let mut shape = serde_json::to_string(&shape).unwrap_or_default();
        if ctx.formatted_values {
            shape.push_str(" +formatted-values");
        }
        let group_key = (identity, shape);
        let mut groups = self
            .inner
            .groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(group) = groups.get_mut(&group_key) {
            group.members.push(member);
            return;
        }
        groups.insert(
            group_key.clone(),
            Group {
                ctx: ctx.clone(),
                query: compiled.ast.clone(),
                quotes: compiled.path.matches('\'').count(),
                members: vec![member],
            },
        );
        drop(groups);
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move { inner.run_group(group_key).await });
    }
}

impl Inner {
    /// Waits out the window (and any pause of the identity: calls keep joining meanwhile),
    /// closes the group and runs its requests.
    async fn run_group(self: Arc<Self>, group_key: (String, String)) {
        tokio::time::sleep(self.config.coalesce_window).await;
        let gate = self.client.pacing().gate(&group_key.0);
        // A pause past the deadline fails at the gate, with the right error.
        let _ = gate
            .unpaused(Instant::now() + self.client.config().total_timeout)
            .await;
        let Some(group) = self
            .groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&group_key)
        else {
            return;
        };
        if let [_] = group.members.as_slice() {
            // Nobody joined: the call's own request, exactly as it would go alone.
            let fetched = Instant::now();
            for member in group.members {
                let answer = self
                    .client
                    .fetch_path(&member.key.1, None, &group.ctx)
                    .await
                    .map(Arc::new)
                    .map_err(Arc::new);
                self.client
                    .observer()
                    .upstream_query(member.slot.receiver_count());
                self.deliver(member, answer, fetched);
            }
            return;
        }
        let agents: Vec<Uuid> = group.members.iter().map(|m| m.agent).collect();
        let mut members: HashMap<Uuid, Member> =
            group.members.into_iter().map(|m| (m.agent, m)).collect();
        let fetched = Instant::now();
        let rendered: Result<Vec<Vec<AgentsRequest>>, _> = agents
            .chunks(self.config.max_agents_per_request.max(1))
            .map(|agents| {
                render_agents(
                    &group.query,
                    agents,
                    self.config.status_filter,
                    self.client.max_path_length(group.quotes),
                )
            })
            .collect();
        let requests = match rendered.map(|r| r.into_iter().flatten().collect::<Vec<_>>()) {
            Ok(requests) => requests,
            Err(error) => {
                let error = Arc::new(BackendError::InvalidConfig {
                    reason: format!("the combined request cannot be written: {error}"),
                });
                for member in members.into_values() {
                    self.deliver(member, Err(Arc::clone(&error)), fetched);
                }
                return;
            }
        };
        let mut tasks = tokio::task::JoinSet::new();
        for request in requests {
            let inner = Arc::clone(&self);
            let ctx = group.ctx.clone();
            tasks.spawn(async move {
                let rows = inner.client.fetch_path(&request.path, None, &ctx).await;
                (request, rows)
            });
        }
        while let Some(Ok((request, rows))) = tasks.join_next().await {
            let calls: usize = request
                .agents
                .iter()
                .filter_map(|a| members.get(a))
                .map(|m| m.slot.receiver_count())
                .sum();
            self.client.observer().upstream_query(calls);
            match rows.and_then(|rows| split(rows, &request)) {
                Ok(mut by_agent) => {
                    for agent in &request.agents {
                        if let Some(member) = members.remove(agent) {
                            let rows = by_agent.remove(agent).unwrap_or_default();
                            self.deliver(member, Ok(Arc::new(rows)), fetched);
                        }
                    }
                }
                Err(error) => {
                    let error = Arc::new(error);
                    for agent in &request.agents {
                        if let Some(member) = members.remove(agent) {
                            self.deliver(member, Err(Arc::clone(&error)), fetched);
                        }
                    }
                }
            }
        }
    }

    /// Answers the waiters of `member`, keeps a success in the cache, and lets the next
    /// identical call start a new request.
    fn deliver(&self, member: Member, answer: Answer, fetched: Instant) {
        if let Ok(rows) = &answer {
            self.cache.put(
                member.key.clone(),
                Arc::clone(rows),
                fetched,
                member.wall,
                member.day_bound,
            );
        }
        member.slot.send_replace(Some(answer));
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if in_flight
            .get(&member.key)
            .is_some_and(|slot| Arc::ptr_eq(slot, &member.slot))
        {
            in_flight.remove(&member.key);
        }
    }
}

/// The rows of a combined answer, by agent, each agent's in the answer's order; the agent
/// column removed where only the combination asked for it.
fn split(
    rows: Vec<Value>,
    request: &AgentsRequest,
) -> Result<HashMap<Uuid, Vec<Value>>, BackendError> {
    let mut by_agent: HashMap<Uuid, Vec<Value>> = HashMap::with_capacity(request.agents.len());
    for (index, row) in rows.into_iter().enumerate() {
        let Value::Object(mut record) = row else {
            continue;
        };
        let agent = record
            .get(AGENT_PROPERTY)
            .and_then(Value::as_str)
            .and_then(|text| Uuid::parse_str(text).ok())
            .ok_or_else(|| BackendError::DataverseBadResponse {
                reason: format!("value[{index}] has no {AGENT_PROPERTY} GUID, which was selected"),
            })?;
        if request.agent_column_added {
            // Rebuilt rather than removed in place: keeps the other keys' order whatever the
            // map type.
            record = record
                .into_iter()
                .filter(|(name, _)| {
                    name.strip_prefix(AGENT_PROPERTY)
                        .is_none_or(|rest| !(rest.is_empty() || rest.starts_with('@')))
                })
                .collect();
        }
        by_agent
            .entry(agent)
            .or_default()
            .push(Value::Object(record));
    }
    Ok(by_agent)
}

impl Backend for Shared {
    fn fetch<'a>(
        &'a self,
        compiled: &'a Compiled,
        ctx: &'a RunContext,
    ) -> BoxFuture<'a, Result<Vec<Value>, BackendError>> {
        Box::pin(async move {
            let (rows, _) = self.rows(compiled, ctx).await?;
            Ok(Arc::try_unwrap(rows).unwrap_or_else(|shared| shared.as_ref().clone()))
        })
    }

    fn fetch_json_aged<'a>(
        &'a self,
        compiled: &'a Compiled,
        ctx: &'a RunContext,
        out: &'a mut Vec<u8>,
    ) -> BoxFuture<'a, Result<(usize, Duration), BackendError>> {
        Box::pin(async move {
            let (rows, age) = self.rows(compiled, ctx).await?;
            append_json_list(out, &rows);
            Ok((rows.len(), age))
        })
    }

    fn is_ready(&self) -> bool {
        self.inner.client.is_ready()
    }

    fn check_ready(&self) -> BoxFuture<'_, Result<(), String>> {
        self.inner.client.check_ready()
    }

    fn systemuser_of<'a>(
        &'a self,
        object_id: &'a str,
        ctx: &'a RunContext,
    ) -> BoxFuture<'a, Result<Option<String>, BackendError>> {
        self.inner.client.systemuser_of(object_id, ctx)
    }

    fn describe(&self) -> String {
        let config = &self.inner.config;
        format!(
            "{} (coalescing {} ms, cache {} ms, at most {} requests in flight per identity)",
            self.inner.client.describe(),
            config.coalesce_window.as_millis(),
            config.cache_ttl.as_millis(),
            self.inner.client.config().max_concurrent
        )
    }
}
