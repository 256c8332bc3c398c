//! Emergency department attendances and ambulance arrivals: what the fold
//! needs of each, what the live state keeps, and the one definition of the
//! figures the wall and pressure show.
//!
//! An attendance is one record per visit to a site's ED (an opaque id, no
//! patient-identifiable data): arrival, decision to admit, departure
//! (admitted, discharged or transferred). While it is in the department its
//! [`EdSummary`] is kept (arrival and decision times); on departure it is
//! removed. An ambulance arrival is one vehicle at one site: arrival,
//! handover, clear. While it waits for handover its [`AmbulanceSummary`] is
//! kept; once handed over it adds to its arrival day's (UK date) handover
//! counters and is removed. Figures that depend on the time now (over 4 h,
//! over 12 h, the longest wait, vehicles waiting over 30 or 60 minutes) are
//! worked out by [`figures`] from those summaries when read. An ambulance
//! service's own escalation level (its feed sets it: REAP 1–6 or an
//! OPEL-style 1–4) is kept as its [`EscalationSummary`] and shown with the
//! system's figures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The handover target after which a vehicle's time counts as lost (15
/// minutes, the national ambulance handover standard).
pub const HANDOVER_TARGET_SECS: i64 = 15 * 60;

/// How a patient left the ED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Departure {
    /// Admitted to a ward of the same hospital.
    Admitted,
    /// Discharged home (or elsewhere, not admitted).
    Discharged,
    /// Transferred to another provider.
    Transferred,
}

impl Departure {
    /// The word in events and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Departure::Admitted => "admitted",
            Departure::Discharged => "discharged",
            Departure::Transferred => "transferred",
        }
    }
}

/// One ED attendance's record after an event, ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdAttendanceUpdate {
    /// Event id (UUIDv7).
    pub event_id: String,
    /// Event type, e.g. `ed.arrived`.
    pub event_type: String,
    /// The attendance's version after the event.
    pub entity_version: u64,
    /// ODS site code.
    pub site: String,
    /// The attendance's opaque id (unique within the site; no patient data).
    pub attendance: String,
    /// Arrival, ms since the epoch.
    pub arrived_at_ms: i64,
    /// Decision to admit, if made.
    pub decided_to_admit_at_ms: Option<i64>,
    /// Departure, if left: when and how.
    pub departed: Option<(i64, Departure)>,
    /// When the event happened, ms since the epoch.
    pub occurred_at_ms: i64,
}

/// One ambulance arrival's record after an event, ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmbulanceUpdate {
    /// Event id (UUIDv7).
    pub event_id: String,
    /// Event type, e.g. `ambulance.arrived`.
    pub event_type: String,
    /// The arrival's version after the event.
    pub entity_version: u64,
    /// ODS site code of the hospital.
    pub site: String,
    /// The arrival's opaque id from the ambulance service.
    pub arrival: String,
    /// Arrival at hospital, ms since the epoch.
    pub arrived_at_ms: i64,
    /// Handover of the patient, if done.
    pub handed_over_at_ms: Option<i64>,
    /// The vehicle clear, if it is.
    pub cleared_at_ms: Option<i64>,
    /// When the event happened, ms since the epoch.
    pub occurred_at_ms: i64,
}

impl AmbulanceUpdate {
    /// The handover's counters on its arrival day, once handed over:
    /// (handovers, over 30 min, over 60 min, seconds lost beyond the target).
    pub fn handover_counts(&self) -> Option<[(&'static str, i64); 4]> {
        let handed = self.handed_over_at_ms?;
        let secs = (handed - self.arrived_at_ms).max(0) / 1000;
        Some([
            (HANDOVERS, 1),
            (OVER_30, i64::from(secs > 30 * 60)),
            (OVER_60, i64::from(secs > 60 * 60)),
            (LOST_SECS, (secs - HANDOVER_TARGET_SECS).max(0)),
        ])
    }
}

/// An ambulance service's escalation level after an event, ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmbulanceEscalationUpdate {
    /// Event id (UUIDv7).
    pub event_id: String,
    /// Event type, `ambulance.escalation_set`.
    pub event_type: String,
    /// The service's record version after the event.
    pub entity_version: u64,
    /// What is kept.
    pub summary: EscalationSummary,
    /// When the event happened, ms since the epoch.
    pub occurred_at_ms: i64,
}

