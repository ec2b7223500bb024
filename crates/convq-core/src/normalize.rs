//! Validation and normalization: getConversations JSON → [`Query`] plus warnings.
//!
//! The walk is by hand over the JSON tree so that each error carries the JSON pointer of the
//! value it is about. Checks run in input-key order of importance (agent first), and the first
//! error wins: callers fix one thing at a time, and the pointer makes it unambiguous.
//!
//! A large input (500 columns) is the case to keep cheap: a catalog column costs a hash look-up
//! and no allocation (its names are the catalog's static strings), and pointers are built only
//! for errors and warnings.

use std::borrow::Cow;
use std::sync::LazyLock;

use rustc_hash::FxHashSet;
use uuid::Uuid;

use crate::ast::{Column, CreatedBeforeDays, OrderKey, Query};
use crate::catalog::{self, ColumnDef, ColumnType, DEFAULT_COLUMNS, invalid_name_reason};
use crate::error::{Error, Limit, MULTI_SELECT_ORDER, QUOTED, pointer_index, pointer_key, shorten};
use crate::json::{Json, Object};
use crate::limits;
use crate::options::{Options, UnknownColumns};
use crate::suggest;
use crate::warning::{Warning, WarningCode};

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
    input: &Json<'_>,
    options: &Options,
    warnings: &mut Vec<Warning>,
) -> Result<Query, Error> {
    let object = input
        .as_object()
        .ok_or_else(|| invalid_type(String::new(), "an object", input))?;
    reject_unknown_keys(object, String::new, &INPUT_KEYS)?;
    let resolver = Resolver { options };

    let agent_id = agent_id(object)?;

    let attributes = optional_array(object, "attributes", Limit::Attributes)?.unwrap_or(&[]);
    let mut select: Vec<Column> = Vec::with_capacity(DEFAULT_COLUMNS.len() + attributes.len());
    select.extend_from_slice(&DEFAULT_SELECT);
    for (i, item) in attributes.iter().enumerate() {
        let had_warnings = !warnings.is_empty();
        select.push(resolver.resolve(item, At::Item("/attributes", i), warnings)?);
        if !had_warnings && !warnings.is_empty() {
            // The first unknown column; an input with one usually has more (an organization's
            // custom columns), so make room for the rest once rather than regrowing.
            warnings.reserve(attributes.len() - i);
        }
    }
    dedupe_first_wins(&mut select);

    let status = statuses(object, warnings)?;

    let mut order_by: Vec<OrderKey> = Vec::new();
    if let Some(list) = optional_array(object, "orderBy", Limit::OrderKeys)? {
        order_by.reserve_exact(list.len());
        for (i, item) in list.iter().enumerate() {
            let key = order_key(item, i, &resolver, warnings)?;
            // Entry `first` of `order_by` came from entry `first` of the list: each is pushed.
            if let Some(first) = order_by
                .iter()
                .position(|k| k.column.logical_name == key.column.logical_name)
            {
                return Err(Error::DuplicateOrderKey {
                    path: At::Field("/orderBy", i, "attributeName").pointer(),
                    name: key.column.logical_name.into_owned(),
                    first: At::Field("/orderBy", first, "attributeName").pointer(),
                });
            }
            order_by.push(key);
        }
    }

    let created_before_days = bounded_integer(object, "createdBeforeDays", limits::DAYS_RANGE)?
        .map(|days| CreatedBeforeDays {
            days,
            reading: options.created_before_days,
        });
    let top = bounded_integer(object, "top", limits::TOP_RANGE)?;

    Ok(Query {
        agent_id,
        select,
        status,
        created_before_days,
        order_by,
        top,
    })
}

fn type_name(value: &Json<'_>) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn invalid_type(path: String, expected: &'static str, found: &Json<'_>) -> Error {
    Error::InvalidType {
        path,
        expected,
        found: type_name(found),
    }
}

