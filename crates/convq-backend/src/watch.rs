//! Live lists: what changed in one agent's getConversations answer between two polls, as
//! `added` / `changed` / `removed` events with ids, and the recent events kept so that a
//! subscriber that reconnects with the last id it saw gets only what it missed.
//!
//! Pure: no clock, no I/O. Whoever polls (the HTTP service's `/getConversations/stream`,
//! `convq get --watch`) hands each new answer to [`Feed::apply`] and sends the events it returns.
//!
//! A record is named by `activityid` (every answer has it). It has changed when its
//! `@odata.etag` differs, or, when the answer carries no etag (the embedded store, a query that
//! does not ask for it), when any of its values differ.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::Value;

/// The property that names a record in an answer.
pub const ID_PROPERTY: &str = "activityid";
/// The property whose change means the record changed, when the answer has it.
pub const ETAG_PROPERTY: &str = "@odata.etag";

/// What an event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The whole list (the first event of a subscription, and after a reconnect that cannot
    /// be resumed).
    Snapshot,
    /// A record appeared in the list.
    Added,
    /// A record of the list changed (etag or values), or moved.
    Changed,
    /// A record left the list.
    Removed,
}

impl EventKind {
    /// The SSE event name (`snapshot`, `added`, `changed`, `removed`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Snapshot => "snapshot",
            Self::Added => "added",
            Self::Changed => "changed",
            Self::Removed => "removed",
        }
    }
}

/// One event of a feed: its id, its kind and its JSON text (shared by every subscriber).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    /// `<epoch>-<sequence>`: what a subscriber sends back as `Last-Event-ID`.
    pub id: String,
    /// What it says.
    pub kind: EventKind,
    /// The JSON text: `{"agentId","values"}` for a snapshot, `{"agentId","id","position",
    /// "record"}` for added and changed (`position`: 0-based index in the new list),
    /// `{"agentId","id"}` for removed.
    pub data: Arc<str>,
}

/// One difference between two answers of the same query.
#[derive(Debug, Clone, PartialEq)]
pub struct Change<'a> {
    /// Added or changed.
    pub kind: EventKind,
    /// The record's `activityid`.
    pub id: &'a str,
    /// Its index in the new answer.
    pub position: usize,
    /// The record as the new answer has it.
    pub record: &'a Value,
}

fn record_id(record: &Value) -> Option<&str> {
    record.get(ID_PROPERTY).and_then(Value::as_str)
}

/// Whether `new` is a different version of `old` (same id).
fn differs(old: &Value, new: &Value) -> bool {
    match (old.get(ETAG_PROPERTY), new.get(ETAG_PROPERTY)) {
        (Some(a), Some(b)) => a != b,
        _ => old != new,
    }
}

/// The additions and changes from `old` to `new`, in `new`'s order (removals:
/// [`removed_ids`]). A record that kept its version but moved (the order of the list changed
/// around it) is `changed` too, so a client placing records by `position` stays right. Records
/// without an `activityid` are ignored.
#[must_use]
pub fn diff<'a>(old: &[Value], new: &'a [Value]) -> Vec<Change<'a>> {
    let before: HashMap<&str, &Value> = old
        .iter()
        .filter_map(|r| record_id(r).map(|id| (id, r)))
        .collect();
    let after: HashSet<&str> = new.iter().filter_map(record_id).collect();
    // The survivors in old order and in new order: where they differ, records moved.
    let survivors = old
        .iter()
        .filter_map(record_id)
        .filter(|id| after.contains(id));
    let kept = new
        .iter()
        .filter_map(record_id)
        .filter(|id| before.contains_key(id));
    let moved: HashSet<&str> = survivors
        .zip(kept)
        .filter(|(a, b)| a != b)
        .flat_map(|(a, b)| [a, b])
        .collect();
    let mut out = Vec::new();
    for (position, record) in new.iter().enumerate() {
        let Some(id) = record_id(record) else {
            continue;
        };
        let kind = match before.get(id) {
            None => EventKind::Added,
            Some(previous) if differs(previous, record) || moved.contains(id) => EventKind::Changed,
            Some(_) => continue,
        };
        out.push(Change {
            kind,
            id,
            position,
            record,
        });
    }
    out
}

