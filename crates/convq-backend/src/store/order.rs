//! `$orderby` semantics of the embedded store, modelled on Dataverse (SQL Server underneath).
//! `docs/semantics.md` lists each rule with its source and the test that pins it.
//!
//! Ascending order of one key:
//! 1. `null` (and a missing property) first, as SQL Server sorts NULL;
//! 2. then booleans (`false` before `true`), then numbers (numerically; choices are numbers, so
//!    they sort by value as the Web API sorts them), then dates, then text, then GUIDs, then
//!    arrays and objects (all equal to each other). A column holds one type in Dataverse, so the
//!    order between types only decides odd, hand-made stores; it is fixed so results are
//!    deterministic;
//! 3. dates: a string of a `DateTime` column (per the catalog) that parses as RFC 3339 compares as
//!    the instant it names, so `...T10:00:00.5Z` sorts after `...T10:00:00Z`; `createdon` uses
//!    the instant parsed at load;
//! 4. text in the org's collation: case- and accent-insensitive (ICU4X, primary strength; see
//!    [`collation`](super::collation)), compared by the rank each string got at load. A GUID in
//!    a text column compares as its text;
//! 5. lookups (`_x_value`) by the related record's primary name, which the store knows when the
//!    record carries `_x_value@OData.Community.Display.V1.FormattedValue`; without it, by the
//!    GUID in SQL Server's `uniqueidentifier` order (and the answer warns that the org's order
//!    may differ). `uniqueidentifier` columns (`activityid`) sort in that GUID order too.
//!
//! Descending reverses this (so nulls come last). Ties are ordered by `activityid` ascending in
//! SQL Server's GUID order, whatever the direction: the last key convq renders, since Dataverse
//! leaves the order of ties open (the store gets it from the row order, see `load.rs`).

use std::cmp::Ordering;

use convq_core::catalog::ColumnType;
use serde_json::Number;
use uuid::Uuid;

use super::collation;
use super::value::{Stamp, Texts, Val};
use crate::timestamp::parse_nanos;

/// One record's value for one order key.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key<'a> {
    Null,
    Bool(bool),
    Num(&'a Number),
    Time(Stamp),
    /// Text: its collation rank, and the text (to compare with a [`Key::GuidText`]).
    Text(u32, &'a str),
    /// A GUID in a text column, compared as its lowercase hyphenated text.
    GuidText(Uuid),
    /// A GUID in a `uniqueidentifier` or lookup column, as [`sql_guid_order`] gives it.
    Guid(u128),
    Other,
}

/// How a column's values are ordered, from its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// Values as they are; text in collation order.
    Plain,
    /// A `DateTime` column: strings that are RFC 3339 dates compare as instants.
    Date,
    /// A `uniqueidentifier` column: GUIDs in SQL Server's order.
    Guid,
    /// A lookup: by the related record's name when known, else as [`KeyKind::Guid`].
    Lookup,
}

impl KeyKind {
    pub(crate) fn of(column_type: Option<ColumnType>) -> Self {
        match column_type {
            Some(ColumnType::DateTime) => Self::Date,
            Some(ColumnType::Uniqueidentifier) => Self::Guid,
            Some(t) if t.is_lookup() => Self::Lookup,
            _ => Self::Plain,
        }
    }
}

/// The bytes of a GUID in the order SQL Server compares `uniqueidentifier` values: over the
/// .NET byte layout (`Guid.ToByteArray`, the first three groups little-endian), bytes 10-15
/// first, then 8-9, 6-7, 4-5, 0-3 (`SqlGuid`'s comparison; .NET docs, "Comparing GUID and
/// uniqueidentifier values"). As one integer, so comparing two is one instruction.
pub(crate) fn sql_guid_order(id: &Uuid) -> u128 {
    const ORDER: [usize; 16] = [10, 11, 12, 13, 14, 15, 8, 9, 6, 7, 4, 5, 0, 1, 2, 3];
    let bytes = id.to_bytes_le();
    ORDER
        .iter()
        .fold(0_u128, |key, &i| (key << 8) | u128::from(bytes[i]))
}

/// A GUID written any way Dataverse or a person writes one: hyphenated, braces, any case.
fn parse_guid(text: &str) -> Option<Uuid> {
    let trimmed = text.trim();
    let bare = trimmed
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(trimmed);
    (bare.len() == 36)
        .then(|| Uuid::try_parse(bare).ok())
        .flatten()
}

impl<'a> Key<'a> {
    /// The key of a stored value in a column ordered as `kind` says.
    pub(crate) fn of(value: Option<&'a Val>, kind: KeyKind, texts: &'a Texts) -> Self {
        match value {
            None | Some(Val::Null) => Self::Null,
            Some(Val::Bool(b)) => Self::Bool(*b),
            Some(Val::Num(n)) => Self::Num(n),
            Some(Val::Guid(id)) => match kind {
                KeyKind::Guid | KeyKind::Lookup => Self::Guid(sql_guid_order(id)),
                KeyKind::Plain | KeyKind::Date => Self::GuidText(*id),
            },
            Some(Val::Str(at) | Val::Escaped(at)) => {
                let text = texts.get(*at);
                let special = match kind {
                    KeyKind::Date => parse_nanos(text).map(|at| Self::Time(Stamp::from_nanos(at))),
                    KeyKind::Guid | KeyKind::Lookup => {
                        parse_guid(text).map(|id| Self::Guid(sql_guid_order(&id)))
                    }
                    KeyKind::Plain => None,
                };
                special.unwrap_or(Self::Text(at.rank, text))
            }
            Some(Val::Json(_)) => Self::Other,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Self::Null => 0,
            Self::Bool(_) => 1,
            Self::Num(_) => 2,
            Self::Time(_) => 3,
            Self::Text(..) | Self::GuidText(_) => 4,
            Self::Guid(_) => 5,
            Self::Other => 6,
        }
    }

