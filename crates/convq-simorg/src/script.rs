//! Scripted answers: the organization answers each request with what a test's script says
//! (any status, headers, body or delay: 429 with `Retry-After`, 401, 5xx, slow or huge
//! answers, malformed bodies) and records every request it received.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use hyper::body::Frame;
use serde_json::{Value, json};

use crate::Counts;

/// A request as the organization received it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Seen {
    /// The method.
    pub method: Method,
    /// Path and query exactly as received.
    pub target: String,
    /// The headers.
    pub headers: HeaderMap,
}

impl Seen {
    /// A header's value as text (`None` when missing or not text).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The bearer token of `Authorization: Bearer <token>`, if any.
    #[must_use]
    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
    }
}

/// One request, as a script sees it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Call<'a> {
    /// The request's number, from 0, in order of arrival.
    pub index: usize,
    /// The organization URL (`http://127.0.0.1:<port>`), for nextLinks.
    pub base: &'a str,
    /// The request.
    pub request: &'a Seen,
}

/// What a scripted organization answers one request with.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: ReplyBody,
    delay: Duration,
}

#[derive(Debug, Clone)]
enum ReplyBody {
    Text(String),
    /// `{"value":[record,...]}` of about this many bytes, streamed.
    Records {
        bytes: usize,
        record: Value,
    },
}

impl Reply {
    /// `status` with a JSON body, as Web API sends it
    /// (`application/json; odata.metadata=minimal`).
    #[must_use]
    pub fn json(status: u16, body: &Value) -> Self {
        Self::text(
            status,
            "application/json; odata.metadata=minimal",
            body.to_string(),
        )
    }

    /// A Web API collection body: `{"value": records}`.
    #[must_use]
    pub fn records(records: &[Value]) -> Self {
        Self::json(200, &json!({ "value": records }))
    }

    /// Dataverse's error body: `{"error": {"code", "message"}}`.
    #[must_use]
    pub fn dataverse_error(status: u16, code: &str, message: &str) -> Self {
        Self::json(
            status,
            &json!({"error": {"code": code, "message": message}}),
        )
    }

    /// `status` with `body` as it is, of `content_type` (none when empty).
    #[must_use]
    pub fn text(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        let headers = if content_type.is_empty() {
            Vec::new()
        } else {
            vec![("content-type".to_owned(), content_type.to_owned())]
        };
        Self {
            status,
            headers,
            body: ReplyBody::Text(body.into()),
            delay: Duration::ZERO,
        }
    }

    /// 200 with a collection body of about `bytes` bytes made of `record`, streamed 64 KiB at
    /// a time without a `Content-Length` (the client can only find its size by reading).
    #[must_use]
    pub fn streamed_records(bytes: usize, record: Value) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: ReplyBody::Records { bytes, record },
            delay: Duration::ZERO,
        }
    }

    /// Adds `Retry-After: <seconds>` (as given, so a test can send any text).
    #[must_use]
    pub fn with_retry_after(self, seconds: &str) -> Self {
        self.with_header("retry-after", seconds)
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The same reply, sent after `delay`.
    #[must_use]
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A script: the reply to each call.
pub(crate) type Script = dyn Fn(&Call<'_>) -> Reply + Send + Sync;

pub(crate) struct ScriptState {
    pub(crate) base: String,
    pub(crate) script: Box<Script>,
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
    pub(crate) counts: Arc<Counts>,
}

pub(crate) async fn scripted(State(state): State<Arc<ScriptState>>, request: Request) -> Response {
    let counts = &state.counts;
    counts.requests.fetch_add(1, Ordering::Relaxed);
    let in_flight = counts.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    counts.max_in_flight.fetch_max(in_flight, Ordering::Relaxed);
    let seen = Seen {
        method: request.method().clone(),
        target: request.uri().to_string(),
        headers: request.headers().clone(),
    };
    let index = {
        let mut requests = state.seen.lock().unwrap_or_else(PoisonError::into_inner);
        requests.push(seen.clone());
        requests.len() - 1
    };
    let reply = (state.script)(&Call {
        index,
        base: &state.base,
        request: &seen,
    });
    tokio::time::sleep(reply.delay).await;
    counts.in_flight.fetch_sub(1, Ordering::Relaxed);
    match reply.status {
        200..=299 => &counts.ok,
        429 => &counts.throttled,
        _ => &counts.rejected,
    }
    .fetch_add(1, Ordering::Relaxed);
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    let body = match reply.body {
        ReplyBody::Text(text) => Body::from(text),
        ReplyBody::Records { bytes, record } => Body::new(Records::new(bytes, &record)),
    };
    response.body(body).unwrap_or_else(|error| {
        Response::builder()
            .status(500)
            .body(Body::from(format!(
                "the script's reply is not HTTP: {error}"
            )))
            .unwrap_or_default()
    })
}

/// `{"value":[record,record,...]}` of about `left` bytes, produced 64 KiB at a time.
struct Records {
    left: usize,
    chunk: Bytes,
    last: Bytes,
    started: bool,
}

impl Records {
    fn new(bytes: usize, record: &Value) -> Self {
        let one = format!("{record},");
        let chunk = one.repeat(((64 << 10) / one.len()).max(1));
        Self {
            left: bytes,
            chunk: Bytes::from(chunk),
            last: Bytes::from(format!("{record}]}}")),
            started: false,
        }
    }
}

impl HttpBody for Records {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if !this.started {
            this.started = true;
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"{\"value\":[")))));
        }
        if this.left == 0 {
            return Poll::Ready(None);
        }
        if this.left <= this.chunk.len() {
            this.left = 0;
            return Poll::Ready(Some(Ok(Frame::data(this.last.clone()))));
        }
        this.left -= this.chunk.len();
        Poll::Ready(Some(Ok(Frame::data(this.chunk.clone()))))
    }
}
