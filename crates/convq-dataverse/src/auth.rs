//! Signing in to Dataverse: which credential (Microsoft's `azure_identity`), and one token cache
//! in front of it that every request shares.
//!
//! - [`AuthMode`] is the `--auth` choice; [`Credential::from_mode`] builds it from
//!   [`CredentialOptions`] (usually [`CredentialOptions::from_env`]).
//! - A [`Credential`] hands out tokens for `<org URL>/.default`. It keeps the last token and
//!   refreshes it before it expires (5 minutes early, or half the token's lifetime when that is
//!   shorter), one refresh at a time: concurrent requests wait for the refresh in flight instead
//!   of starting their own.
//! - When Dataverse answers 401 to a token, [`Credential::refresh_rejected`] gets a new one from a
//!   new instance of the `azure_identity` credential: those credentials cache tokens themselves
//!   until 5 minutes before expiry, so asking the same instance again would return the rejected
//!   token.
//! - Tokens are [`Secret`]s; errors name the credential and the reason, never a token or secret.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use azure_core::credentials::{AccessToken, TokenCredential};
use azure_core::http::ClientOptions;
use azure_identity::{
    AzureCliCredential, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use tokio::sync::Mutex;

use convq_backend::{BackendError, Secret};

/// The environment variable with a static Dataverse bearer token (`--auth token`, and first in
/// `--auth default`). Never a flag: flags show up in process listings and shell history.
pub const TOKEN_VAR: &str = "CONVQ_DATAVERSE_TOKEN";

/// How convq signs in to Dataverse (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMode {
    /// `CONVQ_DATAVERSE_TOKEN` if set, then environment client secret, workload identity,
    /// managed identity, Azure CLI: the first that signs in is kept.
    Default,
    /// The static token in `CONVQ_DATAVERSE_TOKEN` (a leading `Bearer ` is stripped).
    Token,
    /// An app registration's client secret: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_CLIENT_SECRET`.
    ClientSecret,
    /// Workload identity federation (Kubernetes): `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_FEDERATED_TOKEN_FILE`.
    WorkloadIdentity,
    /// The managed identity of the Azure host: system-assigned, or user-assigned by client id.
    ManagedIdentity,
    /// The account signed in to the Azure CLI (`az login`).
    AzureCli,
    /// No credential: each call's own bearer token ([`convq_backend::RunContext::bearer`]) is sent.
    Passthrough,
}

impl AuthMode {
    /// Every mode with its `--auth` name, in documentation order.
    pub const ALL: [(Self, &'static str); 7] = [
        (Self::Default, "default"),
        (Self::Token, "token"),
        (Self::ClientSecret, "client-secret"),
        (Self::WorkloadIdentity, "workload-identity"),
        (Self::ManagedIdentity, "managed-identity"),
        (Self::AzureCli, "azure-cli"),
        (Self::Passthrough, "passthrough"),
    ];

    /// The `--auth` name.
    #[must_use]
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(mode, _)| *mode == self)
            .map_or("default", |(_, name)| name)
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AuthMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(mode, _)| *mode)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(_, name)| *name).collect();
                format!(
                    "unknown auth mode {text:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// What the credentials read: by default the environment variables the Azure SDKs use.
#[derive(Clone)]
#[non_exhaustive]
pub struct CredentialOptions {
    /// `CONVQ_DATAVERSE_TOKEN`.
    pub token: Option<Secret>,
    /// `AZURE_TENANT_ID`.
    pub tenant_id: Option<String>,
    /// `AZURE_CLIENT_ID` (client secret and workload identity).
    pub client_id: Option<String>,
    /// `AZURE_CLIENT_SECRET`.
    pub client_secret: Option<Secret>,
    /// `AZURE_FEDERATED_TOKEN_FILE`.
    pub federated_token_file: Option<PathBuf>,
    /// `AZURE_CLIENT_CERTIFICATE_PATH`: only to explain that certificates are not supported.
    pub certificate_path: Option<PathBuf>,
    /// The client id of a user-assigned managed identity (`--client-id`); `None`: system-assigned.
    pub managed_identity_client_id: Option<String>,
    /// HTTP options of the credentials that call Entra ID (client secret, workload identity,
    /// managed identity): the cloud (authority host; `None` reads `AZURE_AUTHORITY_HOST`, else
    /// the public cloud) and the transport (e.g. a `reqwest::Client` that trusts an extra root
    /// certificate, wrapped in `azure_core::http::Transport`). Entra ID is reached over HTTPS
    /// only, whatever is set here. By default 3 retries within 10 s (azure_core's default, 8
    /// within a minute, would hold a request or a readiness probe for a minute when the
    /// identity endpoint is down).
    pub client_options: ClientOptions,
}

impl Default for CredentialOptions {
    fn default() -> Self {
        Self {
            token: None,
            tenant_id: None,
            client_id: None,
            client_secret: None,
            federated_token_file: None,
            certificate_path: None,
            managed_identity_client_id: None,
            client_options: ClientOptions {
                retry: azure_core::http::RetryOptions::exponential(
                    azure_core::http::ExponentialRetryOptions {
                        max_retries: 3,
                        max_total_elapsed: azure_core::time::Duration::seconds(10),
                        ..Default::default()
                    },
                ),
                ..ClientOptions::default()
            },
        }
    }
}

impl fmt::Debug for CredentialOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialOptions")
            .field("token", &self.token)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("federated_token_file", &self.federated_token_file)
            .field(
                "managed_identity_client_id",
                &self.managed_identity_client_id,
            )
            .finish_non_exhaustive()
    }
}

