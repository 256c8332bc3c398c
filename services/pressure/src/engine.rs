//! From a snapshot of the live state to parameters, levels and alerts.
//! Pure: no I/O, the time is given, so it is tested without servers.

use std::collections::{BTreeMap, VecDeque};

use pf_hospital_model::{BedKind, Catalogue, GA_KINDS, KindFigures, SiteKind};
use pf_live_state::Snapshot;
use pf_live_state::urgent_care::{self, UrgentCareFigures};
use pf_opel::{Contribution, Level, LevelTracker, OpelConfig};
use serde::Serialize;
use time::OffsetDateTime;

/// The scope name of the whole system.
pub const SYSTEM: &str = "system";

/// One site as the engine knows it.
#[derive(Debug, Clone)]
pub struct SiteInfo {
    /// Name.
    pub name: String,
    /// Kind, as named in the OPEL configuration.
    pub kind: &'static str,
    /// Which beds its occupancy parameter covers.
    pub occupancy: OccupancyMeasure,
}

/// A scope's occupancy parameter: its name and the bed kinds it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OccupancyMeasure {
    /// The parameter's name in the OPEL configuration and the alerts.
    pub parameter: &'static str,
    /// The bed kinds it covers (core and escalation beds, closed ones
    /// left out: [`pf_hospital_model::Occupancy`]).
    pub kinds: &'static [BedKind],
}

/// G&A occupancy: acute sites and the system. The wall's
/// `ga_occupancy_pct` is the same figure (the same kinds, [`GA_KINDS`],
/// the same rule).
pub const GA_OCCUPANCY: OccupancyMeasure = OccupancyMeasure {
    parameter: "ga_occupancy_pct",
    kinds: GA_KINDS,
};

/// The occupancy parameter of a site of `kind`: the one place that says
/// which beds each scope's OPEL occupancy covers. Each parameter is named
/// after its beds, so `ga_occupancy_pct` is only ever G&A beds (the wall
/// shows it under the same name); community, mental-health and
/// virtual-ward sites are scored on their own beds under their own names.
pub fn occupancy_measure(kind: SiteKind) -> OccupancyMeasure {
    match kind {
        SiteKind::Acute => GA_OCCUPANCY,
        SiteKind::Community => OccupancyMeasure {
            parameter: "community_occupancy_pct",
            kinds: &[BedKind::Community],
        },
        SiteKind::MentalHealth => OccupancyMeasure {
            parameter: "mental_health_occupancy_pct",
            kinds: &[BedKind::MentalHealth],
        },
        SiteKind::VirtualWard => OccupancyMeasure {
            parameter: "virtual_ward_occupancy_pct",
            kinds: &[BedKind::VirtualWard],
        },
    }
}

/// Sites by ODS code, from the catalogue.
pub fn sites(catalogue: &Catalogue) -> BTreeMap<String, SiteInfo> {
    let mut sites = BTreeMap::new();
    for trust in &catalogue.trusts {
        for site in &trust.sites {
            let kind = match site.kind {
                SiteKind::Acute => "acute",
                SiteKind::Community => "community",
                SiteKind::MentalHealth => "mental_health",
                SiteKind::VirtualWard => "virtual_ward",
            };
            sites.insert(
                site.code.to_string(),
                SiteInfo {
                    name: site.name.clone(),
                    kind,
                    occupancy: occupancy_measure(site.kind),
                },
            );
        }
    }
    sites
}

/// Alert thresholds other than level changes.
#[derive(Debug, Clone, Copy)]
pub struct AlertRules {
    /// Occupancy must fall this many points below a crossed threshold
    /// before crossing it again raises another alert.
    pub occupancy_margin_pct: f64,
    /// This many more patients waiting (NCTR) in the system within
    /// `nctr_surge_window_secs` is a surge.
    pub nctr_surge: i64,
    /// The surge window.
    pub nctr_surge_window_secs: i64,
    /// This many patients in a site's ED over 12 hours from arrival raise
    /// an `ed_12h_waits` alert (0: off).
    pub ed_over_12h: i64,
    /// This many of a site's handovers today (done, or waiting now) over
    /// 60 minutes raise a `handover_delays` alert (0: off).
    pub handovers_over_60: i64,
    /// G&A occupancy (%) of an acute site or of the system at or above
    /// this raises a `ga_occupancy_high` alert, cleared once it falls
    /// `occupancy_margin_pct` below (0: off).
    pub ga_occupancy_pct: f64,
    /// A care home's figures count as stale when older than this many
    /// hours, or never given (the wall's rule, [`CareHomeRecord::is_stale`]).
    ///
    /// [`CareHomeRecord::is_stale`]: pf_care_home_model::CareHomeRecord::is_stale
    pub stale_return_hours: i64,
    /// This many care homes with stale figures raise a
    /// `care_home_returns_stale` alert for the system (0: off).
    pub stale_homes: i64,
}

/// The alerts that hold while a condition lasts: raised once when it
/// starts, cleared (an `info` notice of the same kind, `details.cleared`
/// true) when it ends, and raised again only after that.
pub const HOLDING_KINDS: [&str; 4] = [
    "ed_12h_waits",
    "handover_delays",
    "ga_occupancy_high",
    "care_home_returns_stale",
];

impl Default for AlertRules {
    fn default() -> Self {
        Self {
            occupancy_margin_pct: 2.0,
            nctr_surge: 10,
            nctr_surge_window_secs: 3600,
            ed_over_12h: 1,
            handovers_over_60: 3,
            ga_occupancy_pct: 95.0,
            stale_return_hours: 24,
            stale_homes: 10,
        }
    }
}

/// Bed figures of one scope, its waiting patients, and its ED and
/// ambulance figures.
#[derive(Debug, Clone, Default, PartialEq)]
struct Figures {
    beds: KindFigures,
    waiting: i64,
    urgent: UrgentCareFigures,
}

