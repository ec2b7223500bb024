//! The command line's flags, each defined once and grouped as `--help` shows them: the data a
//! run answers from ([`data`]), the compile options ([`options`]), Dataverse ([`dataverse`]),
//! and the service ([`service`]). `query`, `get` and `serve` flatten the groups they take, so a
//! flag they share reads and parses the same everywhere; the value parsers below are the only
//! ones for times, time zones and durations.

use std::time::{Duration, SystemTime};

pub(crate) mod data;
pub(crate) mod dataverse;
pub(crate) mod options;
pub(crate) mod service;
pub(crate) mod stream;

/// An RFC 3339 instant (`--now`).
pub(crate) fn parse_time(text: &str) -> Result<SystemTime, String> {
    convq_backend::parse_timestamp(text).map_err(|e| e.to_string())
}

/// An IANA time zone name (`--time-zone`).
pub(crate) fn parse_zone(text: &str) -> Result<convq_backend::TimeZone, String> {
    convq_backend::parse_time_zone(text).map_err(|e| e.to_string())
}

/// Parses a duration flag: a number with a unit, as the `humantime` crate reads it (`500ms`,
/// `20s`, `2m`, `1h 30m`, `1m30s`), or a bare number of seconds (`20`, `0.5`), which older
/// command lines used. Zero is refused: every duration here is a timeout or an interval.
///
/// # Errors
/// The text is not a duration, or it is zero; the message gives examples.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !text.is_empty() {
        text.parse::<f64>()
            .ok()
            .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
            .ok_or_else(|| format!("{text:?} is not a duration like 500ms, 20s or 2m"))?
    } else {
        humantime::parse_duration(text).map_err(|error| {
            format!("{text:?} is not a duration like 500ms, 20s or 2m ({error})")
        })?
    };
    if duration.is_zero() {
        return Err(format!(
            "{text:?} is zero; give a duration like 500ms or 20s"
        ));
    }
    Ok(duration)
}

/// [`parse_duration`], or `0` for "off".
pub(crate) fn parse_duration_or_zero(text: &str) -> Result<Duration, String> {
    if text
        .trim()
        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
        == "0"
    {
        return Ok(Duration::ZERO);
    }
    parse_duration(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (text, expected) in [
            ("250ms", Duration::from_millis(250)),
            ("30s", Duration::from_secs(30)),
            ("2m", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("1m 30s", Duration::from_secs(90)),
            ("1m30s", Duration::from_secs(90)),
            (" 20s ", Duration::from_secs(20)),
            ("7", Duration::from_secs(7)),
            ("0.3", Duration::from_millis(300)),
        ] {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
        for bad in ["", "s", "0s", "0", "0ms", "-1s", "1.5.2", "20 parsecs", "."] {
            let error = parse_duration(bad).unwrap_err();
            assert!(error.contains("500ms"), "{bad}: {error}");
        }
    }
}
