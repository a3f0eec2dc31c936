//! Where "now" comes from. Production reads the system clock; tests inject a fixed clock so no
//! wall-clock date reaches an assertion or a snapshot (a test that passed in November must pass
//! on 31 December too).
//!
//! A fixed clock advances by one millisecond on every reading, so records stamped in one run
//! still sort in the order they were made.

use chrono::{DateTime, Local, NaiveDate, SecondsFormat, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The environment variable that fixes the clock of a whole process (tests of the real
/// binary): an RFC 3339 time such as `2027-12-31T23:59:00Z`.
pub const CLOCK_ENV: &str = "PACKWRIGHT_CLOCK";

#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// `None`: the system clock. `Some`: milliseconds since the epoch of the next reading.
    fixed: Option<Arc<AtomicI64>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{CLOCK_ENV}='{value}' is not an RFC 3339 time (e.g. 2027-12-31T23:59:00Z)")]
pub struct BadClock {
    pub value: String,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock { fixed: None }
    }

    /// A clock that starts at `at` and advances 1 ms per reading.
    pub fn fixed(at: DateTime<Utc>) -> Clock {
        Clock {
            fixed: Some(Arc::new(AtomicI64::new(at.timestamp_millis()))),
        }
    }

    /// The system clock, unless [`CLOCK_ENV`] fixes it.
    pub fn from_env() -> Result<Clock, BadClock> {
        match std::env::var(CLOCK_ENV) {
            Ok(value) if !value.trim().is_empty() => DateTime::parse_from_rfc3339(value.trim())
                .map(|t| Clock::fixed(t.with_timezone(&Utc)))
                .map_err(|_| BadClock { value }),
            _ => Ok(Clock::system()),
        }
    }

    pub fn is_fixed(&self) -> bool {
        self.fixed.is_some()
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.fixed {
            None => Utc::now(),
            Some(ms) => {
                let at = ms.fetch_add(1, Ordering::Relaxed);
                DateTime::from_timestamp_millis(at).unwrap_or_default()
            }
        }
    }

    /// Now as RFC 3339 UTC with milliseconds: what every record is stamped with (sortable as
    /// text).
    pub fn stamp(&self) -> String {
        stamp(self.now())
    }

    /// Today's date where the station is (the operator's "today").
    pub fn today(&self) -> NaiveDate {
        self.now().with_timezone(&Local).date_naive()
    }
}

/// A time as the store writes it: RFC 3339 UTC with milliseconds.
pub fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn a_fixed_clock_ticks_one_millisecond_per_reading() {
        let c = Clock::fixed(at("2027-12-31T23:59:59.998Z"));
        assert_eq!(c.stamp(), "2027-12-31T23:59:59.998Z");
        assert_eq!(c.stamp(), "2027-12-31T23:59:59.999Z");
        assert_eq!(c.stamp(), "2028-01-01T00:00:00.000Z");
    }

    #[test]
    fn clones_share_the_time() {
        let c = Clock::fixed(at("2027-01-31T10:00:00Z"));
        let d = c.clone();
        c.now();
        assert_eq!(d.stamp(), "2027-01-31T10:00:00.001Z");
    }
}