impl Figures {
    /// The OPEL parameters: occupancy of the beds `measure` covers,
    /// escalation beds open (any kind), waiting patients per occupied bed
    /// of those kinds, and, where the ED and ambulance feeds reach the
    /// scope, the % of patients in ED over 4 and 12 hours, the % of
    /// today's handovers over 60 minutes and the ambulance hours lost today
    /// (defined once in [`pf_live_state::urgent_care`]), and for the system
    /// the ambulance service's own escalation level
    /// (`ambulance_reap_level` or `ambulance_opel_level`).
    fn parameters(&self, measure: OccupancyMeasure) -> BTreeMap<String, f64> {
        let mut parameters = BTreeMap::new();
        let main = self.beds.of(measure.kinds);
        if let Some(occupancy) = main.occupancy_pct() {
            parameters.insert(measure.parameter.to_owned(), occupancy);
            parameters.insert(
                "escalation_beds_open".to_owned(),
                self.beds.all().escalation_open as f64,
            );
        }
        if main.occupied > 0 {
            parameters.insert(
                "nctr_share_pct".to_owned(),
                round1(self.waiting as f64 * 100.0 / main.occupied as f64),
            );
        }
        let urgent = &self.urgent;
        if let Some(pct) = urgent.over_4h_pct() {
            parameters.insert("ed_over_4h_pct".to_owned(), pct);
        }
        if let Some(pct) = urgent.over_12h_pct() {
            parameters.insert("ed_over_12h_pct".to_owned(), pct);
        }
        if let Some(pct) = urgent.handovers_over_60_pct() {
            parameters.insert("ambulance_handover_over_60_pct".to_owned(), pct);
            parameters.insert("ambulance_hours_lost".to_owned(), urgent.hours_lost);
        }
        // The ambulance service's own level, on the scale its feed uses
        // (the system's figures only); scored where the configuration
        // names the parameter.
        if let Some(escalation) = &urgent.ambulance_escalation {
            parameters.insert(escalation.parameter(), f64::from(escalation.level));
        }
        parameters
    }
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// The figures of every site and of the system (every site's beds and
/// waiting patients) on `today` (a UK date). Waiting patients are the NCTR
/// patients the wall shows, counted by
/// [`pf_live_state::discharge_counts::count`].
///
/// `urgent` holds the ED and ambulance figures by site and for the system
/// ([`urgent_care::figures`]).
fn figures(
    sites: &BTreeMap<String, SiteInfo>,
    snapshot: &Snapshot,
    urgent: &BTreeMap<String, UrgentCareFigures>,
    today: time::Date,
) -> (BTreeMap<String, Figures>, Figures) {
    let mut by_site: BTreeMap<String, Figures> = BTreeMap::new();
    for ((site, _ward), counters) in &snapshot.wards {
        if !sites.contains_key(site) {
            continue;
        }
        by_site
            .entry(site.clone())
            .or_default()
            .beds
            .add_figures(&pf_live_state::counter::figures(counters));
    }
    for (site, counts) in
        pf_live_state::discharge_counts::count(snapshot.discharges.values(), today)
    {
        if let Some(figures) = by_site.get_mut(&site) {
            figures.waiting += counts.nctr_patients;
        }
    }
    for (site, figures) in urgent {
        if sites.contains_key(site) {
            by_site.entry(site.clone()).or_default().urgent = figures.clone();
        }
    }
    let mut system = Figures::default();
    for figures in by_site.values() {
        system.beds.add_figures(&figures.beds);
        system.waiting += figures.waiting;
    }
    system.urgent = urgent.get(urgent_care::SYSTEM).cloned().unwrap_or_default();
    (by_site, system)
}

/// The current state of one scope, for the API and the wall.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScopeState {
    /// Site code or `system`.
    pub scope: String,
    /// Site name, or "System".
    pub name: String,
    /// Kind of rules used.
    pub kind: String,
    /// 1 to 4 (absent until a parameter is known).
    pub level: Option<u8>,
    /// The level in words.
    pub words: Option<&'static str>,
    /// The last score.
    pub score: Option<f64>,
    /// The last parameters.
    pub parameters: BTreeMap<String, f64>,
    /// The (at most three) parameters that drive the score, the largest
    /// contribution first (see [`pf_opel::Explanation::drivers`]).
    pub drivers: Vec<Contribution>,
    /// Why the level is what it is, in words (for the system, the ICS
    /// rule's finding first).
    pub reason: String,
}

/// A level change to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct OpelChange {
    /// Site code or `system`.
    pub scope: String,
    /// Rules used.
    pub kind: String,
    /// The level before.
    pub from: Option<Level>,
    /// The level now.
    pub to: Level,
    /// The score that moved it.
    pub score: f64,
    /// The parameters the score came from.
    pub parameters: BTreeMap<String, f64>,
    /// The parameters that drive the score.
    pub drivers: Vec<Contribution>,
    /// Why the level is what it is, in words.
    pub reason: String,
}

/// An alert, as published on NATS and sent to the webhook.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Alert {
    /// UUIDv7.
    pub alert_id: String,
    /// `opel_level_changed`, `occupancy_threshold`, `care_home_closed`,
    /// `nctr_surge`, and those of [`HOLDING_KINDS`]: `ed_12h_waits`,
    /// `handover_delays`, `ga_occupancy_high`, `care_home_returns_stale`.
    pub kind: &'static str,
    /// `info`, `warning` or `critical`.
    pub severity: &'static str,
    /// Site code, `system`, or a care home's CQC location id.
    pub scope: String,
    /// One line for the banner.
    pub title: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The figures behind it.
    pub details: serde_json::Value,
}

impl Alert {
    fn new(
        kind: &'static str,
        severity: &'static str,
        scope: &str,
        title: String,
        at: OffsetDateTime,
        details: serde_json::Value,
    ) -> Self {
        Self {
            alert_id: uuid::Uuid::now_v7().to_string(),
            kind,
            severity,
            scope: scope.to_owned(),
            title,
            at,
            details,
        }
    }
}

/// What one recomputation found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Level changes (to publish as events).
    pub changes: Vec<OpelChange>,
    /// Alerts (to publish and send).
    pub alerts: Vec<Alert>,
}

