//! Validation and normalization: getConversations JSON → [`Query`] plus warnings.
//!
//! The walk is by hand over `serde_json::Value` so that each error carries the JSON pointer of
//! the value it is about. Checks run in input-key order of importance (agent first), and the
//! first error wins: callers fix one thing at a time, and the pointer makes it unambiguous.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, DefaultHasher};

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::ast::{Column, OrderKey, Query};
use crate::catalog::{self, ColumnType};
use crate::error::{Error, Limit, pointer_index, pointer_key};
use crate::limits;
use crate::options::{Options, UnknownColumns};
use crate::warning::{Warning, WarningCode};

/// The columns getConversations always returns, in order.
pub(crate) const DEFAULT_COLUMNS: [&str; 5] = [
    "msdyn_ocliveworkitemid",
    "msdyn_liveworkstreamid",
    "msdyn_lastsessionid",
    "statuscode",
    "createdon",
];

/// The keys of the input object, in the order they are checked.
const INPUT_KEYS: [&str; 7] = [
    "agentId",
    "agentID",
    "attributes",
    "status",
    "orderBy",
    "createdBeforeDays",
    "top",
];
const ORDER_KEY_KEYS: [&str; 2] = ["attributeName", "descending"];

pub(crate) fn normalize(
    input: &Value,
    options: &Options,
    warnings: &mut Vec<Warning>,
) -> Result<Query, Error> {
    let object = expect_object(input, "")?;
    reject_unknown_keys(object, "", &INPUT_KEYS)?;
    let resolver = Resolver {
        options,
        suggester: OnceCell::new(),
    };

    let agent_id = agent_id(object)?;

    let mut select: Vec<Column> = DEFAULT_COLUMNS
        .iter()
        .map(|name| resolver.known(name))
        .collect();
    if let Some(list) = optional_array(object, "attributes", Limit::Attributes)? {
        let requested = list
            .iter()
            .enumerate()
            .map(|(i, item)| resolver.resolve(item, At::Item("/attributes", i), warnings))
            .collect::<Result<Vec<_>, _>>()?;
        // First occurrence wins. A set rather than a scan of `select`: up to 500 columns. The
        // hasher has fixed keys (no per-process randomness): only membership is used.
        let mut seen: HashSet<&str, BuildHasherDefault<DefaultHasher>> =
            HashSet::with_capacity_and_hasher(select.len() + requested.len(), Default::default());
        seen.extend(DEFAULT_COLUMNS);
        let first: Vec<bool> = requested
            .iter()
            .map(|c| seen.insert(&c.logical_name))
            .collect();
        select.extend(
            requested
                .into_iter()
                .zip(first)
                .filter_map(|(column, first)| first.then_some(column)),
        );
    }

    let mut status = Vec::new();
    if let Some(list) = optional_array(object, "status", Limit::Statuses)? {
        let known = catalog::column("statuscode").map_or(&[][..], |c| c.options);
        for (i, item) in list.iter().enumerate() {
            let at = At::Item("/status", i);
            let value = status_value(item, at)?;
            if !known.iter().any(|o| o.value == value) && !status.contains(&value) {
                warnings.push(Warning::new(
                    WarningCode::UnknownStatus,
                    at.pointer(),
                    format!(
                        "statuscode {value} is not in the msdyn_ocliveworkitem option set (1..7); \
                         kept, in case your organization added it"
                    ),
                ));
            }
            status.push(value);
        }
        status.sort_unstable();
        status.dedup();
    }

    let mut order_by: Vec<OrderKey> = Vec::new();
    let mut order_paths: Vec<String> = Vec::new();
    if let Some(list) = optional_array(object, "orderBy", Limit::OrderKeys)? {
        for (i, item) in list.iter().enumerate() {
            let path = pointer_index("/orderBy", i);
            let key = order_key(item, &path, &resolver, warnings)?;
            if let Some(first) = order_by
                .iter()
                .position(|k| k.column.logical_name == key.column.logical_name)
            {
                return Err(Error::DuplicateOrderKey {
                    path: pointer_key(&path, "attributeName"),
                    name: key.column.logical_name,
                    first: pointer_key(&order_paths[first], "attributeName"),
                });
            }
            order_by.push(key);
            order_paths.push(path);
        }
    }

    let created_within_days = bounded_integer(object, "createdBeforeDays", limits::DAYS_RANGE)?;
    let top = bounded_integer(object, "top", limits::TOP_RANGE)?;

    Ok(Query {
        agent_id,
        select,
        status,
        created_within_days,
        order_by,
        top,
    })
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn invalid_type(path: &str, expected: &'static str, found: &Value) -> Error {
    Error::InvalidType {
        path: path.to_owned(),
        expected,
        found: type_name(found),
    }
}

fn expect_object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, Error> {
    value
        .as_object()
        .ok_or_else(|| invalid_type(path, "an object", value))
}

fn reject_unknown_keys(
    object: &Map<String, Value>,
    path: &str,
    known: &[&'static str],
) -> Result<(), Error> {
    match object.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(name) => Err(Error::UnknownField {
            path: pointer_key(path, name),
            name: name.clone(),
            suggestion: closest(name, known.iter().copied()),
        }),
    }
}

/// The candidate a misspelt name most likely meant: a case-insensitive match, or the nearest
/// by edit distance when it is close enough to be a typo rather than another word.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    Suggester::new(candidates).closest(name)
}

