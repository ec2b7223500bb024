//! Typed errors with stable codes and JSON pointers into the input.

use crate::envelope::ErrorBody;

/// A limit on the size of the input, each with its own error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// Entries in `attributes`.
    Attributes,
    /// Entries in `status`.
    Statuses,
    /// Entries in `orderBy`.
    OrderKeys,
}

impl Limit {
    /// The largest count accepted.
    #[must_use]
    pub const fn max(self) -> usize {
        match self {
            Self::Attributes => crate::limits::MAX_ATTRIBUTES,
            Self::Statuses => crate::limits::MAX_STATUSES,
            Self::OrderKeys => crate::limits::MAX_ORDER_KEYS,
        }
    }

    const fn code(self) -> &'static str {
        match self {
            Self::Attributes => "too_many_attributes",
            Self::Statuses => "too_many_statuses",
            Self::OrderKeys => "too_many_order_keys",
        }
    }

    const fn noun(self) -> &'static str {
        match self {
            Self::Attributes => "attributes",
            Self::Statuses => "status values",
            Self::OrderKeys => "orderBy keys",
        }
    }
}

/// Why an input was rejected.
///
/// Every variant has a stable snake_case [`code`](Error::code), the JSON pointer of the offending
/// value ([`path`](Error::path), `""` for the whole input) and, where one helps, a
/// [`hint`](Error::hint). [`Error::to_body`] gives the serializable form every adapter prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not JSON.
    #[error("the input is not valid JSON: {message} (line {line}, column {column})")]
    InvalidJson {
        /// serde_json's description, without its position.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// An object has the same key twice (JSON parsers disagree on which one wins).
    #[error(
        "{} appears twice in its object (line {line}, column {column})",
        describe(path)
    )]
    DuplicateKey {
        /// Pointer to the repeated key.
        path: String,
        /// 1-based line of the repeat.
        line: usize,
        /// 1-based column of the repeat.
        column: usize,
    },
    /// The input is larger than [`limits::MAX_INPUT_BYTES`](crate::limits::MAX_INPUT_BYTES).
    #[error("the input is {size} bytes; the limit is {limit} bytes")]
    InputTooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A value has the wrong JSON type.
    #[error("{} must be {expected}, found {found}", describe(path))]
    InvalidType {
        /// Where.
        path: String,
        /// What was expected, in words.
        expected: &'static str,
        /// What was found, in words.
        found: &'static str,
    },
    /// An object has a key the input format does not define.
    #[error("unknown field `{name}` in {}", describe(parent(path)))]
    UnknownField {
        /// Pointer to the unknown key's value.
        path: String,
        /// The key as given.
        name: String,
        /// The known key it most likely meant.
        suggestion: Option<&'static str>,
    },
    /// A required key is absent.
    #[error("{} is required", describe(path))]
    MissingField {
        /// Pointer to where the key belongs.
        path: String,
    },
    /// Both spellings of the agent id are present.
    #[error("both `agentId` and `agentID` are given")]
    ConflictingAgentId,
    /// `agentId` is not a GUID.
    #[error("{} is not a GUID: {value:?}", describe(path))]
    InvalidAgentId {
        /// Where.
        path: String,
        /// The value as given.
        value: String,
    },
    /// A column name is not a valid Dataverse logical name.
    #[error("{} is not a valid column name ({reason}): {value:?}", describe(path))]
    InvalidColumnName {
        /// Where.
        path: String,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A known column that Web API cannot select or order by.
    #[error(
        "{} names `{name}`, which cannot be used here: {reason}",
        describe(path)
    )]
    UnsupportedColumn {
        /// Where.
        path: String,
        /// The column's logical name.
        name: String,
        /// Why not.
        reason: &'static str,
    },
    /// A column the catalog does not know, rejected because unknown columns are errors.
    #[error(
        "{} names `{name}`, which is not a column of msdyn_ocliveworkitem",
        describe(path)
    )]
    UnknownColumn {
        /// Where.
        path: String,
        /// The column's logical name.
        name: String,
        /// The known column it most likely meant.
        suggestion: Option<&'static str>,
    },
    /// A `status` entry is not a statuscode value.
    #[error("{} is not a statuscode value ({reason}): {value}", describe(path))]
    InvalidStatus {
        /// Where.
        path: String,
        /// The value as given (JSON text).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An integer outside its allowed range.
    #[error(
        "{} must be an integer from {min} to {max}, found {value}",
        describe(path)
    )]
    OutOfRange {
        /// Where.
        path: String,
        /// The value as given (JSON text).
        value: String,
        /// Smallest allowed.
        min: u32,
        /// Largest allowed.
        max: u32,
    },
    /// An array has more entries than its limit.
    #[error("{} has {count} {}; the limit is {}", describe(path), limit.noun(), limit.max())]
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// Where.
        path: String,
        /// How many were given.
        count: usize,
    },
    /// The same column appears twice in `orderBy`.
    #[error("{} repeats `{name}` (first at `{first}`)", describe(path))]
    DuplicateOrderKey {
        /// Where the repeat is.
        path: String,
        /// The column's logical name.
        name: String,
        /// Pointer to its first use.
        first: String,
    },
    /// `Options::base_url` is not an organization URL.
    #[error("the base URL {value:?} is not usable: {reason}")]
    InvalidBaseUrl {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The rendered request is longer than Dataverse accepts in a GET.
    #[error("the request URL is {length} characters; Dataverse accepts at most {limit}")]
    RequestTooLong {
        /// Length of the URL (or path, without a base URL).
        length: usize,
        /// The limit.
        limit: usize,
    },
}

