//! Signing in and checking callers, end to end with the real `convq serve`:
//!
//! - `Identity`: the App Service managed identity endpoint (`IDENTITY_ENDPOINT` /
//!   `IDENTITY_HEADER`) on 127.0.0.1, issuing short-lived tokens; `azure_identity`'s real
//!   `ManagedIdentityCredential` talks to it (no request ever goes to 169.254.169.254).
//! - `Org`: the simulated organization (`convq-simorg`), scripted to accept only unexpired tokens
//!   the identity endpoint issued (or, in pass-through, any caller's token, each recorded); a
//!   token can be revoked mid-run.
//! - `Jwks`: a tenant's signing keys, from an RSA key generated at test time.
//!
//! Every run is at `RUST_LOG=trace`, and no log line may contain a token, key or secret.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::Uri;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use convq_simorg::{Call, Reply, SimOrg};
use serde_json::{Value, json};

use super::process::Process;
use super::{WAITING, client, closed_port, get_status, serve_local};

const IDENTITY_SECRET: &str = "identity-header-secret-7c1f";

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Tokens issued, with their expiry (Unix seconds), shared by the identity endpoint and the org.
#[derive(Default)]
pub(crate) struct Tokens {
    pub(crate) issued: Mutex<HashMap<String, u64>>,
    pub(crate) revoked: Mutex<Vec<String>>,
    pub(crate) hits: AtomicUsize,
}

struct Identity {
    endpoint: String,
    tokens: Arc<Tokens>,
}

#[derive(Clone)]
struct IdentityState {
    tokens: Arc<Tokens>,
    lifetime: u64,
}

impl Identity {
    /// Issues `tok-<n>-…` tokens that expire `lifetime` seconds after issue (Unix seconds, as
    /// App Service does).
    async fn start(lifetime: u64) -> Self {
        let tokens = Arc::new(Tokens::default());
        let state = IdentityState {
            tokens: Arc::clone(&tokens),
            lifetime,
        };
        let router = Router::new()
            .route("/msi/token", get(issue))
            .with_state(state);
        let base = serve_local(router).await;
        Self {
            endpoint: format!("{base}/msi/token"),
            tokens,
        }
    }

    fn hits(&self) -> usize {
        self.tokens.hits.load(Ordering::SeqCst)
    }
}

/// A JSON answer (the crate builds axum without its `json` feature).
pub(crate) fn json_answer(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        value.to_string(),
    )
        .into_response()
}

async fn issue(State(state): State<IdentityState>, uri: Uri, headers: HeaderMap) -> Response {
    let resource = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("resource="))
        .unwrap_or_default()
        .to_owned();
    if headers
        .get("x-identity-header")
        .is_none_or(|v| v != IDENTITY_SECRET)
    {
        return (StatusCode::UNAUTHORIZED, "bad identity header").into_response();
    }
    let n = state.tokens.hits.fetch_add(1, Ordering::SeqCst) + 1;
    let token = format!("tok-{n}-{:x}", unix_now().wrapping_mul(2_654_435_761));
    let expires_on = unix_now() + state.lifetime;
    state
        .tokens
        .issued
        .lock()
        .unwrap()
        .insert(token.clone(), expires_on);
    json_answer(
        StatusCode::OK,
        &json!({
            "access_token": token,
            "expires_on": expires_on.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }),
    )
}

/// The Dataverse organization: the simulated one, scripted to accept only unexpired tokens the
/// identity endpoint issued (or, in pass-through, any token).
pub(crate) struct Org {
    pub(crate) url: String,
    org: SimOrg,
}

