//! The ICS level: how the providers' levels and the system's own figures
//! combine, by a rule read from configuration (`ics` in `opel.json`,
//! documented in `docs/opel.md`).
//!
//! The ICS is at level L when at least `min_share_pct` % of the providers
//! of `provider_kinds` (with a level) are at L or above; when
//! `with_system_parameters` is set, the level the system's own figures
//! score (G&A occupancy, NCTR share, … over every site) is a floor. The
//! result is expressed as a score (the start of the level's band, or the
//! system's own score if higher) so one [`LevelTracker`](crate::LevelTracker)
//! applies the same hysteresis to the ICS as to a site.

use serde::{Deserialize, Serialize};

use crate::{Level, OpelConfig};

/// The rule that combines provider levels into the ICS level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcsRule {
    /// Kinds of site whose levels count (e.g. `["acute"]`).
    pub provider_kinds: Vec<String>,
    /// The share of those providers (in %, above 0, at most 100) that must
    /// be at a level or above for the ICS to be at it.
    pub min_share_pct: f64,
    /// Whether the system's own figures, scored with the `system` rules,
    /// set a floor.
    pub with_system_parameters: bool,
}

impl Default for IcsRule {
    /// The behaviour before the rule was configurable: the system's own
    /// figures only (no provider kind counts).
    fn default() -> Self {
        Self {
            provider_kinds: Vec::new(),
            min_share_pct: 50.0,
            with_system_parameters: true,
        }
    }
}

/// What the rule found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IcsOutcome {
    /// The score to track (see the module's text).
    pub score: f64,
    /// The level the providers' share gives (`None`: no provider has a level).
    pub from_providers: Option<Level>,
    /// How many providers are at `from_providers` or above.
    pub providers_at_level: usize,
    /// How many providers of the kinds have a level.
    pub providers: usize,
    /// The system's own score, when used and known.
    pub system_score: Option<f64>,
}

impl IcsOutcome {
    /// The reason in words, e.g. "8 of 13 acute providers at OPEL 3 or
    /// above (rule: 50 %)".
    pub fn text(&self, rule: &IcsRule) -> String {
        let kinds = rule.provider_kinds.join("/");
        match self.from_providers {
            Some(level) => format!(
                "{} of {} {kinds} providers at OPEL {} or above (rule: {}%)",
                self.providers_at_level,
                self.providers,
                level.number(),
                rule.min_share_pct
            ),
            None => format!("no {kinds} provider has a level"),
        }
    }
}

impl OpelConfig {
    /// Combines providers' levels (`(kind, level)`) and the system's own
    /// score by the configured [`IcsRule`]; `None` when there is nothing to
    /// go on.
    pub fn ics(
        &self,
        providers: &[(&str, Level)],
        system_score: Option<f64>,
    ) -> Option<IcsOutcome> {
        let rule = &self.ics;
        let levels: Vec<Level> = providers
            .iter()
            .filter(|(kind, _)| rule.provider_kinds.iter().any(|k| k == kind))
            .map(|(_, level)| *level)
            .collect();
        let at_or_above = |level: Level| levels.iter().filter(|l| **l >= level).count();
        let from_providers = [Level::Four, Level::Three, Level::Two, Level::One]
            .into_iter()
            .find(|level| {
                !levels.is_empty()
                    && at_or_above(*level) as f64 * 100.0
                        >= rule.min_share_pct * levels.len() as f64
            });
        let system_score = system_score.filter(|_| rule.with_system_parameters);
        let provider_score = from_providers.map(|level| self.level_starts(level).max(1.0));
        let score = match (provider_score, system_score) {
            (Some(a), Some(b)) => a.max(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => return None,
        };
        Some(IcsOutcome {
            score,
            from_providers,
            providers_at_level: from_providers.map(at_or_above).unwrap_or(0),
            providers: levels.len(),
            system_score,
        })
    }
}
