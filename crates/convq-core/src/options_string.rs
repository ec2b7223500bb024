//! Reading an `Xrm.WebApi.retrieveMultipleRecords` options string back into getConversations
//! input: the inverse of [`Compiled::options`](crate::Compiled::options), for test doubles of
//! `Xrm.WebApi` that answer from the same store as `getConversations`.
//!
//! It reads the query options convq renders (`$select`, `$filter`, `$orderby`, `$top`), plain or
//! percent-encoded (a `nextLink`'s query part), and refuses anything else with a message that
//! says what it does not read: a double must never answer a query it did not understand with an
//! empty page.

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value, json};

use crate::options::DaysReading;

/// A retrieveMultipleRecords options string, as getConversations input.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OptionsQuery {
    /// The getConversations input (`agentId`, `attributes`, `status`, `createdBeforeDays`,
    /// `orderBy`, `top`) that compiles to the same query.
    pub input: Value,
    /// How `createdBeforeDays` reads (`LastXDays` or `OlderThanXDays` in the filter), when the
    /// filter has one.
    pub reading: Option<DaysReading>,
    /// Query options the caller handles itself (a double's `$skiptoken`), as `(name, value)`,
    /// decoded.
    pub passed: Vec<(String, String)>,
}

/// Why an options string cannot be read: what it has that convq does not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OptionsStringError(String);

const AGENT: &str = "_msdyn_activeagentid_value eq ";
const IN: &str = "Microsoft.Dynamics.CRM.In(PropertyName='statuscode',PropertyValues=[";
const LAST: &str = "Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=";
const OLDER: &str = "Microsoft.Dynamics.CRM.OlderThanXDays(PropertyName='createdon',PropertyValue=";

/// Reads `?$select=...&$filter=...&$orderby=...&$top=...` (the leading `?` optional). Options
/// named in `passed` (`["$skiptoken"]`) are returned as they are, for the caller.
///
/// # Errors
/// [`OptionsStringError`] for an option or a filter term convq does not render (`$expand`, a
/// filter without the agent, `contains(...)`), naming it.
pub fn read_options_string(
    options: &str,
    passed: &[&str],
) -> Result<OptionsQuery, OptionsStringError> {
    let text = options.strip_prefix('?').unwrap_or(options);
    let mut input = Map::new();
    let mut reading = None;
    let mut passed_out = Vec::new();
    let mut has_filter = false;
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name);
        let value = decode(value);
        match name.as_str() {
            "$select" => {
                let columns: Vec<Value> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| Value::String(c.to_owned()))
                    .collect();
                input.insert("attributes".to_owned(), Value::Array(columns));
            }
            "$filter" => {
                has_filter = true;
                reading = read_filter(&value, &mut input)?;
            }
            "$orderby" => {
                let mut keys = Vec::new();
                for key in value.split(',').map(str::trim) {
                    let (column, descending) = match key.split_once(' ') {
                        Some((column, "asc")) => (column, false),
                        Some((column, "desc")) => (column, true),
                        None if !key.is_empty() => (key, false),
                        _ => return Err(unsupported(format!("$orderby key {key:?}"))),
                    };
                    keys.push(json!({"attributeName": column, "descending": descending}));
                }
                input.insert("orderBy".to_owned(), Value::Array(keys));
            }
            "$top" => {
                let top: u32 = value
                    .trim()
                    .parse()
                    .map_err(|_| unsupported(format!("$top={value}")))?;
                input.insert("top".to_owned(), json!(top));
            }
            other if passed.contains(&other) => passed_out.push((name.clone(), value)),
            other => return Err(unsupported(format!("the query option {other}"))),
        }
    }
    if !has_filter {
        return Err(unsupported(format!(
            "a query without $filter (the conversations of one agent: \
             $filter={AGENT}<systemuserid>)"
        )));
    }
    Ok(OptionsQuery {
        input: Value::Object(input),
        reading,
        passed: passed_out,
    })
}

fn unsupported(what: String) -> OptionsStringError {
    OptionsStringError(format!(
        "{what} is not supported: the options string must be one convq renders \
         ($select, $filter on _msdyn_activeagentid_value with statuscode and createdon terms, \
         $orderby, $top)"
    ))
}

