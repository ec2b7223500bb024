//! `GET|POST /getConversations/stream`: live lists over Server-Sent Events.
//!
//! Subscribers are grouped by who the queries run as ([`RunContext::identity_key`]: the held
//! credential, or each pass-through caller's token) and by query shape (the input without its
//! `agentId`). Each group has one poll task: every interval it runs each of its agents' queries
//! through [`Backend::fetch`] at once, so a coalescing backend (`Shared`) sends one upstream
//! request per shape (split only by the URL limit), diffs each agent's list
//! ([`convq_backend::watch::Feed`]) and sends only the changes to that agent's subscribers.
//!
//! Delta mode (`AppState`'s mirror, `serve --stream-delta`): for the held identity, every
//! query runs on a copy of the table kept current from Dataverse change tracking
//! ([`convq_backend::TableMirror`]), refreshed at most once per half interval whatever the
//! number of shapes: the groups' ticks are aligned to the clock so that they share a refresh.
//! When the table does not track changes, the lists are polled as above.
//!
//! Each subscriber has a bounded queue; one that falls `queue` events behind is sent a final
//! `dropped` event (when there is room for it) and disconnected, so a slow reader never makes
//! the server hold more than `queue` events for it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use convq_backend::watch::{Feed, Resume, WatchEvent};
use convq_backend::{Backend, RunContext};
use convq_core::Compiled;
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

use crate::AppState;
use crate::access::Caller;
use crate::error::{ApiError, HttpCode, quote};
use crate::handlers::Posted;

/// Live lists' settings (`/getConversations/stream`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamConfig {
    /// How often each group of subscribers is polled. Default 5 s.
    pub interval: Duration,
    /// How often an idle stream gets a comment line (`: keep-alive`), so proxies keep it open
    /// and clients notice a dead one. Default 15 s.
    pub heartbeat: Duration,
    /// Subscribers at once, all callers together; more get 429. Default 10,000.
    pub max_subscribers: usize,
    /// Subscribers at once per caller (the inbound identity, else the Dataverse identity);
    /// more get 429. Default 1,000.
    pub max_per_caller: usize,
    /// Events waiting for one subscriber; a subscriber this far behind is dropped. Default 256.
    pub queue: usize,
    /// Events kept per agent list for `Last-Event-ID` resumes. Default 256.
    pub resume_events: usize,
    /// How long an agent list is still polled after its last subscriber left, so a reconnect
    /// resumes instead of starting over. Default 60 s.
    pub linger: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            heartbeat: Duration::from_secs(15),
            max_subscribers: 10_000,
            max_per_caller: 1_000,
            queue: 256,
            resume_events: 256,
            linger: Duration::from_secs(60),
        }
    }
}

/// What one subscriber is sent.
#[derive(Debug, Clone)]
enum Message {
    Event(WatchEvent),
    /// The backend failed this interval (the error body's JSON); the list is unchanged.
    Failed(Arc<str>),
    /// The last message: the subscriber fell behind.
    Dropped,
}

impl Message {
    fn into_event(self) -> Event {
        match self {
            Self::Event(event) => Event::default()
                .id(event.id)
                .event(event.kind.as_str())
                .data(&*event.data),
            Self::Failed(data) => Event::default().event("failed").data(&*data),
            Self::Dropped => Event::default().event("dropped").data(
                r#"{"reason":"the client read events more slowly than they came; reconnect with Last-Event-ID"}"#,
            ),
        }
    }
}

/// The live lists of a server: groups by identity and shape.
#[derive(Default)]
pub(crate) struct Hub {
    groups: Mutex<HashMap<GroupKey, Arc<Group>>>,
    counts: Mutex<Counts>,
    epoch: AtomicU64,
    /// Subscribers now (gauge) and events queued for them so far (counter), for tests and logs.
    pub(crate) subscribers: AtomicUsize,
    pub(crate) events: AtomicU64,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_caller: HashMap<String, usize>,
}

/// (identity key, query shape).
type GroupKey = (String, String);

struct Group {
    state: Mutex<GroupState>,
}

struct GroupState {
    /// The first subscriber's context: the identity every member shares.
    ctx: RunContext,
    feeds: HashMap<Uuid, FeedEntry>,
    /// Set when the poll task has ended: a new subscriber opens a new group.
    closed: bool,
}

