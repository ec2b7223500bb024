//! Client secret and workload identity, end to end: `azure_identity` signs in over HTTPS only, so
//! `Entra` is Entra ID's v2 token endpoint (`POST /{tenant}/oauth2/v2.0/token`) over TLS on
//! 127.0.0.1, with a certificate from a CA generated for the test run.
//!
//! `convq serve` is the production build, unchanged: it finds the endpoint through
//! `AZURE_AUTHORITY_HOST` and trusts the test CA through `SSL_CERT_FILE`, the standard variable
//! that rustls' platform verifier reads on Linux (as a TLS-inspecting proxy's CA would be added).
//! A library caller passes the same through `CredentialOptions::client_options` instead.
//! Nothing here can reach login.microsoftonline.com: every child gets `AZURE_AUTHORITY_HOST`
//! with the local endpoint, or no tenant, client and secret at all (see `Process`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;

use super::auth::{
    Org, Tokens, assert_sign_in_fails, issued, json_answer, post_ok, temp_file, unix_now,
};
use super::process::Process;
use super::{closed_port, get_status};

const TENANT: &str = "8d6b3f0e-4c1a-4b8e-9f2d-5a7c1e3b9d40";
const CLIENT: &str = "0c9e4a7b-2f5d-4e18-a3b6-7d1f9c2e5a83";
const SECRET: &str = "client-secret~9Qx7.vK2_pL4";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A CA made for this test run, and a certificate it signed for 127.0.0.1.
struct TestPki {
    /// The CA certificate, PEM.
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl TestPki {
    fn new() -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair, KeyUsagePurpose,
        };
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.distinguished_name
            .push(DnType::CommonName, "convq test CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = leaf.signed_by(&leaf_key, &ca).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], leaf_key.into())
            .unwrap();
        Self {
            ca_pem: ca.pem(),
            server: Arc::new(server),
        }
    }
}

/// A TLS listener for `axum::serve`; a failed handshake (an untrusting client) is dropped.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(5), self.acceptor.accept(stream)).await
            {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// How the application proves itself.
#[derive(Clone)]
enum Proof {
    Secret(&'static str),
    /// A client assertion equal to this file's content when the request arrives.
    FederatedTokenFile(PathBuf),
}

/// A token request's form fields.
type Form = HashMap<String, String>;
/// Every token request's path and form, as received.
type Requests = Arc<Mutex<Vec<(String, Form)>>>;

/// Entra ID's token endpoint for one tenant and one application, over TLS.
struct Entra {
    /// `https://127.0.0.1:<port>`: `AZURE_AUTHORITY_HOST`.
    authority: String,
    /// The test CA as a PEM file: `SSL_CERT_FILE`.
    ca_file: PathBuf,
    ca_pem: String,
    tokens: Arc<Tokens>,
    /// Every request's path and form fields, as received.
    requests: Requests,
}

#[derive(Clone)]
struct EntraState {
    proof: Proof,
    lifetime: u64,
    tokens: Arc<Tokens>,
    requests: Requests,
}

impl Entra {
    /// Issues `tok-<n>-…` tokens valid for `lifetime` seconds to the application that shows
    /// `proof`.
    async fn start(proof: Proof, lifetime: u64) -> Self {
        let pki = TestPki::new();
        let tokens = Arc::new(Tokens::default());
        let requests = Arc::default();
        let state = EntraState {
            proof,
            lifetime,
            tokens: Arc::clone(&tokens),
            requests: Arc::clone(&requests),
        };
        let listener = TlsListener {
            tcp: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            acceptor: TlsAcceptor::from(Arc::clone(&pki.server)),
        };
        let authority = format!("https://{}", listener.tcp.local_addr().unwrap());
        let router = Router::new().fallback(token).with_state(state);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            authority,
            ca_file: temp_file("test-ca.pem", &pki.ca_pem),
            ca_pem: pki.ca_pem,
            tokens,
            requests,
        }
    }

    fn requests(&self) -> Vec<(String, Form)> {
        self.requests.lock().unwrap().clone()
    }

    fn hits(&self) -> usize {
        self.tokens.hits.load(Ordering::SeqCst)
    }

    /// What a child needs to sign in here: the endpoint, the CA, the tenant and application.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_AUTHORITY_HOST", self.authority.clone()),
            ("SSL_CERT_FILE", self.ca_file.display().to_string()),
            ("AZURE_TENANT_ID", TENANT.to_owned()),
            ("AZURE_CLIENT_ID", CLIENT.to_owned()),
        ]
    }
}

