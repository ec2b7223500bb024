//! What every request goes through, outermost first:
//!
//! 1. `observe`: correlation id (taken, validated or generated, echoed), request timeout (504),
//!    error-body normalization, metrics and the access log line. Outermost so that the log and the
//!    metrics see the final status of everything below, timeouts included.
//! 2. `Host` check (421 for a host the server does not answer for; see `hosts`).
//! 3. CORS, only when origins are configured.
//! 4. Body read: the whole body, within the body limit (413 before reading when Content-Length
//!    says so, else while reading) and the body-read timeout (408), before any work slot is
//!    taken: a client that sends slowly holds its connection, not a slot.
//! 5. Panic catcher: a bug answers 500 with the envelope instead of dropping the connection.
//! 6. Concurrency limit, on the work routes only (`router` applies it): one semaphore;
//!    waiting counts toward the timeout.

use std::any::Any;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::error::{ApiError, HttpCode};
use crate::{AppState, CORRELATION_HEADER, Limits};

/// The correlation id of the request being handled, for handlers.
#[derive(Debug, Clone)]
pub(crate) struct CorrelationId(pub(crate) String);

/// The W3C trace context this request continues (`traceparent`, with the service's own span
/// id), for handlers to send on to Dataverse.
#[derive(Debug, Clone)]
pub(crate) struct Traceparent(pub(crate) String);

/// The W3C trace context header (<https://www.w3.org/TR/trace-context/>).
const TRACEPARENT: &str = "traceparent";

/// When the request times out (its start plus the request timeout), for handlers: a backend
/// call gives up before it, with its own error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(pub(crate) std::time::Instant);

/// Longest correlation id accepted. Ids are logged and forwarded, so they are bounded.
const MAX_CORRELATION_ID: usize = 128;

pub(crate) fn apply(routes: Router, state: &AppState) -> Router {
    let mut router = routes
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(from_fn_with_state(state.clone(), read_body));
    let cors_origins = &state.config().cors_origins;
    if !cors_origins.is_empty() {
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(cors_origins.iter().cloned()))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([
                    header::CONTENT_TYPE,
                    HeaderName::from_static(CORRELATION_HEADER),
                    HeaderName::from_static(TRACEPARENT),
                ])
                .expose_headers([
                    HeaderName::from_static(CORRELATION_HEADER),
                    HeaderName::from_static(TRACEPARENT),
                ]),
        );
    }
    router
        .layer(from_fn_with_state(state.clone(), crate::hosts::check))
        .layer(from_fn_with_state(state.clone(), observe))
}

/// The concurrency limit of the work routes (`/getConversations`, `/query`).
pub(crate) fn work_limit(state: &AppState) -> GlobalConcurrencyLimitLayer {
    GlobalConcurrencyLimitLayer::new(state.limits().concurrency_limit.max(1))
}

