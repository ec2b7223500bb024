//! Differential test: for random stores and random inputs, the embedded store answers exactly
//! what a naive evaluation answers (filter every record, stable sort, cut, project).
//!
//! The reference below shares no code with the store: it reads the records as `serde_json`
//! values and implements the semantics documented in `src/store/mod.rs`, `order.rs` and
//! `docs/semantics.md` its own way: agent equal as GUIDs; statuscode in the set (null never
//! matches); createdon against midnight N days back in the run's time zone (fixed offsets here,
//! zones without a DST change near the test dates), within the last N days up to now or before
//! that midnight; nulls first ascending; type rank null < bool < number < date < text < GUID <
//! other; text by a hand-written accent and case fold of the test's own words (the store uses
//! ICU4X ranks); lookups by the formatted name when the record has it, else SQL Server's GUID
//! byte order (computed from the text, not with `uuid`); ties by `activityid` in that byte
//! order, as is the whole answer without orderBy (ids are drawn so that it is not load order);
//! then `top`;
//! projection with `@odata.etag` and, when asked, the selected properties' formatted values.
use std::cmp::Ordering;

use convq_backend::{EmbeddedStore, RunContext, parse_time_zone, parse_timestamp};
use convq_core::catalog::ColumnType;
use convq_core::{DaysReading, Options, Query};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const AGENTS: [&str; 3] = [
    "2b330c52-6844-4d36-8e05-03c78c9681dc",
    "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d",
    "ffffffff-0000-4000-8000-000000000001",
];
const QUEUES: [&str; 2] = [
    "10000000-0000-4000-8000-000000000000",
    "0fffffff-0000-4000-8000-000000000000",
];
/// Titles and the fold the reference orders them by: the org's collation ignores case and
/// accents (primary strength), so `Éclair`, `éclair` and `eclair` tie.
const TITLES: [(&str, &str); 12] = [
    ("alpha", "alpha"),
    ("Alpha", "alpha"),
    ("beta", "beta"),
    ("Éclair", "eclair"),
    ("éclair", "eclair"),
    ("eclair", "eclair"),
    ("Zoë Müller", "zoe muller"),
    ("zoe muller", "zoe muller"),
    ("zeta", "zeta"),
    ("Ωmega", "ωmega"),
    ("2026-01-01T00:00:00Z", "2026-01-01t00:00:00z"),
    ("", ""),
];
/// Queue names (the lookup's formatted value), folded likewise.
const QUEUE_NAMES: [(&str, &str); 5] = [
    ("Billing", "billing"),
    ("billing", "billing"),
    ("Élite support", "elite support"),
    ("Zürich desk", "zurich desk"),
    ("Accounts", "accounts"),
];
const FORMATTED: &str = "@OData.Community.Display.V1.FormattedValue";
/// Time zones and their UTC offsets around the test dates (November 2026: no DST change between
/// the 10th and the 23rd in any of them).
const ZONES: [(&str, i64); 6] = [
    ("UTC", 0),
    ("America/New_York", -5 * 3_600),
    ("Asia/Kolkata", 5 * 3_600 + 1_800),
    ("Asia/Tokyo", 9 * 3_600),
    ("Europe/Paris", 3_600),
    ("Pacific/Kiritimati", 14 * 3_600),
];
/// Columns an input may order by or select: (logical name in the input).
const COLUMNS: [&str; 9] = [
    "createdon",
    "msdyn_title",
    "statuscode",
    "msdyn_transfercount",
    "msdyn_cdsqueueid",
    "msdyn_isabandoned",
    "msdyn_startedon",
    "activityid",
    "msdyn_activeagentid",
];
/// 2026-11-20T00:00:00Z: "now" is drawn from the two days after it.
pub(crate) const BASE: i64 = 1_795_132_800;

/// Record `n`'s activityid. `scramble` spreads `n` over the groups SQL Server compares last
/// and first, so its GUID order is not load order (nor the text's order).
fn id(n: usize, scramble: u64) -> String {
    let mixed = (n as u64 + 1).wrapping_mul(scramble | 1);
    format!(
        "{:08x}-{:04x}-4000-8000-{:012x}",
        n,
        mixed >> 48,
        mixed & 0xffff_ffff_ffff
    )
}

/// A property that may be missing (`None`), `null`, or a value.
fn maybe(value: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        6 => value.prop_map(Some),
    ]
    .boxed()
}

fn upper_or_not(text: &'static str) -> impl Strategy<Value = Value> {
    any::<bool>().prop_map(move |upper| {
        Value::String(if upper {
            text.to_uppercase()
        } else {
            text.to_owned()
        })
    })
}