/// Entra ID for `proof`, issuing tokens valid for `lifetime` seconds, and an org that accepts
/// exactly those tokens.
async fn entra_and_org(proof: Proof, lifetime: u64) -> (Entra, Org) {
    let entra = Entra::start(proof, lifetime).await;
    let org = Org::start(Some(Arc::clone(&entra.tokens))).await;
    (entra, org)
}

/// An Entra ID error answer (`invalid_client`, as for a wrong secret).
fn aadsts(code: u32, description: &str) -> Response {
    json_answer(
        StatusCode::UNAUTHORIZED,
        &json!({
            "error": "invalid_client",
            "error_description": format!(
                "AADSTS{code}: {description} Trace ID: 5f1c0d2e-0000-4000-8000-000000000001 \
                 Correlation ID: 5f1c0d2e-0000-4000-8000-000000000002 Timestamp: 2026-12-01 12:00:00Z"
            ),
            "error_codes": [code],
            "timestamp": "2026-12-01 12:00:00Z",
            "trace_id": "5f1c0d2e-0000-4000-8000-000000000001",
            "correlation_id": "5f1c0d2e-0000-4000-8000-000000000002",
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}

async fn token(
    State(state): State<EntraState>,
    method: Method,
    uri: Uri,
    body: String,
) -> Response {
    let form: Form = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    state
        .requests
        .lock()
        .unwrap()
        .push((uri.path().to_owned(), form.clone()));
    let field = |name: &str| form.get(name).map_or("", String::as_str);
    if method != Method::POST || uri.path() != format!("/{TENANT}/oauth2/v2.0/token") {
        return json_answer(StatusCode::NOT_FOUND, &json!({"error": "not_found"}));
    }
    if field("grant_type") != "client_credentials" || field("client_id") != CLIENT {
        return json_answer(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_request", "error_description": "AADSTS900144: bad request",
                    "error_codes": [900_144]}),
        );
    }
    let proven = match &state.proof {
        Proof::Secret(secret) => field("client_secret") == *secret,
        Proof::FederatedTokenFile(file) => {
            let current = std::fs::read_to_string(file).unwrap_or_default();
            field("client_assertion_type") == ASSERTION_TYPE
                && !current.is_empty()
                && field("client_assertion") == current
        }
    };
    if !proven {
        return match state.proof {
            Proof::Secret(_) => aadsts(
                7_000_215,
                &format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request \
                     is the client secret value, not the client secret ID, for a secret added to \
                     app '{CLIENT}'."
                ),
            ),
            Proof::FederatedTokenFile(_) => aadsts(
                700_213,
                "No matching federated identity record found for presented assertion.",
            ),
        };
    }
    let n = state.tokens.hits.fetch_add(1, Ordering::SeqCst) + 1;
    let token = format!("tok-{n}-{:x}", unix_now().wrapping_mul(2_654_435_761));
    state
        .tokens
        .issued
        .lock()
        .unwrap()
        .insert(token.clone(), unix_now() + state.lifetime);
    json_answer(
        StatusCode::OK,
        &json!({
            "token_type": "Bearer",
            "expires_in": state.lifetime,
            "ext_expires_in": state.lifetime,
            "access_token": token,
        }),
    )
}

/// Every log line is free of the secret, the federated token and every issued token.
fn check_log(process: &Process, entra: &Entra, more: &[&str]) {
    let issued = issued(&entra.tokens);
    let mut secrets: Vec<&str> = issued.iter().map(String::as_str).collect();
    secrets.push(SECRET);
    secrets.extend(more);
    process.assert_log_free_of(&secrets);
}

