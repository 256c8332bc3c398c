//! A bed's current record and the decision whether a change may be made.
//!
//! The bed's newest event is the truth about it: every bed event carries the
//! bed's whole resulting record, so reading the newest one is enough.

use pf_hospital_model::catalogue::CatalogueBed;
use pf_hospital_model::{BedKind, BedState, TransitionError};
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{BedOpened, BedStateChanged, BedWithdrawn, EventEnvelope};
use serde::Serialize;
use time::OffsetDateTime;

/// What the event log says about a bed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BedRecord {
    /// Whether the bed is part of the bed base.
    pub open: bool,
    /// Its state while open.
    pub state: Option<BedState>,
    /// Entity version of its newest event (0: it has none).
    pub version: u64,
    /// When its newest event happened (`None`: it has none). A feed that can
    /// deliver messages late compares with it so that an older message does
    /// not undo a newer change.
    #[serde(with = "time::serde::rfc3339::option")]
    pub occurred_at: Option<OffsetDateTime>,
}

impl BedRecord {
    /// The record of a bed that has no events yet.
    pub const NEVER_OPENED: BedRecord = BedRecord {
        open: false,
        state: None,
        version: 0,
        occurred_at: None,
    };

    /// Reads the record from the bed's newest event.
    pub fn from_event(event: &EventEnvelope) -> BedRecord {
        let version = event.entity_version;
        let occurred_at = event.occurred_at.as_ref().and_then(|t| {
            OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos),
            )
            .ok()
        });
        match &event.payload {
            Some(Payload::BedOpened(_)) => BedRecord {
                open: true,
                state: Some(BedState::Available),
                version,
                occurred_at,
            },
            Some(Payload::BedStateChanged(change)) => BedRecord {
                open: true,
                state: BedState::from_proto(change.state),
                version,
                occurred_at,
            },
            // A withdrawn bed, or (never published by this service) another
            // kind of event on a bed's subject: not in the bed base.
            _ => BedRecord {
                open: false,
                state: None,
                version,
                occurred_at,
            },
        }
    }
}

/// A change someone asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BedChange {
    /// Add the bed to the bed base.
    Open {
        /// Why.
        reason: String,
    },
    /// Move the bed to a new state.
    SetState {
        /// The new state.
        state: BedState,
        /// Why.
        reason: String,
    },
    /// Take the bed out of the bed base.
    Withdraw {
        /// Why.
        reason: String,
    },
}

/// Why a change was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BedChangeError {
    /// Opening a bed that is open.
    #[error("bed {0} is already open")]
    AlreadyOpen(String),
    /// Changing a bed that is not in the bed base.
    #[error("bed {0} is not open; open it before changing its state")]
    NotOpen(String),
    /// An occupied bed cannot leave the bed base.
    #[error("bed {0} is occupied; it cannot be withdrawn until the patient has left it")]
    OccupiedCannotBeWithdrawn(String),
    /// The bed changed since the version the change was made against.
    #[error(
        "bed {bed} has changed since version {expected} (it is at version {current}); read it again and decide again"
    )]
    VersionMismatch {
        /// Which bed.
        bed: String,
        /// The version the change was made against.
        expected: u64,
        /// The bed's version now.
        current: u64,
    },
    /// The state move is not allowed.
    #[error("bed {bed}: {cause}")]
    Transition {
        /// Which bed.
        bed: String,
        /// Why not.
        cause: TransitionError,
    },
}

/// Decides the payload of the event that makes `change` to `bed`, whose
/// current record is `record`, or why it may not be made.
pub fn decide(
    bed: &CatalogueBed,
    record: BedRecord,
    change: &BedChange,
) -> Result<Payload, BedChangeError> {
    let name = bed.address.to_string();
    let reference = Some(bed.address.to_proto());
    let kind = proto_kind(bed.kind);
    match change {
        BedChange::Open { reason } => {
            if record.open {
                return Err(BedChangeError::AlreadyOpen(name));
            }
            Ok(Payload::BedOpened(BedOpened {
                bed: reference,
                kind,
                escalation: bed.escalation,
                reason: reason.clone(),
            }))
        }
        BedChange::SetState { state, reason } => {
            let current = match (record.open, record.state) {
                (true, Some(current)) => current,
                _ => return Err(BedChangeError::NotOpen(name)),
            };
            current
                .check_transition(*state)
                .map_err(|cause| BedChangeError::Transition { bed: name, cause })?;
            Ok(Payload::BedStateChanged(BedStateChanged {
                bed: reference,
                kind,
                escalation: bed.escalation,
                previous_state: current.to_proto() as i32,
                state: state.to_proto() as i32,
                reason: reason.clone(),
            }))
        }
        BedChange::Withdraw { reason } => {
            let current = match (record.open, record.state) {
                (true, Some(current)) => current,
                _ => return Err(BedChangeError::NotOpen(name)),
            };
            if current == BedState::Occupied {
                return Err(BedChangeError::OccupiedCannotBeWithdrawn(name));
            }
            Ok(Payload::BedWithdrawn(BedWithdrawn {
                bed: reference,
                kind,
                escalation: bed.escalation,
                previous_state: current.to_proto() as i32,
                reason: reason.clone(),
            }))
        }
    }
}

