//! The national Capacity Tracker's care-home vacancy figures, so that a home
//! counts its beds one way only, for us and for the national return.
//!
//! The Capacity Tracker asks a home for its **maximum capacity** (the beds it
//! can use now), its **occupied** beds and, by type of care, its vacant beds
//! **accepting admissions** and its vacant beds **reserved** (empty but not
//! taking anyone now: held, block-booked, being made ready). Our record has
//! always kept, by category, the vacant beds and "of which unavailable"; the
//! two line up exactly:
//!
//! | Capacity Tracker                  | record                         |
//! |-----------------------------------|--------------------------------|
//! | vacant and accepting admissions   | `vacant - unavailable`         |
//! | vacant and reserved               | `unavailable`                  |
//! | maximum capacity, occupied        | [`Capacity`] (new in payload v2) |
//!
//! The form asks the national questions; [`VacancyReport::parse_capacity_tracker`]
//! checks them (the occupied and vacant beds must add up to the maximum
//! capacity, which is no more than the registered beds) and gives the same
//! [`VacancyReport`] the older shape gives. [`csv`] writes the export in the
//! Capacity Tracker's shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::category::CareCategory;
use crate::record::{CareHomeRecord, Registration};
use crate::report::{FieldProblem, ReportInput, ReportProblems, VacancyInput, VacancyReport};

/// A home's beds as the Capacity Tracker counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    /// Beds the home can use now (no more than its registered beds).
    pub maximum_capacity: u32,
    /// Beds with a resident in them.
    pub occupied: u32,
}

/// One category's figures as sent in the Capacity Tracker's shape: text,
/// because a person may type anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategoryFigures {
    /// Vacant beds accepting admissions.
    pub accepting: String,
    /// Vacant beds reserved (empty means 0).
    pub reserved: String,
}

/// A report as sent in the Capacity Tracker's shape, before checking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapacityTrackerInput {
    /// Maximum capacity.
    pub maximum_capacity: String,
    /// Occupied beds.
    pub occupied: String,
    /// Figures by category word.
    pub figures: BTreeMap<String, CategoryFigures>,
    /// Everything else (admissions, note, and each category's `sex`; its
    /// `vacant` and `unavailable` are ignored here).
    pub rest: ReportInput,
}

/// The form field of one category's Capacity Tracker figure
/// (`accepting` or `reserved`).
pub fn figure_field(category: CareCategory, part: &str) -> String {
    format!("vacancies.{}.{part}", category.as_str())
}

enum Number {
    Missing,
    Negative,
    NotWhole,
    Whole(u32),
}

fn number(text: &str) -> Number {
    let text = text.trim();
    if text.is_empty() {
        return Number::Missing;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Number::Whole(text.parse::<u32>().unwrap_or(u32::MAX));
    }
    match text.parse::<f64>() {
        Ok(n) if n < 0.0 => Number::Negative,
        _ => Number::NotWhole,
    }
}