impl Org {
    /// `tokens`: the issued tokens to accept; `None`: pass-through, any token accepted.
    pub(crate) async fn start(tokens: Option<Arc<Tokens>>) -> Self {
        let org = SimOrg::scripted(move |call: &Call<'_>| {
            let token = call.request.bearer().unwrap_or_default();
            let valid = match &tokens {
                None => !token.is_empty(),
                Some(tokens) => {
                    let expiry = tokens.issued.lock().unwrap().get(token).copied();
                    let revoked = tokens.revoked.lock().unwrap().iter().any(|t| t == token);
                    // Expired at the start of its expiry second: stricter than Entra, on purpose.
                    expiry.is_some_and(|at| unix_now() < at) && !revoked
                }
            };
            if !valid {
                return Reply::dataverse_error(401, "0x80072560", "token refused");
            }
            let who = token.split('-').take(2).collect::<Vec<_>>().join("-");
            Reply::records(&[json!({"activityid": "a1", "who": who})])
        })
        .await
        .unwrap();
        Self {
            url: org.url().to_owned(),
            org,
        }
    }

    /// The bearer token of each request received, in order (`""` when it had none).
    pub(crate) fn seen(&self) -> Vec<String> {
        self.org
            .requests()
            .iter()
            .map(|seen| seen.bearer().unwrap_or_default().to_owned())
            .collect()
    }

    /// How many requests it refused (401).
    pub(crate) fn rejected(&self) -> u64 {
        self.org.stats().rejected
    }
}

pub(crate) async fn post(url: &str, headers: &[(&str, &str)]) -> (u16, HeaderMap, Value) {
    let mut request = client()
        .post(url)
        .header("content-type", "application/json")
        .body(WAITING);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, headers, body)
}

/// The `WWW-Authenticate` challenge of a refusal.
pub(crate) fn challenge(headers: &HeaderMap) -> &str {
    headers["www-authenticate"]
        .to_str()
        .expect("a visible-ASCII challenge")
}

/// A request that must succeed; its body.
pub(crate) async fn post_ok(url: &str) -> Value {
    let (status, _, body) = post(url, &[]).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A request that fails because the service cannot sign in to Dataverse: 502
/// `dataverse_auth_failed` with a message that starts with `prefix`; the message.
pub(crate) async fn assert_sign_in_fails(url: &str, prefix: &str) -> String {
    let (status, _, body) = post(url, &[]).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "dataverse_auth_failed");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with(prefix), "{message}");
    message.to_owned()
}

