//! Who may call the service (inbound checks; how the service signs in to Dataverse is
//! convq-backend's credential, chosen by the command line).
//!
//! - API keys ([`ApiKeys`]): plain keys or `sha256:<hex>`, compared in constant time, re-read on
//!   SIGHUP.
//! - Entra ID access tokens ([`EntraConfig`]), checked against the tenant's JWKS: signature,
//!   `iss` (the tenant GUID in its cloud's v2 and v1 forms), `aud` (client id and App ID URI),
//!   `exp`, `nbf`, and an app role (`roles`) or delegated scope (`scp`): any app of the tenant
//!   can get a token for the audience, so a configuration without either is refused unless it
//!   says any app may call. Optionally a caller may only ask for their own agent
//!   ([`AccessPolicy::with_own_agent_only`]).
//! - In pass-through the caller's `Authorization: Bearer` goes to Dataverse as is.
//!
//! `/healthz`, `/readyz`, `/metrics` and `/openapi.json` stay open; every other route goes through
//! [`authenticate`]. A refused call gets 401 (no or bad credential) or 403 (valid, not allowed)
//! with the failure envelope and `WWW-Authenticate`. The access log names the caller
//! (`key 2`, `oid <object id>`, `bearer:<fingerprint>`), never a key or token.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use convq_backend::Secret;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, HttpCode};

/// Why an inbound setting is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// The key file cannot be read or has a bad line (the message names the file as the
    /// `--api-keys` flag that gives it).
    #[error("--api-keys {}: {reason}", path.display())]
    ApiKeys {
        /// The file.
        path: PathBuf,
        /// What is wrong (never a key).
        reason: String,
    },
    /// Entra settings that cannot work.
    #[error("{0}")]
    Entra(String),
}

/// Who a request comes from, for the access log; never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller(pub(crate) String);

/// The caller's own token in pass-through mode, for the handler to put into the run context.
#[derive(Debug, Clone)]
pub(crate) struct PassthroughBearer(pub(crate) Secret);

/// The inbound rules of a service.
#[derive(Clone, Default)]
pub struct AccessPolicy {
    api_keys: Option<ApiKeys>,
    entra: Option<Arc<EntraValidator>>,
    passthrough: bool,
    own_agent: Option<Arc<AgentIds>>,
}

impl AccessPolicy {
    /// The credentials a caller may present, as configured: a 401 names only these.
    fn wanted(&self) -> &'static str {
        match (&self.api_keys, &self.entra, self.passthrough) {
            (Some(_), None, true) => "an API key (x-api-key)",
            (Some(_), None, false) => "an API key (x-api-key or Authorization: Bearer)",
            (None, Some(_), _) => "an Entra ID access token (Authorization: Bearer)",
            _ => "an API key (x-api-key) or an Entra ID access token (Authorization: Bearer)",
        }
    }

    /// The hint of a 401 without a credential.
    fn ask(&self) -> &'static str {
        match (&self.api_keys, &self.entra) {
            (Some(_), None) => "ask the service's operator for a key",
            (None, Some(_)) => "ask the service's operator how to get a token for it",
            _ => "ask the service's operator for a key or how to get a token",
        }
    }
}

impl fmt::Debug for AccessPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessPolicy")
            .field("api_keys", &self.api_keys.is_some())
            .field("entra", &self.entra.is_some())
            .field("passthrough", &self.passthrough)
            .field("own_agent", &self.own_agent.is_some())
            .finish()
    }
}

impl AccessPolicy {
    /// Open: anyone who can reach the port.
    #[must_use]
    pub fn open() -> Self {
        Self::default()
    }

    /// Accepts these API keys.
    #[must_use]
    pub fn with_api_keys(mut self, keys: ApiKeys) -> Self {
        self.api_keys = Some(keys);
        self
    }

    /// Accepts Entra ID tokens.
    ///
    /// # Errors
    /// The configuration asks for no role and no scope without
    /// [`EntraConfig::any_app_of_tenant`].
    pub fn with_entra(mut self, entra: EntraConfig) -> Result<Self, AccessError> {
        entra.check()?;
        self.entra = Some(Arc::new(EntraValidator::new(entra)));
        Ok(self)
    }