/// Every error code, in documentation order.
pub const ERROR_CODES: &[(&str, &str)] = &[
    (
        "invalid_json",
        "The input is not valid JSON; the message gives line and column.",
    ),
    (
        "duplicate_key",
        "An object has the same key twice; the path points at the repeat.",
    ),
    ("input_too_large", "The input is over 1 MiB."),
    (
        "invalid_type",
        "A value has the wrong JSON type (for example `status` is not an array).",
    ),
    (
        "unknown_field",
        "An object has a key the input format does not define; the hint suggests the closest known key.",
    ),
    (
        "missing_field",
        "A required key is absent: `agentId`, or `attributeName` in an `orderBy` entry.",
    ),
    (
        "conflicting_agent_id",
        "Both `agentId` and `agentID` are given.",
    ),
    (
        "invalid_agent_id",
        "`agentId` is not a GUID in 8-4-4-4-12 form (braces and upper case are accepted).",
    ),
    (
        "invalid_column_name",
        "A column name is not a Dataverse logical name (letters, digits, `_`).",
    ),
    (
        "unsupported_column",
        "A PartyList or EntityName column, which Web API cannot select or order by.",
    ),
    (
        "unknown_column",
        "A column not in the catalog while unknown columns are errors (strict mode).",
    ),
    (
        "invalid_status",
        "A `status` entry is not an integer statuscode from 0 to 2147483647.",
    ),
    (
        "out_of_range",
        "`createdBeforeDays` (1..=36500) or `top` (1..=5000) is not an integer in range.",
    ),
    (
        "too_many_attributes",
        "More than 500 entries in `attributes`.",
    ),
    ("too_many_statuses", "More than 64 entries in `status`."),
    ("too_many_order_keys", "More than 16 entries in `orderBy`."),
    (
        "duplicate_order_key",
        "The same column appears twice in `orderBy`.",
    ),
    (
        "invalid_base_url",
        "The base URL option is not an `http(s)://host` organization URL.",
    ),
    (
        "request_too_long",
        "The request URL would exceed Dataverse's 32,768-character limit.",
    ),
];