/// `n` requests sent at once, each checked to succeed; their bodies, in order.
async fn post_at_once(url: &str, n: usize) -> Vec<Value> {
    let requests: Vec<_> = (0..n)
        .map(|_| {
            let url = url.to_owned();
            tokio::spawn(async move { post(&url, &[]).await })
        })
        .collect();
    let mut bodies = Vec::with_capacity(n);
    for request in requests {
        let (status, _, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
        bodies.push(body);
    }
    bodies
}

/// Issued tokens, for the log check.
pub(crate) fn issued(tokens: &Tokens) -> Vec<String> {
    tokens.issued.lock().unwrap().keys().cloned().collect()
}

fn check_log_has_no_tokens(process: &Process, tokens: &Tokens) {
    let issued = issued(tokens);
    let mut secrets: Vec<&str> = issued.iter().map(String::as_str).collect();
    secrets.push(IDENTITY_SECRET);
    process.assert_log_free_of(&secrets);
}

/// An identity endpoint issuing tokens for `lifetime` seconds, an org that accepts them, and a
/// service signed in there with the managed identity.
async fn managed_identity_run(lifetime: u64) -> (Identity, Org, Process) {
    let identity = Identity::start(lifetime).await;
    let org = Org::start(Some(Arc::clone(&identity.tokens))).await;
    let process = managed_identity_service(&identity, &org).await;
    (identity, org, process)
}

/// A service signed in with a managed identity. The answer cache is off: these tests watch
/// what each request sends to the org.
async fn managed_identity_service(identity: &Identity, org: &Org) -> Process {
    Process::start(
        &[
            "--dataverse",
            &org.url,
            "--auth",
            "managed-identity",
            "--cache-ttl",
            "0",
        ],
        &[
            ("IDENTITY_ENDPOINT", &identity.endpoint),
            ("IDENTITY_HEADER", IDENTITY_SECRET),
        ],
    )
    .await
}

#[tokio::test]
async fn the_service_runs_across_three_token_lifetimes_without_a_failed_request() {
    let (identity, org, process) = managed_identity_run(3).await;
    let url = process.url("/getConversations");
    let started = Instant::now();
    let mut requests = 0;
    // About 10 s: more than three 3-second token lifetimes; 4 requests at a time.
    while started.elapsed() < Duration::from_secs(10) && requests < 2_000 {
        requests += post_at_once(&url, 4).await.len();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hits = identity.hits();
    assert_eq!(org.rejected(), 0);
    // A new token every 1.5 to 3 s (refreshed half a lifetime early).
    assert!(
        (4..=14).contains(&hits),
        "{hits} tokens for {requests} requests"
    );
    let distinct: std::collections::HashSet<String> = org.seen().into_iter().collect();
    assert!(distinct.len() >= 4, "{distinct:?}");
    process.assert_logged("signed in to Dataverse with managed identity");
    check_log_has_no_tokens(&process, &identity.tokens);
}

#[tokio::test]
async fn concurrent_requests_at_expiry_cause_one_refresh() {
    let (identity, _org, process) = managed_identity_run(4).await;
    let url = process.url("/getConversations");
    post_ok(&url).await;
    // The startup sign-in and the first request share one token.
    assert_eq!(identity.hits(), 1);
    // Past the refresh point (half of the 4-second lifetime), 20 requests at once.
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    post_at_once(&url, 20).await;
    assert_eq!(identity.hits(), 2, "one refresh for the whole burst");
    check_log_has_no_tokens(&process, &identity.tokens);
}

#[tokio::test]
async fn a_401_mid_run_recovers_through_one_refresh() {
    // Hour-long tokens: azure_identity's own cache would hand back the revoked one; convq must
    // get a genuinely new token.
    let (identity, _org, process) = managed_identity_run(3600).await;
    let url = process.url("/getConversations");
    let body = post_ok(&url).await;
    assert_eq!(body["result"]["values"][0]["who"], "tok-1");
    let first = issued(&identity.tokens);
    identity.tokens.revoked.lock().unwrap().extend(first);
    for body in post_at_once(&url, 5).await {
        assert_eq!(body["result"]["values"][0]["who"], "tok-2");
    }
    assert_eq!(identity.hits(), 2, "one refresh after the 401s");
    post_ok(&url).await;
    assert_eq!(identity.hits(), 2);
    // Revoke the second token too, and make new ones fail to sign in: 401 after one refresh.
    let second = issued(&identity.tokens);
    identity.tokens.revoked.lock().unwrap().extend(second);
    let (status, _, body) = post(&url, &[]).await;
    assert_eq!(status, 200, "the third token is fine: {body}");
    check_log_has_no_tokens(&process, &identity.tokens);
}

#[tokio::test]
async fn a_token_dataverse_keeps_refusing_fails_with_dataverse_unauthorized() {
    let identity = Identity::start(3600).await;
    // This org knows no token at all.
    let org = Org::start(Some(Arc::new(Tokens::default()))).await;
    let process = managed_identity_service(&identity, &org).await;
    let (status, _, body) = post(&process.url("/getConversations"), &[]).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "dataverse_unauthorized");
    // The first token, one refresh, one retry: two calls to Dataverse, two tokens.
    assert_eq!(org.rejected(), 2);
    assert_eq!(identity.hits(), 2);
}

#[tokio::test]
async fn without_a_token_the_service_is_not_ready_and_says_why() {
    // A closed port on loopback: the identity endpoint is down.
    let closed = closed_port();
    let org = Org::start(None).await;
    let endpoint = format!("http://{closed}/msi/token");
    let process = Process::start(
        &["--dataverse", &org.url, "--auth", "managed-identity"],
        &[
            ("IDENTITY_ENDPOINT", &endpoint),
            ("IDENTITY_HEADER", IDENTITY_SECRET),
        ],
    )
    .await;
    assert_eq!(get_status(&process.url("/readyz")).await, 503);
    let message = assert_sign_in_fails(
        &process.url("/getConversations"),
        "cannot sign in to Dataverse with managed identity: ",
    )
    .await;
    assert!(!message.contains(IDENTITY_SECRET));
    assert!(org.seen().is_empty(), "nothing reached the org");
    process.assert_log_free_of(&[IDENTITY_SECRET]);
}

#[tokio::test]
async fn readiness_follows_the_identity_endpoint() {
    let (_identity, _org, process) = managed_identity_run(3600).await;
    assert_eq!(get_status(&process.url("/readyz")).await, 200);
}

#[tokio::test]
async fn pass_through_sends_each_callers_token_and_only_theirs() {
    let org = Org::start(None).await;
    let process = Process::start(&["--dataverse", &org.url, "--auth", "passthrough"], &[]).await;
    let url = process.url("/getConversations");
    let callers = ["alice-token-91f2", "bob-token-77ac", "carol-token-1d0e"];
    let requests: Vec<_> = (0..30)
        .map(|i| {
            let url = url.clone();
            let token = callers[i % 3];
            tokio::spawn(async move {
                let bearer = format!("Bearer {token}");
                let (status, _, body) = post(&url, &[("authorization", &bearer)]).await;
                (token, status, body)
            })
        })
        .collect();
    for request in requests {
        let (token, status, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
        // The org echoes the first two dash-separated parts of the token it got.
        let expected: Vec<&str> = token.split('-').take(2).collect();
        assert_eq!(body["result"]["values"][0]["who"], expected.join("-"));
    }
    // Same-identity calls may share a request or a cached answer (coalescing and the cache are
    // on); calls of different callers never do, so each token went out, and only these did.
    let seen = org.seen();
    assert!((3..=30).contains(&seen.len()), "{seen:?}");
    for token in callers {
        let sent = seen.iter().filter(|t| *t == token).count();
        assert!((1..=10).contains(&sent), "{token}: {seen:?}");
    }

    let (status, headers, body) = post(&url, &[]).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(challenge(&headers).starts_with("Bearer"));
    assert_eq!(org.seen().len(), seen.len(), "no call without a token");
    // The access log names callers by fingerprint.
    assert!(process.log().contains("bearer:"), "{}", process.log());
    process.assert_log_free_of(&callers);
}

pub(crate) fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "convq-auth-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn api_keys_are_accepted_and_everything_else_refused() {
    use sha2::Digest;
    let hashed: String = sha2::Sha256::digest(b"second-key-5b9d")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let keys = temp_file(
        "keys",
        &format!("# the team's keys\nfirst-key-0a1e\nsha256:{hashed}\n"),
    );
    let process = Process::start(&["--api-keys", keys.to_str().unwrap()], &[]).await;
    let url = process.url("/getConversations");

    for headers in [
        vec![],
        vec![("x-api-key", "wrong-key")],
        vec![("authorization", "Bearer wrong-key")],
        vec![("authorization", "Basic Zmlyc3Qta2V5LTBhMWU=")],
        vec![("x-api-key", hashed.as_str())],
    ] {
        let (status, response_headers, body) = post(&url, &headers).await;
        assert_eq!(status, 401, "{headers:?}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        assert_eq!(body["status"], false);
        assert!(response_headers.contains_key("www-authenticate"));
    }
    // The 401 without a credential names only what this service accepts: keys, not tokens.
    assert_credential_asked_for(
        &url,
        "an API key (x-api-key or Authorization: Bearer)",
        "ask the service's operator for a key",
    )
    .await;
    let (status, _, body) = post(&url, &[("x-api-key", "first-key-0a1e")]).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = post(&url, &[("authorization", "Bearer second-key-5b9d")]).await;
    assert_eq!(status, 200, "{body}");
    for open in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(get_status(&process.url(open)).await, 200, "{open}");
    }
    // How to call is readable before having a key, like the probes.
    assert_eq!(get_status(&process.url("/openapi.json")).await, 200);
    process.assert_logged("key 1");
    process.assert_logged("key 2");

    // SIGHUP re-reads the file.
    std::fs::write(&keys, "third-key-c3d4\n").unwrap();
    process.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !process.log().contains("API keys re-read") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _, _) = post(&url, &[("x-api-key", "first-key-0a1e")]).await;
    assert_eq!(status, 401);
    let (status, _, _) = post(&url, &[("x-api-key", "third-key-c3d4")]).await;
    assert_eq!(status, 200);
    process.assert_log_free_of(&[
        "first-key-0a1e",
        "second-key-5b9d",
        "third-key-c3d4",
        &hashed,
    ]);
}

