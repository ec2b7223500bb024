//! The Dataverse backend: GET the compiled request from an organization's Web API.
//!
//! - `GET <org><Compiled::path>` with `Accept: application/json`, `OData-Version: 4.0`,
//!   `OData-MaxVersion: 4.0`, `If-None-Match: null` (no cached answers), `Authorization: Bearer`
//!   and, with a page size, `Prefer: odata.maxpagesize=N`.
//! - `@odata.nextLink` is followed as given (Dataverse's paging contract) until `top` rows or
//!   the page cap; a link to another origin is refused, so the token goes nowhere else.
//! - 429 and 503 pause every request of the identity for the whole `Retry-After` (see
//!   `pacing`; requests then resume gradually). The call that got it retries after the wait, at
//!   most `max_retries` times, when the wait is within `max_retry_wait` and the deadline;
//!   otherwise it fails at once with the wait, for its caller to pass on. At most
//!   `max_concurrent` requests of an identity are in flight, fewer when Dataverse's
//!   `x-ms-dop-hint` says so.
//! - `total_timeout` bounds the whole fetch (every page and retry), and so does the caller's
//!   [`RunContext::deadline`] (less a margin to answer in): a hung organization is reported as
//!   `dataverse_timeout`, saying what was awaited, before the caller gives up. `connect_timeout`
//!   bounds each connection.
//! - Bodies are read chunk by chunk and refused past `max_page_bytes` for a page or
//!   `max_response_bytes` for all pages together (`dataverse_response_too_large`), so a huge
//!   answer costs at most the cap in memory; error bodies are read up to 64 KiB.
//! - With a held credential, a 401 or 403 makes [`Backend::is_ready`] false until a call
//!   succeeds again. In pass-through a 401/403 is one caller's, so readiness is whether the
//!   organization answers at all (a tokenless request, at most one per 5 s).
//!   Redirects are not followed: Web API does not redirect, a login page does.
//! - The token comes from the configured [`DataverseAuth`]: a [`Credential`] (cached, refreshed
//!   before expiry; a 401 forces one refresh and one retry of the page) or, in pass-through, the
//!   caller's own token from [`RunContext::bearer`] (a 401 is final: it is the caller's token).
//! - The token is a [`Secret`]: never in `Debug`, errors or `describe()`.
//!
//! The request URL goes through the `url` crate, which percent-encodes `'` in the query of
//! http(s) URLs (WHATWG URL rules): `PropertyName='createdon'` is sent as
//! `PropertyName=%27createdon%27`, which the server decodes to the same text.

use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use convq_core::Compiled;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use convq_backend::{Backend, BackendError, BoxFuture, RunContext, Secret};

use crate::auth::Credential;
use crate::observe::{Nothing, Observer};
use crate::pacing::Pacing;

/// Where the bearer token of each Dataverse call comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DataverseAuth {
    /// The service's own identity: tokens for `<org URL>/.default` from this credential.
    Credential(Credential),
    /// Each call's own token ([`RunContext::bearer`]), sent as is; the client holds none.
    Passthrough,
}

impl From<Credential> for DataverseAuth {
    fn from(credential: Credential) -> Self {
        Self::Credential(credential)
    }
}

/// A static token (a leading `Bearer ` is stripped).
impl From<Secret> for DataverseAuth {
    fn from(token: Secret) -> Self {
        Self::Credential(Credential::static_token(&token))
    }
}

/// A static token (a leading `Bearer ` is stripped).
impl From<&str> for DataverseAuth {
    fn from(token: &str) -> Self {
        Secret::new(token).into()
    }
}

