//! `convq healthcheck`: asks a running `convq serve` whether it is alive, for container
//! HEALTHCHECKs and probes in images that have nothing but the binary (no curl, no shell).

use std::time::Duration;

use anyhow::{Context, bail};

use crate::Outcome;

pub(crate) const EXAMPLES: &str = "\
Examples:
  convq healthcheck                                  # http://127.0.0.1:<port of CONVQ_ADDR or PORT, else 8080>/healthz
  convq healthcheck http://127.0.0.1:8080/readyz
  HEALTHCHECK CMD [\"/convq\", \"healthcheck\"]        # in a Dockerfile";

/// Check that a running `convq serve` answers: exit 0 on a 2xx, 1 otherwise.
#[derive(Debug, clap::Args)]
pub(crate) struct HealthcheckArgs {
    /// The URL to GET. By default /healthz on 127.0.0.1 at the port the service takes from
    /// the environment (CONVQ_ADDR, then PORT), else 8080.
    #[arg(value_name = "URL")]
    url: Option<String>,

    /// How long to wait for the answer.
    #[arg(long, default_value = "5s", value_parser = crate::flags::parse_duration,
          value_name = "DURATION")]
    timeout: Duration,
}

pub(crate) fn run(args: &HealthcheckArgs) -> anyhow::Result<Outcome> {
    let url = args.url.clone().unwrap_or_else(default_url);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let status = runtime.block_on(async {
        // The service is local: a proxy from the environment must not be asked. It speaks plain
        // HTTP, so no root certificates are wanted: loading the system's would fail the check in
        // an image without a CA bundle ("No CA certificates were loaded from the system").
        let client = reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only([])
            .timeout(args.timeout)
            .build()?;
        client
            .get(&url)
            .send()
            .await
            .map(|response| response.status())
    });
    let status = status.with_context(|| format!("no answer from {url}"))?;
    if !status.is_success() {
        bail!("{url} answered {status}");
    }
    Ok(Outcome::Success)
}

/// `/healthz` on loopback at the port `convq serve` would listen on without flags.
fn default_url() -> String {
    let from_addr = std::env::var(crate::config::env_name("addr"))
        .ok()
        .and_then(|addr| addr.trim().parse::<std::net::SocketAddr>().ok())
        .map(|addr| addr.port());
    let from_port = || {
        std::env::var("PORT")
            .ok()
            .and_then(|port| port.trim().parse::<u16>().ok())
    };
    let port = from_addr.or_else(from_port).unwrap_or(8080);
    format!("http://127.0.0.1:{port}/healthz")
}
