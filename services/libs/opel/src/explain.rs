//! Why a level is what it is: each parameter's contribution to a score,
//! the parameters that drive it, and the sentence shown on the wall, in the
//! API and in the alert when a level changes.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{Level, OpelConfig, ParameterRule};

/// How many parameters are named as a level's drivers at most.
pub const MAX_DRIVERS: usize = 3;

/// One parameter's part in a score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    /// The parameter's name in the configuration, e.g. `ga_occupancy_pct`.
    pub parameter: String,
    /// Its label for people, e.g. "G&A occupancy".
    pub label: String,
    /// Its unit as shown after the value (`%`, `min`, or empty).
    pub unit: String,
    /// Its value.
    pub value: f64,
    /// What it scores on its own, 1 to 4.
    pub score: u8,
    /// The lowest threshold it reached (`None` when it scores 1).
    pub threshold: Option<f64>,
    /// Its weight in the configuration.
    pub weight: f64,
    /// Its weight as a share of the weights of the parameters present (0 to 1).
    pub share: f64,
    /// How much it adds to the score above 1: `share × (score − 1)`. The
    /// contributions' sum plus 1 is the score (up to rounding).
    pub adds: f64,
    /// Whether its thresholds are still placeholders.
    pub placeholder: bool,
}

/// A score with every parameter's contribution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The weighted score, 1 to 4.
    pub score: f64,
    /// The level the score falls in (without hysteresis).
    pub level: Level,
    /// Every parameter present, the largest contribution first (then by name).
    pub contributions: Vec<Contribution>,
}

impl Explanation {
    /// The parameters that drive the level: those scoring above 1, the
    /// largest contribution first, at most [`MAX_DRIVERS`].
    pub fn drivers(&self) -> Vec<&Contribution> {
        self.contributions
            .iter()
            .filter(|c| c.score > 1)
            .take(MAX_DRIVERS)
            .collect()
    }

    /// One line naming the drivers, e.g. "G&A occupancy 96.1% (≥ 95%),
    /// NCTR share 16.2% (≥ 15%)", or "no parameter above its first
    /// threshold".
    pub fn text(&self) -> String {
        let drivers = self.drivers();
        if drivers.is_empty() {
            return "no parameter above its first threshold".to_owned();
        }
        drivers
            .iter()
            .map(|c| {
                let threshold = c
                    .threshold
                    .map(|t| format!(" (≥ {}{})", number(t), c.unit))
                    .unwrap_or_default();
                format!("{} {}{}{threshold}", c.label, number(c.value), c.unit)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A value as shown: whole numbers without a decimal point, others to one place.
fn number(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn score_of(rule: &ParameterRule, value: f64) -> (u8, Option<f64>) {
    let reached = rule.thresholds.iter().filter(|t| value >= **t).count();
    let threshold = reached.checked_sub(1).map(|i| rule.thresholds[i]);
    (1 + reached as u8, threshold)
}

impl OpelConfig {
    /// The score of a site of `kind` with each parameter's contribution, or
    /// `None` when none of its kind's parameters is known. Its `score` is
    /// [`OpelConfig::score`].
    pub fn explain(&self, kind: &str, parameters: &BTreeMap<String, f64>) -> Option<Explanation> {
        let rules = self.site_kinds.get(kind)?;
        let present: Vec<(&String, &ParameterRule, f64)> = rules
            .parameters
            .iter()
            .filter_map(|(name, rule)| {
                let value = parameters.get(name).copied().filter(|v| v.is_finite())?;
                Some((name, rule, value))
            })
            .collect();
        let weights: f64 = present.iter().map(|(_, rule, _)| rule.weight).sum();
        if weights <= 0.0 {
            return None;
        }
        let mut contributions: Vec<Contribution> = present
            .into_iter()
            .map(|(name, rule, value)| {
                let (score, threshold) = score_of(rule, value);
                let share = rule.weight / weights;
                Contribution {
                    parameter: name.clone(),
                    label: if rule.label.is_empty() {
                        name.clone()
                    } else {
                        rule.label.clone()
                    },
                    unit: rule.unit.clone(),
                    value,
                    score,
                    threshold,
                    weight: rule.weight,
                    share,
                    adds: share * f64::from(score - 1),
                    placeholder: rule.placeholder,
                }
            })
            .collect();
        contributions.sort_by(|a, b| {
            b.adds
                .total_cmp(&a.adds)
                .then_with(|| a.parameter.cmp(&b.parameter))
        });
        // The weighted mean, summed as weight × score so whole scores stay whole.
        let score = contributions
            .iter()
            .map(|c| c.weight * f64::from(c.score))
            .sum::<f64>()
            / weights;
        Some(Explanation {
            score,
            level: self.level_of(score),
            contributions,
        })
    }
}