/// `%XX` sequences decoded (a nextLink's query is percent-encoded; a plain options string has
/// none, and its text stays as it is).
fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// The terms of a filter convq renders: the agent first, then `and` status and created terms.
fn read_filter(
    text: &str,
    input: &mut Map<String, Value>,
) -> Result<Option<DaysReading>, OptionsStringError> {
    let bad = |term: &str| unsupported(format!("the $filter term {term:?}"));
    let mut terms = text.split(" and ").map(str::trim);
    let agent = terms.next().unwrap_or_default();
    let id = agent.strip_prefix(AGENT).ok_or_else(|| bad(agent))?;
    input.insert("agentId".to_owned(), Value::String(id.trim().to_owned()));
    let mut reading = None;
    let mut status = Vec::new();
    for term in terms {
        let days = |prefix: &str| {
            term.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(')'))
                .map(|n| n.trim_matches('\'').parse::<u32>().map_err(|_| bad(term)))
        };
        if let Some(n) = days(LAST) {
            input.insert("createdBeforeDays".to_owned(), json!(n?));
            reading = Some(DaysReading::LastXDays);
        } else if let Some(n) = days(OLDER) {
            input.insert("createdBeforeDays".to_owned(), json!(n?));
            reading = Some(DaysReading::OlderThanXDays);
        } else if let Some(list) = term.strip_prefix(IN).and_then(|l| l.strip_suffix("])")) {
            for value in list.split(',') {
                let value = value.trim().trim_matches('\'');
                status.push(value.parse::<i64>().map_err(|_| bad(term))?);
            }
        } else {
            let chain = term
                .strip_prefix('(')
                .and_then(|t| t.strip_suffix(')'))
                .unwrap_or(term);
            for one in chain.split(" or ") {
                let value = one
                    .trim()
                    .strip_prefix("statuscode eq ")
                    .ok_or_else(|| bad(term))?;
                status.push(value.trim().parse::<i64>().map_err(|_| bad(term))?);
            }
        }
    }
    if !status.is_empty() {
        input.insert("status".to_owned(), json!(status));
    }
    Ok(reading)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Options, StatusFilter, compile};

    const AGENT_ID: &str = "2b330c52-6844-4d36-8e05-03c78c9681dc";

    /// Every options string `compile` renders reads back to an input that compiles to the same
    /// query, plain and percent-encoded.
    #[test]
    fn compiled_options_read_back_to_the_same_query() {
        let inputs = [
            json!({"agentId": AGENT_ID}),
            json!({"agentId": AGENT_ID, "status": [3]}),
            json!({"agentId": AGENT_ID, "status": [2, 3, 7], "createdBeforeDays": 4, "top": 9,
                   "attributes": ["msdyn_title", "msdyn_customer"],
                   "orderBy": [{"attributeName": "createdon", "descending": true},
                               {"attributeName": "msdyn_title"}]}),
        ];
        for input in inputs {
            for (style, reading) in [
                (StatusFilter::OrChain, DaysReading::LastXDays),
                (StatusFilter::CrmIn, DaysReading::OlderThanXDays),
            ] {
                let options = Options {
                    status_filter: style,
                    ..Options::default().with_created_before_days(reading)
                };
                let compiled = compile(&input.to_string(), &options).unwrap();
                let path_query = &compiled.path[compiled.path.find('?').unwrap()..];
                for text in [compiled.options.as_str(), path_query] {
                    let read = read_options_string(text, &[]).unwrap();
                    let expected = input.get("createdBeforeDays").is_some().then_some(reading);
                    assert_eq!(read.reading, expected, "{text}");
                    let again = compile(
                        &read.input.to_string(),
                        &Options::default().with_created_before_days(reading),
                    )
                    .unwrap();
                    assert_eq!(again.ast, compiled.ast, "{text}");
                }
            }
        }
    }

    #[test]
    fn passed_options_come_back_and_others_are_refused() {
        let read = read_options_string(
            &format!("$filter={AGENT}{AGENT_ID}&$skiptoken=20"),
            &["$skiptoken"],
        )
        .unwrap();
        assert_eq!(read.passed, [("$skiptoken".to_owned(), "20".to_owned())]);
        for (text, names) in [
            (format!("?$filter={AGENT}{AGENT_ID}&$expand=x"), "$expand"),
            ("?$select=msdyn_title".to_owned(), "without $filter"),
            ("?$filter=statuscode eq 3".to_owned(), "statuscode eq 3"),
            (
                format!("?$filter={AGENT}{AGENT_ID} and contains(msdyn_title,'x')"),
                "contains",
            ),
            (format!("?$filter={AGENT}{AGENT_ID}&$top=-1"), "$top=-1"),
        ] {
            let error = read_options_string(&text, &[]).unwrap_err().to_string();
            assert!(error.contains(names), "{text}: {error}");
            assert!(error.contains("is not supported"), "{error}");
        }
    }
}
