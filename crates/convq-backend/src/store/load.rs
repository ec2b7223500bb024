//! Loading a store: Web API response body, JSON array or NDJSON, streamed record by record into
//! compact records (the file is never held as a `serde_json::Value` tree, and a value is never
//! a `serde_json::Value` on its way in).

use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use uuid::Uuid;

use super::value::{Stamp, Texts, Val, ValSeed};
use crate::error::{RecordLocation, StoreError};
use crate::timestamp::parse_nanos;

/// Index of an interned property name.
pub(crate) type FieldId = u16;

/// The properties the store evaluates, interned first so their ids are constants.
const ACTIVITYID: FieldId = 0;
const AGENT: FieldId = 1;
const STATUS: FieldId = 2;
const CREATED: FieldId = 3;
pub(crate) const EVALUATED: [&str; 4] = [
    "activityid",
    "_msdyn_activeagentid_value",
    "statuscode",
    "createdon",
];
pub(crate) const CREATED_FIELD: FieldId = CREATED;

/// A stored conversation: the columns the filters read, parsed, and where its properties are.
/// 32 bytes, so a query's scan of an agent's records reads little memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record {
    pub(crate) created: Option<Stamp>,
    pub(crate) status: Option<i32>,
    /// Index into [`Loaded::shapes`]: the record's property names, in the order of its values.
    pub(crate) shape: u32,
    /// Index of the record's first value in [`Loaded::values`]; its shape says how many.
    pub(crate) start: u32,
}

/// Everything a load produces.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub(crate) names: Vec<Box<str>>,
    pub(crate) name_ids: FxHashMap<Box<str>, FieldId>,
    /// The distinct property-name lists of the records (most stores have a handful), so a
    /// record spends 4 bytes rather than a list on its names.
    pub(crate) shapes: Vec<Box<[FieldId]>>,
    /// Clustered by agent: each agent's records are contiguous and in `activityid` order (SQL
    /// Server's GUID order), so a query
    /// reads one run of memory instead of one cache line per record scattered over the store.
    /// Records without an agent come last (no query matches them).
    pub(crate) records: Vec<Record>,
    /// Every record's property values, back to back in the order of `records` (so an agent's
    /// values are one run of memory too): no allocation per record.
    pub(crate) values: Vec<Val>,
    /// The text of the string values, also in the order of `records`.
    pub(crate) texts: Texts,
    /// Each agent's run of `records` (`_msdyn_activeagentid_value`), as start..end.
    pub(crate) by_agent: FxHashMap<Uuid, (u32, u32)>,
    /// The lookups (`_x_value`) that some record holds without the related record's name
    /// (`_x_value@OData.Community.Display.V1.FormattedValue`): ordering by them falls back to
    /// GUID order, which may not be the org's.
    pub(crate) unnamed_lookups: Vec<FieldId>,
    /// Properties the catalog does not know under that name, each at its first record.
    pub(crate) warnings: Vec<LoadWarning>,
}

/// A property of the records that Web API would not return under that name: a lookup's
/// logical name (`msdyn_customer` for `_msdyn_customer_value`) or a name the catalog does not
/// have. The store keeps such properties, but no query selects them, so they come back `null`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadWarning {
    /// `store_logical_name` or `store_unknown_property`.
    pub code: &'static str,
    /// JSON pointer of the property in its first record (`/value/3/msdyn_customer`); for
    /// NDJSON, within the record's line, which the message names.
    pub path: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

/// What the catalog says about a property name of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameKind {
    /// A Web API property name, an annotation or `@odata.etag`.
    Known,
    /// The logical name of the agent lookup, which every query filters on.
    AgentLogicalName,
    /// The logical name of another lookup: Web API's property is this one.
    LogicalName(&'static str),
    /// Not a column of the catalog.
    Unknown,
}

fn name_kind(name: &str) -> NameKind {
    use std::sync::LazyLock;
    static PROPERTIES: LazyLock<FxHashMap<&'static str, &'static convq_core::catalog::ColumnDef>> =
        LazyLock::new(|| {
            convq_core::catalog::columns()
                .iter()
                .map(|c| (c.property, c))
                .collect()
        });
    if name.contains('@') || PROPERTIES.contains_key(name) {
        return NameKind::Known;
    }
    match convq_core::catalog::column(name) {
        Some(column) if column.property == EVALUATED[usize::from(AGENT)] => {
            NameKind::AgentLogicalName
        }
        Some(column) if column.property != name => NameKind::LogicalName(column.property),
        Some(_) => NameKind::Known,
        None => NameKind::Unknown,
    }
}