/// How to reach a Dataverse organization. Build it with [`DataverseConfig::new`], then adjust
/// the public fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DataverseConfig {
    /// The organization URL, e.g. `https://contoso.crm.dynamics.com`.
    pub org_url: String,
    /// Where bearer tokens come from.
    pub auth: DataverseAuth,
    /// `Prefer: odata.maxpagesize` (1..=5000); `None` leaves the page size to Dataverse (5,000).
    pub page_size: Option<u32>,
    /// Most pages fetched for one query. Default 100.
    pub max_pages: u32,
    /// Limit for establishing a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Limit for the whole fetch: every page, every retry. Default 60 s.
    pub total_timeout: Duration,
    /// Retries of a 429 or 503 answer. Default 3.
    pub max_retries: u32,
    /// Longest wait a call makes before its own retry: a longer `Retry-After` fails the call
    /// (`dataverse_throttled`, with the wait) while the identity's gate still holds every
    /// request for all of it. Default 30 s.
    pub max_retry_wait: Duration,
    /// Most requests of one identity in flight at once (Dataverse's limit is 52): the ceiling;
    /// Dataverse's `x-ms-dop-hint`, when it sends one, sets the concurrency below it. Default 52.
    pub max_concurrent: usize,
    /// Largest body of one page, in bytes; a larger one is refused
    /// (`dataverse_response_too_large`). Default 64 MiB.
    pub max_page_bytes: u64,
    /// Largest answer, all pages together, in bytes. Default 256 MiB.
    pub max_response_bytes: u64,
    /// Longest request URL, organization URL included: Dataverse's 32,768 by default. Queries
    /// over several agents are split to stay within it.
    pub max_url_length: usize,
}

impl DataverseConfig {
    /// A configuration with the defaults documented on each field.
    #[must_use]
    pub fn new(org_url: impl Into<String>, auth: impl Into<DataverseAuth>) -> Self {
        Self {
            org_url: org_url.into(),
            auth: auth.into(),
            page_size: None,
            max_pages: 100,
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(60),
            max_retries: 3,
            max_retry_wait: Duration::from_secs(30),
            max_concurrent: 52,
            max_page_bytes: 64 << 20,
            max_response_bytes: 256 << 20,
            max_url_length: convq_core::limits::MAX_URL_LENGTH,
        }
    }
}

/// A Dataverse Web API client for conversation queries.
#[derive(Debug)]
pub struct DataverseClient {
    http: reqwest::Client,
    /// The organization URL without a trailing slash.
    org: String,
    /// Scheme, host and port of the organization: where the token may be sent.
    origin: Origin,
    headers: HeaderMap,
    /// `<org URL>/.default`: what the credential asks tokens for.
    scope: String,
    config: DataverseConfig,
    pacing: Pacing,
    observer: Arc<dyn Observer>,
    /// False after a 401/403 until a call succeeds: the credentials are not accepted.
    accepted: AtomicBool,
    /// The last reachability probe (pass-through readiness), and one probe at a time.
    probed: Mutex<Option<(Instant, Result<(), String>)>>,
    probing: tokio::sync::Mutex<()>,
}

/// How long a reachability probe's answer stands: probes come from every load balancer, and
/// `/readyz` is open to anyone.
const REACHABLE_FOR: Duration = Duration::from_secs(5);

