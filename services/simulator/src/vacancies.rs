//! The pure decision logic of care-home vacancies: what a believable report
//! of a home is, and what it says next.
//!
//! No I/O here. A home is described by what the care-homes API lists for it
//! ([`HomeSpec`]: its categories and registered beds), so every report meets
//! the API's rules ([`check`]): exactly the home's categories, vacant beds
//! never more than the registered beds (each category and all together),
//! unavailable beds never more than the vacant ones, and a reason whenever
//! the home is closed to admissions.
//!
//! First reports ([`first_report`]) look like an LLR morning: most categories
//! with 0 to 3 vacant beds, some homes full, about 3% closed to admissions for
//! an outbreak, some not taking patients straight from hospital. Later
//! ([`next_update`]) a home either confirms that nothing has changed or moves
//! its figures by a bed or so, now and then closing for an outbreak or
//! reopening.

use std::collections::BTreeMap;

use rand::Rng;
use rand::seq::IndexedRandom;
use serde::Serialize;

/// Share of homes closed to admissions in their first report.
pub const CLOSED_SHARE: f64 = 0.03;
/// Share of homes with no vacant bed at all in their first report.
pub const FULL_SHARE: f64 = 0.10;
/// Share of open homes not taking patients straight from hospital.
pub const NOT_ACCEPTING_DISCHARGES_SHARE: f64 = 0.10;
/// Share of later updates that only confirm "nothing has changed".
pub const UNCHANGED_SHARE: f64 = 0.35;
/// The most vacant beds the simulation gives one category.
pub const MAX_VACANT_PER_CATEGORY: u32 = 6;

/// Why a closed home is closed, as the API names the reason.
pub const OUTBREAK: &str = "outbreak";
/// Whom vacant beds can take, as the API names it.
pub const EITHER: &str = "either";

/// The longest note the API accepts, in characters.
pub const NOTE_MAX_CHARS: usize = 500;
/// The longest closure detail the API accepts, in characters.
pub const CLOSURE_DETAIL_MAX_CHARS: usize = 200;

const OUTBREAKS: &[&str] = &[
    "Norovirus outbreak; closed until infection control clears the home",
    "COVID-19 outbreak on the first floor; closed on UKHSA advice",
    "Influenza outbreak; closed to admissions for 7 days",
];

const NOTES: &[&str] = &[
    "Ground-floor room free",
    "Room with en-suite available",
    "Can take a two-person hoist transfer",
    "Assessment visit within 24 hours",
    "Can admit at weekends",
];

const NOT_ACCEPTING_NOTES: &[&str] = &[
    "Short of night staff this week; no admissions straight from hospital",
    "Assessing everyone in person before admission; no same-day discharges",
];

/// A home as the care-homes API lists it for the simulator: what it may
/// report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeSpec {
    /// CQC location id.
    pub cqc: String,
    /// Name, for logs.
    pub name: String,
    /// Registered beds: no report may give more vacant beds than this.
    pub registered_beds: u32,
    /// The categories the home offers (API words, e.g. `nursing_dementia`):
    /// a report gives each of them, and no other.
    pub categories: Vec<String>,
}

/// One category's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// Vacant beds.
    pub vacant: u32,
    /// Of the vacant beds, those that cannot take anyone now.
    pub unavailable: u32,
    /// Whom the vacant beds can take: `either`, `male` or `female`.
    pub sex: String,
}

/// A whole vacancy report, the body of `PUT /api/v1/care-homes/{cqc}/vacancies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Figures by category.
    pub vacancies: BTreeMap<String, Figures>,
    /// Closed to admissions.
    pub closed_to_admissions: bool,
    /// Why, when closed (e.g. [`OUTBREAK`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closure_reason: Option<String>,
    /// More about the closure.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub closure_detail: String,
    /// Takes patients straight from hospital.
    pub accepting_hospital_discharges: bool,
    /// For discharge teams.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl Report {
    /// Vacant beds of all categories together.
    pub fn total_vacant(&self) -> u64 {
        self.vacancies.values().map(|f| u64::from(f.vacant)).sum()
    }
}

/// What a home tells the platform next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// New figures.
    Report(Report),
    /// "Nothing has changed": the figures stand, confirmed now.
    Unchanged,
}

