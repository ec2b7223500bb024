//! Live lists for `watchConversations`: the stream's URL, the Server-Sent Events wire format read
//! from a byte stream (where there is no `EventSource`, as in Node 20), and the current list of
//! each agent kept from the events. The wasm exports wire these to `EventSource` or to `fetch`;
//! everything here is host-tested.
//!
//! The events are those of `GET /getConversations/stream` (docs/live-lists.md): `snapshot`,
//! `added`, `changed`, `removed` (with ids `<epoch>-<seq>`), `failed` and `dropped` (without).

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The route, after the service URL.
pub const STREAM_PATH: &str = "/getConversations/stream";

/// The property that names a record (as `convq_backend::watch::ID_PROPERTY`).
const ID_PROPERTY: &str = "activityid";

/// The event names of the stream, in the order of the docs' table.
pub const EVENT_NAMES: [&str; 6] = [
    "snapshot", "added", "changed", "removed", "failed", "dropped",
];

/// Events whose `id` is the list's position in its feed; `failed` and `dropped` have none.
const EVENTS_WITH_IDS: [&str; 4] = ["snapshot", "added", "changed", "removed"];

/// `<service URL>/getConversations/stream?input=<input JSON, percent-encoded>`: the GET a
/// browser's `EventSource` can send. A trailing `/` of the service URL is dropped.
#[must_use]
pub fn stream_url(service_url: &str, input_json: &str) -> String {
    format!(
        "{}{STREAM_PATH}?input={}",
        service_url.trim_end_matches('/'),
        convq_core::encode_uri_component(input_json.trim())
    )
}

/// One event as the SSE format delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (`message` without one).
    pub name: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The last `id:` seen on the stream so far (what a reconnect sends as `Last-Event-ID`).
    pub last_event_id: String,
}

/// The event stream format of the HTML standard ("Parsing an event stream"), fed text as it
/// arrives: lines end with CRLF, LF or CR; `:` starts a comment (the server's heartbeats);
/// `event`, `data`, `id` and `retry` are the fields; a blank line dispatches. Used by the
/// `fetch` transport; `EventSource` parses by itself.
#[derive(Debug, Default)]
pub struct SseParser {
    buffer: String,
    started: bool,
    name: String,
    data: String,
    has_data: bool,
    last_event_id: String,
    retry: Option<u32>,
}

impl SseParser {
    /// A parser that resumes after `last_event_id` (empty: none yet).
    #[must_use]
    pub fn new(last_event_id: &str) -> Self {
        Self {
            last_event_id: last_event_id.to_owned(),
            ..Self::default()
        }
    }

    /// Takes the next piece of the stream; the events it completes.
    pub fn feed(&mut self, text: &str) -> Vec<SseEvent> {
        self.buffer.push_str(text);
        if !self.started && !self.buffer.is_empty() {
            self.started = true;
            if let Some(rest) = self.buffer.strip_prefix('\u{feff}') {
                self.buffer = rest.to_owned();
            }
        }
        let mut events = Vec::new();
        let mut consumed = 0;
        while let Some(offset) = self.buffer[consumed..].find(['\r', '\n']) {
            let end = consumed + offset;
            let next = match self.buffer.as_bytes()[end] {
                b'\r' if end + 1 == self.buffer.len() => break, // CR of a CRLF split by the network
                b'\r' if self.buffer.as_bytes()[end + 1] == b'\n' => end + 2,
                _ => end + 1,
            };
            let line = self.buffer[consumed..end].to_owned();
            consumed = next;
            if let Some(event) = self.line(&line) {
                events.push(event);
            }
        }
        self.buffer.drain(..consumed);
        events
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.name),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "id" if !value.contains('\0') => value.clone_into(&mut self.last_event_id),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok();
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let name = std::mem::take(&mut self.name);
        let mut data = std::mem::take(&mut self.data);
        if !std::mem::take(&mut self.has_data) {
            return None;
        }
        data.pop(); // the last data line's "\n"
        Some(SseEvent {
            name: if name.is_empty() {
                "message".to_owned()
            } else {
                name
            },
            data,
            last_event_id: self.last_event_id.clone(),
        })
    }

    /// The last `id:` seen: what a reconnect sends as `Last-Event-ID`.
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The reconnection time the server asked for (`retry:`, milliseconds), if it did.
    #[must_use]
    pub fn retry(&self) -> Option<u32> {
        self.retry
    }
}

