//! Every error the service answers with, as `(status, {"error":{code,message,path,hint},"status":false})`.
//!
//! Input errors carry the core's code and JSON pointer unchanged; backend errors carry the
//! backend's code. The codes below are the ones only HTTP has (routing, limits, headers).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use convq_core::{Envelope, ErrorBody};

/// A code that only the HTTP adapter produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpCode {
    /// No route has this path; see /openapi.json.
    NotFound,
    /// The route exists but not for this method; the Allow header lists the methods.
    MethodNotAllowed,
    /// The request body is over the server's body limit (64 KiB by default).
    PayloadTooLarge,
    /// The body is not declared as JSON; send Content-Type: application/json.
    UnsupportedMediaType,
    /// The request body ended early or the connection failed while it was being read.
    IncompleteBody,
    /// A query parameter is unknown or has a value it cannot have.
    InvalidQueryParameter,
    /// The correlation id is not 1 to 128 visible ASCII characters.
    InvalidCorrelationId,
    /// The x-correlation-id header and the correlationId query parameter differ.
    ConflictingCorrelationId,
    /// The request body did not arrive within the body-read timeout (10 s by default); the connection is closed.
    RequestBodyTimeout,
    /// The Host header names a host this server does not answer for (on loopback: localhost, 127.0.0.1, `[::1]` and --allowed-host values).
    HostNotAllowed,
    /// The body of /getConversations/batch is not {\"inputs\": [...]} or has more than 1,000 inputs.
    InvalidBatch,
    /// No credential, or one the service does not accept; WWW-Authenticate says which.
    Unauthorized,
    /// A valid Entra ID token without a required app role or scope, or asking for another agent than its own.
    Forbidden,
    /// The request took longer than the server's request timeout.
    RequestTimeout,
    /// /getConversations/stream has as many subscribers as it takes, from this caller or in total.
    TooManySubscribers,
    /// A bug in the server; the log line with the same correlation id has the details.
    InternalError,
}

convq_core::error_codes! {
    /// Codes that only the HTTP adapter produces, with their status and meaning. The OpenAPI
    /// document lists them in the description of each response that can carry them.
    pub static HTTP_ERROR_CODES: [(&'static str, u16, &'static str)] for HttpCode {
        Self::NotFound => ("not_found", 404, "No route has this path; see /openapi.json."),
        Self::MethodNotAllowed => ("method_not_allowed", 405, "The route exists but not for this method; the Allow header lists the methods."),
        Self::PayloadTooLarge => ("payload_too_large", 413, "The request body is over the server's body limit (64 KiB by default)."),
        Self::UnsupportedMediaType => ("unsupported_media_type", 415, "The body is not declared as JSON; send Content-Type: application/json."),
        Self::IncompleteBody => ("incomplete_body", 400, "The request body ended early or the connection failed while it was being read."),
        Self::InvalidQueryParameter => ("invalid_query_parameter", 400, "A query parameter is unknown or has a value it cannot have."),
        Self::InvalidCorrelationId => ("invalid_correlation_id", 400, "The correlation id is not 1 to 128 visible ASCII characters."),
        Self::ConflictingCorrelationId => ("conflicting_correlation_id", 400, "The x-correlation-id header and the correlationId query parameter differ."),
        Self::RequestBodyTimeout => ("request_body_timeout", 408, "The request body did not arrive within the body-read timeout (10 s by default); the connection is closed."),
        Self::HostNotAllowed => ("host_not_allowed", 421, "The Host header names a host this server does not answer for (on loopback: localhost, 127.0.0.1, [::1] and --allowed-host values)."),
        Self::InvalidBatch => ("invalid_batch", 400, "The body of /getConversations/batch is not {\"inputs\": [...]} or has more than 1,000 inputs."),
        Self::Unauthorized => ("unauthorized", 401, "No credential, or one the service does not accept (API key, Entra ID token, or the pass-through bearer token); WWW-Authenticate says which."),
        Self::Forbidden => ("forbidden", 403, "A valid Entra ID token without a required app role or scope, or (with --entra-own-agent) asking for another agent than its own."),
        Self::RequestTimeout => ("request_timeout", 504, "The request took longer than the server's request timeout."),
        Self::TooManySubscribers => ("too_many_subscribers", 429, "/getConversations/stream has as many live-list subscribers as it takes, from this caller or in total."),
        Self::InternalError => ("internal_error", 500, "A bug in the server; the log line with the same correlation id has the details."),
    }
}