#[tokio::test]
async fn a_held_credential_or_data_on_a_non_loopback_address_needs_caller_checks() {
    let data = temp_file("data.json", r#"{"value": []}"#);
    let data = data.to_str().unwrap();
    for (args, env) in [
        (vec!["--data", data], vec![]),
        (
            vec![
                "--dataverse",
                "https://contoso.crm.dynamics.com",
                "--auth",
                "token",
            ],
            vec![("CONVQ_DATAVERSE_TOKEN", "t")],
        ),
    ] {
        let mut full = vec!["serve", "--addr", "0.0.0.0:0"];
        full.extend(&args);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_convq"))
            .args(&full)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("[unprotected_service]"), "{stderr}");
        assert!(stderr.contains("--api-keys"), "{stderr}");
    }
    // With keys, or on purpose, it starts.
    let keys = temp_file("keys", "k-1\n");
    for extra in [
        vec!["--api-keys", keys.to_str().unwrap()],
        vec!["--allow-anonymous"],
    ] {
        let mut args = vec!["--addr", "0.0.0.0:0", "--data", data];
        args.extend(extra);
        let process = Process::try_start(&args, &[]).await;
        assert!(process.is_ok(), "{:?}", process.err());
    }
    // The sample store and pass-through need nothing.
    let process = Process::try_start(&["--addr", "0.0.0.0:0"], &[]).await;
    assert!(process.is_ok());
}

