//! The values read from and written to the live state.

use std::collections::BTreeMap;

use pf_care_home_model::CareHomeRecord;
use pf_discharge_model::DischargeRecord;
use pf_hospital_model::{BedKind, BedState};

use crate::counter::{CounterField, Counters};
use crate::discharge_counts::DischargeSummary;
use crate::urgent_care::{AmbulanceEscalationUpdate, AmbulanceUpdate, EdAttendanceUpdate};

/// A ward, as `(site, ward)`.
pub type WardKey = (String, String);

/// One bed event, ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedUpdate {
    /// Event id (UUIDv7).
    pub event_id: String,
    /// Event type, e.g. `bed.state_changed`.
    pub event_type: String,
    /// The bed's version after the event.
    pub entity_version: u64,
    /// ODS site code.
    pub site: String,
    /// Ward code.
    pub ward: String,
    /// Bed code.
    pub bed: String,
    /// Whether the bed is in the bed base after the event.
    pub open: bool,
    /// Its state after the event, while open.
    pub state: Option<BedState>,
    /// Its kind.
    pub kind: BedKind,
    /// Whether it is an escalation bed.
    pub escalation: bool,
    /// Why it changed.
    pub reason: String,
    /// When it happened, ms since the epoch.
    pub occurred_at_ms: i64,
}

impl BedUpdate {
    /// The counter the bed counts in after the event (`None`: it is out of
    /// the bed base).
    pub fn counter(&self) -> Option<CounterField> {
        match (self.open, self.state) {
            (true, Some(state)) => Some(CounterField::new(self.kind, state, self.escalation)),
            _ => None,
        }
    }
}

/// One care-home event, ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct CareHomeUpdate {
    /// Event id (UUIDv7).
    pub event_id: String,
    /// Event type, e.g. `care_home.vacancies_reported`.
    pub event_type: String,
    /// The home's version after the event.
    pub entity_version: u64,
    /// The home's whole record after the event.
    pub record: CareHomeRecord,
    /// When it happened, ms since the epoch.
    pub occurred_at_ms: i64,
}

impl CareHomeUpdate {
    /// The record as the live state keeps it: the home's figures and its
    /// holds without what the home was told about each patient (their care
    /// needs in words and their Discharge Ready Date). Readers of the live
    /// state need only which beds are held, for which discharge, by which
    /// organisation and in what state; the home reads the rest from its own
    /// service.
    pub fn shared_record(&self) -> CareHomeRecord {
        let mut record = self.record.clone();
        for hold in &mut record.holds {
            hold.needs.clear();
            hold.discharge_ready_date.clear();
        }
        record
    }
}

/// One discharge event, ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct DischargeUpdate {
    /// Event id (UUIDv7).
    pub event_id: String,
    /// Event type, e.g. `discharge.patient_ready`.
    pub event_type: String,
    /// The discharge's version after the event.
    pub entity_version: u64,
    /// The discharge's whole record after the event.
    pub record: DischargeRecord,
    /// When it happened, ms since the epoch.
    pub occurred_at_ms: i64,
}

impl DischargeUpdate {
    /// What the counts need of the discharge (no patient-identifiable data).
    pub fn summary(&self) -> DischargeSummary {
        DischargeSummary::of(&self.record)
    }
}

/// One task or action event, ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemUpdate {
    /// Event id (UUIDv7).
    pub event_id: String,
    /// Event type, e.g. `item.created`.
    pub event_type: String,
    /// The item's version after the event.
    pub entity_version: u64,
    /// The item's whole record after the event.
    pub record: pf_task_model::Item,
    /// When it happened, ms since the epoch.
    pub occurred_at_ms: i64,
}

/// One change of an organisation's team register, ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamsUpdate {
    /// Event id (UUIDv7).
    pub event_id: String,
    /// The register's version after the event.
    pub entity_version: u64,
    /// The whole register after the event.
    pub register: pf_task_model::TeamRegister,
    /// When it happened, ms since the epoch.
    pub occurred_at_ms: i64,
}

/// One event ready to apply, of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// A bed event.
    Bed(BedUpdate),
    /// A care-home event.
    CareHome(Box<CareHomeUpdate>),
    /// A discharge event.
    Discharge(Box<DischargeUpdate>),
    /// A task or action event.
    Item(Box<ItemUpdate>),
    /// A team register change.
    Teams(Box<TeamsUpdate>),
    /// An ED attendance's event.
    Ed(Box<EdAttendanceUpdate>),
    /// An ambulance arrival's event.
    Ambulance(Box<AmbulanceUpdate>),
    /// An ambulance service's escalation level.
    AmbulanceEscalation(Box<AmbulanceEscalationUpdate>),
}

impl Update {
    /// The event id.
    pub fn event_id(&self) -> &str {
        match self {
            Update::Bed(u) => &u.event_id,
            Update::CareHome(u) => &u.event_id,
            Update::Discharge(u) => &u.event_id,
            Update::Item(u) => &u.event_id,
            Update::Teams(u) => &u.event_id,
            Update::Ed(u) => &u.event_id,
            Update::Ambulance(u) => &u.event_id,
            Update::AmbulanceEscalation(u) => &u.event_id,
        }
    }

