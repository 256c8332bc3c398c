//! OPEL (Operational Pressures Escalation Levels), computed live.
//!
//! Each parameter of a site (G&A occupancy, the share of beds held by
//! patients with no criteria to reside, escalation beds open, …) scores 1 to
//! 4 against its thresholds; a site's score is the weighted mean of the
//! parameters it has; the score gives the level. Parameters, weights and
//! thresholds per kind of site come from configuration
//! (`data/regions/llr/opel.json` holds the default region's illustrative values), never from code.
//!
//! A [`LevelTracker`] turns scores into level changes with hysteresis: a
//! level rises as soon as the score crosses into the next band, but falls
//! only once the score is below the band by a margin and has stayed there
//! for a minimum time, so a value hovering at a threshold does not flap.
//!
//! # Layout
//! - this file: [`OpelConfig`] (parameters, weights, thresholds, score
//!   bands, hysteresis, the ICS rule; checked when read), [`Level`],
//!   [`LevelTracker`].
//! - [`explain`]: each parameter's [`Contribution`] to a score, the
//!   parameters that drive a level and the sentence that says so.
//! - [`ics`]: the configurable [`IcsRule`] combining providers' levels and
//!   the system's own figures into the ICS level.
#![forbid(unsafe_code)]

pub mod explain;
pub mod ics;

pub use explain::{Contribution, Explanation, MAX_DRIVERS};
pub use ics::{IcsOutcome, IcsRule};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The illustrative configuration of the built-in default region (LLR,
/// `data/regions/llr/opel.json`).
pub const LLR_DEFAULTS: &str = include_str!("../../../../data/regions/llr/opel.json");

/// The configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not valid JSON of the expected shape.
    #[error("the OPEL configuration is not valid: {0}")]
    Invalid(String),
    /// A rule the numbers must meet.
    #[error("the OPEL configuration is not usable: {0}")]
    Rule(String),
}

/// A parameter's weight and the values from which it scores 2, 3 and 4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParameterRule {
    /// Its weight in the site's score.
    pub weight: f64,
    /// Ascending: at or above `thresholds[0]` scores 2, `[1]` 3, `[2]` 4.
    pub thresholds: [f64; 3],
    /// Its name for people, e.g. "G&A occupancy" (the parameter's key when empty).
    #[serde(default)]
    pub label: String,
    /// Its unit after a value: `%`, ` min`, or empty.
    #[serde(default)]
    pub unit: String,
    /// Whether the thresholds are placeholders the ICB has not yet confirmed.
    #[serde(default)]
    pub placeholder: bool,
}

/// The parameters of one kind of site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteKindRules {
    /// By parameter name.
    pub parameters: BTreeMap<String, ParameterRule>,
}

/// Scores from which each level starts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreToLevel {
    /// OPEL 2 from this score.
    pub level_2_from: f64,
    /// OPEL 3 from this score.
    pub level_3_from: f64,
    /// OPEL 4 from this score.
    pub level_4_from: f64,
}

/// How reluctant a level is to fall.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hysteresis {
    /// The score must be this far below a level's start to fall.
    pub score_margin: f64,
    /// …for at least this many seconds.
    pub min_dwell_secs: i64,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpelConfig {
    /// Score bands.
    pub score_to_level: ScoreToLevel,
    /// Falling rules.
    pub hysteresis: Hysteresis,
    /// By kind of site (`acute`, `community`, `mental_health`, `virtual_ward`).
    pub site_kinds: BTreeMap<String, SiteKindRules>,
    /// How providers' levels make the ICS level (default: the system's own
    /// figures only).
    #[serde(default)]
    pub ics: IcsRule,
}

impl OpelConfig {
    /// The shipped LLR defaults.
    pub fn llr_defaults() -> Result<Self, ConfigError> {
        Self::from_json(LLR_DEFAULTS)
    }

