//! `convq serve`: the getConversations HTTP service (convq-http), configured from the flags.

use std::sync::Arc;

use anyhow::Context;
use axum::http::HeaderValue;
use convq_backend::{Backend, EmbeddedStore};
use convq_cli::StartError;
use convq_dataverse::{ConnectOptions, DataverseAuth};
use convq_http::{AppState, ConnectionLimits, Limits, RunDefaults, ServerConfig};

use crate::Outcome;
use crate::flags::data::DataArgs;
use crate::flags::dataverse::{DataverseArgs, ResponseCapArgs};
use crate::flags::options::OptionsArgs;
use crate::flags::service::{AccessArgs, ServiceArgs};

pub(crate) const EXAMPLES: &str = "\
Examples:
  convq serve                                   # the sample store on 127.0.0.1:8080
  convq serve --data conversations.json --addr 0.0.0.0:8080 --api-keys /etc/convq/keys
  CONVQ_DATAVERSE=https://contoso.crm.dynamics.com CONVQ_AUTH=managed-identity PORT=8080 convq serve
  convq serve --config convq.toml --log-format json";

/// Flags of the getConversations service.
#[derive(Debug, Clone, clap::Args)]
// A fixed "now" is for the stores; Dataverse always uses its own clock (`get` ignores it there).
#[command(mut_arg("now", |arg| arg.conflicts_with("dataverse")))]
#[command(mut_args(crate::config::with_env))]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    data: DataArgs,

    #[command(flatten)]
    options: OptionsArgs,

    #[command(flatten)]
    dataverse: DataverseArgs,

    #[command(flatten)]
    caps: ResponseCapArgs,

    #[command(flatten)]
    service: ServiceArgs,

    #[command(flatten)]
    access: AccessArgs,

    #[command(flatten)]
    stream: crate::flags::stream::StreamArgs,
}

