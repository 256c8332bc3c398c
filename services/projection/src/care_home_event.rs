//! Turning a care-home event into a live-state update.

use pf_care_home_model::{CareHomeRecord, RecordError};
use pf_live_state::CareHomeUpdate;
use pf_proto::envelope::unix_millis;
use pf_proto::v1::EventEnvelope;

/// Why an event cannot be applied. The text is the dead-letter reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unusable {
    /// The envelope itself is broken.
    #[error(transparent)]
    Envelope(#[from] pf_proto::EnvelopeError),
    /// An event of another kind on a care-home subject.
    #[error("a {0} event does not belong on a care-home subject")]
    NotACareHomeEvent(&'static str),
    /// The record it carries is unusable.
    #[error("bad care-home record: {0}")]
    BadRecord(#[from] RecordError),
    /// The entity id does not name the home in the payload.
    #[error("entity id `{entity_id}` does not match care home {home}")]
    EntityMismatch {
        /// From the envelope.
        entity_id: String,
        /// From the payload.
        home: String,
    },
    /// The subject does not name the home in the payload.
    #[error("subject `{subject}` does not match care home {home}")]
    SubjectMismatch {
        /// Where it was published.
        subject: String,
        /// From the payload.
        home: String,
    },
}

impl Unusable {
    /// A short label for the dead-letter metric.
    pub fn label(&self) -> &'static str {
        match self {
            Unusable::Envelope(_) => "envelope",
            Unusable::NotACareHomeEvent(_)
            | Unusable::EntityMismatch { .. }
            | Unusable::SubjectMismatch { .. } => "mismatch",
            Unusable::BadRecord(_) => "bad_value",
        }
    }
}

/// The entity id of a care home's events.
pub fn entity_id(cqc: &str) -> String {
    format!("care-home/{cqc}")
}

/// Decodes and checks a care-home event published on `subject`.
pub fn decode(subject: &str, bytes: &[u8]) -> Result<CareHomeUpdate, Unusable> {
    let event = EventEnvelope::decode_checked(bytes)?;
    to_update(subject, &event)
}

/// Checks a decoded care-home event and turns it into an update.
pub fn to_update(subject: &str, event: &EventEnvelope) -> Result<CareHomeUpdate, Unusable> {
    let home = match &event.payload {
        Some(payload) => pf_care_home_model::home_in(payload)
            .ok_or_else(|| Unusable::NotACareHomeEvent(pf_proto::envelope::event_type(payload)))?,
        None => {
            return Err(Unusable::Envelope(pf_proto::EnvelopeError::Missing(
                "payload",
            )));
        }
    };
    let record = CareHomeRecord::from_proto(home)?;
    let cqc = record.cqc().as_str().to_owned();
    if event.entity_id != entity_id(&cqc) {
        return Err(Unusable::EntityMismatch {
            entity_id: event.entity_id.clone(),
            home: cqc,
        });
    }
    if subject != pf_event_log::streams::care_home_subject(&cqc) {
        return Err(Unusable::SubjectMismatch {
            subject: subject.to_owned(),
            home: cqc,
        });
    }
    Ok(CareHomeUpdate {
        event_id: event.event_id.clone(),
        event_type: event.event_type.clone(),
        entity_version: event.entity_version,
        record,
        occurred_at_ms: unix_millis(event.occurred_at.as_ref()),
    })
}
