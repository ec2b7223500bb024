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
//! Cost: a hash look-up of the agent's rows (records are clustered by agent at load, so they are
//! one contiguous run), then a pass over those rows only; ordering extracts the keys once and sorts the matches (with `top`, a selection
//! of the first N, then a sort of those N).

mod load;
pub(crate) mod order;
mod value;

use std::path::Path;
use std::sync::OnceLock;
use std::time::SystemTime;

use convq_core::catalog::ColumnType;
use convq_core::{Compiled, Query};
use serde_json::{Map, Value};

use self::load::{CREATED_FIELD, FieldId, Loaded};
use self::order::Key;
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
        let columns: Vec<(&str, Option<FieldId>)> = std::iter::once("activityid")
            .chain(query.select.iter().map(|c| c.property.as_ref()))
            .map(|name| (name, self.loaded.name_ids.get(name).copied()))
            .collect();
        rows.into_iter()
            .map(|row| {
                let mut object = Map::new();
                for (name, field) in &columns {
                    let value = field
                        .and_then(|f| self.value(row, f))
                        .map_or(Value::Null, value::Val::to_json);
                    object.insert((*name).to_owned(), value);
                }
                Value::Object(object)
            })
            .collect()
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
        // Where each column is in a record's values, for the shape of the last record: the
        // records of one answer mostly share a shape, so this is found once, not per value.
        let mut shape = None;
        let mut positions: Vec<Option<usize>> = vec![None; columns.ends.len()];
        for (index, &row) in rows.iter().enumerate() {
            let record = &self.loaded.records[row as usize];
            if shape != Some(record.shape) {
                shape = Some(record.shape);
                let fields = &self.loaded.shapes[record.shape as usize];
                for (position, &(_, field)) in positions.iter_mut().zip(&columns.ends) {
                    *position = field.and_then(|field| fields.iter().position(|f| *f == field));
                }
            }
            if index > 0 {
                out.push(b',');
            }
            let mut start = 0;
            for (&(end, _), position) in columns.ends.iter().zip(&positions) {
                out.extend_from_slice(&columns.text[start..end]);
                start = end;
                match position.and_then(|p| record.values.get(p)) {
                    Some(value) => value.write_json(out),
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
        let records = &self.loaded.records;
        let mut rows: Vec<u32> = (start..end)
            .filter(|&row| {
                let record = &records[row as usize];
                let status_ok = query.status.is_empty()
                    || record
                        .status
                        .is_some_and(|s| query.status.binary_search(&s).is_ok());
                let created_ok = window.is_none_or(|(from, to)| {
                    record.created.is_some_and(|at| from <= at && at <= to)
                });
                status_ok && created_ok
            })
            .collect();
        let top = query.top.map_or(usize::MAX, |t| t as usize);
        if query.order_by.is_empty() {
            rows.truncate(top);
            return rows;
        }
        self.sort(query, &mut rows, top);
        rows
    }

    /// Sorts `rows` (ascending store order on entry) by the order keys, stably, keeping the
    /// first `top`.
    fn sort(&self, query: &Query, rows: &mut Vec<u32>, top: usize) {
        let width = query.order_by.len();
        let fields: Vec<(Option<FieldId>, bool, bool)> = query
            .order_by
            .iter()
            .map(|key| {
                let field = self
                    .loaded
                    .name_ids
                    .get(key.column.property.as_ref())
                    .copied();
                let date = key.column.column_type == Some(ColumnType::DateTime);
                (field, date, key.descending)
            })
            .collect();
        // Keys are extracted once per row (row i's keys at i*width..), not per comparison.
        let mut keys: Vec<Key<'_>> = Vec::with_capacity(rows.len() * width);
        for &row in rows.iter() {
            for &(field, date, _) in &fields {
                keys.push(match field {
                    Some(CREATED_FIELD) => self.loaded.records[row as usize]
                        .created
                        .map_or(Key::Null, Key::Time),
                    Some(field) => Key::of(self.value(row, field), date),
                    None => Key::Null,
                });
            }
        }
        // Position in `rows` breaks ties: a total order equal to a stable sort's, which also
        // makes the unstable selection below exact.
        let compare = |a: &usize, b: &usize| {
            let (ka, kb) = (&keys[a * width..][..width], &keys[b * width..][..width]);
            ka.iter()
                .zip(kb)
                .zip(&fields)
                .map(|((x, y), &(_, _, descending))| {
                    let ordering = x.cmp(y);
                    if descending {
                        ordering.reverse()
                    } else {
                        ordering
                    }
                })
                .find(|o| o.is_ne())
                .unwrap_or_else(|| a.cmp(b))
        };
        let mut positions: Vec<usize> = (0..rows.len()).collect();
        if top < positions.len() {
            if top == 0 {
                positions.clear();
            } else {
                positions.select_nth_unstable_by(top - 1, compare);
                positions.truncate(top);
            }
        }
        positions.sort_unstable_by(compare);
        let sorted: Vec<u32> = positions.into_iter().map(|p| rows[p]).collect();
        *rows = sorted;
    }

    /// A record's value of a property, if it has the property.
    fn value(&self, row: u32, field: FieldId) -> Option<&value::Val> {
        let record = &self.loaded.records[row as usize];
        let shape = &self.loaded.shapes[record.shape as usize];
        let position = shape.iter().position(|f| *f == field)?;
        record.values.get(position)
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
fn created_window(days: u32, now: SystemTime) -> (Nanos, Nanos) {
    let now = system_time_nanos(now);
    let from = start_of_utc_day(now).saturating_sub(Nanos::from(days) * NANOS_PER_DAY);
    (from, now)
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
        assert_eq!(
            from,
            crate::timestamp::parse_nanos("2026-11-19T00:00:00Z").unwrap()
        );
        assert_eq!(
            to,
            crate::timestamp::parse_nanos("2026-11-20T12:00:00Z").unwrap()
        );
    }

    #[test]
    fn the_sample_store_loads() {
        let store = EmbeddedStore::sample();
        assert!(store.len() >= 2_000, "{}", store.len());
        assert!(store.agent_count() >= 15);
    }
}
