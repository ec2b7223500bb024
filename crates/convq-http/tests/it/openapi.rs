//! `/openapi.json` is an OpenAPI 3.1 document that covers every route, whose schemas are valid
//! JSON Schema 2020-12, and that real answers of the server conform to.

use std::time::Duration;

use convq_simorg::testkit::{Behaviour, Peer};
use serde_json::Value;

use crate::{TestServer, WAITING, client, post_json};

/// Every route of the router (kept by hand on purpose: a route added without documentation, or
/// documentation without a route, fails `every_route_is_documented_and_exists`).
const ROUTES: &[(&str, &str)] = &[
    ("/getConversations", "post"),
    ("/getConversations/batch", "post"),
    ("/getConversations/stream", "get"),
    ("/getConversations/stream", "post"),
    ("/query", "post"),
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/openapi.json", "get"),
    ("/metrics", "get"),
];

fn document() -> Value {
    convq_http::openapi_document()
}

/// Resolves a local `$ref` (`#/components/...`) in the document.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// Every `$ref` anywhere in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("$ref", Value::String(target)) => out.push(target),
                    _ => refs(item, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3_1_with_valid_schemas_and_resolvable_refs() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["jsonSchemaDialect"],
        "https://json-schema.org/draft/2020-12/schema"
    );

    // A typed OpenAPI 3.1 reader accepts it.
    let spec = oas3::from_json(doc.to_string()).expect("oas3 parses the document");
    assert_eq!(spec.openapi, "3.1.0");
    assert_eq!(spec.operations().count(), ROUTES.len());

    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    assert!(
        targets.len() > 20,
        "the document uses components: {}",
        targets.len()
    );
    for target in targets {
        assert!(resolve(&doc, target).is_some(), "dangling $ref {target}");
    }

    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("component schemas");
    for name in [
        "Input",
        "Compiled",
        "Envelope",
        "Health",
        "ErrorBody",
        "Query",
    ] {
        assert!(
            schemas.contains_key(name),
            "{name} missing: {:?}",
            schemas.keys()
        );
    }
    for (name, schema) in schemas {
        if let Err(error) = jsonschema::meta::validate(schema) {
            panic!("components/schemas/{name} is not valid JSON Schema: {error}");
        }
    }

    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().expect("responses");
            assert!(responses.contains_key("200"), "{method} {path}");
            for (status, response) in responses {
                assert!(
                    response["description"].is_string(),
                    "{method} {path} {status}"
                );
                assert!(
                    response["headers"]["x-correlation-id"].is_object(),
                    "{method} {path} {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_route_is_documented_and_exists() {
    let doc = document();
    let documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (path.clone(), method.clone()))
        })
        .collect();
    let mut expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(p, m)| ((*p).to_owned(), (*m).to_owned()))
        .collect();
    let mut documented_sorted = documented.clone();
    documented_sorted.sort();
    expected.sort();
    assert_eq!(documented_sorted, expected);

    let server = TestServer::sample().await;
    for (path, method) in documented {
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = client()
            .request(method.clone(), server.url(&path))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert!(
            ![404, 405].contains(&response.status().as_u16()),
            "{method} {path} is documented but not routed"
        );
    }
}

/// One request: which server, method and path, and the body with its content type.
struct Case<'a> {
    server: &'a TestServer,
    method: &'a str,
    path: &'a str,
    body: Option<(&'a str, &'a str)>,
}

impl<'a> Case<'a> {
    fn new(
        server: &'a TestServer,
        method: &'a str,
        path: &'a str,
        body: Option<(&'a str, &'a str)>,
    ) -> Self {
        Self {
            server,
            method,
            path,
            body,
        }
    }
}

/// A validator for `schema`, with the document's components in scope for its `$ref`s.
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = schema.clone();
    let object = root.as_object_mut().expect("schemas here are objects");
    object.insert("components".into(), doc["components"].clone());
    jsonschema::validator_for(&root).expect("a valid schema")
}

