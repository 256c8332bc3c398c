//! Any event of the streams the projection follows, to a live-state update.

use pf_event_log::StreamSpec;
use pf_event_log::streams::{BEDS, CARE_HOMES, DISCHARGES, TASKS, URGENT_CARE};
use pf_live_state::Update;

use crate::{bed_event, care_home_event, discharge_event, task_event, urgent_care_event};

/// Why an event cannot be applied. The text is the dead-letter reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unusable {
    /// A broken bed event.
    #[error(transparent)]
    Bed(#[from] bed_event::Unusable),
    /// A broken care-home event.
    #[error(transparent)]
    CareHome(#[from] care_home_event::Unusable),
    /// A broken discharge event.
    #[error(transparent)]
    Discharge(#[from] discharge_event::Unusable),
    /// A broken task, action or team-register event.
    #[error(transparent)]
    Task(#[from] task_event::Unusable),
    /// A broken ED attendance or ambulance arrival event.
    #[error(transparent)]
    UrgentCare(#[from] urgent_care_event::Unusable),
    /// The projection does not follow this stream.
    #[error("the projection does not follow stream {0}")]
    UnknownStream(String),
}

impl Unusable {
    /// A short label for the dead-letter metric.
    pub fn label(&self) -> &'static str {
        match self {
            Unusable::Bed(reason) => reason.label(),
            Unusable::CareHome(reason) => reason.label(),
            Unusable::Discharge(reason) => reason.label(),
            Unusable::Task(reason) => reason.label(),
            Unusable::UrgentCare(reason) => reason.label(),
            Unusable::UnknownStream(_) => "mismatch",
        }
    }
}

/// Decodes an event read from `stream` on `subject`, which JetStream stored
/// at `stored_at_ms` (ms since the epoch, when known).
///
/// An event cannot have happened after it was stored: an `occurred_at` later
/// than that (a producer's clock far ahead, or an event written by hand) is
/// taken as the time it was stored, so it cannot date the live state, the
/// occupancy history or the day's discharges in the future. The stored time
/// is part of the stream, so a replay decides the same.
pub fn decode(
    stream: &StreamSpec,
    subject: &str,
    bytes: &[u8],
    stored_at_ms: Option<i64>,
) -> Result<Update, Unusable> {
    let mut update = if stream.name == BEDS.name {
        Update::Bed(bed_event::decode(subject, bytes)?)
    } else if stream.name == CARE_HOMES.name {
        Update::CareHome(Box::new(care_home_event::decode(subject, bytes)?))
    } else if stream.name == DISCHARGES.name {
        Update::Discharge(Box::new(discharge_event::decode(subject, bytes)?))
    } else if stream.name == TASKS.name {
        task_event::decode(subject, bytes)?
    } else if stream.name == URGENT_CARE.name {
        urgent_care_event::decode(subject, bytes)?
    } else {
        return Err(Unusable::UnknownStream(stream.name.to_owned()));
    };
    if let Some(stored_at_ms) = stored_at_ms {
        let occurred_at_ms = update.occurred_at_ms_mut();
        *occurred_at_ms = (*occurred_at_ms).min(stored_at_ms);
    }
    Ok(update)
}

/// When JetStream stored `message`, ms since the epoch (`None` for a
/// message that is not from a stream).
pub fn stored_at_ms(message: &async_nats::jetstream::Message) -> Option<i64> {
    let published = message.info().ok()?.published;
    i64::try_from(published.unix_timestamp_nanos() / 1_000_000).ok()
}
