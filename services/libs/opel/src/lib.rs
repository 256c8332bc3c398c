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
#![forbid(unsafe_code)]

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
        let rules = self.site_kinds.get(kind)?;
        let (mut sum, mut weights) = (0.0, 0.0);
        for (name, rule) in &rules.parameters {
            if let Some(value) = parameters.get(name).filter(|v| v.is_finite()) {
                let score = 1 + rule.thresholds.iter().filter(|t| *value >= **t).count();
                sum += rule.weight * score as f64;
                weights += rule.weight;
            }
        }
        (weights > 0.0).then(|| sum / weights)
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

    fn level_starts(&self, level: Level) -> f64 {
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
}