    /// Requires each call's `Authorization: Bearer` and passes it to the backend.
    #[must_use]
    pub fn with_passthrough(mut self) -> Self {
        self.passthrough = true;
        self
    }

    /// Lets a caller signed in with an Entra ID token ask only for their own `agentId`: the
    /// Dataverse user whose `azureactivedirectoryobjectid` is the token's `oid` (looked up
    /// through the backend and remembered for `ttl`). Callers with an API key are not limited.
    #[must_use]
    pub fn with_own_agent_only(mut self, ttl: Duration) -> Self {
        self.own_agent = Some(Arc::new(AgentIds::new(ttl)));
        self
    }

    /// The `oid` → `systemuserid` map, when callers may only ask for their own agent.
    pub(crate) fn own_agent(&self) -> Option<&AgentIds> {
        self.own_agent.as_deref()
    }

    /// Whether callers must prove who they are (keys or Entra).
    #[must_use]
    pub fn checks_callers(&self) -> bool {
        self.api_keys.is_some() || self.entra.is_some()
    }

    /// The API keys, to re-read them.
    #[must_use]
    pub fn api_keys(&self) -> Option<&ApiKeys> {
        self.api_keys.as_ref()
    }
}

/// Most `oid` → `systemuserid` answers kept; when full, expired ones go, then all.
const MAX_AGENT_IDS: usize = 10_000;

/// Remembered `oid` → `systemuserid` lookups (`None`: the organization has no such user), so
/// that a caller's requests do not each cost a Dataverse call.
pub(crate) struct AgentIds {
    ttl: Duration,
    known: std::sync::Mutex<HashMap<String, (Option<String>, Instant)>>,
}

impl AgentIds {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            known: std::sync::Mutex::default(),
        }
    }

    /// The user of `oid`, looked up with `lookup` unless a recent answer is known.
    pub(crate) async fn user_of<F>(
        &self,
        oid: &str,
        lookup: F,
    ) -> Result<Option<String>, convq_backend::BackendError>
    where
        F: std::future::Future<Output = Result<Option<String>, convq_backend::BackendError>>,
    {
        let lock = || self.known.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((user, at)) = lock().get(oid)
            && at.elapsed() < self.ttl
        {
            return Ok(user.clone());
        }
        // Errors are not remembered: the next request asks again.
        let user = lookup.await?.map(|u| u.to_ascii_lowercase());
        let mut known = lock();
        if known.len() >= MAX_AGENT_IDS {
            known.retain(|_, (_, at)| at.elapsed() < self.ttl);
            if known.len() >= MAX_AGENT_IDS {
                known.clear();
            }
        }
        known.insert(oid.to_owned(), (user.clone(), Instant::now()));
        Ok(user)
    }
}

/// API keys, stored as SHA-256 digests. Cheap to clone; clones see reloads.
#[derive(Clone)]
pub struct ApiKeys {
    path: PathBuf,
    digests: Arc<RwLock<Vec<[u8; 32]>>>,
}

impl ApiKeys {
    /// Reads the key file: one key per line, plain or `sha256:<64 hex digits>`; blank lines and
    /// lines starting with `#` are skipped.
    ///
    /// # Errors
    /// The file cannot be read, has a malformed `sha256:` line, or has no key.
    pub fn load(path: &Path) -> Result<Self, AccessError> {
        Ok(Self {
            path: path.to_owned(),
            digests: Arc::new(RwLock::new(read_keys(path)?)),
        })
    }

    /// Reads the file again; on error the keys in force stay.
    ///
    /// # Errors
    /// As [`ApiKeys::load`].
    pub fn reload(&self) -> Result<usize, AccessError> {
        let digests = read_keys(&self.path)?;
        let count = digests.len();
        *self.digests.write().unwrap_or_else(|e| e.into_inner()) = digests;
        Ok(count)
    }

    /// The 1-based number of the matching key. Every key is compared, in constant time, so the
    /// time taken does not tell which key (or how much of one) matched.
    fn find(&self, presented: &str) -> Option<usize> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let digests = self.digests.read().unwrap_or_else(|e| e.into_inner());
        let mut found = None;
        for (index, known) in digests.iter().enumerate() {
            if bool::from(known.ct_eq(&digest)) {
                found = Some(index + 1);
            }
        }
        found
    }
}