/// The first rule of the API that `report` breaks for `home`, if any.
pub fn check(home: &HomeSpec, report: &Report) -> Result<(), String> {
    for category in report.vacancies.keys() {
        if !home.categories.contains(category) {
            return Err(format!("{category} is not one of the home's categories"));
        }
    }
    for category in &home.categories {
        let Some(figures) = report.vacancies.get(category) else {
            return Err(format!("{category} has no figures"));
        };
        if figures.vacant > home.registered_beds {
            return Err(format!(
                "{category}: {} vacant of {} registered beds",
                figures.vacant, home.registered_beds
            ));
        }
        if figures.unavailable > figures.vacant {
            return Err(format!(
                "{category}: {} unavailable of {} vacant",
                figures.unavailable, figures.vacant
            ));
        }
        if !["either", "male", "female"].contains(&figures.sex.as_str()) {
            return Err(format!("{category}: `{}` is not a sex", figures.sex));
        }
    }
    let total = report.total_vacant();
    if total > u64::from(home.registered_beds) {
        return Err(format!(
            "{total} vacant beds in all, more than the {} registered",
            home.registered_beds
        ));
    }
    if report.closed_to_admissions {
        match report.closure_reason.as_deref() {
            None | Some("") => return Err("closed without a reason".to_owned()),
            Some("other") if report.closure_detail.trim().is_empty() => {
                return Err("closed for an `other` reason without saying why".to_owned());
            }
            Some(_) => {}
        }
    }
    if report.closure_detail.chars().count() > CLOSURE_DETAIL_MAX_CHARS {
        return Err("the closure detail is too long".to_owned());
    }
    if report.note.chars().count() > NOTE_MAX_CHARS {
        return Err("the note is too long".to_owned());
    }
    Ok(())
}

/// Picks from `(value, weight)` pairs; the last value when the weights are
/// used up (never, with positive weights).
fn weighted<R: Rng + ?Sized, T: Copy>(rng: &mut R, choices: &[(T, u32)]) -> Option<T> {
    let total: u32 = choices.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return choices.last().map(|(v, _)| *v);
    }
    let mut pick = rng.random_range(0..total);
    for &(value, weight) in choices {
        if pick < weight {
            return Some(value);
        }
        pick -= weight;
    }
    choices.last().map(|(v, _)| *v)
}

/// Vacant beds of one category in a first report: mostly 0 to 3.
fn first_vacant<R: Rng + ?Sized>(rng: &mut R) -> u32 {
    weighted(rng, &[(0, 30), (1, 32), (2, 20), (3, 11), (4, 5), (5, 2)]).unwrap_or(0)
}

fn sex_for<R: Rng + ?Sized>(vacant: u32, rng: &mut R) -> String {
    if vacant == 0 {
        return EITHER.to_owned();
    }
    weighted(rng, &[(EITHER, 80), ("female", 12), ("male", 8)])
        .unwrap_or(EITHER)
        .to_owned()
}

/// Unavailable beds among `vacant`: now and then a room being redecorated
/// or waiting for equipment.
fn unavailable_for<R: Rng + ?Sized>(vacant: u32, rng: &mut R) -> u32 {
    if vacant > 0 && rng.random_bool(0.12) {
        rng.random_range(1..=vacant.min(2))
    } else {
        0
    }
}

/// Lowers the largest figures until every category and their sum fit the
/// registered beds, keeping unavailable ≤ vacant.
fn fit(home: &HomeSpec, vacancies: &mut BTreeMap<String, Figures>) {
    let beds = home.registered_beds;
    for figures in vacancies.values_mut() {
        figures.vacant = figures.vacant.min(beds);
    }
    loop {
        let total: u64 = vacancies.values().map(|f| u64::from(f.vacant)).sum();
        if total <= u64::from(beds) {
            break;
        }
        match vacancies.values_mut().max_by_key(|f| f.vacant) {
            Some(largest) if largest.vacant > 0 => largest.vacant -= 1,
            _ => break,
        }
    }
    for figures in vacancies.values_mut() {
        figures.unavailable = figures.unavailable.min(figures.vacant);
        if figures.vacant == 0 {
            figures.sex = EITHER.to_owned();
        }
    }
}