#[tokio::test]
async fn real_answers_conform_to_the_documented_responses() {
    let doc = document();
    let sample = TestServer::sample().await;
    let failing_peer = Peer::start(Behaviour::failing(reqwest::StatusCode::FORBIDDEN)).await;
    let failing = TestServer::dataverse(
        &failing_peer.url,
        Duration::from_secs(5),
        convq_http::Limits::default(),
    )
    .await;
    let big = format!("{WAITING}{}", " ".repeat(70_000));
    let batch = format!(r#"{{"inputs": [{WAITING}, {{"agentId": "x"}}]}}"#);

    let json = "application/json";
    let cases = [
        Case::new(&sample, "post", "/getConversations", Some((json, WAITING))),
        Case::new(
            &sample,
            "post",
            "/getConversations",
            Some((json, r#"{"agentId": 1}"#)),
        ),
        Case::new(
            &sample,
            "post",
            "/getConversations",
            Some(("text/plain", WAITING)),
        ),
        Case::new(&sample, "post", "/getConversations", Some((json, &big))),
        Case::new(&sample, "get", "/getConversations", None),
        Case::new(&failing, "post", "/getConversations", Some((json, WAITING))),
        Case::new(
            &sample,
            "post",
            "/getConversations/batch",
            Some((json, &batch)),
        ),
        Case::new(
            &sample,
            "post",
            "/getConversations/batch",
            Some((json, r#"{"inputs": 1}"#)),
        ),
        Case::new(&sample, "post", "/query", Some((json, WAITING))),
        Case::new(&sample, "post", "/query", Some((json, "[]"))),
        Case::new(&sample, "post", "/query", Some((json, &big))),
        Case::new(&sample, "get", "/healthz", None),
        Case::new(&sample, "get", "/readyz", None),
        Case::new(&sample, "get", "/openapi.json", None),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for Case {
        server,
        method,
        path,
        body,
    } in cases
    {
        let mut request = client().request(
            reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
            server.url(path),
        );
        if let Some((content_type, body)) = body {
            request = request
                .header("content-type", content_type)
                .body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16().to_string();
        let text = response.text().await.unwrap();
        // A 405 is documented on the operations the path does have.
        let operation = if status == "405" {
            doc["paths"][path]
                .as_object()
                .unwrap()
                .values()
                .next()
                .unwrap()
        } else {
            &doc["paths"][path][method]
        };
        let documented = &operation["responses"][&status];
        assert!(
            documented.is_object(),
            "{method} {path} answered undocumented {status}: {text}"
        );
        let schema = &documented["content"]["application/json"]["schema"];
        let instance: Value = serde_json::from_str(&text).unwrap();
        let validator = validator(&doc, schema);
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: {errors:?}\n{text}"
        );
        seen.insert(status);
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["200", "400", "405", "413", "415", "502"],
        "the cases cover these statuses"
    );

    // The check can fail: a success body does not pass as the compiled query.
    let compiled = &doc["paths"]["/query"]["post"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    assert!(
        !validator(&doc, compiled)
            .is_valid(&serde_json::json!({"status": true, "result": {"values": []}}))
    );
}

#[tokio::test]
async fn the_document_declares_how_to_call_and_is_readable_without_a_credential() {
    let doc = document();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["apiKey"]["type"], "apiKey");
    assert_eq!(schemes["apiKey"]["in"], "header");
    assert_eq!(schemes["apiKey"]["name"], "x-api-key");
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(doc["servers"][0]["url"], "/");
    let security = doc["security"].as_array().expect("top-level security");
    for scheme in ["apiKey", "bearer"] {
        assert!(security.iter().any(|s| s.get(scheme).is_some()), "{scheme}");
    }
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert_eq!(
            doc["paths"][path]["get"]["security"],
            serde_json::json!([]),
            "{path}"
        );
    }
    for path in ["/getConversations", "/getConversations/batch"] {
        let responses = &doc["paths"][path]["post"]["responses"];
        assert!(
            responses["401"].is_object() && responses["403"].is_object(),
            "{path}"
        );
    }

    // A service that checks callers still serves the document to anyone, like its probes.
    let keys = std::env::temp_dir().join(format!("convq-openapi-keys-{}", std::process::id()));
    std::fs::write(&keys, "k-1\n").unwrap();
    let access =
        convq_http::AccessPolicy::open().with_api_keys(convq_http::ApiKeys::load(&keys).unwrap());
    std::fs::remove_file(&keys).unwrap();
    let state = convq_http::AppState::builder(convq_core::Options::default())
        .access(access)
        .build(std::sync::Arc::new(convq_backend::EmbeddedStore::sample()));
    let server = TestServer::serve(&state, convq_http::ServerConfig::default()).await;
    let served = client()
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    let served: Value = served.json().await.unwrap();
    assert_eq!(served, doc);
    let work = post_json(&server.url("/getConversations"), WAITING).await;
    assert_eq!(work.status(), 401, "the work routes still check");
    server.stop().await.unwrap();
}