/// The annotation Web API adds to a property with its formatted value (a lookup's related
/// record name, a choice's label) when asked with
/// `Prefer: odata.include-annotations="OData.Community.Display.V1.FormattedValue"`.
pub(crate) const FORMATTED_VALUE: &str = "@OData.Community.Display.V1.FormattedValue";

impl Loaded {
    /// The field of `property`'s formatted value, if any record has one.
    pub(crate) fn formatted_field(&self, property: &str) -> Option<FieldId> {
        let mut name = String::with_capacity(property.len() + FORMATTED_VALUE.len());
        name.push_str(property);
        name.push_str(FORMATTED_VALUE);
        self.name_ids.get(name.as_str()).copied()
    }

    /// See [`Loaded::unnamed_lookups`]: per record shape, each lookup value's position and its
    /// name's, then one pass over the records.
    fn find_unnamed_lookups(&self) -> Vec<FieldId> {
        let pairs: Vec<Vec<(usize, Option<usize>, FieldId)>> = self
            .shapes
            .iter()
            .map(|shape| {
                shape
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| {
                        let name = &*self.names[usize::from(**f)];
                        name.starts_with('_') && name.ends_with("_value")
                    })
                    .map(|(at, &field)| {
                        let name = self
                            .formatted_field(&self.names[usize::from(field)])
                            .and_then(|n| shape.iter().position(|f| *f == n));
                        (at, name, field)
                    })
                    .collect()
            })
            .collect();
        let mut unnamed: Vec<FieldId> = Vec::new();
        for record in &self.records {
            let values = &self.values[record.start as usize..];
            for &(at, name, field) in &pairs[record.shape as usize] {
                let named = name.is_some_and(|n| values[n] != Val::Null);
                if values[at] != Val::Null && !named && !unnamed.contains(&field) {
                    unnamed.push(field);
                }
            }
        }
        unnamed
    }
}

/// Loads a store from the bytes of a file.
pub(crate) fn load(bytes: &[u8]) -> Result<Loaded, StoreError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut builder = Builder::new();
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(StoreError::InvalidShape {
                found: "the file is empty".to_owned(),
            });
        }
        Some(b'[') => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            let result = RecordsSeed {
                builder: &mut builder,
                location: RecordLocation::ArrayIndex,
            }
            .deserialize(&mut de)
            .and_then(|()| de.end());
            result.map_err(|e| builder.take_error(&e, None))?;
        }
        Some(b'{') if first_line_is_record(bytes) => load_ndjson(bytes, &mut builder)?,
        Some(b'{') => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            let result = BodySeed {
                builder: &mut builder,
            }
            .deserialize(&mut de)
            .and_then(|()| de.end());
            result.map_err(|e| builder.take_error(&e, None))?;
        }
        Some(_) => {
            let found = match serde_json::from_slice::<Value>(bytes) {
                Ok(value) => format!("found {}", convq_core::json_type_name(&value)),
                Err(e) => return Err(json_error(&e, None)),
            };
            return Err(StoreError::InvalidShape { found });
        }
    }
    Ok(builder.finish())
}

fn load_ndjson(bytes: &[u8], builder: &mut Builder) -> Result<(), StoreError> {
    for (index, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let line_number = index + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut de = serde_json::Deserializer::from_slice(line);
        let result = RecordSeed {
            builder: &mut *builder,
            location: RecordLocation::Line(line_number),
        }
        .deserialize(&mut de)
        .and_then(|()| de.end());
        result.map_err(|e| builder.take_error(&e, Some(line_number)))?;
    }
    Ok(())
}

/// NDJSON starts with a line that is a whole record object. A Web API body does not: printed, its
/// first line is `{`; compact, its one line has a `value` key.
fn first_line_is_record(bytes: &[u8]) -> bool {
    let end = bytes
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(bytes.len());
    let first = bytes[..end].strip_suffix(b"\r").unwrap_or(&bytes[..end]);
    serde_json::from_slice::<NoValueKey>(first).is_ok()
}

/// An object without a top-level `value` key (its values are skipped, not built).
struct NoValueKey;

