//! The handlers: convert in, call the core or the backend, convert out.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use convq_backend::{ErrorKind, Outcome, RunContext};
use schemars::JsonSchema;
use serde::Serialize;

use crate::AppState;
use crate::access::{EntraCaller, PassthroughBearer, challenge, refuse};
use crate::error::{ApiError, HttpCode, json_bytes, json_response, quote};
use crate::metrics::Metrics;
use crate::middleware::{CorrelationId, Deadline, Traceparent, is_json};

/// `POST /getConversations`: the getConversations envelope.
pub(crate) async fn get_conversations(State(state): State<AppState>, posted: Posted) -> Response {
    if let Err(refused) = check_own_agent(&state, &posted, &[posted.text.as_str()]).await {
        return refused;
    }
    let ctx = posted.run_context(&state);
    let (text, strict) = (posted.text.as_str(), posted.params.strict);
    // The envelope's JSON text, written by the backend without a serde_json::Value per record
    // (byte for byte what serializing get_conversations' envelope gives).
    let run = convq_backend::get_conversations_json(
        state.backend(),
        text,
        state.options_for(strict),
        &ctx,
    )
    .await;
    if let (Outcome::Failure(ErrorKind::InputNotJson), Some(error)) = (run.outcome, &run.error)
        && is_ndjson(text)
    {
        return ApiError {
            status: StatusCode::BAD_REQUEST,
            body: error.clone(),
        }
        .with_hint(NDJSON_HINT)
        .into_response();
    }
    let status = match run.outcome {
        Outcome::Success => StatusCode::OK,
        // The core's own size limit is a body-size problem, like the server's body limit.
        Outcome::Failure(ErrorKind::InputTooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
        Outcome::Failure(kind) if kind.is_input() => StatusCode::BAD_REQUEST,
        Outcome::Failure(ErrorKind::Timeout) => StatusCode::GATEWAY_TIMEOUT,
        // Throttled or unavailable upstream: the caller is told so, and when to come back
        // (sending sooner would only be refused again), not a bare 502.
        Outcome::Failure(ErrorKind::Throttled) => StatusCode::TOO_MANY_REQUESTS,
        Outcome::Failure(ErrorKind::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
        Outcome::Failure(_) => StatusCode::BAD_GATEWAY,
    };
    let rejected_callers_token = posted.extensions.get::<PassthroughBearer>().is_some()
        && run
            .error
            .as_ref()
            .is_some_and(|error| error.code == "dataverse_unauthorized");
    // In pass-through a 401 from Dataverse is about the caller's own token: 401 with a
    // challenge, so that a web app knows to get a new one (502 would say the service failed).
    let status = if rejected_callers_token {
        StatusCode::UNAUTHORIZED
    } else {
        status
    };
    let retry_after = run.retry_after;
    let mut response = json_bytes(status, run.body);
    if rejected_callers_token {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            challenge(
                Some("invalid_token"),
                "Dataverse rejected the token: get a new one for the organization",
            ),
        );
    }
    if let Some(wait) = retry_after {
        // Whole seconds, rounded up, at least one.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    }
    if run.outcome == Outcome::Success {
        response
            .headers_mut()
            .insert(header::AGE, HeaderValue::from(run.age.as_secs()));
    }
    // Warnings go beside the envelope, never in it (the envelope is the API's exact shape).
    let headers = response.headers_mut();
    for value in warning_headers(&run.warnings) {
        headers.append(WARNING_HEADER, value);
    }
    response
}

/// The body of `POST /getConversations/batch` (its schema: the handler reads each input as
/// raw JSON, so that each is judged alone).
#[allow(dead_code)]
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchRequest {
    /// getConversations inputs, each judged alone (at most 1,000).
    pub(crate) inputs: Vec<convq_core::Input>,
}

/// The answer of `POST /getConversations/batch` (its schema: the handler writes the
/// envelopes' JSON text directly).
#[allow(dead_code)]
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct BatchResponse {
    /// One getConversations envelope per input, in the order of the inputs.
    pub(crate) results: Vec<convq_core::Envelope>,
}

/// Most inputs in one batch.
pub(crate) const MAX_BATCH: usize = 1_000;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    inputs: Vec<Box<serde_json::value::RawValue>>,
}

/// `POST /getConversations/batch`: `{"inputs":[...]}` → `{"results":[envelope, ...]}`.
///
/// Every input runs as if posted alone (one bad input fails only its own slot), all at once,
/// so calls of the same shape share Dataverse requests. The answer is 200 whenever the batch
/// itself is readable; its `Age` is the oldest result's.
pub(crate) async fn batch(State(state): State<AppState>, posted: Posted) -> Response {
    let text = posted.text.as_str();
    let batch: BatchBody = match serde_json::from_str(text) {
        Ok(batch) => batch,
        Err(error) => {
            return ApiError::new(
                HttpCode::InvalidBatch,
                format!("the body is not {{\"inputs\": [...]}}: {error}"),
            )
            .with_hint("send {\"inputs\": [<getConversations input>, ...]}")
            .into_response();
        }
    };
    if batch.inputs.len() > MAX_BATCH {
        return ApiError::new(
            HttpCode::InvalidBatch,
            format!(
                "the batch has {} inputs; at most {MAX_BATCH} are allowed",
                batch.inputs.len()
            ),
        )
        .with_hint("split it into several batches")
        .into_response();
    }
    let inputs: Vec<&str> = batch.inputs.iter().map(|input| input.get()).collect();
    if let Err(refused) = check_own_agent(&state, &posted, &inputs).await {
        return refused;
    }
    let (strict, ctx) = (posted.params.strict, posted.run_context(&state));
    let runs: Vec<_> = batch
        .inputs
        .into_iter()
        .map(|input| {
            let (state, ctx) = (state.clone(), ctx.clone());
            tokio::spawn(async move {
                convq_backend::get_conversations_json(
                    state.backend(),
                    input.get(),
                    state.options_for(strict),
                    &ctx,
                )
                .await
            })
        })
        .collect();
    let mut body = Vec::with_capacity(1024);
    body.extend_from_slice(br#"{"results":["#);
    let mut age = std::time::Duration::ZERO;
    for (index, run) in runs.into_iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        match run.await {
            Ok(run) => {
                age = age.max(run.age);
                body.extend_from_slice(&run.body);
            }
            // A panic in one run is that slot's server error, not the batch's.
            Err(_) => body.extend(crate::error::internal_error_body(
                "this input could not be run",
            )),
        }
    }
    body.extend_from_slice(b"]}");
    let mut response = json_bytes(StatusCode::OK, body);
    response
        .headers_mut()
        .insert(header::AGE, HeaderValue::from(age.as_secs()));
    response
}

/// With [`AccessPolicy::with_own_agent_only`](crate::AccessPolicy::with_own_agent_only):
/// refuses (403) inputs of an Entra ID caller that ask for another agent than the caller's own
/// Dataverse user. Inputs that do not compile are left to the run, which reports them.
async fn check_own_agent(
    state: &AppState,
    posted: &Posted,
    inputs: &[&str],
) -> Result<(), Response> {
    let Some(agents) = state.access().own_agent() else {
        return Ok(());
    };
    let Some(caller) = posted.extensions.get::<EntraCaller>() else {
        return Ok(());
    };
    let forbidden = |message: &str| {
        refuse(
            HttpCode::Forbidden,
            message.to_owned(),
            Some("insufficient_scope"),
            "ask for your own agentId: this service answers each agent only their own conversations",
        )
    };
    let Some(oid) = caller.oid.as_deref() else {
        return Err(forbidden(
            "the token has no oid, so the agent it belongs to is unknown",
        ));
    };
    let ctx = posted.run_context(state);
    let user = agents
        .user_of(oid, state.backend().systemuser_of(oid, &ctx))
        .await
        .map_err(|error| {
            let status = if error.kind() == ErrorKind::Timeout {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            ApiError {
                status,
                body: error.to_body(),
            }
            .into_response()
        })?;
    let Some(user) = user.and_then(|user| uuid::Uuid::try_parse(&user).ok()) else {
        return Err(forbidden(&format!(
            "no user of the organization has the token's object id ({oid})"
        )));
    };
    for input in inputs {
        if let Ok(compiled) = convq_core::compile(input, state.options_for(posted.params.strict))
            && compiled.ast.agent_id != user
        {
            return Err(forbidden(&format!(
                "the token belongs to agent {user}; it may not ask for agent {}",
                compiled.ast.agent_id
            )));
        }
    }
    Ok(())
}

/// A posted input (or batch), read alike by `/getConversations`, `/getConversations/batch` and
/// `/query`: the query parameters, the body as UTF-8 JSON text, and the request's extensions
/// that its run context needs.
pub(crate) struct Posted {
    pub(crate) params: Params,
    pub(crate) text: String,
    pub(crate) extensions: axum::http::Extensions,
}

impl FromRequest<AppState> for Posted {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let (params, bytes) = read_input(state, &parts.uri, &parts.headers, body).await?;
        let text = convq_core::decode_input(&bytes)
            .map_err(|e| ApiError::from_core(&e))?
            .into_owned();
        Ok(Self {
            params,
            text,
            extensions: parts.extensions,
        })
    }
}

impl Posted {
    /// The context the input runs in: "now" from `AppState::now` (`--now`, the sample store's
    /// own, or the clock), the time zone and formatted values the query parameters or the
    /// defaults ask for, with `--auth passthrough` the caller's own token, and the request's
    /// deadline so a Dataverse call gives up in time to answer dataverse_timeout.
    pub(crate) fn run_context(&self, state: &AppState) -> RunContext {
        let defaults = state.run_defaults();
        let time_zone = self
            .params
            .time_zone
            .clone()
            .or_else(|| defaults.time_zone.clone())
            .unwrap_or(convq_backend::TimeZone::UTC);
        let formatted_values = self
            .params
            .formatted_values
            .unwrap_or(defaults.formatted_values);
        let correlation_id = self
            .extensions
            .get::<CorrelationId>()
            .map(|CorrelationId(id)| id.clone())
            .unwrap_or_default();
        let mut ctx = RunContext::at(state.now())
            .with_time_zone(time_zone)
            .with_formatted_values(formatted_values)
            .with_correlation_id(correlation_id);
        if let Some(PassthroughBearer(bearer)) = self.extensions.get() {
            ctx = ctx.with_bearer(bearer.clone());
        }
        if let Some(&Deadline(deadline)) = self.extensions.get() {
            ctx = ctx.with_deadline(deadline);
        }
        if let Some(Traceparent(trace)) = self.extensions.get() {
            ctx = ctx.with_traceparent(trace.clone());
        }
        ctx
    }
}

/// Where several inputs go: this route answers one.
const NDJSON_HINT: &str = "this route takes one input, and the body holds one per line \
                           (NDJSON); for several, POST {\"inputs\": [input, ...]} to \
                           /getConversations/batch, or each input alone here";

/// Several JSON values, one per line (the usual way to send a batch), posted where one input is
/// expected: the first two non-blank lines are each whole JSON objects. Checked only after the
/// input failed to parse, so it costs nothing on valid requests.
fn is_ndjson(text: &str) -> bool {
    let mut lines = text.lines().filter(|line| !line.trim().is_empty());
    let mut whole_object = || {
        lines.next().is_some_and(|line| {
            line.trim_start().starts_with('{')
                && serde_json::from_str::<serde::de::IgnoredAny>(line).is_ok()
        })
    };
    whole_object() && whole_object()
}

/// One response header per compile warning of `/getConversations`: `<code> <JSON pointer>`.
pub(crate) const WARNING_HEADER: &str = "x-convq-warning";

/// Most `x-convq-warning` headers on one response: an input can warn about each of its 500
/// attributes, and proxies limit the size of a response head.
pub(crate) const MAX_WARNING_HEADERS: usize = 8;

/// Longest JSON pointer shown in a warning header, in characters.
const MAX_WARNING_POINTER: usize = 128;

/// The warning headers: one per warning up to [`MAX_WARNING_HEADERS`]; beyond that, the first
/// ones and a last `more_warnings <count>` header for the rest.
fn warning_headers(warnings: &[convq_core::Warning]) -> Vec<HeaderValue> {
    let shown = if warnings.len() > MAX_WARNING_HEADERS {
        MAX_WARNING_HEADERS - 1
    } else {
        warnings.len()
    };
    let mut headers: Vec<HeaderValue> = warnings[..shown]
        .iter()
        .filter_map(warning_header)
        .collect();
    if shown < warnings.len() {
        headers.push(
            HeaderValue::from_str(&format!("more_warnings {}", warnings.len() - shown))
                .expect("ASCII digits and letters"),
        );
    }
    headers
}

fn warning_header(warning: &convq_core::Warning) -> Option<HeaderValue> {
    let path = match warning.path.char_indices().nth(MAX_WARNING_POINTER) {
        Some((end, _)) => format!("{}…", &warning.path[..end]),
        None => warning.path.clone(),
    };
    HeaderValue::from_str(&format!("{} {path}", warning.code.as_str())).ok()
}

/// `POST /query`: the compiled query, without running it.
pub(crate) async fn query(State(state): State<AppState>, posted: Posted) -> Response {
    match convq_core::compile(&posted.text, state.options_for(posted.params.strict)) {
        Ok(compiled) => json_response(StatusCode::OK, &compiled),
        Err(error) => ApiError::from_core(&error).into_response(),
    }
}

/// The body of `/healthz` and `/readyz`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Health {
    /// `ok` (liveness), `ready` or `not_ready` (readiness).
    pub(crate) status: HealthStatus,
    /// What the service answers from (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) backend: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum HealthStatus {
    Ok,
    Ready,
    NotReady,
}

