//! Building and reading [`EventEnvelope`]s.

use prost::Message;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::v1::{Actor, EventEnvelope, Source, event_envelope::Payload};

/// Why bytes could not be read as a usable event. Each variant is a reason
/// that goes with the event to the dead-letter subject.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The bytes are not a protobuf `EventEnvelope`.
    #[error("not a Patient Flow event envelope: {0}")]
    Undecodable(String),
    /// A required envelope field is empty or zero.
    #[error("envelope field `{0}` is missing")]
    Missing(&'static str),
    /// The event id is not a UUID.
    #[error("event id `{0}` is not a UUID")]
    BadEventId(String),
    /// The envelope's `event_type` does not name its payload.
    #[error("event type `{declared}` does not match its payload `{actual}`")]
    TypeMismatch {
        /// What the envelope says.
        declared: String,
        /// What the payload is.
        actual: &'static str,
    },
}

/// The parts of a new event that its producer chooses; [`NewEvent::seal`]
/// adds the id and the recorded-at time.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Who published it.
    pub source: Source,
    /// Entity id, e.g. `bed/RWEAA/WD12/B03`.
    pub entity_id: String,
    /// Entity version after this event (1 for the first).
    pub entity_version: u64,
    /// When it happened; `None` means now.
    pub occurred_at: Option<OffsetDateTime>,
    /// On whose behalf.
    pub actor: Actor,
    /// What happened.
    pub payload: Payload,
}

impl NewEvent {
    /// Gives the event a fresh UUIDv7 id and the recorded-at time `now`.
    pub fn seal(self, now: OffsetDateTime) -> EventEnvelope {
        EventEnvelope {
            event_id: Uuid::now_v7().to_string(),
            event_type: event_type(&self.payload).to_owned(),
            source: Some(self.source),
            entity_id: self.entity_id,
            entity_version: self.entity_version,
            occurred_at: Some(timestamp(self.occurred_at.unwrap_or(now))),
            recorded_at: Some(timestamp(now)),
            actor: Some(self.actor),
            payload: Some(self.payload),
        }
    }
}

/// The dotted event type that names a payload, e.g. `bed.state_changed`.
pub fn event_type(payload: &Payload) -> &'static str {
    match payload {
        Payload::BedOpened(_) => "bed.opened",
        Payload::BedStateChanged(_) => "bed.state_changed",
        Payload::BedWithdrawn(_) => "bed.withdrawn",
        Payload::CareHomeRegistered(_) => "care_home.registered",
        Payload::CareHomeRetired(_) => "care_home.retired",
        Payload::VacanciesReported(_) => "care_home.vacancies_reported",
        Payload::ClosedToAdmissions(_) => "care_home.closed_to_admissions",
        Payload::ReopenedToAdmissions(_) => "care_home.reopened_to_admissions",
        Payload::BedHeld(_) => "care_home.bed_held",
        Payload::HoldAccepted(_) => "care_home.hold_accepted",
        Payload::HoldDeclined(_) => "care_home.hold_declined",
        Payload::HoldReleased(_) => "care_home.hold_released",
        Payload::HoldExpired(_) => "care_home.hold_expired",
        Payload::ResidentAdmitted(_) => "care_home.resident_admitted",
        Payload::PatientReadyForDischarge(_) => "discharge.patient_ready",
        Payload::DelayReasonChanged(_) => "discharge.delay_reason_changed",
        Payload::SearchStarted(_) => "discharge.search_started",
        Payload::PatientDischarged(_) => "discharge.patient_discharged",
        Payload::DischargeCancelled(_) => "discharge.cancelled",
        Payload::OpelLevelChanged(_) => "system.opel_level_changed",
        Payload::ItemCreated(_) => "item.created",
        Payload::ItemAssigned(_) => "item.assigned",
        Payload::ItemDueChanged(_) => "item.due_changed",
        Payload::ItemDone(_) => "item.done",
        Payload::ItemCancelled(_) => "item.cancelled",
        Payload::TeamsChanged(_) => "teams.changed",
        Payload::EdArrived(_) => "ed.arrived",
        Payload::EdDecidedToAdmit(_) => "ed.decided_to_admit",
        Payload::EdDeparted(_) => "ed.departed",
        Payload::AmbulanceArrived(_) => "ambulance.arrived",
        Payload::AmbulanceHandedOver(_) => "ambulance.handed_over",
        Payload::AmbulanceCleared(_) => "ambulance.cleared",
        Payload::AmbulanceEscalationSet(_) => "ambulance.escalation_set",
    }
}

