//! convq-dataverse's integration tests, one binary (see the crate's `[[test]]` section).
//!
//! - `dataverse`: the Dataverse client against the simulated organization's scripted answers
//!   on 127.0.0.1 (request checks, paging, 429/503, 401, malformed bodies, timeouts, a nextLink
//!   to another host).
//! - `coalesce`: `Shared` against the simulated organization; proptest: coalesced answers
//!   equal each input alone, across paging and the URL split; cache age; pacing under 429s.
//! - `delta`: `TrackedTable` (change tracking) against the simulated organization.

mod coalesce;
mod dataverse;
mod delta;
mod paging;

use std::time::SystemTime;

/// The documentation example's agent.
const AGENT: &str = "2b330c52-6844-4d36-8e05-03c78c9681dc";

/// The sample store's reference time, used as "now" throughout.
fn now() -> SystemTime {
    convq_backend::parse_timestamp("2026-11-20T12:00:00Z").unwrap()
}