    /// Ascending comparison.
    pub(crate) fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Bool(a), Self::Bool(b)) => a.cmp(b),
            (Self::Num(a), Self::Num(b)) => compare_numbers(a, b),
            (Self::Time(a), Self::Time(b)) => a.cmp(b),
            (Self::Text(a, _), Self::Text(b, _)) => a.cmp(b),
            // Canonical GUID texts have the same shape, so their collation order is the
            // order of their hex digits: the order of their bytes.
            (Self::GuidText(a), Self::GuidText(b)) => a.cmp(b),
            (Self::Guid(a), Self::Guid(b)) => a.cmp(b),
            (Self::GuidText(a), Self::Text(_, b)) => {
                collation::compare(a.hyphenated().encode_lower(&mut Uuid::encode_buffer()), b)
            }
            (Self::Text(_, a), Self::GuidText(b)) => {
                collation::compare(a, b.hyphenated().encode_lower(&mut Uuid::encode_buffer()))
            }
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

/// Numbers compare by value: exactly when both are integers, as `f64` otherwise.
pub(crate) fn compare_numbers(a: &Number, b: &Number) -> Ordering {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x.cmp(&y);
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x.cmp(&y);
    }
    let x = a.as_f64().unwrap_or(f64::NAN);
    let y = b.as_f64().unwrap_or(f64::NAN);
    x.total_cmp(&y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn num(v: Value) -> Number {
        match v {
            Value::Number(n) => n,
            _ => unreachable!(),
        }
    }

    #[test]
    fn nulls_first_then_types_in_rank_order() {
        let two = num(json!(2));
        let keys = [
            Key::Guid(1),
            Key::Text(0, "a"),
            Key::Num(&two),
            Key::Null,
            Key::Bool(true),
            Key::Time(Stamp::from_nanos(5)),
            Key::Other,
        ];
        let mut sorted = keys;
        sorted.sort_by(Key::cmp);
        let ranks: Vec<u8> = sorted.iter().map(Key::rank).collect();
        assert_eq!(ranks, [0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn numbers_compare_by_value_across_representations() {
        for (a, b, expected) in [
            (json!(-1), json!(u64::MAX), Ordering::Less),
            (json!(2.5), json!(2), Ordering::Greater),
            (json!(10), json!(9), Ordering::Greater),
        ] {
            assert_eq!(
                compare_numbers(&num(a.clone()), &num(b.clone())),
                expected,
                "{a} vs {b}"
            );
        }
    }

    #[test]
    fn sql_server_orders_guids_from_the_last_byte_group() {
        let order = |text: &str| sql_guid_order(&Uuid::parse_str(text).unwrap());
        // Each pair in order: the first GUID sorts before the second.
        for (lower, higher) in [
            // The last six bytes decide first, whatever the first groups say.
            (
                "ffffffff-ffff-ffff-ffff-000000000000",
                "00000000-0000-0000-0000-000000000001",
            ),
            // Then bytes 8-9 (the fourth group), then 6-7, 4-5, 0-3.
            (
                "ffffffff-ffff-ffff-0000-000000000000",
                "00000000-0000-0000-0001-000000000000",
            ),
            (
                "ffffffff-ffff-0000-0000-000000000000",
                "00000000-0000-0001-0000-000000000000",
            ),
            (
                "ffffffff-0000-0000-0000-000000000000",
                "00000000-0001-0000-0000-000000000000",
            ),
            // Within the first three groups the .NET layout is little-endian: the last byte
            // written is compared first.
            (
                "00000100-0000-0000-0000-000000000000",
                "00000001-0000-0000-0000-000000000000",
            ),
            (
                "00000000-0100-0000-0000-000000000000",
                "00000000-0001-0000-0000-000000000000",
            ),
            // Within the fourth and fifth groups, as written.
            (
                "00000000-0000-0000-0001-000000000000",
                "00000000-0000-0000-0100-000000000000",
            ),
            (
                "00000000-0000-0000-0000-000000000001",
                "00000000-0000-0000-0000-010000000000",
            ),
        ] {
            assert!(order(lower) < order(higher), "{lower} < {higher}");
        }
    }

    #[test]
    fn guids_order_by_kind_of_column() {
        let mut texts = Texts::default();
        let upper = Val::Str(
            texts
                .push("{2B330C52-6844-4D36-8E05-03C78C9681DC}")
                .unwrap(),
        );
        let id = Uuid::parse_str("2b330c52-6844-4d36-8e05-03c78c9681dc").unwrap();
        let packed = Val::Guid(id);
        for kind in [KeyKind::Guid, KeyKind::Lookup] {
            assert_eq!(
                Key::of(Some(&upper), kind, &texts).cmp(&Key::of(Some(&packed), kind, &texts)),
                Ordering::Equal
            );
        }
        assert!(matches!(
            Key::of(Some(&packed), KeyKind::Plain, &texts),
            Key::GuidText(_)
        ));
    }

    #[test]
    fn dates_compare_as_instants_only_in_date_columns() {
        let mut texts = Texts::default();
        let whole = Val::Str(texts.push("2026-01-01T10:00:00Z").unwrap());
        let half = Val::Str(texts.push("2026-01-01T10:00:00.5Z").unwrap());
        let compare =
            |kind| Key::of(Some(&whole), kind, &texts).cmp(&Key::of(Some(&half), kind, &texts));
        assert_eq!(compare(KeyKind::Date), Ordering::Less);
        // As text (both rank 0 here: never ranked), they tie.
        assert_eq!(compare(KeyKind::Plain), Ordering::Equal);
    }
}