impl Error {
    /// The stable machine-readable code, one of [`ERROR_CODES`].
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidJson { .. } => "invalid_json",
            Self::DuplicateKey { .. } => "duplicate_key",
            Self::InputTooLarge { .. } => "input_too_large",
            Self::InvalidType { .. } => "invalid_type",
            Self::UnknownField { .. } => "unknown_field",
            Self::MissingField { .. } => "missing_field",
            Self::ConflictingAgentId => "conflicting_agent_id",
            Self::InvalidAgentId { .. } => "invalid_agent_id",
            Self::InvalidColumnName { .. } => "invalid_column_name",
            Self::UnsupportedColumn { .. } => "unsupported_column",
            Self::UnknownColumn { .. } => "unknown_column",
            Self::InvalidStatus { .. } => "invalid_status",
            Self::OutOfRange { .. } => "out_of_range",
            Self::LimitExceeded { limit, .. } => limit.code(),
            Self::DuplicateOrderKey { .. } => "duplicate_order_key",
            Self::InvalidBaseUrl { .. } => "invalid_base_url",
            Self::RequestTooLong { .. } => "request_too_long",
        }
    }

    /// JSON pointer (RFC 6901) of the offending value in the input; `""` is the whole input.
    #[must_use]
    pub fn path(&self) -> &str {
        match self {
            Self::InvalidType { path, .. }
            | Self::UnknownField { path, .. }
            | Self::MissingField { path }
            | Self::InvalidAgentId { path, .. }
            | Self::InvalidColumnName { path, .. }
            | Self::UnsupportedColumn { path, .. }
            | Self::UnknownColumn { path, .. }
            | Self::InvalidStatus { path, .. }
            | Self::OutOfRange { path, .. }
            | Self::LimitExceeded { path, .. }
            | Self::DuplicateOrderKey { path, .. }
            | Self::DuplicateKey { path, .. } => path,
            Self::ConflictingAgentId => "/agentID",
            Self::InvalidJson { .. }
            | Self::InputTooLarge { .. }
            | Self::InvalidBaseUrl { .. }
            | Self::RequestTooLong { .. } => "",
        }
    }

    /// A suggestion for fixing the input, where there is a useful one.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::UnknownField {
                suggestion: Some(known),
                ..
            }
            | Self::UnknownColumn {
                suggestion: Some(known),
                ..
            } => Some(format!("did you mean `{known}`?")),
            Self::UnknownField { name, .. } if name == "correlationId" => Some(
                "the correlation id is the second argument of getConversations, not part of the \
                 input (CLI: --correlation-id, HTTP: the x-correlation-id header)"
                    .to_owned(),
            ),
            Self::UnknownField { path, .. } if path.starts_with("/orderBy/") => {
                Some("an orderBy entry has the keys attributeName and descending".to_owned())
            }
            Self::UnknownField { .. } => Some(
                "the input keys are agentId, attributes, status, orderBy, createdBeforeDays and top"
                    .to_owned(),
            ),
            Self::UnknownColumn { .. } => Some(
                "declare custom columns in the options (extraColumns), or allow unknown columns"
                    .to_owned(),
            ),
            Self::MissingField { path } if path == "/agentId" => Some(
                "getConversations needs the agent's systemuser id, e.g. \
                 {\"agentId\": \"2b330c52-6844-4d36-8e05-03c78c9681dc\"}"
                    .to_owned(),
            ),
            Self::ConflictingAgentId => {
                Some("`agentID` is an alias of `agentId`; keep one of them".to_owned())
            }
            Self::InvalidAgentId { .. } => Some(
                "give the GUID as 8-4-4-4-12 hex digits, e.g. 2b330c52-6844-4d36-8e05-03c78c9681dc; \
                 braces and upper case are accepted"
                    .to_owned(),
            ),
            Self::InvalidColumnName { path, value, .. } => {
                invalid_column_name_hint(path, value).map(str::to_owned)
            }
            Self::InvalidStatus { value, .. } if value.contains(',') => Some(
                "give each statuscode as its own array element, e.g. [2, 3]".to_owned(),
            ),
            Self::InvalidStatus { .. } => Some(
                "statuscode values of msdyn_ocliveworkitem: 1 Open, 2 Active, 3 Waiting, 4 Closed, \
                 5 Wrap-up, 6 Resolved, 7 Scheduled"
                    .to_owned(),
            ),
            Self::DuplicateKey { .. } => Some("keep one of the two".to_owned()),
            Self::DuplicateOrderKey { .. } => {
                Some("order by each column at most once".to_owned())
            }
            Self::InvalidBaseUrl { .. } => Some(
                "give the organization URL only, e.g. https://contoso.crm.dynamics.com".to_owned(),
            ),
            Self::RequestTooLong { .. } => Some(
                "select fewer attributes, or send the GET inside a $batch request (64 KB limit)"
                    .to_owned(),
            ),
            Self::UnsupportedColumn { .. } => Some(
                "remove it; the other columns of the conversation are selectable as they are"
                    .to_owned(),
            ),
            _ => None,
        }
    }

    /// The serializable `{code, message, path, hint}` object of the failure envelope.
    #[must_use]
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code().to_owned(),
            message: self.to_string(),
            path: self.path().to_owned(),
            hint: self.hint(),
        }
    }
}

impl serde::Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_body().serialize(serializer)
    }
}

