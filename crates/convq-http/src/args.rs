//! Command-line flags of the server, shared by the `convq-http` binary and `convq serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::http::HeaderValue;
use convq_backend::{Backend, EmbeddedStore};
use convq_core::{DaysReading, Options};
use convq_dataverse::{ConnectOptions, DataverseAuth};

use crate::auth::{AccessArgs, AccessError, DataverseAuthArgs};
use crate::{AppState, ConnectionLimits, Limits, ServerConfig};

/// The environment variable that holds a static Dataverse bearer token (never a flag: flags
/// show up in process listings and shell history).
pub use convq_dataverse::TOKEN_VAR;

/// Flags of the getConversations service.
#[derive(Debug, Clone, clap::Args)]
#[non_exhaustive]
pub struct ServeArgs {
    /// Address to listen on. Port 0 picks a free port (the log line says which).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT")]
    pub addr: SocketAddr,

    /// Answer from this conversation file (a Web API response body, a JSON array or NDJSON)
    /// instead of the built-in sample store.
    #[arg(long, value_name = "FILE", conflicts_with = "dataverse")]
    pub data: Option<PathBuf>,

    /// The Dataverse organization to answer from (the help text spells out an example URL,
    /// which rustdoc would otherwise flag as a bare link).
    #[arg(
        long,
        value_name = "URL",
        help = "Answer from this Dataverse organization (e.g. https://contoso.crm.dynamics.com), \
                signed in as --auth says"
    )]
    pub dataverse: Option<String>,

    /// How to sign in to Dataverse.
    #[command(flatten)]
    pub dataverse_auth: DataverseAuthArgs,

    /// Who may call the service.
    #[command(flatten)]
    pub access: AccessArgs,

    /// "Now" for createdBeforeDays with a store (RFC 3339, e.g. 2026-11-20T12:00:00Z, near the
    /// sample store's dates); the clock by default. Dataverse always uses its own clock.
    #[arg(long, value_name = "RFC3339", value_parser = parse_now, conflicts_with = "dataverse")]
    pub now: Option<SystemTime>,

    /// Compile options: a JSON file, or the JSON itself (the camelCase form of
    /// convq_core::Options, e.g. {"unknownColumns":"error"}).
    #[arg(long, value_name = "FILE|JSON")]
    pub options: Option<String>,

    /// Allow this browser origin (CORS); repeat for several. Without it, no CORS headers.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,

    /// Largest request body in bytes.
    #[arg(long, default_value_t = 64 * 1024, value_name = "BYTES")]
    pub body_limit: usize,

    /// Longest a request may take, backend call included (e.g. 30s, 500ms, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub request_timeout: Duration,

    /// Requests handled at once; more wait for a slot.
    #[arg(long, default_value_t = 512, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency_limit: u32,

    /// Longest a request body may take to arrive; slower clients get 408 and are disconnected.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub body_read_timeout: Duration,

    /// Longest wait for a whole request head, and for the next request on an idle kept-alive
    /// connection; then the connection is closed.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub header_read_timeout: Duration,

    /// Connections open at once; more wait in the listen backlog.
    #[arg(long, default_value_t = 1024, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// On SIGTERM/SIGINT, how long requests in flight may take to finish before the remaining
    /// connections are closed.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub shutdown_grace: Duration,

    /// Also answer requests for this Host (NAME or NAME:PORT); repeat for several. On a loopback
    /// address only localhost, 127.0.0.1 and [::1] are accepted otherwise (against DNS
    /// rebinding); on other addresses, giving it restricts the server to the listed hosts.
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub allowed_hosts: Vec<String>,

    /// What createdBeforeDays N means: created within the last N days (LastXDays, the
    /// default) or more than N days ago (OlderThanXDays). Overrides --options.
    #[arg(long, value_enum, value_name = "READING")]
    pub created_before_days: Option<DaysReadingArg>,

    /// The IANA time zone whose midnights bound createdBeforeDays days with a store (e.g.
    /// Europe/Paris); UTC by default. A request's ?timeZone= overrides it.
    #[arg(long, value_name = "ZONE", value_parser = parse_zone)]
    pub time_zone: Option<convq_backend::TimeZone>,

    /// Answer each selected property's formatted value too (lookup names, choice labels), as
    /// Dataverse does when asked; a request's ?formattedValues= overrides it.
    #[arg(long)]
    pub formatted_values: bool,

    /// Largest Dataverse page body in bytes; a larger one fails the request
    /// (dataverse_response_too_large) instead of filling memory.
    #[arg(long, default_value_t = 64 << 20, value_name = "BYTES", requires = "dataverse")]
    pub dataverse_max_page_bytes: u64,

    /// Largest Dataverse answer in bytes, all pages together.
    #[arg(long, default_value_t = 256 << 20, value_name = "BYTES", requires = "dataverse")]
    pub dataverse_max_response_bytes: u64,

    /// Timeout of one Dataverse call, all pages included (e.g. 20s). Never past the request
    /// timeout: a call gives up in time to answer dataverse_timeout.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", requires = "dataverse")]
    pub dataverse_timeout: Option<Duration>,

    /// Dataverse calls with the same query shape (all but agentId) arriving within this window
    /// share one request naming all their agents (e.g. 50ms; 0 turns it off).
    #[arg(long, default_value = "50ms", value_parser = parse_duration_or_zero, value_name = "DURATION")]
    pub coalesce_window: Duration,

    /// Keep Dataverse answers this long (e.g. 2s; 0 turns it off); the Age header of each answer
    /// says how old it is. A createdBeforeDays answer never outlives a day boundary.
    #[arg(long, default_value = "2s", value_parser = parse_duration_or_zero, value_name = "DURATION")]
    pub cache_ttl: Duration,

    /// Most Dataverse requests in flight per identity (Dataverse allows 52); more wait.
    #[arg(long, default_value_t = 52, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent: u32,
}

