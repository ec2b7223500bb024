//! Warnings: the input compiled, but something in it deserves a look.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WarningCode {
    /// A column the catalog does not know, passed through as a custom column.
    UnknownColumn,
    /// A statuscode outside the table's option set, kept.
    UnknownStatus,
    /// No FetchXML orders as the Web API query does: FetchXML sorts choices by label unless
    /// `useraworderby` is set, which also sorts lookups by GUID instead of by name.
    FetchxmlOrderDiffers,
    /// The embedded store cannot order this key as the org does (a lookup without the related
    /// record's name, sorted by GUID instead).
    OrderMayDiffer,
}

impl WarningCode {
    /// The code as text, as it serializes: `unknown_column`, `unknown_status`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownColumn => "unknown_column",
            Self::UnknownStatus => "unknown_status",
            Self::FetchxmlOrderDiffers => "fetchxml_order_differs",
            Self::OrderMayDiffer => "order_may_differ",
        }
    }
}

/// A warning about one value of the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Warning {
    /// Stable code.
    pub code: WarningCode,
    /// JSON pointer of the value.
    pub path: String,
    /// What to look at, for a person.
    pub message: String,
}

impl Warning {
    /// A warning with its code, JSON pointer and message.
    #[must_use]
    pub fn new(code: WarningCode, path: String, message: String) -> Self {
        Self {
            code,
            path,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_text_is_the_serialized_code() {
        for code in [WarningCode::UnknownColumn, WarningCode::UnknownStatus] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}