/// Follows scores, occupancy, care homes and waiting patients.
pub struct Engine {
    config: OpelConfig,
    rules: AlertRules,
    sites: BTreeMap<String, SiteInfo>,
    trackers: BTreeMap<String, LevelTracker>,
    states: BTreeMap<String, ScopeState>,
    /// Per site: how many occupancy thresholds have been alerted, and since
    /// when occupancy has been clearly below the highest of them.
    occupancy_bands: BTreeMap<String, (usize, Option<OffsetDateTime>)>,
    /// (alert kind, scope) of the [`HOLDING_KINDS`] raised and not yet
    /// cleared.
    holding: std::collections::BTreeSet<(&'static str, String)>,
    /// Care homes closed to admissions at the last look (`None`: not looked yet).
    closed_homes: Option<BTreeMap<String, bool>>,
    /// (time, waiting patients in the system), within the surge window.
    waiting: VecDeque<(OffsetDateTime, i64)>,
    last_surge: Option<OffsetDateTime>,
}

impl Engine {
    /// An engine with no levels yet.
    pub fn new(config: OpelConfig, rules: AlertRules, sites: BTreeMap<String, SiteInfo>) -> Self {
        Self {
            config,
            rules,
            sites,
            trackers: BTreeMap::new(),
            states: BTreeMap::new(),
            occupancy_bands: BTreeMap::new(),
            holding: std::collections::BTreeSet::new(),
            closed_homes: None,
            waiting: VecDeque::new(),
            last_surge: None,
        }
    }

    /// Resumes a scope at a level published before (after a restart).
    pub fn resume(&mut self, scope: &str, level: Level) {
        self.trackers
            .insert(scope.to_owned(), LevelTracker::at(level));
    }

    /// Resumes a site's occupancy alerts after a restart or a takeover:
    /// `threshold_pct` is the threshold named by the last occupancy alert
    /// published for it, so that threshold and those below it count as
    /// alerted (and re-arm, as ever, once occupancy stays clearly below).
    pub fn resume_occupancy_alert(&mut self, scope: &str, threshold_pct: f64) {
        let Some(site) = self.sites.get(scope) else {
            return;
        };
        let Some(thresholds) = self
            .config
            .site_kinds
            .get(site.kind)
            .and_then(|rules| rules.parameters.get(site.occupancy.parameter))
            .map(|rule| rule.thresholds)
        else {
            return;
        };
        let alerted = thresholds.iter().filter(|t| threshold_pct >= **t).count();
        self.occupancy_bands
            .insert(scope.to_owned(), (alerted, None));
    }

    /// Resumes an alert of [`HOLDING_KINDS`] raised before and not cleared
    /// (after a restart or a takeover), so it is not raised again while it
    /// holds, and is cleared when it ends. Other kinds are ignored.
    pub fn resume_holding(&mut self, kind: &str, scope: &str) {
        if let Some(kind) = HOLDING_KINDS.iter().find(|k| **k == kind) {
            self.holding.insert((kind, scope.to_owned()));
        }
    }

    /// Resumes the time of the last NCTR surge alert published, so a new
    /// copy stays quiet for the rest of its window.
    pub fn resume_surge(&mut self, at: OffsetDateTime) {
        self.last_surge = Some(self.last_surge.map_or(at, |last| last.max(at)));
    }

    /// The current state of the system first, then each site.
    pub fn states(&self) -> Vec<ScopeState> {
        let mut states: Vec<ScopeState> = self.states.get(SYSTEM).cloned().into_iter().collect();
        states.extend(
            self.states
                .iter()
                .filter(|(scope, _)| scope.as_str() != SYSTEM)
                .map(|(_, state)| state.clone()),
        );
        states
    }

    fn kind_rules(&self, kind: &str) -> String {
        if kind == SYSTEM && !self.config.site_kinds.contains_key(SYSTEM) {
            "acute".to_owned()
        } else {
            kind.to_owned()
        }
    }

    /// Recomputes everything from `snapshot` at `now`, without ED or
    /// ambulance figures.
    pub fn step(&mut self, snapshot: &Snapshot, now: OffsetDateTime) -> Outcome {
        self.step_with(snapshot, &BTreeMap::new(), now)
    }

    /// Recomputes everything from `snapshot` and the ED and ambulance
    /// figures `urgent` (by site and for the system, as
    /// [`urgent_care::figures`] gives them) at `now`.
    pub fn step_with(
        &mut self,
        snapshot: &Snapshot,
        urgent: &BTreeMap<String, UrgentCareFigures>,
        now: OffsetDateTime,
    ) -> Outcome {
        let mut outcome = Outcome::default();
        let (by_site, system) = figures(
            &self.sites,
            snapshot,
            urgent,
            pf_live_state::discharge_counts::uk_date(now),
        );
        let mut scopes: Vec<(String, String, String, OccupancyMeasure, &Figures)> = by_site
            .iter()
            .filter_map(|(code, figures)| {
                let info = self.sites.get(code)?;
                Some((
                    code.clone(),
                    info.name.clone(),
                    info.kind.to_owned(),
                    info.occupancy,
                    figures,
                ))
            })
            .collect();
        scopes.push((
            SYSTEM.to_owned(),
            "System".to_owned(),
            self.kind_rules(SYSTEM),
            GA_OCCUPANCY,
            &system,
        ));
        for (scope, name, kind, measure, figures) in scopes {
            let parameters = figures.parameters(measure);
            let (score, drivers, reason) = self.explain(&scope, &kind, &parameters);
            if let Some(score) = score {
                let tracker = self.trackers.entry(scope.clone()).or_default();
                if let Some(change) = tracker.observe(&self.config, score, now) {
                    let title = match change.from {
                        Some(from) => format!(
                            "{name}: OPEL {} ({}) — was OPEL {}: {reason}",
                            change.to.number(),
                            change.to.words(),
                            from.number()
                        ),
                        None => format!(
                            "{name}: OPEL {} ({}): {reason}",
                            change.to.number(),
                            change.to.words()
                        ),
                    };
                    let severity = match change.to {
                        Level::Four => "critical",
                        Level::Three => "warning",
                        _ => "info",
                    };
                    outcome.alerts.push(Alert::new(
                        "opel_level_changed",
                        severity,
                        &scope,
                        title,
                        now,
                        serde_json::json!({
                            "from_level": change.from.map(Level::number),
                            "to_level": change.to.number(),
                            "words": change.to.words(),
                            "score": round2(score),
                            "parameters": parameters,
                            "drivers": drivers,
                            "reason": reason,
                        }),
                    ));
                    outcome.changes.push(OpelChange {
                        scope: scope.clone(),
                        kind: kind.clone(),
                        from: change.from,
                        to: change.to,
                        score: round2(score),
                        parameters: parameters.clone(),
                        drivers: drivers.clone(),
                        reason: reason.clone(),
                    });
                }
            }
            let thresholds = self
                .config
                .site_kinds
                .get(&kind)
                .and_then(|rules| rules.parameters.get(measure.parameter))
                .map(|rule| rule.thresholds);
            if scope != SYSTEM
                && let (Some(thresholds), Some(&occupancy)) =
                    (thresholds, parameters.get(measure.parameter))
            {
                self.occupancy_alert(&scope, &name, thresholds, occupancy, now, &mut outcome);
            }
            if measure == GA_OCCUPANCY
                && let Some(&occupancy) = parameters.get(GA_OCCUPANCY.parameter)
            {
                self.ga_occupancy_alert(&scope, &name, occupancy, now, &mut outcome);
            }
            let level = self.trackers.get(&scope).and_then(LevelTracker::level);
            self.states.insert(
                scope.clone(),
                ScopeState {
                    scope,
                    name,
                    kind,
                    level: level.map(Level::number),
                    words: level.map(Level::words),
                    score: score.map(round2),
                    parameters,
                    drivers,
                    reason,
                },
            );
        }
        self.urgent_care_alerts(&by_site, now, &mut outcome);
        self.care_home_alerts(snapshot, now, &mut outcome);
        self.stale_returns_alert(snapshot, now, &mut outcome);
        self.surge_alert(system.waiting, now, &mut outcome);
        outcome
    }

