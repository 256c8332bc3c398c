//! A discharge's record, as every discharge event carries it.
//!
//! Two payload versions: version 1 (events written before sealing) carries
//! the NHS number, search postcode and place in the clear; version 2 carries
//! them only in [`SealedPatient`], encrypted with the patient's own key
//! (`pf-patient-keys`). A sealed record read without its key has
//! `nhs_number: None`: everything else (and so every count) is still there.

use pf_care_home_model::{CareCategory, SexAccepted, time_of};
use pf_proto::envelope::timestamp;
use pf_proto::v1;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::nhs_number::NhsNumber;
use crate::postcode::Place;
use crate::words::{DelayReason, Destination, DischargeStatus, Funding, Pathway};

/// `YYYY-MM-DD`.
const DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// Reads `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<Date> {
    Date::parse(text.trim(), DATE).ok()
}

/// Writes `YYYY-MM-DD`.
pub fn format_date(date: Date) -> String {
    date.format(DATE).unwrap_or_default()
}

/// Days since the Discharge Ready Date (0 on the day itself).
pub fn delay_days(ready: Date, today: Date) -> i64 {
    (today - ready).whole_days().max(0)
}

/// A stored record that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("discharge {id}: {field} is not valid")]
pub struct RecordError {
    /// The discharge.
    pub id: String,
    /// Which field.
    pub field: &'static str,
}

/// A discharge's whole record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DischargeRecord {
    /// UUIDv7.
    pub discharge_id: String,
    /// The patient: `None` while sealed (see [`SealedPatient`]), or for good
    /// once the patient's key was destroyed after the retention period.
    pub nhs_number: Option<NhsNumber>,
    /// Male or female.
    pub sex: SexAccepted,
    /// ODS code of the trust.
    pub trust: String,
    /// ODS code of the site.
    pub site: String,
    /// Ward code.
    pub ward: String,
    /// Discharge Ready Date.
    pub discharge_ready_date: Date,
    /// Pathway.
    pub pathway: Pathway,
    /// For pathways 2 and 3: the care needed.
    pub care_needed: Option<CareCategory>,
    /// Where the search centres.
    pub search_postcode: String,
    /// Its place.
    pub place: Option<Place>,
    /// Who pays.
    pub funding: Funding,
    /// A preferred home (CQC location id), if any.
    pub preferred_home: Option<String>,
    /// Why the patient still waits.
    pub delay_reason: DelayReason,
    /// Where the discharge stands.
    pub status: DischargeStatus,
    /// Care needs in a few words (shared with a home a bed is held at).
    pub needs: String,
    /// Where the patient went.
    pub destination: Option<Destination>,
    /// The care home, when discharged to one.
    pub destination_home: Option<String>,
    /// When the patient left.
    #[serde(with = "time::serde::rfc3339::option")]
    pub discharged_at: Option<OffsetDateTime>,
    /// Why the patient no longer waits.
    pub cancel_reason: String,
    /// The coordinators' organisation (ODS) that manages this patient.
    pub managed_by: String,
    /// The patient-identifiable fields, encrypted (payload version 2);
    /// `None` in version 1 records, whose fields are in the clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<SealedPatient>,
}

/// The patient-identifiable fields of a record, encrypted with the
/// patient's own data key (`pf-patient-keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedPatient {
    /// The cipher (1: XChaCha20-Poly1305).
    pub scheme: u32,
    /// The nonce.
    pub nonce: Vec<u8>,
    /// The encrypted [`PatientFields`] (JSON), with its tag.
    pub ciphertext: Vec<u8>,
}

impl SealedPatient {
    /// In an event payload.
    pub fn to_proto(&self) -> v1::SealedPatient {
        v1::SealedPatient {
            scheme: self.scheme,
            nonce: self.nonce.clone(),
            ciphertext: self.ciphertext.clone(),
        }
    }

    /// From an event payload.
    pub fn from_proto(sealed: &v1::SealedPatient) -> Self {
        Self {
            scheme: sealed.scheme,
            nonce: sealed.nonce.clone(),
            ciphertext: sealed.ciphertext.clone(),
        }
    }
}

/// What identifies the patient in a record: sealed together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientFields {
    /// The NHS number.
    pub nhs_number: NhsNumber,
    /// Where the search centres (often the patient's home postcode).
    pub search_postcode: String,
    /// Its place.
    pub place: Option<Place>,
}

impl DischargeRecord {
    /// The patient-identifiable fields, when in the clear.
    pub fn patient_fields(&self) -> Option<PatientFields> {
        Some(PatientFields {
            nhs_number: self.nhs_number.clone()?,
            search_postcode: self.search_postcode.clone(),
            place: self.place,
        })
    }

    /// Puts opened patient fields back into the record.
    pub fn with_patient_fields(mut self, fields: PatientFields) -> Self {
        self.nhs_number = Some(fields.nhs_number);
        self.search_postcode = fields.search_postcode;
        self.place = fields.place;
        // Opened: the fields are in the clear now, and sealed again (with a
        // fresh nonce) when the record is next stored.
        self.sealed = None;
        self
    }

    /// The record with its patient fields replaced by `sealed` (what is
    /// stored: payload version 2).
    pub fn sealed_with(mut self, sealed: SealedPatient) -> Self {
        self.nhs_number = None;
        self.search_postcode = String::new();
        self.place = None;
        self.sealed = Some(sealed);
        self
    }

