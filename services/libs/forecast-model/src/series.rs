//! [`Series`]: one value per hour (or per day, for a trust's own daily
//! figures), gaps allowed.

use serde::Serialize;
use time::OffsetDateTime;

/// Hours in a day: the daily season.
pub const HOURS_PER_DAY: usize = 24;
/// Hours in a week: the weekly season and the seasonal-naive lag.
pub const HOURS_PER_WEEK: usize = 168;

/// How far apart a series' values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    /// One value per hour (the platform's own series): daily and weekly
    /// seasons, seasonal-naive at lag 168.
    Hourly,
    /// One value per day (a trust's history as CSV): a weekly season,
    /// seasonal-naive at lag 7.
    Daily,
}

impl Cadence {
    /// Hours one step covers.
    pub fn hours_per_step(self) -> usize {
        match self {
            Cadence::Hourly => 1,
            Cadence::Daily => HOURS_PER_DAY,
        }
    }

    /// What a step is called: `hours` or `days`.
    pub fn unit(self) -> &'static str {
        match self {
            Cadence::Hourly => "hours",
            Cadence::Daily => "days",
        }
    }

    /// The seasonal periods, in steps, shortest first.
    pub fn seasons(self) -> &'static [usize] {
        match self {
            Cadence::Hourly => &[HOURS_PER_DAY, HOURS_PER_WEEK],
            Cadence::Daily => &[7],
        }
    }

    /// The seasonal-naive lag (a week), in steps.
    pub fn week(self) -> usize {
        HOURS_PER_WEEK / self.hours_per_step()
    }
}

/// One figure per step (an hour, or a day) from `start` (UTC). `None` is
/// a step nothing was known about (a feed down, a missing row): it is
/// filled before fitting, never read as zero.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The start of the first step.
    pub start: OffsetDateTime,
    /// How far apart the values are.
    pub cadence: Cadence,
    /// One value per step.
    pub values: Vec<Option<f64>>,
}

/// The platform's own series are hourly.
pub type HourlySeries = Series;

impl Series {
    /// An hourly series with no gaps.
    pub fn complete(start: OffsetDateTime, values: impl IntoIterator<Item = f64>) -> Self {
        Self {
            start,
            cadence: Cadence::Hourly,
            values: values.into_iter().map(Some).collect(),
        }
    }

    /// Number of hours.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the series has no hours.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The hours known (not gaps).
    pub fn known(&self) -> usize {
        self.values.iter().filter(|v| v.is_some()).count()
    }

    /// The first `steps` values (a training window for a backtest).
    pub fn head(&self, steps: usize) -> Self {
        Self {
            start: self.start,
            cadence: self.cadence,
            values: self.values[..steps.min(self.values.len())].to_vec(),
        }
    }

    /// The values with every gap filled, or `None` when no hour is known.
    ///
    /// A gap takes the same hour (day) of the week before when that is known
    /// (the pattern the forecast models), else the straight line between its known
    /// neighbours, else the nearest known value. Leading and trailing gaps
    /// are filled the same way. A non-finite value counts as a gap.
    pub fn filled(&self) -> Option<Vec<f64>> {
        let values: Vec<Option<f64>> = self
            .values
            .iter()
            .map(|v| v.filter(|x| x.is_finite()))
            .collect();
        if values.iter().all(Option::is_none) {
            return None;
        }
        let mut out: Vec<Option<f64>> = values.clone();
        let week = self.cadence.week();
        for i in 0..out.len() {
            if out[i].is_none() && i >= week {
                out[i] = values[i - week];
            }
        }
        let known: Vec<usize> = (0..out.len()).filter(|&i| out[i].is_some()).collect();
        let mut filled = Vec::with_capacity(out.len());
        for (i, value) in out.iter().enumerate() {
            if let Some(v) = value {
                filled.push(*v);
                continue;
            }
            let after = known.partition_point(|&k| k < i);
            let next = known.get(after).copied();
            let previous = after.checked_sub(1).and_then(|p| known.get(p).copied());
            let v = match (previous, next) {
                (Some(p), Some(n)) => {
                    let (a, b) = (out[p].unwrap_or(0.0), out[n].unwrap_or(0.0));
                    a + (b - a) * (i - p) as f64 / (n - p) as f64
                }
                (Some(p), None) => out[p].unwrap_or(0.0),
                (None, Some(n)) => out[n].unwrap_or(0.0),
                (None, None) => 0.0,
            };
            filled.push(v);
        }
        Some(filled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_takes_the_same_hour_last_week_or_the_line_between_its_neighbours() {
        let start = OffsetDateTime::UNIX_EPOCH;
        let mut values: Vec<Option<f64>> = (0..200).map(|i| Some(i as f64)).collect();
        values[3] = None;
        values[170] = None;
        let series = Series {
            start,
            cadence: Cadence::Hourly,
            values,
        };
        let filled = series.filled().unwrap_or_default();
        assert_eq!(filled[3], 3.0);
        assert_eq!(filled[170], 2.0, "the same hour a week before");
        assert_eq!(series.known(), 198);
    }

    #[test]
    fn a_series_with_nothing_known_cannot_be_filled() {
        let series = Series {
            start: OffsetDateTime::UNIX_EPOCH,
            cadence: Cadence::Hourly,
            values: vec![None; 5],
        };
        assert_eq!(series.filled(), None);
    }
}
