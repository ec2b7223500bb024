//! Renderers: [`Query`] → Web API query options, percent-encoded path, FetchXML.
//!
//! Dataverse's Web API is OData 4.0: nothing here emits the 4.01 `in` operator or `$skip`.

use std::fmt::Write as _;

use odata_params::bigdecimal::BigDecimal;
use odata_params::filters::{CompareOperator, Expr, Value as ODataValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::ast::Query;
use crate::catalog::{ENTITY_LOGICAL_NAME, ENTITY_SET_NAME};
use crate::options::StatusFilter;

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
    for (i, column) in query.select.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&column.property);
    }
    out
}

/// `$filter`: agent, then status, then days, joined with ` and `.
///
/// Written directly rather than through odata-params' printer, which allocates a tree per
/// comparison and nests a parenthesis per `or`: the joins here are flat
/// (`a and (b or c or d)`). The property tests check that this text parses (odata-params) to
/// exactly [`Query::standard_filter`], and that the crate's printing of that tree parses to
/// the same.
pub(crate) fn filter(query: &Query, style: StatusFilter) -> String {
    let mut out = String::with_capacity(96 + 24 * query.status.len());
    out.push_str(AGENT_PROPERTY);
    out.push_str(" eq ");
    out.push_str(
        query
            .agent_id
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer()),
    );
    match (query.status.as_slice(), style) {
        ([], _) => {}
        ([single], _) => {
            let _ = write!(out, " and statuscode eq {single}");
        }
        (many, StatusFilter::OrChain) => {
            out.push_str(" and (");
            for (i, s) in many.iter().enumerate() {
                if i > 0 {
                    out.push_str(" or ");
                }
                let _ = write!(out, "statuscode eq {s}");
            }
            out.push(')');
        }
        (many, StatusFilter::CrmIn) => {
            out.push_str(
                " and Microsoft.Dynamics.CRM.In(PropertyName='statuscode',PropertyValues=[",
            );
            for (i, s) in many.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "'{s}'");
            }
            out.push_str("])");
        }
    }
    if let Some(days) = query.created_within_days {
        let _ = write!(
            out,
            " and Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue={days})"
        );
    }
    out
}

pub(crate) fn orderby(query: &Query) -> Option<String> {
    if query.order_by.is_empty() {
        return None;
    }
    let mut out = String::new();
    for (i, key) in query.order_by.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&key.column.property);
        out.push_str(if key.descending { " desc" } else { " asc" });
    }
    Some(out)
}

/// The query options in order, as `(name, raw value)` pairs.
pub(crate) fn option_pairs<'a>(
    select: &'a str,
    filter: &'a str,
    orderby: Option<&'a str>,
    top: Option<&'a str>,
) -> impl Iterator<Item = (&'static str, &'a str)> + Clone {
    [
        Some(("$select", select)),
        Some(("$filter", filter)),
        orderby.map(|o| ("$orderby", o)),
        top.map(|t| ("$top", t)),
    ]
    .into_iter()
    .flatten()
}

/// `?$select=...&$filter=...`: the string `Xrm.WebApi.retrieveMultipleRecords` takes.
pub(crate) fn options_string<'a>(
    pairs: impl Iterator<Item = (&'static str, &'a str)> + Clone,
) -> String {
    join_pairs(String::new(), pairs, |v, out| out.push_str(v))
}

/// `/api/data/v9.2/msdyn_ocliveworkitems?$select=...`, each value percent-encoded.
pub(crate) fn request_path<'a>(
    pairs: impl Iterator<Item = (&'static str, &'a str)> + Clone,
) -> String {
    let mut out = String::from(API_PATH);
    out.push_str(ENTITY_SET_NAME);
    join_pairs(out, pairs, |v, out| {
        out.extend(utf8_percent_encode(v, URI_COMPONENT));
    })
}

fn join_pairs<'a>(
    mut out: String,
    pairs: impl Iterator<Item = (&'static str, &'a str)> + Clone,
    mut push_value: impl FnMut(&str, &mut String),
) -> String {
    // Percent-encoding at most triples a value; reserving that once avoids regrowing.
    out.reserve(pairs.clone().map(|(n, v)| n.len() + 2 + 3 * v.len()).sum());
    for (i, (name, value)) in pairs.enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(name);
        out.push('=');
        push_value(value, &mut out);
    }
    out
}

/// The equivalent FetchXML: plain logical names (no `_value`), `in` with `<value>` children,
/// `last-x-days`, and `top` on `<fetch>`. `useraworderby` makes choice columns sort by value,
/// as Web API does, instead of by label.
pub(crate) fn fetchxml(query: &Query) -> String {
    // Lines are pushed rather than `write!`ten where there can be hundreds of them.
    let names: usize = query.select.iter().map(|c| c.logical_name.len()).sum();
    let mut out = String::with_capacity(
        512 + names + 30 * query.select.len() + 64 * query.order_by.len() + 24 * query.status.len(),
    );
    out.push_str("<fetch");
    if let Some(top) = query.top {
        let _ = write!(out, " top=\"{top}\"");
    }
    if query
        .order_by
        .iter()
        .any(|k| k.column.column_type.is_some_and(|t| t.is_option_set()))
    {
        out.push_str(" useraworderby=\"true\"");
    }
    out.push_str(">\n  <entity name=\"");
    out.push_str(ENTITY_LOGICAL_NAME);
    out.push_str("\">\n");
    for column in &query.select {
        out.push_str("    <attribute name=\"");
        out.push_str(&xml_escape(&column.logical_name));
        out.push_str("\" />\n");
    }
    for key in &query.order_by {
        out.push_str("    <order attribute=\"");
        out.push_str(&xml_escape(&key.column.logical_name));
        out.push_str(if key.descending {
            "\" descending=\"true\" />\n"
        } else {
            "\" descending=\"false\" />\n"
        });
    }
    out.push_str("    <filter type=\"and\">\n");
    out.push_str("      <condition attribute=\"");
    out.push_str(AGENT_ATTRIBUTE);
    out.push_str("\" operator=\"eq\" value=\"");
    out.push_str(
        query
            .agent_id
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer()),
    );
    out.push_str("\" />\n");
    match query.status.as_slice() {
        [] => {}
        [single] => {
            let _ = writeln!(
                out,
                "      <condition attribute=\"statuscode\" operator=\"eq\" value=\"{single}\" />"
            );
        }
        many => {
            out.push_str("      <condition attribute=\"statuscode\" operator=\"in\">\n");
            for s in many {
                let _ = writeln!(out, "        <value>{s}</value>");
            }
            out.push_str("      </condition>\n");
        }
    }
    if let Some(days) = query.created_within_days {
        let _ = writeln!(
            out,
            "      <condition attribute=\"createdon\" operator=\"last-x-days\" value=\"{days}\" />"
        );
    }
    out.push_str("    </filter>\n  </entity>\n</fetch>");
    out
}

/// Escapes the five XML special characters. Column names are restricted to `[a-z0-9_]`, so this
/// is defence in depth rather than a path any valid input takes.
fn xml_escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\''))
    {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
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
    }

    #[test]
    fn xml_escape_escapes_all_five() {
        assert_eq!(
            xml_escape(r#"a&b<c>d"e'f"#),
            "a&amp;b&lt;c&gt;d&quot;e&apos;f"
        );
        assert!(matches!(xml_escape("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
