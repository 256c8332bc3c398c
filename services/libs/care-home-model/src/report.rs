//! What a care home tells us, and the rules it must meet.
//!
//! The form and the API both send text or numbers that may be anything; they
//! are read here into a [`VacancyReport`] or a list of [`FieldProblem`]s, each
//! naming the field and saying in plain words what to do about it (the
//! NHS.UK error-message style), so that both give the same answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::category::{CareCategory, ClosureReason, SexAccepted};
use crate::record::{Registration, Vacancy};

/// The longest note accepted, in characters.
pub const NOTE_MAX_CHARS: usize = 500;
/// The longest closure detail accepted, in characters.
pub const CLOSURE_DETAIL_MAX_CHARS: usize = 200;

/// Closed to admissions, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closure {
    /// Why.
    pub reason: ClosureReason,
    /// A few words more (required when the reason is "other").
    pub detail: String,
}

/// A checked vacancy report: every offered category's figures, the
/// admissions status and the note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VacancyReport {
    /// One entry per category offered, in the registration's order.
    pub vacancies: Vec<Vacancy>,
    /// Closed to admissions, and why.
    pub closure: Option<Closure>,
    /// Whether it takes patients straight from hospital.
    pub accepting_hospital_discharges: bool,
    /// Free text for discharge teams.
    pub note: String,
    /// Maximum capacity and occupied beds, the Capacity Tracker's home
    /// figures (`None` when sent in the older shape, which has none).
    /// Left out of the serialised report when `None`, so an older report's
    /// idempotency fingerprint is what it always was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<crate::capacity_tracker::Capacity>,
}

/// One category's figures as sent: text, because a person may type anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VacancyInput {
    /// Vacant beds.
    pub vacant: String,
    /// Of which unavailable (empty means 0).
    pub unavailable: String,
    /// `either`, `male` or `female` (empty means either).
    pub sex: String,
}

/// A report as sent, before checking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportInput {
    /// Figures by category word (e.g. `nursing_dementia`).
    pub vacancies: BTreeMap<String, VacancyInput>,
    /// Whether the home is closed to admissions.
    pub closed_to_admissions: bool,
    /// The closure reason word, when closed.
    pub closure_reason: String,
    /// More about the closure.
    pub closure_detail: String,
    /// Whether it takes patients straight from hospital.
    pub accepting_hospital_discharges: bool,
    /// Free text.
    pub note: String,
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldProblem {
    /// The field, e.g. `vacancies.nursing.vacant` or `closure_reason`
    /// (also the form field's name).
    pub field: String,
    /// What to do about it, in plain words.
    pub message: String,
}

/// Every problem with a report, in the order of the form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("the report has {} problem(s)", problems.len())]
pub struct ReportProblems {
    /// The problems.
    pub problems: Vec<FieldProblem>,
}

/// The form field name of one category's figure.
pub fn field_name(category: CareCategory, part: &str) -> String {
    format!("vacancies.{}.{part}", category.as_str())
}