    /// The entity version after the event.
    pub fn entity_version(&self) -> u64 {
        match self {
            Update::Bed(u) => u.entity_version,
            Update::CareHome(u) => u.entity_version,
            Update::Discharge(u) => u.entity_version,
            Update::Item(u) => u.entity_version,
            Update::Teams(u) => u.entity_version,
            Update::Ed(u) => u.entity_version,
            Update::Ambulance(u) => u.entity_version,
            Update::AmbulanceEscalation(u) => u.entity_version,
        }
    }

    /// When the event happened, ms since the epoch (to bound by the time
    /// the stream stored it).
    pub fn occurred_at_ms_mut(&mut self) -> &mut i64 {
        match self {
            Update::Bed(u) => &mut u.occurred_at_ms,
            Update::CareHome(u) => &mut u.occurred_at_ms,
            Update::Discharge(u) => &mut u.occurred_at_ms,
            Update::Ed(u) => &mut u.occurred_at_ms,
            Update::Item(u) => &mut u.occurred_at_ms,
            Update::Teams(u) => &mut u.occurred_at_ms,
            Update::Ambulance(u) => &mut u.occurred_at_ms,
            Update::AmbulanceEscalation(u) => &mut u.occurred_at_ms,
        }
    }
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A bed moved between counters.
    Bed {
        /// Change version.
        version: u64,
        /// ODS site code.
        site: String,
        /// Ward code.
        ward: String,
        /// Bed code.
        bed: String,
        /// Counter it left (`None`: it was not in the bed base).
        from: Option<CounterField>,
        /// Counter it joined (`None`: it left the bed base).
        to: Option<CounterField>,
        /// When the event happened, ms since the epoch.
        occurred_at_ms: i64,
    },
    /// A care home's record changed.
    CareHome {
        /// Change version.
        version: u64,
        /// The home's new record.
        record: Box<CareHomeRecord>,
        /// The event type.
        event_type: String,
        /// When the event happened, ms since the epoch.
        occurred_at_ms: i64,
    },
    /// A discharge changed (its summary only: the count feed carries no
    /// patient-identifiable data).
    Discharge {
        /// Change version.
        version: u64,
        /// The discharge's id (opaque).
        id: String,
        /// What the counts need of it now.
        summary: DischargeSummary,
        /// The event type.
        event_type: String,
        /// When the event happened, ms since the epoch.
        occurred_at_ms: i64,
    },
    /// A task, an action or a team register changed (its id only: readers
    /// that show them read the record).
    Task {
        /// Change version.
        version: u64,
        /// `item` or `teams`.
        kind: String,
        /// The item id or the organisation.
        id: String,
        /// The event type.
        event_type: String,
        /// When the event happened, ms since the epoch.
        occurred_at_ms: i64,
    },
    /// An ED attendance or an ambulance arrival changed at a site, or an
    /// ambulance service's escalation level changed (the figures are
    /// re-read: they depend on the time).
    UrgentCare {
        /// Change version.
        version: u64,
        /// ODS site code (empty for an escalation level: no site's figures
        /// move, only the system's).
        site: String,
        /// The event type.
        event_type: String,
        /// When the event happened, ms since the epoch.
        occurred_at_ms: i64,
    },
    /// The state was rebuilt; take a new snapshot.
    Reset {
        /// Change version.
        version: u64,
    },
}

impl Change {
    /// The change version.
    pub fn version(&self) -> u64 {
        match self {
            Change::Bed { version, .. }
            | Change::CareHome { version, .. }
            | Change::Discharge { version, .. }
            | Change::Task { version, .. }
            | Change::UrgentCare { version, .. }
            | Change::Reset { version } => *version,
        }
    }
}

/// One of the discharge views' notices (the stream under the patient
/// prefix; see [`Keys::patient_changes`](crate::Keys::patient_changes)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientNotice {
    /// A discharge's record changed.
    Discharge {
        /// The change version (the same change's in the count feed).
        version: u64,
        /// The discharge's id.
        id: String,
        /// Its record's version now.
        entity_version: u64,
        /// The organisation that manages the patient.
        managed_by: String,
        /// The event type.
        event_type: String,
        /// When the event happened, ms since the epoch.
        occurred_at_ms: i64,
    },
    /// The state was rebuilt: re-read everything.
    Reset {
        /// Change version.
        version: u64,
    },
}

/// Every ward's counters, every care home's record and every discharge's
/// summary at one change version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// The change version the counters are at.
    pub version: u64,
    /// Counters by ward.
    pub wards: BTreeMap<WardKey, Counters>,
    /// Care homes by CQC location id.
    pub care_homes: BTreeMap<String, CareHomeRecord>,
    /// Discharges' summaries by id (no patient-identifiable data).
    pub discharges: BTreeMap<String, DischargeSummary>,
}
