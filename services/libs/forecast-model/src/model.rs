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

    /// Scales each step's 80% and 95% intervals about the point forecast
    /// by its factors (80%, 95%). The 95% interval never ends inside the
    /// 80%, and no interval is narrower, on either side, than the one an
    /// hour before it: what is uncertain at 10 hours is no less so at 11.
    /// Steps without a factor are left as they are.
    pub fn widened(mut self, factors: &[(f64, f64)]) -> Self {
        let mut previous = [0.0f64; 4];
        for (h, (at_80, at_95)) in factors.iter().enumerate().take(self.point.len()) {
            let p = self.point[h];
            let below_80 = ((p - self.lower_80[h]) * at_80).max(previous[0]);
            let above_80 = ((self.upper_80[h] - p) * at_80).max(previous[1]);
            let below_95 = ((p - self.lower_95[h]) * at_95)
                .max(below_80)
                .max(previous[2]);
            let above_95 = ((self.upper_95[h] - p) * at_95)
                .max(above_80)
                .max(previous[3]);
            previous = [below_80, above_80, below_95, above_95];
            self.lower_80[h] = p - below_80;
            self.upper_80[h] = p + above_80;
            self.lower_95[h] = p - below_95;
            self.upper_95[h] = p + above_95;
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

/// Origins held out, one season (a day of hours, a week of days) apart,
/// to calibrate the intervals of a forecast.
pub const CALIBRATION_ORIGINS: usize = 6;

/// Forecasts `horizon` steps after `series` with MSTL (hourly series: a
/// daily and, with two weeks or more, a weekly season; daily series: a
/// weekly season) and AutoETS (additive errors, any trend) on the
/// deseasonalised rest. Gaps are filled first ([`Series::filled`]).
///
/// The model's own intervals treat the seasons as known, and on hospital
/// flow they hold too little (about 55-75% of actual values inside the
/// "80%" interval in the backtest). So the intervals are calibrated on the
/// series' own recent past: the model is refitted at
/// [`CALIBRATION_ORIGINS`] earlier origins, each forecast is compared with
/// what happened, and the 80% (95%) interval is scaled about the point
/// forecast by the factor that would have held 80% (95%) of those errors
/// ([`calibration`]). Its shape, widening with the horizon, is the model's.
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
    let band = fit_values(&values, series.cadence, horizon)?;
    Ok(match calibration(&values, series.cadence, horizon) {
        Some(factors) => band.widened(&factors),
        None => band,
    })
}

/// For each step ahead, the factors by which the 80% and 95% half-widths
/// must be multiplied to have held 80% and 95% of the errors of forecasts
/// made at [`CALIBRATION_ORIGINS`] earlier origins, each error divided by
/// the half-width on its side; the errors of the steps near it (within a
/// quarter of its lead time, at least 3 steps) are pooled, so each factor
/// rests on tens of errors. Clamped to 0.5-5. `None` when the history is
/// too short to hold back a whole horizon and still fit.
pub fn calibration(values: &[f64], cadence: Cadence, horizon: usize) -> Option<Vec<(f64, f64)>> {
    let step = cadence.seasons()[0];
    let mut ratios: Vec<Vec<(f64, f64)>> = vec![Vec::new(); horizon];
    let mut origins = 0;
    for k in 0..CALIBRATION_ORIGINS {
        let Some(origin) = values.len().checked_sub(horizon + k * step) else {
            break;
        };
        if origin < 2 * min_known(cadence) {
            break;
        }
        let Ok(band) = fit_values(&values[..origin], cadence, horizon) else {
            continue;
        };
        origins += 1;
        for (h, actual) in values[origin..origin + horizon].iter().enumerate() {
            let error = actual - band.point[h];
            let (half_80, half_95) = if error >= 0.0 {
                (
                    band.upper_80[h] - band.point[h],
                    band.upper_95[h] - band.point[h],
                )
            } else {
                (
                    band.point[h] - band.lower_80[h],
                    band.point[h] - band.lower_95[h],
                )
            };
            if half_80 > 0.0 && half_95 > 0.0 {
                ratios[h].push((error.abs() / half_80, error.abs() / half_95));
            }
        }
    }
    if origins < 2 {
        return None;
    }
    let quantile = |mut ratios: Vec<f64>, p: f64| {
        if ratios.is_empty() {
            return 1.0;
        }
        ratios.sort_by(f64::total_cmp);
        let at = ((ratios.len() - 1) as f64 * p).round() as usize;
        ratios[at].clamp(0.5, 5.0)
    };
    Some(
        (0..horizon)
            .map(|h| {
                let reach = (h / 4).max(3);
                let near = h.saturating_sub(reach)..(h + reach + 1).min(horizon);
                let pooled = || ratios[near.clone()].iter().flatten();
                (
                    quantile(pooled().map(|r| r.0).collect(), 0.80),
                    quantile(pooled().map(|r| r.1).collect(), 0.95),
                )
            })
            .collect(),
    )
}

/// Fits gap-free `values` and forecasts `horizon` steps with the model's
/// own intervals.
fn fit_values(values: &[f64], cadence: Cadence, horizon: usize) -> Result<Band, ForecastError> {
    // MSTL needs each season to fit at least twice in the history.
    let periods: Vec<usize> = cadence
        .seasons()
        .iter()
        .copied()
        .filter(|p| values.len() >= 2 * p)
        .collect();
    let method = match (cadence, periods.len()) {
        (Cadence::Daily, _) => Method::MstlWeeklyEts,
        (Cadence::Hourly, 2) => Method::MstlDailyWeeklyEts,
        (Cadence::Hourly, _) => Method::MstlDailyEts,
    };
    let trend = AutoETS::new(1, "AZN")
        .map_err(|e| ForecastError::Model(e.to_string()))?
        .into_trend_model();
    let fitted = MSTLModel::new(periods, trend)
        .fit(values)
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