/// Rejects the first key, in sorted order, that is not one of `known`. (Sorted rather than
/// input order so that text and an already-parsed `serde_json::Value`, whose map is sorted,
/// report the same key.)
fn reject_unknown_keys(
    object: &Object<'_>,
    path: impl FnOnce() -> String,
    known: &[&'static str],
) -> Result<(), Error> {
    match object.keys().filter(|k| !known.contains(k)).min() {
        None => Ok(()),
        Some(name) => Err(Error::UnknownField {
            path: pointer_key(&path(), name),
            name: name.to_owned(),
            suggestion: suggest::closest(name, known.iter().copied()),
        }),
    }
}

fn agent_id(object: &Object<'_>) -> Result<Uuid, Error> {
    match (object.get("agentId"), object.get("agentID")) {
        (Some(v), None) => agent_guid("agentId", v),
        (None, Some(v)) => agent_guid("agentID", v),
        // The same agent under both spellings (code that sets one and copies the other) is one
        // agent; two different ones are a question only the caller can answer.
        (Some(a), Some(b)) => {
            let first = agent_guid("agentId", a)?;
            if agent_guid("agentID", b)? == first {
                Ok(first)
            } else {
                Err(Error::ConflictingAgentId)
            }
        }
        (None, None) => Err(Error::MissingField {
            path: "/agentId".to_owned(),
        }),
    }
}

fn agent_guid(key: &str, value: &Json<'_>) -> Result<Uuid, Error> {
    let path = || pointer_key("", key);
    let text = value
        .as_str()
        .ok_or_else(|| invalid_type(path(), "a GUID string", value))?;
    parse_guid(text).ok_or_else(|| Error::InvalidAgentId {
        path: path(),
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
fn optional<'o, 'a>(object: &'o Object<'a>, key: &str) -> Option<&'o Json<'a>> {
    object.get(key).filter(|v| !v.is_null())
}

fn optional_array<'o, 'a>(
    object: &'o Object<'a>,
    key: &str,
    limit: Limit,
) -> Result<Option<&'o [Json<'a>]>, Error> {
    let Some(value) = optional(object, key) else {
        return Ok(None);
    };
    let path = || pointer_key("", key);
    let list = value
        .as_array()
        .ok_or_else(|| invalid_type(path(), "an array", value))?;
    if list.len() > limit.max() {
        return Err(Error::LimitExceeded {
            limit,
            path: path(),
            count: list.len(),
        });
    }
    Ok(Some(list))
}

/// The `status` field: a list whose entries are integers, numeric strings or comma-separated
/// numeric strings (`["2,3"]`), or one such string for the whole field (`"2,3"`). Sorted and
/// de-duplicated; each unknown value warns once, at its first place.
fn statuses(object: &Object<'_>, warnings: &mut Vec<Warning>) -> Result<Vec<i32>, Error> {
    let Some(value) = optional(object, "status") else {
        return Ok(Vec::new());
    };
    let mut status = Vec::new();
    match value {
        Json::String(text) => {
            status_text(text, value, At::Key("/status"), &mut status, warnings)?;
        }
        Json::Array(list) => {
            if list.len() > Limit::Statuses.max() {
                return Err(Error::LimitExceeded {
                    limit: Limit::Statuses,
                    path: "/status".to_owned(),
                    count: list.len(),
                });
            }
            status.reserve_exact(list.len());
            for (i, item) in list.iter().enumerate() {
                let at = At::Item("/status", i);
                match item {
                    Json::String(text) => status_text(text, item, at, &mut status, warnings)?,
                    _ => push_status(status_value(item, at)?, at, &mut status, warnings),
                }
            }
        }
        other => {
            return Err(invalid_type(
                "/status".to_owned(),
                "an array of statuscode values or a comma-separated string",
                other,
            ));
        }
    }
    if status.len() > Limit::Statuses.max() {
        return Err(Error::LimitExceeded {
            limit: Limit::Statuses,
            path: "/status".to_owned(),
            count: status.len(),
        });
    }
    status.sort_unstable();
    status.dedup();
    Ok(status)
}

fn push_status(value: i32, at: At, status: &mut Vec<i32>, warnings: &mut Vec<Warning>) {
    let known = catalog::column("statuscode").map_or(&[][..], |c| c.options);
    if !known.iter().any(|o| o.value == value) && !status.contains(&value) {
        warnings.push(unknown_status_warning(value, at));
    }
    status.push(value);
}

/// A string of statuscode values separated by commas: `"3"`, `"2,3"`, `" 2 , 3 "`.
fn status_text(
    text: &str,
    item: &Json<'_>,
    at: At,
    status: &mut Vec<i32>,
    warnings: &mut Vec<Warning>,
) -> Result<(), Error> {
    let invalid = |reason: &str| Error::InvalidStatus {
        path: at.pointer(),
        value: item.to_text(),
        reason: reason.to_owned(),
    };
    for part in text.split(',') {
        let digits = part.trim();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(if text.contains(',') {
                "not a comma-separated list of numbers"
            } else {
                "not a number"
            }));
        }
        // Any digit string too long for i64 is out of range anyway.
        let number = digits.parse::<i64>().unwrap_or(i64::MAX);
        let value = i32::try_from(number)
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| invalid("out of range 0..=2147483647"))?;
        push_status(value, at, status, warnings);
        if status.len() > Limit::Statuses.max() {
            return Err(Error::LimitExceeded {
                limit: Limit::Statuses,
                path: "/status".to_owned(),
                count: status.len(),
            });
        }
    }
    Ok(())
}