/// Converts a time to a protobuf timestamp.
pub fn timestamp(at: OffsetDateTime) -> prost_types::Timestamp {
    let nanos = at.unix_timestamp_nanos();
    prost_types::Timestamp {
        seconds: at.unix_timestamp(),
        nanos: i32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0),
    }
}

/// Milliseconds since the Unix epoch of a protobuf timestamp (0 when absent).
pub fn unix_millis(ts: Option<&prost_types::Timestamp>) -> i64 {
    ts.map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
        .unwrap_or(0)
}

impl EventEnvelope {
    /// Encodes the envelope as protobuf bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    /// Decodes and checks an envelope: every envelope field is present and
    /// the event type names the payload. Payload fields are the consumer's
    /// to check.
    pub fn decode_checked(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let envelope =
            Self::decode(bytes).map_err(|e| EnvelopeError::Undecodable(e.to_string()))?;
        if envelope.event_id.is_empty() {
            return Err(EnvelopeError::Missing("event_id"));
        }
        Uuid::parse_str(&envelope.event_id)
            .map_err(|_| EnvelopeError::BadEventId(envelope.event_id.clone()))?;
        if envelope.entity_id.is_empty() {
            return Err(EnvelopeError::Missing("entity_id"));
        }
        if envelope.entity_version == 0 {
            return Err(EnvelopeError::Missing("entity_version"));
        }
        if envelope.source.is_none() {
            return Err(EnvelopeError::Missing("source"));
        }
        if envelope.actor.is_none() {
            return Err(EnvelopeError::Missing("actor"));
        }
        if envelope.occurred_at.is_none() {
            return Err(EnvelopeError::Missing("occurred_at"));
        }
        if envelope.recorded_at.is_none() {
            return Err(EnvelopeError::Missing("recorded_at"));
        }
        let payload = envelope
            .payload
            .as_ref()
            .ok_or(EnvelopeError::Missing("payload"))?;
        let actual = event_type(payload);
        if envelope.event_type != actual {
            return Err(EnvelopeError::TypeMismatch {
                declared: envelope.event_type.clone(),
                actual,
            });
        }
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{ActorKind, BedKind, BedRef, BedStateChanged};

    fn sample() -> EventEnvelope {
        NewEvent {
            source: Source {
                organisation: "RWE".into(),
                service: "test".into(),
            },
            entity_id: "bed/RWEAA/WD1/B1".into(),
            entity_version: 1,
            occurred_at: None,
            actor: Actor {
                id: "nurse".into(),
                organisation: "RWE".into(),
                kind: ActorKind::Person as i32,
            },
            payload: Payload::BedStateChanged(BedStateChanged {
                bed: Some(BedRef {
                    site: "RWEAA".into(),
                    ward: "WD1".into(),
                    bed: "B1".into(),
                }),
                kind: BedKind::GeneralAcute as i32,
                ..Default::default()
            }),
        }
        .seal(OffsetDateTime::now_utc())
    }

    #[test]
    fn a_sealed_event_round_trips_and_passes_the_checks() {
        let event = sample();
        assert_eq!(event.event_type, "bed.state_changed");
        let id = Uuid::parse_str(&event.event_id).expect("uuid");
        assert_eq!(id.get_version_num(), 7);
        let back = EventEnvelope::decode_checked(&event.to_bytes()).expect("valid");
        assert_eq!(back, event);
    }

    #[test]
    fn garbage_and_mismatched_types_are_refused_with_a_reason() {
        assert!(matches!(
            EventEnvelope::decode_checked(b"\xff\xff\xff"),
            Err(EnvelopeError::Undecodable(_))
        ));
        let mut event = sample();
        event.event_type = "bed.opened".into();
        assert_eq!(
            EventEnvelope::decode_checked(&event.to_bytes()),
            Err(EnvelopeError::TypeMismatch {
                declared: "bed.opened".into(),
                actual: "bed.state_changed"
            })
        );
        let mut event = sample();
        event.entity_version = 0;
        assert_eq!(
            EventEnvelope::decode_checked(&event.to_bytes()),
            Err(EnvelopeError::Missing("entity_version"))
        );
    }

    #[test]
    fn timestamps_keep_millisecond_precision() {
        let at = time::macros::datetime!(2026-11-30 09:15:42.123 UTC);
        assert_eq!(unix_millis(Some(&timestamp(at))), 1_796_030_142_123);
    }
}
