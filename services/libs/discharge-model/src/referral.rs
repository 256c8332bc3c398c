//! Putting a patient on the discharge list: what a coordinator (or a
//! hospital system) sends, checked into a record or plain-words problems.

use pf_care_home_model::{CareCategory, FieldProblem, SexAccepted};
use pf_region::Region;
use serde::Serialize;
use time::Date;

use crate::identifiers::has_identifier;
use crate::nhs_number::NhsNumber;
use crate::postcode::{normalise, place_of};
use crate::record::{DischargeRecord, parse_date};
use crate::words::{DelayReason, DischargeStatus, Funding, Pathway};

/// The longest care-needs text, in characters.
pub const NEEDS_MAX_CHARS: usize = 200;

/// A referral as sent: text, because a person may type anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferralInput {
    /// NHS number.
    pub nhs_number: String,
    /// `male` or `female`.
    pub sex: String,
    /// Ward code at the site.
    pub ward: String,
    /// `YYYY-MM-DD`.
    pub discharge_ready_date: String,
    /// `0` to `3`.
    pub pathway: String,
    /// A care category word (pathways 2 and 3).
    pub care_needed: String,
    /// Where the search centres (required for pathways 2 and 3).
    pub search_postcode: String,
    /// A funding word (empty: not yet known).
    pub funding: String,
    /// A CQC location id, or empty.
    pub preferred_home: String,
    /// A delay-reason word (empty: not yet known).
    pub delay_reason: String,
    /// Care needs in a few words.
    pub needs: String,
}

/// Every problem with a referral.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("the referral has {} problem(s)", problems.len())]
pub struct ReferralProblems {
    /// The problems, in the order of the form.
    pub problems: Vec<FieldProblem>,
}