#[tokio::test]
async fn metrics_can_move_to_their_own_address() {
    // A free loopback port for the metrics listener.
    let metrics_addr = closed_port();
    let process = Process::start(&["--metrics-addr", &metrics_addr.to_string()], &[]).await;
    assert_eq!(get_status(&process.url("/metrics")).await, 404);
    post_ok(&process.url("/getConversations")).await;
    let moved = client()
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 200);
    let text = moved.text().await.unwrap();
    assert!(text.contains("getConversations"), "{text}");
}

/// A tenant's signing key, generated at test time.
pub(crate) struct Signer {
    kid: String,
    key: jsonwebtoken::EncodingKey,
    pub(crate) jwk: Value,
}

impl Signer {
    pub(crate) fn generate(kid: &str) -> Self {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::KeyPair as _;
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = pair.as_der().unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(der.as_ref())
        );
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        let public = pair.public_key();
        let jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        });
        Self {
            kid: kid.to_owned(),
            key,
            jwk,
        }
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

pub(crate) const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub(crate) const AUDIENCE: &str = "api://convq";

pub(crate) fn claims(overrides: &[(&str, Value)]) -> Value {
    let now = unix_now();
    let mut claims = json!({
        "iss": format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
        "aud": AUDIENCE,
        "exp": now + 600,
        "nbf": now - 10,
        "iat": now - 10,
        "oid": "0e9b3c2a-1111-4a5b-9c1d-2e3f4a5b6c7d",
        "roles": ["Conversations.Read"],
    });
    for (name, value) in overrides {
        claims[*name] = value.clone();
    }
    claims
}

