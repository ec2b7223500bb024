//! RFC 3339 timestamps: `createdon` values in the store and the adapters' `--now`.

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A point in time as nanoseconds since the Unix epoch (negative before 1970). Dataverse dates
/// run from 1753 to 9999, well inside `i128`.
pub(crate) type Nanos = i128;

/// A text that is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not an RFC 3339 timestamp such as 2026-11-20T12:00:00Z")]
pub struct InvalidTimestamp {
    /// The text as given.
    pub value: String,
}

/// Parses an RFC 3339 timestamp (`2026-11-20T12:00:00Z`, `2026-11-20T13:00:00.5+01:00`), as
/// Dataverse writes dates and as `--now` takes them.
///
/// # Errors
/// [`InvalidTimestamp`] when the text is not one, or lies outside what [`SystemTime`] holds.
pub fn parse_timestamp(text: &str) -> Result<SystemTime, InvalidTimestamp> {
    let invalid = || InvalidTimestamp {
        value: text.to_owned(),
    };
    let nanos = parse_nanos(text).ok_or_else(invalid)?;
    let abs = nanos.unsigned_abs();
    let secs = u64::try_from(abs / 1_000_000_000).map_err(|_| invalid())?;
    // The remainder is below 10^9, so it fits.
    let magnitude = Duration::new(secs, (abs % 1_000_000_000) as u32);
    if nanos >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(magnitude)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(magnitude)
    }
    .ok_or_else(invalid)
}

/// Nanoseconds since the epoch of an RFC 3339 timestamp.
pub(crate) fn parse_nanos(text: &str) -> Option<Nanos> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

/// Nanoseconds since the epoch of a [`SystemTime`] (saturating far outside Dataverse's range).
pub(crate) fn system_time_nanos(at: SystemTime) -> Nanos {
    match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => Nanos::try_from(after.as_nanos()).unwrap_or(Nanos::MAX),
        Err(before) => Nanos::try_from(before.duration().as_nanos()).map_or(Nanos::MIN, |n| -n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dataverse_dates_and_offsets() {
        assert_eq!(parse_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_nanos("1970-01-01T01:00:00.5+01:00"),
            Some(500_000_000)
        );
        assert_eq!(parse_nanos("1969-12-31T23:59:59Z"), Some(-1_000_000_000));
        assert_eq!(parse_nanos("2026-11-20"), None);
        assert_eq!(parse_nanos("2026-11-20T12:00:00"), None, "no offset");
        assert_eq!(parse_nanos("yesterday"), None);
    }

    #[test]
    fn system_time_round_trips() {
        let at = parse_timestamp("2026-11-20T12:00:00.000000001Z").unwrap();
        assert_eq!(
            system_time_nanos(at),
            parse_nanos("2026-11-20T12:00:00.000000001Z").unwrap()
        );
        let before = parse_timestamp("1900-01-01T00:00:00Z").unwrap();
        assert_eq!(
            system_time_nanos(before),
            parse_nanos("1900-01-01T00:00:00Z").unwrap()
        );
        assert!(parse_timestamp("noon").is_err());
    }
}
