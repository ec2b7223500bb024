//! Backend and store errors, each with a stable snake_case code.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use convq_core::ErrorBody;

/// Where a record is in a store file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordLocation {
    /// 0-based index in the `value` array of a Web API response body.
    BodyIndex(usize),
    /// 0-based index in a top-level JSON array.
    ArrayIndex(usize),
    /// 1-based line of an NDJSON file.
    Line(usize),
}

impl RecordLocation {
    /// JSON pointer of the record: `/value/12`, `/12`, or `""` for an NDJSON line (the line is
    /// its own document).
    #[must_use]
    pub fn pointer(self) -> String {
        match self {
            Self::BodyIndex(i) => format!("/value/{i}"),
            Self::ArrayIndex(i) => format!("/{i}"),
            Self::Line(_) => String::new(),
        }
    }
}

impl fmt::Display for RecordLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BodyIndex(i) => write!(f, "record {i} of `value`"),
            Self::ArrayIndex(i) => write!(f, "record {i} of the array"),
            Self::Line(line) => write!(f, "line {line}"),
        }
    }
}

/// Why a conversation store could not be loaded. Loading is all or nothing.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file could not be read.
    #[error("cannot read the store {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why (shared, so that the error can be cloned).
        source: Arc<std::io::Error>,
    },
    /// The text is not JSON (or an NDJSON line is not).
    #[error("the store is not valid JSON: {message} (line {line}, column {column})")]
    InvalidJson {
        /// serde_json's description, without its position.
        message: String,
        /// 1-based line in the file.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// Valid JSON of the wrong shape.
    #[error(
        "the store must be a Web API response body ({{\"value\": [...]}}), a JSON array of \
         records, or NDJSON (one record object per line); {found}"
    )]
    InvalidShape {
        /// What was found instead.
        found: String,
    },
    /// The body is one page of a larger result.
    #[error(
        "the response body has @odata.nextLink: it is one page of a larger result, so loading it \
         would silently drop the other pages"
    )]
    IncompletePage,
    /// A record has a value the store cannot use.
    #[error("{location}{}{problem}", if field.is_empty() { " ".to_owned() } else { format!(": `{field}` ") })]
    MalformedRecord {
        /// Where the record is.
        location: RecordLocation,
        /// The property, `""` when the record itself is not an object.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Two records have the same `activityid` (the primary key).
    #[error("{location}: activityid {id} is already used by {first}")]
    DuplicateId {
        /// Where the repeat is.
        location: RecordLocation,
        /// The id.
        id: uuid::Uuid,
        /// Where it is used first.
        first: RecordLocation,
    },
    /// A record names the agent lookup by its logical name, without the Web API property: no
    /// query could ever return it.
    #[error(
        "{location}: `{field}` is the agent lookup's logical name; Web API returns it as \
         `{property}`, and without it no query can find the record"
    )]
    LogicalName {
        /// Where the record is.
        location: RecordLocation,
        /// The logical name the record has.
        field: String,
        /// The Web API property it needs.
        property: String,
    },
    /// More records or distinct property names than the store's compact indexes hold.
    #[error("the store has more than {limit} {what}")]
    TooLarge {
        /// Records or property names.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

convq_core::error_codes! {
    /// Every store error code with its meaning, in documentation order.
    pub static STORE_ERROR_CODES: [(&'static str, &'static str)] for StoreError {
        Self::Unreadable { .. } => ("store_unreadable", "The store file cannot be read."),
        Self::InvalidJson { .. } => ("store_invalid_json", "The store file (or an NDJSON line) is not JSON; line and column are given."),
        Self::InvalidShape { .. } => ("store_invalid_shape", "The store is JSON but not a Web API body, an array of records, or NDJSON."),
        Self::IncompletePage => ("store_incomplete_page", "The saved body has @odata.nextLink, so it is only one page of the result."),
        Self::MalformedRecord { .. } => ("store_malformed_record", "A record is not an object, or a property the store evaluates has the wrong type; the path points at it."),
        Self::DuplicateId { .. } => ("store_duplicate_id", "Two records have the same activityid."),
        Self::LogicalName { .. } => ("store_logical_name", "A record has a lookup's logical name (`msdyn_activeagentid`) where Web API has `_msdyn_activeagentid_value`, so no query could find it."),
        Self::TooLarge { .. } => ("store_too_large", "More records or distinct property names than the store holds."),
    }
}

impl StoreError {
    /// JSON pointer into the store document (the record's document for NDJSON), `""` when the
    /// error is not about one value.
    #[must_use]
    pub fn path(&self) -> String {
        match self {
            Self::MalformedRecord {
                location, field, ..
            } if !field.is_empty() => {
                format!("{}/{}", location.pointer(), escape_pointer(field))
            }
            Self::MalformedRecord { location, .. } => location.pointer(),
            Self::DuplicateId { location, .. } => format!("{}/activityid", location.pointer()),
            Self::LogicalName {
                location, field, ..
            } => format!("{}/{}", location.pointer(), escape_pointer(field)),
            _ => String::new(),
        }
    }

    /// A suggestion for fixing the store, where there is one.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::InvalidShape { .. } | Self::InvalidJson { .. } => Some(
                "save the body of GET /api/data/v9.2/msdyn_ocliveworkitems as it is, or write one \
                 record per line"
                    .to_owned(),
            ),
            Self::IncompletePage => Some(
                "save every page (follow @odata.nextLink) into one file, or delete \
                 @odata.nextLink to load this page alone"
                    .to_owned(),
            ),
            Self::LogicalName { property, .. } => Some(format!(
                "records use Web API property names: rename the key to `{property}` (lookups are \
                 `_<logical name>_value`)"
            )),
            Self::MalformedRecord { .. } => Some(
                "records use Web API property names and values: activityid and \
                 _msdyn_activeagentid_value GUID strings, statuscode an integer, createdon an \
                 RFC 3339 date"
                    .to_owned(),
            ),
            _ => None,
        }
    }

    /// The serializable `{code, message, path, hint}` object of a failure envelope.
    #[must_use]
    pub fn to_body(&self) -> ErrorBody {
        ErrorBody::new(self.code(), self.to_string(), self.path(), self.hint())
    }
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Why a backend could not answer a compiled query.
///
/// Messages never contain the bearer token. Cloned for every caller that shares a Dataverse
/// request (coalescing).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// Dataverse rejected the token (HTTP 401).
    #[error("Dataverse rejected the credentials (HTTP 401){}", dataverse_detail(code.as_deref(), message))]
    DataverseUnauthorized {
        /// Dataverse's error code, when the body had one.
        code: Option<String>,
        /// Dataverse's message, or the HTTP reason.
        message: String,
    },
    /// The token is valid but may not read conversations (HTTP 403).
    #[error("Dataverse refused access (HTTP 403){}", dataverse_detail(code.as_deref(), message))]
    DataverseForbidden {
        /// Dataverse's error code, when the body had one.
        code: Option<String>,
        /// Dataverse's message, or the HTTP reason.
        message: String,
    },
    /// Still throttled (429) after the allowed retries.
    #[error(
        "Dataverse is throttling requests (HTTP {status}) and still was after {retries} \
         retries{}",
        retry_after.map(|d| format!("; it asked to wait {} s", d.as_secs())).unwrap_or_default()
    )]
    DataverseThrottled {
        /// 429.
        status: u16,
        /// Retries made.
        retries: u32,
        /// The last `Retry-After`, when it had one.
        retry_after: Option<Duration>,
    },
    /// Still unavailable (503: down, overloaded or in maintenance) after the allowed retries.
    #[error(
        "Dataverse is unavailable (HTTP 503) and still was after {retries} retries{}",
        retry_after.map(|d| format!("; it asked to wait {} s", d.as_secs())).unwrap_or_default()
    )]
    DataverseUnavailable {
        /// Retries made.
        retries: u32,
        /// The last `Retry-After`, when it had one.
        retry_after: Option<Duration>,
    },
    /// A page, or the whole answer, was larger than the client's cap; reading stopped there.
    #[error(
        "Dataverse sent more than {limit} bytes for {what}; convq stopped reading instead of \
         holding it all in memory"
    )]
    DataverseResponseTooLarge {
        /// `one page` or `the whole answer`.
        what: &'static str,
        /// The cap in bytes.
        limit: u64,
    },
    /// Any other HTTP failure, with Dataverse's error body when there was one.
    #[error("Dataverse answered HTTP {status}{}", dataverse_detail(code.as_deref(), message))]
    DataverseError {
        /// HTTP status.
        status: u16,
        /// Dataverse's error code (e.g. `0x80060888`), when the body had one.
        code: Option<String>,
        /// Dataverse's message, or the HTTP reason.
        message: String,
    },
    /// The request did not finish within the total timeout, or in time for the caller's
    /// deadline.
    #[error("Dataverse did not answer within {} ms: {waiting_for}", after.as_millis())]
    DataverseTimeout {
        /// The time it had.
        after: Duration,
        /// What convq was still waiting for, and which limit ran out.
        waiting_for: String,
    },
    /// No connection could be made (DNS, refused, TLS, connect timeout).
    #[error("cannot reach Dataverse at {host}: {reason}")]
    DataverseUnreachable {
        /// Host (and port) of the organization URL.
        host: String,
        /// Why, from the HTTP client.
        reason: String,
    },
    /// A 2xx answer that is not a Web API collection body, or a nextLink that leaves the
    /// organization.
    #[error("Dataverse sent a response convq cannot use: {reason}")]
    DataverseBadResponse {
        /// What is wrong with it.
        reason: String,
    },
    /// `top` was not reached within the page cap; returning the rows so far would silently drop
    /// the rest.
    #[error(
        "the result has more than {max_pages} pages of Dataverse rows; convq stopped instead of \
         returning part of it"
    )]
    DataversePageLimit {
        /// The page cap.
        max_pages: u32,
    },
    /// No token could be had: the credential could not sign in.
    #[error("cannot sign in to Dataverse with {credential}: {reason}")]
    AuthFailed {
        /// Which credential (e.g. `Azure CLI`, `managed identity`, `default`).
        credential: String,
        /// Why, as the credential said it (never a token or secret).
        reason: String,
    },
    /// The client configuration is unusable (organization URL, page size, HTTP client set-up).
    #[error("the Dataverse client configuration is invalid: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// The embedded store could not be loaded.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn dataverse_detail(code: Option<&str>, message: &str) -> String {
    match (code, message.is_empty()) {
        (Some(code), false) => format!(": {message} ({code})"),
        (Some(code), true) => format!(" ({code})"),
        (None, false) => format!(": {message}"),
        (None, true) => String::new(),
    }
}