impl CredentialOptions {
    /// Reads `CONVQ_DATAVERSE_TOKEN`, `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_CLIENT_SECRET`, `AZURE_FEDERATED_TOKEN_FILE` and `AZURE_CLIENT_CERTIFICATE_PATH`
    /// (empty values count as unset).
    #[must_use]
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self {
            token: var(TOKEN_VAR).map(Secret::new),
            tenant_id: var("AZURE_TENANT_ID"),
            client_id: var("AZURE_CLIENT_ID"),
            client_secret: var("AZURE_CLIENT_SECRET").map(Secret::new),
            federated_token_file: var("AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from),
            certificate_path: var("AZURE_CLIENT_CERTIFICATE_PATH").map(PathBuf::from),
            ..Self::default()
        }
    }

    /// Sets the user-assigned managed identity's client id.
    #[must_use]
    pub fn with_managed_identity_client_id(mut self, client_id: Option<String>) -> Self {
        self.managed_identity_client_id = client_id;
        self
    }
}

/// Makes a fresh `azure_identity` credential (a fresh instance has an empty token cache).
type Factory = Arc<dyn Fn() -> Result<Arc<dyn TokenCredential>, String> + Send + Sync>;

/// One way to sign in: its name for logs and errors and how to make it.
#[derive(Clone)]
struct Source {
    name: &'static str,
    make: Factory,
    /// How long this source may take to sign in when it is one candidate of the default chain.
    probe: Option<Duration>,
}

/// A credential for Dataverse with its token cache. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct Credential {
    inner: Arc<Inner>,
}

struct Inner {
    /// Candidates in order; a single credential has one.
    sources: Vec<Source>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The source that signed in (index into `sources`) and its credential instance.
    current: Option<(usize, Arc<dyn TokenCredential>)>,
    token: Option<Cached>,
}

struct Cached {
    token: Secret,
    expires_on: SystemTime,
    refresh_at: SystemTime,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

/// How long before expiry a token is replaced: 5 minutes, or half its lifetime when shorter.
fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 2).min(Duration::from_secs(300))
}

impl Credential {
    /// Any `azure_core` credential (e.g. one of `azure_identity`'s). A 401 from Dataverse asks it
    /// again; if it answers from its own cache with the same token, the 401 stands.
    #[must_use]
    pub fn new(name: &'static str, credential: Arc<dyn TokenCredential>) -> Self {
        Self::from_factory(name, move || Ok(Arc::clone(&credential)))
    }