/// `GET /healthz`: the process is up and serving.
pub(crate) async fn healthz() -> Response {
    json_response(
        StatusCode::OK,
        &Health {
            status: HealthStatus::Ok,
            backend: None,
        },
    )
}

/// `GET /readyz`: the backend can answer.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let backend = state.backend();
    // For Dataverse: whether a token can be had now (cached, or a sign-in that succeeds).
    let (status, health) = match backend.check_ready().await {
        Ok(()) => (StatusCode::OK, HealthStatus::Ready),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, HealthStatus::NotReady)
        }
    };
    json_response(
        status,
        &Health {
            status: health,
            backend: Some(backend.describe()),
        },
    )
}

/// `GET /openapi.json`: serialized once at start.
pub(crate) async fn openapi(State(state): State<AppState>) -> Response {
    json_bytes(StatusCode::OK, state.inner.openapi.clone())
}

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    let (content_type, body) = metrics.render();
    let mut response = (StatusCode::OK, body).into_response();
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// A path as typed (the 404 message shows it unquoted), cut like [`quote`] when it is long.
fn quote_path(path: &str) -> String {
    let quoted = quote(path);
    if quoted.len() == path.len() + 2 {
        path.to_owned()
    } else {
        quoted
    }
}

/// Any other path.
pub(crate) async fn not_found(uri: Uri) -> Response {
    ApiError::new(
        HttpCode::NotFound,
        format!("no route for {}", quote_path(uri.path())),
    )
    .with_hint("the routes are listed in /openapi.json")
    .into_response()
}

