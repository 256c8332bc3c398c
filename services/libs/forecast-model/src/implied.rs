//! The OPEL level a forecast implies.
//!
//! Only two acute parameters are forecast: G&A occupancy and the NCTR share
//! (NCTR patients per 100 occupied G&A beds). Every other parameter of the
//! scope (escalation beds open, and any parameter added later) is held at
//! its latest value, and the answer says so.

use std::collections::BTreeMap;

use pf_opel::{Level, OpelConfig};
use serde::Serialize;

/// The parameters a forecast gives.
pub const FORECAST_PARAMETERS: [&str; 2] = ["ga_occupancy_pct", "nctr_share_pct"];

/// The level implied at one hour ahead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImpliedLevel {
    /// The level from the point forecasts.
    pub level: Level,
    /// Its score (1 to 4).
    pub score: f64,
    /// The parameters it was computed from.
    pub parameters: BTreeMap<String, f64>,
    /// The parameters held at their latest value (not forecast).
    pub held_at_latest: Vec<String>,
}

/// The level of a scope of `kind` (e.g. `acute`, `system`) when G&A
/// occupancy is `occupancy_pct` and NCTR patients are `nctr` for `occupied`
/// occupied G&A beds, with every other parameter from `latest`. `None` when
/// the configuration knows none of the parameters.
pub fn implied_level(
    config: &OpelConfig,
    kind: &str,
    occupancy_pct: f64,
    occupied: f64,
    nctr: Option<f64>,
    latest: &BTreeMap<String, f64>,
) -> Option<ImpliedLevel> {
    let mut parameters = latest.clone();
    parameters.insert("ga_occupancy_pct".to_owned(), round1(occupancy_pct));
    if let Some(nctr) = nctr.filter(|_| occupied > 0.0) {
        parameters.insert(
            "nctr_share_pct".to_owned(),
            round1(nctr.max(0.0) * 100.0 / occupied),
        );
    }
    let score = config.score(kind, &parameters)?;
    let held_at_latest = latest
        .keys()
        .filter(|k| !FORECAST_PARAMETERS.contains(&k.as_str()))
        .cloned()
        .collect();
    Some(ImpliedLevel {
        level: config.level_of(score),
        score,
        parameters,
        held_at_latest,
    })
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forecast_occupancy_and_nctr_raise_the_level_and_the_rest_is_held() {
        let Ok(config) = OpelConfig::llr_defaults() else {
            panic!("the shipped OPEL configuration reads");
        };
        let latest = BTreeMap::from([("escalation_beds_open".to_owned(), 0.0)]);
        let calm = implied_level(&config, "acute", 85.0, 500.0, Some(20.0), &latest);
        let busy = implied_level(&config, "acute", 99.0, 500.0, Some(110.0), &latest);
        let (Some(calm), Some(busy)) = (calm, busy) else {
            panic!("acute parameters are configured");
        };
        assert_eq!(calm.level, Level::One);
        assert!(busy.level > calm.level, "{busy:?}");
        assert_eq!(busy.held_at_latest, vec!["escalation_beds_open".to_owned()]);
        assert_eq!(busy.parameters["nctr_share_pct"], 22.0);
    }
}
