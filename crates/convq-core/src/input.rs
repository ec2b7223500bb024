//! The documented getConversations input, as a type: the source of the JSON Schema and the
//! canonical form [`Query::to_input`](crate::Query::to_input) returns.
//!
//! [`compile`](crate::compile) does not deserialize into this type: it walks the JSON itself so
//! that every error can name the exact value (`/orderBy/0/attributeName`) and the rules below
//! (trimming, lookups, numeric strings) apply.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::limits;

/// Input of `Microsoft.Omnichannel.getConversations(input, correlationId)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Input {
    /// The agent's systemuser id: a GUID, any case, with or without braces. `agentID` is
    /// accepted as an alias (the documentation's heading spells it so); given both, they must
    /// name the same GUID.
    #[serde(alias = "agentID")]
    #[schemars(regex(
        pattern = r"^\s*(\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})\s*$"
    ))]
    pub agent_id: String,
    /// Extra columns to return, after `msdyn_ocliveworkitemid, msdyn_liveworkstreamid,
    /// msdyn_lastsessionid, statuscode, createdon`. Logical names, case-insensitive; a lookup can
    /// also be given as `_<name>_value`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::MAX_ATTRIBUTES))]
    pub attributes: Vec<String>,
    /// statuscode values to keep (1 Open, 2 Active, 3 Waiting, 4 Closed, 5 Wrap-up, 6 Resolved,
    /// 7 Scheduled), as integers (`3`, `3.0`), numeric strings (`"3"`) or comma-separated
    /// strings (`"2,3"`, "array of strings with comma-separated values" as the documentation
    /// puts it); the whole field may also be one such string. Empty or absent: any status.
    #[serde(default, skip_serializing_if = "StatusInput::is_empty")]
    pub status: StatusInput,
    /// Sort keys, in order of precedence; each column at most once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::MAX_ORDER_KEYS))]
    pub order_by: Vec<OrderByInput>,
    /// Keep conversations created within the last N days (or, with the option
    /// `createdBeforeDays: "olderThanXDays"`, created more than N days ago). An integer; `7.0`
    /// is accepted as `7`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = limits::DAYS_RANGE.0, max = limits::DAYS_RANGE.1))]
    pub created_before_days: Option<u32>,
    /// convq extension: at most this many rows (`$top`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = limits::TOP_RANGE.0, max = limits::TOP_RANGE.1))]
    pub top: Option<u32>,
}

/// The `status` field: a list of values, or one comma-separated string (`"2,3"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StatusInput {
    /// `[3, "2", "4,5"]`
    List(#[schemars(length(max = limits::MAX_STATUSES))] Vec<StatusValue>),
    /// `"2,3"`
    Joined(String),
}

impl Default for StatusInput {
    fn default() -> Self {
        Self::List(Vec::new())
    }
}

impl StatusInput {
    /// Whether it names no status (an empty list or string).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        match self {
            Self::List(list) => list.is_empty(),
            Self::Joined(text) => text.trim().is_empty(),
        }
    }
}

/// A statuscode value: a number (`3`) or a numeric string (`"3"`, `"2,3"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StatusValue {
    /// `3`
    Number(i64),
    /// `"3"`
    Text(String),
}

/// One entry of `orderBy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderByInput {
    /// Column to sort by (same rules as `attributes`).
    pub attribute_name: String,
    /// Sort descending; default `false` (ascending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub descending: Option<bool>,
}
