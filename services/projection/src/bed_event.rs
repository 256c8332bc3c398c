//! Turning a bed event into a live-state update.

use pf_hospital_model::{BedAddress, BedKind, BedState};
use pf_live_state::BedUpdate;
use pf_proto::envelope::unix_millis;
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{BedRef, EventEnvelope};

/// Why an event cannot be applied. The text is the dead-letter reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unusable {
    /// The envelope itself is broken.
    #[error(transparent)]
    Envelope(#[from] pf_proto::EnvelopeError),
    /// An event of another kind on a bed subject.
    #[error("a {0} event does not belong on a bed subject")]
    NotABedEvent(&'static str),
    /// A bed event without a bed.
    #[error("{0} has no bed reference")]
    NoBed(&'static str),
    /// The bed reference is not a valid address.
    #[error("bad bed reference: {0}")]
    BadBed(#[from] pf_hospital_model::IdError),
    /// Kind unspecified or unknown.
    #[error("bed kind {0} is not a known kind")]
    BadKind(i32),
    /// State unspecified or unknown.
    #[error("bed state {0} is not a known state")]
    BadState(i32),
    /// The entity id does not name the bed in the payload.
    #[error("entity id `{entity_id}` does not match bed {bed}")]
    EntityMismatch {
        /// From the envelope.
        entity_id: String,
        /// From the payload.
        bed: String,
    },
    /// The subject does not name the bed in the payload.
    #[error("subject `{subject}` does not match bed {bed}")]
    SubjectMismatch {
        /// Where it was published.
        subject: String,
        /// From the payload.
        bed: String,
    },
}

impl Unusable {
    /// A short label for the dead-letter metric.
    pub fn label(&self) -> &'static str {
        match self {
            Unusable::Envelope(_) => "envelope",
            Unusable::NoBed(_) | Unusable::BadBed(_) => "bed_reference",
            Unusable::BadKind(_) | Unusable::BadState(_) => "bad_value",
            Unusable::NotABedEvent(_)
            | Unusable::EntityMismatch { .. }
            | Unusable::SubjectMismatch { .. } => "mismatch",
        }
    }
}

/// Decodes and checks a bed event published on `subject`.
pub fn decode(subject: &str, bytes: &[u8]) -> Result<BedUpdate, Unusable> {
    let event = EventEnvelope::decode_checked(bytes)?;
    to_update(subject, &event)
}

/// Checks a decoded bed event and turns it into an update.
pub fn to_update(subject: &str, event: &EventEnvelope) -> Result<BedUpdate, Unusable> {
    let (bed, kind, escalation, open, state, reason) = match &event.payload {
        Some(Payload::BedOpened(p)) => (
            &p.bed,
            p.kind,
            p.escalation,
            true,
            Some(BedState::Available),
            &p.reason,
        ),
        Some(Payload::BedStateChanged(p)) => {
            let state = BedState::from_proto(p.state).ok_or(Unusable::BadState(p.state))?;
            (&p.bed, p.kind, p.escalation, true, Some(state), &p.reason)
        }
        Some(Payload::BedWithdrawn(p)) => (&p.bed, p.kind, p.escalation, false, None, &p.reason),
        Some(other) => {
            return Err(Unusable::NotABedEvent(pf_proto::envelope::event_type(
                other,
            )));
        }
        // decode_checked refuses envelopes without a payload.
        None => {
            return Err(Unusable::Envelope(pf_proto::EnvelopeError::Missing(
                "payload",
            )));
        }
    };
    let address = address(bed, event)?;
    let kind = BedKind::from_proto(kind).ok_or(Unusable::BadKind(kind))?;
    if event.entity_id != address.entity_id() {
        return Err(Unusable::EntityMismatch {
            entity_id: event.entity_id.clone(),
            bed: address.to_string(),
        });
    }
    let expected_subject = pf_event_log::streams::bed_subject(
        address.site.as_str(),
        address.ward.as_str(),
        address.bed.as_str(),
    );
    if subject != expected_subject {
        return Err(Unusable::SubjectMismatch {
            subject: subject.to_owned(),
            bed: address.to_string(),
        });
    }
    Ok(BedUpdate {
        event_id: event.event_id.clone(),
        event_type: event.event_type.clone(),
        entity_version: event.entity_version,
        site: address.site.to_string(),
        ward: address.ward.to_string(),
        bed: address.bed.to_string(),
        open,
        state,
        kind,
        escalation,
        reason: reason.clone(),
        occurred_at_ms: unix_millis(event.occurred_at.as_ref()),
    })
}

fn address(bed: &Option<BedRef>, event: &EventEnvelope) -> Result<BedAddress, Unusable> {
    let payload_name =
        pf_proto::envelope::event_type(event.payload.as_ref().ok_or(Unusable::NoBed("event"))?);
    let bed = bed.as_ref().ok_or(Unusable::NoBed(payload_name))?;
    Ok(BedAddress::from_proto(bed)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_proto::NewEvent;
    use pf_proto::v1::{Actor, BedStateChanged, Source};

    fn event(state: i32, entity_id: &str) -> EventEnvelope {
        NewEvent {
            source: Source::default(),
            entity_id: entity_id.into(),
            entity_version: 3,
            occurred_at: None,
            actor: Actor::default(),
            payload: Payload::BedStateChanged(BedStateChanged {
                bed: Some(BedRef {
                    site: "RWEAA".into(),
                    ward: "WD1".into(),
                    bed: "B01".into(),
                }),
                kind: BedKind::GeneralAcute.to_proto() as i32,
                escalation: false,
                previous_state: BedState::Available.to_proto() as i32,
                state,
                reason: "admitted".into(),
            }),
        }
        .seal(time::OffsetDateTime::now_utc())
    }

    const SUBJECT: &str = "pf.beds.RWEAA.WD1.B01";

    #[test]
    fn a_state_change_becomes_an_update() {
        let update = decode(SUBJECT, &event(2, "bed/RWEAA/WD1/B01").to_bytes()).expect("usable");
        assert_eq!(update.state, Some(BedState::Occupied));
        assert_eq!(update.entity_version, 3);
        assert!(update.open);
    }

    #[test]
    fn unusable_events_say_why() {
        assert_eq!(
            decode(SUBJECT, &event(0, "bed/RWEAA/WD1/B01").to_bytes()),
            Err(Unusable::BadState(0))
        );
        assert!(matches!(
            decode(SUBJECT, &event(2, "bed/RWEAA/WD1/B02").to_bytes()),
            Err(Unusable::EntityMismatch { .. })
        ));
        assert!(matches!(
            decode(
                "pf.beds.RWEAA.WD1.B02",
                &event(2, "bed/RWEAA/WD1/B01").to_bytes()
            ),
            Err(Unusable::SubjectMismatch { .. })
        ));
        assert!(matches!(
            decode(SUBJECT, b"not protobuf at all"),
            Err(Unusable::Envelope(_))
        ));
    }
}