/// Checks the query parameters and the content type, then reads the body (within the limit).
async fn read_input(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Params, Bytes), ApiError> {
    let params = params(uri.query())?;
    if !is_json(headers) {
        let given = headers
            .get(header::CONTENT_TYPE)
            .map_or("none", |v| v.to_str().unwrap_or("not text"));
        let error = ApiError::new(
            HttpCode::UnsupportedMediaType,
            format!("the body must be JSON; Content-Type is {given}"),
        );
        return Err(if given.starts_with("application/x-ndjson") {
            error.with_hint(NDJSON_HINT)
        } else {
            error.with_hint("send Content-Type: application/json")
        });
    }
    // The body limit layer wraps the body, so reading past the limit fails here.
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|error| {
            if is_length_limit(&error) {
                ApiError::payload_too_large(state.limits().body_limit)
            } else {
                // The client stopped sending mid-body; it will not read this answer, but the
                // log and metrics get a status.
                ApiError::new(
                    HttpCode::IncompleteBody,
                    "the request body could not be read to its end",
                )
            }
        })?;
    Ok((params, bytes))
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}

/// The query parameters of `/getConversations` and `/query`.
#[derive(Debug, Default)]
pub(crate) struct Params {
    /// `strict=true`: reject unknown columns.
    pub(crate) strict: bool,
    /// `timeZone=Europe/Paris`: the IANA time zone of `createdBeforeDays`' day boundaries.
    time_zone: Option<convq_backend::TimeZone>,
    /// `formattedValues=true`: answer the formatted values too.
    formatted_values: Option<bool>,
}

