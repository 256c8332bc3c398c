//! Backtests of the forecasts: on the platform's own history (in the
//! service, after each refit), on generated history with its regime
//! changes marked (`pf-forecast backtest`), and on a trust's daily figures
//! as CSV (`pf-forecast backtest --csv FILE`).

use std::ops::Range;

use pf_forecast_model::backtest::{self, Evaluation, HORIZON_BANDS, Row, Spec, Table};
use pf_forecast_model::{Series, fit_forecast, seasonal_naive};

use crate::fold::{self, Folded, SYSTEM};
use crate::metrics::ForecastMetrics;

/// The system series a backtest scores, by name.
pub fn system_series(folded: &Folded) -> Vec<(String, Series)> {
    let mut out = Vec::new();
    if let Some(system) = folded.by_scope.get(SYSTEM) {
        let series = |values: &[f64]| Series::complete(folded.start, values.iter().copied());
        out.push(("admissions".to_owned(), series(&system.admissions)));
        out.push(("discharges".to_owned(), series(&system.discharges)));
        out.push(("occupied_ga_beds".to_owned(), series(&system.occupied)));
        out.push(("nctr".to_owned(), series(&system.nctr)));
    }
    let vacancies: Vec<f64> = (0..folded.hours)
        .map(|h| folded.vacancies.values().map(|v| v[h]).sum())
        .collect();
    if vacancies.iter().any(|v| *v > 0.0) {
        out.push((
            "care_home_vacancies_all".to_owned(),
            Series::complete(folded.start, vacancies),
        ));
    }
    out
}

/// Backtests every named series with the forecast and with seasonal-naive.
pub fn table(series: &[(String, Series)], spec: Spec, marked: &[Range<usize>]) -> Table {
    let mut rows = Vec::new();
    for (name, values) in series {
        rows.push(Row {
            series: format!("system {name}"),
            method: "mstl+ets".to_owned(),
            evaluation: backtest::rolling_origin(values, spec, marked, fit_forecast),
        });
        rows.push(Row {
            series: format!("system {name}"),
            method: "seasonal-naive".to_owned(),
            evaluation: backtest::rolling_origin(values, spec, marked, seasonal_naive),
        });
    }
    Table { rows }
}

/// Puts the forecast rows' usual-week scores into the metrics.
pub fn record(table: &Table, metrics: &ForecastMetrics) {
    for row in table.rows.iter().filter(|r| r.method == "mstl+ets") {
        let name = row.series.trim_start_matches("system ");
        record_one(name, &row.evaluation, metrics);
    }
}

fn record_one(name: &str, evaluation: &Evaluation, metrics: &ForecastMetrics) {
    for (scores, (_, last)) in evaluation.usual.iter().zip(HORIZON_BANDS) {
        let horizon = last.to_string();
        if let Some(mase) = scores.mase() {
            metrics
                .backtest_mase
                .with_label_values(&[name, horizon.as_str()])
                .set(mase);
        }
        for (level, coverage) in [("80", scores.coverage_80()), ("95", scores.coverage_95())] {
            if let Some(coverage) = coverage {
                metrics
                    .backtest_coverage
                    .with_label_values(&[name, horizon.as_str(), level])
                    .set(coverage);
            }
        }
    }
}

/// Generates history as `pf-simulator history` writes it, folds it as the
/// service does and backtests the system's series: origins every 24 h from
/// week 3, the windows that reach into the weeks after a regime change (and
/// the 72 h before them) scored apart.
pub fn generated(
    catalogue: &pf_hospital_model::Catalogue,
    register: &pf_care_home_model::Register,
    plan: &pf_simulator::history::HistoryPlan,
) -> Table {
    let (series, marked) = generated_series(catalogue, register, plan);
    table(&series, Spec::default(), &marked)
}

/// The system's series of generated history, and the ranges (hours) of
/// the windows that reach into the weeks after a regime change.
pub fn generated_series(
    catalogue: &pf_hospital_model::Catalogue,
    register: &pf_care_home_model::Register,
    plan: &pf_simulator::history::HistoryPlan,
) -> (Vec<(String, Series)>, Vec<Range<usize>>) {
    let history = pf_simulator::history::generate(catalogue, register, plan);
    let events = history
        .events
        .into_iter()
        .map(|p| fold::Timed::new(p.event, true))
        .collect();
    let folded = fold::fold(catalogue, events, plan.end, history.hours);
    let marked = history
        .regime_weeks
        .iter()
        .map(|w| w.start.saturating_sub(72)..w.end)
        .collect();
    (system_series(&folded), marked)
}