impl<'de> de::Deserialize<'de> for NoValueKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Probe;
        impl<'de> Visitor<'de> for Probe {
            type Value = NoValueKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoValueKey, A::Error> {
                while let Some(key) = map.next_key::<Name<'de>>()? {
                    if key.0 == "value" {
                        // Stops the parse here rather than read a one-line body to its end.
                        return Err(de::Error::custom("a `value` key"));
                    }
                    map.next_value::<IgnoredAny>()?;
                }
                Ok(NoValueKey)
            }
        }
        deserializer.deserialize_map(Probe)
    }
}

/// An object key, borrowed from the input when it has no escapes (no allocation per key).
struct Name<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a property name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// A serde_json error as a store error; `line` overrides the line (an NDJSON line is parsed on
/// its own, so serde_json's line is always 1).
fn json_error(error: &serde_json::Error, line: Option<usize>) -> StoreError {
    let message = convq_core::json_error_message(error);
    let position = (line.unwrap_or(error.line()).max(1), error.column().max(1));
    if error.is_data() {
        StoreError::InvalidShape {
            found: format!("{message} (line {}, column {})", position.0, position.1),
        }
    } else {
        StoreError::InvalidJson {
            message,
            line: position.0,
            column: position.1,
        }
    }
}

/// The warning for a property name of `kind`, first seen in the record at `location`.
fn warning(kind: NameKind, name: &str, location: RecordLocation) -> Option<LoadWarning> {
    let path = format!(
        "{}/{}",
        location.pointer(),
        name.replace('~', "~0").replace('/', "~1")
    );
    let property = match kind {
        NameKind::LogicalName(property) => property,
        _ => EVALUATED[usize::from(AGENT)],
    };
    let (code, message) = match kind {
        NameKind::Known => return None,
        NameKind::AgentLogicalName | NameKind::LogicalName(_) => (
            "store_logical_name",
            format!(
                "{location}: `{name}` is the column's logical name; Web API returns this lookup as `{property}` (a GUID), and no query reads `{name}`: rename it"
            ),
        ),
        NameKind::Unknown => (
            "store_unknown_property",
            format!(
                "{location}: `{name}` is not a property of msdyn_ocliveworkitem (a misspelling, or a custom column: declare it with extraColumns to select it)"
            ),
        ),
    };
    Some(LoadWarning {
        code,
        path,
        message,
    })
}

/// The slot of the records without an agent.
const NO_AGENT: u32 = u32::MAX;

struct Builder {
    loaded: Loaded,
    shape_ids: FxHashMap<Box<[FieldId]>, u32>,
    /// Each agent's slot: agents numbered in order of first appearance.
    agent_slots: FxHashMap<Uuid, u32>,
    /// Per slot, how many records and values it has.
    slot_sizes: Vec<(u32, u32)>,
    /// The slot of each record ([`NO_AGENT`] for none), in load order, until
    /// [`Builder::finish`] clusters them.
    record_slots: Vec<u32>,
    /// Each record's activityid as SQL Server orders `uniqueidentifier` values, in load order:
    /// [`Builder::finish`] orders each agent's records by it.
    record_keys: Vec<u128>,
    /// The previous record's shape: records of a file nearly always share their keys, in the
    /// same order, so the next key is checked against it before a hash look-up.
    last_shape: Option<u32>,
    /// First location of every activityid, to reject duplicates.
    ids: FxHashMap<Uuid, RecordLocation>,
    /// For each field, the serial of the last record that had it: finds a property given twice
    /// in a record in O(1) whatever the record's width.
    last_seen: Vec<u32>,
    serial: u32,
    fields: Vec<FieldId>,
    /// [`NameKind`] of each interned name, in id order.
    kinds: Vec<NameKind>,
    /// The store error behind the serde error a visitor returned.
    error: Option<StoreError>,
}

impl Builder {
    fn new() -> Self {
        let mut builder = Self {
            loaded: Loaded::default(),
            shape_ids: FxHashMap::default(),
            agent_slots: FxHashMap::default(),
            slot_sizes: Vec::new(),
            record_slots: Vec::new(),
            record_keys: Vec::new(),
            last_shape: None,
            ids: FxHashMap::default(),
            last_seen: Vec::new(),
            serial: 0,
            fields: Vec::new(),
            kinds: Vec::new(),
            error: None,
        };
        for name in EVALUATED {
            builder.intern(name).expect("four names fit");
            builder.kinds.push(NameKind::Known);
        }
        builder
    }

    /// The id of the `position`th key of a record, `name`.
    fn field(&mut self, position: usize, name: &str) -> Option<FieldId> {
        if let Some(shape) = self.last_shape {
            let expected = self.loaded.shapes[shape as usize].get(position).copied();
            if let Some(id) = expected.filter(|id| *self.loaded.names[usize::from(*id)] == *name) {
                return Some(id);
            }
        }
        self.intern(name)
    }