async fn client_secret_service(entra: &Entra, org: &Org, mode: &str, secret: &str) -> Process {
    let mut env = entra.env();
    env.push(("AZURE_CLIENT_SECRET", secret.to_owned()));
    if mode == "default" {
        // Should the client secret fail, the chain's later candidates stay on this machine:
        // managed identity at a closed loopback port (never 169.254.169.254), no `az` on PATH.
        let closed = closed_port();
        let empty = temp_file("empty", "")
            .parent()
            .unwrap()
            .display()
            .to_string();
        env.push(("IDENTITY_ENDPOINT", format!("http://{closed}/msi/token")));
        env.push(("IDENTITY_HEADER", "h".to_owned()));
        env.push(("PATH", empty));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // The answer cache is off: these tests follow each request's token to the org.
    let args = ["--dataverse", &org.url, "--auth", mode, "--cache-ttl", "0"];
    Process::start(&args, &env).await
}

#[tokio::test]
async fn a_client_secret_signs_in_over_tls_and_renews_its_token() {
    let (entra, org) = entra_and_org(Proof::Secret(SECRET), 3).await;
    let process = client_secret_service(&entra, &org, "client-secret", SECRET).await;
    let url = process.url("/getConversations");
    let started = Instant::now();
    let mut requests = 0;
    // About 7 s: more than two 3-second token lifetimes, so at least three tokens.
    while started.elapsed() < Duration::from_secs(7) && requests < 1_000 {
        let body = post_ok(&url).await;
        assert!(
            body["result"]["values"][0]["who"]
                .as_str()
                .unwrap()
                .starts_with("tok-")
        );
        requests += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(org.rejected(), 0);
    let distinct: std::collections::HashSet<String> = org.seen().into_iter().collect();
    assert!(distinct.len() >= 3, "{distinct:?}");
    let hits = entra.hits();
    assert!(
        (3..=10).contains(&hits),
        "{hits} tokens for {requests} requests"
    );
    let scope = format!("{}/.default", org.url);
    for (path, form) in entra.requests() {
        assert_eq!(path, format!("/{TENANT}/oauth2/v2.0/token"));
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["client_id"], CLIENT);
        assert_eq!(form["client_secret"], SECRET);
        assert_eq!(form["scope"], scope);
    }
    process.assert_logged("signed in to Dataverse with client secret");
    check_log(&process, &entra, &[]);
}

#[tokio::test]
async fn the_default_chain_signs_in_with_the_environments_client_secret() {
    let (entra, org) = entra_and_org(Proof::Secret(SECRET), 3600).await;
    let process = client_secret_service(&entra, &org, "default", SECRET).await;
    let body = post_ok(&process.url("/getConversations")).await;
    assert_eq!(body["result"]["values"][0]["who"], "tok-1");
    process.assert_logged("signed in to Dataverse with environment client secret");
    check_log(&process, &entra, &[]);
}

#[tokio::test]
async fn a_wrong_client_secret_fails_with_dataverse_auth_failed_and_says_why() {
    let (entra, org) = entra_and_org(Proof::Secret(SECRET), 3600).await;
    let wrong = "wrong-secret~Zr8.Tq1_mW3";
    let process = client_secret_service(&entra, &org, "client-secret", wrong).await;
    assert_eq!(get_status(&process.url("/readyz")).await, 503);
    let message = assert_sign_in_fails(
        &process.url("/getConversations"),
        "cannot sign in to Dataverse with client secret: ClientSecretCredential \
         authentication failed. AADSTS7000215: Invalid client secret provided.",
    )
    .await;
    assert!(
        !message.contains(wrong) && !message.contains('\n'),
        "{message}"
    );
    // The wrong secret did reach Entra (that is how it was refused) but nothing reached the org.
    assert!(
        entra
            .requests()
            .iter()
            .all(|(_, f)| f["client_secret"] == wrong)
    );
    assert!(org.seen().is_empty());
    check_log(&process, &entra, &[wrong]);
}

/// The projected service account token, as Kubernetes writes it (a JWT, replaced every hour).
fn federated_token(n: u32) -> String {
    format!(
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Y29udnE6Y29udnEifQ.sig-{n}-Xq9"
    )
}

#[tokio::test]
async fn workload_identity_sends_the_federated_token_and_picks_up_a_rotated_one() {
    let file = temp_file("federated-token", &federated_token(1));
    let (entra, org) = entra_and_org(Proof::FederatedTokenFile(file.clone()), 3600).await;
    let mut env = entra.env();
    env.push(("AZURE_FEDERATED_TOKEN_FILE", file.display().to_string()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let process = Process::start(
        &[
            "--dataverse",
            &org.url,
            "--auth",
            "workload-identity",
            "--cache-ttl",
            "0",
        ],
        &env,
    )
    .await;
    let url = process.url("/getConversations");
    let body = post_ok(&url).await;
    assert_eq!(body["result"]["values"][0]["who"], "tok-1");
    let requests = entra.requests();
    let (path, form) = &requests[0];
    assert_eq!(path, &format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], CLIENT);
    assert_eq!(form["client_assertion_type"], ASSERTION_TYPE);
    assert_eq!(form["client_assertion"], federated_token(1));
    assert_eq!(form["scope"], format!("{}/.default", org.url));
    assert!(!form.contains_key("client_secret"));

    // Kubernetes rotates the file; then Dataverse refuses the token: the new sign-in must send
    // the file's new content (Entra here accepts only the current one).
    std::fs::write(&file, federated_token(2)).unwrap();
    let first = issued(&entra.tokens);
    entra.tokens.revoked.lock().unwrap().extend(first);
    let body = post_ok(&url).await;
    assert_eq!(body["result"]["values"][0]["who"], "tok-2");
    let requests = entra.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].1["client_assertion"], federated_token(2));
    process.assert_logged("signed in to Dataverse with workload identity");
    check_log(
        &process,
        &entra,
        &[&federated_token(1), &federated_token(2)],
    );
}

