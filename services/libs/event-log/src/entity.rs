//! Reading an entity's newest event back from the stream.

use async_nats::jetstream::{self, stream::LastRawMessageErrorKind};
use pf_proto::{EnvelopeError, v1::EventEnvelope};

/// An entity's newest event and its place in the stream.
#[derive(Debug, Clone)]
pub struct LatestEvent {
    /// The decoded event.
    pub event: EventEnvelope,
    /// Its stream sequence: pass it as the expected last sequence when
    /// publishing a change based on it.
    pub stream_sequence: u64,
}

/// Could not read the entity's newest event.
#[derive(Debug, thiserror::Error)]
pub enum LatestEventError {
    /// The stream could not be reached.
    #[error("the event log could not be read: {0}")]
    Unavailable(String),
    /// The stored event does not decode (it should have been refused on the
    /// way in).
    #[error("the stored event on {subject} is unusable: {cause}")]
    Corrupt {
        /// Its subject.
        subject: String,
        /// Why.
        cause: EnvelopeError,
    },
}

/// The newest event on `subject` in `stream`, or `None` when the entity has
/// no events yet.
pub async fn latest_event(
    context: &jetstream::Context,
    stream: &str,
    subject: &str,
) -> Result<Option<LatestEvent>, LatestEventError> {
    let stream = context
        .get_stream_no_info(stream)
        .await
        .map_err(|e| LatestEventError::Unavailable(e.to_string()))?;
    match stream.get_last_raw_message_by_subject(subject).await {
        Ok(message) => {
            let event = EventEnvelope::decode_checked(&message.payload).map_err(|cause| {
                LatestEventError::Corrupt {
                    subject: subject.to_owned(),
                    cause,
                }
            })?;
            Ok(Some(LatestEvent {
                event,
                stream_sequence: message.sequence,
            }))
        }
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(e) => Err(LatestEventError::Unavailable(e.to_string())),
    }
}
