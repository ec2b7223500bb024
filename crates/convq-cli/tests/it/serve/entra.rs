//! Entra ID callers end to end: what a token must carry (app roles or delegated scopes), both
//! audience forms, sovereign clouds' issuers, the start-up refusals (no role or scope, a tenant
//! domain), and `--entra-own-agent` against the simulated organization, scripted to map object
//! ids to users.

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use convq_simorg::{Call, Reply, SimOrg};
use serde_json::{Value, json};

use super::auth::{AUDIENCE, Signer, TENANT, challenge, claims, json_answer, post};
use super::process::Process;
use super::{WAITING, client, serve_local};

/// A tenant's signing keys, published at a local JWKS URL.
async fn publish(signer: &Signer) -> String {
    let keys = json!({ "keys": [signer.jwk.clone()] });
    let router = Router::new().route(
        "/keys",
        get(move || {
            let keys = keys.clone();
            async move { json_answer(StatusCode::OK, &keys) }
        }),
    );
    format!("{}/keys", serve_local(router).await)
}

/// `convq serve` checking Entra ID tokens of `TENANT` signed by `signer`, with `flags`.
async fn entra_service(signer: &Signer, flags: &[&str]) -> Process {
    let jwks = publish(signer).await;
    let mut args = vec!["--entra-tenant", TENANT, "--jwks-url", &jwks];
    args.extend(flags);
    Process::start(&args, &[]).await
}

/// POSTs `body` to `url` with the token as `Authorization: Bearer`.
async fn call_with(url: &str, token: &str, body: &str) -> (u16, HeaderMap, Value) {
    let response = client()
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(body.to_owned())
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, headers, body)
}

async fn call(url: &str, token: &str) -> (u16, HeaderMap, Value) {
    let bearer = format!("Bearer {token}");
    post(url, &[("authorization", &bearer)]).await
}

/// The status of a call with the token of `claims` signed by `signer`.
async fn status_of(url: &str, signer: &Signer, claims: &Value) -> u16 {
    call(url, &signer.sign(claims)).await.0
}

#[tokio::test]
async fn start_up_refuses_entra_settings_that_cannot_work() {
    // (--entra-tenant, more flags, what the refusal names)
    let cases: [(&str, &[&str], &str); 4] = [
        // Any app of the tenant can get a token for the audience: roles or scopes are required.
        (TENANT, &[], "--entra-roles"),
        (
            "contoso.onmicrosoft.com",
            &["--entra-roles", "Conversations.Read"],
            "GUID",
        ),
        (
            TENANT,
            &[
                "--entra-roles",
                "Conversations.Read",
                "--entra-authority",
                "http://login.microsoftonline.us",
            ],
            "https://",
        ),
        (
            TENANT,
            &["--entra-scopes", "Conversations.Read", "--entra-own-agent"],
            "--dataverse",
        ),
    ];
    for (tenant, flags, expected) in cases {
        let mut args = vec!["--entra-tenant", tenant, "--entra-audience", AUDIENCE];
        args.extend(flags);
        let stderr = Process::try_start(&args, &[])
            .await
            .err()
            .unwrap_or_else(|| panic!("{args:?} started"));
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        if expected != "--dataverse" {
            assert!(stderr.contains("[invalid_access_settings]"), "{stderr}");
        }
    }

    // On purpose, any app of the tenant: a token without roles or scopes is accepted.
    let signer = Signer::generate("key-1");
    let flags = ["--entra-audience", AUDIENCE, "--entra-any-app-of-tenant"];
    let process = entra_service(&signer, &flags).await;
    let url = process.url("/getConversations");
    let bare = claims(&[("roles", json!([]))]);
    assert_eq!(status_of(&url, &signer, &bare).await, 200);
}

