//! Command-line flags of the server, shared by the `convq-http` binary and `convq serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use convq_backend::{Backend, DataverseClient, DataverseConfig, EmbeddedStore};
use convq_core::Options;

use crate::{AppState, Limits, ServerConfig};

/// The environment variable that holds the Dataverse bearer token (never a flag: flags show up
/// in process listings and shell history).
pub const TOKEN_VAR: &str = "CONVQ_DATAVERSE_TOKEN";

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
                with the bearer token from CONVQ_DATAVERSE_TOKEN"
    )]
    pub dataverse: Option<String>,

    /// Compile options as JSON (the camelCase form of convq_core::Options, e.g.
    /// {"unknownColumns":"error"}), or @FILE to read them from a file.
    #[arg(long, value_name = "JSON|@FILE")]
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

    /// Timeout of one Dataverse call, all pages included (e.g. 20s).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", requires = "dataverse")]
    pub dataverse_timeout: Option<Duration>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// `--dataverse` without a token in the environment.
    #[error("--dataverse needs a bearer token in the {TOKEN_VAR} environment variable")]
    MissingToken,
    /// The Dataverse client could not be configured.
    #[error(transparent)]
    Backend(#[from] convq_backend::BackendError),
    /// The `--data` file could not be loaded.
    #[error(transparent)]
    Store(#[from] convq_backend::StoreError),
    /// `--options` is not valid options JSON.
    #[error("--options is not valid: {0}")]
    Options(String),
    /// `--cors-origin` is not a header value.
    #[error("--cors-origin {0:?} is not a valid origin")]
    CorsOrigin(String),
    /// Binding or serving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl StartError {
    /// A stable snake_case code, like every other error of the project.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::Backend(error) => error.code(),
            Self::Store(error) => error.code(),
            Self::Options(_) => "invalid_options",
            Self::CorsOrigin(_) => "invalid_cors_origin",
            Self::Io(_) => "io_error",
        }
    }
}

impl ServeArgs {
    /// The server configuration and the state (backend loaded, options parsed) these flags ask
    /// for. Reads the token from the environment when `--dataverse` is given.
    ///
    /// # Errors
    /// A missing token, an unreadable `--data` file, bad `--options` or a bad origin.
    pub fn build(&self) -> Result<(ServerConfig, AppState), StartError> {
        let options = self.options()?;
        let backend: Arc<dyn Backend> = match (&self.dataverse, &self.data) {
            (Some(url), _) => {
                let token = std::env::var(TOKEN_VAR)
                    .ok()
                    .filter(|t| !t.trim().is_empty())
                    .ok_or(StartError::MissingToken)?;
                let mut config = DataverseConfig::new(url.clone(), token.as_str());
                if let Some(timeout) = self.dataverse_timeout {
                    config.total_timeout = timeout;
                }
                Arc::new(DataverseClient::new(config)?)
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
            limits: Limits::default()
                .with_body_limit(self.body_limit)
                .with_request_timeout(self.request_timeout)
                .with_concurrency_limit(self.concurrency_limit as usize),
            cors_origins,
        };
        let state = AppState::new(backend, options).with_config(&config);
        Ok((config, state))
    }

    /// Builds everything, binds and serves until SIGINT/SIGTERM (see [`crate::Server::run`]).
    ///
    /// # Errors
    /// As [`ServeArgs::build`], or the address cannot be bound.
    pub async fn run(&self) -> Result<(), StartError> {
        let (config, state) = self.build()?;
        crate::serve(config, state, crate::shutdown_signal()).await?;
        Ok(())
    }

    fn options(&self) -> Result<Options, StartError> {
        let Some(given) = &self.options else {
            return Ok(Options::default());
        };
        let text = match given.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| StartError::Options(format!("cannot read {path}: {e}")))?,
            None => given.clone(),
        };
        let options: Options =
            serde_json::from_str(&text).map_err(|e| StartError::Options(e.to_string()))?;
        // A bad base URL would fail every request; fail at start instead.
        if let Err(error) = convq_core::compile(
            r#"{"agentId":"00000000-0000-0000-0000-000000000000"}"#,
            &options,
        ) {
            return Err(StartError::Options(error.to_string()));
        }
        Ok(options)
    }
}

/// `250ms`, `30s`, `2m`, or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, "s"), |i| text.split_at(i));
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 30s or 2m"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(value),
        "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        _ => return Err(format!("{text:?} has an unknown unit; use ms, s or m")),
    };
    if duration.is_zero() {
        return Err("the duration must be more than zero".to_owned());
    }
    Ok(duration)
}

/// Logs to stderr, one line per event; `RUST_LOG` overrides the default `info` level.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
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
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        for bad in ["", "s", "0s", "1h", "-1s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