    /// A credential made by `make`, called again for a fresh instance after Dataverse rejects a
    /// token (so a credential that caches tokens itself cannot hand back the rejected one).
    #[must_use]
    pub fn from_factory(
        name: &'static str,
        make: impl Fn() -> Result<Arc<dyn TokenCredential>, String> + Send + Sync + 'static,
    ) -> Self {
        Self::from_sources(vec![Source {
            name,
            make: Arc::new(make),
            probe: None,
        }])
    }

    /// A static bearer token (`--auth token`). A leading `Bearer ` (any case) and surrounding
    /// spaces are removed: a token pasted from a header works.
    #[must_use]
    pub fn static_token(token: &Secret) -> Self {
        let token = Secret::new(strip_bearer(token.expose()));
        Self::from_factory("CONVQ_DATAVERSE_TOKEN", move || {
            Ok(Arc::new(StaticToken(token.clone())) as Arc<dyn TokenCredential>)
        })
    }

    /// The credential `--auth mode` asks for.
    ///
    /// # Errors
    /// [`BackendError::AuthFailed`] when the mode's settings are missing (e.g. `token` without
    /// `CONVQ_DATAVERSE_TOKEN`), and [`BackendError::InvalidConfig`] for
    /// [`AuthMode::Passthrough`], which holds no credential.
    pub fn from_mode(mode: AuthMode, options: &CredentialOptions) -> Result<Self, BackendError> {
        match mode {
            AuthMode::Passthrough => Err(BackendError::InvalidConfig {
                reason: "pass-through holds no credential: each request brings its own token"
                    .to_owned(),
            }),
            AuthMode::Token => options
                .token
                .as_ref()
                .map(Self::static_token)
                .ok_or_else(|| auth_failed(TOKEN_VAR, format!("{TOKEN_VAR} is not set"))),
            AuthMode::Default => Ok(Self::from_sources(default_chain(options))),
            AuthMode::ClientSecret => {
                checked_credential("client secret", options, make_client_secret)
            }
            AuthMode::WorkloadIdentity => {
                checked_credential("workload identity", options, make_workload_identity)
            }
            AuthMode::ManagedIdentity => Ok(Self::from_sources(vec![managed_identity(options)])),
            AuthMode::AzureCli => Ok(Self::from_sources(vec![azure_cli()])),
        }
    }