/// The ids of `old`'s records that `new` no longer has, in `old`'s order.
#[must_use]
pub fn removed_ids<'a>(old: &'a [Value], new: &[Value]) -> Vec<&'a str> {
    let after: HashSet<&str> = new.iter().filter_map(record_id).collect();
    old.iter()
        .filter_map(record_id)
        .filter(|id| !after.contains(id))
        .collect()
}

/// Where a reconnecting subscriber starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// The events after the id it gave, all still kept (maybe none).
    Replay(Vec<WatchEvent>),
    /// The id is not this feed's or too old: the whole list again.
    Snapshot,
}

/// One agent's live list under one query: the last answer, a sequence of events, and the
/// most recent events for resuming.
#[derive(Debug)]
pub struct Feed {
    agent: String,
    epoch: u64,
    sequence: u64,
    rows: Option<Vec<Value>>,
    log: VecDeque<(u64, WatchEvent)>,
    keep: usize,
}

impl Feed {
    /// A feed of `agent`'s list. `epoch` tells this feed's ids from any earlier feed's (the
    /// adapter picks it, e.g. from the clock); `keep` is how many events are kept for resuming.
    #[must_use]
    pub fn new(agent: impl Into<String>, epoch: u64, keep: usize) -> Self {
        Self {
            agent: agent.into(),
            epoch,
            sequence: 0,
            rows: None,
            log: VecDeque::with_capacity(keep.min(1024)),
            keep,
        }
    }

