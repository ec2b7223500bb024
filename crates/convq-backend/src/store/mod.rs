//! The embedded backend: conversation records in memory, queried by evaluating the normalized
//! [`Query`] (never the rendered `$filter` string).
//!
//! Semantics, chosen to match what Dataverse answers for the compiled request:
//! - **agent**: `_msdyn_activeagentid_value` equals `agentId` as GUIDs (so case and braces do not
//!   matter). Records without an agent match no query (getConversations always names one).
//! - **status**: `statuscode` is one of the values; a null or missing statuscode matches no
//!   status filter (as `statuscode eq 3` is false for null in Dataverse).
//! - **createdBeforeDays = N** ("created within the last N days", rendered as
//!   `Microsoft.Dynamics.CRM.LastXDays`): `createdon` is at or after 00:00 UTC of the day N days
//!   before the UTC day of `now`, and not after `now`. So at `now` = 2026-11-20T12:00:00Z,
//!   N = 1 keeps 2026-11-19T00:00:00Z up to 2026-11-20T12:00:00Z. Dataverse evaluates LastXDays
//!   in the user's time zone; the store has none, so it uses UTC days. A null `createdon` never
//!   matches.
//! - **orderBy**: see [`order`] (nulls first ascending, case-insensitive text, stable).
//!   Without orderBy, records come in store order (Dataverse then returns its clustered index
//!   order, which a saved body preserves).
//! - **top**: the first N after ordering.
//! - **projection**: `activityid` plus every selected Web API property (the five defaults and
//!   the requested attributes); a property the record lacks is `null` (Web API returns `null`
//!   for a selected empty column). Other properties, including `@odata.etag` and annotations, are
//!   not returned.
//!
//! Cost: a hash look-up of the agent's rows (records, their values and their text are clustered
//! by agent at load, so each is one contiguous run), then a pass over those rows only (32 bytes
//! each); ordering extracts each match's keys once and sorts (key, row) pairs (with `top`, a
//! selection of the first N, then a sort of those N); projection copies a per-query template
//! object and fills in its values ([`EmbeddedStore::query_json`]: writes key texts and values).
//! Property positions are worked out once per record shape per query, not per row.

mod load;
pub(crate) mod order;
mod value;

use std::cmp::Ordering;
use std::path::Path;
use std::sync::OnceLock;
use std::time::SystemTime;

use convq_core::catalog::ColumnType;
use convq_core::{Compiled, Query};
use serde_json::{Map, Value};

use self::load::{CREATED_FIELD, FieldId, Loaded};
use self::order::Key;
use self::value::Stamp;
use crate::error::StoreError;
use crate::timestamp::{NANOS_PER_DAY, Nanos, start_of_utc_day, system_time_nanos};
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
}

impl EmbeddedStore {
    /// The shipped sample store: 3,000 generated conversations of 20 agents, created in the 90
    /// days up to 2026-11-20T12:00:00Z (give `--now` near that date for `createdBeforeDays`).
    ///
    /// # Panics
    /// Never in practice: the file is embedded at build time and the test suite loads it.
    #[must_use]
    pub fn sample() -> Self {
        Self::from_bytes(SAMPLE).expect("the embedded sample store loads (tested)")
    }