/// `--created-before-days`: what `createdBeforeDays: N` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DaysReadingArg {
    /// Created within the last N days: Microsoft.Dynamics.CRM.LastXDays / last-x-days.
    LastXDays,
    /// Created more than N days ago: Microsoft.Dynamics.CRM.OlderThanXDays / olderthan-x-days.
    OlderThanXDays,
}

impl From<DaysReadingArg> for DaysReading {
    fn from(reading: DaysReadingArg) -> Self {
        match reading {
            DaysReadingArg::LastXDays => DaysReading::LastXDays,
            DaysReadingArg::OlderThanXDays => DaysReading::OlderThanXDays,
        }
    }
}

fn parse_zone(text: &str) -> Result<convq_backend::TimeZone, String> {
    convq_backend::parse_time_zone(text).map_err(|e| e.to_string())
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A held credential or a data file on a non-loopback address with no caller checks.
    #[error(
        "refusing to serve {what} on {addr}, which other machines can reach, to anyone who \
         connects: add --api-keys FILE or --entra-tenant TENANT --entra-audience AUDIENCE (or \
         --allow-anonymous to serve it openly on purpose)"
    )]
    Unprotected {
        /// The listen address.
        addr: SocketAddr,
        /// What would be exposed.
        what: &'static str,
    },
    /// `--api-keys` or `--entra-*` cannot be used.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The Dataverse client could not be configured, or the `--data` file loaded.
    #[error(transparent)]
    Backend(#[from] convq_backend::BackendError),
    /// `--options` is not valid options JSON.
    #[error("--options is not valid: {0}")]
    Options(String),
    /// The `--options` file cannot be read.
    #[error("cannot read the --options file {}: {error}", path.display())]
    OptionsFile {
        /// The file as given.
        path: PathBuf,
        /// Why it cannot be read (in the message, not a `source`: both binaries print the
        /// message alone).
        error: std::io::Error,
    },
    /// `--cors-origin` is not a header value.
    #[error("--cors-origin {0:?} is not a valid origin")]
    CorsOrigin(String),
    /// The address cannot be listened on (in use, not local, not permitted).
    #[error("cannot listen on {addr}: {error}{}", bind_hint(error))]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Whether another socket holds the address (the usual cause, with its own code).
        in_use: bool,
        /// Why (in the message, not a `source`: both binaries print the message alone).
        error: std::io::Error,
    },
    /// Serving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

