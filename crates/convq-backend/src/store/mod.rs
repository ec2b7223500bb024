//! The embedded backend: conversation records in memory, queried by evaluating the normalized
//! [`Query`] (never the rendered `$filter` string).
//!
//! Semantics, chosen to match what Dataverse answers for the compiled request (each rule, its
//! source and the test that pins it: `docs/semantics.md`):
//! - **agent**: `_msdyn_activeagentid_value` equals `agentId` as GUIDs (so case and braces do not
//!   matter). Records without an agent match no query (getConversations always names one).
//! - **status**: `statuscode` is one of the values; a null or missing statuscode matches no
//!   status filter (as `statuscode eq 3` is false for null in Dataverse).
//! - **createdBeforeDays = N**, in the run's time zone ([`RunContext::time_zone`], UTC by
//!   default; Dataverse uses the user's): the boundary is midnight of the day N days before
//!   today there. Read as `LastXDays` (the default), `createdon` is at or after the boundary and
//!   not after `now`; as `OlderThanXDays`, before the boundary. So at `now` =
//!   2026-11-20T12:00:00Z in UTC, N = 1 keeps 2026-11-19T00:00:00Z up to 2026-11-20T12:00:00Z,
//!   or everything before 2026-11-19T00:00:00Z. A null `createdon` never matches.
//! - **orderBy**: see [`order`] (nulls first ascending, the org's collation for text, lookups
//!   by name, GUIDs in SQL Server order, ties by `activityid` in that GUID order: the key convq
//!   renders last). Without orderBy, records come in `activityid` order (Dataverse orders by
//!   the primary key when a query has no order).
//! - **top**: the first N after ordering.
//! - **projection**: `@odata.etag` when the record has one, `activityid`, and every selected Web
//!   API property (the five defaults and the requested attributes); a property the record lacks
//!   is `null` (Web API returns `null` for a selected empty column). With
//!   [`RunContext::formatted_values`], each selected property's
//!   `@OData.Community.Display.V1.FormattedValue` annotation too, when the record has one
//!   (Web API leaves it out for null values). Nothing else.
//!
//! Cost: a hash look-up of the agent's rows (records, their values and their text are clustered
//! by agent at load, so each is one contiguous run), then a pass over those rows only (32 bytes
//! each); ordering extracts each match's keys once and sorts (key, row) pairs (with `top`, a
//! selection of the first N, then a sort of those N); text compares by a collation rank
//! computed once per distinct string at load. Projection writes the JSON text of each record
//! ([`EmbeddedStore::query_json`]): the one projection path; [`EmbeddedStore::query`] parses
//! that text. Property positions are worked out once per record shape per query, not per row.

mod collation;
mod load;
pub(crate) mod order;
mod value;

use std::borrow::Cow;
use std::cmp::Ordering;
use std::path::Path;
use std::sync::OnceLock;
use std::time::SystemTime;

use convq_core::{Compiled, CreatedBeforeDays, DaysReading, Query, Warning, WarningCode};
use jiff::tz::TimeZone;
use serde_json::{Map, Value};

pub use self::load::LoadWarning;
use self::load::{CREATED_FIELD, FORMATTED_VALUE, FieldId, Loaded};
use self::order::{Key, KeyKind};
use self::value::{Stamp, Val};
use crate::error::StoreError;
use crate::timestamp::{Nanos, system_time_nanos};
use crate::{Backend, BackendError, BoxFuture, RunContext};

/// The shipped sample store (`cargo xtask sample-data` writes it): a Web API response body.
const SAMPLE: &[u8] = include_bytes!("../../data/sample-conversations.json");

/// Conversation records in memory, with an index on the agent.
///
/// Load a Web API response body (`{"value": [...]}`, as saved from
/// `GET /api/data/v9.2/msdyn_ocliveworkitems`), a JSON array of records, or NDJSON, with Web API
/// property names. Loading checks the properties the store evaluates (`activityid`,
/// `_msdyn_activeagentid_value`, `statuscode`, `createdon`) and is all or nothing.
#[derive(Debug)]
pub struct EmbeddedStore {
    loaded: Loaded,
    /// The instant the store's dates are relative to, when it has one (the sample store).
    reference_now: Option<SystemTime>,
}

/// The sample store's `createdon` values end at this instant, 2026-11-20T12:00:00Z (the
/// generator's reference time): "now" for the sample unless a run pins another.
const SAMPLE_NOW_UNIX: u64 = 1_795_176_000;