/// What to do about a column name that is not a logical name, when there is something to say.
fn invalid_column_name_hint(path: &str, value: &str) -> Option<&'static str> {
    let in_order_by = path.starts_with("/orderBy/");
    let trimmed = value.trim();
    let mut words = trimmed.split_whitespace().skip(1);
    let direction_word = matches!((words.next(), words.next()), (Some(word), None)
        if word.eq_ignore_ascii_case("asc") || word.eq_ignore_ascii_case("desc"));
    if value.contains(',') {
        Some(if in_order_by {
            "give each column its own orderBy entry, and the direction as `descending`, e.g. \
             [{\"attributeName\": \"createdon\", \"descending\": true}, \
             {\"attributeName\": \"msdyn_title\"}]"
        } else {
            "give each column as its own array element, e.g. [\"msdyn_title\", \"msdyn_channel\"]"
        })
    } else if trimmed.is_empty() {
        Some("remove the empty entry")
    } else if in_order_by && direction_word {
        Some(
            "give the direction as `descending`, e.g. \
             {\"attributeName\": \"createdon\", \"descending\": true}",
        )
    } else if crate::normalize::invalid_name_reason(&trimmed.to_ascii_lowercase()).is_some() {
        Some("logical names are lowercase letters, digits and `_`, e.g. msdyn_title")
    } else {
        // The name is fine but names the wrong thing (`_x_value` of a column that is not a
        // lookup): the message already says what to write instead.
        None
    }
}

/// `"/status/2"` → `` `status[2]` ``-like prose for messages; the pointer itself is in `path`.
fn describe(path: &str) -> String {
    if path.is_empty() {
        "the input".to_owned()
    } else {
        format!("`{path}`")
    }
}

fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// Appends an object key to a JSON pointer, escaping `~` and `/` as RFC 6901 requires.
pub(crate) fn pointer_key(path: &str, key: &str) -> String {
    let mut out = String::with_capacity(path.len() + key.len() + 1);
    out.push_str(path);
    out.push('/');
    for ch in key.chars() {
        match ch {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            _ => out.push(ch),
        }
    }
    out
}

/// Appends an array index to a JSON pointer.
///
/// Digits by hand rather than `format!`, which costs several times more: a large input can
/// need hundreds of pointers (one per warning).
pub(crate) fn pointer_index(path: &str, index: usize) -> String {
    let digits = index.checked_ilog10().map_or(1, |log| log as usize + 1);
    let mut out = String::with_capacity(path.len() + 1 + digits);
    out.push_str(path);
    out.push('/');
    crate::render::push_unsigned(&mut out, index as u64);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_escapes_tilde_and_slash() {
        assert_eq!(pointer_key("", "a/b~c"), "/a~1b~0c");
        assert_eq!(pointer_index("/status", 2), "/status/2");
        assert_eq!(pointer_index("", 0), "/0");
        assert_eq!(
            pointer_index("/a", usize::MAX),
            format!("/a/{}", usize::MAX)
        );
    }

    #[test]
    fn every_code_is_documented_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (code, _) in ERROR_CODES {
            assert!(seen.insert(*code), "{code} listed twice");
        }
        let limit = Error::LimitExceeded {
            limit: Limit::OrderKeys,
            path: "/orderBy".into(),
            count: 17,
        };
        assert!(seen.contains(limit.code()));
        assert_eq!(
            limit.to_string(),
            "`/orderBy` has 17 orderBy keys; the limit is 16"
        );
    }

    #[test]
    fn invalid_column_names_get_the_hint_that_fits() {
        let hint = |path: &str, value: &str| {
            Error::InvalidColumnName {
                path: path.into(),
                value: value.into(),
                reason: String::new(),
            }
            .hint()
        };
        let has = |hint: Option<String>, words: &str| hint.is_some_and(|h| h.contains(words));
        assert!(has(hint("/attributes/0", "a, b"), "own array element"));
        assert!(has(
            hint("/orderBy/0/attributeName", "a,b"),
            "own orderBy entry"
        ));
        assert!(has(
            hint("/orderBy/0/attributeName", "createdon DESC"),
            "`descending`"
        ));
        assert!(has(hint("/attributes/0", " "), "remove the empty entry"));
        for value in ["msdyn title", "createdon desc", "a.b", "1a", "é", "a%20b"] {
            assert!(
                has(hint("/attributes/0", value), "lowercase letters"),
                "{value}"
            );
        }
        assert_eq!(hint("/attributes/0", "_msdyn_title_value"), None);
    }

    #[test]
    fn unknown_field_message_names_the_parent() {
        let err = Error::UnknownField {
            path: "/orderBy/0/desc".into(),
            name: "desc".into(),
            suggestion: Some("descending"),
        };
        assert_eq!(err.to_string(), "unknown field `desc` in `/orderBy/0`");
        assert_eq!(err.hint().as_deref(), Some("did you mean `descending`?"));
    }
}
