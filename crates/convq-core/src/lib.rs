//! Compile `Microsoft.Omnichannel.getConversations` input into the Dataverse Web API query for
//! the conversation table (`msdyn_ocliveworkitems`).
//!
//! You probably want [`compile`]: input JSON in, [`Compiled`] out (the normalized [`Query`], the
//! `$select/$filter/$orderby` parts, the `Xrm.WebApi` options string, the percent-encoded request
//! path, FetchXML, and warnings), or an [`Error`] with a stable code and the JSON pointer of the
//! offending value.
//!
//! ```
//! let input = r#"{"agentId": "{2B330C52-6844-4D36-8E05-03C78C9681DC}", "status": [3, "2"]}"#;
//! let compiled = convq_core::compile(input, &convq_core::Options::default()).unwrap();
//! assert_eq!(
//!     compiled.filter,
//!     "_msdyn_activeagentid_value eq 2b330c52-6844-4d36-8e05-03c78c9681dc \
//!      and (statuscode eq 2 or statuscode eq 3)"
//! );
//!
//! let err = convq_core::compile(r#"{"agentId": "x"}"#, &Default::default()).unwrap_err();
//! assert_eq!((err.code(), err.path()), ("invalid_agent_id", "/agentId"));
//! ```
//!
//! The function is pure: no I/O, no clock, no environment, no global state. Same input and
//! options, same output, on every platform (including wasm32).
//!
//! Pipeline: parse (serde_json, into a tree that borrows the input's strings) → validate and
//! normalize ([`Query`]) → render (Web API, URL, FetchXML). See `docs/architecture.md`.

mod agents;
mod ast;
pub mod catalog;
mod decode;
mod envelope;
mod error;
mod input;
mod json;
pub mod limits;
mod normalize;
mod options;
mod options_string;
mod render;
mod suggest;
mod warning;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use agents::{AGENT_PROPERTY, AgentsRequest, render_agents};
pub use ast::{Column, CreatedBeforeDays, OrderKey, Query};
pub use decode::decode_input;
pub use envelope::{Envelope, ErrorBody, ResultValues};
pub use error::{ERROR_CODES, Error, Limit};
pub use input::{Input, OrderByInput, StatusInput, StatusValue};
pub use json::{json_error_message, json_type_name};
pub use options::{DaysReading, ExtraColumn, Options, StatusFilter, UnknownColumns};
pub use options_string::{OptionsQuery, OptionsStringError, read_options_string};
pub use render::encode_uri_component;
pub use warning::{Warning, WarningCode};

/// Everything [`compile`] produces. Serializable data with stable camelCase field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Compiled {
    /// The normalized query.
    pub ast: Query,
    /// `$select` value: Web API property names, comma-separated.
    pub select: String,
    /// `$filter` value.
    pub filter: String,
    /// `$orderby` value, when the input orders: its keys, then `activityid asc` unless one of
    /// them is `activityid` (so the order is total and pages neither repeat nor skip rows).
    pub orderby: Option<String>,
    /// `$top` value, when the input limits.
    pub top: Option<u32>,
    /// `?$select=...&$filter=...`: the options argument of
    /// `Xrm.WebApi.retrieveMultipleRecords("msdyn_ocliveworkitem", options)`. Not percent-encoded.
    pub options: String,
    /// `/api/data/v9.2/msdyn_ocliveworkitems?...` with every option value percent-encoded as
    /// `encodeURIComponent` does. Decoding its query gives `options` back.
    pub path: String,
    /// The full request URL, when [`Options::base_url`] is set.
    pub url: Option<String>,
    /// The equivalent FetchXML query.
    pub fetchxml: String,
    /// Things worth a look that did not stop compilation.
    pub warnings: Vec<Warning>,
}

/// Compiles getConversations input JSON text.
///
/// # Errors
/// Any [`Error`]: malformed JSON (with line and column), a key given twice, input over 1 MiB, or an invalid value
/// (with its JSON pointer).
pub fn compile(input: &str, options: &Options) -> Result<Compiled, Error> {
    if input.len() > limits::MAX_INPUT_BYTES {
        return Err(Error::InputTooLarge {
            size: input.len(),
            limit: limits::MAX_INPUT_BYTES,
        });
    }
    compile_json(&json::parse(input)?, options)
}

fn compile_json(input: &json::Json<'_>, options: &Options) -> Result<Compiled, Error> {
    let base_url = options.base_url.as_deref().map(base_url).transpose()?;
    let mut warnings = Vec::new();
    let ast = normalize::normalize(input, options, &mut warnings)?;

    let select = render::select(&ast);
    let filter = render::filter(&ast, options.status_filter);
    let orderby = render::orderby(&ast);
    let top_text = ast.top.map(|t| t.to_string());
    let pairs = render::option_pairs(&select, &filter, orderby.as_deref(), top_text.as_deref());
    let options_string = render::options_string(&pairs);
    let path = render::request_path(&pairs);
    let url = base_url.map(|base| format!("{base}{path}"));

    let length = url.as_ref().map_or(path.len(), String::len);
    if length > limits::MAX_URL_LENGTH {
        return Err(Error::RequestTooLong {
            length,
            limit: limits::MAX_URL_LENGTH,
        });
    }

    let (fetchxml, fetchxml_warning) = render::fetchxml(&ast);
    warnings.extend(fetchxml_warning);
    Ok(Compiled {
        fetchxml,
        top: ast.top,
        ast,
        select,
        filter,
        orderby,
        options: options_string,
        path,
        url,
        warnings,
    })
}

/// Validates an organization URL and returns it without a trailing slash.
fn base_url(value: &str) -> Result<&str, Error> {
    let invalid = |reason| Error::InvalidBaseUrl {
        value: value.to_owned(),
        reason,
    };
    let trimmed = value.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| invalid("it must start with https:// or http://"))?;
    if rest.is_empty() {
        return Err(invalid("it has no host"));
    }
    if rest.contains(['/', '?', '#']) {
        return Err(invalid(
            "it must be the organization URL alone, without a path, query or fragment",
        ));
    }
    if rest
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '@' || c == '\\')
    {
        return Err(invalid("it contains characters a host cannot have"));
    }
    Ok(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_accepts_org_urls_only() {
        assert_eq!(
            base_url("https://contoso.crm.dynamics.com/").unwrap(),
            "https://contoso.crm.dynamics.com"
        );
        assert_eq!(
            base_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "contoso.crm.dynamics.com",
            "https://",
            "https://contoso.crm.dynamics.com/api/data/v9.2",
            "https://a b",
            "https://user@host",
        ] {
            assert_eq!(
                base_url(bad).unwrap_err().code(),
                "invalid_base_url",
                "{bad}"
            );
        }
    }
}
