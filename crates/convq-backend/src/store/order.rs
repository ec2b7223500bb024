//! `$orderby` semantics of the embedded store, modelled on Dataverse (SQL Server underneath).
//!
//! Ascending order of one key:
//! 1. `null` (and a missing property) first, as SQL Server sorts NULL;
//! 2. then booleans (`false` before `true`), then numbers (numerically), then dates, then text,
//!    then arrays and objects (all equal to each other). A column holds one type in Dataverse, so
//!    the order between types only decides odd, hand-made stores; it is fixed so results are
//!    deterministic;
//! 3. dates: a string of a `DateTime` column (per the catalog) that parses as RFC 3339 compares as
//!    the instant it names, so `...T10:00:00.5Z` sorts after `...T10:00:00Z`; `createdon` uses
//!    the instant parsed at load;
//! 4. text compares case-insensitively (Unicode lowercase, then code point order), like
//!    Dataverse's case-insensitive collation; strings equal but for case are ties. GUIDs are
//!    text: for canonical GUIDs this is the order of their hex digits. (Dataverse sorts a lookup
//!    by the related record's primary name, which a store of conversations alone cannot know.)
//!
//! Descending reverses this (so nulls come last). Ties keep the store's order (the sort is
//! stable), whatever the direction.

use std::cmp::Ordering;

use serde_json::Number;
use uuid::Uuid;

use super::value::{Stamp, Texts, Val};
use crate::timestamp::parse_nanos;

