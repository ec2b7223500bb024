//! Binding, accepting connections, and graceful shutdown.
//!
//! The accept loop serves each connection with hyper's HTTP/1.1 connection builder and
//! hyper-util's tokio timer, so hyper enforces the header-read timeout; a semaphore bounds the
//! connections held open, and hyper-util's graceful-shutdown watcher closes idle connections and
//! lets requests in flight finish within a grace period. (hyper-util's `auto` builder would be
//! the same HTTP/1.1 connection here, but its graceful-shutdown support compiles HTTP/2 in,
//! which the service does not speak.)

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::{AppState, ServerConfig, router};

/// How connections are held, below the requests on them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// Longest wait for a whole request head (request line and headers). The clock also runs
    /// while a kept-alive connection waits for its next request, so it is the idle timeout too:
    /// a client that sends nothing, or half a head, is disconnected. Default 10 s.
    pub header_read_timeout: Duration,
    /// Connections open at once. Further clients wait in the listen backlog until one closes.
    /// Default 1024.
    pub max_connections: usize,
    /// After the shutdown signal: how long requests in flight may take to finish. Idle
    /// connections close at once; whatever is still open when the grace period ends (a request
    /// still running, a client still sending) is closed. Default 10 s.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl ConnectionLimits {
    /// Sets the header-read (and idle) timeout.
    #[must_use]
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets the connection limit (at least 1).
    #[must_use]
    pub fn with_max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// Sets the shutdown grace period.
    #[must_use]
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }
}

/// The log target of the "listening on" line. A subscriber should keep it at `info` whatever
/// `RUST_LOG` says: with port 0 it is the only way to learn the port (`convq serve` does).
pub const LISTENING_TARGET: &str = "convq_http::listening";

/// A bound, not yet serving, server: bind first to learn the address (port 0 picks one), then run.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    connections: ConnectionLimits,
}

