//! Answers kept for a few seconds, keyed by identity and request path (the path is the
//! normalized query, rendered): a screen that polls, or many screens showing one agent, cost
//! Dataverse one request per TTL.
//!
//! A `createdBeforeDays` answer depends on the day: Dataverse evaluates `LastXDays` from
//! midnight in the user's time zone, which convq does not know. Every zone's midnight falls on a
//! quarter hour (UTC offsets are multiples of 15 minutes), so such an answer never outlives the
//! next quarter hour of UTC.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::time::Instant;

/// Most entries kept; past it, expired entries are dropped, and new ones are not kept while
/// it is still full (the cache is a saving, never a memory risk).
const MAX_ENTRIES: usize = 100_000;

/// A day boundary somewhere on Earth: every quarter hour of UTC.
const BOUNDARY: u64 = 15 * 60;

#[derive(Debug)]
pub(crate) struct Cache {
    ttl: Duration,
    entries: Mutex<HashMap<Key, Entry>>,
}

/// Identity and request path.
pub(crate) type Key = (String, String);

#[derive(Debug)]
struct Entry {
    rows: Arc<Vec<Value>>,
    stored: Instant,
    expires: Instant,
}

impl Cache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The rows under `key` and their age, while fresh.
    pub(crate) fn get(&self, key: &Key) -> Option<(Arc<Vec<Value>>, Duration)> {
        if !self.enabled() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(key)?;
        let now = Instant::now();
        (now < entry.expires).then(|| (Arc::clone(&entry.rows), now - entry.stored))
    }

    /// Keeps `rows`, fetched at `fetched` (wall clock `wall`), for the TTL, or less when the
    /// query has `createdBeforeDays` and a day boundary comes first.
    pub(crate) fn put(
        &self,
        key: Key,
        rows: Arc<Vec<Value>>,
        fetched: Instant,
        wall: SystemTime,
        day_bound: bool,
    ) {
        if !self.enabled() {
            return;
        }
        let mut lifetime = self.ttl;
        if day_bound {
            lifetime = lifetime.min(until_boundary(wall));
        }
        let expires = fetched + lifetime;
        if expires <= Instant::now() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, e| e.expires > now);
            if entries.len() >= MAX_ENTRIES {
                return;
            }
        }
        entries.insert(
            key,
            Entry {
                rows,
                stored: fetched,
                expires,
            },
        );
    }
}

/// Time from `wall` to the next quarter hour of UTC.
fn until_boundary(wall: SystemTime) -> Duration {
    let since = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
    let next = (since.as_secs() / BOUNDARY + 1) * BOUNDARY;
    Duration::from_secs(next).saturating_sub(since)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_quarter_hours() {
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(until_boundary(at(0)), Duration::from_secs(900));
        assert_eq!(until_boundary(at(899)), Duration::from_secs(1));
        assert_eq!(
            until_boundary(at(900) + Duration::from_millis(250)),
            Duration::from_millis(899_750)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire_at_the_ttl_or_the_day_boundary() {
        let cache = Cache::new(Duration::from_secs(5));
        let rows = Arc::new(vec![Value::from(1)]);
        let key = |p: &str| ("held".to_owned(), p.to_owned());
        // 2 s before a quarter hour.
        let wall = UNIX_EPOCH + Duration::from_secs(898);
        cache.put(key("a"), Arc::clone(&rows), Instant::now(), wall, false);
        cache.put(key("b"), Arc::clone(&rows), Instant::now(), wall, true);
        tokio::time::advance(Duration::from_secs(1)).await;
        let (_, age) = cache.get(&key("a")).unwrap();
        assert_eq!(age, Duration::from_secs(1));
        assert!(cache.get(&key("b")).is_some());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(cache.get(&key("b")).is_none(), "past the day boundary");
        assert!(cache.get(&key("a")).is_some());
        assert!(cache.get(&("other".to_owned(), "a".to_owned())).is_none());
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(cache.get(&key("a")).is_none(), "past the TTL");
        assert!(!Cache::new(Duration::ZERO).enabled());
    }
}