#[tokio::test]
async fn app_roles_or_delegated_scopes_grant_access() {
    let signer = Signer::generate("key-1");
    let process = entra_service(
        &signer,
        &[
            "--entra-audience",
            AUDIENCE,
            "--entra-roles",
            "Conversations.Read",
            "--entra-scopes",
            "Conversations.Read.All",
        ],
    )
    .await;
    let url = process.url("/getConversations");
    let no_roles = ("roles", json!([]));
    for (what, claims, expected) in [
        ("app role", claims(&[]), 200),
        (
            "delegated scope",
            claims(&[
                no_roles.clone(),
                ("scp", json!("openid Conversations.Read.All")),
            ]),
            200,
        ),
        ("neither", claims(std::slice::from_ref(&no_roles)), 403),
        (
            "other role and scope",
            claims(&[("roles", json!(["Other"])), ("scp", json!("User.Read"))]),
            403,
        ),
        (
            "a role name as a scope",
            claims(&[no_roles.clone(), ("scp", json!("Conversations.Read"))]),
            403,
        ),
        (
            "a scope name as a role",
            claims(&[("roles", json!(["Conversations.Read.All"]))]),
            403,
        ),
    ] {
        let (status, headers, body) = call(&url, &signer.sign(&claims)).await;
        assert_eq!(status, expected, "{what}: {body}");
        if expected == 403 {
            assert_eq!(body["error"]["code"], "forbidden", "{what}");
            assert!(challenge(&headers).contains("insufficient_scope"), "{what}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("app roles (Conversations.Read)")
                    && message.contains("delegated scopes (Conversations.Read.All)"),
                "{message}"
            );
        }
    }
}

