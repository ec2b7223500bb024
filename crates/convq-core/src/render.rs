//! Renderers: [`Query`] → Web API query options, percent-encoded path, FetchXML.
//!
//! Dataverse's Web API is OData 4.0: nothing here emits the 4.01 `in` operator or `$skip`.

use odata_params::bigdecimal::BigDecimal;
use odata_params::filters::{CompareOperator, Expr, Value as ODataValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::ast::Query;
use crate::catalog::{ColumnType, ENTITY_LOGICAL_NAME, ENTITY_SET_NAME, PRIMARY_ID_ATTRIBUTE};
use crate::options::{DaysReading, StatusFilter};
use crate::warning::{Warning, WarningCode};

/// Web API property of the agent filter.
pub(crate) const AGENT_PROPERTY: &str = "_msdyn_activeagentid_value";
/// FetchXML attribute of the agent filter.
const AGENT_ATTRIBUTE: &str = "msdyn_activeagentid";
/// The Web API version in request paths.
pub(crate) const API_PATH: &str = "/api/data/v9.2/";

/// Exactly what JavaScript's `encodeURIComponent` leaves alone: `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Percent-encodes a query option value the way `encodeURIComponent` does.
#[must_use]
pub fn encode_uri_component(value: &str) -> String {
    utf8_percent_encode(value, URI_COMPONENT).to_string()
}

impl Query {
    /// The part of `$filter` that standard OData 4.0 parsers understand, as an
    /// `odata_params` expression: the agent comparison and, rendered as an or-chain, the status
    /// comparisons. Conjunctions and disjunctions nest to the right, the shape
    /// `odata_params::filters::parse_str` produces. The `Microsoft.Dynamics.CRM.*` function calls
    /// (`LastXDays`, `In`) are Dataverse extensions and are not part of it.
    #[must_use]
    pub fn standard_filter(&self) -> Expr {
        let agent = eq(AGENT_PROPERTY, ODataValue::Uuid(self.agent_id));
        let statuses = self
            .status
            .iter()
            .map(|s| eq("statuscode", ODataValue::Number(BigDecimal::from(*s))));
        match nest_right(statuses.collect(), Expr::Or) {
            Some(status) => Expr::And(Box::new(agent), Box::new(status)),
            None => agent,
        }
    }
}

fn eq(property: &str, value: ODataValue) -> Expr {
    Expr::Compare(
        Box::new(Expr::Identifier(property.to_owned())),
        CompareOperator::Equal,
        Box::new(Expr::Value(value)),
    )
}

fn nest_right(mut terms: Vec<Expr>, join: fn(Box<Expr>, Box<Expr>) -> Expr) -> Option<Expr> {
    let mut acc = terms.pop()?;
    while let Some(term) = terms.pop() {
        acc = join(Box::new(term), Box::new(acc));
    }
    Some(acc)
}

pub(crate) fn select(query: &Query) -> String {
    let mut out = String::with_capacity(query.select.iter().map(|c| c.property.len() + 1).sum());
    push_joined(&mut out, &query.select, ",", |out, column| {
        out.push_str(&column.property);
    });
    out
}

/// `$filter`: agent, then status, then days, joined with ` and `.
///
/// Written directly rather than through odata-params' printer, which nests a parenthesis per
/// `or`: the joins here are flat (`a and (b or c or d)`). The property tests check that this
/// text parses (odata-params) to exactly [`Query::standard_filter`], and that it is the crate's
/// printing of that tree wherever that printing is flat too (at most two statuses).
pub(crate) fn filter(query: &Query, style: StatusFilter) -> String {
    filter_for_agents(query, std::slice::from_ref(&query.agent_id), style)
}

/// [`filter`] with `agents` in place of the query's own agent: one agent gives exactly
/// [`filter`]'s text, several give `(agent eq A or agent eq B) and ...` (OData 4.0 has no `in`).
///
/// (Here and in the other renderers: one string sized up front and `push_str`, not `format!`
/// and joins, which made these few strings the larger part of compiling a typical input.)
pub(crate) fn filter_for_agents(
    query: &Query,
    agents: &[uuid::Uuid],
    style: StatusFilter,
) -> String {
    let mut out = String::with_capacity(64 * agents.len() + 32 * query.status.len() + 128);
    let grouped = agents.len() > 1;
    if grouped {
        out.push('(');
    }
    push_joined(&mut out, agents, " or ", |out, agent| {
        out.push_str(AGENT_PROPERTY);
        out.push_str(" eq ");
        push_guid(out, agent);
    });
    if grouped {
        out.push(')');
    }
    match (query.status.as_slice(), style) {
        ([], _) => {}
        ([single], _) => {
            out.push_str(" and statuscode eq ");
            push_int(&mut out, *single);
        }
        (many, StatusFilter::OrChain) => {
            out.push_str(" and (");
            push_joined(&mut out, many, " or ", |out, status| {
                out.push_str("statuscode eq ");
                push_int(out, *status);
            });
            out.push(')');
        }
        (many, StatusFilter::CrmIn) => {
            out.push_str(
                " and Microsoft.Dynamics.CRM.In(PropertyName='statuscode',PropertyValues=[",
            );
            push_joined(&mut out, many, ",", |out, status| {
                out.push('\'');
                push_int(out, *status);
                out.push('\'');
            });
            out.push_str("])");
        }
    }
    if let Some(created) = query.created_before_days {
        out.push_str(match created.reading {
            DaysReading::LastXDays => " and Microsoft.Dynamics.CRM.LastXDays",
            DaysReading::OlderThanXDays => " and Microsoft.Dynamics.CRM.OlderThanXDays",
        });
        out.push_str("(PropertyName='createdon',PropertyValue=");
        push_int(&mut out, created.days);
        out.push(')');
    }
    out
}

/// `$orderby`: the query's keys, then `activityid asc` when they are not already unique.
///
/// Dataverse does not order rows that tie on every key in any set way, so the pages of a paged
/// answer could repeat or skip them; the primary key as the last key makes the order total. A
/// query without keys gets none: Dataverse then orders by the primary key itself. See
/// `docs/semantics.md` ("Paging").
pub(crate) fn orderby(query: &Query) -> Option<String> {
    if query.order_by.is_empty() {
        return None;
    }
    let length = query.order_by.iter().map(|k| k.column.property.len() + 6);
    let mut out = String::with_capacity(length.sum::<usize>() + PRIMARY_ID_ATTRIBUTE.len() + 5);
    push_joined(&mut out, &query.order_by, ",", |out, key| {
        out.push_str(&key.column.property);
        out.push_str(if key.descending { " desc" } else { " asc" });
    });
    if needs_tie_breaker(query) {
        out.push(',');
        out.push_str(PRIMARY_ID_ATTRIBUTE);
        out.push_str(" asc");
    }
    Some(out)
}

/// Whether the order has keys and none of them is the primary key (the one column known to be
/// unique: `msdyn_ocliveworkitemid` usually holds the same GUID, but nothing enforces it).
/// Keys after the primary key never decide anything, so it need not be the last.
fn needs_tie_breaker(query: &Query) -> bool {
    !query.order_by.is_empty()
        && !query
            .order_by
            .iter()
            .any(|k| k.column.property == PRIMARY_ID_ATTRIBUTE)
}

/// `items` written by `push`, with `separator` between them.
fn push_joined<T>(
    out: &mut String,
    items: &[T],
    separator: &str,
    mut push: impl FnMut(&mut String, &T),
) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        push(out, item);
    }
}

