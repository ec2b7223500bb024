//! Loading a store: Web API response body, JSON array or NDJSON, streamed record by record into
//! compact records (the file is never held as a `serde_json::Value` tree).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use uuid::Uuid;

use super::value::Val;
use crate::error::{RecordLocation, StoreError};
use crate::timestamp::{Nanos, parse_nanos};

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

/// A stored conversation: the columns the filters read, parsed, and every property for
/// projection and ordering.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) status: Option<i32>,
    pub(crate) created: Option<Nanos>,
    /// Index into [`Loaded::shapes`]: the record's property names, in the order of `values`.
    pub(crate) shape: u32,
    pub(crate) values: Box<[Val]>,
}

/// Everything a load produces.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub(crate) names: Vec<Box<str>>,
    pub(crate) name_ids: HashMap<Box<str>, FieldId>,
    /// The distinct property-name lists of the records (most stores have a handful), so a
    /// record spends 4 bytes rather than a list on its names.
    pub(crate) shapes: Vec<Box<[FieldId]>>,
    /// Clustered by agent: each agent's records are contiguous and in store order, so a query
    /// reads one run of memory instead of one cache line per record scattered over the store.
    /// Records without an agent come last (no query matches them).
    pub(crate) records: Vec<Record>,
    /// Each agent's run of `records` (`_msdyn_activeagentid_value`), as start..end.
    pub(crate) by_agent: HashMap<Uuid, (u32, u32)>,
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
                Ok(value) => format!("found {}", json_type(&value)),
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
    serde_json::from_slice::<HasValueKey>(first).is_ok_and(|probe| !probe.0)
}

/// Whether an object has a top-level `value` key (its values are skipped, not built).
struct HasValueKey(bool);

