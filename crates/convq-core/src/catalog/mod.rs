//! The conversation table's columns, as far as the query compiler needs them.
//!
//! The data lives in `metadata/msdyn_ocliveworkitem.json`; `cargo xtask codegen` turns it into
//! `generated.rs`. Nothing here is written by hand except the types and the look-ups.

mod generated;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use generated::{ENTITY_LOGICAL_NAME, ENTITY_SET_NAME, PRIMARY_ID_ATTRIBUTE};

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
    position(logical_name).map(|i| &generated::COLUMNS[i])
}

/// Index of the column named `logical_name` in [`columns`].
///
/// A hash table rather than a binary search: compiling looks up every requested column (up to
/// 500), and a probe here costs one hash of the name and, nearly always, one comparison.
pub(crate) fn position(logical_name: &str) -> Option<usize> {
    let mut slot = slot_of(logical_name);
    loop {
        let entry = INDEX[slot];
        if entry == EMPTY {
            return None;
        }
        let i = usize::from(entry);
        if generated::COLUMNS[i].logical_name == logical_name {
            return Some(i);
        }
        slot = (slot + 1) % SLOTS;
    }
}

const COUNT: usize = generated::COLUMNS.len();
/// Open addressing with linear probing, at most half full so that probes stay short and a
/// miss always reaches an empty slot.
const SLOTS: usize = (2 * COUNT).next_power_of_two();
const EMPTY: u16 = u16::MAX;
const _: () = assert!(
    COUNT < EMPTY as usize,
    "column positions must fit the index"
);

/// Slot → column position, built at compile time from the generated catalog.
static INDEX: [u16; SLOTS] = {
    let mut index = [EMPTY; SLOTS];
    let mut i = 0;
    while i < COUNT {
        let mut slot = slot_of(generated::COLUMNS[i].logical_name);
        while index[slot] != EMPTY {
            slot = (slot + 1) % SLOTS;
        }
        index[slot] = i as u16;
        i += 1;
    }
    index
};

/// The home slot of a name: the top bits of a multiplicative hash of its length and of its
/// first and last eight bytes (which overlap in shorter names). Names that share those bytes
/// only share a probe sequence; the comparison in [`position`] tells them apart.
const fn slot_of(name: &str) -> usize {
    let bytes = name.as_bytes();
    let (head, tail) = if bytes.len() >= 8 {
        (word_at(bytes, 0), word_at(bytes, bytes.len() - 8))
    } else {
        let short = short_word(bytes);
        (short, short.rotate_left(32))
    };
    let hash =
        (head.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(31) ^ tail ^ bytes.len() as u64)
            .wrapping_mul(0xD6E8_FEB8_6659_FD93);
    (hash >> (64 - SLOTS.trailing_zeros())) as usize
}

/// The eight bytes at `start`, little-endian.
const fn word_at(bytes: &[u8], start: usize) -> u64 {
    let mut word = 0;
    let mut i = 0;
    while i < 8 {
        word |= (bytes[start + i] as u64) << (8 * i);
        i += 1;
    }
    word
}

/// A name shorter than eight bytes as one little-endian word.
const fn short_word(bytes: &[u8]) -> u64 {
    let mut word = 0;
    let mut i = 0;
    while i < bytes.len() && i < 8 {
        word |= (bytes[i] as u64) << (8 * i);
        i += 1;
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_sorted_and_unique_so_binary_search_works() {
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
    fn the_index_finds_every_column_and_nothing_else() {
        for (i, c) in columns().iter().enumerate() {
            assert_eq!(position(c.logical_name), Some(i), "{}", c.logical_name);
            for near in [
                format!("{}x", c.logical_name),
                c.logical_name[1..].to_owned(),
                c.logical_name.to_uppercase(),
            ] {
                let scan = columns().iter().position(|c| c.logical_name == near);
                assert_eq!(position(&near), scan, "{near}");
            }
        }
        assert_eq!(position(""), None);
        // The hash spreads the names: look-ups probe few slots.
        let distances: Vec<usize> = (0..SLOTS)
            .filter(|&slot| INDEX[slot] != EMPTY)
            .map(|slot| {
                let home = slot_of(columns()[usize::from(INDEX[slot])].logical_name);
                (slot + SLOTS - home) % SLOTS
            })
            .collect();
        assert!(distances.iter().all(|&d| d <= 8), "{distances:?}");
        assert!(
            distances.iter().sum::<usize>() <= columns().len(),
            "{distances:?}"
        );
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
