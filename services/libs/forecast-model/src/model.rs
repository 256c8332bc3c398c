//! Fitting a series and forecasting it, with 80% and 95% intervals.

use augurs::ets::AutoETS;
use augurs::mstl::MSTLModel;
use augurs::{Fit, Forecast, Predict};
use serde::Serialize;

use crate::series::{Cadence, Series};

/// Fewer known steps than twice the shortest season and no forecast is
/// made: two days of hours (two weeks of days) is the least that shows the
/// pattern.
fn min_known(cadence: Cadence) -> usize {
    2 * cadence.seasons()[0]
}

/// Why a series could not be forecast.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ForecastError {
    /// Not enough history to learn a pattern from.
    #[error("only {known} {unit} of history are known; at least {needed} are needed to forecast")]
    TooShort {
        /// Steps (hours or days) known.
        known: usize,
        /// Steps needed.
        needed: usize,
        /// `hours` or `days`.
        unit: &'static str,
    },
    /// The model could not be fitted or did not give intervals.
    #[error("the forecasting model failed: {0}")]
    Model(String),
}

/// How a forecast was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// MSTL with daily and weekly seasons, AutoETS on the rest.
    MstlDailyWeeklyEts,
    /// MSTL with a daily season only (less than two weeks of history).
    MstlDailyEts,
    /// MSTL with a weekly season of daily values (a trust's daily figures).
    MstlWeeklyEts,
    /// The same hour a week before (the yardstick).
    SeasonalNaive,
}

/// A forecast: one point per hour ahead (index 0 is the first hour after
/// the history) and its 80% and 95% prediction intervals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Band {
    /// How it was made.
    pub method: Method,
    /// Point forecast.
    pub point: Vec<f64>,
    /// Lower bound of the 80% interval.
    pub lower_80: Vec<f64>,
    /// Upper bound of the 80% interval.
    pub upper_80: Vec<f64>,
    /// Lower bound of the 95% interval.
    pub lower_95: Vec<f64>,
    /// Upper bound of the 95% interval.
    pub upper_95: Vec<f64>,
}

impl Band {
    /// Number of hours ahead.
    pub fn len(&self) -> usize {
        self.point.len()
    }

    /// True when the band has no hours.
    pub fn is_empty(&self) -> bool {
        self.point.is_empty()
    }

    /// Raises every value below `floor` to it (a count cannot be negative).
    pub fn floored(mut self, floor: f64) -> Self {
        for values in [
            &mut self.point,
            &mut self.lower_80,
            &mut self.upper_80,
            &mut self.lower_95,
            &mut self.upper_95,
        ] {
            for v in values.iter_mut() {
                *v = v.max(floor);
            }
        }
        self
    }

    /// Multiplies every value by `factor` (occupied beds to occupancy %).
    pub fn scaled(mut self, factor: f64) -> Self {
        for values in [
            &mut self.point,
            &mut self.lower_80,
            &mut self.upper_80,
            &mut self.lower_95,
            &mut self.upper_95,
        ] {
            for v in values.iter_mut() {
                *v *= factor;
            }
        }
        self
    }
}

/// Forecasts `horizon` steps after `series` with MSTL (hourly series: a
/// daily and, with two weeks or more, a weekly season; daily series: a
/// weekly season) and AutoETS (additive errors, any trend) on the
/// deseasonalised rest. Gaps are filled first ([`Series::filled`]).
pub fn fit_forecast(series: &Series, horizon: usize) -> Result<Band, ForecastError> {
    let known = series.known();
    let needed = min_known(series.cadence);
    let values = match series.filled() {
        Some(values) if known >= needed => values,
        _ => {
            return Err(ForecastError::TooShort {
                known,
                needed,
                unit: series.cadence.unit(),
            });
        }
    };
    // MSTL needs each season to fit at least twice in the history.
    let periods: Vec<usize> = series
        .cadence
        .seasons()
        .iter()
        .copied()
        .filter(|p| values.len() >= 2 * p)
        .collect();
    let method = match (series.cadence, periods.len()) {
        (Cadence::Daily, _) => Method::MstlWeeklyEts,
        (Cadence::Hourly, 2) => Method::MstlDailyWeeklyEts,
        (Cadence::Hourly, _) => Method::MstlDailyEts,
    };
    let trend = AutoETS::new(1, "AZN")
        .map_err(|e| ForecastError::Model(e.to_string()))?
        .into_trend_model();
    let fitted = MSTLModel::new(periods, trend)
        .fit(&values)
        .map_err(|e| ForecastError::Model(e.to_string()))?;
    let at_80 = fitted
        .predict(horizon, 0.8)
        .map_err(|e| ForecastError::Model(e.to_string()))?;
    let at_95 = fitted
        .predict(horizon, 0.95)
        .map_err(|e| ForecastError::Model(e.to_string()))?;
    let (lower_80, upper_80) = bounds(&at_80)?;
    let (lower_95, upper_95) = bounds(&at_95)?;
    let band = Band {
        method,
        point: at_80.point,
        lower_80,
        upper_80,
        lower_95,
        upper_95,
    };
    if band
        .point
        .iter()
        .chain(&band.upper_95)
        .any(|v| !v.is_finite())
    {
        return Err(ForecastError::Model(
            "the model gave a value that is not a number".to_owned(),
        ));
    }
    Ok(band)
}

fn bounds(forecast: &Forecast) -> Result<(Vec<f64>, Vec<f64>), ForecastError> {
    let intervals = forecast
        .intervals
        .as_ref()
        .ok_or_else(|| ForecastError::Model("the model gave no prediction intervals".to_owned()))?;
    Ok((intervals.lower.clone(), intervals.upper.clone()))
}

/// The same hour (day) a week before, repeated: the yardstick every
/// forecast is measured against. Its intervals come from the spread of its
/// own in-sample errors (the empirical 10/90% and 2.5/97.5% quantiles), the
/// same at every step ahead within the first week.
pub fn seasonal_naive(series: &Series, horizon: usize) -> Result<Band, ForecastError> {
    let known = series.known();
    let week = series.cadence.week();
    let values = match series.filled() {
        Some(values) if values.len() > week => values,
        _ => {
            return Err(ForecastError::TooShort {
                known,
                needed: week + 1,
                unit: series.cadence.unit(),
            });
        }
    };
    let n = values.len();
    let mut errors: Vec<f64> = (week..n).map(|i| values[i] - values[i - week]).collect();
    errors.sort_by(f64::total_cmp);
    let q = |p: f64| errors[((errors.len() - 1) as f64 * p).round() as usize];
    let point: Vec<f64> = (0..horizon).map(|h| values[n - week + h % week]).collect();
    let shift = |d: f64| point.iter().map(|p| p + d).collect::<Vec<_>>();
    Ok(Band {
        method: Method::SeasonalNaive,
        lower_80: shift(q(0.10)),
        upper_80: shift(q(0.90)),
        lower_95: shift(q(0.025)),
        upper_95: shift(q(0.975)),
        point,
    })
}

/// The in-sample mean absolute error of seasonal-naive at a lag of `week`
/// steps (168 hours, or 7 days): the scale of MASE. `None` with a week or
/// less of history.
pub fn seasonal_naive_scale(values: &[f64], week: usize) -> Option<f64> {
    if values.len() <= week {
        return None;
    }
    let errors: f64 = (week..values.len())
        .map(|i| (values[i] - values[i - week]).abs())
        .sum();
    Some(errors / (values.len() - week) as f64)
}
