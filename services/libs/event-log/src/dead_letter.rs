//! Parking events that cannot be used, with the reason, on a dead-letter subject.

use async_nats::{HeaderMap, jetstream};
use bytes::Bytes;

use crate::streams::dead_letter_subject;

/// Header carrying why the event was refused.
pub const REASON_HEADER: &str = "Pf-Dead-Letter-Reason";
/// Header carrying the subject the event was first published on.
pub const ORIGINAL_SUBJECT_HEADER: &str = "Pf-Original-Subject";
/// Header carrying the event's sequence in its original stream.
pub const ORIGINAL_SEQUENCE_HEADER: &str = "Pf-Original-Sequence";

/// Publishes refused events to `pf.deadletter.{stream}` (stream `PF_DEAD_LETTERS`).
#[derive(Clone)]
pub struct DeadLetters {
    context: jetstream::Context,
}

/// A dead letter could not be stored.
#[derive(Debug, thiserror::Error)]
#[error("could not store a dead letter: {0}")]
pub struct DeadLetterError(String);

impl DeadLetters {
    /// Dead letters on a JetStream context.
    pub fn new(context: jetstream::Context) -> Self {
        Self { context }
    }

    /// Stores the refused bytes with the reason, and waits for the
    /// acknowledgement so that the original may then be acknowledged.
    pub async fn park(
        &self,
        stream: &str,
        original_subject: &str,
        original_sequence: u64,
        payload: Bytes,
        reason: &str,
    ) -> Result<(), DeadLetterError> {
        let mut headers = HeaderMap::new();
        // Header values must be one line.
        headers.insert(REASON_HEADER, reason.replace(['\r', '\n'], " ").as_str());
        headers.insert(ORIGINAL_SUBJECT_HEADER, original_subject);
        headers.insert(
            ORIGINAL_SEQUENCE_HEADER,
            original_sequence.to_string().as_str(),
        );
        // De-duplicate a retried dead letter for the same original message.
        headers.insert(
            "Nats-Msg-Id",
            format!("deadletter-{stream}-{original_sequence}").as_str(),
        );
        self.context
            .publish_with_headers(dead_letter_subject(stream), headers, payload)
            .await
            .map_err(|e| DeadLetterError(e.to_string()))?
            .await
            .map_err(|e| DeadLetterError(e.to_string()))?;
        Ok(())
    }
}