/// Scheme, host and port of a URL (the port made explicit).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    fn of(url: &Url) -> Self {
        Self {
            scheme: url.scheme().to_owned(),
            host: url.host_str().unwrap_or_default().to_ascii_lowercase(),
            port: url.port_or_known_default(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

/// Delay before a retry when a 429/503 has no usable `Retry-After`: 1 s, 2 s, 4 s...
fn backoff(retry: u32) -> Duration {
    Duration::from_secs(1u64 << retry.min(16))
}

impl DataverseClient {
    /// Checks the configuration and builds the HTTP client (rustls).
    ///
    /// # Errors
    /// [`BackendError::InvalidConfig`]: the organization URL is not `http(s)://host[:port]`, the
    /// page size is outside 1..=5000, the page cap is 0, or the TLS set-up failed.
    pub fn new(config: DataverseConfig) -> Result<Self, BackendError> {
        let invalid = |reason: String| BackendError::InvalidConfig { reason };
        let org = config.org_url.trim_end_matches('/').to_owned();
        let url = Url::parse(&org)
            .map_err(|e| invalid(format!("the organization URL {org:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https")
            || url.host_str().is_none()
            || url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(invalid(format!(
                "the organization URL {org:?} must be http(s)://host[:port] alone, e.g. \
                 https://contoso.crm.dynamics.com"
            )));
        }
        if let Some(size) = config.page_size.filter(|s| !(1..=5_000).contains(s)) {
            return Err(invalid(format!(
                "the page size {size} is outside 1..=5000 (Dataverse's odata.maxpagesize range)"
            )));
        }
        if config.max_pages == 0 {
            return Err(invalid("the page cap must be at least 1".to_owned()));
        }

        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert("OData-Version", HeaderValue::from_static("4.0"));
        headers.insert("OData-MaxVersion", HeaderValue::from_static("4.0"));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("null"));
        if let Some(size) = config.page_size {
            headers.insert(
                "Prefer",
                HeaderValue::from_str(&format!("odata.maxpagesize={size}"))
                    .expect("digits are a valid header value"),
            );
        }

        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("convq/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(format!("cannot set up the HTTP client: {}", chain(&e))))?;
        Ok(Self {
            http,
            origin: Origin::of(&url),
            scope: format!("{org}/.default"),
            org,
            headers,
            pacing: Pacing::new(config.max_concurrent),
            config,
            observer: Arc::new(Nothing),
            accepted: AtomicBool::new(true),
            probed: Mutex::new(None),
            probing: tokio::sync::Mutex::new(()),
        })
    }

    /// Reports upstream requests, throttle pauses and queue waits to `observer`.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    pub(crate) fn config(&self) -> &DataverseConfig {
        &self.config
    }

    pub(crate) fn observer(&self) -> &dyn Observer {
        self.observer.as_ref()
    }

    pub(crate) fn pacing(&self) -> &Pacing {
        &self.pacing
    }

    /// The longest request path (what follows the organization URL) that keeps the URL within
    /// [`DataverseConfig::max_url_length`] once sent: the `url` crate writes each `'` of the
    /// query as `%27`, two characters more, and `quotes` is how many the path has.
    pub(crate) fn max_path_length(&self, quotes: usize) -> usize {
        self.config
            .max_url_length
            .saturating_sub(self.org.len() + 2 * quotes)
    }

    /// GETs `path` (and every page after it) for `ctx`'s identity, within the total timeout
    /// from now.
    pub(crate) async fn fetch_path(
        &self,
        path: &str,
        top: Option<u32>,
        ctx: &RunContext,
    ) -> Result<Vec<Value>, BackendError> {
        let url = self.url_of(path)?;
        Ok(self.fetch_url(url, Read::Rows { top }, ctx).await?.rows)
    }

    /// The URL of `path` on the organization.
    pub(crate) fn url_of(&self, path: &str) -> Result<Url, BackendError> {
        Url::parse(&format!("{}{}", self.org, path)).map_err(|e| BackendError::InvalidConfig {
            reason: format!("the request URL is not valid: {e}"),
        })
    }

    /// A link Dataverse gave (`@odata.deltaLink`), checked to stay on the organization's origin.
    pub(crate) fn link_url(&self, link: &str) -> Result<Url, BackendError> {
        self.next_link(link)
    }

    /// GETs `url` and every page after it, as `read` says.
    pub(crate) async fn fetch_url(
        &self,
        url: Url,
        read: Read,
        ctx: &RunContext,
    ) -> Result<Fetched, BackendError> {
        let started = Instant::now();
        let own = started + self.config.total_timeout;
        // The caller's deadline, less a margin to turn the timeout into an answer.
        let callers = ctx.deadline.map(|deadline| {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            started + left.saturating_sub((left / 20).min(Duration::from_millis(500)))
        });
        let (deadline, limit) = match callers {
            Some(callers) if callers < own => (callers, "the caller's deadline"),
            _ => (own, "the Dataverse timeout"),
        };
        let progress = Progress::default();
        let result = tokio::time::timeout_at(
            deadline,
            self.fetch_all(url, read, ctx, deadline, &progress),
        )
        .await;
        let result = result.unwrap_or_else(|_| {
            Err(BackendError::DataverseTimeout {
                after: deadline - started,
                waiting_for: format!("{} ran out while waiting for {}", limit, progress.get()),
            })
        });
        // In pass-through a 401/403 is about one caller's token, not the service: anyone could
        // otherwise take it out of rotation with a junk token.
        let held = matches!(self.config.auth, DataverseAuth::Credential(_));
        match &result {
            Ok(_) => self.accepted.store(true, Ordering::Relaxed),
            Err(
                BackendError::DataverseUnauthorized { .. }
                | BackendError::DataverseForbidden { .. },
            ) if held => self.accepted.store(false, Ordering::Relaxed),
            Err(_) => {}
        }
        result
    }

    /// Whether the organization answers an HTTP request (any status: without a token the Web
    /// API answers 401), asked at most once per [`REACHABLE_FOR`]; for pass-through readiness.
    async fn reachable(&self) -> Result<(), String> {
        let _one = self.probing.lock().await;
        if let Some((at, answer)) = &*self.probed.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < REACHABLE_FOR
        {
            return answer.clone();
        }
        let url = format!("{}/api/data/v9.2/", self.org);
        let timeout = self.config.connect_timeout + Duration::from_secs(5);
        let answer = match tokio::time::timeout(timeout, self.http.get(&url).send()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(self.send_error(&error).to_string()),
            Err(_) => Err(format!(
                "the organization did not answer within {} s",
                timeout.as_secs()
            )),
        };
        *self.probed.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), answer.clone()));
        answer
    }

    /// The token for a call: the credential's (cached), or the caller's in pass-through.
    async fn token(&self, ctx: &RunContext) -> Result<Token, BackendError> {
        match &self.config.auth {
            DataverseAuth::Credential(credential) => Ok(Token {
                secret: credential.token(&self.scope).await?,
                refreshed: false,
            }),
            DataverseAuth::Passthrough => match &ctx.bearer {
                Some(bearer) => Ok(Token {
                    secret: bearer.clone(),
                    // A caller's token is theirs to renew.
                    refreshed: true,
                }),
                None => Err(BackendError::DataverseUnauthorized {
                    code: None,
                    message: "pass-through mode needs the caller's bearer token and the call \
                              had none"
                        .to_owned(),
                }),
            },
        }
    }

    /// After a 401: a new token from the credential, once per call. `None`: give up (already
    /// refreshed once, pass-through, or the credential has no other token).
    async fn refresh(&self, token: &Token) -> Result<Option<Token>, BackendError> {
        let DataverseAuth::Credential(credential) = &self.config.auth else {
            return Ok(None);
        };
        if token.refreshed {
            return Ok(None);
        }
        tracing::info!("Dataverse answered 401; refreshing the token and retrying once");
        Ok(credential
            .refresh_rejected(&self.scope, &token.secret)
            .await?
            .map(|secret| Token {
                secret,
                refreshed: true,
            }))
    }

    /// Whether a call could get a token now (always, in pass-through).
    ///
    /// # Errors
    /// [`BackendError::AuthFailed`]: the credential cannot sign in.
    pub async fn check_auth(&self) -> Result<(), BackendError> {
        match &self.config.auth {
            DataverseAuth::Credential(credential) => credential.check(&self.scope).await,
            DataverseAuth::Passthrough => Ok(()),
        }
    }

    async fn fetch_all(
        &self,
        mut url: Url,
        read: Read,
        ctx: &RunContext,
        deadline: Instant,
        progress: &Progress,
    ) -> Result<Fetched, BackendError> {
        let mut token = self.token(ctx).await?;
        let top = match read {
            Read::Rows { top } => top.map(|t| t as usize),
            Read::Changes => None,
        };
        let mut rows = Vec::new();
        let mut pages = 0;
        let mut budget = self.config.max_response_bytes;
        loop {
            pages += 1;
            let page = self
                .get_page(
                    url,
                    (ctx, read),
                    &mut token,
                    deadline,
                    (pages, &mut budget, progress),
                )
                .await?;
            rows.extend(page.value);
            if let Some(top) = top.filter(|&top| rows.len() >= top) {
                rows.truncate(top);
                return Ok(Fetched {
                    rows,
                    delta_link: None,
                });
            }
            let Some(link) = page.next_link else {
                return Ok(Fetched {
                    rows,
                    delta_link: page.delta_link,
                });
            };
            if pages >= self.config.max_pages {
                return Err(BackendError::DataversePageLimit {
                    max_pages: self.config.max_pages,
                });
            }
            url = self.next_link(&link)?;
        }
    }

    /// `@odata.nextLink`, used unchanged, as long as it stays on the organization's origin.
    fn next_link(&self, link: &str) -> Result<Url, BackendError> {
        let url = Url::parse(link).map_err(|e| BackendError::DataverseBadResponse {
            reason: format!("@odata.nextLink is not a URL ({e})"),
        })?;
        if Origin::of(&url) != self.origin {
            return Err(BackendError::DataverseBadResponse {
                reason: format!(
                    "@odata.nextLink leads to {}, not to the organization; convq does not send \
                     the token there",
                    Origin::of(&url)
                ),
            });
        }
        Ok(url)
    }

    /// The headers of every request; with formatted values, `Prefer` also asks for the
    /// `OData.Community.Display.V1.FormattedValue` annotations (one `Prefer` header, its
    /// preferences comma-separated).
    fn request_headers(&self, formatted_values: bool, read: Read) -> HeaderMap {
        const ANNOTATIONS: &str =
            "odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"";
        const TRACK: &str = "odata.track-changes";
        let track = matches!(read, Read::Changes);
        let mut headers = self.headers.clone();
        // A change-tracked copy answers queries with and without formatted values: it always
        // asks for them.
        if formatted_values || track {
            let mut prefer = match headers.get("Prefer").and_then(|v| v.to_str().ok()) {
                Some(page_size) => format!("{page_size},{ANNOTATIONS}"),
                None => ANNOTATIONS.to_owned(),
            };
            if track {
                prefer = format!("{TRACK},{prefer}");
            }
            headers.insert(
                "Prefer",
                HeaderValue::from_str(&prefer).expect("ASCII is a valid header value"),
            );
        }
        headers
    }

    async fn get_page(
        &self,
        url: Url,
        (ctx, read): (&RunContext, Read),
        token: &mut Token,
        deadline: Instant,
        (page, budget, progress): (u32, &mut u64, &Progress),
    ) -> Result<Page, BackendError> {
        let gate = self.pacing.gate(&ctx.identity_key());
        let mut headers = self.request_headers(ctx.formatted_values, read);
        // The caller's correlation id (as Dataverse's client request id) and trace context, so
        // that an org's own telemetry can be joined to the service's log.
        for (name, value) in [
            ("x-ms-client-request-id", &ctx.correlation_id),
            ("traceparent", &ctx.traceparent),
        ] {
            if let Some(value) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(name, value);
            }
        }
        let mut retries = 0;
        loop {
            progress.set(page, Stage::Queue);
            let permit = gate
                .acquire(deadline, retries, self.observer.as_ref())
                .await?;
            self.observer.upstream_request();
            progress.set(page, Stage::Head);
            let mut authorization =
                HeaderValue::from_str(&format!("Bearer {}", token.secret.expose())).map_err(
                    |_| BackendError::DataverseUnauthorized {
                        code: None,
                        message: "the token contains characters an HTTP header cannot carry (a \
                                  line break?)"
                            .to_owned(),
                    },
                )?;
            authorization.set_sensitive(true);
            let mut response = self
                .http
                .get(url.clone())
                .headers(headers.clone())
                .header(header::AUTHORIZATION, authorization)
                .send()
                .await
                .map_err(|e| self.send_error(&e))?;
            let status = response.status();
            if let Some(hint) = response
                .headers()
                .get("x-ms-dop-hint")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|&hint| hint > 0)
            {
                gate.set_dop_hint(hint);
            }
            if matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            ) {
                let retry_after = response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let wait = retry_after.unwrap_or_else(|| backoff(retries));
                let throttled = BackendError::rate_limited(status.as_u16(), retries, retry_after);
                // Every request of the identity waits all of it, not only this one: sending
                // during the wait extends it.
                gate.pause(wait, status.as_u16(), retry_after, self.observer.as_ref());
                drop(permit);
                // Only this call's own retry is capped: past `max_retry_wait`, or past the
                // deadline (waiting would only turn this answer into a timeout), it gives up
                // and its caller is told how long to wait.
                if retries >= self.config.max_retries
                    || wait > self.config.max_retry_wait
                    || Instant::now() + wait > deadline
                {
                    return Err(throttled);
                }
                drop(response);
                // The gate holds the next attempt until the pause ends.
                retries += 1;
                continue;
            }
            let fresh = if status == StatusCode::UNAUTHORIZED {
                self.refresh(token).await?
            } else {
                None
            };
            if let Some(fresh) = fresh {
                drop(response);
                drop(permit);
                *token = fresh;
                continue;
            }
            let location = response.headers().get(header::LOCATION).cloned();
            progress.set(page, Stage::Body);
            if status.is_success() {
                let (limit, what) = if *budget < self.config.max_page_bytes {
                    (*budget, "the whole answer")
                } else {
                    (self.config.max_page_bytes, "one page")
                };
                let body = read_body(&mut response, limit)
                    .await
                    .map_err(|e| self.send_error(&e))?
                    .ok_or(BackendError::DataverseResponseTooLarge { what, limit })?;
                *budget -= body.len() as u64;
                return parse_page(&body);
            }
            // An error body is only read for Dataverse's code and message.
            let body = read_body(&mut response, ERROR_BODY_LIMIT)
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            return Err(http_error(status, &body, location.as_ref()));
        }
    }

    fn send_error(&self, error: &reqwest::Error) -> BackendError {
        if error.is_timeout() && !error.is_connect() {
            return BackendError::DataverseTimeout {
                after: self.config.total_timeout,
                waiting_for: chain(error),
            };
        }
        if error.is_connect() || error.is_request() {
            return BackendError::DataverseUnreachable {
                host: self.origin.to_string(),
                reason: chain(error),
            };
        }
        BackendError::DataverseBadResponse {
            reason: chain(error),
        }
    }
}

