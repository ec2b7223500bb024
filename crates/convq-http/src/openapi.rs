//! The OpenAPI 3.1 document, assembled from the JSON Schemas of the very types the handlers
//! read and write (`convq_core::Input`, `Compiled`, `Envelope`, and [`Health`]). OpenAPI 3.1's
//! schema dialect is JSON Schema 2020-12, which is what schemars generates, so the component
//! schemas are used as they are.

use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::CORRELATION_HEADER;
use crate::error::HTTP_ERROR_CODES;
use crate::handlers::{BatchRequest, BatchResponse, Health, MAX_BATCH, WARNING_HEADER};

struct Components {
    /// Requests are read (deserialize contract), responses written (serialize contract); the
    /// two can differ (defaults, skipped fields), so each side has its own generator.
    requests: SchemaGenerator,
    responses: SchemaGenerator,
}

impl Components {
    fn new() -> Self {
        let settings = SchemaSettings::draft2020_12().with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        });
        Self {
            requests: settings.clone().for_deserialize().into_generator(),
            responses: settings.for_serialize().into_generator(),
        }
    }

    fn request<T: JsonSchema>(&mut self) -> Value {
        self.requests.subschema_for::<T>().to_value()
    }

    fn response<T: JsonSchema>(&mut self) -> Value {
        self.responses.subschema_for::<T>().to_value()
    }

    fn into_schemas(mut self) -> Map<String, Value> {
        let mut schemas = self.responses.take_definitions(true);
        for (name, schema) in self.requests.take_definitions(true) {
            if let Some(existing) = schemas.get(&name) {
                // A type used in both directions must look the same both ways, or one name
                // would describe two shapes.
                assert_eq!(existing, &schema, "schema {name} differs between contracts");
            } else {
                schemas.insert(name, schema);
            }
        }
        schemas
    }
}

const UNAUTHORIZED: &str = "When the service checks callers (--api-keys, --entra-*) or passes callers' \
     tokens through: no credential, or a bad one (`unauthorized`), or in pass-through a token \
     Dataverse rejected (`dataverse_unauthorized`: get a new one); WWW-Authenticate is set.";
const FORBIDDEN: &str = "A valid Entra ID token without a required app role or scope, or (with \
     --entra-own-agent) asking for another agent than the token's own; WWW-Authenticate is set.";

