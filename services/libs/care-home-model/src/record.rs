//! A care home's record: its registration and its current vacancies.

use pf_access::CqcLocationId;
use pf_proto::envelope::{timestamp, unix_millis};
use pf_proto::v1;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::capacity_tracker::Capacity;
use crate::category::{CareCategory, ClosureReason, SexAccepted};
use crate::phone::PhoneNumber;
use crate::report::{Closure, VacancyReport};
use pf_region::LocalityCode;

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
    /// The code of its locality in the region's data set.
    pub locality: LocalityCode,
    /// Beds the home is registered for.
    pub registered_beds: u32,
    /// The categories of care it offers, in display order.
    pub categories: Vec<CareCategory>,
    /// Its telephone number for discharge teams (none in records written
    /// before the register had one).
    #[serde(default)]
    pub phone: Option<PhoneNumber>,
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

/// Whether a hold waits for the home's answer or was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    /// Held by a discharge team, waiting for the home's answer.
    Requested,
    /// The home accepted the patient.
    Accepted,
}

/// One bed held for one patient: only what the home needs to decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// UUIDv7.
    pub hold_id: String,
    /// The patient's discharge (an opaque id).
    pub discharge_id: String,
    /// The category of bed held.
    pub category: CareCategory,
    /// The patient's sex.
    pub sex: SexAccepted,
    /// ODS code of the discharge team's organisation.
    pub held_by_organisation: String,
    /// The coordinator who held it.
    pub held_by_name: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub held_at: OffsetDateTime,
    /// Released by itself at this time unless accepted.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Requested or accepted.
    pub state: HoldState,
    /// Discharge pathway, 0 to 3.
    pub pathway: u32,
    /// Discharge Ready Date, `YYYY-MM-DD`.
    pub discharge_ready_date: String,
    /// Care needs in a few words.
    pub needs: String,
}

/// A home's retirement from the register: it can no longer report, and
/// readers (matching, the wall) leave it out; its events are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retirement {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who (stable id).
    pub by_id: String,
    /// Who (display name).
    pub by_name: String,
    /// Why, in the administrator's words.
    pub reason: String,
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
    /// Beds held for patients (requested or accepted).
    #[serde(default)]
    pub holds: Vec<Hold>,
    /// Maximum capacity and occupied beds as the home last gave them
    /// (`None` in records from before payload version 2, or from an update
    /// in the older shape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
    /// Retired from the register (`None`: on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<Retirement>,
    /// The registration was last set by a system administrator (the pages
    /// or a CSV import): the register file read at start leaves it alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub registration_administered: bool,
}

/// The shape of the care-home record an event carries (`CareHome.payload_version`):
/// 0 or 1, events written before the version was recorded (no capacity);
/// 2, with the Capacity Tracker's maximum capacity and occupied beds.
pub const PAYLOAD_VERSION: u32 = 2;