/// [`closest`] over a fixed candidate list, prepared once so that each look-up is cheap: an
/// input can have hundreds of unknown columns, each checked against the whole catalog.
pub(crate) struct Suggester<'a> {
    /// Sorted by length, then by position in the candidate list (which breaks ties).
    candidates: Vec<Candidate<'a>>,
    /// Length and character set of each candidate, in the same order, apart from the strings:
    /// the scan below reads only these for most candidates.
    lengths: Vec<usize>,
    char_sets: Vec<u64>,
}

struct Candidate<'a> {
    position: usize,
    name: &'a str,
    lower: Cow<'a, str>,
}

impl<'a> Suggester<'a> {
    pub(crate) fn new(candidates: impl IntoIterator<Item = &'a str>) -> Self {
        let mut candidates: Vec<_> = candidates
            .into_iter()
            .enumerate()
            .map(|(position, name)| {
                let lower = ascii_lowercase(name);
                (lower.chars().count(), position, name, lower)
            })
            .collect();
        candidates.sort_unstable_by_key(|&(length, position, ..)| (length, position));
        Self {
            lengths: candidates.iter().map(|c| c.0).collect(),
            char_sets: candidates.iter().map(|c| char_set(&c.3)).collect(),
            candidates: candidates
                .into_iter()
                .map(|(_, position, name, lower)| Candidate {
                    position,
                    name,
                    lower,
                })
                .collect(),
        }
    }

    pub(crate) fn closest(&self, name: &str) -> Option<&'a str> {
        let lower = ascii_lowercase(name);
        let length = lower.chars().count();
        let allowed = (length / 3).clamp(1, 3);
        let chars = char_set(&lower);
        // Cheap lower bounds of the distance first, so that few candidates need the O(n·m)
        // computation: the difference in length (only a window of the sorted list is looked
        // at), and the number of distinct characters either string has and the other lacks
        // (each needs its own edit; both counts are at most `allowed` only if their sum, one
        // popcount, is at most twice that).
        let start = self
            .lengths
            .partition_point(|l| *l < length.saturating_sub(allowed));
        let end = self.lengths.partition_point(|l| *l <= length + allowed);
        let mut best: Option<(usize, &Candidate<'a>)> = None;
        for (offset, &set) in self.char_sets[start..end].iter().enumerate() {
            if (chars ^ set).count_ones() as usize > 2 * allowed
                || (chars & !set).count_ones() as usize > allowed
                || (set & !chars).count_ones() as usize > allowed
            {
                continue;
            }
            let candidate = &self.candidates[start + offset];
            if set == chars && candidate.lower == lower {
                // A case-insensitive match beats any edit.
                return Some(candidate.name);
            }
            let distance = strsim::damerau_levenshtein(&lower, &candidate.lower);
            if distance <= allowed
                && best.is_none_or(|(d, b)| (distance, candidate.position) < (d, b.position))
            {
                best = Some((distance, candidate));
            }
        }
        best.map(|(_, candidate)| candidate.name)
    }
}

/// `text` in ASCII lower case, borrowed when it already is (catalog names are).
fn ascii_lowercase(text: &str) -> Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        text.to_ascii_lowercase().into()
    } else {
        text.into()
    }
}