fn read_keys(path: &Path) -> Result<Vec<[u8; 32]>, AccessError> {
    let bad = |reason: String| AccessError::ApiKeys {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let mut digests = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let digest = match line.strip_prefix("sha256:") {
            Some(hex) => parse_hex_digest(hex.trim()).ok_or_else(|| {
                bad(format!(
                    "line {}: after sha256: come 64 hex digits (the SHA-256 of the key)",
                    number + 1
                ))
            })?,
            None => Sha256::digest(line.as_bytes()).into(),
        };
        digests.push(digest);
    }
    if digests.is_empty() {
        return Err(bad("it has no key (one per line)".to_owned()));
    }
    Ok(digests)
}

fn parse_hex_digest(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut digest = [0; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(digest)
}

/// What Entra ID tokens must be.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EntraConfig {
    /// The tenant id (a GUID: issuers carry the GUID, never a domain).
    pub tenant: String,
    /// Accepted audiences (`aud`): the API's client id and its App ID URI (v1 tokens carry
    /// either, as the client asked). [`EntraConfig::new`] adds the other form of an
    /// `api://<client id>` URI or a client id.
    pub audiences: Vec<String>,
    /// App roles (`roles`, app-only tokens) of which one grants access.
    pub roles: Vec<String>,
    /// Delegated scopes (`scp`, tokens on behalf of a user) of which one grants access.
    pub scopes: Vec<String>,
    /// Accept any valid token of the tenant without a role or scope. Any app registration in
    /// the tenant can get an app-only token for this audience, so this must be asked for.
    pub any_app_of_tenant: bool,
    /// Where the signing keys are.
    pub jwks_url: String,
    /// Accepted issuers: the v2 and v1 forms for the tenant in its cloud by default.
    pub issuers: Vec<String>,
    /// Shortest time between two key downloads caused by an unknown key id.
    pub min_refetch: Duration,
    /// Longest time keys are used before they are downloaded again.
    pub max_age: Duration,
}

/// The Entra ID authority of Microsoft's public cloud.
pub const PUBLIC_AUTHORITY: &str = "https://login.microsoftonline.com";

impl EntraConfig {
    /// The public cloud's keys and issuers for `tenant` (a GUID) and `audience`.
    ///
    /// # Errors
    /// The tenant is not a GUID (a domain such as `contoso.onmicrosoft.com`: tokens carry the
    /// tenant's GUID in `iss`, so a domain would refuse every token).
    pub fn new(tenant: &str, audience: &str) -> Result<Self, AccessError> {
        Self::in_cloud(tenant, &[audience.to_owned()], PUBLIC_AUTHORITY)
    }

    /// As [`EntraConfig::new`] in the cloud of `authority`
    /// (`https://login.microsoftonline.us` for US Government,
    /// `https://login.partner.microsoftonline.cn` for China), with several audiences.
    ///
    /// # Errors
    /// The tenant is not a GUID, no audience is given, or the authority is not an `https://`
    /// host.
    pub fn in_cloud(
        tenant: &str,
        audiences: &[String],
        authority: &str,
    ) -> Result<Self, AccessError> {
        let tenant = tenant_guid(tenant)?;
        let authority = authority.trim_end_matches('/');
        let host = authority.strip_prefix("https://").unwrap_or_default();
        if host.is_empty() || host.contains(['/', '?', '#', '@']) {
            return Err(AccessError::Entra(format!(
                "--entra-authority {authority:?} is not an https:// host (e.g. \
                 https://login.microsoftonline.us)"
            )));
        }
        let mut accepted = Vec::new();
        for audience in audiences.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
            let guid = audience.strip_prefix("api://").unwrap_or(audience);
            let pair = uuid::Uuid::try_parse(guid)
                .is_ok()
                .then(|| [guid.to_owned(), format!("api://{guid}")]);
            for form in pair
                .into_iter()
                .flatten()
                .chain(std::iter::once(audience.to_owned()))
            {
                if !accepted.contains(&form) {
                    accepted.push(form);
                }
            }
        }
        if accepted.is_empty() {
            return Err(AccessError::Entra(
                "--entra-audience is empty: give the API's client id or App ID URI".to_owned(),
            ));
        }
        let mut issuers = vec![format!("{authority}/{tenant}/v2.0")];
        issuers.extend(
            v1_issuers(host)
                .iter()
                .map(|h| format!("https://{h}/{tenant}/")),
        );
        Ok(Self {
            jwks_url: format!("{authority}/{tenant}/discovery/v2.0/keys"),
            issuers,
            tenant,
            audiences: accepted,
            roles: Vec::new(),
            scopes: Vec::new(),
            any_app_of_tenant: false,
            min_refetch: Duration::from_secs(5),
            max_age: Duration::from_secs(24 * 3600),
        })
    }

    /// Refuses a configuration under which every app of the tenant could call.
    fn check(&self) -> Result<(), AccessError> {
        if self.roles.is_empty() && self.scopes.is_empty() && !self.any_app_of_tenant {
            return Err(AccessError::Entra(
                "--entra-tenant alone lets any app registration of the tenant call (each can get \
                 an app-only token for this audience): add --entra-roles (app roles, checked \
                 against `roles`) and/or --entra-scopes (delegated scopes, checked against \
                 `scp`), or --entra-any-app-of-tenant to allow that on purpose"
                    .to_owned(),
            ));
        }
        Ok(())
    }
}