    fn from_sources(sources: Vec<Source>) -> Self {
        Self {
            inner: Arc::new(Inner {
                sources,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The credential's name, or the candidates of a chain that has not signed in yet.
    #[must_use]
    pub fn name(&self) -> String {
        let names: Vec<&str> = self.inner.sources.iter().map(|s| s.name).collect();
        names.join(", then ")
    }

    /// A token for `scope`: the cached one while it is fresh, else a new one (one refresh at a
    /// time; concurrent callers wait for it). A refresh that fails while the cached token has not
    /// expired yet keeps the cached token.
    ///
    /// # Errors
    /// [`BackendError::AuthFailed`]: no token could be had.
    pub async fn token(&self, scope: &str) -> Result<Secret, BackendError> {
        let mut state = self.inner.state.lock().await;
        let now = SystemTime::now();
        if let Some(cached) = state.token.as_ref().filter(|c| now < c.refresh_at) {
            return Ok(cached.token.clone());
        }
        match self.fetch(&mut state, scope, false).await {
            Ok(token) => Ok(token),
            Err(error) => match state.token.as_ref().filter(|c| now < c.expires_on) {
                Some(cached) => {
                    tracing::warn!(%error, "token refresh failed; using the current token until it expires");
                    Ok(cached.token.clone())
                }
                None => Err(error),
            },
        }
    }

    /// A new token after Dataverse answered 401 to `rejected`. When another request already
    /// replaced `rejected`, its replacement is returned without asking again, so a burst of 401s
    /// costs one refresh. `Ok(None)`: the credential gave the rejected token again (a static
    /// token), so retrying is pointless.
    ///
    /// # Errors
    /// [`BackendError::AuthFailed`]: no token could be had.
    pub async fn refresh_rejected(
        &self,
        scope: &str,
        rejected: &Secret,
    ) -> Result<Option<Secret>, BackendError> {
        let mut state = self.inner.state.lock().await;
        let now = SystemTime::now();
        if let Some(cached) = state
            .token
            .as_ref()
            .filter(|c| c.token != *rejected && now < c.refresh_at)
        {
            return Ok(Some(cached.token.clone()));
        }
        let token = self.fetch(&mut state, scope, true).await?;
        Ok((token != *rejected).then_some(token))
    }

    /// Whether a token can be had now (for readiness probes).
    ///
    /// # Errors
    /// As [`Credential::token`].
    pub async fn check(&self, scope: &str) -> Result<(), BackendError> {
        self.token(scope).await.map(|_| ())
    }

    /// Gets a token from the current source (a fresh instance when `fresh`), or, before the first
    /// sign-in, from the first source that succeeds. Called with the state locked.
    async fn fetch(
        &self,
        state: &mut State,
        scope: &str,
        fresh: bool,
    ) -> Result<Secret, BackendError> {
        let started = SystemTime::now();
        if let Some((index, credential)) = state.current.clone() {
            let source = &self.inner.sources[index];
            let credential = if fresh {
                let made = (source.make)().map_err(|reason| auth_failed(source.name, reason))?;
                state.current = Some((index, Arc::clone(&made)));
                made
            } else {
                credential
            };
            let token = get_token(credential.as_ref(), scope)
                .await
                .map_err(|reason| auth_failed(source.name, reason))?;
            tracing::debug!(credential = source.name, "got a Dataverse token");
            return Ok(Self::store(state, token, started));
        }
        let mut failures = Vec::new();
        for (index, source) in self.inner.sources.iter().enumerate() {
            let attempt = async {
                let credential = (source.make)()?;
                let token = get_token(credential.as_ref(), scope).await?;
                Ok::<_, String>((credential, token))
            };
            let attempt = match source.probe.filter(|_| self.inner.sources.len() > 1) {
                Some(limit) => tokio::time::timeout(limit, attempt)
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!(
                            "no answer within {} s (not running in Azure?)",
                            limit.as_secs()
                        ))
                    }),
                None => attempt.await,
            };
            match attempt {
                Ok((credential, token)) => {
                    tracing::info!(
                        credential = source.name,
                        "signed in to Dataverse with {}",
                        source.name
                    );
                    state.current = Some((index, credential));
                    return Ok(Self::store(state, token, started));
                }
                Err(reason) => {
                    if self.inner.sources.len() > 1 {
                        tracing::info!(credential = source.name, %reason, "{} did not sign in", source.name);
                    }
                    // A single credential is named once, in the error's own prefix.
                    failures.push(if self.inner.sources.len() > 1 {
                        format!("{}: {reason}", source.name)
                    } else {
                        reason
                    });
                }
            }
        }
        let credential = if self.inner.sources.len() == 1 {
            self.inner.sources[0].name.to_owned()
        } else {
            "default".to_owned()
        };
        Err(BackendError::AuthFailed {
            credential,
            reason: failures.join("; "),
        })
    }

    fn store(state: &mut State, token: AccessToken, fetched: SystemTime) -> Secret {
        let expires_on = SystemTime::from(token.expires_on);
        let lifetime = expires_on.duration_since(fetched).unwrap_or_default();
        let secret = Secret::new(token.token.secret());
        state.token = Some(Cached {
            token: secret.clone(),
            expires_on,
            refresh_at: expires_on - refresh_margin(lifetime),
        });
        secret
    }
}

fn auth_failed(credential: &str, reason: String) -> BackendError {
    BackendError::AuthFailed {
        credential: credential.to_owned(),
        reason,
    }
}

async fn get_token(credential: &dyn TokenCredential, scope: &str) -> Result<AccessToken, String> {
    credential
        .get_token(&[scope], None)
        .await
        .map_err(|error| describe(&error))
}

/// The error and its causes, one line: azure_core's "retry policy expired" alone hides why
/// (an untrusted certificate, a refused connection), which is the part a user can act on.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = one_line(&error.to_string());
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = one_line(&cause.to_string());
        if !cause_text.is_empty() && !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// azure_identity's messages span lines and end with a troubleshooting link; keep one line.
fn one_line(text: &str) -> String {
    text.split('\n')
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("To troubleshoot"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `Bearer abc` → `abc`; surrounding spaces are removed.
fn strip_bearer(token: &str) -> &str {
    let token = token.trim();
    match token.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => token[7..].trim_start(),
        _ => token,
    }
}

/// A token that never changes; it is given a day of life so that it is not refreshed.
#[derive(Debug)]
struct StaticToken(Secret);

#[async_trait::async_trait]
impl TokenCredential for StaticToken {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(
            self.0.expose().to_owned(),
            azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::days(1),
        ))
    }
}

