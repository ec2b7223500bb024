//! The real `convq serve` as a child process on a free loopback port, with its stderr
//! collected line by line: the harness of every test that needs signals, the command line or
//! the production start-up path.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// Variables that would let a child sign in somewhere, trust another CA or leave loopback
/// through a proxy. Every child starts without them; a test sets what it needs.
const SCRUBBED: &[&str] = &[
    "CONVQ_DATAVERSE_TOKEN",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "MSI_ENDPOINT",
    "AZURE_AUTHORITY_HOST",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    // The test CA comes only from the test that sets it.
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    // Sign-in goes straight to 127.0.0.1, never through a proxy.
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// How the child logs.
#[derive(Clone, Copy)]
enum Logging {
    /// `RUST_LOG=trace` and `NO_COLOR=1`: every line a secret could reach, for the log checks.
    Trace,
    /// `RUST_LOG=info`, and colours left to the binary: stderr is a pipe, so the binary itself
    /// must choose none (the shutdown test checks that).
    Info,
}

/// `convq serve` on a free port.
pub(crate) struct Process {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Logging at trace level, with `env` on top of a scrubbed environment.
    pub(crate) async fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::try_start(args, env).await.expect("the server starts")
    }

    /// As [`Process::start`]; `Err(stderr)` when the process exits before it listens.
    pub(crate) async fn try_start(args: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        Self::spawn(Logging::Trace, args, env).await
    }

    /// Logging at info level, with `CONVQ_DATAVERSE_TOKEN=test-token` (so `--dataverse` needs no
    /// other sign-in, and the log can be checked for the token).
    pub(crate) async fn start_with_token(args: &[&str]) -> Self {
        Self::spawn(
            Logging::Info,
            args,
            &[("CONVQ_DATAVERSE_TOKEN", "test-token")],
        )
        .await
        .expect("the server starts")
    }

    async fn spawn(logging: Logging, args: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_convq"));
        command.arg("serve");
        // The address comes from the test when it sets it (a flag, CONVQ_ADDR, PORT or a
        // config file), else a free loopback port.
        let addr_given = args.iter().any(|arg| ["--addr", "--config"].contains(arg))
            || env
                .iter()
                .any(|(name, _)| ["CONVQ_ADDR", "PORT"].contains(name));
        if !addr_given {
            command.args(["--addr", "127.0.0.1:0"]);
        }
        command.args(args);
        for name in SCRUBBED {
            command.env_remove(name);
        }
        // Every flag of serve reads a CONVQ_* variable, and PORT the address: none leaks in
        // from the environment the tests run in.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CONVQ_") || name == "PORT" {
                command.env_remove(&*name);
            }
        }
        match logging {
            Logging::Trace => command.env("RUST_LOG", "trace").env("NO_COLOR", "1"),
            Logging::Info => command.env("RUST_LOG", "info"),
        };
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn convq serve");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = oneshot::channel();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = Arc::clone(&log);
        tokio::spawn(async move {
            let mut tx = Some(tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("listening on ").nth(1)
                    && let Some(tx) = tx.take()
                {
                    // Text or JSON logs: the URL ends at a space or a quote. Every interface
                    // (PORT) is reached through loopback.
                    let addr = rest
                        .split(|c: char| c.is_whitespace() || c == '"')
                        .next()
                        .unwrap_or_default()
                        .replace("//0.0.0.0:", "//127.0.0.1:");
                    let _ = tx.send(addr);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let mut process = Self {
            child,
            base: String::new(),
            log,
        };
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(base)) => {
                process.base = base;
                Ok(process)
            }
            _ => Err(process.exit_log(Duration::from_secs(5)).await.1),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The address the server listens on, for raw TCP.
    pub(crate) fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Sends signal `name` (`TERM`, `INT`, `HUP`) with `kill`.
    pub(crate) fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit; its exit status and whole log.
    pub(crate) async fn wait(mut self) -> (std::process::ExitStatus, String) {
        let (status, log) = self.exit_log(Duration::from_secs(10)).await;
        (status.expect("the server exits within 10 s"), log)
    }

    /// The exit status (`None`: still running after `limit`) and the log, read to its end.
    async fn exit_log(&mut self, limit: Duration) -> (Option<std::process::ExitStatus>, String) {
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        // Let the reader drain the last lines.
        tokio::time::sleep(Duration::from_millis(100)).await;
        (status, self.log())
    }

    /// Checks that some log line so far contains `text`.
    pub(crate) fn assert_logged(&self, text: &str) {
        let log = self.log();
        assert!(log.contains(text), "{log}");
    }

    /// Every log line so far, checked to contain none of `secrets`.
    pub(crate) fn assert_log_free_of(&self, secrets: &[&str]) {
        let log = self.log();
        assert!(!log.is_empty());
        for line in log.lines() {
            for secret in secrets {
                assert!(
                    !line.contains(secret),
                    "{secret:?} is in a log line: {line}"
                );
            }
        }
    }
}
