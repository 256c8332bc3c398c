//! Discharge figures for the wall: patients with no criteria to reside
//! (NCTR) and their delay days, and discharges so far today by pathway
//! against the day's plan. Counted from the discharges' de-identified
//! summaries with [`pf_live_state::discharge_counts::count`] (the one
//! definition pressure shares); the gateway never holds a discharge record.

use std::collections::BTreeMap;

use pf_discharge_model::Pathway;
use pf_live_state::DischargeSummary;
use pf_live_state::discharge_counts::{self, DischargeCounts, pathway_index};
use serde::{Deserialize, Serialize};
use time::Date;

/// The demo's daily discharge plan (see its `about`).
pub const DEFAULT_PLAN: &str = include_str!("../../../data/regions/llr/expected-discharges.json");

/// Why a discharge plan cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Not the expected JSON.
    #[error("the discharge plan is not valid JSON of the expected shape: {0}")]
    Shape(#[from] serde_json::Error),
    /// A pathway that does not exist.
    #[error(
        "the discharge plan names pathway \"{pathway}\" for site {site}; pathways are 0, 1, 2 and 3"
    )]
    Pathway {
        /// The site.
        site: String,
        /// What it said.
        pathway: String,
    },
    /// A site that is not in the catalogue.
    #[error("the discharge plan names site {0}, which is not in the site catalogue")]
    UnknownSite(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    #[serde(default)]
    #[allow(dead_code)] // documentation for people
    about: String,
    sites: BTreeMap<String, BTreeMap<String, u32>>,
}

/// How many discharges each site expects on an ordinary day, by pathway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DischargePlan {
    sites: BTreeMap<String, [u32; 4]>,
}

impl DischargePlan {
    /// Reads a plan; every site must be one of `known_sites`.
    pub fn from_json<'a>(
        text: &str,
        known_sites: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, PlanError> {
        let file: PlanFile = serde_json::from_str(text)?;
        let known: Vec<&str> = known_sites.into_iter().collect();
        let mut sites = BTreeMap::new();
        for (site, pathways) in file.sites {
            if !known.contains(&site.as_str()) {
                return Err(PlanError::UnknownSite(site));
            }
            let mut expected = [0; 4];
            for (pathway, count) in pathways {
                let Ok(pathway_value) = pathway.parse::<Pathway>() else {
                    return Err(PlanError::Pathway { site, pathway });
                };
                expected[pathway_index(pathway_value)] = count;
            }
            sites.insert(site, expected);
        }
        Ok(Self { sites })
    }

    /// A site's expected discharges by pathway, if it has a plan.
    pub fn site(&self, code: &str) -> Option<[u32; 4]> {
        self.sites.get(code).copied()
    }
}

/// One pathway's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathwayFigures {
    /// `0` to `3`.
    pub pathway: &'static str,
    /// Discharged so far today (UK time).
    pub discharged_today: i64,
    /// Expected today, when the site has a plan.
    pub expected_today: Option<i64>,
    /// Patients on this pathway with no criteria to reside.
    pub nctr_patients: i64,
}

/// The discharge figures of a site or the system.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DischargeFigures {
    /// Patients ready to leave (Discharge Ready Date today or earlier) who are still in hospital.
    pub nctr_patients: i64,
    /// Their days waited since the Discharge Ready Date, added up.
    pub delay_days: i64,
    /// Discharged so far today, every pathway.
    pub discharged_today: i64,
    /// Expected today, every pathway, when there is a plan.
    pub expected_today: Option<i64>,
    /// By pathway, 0 to 3.
    pub pathways: Vec<PathwayFigures>,
}

impl Default for DischargeFigures {
    fn default() -> Self {
        Self {
            nctr_patients: 0,
            delay_days: 0,
            discharged_today: 0,
            expected_today: None,
            pathways: Pathway::ALL
                .iter()
                .map(|p| PathwayFigures {
                    pathway: p.as_str(),
                    discharged_today: 0,
                    expected_today: None,
                    nctr_patients: 0,
                })
                .collect(),
        }
    }
}

impl DischargeFigures {
    fn add_plan(&mut self, plan: [u32; 4]) {
        for (figures, expected) in self.pathways.iter_mut().zip(plan) {
            *figures.expected_today.get_or_insert(0) += i64::from(expected);
        }
        *self.expected_today.get_or_insert(0) += plan.iter().map(|&n| i64::from(n)).sum::<i64>();
    }

    fn add_counts(&mut self, counts: &DischargeCounts) {
        self.nctr_patients += counts.nctr_patients;
        self.delay_days += counts.delay_days;
        self.discharged_today += counts.discharged_today;
        for (figures, counted) in self.pathways.iter_mut().zip(&counts.pathways) {
            figures.discharged_today += counted.discharged_today;
            figures.nctr_patients += counted.nctr_patients;
        }
    }

