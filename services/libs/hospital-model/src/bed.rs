//! Bed kinds, bed states and the moves a bed may make between states.

use std::fmt;
use std::str::FromStr;

use pf_proto::v1 as proto;
use serde::{Deserialize, Serialize};

/// What sort of bed it is. Escalation beds are flagged separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BedKind {
    /// General and acute (G&A).
    GeneralAcute,
    /// Adult critical care.
    AdultCriticalCare,
    /// Paediatric.
    Paediatric,
    /// Maternity.
    Maternity,
    /// Mental health.
    MentalHealth,
    /// Community hospital.
    Community,
    /// A virtual-ward place (acute care at home).
    VirtualWard,
}

impl BedKind {
    /// Every kind, in display order.
    pub const ALL: [BedKind; 7] = [
        BedKind::GeneralAcute,
        BedKind::AdultCriticalCare,
        BedKind::Paediatric,
        BedKind::Maternity,
        BedKind::MentalHealth,
        BedKind::Community,
        BedKind::VirtualWard,
    ];

    /// The machine name, as in JSON and Redis (`general_acute`).
    pub fn as_str(self) -> &'static str {
        match self {
            BedKind::GeneralAcute => "general_acute",
            BedKind::AdultCriticalCare => "adult_critical_care",
            BedKind::Paediatric => "paediatric",
            BedKind::Maternity => "maternity",
            BedKind::MentalHealth => "mental_health",
            BedKind::Community => "community",
            BedKind::VirtualWard => "virtual_ward",
        }
    }

    /// The words a person reads ("General & acute").
    pub fn label(self) -> &'static str {
        match self {
            BedKind::GeneralAcute => "General & acute",
            BedKind::AdultCriticalCare => "Adult critical care",
            BedKind::Paediatric => "Paediatric",
            BedKind::Maternity => "Maternity",
            BedKind::MentalHealth => "Mental health",
            BedKind::Community => "Community",
            BedKind::VirtualWard => "Virtual ward",
        }
    }

    /// The protobuf enum value.
    pub fn to_proto(self) -> proto::BedKind {
        match self {
            BedKind::GeneralAcute => proto::BedKind::GeneralAcute,
            BedKind::AdultCriticalCare => proto::BedKind::AdultCriticalCare,
            BedKind::Paediatric => proto::BedKind::Paediatric,
            BedKind::Maternity => proto::BedKind::Maternity,
            BedKind::MentalHealth => proto::BedKind::MentalHealth,
            BedKind::Community => proto::BedKind::Community,
            BedKind::VirtualWard => proto::BedKind::VirtualWard,
        }
    }

    /// Reads a protobuf enum value; `None` for unspecified or unknown values.
    pub fn from_proto(value: i32) -> Option<Self> {
        match proto::BedKind::try_from(value).ok()? {
            proto::BedKind::Unspecified => None,
            proto::BedKind::GeneralAcute => Some(BedKind::GeneralAcute),
            proto::BedKind::AdultCriticalCare => Some(BedKind::AdultCriticalCare),
            proto::BedKind::Paediatric => Some(BedKind::Paediatric),
            proto::BedKind::Maternity => Some(BedKind::Maternity),
            proto::BedKind::MentalHealth => Some(BedKind::MentalHealth),
            proto::BedKind::Community => Some(BedKind::Community),
            proto::BedKind::VirtualWard => Some(BedKind::VirtualWard),
        }
    }
}

impl fmt::Display for BedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BedKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        BedKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown bed kind `{s}`"))
    }
}

/// A bed's operational state (HL7 v2 table 0116 in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BedState {
    /// Clean and empty (U).
    Available,
    /// A patient is in it (O).
    Occupied,
    /// Empty, waiting for cleaning (H).
    AwaitingClean,
    /// Empty and kept for an expected admission.
    Reserved,
    /// Out of use for now: infection control, maintenance, staffing (C).
    Closed,
}

impl BedState {
    /// Every state, in display order.
    pub const ALL: [BedState; 5] = [
        BedState::Available,
        BedState::Occupied,
        BedState::AwaitingClean,
        BedState::Reserved,
        BedState::Closed,
    ];