/// A bearer token and whether it already is the one refresh a call may make.
struct Token {
    secret: Secret,
    refreshed: bool,
}

/// Largest error body read, for Dataverse's `{"error": {...}}`.
const ERROR_BODY_LIMIT: u64 = 64 << 10;

/// Longest Dataverse error message passed on, in characters (they are a sentence or two; the
/// limit keeps an odd answer from filling the caller's error).
const MAX_MESSAGE_CHARS: usize = 1000;

/// The body, read chunk by chunk; `None` as soon as it is over `limit` bytes (at once when
/// `Content-Length` says so), so that an oversized answer never sits in memory whole.
async fn read_body(
    response: &mut reqwest::Response,
    limit: u64,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let declared = response.content_length();
    if declared.is_some_and(|length| length > limit) {
        return Ok(None);
    }
    // Content-Length sizes the buffer (up to 1 MiB: it is the sender's word), which saves the
    // copies of a growing buffer.
    let capacity = usize::try_from(declared.unwrap_or(0).min(1 << 20)).unwrap_or(0);
    let mut body = Vec::with_capacity(capacity);
    let limit_bytes = usize::try_from(limit).unwrap_or(usize::MAX);
    while let Some(chunk) = response.chunk().await? {
        let needed = body.len() + chunk.len();
        if needed > limit_bytes {
            return Ok(None);
        }
        if needed > body.capacity() {
            // Grow by doubling, but never past the cap: a body just under a 64 MiB cap then
            // holds at most 64 MiB of buffer (plus the 32 MiB being copied), not 128.
            let target = needed.max(body.capacity() * 2).min(limit_bytes);
            body.reserve_exact(target - body.len());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// What a fetch was doing, for the message of a timeout.
#[derive(Debug, Default)]
struct Progress(Mutex<(u32, Stage)>);

#[derive(Debug, Default, Clone, Copy)]
enum Stage {
    /// Waiting for the identity's pacing gate (throttled, or too many requests in flight).
    #[default]
    Queue,
    /// Request sent, status and headers not yet received.
    Head,
    /// Reading the body.
    Body,
}

impl Progress {
    fn set(&self, page: u32, stage: Stage) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (page, stage);
    }

    fn get(&self) -> String {
        let (page, stage) = *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match stage {
            Stage::Queue => {
                format!("a turn to send page {page} (throttled, or too many requests in flight)")
            }
            Stage::Head => format!("the status line and headers of page {page}"),
            Stage::Body => format!("the rest of the body of page {page}"),
        }
    }
}

/// An error and its sources, without the URL reqwest adds (it is the org URL anyway).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    if let Some(i) = text.find(" for url (") {
        text.truncate(i);
    }
    let mut source = error.source();
    while let Some(inner) = source {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = inner.source();
    }
    text
}