    fn intern(&mut self, name: &str) -> Option<FieldId> {
        if let Some(id) = self.loaded.name_ids.get(name) {
            return Some(*id);
        }
        let id = FieldId::try_from(self.loaded.names.len()).ok()?;
        self.loaded.names.push(name.into());
        self.loaded.name_ids.insert(name.into(), id);
        self.last_seen.push(0);
        Some(id)
    }

    /// Records a store error and returns the serde error that unwinds the deserializer.
    fn fail<E: de::Error>(&mut self, error: StoreError) -> E {
        self.error.get_or_insert(error);
        E::custom("malformed store")
    }

    fn take_error(&mut self, error: &serde_json::Error, line: Option<usize>) -> StoreError {
        self.error.take().unwrap_or_else(|| json_error(error, line))
    }

    /// Clusters the records, their values and their texts by agent, each agent's records in
    /// primary-key order (`activityid` as SQL Server orders `uniqueidentifier`), so a query reads
    /// contiguous memory, and a row's index is its tie-break: Dataverse orders ties by the key
    /// convq renders last, and orders by the key alone when there is no order. Records and
    /// values: one pass in load order that writes each record where it goes (reading in order
    /// and scattering the writes is much faster than gathering each agent's records from all
    /// over the load). Texts: one copy per record, as its strings are already together.
    fn finish(self) -> Loaded {
        let mut loaded = self.loaded;
        // Where each slot's records start: agents in order of first appearance, so the layout
        // does not depend on hash order; then the records without an agent.
        let mut next_record = Vec::with_capacity(self.slot_sizes.len() + 1);
        let mut records = 0_u32;
        for &(slot_records, _) in &self.slot_sizes {
            next_record.push(records);
            records += slot_records;
        }
        next_record.push(records);
        let slot = |s: u32| {
            if s == NO_AGENT {
                self.slot_sizes.len()
            } else {
                s as usize
            }
        };
        loaded.by_agent = self
            .agent_slots
            .iter()
            .map(|(agent, &s)| {
                let start = next_record[s as usize];
                (*agent, (start, start + self.slot_sizes[s as usize].0))
            })
            .collect();

        let old_records = std::mem::take(&mut loaded.records);
        let old_values = std::mem::take(&mut loaded.values);
        // Where each record goes: slot by slot (a counting sort), then by key within each slot.
        let mut order = vec![0_u32; old_records.len()];
        for (i, &s) in self.record_slots.iter().enumerate() {
            let s = slot(s);
            order[next_record[s] as usize] = i as u32;
            next_record[s] += 1;
        }
        let mut from = 0;
        for &end in &next_record {
            order[from..end as usize].sort_unstable_by_key(|&i| self.record_keys[i as usize]);
            from = end as usize;
        }
        // Each record's new index, and where its values start in the new order.
        let mut new_index = vec![0_u32; old_records.len()];
        let mut starts = Vec::with_capacity(old_records.len());
        let mut start = 0_u32;
        for (at, &i) in order.iter().enumerate() {
            new_index[i as usize] = at as u32;
            starts.push(start);
            // Fits: the slot totals above are sums of these.
            start += loaded.shapes[old_records[i as usize].shape as usize].len() as u32;
        }
        let mut new_records = old_records.clone();
        let mut new_values = Vec::with_capacity(old_values.len());
        new_values.resize_with(old_values.len(), || Val::Null);
        // A record's values follow the previous record's in the load, so they are taken in turn.
        let mut taken = old_values.into_iter();
        for (i, record) in old_records.iter().enumerate() {
            let at = new_index[i];
            let start = starts[at as usize];
            let len = loaded.shapes[record.shape as usize].len();
            new_records[at as usize] = Record { start, ..*record };
            for (to, value) in new_values[start as usize..][..len]
                .iter_mut()
                .zip(taken.by_ref())
            {
                *to = value;
            }
        }
        // Then the texts, record by record in the new order: one short copy each.
        let old_texts = std::mem::take(&mut loaded.texts);
        loaded.texts = Texts::with_capacity(old_texts.len());
        for record in &new_records {
            let len = loaded.shapes[record.shape as usize].len();
            let values = &mut new_values[record.start as usize..][..len];
            loaded.texts.take_record(values, &old_texts);
        }
        loaded.records = new_records;
        loaded.values = new_values;
        super::collation::rank_texts(&mut loaded.values, &loaded.texts);
        loaded.unnamed_lookups = loaded.find_unnamed_lookups();
        loaded
    }
}

