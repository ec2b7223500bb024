//! Dataverse: the organization, how to sign in to it, and how to call it; `get` and `serve`
//! (heading "Dataverse"). Outbound only: who may call the service is in [`super::service`].

use std::time::Duration;

use convq_backend::BackendError;
use convq_dataverse::{AuthMode, Credential, CredentialOptions, DataverseAuth};

use super::{parse_duration, parse_duration_or_zero};

/// The organization, the sign-in, and the limits of the calls, as `get` and `serve` share them.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Dataverse")]
pub(crate) struct DataverseArgs {
    /// Answer from this Dataverse organization (e.g. https://contoso.crm.dynamics.com), signed
    /// in as --auth says (by default: CONVQ_DATAVERSE_TOKEN, else the Azure SDKs' chain ending
    /// with the Azure CLI, so `az login` is enough).
    #[arg(long, value_name = "URL")]
    pub(crate) dataverse: Option<String>,

    /// How to sign in to Dataverse: default (CONVQ_DATAVERSE_TOKEN, then environment client
    /// secret, workload identity, managed identity, Azure CLI), token, client-secret,
    /// workload-identity, managed-identity, azure-cli, or passthrough (serve only: each
    /// request's own bearer token).
    #[arg(long, value_name = "MODE", default_value = "default", value_parser = parse_mode,
          requires = "dataverse")]
    pub(crate) auth: AuthMode,

    /// The client id of a user-assigned managed identity (--auth managed-identity or default).
    #[arg(long, value_name = "ID", requires = "dataverse")]
    pub(crate) client_id: Option<String>,

    /// Longest one Dataverse call may take, all pages and retries included (e.g. 20s, 500ms,
    /// 2m; a bare number is seconds). get: 60s by default. serve: never past the request
    /// timeout; a call gives up in time to answer dataverse_timeout.
    // `--timeout` was get's name for it.
    #[arg(long = "dataverse-timeout", alias = "timeout", value_name = "DURATION",
          requires = "dataverse", value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,

    /// Dataverse calls with the same query shape (all but agentId) arriving within this window
    /// share one request naming all their agents (e.g. 50ms; 0 turns it off).
    #[arg(long, value_name = "DURATION", default_value = "50ms",
          value_parser = parse_duration_or_zero)]
    pub(crate) coalesce_window: Duration,

    /// Keep Dataverse answers this long (e.g. 2s; 0 turns it off): get 0 (off), serve 2s by
    /// default. serve's Age header of each answer says how old it is. A createdBeforeDays
    /// answer never outlives a day boundary.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_or_zero)]
    pub(crate) cache_ttl: Option<Duration>,

    /// Most Dataverse requests in flight per identity (Dataverse allows 52); more wait.
    #[arg(long, value_name = "N", default_value_t = 52,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_concurrent: u32,
}

fn parse_mode(text: &str) -> Result<AuthMode, String> {
    text.parse()
}

impl DataverseArgs {
    /// The Dataverse authentication these flags ask for, reading the environment.
    ///
    /// # Errors
    /// [`BackendError::AuthFailed`]: the mode's settings are missing.
    pub(crate) fn dataverse_auth(&self) -> Result<DataverseAuth, BackendError> {
        if self.auth == AuthMode::Passthrough {
            return Ok(DataverseAuth::Passthrough);
        }
        let options =
            CredentialOptions::from_env().with_managed_identity_client_id(self.client_id.clone());
        Ok(Credential::from_mode(self.auth, &options)?.into())
    }

    /// Whether the service forwards each caller's own token (`--auth passthrough`).
    pub(crate) fn passthrough(&self) -> bool {
        self.dataverse.is_some() && self.auth == AuthMode::Passthrough
    }
}

/// `get`'s page size.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Dataverse")]
pub(crate) struct PageSizeArgs {
    /// Rows per Dataverse page (Prefer: odata.maxpagesize), 1..=5000.
    #[arg(long, value_name = "N", requires = "dataverse",
          value_parser = clap::value_parser!(u32).range(1..=5_000))]
    pub(crate) page_size: Option<u32>,
}

/// `serve`'s caps on what a Dataverse answer may hold in memory.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Dataverse")]
pub(crate) struct ResponseCapArgs {
    /// Largest Dataverse page body in bytes; a larger one fails the request
    /// (dataverse_response_too_large) instead of filling memory.
    #[arg(long, default_value_t = 64 << 20, value_name = "BYTES", requires = "dataverse")]
    pub(crate) dataverse_max_page_bytes: u64,

    /// Largest Dataverse answer in bytes, all pages together.
    #[arg(long, default_value_t = 256 << 20, value_name = "BYTES", requires = "dataverse")]
    pub(crate) dataverse_max_response_bytes: u64,
}