impl VacancyReport {
    /// Reads and checks a report for the home `registration` describes:
    /// every offered category needs a whole number of vacant beds, not
    /// negative, no more than the registered beds (nor all categories
    /// together); unavailable beds no more than the vacant ones; a reason when
    /// closed; notes of bounded length. Categories the home does not offer
    /// are refused, never ignored.
    pub fn parse(input: &ReportInput, registration: &Registration) -> Result<Self, ReportProblems> {
        let mut problems = Vec::new();
        let mut problem = |field: String, message: String| {
            problems.push(FieldProblem { field, message });
        };
        for word in input.vacancies.keys() {
            match word.parse::<CareCategory>() {
                Ok(category) if registration.categories.contains(&category) => {}
                Ok(category) => problem(
                    field_name(category, "vacant"),
                    format!(
                        "{} is not one of this home's registered categories; ask your \
                         system administrator to add it",
                        category.label()
                    ),
                ),
                Err(_) => problem(
                    format!("vacancies.{word}"),
                    format!("`{word}` is not a care category"),
                ),
            }
        }
        let beds = registration.registered_beds;
        let mut vacancies = Vec::with_capacity(registration.categories.len());
        let mut total: u64 = 0;
        for category in &registration.categories {
            // Within a sentence, so in lower case: "vacant residential
            // dementia beds", never "vacant Residential dementia beds".
            let label = category.label().to_lowercase();
            let given = input.vacancies.get(category.as_str());
            let vacant_field = field_name(*category, "vacant");
            let vacant = match given.map(|g| g.vacant.trim()).unwrap_or("") {
                "" => {
                    problem(
                        vacant_field.clone(),
                        format!("Enter the number of vacant {label} beds (0 if none)"),
                    );
                    None
                }
                text => match whole_number(text) {
                    Ok(n) if n > u64::from(beds) => {
                        problem(
                            vacant_field.clone(),
                            format!(
                                "Vacant {label} beds must be {beds} or fewer, the home's \
                                 registered beds"
                            ),
                        );
                        None
                    }
                    Ok(n) => u32::try_from(n).ok(),
                    Err(NumberProblem::Negative) => {
                        problem(
                            vacant_field.clone(),
                            format!("Vacant {label} beds must be 0 or more"),
                        );
                        None
                    }
                    Err(NumberProblem::NotWhole) => {
                        problem(
                            vacant_field.clone(),
                            format!("Vacant {label} beds must be a whole number, like 2"),
                        );
                        None
                    }
                },
            };
            let unavailable_field = field_name(*category, "unavailable");
            let unavailable = match given.map(|g| g.unavailable.trim()).unwrap_or("") {
                "" => Some(0),
                text => match whole_number(text) {
                    Ok(n) => match vacant {
                        Some(v) if n > u64::from(v) => {
                            problem(
                                unavailable_field,
                                format!(
                                    "Unavailable {label} beds must be no more than the vacant \
                                     ones ({v})"
                                ),
                            );
                            None
                        }
                        _ => u32::try_from(n).ok(),
                    },
                    Err(NumberProblem::Negative) => {
                        problem(
                            unavailable_field,
                            format!("Unavailable {label} beds must be 0 or more"),
                        );
                        None
                    }
                    Err(NumberProblem::NotWhole) => {
                        problem(
                            unavailable_field,
                            format!("Unavailable {label} beds must be a whole number, like 1"),
                        );
                        None
                    }
                },
            };
            let sex = match given.map(|g| g.sex.trim()).unwrap_or("") {
                "" => Some(SexAccepted::Either),
                text => match text.parse::<SexAccepted>() {
                    Ok(sex) => Some(sex),
                    Err(_) => {
                        problem(
                            field_name(*category, "sex"),
                            format!(
                                "Select whether the vacant {label} beds are for men, women or either"
                            ),
                        );
                        None
                    }
                },
            };
            if let (Some(vacant), Some(unavailable), Some(sex)) = (vacant, unavailable, sex) {
                total += u64::from(vacant);
                vacancies.push(Vacancy {
                    category: *category,
                    vacant,
                    unavailable,
                    sex,
                });
            }
        }
        if total > u64::from(beds)
            && let Some(first) = registration.categories.first()
        {
            problem(
                field_name(*first, "vacant"),
                format!(
                    "The vacant beds add up to {total}, more than the home's {beds} registered beds"
                ),
            );
        }
        let closure = if input.closed_to_admissions {
            let detail = input.closure_detail.trim().to_owned();
            match input.closure_reason.trim() {
                "" => {
                    problem(
                        "closure_reason".into(),
                        "Select why the home is closed to admissions".into(),
                    );
                    None
                }
                word => match word.parse::<ClosureReason>() {
                    Ok(ClosureReason::Other) if detail.is_empty() => {
                        problem(
                            "closure_detail".into(),
                            "Say why the home is closed to admissions".into(),
                        );
                        None
                    }
                    Ok(reason) => Some(Closure { reason, detail }),
                    Err(_) => {
                        problem(
                            "closure_reason".into(),
                            "Select why the home is closed to admissions".into(),
                        );
                        None
                    }
                },
            }
        } else {
            None
        };
        if input.closure_detail.trim().chars().count() > CLOSURE_DETAIL_MAX_CHARS {
            problem(
                "closure_detail".into(),
                format!(
                    "The closure detail must be {CLOSURE_DETAIL_MAX_CHARS} characters or fewer"
                ),
            );
        }
        let note = input.note.trim().to_owned();
        if note.chars().count() > NOTE_MAX_CHARS {
            problem(
                "note".into(),
                format!("The note must be {NOTE_MAX_CHARS} characters or fewer"),
            );
        }
        if !problems.is_empty() {
            return Err(ReportProblems { problems });
        }
        Ok(Self {
            vacancies,
            closure,
            accepting_hospital_discharges: input.accepting_hospital_discharges,
            note,
            capacity: None,
        })
    }

    /// The report as input again (to fill a form with it).
    pub fn to_input(&self) -> ReportInput {
        ReportInput {
            vacancies: self
                .vacancies
                .iter()
                .map(|v| {
                    (
                        v.category.as_str().to_owned(),
                        VacancyInput {
                            vacant: v.vacant.to_string(),
                            unavailable: v.unavailable.to_string(),
                            sex: v.sex.as_str().to_owned(),
                        },
                    )
                })
                .collect(),
            closed_to_admissions: self.closure.is_some(),
            closure_reason: self
                .closure
                .as_ref()
                .map(|c| c.reason.as_str().to_owned())
                .unwrap_or_default(),
            closure_detail: self
                .closure
                .as_ref()
                .map(|c| c.detail.clone())
                .unwrap_or_default(),
            accepting_hospital_discharges: self.accepting_hospital_discharges,
            note: self.note.clone(),
        }
    }
}

enum NumberProblem {
    Negative,
    NotWhole,
}