convq_core::error_codes! {
    /// The codes of [`StartError`] that are its own (a backend that cannot be set up reports the
    /// backend's code), with what each means; `docs/reference/errors.md` lists them.
    pub static START_ERROR_CODES: [(&'static str, &'static str)] for StartError {
        Self::Unprotected { .. } => ("unprotected_service", "A held credential or a `--data` file on a non-loopback address without `--api-keys` or `--entra-*` (add one, or `--allow-anonymous`)."),
        Self::Access(_) => ("invalid_access_settings", "`--api-keys` or `--entra-*` cannot be used (an unreadable key file or a bad line, Entra settings that cannot work); the message says which."),
        Self::Options(_) => ("invalid_options", "`--options` is not valid options JSON, or its base URL is not usable."),
        Self::OptionsFile { .. } => ("options_file_unreadable", "The `--options` file cannot be read; the message names it."),
        Self::CorsOrigin(_) => ("invalid_cors_origin", "A `--cors-origin` is not an `http(s)://host` origin."),
        Self::Bind { in_use: true, .. } => ("address_in_use", "Another process listens on the `--addr` address; the message names it."),
        Self::Bind { .. } => ("cannot_listen", "The `--addr` address cannot be listened on (not an address of this machine, or a privileged port)."),
        Self::Io(_) => ("io_error", "Serving failed on an I/O error after the start."),
    }
    else Self::Backend(error) => error.code()
}

impl From<convq_backend::StoreError> for StartError {
    fn from(error: convq_backend::StoreError) -> Self {
        Self::Backend(error.into())
    }
}

impl StartError {
    /// The address cannot be listened on.
    fn bind(addr: SocketAddr, error: std::io::Error) -> Self {
        Self::Bind {
            addr,
            in_use: error.kind() == std::io::ErrorKind::AddrInUse,
            error,
        }
    }
}

impl ServeArgs {
    /// The server configuration and the state (backend loaded, options parsed) these flags ask
    /// for. Reads the credential's settings from the environment when `--dataverse` is given.
    ///
    /// # Errors
    /// Missing credential settings, an unreadable `--data` file, bad `--options`, a bad origin,
    /// unusable `--api-keys`/`--entra-*`, or an unprotected non-loopback address.
    pub fn build(&self) -> Result<(ServerConfig, AppState), StartError> {
        let options = self.options()?;
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let passthrough = self.dataverse.is_some()
            && self.dataverse_auth.auth == convq_dataverse::AuthMode::Passthrough;
        let access = self.access.policy(passthrough)?;
        // Safe default: what only the service's own identity (or file) may read is not handed
        // to the network without a caller check.
        let exposed = match (&self.dataverse, &self.data) {
            (Some(_), _) if !passthrough => {
                Some("a Dataverse organization under the service's own identity")
            }
            (None, Some(_)) => Some("the --data file"),
            _ => None,
        };
        let unprotected = !self.addr.ip().is_loopback()
            && !access.checks_callers()
            && !self.access.allow_anonymous;
        if let (Some(what), true) = (exposed, unprotected) {
            return Err(StartError::Unprotected {
                addr: self.addr,
                what,
            });
        }
        let backend: Arc<dyn Backend> = match (&self.dataverse, &self.data) {
            (Some(url), _) => {
                let auth: DataverseAuth = self.dataverse_auth.dataverse_auth()?;
                let mut connect = ConnectOptions::default();
                connect.max_page_bytes = self.dataverse_max_page_bytes;
                connect.max_response_bytes = self.dataverse_max_response_bytes;
                if let Some(timeout) = self.dataverse_timeout {
                    connect.total_timeout = timeout;
                }
                connect.max_concurrent = self.max_concurrent as usize;
                connect.shared.coalesce_window = self.coalesce_window;
                connect.shared.cache_ttl = self.cache_ttl;
                connect.shared.status_filter = options.status_filter;
                connect.observer = Some(metrics.upstream());
                Arc::new(convq_dataverse::connect(url, auth, &connect)?)
            }
            (None, Some(path)) => Arc::new(EmbeddedStore::from_path(path)?),
            (None, None) => Arc::new(EmbeddedStore::sample()),
        };
        let mut cors_origins = Vec::with_capacity(self.cors_origins.len());
        for origin in &self.cors_origins {
            let value = HeaderValue::from_str(origin.trim_end_matches('/'))
                .ok()
                .filter(|_| origin.starts_with("http://") || origin.starts_with("https://"))
                .ok_or_else(|| StartError::CorsOrigin(origin.clone()))?;
            cors_origins.push(value);
        }
        let config = ServerConfig {
            addr: self.addr,
            limits: Limits {
                body_limit: self.body_limit,
                request_timeout: self.request_timeout,
                concurrency_limit: self.concurrency_limit as usize,
                body_read_timeout: self.body_read_timeout,
            },
            cors_origins,
            connections: ConnectionLimits::default()
                .with_header_read_timeout(self.header_read_timeout)
                .with_max_connections(self.max_connections as usize)
                .with_shutdown_grace(self.shutdown_grace),
            allowed_hosts: self.allowed_hosts.clone(),
            fixed_now: self.now,
        };
        let mut run_defaults =
            crate::RunDefaults::default().with_formatted_values(self.formatted_values);
        if let Some(zone) = &self.time_zone {
            run_defaults = run_defaults.with_time_zone(zone.clone());
        }
        let state = AppState::build(
            backend,
            options,
            &config,
            metrics,
            access,
            self.access.metrics_addr.is_none(),
        )
        .with_run_defaults(run_defaults);
        Ok((config, state))
    }

