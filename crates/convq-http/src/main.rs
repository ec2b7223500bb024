//! `convq-http`: the getConversations service. `convq serve` takes the same flags.

use std::process::ExitCode;

use clap::Parser;

// glibc's allocator took about a third of the server's CPU under load (every response buffer
// triggered `malloc_consolidate`); see docs/performance.md.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Serve getConversations over HTTP: POST /getConversations, POST /query, GET /healthz,
/// /readyz, /openapi.json, /metrics. Logs go to stderr (RUST_LOG=debug for more).
#[derive(Debug, Parser)]
#[command(name = "convq-http", version)]
struct Cli {
    #[command(flatten)]
    serve: convq_http::ServeArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    convq_http::init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.serve.run()) {
        Ok(()) => ExitCode::SUCCESS,
        // Exit status 1, as `convq serve` (the server could not do its job).
        Err(error) => {
            eprintln!("error: [{}] {error}", error.code());
            ExitCode::FAILURE
        }
    }
}