struct FeedEntry {
    compiled: Compiled,
    feed: Feed,
    subscribers: Vec<Subscriber>,
    /// When the last subscriber left.
    idle_since: Option<Instant>,
}

struct Subscriber {
    tx: mpsc::Sender<Message>,
    /// Not sent the whole list yet (the list was not fetched when it came).
    needs_snapshot: bool,
}

impl Subscriber {
    /// Queues `messages`, or drops the subscriber (false) when they do not fit. More changes
    /// at once than a queue holds go as one `snapshot` (the same id as the last change).
    fn send(&mut self, messages: &[Message], snapshot: &[Message], events: &AtomicU64) -> bool {
        if self.tx.is_closed() {
            return false;
        }
        let messages = if messages.len() >= self.tx.max_capacity() && !snapshot.is_empty() {
            snapshot
        } else {
            messages
        };
        if self.tx.capacity() < messages.len() + 1 {
            let _ = self.tx.try_send(Message::Dropped);
            return false;
        }
        for message in messages {
            if self.tx.try_send(message.clone()).is_err() {
                return false;
            }
        }
        events.fetch_add(messages.len() as u64, Ordering::Relaxed);
        true
    }
}

/// Gives back a subscriber's place in the counts when its stream ends.
struct Slot {
    hub: Arc<Hub>,
    caller: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .hub
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_caller.get_mut(&self.caller) {
            *n -= 1;
            if *n == 0 {
                counts.per_caller.remove(&self.caller);
            }
        }
        self.hub.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Hub {
    /// Takes a place for `caller`, within both limits.
    fn admit(self: &Arc<Self>, caller: &str, config: &StreamConfig) -> Result<Slot, ApiError> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = counts.per_caller.get(caller).copied().unwrap_or(0);
        if counts.total >= config.max_subscribers || mine >= config.max_per_caller {
            let (which, limit) = if mine >= config.max_per_caller {
                ("per caller", config.max_per_caller)
            } else {
                ("in total", config.max_subscribers)
            };
            return Err(ApiError::new(
                HttpCode::TooManySubscribers,
                format!("this server takes at most {limit} live-list subscribers {which}"),
            )
            .with_hint("close a stream first, or subscribe to fewer lists"));
        }
        counts.total += 1;
        *counts.per_caller.entry(caller.to_owned()).or_default() += 1;
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            hub: Arc::clone(self),
            caller: caller.to_owned(),
        })
    }

    /// A new feed epoch: distinct within the process and, from the clock, across restarts.
    fn next_epoch(&self) -> u64 {
        let base = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut current = self.epoch.load(Ordering::Relaxed);
        loop {
            let next = base.max(current + 1);
            match self
                .epoch
                .compare_exchange(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(seen) => current = seen,
            }
        }
    }
}

/// `GET /getConversations/stream?input=<JSON>` (or the input's fields: `agentId`, `status`,
/// `createdBeforeDays`, `top`, `attributes`), with `strict`, `timeZone`, `formattedValues`,
/// `correlationId` as on `/getConversations`.
pub(crate) async fn subscribe_get(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let (input, rest) = match input_from_query(parts.uri.query()) {
        Ok(found) => found,
        Err(error) => return error.into_response(),
    };
    let params = match crate::handlers::params(Some(&rest)) {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    let posted = Posted {
        params,
        text: input,
        extensions: parts.extensions,
    };
    subscribe(state, &parts.headers, posted)
}

/// `POST /getConversations/stream`: the input as the JSON body.
pub(crate) async fn subscribe_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    posted: Posted,
) -> Response {
    subscribe(state, &headers, posted)
}