    /// A scope's score, drivers and reason. A site's score is its own
    /// parameters' ([`OpelConfig::explain`]); the system's follows the
    /// configured ICS rule ([`OpelConfig::ics`]) over the providers' levels
    /// as they stand (sites are stepped first), with its own figures as a
    /// floor when the rule says so.
    fn explain(
        &self,
        scope: &str,
        kind: &str,
        parameters: &BTreeMap<String, f64>,
    ) -> (Option<f64>, Vec<Contribution>, String) {
        let own = self.config.explain(kind, parameters);
        let drivers: Vec<Contribution> = own
            .as_ref()
            .map(|e| e.drivers().into_iter().cloned().collect())
            .unwrap_or_default();
        let own_text = own.as_ref().map(pf_opel::Explanation::text);
        if scope != SYSTEM {
            return (own.map(|e| e.score), drivers, own_text.unwrap_or_default());
        }
        let providers: Vec<(&str, Level)> = self
            .sites
            .iter()
            .filter_map(|(code, info)| {
                let level = self.trackers.get(code).and_then(LevelTracker::level)?;
                Some((info.kind, level))
            })
            .collect();
        let Some(ics) = self.config.ics(&providers, own.as_ref().map(|e| e.score)) else {
            return (None, drivers, String::new());
        };
        let mut reason = ics.text(&self.config.ics);
        if let (Some(_), Some(text)) = (ics.system_score, own_text)
            && !drivers.is_empty()
        {
            reason = format!("{reason}; system figures: {text}");
        }
        (Some(ics.score), drivers, reason)
    }

    fn occupancy_alert(
        &mut self,
        scope: &str,
        name: &str,
        thresholds: [f64; 3],
        occupancy: f64,
        now: OffsetDateTime,
        outcome: &mut Outcome,
    ) {
        let band = thresholds.iter().filter(|t| occupancy >= **t).count();
        let dwell = self.config.hysteresis.min_dwell_secs;
        let margin = self.rules.occupancy_margin_pct;
        let (alerted, low_since) = self
            .occupancy_bands
            .entry(scope.to_owned())
            .or_insert((0, None));
        if band > *alerted {
            let threshold = thresholds[band - 1];
            outcome.alerts.push(Alert::new(
                "occupancy_threshold",
                if band >= 3 { "critical" } else { "warning" },
                scope,
                format!("{name}: bed occupancy {occupancy}% (at or above {threshold}%)"),
                now,
                serde_json::json!({ "occupancy_pct": occupancy, "threshold_pct": threshold }),
            ));
            *alerted = band;
            *low_since = None;
        } else if *alerted > 0 && occupancy < thresholds[*alerted - 1] - margin {
            // Re-arm a threshold only once occupancy has stayed clearly
            // below it for the minimum dwell, so hovering raises one alert.
            let since = *low_since.get_or_insert(now);
            if (now - since).whole_seconds() >= dwell {
                while *alerted > 0 && occupancy < thresholds[*alerted - 1] - margin {
                    *alerted -= 1;
                }
                *low_since = None;
            }
        } else {
            *low_since = None;
        }
    }

    /// ED 12-hour waits and handover delays at each site, against the
    /// configured thresholds: one alert when a count reaches its threshold,
    /// another only after it has fallen below it.
    fn urgent_care_alerts(
        &mut self,
        by_site: &BTreeMap<String, Figures>,
        now: OffsetDateTime,
        outcome: &mut Outcome,
    ) {
        for (code, figures) in by_site {
            let name = self
                .sites
                .get(code)
                .map_or_else(|| code.clone(), |s| s.name.clone());
            let checks = [
                (
                    "ed_12h_waits",
                    figures.urgent.over_12h,
                    self.rules.ed_over_12h,
                    "in ED over 12 hours from arrival",
                ),
                (
                    "handover_delays",
                    figures.urgent.handovers_over_60,
                    self.rules.handovers_over_60,
                    "ambulance handovers over 60 minutes today",
                ),
            ];
            for (kind, count, threshold, what) in checks {
                let holds = threshold > 0 && count >= threshold;
                let title = if holds {
                    format!("{name}: {count} {what} (threshold {threshold})")
                } else {
                    format!("{name}: {count} {what}, below the threshold of {threshold} again")
                };
                self.hold(
                    kind,
                    code,
                    holds,
                    !holds,
                    title,
                    now,
                    serde_json::json!({ "count": count, "threshold": threshold }),
                    outcome,
                );
            }
        }
    }