/// An ambulance service's current escalation level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationSummary {
    /// ODS code of the ambulance service.
    pub service: String,
    /// `reap` (levels 1 to 6) or `opel` (1 to 4).
    pub scale: String,
    /// The level.
    pub level: u32,
    /// When the service moved to it, ms since the epoch.
    pub set_ms: i64,
}

impl EscalationSummary {
    /// The OPEL parameter it gives: `ambulance_reap_level` or
    /// `ambulance_opel_level`.
    pub fn parameter(&self) -> String {
        format!("ambulance_{}_level", self.scale)
    }

    /// The level in words: "REAP 3", or "Level 3" on the OPEL-style scale.
    pub fn words(&self) -> String {
        match self.scale.as_str() {
            "reap" => format!("REAP {}", self.level),
            _ => format!("Level {}", self.level),
        }
    }
}

/// A day hash's field suffix: handovers done.
pub const HANDOVERS: &str = "handovers";
/// A day hash's field suffix: handovers that took over 30 minutes.
pub const OVER_30: &str = "over_30";
/// A day hash's field suffix: handovers that took over 60 minutes.
pub const OVER_60: &str = "over_60";
/// A day hash's field suffix: seconds lost beyond the handover target.
pub const LOST_SECS: &str = "lost_secs";

/// What the figures need of an attendance still in the department.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdSummary {
    /// Arrival, ms since the epoch.
    pub arrived_ms: i64,
    /// Decision to admit, if made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dta_ms: Option<i64>,
}

/// What the figures need of a vehicle waiting to hand over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmbulanceSummary {
    /// Arrival at hospital, ms since the epoch.
    pub arrived_ms: i64,
}

/// Everything the urgent-care figures are worked out from, read at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UrgentCareState {
    /// Attendances in the department by site, then id.
    pub ed: BTreeMap<String, BTreeMap<String, EdSummary>>,
    /// Vehicles waiting to hand over by site, then id.
    pub waiting: BTreeMap<String, BTreeMap<String, AmbulanceSummary>>,
    /// Today's (UK date) handover counters by site, then field.
    pub today: BTreeMap<String, BTreeMap<String, i64>>,
    /// Ambulance services' escalation levels by ODS code.
    pub escalations: BTreeMap<String, EscalationSummary>,
}

/// One site's (or the system's) ED and ambulance figures at a time.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UrgentCareFigures {
    /// Patients in the department.
    pub in_department: i64,
    /// Of them, in the department over 4 hours from arrival.
    pub over_4h: i64,
    /// Of them, over 12 hours from arrival.
    pub over_12h: i64,
    /// Waiting for a bed after a decision to admit.
    pub waiting_for_bed: i64,
    /// The longest time in the department now, in minutes.
    pub longest_wait_mins: i64,
    /// Vehicles waiting to hand over now.
    pub vehicles_waiting: i64,
    /// Handovers today (done, plus those waiting now) over 30 minutes.
    pub handovers_over_30: i64,
    /// …over 60 minutes.
    pub handovers_over_60: i64,
    /// Ambulance hours lost today beyond the handover target (done and
    /// waiting now), to one decimal place.
    pub hours_lost: f64,
    /// Handovers done today.
    pub handovers: i64,
    /// The ambulance service's own escalation level, as its feed set it
    /// (the system only; with more than one service, the highest level).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ambulance_escalation: Option<EscalationSummary>,
    /// The same as the wall shows it: "REAP 3", or "Level 3" on the
    /// OPEL-style scale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ambulance_level: Option<String>,
}

impl UrgentCareFigures {
    /// Adds another scope's figures (the longest wait is the longer one).
    pub fn add(&mut self, other: &UrgentCareFigures) {
        self.in_department += other.in_department;
        self.over_4h += other.over_4h;
        self.over_12h += other.over_12h;
        self.waiting_for_bed += other.waiting_for_bed;
        self.longest_wait_mins = self.longest_wait_mins.max(other.longest_wait_mins);
        self.vehicles_waiting += other.vehicles_waiting;
        self.handovers_over_30 += other.handovers_over_30;
        self.handovers_over_60 += other.handovers_over_60;
        self.hours_lost = round1(self.hours_lost + other.hours_lost);
        self.handovers += other.handovers;
    }

