//! `convq serve`: the getConversations HTTP service, with the same flags as the `convq-http`
//! binary (both parse `convq_http::ServeArgs`; nothing is re-declared here).

use anyhow::Context;

use crate::Outcome;

/// Starts the service and blocks until SIGINT/SIGTERM, after the requests in flight finished.
pub(crate) fn run(args: &convq_http::ServeArgs) -> anyhow::Result<Outcome> {
    convq_http::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime
        .block_on(args.run())
        .map_err(|error| anyhow::anyhow!("[{}] {error}", error.code()))?;
    Ok(Outcome::Success)
}