/// The set of characters in `text`, one bit each for `a-z`, `0-9` and `_`, and one bit shared
/// by everything else (sharing a bit only weakens the bound, it never breaks it).
fn char_set(text: &str) -> u64 {
    text.chars().fold(0, |set, ch| {
        let bit = match ch {
            'a'..='z' => ch as u32 - 'a' as u32,
            '0'..='9' => 26 + ch as u32 - '0' as u32,
            '_' => 36,
            _ => 37,
        };
        set | 1 << bit
    })
}

fn agent_id(object: &Map<String, Value>) -> Result<Uuid, Error> {
    let (key, value) = match (object.get("agentId"), object.get("agentID")) {
        (Some(_), Some(_)) => return Err(Error::ConflictingAgentId),
        (Some(v), None) => ("agentId", v),
        (None, Some(v)) => ("agentID", v),
        (None, None) => {
            return Err(Error::MissingField {
                path: "/agentId".to_owned(),
            });
        }
    };
    let path = pointer_key("", key);
    let text = value
        .as_str()
        .ok_or_else(|| invalid_type(&path, "a GUID string", value))?;
    parse_guid(text).ok_or_else(|| Error::InvalidAgentId {
        path,
        value: text.to_owned(),
    })
}

/// Accepts exactly the 8-4-4-4-12 hex form, optionally in braces, any case, surrounding
/// whitespace ignored. (`Uuid::parse_str` alone would also take the 32-digit and URN forms.)
fn parse_guid(text: &str) -> Option<Uuid> {
    let trimmed = text.trim();
    let bare = match trimmed.strip_prefix('{') {
        Some(rest) => rest.strip_suffix('}')?,
        None => trimmed,
    };
    let shape_ok = bare.len() == 36
        && bare.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    if shape_ok {
        Uuid::parse_str(bare).ok()
    } else {
        None
    }
}

/// `None` when the key is absent or `null` (JavaScript callers often pass `null` for "not given").
fn optional<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

fn optional_array<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    limit: Limit,
) -> Result<Option<&'a Vec<Value>>, Error> {
    let Some(value) = optional(object, key) else {
        return Ok(None);
    };
    let path = || pointer_key("", key);
    let list = value
        .as_array()
        .ok_or_else(|| invalid_type(&path(), "an array", value))?;
    if list.len() > limit.max() {
        return Err(Error::LimitExceeded {
            limit,
            path: path(),
            count: list.len(),
        });
    }
    Ok(Some(list))
}

fn status_value(item: &Value, at: At<'_>) -> Result<i32, Error> {
    let invalid = |reason| Error::InvalidStatus {
        path: at.pointer(),
        value: item.to_string(),
        reason,
    };
    let number = match item {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|_| i64::MAX))
            .ok_or_else(|| invalid("not an integer"))?,
        Value::String(s) => {
            let digits = s.trim();
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid("not a number"));
            }
            // Any digit string too long for i64 is out of range anyway.
            digits.parse::<i64>().unwrap_or(i64::MAX)
        }
        _ => {
            return Err(invalid_type(
                &at.pointer(),
                "an integer or a numeric string",
                item,
            ));
        }
    };
    if (0..=limits::MAX_STATUS_VALUE).contains(&number) {
        i32::try_from(number).map_err(|_| invalid("out of range 0..=2147483647"))
    } else {
        Err(invalid("out of range 0..=2147483647"))
    }
}

fn order_key(
    item: &Value,
    path: &str,
    resolver: &Resolver<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<OrderKey, Error> {
    let object = expect_object(item, path)?;
    reject_unknown_keys(object, path, &ORDER_KEY_KEYS)?;
    let name_path = pointer_key(path, "attributeName");
    let name = object
        .get("attributeName")
        .ok_or_else(|| Error::MissingField {
            path: name_path.clone(),
        })?;
    let column = resolver.resolve(name, At::Path(&name_path), warnings)?;
    let descending = match optional(object, "descending") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(invalid_type(
                &pointer_key(path, "descending"),
                "a boolean",
                other,
            ));
        }
    };
    Ok(OrderKey { column, descending })
}

fn bounded_integer(
    object: &Map<String, Value>,
    key: &str,
    (min, max): (u32, u32),
) -> Result<Option<u32>, Error> {
    let Some(value) = optional(object, key) else {
        return Ok(None);
    };
    let path = || pointer_key("", key);
    let Value::Number(number) = value else {
        return Err(invalid_type(&path(), "an integer", value));
    };
    number
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| (min..=max).contains(n))
        .map(Some)
        .ok_or_else(|| Error::OutOfRange {
            path: path(),
            value: number.to_string(),
            min,
            max,
        })
}

