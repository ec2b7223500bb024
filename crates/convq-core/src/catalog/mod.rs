//! The conversation table's columns, as far as the query compiler needs them.
//!
//! The data lives in `metadata/msdyn_ocliveworkitem.json`; `cargo xtask codegen` turns it into
//! `generated.rs`. Nothing here is written by hand except the types and the look-ups.

mod generated;

use std::sync::LazyLock;

use rustc_hash::FxHashMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use generated::{ENTITY_LOGICAL_NAME, ENTITY_SET_NAME, PRIMARY_ID_ATTRIBUTE};

/// The columns getConversations always returns, in order.
pub(crate) const DEFAULT_COLUMNS: [&str; 5] = [
    "msdyn_ocliveworkitemid",
    "msdyn_liveworkstreamid",
    "msdyn_lastsessionid",
    "statuscode",
    "createdon",
];

/// Why `name` (already trimmed and lowercased) is not a logical name, if it is not.
pub(crate) fn invalid_name_reason(name: &str) -> Option<&'static str> {
    let mut bytes = name.bytes();
    match bytes.next() {
        None => Some("it is empty"),
        Some(b) if !(b.is_ascii_lowercase() || b == b'_') => {
            Some("it must start with a letter or `_`")
        }
        _ if !bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') => {
            Some("only letters, digits and `_` are allowed")
        }
        _ => None,
    }
}

/// The Dataverse attribute type of a column, as the entity reference names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub enum ColumnType {
    /// A GUID column (the primary key).
    Uniqueidentifier,
    /// Single line of text.
    String,
    /// Multiple lines of text.
    Memo,
    /// 32-bit integer.
    Integer,
    /// 64-bit integer.
    BigInt,
    /// Decimal number.
    Decimal,
    /// Floating point number.
    Double,
    /// Currency.
    Money,
    /// Two options.
    Boolean,
    /// Date and time.
    DateTime,
    /// Choice.
    Picklist,
    /// Choices (multi-select); Web API filters it with `ContainValues`, not `eq`.
    MultiSelectPicklist,
    /// The `statecode` column.
    State,
    /// The `statuscode` column.
    Status,
    /// A lookup to one table; Web API names it `_<name>_value`.
    Lookup,
    /// A lookup to account or contact; Web API names it `_<name>_value`.
    Customer,
    /// A lookup to systemuser or team; Web API names it `_<name>_value`.
    Owner,
    /// Activity parties (to, from, cc, ...): not a property Web API can `$select`.
    PartyList,
    /// A table name column (`...idtype`, `activitytypecode`): not selectable on its own.
    EntityName,
    /// Image or file data.
    Image,
    /// Anything else the metadata names that the compiler has no special rule for.
    Virtual,
}

impl ColumnType {
    /// Whether Web API exposes the column as the computed `_<name>_value` property.
    #[must_use]
    pub fn is_lookup(self) -> bool {
        matches!(self, Self::Lookup | Self::Customer | Self::Owner)
    }

    /// Whether the column is a choice whose values are integers with labels.
    #[must_use]
    pub fn is_option_set(self) -> bool {
        matches!(
            self,
            Self::Picklist | Self::MultiSelectPicklist | Self::State | Self::Status
        )
    }

    /// Why a column of this type cannot be selected or ordered by, if it cannot.
    #[must_use]
    pub fn unsupported_reason(self) -> Option<&'static str> {
        match self {
            Self::PartyList => Some(
                "it is a PartyList column: its values are activityparty records, which Web API \
                 returns only through $expand of the activity parties relationship",
            ),
            Self::EntityName => Some(
                "it is an EntityName column: Web API exposes it only as an annotation of the \
                 lookup it belongs to (Microsoft.Dynamics.CRM.lookuplogicalname)",
            ),
            _ => None,
        }
    }
}

/// One value of a choice column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionValue {
    /// The integer stored in Dataverse.
    pub value: i32,
    /// The English label.
    pub label: &'static str,
}

/// One column of the conversation table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnDef {
    /// Lowercase logical name, as FetchXML uses it.
    pub logical_name: &'static str,
    /// Web API property name: `_<name>_value` for a lookup, customer or owner column, else the
    /// logical name (also for PartyList and EntityName columns, which Web API cannot select).
    pub property: &'static str,
    /// Attribute type.
    pub column_type: ColumnType,
    /// English display name.
    pub display_name: &'static str,
    /// Tables a lookup can point to (empty for other types).
    pub targets: &'static [&'static str],
    /// The option set of a choice column (empty for other types).
    pub options: &'static [OptionValue],
}

/// Every column of the conversation table, sorted by logical name.
#[must_use]
pub const fn columns() -> &'static [ColumnDef] {
    generated::COLUMNS
}

/// The column with this (lowercase) logical name, if the catalog knows it.
#[must_use]
pub fn column(logical_name: &str) -> Option<&'static ColumnDef> {
    // A map rather than a binary search: compiling looks up every requested column (up to 500).
    static BY_NAME: LazyLock<FxHashMap<&str, &ColumnDef>> =
        LazyLock::new(|| columns().iter().map(|c| (c.logical_name, c)).collect());
    BY_NAME.get(logical_name).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_sorted_and_unique() {
        for pair in columns().windows(2) {
            assert!(
                pair[0].logical_name < pair[1].logical_name,
                "{} must sort before {}",
                pair[0].logical_name,
                pair[1].logical_name
            );
        }
    }

    #[test]
    fn the_columns_the_compiler_relies_on_are_there() {
        let agent = column("msdyn_activeagentid").expect("agent column");
        assert!(agent.column_type.is_lookup());
        assert_eq!(
            column("statuscode").unwrap().column_type,
            ColumnType::Status
        );
        assert_eq!(
            column("createdon").unwrap().column_type,
            ColumnType::DateTime
        );
        let waiting = column("statuscode")
            .unwrap()
            .options
            .iter()
            .find(|o| o.value == 3);
        assert_eq!(waiting.map(|o| o.label), Some("Waiting"));
        assert_eq!(column("to").unwrap().column_type, ColumnType::PartyList);
        assert!(
            column("MSDYN_TITLE").is_none(),
            "look-ups take lowercase names"
        );
    }

    #[test]
    fn every_column_is_found_and_nothing_else() {
        for c in columns() {
            assert_eq!(column(c.logical_name), Some(c), "{}", c.logical_name);
            for near in [
                format!("{}x", c.logical_name),
                c.logical_name[1..].to_owned(),
            ] {
                let scan = columns().iter().find(|c| c.logical_name == near);
                assert_eq!(column(&near), scan, "{near}");
            }
        }
        assert_eq!(column(""), None);
    }

    #[test]
    fn properties_follow_the_web_api_naming_rule() {
        for c in columns() {
            let expected = if c.column_type.is_lookup() {
                format!("_{}_value", c.logical_name)
            } else {
                c.logical_name.to_owned()
            };
            assert_eq!(c.property, expected);
        }
    }
}
