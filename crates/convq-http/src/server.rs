//! Binding, serving and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::{AppState, ServerConfig, router};

/// A bound, not yet serving, server: bind first to learn the address (port 0 picks one), then run.
pub struct Server {
    listener: TcpListener,
    state: AppState,
}

impl Server {
    /// Binds `config.addr` and applies the config's limits and CORS origins to `state`.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn bind(config: &ServerConfig, state: &AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.addr).await?;
        Ok(Self {
            listener,
            state: state.with_config(config),
        })
    }

    /// The address the server listens on.
    ///
    /// # Errors
    /// The socket is gone.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting and waits for the requests in
    /// flight to finish. The request timeout bounds that wait, so shutdown needs no deadline of
    /// its own.
    ///
    /// # Errors
    /// Accepting connections failed fatally.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = self.local_addr()?;
        tracing::info!(
            %addr,
            backend = %self.state.backend().describe(),
            body_limit = self.state.limits().body_limit,
            request_timeout_ms = u64::try_from(self.state.limits().request_timeout.as_millis()).unwrap_or(u64::MAX),
            concurrency_limit = self.state.limits().concurrency_limit,
            "listening on http://{addr}"
        );
        // Answers go out whole, without waiting for the previous segment's ACK (Nagle).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        });
        axum::serve(listener, router(self.state))
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("shutting down: no new connections, finishing requests in flight");
            })
            .await?;
        tracing::info!("stopped");
        Ok(())
    }
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
