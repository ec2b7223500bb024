//! Change tracking: the conversation table kept in memory from Dataverse's delta feed, for live
//! lists under a held credential (`serve --stream-delta`).
//!
//! What Microsoft documents ("Use change tracking to synchronize data with external systems"):
//! a GET of the entity set with `Prefer: odata.track-changes` and no query option but
//! `$select` (`$filter`, `$orderby`, `$expand` and `$top` are not supported with it) answers
//! the whole table, paged with `@odata.nextLink`, and the last page carries
//! `@odata.deltaLink`. A GET of that link answers what changed since: new and changed records
//! as usual, deleted ones as `{"@odata.context": "...$deletedEntity", "id": "<guid>",
//! "reason": "deleted"}`, and a new `@odata.deltaLink`. The table must have change tracking
//! enabled, and delta tokens expire (7 days by default).
//!
//! What is inferred (Microsoft does not say what Dataverse answers): a table without change
//! tracking makes the first read fail with a 4xx other than 401/403/429, or answer without
//! `@odata.deltaLink`; either way the copy is "not available" and live lists poll as usual. An
//! expired or otherwise refused delta link also fails with such a 4xx (OData says 410 Gone):
//! the table is read again in full.
//!
//! Every request goes through the client's pacing gate of the held identity, like any other
//! call; one refresh runs at a time and callers during it share it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use convq_backend::{BackendError, BoxFuture, EmbeddedStore, RunContext, TableMirror};
use convq_core::Compiled;
use serde_json::Value;

use crate::coalesce::Shared;
use crate::dataverse::Read;

/// The entity set of conversations.
const TABLE_PATH: &str = "/api/data/v9.2/msdyn_ocliveworkitems";

/// What every query's filter reads, whatever it selects.
const FILTER_COLUMNS: [&str; 4] = [
    "activityid",
    "_msdyn_activeagentid_value",
    "statuscode",
    "createdon",
];

/// The conversation table, copied and kept current with Dataverse change tracking. A
/// [`TableMirror`]; for a held credential only (the feed is the whole table: the identity needs
/// organization-wide read, and one copy cannot be shared among callers with their own tokens).
#[derive(Debug)]
pub struct TrackedTable {
    shared: Shared,
    state: tokio::sync::Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The `$select` of the feed: every column the queries so far read.
    columns: BTreeSet<String>,
    /// By `activityid`.
    records: HashMap<String, Value>,
    delta_link: Option<String>,
    store: Option<Arc<EmbeddedStore>>,
    refreshed: Option<Instant>,
    /// The table does not track changes (or Dataverse ignored the preference): for good.
    unavailable: bool,
}

impl TrackedTable {
    /// A copy of `shared`'s organization's conversations, read on first use. Its requests go
    /// through `shared`'s client (the held credential, its pacing gate).
    #[must_use]
    pub fn new(shared: &Shared) -> Self {
        Self {
            shared: shared.clone(),
            state: tokio::sync::Mutex::default(),
        }
    }

    async fn refresh(
        &self,
        queries: &[Compiled],
        max_age: Duration,
    ) -> Result<Option<Arc<EmbeddedStore>>, BackendError> {
        let mut state = self.state.lock().await;
        if state.unavailable {
            return Ok(None);
        }
        let needed = columns_of(queries);
        if !needed.is_subset(&state.columns) {
            // A column the feed does not carry: a new feed with it.
            state.columns.extend(needed);
            state.delta_link = None;
        } else if let (Some(store), Some(at)) = (&state.store, state.refreshed)
            && at.elapsed() <= max_age
        {
            return Ok(Some(Arc::clone(store)));
        }
        let client = self.shared.client();
        let ctx = RunContext::at(SystemTime::now());
        let mut changed = false;
        if let Some(link) = state.delta_link.clone() {
            match client
                .fetch_url(client.link_url(&link)?, Read::Changes, &ctx)
                .await
            {
                Ok(fetched) => {
                    changed = apply_changes(&mut state.records, fetched.rows);
                    if fetched.delta_link.is_none() {
                        tracing::warn!(
                            "Dataverse answered a delta link without a new @odata.deltaLink; \
                             reading the conversation table again"
                        );
                    }
                    state.delta_link = fetched.delta_link;
                }
                Err(error) if refused(&error) => {
                    tracing::info!(
                        error = %error,
                        "Dataverse refused the delta link (expired?); reading the conversation \
                         table again"
                    );
                    state.delta_link = None;
                }
                Err(error) => return Err(error),
            }
        }
        if state.delta_link.is_none() {
            let select: Vec<&str> = state.columns.iter().map(String::as_str).collect();
            let url = client.url_of(&format!("{TABLE_PATH}?$select={}", select.join(",")))?;
            let fetched = match client.fetch_url(url, Read::Changes, &ctx).await {
                Ok(fetched) => fetched,
                Err(error) if refused(&error) => {
                    tracing::warn!(
                        error = %error,
                        "change tracking is not available for msdyn_ocliveworkitem (is Track \
                         changes enabled for the table?); live lists poll each query shape \
                         instead"
                    );
                    state.unavailable = true;
                    return Ok(None);
                }
                Err(error) => return Err(error),
            };
            let Some(link) = fetched.delta_link else {
                tracing::warn!(
                    "Dataverse answered the change-tracking read without @odata.deltaLink (is \
                     Track changes enabled for msdyn_ocliveworkitem?); live lists poll each \
                     query shape instead"
                );
                state.unavailable = true;
                return Ok(None);
            };
            state.records.clear();
            apply_changes(&mut state.records, fetched.rows);
            state.delta_link = Some(link);
            changed = true;
        }
        if changed || state.store.is_none() {
            let records: Vec<&Value> = state.records.values().collect();
            let bytes = serde_json::to_vec(&records).unwrap_or_default();
            let store = EmbeddedStore::from_bytes(&bytes).map_err(|e| {
                BackendError::DataverseBadResponse {
                    reason: format!("the change-tracked records do not load: {e}"),
                }
            })?;
            state.store = Some(Arc::new(store));
        }
        state.refreshed = Some(Instant::now());
        Ok(state.store.clone())
    }
}