fn subscribe(state: AppState, headers: &HeaderMap, posted: Posted) -> Response {
    let compiled = match convq_core::compile(&posted.text, state.options_for(posted.params.strict))
    {
        Ok(compiled) => compiled,
        Err(error) => return ApiError::from_core(&error).into_response(),
    };
    let ctx = posted.run_context(&state);
    let caller = posted
        .extensions
        .get::<Caller>()
        .map_or_else(|| ctx.identity_key(), |Caller(who)| who.clone());
    let config = &state.inner.config.stream;
    let hub = Arc::clone(&state.inner.stream);
    let slot = match hub.admit(&caller, config) {
        Ok(slot) => slot,
        Err(error) => return error.into_response(),
    };
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (tx, rx) = mpsc::channel(config.queue.max(2));
    attach(&state, compiled, ctx, tx, last_event_id.as_deref());
    let stream = futures_util::stream::unfold((rx, slot), |(mut rx, slot)| async move {
        let message = rx.recv().await?;
        Some((Ok::<_, Infallible>(message.into_event()), (rx, slot)))
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(config.heartbeat))
        .into_response();
    // Proxies (nginx) buffer responses unless told not to; events must go out as they come.
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    response
}

/// Adds a subscriber to its agent's feed, opening the group (and its poll task) or the feed (and
/// its first fetch) when needed, and queues what it starts with.
fn attach(
    state: &AppState,
    compiled: Compiled,
    ctx: RunContext,
    tx: mpsc::Sender<Message>,
    last_event_id: Option<&str>,
) {
    let hub = &state.inner.stream;
    let config = &state.inner.config.stream;
    let key = (ctx.identity_key(), shape(&compiled, &ctx));
    let agent = compiled.ast.agent_id;
    loop {
        let group = {
            let mut groups = hub.groups.lock().unwrap_or_else(PoisonError::into_inner);
            let group = groups.entry(key.clone()).or_insert_with(|| {
                let group = Arc::new(Group {
                    state: Mutex::new(GroupState {
                        ctx: ctx.clone(),
                        feeds: HashMap::new(),
                        closed: false,
                    }),
                });
                tokio::spawn(poll(state.clone(), key.clone(), Arc::clone(&group)));
                group
            });
            Arc::clone(group)
        };
        let mut group_state = group.state.lock().unwrap_or_else(PoisonError::into_inner);
        if group_state.closed {
            // The poll task ended between the look-up and here: open a new group.
            drop(group_state);
            let mut groups = hub.groups.lock().unwrap_or_else(PoisonError::into_inner);
            if groups.get(&key).is_some_and(|g| Arc::ptr_eq(g, &group)) {
                groups.remove(&key);
            }
            continue;
        }
        let mut subscriber = Subscriber {
            tx,
            needs_snapshot: true,
        };
        let entry = group_state.feeds.entry(agent).or_insert_with(|| {
            let feed = Feed::new(agent.to_string(), hub.next_epoch(), config.resume_events);
            tokio::spawn(first_fetch(
                state.clone(),
                Arc::clone(&group),
                compiled.clone(),
                ctx.clone(),
            ));
            FeedEntry {
                compiled,
                feed,
                subscribers: Vec::new(),
                idle_since: None,
            }
        });
        entry.idle_since = None;
        if entry.feed.is_ready() {
            let snapshot: Vec<Message> = entry
                .feed
                .snapshot()
                .map(Message::Event)
                .into_iter()
                .collect();
            let start = match last_event_id.map(|id| entry.feed.resume(id)) {
                Some(Resume::Replay(events)) => events.into_iter().map(Message::Event).collect(),
                _ => snapshot.clone(),
            };
            subscriber.needs_snapshot = false;
            if !subscriber.send(&start, &snapshot, &hub.events) {
                return;
            }
        }
        entry.subscribers.push(subscriber);
        return;
    }
}

/// The group key's shape: the query without its agent, and what else changes the answer.
fn shape(compiled: &Compiled, ctx: &RunContext) -> String {
    let mut ast = compiled.ast.clone();
    ast.agent_id = Uuid::nil();
    let mut shape = serde_json::to_string(&ast).unwrap_or_default();
    shape.push_str(if ctx.formatted_values { " +fv " } else { " " });
    shape.push_str(ctx.time_zone.iana_name().unwrap_or("?"));
    shape
}

/// The context of one poll: "now" and a deadline of their own.
fn poll_context(state: &AppState, base: &RunContext) -> RunContext {
    let mut ctx = base.clone();
    ctx.now = state.now();
    ctx.deadline = Some(std::time::Instant::now() + state.limits().request_timeout);
    ctx
}

/// The change-tracked copy the lists of `ctx` run on, if any: delta mode, held identity only.
fn mirror_for<'a>(
    state: &'a AppState,
    ctx: &RunContext,
) -> Option<&'a Arc<dyn convq_backend::TableMirror>> {
    state
        .inner
        .mirror
        .as_ref()
        .filter(|_| ctx.bearer.is_none() && ctx.identity_key() == convq_backend::HELD_IDENTITY)
}