/// Where a value is, turned into a JSON pointer only when an error or warning needs one: the
/// values of a large input mostly need none.
#[derive(Clone, Copy)]
enum At<'a> {
    /// Entry `index` of the array at `array`.
    Item(&'static str, usize),
    /// A pointer already built.
    Path(&'a str),
}

impl At<'_> {
    fn pointer(self) -> String {
        match self {
            At::Item(array, index) => pointer_index(array, index),
            At::Path(path) => path.to_owned(),
        }
    }
}

/// Resolves column names against the catalog and the declared extra columns.
struct Resolver<'a> {
    options: &'a Options,
    /// Built at the first unknown column: most inputs have none.
    suggester: OnceCell<Suggester<'static>>,
}

impl Resolver<'_> {
    /// A column the catalog is known to have (the defaults).
    fn known(&self, logical_name: &str) -> Column {
        let column_type = catalog::column(logical_name).map(|c| c.column_type);
        column(logical_name.to_owned(), column_type)
    }

    fn declared_type(&self, logical_name: &str) -> Option<ColumnType> {
        catalog::column(logical_name)
            .map(|c| c.column_type)
            .or_else(|| {
                self.options
                    .extra_columns
                    .iter()
                    .find(|e| e.logical_name.trim().eq_ignore_ascii_case(logical_name))
                    .map(|e| e.column_type)
            })
    }

    fn resolve(
        &self,
        item: &Value,
        at: At<'_>,
        warnings: &mut Vec<Warning>,
    ) -> Result<Column, Error> {
        let raw = item
            .as_str()
            .ok_or_else(|| invalid_type(&at.pointer(), "a column name string", item))?;
        let name = raw.trim().to_ascii_lowercase();
        if let Some(reason) = invalid_name_reason(&name) {
            return Err(Error::InvalidColumnName {
                path: at.pointer(),
                value: raw.to_owned(),
                reason: reason.to_owned(),
            });
        }

        // `_x_value` is Web API's name for lookup `x`: the same column.
        if let Some(inner) = lookup_property_inner(&name) {
            return match self.declared_type(inner) {
                Some(t) if t.is_lookup() => Ok(column(inner.to_owned(), Some(t))),
                // Not "name it `x`" when `x` would be rejected too.
                Some(t) if t.unsupported_reason().is_some() => Err(Error::UnsupportedColumn {
                    path: at.pointer(),
                    name: inner.to_owned(),
                    reason: t.unsupported_reason().unwrap_or_default(),
                }),
                Some(t) => Err(Error::InvalidColumnName {
                    path: at.pointer(),
                    value: raw.to_owned(),
                    reason: format!("`{inner}` is a {t:?} column, not a lookup; name it `{inner}`"),
                }),
                None => {
                    self.unknown(inner, at, warnings)?;
                    Ok(column(inner.to_owned(), Some(ColumnType::Lookup)))
                }
            };
        }

        match self.declared_type(&name) {
            Some(t) => match t.unsupported_reason() {
                Some(reason) => Err(Error::UnsupportedColumn {
                    path: at.pointer(),
                    name,
                    reason,
                }),
                None => Ok(column(name, Some(t))),
            },
            None => {
                self.unknown(&name, at, warnings)?;
                Ok(column(name, None))
            }
        }
    }

    fn unknown(&self, name: &str, at: At<'_>, warnings: &mut Vec<Warning>) -> Result<(), Error> {
        let suggestion = self
            .suggester
            .get_or_init(|| Suggester::new(catalog::columns().iter().map(|c| c.logical_name)))
            .closest(name);
        match self.options.unknown_columns {
            UnknownColumns::Error => Err(Error::UnknownColumn {
                path: at.pointer(),
                name: name.to_owned(),
                suggestion,
            }),
            UnknownColumns::Warn => {
                // Pushed rather than `format!`ted: an input can have hundreds of these.
                let mut message = String::with_capacity(128 + 2 * name.len());
                message.push('`');
                message.push_str(name);
                message.push_str("` is not a known column of msdyn_ocliveworkitem");
                if let Some(known) = suggestion {
                    message.push_str(" (did you mean `");
                    message.push_str(known);
                    message.push_str("`?)");
                }
                message.push_str("; passed through as a custom column");
                warnings.push(Warning::new(
                    WarningCode::UnknownColumn,
                    at.pointer(),
                    message,
                ));
                Ok(())
            }
        }
    }
}

