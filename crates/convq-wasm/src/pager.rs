//! Running a compiled query through `retrieveMultipleRecords`, page by page: the decisions, with
//! no JS in them. The wasm export only calls the function, awaits it, and feeds the result here.
//!
//! `Xrm.WebApi.retrieveMultipleRecords(entityLogicalName, options)` resolves with
//! `{entities: [...], nextLink?: string}`. Its documentation says to fetch the next page by
//! passing "the query part in the nextLink value" as the options, unmodified: the `$skiptoken`
//! in it is opaque and already encoded.

use convq_core::{Compiled, Envelope};
use serde::Deserialize;

use crate::error::AdapterError;

/// `retrieveMultipleRecords` takes the table's logical name, not its entity set name
/// (`msdyn_ocliveworkitems`).
pub const ENTITY_LOGICAL_NAME: &str = "msdyn_ocliveworkitem";

/// One resolved `retrieveMultipleRecords` call.
#[derive(Debug, Deserialize)]
struct Page {
    entities: Vec<serde_json::Value>,
    #[serde(default, rename = "nextLink")]
    next_link: Option<String>,
}

/// What to do after a page.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Call `retrieveMultipleRecords(ENTITY_LOGICAL_NAME, options)` with these options.
    Fetch(String),
    /// Resolve with this envelope.
    Done(Envelope),
}

/// Collects pages until `top` rows or the last page.
#[derive(Debug)]
pub struct Pager {
    top: Option<usize>,
    values: Vec<serde_json::Value>,
    last_request: String,
}

impl Pager {
    /// Starts a run of the compiled query; the first call's options are its Xrm options string.
    #[must_use]
    pub fn start(compiled: &Compiled) -> (Self, Step) {
        let first = compiled.options.clone();
        let pager = Self {
            top: compiled.top.map(|top| top as usize),
            values: Vec::new(),
            last_request: first.clone(),
        };
        (pager, Step::Fetch(first))
    }

    /// Rows still wanted before `top` is reached; `None` without `top` (every page is wanted).
    #[must_use]
    pub fn remaining(&self) -> Option<usize> {
        self.top.map(|top| top.saturating_sub(self.values.len()))
    }

    /// Takes one page, as the JSON text of the resolved value; `None` when the function resolved
    /// with `undefined` (which `JSON.stringify` cannot write).
    ///
    /// # Errors
    /// [`AdapterError::InvalidWebApiResponse`] when the value is not `{entities: [...],
    /// nextLink?}`, or its nextLink has no query or repeats the previous request (following it
    /// would never end).
    pub fn accept(&mut self, page: Option<&str>) -> Result<Step, AdapterError> {
        let invalid = |reason: String| AdapterError::InvalidWebApiResponse { reason };
        let page = page.ok_or_else(|| invalid("it resolved with undefined".to_owned()))?;
        let page: Page = serde_json::from_str(page).map_err(|e| {
            invalid(format!(
                "expected {{entities: [...], nextLink?: string}} ({})",
                convq_core::json_error_message(&e)
            ))
        })?;

        let mut entities = page.entities;
        if let Some(remaining) = self.remaining() {
            entities.truncate(remaining);
        }
        self.values.extend(entities);

        let next = match page.next_link {
            Some(link) if self.remaining() != Some(0) => link,
            _ => return Ok(Step::Done(self.finish())),
        };
        let query = next_options(&next)
            .ok_or_else(|| invalid(format!("its nextLink has no query part: {next:?}")))?;
        if query == self.last_request {
            return Err(invalid(format!(
                "its nextLink repeats the previous request: {next:?}"
            )));
        }
        query.clone_into(&mut self.last_request);
        Ok(Step::Fetch(self.last_request.clone()))
    }

    fn finish(&mut self) -> Envelope {
        Envelope::success(std::mem::take(&mut self.values))
    }
}

/// The options argument for the page a nextLink points at: its query part, `?` included,
/// unmodified.
#[must_use]
pub fn next_options(next_link: &str) -> Option<&str> {
    let query = &next_link[next_link.find('?')?..];
    // A fragment is never sent to the server; a nextLink has none, but do not forward one.
    let query = query.split('#').next().unwrap_or(query);
    (query.len() > 1).then_some(query)
}

#[cfg(test)]
mod tests {
    use convq_core::Options;
    use serde_json::json;

    use super::*;

    const AGENT: &str = "2b330c52-6844-4d36-8e05-03c78c9681dc";
    const NEXT: &str = "https://contoso.crm.dynamics.com/api/data/v9.2/msdyn_ocliveworkitems?$select=statuscode&$skiptoken=%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253ccookie%2520page%253d%25221%2522%253e%22%20/%3E";

    fn compiled(input: serde_json::Value) -> Compiled {
        convq_core::compile(&input.to_string(), &Options::default()).unwrap()
    }

    fn page(ids: std::ops::Range<u32>, next: Option<&str>) -> String {
        let entities: Vec<_> = ids.map(|i| json!({ "activityid": i })).collect();
        match next {
            Some(link) => json!({ "entities": entities, "nextLink": link }),
            None => json!({ "entities": entities }),
        }
        .to_string()
    }