/// The answers of `work`: from the change-tracked copy (no older than `max_age`) when there is
/// one and it is available, else from the backend, all at once (a coalescing backend turns
/// them into one request per shape).
async fn answers(
    state: &AppState,
    ctx: &RunContext,
    work: &[Compiled],
    max_age: Duration,
) -> Vec<Result<Vec<serde_json::Value>, convq_backend::BackendError>> {
    if let Some(mirror) = mirror_for(state, ctx) {
        match mirror.mirror(work, max_age).await {
            Ok(Some(store)) => {
                return work.iter().map(|c| Ok(store.query(&c.ast, ctx))).collect();
            }
            Ok(None) => {}
            Err(error) => return work.iter().map(|_| Err(error.clone())).collect(),
        }
    }
    let backend: &dyn Backend = state.backend();
    futures_util::future::join_all(work.iter().map(|c| backend.fetch(c, ctx))).await
}

/// The first answer of a new feed, fetched at once rather than at the group's next tick (in
/// delta mode, from the copy when it is at most an interval old).
async fn first_fetch(state: AppState, group: Arc<Group>, compiled: Compiled, ctx: RunContext) {
    let ctx = poll_context(&state, &ctx);
    let interval = state.inner.config.stream.interval;
    let answer = answers(&state, &ctx, std::slice::from_ref(&compiled), interval)
        .await
        .pop()
        .expect("one answer per query");
    let mut group_state = group.state.lock().unwrap_or_else(PoisonError::into_inner);
    let events = &state.inner.stream.events;
    if let Some(entry) = group_state.feeds.get_mut(&compiled.ast.agent_id)
        && !entry.feed.is_ready()
    {
        deliver(entry, answer, events);
    }
}

/// Applies an answer to a feed and sends each subscriber what it needs.
fn deliver(
    entry: &mut FeedEntry,
    answer: Result<Vec<serde_json::Value>, convq_backend::BackendError>,
    counter: &AtomicU64,
) {
    let messages: Vec<Message> = match answer {
        Ok(rows) => entry
            .feed
            .apply(rows)
            .into_iter()
            .map(Message::Event)
            .collect(),
        Err(error) => {
            let body = serde_json::json!({
                "agentId": entry.compiled.ast.agent_id,
                "error": error.to_body(),
            });
            vec![Message::Failed(body.to_string().into())]
        }
    };
    // The whole list is written only when someone needs it (most polls: nobody).
    let needed = entry
        .subscribers
        .iter()
        .any(|s| s.needs_snapshot || messages.len() >= s.tx.max_capacity());
    let snapshot: Vec<Message> = if needed {
        entry
            .feed
            .snapshot()
            .map(Message::Event)
            .into_iter()
            .collect()
    } else {
        Vec::new()
    };
    entry.subscribers.retain_mut(|subscriber| {
        if subscriber.needs_snapshot && !snapshot.is_empty() {
            subscriber.needs_snapshot = false;
            subscriber.send(&snapshot, &[], counter)
        } else if messages.is_empty() {
            !subscriber.tx.is_closed()
        } else {
            // Changes, or (before the first answer) a failure.
            subscriber.send(&messages, &snapshot, counter)
        }
    });
}