impl EmbeddedStore {
    /// The shipped sample store: 3,000 generated conversations of 20 agents, created in the 90
    /// days up to 2026-11-20T12:00:00Z, which is its [`reference_now`](Self::reference_now)
    /// (so `createdBeforeDays` answers the same on any date).
    ///
    /// # Panics
    /// Never in practice: the file is embedded at build time and the test suite loads it.
    #[must_use]
    pub fn sample() -> Self {
        let mut store = Self::from_bytes(SAMPLE).expect("the embedded sample store loads (tested)");
        store.reference_now =
            Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(SAMPLE_NOW_UNIX));
        store
    }

    /// The instant the store's dates are relative to, if it has one: adapters use it as "now"
    /// when a run does not pin one, so examples answer the same on any date. The sample store
    /// has one; a loaded file does not (its dates are real).
    #[must_use]
    pub fn reference_now(&self) -> Option<SystemTime> {
        self.reference_now
    }

    /// Loads a store file.
    ///
    /// # Errors
    /// [`StoreError`]: the file cannot be read, is not JSON of an accepted shape, or has a
    /// malformed or duplicate record (with its index or line and the property).
    pub fn from_path(path: &Path) -> Result<Self, StoreError> {
        let bytes = std::fs::read(path).map_err(|source| StoreError::Unreadable {
            path: path.to_owned(),
            source: source.into(),
        })?;
        Self::from_bytes(&bytes)
    }

    /// Loads a store from a Web API response body, a JSON array of records, or NDJSON.
    ///
    /// # Errors
    /// As [`from_path`](Self::from_path), except reading.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        if let Some(encoding) = crate::utf16_encoding(bytes) {
            return Err(StoreError::InvalidJson {
                message: format!(
                    "it is {encoding} text, and JSON must be UTF-8; {}",
                    crate::CONVERT_UTF16
                ),
                line: 1,
                column: 1,
            });
        }
        load::load(bytes).map(|loaded| Self {
            loaded,
            reference_now: None,
        })
    }

    /// What loading noticed without refusing the store: properties under names Web API does not
    /// return (a lookup's logical name, a name the catalog does not have), which no query selects.
    #[must_use]
    pub fn load_warnings(&self) -> &[LoadWarning] {
        &self.loaded.warnings
    }

    /// The number of conversations.
    #[must_use]
    pub fn len(&self) -> usize {
        self.loaded.records.len()
    }

    /// Whether the store has no conversations.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.loaded.records.is_empty()
    }

    /// The number of distinct agents (`_msdyn_activeagentid_value`).
    #[must_use]
    pub fn agent_count(&self) -> usize {
        self.loaded.by_agent.len()
    }

    /// The distinct agents (`_msdyn_activeagentid_value`), in no particular order.
    #[must_use]
    pub fn agents(&self) -> Vec<uuid::Uuid> {
        self.loaded.by_agent.keys().copied().collect()
    }

    /// Evaluates a normalized query in `ctx` (its `now`, time zone and whether formatted values
    /// are wanted) and returns the projected records, in order: the JSON that
    /// [`query_json`](Self::query_json) writes, parsed (one projection path for both).
    ///
    /// # Panics
    /// Never: the store writes valid JSON (tested).
    #[must_use]
    pub fn query(&self, query: &Query, ctx: &RunContext) -> Vec<Value> {
        let mut out = Vec::with_capacity(1024);
        out.push(b'[');
        self.query_json(query, ctx, &mut out);
        out.push(b']');
        serde_json::from_slice(&out).expect("the store writes valid JSON")
    }

    /// As [`query`](Self::query), but appends the records' JSON to `out` (comma-separated, no
    /// brackets) instead of building values, keys in the order `serde_json::Map` keeps them.
    /// Returns the number of records.
    ///
    /// Skips a `serde_json::Map` per record (its `String` keys, a `Value` per column) and the
    /// string escaper for text that needs no escaping.
    pub fn query_json(&self, query: &Query, ctx: &RunContext, out: &mut Vec<u8>) -> usize {
        let rows = self.matching_rows(query, ctx);
        let columns = self.json_columns(query, ctx.formatted_values);
        // Keys plus about a GUID's length per value: one allocation for most answers.
        out.reserve(rows.len() * (columns.text.len() + 40 * columns.keys.len() + 2));
        let mut positions = Positions::new(columns.keys.iter().map(|k| k.field).collect());
        let loaded = &self.loaded;
        for (index, &row) in rows.iter().enumerate() {
            let record = &loaded.records[row as usize];
            let values = &loaded.values[record.start as usize..];
            if index > 0 {
                out.push(b',');
            }
            let mut first = true;
            for (key, at) in columns.keys.iter().zip(positions.of(loaded, record.shape)) {
                let value = at.map(|p| &values[p]).filter(|v| !matches!(v, Val::Null));
                if value.is_none() && key.optional {
                    continue;
                }
                out.push(if first { b'{' } else { b',' });
                first = false;
                out.extend_from_slice(&columns.text[key.text.0..key.text.1]);
                match value {
                    Some(value) => value.write_json(out, &loaded.texts),
                    None => out.extend_from_slice(b"null"),
                }
            }
            if first {
                out.push(b'{');
            }
            out.push(b'}');
        }
        rows.len()
    }

    /// The projected properties of a query in the order `serde_json::Map` iterates them, each
    /// with its `"name":` text: `@odata.etag` and the formatted values are optional (left out
    /// when the record has none), `activityid` and the selected properties are not (`null`).
    fn json_columns(&self, query: &Query, formatted_values: bool) -> JsonColumns {
        // (name, optional), in Web API's own order: the etag, the key, then each selected
        // property after its annotation.
        let mut names: Vec<(Cow<'_, str>, bool)> = Vec::with_capacity(2 + 2 * query.select.len());
        names.push(("@odata.etag".into(), true));
        names.push(("activityid".into(), false));
        for column in &query.select {
            let property = column.property.as_ref();
            if formatted_values {
                names.push((format!("{property}{FORMATTED_VALUE}").into(), true));
            }
            names.push((property.into(), false));
        }
        if map_sorts_keys() {
            // Stable: of a name given twice, the first entry stays.
            names.sort_by(|a, b| a.0.cmp(&b.0));
            names.dedup_by(|later, first| later.0 == first.0);
        } else {
            // Insertion order; inserting a key again keeps its first place.
            let mut seen = 0;
            for index in 0..names.len() {
                if !names[..seen].iter().any(|n| n.0 == names[index].0) {
                    names.swap(seen, index);
                    seen += 1;
                }
            }
            names.truncate(seen);
        }
        let mut text = Vec::with_capacity(names.iter().map(|n| n.0.len() + 3).sum());
        let mut keys = Vec::with_capacity(names.len());
        for (name, optional) in names {
            let start = text.len();
            crate::append_json(&mut text, &name);
            text.push(b':');
            keys.push(JsonKey {
                text: (start, text.len()),
                field: self.loaded.name_ids.get(name.as_ref()).copied(),
                optional,
            });
        }
        JsonColumns { text, keys }
    }

    /// The indexes of the matching records, ordered and cut to `top`.
    fn matching_rows(&self, query: &Query, ctx: &RunContext) -> Vec<u32> {
        let Some(&(start, end)) = self.loaded.by_agent.get(&query.agent_id) else {
            return Vec::new();
        };
        let window = query
            .created_before_days
            .map(|filter| created_window(filter, ctx.now, &ctx.time_zone));
        let records = &self.loaded.records[start as usize..end as usize];
        let mut rows: Vec<u32> = (start..end)
            .zip(records)
            .filter(|(_, record)| {
                let status_ok = query.status.is_empty()
                    || record
                        .status
                        .is_some_and(|s| query.status.binary_search(&s).is_ok());
                let created_ok = window.is_none_or(|(from, to)| {
                    record.created.is_some_and(|at| from <= at && at < to)
                });
                status_ok && created_ok
            })
            .map(|(row, _)| row)
            .collect();
        let top = query.top.map_or(usize::MAX, |t| t as usize);
        match query.order_by.as_slice() {
            [] => rows.truncate(top),
            // The common case, `createdon` alone: its instant is in the record, and an
            // `Option<Stamp>` orders as the key does (null first).
            [key]
                if self.loaded.name_ids.get(key.column.property.as_ref())
                    == Some(&CREATED_FIELD) =>
            {
                let records = &self.loaded.records;
                let mut keyed: Vec<(Option<Stamp>, u32)> = rows
                    .iter()
                    .map(|&row| (records[row as usize].created, row))
                    .collect();
                sort_keyed(&mut keyed, top, |a, b| directed(a.cmp(b), key.descending));
                rows = keyed.into_iter().map(|(_, row)| row).collect();
            }
            [key] => {
                let mut keys = KeyReader::new(&self.loaded, query);
                let mut keyed: Vec<(Key<'_>, u32)> = Vec::with_capacity(rows.len());
                for &row in &rows {
                    keyed.push((keys.read(row).next().unwrap_or(Key::Null), row));
                }
                sort_keyed(&mut keyed, top, |a, b| directed(a.cmp(b), key.descending));
                rows = keyed.into_iter().map(|(_, row)| row).collect();
            }
            keys => {
                let width = keys.len();
                let descending: Vec<bool> = keys.iter().map(|k| k.descending).collect();
                let mut reader = KeyReader::new(&self.loaded, query);
                // Row i's keys at i*width.., read once per row, not per comparison.
                let mut flat: Vec<Key<'_>> = Vec::with_capacity(rows.len() * width);
                for &row in &rows {
                    flat.extend(reader.read(row));
                }
                let mut keyed: Vec<(usize, u32)> = rows
                    .iter()
                    .enumerate()
                    .map(|(i, &row)| (i * width, row))
                    .collect();
                sort_keyed(&mut keyed, top, |&a, &b| {
                    let (ka, kb) = (&flat[a..a + width], &flat[b..b + width]);
                    ka.iter()
                        .zip(kb)
                        .zip(&descending)
                        .map(|((x, y), &desc)| directed(x.cmp(y), desc))
                        .find(|o| o.is_ne())
                        .unwrap_or(Ordering::Equal)
                });
                rows = keyed.into_iter().map(|(_, row)| row).collect();
            }
        }
        rows
    }
}

/// `ordering`, reversed for a descending key.
fn directed(ordering: Ordering, descending: bool) -> Ordering {
    if descending {
        ordering.reverse()
    } else {
        ordering
    }
}

/// Sorts (key, row) pairs by key, ties by row, keeping the first `top`. Within an agent, row
/// order is `activityid` order (the load sorts each agent's records so), so the row tie-break
/// is the `activityid asc` convq renders last; it is also a total order, which makes the
/// unstable selection exact.
fn sort_keyed<K>(keyed: &mut Vec<(K, u32)>, top: usize, compare: impl Fn(&K, &K) -> Ordering) {
    let compare = |a: &(K, u32), b: &(K, u32)| compare(&a.0, &b.0).then(a.1.cmp(&b.1));
    if top < keyed.len() {
        if top == 0 {
            keyed.clear();
            return;
        }
        keyed.select_nth_unstable_by(top - 1, compare);
        keyed.truncate(top);
    }
    keyed.sort_unstable_by(compare);
}

/// Where some fields are among a record's values. Worked out for the last shape seen: most
/// stores have one shape, so that is once per query, however many rows.
struct Positions {
    fields: Vec<Option<FieldId>>,
    shape: Option<u32>,
    at: Vec<Option<usize>>,
}

impl Positions {
    fn new(fields: Vec<Option<FieldId>>) -> Self {
        Self {
            at: Vec::with_capacity(fields.len()),
            fields,
            shape: None,
        }
    }

    /// For each field, its position among the values of a record of `shape`.
    fn of(&mut self, loaded: &Loaded, shape: u32) -> &[Option<usize>] {
        if self.shape != Some(shape) {
            let names = &loaded.shapes[shape as usize];
            self.at.clear();
            self.at.extend(
                self.fields
                    .iter()
                    .map(|field| field.and_then(|f| names.iter().position(|n| *n == f))),
            );
            self.shape = Some(shape);
        }
        &self.at
    }
}

/// Reads the order keys of records.
struct KeyReader<'s> {
    loaded: &'s Loaded,
    /// Per key: its field and how its values order.
    keys: Vec<(Option<FieldId>, KeyKind)>,
    /// Per key, two fields: the key's own, then (for a lookup) its formatted value's.
    positions: Positions,
}

