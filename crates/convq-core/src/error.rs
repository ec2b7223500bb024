//! Typed errors with stable codes and JSON pointers into the input.

use std::borrow::Cow;

use crate::envelope::ErrorBody;
use crate::limits;

/// Gives an error enum its `code()` and the table of every code with its meaning, from one
/// list: each row is a pattern of the enum, then the table row its errors have, which starts
/// with the code. An `else` arm can hand the rest to a wrapped error's own `code()`.
///
/// ```
/// #[derive(Debug)]
/// enum MyError { Late { seconds: u64 }, Gone }
/// convq_core::error_codes! {
///     /// Every code of `MyError`.
///     pub static MY_CODES: [(&'static str, &'static str)] for MyError {
///         Self::Late { .. } => ("late", "It took too long."),
///         Self::Gone => ("gone", "It is not there any more."),
///     }
/// }
/// assert_eq!(MyError::Gone.code(), "gone");
/// assert_eq!(MY_CODES[0], ("late", "It took too long."));
/// ```
#[macro_export]
macro_rules! error_codes {
    (
        $(#[$attr:meta])*
        $vis:vis static $table:ident: [$row:ty] for $ty:ty {
            $($pattern:pat => ($code:literal $(, $field:expr)* $(,)?)),* $(,)?
        }
        $(else $rest:pat => $rest_code:expr)?
    ) => {
        $(#[$attr])*
        $vis static $table: ::std::sync::LazyLock<::std::vec::Vec<$row>> =
            ::std::sync::LazyLock::new(|| ::std::vec![$(($code $(, $field)*)),*]);

        impl $ty {
            /// The stable snake_case code of this error; the codes are listed, with their
            /// meanings, in the table beside the type.
            #[must_use]
            pub fn code(&self) -> &'static str {
                match self {
                    $($pattern => $code,)*
                    $($rest => $rest_code,)?
                }
            }
        }
    };
}

/// Why a multi-select choice column cannot be an `orderBy` key (`unsupported_column`'s reason,
/// which also picks its hint).
pub(crate) const MULTI_SELECT_ORDER: &str = "it is a multi-select choice column (MultiSelectPicklist), and Dataverse does not sort by \
     those: its values are sets of options, with no order of their own";

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
    #[error(
        "unknown field `{}` in {}",
        shorten(name, QUOTED),
        describe(parent(path))
    )]
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
    /// Both spellings of the agent id are present, with different GUIDs.
    #[error("`agentId` and `agentID` name different agents")]
    ConflictingAgentId,
    /// `agentId` is not a GUID.
    #[error("{} is not a GUID: {:?}", describe(path), shorten(value, QUOTED))]
    InvalidAgentId {
        /// Where.
        path: String,
        /// The value as given.
        value: String,
    },
    /// A column name is not a valid Dataverse logical name.
    #[error(
        "{} is not a valid column name ({reason}): {:?}",
        describe(path),
        shorten(value, QUOTED)
    )]
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
        "{} names `{}`, which cannot be used here: {reason}",
        describe(path),
        shorten(name, QUOTED)
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
        "{} names `{}`, which is not a column of msdyn_ocliveworkitem",
        describe(path),
        shorten(name, QUOTED)
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
    #[error(
        "{} is not a statuscode value ({reason}): {}",
        describe(path),
        shorten(value, QUOTED)
    )]
    InvalidStatus {
        /// Where.
        path: String,
        /// The value as given (JSON text).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An integer outside its allowed range.
    #[error(
        "{} must be an integer from {min} to {max}, found {}",
        describe(path),
        shorten(value, QUOTED)
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
    #[error(
        "{} repeats `{}` (first at {})",
        describe(path),
        shorten(name, QUOTED),
        describe(first)
    )]
    DuplicateOrderKey {
        /// Where the repeat is.
        path: String,
        /// The column's logical name.
        name: String,
        /// Pointer to its first use.
        first: String,
    },
    /// `Options::base_url` is not an organization URL.
    #[error("the base URL {:?} is not usable: {reason}", shorten(value, QUOTED))]
    InvalidBaseUrl {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The compile options (not the input) are not valid: not an object, an unknown key, or a
    /// value of the wrong type. [`Error::path`] points into the options.
    #[error("the options are not valid: {message}")]
    InvalidOptions {
        /// JSON pointer into the options (`""`: the options as a whole).
        path: String,
        /// What is wrong.
        message: String,
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

error_codes! {
    /// Every error code with its meaning, in documentation order.
    pub static ERROR_CODES: [(&'static str, String)] for Error {
        Self::InvalidJson { .. } => (
            "invalid_json",
            "The input is not valid JSON; the message gives line and column.".into(),
        ),
        Self::DuplicateKey { .. } => (
            "duplicate_key",
            "An object has the same key twice; the path points at the repeat.".into(),
        ),
        Self::InputTooLarge { .. } => (
            "input_too_large",
            format!("The input is over {} MiB.", limits::MAX_INPUT_BYTES >> 20),
        ),
        Self::InvalidType { .. } => (
            "invalid_type",
            "A value has the wrong JSON type (for example `status` is not an array).".into(),
        ),
        Self::UnknownField { .. } => (
            "unknown_field",
            "An object has a key the input format does not define; the hint suggests the \
             closest known key."
                .into(),
        ),
        Self::MissingField { .. } => (
            "missing_field",
            "A required key is absent: `agentId`, or `attributeName` in an `orderBy` entry.".into(),
        ),
        Self::ConflictingAgentId => (
            "conflicting_agent_id",
            "Both `agentId` and `agentID` are given.".into(),
        ),
        Self::InvalidAgentId { .. } => (
            "invalid_agent_id",
            "`agentId` is not a GUID in 8-4-4-4-12 form (braces and upper case are accepted)."
                .into(),
        ),
        Self::InvalidColumnName { .. } => (
            "invalid_column_name",
            "A column name is not a Dataverse logical name (letters, digits, `_`).".into(),
        ),
        Self::UnsupportedColumn { .. } => (
            "unsupported_column",
            "A PartyList or EntityName column, which Web API cannot select or order by.".into(),
        ),
        Self::UnknownColumn { .. } => (
            "unknown_column",
            "A column not in the catalog while unknown columns are errors (strict mode).".into(),
        ),
        Self::InvalidStatus { .. } => (
            "invalid_status",
            format!(
                "A `status` entry is not an integer statuscode from 0 to {}.",
                limits::MAX_STATUS_VALUE
            ),
        ),
        Self::OutOfRange { .. } => (
            "out_of_range",
            format!(
                "`createdBeforeDays` ({}..={}) or `top` ({}..={}) is not an integer in range.",
                limits::DAYS_RANGE.0,
                limits::DAYS_RANGE.1,
                limits::TOP_RANGE.0,
                limits::TOP_RANGE.1
            ),
        ),
        Self::LimitExceeded { limit: Limit::Attributes, .. } => (
            "too_many_attributes",
            format!("More than {} entries in `attributes`.", limits::MAX_ATTRIBUTES),
        ),
        Self::LimitExceeded { limit: Limit::Statuses, .. } => (
            "too_many_statuses",
            format!("More than {} entries in `status`.", limits::MAX_STATUSES),
        ),
        Self::LimitExceeded { limit: Limit::OrderKeys, .. } => (
            "too_many_order_keys",
            format!("More than {} entries in `orderBy`.", limits::MAX_ORDER_KEYS),
        ),
        Self::DuplicateOrderKey { .. } => (
            "duplicate_order_key",
            "The same column appears twice in `orderBy`.".into(),
        ),
        Self::InvalidBaseUrl { .. } => (
            "invalid_base_url",
            "The base URL option is not an `http(s)://host` organization URL.".into(),
        ),
        Self::InvalidOptions { .. } => (
            "invalid_options",
            "The compile options are not an object, or have an unknown key or a value of the \
             wrong type; `path` points into the options."
                .into(),
        ),
        Self::RequestTooLong { .. } => (
            "request_too_long",
            format!(
                "The request URL would exceed Dataverse's {}-character limit.",
                limits::MAX_URL_LENGTH
            ),
        ),
    }
}

impl Error {
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
            | Self::DuplicateKey { path, .. }
            | Self::InvalidOptions { path, .. } => path,
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
            Self::InvalidOptions { .. } => Some(
                "the options keys are baseUrl, unknownColumns (\"warn\" | \"error\"), \
                 extraColumns ([{logicalName, type}]), statusFilter (\"orChain\" | \"crmIn\") \
                 and createdBeforeDays (\"lastXDays\" | \"olderThanXDays\")"
                    .to_owned(),
            ),
            Self::RequestTooLong { .. } => Some(
                "select fewer attributes, or send the GET inside a $batch request (64 KB limit)"
                    .to_owned(),
            ),
            Self::UnsupportedColumn { reason, .. }
                if *reason == MULTI_SELECT_ORDER =>
            {
                Some("order by another column; select it to get its values".to_owned())
            }
            Self::UnsupportedColumn { .. } => Some(
                "remove it; the other columns of the conversation are selectable as they are"
                    .to_owned(),
            ),
            _ => None,
        }
    }

    /// The serializable `{code, message, path, hint}` object of the failure envelope. Its
    /// message and path quote at most a short prefix of any value from the input, so the body
    /// stays small (well under 4 KB) whatever the input.
    #[must_use]
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody::new(
            self.code(),
            shorten(&self.to_string(), MESSAGE),
            shorten(self.path(), POINTER),
            self.hint(),
        )
    }
}

