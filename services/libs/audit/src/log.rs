//! Recording into the audit trail, waiting for JetStream to store it.

use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage};

use crate::error::AuditError;
use crate::query::{self, AuditQuery};
use crate::record::AuditRecord;
use crate::stream::subject;

/// How long a query may run by default.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Header naming the record's action, for operators reading the stream.
pub const ACTION_HEADER: &str = "Pf-Audit-Action";

/// Writes records to, and queries, the `PF_AUDIT` stream.
///
/// Create the stream first with [`crate::stream::ensure`].
#[derive(Clone)]
pub struct AuditLog {
    context: jetstream::Context,
    query_timeout: Duration,
}

impl AuditLog {
    /// An audit log on a JetStream context.
    pub fn new(context: jetstream::Context) -> Self {
        Self {
            context,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
        }
    }

    /// The same log, with queries cut off after `timeout`.
    pub fn with_query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// Checks `record` ([`AuditRecord::check`], and that its `at` is about
    /// now: [`AuditRecord::check_time`]), stores it on
    /// `pf.audit.{organisation}.{actor}` with its id as `Nats-Msg-Id`, and
    /// returns its stream sequence once JetStream has acknowledged it.
    ///
    /// Callers must not tell anyone a change succeeded before this returns
    /// `Ok`. A record re-sent within the duplicate window is stored once;
    /// the re-send returns the first copy's sequence.
    #[tracing::instrument(skip_all, fields(audit_id = %record.id, action = %record.action))]
    pub async fn record(&self, record: AuditRecord) -> Result<u64, AuditError> {
        record.check()?;
        record.check_time(time::OffsetDateTime::now_utc())?;
        let payload = serde_json::to_vec(&record)
            .map_err(|e| AuditError::Refused(format!("could not encode the record: {e}")))?;
        let message = PublishMessage::build()
            .payload(payload.into())
            .message_id(&record.id)
            .header(ACTION_HEADER, record.action.as_str());
        let subject = subject(&record.actor.organisation, &record.actor.id);
        let ack = self
            .context
            .send_publish(subject, message)
            .await
            .map_err(|e| classify(e.kind(), e.to_string()))?
            .await
            .map_err(|e| classify(e.kind(), e.to_string()))?;
        if ack.duplicate {
            tracing::debug!(sequence = ack.sequence, "audit record was already stored");
        }
        Ok(ack.sequence)
    }

    /// The records matching `query`, oldest first (see [`AuditQuery`]).
    pub async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuditError> {
        tokio::time::timeout(self.query_timeout, query::run(&self.context, query))
            .await
            .map_err(|_| AuditError::TimedOut)?
    }
}

fn classify(kind: PublishErrorKind, message: String) -> AuditError {
    match kind {
        PublishErrorKind::TimedOut
        | PublishErrorKind::BrokenPipe
        | PublishErrorKind::StreamNotFound
        | PublishErrorKind::MaxAckPending => AuditError::Unconfirmed(message),
        _ => AuditError::Refused(message),
    }
}
