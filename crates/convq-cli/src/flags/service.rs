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

    /// Accept Entra ID access tokens issued by this tenant (id or domain); needs --entra-audience.
    #[arg(long, value_name = "TENANT", requires = "entra_audience")]
    pub(crate) entra_tenant: Option<String>,

    /// The audience Entra ID tokens must carry (this API's app id URI or client id).
    #[arg(long, value_name = "AUDIENCE", requires = "entra_tenant")]
    pub(crate) entra_audience: Option<String>,

    /// App roles of which a token must carry at least one (comma-separated).
    #[arg(
        long,
        value_name = "ROLE,...",
        value_delimiter = ',',
        requires = "entra_tenant"
    )]
    pub(crate) entra_roles: Vec<String>,

    /// Where the token signing keys come from (JWKS); the tenant's keys by default. For
    /// sovereign clouds.
    #[arg(long, value_name = "URL", requires = "entra_tenant")]
    pub(crate) jwks_url: Option<String>,

    /// Serve a held credential or a --data file on a non-loopback address without --api-keys
    /// or --entra-*.
    #[arg(long)]
    pub(crate) allow_anonymous: bool,
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
        if let (Some(tenant), Some(audience)) = (&self.entra_tenant, &self.entra_audience) {
            if passthrough {
                return Err(AccessError::Entra(
                    "--entra-* checks tokens issued for this service, but --auth passthrough \
                     forwards the caller's token to Dataverse: use --api-keys (x-api-key) with \
                     pass-through, or another --auth mode"
                        .to_owned(),
                ));
            }
            let mut config = EntraConfig::new(tenant.clone(), audience.clone());
            config.roles = self.entra_roles.clone();
            if let Some(url) = &self.jwks_url {
                config.jwks_url = url.clone();
            }
            policy = policy.with_entra(config);
        }
        if passthrough {
            policy = policy.with_passthrough();
        }
        Ok(policy)
    }
}