impl From<&Error> for crate::envelope::Envelope {
    fn from(error: &Error) -> Self {
        Self::failure(error.to_body())
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
    } else if crate::catalog::invalid_name_reason(&trimmed.to_ascii_lowercase()).is_some() {
        Some("logical names are lowercase letters, digits and `_`, e.g. msdyn_title")
    } else {
        // The name is fine but names the wrong thing (`_x_value` of a column that is not a
        // lookup): the message already says what to write instead.
        None
    }
}

/// How much of a value from the input a message quotes, in characters: enough to recognize
/// it, and a hostile megabyte is not echoed back.
pub(crate) const QUOTED: usize = 64;
/// How much of a JSON pointer a message or error body shows, in characters.
const POINTER: usize = 80;
/// The longest message an error body carries, in characters (a guard: messages are shorter).
const MESSAGE: usize = 400;

/// `text`, cut after `max` characters with an ellipsis.
pub(crate) fn shorten(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]).into(),
        None => text.into(),
    }
}

/// `` `/status/2` `` for messages, or "the input" for the empty pointer.
fn describe(path: &str) -> String {
    if path.is_empty() {
        "the input".to_owned()
    } else {
        format!("`{}`", shorten(path, POINTER))
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
pub(crate) fn pointer_index(path: &str, index: usize) -> String {
    format!("{path}/{index}")
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
        for (code, _) in ERROR_CODES.iter() {
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