fn push_guid(out: &mut String, id: &uuid::Uuid) {
    out.push_str(
        id.hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer()),
    );
}

fn push_int(out: &mut String, n: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// The query options in order, as `(name, raw value)` pairs.
pub(crate) fn option_pairs<'a>(
    select: &'a str,
    filter: &'a str,
    orderby: Option<&'a str>,
    top: Option<&'a str>,
) -> Vec<(&'static str, &'a str)> {
    [
        Some(("$select", select)),
        Some(("$filter", filter)),
        orderby.map(|o| ("$orderby", o)),
        top.map(|t| ("$top", t)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `?$select=...&$filter=...`: the string `Xrm.WebApi.retrieveMultipleRecords` takes.
pub(crate) fn options_string(pairs: &[(&str, &str)]) -> String {
    let length = pairs
        .iter()
        .map(|(name, value)| name.len() + value.len() + 2);
    join_pairs(String::with_capacity(length.sum()), pairs, String::push_str)
}

/// `/api/data/v9.2/msdyn_ocliveworkitems?$select=...`, each value percent-encoded.
pub(crate) fn request_path(pairs: &[(&str, &str)]) -> String {
    // Spaces, commas, quotes and brackets grow by two bytes each: about a third of a filter.
    let length = pairs
        .iter()
        .map(|(name, value)| name.len() + value.len() * 3 / 2 + 2);
    let mut out =
        String::with_capacity(API_PATH.len() + ENTITY_SET_NAME.len() + length.sum::<usize>());
    out.push_str(API_PATH);
    out.push_str(ENTITY_SET_NAME);
    join_pairs(out, pairs, |out, value| {
        out.extend(utf8_percent_encode(value, URI_COMPONENT));
    })
}

fn join_pairs(
    mut out: String,
    pairs: &[(&str, &str)],
    push_value: impl Fn(&mut String, &str),
) -> String {
    for (i, (name, value)) in pairs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(name);
        out.push('=');
        push_value(&mut out, value);
    }
    out
}

/// The equivalent FetchXML: plain logical names (no `_value`), `in` with `<value>` children,
/// `last-x-days` or `olderthan-x-days`, and `top` on `<fetch>`. The order ends in the primary
/// key as [`orderby`]'s does (FetchXML pages by paging cookie, which has the same need).
///
/// Order: FetchXML sorts choices by label where Web API sorts them by value; `useraworderby`
/// makes choices sort by value, but also lookups by GUID where Web API sorts them by the related
/// record's name. So it is set when the order has choices and no lookup; with both, no FetchXML
/// orders as Web API does: it is left off (lookups by name) and a warning says so.
pub(crate) fn fetchxml(query: &Query) -> (String, Option<Warning>) {
    let columns = query.select.len() + query.order_by.len();
    let mut out = String::with_capacity(400 + 64 * columns + 32 * query.status.len());
    out.push_str("<fetch");
    if let Some(top) = query.top {
        out.push_str(" top=\"");
        push_int(&mut out, top);
        out.push('"');
    }
    let has = |test: fn(ColumnType) -> bool| {
        query
            .order_by
            .iter()
            .position(|k| k.column.column_type.is_some_and(test))
    };
    let mut warning = None;
    match (has(ColumnType::is_option_set), has(ColumnType::is_lookup)) {
        (Some(_), None) => out.push_str(" useraworderby=\"true\""),
        (Some(choice), Some(lookup)) => {
            let column = |i: usize| query.order_by[i].column.logical_name.as_ref();
            warning = Some(Warning::new(
                WarningCode::FetchxmlOrderDiffers,
                format!("/orderBy/{choice}/attributeName"),
                format!(
                    "the FetchXML orders `{}` by label, not by value as the Web API query does: \
                     useraworderby would fix that but also order `{}` by GUID instead of by name",
                    column(choice),
                    column(lookup)
                ),
            ));
        }
        _ => {}
    }
    out.push_str(">\n  <entity name=\"");
    out.push_str(ENTITY_LOGICAL_NAME);
    out.push_str("\">\n");
    for column in &query.select {
        out.push_str("    <attribute name=\"");
        out.push_str(&xml_escaped(&column.logical_name));
        out.push_str("\" />\n");
    }
    for key in &query.order_by {
        out.push_str("    <order attribute=\"");
        out.push_str(&xml_escaped(&key.column.logical_name));
        out.push_str(if key.descending {
            "\" descending=\"true\" />\n"
        } else {
            "\" descending=\"false\" />\n"
        });
    }
    if needs_tie_breaker(query) {
        out.push_str("    <order attribute=\"");
        out.push_str(PRIMARY_ID_ATTRIBUTE);
        out.push_str("\" descending=\"false\" />\n");
    }
    out.push_str("    <filter type=\"and\">\n      <condition attribute=\"");
    out.push_str(AGENT_ATTRIBUTE);
    out.push_str("\" operator=\"eq\" value=\"");
    push_guid(&mut out, &query.agent_id);
    out.push_str("\" />\n");
    match query.status.as_slice() {
        [] => {}
        [single] => {
            out.push_str("      <condition attribute=\"statuscode\" operator=\"eq\" value=\"");
            push_int(&mut out, *single);
            out.push_str("\" />\n");
        }
        many => {
            out.push_str("      <condition attribute=\"statuscode\" operator=\"in\">\n");
            for status in many {
                out.push_str("        <value>");
                push_int(&mut out, *status);
                out.push_str("</value>\n");
            }
            out.push_str("      </condition>\n");
        }
    }
    if let Some(created) = query.created_before_days {
        out.push_str(match created.reading {
            DaysReading::LastXDays => {
                "      <condition attribute=\"createdon\" operator=\"last-x-days\" value=\""
            }
            DaysReading::OlderThanXDays => {
                "      <condition attribute=\"createdon\" operator=\"olderthan-x-days\" value=\""
            }
        });
        push_int(&mut out, created.days);
        out.push_str("\" />\n");
    }
    out.push_str("    </filter>\n  </entity>\n</fetch>");
    (out, warning)
}

/// `text` with the five XML special characters escaped. Column names are restricted to
/// `[a-z0-9_]`, so escaping is defence in depth rather than a path any valid input takes.
fn xml_escaped(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\''))
    {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(ch),
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_uri_component_matches_javascript() {
        // Expected values are what node prints for encodeURIComponent(...).
        assert_eq!(
            encode_uri_component("a b,c+d#e&f=g/h%i'j(k)l*m!n~o.p_q-r"),
            "a%20b%2Cc%2Bd%23e%26f%3Dg%2Fh%25i'j(k)l*m!n~o.p_q-r"
        );
        assert_eq!(encode_uri_component("é€😀"), "%C3%A9%E2%82%AC%F0%9F%98%80");
        assert_eq!(encode_uri_component("$:;?@[]"), "%24%3A%3B%3F%40%5B%5D");
        // Every ASCII character: alphanumerics and `-_.!~*'()` as they are, the rest `%XX`.
        for byte in 0..=0x7F_u8 {
            let ch = char::from(byte);
            let expected = if ch.is_ascii_alphanumeric() || "-_.!~*'()".contains(ch) {
                ch.to_string()
            } else {
                format!("%{byte:02X}")
            };
            assert_eq!(encode_uri_component(&ch.to_string()), expected, "{byte}");
        }
    }

    #[test]
    fn xml_escaping_escapes_all_five() {
        assert_eq!(
            xml_escaped(r#"a&b<c>d"e'f"#),
            "a&amp;b&lt;c&gt;d&quot;e&apos;f"
        );
        assert!(matches!(
            xml_escaped("plain"),
            std::borrow::Cow::Borrowed("plain")
        ));
    }
}
