//! The Dataverse backend of convq: a [`Backend`] that GETs the compiled query from an
//! organization's Web API, signed in with Microsoft's credentials ([`Credential`]) or the
//! callers' own tokens ([`DataverseAuth::Passthrough`]).
//!
//! - [`DataverseClient`]: one organization, paging, retries of 429/503, timeouts and body caps.
//! - [`Shared`]: the client as a service for a whole team needs it: calls coalesced into
//!   combined requests, a cache, and a pacing gate per identity.
//! - [`TrackedTable`]: the conversation table kept current with change tracking (live lists'
//!   delta mode).
//! - [`connect`]: the one way `convq get` and `convq serve` assemble them from their flags
//!   ([`ConnectOptions`]).
//!
//! The trait, the run pipeline ([`convq_backend::get_conversations`]) and the errors
//! ([`BackendError`]) are `convq-backend`'s.

mod auth;
mod cache;
mod coalesce;
mod dataverse;
mod delta;
mod observe;
mod pacing;

use std::sync::Arc;
use std::time::Duration;

pub use auth::{AuthMode, Credential, CredentialOptions, TOKEN_VAR};
/// Microsoft's credential trait, for [`Credential::new`].
pub use azure_core::credentials::TokenCredential;
pub use coalesce::{Shared, SharedConfig};
#[cfg(doc)]
use convq_backend::Backend;
use convq_backend::BackendError;
pub use dataverse::{DataverseAuth, DataverseClient, DataverseConfig};
pub use delta::TrackedTable;
pub use observe::{Counters, CountersSnapshot, Observer};

/// What [`connect`] sets beyond the organization and its credentials. The defaults are
/// [`DataverseConfig::new`]'s and [`SharedConfig::default`]'s.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// [`DataverseConfig::page_size`].
    pub page_size: Option<u32>,
    /// [`DataverseConfig::total_timeout`].
    pub total_timeout: Duration,
    /// [`DataverseConfig::max_concurrent`].
    pub max_concurrent: usize,
    /// [`DataverseConfig::max_page_bytes`].
    pub max_page_bytes: u64,
    /// [`DataverseConfig::max_response_bytes`].
    pub max_response_bytes: u64,
    /// Coalescing, cache and the status filter style ([`Shared`]).
    pub shared: SharedConfig,
    /// Who hears of upstream requests, throttle pauses and queue waits (metrics); nobody when
    /// `None`.
    pub observer: Option<Arc<dyn Observer>>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        let client = DataverseConfig::new(String::new(), DataverseAuth::Passthrough);
        Self {
            page_size: client.page_size,
            total_timeout: client.total_timeout,
            max_concurrent: client.max_concurrent,
            max_page_bytes: client.max_page_bytes,
            max_response_bytes: client.max_response_bytes,
            shared: SharedConfig::default(),
            observer: None,
        }
    }
}

/// The organization at `org_url` as a shared [`Backend`]: a [`DataverseClient`] signed in with
/// `auth`, behind coalescing, the cache and pacing ([`Shared`]). Retries of 429/503 are bounded
/// by the total timeout and the caller's deadline, not by a count: a throttled call waits as
/// long as it may.
///
/// # Errors
/// [`BackendError::InvalidConfig`], as [`DataverseClient::new`].
pub fn connect(
    org_url: &str,
    auth: DataverseAuth,
    options: &ConnectOptions,
) -> Result<Shared, BackendError> {
    let mut config = DataverseConfig::new(org_url, auth);
    config.page_size = options.page_size;
    config.total_timeout = options.total_timeout;
    config.max_concurrent = options.max_concurrent;
    config.max_page_bytes = options.max_page_bytes;
    config.max_response_bytes = options.max_response_bytes;
    config.max_retries = u32::MAX;
    let mut client = DataverseClient::new(config)?;
    if let Some(observer) = &options.observer {
        client = client.with_observer(Arc::clone(observer));
    }
    Ok(Shared::new(client, options.shared.clone()))
}
