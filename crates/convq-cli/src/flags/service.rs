//! The service's own flags: where it listens, its limits (heading "Service"), and who may call
//! it (heading "Access"); `serve` only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use convq_http::{AccessError, AccessPolicy, ApiKeys, EntraConfig};

use super::parse_duration;

/// Where the service listens and what it lets through.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Service")]
pub(crate) struct ServiceArgs {
    /// Address to listen on. Port 0 picks a free port (the log line says which). Without it or
    /// CONVQ_ADDR, PORT=N (the container platforms' convention) means 0.0.0.0:N.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT")]
    pub(crate) addr: SocketAddr,

    /// Allow this browser origin (CORS); repeat for several. Without it, no CORS headers.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub(crate) cors_origins: Vec<String>,

    /// Largest request body in bytes.
    #[arg(long, default_value_t = 64 * 1024, value_name = "BYTES")]
    pub(crate) body_limit: usize,

    /// Longest a request may take, backend call included (e.g. 30s, 500ms, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) request_timeout: Duration,

    /// Requests handled at once; more wait for a slot.
    #[arg(long, default_value_t = 512, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) concurrency_limit: u32,

    /// Longest a request body may take to arrive; slower clients get 408 and are disconnected.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) body_read_timeout: Duration,

    /// Longest wait for a whole request head, and for the next request on an idle kept-alive
    /// connection; then the connection is closed.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) header_read_timeout: Duration,

    /// Connections open at once; more wait in the listen backlog.
    #[arg(long, default_value_t = 1024, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_connections: u32,

    /// On SIGTERM/SIGINT, how long requests in flight may take to finish before the remaining
    /// connections are closed.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) shutdown_grace: Duration,

    /// Also answer requests for this Host (NAME or NAME:PORT); repeat for several. On a loopback
    /// address only localhost, 127.0.0.1 and [::1] are accepted otherwise (against DNS
    /// rebinding); on other addresses, giving it restricts the server to the listed hosts.
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub(crate) allowed_hosts: Vec<String>,

    /// Serve /metrics on this address instead of the main one.
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) metrics_addr: Option<SocketAddr>,

    /// Log lines as text, or as one JSON object per line (for log pipelines).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub(crate) log_format: LogFormat,

    /// Read settings from this TOML file: the flags' names without `--` (addr = "0.0.0.0:8080",
    /// api-keys = "/etc/convq/keys", cors-origin = ["https://a.example"]). A flag wins over its
    /// CONVQ_* variable, which wins over the file.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line, the event's fields at the top level.
    Json,
}

/// Who may call the service (inbound; how it signs in to Dataverse is in the Dataverse group).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Access")]
pub(crate) struct AccessArgs {
    /// Accept callers with one of these keys (one per line, plain or sha256:<hex>; # comments),
    /// sent as x-api-key or Authorization: Bearer. Re-read on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub(crate) api_keys: Option<PathBuf>,

    /// Accept Entra ID access tokens issued by this tenant: its id, a GUID (tokens carry the
    /// GUID, not a domain). Needs --entra-audience and --entra-roles or --entra-scopes.
    #[arg(long, value_name = "TENANT-ID", requires = "entra_audience")]
    pub(crate) entra_tenant: Option<String>,

    // What the tenant's tokens must carry (each flag needs --entra-tenant).
    #[command(flatten)]
    pub(crate) entra: EntraArgs,

    /// A caller with an Entra ID token may only ask for their own agentId: the Dataverse user
    /// whose Entra object id is the token's `oid` (looked up once per 5 minutes per caller), as
    /// getConversations runs as the agent in Dynamics 365. Needs --dataverse.
    #[arg(long, requires_all = ["entra_tenant", "dataverse"])]
    pub(crate) entra_own_agent: bool,

    /// Serve a held credential or a --data file on a non-loopback address without --api-keys
    /// or --entra-*.
    #[arg(long)]
    pub(crate) allow_anonymous: bool,
}