convq_core::error_codes! {
    /// Every backend error code with its meaning, in documentation order (store codes are in
    /// [`STORE_ERROR_CODES`]).
    pub static BACKEND_ERROR_CODES: [(&'static str, &'static str)] for BackendError {
        Self::DataverseUnauthorized { .. } => ("dataverse_unauthorized", "Dataverse answered 401: the token is missing, expired or for another organization."),
        Self::DataverseForbidden { .. } => ("dataverse_forbidden", "Dataverse answered 403: the caller may not read msdyn_ocliveworkitem."),
        Self::DataverseThrottled { .. } => ("dataverse_throttled", "Dataverse answered 429 after every allowed retry, or asked for a wait longer than a call's retry cap or deadline; the identity stays paused for the whole Retry-After, and convq-http answers 429 with what is left of it."),
        Self::DataverseUnavailable { .. } => ("dataverse_unavailable", "Dataverse answered 503 (down, overloaded, maintenance) after every allowed retry; convq-http answers 503 with Retry-After."),
        Self::DataverseResponseTooLarge { .. } => ("dataverse_response_too_large", "A Dataverse page or the whole answer was over its cap (64 MiB / 256 MiB by default); reading stopped there."),
        Self::DataverseError { .. } => ("dataverse_error", "Any other HTTP failure; Dataverse's own error code and message are in the message."),
        Self::DataverseTimeout { .. } => ("dataverse_timeout", "The whole fetch (all pages and retries) exceeded the total timeout, or would have outlasted the caller's deadline (the HTTP request timeout); the message says what was awaited."),
        Self::DataverseUnreachable { .. } => ("dataverse_unreachable", "No connection: DNS, refused connection, TLS failure or connect timeout."),
        Self::DataverseBadResponse { .. } => ("dataverse_bad_response", "A success status with a body that is not a Web API collection, or a nextLink to another host."),
        Self::DataversePageLimit { .. } => ("dataverse_page_limit", "`top` was not reached within the page cap; no partial result is returned."),
        Self::AuthFailed { .. } => ("dataverse_auth_failed", "No token could be had: the credential (named in the message) could not sign in, and why."),
        Self::InvalidConfig { .. } => ("dataverse_invalid_config", "The organization URL or another client setting is unusable."),
    }
    else Self::Store(error) => error.code()
}