/// The OpenAPI 3.1 document served at `/openapi.json`.
#[must_use]
pub fn document() -> Value {
    let mut components = Components::new();
    let input = components.request::<convq_core::Input>();
    let envelope = components.response::<convq_core::Envelope>();
    let compiled = components.response::<convq_core::Compiled>();
    let health = components.response::<Health>();
    let batch_request = components.request::<BatchRequest>();
    let batch_response = components.response::<BatchResponse>();

    let json_content = |schema: &Value| json!({ "application/json": { "schema": schema } });
    let correlated = |description: String, content: Value| {
        json!({
            "description": description,
            "headers": { CORRELATION_HEADER: { "$ref": "#/components/headers/CorrelationId" } },
            "content": content,
        })
    };
    let failure = |statuses: &[u16], lead: &str| {
        let codes: Vec<String> = HTTP_ERROR_CODES
            .iter()
            .filter(|(_, status, _)| statuses.contains(status))
            .map(|(code, _, meaning)| format!("`{code}`: {meaning}"))
            .collect();
        let description = if codes.is_empty() {
            lead.to_owned()
        } else {
            format!("{lead} Codes: {}", codes.join(" "))
        };
        correlated(description, json_content(&envelope))
    };
    // Adds a failure response per `(status, lead)`, in order.
    let add_failures = |responses: &mut Map<String, Value>, failures: &[(u16, &str)]| {
        for &(status, lead) in failures {
            responses.insert(status.to_string(), failure(&[status], lead));
        }
    };
    let common = |responses: &mut Map<String, Value>| {
        add_failures(
            responses,
            &[
                (404, "Not found (wrong path)."),
                (421, "The Host header is not one the server answers for."),
                (500, "Server bug."),
                (
                    504,
                    "The request took longer than the server's request timeout, or (getConversations) Dataverse timed out: `dataverse_timeout`.",
                ),
            ],
        );
    };
    // An operation with a required JSON body (`(description, schema)`) and the correlation id
    // and strict parameters.
    let body_operation = |summary: &str,
                          description: &str,
                          id: &str,
                          (body, schema): (&str, &Value),
                          responses: Map<String, Value>| {
        json!({
            "summary": summary,
            "description": description,
            "operationId": id,
            "parameters": [
                { "$ref": "#/components/parameters/CorrelationIdHeader" },
                { "$ref": "#/components/parameters/CorrelationIdQuery" },
                { "$ref": "#/components/parameters/Strict" },
            ],
            "requestBody": {
                "required": true,
                "description": body,
                "content": json_content(schema),
            },
            "responses": responses,
        })
    };
    let input_operation = |summary: &str, description: &str, id: &str, ok: Value| {
        let mut responses = Map::new();
        responses.insert("200".into(), ok);
        add_failures(
            &mut responses,
            &[
                (
                    400,
                    "Invalid input: a convq-core error code (see docs/reference/errors.md) with the \
                     JSON pointer of the offending value in `path`; or a request problem.",
                ),
                (405, "Method not allowed."),
                (408, "The body did not arrive in time."),
                (413, "Body too large."),
                (415, "Body not declared as JSON."),
                (401, UNAUTHORIZED),
                (403, FORBIDDEN),
            ],
        );
        body_operation(
            summary,
            description,
            id,
            (
                "getConversations input (Content-Type: application/json).",
                &input,
            ),
            responses,
        )
    };

    let mut success = correlated(
        "Success: `{\"result\":{\"values\":[...]},\"status\":true}`.".to_owned(),
        json_content(&envelope),
    );
    success["headers"][WARNING_HEADER] = json!({
        "description": "One header per compile warning, `<code> <JSON pointer>` \
                        (e.g. `unknown_column /attributes/0`), at most 8: past that, the first 7 \
                        and `more_warnings <count>` for the rest. The envelope itself never carries warnings.",
        "schema": { "type": "string" },
    });
    let age = json!({
        "description": "How old the records are, in seconds: 0 when fetched for this request, \
                        more when they came from the service's cache (`--cache-ttl`).",
        "schema": { "type": "integer", "minimum": 0 },
    });
    success["headers"]["Age"] = age.clone();
    let mut get_conversations = input_operation(
        "Run getConversations",
        "Compiles the input and runs it on the configured backend (embedded store or Dataverse). \
         Answers with the getConversations envelope.",
        "getConversations",
        success,
    );
    let responses = get_conversations["responses"]
        .as_object_mut()
        .expect("responses is an object");
    add_failures(
        responses,
        &[
            (
                429,
                "Dataverse throttled this identity (`dataverse_throttled`) past the retries \
                 convq makes; `Retry-After` says how many seconds before Dataverse takes \
                 requests of the identity again.",
            ),
            (
                502,
                "The backend failed (`dataverse_unauthorized`, `dataverse_forbidden`, \
                 `dataverse_error`, `dataverse_unreachable`, `dataverse_bad_response`, \
                 `dataverse_page_limit`, ...).",
            ),
            (
                503,
                "Dataverse is unavailable (`dataverse_unavailable`: down, overloaded, in \
                 maintenance); `Retry-After` says when to try again.",
            ),
        ],
    );
    common(responses);

    let mut batch_ok = correlated(
        "One getConversations envelope per input, in the order of the inputs. Each input is \
         judged alone: an invalid input or a failed run fails only its own slot."
            .to_owned(),
        json_content(&batch_response),
    );
    batch_ok["headers"]["Age"] = age;
    let mut batch_responses = Map::new();
    batch_responses.insert("200".into(), batch_ok);
    add_failures(
        &mut batch_responses,
        &[
            (
                400,
                "The batch itself is unreadable (`invalid_batch`), or a request problem.",
            ),
            (405, "Method not allowed."),
            (413, "Body too large."),
            (415, "Body not declared as JSON."),
            (401, UNAUTHORIZED),
            (403, FORBIDDEN),
        ],
    );
    common(&mut batch_responses);
    let batch = body_operation(
        "Run getConversations for several inputs",
        &format!(
            "Runs every input as `/getConversations` would, at once (inputs of the same shape \
             share Dataverse requests), and answers `{{\"results\":[envelope, ...]}}`. At most \
             {MAX_BATCH} inputs."
        ),
        "getConversationsBatch",
        (
            "`{\"inputs\": [<getConversations input>, ...]}` (Content-Type: application/json).",
            &batch_request,
        ),
        batch_responses,
    );

    let mut query = input_operation(
        "Compile without running",
        "Returns the normalized query, the Web API options, the request path and FetchXML.",
        "query",
        correlated("The compiled query.".to_owned(), json_content(&compiled)),
    );
    common(
        query["responses"]
            .as_object_mut()
            .expect("responses is an object"),
    );

    // The probes, the metrics and this document are open to anyone who can reach the port.
    let simple_get = |summary: &str, id: &str, mut responses: Map<String, Value>| {
        common(&mut responses);
        json!({ "get": { "summary": summary, "operationId": id, "responses": responses, "security": [] } })
    };
    let one = |status: &str, response: Value| {
        let mut map = Map::new();
        map.insert(status.into(), response);
        map
    };
    let mut readyz = one(
        "200",
        correlated("The backend is ready.".to_owned(), json_content(&health)),
    );
    readyz.insert(
        "503".into(),
        correlated(
            "The backend is not ready.".to_owned(),
            json_content(&health),
        ),
    );

    // Live lists: the events are described in docs/live-lists.md.
    let events = correlated(
        "Server-Sent Events (`text/event-stream`): `snapshot` `{agentId, values}` first, then \
         `added` / `changed` `{agentId, id, position, record}` and `removed` `{agentId, id}` \
         with ids (`Last-Event-ID` resumes), `failed` `{agentId, error}` when the backend \
         failed an interval, `dropped` last for a client that read too slowly; heartbeat \
         comments."
            .to_owned(),
        json!({ "text/event-stream": { "schema": { "type": "string" } } }),
    );
    let mut stream_post = input_operation(
        "Subscribe to a live list",
        "The input's list, then its changes, as Server-Sent Events. The backend is polled \
         once per interval per identity and query shape, for every subscriber together.",
        "getConversationsStream",
        events.clone(),
    );
    let too_many = (429, "Too many subscribers, from this caller or in total.");
    add_failures(
        stream_post["responses"]
            .as_object_mut()
            .expect("responses is an object"),
        &[too_many],
    );
    let mut stream_get = stream_post.clone();
    stream_get["operationId"] = json!("getConversationsStreamGet");
    stream_get["description"] = json!(
        "As the POST, for EventSource: the input as `input=<JSON>` or as its fields \
         (`agentId`, `status` comma-separated, `createdBeforeDays`, `top`, `attributes` \
         comma-separated)."
    );
    if let Some(get) = stream_get.as_object_mut() {
        get.remove("requestBody");
    }
    for name in [
        "input",
        "agentId",
        "status",
        "createdBeforeDays",
        "top",
        "attributes",
    ] {
        stream_get["parameters"]
            .as_array_mut()
            .expect("parameters is an array")
            .push(json!({
                "name": name, "in": "query", "required": false,
                "schema": { "type": "string" },
            }));
    }

    let paths = json!({
        "/getConversations": { "post": get_conversations },
        "/getConversations/stream": { "get": stream_get, "post": stream_post },
        "/getConversations/batch": { "post": batch },
        "/query": { "post": query },
        "/healthz": simple_get("Liveness", "healthz", one("200", correlated("The process serves requests.".to_owned(), json_content(&health)))),
        "/readyz": simple_get("Readiness", "readyz", readyz),
        "/openapi.json": simple_get("This document", "openapi", one("200", correlated("OpenAPI 3.1.".to_owned(), json_content(&json!({ "type": "object" }))))),
        "/metrics": simple_get("Prometheus metrics", "metrics", one("200", correlated(
            "Text exposition format 0.0.4: `convq_http_requests_total{route,method,status}`, \
             `convq_http_request_duration_seconds{route,method}` (histogram), \
             `convq_http_requests_in_flight`; with Dataverse: `convq_upstream_requests_total`, \
             `convq_upstream_calls_per_query` (histogram), `convq_cache_hits_total`, \
             `convq_throttle_pauses_total`, `convq_upstream_queue_wait_seconds` (histogram).".to_owned(),
            json!({ "text/plain": { "schema": { "type": "string" } } }),
        ))),
    });

    let schemas = components.into_schemas();
    let id_schema =
        json!({ "type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-~]+$" });
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "convq",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Microsoft.Omnichannel.getConversations as an HTTP service.",
            "description": "Every error is `{\"error\":{\"code\",\"message\",\"path\",\"hint\"},\"status\":false}`. \
                            Every response carries the request's correlation id in x-correlation-id.",
            "license": { "name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0" },
        },
        // Relative: the service answers wherever it is reached.
        "servers": [{ "url": "/", "description": "This service" }],
        // The work routes ask for what the service is started with: nothing (loopback, the
        // sample store), an API key, or a bearer token.
        "security": [{}, { "apiKey": [] }, { "bearer": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "apiKey", "in": "header", "name": "x-api-key",
                    "description": "One of the keys of --api-keys (also accepted as Authorization: Bearer, except in pass-through).",
                },
                "bearer": {
                    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "With --entra-*: an Entra ID access token for this service's audience, with one of its app roles (`roles`) or delegated scopes (`scp`). With --auth passthrough: the caller's own Dataverse token, sent on to Dataverse.",
                },
            },
            "schemas": schemas,
            "parameters": {
                "CorrelationIdHeader": {
                    "name": CORRELATION_HEADER, "in": "header", "required": false,
                    "description": "Correlation id for telemetry (getConversations' second argument). Generated (UUID v4) when absent.",
                    "schema": id_schema,
                },
                "CorrelationIdQuery": {
                    "name": "correlationId", "in": "query", "required": false,
                    "description": "The correlation id, for clients that cannot set headers. Must equal the header when both are given.",
                    "schema": id_schema,
                },
                "Strict": {
                    "name": "strict", "in": "query", "required": false,
                    "description": "Reject columns the catalog does not know (unknown_column) instead of warning.",
                    "schema": { "type": "boolean", "default": false },
                },
            },
            "headers": {
                "CorrelationId": {
                    "description": "The request's correlation id: the one given, or the generated one.",
                    "required": true,
                    "schema": id_schema,
                },
            },
        },
    })
}