impl HttpCode {
    /// The status this code is answered with.
    #[must_use]
    pub fn status(self) -> StatusCode {
        HTTP_ERROR_CODES
            .iter()
            .find(|(code, ..)| *code == self.code())
            .and_then(|(_, status, _)| StatusCode::from_u16(*status).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// Longest part of a client-supplied value quoted in a message, in characters.
const QUOTE_CHARS: usize = 40;

/// A client-supplied value for a message: Debug-quoted, cut to its first [`QUOTE_CHARS`]
/// characters with an ellipsis, so that an error never echoes a large value back.
pub(crate) fn quote(value: &str) -> String {
    match value.char_indices().nth(QUOTE_CHARS) {
        None => format!("{value:?}"),
        Some((end, _)) => format!("{:?}… ({} bytes)", &value[..end], value.len()),
    }
}

/// An error response: a status and the failure envelope's `error` object.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) body: ErrorBody,
}

impl ApiError {
    /// An adapter-level error.
    pub(crate) fn new(code: HttpCode, message: impl Into<String>) -> Self {
        Self {
            status: code.status(),
            body: ErrorBody::new(code.code(), message, "", None),
        }
    }

    /// 413 for a body over `limit` bytes.
    pub(crate) fn payload_too_large(limit: usize) -> Self {
        Self::new(
            HttpCode::PayloadTooLarge,
            format!("the request body is over the {limit}-byte limit"),
        )
        .with_hint("send a smaller body; getConversations input is a few hundred bytes")
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.body.hint = Some(hint.into());
        self
    }

    /// An input error from the core: 400 with its code and JSON pointer, except an input over
    /// the core's own size limit, which is 413 like the server's body limit.
    pub(crate) fn from_core(err: &convq_core::Error) -> Self {
        let status = match err {
            convq_core::Error::InputTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self {
            status,
            body: err.to_body(),
        }
    }

    /// The envelope for a response that something other than a handler produced (the router's
    /// 404/405, the body limit's 413), chosen by status so that every error has the same shape.
    pub(crate) fn for_status(status: StatusCode) -> Self {
        let mut error = match status {
            StatusCode::NOT_FOUND => Self::new(HttpCode::NotFound, "no route for this path"),
            StatusCode::METHOD_NOT_ALLOWED => Self::new(
                HttpCode::MethodNotAllowed,
                "this route does not accept this method",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(
                HttpCode::UnsupportedMediaType,
                "the request body must be JSON",
            ),
            _ => Self::new(
                HttpCode::InternalError,
                format!("the server answered {status} without details"),
            ),
        };
        // Keep the status the framework chose; only the body is normalized.
        error.status = status;
        error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &Envelope::failure(self.body))
    }
}

/// A JSON response. Serializing our own types cannot fail (string keys, no non-finite floats
/// are produced by the core); if it ever did, the client still gets a well-formed envelope.
pub(crate) fn json_response<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    json_response_sized(status, value, 256)
}

/// As [`json_response`], serializing into a buffer of `capacity` bytes to start with: growing a
/// buffer by doubling copies the answer several times, which showed in the load profile.
pub(crate) fn json_response_sized<T: serde::Serialize>(
    status: StatusCode,
    value: &T,
    capacity: usize,
) -> Response {
    let mut buffer = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut buffer, value) {
        Ok(()) => json_bytes(status, buffer),
        Err(error) => {
            tracing::error!(%error, "response serialization failed");
            let body = internal_error_body("the response could not be serialized");
            json_bytes(StatusCode::INTERNAL_SERVER_ERROR, body)
        }
    }
}

/// The failure envelope of an `internal_error`, written by serde like every other envelope (an
/// envelope of plain strings always serializes).
pub(crate) fn internal_error_body(message: &str) -> Vec<u8> {
    let error = ErrorBody::new("internal_error", message.to_owned(), "", None);
    serde_json::to_vec(&Envelope::failure(error)).unwrap_or_default()
}

pub(crate) fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_http_code_is_unique_and_maps_to_its_status() {
        let mut seen = std::collections::BTreeSet::new();
        for (code, status, _) in HTTP_ERROR_CODES.iter() {
            assert!(seen.insert(*code), "{code} listed twice");
            assert!(
                !convq_core::ERROR_CODES.iter().any(|(core, _)| core == code),
                "{code} shadows a core code"
            );
            assert!(StatusCode::from_u16(*status).is_ok(), "{code}");
        }
        for (code, status) in [
            (HttpCode::NotFound, 404),
            (HttpCode::RequestBodyTimeout, 408),
            (HttpCode::HostNotAllowed, 421),
            (HttpCode::RequestTimeout, 504),
        ] {
            let error = ApiError::new(code, "x");
            assert_eq!(error.status.as_u16(), status, "{code:?}");
            assert_eq!(error.body.code, code.code());
        }
    }

    #[test]
    fn framework_statuses_keep_their_status_and_get_a_code() {
        for status in [404, 405, 415, 503] {
            let status = StatusCode::from_u16(status).unwrap();
            let error = ApiError::for_status(status);
            assert_eq!(error.status, status);
            assert!(!error.body.code.is_empty());
        }
        assert_eq!(
            ApiError::for_status(StatusCode::METHOD_NOT_ALLOWED)
                .body
                .code,
            "method_not_allowed"
        );
    }

    #[test]
    fn quotes_are_short() {
        assert_eq!(quote("top"), "\"top\"");
        let long = "é".repeat(1000);
        let quoted = quote(&long);
        assert!(
            quoted.starts_with(&format!("\"{}\"…", "é".repeat(40))),
            "{quoted}"
        );
        assert!(quoted.ends_with("(2000 bytes)"), "{quoted}");
    }

    #[test]
    fn core_errors_keep_code_and_pointer() {
        let err = convq_core::compile(r#"{"agentId": "x"}"#, &Default::default()).unwrap_err();
        let api = ApiError::from_core(&err);
        assert_eq!(api.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            (api.body.code.as_str(), api.body.path.as_str()),
            ("invalid_agent_id", "/agentId")
        );
    }
}