/// What an Entra ID token must be to be accepted; each needs --entra-tenant (the group
/// requires it once).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Access")]
#[group(id = "entra", multiple = true, requires = "entra_tenant")]
pub(crate) struct EntraArgs {
    /// The audience tokens must carry: this API's client id and/or App ID URI (comma-separated
    /// or repeated; the other form of an api://<client id> URI is accepted too).
    #[arg(long, value_name = "AUDIENCE,...", value_delimiter = ',')]
    pub(crate) entra_audience: Vec<String>,

    /// App roles (the token's `roles`, app-only callers) of which one grants access
    /// (comma-separated).
    #[arg(long, value_name = "ROLE,...", value_delimiter = ',')]
    pub(crate) entra_roles: Vec<String>,

    /// Delegated scopes (the token's `scp`, apps calling for a signed-in user) of which one
    /// grants access (comma-separated).
    #[arg(long, value_name = "SCOPE,...", value_delimiter = ',')]
    pub(crate) entra_scopes: Vec<String>,

    /// Accept any valid token of the tenant for the audience, without a role or scope: any app
    /// registration of the tenant can get one, so this opens the service to all of them.
    #[arg(long)]
    pub(crate) entra_any_app_of_tenant: bool,

    /// The Entra ID authority of the tenant's cloud: its issuers and signing keys. For US
    /// Government https://login.microsoftonline.us, for China
    /// https://login.partner.microsoftonline.cn.
    #[arg(long, value_name = "URL", default_value = convq_http::PUBLIC_AUTHORITY)]
    pub(crate) entra_authority: String,

    /// Accept exactly these token issuers (`iss`) instead of the authority's v2 and v1 forms
    /// (repeat for several).
    #[arg(long, value_name = "URL")]
    pub(crate) entra_issuer: Vec<String>,

    /// Where the token signing keys come from (JWKS); the authority's keys for the tenant by
    /// default.
    #[arg(long, value_name = "URL")]
    pub(crate) jwks_url: Option<String>,
}

/// How long an `oid` → agent lookup of --entra-own-agent is kept.
const OWN_AGENT_TTL: Duration = Duration::from_secs(300);

/// The values, trimmed, without empty ones (`--entra-roles ""` asks for none).
fn nonempty(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

impl AccessArgs {
    /// The policy these flags ask for (`passthrough`: the Dataverse mode is pass-through).
    ///
    /// # Errors
    /// An unreadable key file, or Entra checks with pass-through (the bearer is Dataverse's).
    pub(crate) fn policy(&self, passthrough: bool) -> Result<AccessPolicy, AccessError> {
        let mut policy = AccessPolicy::open();
        if let Some(path) = &self.api_keys {
            policy = policy.with_api_keys(ApiKeys::load(path)?);
        }
        if let Some(tenant) = &self.entra_tenant {
            if passthrough {
                return Err(AccessError::Entra(
                    "--entra-* checks tokens issued for this service, but --auth passthrough \
                     forwards the caller's token to Dataverse: use --api-keys (x-api-key) with \
                     pass-through, or another --auth mode"
                        .to_owned(),
                ));
            }
            let mut config = EntraConfig::in_cloud(
                tenant,
                &self.entra.entra_audience,
                &self.entra.entra_authority,
            )?;
            config.roles = nonempty(&self.entra.entra_roles);
            config.scopes = nonempty(&self.entra.entra_scopes);
            config.any_app_of_tenant = self.entra.entra_any_app_of_tenant;
            if !self.entra.entra_issuer.is_empty() {
                config.issuers.clone_from(&self.entra.entra_issuer);
            }
            if let Some(url) = &self.entra.jwks_url {
                config.jwks_url.clone_from(url);
            }
            policy = policy.with_entra(config)?;
            if self.entra_own_agent {
                policy = policy.with_own_agent_only(OWN_AGENT_TTL);
            }
        }
        if passthrough {
            policy = policy.with_passthrough();
        }
        Ok(policy)
    }
}
