//! The forecast on series with a known pattern: the pattern comes back,
//! intervals widen with the horizon, a missing hour changes nothing much,
//! and the backtest scores it against seasonal-naive.

use std::f64::consts::PI;

use pf_forecast_model::backtest::{self, Spec};
use pf_forecast_model::{HORIZON_HOURS, HourlySeries, fit_forecast, seasonal_naive};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::macros::datetime;

/// The noise-free pattern at hour `h` (hour 0 is a Monday 00:00): a daily
/// wave peaking mid-afternoon and a Monday surge.
fn pattern(h: usize) -> f64 {
    let hour = (h % 24) as f64;
    let monday = (h / 24).is_multiple_of(7);
    100.0 + 20.0 * (2.0 * PI * (hour - 9.0) / 24.0).sin() + if monday { 15.0 } else { 0.0 }
}

/// Roughly normal noise with standard deviation `sd` (sum of 12 uniforms).
fn noise(rng: &mut StdRng, sd: f64) -> f64 {
    let s: f64 = (0..12).map(|_| rng.random::<f64>()).sum();
    (s - 6.0) * sd
}

fn generated(weeks: usize, seed: u64) -> HourlySeries {
    let mut rng = StdRng::seed_from_u64(seed);
    HourlySeries::complete(
        datetime!(2026-01-05 00:00 UTC),
        (0..weeks * 168).map(|h| pattern(h) + noise(&mut rng, 3.0)),
    )
}

#[test]
fn a_known_daily_and_weekly_pattern_is_recovered_within_tolerance() {
    let series = generated(6, 1);
    let band = match fit_forecast(&series, HORIZON_HOURS) {
        Ok(band) => band,
        Err(e) => panic!("forecast failed: {e}"),
    };
    assert_eq!(band.len(), HORIZON_HOURS);
    let n = series.len();
    let mae: f64 = (0..HORIZON_HOURS)
        .map(|h| (band.point[h] - pattern(n + h)).abs())
        .sum::<f64>()
        / HORIZON_HOURS as f64;
    assert!(mae < 4.0, "mean error from the true pattern {mae:.2}");
    // The Monday surge (hours 0-23 after six whole weeks) is forecast.
    let monday: f64 = band.point[..24].iter().sum::<f64>() / 24.0;
    let tuesday: f64 = band.point[24..48].iter().sum::<f64>() / 24.0;
    assert!(
        monday - tuesday > 10.0,
        "Monday {monday:.1}, Tuesday {tuesday:.1}"
    );
}

#[test]
fn intervals_contain_the_point_and_widen_with_the_horizon() {
    let band = match fit_forecast(&generated(6, 2), HORIZON_HOURS) {
        Ok(band) => band,
        Err(e) => panic!("forecast failed: {e}"),
    };
    let width = |h: usize| band.upper_95[h] - band.lower_95[h];
    for h in 0..HORIZON_HOURS {
        assert!(band.lower_95[h] <= band.lower_80[h], "hour {h}");
        assert!(band.lower_80[h] <= band.point[h] && band.point[h] <= band.upper_80[h]);
        assert!(band.upper_80[h] <= band.upper_95[h], "hour {h}");
    }
    for h in 1..HORIZON_HOURS {
        assert!(width(h) >= width(h - 1) - 1e-9, "narrower at hour {h}");
    }
    assert!(
        width(71) > width(0),
        "72 h {} vs 1 h {}",
        width(71),
        width(0)
    );
}

#[test]
fn a_missing_hour_does_not_break_the_forecast() {
    let series = generated(6, 3);
    let mut gappy = series.clone();
    let last = gappy.len() - 1;
    gappy.values[last - 30] = None;
    gappy.values[last] = None;
    gappy.values[200] = Some(f64::NAN);
    let (Ok(whole), Ok(holed)) = (
        fit_forecast(&series, HORIZON_HOURS),
        fit_forecast(&gappy, HORIZON_HOURS),
    ) else {
        panic!("a series with missing hours is still forecast");
    };
    assert!(holed.point.iter().all(|v| v.is_finite()));
    let largest = whole
        .point
        .iter()
        .zip(&holed.point)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        largest < 5.0,
        "a missing hour moved the forecast by {largest:.2}"
    );
}

#[test]
fn too_little_history_is_a_clear_error() {
    let series = HourlySeries::complete(datetime!(2026-01-05 00:00 UTC), [1.0; 10]);
    let Err(error) = fit_forecast(&series, HORIZON_HOURS) else {
        panic!("ten hours cannot be forecast");
    };
    assert!(error.to_string().contains("only 10 hours"), "{error}");
}

#[test]
fn the_backtest_beats_seasonal_naive_on_a_stable_pattern_and_shows_a_regime_change() {
    let mut series = generated(6, 4);
    // From week 5 on, everything is 30 higher: a regime change the
    // forecaster is not told about.
    let change = 5 * 168;
    for v in series.values[change..].iter_mut().flatten() {
        *v += 30.0;
    }
    let spec = Spec {
        min_train: 3 * 168,
        step: 24,
        horizon: HORIZON_HOURS,
    };
    let regime_week = (change - HORIZON_HOURS)..(change + 168);
    let marked = std::slice::from_ref(&regime_week);
    let model = backtest::rolling_origin(&series, spec, marked, fit_forecast);
    let naive = backtest::rolling_origin(&series, spec, marked, seasonal_naive);
    let at_24 = model.usual[1];
    let mase = at_24.mase().unwrap_or(f64::INFINITY);
    assert!(mase < 1.0, "MASE at 24 h {mase:.2}");
    let naive_mae = naive.usual[1].mae().unwrap_or(0.0);
    assert!(at_24.mae().unwrap_or(f64::INFINITY) < naive_mae);
    assert!(
        model.marked[1].n > 0,
        "the regime-change windows are scored apart"
    );
    assert!(
        model.marked[1].mae() > at_24.mae(),
        "a regime change is harder than the usual weeks"
    );
    let table = backtest::Table {
        rows: vec![backtest::Row {
            series: "test".into(),
            method: "mstl+ets".into(),
            evaluation: model,
        }],
    };
    let markdown = table.to_markdown();
    assert!(
        markdown.contains("| test | mstl+ets | usual | 24 h |"),
        "{markdown}"
    );
    assert!(markdown.contains("regime change"), "{markdown}");
}