    fn ids(envelope: &Envelope) -> Vec<u64> {
        let Envelope::Success { result, status } = envelope else {
            panic!("{envelope:?}")
        };
        assert!(status);
        result
            .values
            .iter()
            .map(|v| v["activityid"].as_u64().unwrap())
            .collect()
    }

    #[test]
    fn first_request_is_the_xrm_options_string() {
        let compiled = compiled(json!({ "agentId": AGENT, "status": [3] }));
        let (_, step) = Pager::start(&compiled);
        assert_eq!(step, Step::Fetch(compiled.options.clone()));
        assert!(compiled.options.starts_with("?$select="));
    }

    #[test]
    fn follows_next_links_to_the_last_page_without_top() {
        let (mut pager, _) = Pager::start(&compiled(json!({ "agentId": AGENT })));
        assert_eq!(pager.remaining(), None);
        let step = pager.accept(Some(&page(0..3, Some(NEXT)))).unwrap();
        let Step::Fetch(options) = step else {
            panic!("{step:?}")
        };
        // The query part, byte for byte: the skiptoken's double encoding survives.
        assert_eq!(options, &NEXT[NEXT.find('?').unwrap()..]);
        assert!(options.contains("%253ccookie"));
        let Step::Done(envelope) = pager.accept(Some(&page(3..5, None))).unwrap() else {
            panic!()
        };
        assert_eq!(ids(&envelope), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn stops_at_top_and_truncates_the_last_page() {
        let (mut pager, _) = Pager::start(&compiled(json!({ "agentId": AGENT, "top": 4 })));
        assert_eq!(pager.remaining(), Some(4));
        assert!(matches!(
            pager.accept(Some(&page(0..3, Some(NEXT)))).unwrap(),
            Step::Fetch(_)
        ));
        assert_eq!(pager.remaining(), Some(1));
        // More rows and another nextLink, but top is reached: no third call.
        let step = pager
            .accept(Some(&page(3..6, Some("https://x/y?$skiptoken=3"))))
            .unwrap();
        let Step::Done(envelope) = step else {
            panic!("{step:?}")
        };
        assert_eq!(ids(&envelope), [0, 1, 2, 3]);
    }

    #[test]
    fn a_full_first_page_at_top_needs_no_second_call() {
        let (mut pager, _) = Pager::start(&compiled(json!({ "agentId": AGENT, "top": 2 })));
        let step = pager.accept(Some(&page(0..2, Some(NEXT)))).unwrap();
        assert!(matches!(step, Step::Done(_)), "{step:?}");
    }

    #[test]
    fn records_pass_through_unchanged() {
        let (mut pager, _) = Pager::start(&compiled(json!({ "agentId": AGENT })));
        let record = json!({
            "@odata.etag": "W/\"123\"",
            "_msdyn_liveworkstreamid_value": "a3f0e1b2-0000-0000-0000-000000000001",
            "_msdyn_liveworkstreamid_value@OData.Community.Display.V1.FormattedValue": "Chat",
            "statuscode": 3,
            "msdyn_title": "Ünïcødé ' \" & #",
            "createdon": "2024-05-01T10:00:00Z"
        });
        let text = json!({ "entities": [record.clone()] }).to_string();
        let Step::Done(envelope) = pager.accept(Some(&text)).unwrap() else {
            panic!()
        };
        assert_eq!(envelope, Envelope::success(vec![record]));
    }

    #[test]
    fn malformed_pages_are_errors() {
        let cases: [(Option<&str>, &str); 5] = [
            (None, "undefined"),
            (Some("{}"), "missing field `entities`"),
            (Some(r#"{"entities": {}}"#), "invalid type: map"),
            (
                Some(r#"{"entities": [], "nextLink": "https://x/y"}"#),
                "no query part",
            ),
            (
                Some(r#"{"entities": [], "nextLink": "https://x/y?"}"#),
                "no query part",
            ),
        ];
        for (text, expected) in cases {
            let (mut pager, _) = Pager::start(&compiled(json!({ "agentId": AGENT })));
            let err = pager.accept(text).unwrap_err();
            assert_eq!(err.code(), "invalid_web_api_response");
            assert!(err.to_string().contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_next_link_that_repeats_the_request_is_an_error_not_a_loop() {
        let (mut pager, _) = Pager::start(&compiled(json!({ "agentId": AGENT })));
        pager.accept(Some(&page(0..1, Some(NEXT)))).unwrap();
        let err = pager.accept(Some(&page(1..2, Some(NEXT)))).unwrap_err();
        assert!(err.to_string().contains("repeats"), "{err}");
    }

    #[test]
    fn next_options_is_the_query_part() {
        assert_eq!(next_options("https://h/p?$a=1&$b=2"), Some("?$a=1&$b=2"));
        assert_eq!(next_options("/p?$skiptoken=x#frag"), Some("?$skiptoken=x"));
        assert_eq!(next_options("https://h/p"), None);
        assert_eq!(next_options("https://h/p?#x"), None);
    }
}
