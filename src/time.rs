//! Days, timestamps and clocks.
//!
//! Coins and keys are dated in whole days (UTC days since the Unix epoch);
//! withdrawal sessions expire in seconds. Roles read time through a [`Clock`]
//! so tests can move it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Seconds in a day.
pub const SECONDS_PER_DAY: u64 = 86_400;

/// A UTC day number: days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Day(pub u32);

impl Day {
    /// The day `n` days later, saturating.
    pub fn plus(self, n: u32) -> Day {
        Day(self.0.saturating_add(n))
    }
    /// The day `n` days earlier, saturating at day 0.
    pub fn minus(self, n: u32) -> Day {
        Day(self.0.saturating_sub(n))
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Civil date from days since the epoch (Howard Hinnant's algorithm).
        let z = i64::from(self.0) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = if m <= 2 { y + 1 } else { y };
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// Seconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl std::fmt::Display for Timestamp {
    /// RFC 3339 in UTC, to the second: `2026-11-24T09:05:00Z`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.0 % SECONDS_PER_DAY;
        write!(f, "{}T{:02}:{:02}:{:02}Z", self.day(), secs / 3600, secs / 60 % 60, secs % 60)
    }
}

impl Timestamp {
    /// The UTC day this instant falls in.
    pub fn day(self) -> Day {
        Day(u32::try_from(self.0 / SECONDS_PER_DAY).unwrap_or(u32::MAX))
    }
    /// `secs` seconds later, saturating.
    pub fn plus_secs(self, secs: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs))
    }
}

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
    /// The current UTC day.
    fn today(&self) -> Day {
        self.now().day()
    }
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Timestamp(secs)
    }
}

/// The system clock moved by a fixed number of seconds (either way),
/// saturating at the epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OffsetClock {
    /// Seconds added to the system clock's time (negative: earlier).
    pub offset_secs: i64,
}

impl OffsetClock {
    /// The system clock moved by `days` days.
    pub fn days(days: i32) -> Self {
        OffsetClock { offset_secs: i64::from(days) * SECONDS_PER_DAY as i64 }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        let now = SystemClock.now().0;
        let moved = if self.offset_secs >= 0 {
            now.saturating_add(self.offset_secs.unsigned_abs())
        } else {
            now.saturating_sub(self.offset_secs.unsigned_abs())
        };
        Timestamp(moved)
    }
}

/// A clock that moves only when told to; shared by clones.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock showing `t`.
    pub fn new(t: Timestamp) -> Self {
        ManualClock(Arc::new(AtomicU64::new(t.0)))
    }
    /// A clock showing midnight UTC of `day`.
    pub fn at_day(day: Day) -> Self {
        Self::new(Timestamp(u64::from(day.0) * SECONDS_PER_DAY))
    }
    /// Moves the clock forward by `secs` seconds.
    pub fn advance_secs(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
    /// Moves the clock forward by `days` days.
    pub fn advance_days(&self, days: u32) {
        self.advance_secs(u64::from(days) * SECONDS_PER_DAY);
    }
    /// Sets the clock.
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_displays_as_civil_date() {
        assert_eq!(Day(0).to_string(), "1970-01-01");
        assert_eq!(Day(20_781).to_string(), "2026-11-24");
        assert_eq!(Day(11_016).to_string(), "2000-02-29");
    }

    #[test]
    fn timestamp_displays_as_rfc3339_utc() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp(20_781 * SECONDS_PER_DAY + 9 * 3600 + 5 * 60 + 7).to_string(),
            "2026-11-24T09:05:07Z"
        );
    }

    #[test]
    fn offset_clock_moves_the_system_clock_by_whole_days() {
        let before = SystemClock.today();
        let later = OffsetClock::days(30).today();
        let earlier = OffsetClock::days(-30).today();
        let after = SystemClock.today();
        assert!(later >= before.plus(30) && later <= after.plus(30));
        assert!(earlier >= before.minus(30) && earlier <= after.minus(30));
        assert_eq!(OffsetClock { offset_secs: i64::MIN }.now(), Timestamp(0));
    }

    #[test]
    fn manual_clock_moves_when_told() {
        let c = ManualClock::at_day(Day(10));
        assert_eq!(c.today(), Day(10));
        c.advance_days(2);
        assert_eq!(c.today(), Day(12));
        c.advance_secs(SECONDS_PER_DAY - 1);
        assert_eq!(c.today(), Day(12));
    }
}
