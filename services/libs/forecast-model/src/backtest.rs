//! Rolling-origin backtests: fit on the history up to an origin, forecast
//! the next 72 hours, compare with what happened, move the origin on.
//!
//! Scores per horizon band (lead times 1-6 h, 7-24 h, 25-48 h, 49-72 h,
//! named by their end): MAE; MASE, each absolute error divided by the
//! in-sample MAE of seasonal-naive at lag 168 h on the training window
//! (below 1 beats "same hour last week"); and the share of actual values
//! inside the 80% and 95% intervals. Origins whose forecast window touches
//! a marked range (a regime change the forecaster was not told about) are
//! scored apart, so a good average cannot hide them.

use std::fmt::Write as _;
use std::ops::Range;

use serde::Serialize;

use crate::model::{Band, ForecastError, seasonal_naive_scale};
use crate::series::Series;

/// The horizon bands, as (first, last) lead time in hours.
pub const HORIZON_BANDS: [(usize, usize); 4] = [(1, 6), (7, 24), (25, 48), (49, 72)];

/// Where origins start and how far apart they are, in steps of the
/// series (hours, or days for a daily series).
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Steps of history before the first origin.
    pub min_train: usize,
    /// Steps between origins.
    pub step: usize,
    /// Steps forecast from each origin.
    pub horizon: usize,
}

impl Spec {
    /// The default for a daily series: three weeks before the first
    /// origin, an origin every day, three days ahead.
    pub fn daily() -> Self {
        Self {
            min_train: 21,
            step: 1,
            horizon: 3,
        }
    }
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            min_train: 3 * 168,
            step: 24,
            horizon: 72,
        }
    }
}

/// Running sums of one horizon band.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Scores {
    /// Points compared.
    pub n: usize,
    abs_error: f64,
    scaled_error: f64,
    scaled_n: usize,
    inside_80: usize,
    inside_95: usize,
}

impl Scores {
    fn add(&mut self, actual: f64, band: &Band, h: usize, scale: Option<f64>) {
        let error = (actual - band.point[h]).abs();
        self.n += 1;
        self.abs_error += error;
        if let Some(scale) = scale.filter(|s| *s > 0.0) {
            self.scaled_error += error / scale;
            self.scaled_n += 1;
        }
        if band.lower_80[h] <= actual && actual <= band.upper_80[h] {
            self.inside_80 += 1;
        }
        if band.lower_95[h] <= actual && actual <= band.upper_95[h] {
            self.inside_95 += 1;
        }
    }

    /// Adds another band's sums (pooling series).
    pub fn merge(&mut self, other: &Scores) {
        self.n += other.n;
        self.abs_error += other.abs_error;
        self.scaled_error += other.scaled_error;
        self.scaled_n += other.scaled_n;
        self.inside_80 += other.inside_80;
        self.inside_95 += other.inside_95;
    }

    /// Mean absolute error.
    pub fn mae(&self) -> Option<f64> {
        (self.n > 0).then(|| self.abs_error / self.n as f64)
    }

    /// Mean absolute scaled error.
    pub fn mase(&self) -> Option<f64> {
        (self.scaled_n > 0).then(|| self.scaled_error / self.scaled_n as f64)
    }

    /// Share of actual values inside the 80% interval.
    pub fn coverage_80(&self) -> Option<f64> {
        (self.n > 0).then(|| self.inside_80 as f64 / self.n as f64)
    }

    /// Share of actual values inside the 95% interval.
    pub fn coverage_95(&self) -> Option<f64> {
        (self.n > 0).then(|| self.inside_95 as f64 / self.n as f64)
    }
}

/// The scores of one series and method: usual windows and windows that
/// touch a marked range, per horizon band.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evaluation {
    /// Windows that touch no marked range.
    pub usual: [Scores; 4],
    /// Windows that touch a marked range (regime changes).
    pub marked: [Scores; 4],
    /// Origins whose fit failed (counted, not hidden).
    pub failed_origins: usize,
}

impl Evaluation {
    /// Adds another evaluation's sums.
    pub fn merge(&mut self, other: &Evaluation) {
        for i in 0..4 {
            self.usual[i].merge(&other.usual[i]);
            self.marked[i].merge(&other.marked[i]);
        }
        self.failed_origins += other.failed_origins;
    }
}

/// Runs `forecaster` from every origin of `spec` over `series` and scores
/// it. Steps of `marked` (indices into the series) mark a window as a
/// regime-change window. Gaps in the actuals are skipped. A daily series
/// is scored at 24, 48 and 72 h (one, two and three days ahead).
pub fn rolling_origin(
    series: &Series,
    spec: Spec,
    marked: &[Range<usize>],
    forecaster: impl Fn(&Series, usize) -> Result<Band, ForecastError>,
) -> Evaluation {
    let per_step = series.cadence.hours_per_step();
    let week = series.cadence.week();
    let mut evaluation = Evaluation::default();
    let mut origin = spec.min_train;
    while origin + spec.horizon <= series.len() {
        let train = series.head(origin);
        let window = origin..origin + spec.horizon;
        let is_marked = marked
            .iter()
            .any(|m| m.start < window.end && window.start < m.end);
        match forecaster(&train, spec.horizon) {
            Ok(band) => {
                let scale = train.filled().and_then(|v| seasonal_naive_scale(&v, week));
                let scores = if is_marked {
                    &mut evaluation.marked
                } else {
                    &mut evaluation.usual
                };
                for (band_index, (first, last)) in HORIZON_BANDS.iter().enumerate() {
                    // Lead times in steps: hours, or the days whose end
                    // falls in the band.
                    let first_step = first.div_ceil(per_step);
                    let last_step = (last / per_step).min(spec.horizon);
                    for lead in first_step.max(1)..=last_step {
                        let h = lead - 1;
                        if let Some(actual) = series.values[origin + h] {
                            scores[band_index].add(actual, &band, h, scale);
                        }
                    }
                }
            }
            Err(_) => evaluation.failed_origins += 1,
        }
        origin += spec.step;
    }
    evaluation
}

/// One row of a printed table: a series (or a pool of them), a method and
/// its evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// What was forecast, e.g. `system admissions`.
    pub series: String,
    /// How, e.g. `mstl+ets` or `seasonal-naive`.
    pub method: String,
    /// Its scores.
    pub evaluation: Evaluation,
}

/// Backtest rows, printed as a Markdown table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Table {
    /// The rows in order.
    pub rows: Vec<Row>,
}

impl Table {
    /// The table as Markdown: one line per row, window and horizon band.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "| series | method | windows | horizon | MAE | MASE | 80% cover | 95% cover | points |\n\
             |---|---|---|---|---:|---:|---:|---:|---:|\n",
        );
        let fmt = |v: Option<f64>, pct: bool| match v {
            Some(v) if pct => format!("{:.0}%", v * 100.0),
            Some(v) => format!("{v:.2}"),
            None => "–".to_owned(),
        };
        for row in &self.rows {
            for (label, scores) in [
                ("usual", &row.evaluation.usual),
                ("regime change", &row.evaluation.marked),
            ] {
                for (band, (_, last)) in scores.iter().zip(HORIZON_BANDS) {
                    if band.n == 0 {
                        continue;
                    }
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} h | {} | {} | {} | {} | {} |",
                        row.series,
                        row.method,
                        label,
                        last,
                        fmt(band.mae(), false),
                        fmt(band.mase(), false),
                        fmt(band.coverage_80(), true),
                        fmt(band.coverage_95(), true),
                        band.n
                    );
                }
            }
        }
        out
    }
}