/// What one received event means for the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The event as `convq get --watch` prints it: `{"event", "id"?, "data"}` (`id` on all but
    /// `failed` and `dropped`).
    pub event: Value,
    /// The agent whose list the event changed, and that list now.
    pub list: Option<(String, Vec<Value>)>,
}

/// Each agent's current list, kept from the events: a `snapshot` replaces it, `removed` takes a
/// record out, `added` and `changed` put the record at its `position` (the server sends them in
/// list order, so the positions are those of the new list).
#[derive(Debug, Default)]
pub struct Lists {
    lists: BTreeMap<String, Vec<Value>>,
}

impl Lists {
    /// Reads one event of the stream; `None` for a name that is not one of [`EVENT_NAMES`] or
    /// data that is not a JSON object (neither comes from convq).
    pub fn receive(&mut self, name: &str, data: &str, last_event_id: &str) -> Option<Delivery> {
        if !EVENT_NAMES.contains(&name) {
            return None;
        }
        let data: Value = serde_json::from_str(data).ok().filter(Value::is_object)?;
        let agent = data
            .get("agentId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let changed = match (name, &agent) {
            ("snapshot", Some(agent)) => {
                let values = data.get("values").and_then(Value::as_array).cloned();
                self.lists.insert(agent.clone(), values.unwrap_or_default());
                true
            }
            ("removed", Some(agent)) => {
                let list = self.lists.entry(agent.clone()).or_default();
                take(list, data.get("id"));
                true
            }
            ("added" | "changed", Some(agent)) => {
                let list = self.lists.entry(agent.clone()).or_default();
                take(list, data.get("id"));
                let position = data
                    .get("position")
                    .and_then(Value::as_u64)
                    .and_then(|p| usize::try_from(p).ok())
                    .unwrap_or(list.len())
                    .min(list.len());
                list.insert(position, data.get("record").cloned().unwrap_or(Value::Null));
                true
            }
            _ => false,
        };
        let event = if EVENTS_WITH_IDS.contains(&name) {
            json!({ "event": name, "id": last_event_id, "data": data })
        } else {
            json!({ "event": name, "data": data })
        };
        let list = agent
            .filter(|_| changed)
            .and_then(|agent| Some((agent.clone(), self.lists.get(&agent)?.clone())));
        Some(Delivery { event, list })
    }

    /// An agent's current list (empty before its snapshot).
    #[must_use]
    pub fn list(&self, agent_id: &str) -> &[Value] {
        self.lists.get(agent_id).map_or(&[], Vec::as_slice)
    }
}