impl TableMirror for TrackedTable {
    fn mirror<'a>(
        &'a self,
        queries: &'a [Compiled],
        max_age: Duration,
    ) -> BoxFuture<'a, Result<Option<Arc<EmbeddedStore>>, BackendError>> {
        Box::pin(self.refresh(queries, max_age))
    }
}

/// A 4xx answer other than 401/403/429 (those have their own errors): the request itself is
/// refused (no change tracking, an expired token).
fn refused(error: &BackendError) -> bool {
    matches!(
        error,
        BackendError::DataverseError {
            status: 400..=499,
            ..
        }
    )
}

/// The columns `queries` read (their Web API property names): selected, ordered by, filtered on.
fn columns_of(queries: &[Compiled]) -> BTreeSet<String> {
    let read = queries.iter().flat_map(|compiled| {
        let ordered = compiled.ast.order_by.iter().map(|key| &key.column);
        compiled.ast.select.iter().chain(ordered)
    });
    FILTER_COLUMNS
        .iter()
        .map(|&c| c.to_owned())
        .chain(read.map(|column| column.property.to_string()))
        .collect()
}

/// Applies a page of the feed: records replace theirs (by `activityid`), `$deletedEntity`
/// entries remove theirs. Whether anything was applied.
fn apply_changes(records: &mut HashMap<String, Value>, rows: Vec<Value>) -> bool {
    let mut changed = false;
    for row in rows {
        let deleted = row
            .get("@odata.context")
            .and_then(Value::as_str)
            .is_some_and(|c| c.ends_with("$deletedEntity"));
        if deleted {
            if let Some(id) = row.get("id").and_then(Value::as_str) {
                changed |= records.remove(&id.to_ascii_lowercase()).is_some();
            }
            continue;
        }
        if let Some(id) = row.get("activityid").and_then(Value::as_str) {
            records.insert(id.to_ascii_lowercase(), row);
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn deleted_entities_remove_and_records_replace() {
        let mut records = HashMap::new();
        let a = "6f0e1b8e-0000-4000-8000-000000000001";
        assert!(apply_changes(
            &mut records,
            vec![json!({"activityid": a, "statuscode": 1})]
        ));
        assert!(apply_changes(
            &mut records,
            vec![json!({"activityid": a.to_uppercase(), "statuscode": 2})]
        ));
        assert_eq!(records.len(), 1);
        assert_eq!(records[a]["statuscode"], 2);
        let deleted = json!({
            "@odata.context": "https://org/api/data/v9.2/$metadata#msdyn_ocliveworkitems/$deletedEntity",
            "id": a,
            "reason": "deleted",
        });
        assert!(apply_changes(&mut records, vec![deleted.clone()]));
        assert!(records.is_empty());
        assert!(!apply_changes(&mut records, vec![deleted]));
    }

    #[test]
    fn the_feed_selects_what_the_queries_read() {
        let compiled = convq_core::compile(
            r#"{"agentId":"6f0e1b8e-0000-4000-8000-000000000001","attributes":["msdyn_title"],
                "orderBy":[{"attributeName":"modifiedon","descending":true}]}"#,
            &convq_core::Options::default(),
        )
        .unwrap();
        let columns = columns_of(std::slice::from_ref(&compiled));
        for column in FILTER_COLUMNS.iter().chain(&["msdyn_title", "modifiedon"]) {
            assert!(columns.contains(*column), "{column}: {columns:?}");
        }
    }
}