impl<'s> KeyReader<'s> {
    fn new(loaded: &'s Loaded, query: &Query) -> Self {
        let mut fields = Vec::with_capacity(2 * query.order_by.len());
        let keys: Vec<(Option<FieldId>, KeyKind)> = query
            .order_by
            .iter()
            .map(|key| {
                let property = key.column.property.as_ref();
                let field = loaded.name_ids.get(property).copied();
                let kind = KeyKind::of(key.column.column_type);
                fields.push(field);
                fields.push(
                    (kind == KeyKind::Lookup)
                        .then(|| loaded.formatted_field(property))
                        .flatten(),
                );
                (field, kind)
            })
            .collect();
        Self {
            loaded,
            keys,
            positions: Positions::new(fields),
        }
    }

    /// The keys of a record, in order.
    fn read(&mut self, row: u32) -> impl Iterator<Item = Key<'s>> + '_ {
        let loaded = self.loaded;
        let record = &loaded.records[row as usize];
        let values = &loaded.values[record.start as usize..];
        let at = self.positions.of(loaded, record.shape);
        self.keys
            .iter()
            .zip(at.chunks_exact(2))
            .map(move |(&(field, kind), at)| {
                if field == Some(CREATED_FIELD) {
                    return record.created.map_or(Key::Null, Key::Time);
                }
                // A lookup sorts by the related record's name, when the record carries it.
                if let Some(Val::Str(name) | Val::Escaped(name)) = at[1].map(|p| &values[p]) {
                    return Key::Text(name.rank, loaded.texts.get(*name));
                }
                Key::of(at[0].map(|p| &values[p]), kind, &loaded.texts)
            })
    }
}