    /// Days waited since the Discharge Ready Date.
    pub fn delay_days(&self, today: Date) -> i64 {
        delay_days(self.discharge_ready_date, today)
    }

    /// The event payload's record.
    pub fn to_proto(&self) -> v1::Discharge {
        v1::Discharge {
            discharge_id: self.discharge_id.clone(),
            nhs_number: self
                .nhs_number
                .as_ref()
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
            sex: self.sex.to_proto() as i32,
            trust: self.trust.clone(),
            site: self.site.clone(),
            ward: self.ward.clone(),
            discharge_ready_date: format_date(self.discharge_ready_date),
            pathway: self.pathway.to_proto() as i32,
            care_needed: self.care_needed.map_or(0, |c| c.to_proto() as i32),
            search_postcode: self.search_postcode.clone(),
            latitude: self.place.map_or(0.0, |p| p.latitude),
            longitude: self.place.map_or(0.0, |p| p.longitude),
            funding: self.funding.to_proto() as i32,
            preferred_home: self.preferred_home.clone().unwrap_or_default(),
            delay_reason: self.delay_reason.as_str().to_owned(),
            status: self.status.to_proto() as i32,
            needs: self.needs.clone(),
            destination: self
                .destination
                .map(|d| d.as_str().to_owned())
                .unwrap_or_default(),
            destination_home: self.destination_home.clone().unwrap_or_default(),
            discharged_at: self.discharged_at.map(timestamp),
            cancel_reason: self.cancel_reason.clone(),
            managed_by: self.managed_by.clone(),
            sealed: self.sealed.as_ref().map(SealedPatient::to_proto),
        }
    }

    /// Reads a record from an event payload, checking every value.
    pub fn from_proto(d: Option<&v1::Discharge>) -> Result<Self, RecordError> {
        let d = d.ok_or(RecordError {
            id: String::new(),
            field: "discharge",
        })?;
        let bad = |field| RecordError {
            id: d.discharge_id.clone(),
            field,
        };
        let optional = |text: &str| (!text.is_empty()).then(|| text.to_owned());
        let sealed = d.sealed.as_ref().map(SealedPatient::from_proto);
        // Version 2 carries the patient's fields sealed and nothing in the
        // clear; version 1 in the clear.
        let nhs_number = match (&sealed, d.nhs_number.is_empty()) {
            (Some(_), true) => None,
            (Some(_), false) => return Err(bad("nhs_number")),
            (None, _) => Some(NhsNumber::parse(&d.nhs_number).map_err(|_| bad("nhs_number"))?),
        };
        Ok(Self {
            discharge_id: d.discharge_id.clone(),
            nhs_number,
            sex: SexAccepted::from_proto(d.sex).ok_or_else(|| bad("sex"))?,
            trust: d.trust.clone(),
            site: d.site.clone(),
            ward: d.ward.clone(),
            discharge_ready_date: parse_date(&d.discharge_ready_date)
                .ok_or_else(|| bad("discharge_ready_date"))?,
            pathway: Pathway::from_proto(d.pathway).ok_or_else(|| bad("pathway"))?,
            care_needed: CareCategory::from_proto(d.care_needed),
            search_postcode: d.search_postcode.clone(),
            place: (d.latitude != 0.0 || d.longitude != 0.0).then_some(Place {
                latitude: d.latitude,
                longitude: d.longitude,
            }),
            funding: Funding::from_proto(d.funding),
            preferred_home: optional(&d.preferred_home),
            delay_reason: d.delay_reason.parse().unwrap_or(DelayReason::NotYetKnown),
            status: DischargeStatus::from_proto(d.status).ok_or_else(|| bad("status"))?,
            needs: d.needs.clone(),
            destination: d.destination.parse().ok(),
            destination_home: optional(&d.destination_home),
            discharged_at: d.discharged_at.as_ref().map(|t| time_of(Some(t))),
            cancel_reason: d.cancel_reason.clone(),
            managed_by: d.managed_by.clone(),
            sealed,
        })
    }
}

/// The discharge record a discharge event carries: `None` when the payload
/// is not a discharge event.
pub fn discharge_in(payload: &v1::event_envelope::Payload) -> Option<Option<&v1::Discharge>> {
    use v1::event_envelope::Payload;
    Some(match payload {
        Payload::PatientReadyForDischarge(p) => p.discharge.as_ref(),
        Payload::DelayReasonChanged(p) => p.discharge.as_ref(),
        Payload::SearchStarted(p) => p.discharge.as_ref(),
        Payload::PatientDischarged(p) => p.discharge.as_ref(),
        Payload::DischargeCancelled(p) => p.discharge.as_ref(),
        _ => return None,
    })
}

/// The discharge record a discharge event carries, to change it in place:
/// `None` when the payload is not a discharge event or carries none.
pub fn discharge_in_mut(payload: &mut v1::event_envelope::Payload) -> Option<&mut v1::Discharge> {
    use v1::event_envelope::Payload;
    match payload {
        Payload::PatientReadyForDischarge(p) => p.discharge.as_mut(),
        Payload::DelayReasonChanged(p) => p.discharge.as_mut(),
        Payload::SearchStarted(p) => p.discharge.as_mut(),
        Payload::PatientDischarged(p) => p.discharge.as_mut(),
        Payload::DischargeCancelled(p) => p.discharge.as_mut(),
        _ => None,
    }
}
