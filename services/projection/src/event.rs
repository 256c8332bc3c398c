//! Any event of the streams the projection follows, to a live-state update.

use pf_event_log::StreamSpec;
use pf_event_log::streams::{BEDS, CARE_HOMES, DISCHARGES};
use pf_live_state::Update;

use crate::{bed_event, care_home_event, discharge_event};

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
            Unusable::UnknownStream(_) => "mismatch",
        }
    }
}

/// Decodes an event read from `stream` on `subject`.
pub fn decode(stream: &StreamSpec, subject: &str, bytes: &[u8]) -> Result<Update, Unusable> {
    if stream.name == BEDS.name {
        Ok(Update::Bed(bed_event::decode(subject, bytes)?))
    } else if stream.name == CARE_HOMES.name {
        Ok(Update::CareHome(Box::new(care_home_event::decode(
            subject, bytes,
        )?)))
    } else if stream.name == DISCHARGES.name {
        Ok(Update::Discharge(Box::new(discharge_event::decode(
            subject, bytes,
        )?)))
    } else {
        Err(Unusable::UnknownStream(stream.name.to_owned()))
    }
}