    /// Whether an answer has been applied yet (a snapshot can be sent).
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.rows.is_some()
    }

    /// The id of the latest event (or of the first answer): where a snapshot sent now stands.
    #[must_use]
    pub fn last_id(&self) -> String {
        format!("{}-{}", self.epoch, self.sequence)
    }

    /// The whole list as a snapshot event (with [`last_id`](Self::last_id)); `None` before the
    /// first answer.
    #[must_use]
    pub fn snapshot(&self) -> Option<WatchEvent> {
        let rows = self.rows.as_ref()?;
        let data = serde_json::json!({ "agentId": self.agent, "values": rows });
        Some(WatchEvent {
            id: self.last_id(),
            kind: EventKind::Snapshot,
            data: data.to_string().into(),
        })
    }

    /// Takes a new answer; the events from the previous one (none for the first answer, which
    /// subscribers get as a snapshot).
    pub fn apply(&mut self, rows: Vec<Value>) -> Vec<WatchEvent> {
        let Some(old) = self.rows.take() else {
            self.rows = Some(rows);
            return Vec::new();
        };
        let mut events = Vec::new();
        for id in removed_ids(&old, &rows) {
            let data = serde_json::json!({ "agentId": self.agent, "id": id });
            events.push(self.next(EventKind::Removed, data));
        }
        for change in diff(&old, &rows) {
            let data = serde_json::json!({
                "agentId": self.agent,
                "id": change.id,
                "position": change.position,
                "record": change.record,
            });
            events.push(self.next(change.kind, data));
        }
        self.rows = Some(rows);
        events
    }

    fn next(&mut self, kind: EventKind, data: Value) -> WatchEvent {
        self.sequence += 1;
        let event = WatchEvent {
            id: self.last_id(),
            kind,
            data: data.to_string().into(),
        };
        if self.keep > 0 {
            if self.log.len() == self.keep {
                self.log.pop_front();
            }
            self.log.push_back((self.sequence, event.clone()));
        }
        event
    }

    /// What a subscriber that last saw `last_event_id` needs: the events after it when they
    /// are all kept, else a snapshot.
    #[must_use]
    pub fn resume(&self, last_event_id: &str) -> Resume {
        let Some((epoch, sequence)) = last_event_id
            .split_once('-')
            .and_then(|(e, s)| Some((e.parse::<u64>().ok()?, s.parse::<u64>().ok()?)))
        else {
            return Resume::Snapshot;
        };
        if epoch != self.epoch || sequence > self.sequence || !self.is_ready() {
            return Resume::Snapshot;
        }
        // Every event after `sequence` must still be in the log.
        let oldest_kept = self.log.front().map_or(self.sequence + 1, |(s, _)| *s);
        if sequence + 1 < oldest_kept {
            return Resume::Snapshot;
        }
        Resume::Replay(
            self.log
                .iter()
                .filter(|(s, _)| *s > sequence)
                .map(|(_, e)| e.clone())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn row(id: &str, title: &str) -> Value {
        json!({"activityid": id, "msdyn_title": title})
    }

    fn kinds(events: &[WatchEvent]) -> Vec<(&'static str, String)> {
        events
            .iter()
            .map(|e| {
                let data: Value = serde_json::from_str(&e.data).unwrap();
                (e.kind.as_str(), data["id"].as_str().unwrap().to_owned())
            })
            .collect()
    }

    #[test]
    fn added_changed_removed_and_moves() {
        let mut feed = Feed::new("agent", 7, 8);
        assert!(feed.snapshot().is_none());
        assert!(
            feed.apply(vec![row("a", "1"), row("b", "1"), row("c", "1")])
                .is_empty()
        );
        assert_eq!(feed.snapshot().unwrap().id, "7-0");
        let events = feed.apply(vec![row("a", "2"), row("c", "1"), row("d", "1")]);
        assert_eq!(
            kinds(&events),
            [
                ("removed", "b".to_owned()),
                ("changed", "a".to_owned()),
                ("added", "d".to_owned())
            ]
        );
        assert_eq!(events.last().unwrap().id, "7-3");
        // c and a swap: both moved.
        let events = feed.apply(vec![row("c", "1"), row("a", "2"), row("d", "1")]);
        assert_eq!(
            kinds(&events),
            [("changed", "c".to_owned()), ("changed", "a".to_owned())]
        );
        assert!(
            feed.apply(vec![row("c", "1"), row("a", "2"), row("d", "1")])
                .is_empty()
        );
    }

    #[test]
    fn etags_decide_when_present() {
        let a1 = json!({"activityid": "a", "@odata.etag": "W/\"1\"", "x": 1});
        let a1_other = json!({"activityid": "a", "@odata.etag": "W/\"1\"", "x": 2});
        let a2 = json!({"activityid": "a", "@odata.etag": "W/\"2\"", "x": 1});
        assert!(diff(std::slice::from_ref(&a1), std::slice::from_ref(&a1_other)).is_empty());
        assert_eq!(diff(&[a1], &[a2])[0].kind, EventKind::Changed);
    }

    #[test]
    fn resume_replays_what_was_missed_or_asks_for_a_snapshot() {
        let mut feed = Feed::new("agent", 3, 2);
        feed.apply(vec![row("a", "1")]);
        let first = feed.apply(vec![row("a", "2")]);
        let second = feed.apply(vec![row("a", "3")]);
        assert_eq!(feed.resume("3-2"), Resume::Replay(Vec::new()));
        assert_eq!(feed.resume("3-1"), Resume::Replay(second.clone()));
        assert_eq!(feed.resume("3-0"), Resume::Replay([first, second].concat()));
        feed.apply(vec![row("a", "4")]);
        // Event 1 is no longer kept.
        assert_eq!(feed.resume("3-0"), Resume::Snapshot);
        assert_eq!(feed.resume("4-1"), Resume::Snapshot);
        assert_eq!(feed.resume("3-9"), Resume::Snapshot);
        assert_eq!(feed.resume("junk"), Resume::Snapshot);
    }
}