fn proto_kind(kind: BedKind) -> i32 {
    kind.to_proto() as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_hospital_model::BedAddress;

    fn bed() -> CatalogueBed {
        CatalogueBed {
            address: BedAddress::parse("RWEAA", "WD15", "B01").expect("valid"),
            kind: BedKind::GeneralAcute,
            escalation: false,
        }
    }

    fn open(state: BedState) -> BedRecord {
        BedRecord {
            open: true,
            state: Some(state),
            version: 4,
            occurred_at: None,
        }
    }

    #[test]
    fn a_never_opened_bed_can_be_opened_but_not_changed() {
        assert!(matches!(
            decide(
                &bed(),
                BedRecord::NEVER_OPENED,
                &BedChange::Open {
                    reason: String::new()
                }
            ),
            Ok(Payload::BedOpened(_))
        ));
        assert_eq!(
            decide(
                &bed(),
                BedRecord::NEVER_OPENED,
                &BedChange::SetState {
                    state: BedState::Occupied,
                    reason: String::new()
                }
            ),
            Err(BedChangeError::NotOpen("RWEAA/WD15/B01".into()))
        );
    }

    #[test]
    fn a_state_change_records_where_the_bed_came_from() {
        let payload = decide(
            &bed(),
            open(BedState::Available),
            &BedChange::SetState {
                state: BedState::Occupied,
                reason: "admitted".into(),
            },
        )
        .expect("allowed");
        let Payload::BedStateChanged(change) = payload else {
            panic!("expected a state change")
        };
        assert_eq!(change.previous_state, BedState::Available.to_proto() as i32);
        assert_eq!(change.state, BedState::Occupied.to_proto() as i32);
        assert_eq!(change.reason, "admitted");
    }

    #[test]
    fn occupied_beds_stay_in_the_bed_base_and_impossible_moves_are_refused() {
        assert_eq!(
            decide(
                &bed(),
                open(BedState::Occupied),
                &BedChange::Withdraw {
                    reason: String::new()
                }
            ),
            Err(BedChangeError::OccupiedCannotBeWithdrawn(
                "RWEAA/WD15/B01".into()
            ))
        );
        let refused = decide(
            &bed(),
            open(BedState::Occupied),
            &BedChange::SetState {
                state: BedState::Closed,
                reason: String::new(),
            },
        )
        .expect_err("refused");
        assert_eq!(
            refused.to_string(),
            "bed RWEAA/WD15/B01: a bed that is occupied cannot become closed"
        );
        assert_eq!(
            decide(
                &bed(),
                open(BedState::Available),
                &BedChange::Open {
                    reason: String::new()
                }
            ),
            Err(BedChangeError::AlreadyOpen("RWEAA/WD15/B01".into()))
        );
    }

    #[test]
    fn the_record_keeps_when_its_newest_event_happened() {
        let happened = time::macros::datetime!(2026-11-30 09:15:00.25 UTC);
        let event = pf_proto::NewEvent {
            source: pf_proto::v1::Source::default(),
            entity_id: bed().address.entity_id(),
            entity_version: 3,
            occurred_at: Some(happened),
            actor: pf_proto::v1::Actor::default(),
            payload: decide(
                &bed(),
                open(BedState::Available),
                &BedChange::SetState {
                    state: BedState::Occupied,
                    reason: String::new(),
                },
            )
            .expect("allowed"),
        }
        .seal(time::macros::datetime!(2026-11-30 09:20:00 UTC));
        assert_eq!(
            BedRecord::from_event(&event),
            BedRecord {
                open: true,
                state: Some(BedState::Occupied),
                version: 3,
                occurred_at: Some(happened),
            }
        );
    }
}