#[tokio::test]
async fn entra_tokens_are_checked_against_the_tenants_keys() {
    let signer = Signer::generate("key-1");
    let rotated = Signer::generate("key-2");
    let stranger = Signer::generate("key-1");
    let published = Arc::new(Mutex::new(vec![signer.jwk.clone()]));
    let jwks_hits = Arc::new(AtomicUsize::new(0));
    let jwks_url = {
        let (published, hits) = (Arc::clone(&published), Arc::clone(&jwks_hits));
        let router = Router::new().route(
            "/keys",
            get(move || {
                let (published, hits) = (Arc::clone(&published), Arc::clone(&hits));
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    json_answer(
                        StatusCode::OK,
                        &json!({"keys": published.lock().unwrap().clone()}),
                    )
                }
            }),
        );
        format!("{}/keys", serve_local(router).await)
    };
    let process = Process::start(
        &[
            "--entra-tenant",
            TENANT,
            "--entra-audience",
            AUDIENCE,
            "--entra-roles",
            "Conversations.Read,Conversations.Admin",
            "--jwks-url",
            &jwks_url,
        ],
        &[],
    )
    .await;
    let url = process.url("/getConversations");
    let call = |token: String| {
        let url = url.clone();
        async move {
            let bearer = format!("Bearer {token}");
            post(&url, &[("authorization", &bearer)]).await
        }
    };

    let good = signer.sign(&claims(&[]));
    let (status, _, body) = call(good.clone()).await;
    assert_eq!(status, 200, "{body}");
    // The 401 without a credential names only what this service accepts: tokens, not keys.
    assert_credential_asked_for(
        &url,
        "an Entra ID access token (Authorization: Bearer)",
        "ask the service's operator how to get a token for it",
    )
    .await;
    let v1 = signer.sign(&claims(&[(
        "iss",
        json!(format!("https://sts.windows.net/{TENANT}/")),
    )]));
    assert_eq!(call(v1.clone()).await.0, 200);

    let now = unix_now();
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"key-1"}"#);
    let none_body = URL_SAFE_NO_PAD.encode(claims(&[]).to_string());
    let refused = [
        (
            "expired",
            signer.sign(&claims(&[("exp", json!(now - 600))])),
        ),
        (
            "not yet valid",
            signer.sign(&claims(&[("nbf", json!(now + 600))])),
        ),
        (
            "wrong audience",
            signer.sign(&claims(&[("aud", json!("api://other"))])),
        ),
        (
            "wrong issuer",
            signer.sign(&claims(&[(
                "iss",
                json!("https://login.microsoftonline.com/another-tenant/v2.0"),
            )])),
        ),
        ("wrong signature", stranger.sign(&claims(&[]))),
        ("alg none", format!("{none_header}.{none_body}.")),
        ("not a JWT", "not-a-token".to_owned()),
    ];
    for (what, token) in &refused {
        let (status, headers, body) = call(token.clone()).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{what}");
        let challenge = challenge(&headers);
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{what}: {challenge}"
        );
    }
    let (status, _, body) = post(&url, &[]).await;
    assert_eq!(status, 401, "missing: {body}");

    // Valid, but without a required role: 403.
    let no_role = signer.sign(&claims(&[("roles", json!(["Other.Role"]))]));
    let (status, headers, body) = call(no_role.clone()).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(challenge(&headers).contains("insufficient_scope"));

    // Key rotation: the tenant publishes a new key; a token signed with it is accepted after
    // one new download of the keys (5 s after the last one at most, so wait for that window).
    published.lock().unwrap().push(rotated.jwk.clone());
    let before = jwks_hits.load(Ordering::SeqCst);
    let fresh = rotated.sign(&claims(&[]));
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut status = 0;
    while Instant::now() < deadline {
        status = call(fresh.clone()).await.0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(status, 200, "the rotated key is picked up");
    assert!(jwks_hits.load(Ordering::SeqCst) > before);

    process.assert_logged("oid 0e9b3c2a-1111-4a5b-9c1d-2e3f4a5b6c7d");
    let mut secrets = vec![good.as_str(), v1.as_str(), no_role.as_str(), fresh.as_str()];
    secrets.extend(refused.iter().map(|(_, t)| t.as_str()));
    // Signatures are the secret part of a JWT; the header and claims are not.
    let signatures: Vec<&str> = secrets
        .iter()
        .filter_map(|t| t.rsplit('.').next())
        .filter(|s| s.len() > 20)
        .collect();
    process.assert_log_free_of(&signatures);
}

/// A call without a credential is refused (401) naming only the credential this service
/// accepts, and how to get one.
async fn assert_credential_asked_for(url: &str, credential: &str, hint: &str) {
    let (status, _, body) = post(url, &[]).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        body["error"]["message"],
        format!("this service needs a credential: {credential}")
    );
    assert_eq!(body["error"]["hint"], hint);
}