    /// The machine name, as in JSON and Redis (`awaiting_clean`).
    pub fn as_str(self) -> &'static str {
        match self {
            BedState::Available => "available",
            BedState::Occupied => "occupied",
            BedState::AwaitingClean => "awaiting_clean",
            BedState::Reserved => "reserved",
            BedState::Closed => "closed",
        }
    }

    /// The words a person reads.
    pub fn label(self) -> &'static str {
        match self {
            BedState::Available => "Available",
            BedState::Occupied => "Occupied",
            BedState::AwaitingClean => "Awaiting clean",
            BedState::Reserved => "Reserved",
            BedState::Closed => "Closed",
        }
    }

    /// The protobuf enum value.
    pub fn to_proto(self) -> proto::BedState {
        match self {
            BedState::Available => proto::BedState::Available,
            BedState::Occupied => proto::BedState::Occupied,
            BedState::AwaitingClean => proto::BedState::AwaitingClean,
            BedState::Reserved => proto::BedState::Reserved,
            BedState::Closed => proto::BedState::Closed,
        }
    }

    /// Reads a protobuf enum value; `None` for unspecified or unknown values.
    pub fn from_proto(value: i32) -> Option<Self> {
        match proto::BedState::try_from(value).ok()? {
            proto::BedState::Unspecified => None,
            proto::BedState::Available => Some(BedState::Available),
            proto::BedState::Occupied => Some(BedState::Occupied),
            proto::BedState::AwaitingClean => Some(BedState::AwaitingClean),
            proto::BedState::Reserved => Some(BedState::Reserved),
            proto::BedState::Closed => Some(BedState::Closed),
        }
    }

    /// Checks that a bed in this state may move to `to`.
    ///
    /// The moves follow a bed's day: an available bed is reserved, filled or
    /// closed; an occupied bed is vacated and waits for cleaning; a cleaned
    /// bed becomes available. An occupied bed cannot be closed or made
    /// available without first being vacated.
    pub fn check_transition(self, to: BedState) -> Result<(), TransitionError> {
        use BedState::*;
        let allowed = match (self, to) {
            (from, to) if from == to => return Err(TransitionError::Unchanged(to)),
            (Available, Occupied | Reserved | Closed | AwaitingClean) => true,
            (Reserved, Available | Occupied | Closed) => true,
            (Occupied, AwaitingClean) => true,
            (AwaitingClean, Available | Closed) => true,
            (Closed, Available | AwaitingClean) => true,
            _ => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(TransitionError::NotAllowed { from: self, to })
        }
    }
}

impl fmt::Display for BedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BedState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        BedState::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown bed state `{s}`"))
    }
}

/// Why a bed may not make a move.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TransitionError {
    /// The bed is already in that state.
    #[error("the bed is already {}", .0.label().to_lowercase())]
    Unchanged(BedState),
    /// The move makes no sense for a bed in that state.
    #[error("a bed that is {} cannot become {}", from.label().to_lowercase(), to.label().to_lowercase())]
    NotAllowed {
        /// Current state.
        from: BedState,
        /// Requested state.
        to: BedState,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bed_day_is_allowed() {
        use BedState::*;
        let day = [Available, Reserved, Occupied, AwaitingClean, Available];
        for pair in day.windows(2) {
            assert_eq!(pair[0].check_transition(pair[1]), Ok(()), "{pair:?}");
        }
    }

    #[test]
    fn an_occupied_bed_cannot_be_closed_or_freed_without_being_vacated() {
        use BedState::*;
        assert_eq!(
            Occupied.check_transition(Closed),
            Err(TransitionError::NotAllowed {
                from: Occupied,
                to: Closed
            })
        );
        assert!(Occupied.check_transition(Available).is_err());
        assert_eq!(
            Occupied
                .check_transition(Occupied)
                .map_err(|e| e.to_string()),
            Err("the bed is already occupied".to_owned())
        );
    }

    #[test]
    fn proto_and_text_forms_round_trip() {
        for state in BedState::ALL {
            assert_eq!(BedState::from_proto(state.to_proto() as i32), Some(state));
            assert_eq!(state.as_str().parse::<BedState>(), Ok(state));
        }
        for kind in BedKind::ALL {
            assert_eq!(BedKind::from_proto(kind.to_proto() as i32), Some(kind));
            assert_eq!(kind.as_str().parse::<BedKind>(), Ok(kind));
        }
        assert_eq!(BedState::from_proto(0), None);
        assert_eq!(BedKind::from_proto(99), None);
    }
}