impl VacancyReport {
    /// Reads and checks a report in the Capacity Tracker's shape: by
    /// category, vacant beds accepting admissions (required) and reserved
    /// (empty means 0); for the home, the maximum capacity (no more than the
    /// registered beds) and the occupied beds, which with the vacant beds
    /// must add up to the maximum capacity. Everything the older shape checks
    /// is checked too, with the problems named by this shape's fields.
    pub fn parse_capacity_tracker(
        input: &CapacityTrackerInput,
        registration: &Registration,
    ) -> Result<Self, ReportProblems> {
        let mut problems: Vec<FieldProblem> = Vec::new();
        let mut problem = |field: String, message: String| {
            problems.push(FieldProblem { field, message });
        };
        let mut rest = input.rest.clone();
        let mut vacant_total: u64 = 0;
        let mut all_figures = true;
        for category in &registration.categories {
            let label = category.label().to_lowercase();
            let given = input.figures.get(category.as_str());
            let accepting_field = figure_field(*category, "accepting");
            let accepting = match number(given.map(|g| g.accepting.as_str()).unwrap_or("")) {
                Number::Missing => {
                    problem(
                        accepting_field,
                        format!(
                            "Enter the number of vacant {label} beds accepting admissions (0 if none)"
                        ),
                    );
                    None
                }
                Number::Negative => {
                    problem(
                        accepting_field,
                        format!("Vacant {label} beds accepting admissions must be 0 or more"),
                    );
                    None
                }
                Number::NotWhole => {
                    problem(
                        accepting_field,
                        format!(
                            "Vacant {label} beds accepting admissions must be a whole number, like 2"
                        ),
                    );
                    None
                }
                Number::Whole(n) => Some(n),
            };
            let reserved_field = figure_field(*category, "reserved");
            let reserved = match number(given.map(|g| g.reserved.as_str()).unwrap_or("")) {
                Number::Missing => Some(0),
                Number::Negative => {
                    problem(
                        reserved_field,
                        format!("Vacant {label} beds reserved must be 0 or more"),
                    );
                    None
                }
                Number::NotWhole => {
                    problem(
                        reserved_field,
                        format!("Vacant {label} beds reserved must be a whole number, like 1"),
                    );
                    None
                }
                Number::Whole(n) => Some(n),
            };
            let entry: &mut VacancyInput = rest
                .vacancies
                .entry(category.as_str().to_owned())
                .or_default();
            match (accepting, reserved) {
                (Some(a), Some(r)) => {
                    let vacant = u64::from(a) + u64::from(r);
                    vacant_total += vacant;
                    entry.vacant = vacant.to_string();
                    entry.unavailable = r.to_string();
                }
                _ => {
                    // Already named above; the older checks see a valid 0.
                    all_figures = false;
                    entry.vacant = "0".into();
                    entry.unavailable = "0".into();
                }
            }
        }
        // Categories the home does not offer are refused by the older checks.
        for word in input.figures.keys() {
            if !rest.vacancies.contains_key(word) {
                rest.vacancies.entry(word.clone()).or_default().vacant = "0".into();
            }
        }
        let beds = registration.registered_beds;
        let maximum = match number(&input.maximum_capacity) {
            Number::Missing => {
                problem(
                    "maximum_capacity".into(),
                    "Enter the home's maximum capacity, the beds it can use now".into(),
                );
                None
            }
            Number::Negative | Number::NotWhole => {
                problem(
                    "maximum_capacity".into(),
                    "The maximum capacity must be a whole number, like 30".into(),
                );
                None
            }
            Number::Whole(n) if n > beds => {
                problem(
                    "maximum_capacity".into(),
                    format!(
                        "The maximum capacity must be {beds} or fewer, the home's registered beds"
                    ),
                );
                None
            }
            Number::Whole(n) => Some(n),
        };
        let occupied = match number(&input.occupied) {
            Number::Missing => {
                problem(
                    "occupied".into(),
                    "Enter the number of occupied beds (0 if none)".into(),
                );
                None
            }
            Number::Negative | Number::NotWhole => {
                problem(
                    "occupied".into(),
                    "Occupied beds must be a whole number, like 24".into(),
                );
                None
            }
            Number::Whole(n) => Some(n),
        };
        let capacity = match (maximum, occupied) {
            (Some(maximum_capacity), Some(occupied)) => {
                let counted = u64::from(occupied) + vacant_total;
                if all_figures && counted != u64::from(maximum_capacity) {
                    problem(
                        "occupied".into(),
                        format!(
                            "The occupied beds ({occupied}) and vacant beds ({vacant_total}) add up \
                             to {counted}, not the maximum capacity of {maximum_capacity}; check \
                             the figures"
                        ),
                    );
                    None
                } else {
                    Some(Capacity {
                        maximum_capacity,
                        occupied,
                    })
                }
            }
            _ => None,
        };
        let older = VacancyReport::parse(&rest, registration);
        if let Err(older) = &older {
            for p in &older.problems {
                let field = p
                    .field
                    .strip_suffix(".vacant")
                    .map(|stem| format!("{stem}.accepting"))
                    .or_else(|| {
                        p.field
                            .strip_suffix(".unavailable")
                            .map(|stem| format!("{stem}.reserved"))
                    })
                    .unwrap_or_else(|| p.field.clone());
                if !problems.iter().any(|q| q.field == field) {
                    problems.push(FieldProblem {
                        field,
                        message: p.message.clone(),
                    });
                }
            }
        }
        if !problems.is_empty() {
            return Err(ReportProblems { problems });
        }
        let mut report = older.map_err(|e| ReportProblems {
            problems: e.problems,
        })?;
        report.capacity = capacity;
        Ok(report)
    }