fn closure<R: Rng + ?Sized>(rng: &mut R) -> (Option<String>, String) {
    let detail = OUTBREAKS.choose(rng).copied().unwrap_or("Outbreak");
    (Some(OUTBREAK.to_owned()), detail.to_owned())
}

fn note_for<R: Rng + ?Sized>(report: &Report, rng: &mut R) -> String {
    if report.closed_to_admissions {
        return String::new();
    }
    if !report.accepting_hospital_discharges {
        return NOT_ACCEPTING_NOTES
            .choose(rng)
            .copied()
            .unwrap_or_default()
            .to_owned();
    }
    let available = report.vacancies.values().any(|f| f.vacant > f.unavailable);
    if available && rng.random_bool(0.25) {
        NOTES.choose(rng).copied().unwrap_or_default().to_owned()
    } else {
        String::new()
    }
}

/// A believable first report of `home`.
pub fn first_report<R: Rng + ?Sized>(home: &HomeSpec, rng: &mut R) -> Report {
    let full = rng.random_bool(FULL_SHARE);
    let mut vacancies: BTreeMap<String, Figures> = home
        .categories
        .iter()
        .map(|category| {
            let vacant = if full { 0 } else { first_vacant(rng) };
            let figures = Figures {
                vacant,
                unavailable: unavailable_for(vacant, rng),
                sex: sex_for(vacant, rng),
            };
            (category.clone(), figures)
        })
        .collect();
    fit(home, &mut vacancies);
    let closed = rng.random_bool(CLOSED_SHARE);
    let (closure_reason, closure_detail) = if closed {
        closure(rng)
    } else {
        (None, String::new())
    };
    let mut report = Report {
        vacancies,
        closed_to_admissions: closed,
        closure_reason,
        closure_detail,
        accepting_hospital_discharges: !closed && !rng.random_bool(NOT_ACCEPTING_DISCHARGES_SHARE),
        note: String::new(),
    };
    report.note = note_for(&report, rng);
    report
}

