//! Renderers: [`Query`] → Web API query options, percent-encoded path, FetchXML.
//!
//! Dataverse's Web API is OData 4.0: nothing here emits the 4.01 `in` operator or `$skip`.

use odata_params::bigdecimal::BigDecimal;
use odata_params::filters::{CompareOperator, Expr, Value as ODataValue};

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
static UNRESERVED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            );
        b += 1;
    }
    table
};

/// Percent-encodes a query option value the way `encodeURIComponent` does.
#[must_use]
pub fn encode_uri_component(value: &str) -> String {
    let mut out = String::with_capacity(3 * value.len());
    push_uri_component(&mut out, value);
    out
}

/// Appends `value` percent-encoded as `encodeURIComponent` does: runs of unreserved bytes are
/// copied whole, every other byte (each byte of a non-ASCII character too) becomes `%XX`.
fn push_uri_component(out: &mut String, value: &str) {
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        // Eight bytes at a time while all are unreserved, then byte by byte.
        while bytes.get(i..i + 8).is_some_and(all_unreserved) {
            i += 8;
        }
        while i < bytes.len() && UNRESERVED[usize::from(bytes[i])] {
            i += 1;
        }
        // Unreserved bytes are ASCII, so both ends of the run are character boundaries.
        out.push_str(&value[start..i]);
        while i < bytes.len() && !UNRESERVED[usize::from(bytes[i])] {
            let at = 3 * usize::from(bytes[i]);
            out.push_str(&PERCENT_ENCODED[at..at + 3]);
            i += 1;
        }
    }
}

/// Whether every byte is unreserved, without a branch per byte.
fn all_unreserved(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(true, |all, &b| all & UNRESERVED[usize::from(b)])
}

/// `%00%01...%FF`: byte `b` percent-encoded is `PERCENT_ENCODED[3 * b..3 * b + 3]`.
static PERCENT_ENCODED: &str = {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    const BYTES: [u8; 768] = {
        let mut table = [0; 768];
        let mut b = 0;
        while b < 256 {
            table[3 * b] = b'%';
            table[3 * b + 1] = HEX[b >> 4];
            table[3 * b + 2] = HEX[b & 0xF];
            b += 1;
        }
        table
    };
    match std::str::from_utf8(&BYTES) {
        Ok(text) => text,
        Err(_) => panic!("ASCII is UTF-8"),
    }
};

/// Appends `n` in decimal: what `write!(out, "{n}")` does, for a fraction of its cost (the
/// renderers write up to 64 statuses twice, and each unknown status gets a warning).
pub(crate) fn push_decimal(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_unsigned(out, n.unsigned_abs());
}

/// [`push_decimal`] for an unsigned number.
pub(crate) fn push_unsigned(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = n;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.reserve(digits.len() - start);
    for &digit in &digits[start..] {
        out.push(char::from(digit));
    }
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
/// exactly [`Query::standard_filter`], and that it is the crate's printing of that tree
/// wherever that printing is flat too (at most two statuses).
pub(crate) fn filter(query: &Query, style: StatusFilter) -> String {
    filter_for_agents(query, std::slice::from_ref(&query.agent_id), style)
}

/// [`filter`] with `agents` in place of the query's own agent: one agent gives exactly
/// [`filter`]'s text, several give `(agent eq A or agent eq B) and ...` (OData 4.0 has no `in`).
pub(crate) fn filter_for_agents(
    query: &Query,
    agents: &[uuid::Uuid],
    style: StatusFilter,
) -> String {
    const DAYS: &str =
        " and Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=";
    let mut out = String::with_capacity(
        (AGENT_PROPERTY.len() + 8 + 36) * agents.len()
            + 80
            + 28 * query.status.len()
            + DAYS.len()
            + 6,
    );
    let several = agents.len() > 1;
    if several {
        out.push('(');
    }
    for (i, agent) in agents.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(AGENT_PROPERTY);
        out.push_str(" eq ");
        out.push_str(
            agent
                .hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()),
        );
    }
    if several {
        out.push(')');
    }
    match (query.status.as_slice(), style) {
        ([], _) => {}
        ([single], _) => {
            out.push_str(" and statuscode eq ");
            push_decimal(&mut out, i64::from(*single));
        }
        (many, StatusFilter::OrChain) => {
            out.push_str(" and (");
            for (i, s) in many.iter().enumerate() {
                out.push_str(if i == 0 {
                    "statuscode eq "
                } else {
                    " or statuscode eq "
                });
                push_decimal(&mut out, i64::from(*s));
            }
            out.push(')');
        }
        (many, StatusFilter::CrmIn) => {
            out.push_str(
                " and Microsoft.Dynamics.CRM.In(PropertyName='statuscode',PropertyValues=[",
            );
            for (i, s) in many.iter().enumerate() {
                out.push_str(if i == 0 { "'" } else { ",'" });
                push_decimal(&mut out, i64::from(*s));
                out.push('\'');
            }
            out.push_str("])");
        }
    }
    if let Some(days) = query.created_within_days {
        out.push_str(DAYS);
        push_decimal(&mut out, i64::from(days));
        out.push(')');
    }
    out
}

pub(crate) fn orderby(query: &Query) -> Option<String> {
    if query.order_by.is_empty() {
        return None;
    }
    let length: usize = query
        .order_by
        .iter()
        .map(|k| k.column.property.len() + 6)
        .sum();
    let mut out = String::with_capacity(length);
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
    let length = pairs.clone().map(|(n, v)| n.len() + 2 + v.len()).sum();
    join_pairs(String::with_capacity(length), pairs, String::push_str)
}

