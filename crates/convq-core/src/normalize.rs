//! Validation and normalization: getConversations JSON → [`Query`] plus warnings.
//!
//! The walk is by hand over `serde_json::Value` so that each error carries the JSON pointer of
//! the value it is about. Checks run in input-key order of importance (agent first), and the
//! first error wins: callers fix one thing at a time, and the pointer makes it unambiguous.

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
    let resolver = Resolver { options };

    let agent_id = agent_id(object)?;

    let mut select: Vec<Column> = DEFAULT_COLUMNS
        .iter()
        .map(|name| resolver.known(name))
        .collect();
    if let Some(list) = optional_array(object, "attributes", Limit::Attributes)? {
        for (i, item) in list.iter().enumerate() {
            let path = pointer_index("/attributes", i);
            let column = resolver.resolve(item, &path, warnings)?;
            if !select.iter().any(|c| c.logical_name == column.logical_name) {
                select.push(column);
            }
        }
    }

    let mut status = Vec::new();
    if let Some(list) = optional_array(object, "status", Limit::Statuses)? {
        for (i, item) in list.iter().enumerate() {
            let path = pointer_index("/status", i);
            let value = status_value(item, &path)?;
            if !is_known_status(value) && !status.contains(&value) {
                warnings.push(Warning::new(
                    WarningCode::UnknownStatus,
                    path,
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
    candidates: impl Iterator<Item = &'a str> + Clone,
) -> Option<&'a str> {
    if let Some(exact) = candidates.clone().find(|c| c.eq_ignore_ascii_case(name)) {
        return Some(exact);
    }
    let lower = name.to_ascii_lowercase();
    let length = lower.chars().count();
    let allowed = (length / 3).clamp(1, 3);
    candidates
        // The distance is at least the difference in length, so most candidates need no
        // distance computation at all, and a long name (up to 1 MiB) costs no O(n·m) work.
        .filter(|c| c.chars().count().abs_diff(length) <= allowed)
        .map(|c| {
            (
                strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
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
    let path = pointer_key("", key);
    let list = value
        .as_array()
        .ok_or_else(|| invalid_type(&path, "an array", value))?;
    if list.len() > limit.max() {
        return Err(Error::LimitExceeded {
            limit,
            path,
            count: list.len(),
        });
    }
    Ok(Some(list))
}

fn status_value(item: &Value, path: &str) -> Result<i32, Error> {
    let invalid = |reason| Error::InvalidStatus {
        path: path.to_owned(),
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
        _ => return Err(invalid_type(path, "an integer or a numeric string", item)),
    };
    if (0..=limits::MAX_STATUS_VALUE).contains(&number) {
        i32::try_from(number).map_err(|_| invalid("out of range 0..=2147483647"))
    } else {
        Err(invalid("out of range 0..=2147483647"))
    }
}

fn is_known_status(value: i32) -> bool {
    catalog::column("statuscode").is_some_and(|c| c.options.iter().any(|o| o.value == value))
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
    let column = resolver.resolve(name, &name_path, warnings)?;
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
    let path = pointer_key("", key);
    let Value::Number(number) = value else {
        return Err(invalid_type(&path, "an integer", value));
    };
    number
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| (min..=max).contains(n))
        .map(Some)
        .ok_or_else(|| Error::OutOfRange {
            path,
            value: number.to_string(),
            min,
            max,
        })
}

/// Resolves column names against the catalog and the declared extra columns.
struct Resolver<'a> {
    options: &'a Options,
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
        path: &str,
        warnings: &mut Vec<Warning>,
    ) -> Result<Column, Error> {
        let raw = item
            .as_str()
            .ok_or_else(|| invalid_type(path, "a column name string", item))?;
        let name = raw.trim().to_ascii_lowercase();
        if let Some(reason) = invalid_name_reason(&name) {
            return Err(Error::InvalidColumnName {
                path: path.to_owned(),
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
                    path: path.to_owned(),
                    name: inner.to_owned(),
                    reason: t.unsupported_reason().unwrap_or_default(),
                }),
                Some(t) => Err(Error::InvalidColumnName {
                    path: path.to_owned(),
                    value: raw.to_owned(),
                    reason: format!("`{inner}` is a {t:?} column, not a lookup; name it `{inner}`"),
                }),
                None => {
                    self.unknown(inner, path, warnings)?;
                    Ok(column(inner.to_owned(), Some(ColumnType::Lookup)))
                }
            };
        }

        match self.declared_type(&name) {
            Some(t) => match t.unsupported_reason() {
                Some(reason) => Err(Error::UnsupportedColumn {
                    path: path.to_owned(),
                    name,
                    reason,
                }),
                None => Ok(column(name, Some(t))),
            },
            None => {
                self.unknown(&name, path, warnings)?;
                Ok(column(name, None))
            }
        }
    }

    fn unknown(&self, name: &str, path: &str, warnings: &mut Vec<Warning>) -> Result<(), Error> {
        let suggestion = closest(name, catalog::columns().iter().map(|c| c.logical_name));
        match self.options.unknown_columns {
            UnknownColumns::Error => Err(Error::UnknownColumn {
                path: path.to_owned(),
                name: name.to_owned(),
                suggestion,
            }),
            UnknownColumns::Warn => {
                let hint =
                    suggestion.map_or_else(String::new, |s| format!(" (did you mean `{s}`?)"));
                warnings.push(Warning::new(
                    WarningCode::UnknownColumn,
                    path.to_owned(),
                    format!(
                        "`{name}` is not a known column of msdyn_ocliveworkitem{hint}; passed \
                         through as a custom column"
                    ),
                ));
                Ok(())
            }
        }
    }
}

fn column(logical_name: String, column_type: Option<ColumnType>) -> Column {
    let property = if column_type.is_some_and(ColumnType::is_lookup) {
        format!("_{logical_name}_value")
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
        let keys = INPUT_KEYS.iter().copied();
        assert_eq!(closest("orderby", keys.clone()), Some("orderBy"));
        assert_eq!(closest("agentid", keys.clone()), Some("agentId"));
        assert_eq!(closest("atributes", keys.clone()), Some("attributes"));
        assert_eq!(closest("colour", keys), None);
    }

    #[test]
    fn lookup_property_names() {
        assert_eq!(lookup_property_inner("_ownerid_value"), Some("ownerid"));
        assert_eq!(lookup_property_inner("_value"), None);
        assert_eq!(lookup_property_inner("__value"), None);
    }
}