/// What `home`, whose last report was `last`, says next: "nothing has
/// changed", or its figures moved by a bed or so (now and then closing for
/// an outbreak, reopening, or stopping or resuming hospital discharges).
pub fn next_update<R: Rng + ?Sized>(home: &HomeSpec, last: &Report, rng: &mut R) -> Update {
    if rng.random_bool(UNCHANGED_SHARE) {
        return Update::Unchanged;
    }
    let mut vacancies: BTreeMap<String, Figures> = home
        .categories
        .iter()
        .map(|category| {
            let before = last.vacancies.get(category);
            let vacant = before.map_or(0, |f| f.vacant);
            let step = weighted(rng, &[(-1i64, 30), (0, 45), (1, 25)]).unwrap_or(0);
            let vacant = u32::try_from((i64::from(vacant) + step).max(0))
                .unwrap_or(0)
                .min(MAX_VACANT_PER_CATEGORY);
            let unavailable = match before {
                Some(f) if !rng.random_bool(0.1) => f.unavailable,
                _ => unavailable_for(vacant, rng),
            };
            let sex = match before {
                Some(f) if f.vacant > 0 && vacant > 0 => f.sex.clone(),
                _ => sex_for(vacant, rng),
            };
            (
                category.clone(),
                Figures {
                    vacant,
                    unavailable,
                    sex,
                },
            )
        })
        .collect();
    fit(home, &mut vacancies);
    let (closed, closure_reason, closure_detail) = if last.closed_to_admissions {
        if rng.random_bool(0.25) {
            (false, None, String::new())
        } else {
            (
                true,
                last.closure_reason
                    .clone()
                    .or_else(|| Some(OUTBREAK.to_owned())),
                last.closure_detail.clone(),
            )
        }
    } else if rng.random_bool(0.01) {
        let (reason, detail) = closure(rng);
        (true, reason, detail)
    } else {
        (false, None, String::new())
    };
    let accepting = if closed {
        false
    } else if last.closed_to_admissions {
        // Reopened after an outbreak: back to taking discharges.
        true
    } else if rng.random_bool(0.05) {
        !last.accepting_hospital_discharges
    } else {
        last.accepting_hospital_discharges
    };
    let mut report = Report {
        vacancies,
        closed_to_admissions: closed,
        closure_reason,
        closure_detail,
        accepting_hospital_discharges: accepting,
        note: String::new(),
    };
    report.note = if report.accepting_hospital_discharges == last.accepting_hospital_discharges
        && !rng.random_bool(0.3)
    {
        last.note.clone()
    } else {
        note_for(&report, rng)
    };
    Update::Report(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_care_home_model::{CqcLocationId, Register, ReportInput, VacancyInput, VacancyReport};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn spec_of(home: &pf_care_home_model::Registration) -> HomeSpec {
        HomeSpec {
            cqc: home.cqc_location_id.to_string(),
            name: home.name.clone(),
            registered_beds: home.registered_beds,
            categories: home
                .categories
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
        }
    }

    /// The platform's own rules (`VacancyReport::parse`) on `report`, as the
    /// API reads its JSON body.
    fn platform_accepts(register: &Register, home: &HomeSpec, report: &Report) -> bool {
        let cqc = CqcLocationId::parse(&home.cqc).expect("valid id");
        let registration = register.get(&cqc).expect("registered");
        let input = ReportInput {
            vacancies: report
                .vacancies
                .iter()
                .map(|(category, f)| {
                    (
                        category.clone(),
                        VacancyInput {
                            vacant: f.vacant.to_string(),
                            unavailable: f.unavailable.to_string(),
                            sex: f.sex.clone(),
                        },
                    )
                })
                .collect(),
            closed_to_admissions: report.closed_to_admissions,
            closure_reason: report.closure_reason.clone().unwrap_or_default(),
            closure_detail: report.closure_detail.clone(),
            accepting_hospital_discharges: report.accepting_hospital_discharges,
            note: report.note.clone(),
        };
        match VacancyReport::parse(&input, registration) {
            Ok(_) => true,
            Err(problems) => panic!("{}: {problems:?}\n{report:?}", home.cqc),
        }
    }

    fn tiny(beds: u32, categories: &[&str]) -> HomeSpec {
        HomeSpec {
            cqc: "1-000000999".to_owned(),
            name: "Tiny".to_owned(),
            registered_beds: beds,
            categories: categories.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    #[test]
    fn first_reports_of_every_demo_home_keep_the_rules() {
        let register = Register::llr_demo().expect("the demo register loads");
        let homes: Vec<HomeSpec> = register.homes().map(spec_of).collect();
        assert_eq!(homes.len(), 300);
        let mut rng = StdRng::seed_from_u64(11);
        for home in &homes {
            for _ in 0..20 {
                let report = first_report(home, &mut rng);
                assert_eq!(check(home, &report), Ok(()), "{}", home.cqc);
                assert!(platform_accepts(&register, home, &report));
            }
        }
    }

    #[test]
    fn updates_keep_the_rules_for_a_long_time() {
        let register = Register::llr_demo().expect("the demo register loads");
        let mut rng = StdRng::seed_from_u64(12);
        for registration in register.homes() {
            let home = spec_of(registration);
            let mut last = first_report(&home, &mut rng);
            for _ in 0..50 {
                match next_update(&home, &last, &mut rng) {
                    Update::Unchanged => {}
                    Update::Report(report) => {
                        assert_eq!(check(&home, &report), Ok(()), "{}", home.cqc);
                        assert!(platform_accepts(&register, &home, &report));
                        last = report;
                    }
                }
            }
        }
    }

    #[test]
    fn tiny_homes_never_report_more_beds_than_they_have() {
        let mut rng = StdRng::seed_from_u64(13);
        let crowded = tiny(2, &["residential", "nursing", "short_stay_respite"]);
        let empty = tiny(0, &["nursing"]);
        for home in [&crowded, &empty] {
            let mut last = first_report(home, &mut rng);
            for _ in 0..500 {
                assert_eq!(check(home, &last), Ok(()));
                assert!(last.total_vacant() <= u64::from(home.registered_beds));
                for f in last.vacancies.values() {
                    assert!(f.unavailable <= f.vacant, "{f:?}");
                }
                if let Update::Report(next) = next_update(home, &last, &mut rng) {
                    last = next;
                }
            }
        }
    }

    #[test]
    fn first_reports_look_like_an_llr_morning() {
        let register = Register::llr_demo().expect("the demo register loads");
        let homes: Vec<HomeSpec> = register.homes().map(spec_of).collect();
        let mut rng = StdRng::seed_from_u64(14);
        let (mut reports, mut closed, mut full, mut not_accepting) = (0, 0, 0, 0);
        let (mut figures, mut low) = (0, 0);
        for _ in 0..10 {
            for home in &homes {
                let report = first_report(home, &mut rng);
                reports += 1;
                if report.closed_to_admissions {
                    closed += 1;
                    assert_eq!(report.closure_reason.as_deref(), Some(OUTBREAK));
                    assert!(!report.closure_detail.is_empty());
                    assert!(!report.accepting_hospital_discharges);
                } else if !report.accepting_hospital_discharges {
                    not_accepting += 1;
                }
                if report.total_vacant() == 0 {
                    full += 1;
                }
                for f in report.vacancies.values() {
                    figures += 1;
                    if f.vacant <= 3 {
                        low += 1;
                    }
                }
            }
        }
        let share = |n: i32| f64::from(n) / f64::from(reports);
        println!(
            "closed {:.3}, full {:.3}, not accepting discharges {:.3}, categories with 0-3 vacant {:.3}",
            share(closed),
            share(full),
            share(not_accepting),
            f64::from(low) / f64::from(figures)
        );
        assert!((0.015..=0.05).contains(&share(closed)));
        assert!((0.15..=0.35).contains(&share(full)));
        assert!((0.05..=0.15).contains(&share(not_accepting)));
        assert!(f64::from(low) / f64::from(figures) > 0.9);
    }

    #[test]
    fn homes_confirm_change_close_and_reopen() {
        let home = tiny(30, &["residential", "nursing"]);
        let mut rng = StdRng::seed_from_u64(15);
        let mut last = first_report(&home, &mut rng);
        let (mut unchanged, mut closures, mut reopenings) = (0, 0, 0);
        for _ in 0..5000 {
            match next_update(&home, &last, &mut rng) {
                Update::Unchanged => unchanged += 1,
                Update::Report(next) => {
                    if next.closed_to_admissions && !last.closed_to_admissions {
                        closures += 1;
                    }
                    if !next.closed_to_admissions && last.closed_to_admissions {
                        reopenings += 1;
                    }
                    for (category, f) in &next.vacancies {
                        let before = last.vacancies.get(category).map_or(0, |b| b.vacant);
                        assert!(f.vacant.abs_diff(before) <= 1, "moves by a bed at most");
                    }
                    last = next;
                }
            }
        }
        assert!((1500..=2000).contains(&unchanged), "{unchanged}");
        assert!(closures > 5 && reopenings > 5, "{closures} {reopenings}");
    }

    #[test]
    fn the_report_is_the_documented_json() {
        let home = tiny(10, &["nursing"]);
        let mut report = first_report(&home, &mut StdRng::seed_from_u64(1));
        report.vacancies.insert(
            "nursing".to_owned(),
            Figures {
                vacant: 2,
                unavailable: 1,
                sex: "female".to_owned(),
            },
        );
        report.closed_to_admissions = true;
        report.closure_reason = Some(OUTBREAK.to_owned());
        report.closure_detail = "Norovirus".to_owned();
        report.accepting_hospital_discharges = false;
        report.note = String::new();
        let json = serde_json::to_value(&report).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({
                "vacancies": {"nursing": {"vacant": 2, "unavailable": 1, "sex": "female"}},
                "closed_to_admissions": true,
                "closure_reason": "outbreak",
                "closure_detail": "Norovirus",
                "accepting_hospital_discharges": false
            })
        );
        assert!(check(&home, &report).is_ok());
        report.vacancies.insert(
            "nursing".to_owned(),
            Figures {
                vacant: 1,
                unavailable: 2,
                sex: EITHER.to_owned(),
            },
        );
        assert!(check(&home, &report).is_err(), "unavailable above vacant");
        report.vacancies.clear();
        assert!(check(&home, &report).is_err(), "a category missing");
    }
}
