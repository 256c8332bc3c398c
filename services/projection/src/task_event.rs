//! Turning a task, action or team-register event into a live-state update.

use pf_live_state::{ItemUpdate, TeamsUpdate, Update};
use pf_proto::envelope::unix_millis;
use pf_proto::v1::EventEnvelope;
use pf_proto::v1::event_envelope::Payload;
use pf_task_model::item::item_in;
use pf_task_model::{Item, RecordError, TeamRegister};

/// Why an event cannot be applied. The text is the dead-letter reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unusable {
    /// The envelope itself is broken.
    #[error(transparent)]
    Envelope(#[from] pf_proto::EnvelopeError),
    /// An event of another kind on the tasks stream.
    #[error("a {0} event does not belong on a tasks subject")]
    NotATaskEvent(&'static str),
    /// The record it carries is unusable.
    #[error("bad item record: {0}")]
    BadRecord(#[from] RecordError),
    /// The entity id or subject does not name the item or register in the
    /// payload.
    #[error("entity `{entity_id}` or subject `{subject}` does not match {named}")]
    Mismatch {
        /// From the envelope.
        entity_id: String,
        /// Where it was published.
        subject: String,
        /// From the payload.
        named: String,
    },
}

impl Unusable {
    /// A short label for the dead-letter metric.
    pub fn label(&self) -> &'static str {
        match self {
            Unusable::Envelope(_) => "envelope",
            Unusable::NotATaskEvent(_) | Unusable::Mismatch { .. } => "mismatch",
            Unusable::BadRecord(_) => "bad_value",
        }
    }
}

/// Decodes and checks an event published on `subject` of the tasks stream.
pub fn decode(subject: &str, bytes: &[u8]) -> Result<Update, Unusable> {
    let event = EventEnvelope::decode_checked(bytes)?;
    let Some(payload) = &event.payload else {
        return Err(Unusable::Envelope(pf_proto::EnvelopeError::Missing(
            "payload",
        )));
    };
    let occurred_at_ms = unix_millis(event.occurred_at.as_ref());
    if let Payload::TeamsChanged(changed) = payload {
        let register = TeamRegister::from_proto(changed);
        let ods = register.organisation.as_str();
        if ods.is_empty()
            || event.entity_id != format!("teams/{ods}")
            || subject != pf_event_log::streams::teams_subject(ods)
        {
            return Err(Unusable::Mismatch {
                entity_id: event.entity_id.clone(),
                subject: subject.to_owned(),
                named: format!("teams of `{ods}`"),
            });
        }
        return Ok(Update::Teams(Box::new(TeamsUpdate {
            event_id: event.event_id.clone(),
            entity_version: event.entity_version,
            register,
            occurred_at_ms,
        })));
    }
    let item = item_in(payload)
        .ok_or_else(|| Unusable::NotATaskEvent(pf_proto::envelope::event_type(payload)))?
        .ok_or(Unusable::Envelope(pf_proto::EnvelopeError::Missing("item")))?;
    let record = Item::from_proto(item)?;
    if event.entity_id != format!("item/{}", record.item_id)
        || subject != pf_event_log::streams::item_subject(&record.item_id)
    {
        return Err(Unusable::Mismatch {
            entity_id: event.entity_id.clone(),
            subject: subject.to_owned(),
            named: format!("item {}", record.item_id),
        });
    }
    Ok(Update::Item(Box::new(ItemUpdate {
        event_id: event.event_id.clone(),
        event_type: event.event_type.clone(),
        entity_version: event.entity_version,
        record,
        occurred_at_ms,
    })))
}