/// A group's poll task: every interval, every fetched feed at once; ends when no feed is left.
async fn poll(state: AppState, key: GroupKey, group: Arc<Group>) {
    let config = state.inner.config.stream.clone();
    let members = {
        let group_state = group.state.lock().unwrap_or_else(PoisonError::into_inner);
        group_state.ctx.clone()
    };
    let delta = mirror_for(&state, &members).is_some();
    let mut ticks = if delta {
        // Every group ticks at the same instants (multiples of the interval on the clock), so
        // the first to ask refreshes the copy and the others share it.
        let period = config.interval.as_nanos().max(1);
        let since_epoch = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let wait = u64::try_from(period - since_epoch % period).unwrap_or(0);
        tokio::time::interval_at(Instant::now() + Duration::from_nanos(wait), config.interval)
    } else {
        let mut ticks = tokio::time::interval(config.interval);
        // The first tick is immediate; new feeds fetch their own first answer.
        ticks.tick().await;
        ticks
    };
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let (ctx, work) = {
            let mut group_state = group.state.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            group_state.feeds.retain(|_, entry| {
                entry.subscribers.retain(|s| !s.tx.is_closed());
                if entry.subscribers.is_empty() {
                    let since = *entry.idle_since.get_or_insert(now);
                    now.duration_since(since) < config.linger
                } else {
                    true
                }
            });
            if group_state.feeds.is_empty() {
                group_state.closed = true;
                drop(group_state);
                let hub = &state.inner.stream;
                let mut groups = hub.groups.lock().unwrap_or_else(PoisonError::into_inner);
                if groups.get(&key).is_some_and(|g| Arc::ptr_eq(g, &group)) {
                    groups.remove(&key);
                }
                return;
            }
            let work: Vec<Compiled> = group_state
                .feeds
                .values()
                .filter(|entry| entry.feed.is_ready())
                .map(|entry| entry.compiled.clone())
                .collect();
            (poll_context(&state, &group_state.ctx), work)
        };
        let started = Instant::now();
        let answers = answers(&state, &ctx, &work, config.interval / 2).await;
        tracing::debug!(
            agents = work.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "live lists polled"
        );
        let mut group_state = group.state.lock().unwrap_or_else(PoisonError::into_inner);
        let events = &state.inner.stream.events;
        for (compiled, answer) in work.iter().zip(answers) {
            if let Some(entry) = group_state.feeds.get_mut(&compiled.ast.agent_id) {
                deliver(entry, answer, events);
            }
        }
    }
}

/// The input of a GET: `input=<JSON>`, or built from the input's own fields; and the other
/// query parameters, re-encoded for `handlers::params`.
fn input_from_query(query: Option<&str>) -> Result<(String, String), ApiError> {
    let mut input: Option<String> = None;
    let mut fields = serde_json::Map::new();
    let mut rest = form_urlencoded::Serializer::new(String::new());
    let number = |name: &str, value: &str| {
        value.parse::<i64>().map_err(|_| {
            ApiError::new(
                HttpCode::InvalidQueryParameter,
                format!("{name} must be a whole number, found {}", quote(value)),
            )
        })
    };
    for (key, value) in query
        .into_iter()
        .flat_map(|q| form_urlencoded::parse(q.as_bytes()))
    {
        match &*key {
            "input" => input = Some(value.into_owned()),
            "agentId" => {
                fields.insert("agentId".into(), value.into_owned().into());
            }
            "createdBeforeDays" | "top" => {
                let parsed = number(&key, &value)?;
                fields.insert(key.into_owned(), parsed.into());
            }
            "status" => {
                let statuses = value
                    .split(',')
                    .map(|s| number("status", s.trim()))
                    .collect::<Result<Vec<_>, _>>()?;
                fields.insert("status".into(), statuses.into());
            }
            "attributes" => {
                let names: Vec<serde_json::Value> = value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.into())
                    .collect();
                fields.insert("attributes".into(), names.into());
            }
            _ => {
                rest.append_pair(&key, &value);
            }
        }
    }
    let input = match (input, fields.is_empty()) {
        (Some(_), false) => {
            return Err(ApiError::new(
                HttpCode::InvalidQueryParameter,
                "give the input either as input=<JSON> or as its fields, not both",
            ));
        }
        (Some(input), true) => input,
        (None, _) => serde_json::Value::Object(fields).to_string(),
    };
    Ok((input, rest.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_inputs_come_whole_or_by_field() {
        let (input, rest) = input_from_query(Some(
            "agentId=a&status=3,4&top=2&attributes=x,y&strict=true",
        ))
        .unwrap();
        let input: serde_json::Value = serde_json::from_str(&input).unwrap();
        assert_eq!(
            input,
            serde_json::json!({"agentId":"a","status":[3,4],"top":2,"attributes":["x","y"]})
        );
        assert_eq!(rest, "strict=true");
        let (input, _) = input_from_query(Some("input=%7B%22agentId%22%3A%22a%22%7D")).unwrap();
        assert_eq!(input, r#"{"agentId":"a"}"#);
        assert!(input_from_query(Some("input=%7B%7D&agentId=a")).is_err());
        assert!(input_from_query(Some("top=two")).is_err());
    }
}