    /// Reads and checks a configuration.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let config: Self =
            serde_json::from_str(text).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let s = config.score_to_level;
        if !(1.0 < s.level_2_from
            && s.level_2_from < s.level_3_from
            && s.level_3_from < s.level_4_from
            && s.level_4_from <= 4.0)
        {
            return Err(ConfigError::Rule(
                "score bands must rise: 1 < level_2_from < level_3_from < level_4_from <= 4".into(),
            ));
        }
        if config.hysteresis.score_margin < 0.0 || config.hysteresis.min_dwell_secs < 0 {
            return Err(ConfigError::Rule(
                "hysteresis margin and dwell cannot be negative".into(),
            ));
        }
        let share = config.ics.min_share_pct;
        if !(share > 0.0 && share <= 100.0) {
            return Err(ConfigError::Rule(
                "ics.min_share_pct must be above 0 and at most 100".into(),
            ));
        }
        for (kind, rules) in &config.site_kinds {
            for (name, rule) in &rules.parameters {
                let t = rule.thresholds;
                if !(t[0] <= t[1] && t[1] <= t[2]) || rule.weight <= 0.0 {
                    return Err(ConfigError::Rule(format!(
                        "{kind}.{name}: thresholds must rise and the weight be positive"
                    )));
                }
            }
        }
        Ok(config)
    }

    /// The score (1 to 4) of a site of `kind` from the parameters it has, or
    /// `None` when none of its kind's parameters is known.
    pub fn score(&self, kind: &str, parameters: &BTreeMap<String, f64>) -> Option<f64> {
        self.explain(kind, parameters)
            .map(|explanation| explanation.score)
    }

    /// The level a score falls in, without hysteresis.
    pub fn level_of(&self, score: f64) -> Level {
        let s = self.score_to_level;
        if score >= s.level_4_from {
            Level::Four
        } else if score >= s.level_3_from {
            Level::Three
        } else if score >= s.level_2_from {
            Level::Two
        } else {
            Level::One
        }
    }

    pub(crate) fn level_starts(&self, level: Level) -> f64 {
        let s = self.score_to_level;
        match level {
            Level::One => f64::MIN,
            Level::Two => s.level_2_from,
            Level::Three => s.level_3_from,
            Level::Four => s.level_4_from,
        }
    }
}

/// An OPEL level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// Meeting demand.
    #[serde(rename = "1")]
    One,
    /// Moderate pressure.
    #[serde(rename = "2")]
    Two,
    /// Severe pressure.
    #[serde(rename = "3")]
    Three,
    /// Care and safety at risk.
    #[serde(rename = "4")]
    Four,
}

impl Level {
    /// 1 to 4.
    pub fn number(self) -> u8 {
        match self {
            Level::One => 1,
            Level::Two => 2,
            Level::Three => 3,
            Level::Four => 4,
        }
    }

    /// The words shown with the number (colour is never the only signal).
    pub fn words(self) -> &'static str {
        match self {
            Level::One => "Meeting demand",
            Level::Two => "Moderate pressure",
            Level::Three => "Severe pressure",
            Level::Four => "Extreme pressure: care and safety at risk",
        }
    }

    fn below(self) -> Option<Level> {
        match self {
            Level::One => None,
            Level::Two => Some(Level::One),
            Level::Three => Some(Level::Two),
            Level::Four => Some(Level::Three),
        }
    }
}

/// A change of level, with the score that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LevelChange {
    /// The level before.
    pub from: Option<Level>,
    /// The level now.
    pub to: Level,
    /// The score that moved it.
    pub score: f64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Follows one site's (or the system's) score and says when its level changes.
#[derive(Debug, Clone, Default)]
pub struct LevelTracker {
    level: Option<Level>,
    /// Since when the score has been low enough to fall, if it is.
    low_since: Option<OffsetDateTime>,
}

impl LevelTracker {
    /// A tracker that resumes at `level` (e.g. the last level published
    /// before a restart), so the first score is not taken as a change.
    pub fn at(level: Level) -> Self {
        Self {
            level: Some(level),
            low_since: None,
        }
    }

    /// The current level (`None` before the first score).
    pub fn level(&self) -> Option<Level> {
        self.level
    }