#[tokio::test]
async fn only_https_with_a_trusted_certificate_signs_in() {
    let (entra, org) = entra_and_org(Proof::Secret(SECRET), 3600).await;
    // Without SSL_CERT_FILE the test CA is not trusted: the handshake fails, no form is sent.
    let env = [
        ("AZURE_AUTHORITY_HOST", entra.authority.as_str()),
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT),
        ("AZURE_CLIENT_SECRET", SECRET),
    ];
    let process = Process::start(&["--dataverse", &org.url, "--auth", "client-secret"], &env).await;
    let message = assert_sign_in_fails(
        &process.url("/getConversations"),
        "cannot sign in to Dataverse with client secret: ClientSecretCredential \
         authentication failed.",
    )
    .await;
    // The cause, not only azure_core's "retry policy expired".
    assert!(
        message.contains("invalid peer certificate: UnknownIssuer"),
        "{message}"
    );
    assert!(entra.requests().is_empty(), "{:?}", entra.requests());
    assert!(org.seen().is_empty());
    check_log(&process, &entra, &[]);
    drop(process);

    // A plain-HTTP authority is refused at start, before anything is sent.
    let mut env = entra.env();
    env.push(("AZURE_CLIENT_SECRET", SECRET.to_owned()));
    env[0].1 = entra.authority.replace("https://", "http://");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let log = Process::try_start(&["--dataverse", &org.url, "--auth", "client-secret"], &env)
        .await
        .err()
        .expect("convq serve refuses to start");
    assert!(
        log.contains(&format!(
            "[dataverse_auth_failed] cannot sign in to Dataverse with client secret: authority \
             host doesn't use HTTPS scheme: {}",
            env[0].1
        )),
        "{log}"
    );
    assert!(!log.contains(SECRET), "{log}");
    assert!(entra.requests().is_empty());
}

/// The library: `CredentialOptions::client_options` carries the transport (a reqwest client
/// that trusts the test CA) and the cloud (the local authority), with no environment at all.
#[tokio::test]
async fn a_library_caller_passes_the_transport_and_cloud_in_the_credential_options() {
    use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
    use azure_core::http::Transport;
    use convq_backend::{Backend, RunContext, Secret};
    use convq_dataverse::{
        AuthMode, Credential, CredentialOptions, DataverseClient, DataverseConfig,
    };

    let (entra, org) = entra_and_org(Proof::Secret(SECRET), 3600).await;
    let options = |authority: &str, ca: Option<&str>| {
        let mut options = CredentialOptions::default();
        options.tenant_id = Some(TENANT.to_owned());
        options.client_id = Some(CLIENT.to_owned());
        options.client_secret = Some(Secret::new(SECRET));
        let mut cloud = CustomConfiguration::default();
        cloud.authority_host = authority.to_owned();
        options.client_options.cloud = Some(Arc::new(CloudConfiguration::Custom(cloud)));
        if let Some(ca) = ca {
            let http = reqwest::Client::builder()
                .no_proxy()
                .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
                .build()
                .unwrap();
            options.client_options.transport = Some(Transport::new(Arc::new(http)));
        }
        options
    };

    let credential = Credential::from_mode(
        AuthMode::ClientSecret,
        &options(&entra.authority, Some(&entra.ca_pem)),
    )
    .unwrap();
    let client = DataverseClient::new(DataverseConfig::new(&org.url, credential)).unwrap();
    let compiled = convq_core::compile(super::WAITING, &convq_core::Options::default()).unwrap();
    let rows = client
        .fetch(&compiled, &RunContext::at(std::time::SystemTime::now()))
        .await
        .unwrap();
    assert_eq!(rows[0]["who"], "tok-1");
    assert_eq!(
        entra.requests()[0].1["scope"],
        format!("{}/.default", org.url)
    );

    // The same options over plain HTTP: refused by azure_identity when the credential is made.
    let plain = entra.authority.replace("https://", "http://");
    let error = Credential::from_mode(
        AuthMode::ClientSecret,
        &options(&plain, Some(&entra.ca_pem)),
    )
    .unwrap_err();
    assert_eq!(error.code(), "dataverse_auth_failed");
    assert!(error.to_string().contains("HTTPS"), "{error}");
    assert!(!format!("{error} {error:?}").contains(SECRET));
    assert_eq!(entra.requests().len(), 1);
}
