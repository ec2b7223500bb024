//! The getConversations answer: `{"result":{"values":[...]},"status":true}` or
//! `{"error":{...},"status":false}`, the shapes `Microsoft.Omnichannel.getConversations` resolves with.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `error` object of a failure envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// Stable snake_case code (see `docs/reference/errors.md`).
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// JSON pointer of the offending input value; `""` when the error is not about one value.
    #[serde(default)]
    pub path: String,
    /// How to fix it, where there is a useful suggestion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl ErrorBody {
    /// The body with these fields; `path` is `""` when the error is not about one value.
    #[must_use]
    pub fn new(
        code: &str,
        message: impl Into<String>,
        path: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            path: path.into(),
            hint,
        }
    }
}

/// The `result` object of a success envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResultValues {
    /// The conversation records, with Web API property names.
    pub values: Vec<serde_json::Value>,
}

/// What getConversations resolves with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Envelope {
    /// `{"result":{"values":[...]},"status":true}`
    Success {
        /// The records.
        result: ResultValues,
        /// Always `true`.
        #[schemars(extend("const" = true))]
        status: bool,
    },
    /// `{"error":{...},"status":false}`
    Failure {
        /// The error.
        error: ErrorBody,
        /// Always `false`.
        #[schemars(extend("const" = false))]
        status: bool,
    },
}

impl Envelope {
    /// A success envelope around these records.
    #[must_use]
    pub fn success(values: Vec<serde_json::Value>) -> Self {
        Self::Success {
            result: ResultValues { values },
            status: true,
        }
    }

    /// A failure envelope around this error.
    #[must_use]
    pub fn failure(error: ErrorBody) -> Self {
        Self::Failure {
            error,
            status: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_have_the_api_shapes() {
        let ok = Envelope::success(vec![serde_json::json!({"activityid": "x"})]);
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"result":{"values":[{"activityid":"x"}]},"status":true}"#
        );
        let err = Envelope::from(&crate::Error::ConflictingAgentId);
        let text = serde_json::to_string(&err).unwrap();
        assert!(
            text.starts_with(r#"{"error":{"code":"conflicting_agent_id","#),
            "{text}"
        );
        assert!(text.ends_with(r#""status":false}"#), "{text}");
        let back: Envelope = serde_json::from_str(&text).unwrap();
        assert_eq!(back, err);
    }
}
