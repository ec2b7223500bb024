//! Who may call the service (inbound checks; how the service signs in to Dataverse is
//! convq-backend's credential, chosen by the command line).
//!
//! - API keys ([`ApiKeys`]): plain keys or `sha256:<hex>`, compared in constant time, re-read on
//!   SIGHUP.
//! - Entra ID access tokens ([`EntraConfig`]), checked against the tenant's JWKS: signature,
//!   `iss`, `aud`, `exp`, `nbf`, app roles.
//! - In pass-through the caller's `Authorization: Bearer` goes to Dataverse as is.
//!
//! `/healthz`, `/readyz` and `/metrics` stay open; every other route goes through
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
}

impl fmt::Debug for AccessPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessPolicy")
            .field("api_keys", &self.api_keys.is_some())
            .field("entra", &self.entra.is_some())
            .field("passthrough", &self.passthrough)
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
    #[must_use]
    pub fn with_entra(mut self, entra: EntraConfig) -> Self {
        self.entra = Some(Arc::new(EntraValidator::new(entra)));
        self
    }

    /// Requires each call's `Authorization: Bearer` and passes it to the backend.
    #[must_use]
    pub fn with_passthrough(mut self) -> Self {
        self.passthrough = true;
        self
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
    /// The tenant id (or domain).
    pub tenant: String,
    /// The accepted audience.
    pub audience: String,
    /// App roles of which one is required; empty: any valid token.
    pub roles: Vec<String>,
    /// Where the signing keys are.
    pub jwks_url: String,
    /// Accepted issuers: the v2 and v1 forms for the tenant by default.
    pub issuers: Vec<String>,
    /// Shortest time between two key downloads caused by an unknown key id.
    pub min_refetch: Duration,
    /// Longest time keys are used before they are downloaded again.
    pub max_age: Duration,
}

impl EntraConfig {
    /// The public cloud's keys and issuers for `tenant`.
    #[must_use]
    pub fn new(tenant: String, audience: String) -> Self {
        Self {
            jwks_url: format!("https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys"),
            issuers: vec![
                format!("https://login.microsoftonline.com/{tenant}/v2.0"),
                format!("https://sts.windows.net/{tenant}/"),
            ],
            tenant,
            audience,
            roles: Vec::new(),
            min_refetch: Duration::from_secs(5),
            max_age: Duration::from_secs(24 * 3600),
        }
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
}

/// Why a token was refused: 401 (not valid) or 403 (valid, lacks a role).
enum Refusal {
    Invalid(String),
    Forbidden(String),
}

impl EntraValidator {
    fn new(config: EntraConfig) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[config.audience.as_str()]);
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

    async fn check(&self, token: &str) -> Result<String, Refusal> {
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
        if !self.config.roles.is_empty()
            && !claims.roles.iter().any(|r| self.config.roles.contains(r))
        {
            return Err(Refusal::Forbidden(format!(
                "the token has none of the required app roles ({})",
                self.config.roles.join(", ")
            )));
        }
        Ok(match (claims.oid, claims.sub) {
            (Some(oid), _) => format!("oid {oid}"),
            (None, Some(sub)) => format!("sub {sub}"),
            (None, None) => "entra token".to_owned(),
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
fn challenge(error: Option<&str>, description: &str) -> HeaderValue {
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
                "ask for one of the service's app roles",
            ),
        };
        refuse(code, reason, Some(error), hint)
    }
}

fn refuse(code: HttpCode, message: String, error: Option<&str>, hint: &str) -> Response {
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
        .map(str::trim);
    let bearer_token = bearer(headers).map(str::to_owned);

    let mut caller = None;
    if policy.checks_callers() {
        // In pass-through the bearer is the caller's Dataverse token, so keys come from x-api-key.
        let presented = match (api_key, policy.passthrough) {
            (Some(key), _) => Some(key.to_owned()),
            (None, false) => bearer_token.clone(),
            (None, true) => None,
        };
        let Some(presented) = presented else {
            return refuse(
                HttpCode::Unauthorized,
                "this service needs a credential: an API key (x-api-key) or an Entra ID \
                 access token (Authorization: Bearer)"
                    .to_owned(),
                None,
                "ask the service's operator for a key or how to get a token",
            );
        };
        if let Some(number) = policy.api_keys.as_ref().and_then(|k| k.find(&presented)) {
            caller = Some(format!("key {number}"));
        } else if let (Some(entra), None) = (&policy.entra, api_key) {
            match entra.check(&presented).await {
                Ok(who) => caller = Some(who),
                Err(refusal) => return refusal.response(),
            }
        } else {
            return refuse(
                HttpCode::Unauthorized,
                "the credential is not one this service accepts".to_owned(),
                Some("invalid_token"),
                "check the API key or get a new token",
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
    fn challenges_are_valid_header_values() {
        let value = challenge(Some("invalid_token"), "bad \"quote\" and \u{e9}");
        assert_eq!(
            value,
            r#"Bearer realm="convq", error="invalid_token", error_description="bad quote and ""#
        );
    }
}