/// The tenant id, lower-case; a domain or anything else is refused with how to find the id.
fn tenant_guid(tenant: &str) -> Result<String, AccessError> {
    let tenant = tenant.trim();
    match uuid::Uuid::try_parse(tenant) {
        Ok(guid) => Ok(guid.hyphenated().to_string()),
        Err(_) => Err(AccessError::Entra(format!(
            "--entra-tenant {tenant:?} is not a tenant id: tokens name their tenant by its \
             GUID, so give the GUID (`az account show --query tenantId -o tsv`, or Microsoft \
             Entra admin center > Overview > Tenant ID)"
        ))),
    }
}

/// Hosts of the v1 (`sts`) issuers of the cloud whose authority is `host`: v1 tokens name the
/// Security Token Service, not the login host. Unknown clouds: none (give `--entra-issuer`).
fn v1_issuers(host: &str) -> &'static [&'static str] {
    match host {
        "login.microsoftonline.com" => &["sts.windows.net"],
        "login.microsoftonline.us" => &["sts.windows.net", "login.microsoftonline.us"],
        "login.partner.microsoftonline.cn" | "login.chinacloudapi.cn" => &["sts.chinacloudapi.cn"],
        _ => &[],
    }
}

struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
}

/// Checks Entra ID tokens; downloads the signing keys on first use, again when a token names a
/// key it does not know (key rotation; at most once per `min_refetch`), and after `max_age`.
struct EntraValidator {
    config: EntraConfig,
    http: reqwest::Client,
    keys: tokio::sync::RwLock<Keys>,
    /// One download at a time.
    fetching: tokio::sync::Mutex<()>,
    validation: Validation,
}

#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    oid: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    /// Delegated scopes, space-separated.
    #[serde(default)]
    scp: Option<String>,
}

/// A caller whose Entra ID token was accepted, for handlers that look at who it is.
#[derive(Debug, Clone)]
pub(crate) struct EntraCaller {
    /// The token's `oid`: the object id of the user or the app's service principal.
    pub(crate) oid: Option<String>,
    /// Who the access log names: `oid <object id>`, else `sub <subject>`.
    name: String,
}

/// Why a token was refused: 401 (not valid) or 403 (valid, lacks a role).
enum Refusal {
    Invalid(String),
    Forbidden(String),
}

