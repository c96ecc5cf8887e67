//! Seconds as durations: the one rule for every interval, cadence and data currency a device
//! config or registry CSV gives in seconds.

use std::time::Duration;

/// The longest interval, cadence or currency accepted anywhere: a year is far beyond any
/// sensible value and keeps `Duration` arithmetic safe.
const MAX_SECONDS: f64 = 366.0 * 86400.0;

/// The range [`duration_from_seconds`] accepts, in words, as an error message says what was
/// expected.
pub(crate) const SECONDS_RANGE: &str = "a number of seconds from 0.001 to 31622400 (366 days)";

/// A positive number of seconds (millisecond precision, at most [`MAX_SECONDS`]) as a duration.
pub(crate) fn duration_from_seconds(s: f64) -> Option<Duration> {
    (s.is_finite() && (0.001..=MAX_SECONDS).contains(&s))
        .then(|| Duration::from_millis((s * 1000.0).round() as u64))
}