/// Reads the whole body within the body limit and the body-read timeout, and hands it on
/// buffered, so that the layers and handlers below never wait for the client.
async fn read_body(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.body_limit as u64) {
        return ApiError::payload_too_large(limits.body_limit).into_response();
    }
    let (parts, body) = request.into_parts();
    let read = Limited::new(body, limits.body_limit).collect();
    let bytes = match tokio::time::timeout(limits.body_read_timeout, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.is::<LengthLimitError>() => {
            return ApiError::payload_too_large(limits.body_limit).into_response();
        }
        // The client stopped sending mid-body or the connection failed; it will not read this
        // answer, but the log and metrics get a status.
        Ok(Err(_)) => {
            return ApiError::new(
                HttpCode::IncompleteBody,
                "the request body could not be read to its end",
            )
            .into_response();
        }
        Err(_) => {
            let mut response = ApiError::new(
                HttpCode::RequestBodyTimeout,
                format!(
                    "the request body did not arrive within the server's {} ms body-read timeout",
                    limits.body_read_timeout.as_millis()
                ),
            )
            .with_hint("send the whole body at once; it is a few hundred bytes")
            .into_response();
            // The rest of the body may still come; the connection cannot carry another request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let metrics = &state.inner.metrics;
    let _in_flight = metrics.in_flight();
    let method = request.method().clone();
    // The route pattern, not the path: bounded label cardinality whatever clients send.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);

    // A trace the caller started continues here with a span of its own; an invalid or missing
    // `traceparent` is ignored, as the specification says, not an error.
    let trace = continue_trace(request.headers());
    let (id, response) = match correlation_id(request.headers(), request.uri().query()) {
        Ok(id) => {
            request
                .extensions_mut()
                .insert(CorrelationId(id.to_str().unwrap_or_default().to_owned()));
            if let Some(trace) = &trace {
                request
                    .extensions_mut()
                    .insert(Traceparent(trace.to_str().unwrap_or_default().to_owned()));
            }
            let timeout = state.limits().request_timeout;
            request.extensions_mut().insert(Deadline(started + timeout));
            let response = match tokio::time::timeout(timeout, next.run(request)).await {
                Ok(response) => response,
                // Dropping the handler's future cancels its work (and a backend call in it).
                Err(_) => ApiError::new(
                    HttpCode::RequestTimeout,
                    format!(
                        "the request took longer than the server's {} ms timeout",
                        timeout.as_millis()
                    ),
                )
                .into_response(),
            };
            (id, response)
        }
        Err(rejected) => {
            let (generated, error) = *rejected;
            (generated, error.into_response())
        }
    };

    let mut response = normalize_error_body(response, state.limits().body_limit);
    response
        .headers_mut()
        .insert(CORRELATION_HEADER, id.clone());
    if let Some(trace) = &trace {
        response.headers_mut().insert(TRACEPARENT, trace.clone());
    }
    // The trace id alone joins this line to the caller's trace (the span ids are per hop).
    let trace_id = trace
        .as_ref()
        .and_then(|value| value.to_str().ok())
        .map_or("-", |value| &value[3..35]);

    let status = response.status();
    let elapsed = started.elapsed();
    let caller = response
        .extensions()
        .get::<crate::access::Caller>()
        .map_or("-", |caller| caller.0.as_str());
    metrics.observe(route, method_label(&method), status, elapsed.as_secs_f64());
    tracing::info!(
        target: "convq_http::access",
        method = %method,
        route,
        status = status.as_u16(),
        latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        correlation_id = id.to_str().unwrap_or_default(),
        trace_id,
        caller,
        "request"
    );
    response
}

/// Methods outside the standard set are counted as `OTHER`: clients choose methods, and every
/// distinct label value is a new time series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// The correlation id from the `x-correlation-id` header or the `correlationId` query parameter,
/// or a new UUID v4. On a bad id the error comes with a generated id to echo (boxed: the error
/// path is rare and the success path should stay small).
fn correlation_id(
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<HeaderValue, Box<(HeaderValue, ApiError)>> {
    let generated =
        || HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).expect("a UUID is ASCII");
    let mut given: Option<HeaderValue> = None;
    let candidates = headers
        .get_all(CORRELATION_HEADER)
        .iter()
        .map(|value| value.to_str().map(str::to_owned).map_err(|_| ()))
        .chain(
            query
                .into_iter()
                .flat_map(|q| form_urlencoded::parse(q.as_bytes()))
                .filter(|(key, _)| key == "correlationId")
                .map(|(_, value)| Ok(value.into_owned())),
        );
    for candidate in candidates {
        let value = candidate
            .ok()
            .filter(|id| valid_correlation_id(id))
            .and_then(|id| HeaderValue::from_str(&id).ok())
            .ok_or_else(|| {
                Box::new((
                    generated(),
                    ApiError::new(
                        HttpCode::InvalidCorrelationId,
                        format!(
                            "the correlation id must be 1 to {MAX_CORRELATION_ID} visible ASCII characters"
                        ),
                    )
                    .with_hint("use a UUID, or leave it out and the server generates one"),
                ))
            })?;
        match &given {
            Some(first) if *first != value => {
                return Err(Box::new((
                    generated(),
                    ApiError::new(
                        HttpCode::ConflictingCorrelationId,
                        "the x-correlation-id header and the correlationId query parameter differ",
                    )
                    .with_hint("give the correlation id once"),
                )));
            }
            Some(_) => {}
            None => given = Some(value),
        }
    }
    Ok(given.unwrap_or_else(generated))
}

/// The `traceparent` to send on for a request's valid `traceparent` header: the same version
/// 00 trace id and flags, with a new span id (this service's); `None` when the header is
/// absent, repeated, or not the W3C format (version 2 hex digits but not `ff`, then a 32-digit
/// trace id and a 16-digit parent id, neither all zeros, and 2 digits of flags, lowercase).
fn continue_trace(headers: &HeaderMap) -> Option<HeaderValue> {
    let mut values = headers.get_all(TRACEPARENT).iter();
    let value = values.next()?.to_str().ok()?;
    if values.next().is_some() {
        return None;
    }
    let hex = |part: &str, len: usize| {
        part.len() == len && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let mut parts = value.splitn(5, '-');
    let (version, trace_id, parent_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let rest = parts.next();
    let valid = hex(version, 2)
        && version != "ff"
        // Version 00 has exactly four fields; later versions may append more.
        && (version != "00" || rest.is_none())
        && hex(trace_id, 32)
        && trace_id.bytes().any(|b| b != b'0')
        && hex(parent_id, 16)
        && parent_id.bytes().any(|b| b != b'0')
        && hex(flags, 2);
    if !valid {
        return None;
    }
    let span = loop {
        let span = uuid::Uuid::new_v4().as_u128() as u64;
        if span != 0 {
            break span;
        }
    };
    HeaderValue::from_str(&format!("00-{trace_id}-{span:016x}-{flags}")).ok()
}

fn valid_correlation_id(id: &str) -> bool {
    (1..=MAX_CORRELATION_ID).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Gives every error response the envelope body, whoever produced it: axum's 404/405, the body
/// limit's 413, a rejection. Responses that already are JSON are left as they are; headers such
/// as `Allow` are kept.
fn normalize_error_body(response: Response, body_limit: usize) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let replacement = if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::payload_too_large(body_limit)
    } else {
        ApiError::for_status(status)
    }
    .into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, replacement.into_body())
}

/// `application/json` and `application/<anything>+json`, with any parameters.
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(is_json_media_type)
}