impl CareHomeRecord {
    /// Whether the home's figures are older than `age` at `now`, or were
    /// never given: the one rule for stale figures (the wall counts them,
    /// pressure alerts on them).
    pub fn is_stale(&self, now: OffsetDateTime, age: time::Duration) -> bool {
        self.confirmed
            .as_ref()
            .is_none_or(|confirmed| (now - confirmed.at) > age)
    }

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
            holds: Vec::new(),
            capacity: None,
            retired: None,
            registration_administered: false,
        }
    }

    /// Whether the home was retired from the register.
    pub fn is_retired(&self) -> bool {
        self.retired.is_some()
    }

    /// The record retired from the register.
    pub fn with_retirement(&self, retirement: Retirement) -> Self {
        Self {
            retired: Some(retirement),
            ..self.clone()
        }
    }

    /// Beds of `category` free to hold now: vacant, not unavailable, not
    /// held, in a home open to admissions.
    pub fn free_beds(&self, category: CareCategory) -> u32 {
        if self.closure.is_some() {
            return 0;
        }
        let held = self.holds.iter().filter(|h| h.category == category).count();
        self.vacancy(category)
            .available()
            .saturating_sub(u32::try_from(held).unwrap_or(u32::MAX))
    }

    /// One of the home's holds.
    pub fn hold(&self, hold_id: &str) -> Option<&Hold> {
        self.holds.iter().find(|h| h.hold_id == hold_id)
    }

    /// The record with `hold` added.
    pub fn with_hold(&self, hold: Hold) -> Self {
        let mut next = self.clone();
        next.holds.push(hold);
        next
    }

    /// The record with the hold accepted.
    pub fn with_hold_accepted(&self, hold_id: &str) -> Self {
        let mut next = self.clone();
        for hold in &mut next.holds {
            if hold.hold_id == hold_id {
                hold.state = HoldState::Accepted;
            }
        }
        next
    }

    /// The record without the hold (declined, released, expired).
    pub fn without_hold(&self, hold_id: &str) -> Self {
        let mut next = self.clone();
        next.holds.retain(|h| h.hold_id != hold_id);
        next
    }

    /// The record after the patient of the hold arrived: the hold is gone
    /// and its bed is no longer vacant.
    pub fn with_resident_admitted(&self, hold_id: &str) -> Self {
        let Some(hold) = self.hold(hold_id).cloned() else {
            return self.clone();
        };
        let mut next = self.without_hold(hold_id);
        for vacancy in &mut next.vacancies {
            if vacancy.category == hold.category && vacancy.vacant > 0 {
                vacancy.vacant -= 1;
                vacancy.unavailable = vacancy.unavailable.min(vacancy.vacant);
                // The bed is now occupied: the home's count still adds up.
                if let Some(capacity) = &mut next.capacity {
                    capacity.occupied = capacity.occupied.saturating_add(1);
                }
            }
        }
        next
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
            holds: self.holds.clone(),
            capacity: report.capacity,
            retired: self.retired.clone(),
            registration_administered: self.registration_administered,
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
            capacity: self.capacity,
        }
    }

    /// The event payload's record.
    #[allow(deprecated)] // also fills the deprecated locality for old readers
    pub fn to_proto(&self) -> v1::CareHome {
        let r = &self.registration;
        v1::CareHome {
            cqc_location_id: r.cqc_location_id.as_str().to_owned(),
            name: r.name.clone(),
            address: r.address.clone(),
            postcode: r.postcode.clone(),
            latitude: r.latitude,
            longitude: r.longitude,
            locality: legacy_locality(&r.locality),
            locality_code: r.locality.to_string(),
            registered_beds: r.registered_beds,
            categories_offered: r.categories.iter().map(|c| c.to_proto() as i32).collect(),
            phone: r
                .phone
                .as_ref()
                .map(PhoneNumber::spaced)
                .unwrap_or_default(),
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
            holds: self
                .holds
                .iter()
                .map(|h| v1::Hold {
                    hold_id: h.hold_id.clone(),
                    discharge_id: h.discharge_id.clone(),
                    category: h.category.to_proto() as i32,
                    sex: h.sex.to_proto() as i32,
                    held_by_organisation: h.held_by_organisation.clone(),
                    held_by_name: h.held_by_name.clone(),
                    held_at: Some(timestamp(h.held_at)),
                    expires_at: Some(timestamp(h.expires_at)),
                    state: match h.state {
                        HoldState::Requested => v1::HoldState::Requested,
                        HoldState::Accepted => v1::HoldState::Accepted,
                    } as i32,
                    pathway: h.pathway,
                    discharge_ready_date: h.discharge_ready_date.clone(),
                    needs: h.needs.clone(),
                })
                .collect(),
            capacity: self.capacity.map(|c| v1::HomeCapacity {
                maximum_capacity: c.maximum_capacity,
                occupied: c.occupied,
            }),
            payload_version: PAYLOAD_VERSION,
            retired: self.retired.as_ref().map(|r| v1::Retirement {
                at: Some(timestamp(r.at)),
                by: Some(v1::RecordedBy {
                    id: r.by_id.clone(),
                    name: r.by_name.clone(),
                }),
                reason: r.reason.clone(),
            }),
            registration_administered: self.registration_administered,
        }
    }

    /// Reads a record from an event payload, checking every value. Every
    /// payload version reads: one from before version 2 has no capacity.
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
        let holds = home
            .holds
            .iter()
            .map(|h| {
                Ok(Hold {
                    hold_id: h.hold_id.clone(),
                    discharge_id: h.discharge_id.clone(),
                    category: CareCategory::from_proto(h.category)
                        .ok_or_else(|| bad("holds.category"))?,
                    sex: SexAccepted::from_proto(h.sex).unwrap_or(SexAccepted::Either),
                    held_by_organisation: h.held_by_organisation.clone(),
                    held_by_name: h.held_by_name.clone(),
                    held_at: time_of(h.held_at.as_ref()),
                    expires_at: time_of(h.expires_at.as_ref()),
                    state: match v1::HoldState::try_from(h.state) {
                        Ok(v1::HoldState::Accepted) => HoldState::Accepted,
                        Ok(v1::HoldState::Requested) => HoldState::Requested,
                        _ => return Err(bad("holds.state")),
                    },
                    pathway: h.pathway,
                    discharge_ready_date: h.discharge_ready_date.clone(),
                    needs: h.needs.clone(),
                })
            })
            .collect::<Result<Vec<_>, RecordError>>()?;
        let confirmed = home.vacancies_confirmed_at.as_ref().map(|at| {
            let by = home.vacancies_confirmed_by.clone().unwrap_or_default();
            Confirmation {
                at: time_of(Some(at)),
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
                locality: locality_of(home).ok_or_else(|| bad("locality"))?,
                registered_beds: home.registered_beds,
                categories,
                phone: match home.phone.trim() {
                    "" => None,
                    text => Some(PhoneNumber::parse(text).map_err(|_| bad("phone"))?),
                },
            },
            vacancies,
            closure,
            accepting_hospital_discharges: home.accepting_hospital_discharges,
            note: home.note.clone(),
            confirmed,
            holds,
            capacity: match home.payload_version {
                // Written before the Capacity Tracker's figures existed.
                0 | 1 => None,
                _ => home.capacity.as_ref().map(|c| Capacity {
                    maximum_capacity: c.maximum_capacity,
                    occupied: c.occupied,
                }),
            },
            retired: home.retired.as_ref().map(|r| {
                let by = r.by.clone().unwrap_or_default();
                Retirement {
                    at: time_of(r.at.as_ref()),
                    by_id: by.id,
                    by_name: by.name,
                    reason: r.reason.clone(),
                }
            }),
            registration_administered: home.registration_administered,
        })
    }
}