    /// The report as Capacity Tracker input again (to fill the form with
    /// it). A record from before the home gave its capacity offers the
    /// registered beds as the maximum and leaves the occupied beds for the
    /// home to give (never a guess it might confirm unread).
    pub fn to_capacity_tracker_input(&self, registration: &Registration) -> CapacityTrackerInput {
        let (maximum, occupied) = match self.capacity {
            Some(c) => (c.maximum_capacity.to_string(), c.occupied.to_string()),
            None => (registration.registered_beds.to_string(), String::new()),
        };
        CapacityTrackerInput {
            maximum_capacity: maximum,
            occupied,
            figures: self
                .vacancies
                .iter()
                .map(|v| {
                    (
                        v.category.as_str().to_owned(),
                        CategoryFigures {
                            accepting: v.available().to_string(),
                            reserved: v.unavailable.to_string(),
                        },
                    )
                })
                .collect(),
            rest: self.to_input(),
        }
    }
}

/// The Capacity Tracker export: a header and one row per home and category
/// offered (RFC 4180 quoting).
pub mod csv {
    use super::*;

    /// The columns, in order.
    pub const HEADER: [&str; 12] = [
        "CQC Location ID",
        "Location Name",
        "Postcode",
        "Last Updated",
        "Maximum Capacity",
        "Occupied Beds",
        "Care Type",
        "Vacant Beds Accepting Admissions",
        "Vacant Beds Reserved",
        "Closed To Admissions",
        "Closure Reason",
        "Capacity Given",
    ];

    fn field(text: &str) -> String {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    }

    fn line(fields: &[String]) -> String {
        let mut out = fields
            .iter()
            .map(|f| field(f))
            .collect::<Vec<_>>()
            .join(",");
        out.push_str("\r\n");
        out
    }

    /// The header line.
    pub fn header() -> String {
        line(&HEADER.map(str::to_owned))
    }