/// One record's value for one order key.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key<'a> {
    Null,
    Bool(bool),
    Num(&'a Number),
    Time(Stamp),
    Guid(Uuid),
    Text(&'a str),
    Other,
}

impl<'a> Key<'a> {
    /// The key of a stored value; `date` when the column is a `DateTime` column.
    pub(crate) fn of(value: Option<&'a Val>, date: bool, texts: &'a Texts) -> Self {
        match value {
            None | Some(Val::Null) => Self::Null,
            Some(Val::Bool(b)) => Self::Bool(*b),
            Some(Val::Num(n)) => Self::Num(n),
            Some(Val::Guid(id)) => Self::Guid(*id),
            Some(Val::Str(at) | Val::Escaped(at)) => {
                let text = texts.get(*at);
                match date.then(|| parse_nanos(text)).flatten() {
                    Some(at) => Self::Time(Stamp::from_nanos(at)),
                    None => Self::Text(text),
                }
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
            Self::Guid(_) | Self::Text(_) => 4,
            Self::Other => 5,
        }
    }

    /// Ascending comparison.
    pub(crate) fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Bool(a), Self::Bool(b)) => a.cmp(b),
            (Self::Num(a), Self::Num(b)) => compare_numbers(a, b),
            (Self::Time(a), Self::Time(b)) => a.cmp(b),
            (Self::Guid(a), Self::Guid(b)) => a.cmp(b),
            (Self::Text(a), Self::Text(b)) => compare_text(a, b),
            (Self::Guid(a), Self::Text(b)) => {
                compare_text(a.hyphenated().encode_lower(&mut Uuid::encode_buffer()), b)
            }
            (Self::Text(a), Self::Guid(b)) => {
                compare_text(a, b.hyphenated().encode_lower(&mut Uuid::encode_buffer()))
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

/// Case-insensitive: compares the Unicode lowercase forms code point by code point.
pub(crate) fn compare_text(a: &str, b: &str) -> Ordering {
    // Ties are common in a sort (a column with few distinct values), and memcmp is fast.
    if a == b {
        return Ordering::Equal;
    }
    // Identical leading characters lowercase identically, so only the rest needs case mapping
    // (titles often share a prefix, e.g. "Chat with ..."). Bytes equal up to `common`, so a
    // char boundary of `a` there is one of `b` too.
    let mut start = common_prefix(a.as_bytes(), b.as_bytes());
    while !a.is_char_boundary(start) {
        start -= 1;
    }
    let (mut x, mut y) = (a[start..].chars(), b[start..].chars());
    loop {
        let (c, d) = match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) => (c, d),
        };
        // Equal characters lowercase equally; two ASCII ones lowercase to one character each
        // (the common case: GUIDs, codes, English titles, and the first letter of most pairs).
        if c == d {
            continue;
        }
        if c.is_ascii() && d.is_ascii() {
            match c.to_ascii_lowercase().cmp(&d.to_ascii_lowercase()) {
                Ordering::Equal => continue,
                decided => return decided,
            }
        }
        // Otherwise a character may lowercase to several: compare the lowercase forms of the
        // rest, from this pair on (what came before lowercased to equal sequences).
        return std::iter::once(c)
            .chain(x)
            .flat_map(char::to_lowercase)
            .cmp(std::iter::once(d).chain(y).flat_map(char::to_lowercase));
    }
}

/// The length of the longest common prefix of two byte strings, compared 8 bytes at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let word = |chunk: &[u8]| chunk.try_into().map_or(0, u64::from_ne_bytes);
    let whole = a
        .chunks_exact(8)
        .zip(b.chunks_exact(8))
        .take_while(|(x, y)| word(x) == word(y))
        .count()
        * 8;
    whole
        + a[whole..]
            .iter()
            .zip(&b[whole..])
            .take_while(|(x, y)| x == y)
            .count()
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
            Key::Text("a"),
            Key::Num(&two),
            Key::Null,
            Key::Bool(true),
            Key::Time(Stamp::from_nanos(5)),
            Key::Other,
        ];
        let mut sorted = keys;
        sorted.sort_by(Key::cmp);
        let ranks: Vec<u8> = sorted.iter().map(Key::rank).collect();
        assert_eq!(ranks, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn numbers_compare_by_value_across_representations() {
        assert_eq!(
            compare_numbers(&num(json!(-1)), &num(json!(u64::MAX))),
            Ordering::Less
        );
        assert_eq!(
            compare_numbers(&num(json!(2.5)), &num(json!(2))),
            Ordering::Greater
        );
        assert_eq!(
            compare_numbers(&num(json!(10)), &num(json!(9))),
            Ordering::Greater
        );
    }

    #[test]
    fn text_ignores_case_and_guids_compare_as_their_text() {
        assert_eq!(compare_text("abc", "ABD"), Ordering::Less);
        assert_eq!(compare_text("Éclair", "éclair"), Ordering::Equal);
        assert_eq!(compare_text("zebra", "Émile"), Ordering::Less);
        // A shared prefix that ends inside a multi-byte character: é (C3 A9) vs É (C3 89).
        assert_eq!(compare_text("caf\u{e9}", "caf\u{c9}"), Ordering::Equal);
        assert_eq!(
            compare_text("Chat with Zoë", "chat with zoe"),
            Ordering::Greater
        );
        assert_eq!(compare_text("same", "same"), Ordering::Equal);
        assert_eq!(compare_text("same", "sameness"), Ordering::Less);
        assert_eq!(compare_text("SAMENESS", "same"), Ordering::Greater);
        // One character lowercasing to two: İ (U+0130) is "i\u{307}", after "i" and before "j".
        assert_eq!(compare_text("\u{130}", "i"), Ordering::Greater);
        assert_eq!(compare_text("\u{130}", "J"), Ordering::Less);
        assert_eq!(compare_text("x\u{130}b", "XI\u{307}B"), Ordering::Equal);
        assert_eq!(compare_text("配送", "Chat"), Ordering::Greater);
        let id = Uuid::parse_str("2b330c52-6844-4d36-8e05-03c78c9681dc").unwrap();
        assert_eq!(
            Key::Guid(id).cmp(&Key::Text("2B330C52-6844-4D36-8E05-03C78C9681DC")),
            Ordering::Equal
        );
        assert_eq!(
            Key::Guid(id).cmp(&Key::Text("3")),
            Ordering::Less,
            "'2' sorts before '3'"
        );
    }

    #[test]
    fn common_prefixes_across_word_boundaries() {
        assert_eq!(common_prefix(b"", b"abc"), 0);
        assert_eq!(common_prefix(b"abcdefgh", b"abcdefgh"), 8);
        assert_eq!(common_prefix(b"abcdefghij", b"abcdefghik"), 9);
        assert_eq!(common_prefix(b"abcdefgXij", b"abcdefghij"), 7);
        assert_eq!(common_prefix(b"abcdefghijklmnopq", b"abcdefghijklmnop"), 16);
        assert_eq!(common_prefix(b"x", b"y"), 0);
    }

    #[test]
    fn dates_compare_as_instants_only_in_date_columns() {
        let mut texts = Texts::default();
        let whole = Val::Str(texts.push("2026-01-01T10:00:00Z").unwrap());
        let half = Val::Str(texts.push("2026-01-01T10:00:00.5Z").unwrap());
        assert_eq!(
            Key::of(Some(&whole), true, &texts).cmp(&Key::of(Some(&half), true, &texts)),
            Ordering::Less
        );
        // As text, '.' (0x2E) sorts before 'Z' (0x5A).
        assert_eq!(
            Key::of(Some(&whole), false, &texts).cmp(&Key::of(Some(&half), false, &texts)),
            Ordering::Greater
        );
    }
}