    /// The share of patients in the department over 4 hours, in % (one
    /// decimal place; `None` with nobody in the department).
    pub fn over_4h_pct(&self) -> Option<f64> {
        (self.in_department > 0)
            .then(|| round1(self.over_4h as f64 * 100.0 / self.in_department as f64))
    }

    /// …over 12 hours.
    pub fn over_12h_pct(&self) -> Option<f64> {
        (self.in_department > 0)
            .then(|| round1(self.over_12h as f64 * 100.0 / self.in_department as f64))
    }

    /// The share of today's handovers (done and waiting over 60 minutes)
    /// that took over 60 minutes, in %.
    pub fn handovers_over_60_pct(&self) -> Option<f64> {
        let waiting_over = self.handovers_over_60;
        let all = self.handovers + self.vehicles_waiting;
        (all > 0).then(|| round1(waiting_over as f64 * 100.0 / all as f64))
    }
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// The scope name of the whole system in [`figures`].
pub const SYSTEM: &str = "system";

/// Every site's figures and the system's (key [`SYSTEM`]) at `now_ms`:
/// the one definition the wall and pressure share.
pub fn figures(state: &UrgentCareState, now_ms: i64) -> BTreeMap<String, UrgentCareFigures> {
    const HOUR_MS: i64 = 3_600_000;
    let mut by_site: BTreeMap<String, UrgentCareFigures> = BTreeMap::new();
    for (site, attendances) in &state.ed {
        let f = by_site.entry(site.clone()).or_default();
        for summary in attendances.values() {
            let stay = (now_ms - summary.arrived_ms).max(0);
            f.in_department += 1;
            f.over_4h += i64::from(stay > 4 * HOUR_MS);
            f.over_12h += i64::from(stay > 12 * HOUR_MS);
            f.waiting_for_bed += i64::from(summary.dta_ms.is_some());
            f.longest_wait_mins = f.longest_wait_mins.max(stay / 60_000);
        }
    }
    for (site, vehicles) in &state.waiting {
        let f = by_site.entry(site.clone()).or_default();
        let mut lost_secs = 0;
        for summary in vehicles.values() {
            let secs = (now_ms - summary.arrived_ms).max(0) / 1000;
            f.vehicles_waiting += 1;
            f.handovers_over_30 += i64::from(secs > 30 * 60);
            f.handovers_over_60 += i64::from(secs > 60 * 60);
            lost_secs += (secs - HANDOVER_TARGET_SECS).max(0);
        }
        f.hours_lost += lost_secs as f64 / 3600.0;
    }
    for (site, counts) in &state.today {
        let f = by_site.entry(site.clone()).or_default();
        let get = |field: &str| counts.get(field).copied().unwrap_or(0);
        f.handovers += get(HANDOVERS);
        f.handovers_over_30 += get(OVER_30);
        f.handovers_over_60 += get(OVER_60);
        f.hours_lost += get(LOST_SECS) as f64 / 3600.0;
    }
    let mut system = UrgentCareFigures::default();
    for f in by_site.values_mut() {
        f.hours_lost = round1(f.hours_lost);
        system.add(f);
    }
    system.ambulance_escalation = state
        .escalations
        .values()
        .max_by_key(|e| (e.level, e.set_ms))
        .cloned();
    system.ambulance_level = system
        .ambulance_escalation
        .as_ref()
        .map(EscalationSummary::words);
    by_site.insert(SYSTEM.to_owned(), system);
    by_site
}

#[cfg(test)]
mod escalation_tests {
    use super::*;

    #[test]
    fn the_ambulance_services_level_is_a_system_figure_in_words() {
        let mut state = UrgentCareState::default();
        let none = figures(&state, 0);
        assert_eq!(none[SYSTEM].ambulance_level, None);
        state.escalations.insert(
            "RX9".into(),
            EscalationSummary {
                service: "RX9".into(),
                scale: "reap".into(),
                level: 4,
                set_ms: 1,
            },
        );
        let all = figures(&state, 0);
        assert_eq!(all[SYSTEM].ambulance_level.as_deref(), Some("REAP 4"));
        let summary = all[SYSTEM].ambulance_escalation.as_ref().expect("a level");
        assert_eq!(summary.parameter(), "ambulance_reap_level");
        let json = serde_json::to_value(&all[SYSTEM]).expect("JSON");
        assert_eq!(json["ambulance_level"], "REAP 4");
        assert_eq!(json["ambulance_escalation"]["level"], 4);
    }
}