/// A claim's values, each with the status a call with it gets.
type Statuses<'a> = &'a [(&'a str, u16)];

/// Starts `convq serve` granting the app role `Conversations.Read`, with `flags`, and checks the
/// status of a call with a token whose `claim` is each value of `cases` (value, status).
async fn assert_claim_statuses(signer: &Signer, flags: &[&str], claim: &str, cases: Statuses<'_>) {
    let mut args = vec!["--entra-roles", "Conversations.Read"];
    args.extend(flags);
    let process = entra_service(signer, &args).await;
    let url = process.url("/getConversations");
    for &(value, expected) in cases {
        let token = claims(&[(claim, json!(value))]);
        assert_eq!(
            status_of(&url, signer, &token).await,
            expected,
            "{flags:?}: {claim} {value}"
        );
    }
}

#[tokio::test]
async fn both_audience_forms_are_accepted() {
    const CLIENT: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
    let app_id_uri = format!("api://{CLIENT}");
    let custom = "https://contoso.example/convq";
    let both = format!("{custom},{CLIENT}");
    let signer = Signer::generate("key-1");
    let cases: [(&str, Statuses<'_>); 2] = [
        // The default App ID URI: its client id is accepted too.
        (
            &app_id_uri,
            &[
                (CLIENT, 200),
                (&app_id_uri, 200),
                ("api://another-api", 401),
                ("6731de76-0000-49ae-97bc-6eba6914391e", 401),
            ],
        ),
        // A custom App ID URI and the client id, both given.
        (
            &both,
            &[
                (custom, 200),
                (CLIENT, 200),
                ("https://contoso.example", 401),
            ],
        ),
    ];
    for (audiences, tokens) in cases {
        assert_claim_statuses(&signer, &["--entra-audience", audiences], "aud", tokens).await;
    }
}

#[tokio::test]
async fn sovereign_clouds_have_their_own_issuers() {
    let signer = Signer::generate("key-1");
    let public_v2 = format!("https://login.microsoftonline.com/{TENANT}/v2.0");
    let public_v1 = format!("https://sts.windows.net/{TENANT}/");
    let us_v2 = format!("https://login.microsoftonline.us/{TENANT}/v2.0");
    let china_v2 = format!("https://login.partner.microsoftonline.cn/{TENANT}/v2.0");
    let china_v1 = format!("https://sts.chinacloudapi.cn/{TENANT}/");
    let other = format!("https://sts.contoso.example/{TENANT}/");
    // (flag, its value, the token's issuer and the status it gets)
    let cases: [(&str, &str, Statuses<'_>); 3] = [
        (
            "--entra-authority",
            "https://login.microsoftonline.us",
            // The US Government cloud's v1 issuer is the public cloud's.
            &[(&us_v2, 200), (&public_v1, 200), (&public_v2, 401)],
        ),
        (
            "--entra-authority",
            "https://login.partner.microsoftonline.cn",
            &[
                (&china_v2, 200),
                (&china_v1, 200),
                (&public_v2, 401),
                (&public_v1, 401),
            ],
        ),
        // Any other cloud: the issuers are given.
        (
            "--entra-issuer",
            &other,
            &[(&other, 200), (&public_v2, 401)],
        ),
    ];
    for (flag, value, issuers) in cases {
        let flags = ["--entra-audience", AUDIENCE, flag, value];
        assert_claim_statuses(&signer, &flags, "iss", issuers).await;
    }
}

/// The agent of [`WAITING`], and another one.
const AGENT: &str = "2b330c52-6844-4d36-8e05-03c78c9681dc";
const OTHER_AGENT: &str = "9f0e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f";
/// Object ids: the agent's, the other agent's, and one of nobody in the organization.
const OID: &str = "0e9b3c2a-1111-4a5b-9c1d-2e3f4a5b6c7d";
const OTHER_OID: &str = "5d4c3b2a-2222-4a5b-9c1d-2e3f4a5b6c7d";
const STRANGER_OID: &str = "7a6b5c4d-3333-4a5b-9c1d-2e3f4a5b6c7d";

/// The organization's `systemusers` (`?$select=systemuserid&$filter=azureactivedirectoryobjectid
/// eq <oid>`): [`OID`] is [`AGENT`], [`OTHER_OID`] is [`OTHER_AGENT`], nobody else is a user.
/// Anything else is answered with one conversation.
fn systemusers(call: &Call<'_>) -> Reply {
    let Some(query) = call.request.target.strip_prefix(SYSTEMUSERS) else {
        return Reply::records(&[json!({ "activityid": "a1" })]);
    };
    let query: std::collections::HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(query["$select"], "systemuserid");
    let oid = query["$filter"]
        .strip_prefix("azureactivedirectoryobjectid eq ")
        .expect("a filter on the object id");
    let value = match oid {
        OID => json!([{ "systemuserid": AGENT }]),
        OTHER_OID => json!([{ "systemuserid": OTHER_AGENT }]),
        _ => json!([]),
    };
    Reply::json(200, &json!({ "value": value }))
}

const SYSTEMUSERS: &str = "/api/data/v9.2/systemusers?";

/// The `Authorization` header of each `systemusers` lookup `org` received.
fn lookups(org: &SimOrg) -> Vec<String> {
    org.requests()
        .iter()
        .filter(|seen| seen.target.starts_with(SYSTEMUSERS))
        .map(|seen| seen.header("authorization").unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn with_entra_own_agent_a_caller_asks_only_for_their_own_agent() {
    let org = SimOrg::scripted(systemusers).await.unwrap();
    let signer = Signer::generate("key-1");
    let jwks = publish(&signer).await;
    let process = Process::start(
        &[
            "--dataverse",
            org.url(),
            "--auth",
            "token",
            "--entra-tenant",
            TENANT,
            "--entra-audience",
            AUDIENCE,
            "--entra-roles",
            "Conversations.Read",
            "--jwks-url",
            &jwks,
            "--entra-own-agent",
        ],
        &[("CONVQ_DATAVERSE_TOKEN", "held-token-4e1a")],
    )
    .await;
    let url = process.url("/getConversations");
    let batch = process.url("/getConversations/batch");
    let own = signer.sign(&claims(&[("oid", json!(OID))]));
    let other_agents_input = WAITING.replace(AGENT, OTHER_AGENT);

    for _ in 0..3 {
        let (status, _, body) = call(&url, &own).await;
        assert_eq!(status, 200, "{body}");
    }
    // The caller's agent is looked up once, under the service's own identity.
    assert_eq!(lookups(&org), ["Bearer held-token-4e1a"]);

    let (status, headers, body) = call_with(&url, &own, &other_agents_input).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(challenge(&headers).contains("insufficient_scope"));
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(AGENT) && message.contains(OTHER_AGENT),
        "{message}"
    );

    let mixed = format!(r#"{{"inputs": [{WAITING}, {other_agents_input}]}}"#);
    assert_eq!(call_with(&batch, &own, &mixed).await.0, 403);
    let (status, _, body) = call_with(&batch, &own, &format!(r#"{{"inputs": [{WAITING}]}}"#)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["status"], true, "{body}");

    // The other agent may ask for theirs, not for this one's.
    let other = signer.sign(&claims(&[("oid", json!(OTHER_OID))]));
    assert_eq!(call(&url, &other).await.0, 403);
    assert_eq!(call_with(&url, &other, &other_agents_input).await.0, 200);

    // Nobody in the organization, or no object id at all.
    let stranger = signer.sign(&claims(&[("oid", json!(STRANGER_OID))]));
    let (status, _, body) = call(&url, &stranger).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no user of the organization"),
        "{body}"
    );
    let mut no_oid = claims(&[]);
    no_oid.as_object_mut().unwrap().remove("oid");
    assert_eq!(status_of(&url, &signer, &no_oid).await, 403);
    assert_eq!(lookups(&org).len(), 3);
    process.assert_log_free_of(&["held-token-4e1a"]);
}