/// A JSON number that is an integer: `3`, and also `3.0` (JavaScript has one number type, and
/// `3.0 === 3`). Integers beyond `i64` saturate (they are out of every range here).
pub(crate) fn integral(number: &serde_json::Number) -> Option<i64> {
    if let Some(n) = number.as_i64() {
        return Some(n);
    }
    if number.as_u64().is_some() {
        return Some(i64::MAX);
    }
    let float = number.as_f64()?;
    if !float.is_finite() || float.fract() != 0.0 {
        return None;
    }
    // `as` saturates, and an integral float beyond i64 is out of range anyway.
    Some(float as i64)
}

fn status_value(item: &Json<'_>, at: At) -> Result<i32, Error> {
    let invalid = |reason: &str| Error::InvalidStatus {
        path: at.pointer(),
        value: item.to_text(),
        reason: reason.to_owned(),
    };
    let number = match item {
        Json::Number(n) => integral(n).ok_or_else(|| invalid("not an integer"))?,
        _ => {
            return Err(invalid_type(
                at.pointer(),
                "an integer or a numeric string",
                item,
            ));
        }
    };
    i32::try_from(number)
        .ok()
        .filter(|n| (0..=limits::MAX_STATUS_VALUE).contains(&i64::from(*n)))
        .ok_or_else(|| invalid(&format!("out of range 0..={}", limits::MAX_STATUS_VALUE)))
}

fn unknown_status_warning(value: i32, at: At) -> Warning {
    let message = format!(
        "statuscode {value} is not in the msdyn_ocliveworkitem option set (1..7); kept, in case \
         your organization added it"
    );
    Warning::new(WarningCode::UnknownStatus, at.pointer(), message)
}

