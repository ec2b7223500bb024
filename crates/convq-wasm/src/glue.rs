//! JSON text in, JSON text out: everything `compile` does besides touching JS values.
//!
//! The wasm exports turn JS values into JSON text (`JSON.stringify`) and back (`JSON.parse`).
//! JSON is the boundary on purpose: the input goes through exactly the parser the CLI and HTTP
//! adapters use (duplicate keys, line and column in errors), the output is byte for byte
//! `serde_json::to_string` of the core's types, and the `.wasm` needs no second serializer.

use convq_core::{Compiled, Envelope, ErrorBody, Options};

use crate::error::AdapterError;

/// Reads the options object (as JSON text) with [`convq_core::Options::from_json`], as the CLI
/// and the HTTP service read theirs. `None` (the argument was `undefined` or `null`) means the
/// defaults.
///
/// # Errors
/// [`AdapterError::InvalidOptions`] with the JSON pointer of the offending value in the options.
pub fn parse_options(json: Option<&str>) -> Result<Options, AdapterError> {
    let Some(json) = json else {
        return Ok(Options::default());
    };
    Options::from_json(json).map_err(|error| {
        let path = error.path().to_owned();
        let message = match error {
            convq_core::Error::InvalidOptions { message, .. } => message,
            other => other.to_string(),
        };
        AdapterError::InvalidOptions { path, message }
    })
}

/// Compiles input JSON text with the core; the error is the core's, as every adapter reports it.
///
/// # Errors
/// The core error's body (`code`, `message`, `path`, `hint`).
pub fn compile(input: &str, options: &Options) -> Result<Compiled, ErrorBody> {
    convq_core::compile(input, options).map_err(|e| e.to_body())
}

/// `compile`'s JS result, as JSON text: exactly what the CLI prints for `--format json`.
///
/// # Errors
/// As [`compile`].
pub fn compile_to_json(input: &str, options: &Options) -> Result<String, ErrorBody> {
    compile(input, options).map(|compiled| to_json(&compiled))
}

/// A getConversations answer as JSON text.
#[must_use]
pub fn envelope_json(envelope: &Envelope) -> String {
    to_json(envelope)
}

/// The failure envelope around an error body, as JSON text.
#[must_use]
pub fn failure_json(error: ErrorBody) -> String {
    envelope_json(&Envelope::failure(error))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serializing these types cannot fail: their maps have string keys and they hold no
    // non-finite floats (records come from JSON text, which has none).
    serde_json::to_string(value).expect("convq's output types serialize to JSON")
}

#[cfg(test)]
mod tests {

    use super::*;

    const GOLDEN: &str = r#"{"attributes":["msdyn_title","msdyn_channel"],"agentId":"2b330c52-6844-4d36-8e05-03c78c9681dc","status":[3],"orderBy":[{"attributeName":"createdon","descending":true}]}"#;

    #[test]
    fn absent_options_are_the_defaults() {
        assert_eq!(parse_options(None).unwrap(), Options::default());
        assert_eq!(parse_options(Some("{}")).unwrap(), Options::default());
    }

    /// The core reads the options (its tests cover every case); the adapter keeps its code,
    /// pointer and message.
    #[test]
    fn bad_options_keep_the_cores_pointer_and_message() {
        let err = parse_options(Some(
            r#"{"extraColumns":[{"logicalName":"b","type":"Nope"}]}"#,
        ))
        .unwrap_err();
        assert_eq!(err.code(), "invalid_options");
        assert_eq!(err.path(), "/extraColumns/0/type");
        let AdapterError::InvalidOptions { message, .. } = &err else {
            unreachable!()
        };
        assert!(message.starts_with("unknown variant `Nope`"), "{message}");
        assert_eq!(parse_options(Some("[]")).unwrap_err().path(), "");
    }

    #[test]
    fn compile_output_is_the_core_output_as_json() {
        let json = compile_to_json(GOLDEN, &Options::default()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        // The documented example's Xrm options string (domain spec, section 6).
        assert_eq!(
            value["options"],
            "?$select=msdyn_ocliveworkitemid,_msdyn_liveworkstreamid_value,_msdyn_lastsessionid_value,statuscode,createdon,msdyn_title,msdyn_channel&$filter=_msdyn_activeagentid_value eq 2b330c52-6844-4d36-8e05-03c78c9681dc and statuscode eq 3&$orderby=createdon desc,activityid asc"
        );
        assert_eq!(value["top"], serde_json::Value::Null);
        assert!(value["fetchxml"].as_str().unwrap().starts_with("<fetch"));
    }

    #[test]
    fn compile_errors_are_core_bodies() {
        let body = compile_to_json(r#"{"agentId": "x", "agentId": "y"}"#, &Options::default())
            .unwrap_err();
        assert_eq!(
            (body.code.as_str(), body.path.as_str()),
            ("duplicate_key", "/agentId")
        );
        let body = compile_to_json(r#"{"status": [3]}"#, &Options::default()).unwrap_err();
        assert_eq!(
            (body.code.as_str(), body.path.as_str()),
            ("missing_field", "/agentId")
        );
    }

    #[test]
    fn failure_json_is_the_api_envelope() {
        let text = failure_json(AdapterError::NoWebApi.into());
        assert!(
            text.starts_with(r#"{"error":{"code":"no_web_api","message":"#),
            "{text}"
        );
        assert!(text.ends_with(r#","status":false}"#), "{text}");
    }
}