/// Seconds after [`BASE`] in `days` (may be negative) to `until_days`: often a whole hour or a
/// midnight, so dates fall on the window's first instant and on "now" itself.
pub(crate) fn offset(days: i64, until_days: i64) -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => days * 86_400..until_days * 86_400,
        1 => (days * 24..until_days * 24).prop_map(|hours| hours * 3_600),
        1 => (days..until_days).prop_map(|days| days * 86_400),
    ]
}

/// An RFC 3339 date around now: whole seconds or half seconds, UTC or +02:00.
fn date() -> impl Strategy<Value = Value> {
    (offset(-9, 2), proptest::bool::weighted(0.2), any::<bool>()).prop_map(
        |(offset, half, shifted)| {
            let mut at = OffsetDateTime::from_unix_timestamp(BASE + offset).unwrap();
            if half {
                at += time::Duration::milliseconds(500);
            }
            if shifted {
                at = at.to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
            }
            Value::String(at.format(&Rfc3339).unwrap())
        },
    )
}

fn record() -> impl Strategy<Value = Map<String, Value>> {
    let agent = prop_oneof![
        upper_or_not(AGENTS[0]),
        upper_or_not(AGENTS[1]),
        upper_or_not(AGENTS[2])
    ];
    let queue = prop_oneof![upper_or_not(QUEUES[0]), upper_or_not(QUEUES[1])];
    (
        (
            maybe(agent),
            maybe((-1_i64..=7).prop_map(Value::from)),
            maybe(date()),
            maybe(proptest::sample::select(&TITLES[..]).prop_map(|t| Value::from(t.0))),
            maybe((-3_i64..5).prop_map(Value::from)),
        ),
        (
            maybe(queue),
            maybe(any::<bool>().prop_map(Value::Bool)),
            maybe(prop_oneof![date(), Just(json!("soon"))]),
            maybe(proptest::sample::select(&QUEUE_NAMES[..]).prop_map(|t| Value::from(t.0))),
            maybe((0..1000_u32).prop_map(|n| Value::from(format!("W/\"{n}\"")))),
            maybe(proptest::sample::select(&["Waiting", "Closed"][..]).prop_map(Value::from)),
        ),
    )
        .prop_map(
            |(
                (agent, status, created, title, transfers),
                (queue, abandoned, started, queue_name, etag, status_label),
            )| {
                let mut record = Map::new();
                // A queue name only beside a queue, as Web API gives it.
                let queue_name =
                    queue_name.filter(|_| queue.as_ref().is_some_and(|q| !q.is_null()));
                let queue_name_key = format!("_msdyn_cdsqueueid_value{FORMATTED}");
                let status_label_key = format!("statuscode{FORMATTED}");
                let fields = [
                    ("@odata.etag", etag),
                    ("_msdyn_activeagentid_value", agent),
                    ("statuscode", status),
                    (status_label_key.as_str(), status_label),
                    ("createdon", created),
                    ("msdyn_title", title),
                    ("msdyn_transfercount", transfers),
                    ("_msdyn_cdsqueueid_value", queue),
                    (queue_name_key.as_str(), queue_name),
                    ("msdyn_isabandoned", abandoned),
                    ("msdyn_startedon", started),
                ];
                for (name, value) in fields {
                    if let Some(value) = value {
                        record.insert(name.to_owned(), value);
                    }
                }
                record
            },
        )
}

pub(crate) fn store() -> impl Strategy<Value = Vec<Value>> {
    (proptest::collection::vec(record(), 0..40), any::<u64>()).prop_map(|(records, scramble)| {
        records
            .into_iter()
            .enumerate()
            .map(|(n, mut record)| {
                record.insert("activityid".to_owned(), Value::String(id(n, scramble)));
                Value::Object(record)
            })
            .collect()
    })
}

pub(crate) fn input() -> impl Strategy<Value = Value> {
    let order = proptest::sample::subsequence(&COLUMNS[..], 0..=3)
        .prop_shuffle()
        .prop_flat_map(|columns| {
            let n = columns.len();
            (Just(columns), proptest::collection::vec(any::<bool>(), n))
        })
        .prop_map(|(columns, descending)| {
            columns
                .into_iter()
                .zip(descending)
                .map(|(c, d)| json!({"attributeName": c, "descending": d}))
                .collect::<Vec<_>>()
        });
    (
        0..4_usize,
        any::<bool>(),
        proptest::collection::vec(1..=7_i32, 0..3),
        proptest::option::of(1..12_u32),
        order,
        proptest::option::of(1..8_u32),
        proptest::sample::subsequence(&COLUMNS[..], 0..=4),
    )
        .prop_map(|(agent, upper, status, days, order, top, attributes)| {
            let agent = AGENTS
                .get(agent)
                .copied()
                .unwrap_or("11111111-1111-4111-8111-111111111111");
            let agent = if upper {
                format!("{{{}}}", agent.to_uppercase())
            } else {
                agent.to_owned()
            };
            let mut input = json!({"agentId": agent, "orderBy": order, "attributes": attributes});
            if !status.is_empty() {
                input["status"] = json!(status);
            }
            if let Some(days) = days {
                input["createdBeforeDays"] = json!(days);
            }
            if let Some(top) = top {
                input["top"] = json!(top);
            }
            input
        })
}

