//! Differential test: for random stores and random inputs, the embedded store answers exactly
//! what a naive evaluation answers (filter every record, stable sort, cut, project).
//!
//! The reference below shares no code with the store: it reads the records as `serde_json`
//! values and implements the semantics documented in `src/store/mod.rs` and `order.rs`:
//! agent equal as GUIDs; statuscode in the set (null never matches); createdon from 00:00 UTC of
//! the day N days before today (UTC) up to now; nulls first ascending; type rank null < bool <
//! number < date < text < other; text case-insensitive; ties in store order; then `top`.

use std::cmp::Ordering;

use convq_backend::{EmbeddedStore, parse_timestamp};
use convq_core::catalog::ColumnType;
use convq_core::{Options, Query};
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
const TITLES: [&str; 9] = [
    "alpha",
    "Alpha",
    "beta",
    "Éclair",
    "éclair",
    "zeta",
    "Ωmega \"quoted\"",
    "2026-01-01T00:00:00Z",
    "",
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

fn id(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
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
        maybe(agent),
        maybe((-1_i64..=7).prop_map(Value::from)),
        maybe(date()),
        maybe(proptest::sample::select(&TITLES[..]).prop_map(Value::from)),
        maybe((-3_i64..5).prop_map(Value::from)),
        maybe(queue),
        maybe(any::<bool>().prop_map(Value::Bool)),
        maybe(prop_oneof![date(), Just(json!("soon"))]),
    )
        .prop_map(
            |(agent, status, created, title, transfers, queue, abandoned, started)| {
                let mut record = Map::new();
                let fields = [
                    ("_msdyn_activeagentid_value", agent),
                    ("statuscode", status),
                    ("createdon", created),
                    ("msdyn_title", title),
                    ("msdyn_transfercount", transfers),
                    ("_msdyn_cdsqueueid_value", queue),
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
    proptest::collection::vec(record(), 0..40).prop_map(|records| {
        records
            .into_iter()
            .enumerate()
            .map(|(n, mut record)| {
                record.insert("activityid".to_owned(), Value::String(id(n)));
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
        proptest::option::of(1..10_u32),
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

/// One value as the reference orders it.
#[derive(Debug, PartialEq, PartialOrd)]
enum Sortable {
    Null,
    Bool(bool),
    Number(i64),
    Date(i128),
    Text(String),
    Other,
}

fn sortable(value: Option<&Value>, date_column: bool) -> Sortable {
    match value {
        None | Some(Value::Null) => Sortable::Null,
        Some(Value::Bool(b)) => Sortable::Bool(*b),
        Some(Value::Number(n)) => Sortable::Number(n.as_i64().unwrap()),
        Some(Value::String(s)) => match nanos(s).filter(|_| date_column) {
            Some(at) => Sortable::Date(at),
            None => Sortable::Text(s.to_lowercase()),
        },
        Some(_) => Sortable::Other,
    }
}

/// Filter all, stable sort, cut, project.
fn reference(records: &[Value], query: &Query, now_nanos: i128) -> Vec<Value> {
    const DAY: i128 = 86_400_000_000_000;
    let agent = query.agent_id.to_string();
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
        .filter(|r| match query.created_within_days {
            None => true,
            Some(days) => {
                let from = (now_nanos.div_euclid(DAY) - i128::from(days)) * DAY;
                r.get("createdon")
                    .and_then(Value::as_str)
                    .and_then(nanos)
                    .is_some_and(|at| from <= at && at <= now_nanos)
            }
        })
        .collect();
    matches.sort_by(|a, b| {
        for key in &query.order_by {
            let date = key.column.column_type == Some(ColumnType::DateTime);
            let property = key.column.property.as_ref();
            let (x, y) = (
                sortable(a.get(property), date),
                sortable(b.get(property), date),
            );
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
        Ordering::Equal
    });
    matches.truncate(query.top.map_or(usize::MAX, |t| t as usize));
    matches
        .into_iter()
        .map(|r| {
            let mut out = Map::new();
            out.insert("activityid".into(), r["activityid"].clone());
            for column in &query.select {
                let value = r
                    .get(column.property.as_ref())
                    .cloned()
                    .unwrap_or(Value::Null);
                out.insert(column.property.to_string(), value);
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
    ) {
        let store = EmbeddedStore::from_bytes(serialize(&records, format).as_bytes()).unwrap();
        prop_assert_eq!(store.len(), records.len());
        let compiled = convq_core::compile(&input.to_string(), &Options::default()).unwrap();
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
        let expected = reference(&records, &compiled.ast, nanos(&now_text).unwrap());
        let actual = store.query(&compiled.ast, now);
        prop_assert_eq!(actual, expected, "input {}", input);
    }
}
