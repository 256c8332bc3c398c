//! Turning a discharge event into a live-state update.

use pf_discharge_model::DischargeRecord;
use pf_discharge_model::record::RecordError;
use pf_live_state::DischargeUpdate;
use pf_proto::envelope::unix_millis;
use pf_proto::v1::EventEnvelope;

/// Why an event cannot be applied. The text is the dead-letter reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unusable {
    /// The envelope itself is broken.
    #[error(transparent)]
    Envelope(#[from] pf_proto::EnvelopeError),
    /// An event of another kind on a discharge subject.
    #[error("a {0} event does not belong on a discharge subject")]
    NotADischargeEvent(&'static str),
    /// The record it carries is unusable.
    #[error("bad discharge record: {0}")]
    BadRecord(#[from] RecordError),
    /// The entity id or subject does not name the discharge in the payload.
    #[error("entity `{entity_id}` or subject `{subject}` does not match discharge {discharge}")]
    Mismatch {
        /// From the envelope.
        entity_id: String,
        /// Where it was published.
        subject: String,
        /// From the payload.
        discharge: String,
    },
}

impl Unusable {
    /// A short label for the dead-letter metric.
    pub fn label(&self) -> &'static str {
        match self {
            Unusable::Envelope(_) => "envelope",
            Unusable::NotADischargeEvent(_) | Unusable::Mismatch { .. } => "mismatch",
            Unusable::BadRecord(_) => "bad_value",
        }
    }
}

/// The entity id of a discharge's events.
pub fn entity_id(discharge_id: &str) -> String {
    format!("discharge/{discharge_id}")
}

/// Decodes and checks a discharge event published on `subject`.
pub fn decode(subject: &str, bytes: &[u8]) -> Result<DischargeUpdate, Unusable> {
    let event = EventEnvelope::decode_checked(bytes)?;
    let discharge = match &event.payload {
        Some(payload) => pf_discharge_model::record::discharge_in(payload)
            .ok_or_else(|| Unusable::NotADischargeEvent(pf_proto::envelope::event_type(payload)))?,
        None => {
            return Err(Unusable::Envelope(pf_proto::EnvelopeError::Missing(
                "payload",
            )));
        }
    };
    let record = DischargeRecord::from_proto(discharge)?;
    let expected_subject = pf_event_log::streams::discharge_subject(&record.discharge_id);
    if event.entity_id != entity_id(&record.discharge_id) || subject != expected_subject {
        return Err(Unusable::Mismatch {
            entity_id: event.entity_id.clone(),
            subject: subject.to_owned(),
            discharge: record.discharge_id.clone(),
        });
    }
    Ok(DischargeUpdate {
        event_id: event.event_id.clone(),
        event_type: event.event_type.clone(),
        entity_version: event.entity_version,
        record,
        occurred_at_ms: unix_millis(event.occurred_at.as_ref()),
    })
}
