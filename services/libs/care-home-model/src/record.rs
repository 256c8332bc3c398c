//! A care home's record: its registration and its current vacancies.

use pf_access::CqcLocationId;
use pf_proto::envelope::{timestamp, unix_millis};
use pf_proto::v1;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::category::{CareCategory, ClosureReason, Locality, SexAccepted};
use crate::report::{Closure, VacancyReport};

/// A stored record that cannot be read back (it should have been refused
/// on the way in).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// No record in the payload.
    #[error("the event carries no care-home record")]
    Missing,
    /// The CQC location id is not valid.
    #[error("`{0}` is not a CQC location id")]
    BadCqc(String),
    /// A field holds an unknown or unspecified value.
    #[error("care home {cqc}: {field} is not a known value")]
    BadValue {
        /// The home.
        cqc: String,
        /// Which field.
        field: &'static str,
    },
}

/// What the register knows about a home, apart from its vacancies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// CQC location id.
    pub cqc_location_id: CqcLocationId,
    /// Name.
    pub name: String,
    /// First lines of the address.
    pub address: String,
    /// Postcode.
    pub postcode: String,
    /// Latitude (WGS84).
    pub latitude: f64,
    /// Longitude (WGS84).
    pub longitude: f64,
    /// The local authority area.
    pub locality: Locality,
    /// Beds the home is registered for.
    pub registered_beds: u32,
    /// The categories of care it offers, in display order.
    pub categories: Vec<CareCategory>,
}

/// The vacancies of one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vacancy {
    /// The category.
    pub category: CareCategory,
    /// Empty beds.
    pub vacant: u32,
    /// Of those, beds that cannot take anyone now.
    pub unavailable: u32,
    /// Whom they can take.
    pub sex: SexAccepted,
}

impl Vacancy {
    /// No vacancies in `category`.
    pub fn none(category: CareCategory) -> Self {
        Self {
            category,
            vacant: 0,
            unavailable: 0,
            sex: SexAccepted::Either,
        }
    }

    /// Beds that can take someone now.
    pub fn available(&self) -> u32 {
        self.vacant.saturating_sub(self.unavailable)
    }
}

/// When and by whom a home's figures were last given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who (stable id).
    pub by_id: String,
    /// Who (display name).
    pub by_name: String,
}

/// A home's whole record, as every care-home event carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareHomeRecord {
    /// Registration details.
    pub registration: Registration,
    /// One entry per category offered.
    pub vacancies: Vec<Vacancy>,
    /// Closed to admissions, and why.
    pub closure: Option<Closure>,
    /// Whether it takes patients straight from hospital.
    pub accepting_hospital_discharges: bool,
    /// Free text for discharge teams.
    pub note: String,
    /// The last report or confirmation (`None`: never reported).
    pub confirmed: Option<Confirmation>,
}

impl CareHomeRecord {
    /// A newly registered home: no vacancies known yet, open, accepting
    /// hospital discharges.
    pub fn registered(registration: Registration) -> Self {
        let vacancies = registration
            .categories
            .iter()
            .map(|c| Vacancy::none(*c))
            .collect();
        Self {
            registration,
            vacancies,
            closure: None,
            accepting_hospital_discharges: true,
            note: String::new(),
            confirmed: None,
        }
    }

    /// The home's CQC location id.
    pub fn cqc(&self) -> &CqcLocationId {
        &self.registration.cqc_location_id
    }

    /// The vacancies of `category` (none when it is not offered).
    pub fn vacancy(&self, category: CareCategory) -> Vacancy {
        self.vacancies
            .iter()
            .find(|v| v.category == category)
            .copied()
            .unwrap_or_else(|| Vacancy::none(category))
    }

    /// The record after the home reported `report` (already checked
    /// against this registration).
    pub fn with_report(&self, report: &VacancyReport, confirmed: Confirmation) -> Self {
        Self {
            registration: self.registration.clone(),
            vacancies: self
                .registration
                .categories
                .iter()
                .map(|c| {
                    report
                        .vacancies
                        .iter()
                        .find(|v| v.category == *c)
                        .copied()
                        .unwrap_or_else(|| Vacancy::none(*c))
                })
                .collect(),
            closure: report.closure.clone(),
            accepting_hospital_discharges: report.accepting_hospital_discharges,
            note: report.note.clone(),
            confirmed: Some(confirmed),
        }
    }

    /// The record after a "nothing has changed" confirmation.
    pub fn confirmed_unchanged(&self, confirmed: Confirmation) -> Self {
        Self {
            confirmed: Some(confirmed),
            ..self.clone()
        }
    }