    /// The rows of one home. A record from before the home gave its
    /// capacity shows the registered beds and the derived occupied beds,
    /// with "No" under "Capacity Given".
    pub fn rows(record: &CareHomeRecord) -> String {
        let r = &record.registration;
        let vacant: u32 = record.vacancies.iter().map(|v| v.vacant).sum();
        let (capacity, given) = match record.capacity {
            Some(c) => (c, "Yes"),
            None => (
                Capacity {
                    maximum_capacity: r.registered_beds,
                    occupied: r.registered_beds.saturating_sub(vacant),
                },
                "No",
            ),
        };
        let updated = record
            .confirmed
            .as_ref()
            .and_then(|c| {
                c.at.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        let mut out = String::new();
        for v in &record.vacancies {
            out.push_str(&line(&[
                r.cqc_location_id.to_string(),
                r.name.clone(),
                r.postcode.clone(),
                updated.clone(),
                capacity.maximum_capacity.to_string(),
                capacity.occupied.to_string(),
                v.category.label().to_owned(),
                v.available().to_string(),
                v.unavailable.to_string(),
                if record.closure.is_some() {
                    "Yes"
                } else {
                    "No"
                }
                .to_owned(),
                record
                    .closure
                    .as_ref()
                    .map(|c| c.reason.label().to_owned())
                    .unwrap_or_default(),
                given.to_owned(),
            ]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_access::CqcLocationId;

    fn home() -> Registration {
        Registration {
            cqc_location_id: CqcLocationId::parse("1-000000001").expect("id"),
            name: "Test House, \"demo\"".into(),
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

    fn input(max: &str, occupied: &str, figures: &[(&str, &str, &str)]) -> CapacityTrackerInput {
        CapacityTrackerInput {
            maximum_capacity: max.into(),
            occupied: occupied.into(),
            figures: figures
                .iter()
                .map(|(c, a, r)| {
                    (
                        (*c).to_owned(),
                        CategoryFigures {
                            accepting: (*a).into(),
                            reserved: (*r).into(),
                        },
                    )
                })
                .collect(),
            rest: ReportInput {
                accepting_hospital_discharges: true,
                ..Default::default()
            },
        }
    }

    #[test]
    fn the_national_figures_are_the_records_figures() {
        let report = VacancyReport::parse_capacity_tracker(
            &input("9", "4", &[("residential", "2", "1"), ("nursing", "2", "")]),
            &home(),
        )
        .expect("valid");
        let residential = report.vacancies[0];
        assert_eq!((residential.vacant, residential.unavailable), (3, 1));
        assert_eq!(residential.available(), 2);
        assert_eq!(
            report.capacity,
            Some(Capacity {
                maximum_capacity: 9,
                occupied: 4
            })
        );
        let back = report.to_capacity_tracker_input(&home());
        assert_eq!(back.figures["residential"].accepting, "2");
        assert_eq!(back.figures["residential"].reserved, "1");
        assert_eq!(back.maximum_capacity, "9");
    }

    #[test]
    fn a_home_counts_one_way_and_is_told_so_in_words() {
        let problems = VacancyReport::parse_capacity_tracker(
            &input(
                "9",
                "5",
                &[("residential", "2", "1"), ("nursing", "-1", "x")],
            ),
            &home(),
        )
        .expect_err("invalid");
        let said: Vec<(&str, &str)> = problems
            .problems
            .iter()
            .map(|p| (p.field.as_str(), p.message.as_str()))
            .collect();
        assert!(said.contains(&(
            "vacancies.nursing.accepting",
            "Vacant nursing beds accepting admissions must be 0 or more"
        )));
        assert!(said.contains(&(
            "vacancies.nursing.reserved",
            "Vacant nursing beds reserved must be a whole number, like 1"
        )));
        let problems = VacancyReport::parse_capacity_tracker(
            &input("9", "5", &[("residential", "2", "1"), ("nursing", "2", "")]),
            &home(),
        )
        .expect_err("does not add up");
        assert_eq!(
            problems.problems[0].message,
            "The occupied beds (5) and vacant beds (5) add up to 10, not the maximum capacity of 9; check the figures"
        );
        let problems = VacancyReport::parse_capacity_tracker(
            &input("11", "", &[("residential", "", ""), ("nursing", "0", "0")]),
            &home(),
        )
        .expect_err("missing");
        let fields: Vec<&str> = problems.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "vacancies.residential.accepting",
                "maximum_capacity",
                "occupied"
            ]
        );
    }

    #[test]
    fn the_export_has_the_national_columns_and_quotes_what_needs_it() {
        let report = VacancyReport::parse_capacity_tracker(
            &input("9", "4", &[("residential", "2", "1"), ("nursing", "2", "")]),
            &home(),
        )
        .expect("valid");
        let record = CareHomeRecord::registered(home()).with_report(
            &report,
            crate::record::Confirmation {
                at: time::macros::datetime!(2026-12-07 08:02 UTC),
                by_id: "a".into(),
                by_name: "A".into(),
            },
        );
        let text = format!("{}{}", csv::header(), csv::rows(&record));
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert!(lines[0].starts_with("CQC Location ID,Location Name,Postcode,"));
        assert_eq!(
            lines[1],
            "1-000000001,\"Test House, \"\"demo\"\"\",LE2 1AA,2026-12-07T08:02:00Z,9,4,Residential,2,1,No,,Yes"
        );
        assert_eq!(lines.len(), 4, "two categories and the final line ending");
    }
}