fn whole_number(text: &str) -> Result<u64, NumberProblem> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: only a number too large for u64 fails, and that is
        // more than any home's beds.
        return Ok(text.parse::<u64>().unwrap_or(u64::MAX));
    }
    match text.parse::<f64>() {
        Ok(n) if n < 0.0 => Err(NumberProblem::Negative),
        _ => Err(NumberProblem::NotWhole),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_access::CqcLocationId;

    fn home() -> Registration {
        Registration {
            cqc_location_id: CqcLocationId::parse("1-000000001").expect("id"),
            name: "Test House (demo)".into(),
            address: "1 Test Road, Leicester".into(),
            postcode: "LE2 1AA".into(),
            latitude: 52.6,
            longitude: -1.1,
            locality: pf_region::LocalityCode::parse("leicester_city").expect("valid"),
            registered_beds: 10,
            categories: vec![CareCategory::Residential, CareCategory::Nursing],
            phone: None,
        }
    }

    fn input(pairs: &[(&str, &str, &str)]) -> ReportInput {
        ReportInput {
            vacancies: pairs
                .iter()
                .map(|(c, v, u)| {
                    (
                        (*c).to_owned(),
                        VacancyInput {
                            vacant: (*v).into(),
                            unavailable: (*u).into(),
                            sex: String::new(),
                        },
                    )
                })
                .collect(),
            accepting_hospital_discharges: true,
            ..Default::default()
        }
    }

    fn fields(problems: ReportProblems) -> Vec<(String, String)> {
        problems
            .problems
            .into_iter()
            .map(|p| (p.field, p.message))
            .collect()
    }

    #[test]
    fn a_good_report_reads_in_the_registration_order() {
        let report = VacancyReport::parse(
            &input(&[("nursing", " 2 ", "1"), ("residential", "3", "")]),
            &home(),
        )
        .expect("valid");
        assert_eq!(report.vacancies[0].category, CareCategory::Residential);
        assert_eq!(report.vacancies[0].vacant, 3);
        assert_eq!(report.vacancies[1].available(), 1);
        assert_eq!(report.to_input().vacancies["nursing"].vacant, "2");
    }

    #[test]
    fn each_broken_rule_names_its_field_in_plain_words() {
        let problems = VacancyReport::parse(
            &input(&[("residential", "-1", ""), ("nursing", "2.5", "")]),
            &home(),
        )
        .expect_err("invalid");
        assert_eq!(
            fields(problems),
            vec![
                (
                    "vacancies.residential.vacant".into(),
                    "Vacant residential beds must be 0 or more".into()
                ),
                (
                    "vacancies.nursing.vacant".into(),
                    "Vacant nursing beds must be a whole number, like 2".into()
                ),
            ]
        );
        let problems = VacancyReport::parse(
            &input(&[("residential", "7", "8"), ("nursing", "", "")]),
            &home(),
        )
        .expect_err("invalid");
        assert_eq!(
            fields(problems),
            vec![
                (
                    "vacancies.residential.unavailable".into(),
                    "Unavailable residential beds must be no more than the vacant ones (7)".into()
                ),
                (
                    "vacancies.nursing.vacant".into(),
                    "Enter the number of vacant nursing beds (0 if none)".into()
                ),
            ]
        );
    }

    #[test]
    fn vacancies_cannot_exceed_the_registered_beds() {
        let one = VacancyReport::parse(
            &input(&[("residential", "11", ""), ("nursing", "0", "")]),
            &home(),
        );
        assert!(
            fields(one.expect_err("too many"))[0]
                .1
                .contains("10 or fewer")
        );
        let together = VacancyReport::parse(
            &input(&[("residential", "6", ""), ("nursing", "6", "")]),
            &home(),
        );
        assert_eq!(
            fields(together.expect_err("too many"))[0].1,
            "The vacant beds add up to 12, more than the home's 10 registered beds"
        );
    }

    #[test]
    fn closing_needs_a_reason_and_other_categories_are_refused() {
        let mut closing = input(&[
            ("residential", "0", ""),
            ("nursing", "0", ""),
            ("nursing_dementia", "1", ""),
        ]);
        closing.closed_to_admissions = true;
        let found = fields(VacancyReport::parse(&closing, &home()).expect_err("invalid"));
        assert_eq!(found[0].0, "vacancies.nursing_dementia.vacant");
        assert!(
            found[0]
                .1
                .contains("not one of this home's registered categories")
        );
        assert_eq!(
            found[1],
            (
                "closure_reason".into(),
                "Select why the home is closed to admissions".into()
            )
        );
        closing.vacancies.remove("nursing_dementia");
        closing.closure_reason = "outbreak".into();
        closing.closure_detail = "Norovirus".into();
        let report = VacancyReport::parse(&closing, &home()).expect("valid");
        assert_eq!(
            report.closure.map(|c| c.reason),
            Some(ClosureReason::Outbreak)
        );
    }
}