fn order_key(
    item: &Json<'_>,
    index: usize,
    resolver: &Resolver<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<OrderKey, Error> {
    let path = || pointer_index("/orderBy", index);
    let object = item
        .as_object()
        .ok_or_else(|| invalid_type(path(), "an object", item))?;
    reject_unknown_keys(object, path, &ORDER_KEY_KEYS)?;
    let name_at = At::Field("/orderBy", index, "attributeName");
    let name = object
        .get("attributeName")
        .ok_or_else(|| Error::MissingField {
            path: name_at.pointer(),
        })?;
    let column = resolver.resolve(name, name_at, warnings)?;
    if column.column_type == Some(ColumnType::MultiSelectPicklist) {
        return Err(Error::UnsupportedColumn {
            path: name_at.pointer(),
            name: column.logical_name.into_owned(),
            reason: MULTI_SELECT_ORDER,
        });
    }
    let descending = match optional(object, "descending") {
        None => false,
        Some(Json::Bool(b)) => *b,
        Some(other) => {
            return Err(invalid_type(
                At::Field("/orderBy", index, "descending").pointer(),
                "a boolean",
                other,
            ));
        }
    };
    Ok(OrderKey { column, descending })
}

fn bounded_integer(
    object: &Object<'_>,
    key: &str,
    (min, max): (u32, u32),
) -> Result<Option<u32>, Error> {
    let Some(value) = optional(object, key) else {
        return Ok(None);
    };
    let path = || pointer_key("", key);
    let Json::Number(number) = value else {
        return Err(invalid_type(path(), "an integer", value));
    };
    integral(number)
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
enum At {
    /// A key of the input object: `/status`.
    Key(&'static str),
    /// Entry `index` of the array at `array`: `/attributes/3`.
    Item(&'static str, usize),
    /// Key `key` of entry `index` of the array at `array`: `/orderBy/0/attributeName`.
    Field(&'static str, usize, &'static str),
}

impl At {
    fn pointer(self) -> String {
        match self {
            At::Key(pointer) => pointer.to_owned(),
            At::Item(array, index) => pointer_index(array, index),
            At::Field(array, index, key) => pointer_key(&pointer_index(array, index), key),
        }
    }
}

/// Removes each column that repeats an earlier one (by logical name): the first occurrence
/// wins.
fn dedupe_first_wins(select: &mut Vec<Column>) {
    // The usual input names a handful of columns: a scan of those kept costs less than a set.
    if select.len() <= 32 {
        let mut kept = 0;
        for i in 0..select.len() {
            let name = &select[i].logical_name;
            if !select[..kept].iter().any(|c| &c.logical_name == name) {
                // Everything between `kept` and `i` is a dropped repeat: order is kept.
                select.swap(kept, i);
                kept += 1;
            }
        }
        select.truncate(kept);
        return;
    }
    let mut seen = FxHashSet::with_capacity_and_hasher(select.len(), Default::default());
    let keep: Vec<bool> = select
        .iter()
        .map(|c| seen.insert(c.logical_name.as_ref()))
        .collect();
    let mut keep = keep.into_iter();
    select.retain(|_| keep.next().unwrap_or(true));
}

/// The default columns, resolved once (their names borrow the catalog's, so cloning them
/// allocates nothing).
static DEFAULT_SELECT: LazyLock<Vec<Column>> = LazyLock::new(|| {
    // Always there: a catalog test checks the defaults.
    DEFAULT_COLUMNS
        .iter()
        .filter_map(|name| catalog::column(name).map(catalog_column))
        .collect()
});

/// A catalog column: its names are the catalog's static strings.
fn catalog_column(def: &'static ColumnDef) -> Column {
    Column {
        logical_name: Cow::Borrowed(def.logical_name),
        property: Cow::Borrowed(def.property),
        column_type: Some(def.column_type),
    }
}

/// A column the catalog does not have (declared in the options, or unknown).
fn custom_column(logical_name: String, column_type: Option<ColumnType>) -> Column {
    let property = if column_type.is_some_and(ColumnType::is_lookup) {
        format!("_{logical_name}_value")
    } else {
        logical_name.clone()
    };
    Column {
        logical_name: Cow::Owned(logical_name),
        property: Cow::Owned(property),
        column_type,
    }
}

/// What the catalog or the options say a column is.
#[derive(Clone, Copy)]
enum Declared {
    Catalog(&'static ColumnDef),
    Extra(ColumnType),
}

impl Declared {
    fn column_type(self) -> ColumnType {
        match self {
            Declared::Catalog(def) => def.column_type,
            Declared::Extra(column_type) => column_type,
        }
    }

    /// The column `logical_name` (already normalized) names.
    fn column(self, logical_name: &str) -> Column {
        match self {
            Declared::Catalog(def) => catalog_column(def),
            Declared::Extra(column_type) => {
                custom_column(logical_name.to_owned(), Some(column_type))
            }
        }
    }
}

/// Resolves column names against the catalog and the declared extra columns.
struct Resolver<'a> {
    options: &'a Options,
}

impl Resolver<'_> {
    fn declared(&self, logical_name: &str) -> Option<Declared> {
        if let Some(def) = catalog::column(logical_name) {
            return Some(Declared::Catalog(def));
        }
        // A scan: options declare a handful of columns, and only names the catalog lacks get here.
        self.options
            .extra_columns
            .iter()
            .find(|e| e.logical_name.trim().eq_ignore_ascii_case(logical_name))
            .map(|e| Declared::Extra(e.column_type))
    }

    fn resolve(
        &self,
        item: &Json<'_>,
        at: At,
        warnings: &mut Vec<Warning>,
    ) -> Result<Column, Error> {
        let raw = item
            .as_str()
            .ok_or_else(|| invalid_type(at.pointer(), "a column name string", item))?;
        let name = normalized_name(raw);
        if let Some(reason) = invalid_name_reason(&name) {
            return Err(Error::InvalidColumnName {
                path: at.pointer(),
                value: raw.to_owned(),
                reason: reason.to_owned(),
            });
        }

        // `_x_value` is Web API's name for lookup `x`: the same column.
        if let Some(inner) = lookup_property_inner(&name) {
            let Some(declared) = self.declared(inner) else {
                self.unknown(inner, at, warnings)?;
                return Ok(custom_column(inner.to_owned(), Some(ColumnType::Lookup)));
            };
            let column_type = declared.column_type();
            return if column_type.is_lookup() {
                Ok(declared.column(inner))
            } else if let Some(reason) = column_type.unsupported_reason() {
                // Not "name it `x`" when `x` would be rejected too.
                Err(Error::UnsupportedColumn {
                    path: at.pointer(),
                    name: inner.to_owned(),
                    reason,
                })
            } else {
                Err(Error::InvalidColumnName {
                    path: at.pointer(),
                    value: raw.to_owned(),
                    reason: format!(
                        "`{inner}` is a {column_type:?} column, not a lookup; name it `{inner}`",
                        inner = shorten(inner, QUOTED)
                    ),
                })
            };
        }

        match self.declared(&name) {
            Some(declared) => match declared.column_type().unsupported_reason() {
                Some(reason) => Err(Error::UnsupportedColumn {
                    path: at.pointer(),
                    name: name.into_owned(),
                    reason,
                }),
                None => Ok(declared.column(&name)),
            },
            None => {
                self.unknown(&name, at, warnings)?;
                Ok(custom_column(name.into_owned(), None))
            }
        }
    }

    fn unknown(&self, name: &str, at: At, warnings: &mut Vec<Warning>) -> Result<(), Error> {
        let suggestion = suggest::closest_column(name);
        match self.options.unknown_columns {
            UnknownColumns::Error => Err(Error::UnknownColumn {
                path: at.pointer(),
                name: name.to_owned(),
                suggestion,
            }),
            UnknownColumns::Warn => {
                warnings.push(Warning::new(
                    WarningCode::UnknownColumn,
                    at.pointer(),
                    unknown_column_message(name, suggestion),
                ));
                Ok(())
            }
        }
    }
}

fn unknown_column_message(name: &str, suggestion: Option<&str>) -> String {
    let did_you_mean = suggestion.map_or(String::new(), |s| format!(" (did you mean `{s}`?)"));
    format!(
        "`{}` is not a known column of msdyn_ocliveworkitem{did_you_mean}; passed through as a \
         custom column",
        shorten(name, QUOTED)
    )
}

/// A column name as given, trimmed and in ASCII lower case; borrowed when it already is.
fn normalized_name(raw: &str) -> Cow<'_, str> {
    let trimmed = raw.trim();
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
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
    fn the_default_columns_are_in_the_catalog() {
        for name in DEFAULT_COLUMNS {
            assert!(catalog::column(name).is_some(), "{name}");
        }
    }

    #[test]
    fn unknown_column_messages() {
        assert_eq!(
            unknown_column_message("msdyn_titel", Some("msdyn_title")),
            "`msdyn_titel` is not a known column of msdyn_ocliveworkitem (did you mean \
             `msdyn_title`?); passed through as a custom column"
        );
    }

    #[test]
    fn repeats_are_removed_first_occurrence_wins() {
        for count in [3, 40] {
            let mut select: Vec<Column> = (0..count)
                .map(|i| custom_column(format!("c{}", i % 3), None))
                .collect();
            select.insert(1, catalog_column(catalog::column("createdon").unwrap()));
            select.push(catalog_column(catalog::column("createdon").unwrap()));
            dedupe_first_wins(&mut select);
            let names: Vec<&str> = select.iter().map(|c| c.logical_name.as_ref()).collect();
            assert_eq!(names, ["c0", "createdon", "c1", "c2"], "{count}");
        }
    }

    #[test]
    fn lookup_property_names() {
        assert_eq!(lookup_property_inner("_ownerid_value"), Some("ownerid"));
        assert_eq!(lookup_property_inner("_value"), None);
        assert_eq!(lookup_property_inner("__value"), None);
    }
}
