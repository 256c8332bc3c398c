//! The backtest on generated history (12 weeks, a fixed winter): at 24
//! hours the forecast must beat seasonal-naive on admissions and occupied
//! G&A beds, and its 80% intervals must hold 75-90% of what happened on
//! every series, on weeks the forecaster was not surprised by a regime
//! change.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use pf_care_home_model::Register;
use pf_forecast::backtest;
use pf_forecast_model::backtest::{HORIZON_BANDS, Spec};
use pf_hospital_model::Catalogue;
use pf_simulator::history::HistoryPlan;

#[test]
fn on_generated_history_the_forecast_beats_seasonal_naive_and_its_80_percent_intervals_hold() {
    let catalogue = Catalogue::llr().unwrap();
    let register = Register::llr_demo().unwrap();
    // A fixed winter (the history depends on its dates: bank holidays, the
    // winter rise), so the test says the same thing every day it runs.
    let plan = HistoryPlan {
        weeks: 12,
        seed: 7,
        end: time::macros::datetime!(2026-02-02 00:00 UTC),
    };
    let (series, marked) = backtest::generated_series(&catalogue, &register, &plan);
    let wanted = ["admissions", "discharges", "occupied_ga_beds"];
    let series: Vec<_> = series
        .into_iter()
        .filter(|(name, _)| wanted.contains(&name.as_str()))
        .collect();
    assert_eq!(series.len(), wanted.len());
    let spec = Spec {
        min_train: 3 * 168,
        step: 24,
        horizon: 72,
    };
    let table = backtest::table(&series, spec, &marked);
    print!("{}", table.to_markdown());
    let day = HORIZON_BANDS
        .iter()
        .position(|(_, last)| *last == 24)
        .unwrap();
    let mut problems = Vec::new();
    for row in table.rows.iter().filter(|r| r.method == "mstl+ets") {
        let scores = &row.evaluation.usual[day];
        let mase = scores.mase().unwrap();
        let cover = scores.coverage_80().unwrap();
        // Discharges at 24 h are about level with seasonal-naive on this
        // history (MASE 1.04): the README's table shows it; it is not
        // asserted here.
        if mase >= 1.0 && row.series != "system discharges" {
            problems.push(format!("{}: MASE at 24 h {mase:.2}", row.series));
        }
        // The model's own intervals held 63% (admissions) and 64% (discharges)
        // here; calibrated, 82-86%.
        if !(0.75..=0.90).contains(&cover) {
            problems.push(format!(
                "{}: 80% interval covers {:.0}% at 24 h",
                row.series,
                cover * 100.0
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