    /// Adds another scope's figures to these.
    pub fn add(&mut self, other: &DischargeFigures) {
        self.nctr_patients += other.nctr_patients;
        self.delay_days += other.delay_days;
        self.discharged_today += other.discharged_today;
        if let Some(expected) = other.expected_today {
            *self.expected_today.get_or_insert(0) += expected;
        }
        for (mine, theirs) in self.pathways.iter_mut().zip(&other.pathways) {
            mine.discharged_today += theirs.discharged_today;
            mine.nctr_patients += theirs.nctr_patients;
            if let Some(expected) = theirs.expected_today {
                *mine.expected_today.get_or_insert(0) += expected;
            }
        }
    }
}

/// Every site's figures and the system's on `today` (a UK date). Sites with
/// a plan are listed even when they have no patients.
pub fn figures<'a>(
    summaries: impl IntoIterator<Item = &'a DischargeSummary>,
    plan: &DischargePlan,
    today: Date,
) -> (BTreeMap<String, DischargeFigures>, DischargeFigures) {
    let mut by_site: BTreeMap<String, DischargeFigures> = BTreeMap::new();
    for (site, expected) in &plan.sites {
        by_site.entry(site.clone()).or_default().add_plan(*expected);
    }
    for (site, counts) in discharge_counts::count(summaries, today) {
        by_site.entry(site).or_default().add_counts(&counts);
    }
    let mut system = DischargeFigures::default();
    for figures in by_site.values() {
        system.add(figures);
    }
    (by_site, system)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    use pf_discharge_model::DischargeStatus;

    fn record(_id: &str, site: &str, pathway: Pathway, ready: Date) -> DischargeSummary {
        DischargeSummary {
            site: site.to_owned(),
            status: DischargeStatus::Ready,
            pathway,
            ready,
            left_on: None,
            managed_by: "RWE".to_owned(),
        }
    }

    #[test]
    fn nctr_and_delay_days_count_only_patients_still_waiting_past_their_ready_date() {
        let today = date!(2026 - 11 - 30);
        let mut left = record("d3", "RWEAA", Pathway::P1, date!(2026 - 11 - 20));
        left.status = DischargeStatus::Discharged;
        left.left_on = Some(date!(2026 - 11 - 30));
        let mut yesterday = record("d4", "RWEAA", Pathway::P1, date!(2026 - 11 - 20));
        yesterday.status = DischargeStatus::Discharged;
        yesterday.left_on = Some(date!(2026 - 11 - 29));
        let mut cancelled = record("d5", "RWEAA", Pathway::P3, date!(2026 - 11 - 1));
        cancelled.status = DischargeStatus::Cancelled;
        let records = [
            record("d1", "RWEAA", Pathway::P3, date!(2026 - 11 - 20)),
            record("d2", "RWEAA", Pathway::P1, date!(2026 - 12 - 2)), // not ready yet
            left,
            yesterday,
            cancelled,
            record("d6", "RWEAK", Pathway::P0, date!(2026 - 11 - 30)),
        ];
        let plan = DischargePlan::from_json(
            r#"{"sites": {"RWEAA": {"1": 3, "3": 1}}}"#,
            ["RWEAA", "RWEAK"],
        )
        .expect("plan");
        let (sites, system) = figures(&records, &plan, today);
        let lri = &sites["RWEAA"];
        assert_eq!(lri.nctr_patients, 1);
        assert_eq!(lri.delay_days, 10);
        assert_eq!(lri.discharged_today, 1);
        assert_eq!(lri.expected_today, Some(4));
        assert_eq!(lri.pathways[1].discharged_today, 1);
        assert_eq!(lri.pathways[1].expected_today, Some(3));
        assert_eq!(lri.pathways[3].nctr_patients, 1);
        assert_eq!(lri.pathways[0].expected_today, Some(0));
        let glenfield = &sites["RWEAK"];
        assert_eq!((glenfield.nctr_patients, glenfield.delay_days), (1, 0));
        assert_eq!(glenfield.expected_today, None);
        assert_eq!(system.nctr_patients, 2);
        assert_eq!(system.delay_days, 10);
        assert_eq!(system.expected_today, Some(4));
        assert_eq!(system.pathways[0].nctr_patients, 1);
    }

    #[test]
    fn the_demo_plan_names_only_llr_sites() {
        let catalogue = pf_hospital_model::Catalogue::llr().expect("the LLR catalogue");
        let codes: Vec<String> = catalogue.sites().map(|s| s.code.to_string()).collect();
        let plan = DischargePlan::from_json(DEFAULT_PLAN, codes.iter().map(String::as_str))
            .expect("the demo plan is valid");
        assert_eq!(plan.site("RWEAA"), Some([14, 9, 3, 2]));
    }

    #[test]
    fn a_plan_with_a_typo_is_refused_with_the_reason() {
        let unknown = DischargePlan::from_json(r#"{"sites": {"XXXXX": {"0": 1}}}"#, ["RWEAA"]);
        assert!(matches!(unknown, Err(PlanError::UnknownSite(s)) if s == "XXXXX"));
        let pathway = DischargePlan::from_json(r#"{"sites": {"RWEAA": {"4": 1}}}"#, ["RWEAA"]);
        assert!(matches!(pathway, Err(PlanError::Pathway { .. })));
        assert!(DischargePlan::from_json(r#"{"sites": {"RWEAA": {"0": -1}}}"#, ["RWEAA"]).is_err());
    }
}