impl ReferralInput {
    /// Checks the referral of a patient at `site` of `trust`, managed by
    /// `managed_by`, on `today`: a valid NHS number, a sex, a ready date not
    /// in the future, a pathway, for pathway 3 the care needed, for pathways
    /// 2 and 3 a postcode of the `region` to search from, known words,
    /// short needs without identifiers.
    pub fn check(
        &self,
        discharge_id: String,
        trust: &str,
        site: &str,
        managed_by: &str,
        today: Date,
        region: &Region,
    ) -> Result<DischargeRecord, ReferralProblems> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| {
            problems.push(FieldProblem {
                field: field.to_owned(),
                message,
            })
        };
        let nhs_number = match NhsNumber::parse(&self.nhs_number) {
            Ok(n) => Some(n),
            Err(err) => {
                problem("nhs_number", capitalise(&err.to_string()));
                None
            }
        };
        let sex = match self.sex.trim() {
            "male" => Some(SexAccepted::Male),
            "female" => Some(SexAccepted::Female),
            _ => {
                problem("sex", "Select the patient's sex".into());
                None
            }
        };
        let ward = self.ward.trim().to_owned();
        if ward.is_empty()
            || ward.len() > 16
            || !ward.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            problem("ward", "Enter the ward code, like WD15".into());
        }
        let ready = match parse_date(&self.discharge_ready_date) {
            Some(date) if date > today => {
                problem(
                    "discharge_ready_date",
                    "The Discharge Ready Date must be today or in the past".into(),
                );
                None
            }
            Some(date) => Some(date),
            None => {
                problem(
                    "discharge_ready_date",
                    "Enter the Discharge Ready Date as a date, like 2026-11-28".into(),
                );
                None
            }
        };
        let pathway = match self.pathway.trim().parse::<Pathway>() {
            Ok(p) => Some(p),
            Err(_) => {
                problem("pathway", "Select the discharge pathway, 0 to 3".into());
                None
            }
        };
        let care_needed = match self.care_needed.trim() {
            "" => {
                if pathway == Some(Pathway::P3) {
                    problem(
                        "care_needed",
                        "Select the care needed for a care-home placement".into(),
                    );
                }
                None
            }
            word => match word.parse::<CareCategory>() {
                Ok(category) => Some(category),
                Err(_) => {
                    problem("care_needed", format!("`{word}` is not a care category"));
                    None
                }
            },
        };
        let postcode = normalise(&self.search_postcode);
        let place = if postcode.is_empty() {
            if pathway.is_some_and(Pathway::needs_a_bed) {
                problem(
                    "search_postcode",
                    "Enter the postcode to search from (the patient's home or a chosen place)"
                        .into(),
                );
            }
            None
        } else {
            let place = place_of(region, &postcode);
            if place.is_none() {
                problem(
                    "search_postcode",
                    format!(
                        "Enter a postcode in {}, like {}",
                        region.ics.name, region.example_postcode
                    ),
                );
            }
            place
        };
        let funding = match self.funding.trim() {
            "" => Funding::NotYetKnown,
            word => word.parse().unwrap_or_else(|_| {
                problem("funding", "Select who will pay for the care".into());
                Funding::NotYetKnown
            }),
        };
        let delay_reason = match self.delay_reason.trim() {
            "" => DelayReason::NotYetKnown,
            word => word.parse().unwrap_or_else(|_| {
                problem("delay_reason", format!("`{word}` is not a delay reason"));
                DelayReason::NotYetKnown
            }),
        };
        let preferred_home = match self.preferred_home.trim() {
            "" => None,
            id => {
                if pf_care_home_model::CqcLocationId::parse(id).is_err() {
                    problem(
                        "preferred_home",
                        "Enter the preferred home's CQC location id, like 1-000000001".into(),
                    );
                }
                Some(id.to_owned())
            }
        };
        let needs = self.needs.trim().to_owned();
        if needs.chars().count() > NEEDS_MAX_CHARS {
            problem(
                "needs",
                format!("Care needs must be {NEEDS_MAX_CHARS} characters or fewer"),
            );
        }
        if has_identifier(&needs) {
            problem(
                "needs",
                "Care needs are shared with care homes: leave out NHS numbers, dates of birth and other identifiers".into(),
            );
        }
        match (nhs_number, sex, ready, pathway) {
            (Some(nhs_number), Some(sex), Some(ready), Some(pathway)) if problems.is_empty() => {
                Ok(DischargeRecord {
                    discharge_id,
                    nhs_number: Some(nhs_number),
                    sex,
                    trust: trust.to_owned(),
                    site: site.to_owned(),
                    ward,
                    discharge_ready_date: ready,
                    pathway,
                    care_needed,
                    search_postcode: postcode,
                    place,
                    funding,
                    preferred_home,
                    delay_reason,
                    status: DischargeStatus::Ready,
                    needs,
                    destination: None,
                    destination_home: None,
                    discharged_at: None,
                    cancel_reason: String::new(),
                    managed_by: managed_by.to_owned(),
                    sealed: None,
                })
            }
            _ => Err(ReferralProblems { problems }),
        }
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn good() -> ReferralInput {
        ReferralInput {
            nhs_number: "999 000 0018".into(),
            sex: "female".into(),
            ward: "WD15".into(),
            discharge_ready_date: "2026-11-27".into(),
            pathway: "3".into(),
            care_needed: "nursing_dementia".into(),
            search_postcode: "le2 7lx".into(),
            ..Default::default()
        }
    }

    fn check(input: &ReferralInput) -> Result<DischargeRecord, Vec<(String, String)>> {
        input
            .check(
                "d-1".into(),
                "RWE",
                "RWEAA",
                "RWE",
                date!(2026 - 11 - 30),
                &Region::built_in(),
            )
            .map_err(|p| {
                p.problems
                    .into_iter()
                    .map(|p| (p.field, p.message))
                    .collect()
            })
    }

    #[test]
    fn a_good_referral_becomes_a_waiting_discharge() {
        let mut input = good();
        input.nhs_number = NhsNumber::test_number(1).as_str().to_owned();
        let record = check(&input).expect("valid");
        assert_eq!(record.status, DischargeStatus::Ready);
        assert_eq!(record.search_postcode, "LE2 7LX");
        assert!(record.place.is_some());
        assert_eq!(record.delay_days(date!(2026 - 11 - 30)), 3);
    }

    #[test]
    fn each_broken_rule_is_named() {
        let mut input = good();
        input.nhs_number = "9434765918".into();
        input.discharge_ready_date = "2026-12-25".into();
        input.care_needed = String::new();
        input.search_postcode = "NG7 2UH".into();
        input.needs = "NHS 943 476 5919".into();
        let problems = check(&input).expect_err("invalid");
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "nhs_number",
                "discharge_ready_date",
                "care_needed",
                "search_postcode",
                "needs"
            ]
        );
        assert!(problems[0].1.starts_with("This is not a valid NHS number"));
        assert_eq!(
            problems[3].1,
            "Enter a postcode in Leicester, Leicestershire and Rutland, like LE2 7LX"
        );
    }

    #[test]
    fn the_search_postcode_is_one_of_the_referrals_region() {
        let fells = Region::from_json(
            "region.json",
            r#"{ "ics": { "code": "QZZ", "name": "Test Shire", "short_name": "TS ICB" },
                 "example_postcode": "ZZ1 1AA",
                 "localities": [{ "code": "north", "name": "North", "postcode_districts": [
                   { "district": "ZZ1", "latitude": 54.0, "longitude": -2.0 }] }] }"#,
        )
        .expect("valid region");
        let mut input = good();
        input.search_postcode = "zz1 4qt".into();
        let record = input
            .check(
                "d".into(),
                "RWE",
                "RWEAA",
                "RWE",
                date!(2026 - 11 - 30),
                &fells,
            )
            .expect("a postcode of Test Shire");
        assert_eq!(
            record.place,
            Some(crate::Place {
                latitude: 54.0,
                longitude: -2.0
            })
        );
        let problems = good()
            .check(
                "d".into(),
                "RWE",
                "RWEAA",
                "RWE",
                date!(2026 - 11 - 30),
                &fells,
            )
            .expect_err("LE2 7LX is not in Test Shire")
            .problems;
        assert_eq!(
            problems[0].message,
            "Enter a postcode in Test Shire, like ZZ1 1AA"
        );
    }

    #[test]
    fn needs_with_an_identifier_written_with_separators_are_refused() {
        for needs in [
            "Patient 999-424-2423, hoist",
            "DOB 01/02/1950",
            "born 1.2.50",
        ] {
            let mut input = good();
            input.needs = needs.into();
            let problems = check(&input).expect_err(needs);
            assert_eq!(
                problems,
                vec![(
                    "needs".to_owned(),
                    "Care needs are shared with care homes: leave out NHS numbers, dates of birth and other identifiers".to_owned()
                )]
            );
        }
        let mut input = good();
        input.needs = "Hoist for transfers, two carers at night".into();
        assert!(check(&input).is_ok());
    }
}