/// Removes the record whose `activityid` is `id` from `list`.
fn take(list: &mut Vec<Value>, id: Option<&Value>) {
    if let Some(id) = id {
        list.retain(|record| record.get(ID_PROPERTY) != Some(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(events: &[SseEvent]) -> Vec<(&str, &str, &str)> {
        events
            .iter()
            .map(|e| (e.name.as_str(), e.data.as_str(), e.last_event_id.as_str()))
            .collect()
    }

    #[test]
    fn stream_url_encodes_the_input_as_encode_uri_component_does() {
        assert_eq!(
            stream_url(
                "http://127.0.0.1:8080/",
                r#" {"agentId":"a b","status":[3]} "#
            ),
            "http://127.0.0.1:8080/getConversations/stream?input=%7B%22agentId%22%3A%22a%20b%22%2C%22status%22%3A%5B3%5D%7D"
        );
        assert_eq!(
            stream_url("https://x.example/convq", "{\"t\":\"é!~*'()-_.\"}"),
            "https://x.example/convq/getConversations/stream?input=%7B%22t%22%3A%22%C3%A9!~*'()-_.%22%7D"
        );
    }

    #[test]
    fn parser_reads_fields_comments_and_every_line_ending() {
        let mut parser = SseParser::default();
        let events = parser.feed(
            "\u{feff}: heartbeat\nid: 7-1\nevent: added\ndata: {\"a\":1}\n\n\
             event:failed\r\ndata:x\r\ndata: y\r\n\r\n\
             retry: 250\rdata\r\r\n",
        );
        assert_eq!(
            names(&events),
            [
                ("added", "{\"a\":1}", "7-1"),
                ("failed", "x\ny", "7-1"),
                ("message", "", "7-1")
            ]
        );
        assert_eq!(parser.retry(), Some(250));
        assert_eq!(parser.last_event_id(), "7-1");
    }

    #[test]
    fn parser_waits_for_whole_lines_across_chunks() {
        let text =
            "id: 1-2\r\nevent: removed\r\ndata: {\"id\":\"x\"}\r\n\r\nevent: dropped\ndata: {}\n\n";
        let whole = SseParser::default().feed(text);
        for split in 1..text.len() {
            let mut parser = SseParser::default();
            let mut events = parser.feed(&text[..split]);
            events.extend(parser.feed(&text[split..]));
            assert_eq!(events, whole, "split at {split}");
        }
        assert_eq!(
            names(&whole),
            [
                ("removed", "{\"id\":\"x\"}", "1-2"),
                ("dropped", "{}", "1-2")
            ]
        );
    }

    #[test]
    fn parser_ignores_blocks_without_data_bad_retry_and_ids_with_nul() {
        let mut parser = SseParser::new("3-4");
        let events = parser.feed("event: added\n\nretry: 1s\nid: a\0b\ndata: z\n\n");
        assert_eq!(names(&events), [("message", "z", "3-4")]);
        assert_eq!(parser.retry(), None);
    }

    fn record(id: &str, title: &str) -> Value {
        json!({ "activityid": id, "msdyn_title": title })
    }

    fn ids(list: &[Value]) -> Vec<&str> {
        list.iter()
            .map(|r| r["activityid"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn lists_apply_events_by_position() {
        let mut lists = Lists::default();
        let snapshot = json!({ "agentId": "A", "values": [record("a", "1"), record("b", "1"), record("c", "1")] });
        let delivery = lists
            .receive("snapshot", &snapshot.to_string(), "5-0")
            .unwrap();
        assert_eq!(
            delivery.event,
            json!({ "event": "snapshot", "id": "5-0", "data": snapshot })
        );
        assert_eq!(ids(&delivery.list.unwrap().1), ["a", "b", "c"]);

        // One interval: b removed, d added first, c moved before a (as the server sends it).
        lists.receive("removed", r#"{"agentId":"A","id":"b"}"#, "5-1");
        let add = json!({ "agentId": "A", "id": "d", "position": 0, "record": record("d", "1") });
        lists.receive("added", &add.to_string(), "5-2");
        let moved = json!({ "agentId": "A", "id": "c", "position": 1, "record": record("c", "2") });
        let delivery = lists.receive("changed", &moved.to_string(), "5-3").unwrap();
        let (agent, list) = delivery.list.unwrap();
        assert_eq!((agent.as_str(), ids(&list)), ("A", vec!["d", "c", "a"]));
        assert_eq!(list[1]["msdyn_title"], "2");
        assert_eq!(ids(lists.list("A")), ["d", "c", "a"]);
        assert!(lists.list("B").is_empty());
    }

    #[test]
    fn failed_and_dropped_have_no_id_and_change_no_list() {
        let mut lists = Lists::default();
        let failed = r#"{"agentId":"A","error":{"code":"throttled","message":"m","path":""}}"#;
        let delivery = lists.receive("failed", failed, "5-3").unwrap();
        assert_eq!(delivery.event["event"], "failed");
        assert!(delivery.event.get("id").is_none());
        assert_eq!(delivery.list, None);
        let delivery = lists
            .receive("dropped", r#"{"reason":"slow"}"#, "5-3")
            .unwrap();
        assert_eq!(delivery.list, None);
        assert_eq!(lists.receive("message", "{}", ""), None);
        assert_eq!(lists.receive("added", "not json", ""), None);
    }
}