#[derive(Debug, Deserialize)]
struct Page {
    value: Vec<Value>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
}

/// What a GET reads.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Read {
    /// A query's rows, at most `top` in all (`None`: every page).
    Rows { top: Option<u32> },
    /// The change-tracking feed: `Prefer: odata.track-changes` (with the formatted-value
    /// annotations), every page, and the last page's `@odata.deltaLink`.
    Changes,
}

/// The rows of every page, and the last page's `@odata.deltaLink` (change tracking).
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) rows: Vec<Value>,
    pub(crate) delta_link: Option<String>,
}

fn parse_page(body: &[u8]) -> Result<Page, BackendError> {
    let page: Page =
        serde_json::from_slice(body).map_err(|e| BackendError::DataverseBadResponse {
            reason: format!("the body is not a Web API collection ({e})"),
        })?;
    if let Some(index) = page.value.iter().position(|v| !v.is_object()) {
        return Err(BackendError::DataverseBadResponse {
            reason: format!("value[{index}] is not a record object"),
        });
    }
    Ok(page)
}

/// `text` cut to its first `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Maps a failed answer, reading Dataverse's `{"error": {"code", "message"}}` when it is there.
fn http_error(status: StatusCode, body: &[u8], location: Option<&HeaderValue>) -> BackendError {
    let error = serde_json::from_slice::<Value>(body).ok();
    let field = |name: &str| {
        error
            .as_ref()
            .and_then(|e| e.pointer(&format!("/error/{name}")))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let code = field("code")
        .filter(|c| !c.is_empty())
        .map(|c| shorten(&c, 100));
    let message =
        field("message").unwrap_or_else(|| match location.and_then(|l| l.to_str().ok()) {
            Some(to) if status.is_redirection() => {
                format!("redirected to {to}; is the organization URL right?")
            }
            _ => status.canonical_reason().unwrap_or_default().to_owned(),
        });
    let message = shorten(&message, MAX_MESSAGE_CHARS);
    match status {
        StatusCode::UNAUTHORIZED => BackendError::DataverseUnauthorized { code, message },
        StatusCode::FORBIDDEN => BackendError::DataverseForbidden { code, message },
        _ => BackendError::DataverseError {
            status: status.as_u16(),
            code,
            message,
        },
    }
}

impl Backend for DataverseClient {
    fn fetch<'a>(
        &'a self,
        compiled: &'a Compiled,
        ctx: &'a RunContext,
    ) -> BoxFuture<'a, Result<Vec<Value>, BackendError>> {
        Box::pin(async move {
            let rows = self.fetch_path(&compiled.path, compiled.top, ctx).await?;
            self.observer.upstream_query(1);
            Ok(rows)
        })
    }

    /// The Dataverse user whose `azureactivedirectoryobjectid` is `object_id`, under the
    /// service's own identity (`systemusers?$select=systemuserid&$filter=...`).
    fn systemuser_of<'a>(
        &'a self,
        object_id: &'a str,
        ctx: &'a RunContext,
    ) -> BoxFuture<'a, Result<Option<String>, BackendError>> {
        Box::pin(async move {
            // Not a GUID: no user has it (and nothing else goes into the filter).
            let Ok(object_id) = uuid::Uuid::try_parse(object_id) else {
                return Ok(None);
            };
            let path = format!(
                "/api/data/v9.2/systemusers?$select=systemuserid\
                 &$filter=azureactivedirectoryobjectid%20eq%20{object_id}"
            );
            let rows = self.fetch_path(&path, Some(1), ctx).await?;
            Ok(rows
                .first()
                .and_then(|row| row.get("systemuserid"))
                .and_then(Value::as_str)
                .map(str::to_owned))
        })
    }

    /// Not ready while the organization rejects the held credentials (the last call got a 401
    /// or 403); ready again once a call succeeds. Pass-through: see `check_ready`.
    fn is_ready(&self) -> bool {
        self.accepted.load(Ordering::Relaxed)
    }

    fn describe(&self) -> String {
        let page = self.config.page_size.map_or_else(
            || "server page size".to_owned(),
            |n| format!("page size {n}"),
        );
        let auth = match &self.config.auth {
            DataverseAuth::Credential(credential) => {
                format!("signed in with {}", credential.name())
            }
            DataverseAuth::Passthrough => "callers' own tokens".to_owned(),
        };
        format!(
            "Dataverse at {} ({auth}, {page}, at most {} pages)",
            self.org, self.config.max_pages
        )
    }

    /// Ready while a token can be had and the organization did not reject the last call; in
    /// pass-through, while the organization answers at all (no caller's token is involved).
    fn check_ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if matches!(self.config.auth, DataverseAuth::Passthrough) {
                return self.reachable().await;
            }
            if !self.is_ready() {
                return Err(
                    "the organization rejected the last call (401 or 403); ready again \
                            when a call succeeds"
                        .to_owned(),
                );
            }
            self.check_auth().await.map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_shows_in_debug() {
        let config = DataverseConfig::new("https://contoso.crm.dynamics.com", "s3cr3t-token");
        assert!(!format!("{config:?}").contains("s3cr3t"));
        let client = DataverseClient::new(config).unwrap();
        assert!(!format!("{client:?}").contains("s3cr3t"));
        assert!(!client.describe().contains("s3cr3t"));
    }

    #[test]
    fn unusable_configurations_are_refused() {
        for url in [
            "contoso.crm.dynamics.com",
            "ftp://contoso",
            "https://contoso.crm.dynamics.com/api/data/v9.2",
            "https://user:pw@contoso.crm.dynamics.com",
            "https://contoso.crm.dynamics.com?x=1",
        ] {
            let error = DataverseClient::new(DataverseConfig::new(url, "t")).unwrap_err();
            assert_eq!(error.code(), "dataverse_invalid_config", "{url}");
        }
        let mut config = DataverseConfig::new("https://contoso.crm.dynamics.com/", "t");
        config.page_size = Some(5_001);
        assert_eq!(
            DataverseClient::new(config).unwrap_err().code(),
            "dataverse_invalid_config"
        );
    }

    #[test]
    fn dataverse_error_bodies_are_read() {
        let body = br#"{"error":{"code":"0x80040220","message":"Principal user is missing prvReadmsdyn_ocliveworkitem"}}"#;
        let error = http_error(StatusCode::FORBIDDEN, body, None);
        assert_eq!(error.code(), "dataverse_forbidden");
        assert_eq!(
            error.to_string(),
            "Dataverse refused access (HTTP 403): Principal user is missing \
             prvReadmsdyn_ocliveworkitem (0x80040220)"
        );
        let plain = http_error(StatusCode::BAD_GATEWAY, b"<html>", None);
        assert_eq!(
            plain.to_string(),
            "Dataverse answered HTTP 502: Bad Gateway"
        );
    }
}
