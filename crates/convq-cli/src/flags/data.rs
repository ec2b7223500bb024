//! The data a run answers from, as of when, and how: `get` and `serve` (heading "Data"; the
//! getConversations input itself is `FILE|-`, read by [`crate::input`]).

use std::path::PathBuf;
use std::time::SystemTime;

use convq_backend::TimeZone;

use super::{parse_time, parse_zone};

/// The store, "now" and the time zone of a run (`--dataverse` is in the Dataverse group).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Data")]
pub(crate) struct DataArgs {
    /// Answer from this conversation file (a saved Web API response body, a JSON array of
    /// records, or NDJSON) instead of the built-in sample store.
    #[arg(long, value_name = "FILE", conflicts_with = "dataverse")]
    pub(crate) data: Option<PathBuf>,

    /// "Now" for createdBeforeDays with a store (RFC 3339, e.g. 2026-11-20T12:00:00Z). By
    /// default the sample store's own reference instant (2026-11-20T12:00:00Z, so examples
    /// answer the same on any date) and the clock for --data. Dataverse always uses its own
    /// clock.
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub(crate) now: Option<SystemTime>,

    /// The IANA time zone whose midnights bound createdBeforeDays days with a store (e.g.
    /// Europe/Paris), as Dataverse uses the user's time zone; UTC by default. With serve, a
    /// request's ?timeZone= overrides it.
    #[arg(long, value_name = "ZONE", value_parser = parse_zone)]
    pub(crate) time_zone: Option<TimeZone>,

    /// Answer each selected property's formatted value too
    /// (<property>@OData.Community.Display.V1.FormattedValue: lookup names, choice labels), as
    /// Dataverse does when asked with Prefer: odata.include-annotations. With serve, a
    /// request's ?formattedValues= overrides it.
    #[arg(long)]
    pub(crate) formatted_values: bool,
}