    /// The record with new registration details; vacancies of categories
    /// still offered are kept.
    pub fn with_registration(&self, registration: Registration) -> Self {
        let vacancies = registration
            .categories
            .iter()
            .map(|c| self.vacancy(*c))
            .collect();
        Self {
            registration,
            vacancies,
            ..self.clone()
        }
    }

    /// What the home reports now, as a report (to prefill a form).
    pub fn as_report(&self) -> VacancyReport {
        VacancyReport {
            vacancies: self.vacancies.clone(),
            closure: self.closure.clone(),
            accepting_hospital_discharges: self.accepting_hospital_discharges,
            note: self.note.clone(),
        }
    }

    /// The event payload's record.
    pub fn to_proto(&self) -> v1::CareHome {
        let r = &self.registration;
        v1::CareHome {
            cqc_location_id: r.cqc_location_id.as_str().to_owned(),
            name: r.name.clone(),
            address: r.address.clone(),
            postcode: r.postcode.clone(),
            latitude: r.latitude,
            longitude: r.longitude,
            locality: r.locality.to_proto() as i32,
            registered_beds: r.registered_beds,
            categories_offered: r.categories.iter().map(|c| c.to_proto() as i32).collect(),
            vacancies: self
                .vacancies
                .iter()
                .map(|v| v1::CategoryVacancy {
                    category: v.category.to_proto() as i32,
                    vacant: v.vacant,
                    unavailable: v.unavailable,
                    sex: v.sex.to_proto() as i32,
                })
                .collect(),
            closed_to_admissions: self.closure.is_some(),
            closure_reason: self
                .closure
                .as_ref()
                .map(|c| c.reason.to_proto() as i32)
                .unwrap_or(0),
            closure_detail: self
                .closure
                .as_ref()
                .map(|c| c.detail.clone())
                .unwrap_or_default(),
            accepting_hospital_discharges: self.accepting_hospital_discharges,
            note: self.note.clone(),
            vacancies_confirmed_at: self.confirmed.as_ref().map(|c| timestamp(c.at)),
            vacancies_confirmed_by: self.confirmed.as_ref().map(|c| v1::RecordedBy {
                id: c.by_id.clone(),
                name: c.by_name.clone(),
            }),
        }
    }

    /// Reads a record from an event payload, checking every value.
    pub fn from_proto(home: Option<&v1::CareHome>) -> Result<Self, RecordError> {
        let home = home.ok_or(RecordError::Missing)?;
        let cqc = CqcLocationId::parse(&home.cqc_location_id)
            .map_err(|_| RecordError::BadCqc(home.cqc_location_id.clone()))?;
        let bad = |field| RecordError::BadValue {
            cqc: home.cqc_location_id.clone(),
            field,
        };
        let categories = home
            .categories_offered
            .iter()
            .map(|c| CareCategory::from_proto(*c).ok_or_else(|| bad("categories_offered")))
            .collect::<Result<Vec<_>, _>>()?;
        let vacancies = home
            .vacancies
            .iter()
            .map(|v| {
                Ok(Vacancy {
                    category: CareCategory::from_proto(v.category)
                        .ok_or_else(|| bad("vacancies.category"))?,
                    vacant: v.vacant,
                    unavailable: v.unavailable.min(v.vacant),
                    sex: SexAccepted::from_proto(v.sex).unwrap_or(SexAccepted::Either),
                })
            })
            .collect::<Result<Vec<_>, RecordError>>()?;
        let closure = if home.closed_to_admissions {
            Some(Closure {
                reason: ClosureReason::from_proto(home.closure_reason)
                    .ok_or_else(|| bad("closure_reason"))?,
                detail: home.closure_detail.clone(),
            })
        } else {
            None
        };
        let confirmed = home.vacancies_confirmed_at.as_ref().map(|at| {
            let by = home.vacancies_confirmed_by.clone().unwrap_or_default();
            Confirmation {
                at: OffsetDateTime::from_unix_timestamp_nanos(
                    i128::from(unix_millis(Some(at))) * 1_000_000,
                )
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                by_id: by.id,
                by_name: by.name,
            }
        });
        Ok(Self {
            registration: Registration {
                cqc_location_id: cqc,
                name: home.name.clone(),
                address: home.address.clone(),
                postcode: home.postcode.clone(),
                latitude: home.latitude,
                longitude: home.longitude,
                locality: Locality::from_proto(home.locality).ok_or_else(|| bad("locality"))?,
                registered_beds: home.registered_beds,
                categories,
            },
            vacancies,
            closure,
            accepting_hospital_discharges: home.accepting_hospital_discharges,
            note: home.note.clone(),
            confirmed,
        })
    }
}