    /// Loads a store file.
    ///
    /// # Errors
    /// [`StoreError`]: the file cannot be read, is not JSON of an accepted shape, or has a
    /// malformed or duplicate record (with its index or line and the property).
    pub fn from_path(path: &Path) -> Result<Self, StoreError> {
        let bytes = std::fs::read(path).map_err(|source| StoreError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Loads a store from a Web API response body, a JSON array of records, or NDJSON.
    ///
    /// # Errors
    /// As [`from_path`](Self::from_path), except reading.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        load::load(bytes).map(|loaded| Self { loaded })
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

    /// Evaluates a normalized query at `now` and returns the projected records, in order.
    #[must_use]
    pub fn query(&self, query: &Query, now: SystemTime) -> Vec<Value> {
        let rows = self.matching_rows(query, now);
        let mut projection = Projection::new(&self.loaded, query);
        rows.iter().map(|&row| projection.row(row)).collect()
    }

    /// As [`query`](Self::query), but appends the records' JSON to `out` (comma-separated, no
    /// brackets) instead of building values: byte for byte what `serde_json` writes for the
    /// values `query` returns, keys in the same order. Returns the number of records.
    ///
    /// Skips a `serde_json::Map` per record (its `String` keys, a `Value` per column) and the
    /// string escaper for text that needs no escaping.
    pub fn query_json(&self, query: &Query, now: SystemTime, out: &mut Vec<u8>) -> usize {
        let rows = self.matching_rows(query, now);
        let columns = self.json_columns(query);
        // Keys plus about a GUID's length per value: one allocation for most answers.
        out.reserve(rows.len() * (columns.text.len() + 40 * columns.ends.len() + 2));
        let mut positions = Positions::new(columns.ends.iter().map(|&(_, f)| f).collect());
        let loaded = &self.loaded;
        for (index, &row) in rows.iter().enumerate() {
            let record = &loaded.records[row as usize];
            let values = &loaded.values[record.start as usize..];
            if index > 0 {
                out.push(b',');
            }
            let mut start = 0;
            for (&(end, _), at) in columns.ends.iter().zip(positions.of(loaded, record.shape)) {
                out.extend_from_slice(&columns.text[start..end]);
                start = end;
                match at {
                    Some(p) => values[*p].write_json(out, &loaded.texts),
                    None => out.extend_from_slice(b"null"),
                }
            }
            out.push(b'}');
        }
        rows.len()
    }

    /// The projected properties of a query in the order `serde_json::Map` iterates them, each
    /// with its `{"name":` or `,"name":` text.
    fn json_columns(&self, query: &Query) -> JsonColumns {
        let mut names: Vec<&str> = std::iter::once("activityid")
            .chain(query.select.iter().map(|c| c.property.as_ref()))
            .collect();
        if map_sorts_keys() {
            names.sort_unstable();
            names.dedup();
        } else {
            // Insertion order; inserting a key again keeps its first place.
            let mut seen = 0;
            for index in 0..names.len() {
                if !names[..seen].contains(&names[index]) {
                    names.swap(seen, index);
                    seen += 1;
                }
            }
            names.truncate(seen);
        }
        let mut text = Vec::with_capacity(names.iter().map(|n| n.len() + 4).sum());
        let mut ends = Vec::with_capacity(names.len());
        for (index, name) in names.into_iter().enumerate() {
            text.push(if index == 0 { b'{' } else { b',' });
            crate::append_json(&mut text, name);
            text.push(b':');
            ends.push((text.len(), self.loaded.name_ids.get(name).copied()));
        }
        JsonColumns { text, ends }
    }

    /// The indexes of the matching records, ordered and cut to `top`.
    fn matching_rows(&self, query: &Query, now: SystemTime) -> Vec<u32> {
        let Some(&(start, end)) = self.loaded.by_agent.get(&query.agent_id) else {
            return Vec::new();
        };
        let window = query
            .created_within_days
            .map(|days| created_window(days, now));
        let records = &self.loaded.records[start as usize..end as usize];
        let mut rows: Vec<u32> = (start..end)
            .zip(records)
            .filter(|(_, record)| {
                let status_ok = query.status.is_empty()
                    || record
                        .status
                        .is_some_and(|s| query.status.binary_search(&s).is_ok());
                let created_ok = window.is_none_or(|(from, to)| {
                    record.created.is_some_and(|at| from <= at && at <= to)
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
/// order is store order, so the row tie-break gives a stable sort's order (Dataverse's: ties in
/// store order); it is also a total order, which makes the unstable selection exact.
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
    /// Per key: its field and whether it is a `DateTime` column.
    keys: Vec<(Option<FieldId>, bool)>,
    positions: Positions,
}

impl<'s> KeyReader<'s> {
    fn new(loaded: &'s Loaded, query: &Query) -> Self {
        let keys: Vec<(Option<FieldId>, bool)> = query
            .order_by
            .iter()
            .map(|key| {
                let field = loaded.name_ids.get(key.column.property.as_ref()).copied();
                (field, key.column.column_type == Some(ColumnType::DateTime))
            })
            .collect();
        let positions = Positions::new(keys.iter().map(|(field, _)| *field).collect());
        Self {
            loaded,
            keys,
            positions,
        }
    }

    /// The keys of a record, in order.
    fn read(&mut self, row: u32) -> impl Iterator<Item = Key<'s>> + '_ {
        let loaded = self.loaded;
        let record = &loaded.records[row as usize];
        let values = &loaded.values[record.start as usize..];
        let at = self.positions.of(loaded, record.shape);
        self.keys.iter().zip(at).map(move |(&(field, date), at)| {
            if field == Some(CREATED_FIELD) {
                return record.created.map_or(Key::Null, Key::Time);
            }
            Key::of(at.map(|p| &values[p]), date, &loaded.texts)
        })
    }
}

/// Builds a query's output objects.
struct Projection<'s> {
    loaded: &'s Loaded,
    /// `activityid` and the selected properties, all null. Each row starts as a copy: the
    /// keys are copied in one pass, with no look-up or tree rebalancing per key.
    template: Map<String, Value>,
    /// The field of each entry of `template`, in the map's iteration order.
    positions: Positions,
}

impl<'s> Projection<'s> {
    fn new(loaded: &'s Loaded, query: &Query) -> Self {
        let template: Map<String, Value> = std::iter::once("activityid")
            .chain(query.select.iter().map(|c| c.property.as_ref()))
            .map(|name| (name.to_owned(), Value::Null))
            .collect();
        // Whatever order the map iterates in (sorted, or insertion order with serde_json's
        // preserve_order), the fields follow it.
        let fields = template
            .keys()
            .map(|name| loaded.name_ids.get(name.as_str()).copied())
            .collect();
        Self {
            loaded,
            template,
            positions: Positions::new(fields),
        }
    }

    fn row(&mut self, row: u32) -> Value {
        let loaded = self.loaded;
        let record = &loaded.records[row as usize];
        let values = &loaded.values[record.start as usize..];
        let at = self.positions.of(loaded, record.shape);
        let mut object = self.template.clone();
        for (slot, at) in object.values_mut().zip(at) {
            if let Some(p) = at {
                *slot = values[*p].to_json(&loaded.texts);
            }
        }
        Value::Object(object)
    }
}

/// What [`EmbeddedStore::query_json`] writes before each value of a record.
struct JsonColumns {
    /// `{"a":,"b":...`: the key texts, back to back.
    text: Vec<u8>,
    /// For each projected property, the end of its key text in `text` and its field id (none
    /// when no record has the property).
    ends: Vec<(usize, Option<FieldId>)>,
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

/// The `createdon` range of "created within the last `days` days" at `now`, both ends inclusive:
/// from 00:00 UTC of the day `days` days before today (UTC) up to `now`.
fn created_window(days: u32, now: SystemTime) -> (Stamp, Stamp) {
    let now = system_time_nanos(now);
    let from = start_of_utc_day(now).saturating_sub(Nanos::from(days) * NANOS_PER_DAY);
    (Stamp::from_nanos(from), Stamp::from_nanos(now))
}

impl Backend for EmbeddedStore {
    fn fetch<'a>(
        &'a self,
        compiled: &'a Compiled,
        ctx: &'a RunContext,
    ) -> BoxFuture<'a, Result<Vec<Value>, BackendError>> {
        // Sub-millisecond work: computed right here, no blocking pool needed.
        let values = self.query(&compiled.ast, ctx.now);
        Box::pin(std::future::ready(Ok(values)))
    }

    fn fetch_json<'a>(
        &'a self,
        compiled: &'a Compiled,
        ctx: &'a RunContext,
        out: &'a mut Vec<u8>,
    ) -> BoxFuture<'a, Result<usize, BackendError>> {
        let count = self.query_json(&compiled.ast, ctx.now, out);
        Box::pin(std::future::ready(Ok(count)))
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
    use super::*;
    use crate::timestamp::parse_timestamp;

    #[test]
    fn the_window_starts_at_utc_midnight_n_days_back_and_ends_now() {
        let now = parse_timestamp("2026-11-20T12:00:00Z").unwrap();
        let (from, to) = created_window(1, now);
        let stamp = |text| Stamp::from_nanos(crate::timestamp::parse_nanos(text).unwrap());
        assert_eq!(from, stamp("2026-11-19T00:00:00Z"));
        assert_eq!(to, stamp("2026-11-20T12:00:00Z"));
    }

    #[test]
    fn the_sample_store_loads() {
        let store = EmbeddedStore::sample();
        assert!(store.len() >= 2_000, "{}", store.len());
        assert!(store.agent_count() >= 15);
    }
}