    /// Builds everything, binds and serves until SIGINT/SIGTERM (see [`crate::Server::run`]).
    /// With `--api-keys`, SIGHUP re-reads the key file; with `--metrics-addr`, `/metrics` is
    /// served there.
    ///
    /// # Errors
    /// As [`ServeArgs::build`], or an address cannot be bound.
    pub async fn run(&self) -> Result<(), StartError> {
        let (config, state) = self.build()?;
        let shutdown = crate::shutdown_signal();
        #[cfg(unix)]
        if let Some(keys) = state.inner.access.api_keys().cloned() {
            reload_keys_on_hangup(keys)?;
        }
        let mut background = Vec::new();
        if let Some(addr) = self.access.metrics_addr {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            tracing::info!(addr = %listener.local_addr()?, "metrics on http://{}/metrics", listener.local_addr()?);
            let router = crate::metrics_router(state.clone());
            background.push(tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, router).await {
                    tracing::error!(%error, "the metrics listener failed");
                }
            }));
        }
        if self.dataverse.is_some() {
            // Sign in now, so that the log says with what (or why not) before the first request.
            let backend = state.clone();
            background.push(tokio::spawn(async move {
                if let Err(reason) = backend.backend().check_ready().await {
                    tracing::warn!(%reason, "cannot sign in to Dataverse yet; /readyz says not ready until it can");
                }
            }));
        }
        let served: Result<(), StartError> = async {
            let server = crate::Server::bind(&config, &state)
                .await
                .map_err(|error| StartError::bind(config.addr, error))?;
            server.run(shutdown).await?;
            Ok(())
        }
        .await;
        for task in background {
            task.abort();
        }
        served?;
        Ok(())
    }

    fn options(&self) -> Result<Options, StartError> {
        let options = self
            .options
            .as_deref()
            .map_or_else(|| Ok(Options::default()), read_options)?;
        Ok(match self.created_before_days {
            None => options,
            Some(reading) => options.with_created_before_days(reading.into()),
        })
    }
}

/// Re-reads the API key file on each SIGHUP; a bad file keeps the keys in force.
#[cfg(unix)]
fn reload_keys_on_hangup(keys: crate::ApiKeys) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            match keys.reload() {
                Ok(count) => tracing::info!(keys = count, "SIGHUP: API keys re-read"),
                Err(error) => {
                    tracing::error!(%error, "SIGHUP: API keys not re-read; the previous keys stay");
                }
            }
        }
    });
    Ok(())
}

/// Reads an `--options` value: the options JSON itself (it starts with `{`), or the path of a
/// file that holds it (`FILE`, or `@FILE` as earlier versions spelled it). The options are
/// checked once here (a bad base URL would otherwise fail every request).
///
/// # Errors
/// [`StartError::OptionsFile`] when the file cannot be read, [`StartError::Options`] when the
/// JSON is not valid options.
pub fn read_options(given: &str) -> Result<Options, StartError> {
    let (text, from) = if given.trim_start().starts_with('{') {
        (given.to_owned(), String::new())
    } else {
        let path = given.strip_prefix('@').unwrap_or(given);
        let text = std::fs::read_to_string(path).map_err(|error| StartError::OptionsFile {
            path: PathBuf::from(path),
            error,
        })?;
        (text, format!(" in {path}"))
    };
    let options: Options =
        serde_json::from_str(&text).map_err(|e| StartError::Options(format!("{e}{from}")))?;
    if let Err(error) = convq_core::compile(
        r#"{"agentId":"00000000-0000-0000-0000-000000000000"}"#,
        &options,
    ) {
        return Err(StartError::Options(format!("{error}{from}")));
    }
    Ok(options)
}