    /// G&A occupancy of an acute site or the system against
    /// [`AlertRules::ga_occupancy_pct`]: raised at or above it, cleared once
    /// it is `occupancy_margin_pct` below, so hovering raises one alert.
    fn ga_occupancy_alert(
        &mut self,
        scope: &str,
        name: &str,
        occupancy: f64,
        now: OffsetDateTime,
        outcome: &mut Outcome,
    ) {
        let threshold = self.rules.ga_occupancy_pct;
        let on = threshold > 0.0;
        let holds = on && occupancy >= threshold;
        let clears = !on || occupancy < threshold - self.rules.occupancy_margin_pct;
        let title = if holds {
            format!("{name}: G&A occupancy {occupancy}% (at or above {threshold}%)")
        } else {
            format!("{name}: G&A occupancy {occupancy}%, below {threshold}% again")
        };
        self.hold(
            "ga_occupancy_high",
            scope,
            holds,
            clears,
            title,
            now,
            serde_json::json!({ "occupancy_pct": occupancy, "threshold_pct": threshold }),
            outcome,
        );
    }

    /// Care homes whose figures are stale (older than
    /// [`AlertRules::stale_return_hours`] or never given, as the wall counts
    /// them) against [`AlertRules::stale_homes`], for the system.
    fn stale_returns_alert(
        &mut self,
        snapshot: &Snapshot,
        now: OffsetDateTime,
        outcome: &mut Outcome,
    ) {
        let hours = self.rules.stale_return_hours;
        let age = time::Duration::hours(hours);
        let stale = snapshot
            .care_homes
            .values()
            .filter(|record| record.is_stale(now, age))
            .count() as i64;
        let threshold = self.rules.stale_homes;
        let holds = threshold > 0 && stale >= threshold;
        let title = if holds {
            format!(
                "{stale} care homes' figures older than {hours} hours or never given (threshold {threshold})"
            )
        } else {
            format!(
                "{stale} care homes' figures older than {hours} hours or never given, below the threshold of {threshold} again"
            )
        };
        self.hold(
            "care_home_returns_stale",
            SYSTEM,
            holds,
            !holds,
            title,
            now,
            serde_json::json!({ "stale": stale, "threshold": threshold, "older_than_hours": hours }),
            outcome,
        );
    }

    /// One alert of [`HOLDING_KINDS`] for `scope`: raised when `holds` and
    /// not raised yet; cleared (an `info` notice) when `clears` and raised.
    #[allow(clippy::too_many_arguments)]
    fn hold(
        &mut self,
        kind: &'static str,
        scope: &str,
        holds: bool,
        clears: bool,
        title: String,
        now: OffsetDateTime,
        mut details: serde_json::Value,
        outcome: &mut Outcome,
    ) {
        let key = (kind, scope.to_owned());
        if holds {
            if self.holding.insert(key) {
                outcome
                    .alerts
                    .push(Alert::new(kind, "warning", scope, title, now, details));
            }
        } else if clears && self.holding.remove(&key) {
            details["cleared"] = serde_json::Value::Bool(true);
            outcome
                .alerts
                .push(Alert::new(kind, "info", scope, title, now, details));
        }
    }

    fn care_home_alerts(
        &mut self,
        snapshot: &Snapshot,
        now: OffsetDateTime,
        outcome: &mut Outcome,
    ) {
        let closed: BTreeMap<String, bool> = snapshot
            .care_homes
            .iter()
            .map(|(id, record)| (id.clone(), record.closure.is_some()))
            .collect();
        if let Some(before) = &self.closed_homes {
            for (id, &now_closed) in &closed {
                if now_closed && !before.get(id).copied().unwrap_or(false) {
                    let name = snapshot
                        .care_homes
                        .get(id)
                        .map(|r| r.registration.name.clone())
                        .unwrap_or_default();
                    outcome.alerts.push(Alert::new(
                        "care_home_closed",
                        "warning",
                        id,
                        format!("{name}: closed to admissions"),
                        now,
                        serde_json::json!({ "cqc_location_id": id, "name": name }),
                    ));
                }
            }
        }
        self.closed_homes = Some(closed);
    }