    /// Takes the score at `now`; a change of level, if any.
    pub fn observe(
        &mut self,
        config: &OpelConfig,
        score: f64,
        now: OffsetDateTime,
    ) -> Option<LevelChange> {
        let target = config.level_of(score);
        let Some(current) = self.level else {
            self.level = Some(target);
            return Some(LevelChange {
                from: None,
                to: target,
                score,
                at: now,
            });
        };
        if target > current {
            // Rising pressure is shown at once.
            self.level = Some(target);
            self.low_since = None;
            return Some(LevelChange {
                from: Some(current),
                to: target,
                score,
                at: now,
            });
        }
        let falls_below = score < config.level_starts(current) - config.hysteresis.score_margin;
        if target < current && falls_below {
            let since = *self.low_since.get_or_insert(now);
            if (now - since).whole_seconds() >= config.hysteresis.min_dwell_secs {
                // Falls one band at a time to the band the score is in (never below it).
                let mut to = current.below().unwrap_or(current);
                while to > target
                    && score < config.level_starts(to) - config.hysteresis.score_margin
                {
                    to = to.below().unwrap_or(to);
                }
                self.level = Some(to);
                self.low_since = None;
                return Some(LevelChange {
                    from: Some(current),
                    to,
                    score,
                    at: now,
                });
            }
        } else {
            self.low_since = None;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn params(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn the_shipped_defaults_are_valid_and_score_by_weight() {
        let config = OpelConfig::llr_defaults().expect("valid");
        let calm = config.score(
            "acute",
            &params(&[
                ("ga_occupancy_pct", 85.0),
                ("nctr_share_pct", 5.0),
                ("escalation_beds_open", 0.0),
            ]),
        );
        assert_eq!(calm, Some(1.0));
        let full = config.score(
            "acute",
            &params(&[
                ("ga_occupancy_pct", 99.0),
                ("nctr_share_pct", 21.0),
                ("escalation_beds_open", 30.0),
            ]),
        );
        assert_eq!(full, Some(4.0));
        // Only occupancy known: it alone decides.
        assert_eq!(
            config.score("acute", &params(&[("ga_occupancy_pct", 95.5)])),
            Some(3.0)
        );
        assert_eq!(config.score("acute", &BTreeMap::new()), None);
        assert_eq!(config.level_of(2.6), Level::Three);
    }

    #[test]
    fn bad_configurations_are_refused_with_a_reason() {
        let mut config = OpelConfig::llr_defaults().expect("valid");
        config.score_to_level.level_3_from = 1.5;
        let text = serde_json::to_string(&config).expect("json");
        let err = OpelConfig::from_json(&text)
            .expect_err("refused")
            .to_string();
        assert!(err.contains("score bands must rise"), "{err}");
    }

    #[test]
    fn a_level_rises_at_once_and_falls_only_after_the_dwell_below_the_margin() {
        let config = OpelConfig::llr_defaults().expect("valid");
        let t0 = datetime!(2026-11-30 09:00 UTC);
        let mut tracker = LevelTracker::default();
        assert_eq!(
            tracker.observe(&config, 1.2, t0).map(|c| c.to),
            Some(Level::One)
        );
        let up = tracker
            .observe(&config, 2.6, t0 + time::Duration::minutes(1))
            .expect("rises");
        assert_eq!((up.from, up.to), (Some(Level::One), Level::Three));
        // Hovering just under the band's start (within the margin): no change.
        for minute in 2..60 {
            let score = if minute % 2 == 0 { 2.45 } else { 2.55 };
            assert_eq!(
                tracker.observe(&config, score, t0 + time::Duration::minutes(minute)),
                None,
                "minute {minute}"
            );
        }
        // Clearly below, but not for long enough: no change yet.
        assert_eq!(
            tracker.observe(&config, 2.0, t0 + time::Duration::minutes(61)),
            None
        );
        assert_eq!(
            tracker.observe(&config, 2.0, t0 + time::Duration::minutes(70)),
            None
        );
        // After the dwell (15 minutes) it falls.
        let down = tracker
            .observe(&config, 2.0, t0 + time::Duration::minutes(76))
            .expect("falls");
        assert_eq!((down.from, down.to), (Some(Level::Three), Level::Two));
        assert_eq!(tracker.level(), Some(Level::Two));
    }

    /// Each parameter's contribution: its own score from its thresholds,
    /// its share of the weights present, and what it adds above 1.
    #[test]
    fn each_parameter_contributes_its_score_by_its_share_of_the_weights() {
        let config = OpelConfig::llr_defaults().expect("valid");
        let explanation = config
            .explain(
                "acute",
                &params(&[
                    ("ga_occupancy_pct", 96.1),
                    ("nctr_share_pct", 16.0),
                    ("escalation_beds_open", 0.0),
                ]),
            )
            .expect("explained");
        let by_name: BTreeMap<&str, &Contribution> = explanation
            .contributions
            .iter()
            .map(|c| (c.parameter.as_str(), c))
            .collect();
        let occupancy = by_name["ga_occupancy_pct"];
        let nctr = by_name["nctr_share_pct"];
        let escalation = by_name["escalation_beds_open"];
        assert_eq!((occupancy.score, occupancy.threshold), (3, Some(95.0)));
        assert_eq!((nctr.score, nctr.threshold), (3, Some(15.0)));
        assert_eq!((escalation.score, escalation.threshold), (1, None));
        let weights = occupancy.weight + nctr.weight + escalation.weight;
        assert!((occupancy.share - occupancy.weight / weights).abs() < 1e-9);
        assert!((occupancy.adds - occupancy.share * 2.0).abs() < 1e-9);
        assert_eq!(escalation.adds, 0.0);
        let sum: f64 = explanation.contributions.iter().map(|c| c.adds).sum();
        assert!((1.0 + sum - explanation.score).abs() < 1e-9);
        assert_eq!(
            Some(explanation.score),
            config.score(
                "acute",
                &params(&[
                    ("ga_occupancy_pct", 96.1),
                    ("nctr_share_pct", 16.0),
                    ("escalation_beds_open", 0.0),
                ])
            )
        );
        // Largest contribution first.
        assert_eq!(explanation.contributions[0].parameter, "ga_occupancy_pct");
    }

    /// Every acute parameter of the framework the platform can measure is
    /// configured, each with a label and, until the ICB confirms it,
    /// marked as a placeholder; each moves the score on its own.
    #[test]
    fn every_acute_parameter_alone_moves_the_score_and_is_marked_a_placeholder() {
        let config = OpelConfig::llr_defaults().expect("valid");
        let acute = &config.site_kinds["acute"].parameters;
        for name in [
            "ga_occupancy_pct",
            "nctr_share_pct",
            "escalation_beds_open",
            "ed_over_4h_pct",
            "ed_over_12h_pct",
            "ambulance_handover_over_60_pct",
            "ambulance_hours_lost",
        ] {
            let rule = acute
                .get(name)
                .unwrap_or_else(|| panic!("{name} configured"));
            assert!(rule.placeholder, "{name} is marked a placeholder");
            assert!(!rule.label.is_empty(), "{name} has a label");
            for (i, threshold) in rule.thresholds.iter().enumerate() {
                let explanation = config
                    .explain("acute", &params(&[(name, *threshold)]))
                    .expect("explained");
                assert!(
                    (explanation.score - (i + 2) as f64).abs() < 1e-9,
                    "{name} at {threshold}: {}",
                    explanation.score
                );
                assert_eq!(explanation.drivers()[0].parameter, name);
            }
        }
    }

    /// The drivers are the (at most three) parameters above their first
    /// threshold, the largest first, and the text names them with the
    /// threshold each reached.
    #[test]
    fn the_explanation_names_the_two_or_three_parameters_that_drive_the_level() {
        let config = OpelConfig::llr_defaults().expect("valid");
        let explanation = config
            .explain(
                "acute",
                &params(&[
                    ("ga_occupancy_pct", 96.1),
                    ("nctr_share_pct", 16.0),
                    ("escalation_beds_open", 0.0),
                ]),
            )
            .expect("explained");
        let drivers: Vec<&str> = explanation
            .drivers()
            .iter()
            .map(|c| c.parameter.as_str())
            .collect();
        assert_eq!(drivers, ["ga_occupancy_pct", "nctr_share_pct"]);
        assert_eq!(
            explanation.text(),
            "G&A occupancy 96.1% (≥ 95%), NCTR share 16% (≥ 15%)"
        );
        let many = config
            .explain(
                "acute",
                &params(&[
                    ("ga_occupancy_pct", 99.0),
                    ("nctr_share_pct", 21.0),
                    ("escalation_beds_open", 30.0),
                    ("ed_over_12h_pct", 50.0),
                ]),
            )
            .expect("explained");
        assert_eq!(many.drivers().len(), MAX_DRIVERS);
        let calm = config
            .explain("acute", &params(&[("ga_occupancy_pct", 80.0)]))
            .expect("explained");
        assert!(calm.drivers().is_empty());
        assert_eq!(calm.text(), "no parameter above its first threshold");
    }

    fn with_rule(kinds: &[&str], share: f64, system: bool) -> OpelConfig {
        let mut config = OpelConfig::llr_defaults().expect("valid");
        config.ics = IcsRule {
            provider_kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
            min_share_pct: share,
            with_system_parameters: system,
        };
        config
    }

    /// The ICS rule: at least the configured share of the providers of the
    /// configured kinds at a level puts the ICS there; the system's own
    /// score is a floor when configured; other kinds do not count.
    #[test]
    fn the_ics_level_follows_the_configured_share_of_providers() {
        let mut providers = vec![("acute", Level::Three); 8];
        providers.extend(vec![("acute", Level::Two); 5]);
        providers.push(("community", Level::Four));
        let config = with_rule(&["acute"], 50.0, true);
        // The system's own figures say OPEL 2; 8 of 13 acute sites at 3.
        let outcome = config.ics(&providers, Some(2.0)).expect("combined");
        assert_eq!(config.level_of(outcome.score), Level::Three);
        assert_eq!(outcome.from_providers, Some(Level::Three));
        assert_eq!((outcome.providers_at_level, outcome.providers), (8, 13));
        assert_eq!(
            outcome.text(&config.ics),
            "8 of 13 acute providers at OPEL 3 or above (rule: 50%)"
        );
        // A stricter share: 8 of 13 is not 75 %, so OPEL 2 (all 13 at 2+).
        let strict = with_rule(&["acute"], 75.0, true);
        let outcome = strict.ics(&providers, Some(1.0)).expect("combined");
        assert_eq!(strict.level_of(outcome.score), Level::Two);
        // The system's own score above the providers' level wins when used…
        let outcome = config.ics(&providers, Some(3.5)).expect("combined");
        assert_eq!(config.level_of(outcome.score), Level::Four);
        // …and is ignored when not.
        let providers_only = with_rule(&["acute"], 50.0, false);
        let outcome = providers_only.ics(&providers, Some(3.5)).expect("combined");
        assert_eq!(providers_only.level_of(outcome.score), Level::Three);
        assert_eq!(outcome.system_score, None);
        // Counting community providers too: 9 of 14 at 3 or above.
        let both = with_rule(&["acute", "community"], 50.0, false);
        let outcome = both.ics(&providers, None).expect("combined");
        assert_eq!((outcome.providers_at_level, outcome.providers), (9, 14));
        // The default rule is the system's own figures only.
        let default = OpelConfig::llr_defaults().expect("valid");
        let mut unruled = default.clone();
        unruled.ics = IcsRule::default();
        let outcome = unruled.ics(&providers, Some(2.0)).expect("combined");
        assert_eq!((outcome.score, outcome.from_providers), (2.0, None));
        assert_eq!(unruled.ics(&[], None), None);
    }

    /// The ICS score goes through the same tracker: rising at once, falling
    /// only after the dwell below the margin.
    #[test]
    fn the_ics_level_has_the_same_hysteresis_as_a_site() {
        let config = with_rule(&["acute"], 50.0, false);
        let t0 = datetime!(2026-11-30 09:00 UTC);
        let mut tracker = LevelTracker::default();
        let at_three = vec![("acute", Level::Three); 2];
        let mixed = vec![
            ("acute", Level::Three),
            ("acute", Level::Two),
            ("acute", Level::Two),
        ];
        let score =
            |providers: &[(&str, Level)]| config.ics(providers, None).expect("combined").score;
        assert_eq!(
            tracker.observe(&config, score(&at_three), t0).map(|c| c.to),
            Some(Level::Three)
        );
        assert_eq!(
            tracker.observe(&config, score(&mixed), t0 + time::Duration::minutes(5)),
            None,
            "not for long enough"
        );
        let down = tracker
            .observe(&config, score(&mixed), t0 + time::Duration::minutes(21))
            .expect("falls after the dwell");
        assert_eq!(down.to, Level::Two);
    }

    #[test]
    fn an_ics_share_outside_0_to_100_is_refused() {
        let config = with_rule(&["acute"], 0.0, true);
        let text = serde_json::to_string(&config).expect("json");
        let err = OpelConfig::from_json(&text)
            .expect_err("refused")
            .to_string();
        assert!(err.contains("ics.min_share_pct"), "{err}");
    }
}