impl<'de> de::Deserialize<'de> for HasValueKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Probe;
        impl<'de> Visitor<'de> for Probe {
            type Value = HasValueKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HasValueKey, A::Error> {
                let mut found = false;
                while let Some(key) = map.next_key::<Name<'de>>()? {
                    found |= key.0 == "value";
                    map.next_value::<IgnoredAny>()?;
                }
                Ok(HasValueKey(found))
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

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A serde_json error as a store error; `line` overrides the line (an NDJSON line is parsed on
/// its own, so serde_json's line is always 1).
fn json_error(error: &serde_json::Error, line: Option<usize>) -> StoreError {
    let text = error.to_string();
    let message = text
        .rfind(" at line ")
        .map_or(text.as_str(), |i| &text[..i])
        .to_owned();
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

struct Builder {
    loaded: Loaded,
    shape_ids: HashMap<Box<[FieldId]>, u32>,
    /// Record indexes (in load order) by agent, until [`Builder::finish`] clusters them.
    agent_rows: HashMap<Uuid, Vec<u32>>,
    /// First location of every activityid, to reject duplicates.
    ids: HashMap<Uuid, RecordLocation>,
    /// For each field, the serial of the last record that had it: finds a property given twice
    /// in a record in O(1) whatever the record's width.
    last_seen: Vec<u32>,
    serial: u32,
    fields: Vec<FieldId>,
    values: Vec<Val>,
    /// The store error behind the serde error a visitor returned.
    error: Option<StoreError>,
}

impl Builder {
    fn new() -> Self {
        let mut builder = Self {
            loaded: Loaded::default(),
            shape_ids: HashMap::new(),
            agent_rows: HashMap::new(),
            ids: HashMap::new(),
            last_seen: Vec::new(),
            serial: 0,
            fields: Vec::new(),
            values: Vec::new(),
            error: None,
        };
        for name in EVALUATED {
            builder.intern(name).expect("four names fit");
        }
        builder
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

    /// Clusters the records by agent (keeping store order within each agent).
    fn finish(self) -> Loaded {
        let mut loaded = self.loaded;
        let mut slots: Vec<Option<Record>> = loaded.records.drain(..).map(Some).collect();
        let mut agents: Vec<(Uuid, Vec<u32>)> = self.agent_rows.into_iter().collect();
        // By first appearance, so the layout does not depend on hash order.
        agents.sort_unstable_by_key(|(_, rows)| rows[0]);
        let mut records = Vec::with_capacity(slots.len());
        let mut by_agent = HashMap::with_capacity(agents.len());
        for (agent, rows) in agents {
            // Fits: at most u32::MAX records are loaded.
            let start = records.len() as u32;
            records.extend(rows.iter().filter_map(|&row| slots[row as usize].take()));
            by_agent.insert(agent, (start, records.len() as u32));
        }
        records.extend(slots.into_iter().flatten());
        loaded.records = records;
        loaded.by_agent = by_agent;
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

fn guid(value: &Value) -> Result<Option<Uuid>, &'static str> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Uuid::try_parse(s)
            .map(Some)
            .map_err(|_| "must be a GUID string, e.g. 2b330c52-6844-4d36-8e05-03c78c9681dc"),
        _ => Err("must be a GUID string, e.g. 2b330c52-6844-4d36-8e05-03c78c9681dc"),
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
        b.values.clear();
        b.serial += 1;
        let serial = b.serial;
        let (mut id, mut agent, mut status, mut created) = (None, None, None, None);

        while let Some(name) = map.next_key::<Name<'de>>()? {
            let Some(field) = self.builder.intern(&name.0) else {
                return Err(self.builder.fail(StoreError::TooLarge {
                    what: "distinct property names",
                    limit: usize::from(FieldId::MAX) + 1,
                }));
            };
            let value: Value = map.next_value()?;
            let b = &mut *self.builder;
            if b.last_seen[usize::from(field)] == serial {
                return Err(self.malformed(field, "appears twice in the record"));
            }
            b.last_seen[usize::from(field)] = serial;
            match field {
                ACTIVITYID => match guid(&value) {
                    Ok(Some(value)) => id = Some(value),
                    Ok(None) => return Err(self.malformed(field, "must not be null")),
                    Err(problem) => return Err(self.malformed(field, problem)),
                },
                AGENT => match guid(&value) {
                    Ok(value) => agent = value,
                    Err(problem) => return Err(self.malformed(field, problem)),
                },
                STATUS => match &value {
                    Value::Null => {}
                    Value::Number(n) => match n.as_i64().and_then(|n| i32::try_from(n).ok()) {
                        Some(n) => status = Some(n),
                        None => {
                            return Err(self.malformed(field, "must be a 32-bit integer"));
                        }
                    },
                    _ => return Err(self.malformed(field, "must be an integer, e.g. 3")),
                },
                CREATED => match &value {
                    Value::Null => {}
                    Value::String(s) => match parse_nanos(s) {
                        Some(at) => created = Some(at),
                        None => {
                            return Err(self.malformed(
                                field,
                                "must be an RFC 3339 date, e.g. 2026-11-20T12:00:00Z",
                            ));
                        }
                    },
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
            b.values.push(Val::from_json(value));
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
        let Ok(index) = u32::try_from(b.loaded.records.len()) else {
            return Err(b.fail(StoreError::TooLarge {
                what: "records",
                limit: u32::MAX as usize,
            }));
        };
        let shape = match b.shape_ids.get(b.fields.as_slice()) {
            Some(shape) => *shape,
            None => {
                // At most one shape per record, and records are counted in u32.
                let shape = u32::try_from(b.loaded.shapes.len()).unwrap_or(u32::MAX);
                b.loaded.shapes.push(b.fields.as_slice().into());
                b.shape_ids.insert(b.fields.as_slice().into(), shape);
                shape
            }
        };
        b.loaded.records.push(Record {
            status,
            created,
            shape,
            values: b.values.drain(..).collect(),
        });
        if let Some(agent) = agent {
            b.agent_rows.entry(agent).or_default().push(index);
        }
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
