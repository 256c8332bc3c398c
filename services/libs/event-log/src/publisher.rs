//! Publishing events and waiting for JetStream to acknowledge them.

use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage};
use pf_proto::v1::EventEnvelope;

/// A stored event: where it is in its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The event's sequence in its stream.
    pub stream_sequence: u64,
    /// The stream already held this event id (a re-send); nothing new was stored.
    pub duplicate: bool,
}

/// Why an event was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PublishFailure {
    /// Another event for the same entity was stored first: the caller's view
    /// of the entity is stale. Re-read and decide again.
    #[error("the entity changed while this change was being made")]
    Conflict,
    /// JetStream did not acknowledge in time or could not be reached. The
    /// event may or may not be stored; re-sending the same envelope is safe
    /// (its id de-duplicates it).
    #[error("the event log did not confirm the event: {0}")]
    Unconfirmed(String),
    /// JetStream refused it for another reason.
    #[error("the event log refused the event: {0}")]
    Refused(String),
}

/// Publishes envelopes to JetStream and waits for the acknowledgement.
#[derive(Clone)]
pub struct EventPublisher {
    context: jetstream::Context,
}

impl EventPublisher {
    /// A publisher on a JetStream context.
    pub fn new(context: jetstream::Context) -> Self {
        Self { context }
    }

    /// Publishes `event` on `subject` and returns once JetStream stored it.
    ///
    /// `expected_last_sequence` is the stream sequence of the entity's newest
    /// event the caller based its decision on (`Some(0)`: the entity has no
    /// event yet); JetStream refuses the event with
    /// [`PublishFailure::Conflict`] when another event got there first.
    pub async fn publish(
        &self,
        subject: String,
        event: &EventEnvelope,
        expected_last_sequence: Option<u64>,
    ) -> Result<Published, PublishFailure> {
        let mut message = PublishMessage::build()
            .payload(event.to_bytes().into())
            .message_id(&event.event_id)
            .header("Pf-Event-Type", event.event_type.as_str());
        if let Some(sequence) = expected_last_sequence {
            message = message.expected_last_subject_sequence(sequence);
        }
        let ack_future = self
            .context
            .send_publish(subject, message)
            .await
            .map_err(|e| classify(e.kind(), e.to_string()))?;
        let ack = ack_future
            .await
            .map_err(|e| classify(e.kind(), e.to_string()))?;
        Ok(Published {
            stream_sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }
}

/// Pauses before re-sending an unconfirmed event (same id, so JetStream
/// stores it once however often it is sent).
const UNCONFIRMED_RETRIES: [std::time::Duration; 3] = [
    std::time::Duration::from_millis(200),
    std::time::Duration::from_millis(500),
    std::time::Duration::from_millis(1000),
];

impl EventPublisher {
    /// Publishes like [`publish`](Self::publish), re-sending the same event
    /// (same id) when JetStream did not confirm it: a time-out may hide a
    /// stored event, and the duplicate window makes the re-send harmless.
    pub async fn publish_confirmed(
        &self,
        subject: &str,
        event: &EventEnvelope,
        expected_last_sequence: Option<u64>,
    ) -> Result<Published, PublishFailure> {
        let mut result = self
            .publish(subject.to_owned(), event, expected_last_sequence)
            .await;
        for pause in UNCONFIRMED_RETRIES {
            match result {
                Err(PublishFailure::Unconfirmed(_)) => {
                    tokio::time::sleep(pause).await;
                    result = self
                        .publish(subject.to_owned(), event, expected_last_sequence)
                        .await;
                }
                _ => break,
            }
        }
        result
    }
}

fn classify(kind: PublishErrorKind, message: String) -> PublishFailure {
    match kind {
        PublishErrorKind::WrongLastSequence => PublishFailure::Conflict,
        PublishErrorKind::TimedOut
        | PublishErrorKind::BrokenPipe
        | PublishErrorKind::StreamNotFound
        | PublishErrorKind::MaxAckPending => PublishFailure::Unconfirmed(message),
        _ => PublishFailure::Refused(message),
    }
}