/// The records of an array, wherever it is (top level or `value`).
struct RecordsSeed<'b> {
    builder: &'b mut Builder,
    location: fn(usize) -> RecordLocation,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of conversation records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while seq
            .next_element_seed(RecordSeed {
                builder: &mut *self.builder,
                location: (self.location)(index),
            })?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }
}

/// A Web API response body: `{"@odata.context": ..., "value": [...]}`.
struct BodySeed<'b> {
    builder: &'b mut Builder,
}

impl<'de> DeserializeSeed<'de> for BodySeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Web API response body")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut has_value = false;
        let mut has_next_link = false;
        while let Some(key) = map.next_key::<Name<'de>>()? {
            match &*key.0 {
                "value" if has_value => {
                    return Err(self.builder.fail(StoreError::InvalidShape {
                        found: "the body has `value` twice".to_owned(),
                    }));
                }
                "value" => {
                    has_value = true;
                    map.next_value_seed(RecordsSeed {
                        builder: &mut *self.builder,
                        location: RecordLocation::BodyIndex,
                    })?;
                }
                "@odata.nextLink" => {
                    has_next_link = true;
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !has_value {
            return Err(self.builder.fail(StoreError::InvalidShape {
                found: "found an object without a `value` array".to_owned(),
            }));
        }
        if has_next_link {
            return Err(self.builder.fail(StoreError::IncompletePage));
        }
        Ok(())
    }
}

/// One record object.
struct RecordSeed<'b> {
    builder: &'b mut Builder,
    location: RecordLocation,
}

impl RecordSeed<'_> {
    fn malformed<E: de::Error>(&mut self, field: FieldId, problem: impl Into<String>) -> E {
        let field = self.builder.loaded.names[usize::from(field)].to_string();
        let error = StoreError::MalformedRecord {
            location: self.location,
            field,
            problem: problem.into(),
        };
        self.builder.fail(error)
    }

    fn not_an_object<E: de::Error>(self, found: &str) -> E {
        let error = StoreError::MalformedRecord {
            location: self.location,
            field: String::new(),
            problem: format!("is not a record object: found {found}"),
        };
        self.builder.fail(error)
    }
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

const NOT_A_DATE: &str = "must be an RFC 3339 date, e.g. 2026-11-20T12:00:00Z";