/// What [`EmbeddedStore::query_json`] writes before each value of a record.
struct JsonColumns {
    /// `"a":"b":...`: the key texts, back to back.
    text: Vec<u8>,
    keys: Vec<JsonKey>,
}

/// One projected property.
struct JsonKey {
    /// Where its `"name":` is in [`JsonColumns::text`].
    text: (usize, usize),
    /// Its field (none when no record has the property).
    field: Option<FieldId>,
    /// Left out, rather than written as `null`, when the record has no value.
    optional: bool,
}

/// Whether `serde_json::Map` iterates keys sorted (a `BTreeMap`) rather than in insertion order
/// (serde_json's `preserve_order` feature, which any crate in a build can turn on).
fn map_sorts_keys() -> bool {
    static SORTS: OnceLock<bool> = OnceLock::new();
    *SORTS.get_or_init(|| {
        let mut probe = Map::new();
        probe.insert("b".to_owned(), Value::Null);
        probe.insert("a".to_owned(), Value::Null);
        probe.keys().next().is_some_and(|first| first == "a")
    })
}

/// The `createdon` range `createdBeforeDays` keeps at `now` in `time_zone`, as
/// `from <= at < to`. The boundary is midnight, in the zone, of the day `days` days before today
/// there (as Dataverse evaluates `LastXDays` and `OlderThanXDays` in the user's time zone).
/// `LastXDays` keeps from the boundary up to `now` (inclusive); `OlderThanXDays` everything
/// before the boundary.
fn created_window(
    filter: CreatedBeforeDays,
    now: SystemTime,
    time_zone: &TimeZone,
) -> (Stamp, Stamp) {
    let now = system_time_nanos(now);
    let boundary = midnight_days_before(now, filter.days, time_zone).unwrap_or(Nanos::MIN);
    match filter.reading {
        DaysReading::LastXDays => (
            Stamp::from_nanos(boundary),
            Stamp::from_nanos(now.saturating_add(1)),
        ),
        DaysReading::OlderThanXDays => (Stamp::from_nanos(Nanos::MIN), Stamp::from_nanos(boundary)),
    }
}