/// What to do about a failed bind, for the two causes people hit.
fn bind_hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => {
            " (another process listens there: stop it, or pick another --addr; port 0 picks a \
             free one)"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            " (no network interface of this machine has that address: use 127.0.0.1 or 0.0.0.0)"
        }
        std::io::ErrorKind::PermissionDenied => {
            " (ports below 1024 need privileges: pick a port from 1024 up)"
        }
        _ => "",
    }
}

fn parse_now(text: &str) -> Result<SystemTime, String> {
    convq_backend::parse_timestamp(text).map_err(|e| e.to_string())
}

/// Parses a duration flag: a number with a unit, as the `humantime` crate reads it (`500ms`,
/// `20s`, `2m`, `1h 30m`, `1m30s`), or a bare number of seconds (`20`, `0.5`), which older
/// command lines used. Zero is refused: every duration here is a timeout or an interval.
///
/// Every duration flag of the CLI and the service uses this parser, so they all read alike.
///
/// # Errors
/// The text is not a duration, or it is zero; the message gives examples.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !text.is_empty() {
        text.parse::<f64>()
            .ok()
            .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
            .ok_or_else(|| format!("{text:?} is not a duration like 500ms, 20s or 2m"))?
    } else {
        humantime::parse_duration(text).map_err(|error| {
            format!("{text:?} is not a duration like 500ms, 20s or 2m ({error})")
        })?
    };
    if duration.is_zero() {
        return Err(format!(
            "{text:?} is zero; give a duration like 500ms or 20s"
        ));
    }
    Ok(duration)
}

/// [`parse_duration`], or `0` for "off".
pub fn parse_duration_or_zero(text: &str) -> Result<Duration, String> {
    if text
        .trim()
        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
        == "0"
    {
        return Ok(Duration::ZERO);
    }
    parse_duration(text)
}

/// Logs to stderr, one line per event; `RUST_LOG` overrides the default `info` level, except
/// for the line that says where the server listens, which is always printed (with port 0 it is
/// the only way to learn the port).
pub fn init_tracing() {
    init_tracing_with("info");
}

/// As [`init_tracing`], with `default` as the filter when `RUST_LOG` is not set (e.g.
/// `warn,convq_backend=info` for a command-line tool that says only how it signed in).
pub fn init_tracing_with(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
        .add_directive(
            format!("{}=info", crate::server::LISTENING_TARGET)
                .parse()
                .expect("a valid directive"),
        );
    // A second call (e.g. from a test) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in files and log collectors.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_start_error_code_is_listed() {
        let io = || std::io::Error::other("x");
        let errors = [
            StartError::Unprotected {
                addr: SocketAddr::from(([0, 0, 0, 0], 1)),
                what: "x",
            },
            StartError::Access(AccessError::Entra(String::new())),
            StartError::Options(String::new()),
            StartError::OptionsFile {
                path: PathBuf::new(),
                error: io(),
            },
            StartError::CorsOrigin(String::new()),
            StartError::bind(
                SocketAddr::from(([127, 0, 0, 1], 1)),
                std::io::ErrorKind::AddrInUse.into(),
            ),
            StartError::bind(SocketAddr::from(([127, 0, 0, 1], 1)), io()),
            StartError::Io(io()),
        ];
        let codes: Vec<&str> = errors.iter().map(StartError::code).collect();
        let listed: Vec<&str> = START_ERROR_CODES.iter().map(|(code, _)| *code).collect();
        assert_eq!(codes, listed);
    }

    #[test]
    fn durations() {
        for (text, expected) in [
            ("250ms", Duration::from_millis(250)),
            ("30s", Duration::from_secs(30)),
            ("2m", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("1m 30s", Duration::from_secs(90)),
            ("1m30s", Duration::from_secs(90)),
            (" 20s ", Duration::from_secs(20)),
            ("7", Duration::from_secs(7)),
            ("0.3", Duration::from_millis(300)),
        ] {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
        for bad in ["", "s", "0s", "0", "0ms", "-1s", "1.5.2", "20 parsecs", "."] {
            let error = parse_duration(bad).unwrap_err();
            assert!(error.contains("500ms"), "{bad}: {error}");
        }
    }
}
