//! Occupancy history: what the projection records per site and for the
//! whole system as it applies bed events, and what readers get back.
//!
//! For each scope (a site, or `system`) the projection keeps one entry per
//! time bucket in which occupancy changed, `{bucket_start}:{occupied}:{usable}`:
//! the scope's beds occupied and beds usable (by the one rule,
//! [`pf_hospital_model::Occupancy`]: open and not closed, core and
//! escalation, every kind) after the last event in that bucket, the bucket's
//! start in Unix seconds. Each bed's update adds its part to the scope's
//! figures hash (`figures:site:{site}`, `figures:system`; see
//! [`fold`](crate::fold)). Closed buckets are a sorted set per scope (score:
//! the bucket's start). The newest bucket's figures are always the scope's
//! figures hash (every later event lands in it), so only its start is kept,
//! a field of one hash (`trend:newest`): an event costs a read per scope,
//! and a few sorted-set commands only when it starts a bucket. A bucket without an
//! entry has the value of the entry before it (readers carry values
//! forward).

//! The bucket is the event's own `occurred_at` (never later than when the
//! stream stored it: the projection caps it), so a replay of the streams
//! into an empty Redis writes the same history. An event older than the
//! scope's newest bucket (a late arrival) is recorded in that newest bucket:
//! its figures already include everything applied before it, so writing them
//! into an earlier bucket would show the present in the past, and the
//! history's latest value always equals the live counters' figures.
//!
//! When a new bucket is started, entries older than the retention are
//! removed, except the newest of them, which is the value in force when the
//! retention window opens: a scope holds at most `keep / bucket + 1` entries
//! (its newest bucket included).

use std::time::Duration;

/// How the projection buckets and keeps occupancy history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrendSettings {
    /// Length of one bucket (default 5 minutes).
    pub bucket: Duration,
    /// How long entries are kept (default 8 days: the same day last week
    /// is always there).
    pub keep: Duration,
}

impl Default for TrendSettings {
    fn default() -> Self {
        Self {
            bucket: Duration::from_secs(300),
            keep: Duration::from_secs(8 * 24 * 3600),
        }
    }
}

impl TrendSettings {
    /// Bucket length in whole seconds (at least 1).
    pub fn bucket_secs(&self) -> u64 {
        self.bucket.as_secs().max(1)
    }

    /// Retention in whole seconds (at least one bucket).
    pub fn keep_secs(&self) -> u64 {
        self.keep.as_secs().max(self.bucket_secs())
    }

    /// The most entries one scope holds.
    pub fn max_entries(&self) -> u64 {
        self.keep_secs() / self.bucket_secs() + 1
    }
}

/// The scope name of the whole system (site codes are the other scopes).
pub const SYSTEM_SCOPE: &str = "system";

/// One recorded bucket of a scope's occupancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TrendPoint {
    /// Start of the bucket, Unix seconds.
    pub at: i64,
    /// Beds occupied after the bucket's last event.
    pub occupied: i64,
    /// Beds usable (open, not closed) after the bucket's last event.
    pub usable: i64,
}

impl TrendPoint {
    /// Reads a history entry `{bucket_start}:{occupied}:{usable}`.
    pub fn parse(member: &str) -> Option<Self> {
        let mut parts = member.split(':');
        let point = Self {
            at: parts.next()?.parse().ok()?,
            occupied: parts.next()?.parse().ok()?,
            usable: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(point)
    }

    /// Occupied out of usable at that point (its % by the one rule,
    /// [`Occupancy::pct`](pf_hospital_model::Occupancy::pct)).
    pub fn occupancy(&self) -> pf_hospital_model::Occupancy {
        pf_hospital_model::Occupancy {
            occupied: self.occupied,
            usable: self.usable,
        }
    }

    /// The entry as stored.
    pub fn member(&self) -> String {
        format!("{}:{}:{}", self.at, self.occupied, self.usable)
    }
}

/// Occupancy history read back for some windows of time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrendHistory {
    /// The bucket length the projection writes with; `None` when it has
    /// written no history yet.
    pub bucket_secs: Option<u64>,
    /// By scope (site code or [`SYSTEM_SCOPE`]): the points, oldest first,
    /// each bucket once. For each window asked for, they include the
    /// newest point at or before its start (the value carried into it).
    pub scopes: std::collections::BTreeMap<String, Vec<TrendPoint>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_garbage_is_refused() {
        let point = TrendPoint {
            at: 1_764_500_400,
            occupied: 17,
            usable: 20,
        };
        assert_eq!(point.member(), "1764500400:17:20");
        assert_eq!(TrendPoint::parse(&point.member()), Some(point));
        for garbage in ["", "1:2", "1:2:3:4", "a:2:3", "1:2:x"] {
            assert_eq!(TrendPoint::parse(garbage), None, "{garbage}");
        }
    }

    #[test]
    fn a_scope_holds_at_most_its_retention_in_buckets_plus_one() {
        let settings = TrendSettings::default();
        assert_eq!(settings.max_entries(), 8 * 288 + 1);
        let odd = TrendSettings {
            bucket: Duration::ZERO,
            keep: Duration::ZERO,
        };
        assert_eq!((odd.bucket_secs(), odd.keep_secs()), (1, 1));
    }
}
