//! Errors that only the JavaScript adapter can meet, and how every error becomes a JS `Error`.
//!
//! Input errors come from `convq_core` unchanged (same codes, paths and messages as the CLI and
//! HTTP adapters). The codes here are about what JavaScript hands the adapter besides the input:
//! the options object, a value that is not JSON, and the `retrieveMultipleRecords` function.

use convq_core::ErrorBody;

/// An error of the JavaScript adapter itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// The options object does not deserialize into `convq_core::Options`.
    #[error("the options are not valid: {message}")]
    InvalidOptions {
        /// JSON pointer into the options object (`""`: the object itself).
        path: String,
        /// serde's description.
        message: String,
    },
    /// The input is neither a JSON string nor a value `JSON.stringify` can write.
    #[error("the input is not JSON: {reason}")]
    InvalidInput {
        /// What it is instead.
        reason: String,
    },
    /// `getConversations` has no `retrieveMultipleRecords` function to run the query with.
    #[error(
        "no Web API to run the query: pass retrieveMultipleRecords in the options, or run inside \
         Dynamics 365 where Xrm.WebApi is defined"
    )]
    NoWebApi,
    /// `retrieveMultipleRecords` threw or its promise rejected.
    #[error("retrieveMultipleRecords failed: {message}")]
    WebApi {
        /// The JavaScript error's `message` (or the thrown value as text).
        message: String,
    },
    /// `retrieveMultipleRecords` resolved with something other than `{entities, nextLink?}`.
    #[error("retrieveMultipleRecords returned an unexpected value: {reason}")]
    InvalidWebApiResponse {
        /// What is wrong with it.
        reason: String,
    },
}

convq_core::error_codes! {
    /// Every code of [`AdapterError`], with its meaning, for the docs and the tests.
    pub static ADAPTER_ERROR_CODES: [(&'static str, &'static str)] for AdapterError {
        Self::InvalidInput { .. } => ("invalid_input", "The input is neither a JSON string nor a value `JSON.stringify` accepts (undefined, a function, a BigInt, a cycle)."),
        Self::NoWebApi => ("no_web_api", "getConversations found neither a `retrieveMultipleRecords` option nor `Xrm.WebApi`."),
        Self::WebApi { .. } => ("web_api_error", "`retrieveMultipleRecords` threw or rejected; the message is its error's message."),
        Self::InvalidWebApiResponse { .. } => ("invalid_web_api_response", "`retrieveMultipleRecords` resolved with something other than `{entities: [...], nextLink?}`, or a nextLink without a query or repeating the previous one."),
    }
    // The core's code (`convq_core::Options::from_json`), listed in its table: the adapter adds
    // only the hint for the test double's own settings.
    else Self::InvalidOptions { .. } => "invalid_options"
}

impl AdapterError {
    /// JSON pointer of the offending value: into the options for `invalid_options`, `""` otherwise.
    #[must_use]
    pub fn path(&self) -> &str {
        match self {
            Self::InvalidOptions { path, .. } => path,
            _ => "",
        }
    }

    /// How to fix it, where there is a useful suggestion.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::InvalidOptions { .. } => Some(
                "the options keys are baseUrl, unknownColumns (\"warn\" | \"error\"), \
                 extraColumns ([{logicalName, type}]), statusFilter (\"orChain\" | \"crmIn\") \
                 and createdBeforeDays (\"lastXDays\" | \"olderThanXDays\"); createOmnichannel \
                 also takes records, now, timeZone (an IANA name such as \"Europe/Paris\") and \
                 formattedValues (a boolean)"
                    .to_owned(),
            ),
            Self::InvalidInput { .. } => Some(
                "pass the input as a plain object or as JSON text, e.g. \
                 {agentId: \"2b330c52-6844-4d36-8e05-03c78c9681dc\"}"
                    .to_owned(),
            ),
            Self::NoWebApi => Some(
                "getConversations(input, correlationId, { retrieveMultipleRecords: \
                 context.webAPI.retrieveMultipleRecords.bind(context.webAPI) })"
                    .to_owned(),
            ),
            Self::WebApi { .. } | Self::InvalidWebApiResponse { .. } => None,
        }
    }

    /// The `{code, message, path, hint}` object every adapter prints.
    #[must_use]
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody::new(self.code(), self.to_string(), self.path(), self.hint())
    }
}

impl From<AdapterError> for ErrorBody {
    fn from(error: AdapterError) -> Self {
        error.to_body()
    }
}