impl BackendError {
    /// What a 429 (throttled) or 503 (unavailable) answer becomes once retries are over.
    #[must_use]
    pub fn rate_limited(status: u16, retries: u32, retry_after: Option<Duration>) -> Self {
        if status == 503 {
            Self::DataverseUnavailable {
                retries,
                retry_after,
            }
        } else {
            Self::DataverseThrottled {
                status,
                retries,
                retry_after,
            }
        }
    }

    /// How long Dataverse asked to wait, when it throttled (429) or was unavailable (503) and
    /// every allowed retry was spent: HTTP adapters answer their caller with the same status
    /// and a `Retry-After`. `Some` (zero when Dataverse gave no wait) exactly for those two.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::DataverseThrottled { retry_after, .. }
            | Self::DataverseUnavailable { retry_after, .. } => {
                Some(retry_after.unwrap_or_default())
            }
            _ => None,
        }
    }

    /// What kind of failure it is (adapters map kinds to exit codes and HTTP statuses).
    #[must_use]
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind;
        match self {
            Self::DataverseTimeout { .. } => ErrorKind::Timeout,
            Self::DataverseThrottled { .. } => ErrorKind::Throttled,
            Self::DataverseUnavailable { .. } => ErrorKind::Unavailable,
            Self::DataverseUnauthorized { .. } | Self::AuthFailed { .. } => ErrorKind::Unauthorized,
            Self::DataverseForbidden { .. } => ErrorKind::Forbidden,
            Self::DataverseResponseTooLarge { .. }
            | Self::DataverseError { .. }
            | Self::DataverseUnreachable { .. }
            | Self::DataverseBadResponse { .. }
            | Self::DataversePageLimit { .. }
            | Self::InvalidConfig { .. }
            | Self::Store(_) => ErrorKind::Backend,
        }
    }

    /// A suggestion for the caller, where there is one.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::DataverseUnauthorized { .. } => Some(
                "check that the identity is a user of this organization (an application user \
                 for an app registration or managed identity) and, with --auth token, that the \
                 token is current; a signed-in credential was already renewed once"
                    .to_owned(),
            ),
            Self::AuthFailed { .. } => Some(
                "sign in first (`az login` for --auth azure-cli), or set the variables of the \
                 chosen --auth mode (see the README, \"Connect to your org\")"
                    .to_owned(),
            ),
            Self::DataverseForbidden { .. } => Some(
                "the user or application needs read access to the Conversation \
                 (msdyn_ocliveworkitem) table"
                    .to_owned(),
            ),
            Self::DataverseThrottled { .. } => {
                Some("retry later, or ask for fewer rows with `top`".to_owned())
            }
            Self::DataverseUnavailable { .. } => Some(
                "the organization is down, overloaded or in maintenance: check its state in the \
                 Power Platform admin center and retry later"
                    .to_owned(),
            ),
            Self::DataverseResponseTooLarge { .. } => Some(
                "ask for fewer rows (`top`, `status`, `createdBeforeDays`) or fewer `attributes`, \
                 or raise --dataverse-max-page-bytes / --dataverse-max-response-bytes"
                    .to_owned(),
            ),
            Self::DataverseTimeout { .. } => Some(
                "the organization is slow or not answering; ask for fewer rows with `top`, or \
                 raise --dataverse-timeout and --request-timeout"
                    .to_owned(),
            ),
            Self::DataversePageLimit { .. } => Some(
                "add `top` to the input, narrow it with `status` or `createdBeforeDays`, or raise \
                 the page cap"
                    .to_owned(),
            ),
            Self::DataverseUnreachable { .. } => Some(
                "check the organization URL (e.g. https://contoso.crm.dynamics.com) and the network"
                    .to_owned(),
            ),
            Self::Store(error) => error.hint(),
            _ => None,
        }
    }

    /// The serializable `{code, message, path, hint}` object of a failure envelope. `path` is
    /// `""` (the error is not about a value of the input) except for store errors, where it
    /// points into the store file.
    #[must_use]
    pub fn to_body(&self) -> ErrorBody {
        let path = match self {
            Self::Store(error) => error.path(),
            _ => String::new(),
        };
        ErrorBody::new(self.code(), self.to_string(), path, self.hint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once() {
        let listed: std::collections::BTreeSet<_> = BACKEND_ERROR_CODES
            .iter()
            .chain(STORE_ERROR_CODES.iter())
            .map(|(code, _)| *code)
            .collect();
        assert_eq!(
            listed.len(),
            BACKEND_ERROR_CODES.len() + STORE_ERROR_CODES.len()
        );
        let samples = [
            BackendError::DataverseTimeout {
                after: Duration::from_secs(1),
                waiting_for: "page 1".into(),
            },
            BackendError::DataverseUnavailable {
                retries: 0,
                retry_after: None,
            },
            BackendError::DataverseResponseTooLarge {
                what: "one page",
                limit: 1,
            },
            BackendError::DataversePageLimit { max_pages: 3 },
            BackendError::Store(StoreError::IncompletePage),
            BackendError::InvalidConfig { reason: "x".into() },
        ];
        for error in samples {
            assert!(listed.contains(error.code()), "{}", error.code());
        }
    }

    #[test]
    fn store_paths_point_into_the_file() {
        let error = StoreError::MalformedRecord {
            location: RecordLocation::BodyIndex(12),
            field: "a/b".into(),
            problem: "must be a GUID".into(),
        };
        assert_eq!(error.path(), "/value/12/a~1b");
        assert_eq!(
            error.to_string(),
            "record 12 of `value`: `a/b` must be a GUID"
        );
        let line = StoreError::MalformedRecord {
            location: RecordLocation::Line(3),
            field: "statuscode".into(),
            problem: "must be an integer".into(),
        };
        assert_eq!(line.path(), "/statuscode");
        assert_eq!(line.to_string(), "line 3: `statuscode` must be an integer");
    }
}
