//! The discharge figures the wall and pressure show, from data that does
//! not identify anyone.
//!
//! The projection keeps a [`DischargeSummary`] per discharge under the live
//! prefix (site, status, pathway, Discharge Ready Date, the UK date the
//! patient left, the managing organisation), and [`count`] folds them into
//! each site's [`DischargeCounts`] as of a given UK date. The figures that
//! move with the clock (patients ready by today, delay days, discharges
//! today) are computed by the reader for its own today, so they stay right
//! across midnight with no clock in Redis. The gateway and pressure both use
//! [`count`]: NCTR patients are counted one way everywhere.

use std::collections::BTreeMap;

use pf_discharge_model::DischargeRecord;
pub use pf_discharge_model::{DischargeStatus, Pathway};
use serde::{Deserialize, Serialize};
use time::Date;

/// What the counts need of one discharge. No NHS number, name, date of
/// birth, postcode, ward or free text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DischargeSummary {
    /// ODS code of the site.
    pub site: String,
    /// Where the discharge stands.
    pub status: DischargeStatus,
    /// Pathway.
    pub pathway: Pathway,
    /// Discharge Ready Date.
    #[serde(with = "iso_date")]
    pub ready: Date,
    /// The UK date the patient left, once discharged.
    #[serde(default, with = "iso_date_option")]
    pub left_on: Option<Date>,
    /// The coordinators' organisation (ODS) that manages the patient (to
    /// send a change only to that organisation's discharge views).
    pub managed_by: String,
}

impl DischargeSummary {
    /// The summary of a record.
    pub fn of(record: &DischargeRecord) -> Self {
        Self {
            site: record.site.clone(),
            status: record.status,
            pathway: record.pathway,
            ready: record.discharge_ready_date,
            left_on: record.discharged_at.map(uk_date),
            managed_by: record.managed_by.clone(),
        }
    }

    /// Whether the patient has no criteria to reside on `today`: ready
    /// (Discharge Ready Date today or earlier) and still in hospital.
    pub fn nctr_on(&self, today: Date) -> bool {
        self.status.is_waiting() && self.ready <= today
    }

    /// Whether the patient left hospital on `today`.
    pub fn left_on(&self, today: Date) -> bool {
        self.status == DischargeStatus::Discharged && self.left_on == Some(today)
    }
}

/// One pathway's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathwayCounts {
    /// Discharged on the day.
    pub discharged_today: i64,
    /// Patients on this pathway with no criteria to reside.
    pub nctr_patients: i64,
}

/// A site's (or several sites') discharge counts on one UK date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DischargeCounts {
    /// Patients ready to leave (Discharge Ready Date on or before the day)
    /// who are still in hospital.
    pub nctr_patients: i64,
    /// Their days waited since the Discharge Ready Date, added up.
    pub delay_days: i64,
    /// Discharged on the day, every pathway.
    pub discharged_today: i64,
    /// By pathway, 0 to 3.
    pub pathways: [PathwayCounts; 4],
}

impl DischargeCounts {
    /// Adds another scope's counts to these.
    pub fn add(&mut self, other: &DischargeCounts) {
        self.nctr_patients += other.nctr_patients;
        self.delay_days += other.delay_days;
        self.discharged_today += other.discharged_today;
        for (mine, theirs) in self.pathways.iter_mut().zip(&other.pathways) {
            mine.discharged_today += theirs.discharged_today;
            mine.nctr_patients += theirs.nctr_patients;
        }
    }
}

/// The UK date of an instant: the day the counts at that instant are for (a
/// day on the wall starts at UK midnight).
pub fn uk_date(at: time::OffsetDateTime) -> Date {
    pf_web::uk_time::date(at)
}

/// The index of a pathway in [`DischargeCounts::pathways`].
pub fn pathway_index(pathway: Pathway) -> usize {
    match pathway {
        Pathway::P0 => 0,
        Pathway::P1 => 1,
        Pathway::P2 => 2,
        Pathway::P3 => 3,
    }
}

/// Every site's counts on `today` (a UK date). Sites with nothing to count
/// that day are left out.
pub fn count<'a>(
    summaries: impl IntoIterator<Item = &'a DischargeSummary>,
    today: Date,
) -> BTreeMap<String, DischargeCounts> {
    let mut by_site: BTreeMap<String, DischargeCounts> = BTreeMap::new();
    for summary in summaries {
        let waiting = summary.nctr_on(today);
        let left_today = summary.left_on(today);
        if !waiting && !left_today {
            continue;
        }
        let counts = by_site.entry(summary.site.clone()).or_default();
        let pathway = &mut counts.pathways[pathway_index(summary.pathway)];
        if waiting {
            counts.nctr_patients += 1;
            counts.delay_days += pf_discharge_model::delay_days(summary.ready, today);
            pathway.nctr_patients += 1;
        }
        if left_today {
            counts.discharged_today += 1;
            pathway.discharged_today += 1;
        }
    }
    by_site
}