pub(crate) fn serialize(records: &[Value], format: u8) -> String {
    // An empty file is refused (more likely a failed download than an empty store); an empty
    // store is written as an array.
    match format {
        0 => json!({"@odata.context": "x", "value": records}).to_string(),
        1 => serde_json::to_string_pretty(records).unwrap(),
        _ if records.is_empty() => "[]".to_owned(),
        _ => records
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn nanos(text: &str) -> Option<i128> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

/// One value as the reference orders it (derived order: the variants' order is the type rank).
#[derive(Debug, PartialEq, PartialOrd)]
enum Sortable {
    Null,
    Bool(bool),
    Number(i64),
    Date(i128),
    Text(String),
    Guid(Vec<u8>),
    Other,
}

/// The reference's collation: the fold the test tables give for their words.
fn fold(text: &str) -> String {
    TITLES
        .iter()
        .chain(&QUEUE_NAMES)
        .find(|(word, _)| *word == text)
        .map_or_else(|| text.to_lowercase(), |(_, folded)| (*folded).to_owned())
}

/// SQL Server's `uniqueidentifier` order, from the text: the groups are
/// `aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee`; SQL Server compares e (as written), then d (as
/// written), then c, b and a with their bytes reversed (the .NET layout stores them
/// little-endian).
fn sql_guid(text: &str) -> Option<Vec<u8>> {
    let bare = text.trim_start_matches('{').trim_end_matches('}');
    let groups: Vec<&str> = bare.split('-').collect();
    if groups.len() != 5 || bare.len() != 36 {
        return None;
    }
    let bytes = |group: &str| -> Option<Vec<u8>> {
        (0..group.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&group[i..i + 2], 16).ok())
            .collect()
    };
    let reversed = |group: &str| {
        bytes(group).map(|mut b| {
            b.reverse();
            b
        })
    };
    Some(
        [
            bytes(groups[4])?,
            bytes(groups[3])?,
            reversed(groups[2])?,
            reversed(groups[1])?,
            reversed(groups[0])?,
        ]
        .concat(),
    )
}

fn sortable(record: &Value, column: &convq_core::Column) -> Sortable {
    let property = column.property.as_ref();
    let value = record.get(property);
    let lookup = column.column_type.is_some_and(ColumnType::is_lookup);
    let guid_column = lookup || column.column_type == Some(ColumnType::Uniqueidentifier);
    if lookup && let Some(Value::String(name)) = record.get(format!("{property}{FORMATTED}")) {
        return Sortable::Text(fold(name));
    }
    match value {
        None | Some(Value::Null) => Sortable::Null,
        Some(Value::Bool(b)) => Sortable::Bool(*b),
        Some(Value::Number(n)) => Sortable::Number(n.as_i64().unwrap()),
        Some(Value::String(s)) => {
            if column.column_type == Some(ColumnType::DateTime)
                && let Some(at) = nanos(s)
            {
                return Sortable::Date(at);
            }
            if guid_column && let Some(key) = sql_guid(s) {
                return Sortable::Guid(key);
            }
            Sortable::Text(fold(s))
        }
        Some(_) => Sortable::Other,
    }
}

/// Where the reference evaluates: now, the zone's UTC offset, and the options.
struct Run {
    now_nanos: i128,
    offset_seconds: i64,
    formatted_values: bool,
}

/// Filter all, stable sort, cut, project.
fn reference(records: &[Value], query: &Query, run: &Run) -> Vec<Value> {
    const DAY: i128 = 86_400_000_000_000;
    let agent = query.agent_id.to_string();
    let offset = i128::from(run.offset_seconds) * 1_000_000_000;
    let mut matches: Vec<&Value> = records
        .iter()
        .filter(|r| {
            r.get("_msdyn_activeagentid_value")
                .and_then(Value::as_str)
                .is_some_and(|a| a.to_lowercase() == agent)
        })
        .filter(|r| {
            query.status.is_empty()
                || r.get("statuscode")
                    .and_then(Value::as_i64)
                    .is_some_and(|s| query.status.iter().any(|q| i64::from(*q) == s))
        })
        .filter(|r| match query.created_before_days {
            None => true,
            Some(filter) => {
                // Local midnight N days back: shift to local time, cut to the day, shift back.
                let local_day = (run.now_nanos + offset).div_euclid(DAY);
                let boundary = (local_day - i128::from(filter.days)) * DAY - offset;
                let at = r.get("createdon").and_then(Value::as_str).and_then(nanos);
                match filter.reading {
                    DaysReading::LastXDays => {
                        at.is_some_and(|at| boundary <= at && at <= run.now_nanos)
                    }
                    DaysReading::OlderThanXDays => at.is_some_and(|at| at < boundary),
                }
            }
        })
        .collect();
    matches.sort_by(|a, b| {
        for key in &query.order_by {
            let (x, y) = (sortable(a, &key.column), sortable(b, &key.column));
            let ordering = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
            let ordering = if key.descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
        // Ties, and every row without orderBy: by the primary key, SQL Server's GUID order.
        let key = |r: &Value| sql_guid(r["activityid"].as_str().unwrap()).unwrap();
        key(a).cmp(&key(b))
    });
    matches.truncate(query.top.map_or(usize::MAX, |t| t as usize));
    matches
        .into_iter()
        .map(|r| {
            let mut out = Map::new();
            if let Some(etag) = r.get("@odata.etag").filter(|e| !e.is_null()) {
                out.insert("@odata.etag".into(), etag.clone());
            }
            out.insert("activityid".into(), r["activityid"].clone());
            for column in &query.select {
                let property = column.property.as_ref();
                let value = r.get(property).cloned().unwrap_or(Value::Null);
                out.insert(property.to_owned(), value);
                let annotation = format!("{property}{FORMATTED}");
                match r.get(&annotation) {
                    Some(Value::Null) | None => {}
                    Some(formatted) if run.formatted_values => {
                        out.insert(annotation, formatted.clone());
                    }
                    Some(_) => {}
                }
            }
            Value::Object(out)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_store_answers_what_the_naive_evaluation_answers(
        records in store(),
        input in input(),
        format in 0..3_u8,
        now_offset in offset(0, 2),
        now_at_a_record in proptest::option::of(any::<proptest::sample::Index>()),
        zone in proptest::sample::select(&ZONES[..]),
        older_than in any::<bool>(),
        formatted_values in any::<bool>(),
    ) {
        let store = EmbeddedStore::from_bytes(serialize(&records, format).as_bytes()).unwrap();
        prop_assert_eq!(store.len(), records.len());
        let reading = if older_than { DaysReading::OlderThanXDays } else { DaysReading::LastXDays };
        let options = Options::default().with_created_before_days(reading);
        let compiled = convq_core::compile(&input.to_string(), &options).unwrap();
        // Sometimes "now" is exactly a record's createdon, the window's inclusive end.
        let record_date = now_at_a_record
            .filter(|_| !records.is_empty())
            .and_then(|i| records[i.index(records.len())].get("createdon"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let now_text = record_date.unwrap_or_else(|| {
            OffsetDateTime::from_unix_timestamp(BASE + now_offset)
                .unwrap()
                .format(&Rfc3339)
                .unwrap()
        });
        let now = parse_timestamp(&now_text).unwrap();
        let run = Run {
            now_nanos: nanos(&now_text).unwrap(),
            offset_seconds: zone.1,
            formatted_values,
        };
        let expected = reference(&records, &compiled.ast, &run);
        let ctx = RunContext::at(now)
            .with_time_zone(parse_time_zone(zone.0).unwrap())
            .with_formatted_values(formatted_values);
        let actual = store.query(&compiled.ast, &ctx);
        prop_assert_eq!(actual, expected, "input {} in {}", input, zone.0);
    }
}

/// The reference's GUID order and fold agree with what the docs say, on their own.
#[test]
fn the_reference_orders_guids_as_sql_server_does() {
    let a = sql_guid("ffffffff-ffff-ffff-ffff-000000000000").unwrap();
    let b = sql_guid("00000000-0000-0000-0000-000000000001").unwrap();
    assert!(a < b, "the last group decides first");
    let a = sql_guid("00000100-0000-0000-0000-000000000000").unwrap();
    let b = sql_guid("00000001-0000-0000-0000-000000000000").unwrap();
    assert!(a < b, "the first group compares from its last byte");
    assert_eq!(fold("Zoë Müller"), fold("zoe muller"));
}