/// `/api/data/v9.2/msdyn_ocliveworkitems?$select=...`, each value percent-encoded.
pub(crate) fn request_path<'a>(
    pairs: impl Iterator<Item = (&'static str, &'a str)> + Clone,
) -> String {
    // Percent-encoding at most triples a value; reserving that once avoids regrowing.
    let length = pairs
        .clone()
        .map(|(n, v)| n.len() + 2 + 3 * v.len())
        .sum::<usize>();
    let mut out = String::with_capacity(API_PATH.len() + ENTITY_SET_NAME.len() + length);
    out.push_str(API_PATH);
    out.push_str(ENTITY_SET_NAME);
    join_pairs(out, pairs, push_uri_component)
}

fn join_pairs<'a>(
    mut out: String,
    pairs: impl Iterator<Item = (&'static str, &'a str)>,
    push_value: impl Fn(&mut String, &str),
) -> String {
    for (i, (name, value)) in pairs.enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(name);
        out.push('=');
        push_value(&mut out, value);
    }
    out
}

/// The equivalent FetchXML: plain logical names (no `_value`), `in` with `<value>` children,
/// `last-x-days`, and `top` on `<fetch>`. `useraworderby` makes choice columns sort by value,
/// as Web API does, instead of by label.
pub(crate) fn fetchxml(query: &Query) -> String {
    const ATTRIBUTE: [&str; 2] = ["    <attribute name=\"", "\" />\n"];
    const ORDER: &str = "    <order attribute=\"";
    const DESCENDING: [&str; 2] = [
        "\" descending=\"false\" />\n",
        "\" descending=\"true\" />\n",
    ];
    const VALUE: [&str; 2] = ["        <value>", "</value>\n"];
    let names: usize = query.select.iter().map(|c| c.logical_name.len()).sum();
    let order_names: usize = query
        .order_by
        .iter()
        .map(|k| k.column.logical_name.len())
        .sum();
    let mut out = String::with_capacity(
        512 + names
            + (ATTRIBUTE[0].len() + ATTRIBUTE[1].len()) * query.select.len()
            + order_names
            + (ORDER.len() + DESCENDING[0].len()) * query.order_by.len()
            + (VALUE[0].len() + 11 + VALUE[1].len()) * query.status.len(),
    );
    out.push_str("<fetch");
    if let Some(top) = query.top {
        out.push_str(" top=\"");
        push_decimal(&mut out, i64::from(top));
        out.push('"');
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
        out.push_str(ATTRIBUTE[0]);
        push_xml_escaped(&mut out, &column.logical_name);
        out.push_str(ATTRIBUTE[1]);
    }
    for key in &query.order_by {
        out.push_str(ORDER);
        push_xml_escaped(&mut out, &key.column.logical_name);
        out.push_str(DESCENDING[usize::from(key.descending)]);
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
            out.push_str("      <condition attribute=\"statuscode\" operator=\"eq\" value=\"");
            push_decimal(&mut out, i64::from(*single));
            out.push_str("\" />\n");
        }
        many => {
            out.push_str("      <condition attribute=\"statuscode\" operator=\"in\">\n");
            for s in many {
                out.push_str(VALUE[0]);
                push_decimal(&mut out, i64::from(*s));
                out.push_str(VALUE[1]);
            }
            out.push_str("      </condition>\n");
        }
    }
    if let Some(days) = query.created_within_days {
        out.push_str("      <condition attribute=\"createdon\" operator=\"last-x-days\" value=\"");
        push_decimal(&mut out, i64::from(days));
        out.push_str("\" />\n");
    }
    out.push_str("    </filter>\n  </entity>\n</fetch>");
    out
}

/// Appends `text` with the five XML special characters escaped. Column names are restricted
/// to `[a-z0-9_]`, so escaping is defence in depth rather than a path any valid input takes.
fn push_xml_escaped(out: &mut String, text: &str) {
    static SPECIAL: [bool; 256] = {
        let mut table = [false; 256];
        table[b'&' as usize] = true;
        table[b'<' as usize] = true;
        table[b'>' as usize] = true;
        table[b'"' as usize] = true;
        table[b'\'' as usize] = true;
        table
    };
    // The usual case, nothing to escape, without a branch per byte.
    if !text
        .bytes()
        .fold(false, |any, b| any | SPECIAL[usize::from(b)])
    {
        out.push_str(text);
        return;
    }
    let mut rest = text;
    while let Some(i) = rest.bytes().position(|b| SPECIAL[usize::from(b)]) {
        // The special characters are ASCII: `i` and `i + 1` are character boundaries.
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&apos;",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
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

    /// Every ASCII character and some others, against the percent-encoding crate with the
    /// same set.
    #[test]
    fn encode_uri_component_agrees_with_percent_encoding() {
        use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
        const SET: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'_')
            .remove(b'.')
            .remove(b'!')
            .remove(b'~')
            .remove(b'*')
            .remove(b'\'')
            .remove(b'(')
            .remove(b')');
        let mut text: String = (0..=0x7F_u8).map(char::from).collect();
        text.push_str("é€😀\u{7FF}\u{FFFF}ab%");
        for start in 0..text.len() {
            if text.is_char_boundary(start) {
                let value = &text[start..];
                assert_eq!(
                    encode_uri_component(value),
                    utf8_percent_encode(value, SET).to_string()
                );
            }
        }
    }

    #[test]
    fn xml_escaping_escapes_all_five() {
        let mut out = String::from("x");
        push_xml_escaped(&mut out, r#"a&b<c>d"e'f"#);
        push_xml_escaped(&mut out, "plain");
        assert_eq!(out, "xa&amp;b&lt;c&gt;d&quot;e&apos;fplain");
    }

    #[test]
    fn decimals_match_display() {
        for n in [0, 7, 10, 2_147_483_647, -1, i64::MIN, i64::MAX] {
            let mut out = String::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string());
        }
        let mut out = String::new();
        push_unsigned(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string());
    }
}