/// The locality of an event's home: `locality_code`, or in events recorded
/// before it existed the deprecated enum's value name without its prefix,
/// lower-cased (`LOCALITY_RUTLAND` → `rutland`: the default region's code
/// for it). `None` when neither says a locality.
#[allow(deprecated)] // reads the deprecated field on purpose
fn locality_of(home: &v1::CareHome) -> Option<LocalityCode> {
    if !home.locality_code.is_empty() {
        return LocalityCode::parse(&home.locality_code).ok();
    }
    let legacy = v1::Locality::try_from(home.locality).ok()?;
    if legacy == v1::Locality::Unspecified {
        return None;
    }
    let name = legacy.as_str_name().strip_prefix("LOCALITY_")?;
    LocalityCode::parse(&name.to_ascii_lowercase()).ok()
}

/// The deprecated enum value of a locality code, for readers not yet
/// upgraded: the value whose name is the code (see [`locality_of`]), else
/// unspecified.
fn legacy_locality(code: &LocalityCode) -> i32 {
    let name = format!("LOCALITY_{}", code.as_str().to_ascii_uppercase());
    v1::Locality::from_str_name(&name).map_or(0, |l| l as i32)
}

/// A protobuf time as a time (the epoch when absent).
pub fn time_of(at: Option<&prost_types::Timestamp>) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_millis(at)) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The home record a care-home event carries: `None` when the payload is
/// not a care-home event, `Some(None)` when it is one without a record.
pub fn home_in(payload: &v1::event_envelope::Payload) -> Option<Option<&v1::CareHome>> {
    use v1::event_envelope::Payload;
    Some(match payload {
        Payload::CareHomeRegistered(p) => p.home.as_ref(),
        Payload::CareHomeRetired(p) => p.home.as_ref(),
        Payload::VacanciesReported(p) => p.home.as_ref(),
        Payload::ClosedToAdmissions(p) => p.home.as_ref(),
        Payload::ReopenedToAdmissions(p) => p.home.as_ref(),
        Payload::BedHeld(p) => p.home.as_ref(),
        Payload::HoldAccepted(p) => p.home.as_ref(),
        Payload::HoldDeclined(p) => p.home.as_ref(),
        Payload::HoldReleased(p) => p.home.as_ref(),
        Payload::HoldExpired(p) => p.home.as_ref(),
        Payload::ResidentAdmitted(p) => p.home.as_ref(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(locality: &str) -> CareHomeRecord {
        CareHomeRecord::registered(Registration {
            cqc_location_id: CqcLocationId::parse("1-000000001").expect("id"),
            name: "Alder House (demo)".into(),
            address: "1 Test Road".into(),
            postcode: "LE2 1AA".into(),
            latitude: 52.61,
            longitude: -1.11,
            locality: LocalityCode::parse(locality).expect("code"),
            registered_beds: 30,
            categories: vec![CareCategory::Residential],
            phone: PhoneNumber::parse("0116 496 0001").ok(),
        })
    }

    #[test]
    #[allow(deprecated)] // writes events as they were recorded before locality codes
    fn events_recorded_with_the_locality_enum_still_read_as_the_same_locality() {
        for (legacy, code) in [
            (v1::Locality::LeicesterCity, "leicester_city"),
            (v1::Locality::Leicestershire, "leicestershire"),
            (v1::Locality::Rutland, "rutland"),
        ] {
            let mut old = record(code).to_proto();
            old.locality_code.clear();
            old.locality = legacy as i32;
            old.phone.clear();
            let read = CareHomeRecord::from_proto(Some(&old)).expect("an old event reads");
            assert_eq!(read.registration.phone, None, "recorded before phones");
            assert_eq!(read.registration.locality.as_str(), code);
            // New events carry the code, and the enum for readers not yet upgraded.
            let new = record(code).to_proto();
            assert_eq!(
                (new.locality_code.as_str(), new.locality),
                (code, legacy as i32)
            );
        }
        let mut neither = record("rutland").to_proto();
        neither.locality_code.clear();
        neither.locality = 0;
        assert!(CareHomeRecord::from_proto(Some(&neither)).is_err());
    }

    #[test]
    fn the_phone_number_travels_in_the_event_and_the_stored_record() {
        let event = record("leicester_city").to_proto();
        assert_eq!(event.phone, "0116 496 0001");
        let read = CareHomeRecord::from_proto(Some(&event)).expect("reads");
        assert_eq!(
            read.registration.phone,
            PhoneNumber::parse("01164960001").ok()
        );
        let json = serde_json::to_value(&read).expect("json");
        assert_eq!(json["registration"]["phone"], "0116 496 0001");
        let mut older = json.clone();
        if let Some(registration) = older["registration"].as_object_mut() {
            registration.remove("phone");
        }
        let back: CareHomeRecord = serde_json::from_value(older).expect("an older record reads");
        assert_eq!(back.registration.phone, None);
        let mut bad = event.clone();
        bad.phone = "call us".into();
        assert!(CareHomeRecord::from_proto(Some(&bad)).is_err());
    }

    #[test]
    #[allow(deprecated)]
    fn a_locality_of_another_region_travels_as_its_code() {
        let event = record("north_vale").to_proto();
        assert_eq!(event.locality, 0, "no enum value for another region");
        let read = CareHomeRecord::from_proto(Some(&event)).expect("reads");
        assert_eq!(read.registration.locality.as_str(), "north_vale");
    }
}