fn default_chain(options: &CredentialOptions) -> Vec<Source> {
    let mut sources = Vec::new();
    if let Some(token) = &options.token {
        let token = Secret::new(strip_bearer(token.expose()));
        sources.push(Source {
            name: "CONVQ_DATAVERSE_TOKEN",
            make: Arc::new(move || Ok(Arc::new(StaticToken(token.clone())) as _)),
            probe: None,
        });
    }
    let environment = options.clone();
    sources.push(Source {
        name: "environment client secret",
        make: Arc::new(move || make_client_secret(&environment)),
        probe: None,
    });
    let workload = options.clone();
    sources.push(Source {
        name: "workload identity",
        make: Arc::new(move || make_workload_identity(&workload)),
        probe: None,
    });
    sources.push(managed_identity(options));
    sources.push(azure_cli());
    sources
}

/// `"A, B not set"` for the settings (environment variables) that are not set.
fn not_set(settings: &[(&str, bool)]) -> String {
    let missing: Vec<&str> = settings
        .iter()
        .filter(|(_, set)| !set)
        .map(|(name, _)| *name)
        .collect();
    format!("{} not set", missing.join(", "))
}

/// The tenant id, the client id and `third` (the setting `third_name`); or `"A, B not set"` for
/// those that are missing.
fn tenant_client_and<'a, T>(
    options: &'a CredentialOptions,
    third_name: &str,
    third: &'a Option<T>,
) -> Result<(&'a String, &'a String, &'a T), String> {
    match (&options.tenant_id, &options.client_id, third) {
        (Some(tenant), Some(client), Some(third)) => Ok((tenant, client, third)),
        _ => Err(not_set(&[
            ("AZURE_TENANT_ID", options.tenant_id.is_some()),
            ("AZURE_CLIENT_ID", options.client_id.is_some()),
            (third_name, third.is_some()),
        ])),
    }
}

/// The credential `make` builds from `options`, named `name`. `make` runs once here, so that
/// missing settings fail at start ([`BackendError::AuthFailed`]), not at the first request.
fn checked_credential(
    name: &'static str,
    options: &CredentialOptions,
    make: fn(&CredentialOptions) -> Result<Arc<dyn TokenCredential>, String>,
) -> Result<Credential, BackendError> {
    make(options).map_err(|reason| auth_failed(name, reason))?;
    let options = options.clone();
    Ok(Credential::from_factory(name, move || make(&options)))
}

fn make_client_secret(options: &CredentialOptions) -> Result<Arc<dyn TokenCredential>, String> {
    let (tenant, client, secret) =
        tenant_client_and(options, "AZURE_CLIENT_SECRET", &options.client_secret).map_err(
            |mut reason| {
                if options.certificate_path.is_some() && options.client_secret.is_none() {
                    reason.push_str(
                        " (AZURE_CLIENT_CERTIFICATE_PATH is set, but convq does not sign in with \
                         certificates: azure_identity needs OpenSSL for them; use a client \
                         secret, workload identity or a managed identity)",
                    );
                }
                reason
            },
        )?;
    let credential = ClientSecretCredential::new(
        tenant,
        client.clone(),
        azure_core::credentials::Secret::new(secret.expose().to_owned()),
        Some(ClientSecretCredentialOptions {
            client_options: options.client_options.clone(),
        }),
    )
    .map_err(|e| describe(&e))?;
    Ok(credential)
}