/// The text of a `web_api_error`: the thrown value's `message`, with Xrm's numeric `errorCode`
/// when it has one (`0x80040217`-style, as Dataverse documents its codes); `String(value)` for a
/// thrown value without a message.
#[must_use]
pub fn web_api_message(
    message: Option<String>,
    error_code: Option<f64>,
    as_text: impl FnOnce() -> String,
) -> String {
    let message = message.unwrap_or_else(as_text);
    // Xrm gives the code as a number; only whole 32-bit values are HRESULT-style codes.
    match error_code {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(code) if code.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&code) => {
            format!("{message} (errorCode 0x{:08x})", code as u32)
        }
        _ => message,
    }
}

/// `name` of the JS `Error` that `compile` throws, so callers can tell it from other errors.
pub const JS_ERROR_NAME: &str = "ConvqError";

/// The own properties of the thrown JS `Error`, besides `message` (which the `Error` constructor
/// sets): `name`, `code`, `path` and, when there is one, `hint`. An absent hint is left off
/// rather than set to `undefined`, so `"hint" in err` tells whether there is one.
#[must_use]
pub fn js_error_properties(body: &ErrorBody) -> Vec<(&'static str, &str)> {
    let mut properties = vec![
        ("name", JS_ERROR_NAME),
        ("code", body.code.as_str()),
        ("path", body.path.as_str()),
    ];
    if let Some(hint) = &body.hint {
        properties.push(("hint", hint.as_str()));
    }
    properties
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<AdapterError> {
        vec![
            AdapterError::InvalidOptions {
                path: "/statusFilter".into(),
                message: "unknown variant `in`".into(),
            },
            AdapterError::InvalidInput {
                reason: "undefined".into(),
            },
            AdapterError::NoWebApi,
            AdapterError::WebApi {
                message: "401 Unauthorized".into(),
            },
            AdapterError::InvalidWebApiResponse {
                reason: "no entities".into(),
            },
        ]
    }

    #[test]
    fn every_own_code_is_listed_once_and_distinct_from_core_codes() {
        let listed: Vec<&str> = ADAPTER_ERROR_CODES.iter().map(|(c, _)| *c).collect();
        let (core, own): (Vec<&str>, Vec<&str>) = every_variant()
            .iter()
            .map(AdapterError::code)
            .partition(|code| convq_core::ERROR_CODES.iter().any(|(c, _)| c == code));
        assert_eq!(listed, own);
        // Options errors are the core's `invalid_options`, listed in the core's table.
        assert_eq!(core, ["invalid_options"]);
        for code in listed {
            assert!(
                !convq_core::ERROR_CODES.iter().any(|(c, _)| *c == code),
                "{code} is also a core code"
            );
        }
    }

    #[test]
    fn body_carries_code_path_message_and_hint() {
        let body = AdapterError::InvalidOptions {
            path: "/statusFilter".into(),
            message: "unknown variant `in`".into(),
        }
        .to_body();
        assert_eq!(body.code, "invalid_options");
        assert_eq!(body.path, "/statusFilter");
        assert_eq!(
            body.message,
            "the options are not valid: unknown variant `in`"
        );
        assert!(body.hint.unwrap().contains("statusFilter"));

        let body = ErrorBody::from(AdapterError::WebApi {
            message: "401 Unauthorized".into(),
        });
        assert_eq!(
            (body.code.as_str(), body.path.as_str(), body.hint),
            ("web_api_error", "", None)
        );
        assert_eq!(
            body.message,
            "retrieveMultipleRecords failed: 401 Unauthorized"
        );
    }

    #[test]
    fn web_api_messages() {
        let never = || unreachable!("the message is there");
        assert_eq!(
            web_api_message(
                Some("Principal user is missing prvReadmsdyn_ocliveworkitem".into()),
                Some(2_147_746_336.0),
                never
            ),
            "Principal user is missing prvReadmsdyn_ocliveworkitem (errorCode 0x80040220)"
        );
        assert_eq!(
            web_api_message(Some("offline".into()), None, never),
            "offline"
        );
        assert_eq!(web_api_message(Some("x".into()), Some(1.5), never), "x");
        assert_eq!(web_api_message(None, None, || "boom".to_owned()), "boom");
    }

    #[test]
    fn js_error_properties_leave_out_an_absent_hint() {
        let core_error = convq_core::compile(r#"{"agentId": "nope"}"#, &Default::default())
            .unwrap_err()
            .to_body();
        let properties = js_error_properties(&core_error);
        assert_eq!(
            properties[..3],
            [
                ("name", "ConvqError"),
                ("code", "invalid_agent_id"),
                ("path", "/agentId"),
            ]
        );
        assert_eq!(properties[3].0, "hint");

        let without_hint = AdapterError::WebApi {
            message: "x".into(),
        }
        .to_body();
        let names: Vec<&str> = js_error_properties(&without_hint)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(names, ["name", "code", "path"]);
    }
}