fn boolean(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(ApiError::new(
            HttpCode::InvalidQueryParameter,
            format!("{name} must be true or false, found {}", quote(other)),
        )),
    }
}

/// `?strict=true` rejects unknown columns, `timeZone` and `formattedValues` set how the query
/// runs; `correlationId` is read by the middleware.
pub(crate) fn params(query: Option<&str>) -> Result<Params, ApiError> {
    let mut params = Params::default();
    for (key, value) in query
        .into_iter()
        .flat_map(|q| form_urlencoded::parse(q.as_bytes()))
    {
        match &*key {
            "correlationId" => {}
            "strict" => params.strict = boolean("strict", &value)?,
            "formattedValues" => {
                params.formatted_values = Some(boolean("formattedValues", &value)?);
            }
            "timeZone" => {
                let zone = convq_backend::parse_time_zone(&value).map_err(|_| {
                    ApiError::new(
                        HttpCode::InvalidQueryParameter,
                        format!(
                            "timeZone must be an IANA time zone name such as Europe/Paris, found {}",
                            quote(&value)
                        ),
                    )
                })?;
                params.time_zone = Some(zone);
            }
            other => {
                return Err(ApiError::new(
                    HttpCode::InvalidQueryParameter,
                    format!("unknown query parameter {}", quote(other)),
                )
                .with_hint(
                    "the query parameters are correlationId, strict, timeZone and formattedValues",
                ));
            }
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters() {
        let strict = |q| params(q).map(|p| p.strict);
        assert!(!strict(None).unwrap());
        assert!(strict(Some("strict=true")).unwrap());
        assert!(!strict(Some("strict=true&strict=false")).unwrap());
        assert!(strict(Some("correlationId=x&strict=true")).unwrap());
        assert_eq!(
            params(Some("strict=yes")).unwrap_err().body.code,
            "invalid_query_parameter"
        );
        assert_eq!(
            params(Some("top=3")).unwrap_err().body.message,
            "unknown query parameter \"top\""
        );
        let given = params(Some("timeZone=Europe%2FParis&formattedValues=true")).unwrap();
        assert_eq!(given.time_zone.unwrap().iana_name(), Some("Europe/Paris"));
        assert_eq!(given.formatted_values, Some(true));
        assert_eq!(
            params(Some("timeZone=Mars%2FOlympus"))
                .unwrap_err()
                .body
                .code,
            "invalid_query_parameter"
        );
    }

    #[test]
    fn ndjson_is_told_apart_from_broken_json() {
        assert!(is_ndjson("{\"agentId\":\"a\"}\n{\"agentId\":\"b\"}\n"));
        assert!(is_ndjson("{\"a\":1}\r\n\r\n  {\"b\":2}"));
        assert!(!is_ndjson("{\"a\":1}"));
        assert!(!is_ndjson("{\"a\":1}\n}"));
        assert!(!is_ndjson("{\"a\":\n1}"));
        assert!(!is_ndjson("[1]\n[2]"));
    }
}