fn guid(value: &Val, texts: &Texts) -> Result<Option<Uuid>, &'static str> {
    const PROBLEM: &str = "must be a GUID string, e.g. 2b330c52-6844-4d36-8e05-03c78c9681dc";
    match value {
        Val::Null => Ok(None),
        Val::Guid(id) => Ok(Some(*id)),
        Val::Str(at) | Val::Escaped(at) => Uuid::try_parse(texts.get(*at))
            .map(Some)
            .map_err(|_| PROBLEM),
        _ => Err(PROBLEM),
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a conversation record object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let b = &mut *self.builder;
        b.fields.clear();
        b.serial += 1;
        let serial = b.serial;
        // Fits: the previous record checked the total.
        let start = b.loaded.values.len() as u32;
        let (mut id, mut agent, mut status, mut created) = (None, None, None, None);
        let (mut has_agent, mut agent_logical) = (false, false);

        while let Some(name) = map.next_key::<Name<'de>>()? {
            let position = self.builder.fields.len();
            let Some(field) = self.builder.field(position, &name.0) else {
                return Err(self.builder.fail(StoreError::TooLarge {
                    what: "distinct property names",
                    limit: usize::from(FieldId::MAX) + 1,
                }));
            };
            let value = map.next_value_seed(ValSeed {
                texts: &mut self.builder.loaded.texts,
            })?;
            let b = &mut *self.builder;
            if b.kinds.len() <= usize::from(field) {
                // A name seen for the first time (ids are handed out in order).
                let name = &b.loaded.names[usize::from(field)];
                let kind = name_kind(name);
                b.kinds.push(kind);
                if let Some(warning) = warning(kind, name, self.location) {
                    b.loaded.warnings.push(warning);
                }
            }
            match b.kinds[usize::from(field)] {
                NameKind::AgentLogicalName => agent_logical = true,
                _ if field == AGENT => has_agent = true,
                _ => {}
            }
            if b.last_seen[usize::from(field)] == serial {
                return Err(self.malformed(field, "appears twice in the record"));
            }
            b.last_seen[usize::from(field)] = serial;
            match field {
                ACTIVITYID => match guid(&value, &b.loaded.texts) {
                    Ok(Some(value)) => id = Some(value),
                    Ok(None) => return Err(self.malformed(field, "must not be null")),
                    Err(problem) => return Err(self.malformed(field, problem)),
                },
                AGENT => match guid(&value, &b.loaded.texts) {
                    Ok(value) => agent = value,
                    Err(problem) => return Err(self.malformed(field, problem)),
                },
                STATUS => match &value {
                    Val::Null => {}
                    Val::Num(n) => match n.as_i64().and_then(|n| i32::try_from(n).ok()) {
                        Some(n) => status = Some(n),
                        None => {
                            return Err(self.malformed(field, "must be a 32-bit integer"));
                        }
                    },
                    _ => return Err(self.malformed(field, "must be an integer, e.g. 3")),
                },
                CREATED => match &value {
                    Val::Null => {}
                    Val::Str(at) | Val::Escaped(at) => match parse_nanos(b.loaded.texts.get(*at)) {
                        Some(at) => created = Some(Stamp::from_nanos(at)),
                        None => return Err(self.malformed(field, NOT_A_DATE)),
                    },
                    // A string, just one that looks like a GUID.
                    Val::Guid(_) => return Err(self.malformed(field, NOT_A_DATE)),
                    _ => {
                        return Err(self.malformed(
                            field,
                            "must be an RFC 3339 date string, e.g. 2026-11-20T12:00:00Z",
                        ));
                    }
                },
                _ => {}
            }
            let b = &mut *self.builder;
            b.fields.push(field);
            b.loaded.values.push(value);
        }

        if agent_logical && !has_agent {
            // No query would ever match the record: refuse rather than answer nothing.
            let b = &mut *self.builder;
            return Err(b.fail(StoreError::LogicalName {
                location: self.location,
                field: "msdyn_activeagentid".to_owned(),
                property: EVALUATED[usize::from(AGENT)].to_owned(),
            }));
        }
        let Some(id) = id else {
            return Err(self.malformed(
                ACTIVITYID,
                "is missing (Web API always returns the primary key)",
            ));
        };
        let b = &mut *self.builder;
        if let Some(first) = b.ids.insert(id, self.location) {
            // Keep the first location for any later repeat, then report this one.
            b.ids.insert(id, first);
            return Err(b.fail(StoreError::DuplicateId {
                location: self.location,
                id,
                first,
            }));
        }
        // Both counted in u32 (record indexes and value starts), totals included.
        if b.loaded.records.len() >= u32::MAX as usize {
            return Err(b.fail(StoreError::TooLarge {
                what: "records",
                limit: u32::MAX as usize,
            }));
        }
        if u32::try_from(b.loaded.values.len()).is_err() {
            return Err(b.fail(StoreError::TooLarge {
                what: "property values",
                limit: u32::MAX as usize,
            }));
        }
        let same_as_last = b
            .last_shape
            .filter(|last| *b.loaded.shapes[*last as usize] == *b.fields);
        let shape = match same_as_last.or_else(|| b.shape_ids.get(b.fields.as_slice()).copied()) {
            Some(shape) => shape,
            None => {
                // At most one shape per record, and records are counted in u32.
                let shape = u32::try_from(b.loaded.shapes.len()).unwrap_or(u32::MAX);
                b.loaded.shapes.push(b.fields.as_slice().into());
                b.shape_ids.insert(b.fields.as_slice().into(), shape);
                shape
            }
        };
        b.last_shape = Some(shape);
        b.loaded.records.push(Record {
            created,
            status,
            shape,
            start,
        });
        let slot = match agent {
            Some(agent) => {
                // Fits: there are fewer agents than records.
                let next = b.agent_slots.len() as u32;
                let slot = *b.agent_slots.entry(agent).or_insert(next);
                if slot == next {
                    b.slot_sizes.push((0, 0));
                }
                let size = &mut b.slot_sizes[slot as usize];
                // Fit: the totals were checked above.
                size.0 += 1;
                size.1 += b.fields.len() as u32;
                slot
            }
            None => NO_AGENT,
        };
        b.record_slots.push(slot);
        b.record_keys.push(super::order::sql_guid_order(&id));
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.not_an_object("an array"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.not_an_object("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self.not_an_object("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self.not_an_object("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.not_an_object("a number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.not_an_object("a string"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.not_an_object("null"))
    }
}