/// Starts the service and blocks until SIGINT/SIGTERM, after the requests in flight finished.
pub(crate) fn run(args: &ServeArgs) -> anyhow::Result<Outcome> {
    crate::init_tracing("info", args.service.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let state = runtime.block_on(async { build(args) })?;
    runtime
        .block_on(convq_http::run(state))
        .map_err(|error| anyhow::anyhow!("[{}] {error}", error.code()))?;
    Ok(Outcome::Success)
}

/// The state (backend loaded, options parsed, configuration and access policy) the flags ask
/// for; errors come as `[code] message`. Reads the credential's settings from the environment
/// when `--dataverse` is given.
fn build(args: &ServeArgs) -> anyhow::Result<AppState> {
    let coded = |error: StartError| anyhow::anyhow!("[{}] {error}", error.code());
    let options = args
        .options
        .options()
        .map_err(|error| coded(error.into()))?;
    let passthrough = args.dataverse.passthrough();
    let access = args
        .access
        .policy(passthrough)
        .map_err(|error| coded(error.into()))?;
    // Safe default: what only the service's own identity (or file) may read is not handed
    // to the network without a caller check.
    let exposed = match (&args.dataverse.dataverse, &args.data.data) {
        (Some(_), _) if !passthrough => {
            Some("a Dataverse organization under the service's own identity")
        }
        (None, Some(_)) => Some("the --data file"),
        _ => None,
    };
    let addr = args.service.addr;
    let unprotected =
        !addr.ip().is_loopback() && !access.checks_callers() && !args.access.allow_anonymous;
    if let (Some(what), true) = (exposed, unprotected) {
        return Err(coded(StartError::Unprotected { addr, what }));
    }
    if exposed.is_none()
        && args.dataverse.dataverse.is_none()
        && !addr.ip().is_loopback()
        && !access.checks_callers()
    {
        tracing::warn!(
            "the built-in sample store (made-up conversations, not an organization's) is served \
             on {addr} to anyone who can reach it, with /openapi.json and /metrics; add \
             --api-keys or --entra-tenant/--entra-audience to restrict it"
        );
    }
    let state = AppState::builder(options.clone());
    let mut mirror: Option<Arc<dyn convq_backend::TableMirror>> = None;
    let backend_error =
        |error: convq_backend::BackendError| anyhow::anyhow!("[{}] {error}", error.code());
    let backend: Arc<dyn Backend> = match (&args.dataverse.dataverse, &args.data.data) {
        (Some(url), _) => {
            let auth: DataverseAuth = args.dataverse.dataverse_auth().map_err(backend_error)?;
            let mut connect = ConnectOptions::default();
            connect.max_page_bytes = args.caps.dataverse_max_page_bytes;
            connect.max_response_bytes = args.caps.dataverse_max_response_bytes;
            if let Some(timeout) = args.dataverse.timeout {
                connect.total_timeout = timeout;
            }
            connect.max_concurrent = args.dataverse.max_concurrent as usize;
            connect.shared.coalesce_window = args.dataverse.coalesce_window;
            connect.shared.cache_ttl = args.dataverse.cache_ttl.unwrap_or(SERVE_CACHE_TTL);
            connect.shared.status_filter = options.status_filter;
            connect.observer = Some(state.upstream_observer());
            let passthrough = matches!(auth, DataverseAuth::Passthrough);
            let shared = convq_dataverse::connect(url, auth, &connect).map_err(backend_error)?;
            if args.stream.stream_delta {
                if passthrough {
                    return Err(coded(StartError::DeltaPassthrough));
                }
                mirror = Some(Arc::new(convq_dataverse::TrackedTable::new(&shared)));
            }
            Arc::new(shared)
        }
        (None, Some(path)) => {
            let store = EmbeddedStore::from_path(path)
                .map_err(|error| backend_error(convq_backend::BackendError::from(error)))?;
            // Read again when the file changes, so live lists see the change.
            let live = convq_backend::LiveStore::new(store);
            let mut reload = crate::get::watch::Reload::new(path.clone());
            let (watched, period) = (live.clone(), args.stream.stream_interval);
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(period);
                loop {
                    ticks.tick().await;
                    reload.check(&watched);
                }
            });
            Arc::new(live)
        }
        (None, None) => Arc::new(EmbeddedStore::sample()),
    };
    let mut cors_origins = Vec::with_capacity(args.service.cors_origins.len());
    for origin in &args.service.cors_origins {
        let value = HeaderValue::from_str(origin.trim_end_matches('/'))
            .ok()
            .filter(|_| origin.starts_with("http://") || origin.starts_with("https://"))
            .ok_or_else(|| coded(StartError::CorsOrigin(origin.clone())))?;
        cors_origins.push(value);
    }
    let service = &args.service;
    let run_defaults = RunDefaults {
        time_zone: args.data.time_zone.clone(),
        formatted_values: args.data.formatted_values,
    };
    let mut limits = Limits::default();
    limits.body_limit = service.body_limit;
    limits.request_timeout = service.request_timeout;
    limits.concurrency_limit = service.concurrency_limit as usize;
    limits.body_read_timeout = service.body_read_timeout;
    let mut config = ServerConfig::default()
        .with_addr(addr)
        .with_limits(limits)
        .with_connections(
            ConnectionLimits::default()
                .with_header_read_timeout(service.header_read_timeout)
                .with_max_connections(service.max_connections as usize)
                .with_shutdown_grace(service.shutdown_grace),
        )
        .with_run_defaults(run_defaults)
        .with_stream(args.stream.config());
    config.cors_origins = cors_origins;
    config.allowed_hosts.clone_from(&service.allowed_hosts);
    config.fixed_now = args.data.now;
    config.metrics_addr = service.metrics_addr;
    let mut state = state.config(config).access(access);
    if let Some(mirror) = mirror {
        state = state.mirror(mirror);
    }
    Ok(state.build(backend))
}

/// How long the service keeps Dataverse answers unless `--cache-ttl` says otherwise.
const SERVE_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);