/// `YYYY-MM-DD`.
mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use time::Date;

    pub fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&pf_discharge_model::record::format_date(*date))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        let text = String::deserialize(deserializer)?;
        pf_discharge_model::record::parse_date(&text)
            .ok_or_else(|| D::Error::custom(format!("`{text}` is not a YYYY-MM-DD date")))
    }
}

/// `YYYY-MM-DD` or `null`.
mod iso_date_option {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use time::Date;

    pub fn serialize<S: Serializer>(date: &Option<Date>, serializer: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(date) => serializer.serialize_str(&pf_discharge_model::record::format_date(*date)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Date>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| {
                pf_discharge_model::record::parse_date(&text)
                    .ok_or_else(|| D::Error::custom(format!("`{text}` is not a YYYY-MM-DD date")))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn summary(site: &str, pathway: Pathway, ready: Date) -> DischargeSummary {
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
        let mut left = summary("RWEAA", Pathway::P1, date!(2026 - 11 - 20));
        left.status = DischargeStatus::Discharged;
        left.left_on = Some(today);
        let mut yesterday = left.clone();
        yesterday.left_on = Some(date!(2026 - 11 - 29));
        let mut cancelled = summary("RWEAA", Pathway::P3, date!(2026 - 11 - 1));
        cancelled.status = DischargeStatus::Cancelled;
        let summaries = [
            summary("RWEAA", Pathway::P3, date!(2026 - 11 - 20)),
            summary("RWEAA", Pathway::P1, date!(2026 - 12 - 2)), // not ready yet
            left,
            yesterday,
            cancelled,
            summary("RWEAK", Pathway::P0, today),
        ];
        let sites = count(&summaries, today);
        let lri = &sites["RWEAA"];
        assert_eq!((lri.nctr_patients, lri.delay_days), (1, 10));
        assert_eq!(lri.discharged_today, 1);
        assert_eq!(lri.pathways[1].discharged_today, 1);
        assert_eq!(lri.pathways[3].nctr_patients, 1);
        let glenfield = &sites["RWEAK"];
        assert_eq!((glenfield.nctr_patients, glenfield.delay_days), (1, 0));
        // The next day: delay days grow, the day's discharges start again.
        let tomorrow = count(&summaries, date!(2026 - 12 - 01));
        assert_eq!(tomorrow["RWEAA"].delay_days, 11);
        assert_eq!(tomorrow["RWEAA"].discharged_today, 0);
    }

    #[test]
    fn a_summary_carries_no_patient_identifiable_data_and_the_uk_day_it_left() {
        use pf_discharge_model::{DelayReason, Funding, NhsNumber};
        let record = DischargeRecord {
            discharge_id: "d1".to_owned(),
            nhs_number: Some(NhsNumber::parse("9434765919").expect("valid")),
            sex: pf_care_home_model::SexAccepted::Female,
            trust: "RWE".to_owned(),
            site: "RWEAA".to_owned(),
            ward: "WD15".to_owned(),
            discharge_ready_date: date!(2026 - 6 - 20),
            pathway: Pathway::P3,
            care_needed: None,
            search_postcode: "LE1 5WW".to_owned(),
            place: None,
            funding: Funding::NotYetKnown,
            preferred_home: None,
            delay_reason: DelayReason::NotYetKnown,
            status: DischargeStatus::Discharged,
            needs: "Walks with a frame".to_owned(),
            destination: None,
            destination_home: None,
            // 23:30 UTC on 1 July is 00:30 on 2 July in the UK (BST).
            discharged_at: Some(time::macros::datetime!(2026-07-01 23:30 UTC)),
            cancel_reason: String::new(),
            managed_by: "RWE".to_owned(),
            sealed: None,
        };
        let summary = DischargeSummary::of(&record);
        let json = serde_json::to_string(&summary).expect("json");
        assert_eq!(
            json,
            r#"{"site":"RWEAA","status":"discharged","pathway":"p3","ready":"2026-06-20","left_on":"2026-07-02","managed_by":"RWE"}"#
        );
        let back: DischargeSummary = serde_json::from_str(&json).expect("read back");
        assert_eq!(back, summary);
        assert!(summary.left_on(date!(2026 - 7 - 2)));
    }
}