fn column(logical_name: String, column_type: Option<ColumnType>) -> Column {
    let property = if column_type.is_some_and(ColumnType::is_lookup) {
        let mut property = String::with_capacity(logical_name.len() + 7);
        property.push('_');
        property.push_str(&logical_name);
        property.push_str("_value");
        property
    } else {
        logical_name.clone()
    };
    Column {
        logical_name,
        property,
        column_type,
    }
}

/// Why `name` (already trimmed and lowercased) is not a logical name, if it is not.
fn invalid_name_reason(name: &str) -> Option<&'static str> {
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

/// `x` for `_x_value`, when `x` is itself a logical name.
fn lookup_property_inner(name: &str) -> Option<&str> {
    let inner = name.strip_prefix('_')?.strip_suffix("_value")?;
    (invalid_name_reason(inner).is_none()).then_some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_forms() {
        let g = "2b330c52-6844-4d36-8e05-03c78c9681dc";
        assert_eq!(parse_guid(g).unwrap().to_string(), g);
        assert_eq!(
            parse_guid(" {2B330C52-6844-4D36-8E05-03C78C9681DC} ")
                .unwrap()
                .to_string(),
            g
        );
        for bad in [
            "2b330c5268444d368e0503c78c9681dc",
            "{2b330c52-6844-4d36-8e05-03c78c9681dc",
            "urn:uuid:2b330c52-6844-4d36-8e05-03c78c9681dc",
            "2b330c52-6844-4d36-8e05-03c78c9681dg",
            "",
        ] {
            assert!(parse_guid(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn closest_prefers_case_then_small_edits() {
        let keys = INPUT_KEYS;
        assert_eq!(closest("orderby", keys), Some("orderBy"));
        assert_eq!(closest("agentid", keys), Some("agentId"));
        assert_eq!(closest("atributes", keys), Some("attributes"));
        assert_eq!(closest("colour", keys), None);
    }

    /// The filters in `Suggester::closest` only skip work: it answers exactly as the plain
    /// search (case-insensitive match first, else the smallest distance within the allowance,
    /// ties to the earlier candidate) for typos of every catalog column.
    #[test]
    fn suggester_agrees_with_the_plain_search() {
        fn plain<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
            if let Some(exact) = candidates.iter().find(|c| c.eq_ignore_ascii_case(name)) {
                return Some(exact);
            }
            let lower = name.to_ascii_lowercase();
            let length = lower.chars().count();
            let allowed = (length / 3).clamp(1, 3);
            candidates
                .iter()
                // Only to keep the test fast in debug builds; the distance is never smaller.
                .filter(|c| c.chars().count().abs_diff(length) <= allowed)
                .map(|c| {
                    (
                        strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()),
                        *c,
                    )
                })
                .filter(|(distance, _)| *distance <= allowed)
                .min_by_key(|(distance, _)| *distance)
                .map(|(_, c)| c)
        }
        let names: Vec<&str> = catalog::columns().iter().map(|c| c.logical_name).collect();
        let suggester = Suggester::new(names.iter().copied());
        let mut tried = 0;
        for name in &names {
            let chars: Vec<char> = name.chars().collect();
            let mut typos = vec![name.to_uppercase(), format!("{name}x"), format!("x{name}s")];
            for i in [0, chars.len() / 2, chars.len() - 1] {
                let mut deleted = chars.clone();
                deleted.remove(i);
                typos.push(deleted.iter().collect());
                let mut replaced = chars.clone();
                replaced[i] = 'q';
                typos.push(replaced.iter().collect());
                if i + 1 < chars.len() {
                    let mut swapped = chars.clone();
                    swapped.swap(i, i + 1);
                    typos.push(swapped.iter().collect());
                }
            }
            for typo in typos {
                assert_eq!(suggester.closest(&typo), plain(&typo, &names), "{typo}");
                tried += 1;
            }
        }
        for other in [
            "new_col_1",
            "é",
            "",
            "statuscodé",
            "msdyn_ocliveworkitemid_value",
        ] {
            assert_eq!(suggester.closest(other), plain(other, &names), "{other}");
        }
        assert!(tried > 500);
    }

    #[test]
    fn lookup_property_names() {
        assert_eq!(lookup_property_inner("_ownerid_value"), Some("ownerid"));
        assert_eq!(lookup_property_inner("_value"), None);
        assert_eq!(lookup_property_inner("__value"), None);
    }
}
