//! The normalized query: what the input means, independent of how it is rendered.

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::ColumnType;
use crate::input::{Input, OrderByInput, StatusInput, StatusValue};
use crate::options::DaysReading;

/// A getConversations input after validation and normalization.
///
/// Every renderer (Web API, URL, FetchXML) and the embedded evaluator read this, never the raw
/// input. Field names are stable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Query {
    /// The agent (systemuser id) whose conversations are wanted: `_msdyn_activeagentid_value`.
    pub agent_id: Uuid,
    /// Columns to return: the five defaults, then the requested ones, without duplicates.
    pub select: Vec<Column>,
    /// statuscode values to keep, sorted and de-duplicated; empty means any status.
    pub status: Vec<i32>,
    /// The `createdon` filter of `createdBeforeDays`, when given.
    pub created_before_days: Option<CreatedBeforeDays>,
    /// Sort keys, in order of precedence.
    pub order_by: Vec<OrderKey>,
    /// At most this many rows (`$top`).
    pub top: Option<u32>,
}

/// A column of the conversation table, resolved against the catalog.
// (Not in the doc comment, which becomes the JSON Schema's description:) the names of a catalog
// column borrow the catalog's static strings, so a known column costs no allocation; only
// custom columns own theirs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Column {
    /// Logical name (what FetchXML uses), e.g. `msdyn_liveworkstreamid`.
    pub logical_name: Cow<'static, str>,
    /// Web API property name, e.g. `_msdyn_liveworkstreamid_value` for a lookup.
    pub property: Cow<'static, str>,
    /// Attribute type; `None` for a column the catalog does not know and the options do not declare.
    #[serde(rename = "type")]
    pub column_type: Option<ColumnType>,
}

/// `createdBeforeDays: N` and how it is read ([`Options::created_before_days`](crate::Options)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedBeforeDays {
    /// N.
    pub days: u32,
    /// Within the last N days, or more than N days ago.
    pub reading: DaysReading,
}

/// One `$orderby` key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderKey {
    /// The column.
    pub column: Column,
    /// Descending (`desc`) rather than ascending (`asc`).
    pub descending: bool,
}

impl Query {
    /// The canonical input that compiles to this query again (the idempotence property).
    ///
    /// Columns are given by their Web API property names so that custom lookups written as
    /// `_x_value` keep their meaning.
    #[must_use]
    pub fn to_input(&self) -> Input {
        Input {
            agent_id: self.agent_id.to_string(),
            attributes: self
                .select
                .iter()
                .skip(crate::catalog::DEFAULT_COLUMNS.len())
                .map(|c| c.property.to_string())
                .collect(),
            status: StatusInput::List(
                self.status
                    .iter()
                    .map(|s| StatusValue::Number(i64::from(*s)))
                    .collect(),
            ),
            order_by: self
                .order_by
                .iter()
                .map(|k| OrderByInput {
                    attribute_name: k.column.property.to_string(),
                    descending: Some(k.descending),
                })
                .collect(),
            created_before_days: self.created_before_days.map(|c| c.days),
            top: self.top,
        }
    }
}
