//! Forecasts of the region's hourly series, with honest intervals and a
//! backtest that says how good they are.
//!
//! A series is one figure of one scope (a site, a trust or the system) per
//! hour: admissions, discharges (all and by pathway), occupied G&A beds,
//! patients with no criteria to reside (NCTR) or care-home vacancies of a
//! category. [`fit_forecast`] forecasts the next hours with MSTL (daily and
//! weekly seasonality, from the `augurs` crate) and an AutoETS model of what
//! is left (trend and level), with 80% and 95% prediction intervals.
//! [`seasonal_naive`] (the same hour last week) is the yardstick: a forecast
//! that cannot beat it is not worth showing, and the backtest says which.
//!
//! # Layout
//! - [`series`]: [`Series`], one value per hour (or per day, [`Cadence`])
//!   with gaps allowed, and how a gap is filled before fitting
//!   ([`Series::filled`]).
//! - [`daily_csv`]: a trust's own history (daily admissions and discharges
//!   as CSV) read into daily series, for backtests on real data.
//! - [`model`]: [`fit_forecast`], [`seasonal_naive`], [`Band`] (a point
//!   forecast and its 80%/95% intervals per hour ahead), [`ForecastError`].
//! - [`backtest`]: rolling-origin evaluation ([`backtest::rolling_origin`]):
//!   MAE, MASE (scaled by the in-sample MAE of seasonal-naive at lag 168 h),
//!   and 80%/95% interval coverage per horizon band (1-6, 7-24, 25-48,
//!   49-72 h), with origins whose window touches a marked week (a regime
//!   change) reported separately; [`backtest::Table`] prints it.
//! - [`implied`]: the OPEL level a forecast implies ([`implied::implied_level`]):
//!   forecast occupancy and NCTR share, every other parameter held at its
//!   latest value.
#![forbid(unsafe_code)]

pub mod backtest;
pub mod daily_csv;
pub mod implied;
pub mod model;
pub mod series;

pub use model::{
    Band, CALIBRATION_ORIGINS, ForecastError, Method, calibration, fit_forecast, seasonal_naive,
};
pub use series::{Cadence, HOURS_PER_DAY, HOURS_PER_WEEK, HourlySeries, Series};

/// How many hours ahead the platform forecasts.
pub const HORIZON_HOURS: usize = 72;