    fn surge_alert(&mut self, waiting: i64, now: OffsetDateTime, outcome: &mut Outcome) {
        let window = time::Duration::seconds(self.rules.nctr_surge_window_secs);
        // Keep the sample in effect at the window's start as the baseline.
        while self
            .waiting
            .get(1)
            .is_some_and(|(at, _)| now - *at >= window)
        {
            self.waiting.pop_front();
        }
        if self.waiting.back().is_none_or(|(_, last)| *last != waiting) {
            self.waiting.push_back((now, waiting));
        }
        let lowest = self
            .waiting
            .iter()
            .map(|(_, w)| *w)
            .min()
            .unwrap_or(waiting);
        let rise = waiting - lowest;
        let quiet = self.last_surge.is_none_or(|at| now - at > window);
        if self.rules.nctr_surge > 0 && rise >= self.rules.nctr_surge && quiet {
            self.last_surge = Some(now);
            outcome.alerts.push(Alert::new(
                "nctr_surge",
                "warning",
                SYSTEM,
                format!(
                    "Surge of patients with no criteria to reside: {rise} more waiting within {} minutes ({waiting} now)",
                    self.rules.nctr_surge_window_secs / 60
                ),
                now,
                serde_json::json!({ "waiting": waiting, "rise": rise, "window_secs": self.rules.nctr_surge_window_secs }),
            ));
        }
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_live_state::Counters;

    fn catalogue() -> Catalogue {
        Catalogue::from_json(
            r#"{ "region": "T", "trusts": [{ "code": "RWE", "name": "T", "short_name": "T",
              "sites": [{ "code": "RWEAA", "name": "Royal", "kind": "acute", "locality": "Leicester City",
                "postcode": "LE1 5WW", "wards": [{ "code": "WD15", "name": "W", "kind": "general_acute", "beds": 20 }] }] }] }"#,
        )
        .expect("catalogue")
    }

    fn snapshot(occupied: i64, available: i64) -> Snapshot {
        let field = |text: &str| text.parse().expect("a counter field");
        let mut counters = Counters::new();
        counters.insert(field("general_acute:occupied"), occupied);
        counters.insert(field("general_acute:available"), available);
        counters.insert(field("general_acute:closed"), 3);
        let mut snapshot = Snapshot::default();
        snapshot
            .wards
            .insert(("RWEAA".into(), "WD15".into()), counters);
        snapshot
    }

    #[test]
    fn occupancy_parameters_name_the_beds_they_cover_and_agree_with_the_wall() {
        let catalogue = Catalogue::from_json(
            r#"{ "region": "T", "trusts": [{ "code": "RWE", "name": "T", "short_name": "T",
              "sites": [
                { "code": "RWEAA", "name": "Royal", "kind": "acute", "locality": "Leicester City",
                  "postcode": "LE1 5WW", "wards": [{ "code": "WD15", "name": "W", "kind": "general_acute", "beds": 10 }] },
                { "code": "RT5CV", "name": "Coalville", "kind": "community", "locality": "Leicestershire",
                  "postcode": "LE67 4DE", "wards": [
                    { "code": "CW1", "name": "C", "kind": "community", "beds": 4 },
                    { "code": "GW1", "name": "G", "kind": "general_acute", "beds": 10 }] }] }] }"#,
        )
        .expect("catalogue");
        let ward = |pairs: &[(&str, i64)]| -> Counters {
            pairs
                .iter()
                .map(|(field, n)| (field.parse().expect("a counter field"), *n))
                .collect()
        };
        let mut snapshot = Snapshot::default();
        snapshot.wards.insert(
            ("RWEAA".into(), "WD15".into()),
            ward(&[
                ("general_acute:occupied", 9),
                ("general_acute:available", 1),
            ]),
        );
        snapshot.wards.insert(
            ("RT5CV".into(), "CW1".into()),
            ward(&[("community:occupied", 3), ("community:available", 1)]),
        );
        snapshot.wards.insert(
            ("RT5CV".into(), "GW1".into()),
            ward(&[
                ("general_acute:occupied", 1),
                ("general_acute:available", 9),
            ]),
        );
        let config = OpelConfig::llr_defaults().expect("defaults");
        let mut engine = Engine::new(config, AlertRules::default(), sites(&catalogue));
        engine.step(&snapshot, time::macros::datetime!(2026-11-30 09:00 UTC));
        let parameters = |scope: &str| {
            engine
                .states()
                .into_iter()
                .find(|s| s.scope == scope)
                .expect("the scope")
                .parameters
        };
        // A community site's occupancy is of its community beds, and says so.
        let community = parameters("RT5CV");
        assert_eq!(community.get("community_occupancy_pct"), Some(&75.0));
        assert_eq!(community.get("ga_occupancy_pct"), None);
        // G&A occupancy is of every G&A bed in the scope, as on the wall:
        // (9 + 1) / (10 + 10).
        assert_eq!(parameters("RWEAA").get("ga_occupancy_pct"), Some(&90.0));
        assert_eq!(parameters(SYSTEM).get("ga_occupancy_pct"), Some(&50.0));
    }

    #[test]
    fn the_nctr_share_counts_the_patients_the_wall_counts() {
        use pf_live_state::DischargeSummary;
        use pf_live_state::discharge_counts::{DischargeStatus, Pathway};
        let config = OpelConfig::llr_defaults().expect("defaults");
        let mut engine = Engine::new(config, AlertRules::default(), sites(&catalogue()));
        // 23:30 UTC on 30 June is 1 July in the UK (BST).
        let now = time::macros::datetime!(2026-06-30 23:30 UTC);
        let mut snapshot = snapshot(10, 10);
        let summary = |ready: time::Date, status: DischargeStatus| DischargeSummary {
            site: "RWEAA".into(),
            status,
            pathway: Pathway::P1,
            ready,
            left_on: None,
            managed_by: "RWE".into(),
        };
        for (id, ready, status) in [
            (
                "ready",
                time::macros::date!(2026 - 06 - 20),
                DischargeStatus::Ready,
            ),
            (
                "today",
                time::macros::date!(2026 - 07 - 01),
                DischargeStatus::Searching,
            ),
            (
                "later",
                time::macros::date!(2026 - 07 - 02),
                DischargeStatus::Ready,
            ),
            (
                "gone",
                time::macros::date!(2026 - 06 - 01),
                DischargeStatus::Discharged,
            ),
        ] {
            snapshot
                .discharges
                .insert(id.to_owned(), summary(ready, status));
        }
        engine.step(&snapshot, now);
        let site = engine
            .states()
            .into_iter()
            .find(|s| s.scope == "RWEAA")
            .expect("the site");
        // Two of ten occupied beds: ready by today (UK) and still waiting.
        assert_eq!(site.parameters["nctr_share_pct"], 20.0);
        let wall = pf_live_state::discharge_counts::count(
            snapshot.discharges.values(),
            pf_live_state::discharge_counts::uk_date(now),
        );
        assert_eq!(wall["RWEAA"].nctr_patients, 2, "as on the wall");
    }

    #[test]
    fn occupancy_drives_levels_and_alerts_without_flapping() {
        let config = OpelConfig::llr_defaults().expect("defaults");
        let mut engine = Engine::new(config, AlertRules::default(), sites(&catalogue()));
        let t0 = time::macros::datetime!(2026-11-30 09:00 UTC);
        let first = engine.step(&snapshot(18, 2), t0);
        // Two scopes (site and system) start at OPEL 1.
        assert_eq!(first.changes.len(), 2);
        assert!(first.changes.iter().all(|c| c.to == Level::One));
        let full = engine.step(&snapshot(20, 0), t0 + time::Duration::minutes(1));
        let site = full
            .changes
            .iter()
            .find(|c| c.scope == "RWEAA")
            .expect("site change");
        assert_eq!(site.to, Level::Three);
        assert_eq!(site.parameters["ga_occupancy_pct"], 100.0);
        assert!(full.alerts.iter().any(|a| a.kind == "occupancy_threshold"));
        // Hovering between 95 % and 100 %: nothing new.
        for minute in 2..10 {
            let (occupied, available) = if minute % 2 == 0 { (19, 1) } else { (20, 0) };
            let outcome = engine.step(
                &snapshot(occupied, available),
                t0 + time::Duration::minutes(minute),
            );
            assert!(outcome.changes.is_empty(), "minute {minute}");
            assert!(outcome.alerts.is_empty(), "minute {minute}");
        }
        let states = engine.states();
        assert_eq!(states[0].scope, SYSTEM);
        assert_eq!(states[1].level, Some(3));
    }

    #[test]
    fn a_care_home_closing_to_admissions_is_alerted_once() {
        use pf_care_home_model::{CareHomeRecord, Closure, ClosureReason, Register};
        let config = OpelConfig::llr_defaults().expect("defaults");
        let mut engine = Engine::new(config, AlertRules::default(), sites(&catalogue()));
        let register = Register::llr_demo().expect("register");
        let home = register.homes().next().expect("a home").clone();
        let id = home.cqc_location_id.to_string();
        let mut snapshot = snapshot(10, 10);
        snapshot
            .care_homes
            .insert(id.clone(), CareHomeRecord::registered(home));
        let t0 = time::macros::datetime!(2026-11-30 09:00 UTC);
        // The first look learns the homes' state: nothing to alert but the first levels.
        let first = engine.step(&snapshot, t0);
        assert!(first.alerts.iter().all(|a| a.kind == "opel_level_changed"));
        if let Some(record) = snapshot.care_homes.get_mut(&id) {
            record.closure = Some(Closure {
                reason: ClosureReason::Outbreak,
                detail: String::new(),
            });
        }
        let closed = engine.step(&snapshot, t0 + time::Duration::minutes(1));
        assert_eq!(closed.alerts.len(), 1);
        assert_eq!(closed.alerts[0].kind, "care_home_closed");
        assert_eq!(closed.alerts[0].scope, id);
        assert!(
            engine
                .step(&snapshot, t0 + time::Duration::minutes(2))
                .alerts
                .is_empty()
        );
    }

    /// ED and ambulance figures are OPEL parameters of their site: a site
    /// with quiet wards but long ED waits and late handovers is raised, and
    /// the reason names those figures.
    #[test]
    fn ed_waits_and_handover_delays_drive_a_sites_level() {
        let catalogue = catalogue();
        let code = catalogue.trusts[0].sites[0].code.to_string();
        let now = time::macros::datetime!(2026-11-30 12:00 UTC);
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).expect("ms");
        const HOUR: i64 = 3_600_000;
        let mut state = urgent_care::UrgentCareState::default();
        // Ten in the department: two over 12 h, three more over 4 h.
        let hours_ago = [13, 13, 5, 5, 5, 1, 1, 1, 1, 1];
        let ed = state.ed.entry(code.clone()).or_default();
        for (i, h) in hours_ago.iter().enumerate() {
            ed.insert(
                format!("a{i}"),
                urgent_care::EdSummary {
                    arrived_ms: now_ms - h * HOUR,
                    dta_ms: None,
                },
            );
        }
        // Two vehicles waiting 70 minutes.
        let waiting = state.waiting.entry(code.clone()).or_default();
        for i in 0..2 {
            waiting.insert(
                format!("v{i}"),
                urgent_care::AmbulanceSummary {
                    arrived_ms: now_ms - 70 * 60_000,
                },
            );
        }
        let urgent = urgent_care::figures(&state, now_ms);
        let mut quiet = Engine::new(
            OpelConfig::llr_defaults().expect("defaults"),
            AlertRules::default(),
            sites(&catalogue),
        );
        quiet.step(&snapshot(80, 20), now);
        let level_of = |engine: &Engine| {
            engine
                .states()
                .into_iter()
                .find(|s| s.scope == code)
                .expect("the site")
        };
        assert_eq!(level_of(&quiet).level, Some(1), "80 % G&A alone");

        let mut engine = Engine::new(
            OpelConfig::llr_defaults().expect("defaults"),
            AlertRules::default(),
            sites(&catalogue),
        );
        engine.step_with(&snapshot(80, 20), &urgent, now);
        let site = level_of(&engine);
        assert_eq!(site.parameters["ed_over_4h_pct"], 50.0);
        assert_eq!(site.parameters["ed_over_12h_pct"], 20.0);
        assert_eq!(site.parameters["ambulance_handover_over_60_pct"], 100.0);
        assert_eq!(site.parameters["ambulance_hours_lost"], 1.8);
        // (0.5 + 0.3 + 0.2 + 0.15×4 + 0.2×4 + 0.15×4 + 0.1) / 1.6 = 1.94.
        assert_eq!(site.level, Some(2), "{site:?}");
        assert_eq!(
            site.reason,
            "In ED over 12 h 20% (≥ 10%), Handovers over 60 min 100% (≥ 20%), In ED over 4 h 50% (≥ 50%)"
        );
        let system = level_of_system(&engine);
        assert_eq!(system.parameters["ed_over_12h_pct"], 20.0);
    }

    /// ED 12-hour waits and handover delays are alerted at their configured
    /// thresholds, once per crossing.
    #[test]
    fn ed_waits_and_handover_delays_are_alerted_at_their_thresholds() {
        let catalogue = catalogue();
        let now = time::macros::datetime!(2026-11-30 12:00 UTC);
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).expect("ms");
        let state = |over_12h: i64, late_vehicles: i64| {
            let mut state = urgent_care::UrgentCareState::default();
            let ed = state.ed.entry("RWEAA".into()).or_default();
            for i in 0..over_12h {
                ed.insert(
                    format!("a{i}"),
                    urgent_care::EdSummary {
                        arrived_ms: now_ms - 13 * 3_600_000,
                        dta_ms: None,
                    },
                );
            }
            let waiting = state.waiting.entry("RWEAA".into()).or_default();
            for i in 0..late_vehicles {
                waiting.insert(
                    format!("v{i}"),
                    urgent_care::AmbulanceSummary {
                        arrived_ms: now_ms - 70 * 60_000,
                    },
                );
            }
            urgent_care::figures(&state, now_ms)
        };
        let rules = AlertRules {
            ed_over_12h: 2,
            handovers_over_60: 1,
            ..AlertRules::default()
        };
        let mut engine = Engine::new(
            OpelConfig::llr_defaults().expect("defaults"),
            rules,
            sites(&catalogue),
        );
        let kinds = |outcome: &Outcome| -> Vec<(&'static str, String)> {
            outcome
                .alerts
                .iter()
                .filter(|a| a.kind == "ed_12h_waits" || a.kind == "handover_delays")
                .map(|a| (a.kind, a.title.clone()))
                .collect()
        };
        let below = engine.step_with(&snapshot(10, 10), &state(1, 0), now);
        assert!(kinds(&below).is_empty(), "below both thresholds");
        let at = engine.step_with(&snapshot(10, 10), &state(2, 1), now);
        assert_eq!(
            kinds(&at),
            vec![
                (
                    "ed_12h_waits",
                    "Royal: 2 in ED over 12 hours from arrival (threshold 2)".to_owned()
                ),
                (
                    "handover_delays",
                    "Royal: 1 ambulance handovers over 60 minutes today (threshold 1)".to_owned()
                ),
            ]
        );
        let still = engine.step_with(&snapshot(10, 10), &state(3, 1), now);
        assert!(kinds(&still).is_empty(), "once per crossing");
        let cleared = engine.step_with(&snapshot(10, 10), &state(1, 1), now);
        let notice = cleared
            .alerts
            .iter()
            .find(|a| a.kind == "ed_12h_waits")
            .expect("a notice that the ED alert is over");
        assert_eq!(notice.severity, "info");
        assert_eq!(notice.details["cleared"], true);
        assert_eq!(
            notice.title,
            "Royal: 1 in ED over 12 hours from arrival, below the threshold of 2 again"
        );
        assert_eq!(kinds(&cleared).len(), 1, "the handover alert still holds");
        let again = engine.step_with(&snapshot(10, 10), &state(2, 1), now);
        assert_eq!(kinds(&again).len(), 1, "again after falling below");
        let ed = again
            .alerts
            .iter()
            .find(|a| a.kind == "ed_12h_waits")
            .expect("the ED alert");
        assert_eq!(ed.details["count"], 2);
    }

    /// The ambulance service's own level, as its feed set it, is a system
    /// parameter on its scale, scored where the configuration names it.
    #[test]
    fn the_ambulance_services_level_is_a_system_parameter() {
        let catalogue = catalogue();
        let now = time::macros::datetime!(2026-11-30 12:00 UTC);
        let mut state = urgent_care::UrgentCareState::default();
        state.escalations.insert(
            "RX9".into(),
            urgent_care::EscalationSummary {
                service: "RX9".into(),
                scale: "reap".into(),
                level: 5,
                set_ms: 0,
            },
        );
        let urgent = urgent_care::figures(&state, 0);
        let mut engine = Engine::new(
            OpelConfig::llr_defaults().expect("defaults"),
            AlertRules::default(),
            sites(&catalogue),
        );
        engine.step_with(&snapshot(10, 10), &urgent, now);
        let system = level_of_system(&engine);
        assert_eq!(system.parameters["ambulance_reap_level"], 5.0);
        assert!(
            system
                .drivers
                .iter()
                .any(|d| d.parameter == "ambulance_reap_level"),
            "{system:?}"
        );
        assert!(system.reason.contains("REAP"), "{}", system.reason);
        let site = engine
            .states()
            .into_iter()
            .find(|s| s.scope == "RWEAA")
            .expect("the site");
        assert!(!site.parameters.contains_key("ambulance_reap_level"));
    }

    fn level_of_system(engine: &Engine) -> ScopeState {
        engine
            .states()
            .into_iter()
            .find(|s| s.scope == SYSTEM)
            .expect("the system")
    }

    /// The system's level follows the configured ICS rule (half of the
    /// acute providers at a level put it there) and every level carries its
    /// drivers and reason: on the state, in the change and in the alert.
    #[test]
    fn levels_carry_their_drivers_and_the_system_follows_the_ics_rule() {
        let mut wards = Vec::new();
        let mut sites_json = Vec::new();
        for i in 0..4 {
            sites_json.push(format!(
                r#"{{ "code": "S{i}", "name": "Site {i}", "kind": "acute", "locality": "L", "postcode": "LE1 5WW",
                   "wards": [{{ "code": "W", "name": "W", "kind": "general_acute", "beds": 100 }}] }}"#
            ));
            wards.push(format!("S{i}"));
        }
        let catalogue = Catalogue::from_json(&format!(
            r#"{{ "region": "T", "trusts": [{{ "code": "RWE", "name": "T", "short_name": "T", "sites": [{}] }}] }}"#,
            sites_json.join(",")
        ))
        .expect("catalogue");
        let mut snapshot = Snapshot::default();
        // Two sites at 99 % G&A occupancy (score 4 on it, 2.5 in all: OPEL
        // 3), two at 80 %: the system's own occupancy (89.5 %) says OPEL 1.
        for (i, site) in wards.iter().enumerate() {
            let occupied = if i < 2 { 99 } else { 80 };
            let counters: pf_live_state::Counters = [
                ("general_acute:occupied", occupied),
                ("general_acute:available", 100 - occupied),
            ]
            .iter()
            .map(|(f, n)| (f.parse().expect("a counter field"), *n))
            .collect();
            snapshot.wards.insert((site.clone(), "W".into()), counters);
        }
        let config = OpelConfig::llr_defaults().expect("defaults");
        assert_eq!(config.ics.min_share_pct, 50.0, "the shipped rule");
        let mut engine = Engine::new(config, AlertRules::default(), sites(&catalogue));
        let outcome = engine.step(&snapshot, time::macros::datetime!(2026-11-30 09:00 UTC));
        let system = outcome
            .changes
            .iter()
            .find(|c| c.scope == SYSTEM)
            .expect("a system level");
        assert_eq!(system.to, Level::Three, "2 of 4 acute providers at OPEL 3");
        assert!(
            system
                .reason
                .contains("2 of 4 acute providers at OPEL 3 or above"),
            "{}",
            system.reason
        );
        let site = outcome
            .changes
            .iter()
            .find(|c| c.scope == "S0")
            .expect("a site level");
        assert_eq!(site.reason, "G&A occupancy 99% (≥ 98%)");
        let state = engine
            .states()
            .into_iter()
            .find(|s| s.scope == "S0")
            .expect("the site");
        assert_eq!(state.drivers[0].parameter, "ga_occupancy_pct");
        assert_eq!(state.reason, "G&A occupancy 99% (≥ 98%)");
        let alert = outcome
            .alerts
            .iter()
            .find(|a| a.kind == "opel_level_changed" && a.scope == "S0")
            .expect("an alert");
        assert!(
            alert.title.contains("G&A occupancy 99% (≥ 98%)"),
            "{}",
            alert.title
        );
        assert_eq!(alert.details["reason"], "G&A occupancy 99% (≥ 98%)");
        assert_eq!(alert.details["drivers"][0]["parameter"], "ga_occupancy_pct");
    }
}