pub(crate) fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len().checked_sub(5).is_some_and(|i| {
                subtype.is_char_boundary(i) && subtype[i..].eq_ignore_ascii_case("+json")
            }))
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %detail, "handler panicked");
    ApiError::new(
        HttpCode::InternalError,
        "the server hit a bug handling this request",
    )
    .with_hint("report it with the correlation id of this response")
    .into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn boom() -> StatusCode {
        panic!("a handler bug")
    }

    /// A bug in a handler: the client still gets the envelope, a status and its correlation id.
    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_envelope() {
        let state = AppState::new(
            Arc::new(convq_backend::EmbeddedStore::sample()),
            convq_core::Options::default(),
        );
        let routes = Router::new()
            .route("/boom", get(boom))
            .with_state(state.clone());
        let request = axum::http::Request::get("/boom")
            .header(CORRELATION_HEADER, "bug-1")
            .body(Body::empty())
            .unwrap();
        let response = apply(routes, &state).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[CORRELATION_HEADER], "bug-1");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "internal_error");
        assert_eq!(body["status"], false);
    }

    #[test]
    fn json_media_types() {
        for yes in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/problem+json",
        ] {
            assert!(is_json_media_type(yes), "{yes}");
        }
        for no in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "json",
            "",
            "application/jsonx",
        ] {
            assert!(!is_json_media_type(no), "{no}");
        }
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(CORRELATION_HEADER, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn trace_context() {
        let trace = |values: &[&str]| {
            let mut map = HeaderMap::new();
            for value in values {
                map.append(TRACEPARENT, HeaderValue::from_str(value).unwrap());
            }
            continue_trace(&map).map(|v| v.to_str().unwrap().to_owned())
        };
        let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let continued = trace(&[given]).unwrap();
        assert_eq!(&continued[..36], &given[..36], "same version and trace id");
        assert_eq!(&continued[53..], "01", "same flags");
        assert_ne!(&continued[36..52], "00f067aa0ba902b7", "a new span id");
        assert!(continued[36..52].bytes().any(|b| b != b'0'));
        // A later version with more fields is read as version 00.
        let future = trace(&["01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra"]);
        assert!(
            future
                .unwrap()
                .starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        ] {
            assert_eq!(trace(&[bad]), None, "{bad:?}");
        }
        assert_eq!(trace(&[]), None);
        assert_eq!(trace(&[given, given]), None, "repeated");
    }

    #[test]
    fn correlation_id_sources() {
        assert_eq!(correlation_id(&headers(&["abc-1"]), None).unwrap(), "abc-1");
        assert_eq!(
            correlation_id(&headers(&[]), Some("strict=true&correlationId=q%2F1")).unwrap(),
            "q/1"
        );
        assert_eq!(
            correlation_id(&headers(&["same"]), Some("correlationId=same")).unwrap(),
            "same"
        );
        let generated = correlation_id(&headers(&[]), None).unwrap();
        let parsed = uuid::Uuid::parse_str(generated.to_str().unwrap()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
    }

    #[test]
    fn bad_correlation_ids() {
        let long = "x".repeat(MAX_CORRELATION_ID + 1);
        for (headers, query, code) in [
            (
                headers(&["a"]),
                Some("correlationId=b"),
                "conflicting_correlation_id",
            ),
            (headers(&["a", "b"]), None, "conflicting_correlation_id"),
            (
                headers(&[]),
                Some("correlationId="),
                "invalid_correlation_id",
            ),
            (
                headers(&[]),
                Some("correlationId=a%20b"),
                "invalid_correlation_id",
            ),
            (headers(&[long.as_str()]), None, "invalid_correlation_id"),
        ] {
            let (generated, error) = *correlation_id(&headers, query).unwrap_err();
            assert_eq!(error.body.code, code, "{query:?}");
            assert!(uuid::Uuid::parse_str(generated.to_str().unwrap()).is_ok());
        }
    }
}