/// Midnight (the first instant of the day, which a DST change can move) in `time_zone` of the
/// civil day `days` days before the one `now` falls on there; `None` outside jiff's range
/// (years -9999 to 9999), which Dataverse dates (1753 to 9999) never are.
fn midnight_days_before(now: Nanos, days: u32, time_zone: &TimeZone) -> Option<Nanos> {
    let today = jiff::Timestamp::from_nanosecond(now)
        .ok()?
        .to_zoned_datetime(time_zone.clone());
    let day = today
        .date()
        .checked_sub(jiff::Span::new().days(i64::from(days)))
        .ok()?;
    let start = day
        .to_zoned_datetime(time_zone.clone())
        .ok()?
        .start_of_day()
        .ok()?;
    Some(start.timestamp().as_nanosecond())
}

impl Backend for EmbeddedStore {
    fn fetch<'a>(
        &'a self,
        compiled: &'a Compiled,
        ctx: &'a RunContext,
    ) -> BoxFuture<'a, Result<Vec<Value>, BackendError>> {
        // Sub-millisecond work: computed right here, no blocking pool needed.
        let values = self.query(&compiled.ast, ctx);
        Box::pin(std::future::ready(Ok(values)))
    }

    fn fetch_json<'a>(
        &'a self,
        compiled: &'a Compiled,
        ctx: &'a RunContext,
        out: &'a mut Vec<u8>,
    ) -> BoxFuture<'a, Result<usize, BackendError>> {
        let count = self.query_json(&compiled.ast, ctx, out);
        Box::pin(std::future::ready(Ok(count)))
    }

    fn warnings(&self, compiled: &Compiled) -> Vec<Warning> {
        compiled
            .ast
            .order_by
            .iter()
            .enumerate()
            .filter(|(_, key)| KeyKind::of(key.column.column_type) == KeyKind::Lookup)
            .filter(|(_, key)| {
                self.loaded
                    .name_ids
                    .get(key.column.property.as_ref())
                    .is_some_and(|field| self.loaded.unnamed_lookups.contains(field))
            })
            .map(|(i, key)| {
                Warning::new(
                    WarningCode::OrderMayDiffer,
                    format!("/orderBy/{i}/attributeName"),
                    format!(
                        "Dataverse orders `{}` by the related record's name, which some records \
                         of this store lack ({}{FORMATTED_VALUE}): those sort by GUID, as SQL \
                         Server orders them, so the org's order may differ",
                        key.column.logical_name, key.column.property
                    ),
                )
            })
            .collect()
    }

    fn reference_now(&self) -> Option<SystemTime> {
        self.reference_now
    }

    fn describe(&self) -> String {
        format!(
            "embedded store: {} conversations, {} agents",
            self.len(),
            self.agent_count()
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_utf16_store_says_so_and_how_to_convert_it() {
        let text = r#"[{"activityid":"a"}]"#;
        let bytes: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let error = super::EmbeddedStore::from_bytes(&bytes).unwrap_err();
        assert_eq!(error.code(), "store_invalid_json");
        let message = error.to_string();
        assert!(
            message.starts_with(
                "the store is not valid JSON: it is UTF-16 (little-endian, with a byte order \
                 mark) text, and JSON must be UTF-8; convert it, e.g. `iconv"
            ),
            "{message}"
        );
    }

    use super::*;
    use crate::timestamp::parse_timestamp;

    fn stamp(text: &str) -> Stamp {
        Stamp::from_nanos(crate::timestamp::parse_nanos(text).unwrap())
    }

    fn window(days: u32, reading: DaysReading, now: &str, zone: &str) -> (Stamp, Stamp) {
        let filter = CreatedBeforeDays { days, reading };
        let zone = crate::parse_time_zone(zone).unwrap();
        created_window(filter, parse_timestamp(now).unwrap(), &zone)
    }

    #[test]
    fn the_window_starts_at_midnight_n_days_back_and_ends_now() {
        let (from, to) = window(1, DaysReading::LastXDays, "2026-11-20T12:00:00Z", "UTC");
        assert_eq!(from, stamp("2026-11-19T00:00:00Z"));
        assert_eq!(to, stamp("2026-11-20T12:00:00.000000001Z"));
        let (from, to) = window(
            1,
            DaysReading::OlderThanXDays,
            "2026-11-20T12:00:00Z",
            "UTC",
        );
        assert_eq!(from, Stamp::from_nanos(Nanos::MIN));
        assert_eq!(to, stamp("2026-11-19T00:00:00Z"));
    }

    #[test]
    fn day_boundaries_are_the_time_zones_midnights() {
        // 2026-11-20T03:00Z is still the 19th in New York (UTC-5): midnight of the 18th there.
        let (from, _) = window(
            1,
            DaysReading::LastXDays,
            "2026-11-20T03:00:00Z",
            "America/New_York",
        );
        assert_eq!(from, stamp("2026-11-18T00:00:00-05:00"));
        // Tokyo (UTC+9) is already on the 20th: midnight of the 19th there.
        let (from, _) = window(
            1,
            DaysReading::LastXDays,
            "2026-11-20T03:00:00Z",
            "Asia/Tokyo",
        );
        assert_eq!(from, stamp("2026-11-19T00:00:00+09:00"));
        // Across a DST change (Europe/Paris, 2026-03-29 02:00 → 03:00): days are civil days.
        let (from, _) = window(
            2,
            DaysReading::LastXDays,
            "2026-03-30T12:00:00+02:00",
            "Europe/Paris",
        );
        assert_eq!(from, stamp("2026-03-28T00:00:00+01:00"));
    }

    #[test]
    fn the_sample_store_loads() {
        let store = EmbeddedStore::sample();
        assert!(store.len() >= 2_000, "{}", store.len());
        assert!(store.agent_count() >= 15);
    }
}