fn make_workload_identity(options: &CredentialOptions) -> Result<Arc<dyn TokenCredential>, String> {
    let (tenant, client, file) = tenant_client_and(
        options,
        "AZURE_FEDERATED_TOKEN_FILE",
        &options.federated_token_file,
    )?;
    let credential = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
        credential_options: azure_identity::ClientAssertionCredentialOptions {
            client_options: options.client_options.clone(),
        },
        client_id: Some(client.clone()),
        tenant_id: Some(tenant.clone()),
        token_file_path: Some(file.clone()),
    }))
    .map_err(|e| describe(&e))?;
    Ok(credential)
}

fn managed_identity(options: &CredentialOptions) -> Source {
    let client_id = options.managed_identity_client_id.clone();
    let client_options = options.client_options.clone();
    Source {
        name: "managed identity",
        make: Arc::new(move || {
            let credential =
                ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                    client_options: client_options.clone(),
                }))
                .map_err(|e| describe(&e))?;
            Ok(credential as Arc<dyn TokenCredential>)
        }),
        // Off Azure, the instance metadata service never answers and azure_identity retries it
        // for over a minute; in the chain, a short probe lets the Azure CLI have its turn (as
        // DefaultAzureCredential does in the other Azure SDKs). The App Service form is local.
        probe: Some(Duration::from_secs(3)),
    }
}

fn azure_cli() -> Source {
    Source {
        name: "Azure CLI",
        make: Arc::new(|| {
            let credential = AzureCliCredential::new(None).map_err(|e| describe(&e))?;
            Ok(credential as Arc<dyn TokenCredential>)
        }),
        probe: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_prefixes_are_stripped() {
        assert_eq!(strip_bearer("Bearer abc"), "abc");
        assert_eq!(strip_bearer("  bearer   abc \n"), "abc");
        assert_eq!(strip_bearer("abc"), "abc");
        assert_eq!(strip_bearer("Bearerabc"), "Bearerabc");
    }

    #[test]
    fn modes_round_trip_through_their_names() {
        for (mode, name) in AuthMode::ALL {
            assert_eq!(mode.name(), name);
            assert_eq!(name.parse::<AuthMode>().unwrap(), mode);
        }
        assert!(
            "oauth"
                .parse::<AuthMode>()
                .unwrap_err()
                .contains("azure-cli")
        );
    }

    #[test]
    fn refresh_margins() {
        assert_eq!(
            refresh_margin(Duration::from_secs(3600)),
            Duration::from_secs(300)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(4)),
            Duration::from_secs(2)
        );
    }

    #[tokio::test]
    async fn a_static_token_is_served_from_the_cache_and_not_retried() {
        let credential = Credential::static_token(&Secret::new("Bearer s3cr3t"));
        let token = credential.token("https://x/.default").await.unwrap();
        assert_eq!(token.expose(), "s3cr3t");
        assert_eq!(
            credential
                .refresh_rejected("https://x/.default", &token)
                .await
                .unwrap(),
            None
        );
        assert!(!format!("{credential:?}").contains("s3cr3t"));
    }

    #[tokio::test]
    async fn missing_settings_name_the_variables_not_the_values() {
        let options = CredentialOptions {
            client_secret: Some(Secret::new("very-secret")),
            ..Default::default()
        };
        let error = Credential::from_mode(AuthMode::ClientSecret, &options).unwrap_err();
        assert_eq!(error.code(), "dataverse_auth_failed");
        let text = error.to_string();
        assert!(
            text.contains("AZURE_TENANT_ID") && text.contains("AZURE_CLIENT_ID"),
            "{text}"
        );
        assert!(!text.contains("very-secret"), "{text}");
        let error = Credential::from_mode(AuthMode::Token, &CredentialOptions::default());
        assert!(error.unwrap_err().to_string().contains(TOKEN_VAR));
    }
}