impl EntraValidator {
    fn new(config: EntraConfig) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&config.audiences);
        validation.set_issuer(&config.issuers);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        validation.validate_nbf = true;
        validation.leeway = 60;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap_or_default();
        Self {
            config,
            http,
            keys: tokio::sync::RwLock::new(Keys {
                by_kid: HashMap::new(),
                fetched: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
            validation,
        }
    }

    async fn check(&self, token: &str) -> Result<EntraCaller, Refusal> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| Refusal::Invalid(format!("the token is not a signed JWT ({e})")))?;
        if header.alg != Algorithm::RS256 {
            return Err(Refusal::Invalid(format!(
                "the token is signed with {:?}; Entra ID access tokens use RS256",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| Refusal::Invalid("the token names no signing key (kid)".to_owned()))?;
        let key = self.key(&kid).await?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(|e| Refusal::Invalid(format!("the token is not valid here ({e})")))?;
        let claims = data.claims;
        let config = &self.config;
        let role = claims.roles.iter().any(|r| config.roles.contains(r));
        let scope = claims
            .scp
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .any(|s| config.scopes.iter().any(|wanted| wanted == s));
        if !(role || scope || config.any_app_of_tenant) {
            let mut wanted = Vec::new();
            if !config.roles.is_empty() {
                wanted.push(format!("app roles ({})", config.roles.join(", ")));
            }
            if !config.scopes.is_empty() {
                wanted.push(format!("delegated scopes ({})", config.scopes.join(", ")));
            }
            return Err(Refusal::Forbidden(format!(
                "the token has none of the required {}",
                wanted.join(" or ")
            )));
        }
        let name = match (&claims.oid, claims.sub) {
            (Some(oid), _) => format!("oid {oid}"),
            (None, Some(sub)) => format!("sub {sub}"),
            (None, None) => "entra token".to_owned(),
        };
        Ok(EntraCaller {
            oid: claims.oid,
            name,
        })
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, Refusal> {
        {
            let keys = self.keys.read().await;
            let fresh = keys
                .fetched
                .is_some_and(|at| at.elapsed() < self.config.max_age);
            if let (true, Some(key)) = (fresh, keys.by_kid.get(kid)) {
                return Ok(key.clone());
            }
        }
        let _one = self.fetching.lock().await;
        {
            // Another request may have downloaded the keys while this one waited.
            let keys = self.keys.read().await;
            let recent = keys
                .fetched
                .is_some_and(|at| at.elapsed() < self.config.min_refetch);
            match keys.by_kid.get(kid) {
                Some(key)
                    if keys
                        .fetched
                        .is_some_and(|at| at.elapsed() < self.config.max_age) =>
                {
                    return Ok(key.clone());
                }
                None if recent => {
                    return Err(Refusal::Invalid(format!(
                        "the token is signed with a key ({kid}) the tenant does not publish"
                    )));
                }
                _ => {}
            }
        }
        let fetched = self.fetch().await;
        let mut keys = self.keys.write().await;
        match fetched {
            Ok(by_kid) => {
                tracing::info!(keys = by_kid.len(), url = %self.config.jwks_url, "token signing keys downloaded");
                keys.by_kid = by_kid;
                keys.fetched = Some(Instant::now());
            }
            Err(reason) => {
                tracing::warn!(%reason, url = %self.config.jwks_url, "cannot download the token signing keys");
                // Keep the old keys; try again after min_refetch.
                keys.fetched = Some(Instant::now());
            }
        }
        keys.by_kid.get(kid).cloned().ok_or_else(|| {
            Refusal::Invalid(format!(
                "the token is signed with a key ({kid}) the tenant does not publish"
            ))
        })
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let response = self
            .http
            .get(&self.config.jwks_url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let set: JwkSet = response.json().await.map_err(|e| e.to_string())?;
        let mut by_kid = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Ok(key)) = (&jwk.common.key_id, DecodingKey::from_jwk(jwk)) else {
                continue;
            };
            by_kid.insert(kid.clone(), key);
        }
        Ok(by_kid)
    }
}

/// The bearer token of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `WWW-Authenticate` of a 401/403 (RFC 6750); the description never contains the token.
pub(crate) fn challenge(error: Option<&str>, description: &str) -> HeaderValue {
    let description: String = description
        .chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control() && *c != '"' && *c != '\\')
        .collect();
    let value = match error {
        Some(error) => {
            format!(r#"Bearer realm="convq", error="{error}", error_description="{description}""#)
        }
        None => r#"Bearer realm="convq""#.to_owned(),
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

impl Refusal {
    /// The 401 (bad token) or 403 (no required role) answer.
    fn response(self) -> Response {
        let (code, reason, error, hint) = match self {
            Self::Invalid(reason) => (
                HttpCode::Unauthorized,
                reason,
                "invalid_token",
                "get a new access token for this service's audience",
            ),
            Self::Forbidden(reason) => (
                HttpCode::Forbidden,
                reason,
                "insufficient_scope",
                "ask for one of the service's app roles or scopes",
            ),
        };
        refuse(code, reason, Some(error), hint)
    }
}

pub(crate) fn refuse(code: HttpCode, message: String, error: Option<&str>, hint: &str) -> Response {
    let www = challenge(error, &message);
    let mut response = ApiError::new(code, message).with_hint(hint).into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, www);
    response
}

/// The inbound check of every protected route.
pub(crate) async fn authenticate(
    State(policy): State<AccessPolicy>,
    mut request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|key| key.trim().to_owned());
    let bearer_token = bearer(headers).map(str::to_owned);

    let mut caller = None;
    if policy.checks_callers() {
        // In pass-through the bearer is the caller's Dataverse token, so keys come from x-api-key.
        let presented = match (&api_key, policy.passthrough) {
            (Some(key), _) => Some(key.clone()),
            (None, false) => bearer_token.clone(),
            (None, true) => None,
        };
        let Some(presented) = presented else {
            return refuse(
                HttpCode::Unauthorized,
                format!("this service needs a credential: {}", policy.wanted()),
                None,
                policy.ask(),
            );
        };
        if let Some(number) = policy.api_keys.as_ref().and_then(|k| k.find(&presented)) {
            caller = Some(format!("key {number}"));
        } else if let (Some(entra), None) = (&policy.entra, &api_key) {
            match entra.check(&presented).await {
                Ok(who) => {
                    caller = Some(who.name.clone());
                    request.extensions_mut().insert(who);
                }
                Err(refusal) => return refusal.response(),
            }
        } else {
            return refuse(
                HttpCode::Unauthorized,
                format!(
                    "the credential is not one this service accepts ({})",
                    policy.wanted()
                ),
                Some("invalid_token"),
                match (&policy.api_keys, &policy.entra) {
                    (Some(_), None) => "check the API key",
                    (None, Some(_)) => "get a new token",
                    _ => "check the API key or get a new token",
                },
            );
        }
    }
    if policy.passthrough {
        let Some(token) = bearer_token else {
            return refuse(
                HttpCode::Unauthorized,
                "this service signs in to Dataverse as its caller: send your Dataverse access \
                 token as Authorization: Bearer"
                    .to_owned(),
                None,
                "get a token for the organization, e.g. az account get-access-token --resource <org URL>",
            );
        };
        let token = Secret::new(token);
        let key = convq_backend::RunContext::at(std::time::SystemTime::UNIX_EPOCH)
            .with_bearer(token.clone())
            .identity_key();
        caller = Some(match caller {
            Some(who) => format!("{who} as {key}"),
            None => key,
        });
        request.extensions_mut().insert(PassthroughBearer(token));
    }
    let caller = Caller(caller.unwrap_or_else(|| "anonymous".to_owned()));
    request.extensions_mut().insert(caller.clone());
    let mut response = next.run(request).await;
    response.extensions_mut().insert(caller);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_plain_and_hashed() {
        let dir = std::env::temp_dir().join(format!("convq-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys");
        let hashed: String = Sha256::digest(b"second")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(&path, format!("# comment\nfirst\n\nsha256:{hashed}\n")).unwrap();
        let keys = ApiKeys::load(&path).unwrap();
        assert_eq!(keys.find("first"), Some(1));
        assert_eq!(keys.find("second"), Some(2));
        assert_eq!(keys.find("third"), None);
        assert_eq!(keys.find(&format!("sha256:{hashed}")), None);
        std::fs::write(&path, "third\n").unwrap();
        assert_eq!(keys.reload().unwrap(), 1);
        assert_eq!(keys.find("first"), None);
        assert_eq!(keys.find("third"), Some(1));
        std::fs::write(&path, "sha256:abc\n").unwrap();
        let error = keys.reload().unwrap_err().to_string();
        assert!(error.contains("line 1"), "{error}");
        assert_eq!(
            keys.find("third"),
            Some(1),
            "a bad file keeps the keys in force"
        );
        std::fs::write(&path, "# nothing\n").unwrap();
        assert!(ApiKeys::load(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn tenants_are_guids_and_audiences_come_in_both_forms() {
        let error = EntraConfig::new("contoso.onmicrosoft.com", "api://convq")
            .unwrap_err()
            .to_string();
        assert!(error.contains("GUID"), "{error}");
        let config =
            EntraConfig::new("72F988BF-86F1-41AF-91AB-2D7CD011DB47", "api://convq").unwrap();
        assert_eq!(config.tenant, "72f988bf-86f1-41af-91ab-2d7cd011db47");
        assert_eq!(config.audiences, ["api://convq"]);
        let client = "6731de76-14a6-49ae-97bc-6eba6914391e";
        for given in [client.to_owned(), format!("api://{client}")] {
            let config = EntraConfig::new(&config.tenant, &given).unwrap();
            assert_eq!(config.audiences.len(), 2, "{given}");
            assert!(config.audiences.contains(&client.to_owned()));
            assert!(config.audiences.contains(&format!("api://{client}")));
        }
        assert!(
            EntraConfig::in_cloud(&config.tenant, &[" ".to_owned()], PUBLIC_AUTHORITY).is_err()
        );
    }

    #[test]
    fn each_cloud_has_its_issuers_and_keys() {
        let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let audience = ["api://convq".to_owned()];
        let us =
            EntraConfig::in_cloud(tenant, &audience, "https://login.microsoftonline.us/").unwrap();
        assert_eq!(
            us.jwks_url,
            format!("https://login.microsoftonline.us/{tenant}/discovery/v2.0/keys")
        );
        assert!(
            us.issuers
                .contains(&format!("https://login.microsoftonline.us/{tenant}/v2.0"))
        );
        let cn = EntraConfig::in_cloud(
            tenant,
            &audience,
            "https://login.partner.microsoftonline.cn",
        )
        .unwrap();
        assert_eq!(
            cn.issuers,
            [
                format!("https://login.partner.microsoftonline.cn/{tenant}/v2.0"),
                format!("https://sts.chinacloudapi.cn/{tenant}/"),
            ]
        );
        for bad in [
            "http://login.microsoftonline.us",
            "login.microsoftonline.us",
            "https://",
        ] {
            assert!(
                EntraConfig::in_cloud(tenant, &audience, bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_role_a_scope_or_an_explicit_opening_is_required() {
        let config =
            EntraConfig::new("72f988bf-86f1-41af-91ab-2d7cd011db47", "api://convq").unwrap();
        let error = AccessPolicy::open()
            .with_entra(config.clone())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("--entra-roles") && error.contains("--entra-scopes"),
            "{error}"
        );
        let settings: [fn(&mut EntraConfig); 3] = [
            |c| c.roles = vec!["Conversations.Read".into()],
            |c| c.scopes = vec!["Conversations.Read".into()],
            |c| c.any_app_of_tenant = true,
        ];
        for set in settings {
            let mut config = config.clone();
            set(&mut config);
            assert!(AccessPolicy::open().with_entra(config).is_ok());
        }
    }

    #[tokio::test]
    async fn agent_lookups_are_remembered_for_their_time() {
        let agents = AgentIds::new(Duration::from_secs(60));
        let lookups = std::sync::atomic::AtomicUsize::new(0);
        let lookup = || async {
            lookups.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Some("2B330C52-6844-4D36-8E05-03C78C9681DC".to_owned()))
        };
        for _ in 0..3 {
            let user = agents.user_of("oid-1", lookup()).await.unwrap();
            assert_eq!(
                user.as_deref(),
                Some("2b330c52-6844-4d36-8e05-03c78c9681dc")
            );
        }
        assert_eq!(lookups.load(std::sync::atomic::Ordering::SeqCst), 1);
        for n in 0..MAX_AGENT_IDS + 5 {
            agents.user_of(&format!("oid-{n}"), lookup()).await.unwrap();
        }
        let known = agents.known.lock().unwrap().len();
        assert!(known <= MAX_AGENT_IDS, "{known}");
    }

    #[test]
    fn challenges_are_valid_header_values() {
        let value = challenge(Some("invalid_token"), "bad \"quote\" and \u{e9}");
        assert_eq!(
            value,
            r#"Bearer realm="convq", error="invalid_token", error_description="bad quote and ""#
        );
    }
}
