//! The values read from and written to the live state.

use std::collections::BTreeMap;

use pf_hospital_model::{BedKind, BedState};

/// A ward's counters: field `{kind}:{state}` (core beds) or
/// `{kind}:{state}:escalation` → number of beds.
pub type Counters = BTreeMap<String, i64>;

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

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        /// Counter field it left (`None`: it was not in the bed base).
        from: Option<String>,
        /// Counter field it joined (`None`: it left the bed base).
        to: Option<String>,
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
            Change::Bed { version, .. } | Change::Reset { version } => *version,
        }
    }
}

/// Every ward's counters at one change version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The change version the counters are at.
    pub version: u64,
    /// Counters by ward.
    pub wards: BTreeMap<WardKey, Counters>,
}