impl Server {
    /// Binds `config.addr` and applies the config's limits, CORS origins and allowed hosts to
    /// `state`.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn bind(config: &ServerConfig, state: &AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.addr).await?;
        Ok(Self {
            listener,
            state: state.with_config(config),
            connections: config.connections.clone(),
        })
    }

    /// The address the server listens on.
    ///
    /// # Errors
    /// The socket is gone.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting, closes idle connections, and
    /// gives the requests in flight [`ConnectionLimits::shutdown_grace`] to finish before closing
    /// what is left. Returns when every connection is closed.
    ///
    /// # Errors
    /// The socket is gone before serving starts.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = self.local_addr()?;
        let Self {
            listener,
            state,
            connections: limits,
        } = self;
        tracing::info!(
            target: LISTENING_TARGET,
            %addr,
            backend = %state.backend().describe(),
            body_limit = state.limits().body_limit,
            request_timeout_ms = millis(state.limits().request_timeout),
            body_read_timeout_ms = millis(state.limits().body_read_timeout),
            concurrency_limit = state.limits().concurrency_limit,
            header_read_timeout_ms = millis(limits.header_read_timeout),
            max_connections = limits.max_connections,
            shutdown_grace_ms = millis(limits.shutdown_grace),
            "listening on http://{addr}"
        );
        let app = router(state.clone());
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout);
        let graceful = GracefulShutdown::new();
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let mut tasks = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let slot = match Arc::clone(&slots).try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached: new clients wait until a connection closes"
                    );
                    tokio::select! {
                        () = &mut shutdown => break,
                        slot = Arc::clone(&slots).acquire_owned() => {
                            slot.expect("the connection semaphore is never closed")
                        }
                    }
                }
            };
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        accept_failed(&error).await;
                        continue;
                    }
                },
            };
            // Finished connections leave their results in the set until collected.
            while tasks.try_join_next().is_some() {}
            // Answers go out whole, without waiting for the previous segment's ACK (Nagle).
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
            let connection = builder
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
            let connection = graceful.watch(connection);
            let state = state.clone();
            tasks.spawn(async move {
                let _slot = slot;
                if let Err(error) = connection.await {
                    connection_failed(&error, peer, &state);
                }
            });
        }
        // Stop accepting: new clients are refused from here on.
        drop(listener);
        tracing::info!(
            open_connections = tasks.len(),
            grace_ms = millis(limits.shutdown_grace),
            "shutting down: no new connections, finishing requests in flight"
        );
        if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                open_connections = tasks.len(),
                "grace period over: closing the connections still open"
            );
        }
        // Aborting a connection's task drops its request futures, and with them their work.
        tasks.shutdown().await;
        tracing::info!("stopped");
        Ok(())
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// An accept error is about one connection (it was reset before being accepted) or about the
/// process (out of file descriptors); either way the loop goes on, after a pause in the second
/// case so that it does not spin while nothing can be accepted.
async fn accept_failed(error: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    ) {
        tracing::debug!(%error, "a connection was lost before it was accepted");
        return;
    }
    tracing::error!(%error, "cannot accept connections; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Requests hyper answers itself, before the service sees them (a bad request line or header,
/// a head over the size limit), get an access-log line and a metrics count here: hyper writes a
/// bare 400/414/431 for them, and the service cannot give them the envelope.
fn connection_failed(error: &hyper::Error, peer: SocketAddr, state: &AppState) {
    use axum::http::StatusCode;
    if error.is_parse() {
        let status = if error.is_parse_too_large() {
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        state
            .inner
            .metrics
            .observe("malformed", "OTHER", status, 0.0);
        tracing::info!(
            target: "convq_http::access",
            route = "malformed",
            status = status.as_u16(),
            %peer,
            error = %error,
            "request"
        );
    } else if error.is_timeout() {
        tracing::debug!(
            %peer,
            "connection closed: no whole request head within the header-read timeout"
        );
    } else {
        tracing::debug!(%peer, %error, "connection closed with an error");
    }
}

/// Why the service stopped (or never started) once its state was built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address cannot be listened on (in use, not local, not permitted).
    #[error("cannot listen on {addr}: {error}{}", bind_hint(error))]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Whether another socket holds the address (the usual cause, with its own code).
        in_use: bool,
        /// Why (in the message, not a `source`: the command line prints the message alone).
        error: std::io::Error,
    },
    /// Serving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

convq_core::error_codes! {
    /// The codes of [`ServeError`], with what each means; `docs/reference/errors.md` lists them
    /// under "Starting convq".
    pub static SERVE_ERROR_CODES: [(&'static str, &'static str)] for ServeError {
        Self::Bind { in_use: true, .. } => ("address_in_use", "Another process listens on the `--addr` address; the message names it."),
        Self::Bind { .. } => ("cannot_listen", "The `--addr` address cannot be listened on (not an address of this machine, or a privileged port)."),
        Self::Io(_) => ("io_error", "Serving failed on an I/O error after the start."),
    }
}

impl ServeError {
    /// The address cannot be listened on.
    fn bind(addr: SocketAddr, error: std::io::Error) -> Self {
        Self::Bind {
            addr,
            in_use: error.kind() == std::io::ErrorKind::AddrInUse,
            error,
        }
    }
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

/// The service as `convq serve` runs it: binds the state's address and serves until SIGINT or
/// SIGTERM (see [`Server::run`]). With API keys, SIGHUP re-reads the key file; with
/// [`ServerConfig::metrics_addr`], `/metrics` is served there; the backend is asked to get
/// ready (sign in) at once, so that the log says with what (or why not) before the first
/// request.
///
/// # Errors
/// An address cannot be bound, or serving failed.
pub async fn run(state: AppState) -> Result<(), ServeError> {
    let config = state.config().clone();
    let shutdown = shutdown_signal();
    #[cfg(unix)]
    if let Some(keys) = state.access().api_keys().cloned() {
        reload_keys_on_hangup(keys)?;
    }
    let mut background = Vec::new();
    if let Some(addr) = config.metrics_addr {
        let listener = TcpListener::bind(addr).await?;
        tracing::info!(addr = %listener.local_addr()?, "metrics on http://{}/metrics", listener.local_addr()?);
        let router = crate::metrics_router(state.clone());
        background.push(tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "the metrics listener failed");
            }
        }));
    }
    let ready = state.clone();
    background.push(tokio::spawn(async move {
        if let Err(reason) = ready.backend().check_ready().await {
            tracing::warn!(%reason, "cannot sign in to Dataverse yet; /readyz says not ready until it can");
        }
    }));
    let served: Result<(), ServeError> = async {
        let server = Server::bind(&config, &state)
            .await
            .map_err(|error| ServeError::bind(config.addr, error))?;
        server.run(shutdown).await?;
        Ok(())
    }
    .await;
    for task in background {
        task.abort();
    }
    served
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

/// Binds `config.addr` and serves `state` until `shutdown` completes (see [`Server::run`]).
///
/// # Errors
/// The address cannot be bound, or serving failed.
pub async fn serve(
    config: ServerConfig,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    Server::bind(&config, &state).await?.run(shutdown).await
}
/// A future that completes on SIGINT (Ctrl-C) or SIGTERM (what container runtimes and systemd
/// send).
///
/// The signal handlers are installed when this function is called, not when the future is first
/// polled: a signal that arrives after the server logs "listening" but before the graceful
/// shutdown task first runs must not kill the process. Call it inside the tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |installed: std::io::Result<tokio::signal::unix::Signal>,
                        name: &'static str| async move {
                match installed {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(error) => {
                        tracing::error!(%error, "cannot listen for {name}");
                        std::future::pending::<()>().await;
                    }
                }
            };
            tokio::select! {
                () = wait(interrupt, "SIGINT") => tracing::info!("SIGINT received"),
                () = wait(terminate, "SIGTERM") => tracing::info!("SIGTERM received"),
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(error) = tokio::signal::ctrl_c().await {
                tracing::error!(%error, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
            tracing::info!("SIGINT received");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_serve_error_code_is_listed() {
        let io = || std::io::Error::other("x");
        let errors = [
            ServeError::bind(
                SocketAddr::from(([127, 0, 0, 1], 1)),
                std::io::ErrorKind::AddrInUse.into(),
            ),
            ServeError::bind(SocketAddr::from(([127, 0, 0, 1], 1)), io()),
            ServeError::Io(io()),
        ];
        let codes: Vec<&str> = errors.iter().map(ServeError::code).collect();
        let listed: Vec<&str> = SERVE_ERROR_CODES.iter().map(|(code, _)| *code).collect();
        assert_eq!(codes, listed);
    }
}
