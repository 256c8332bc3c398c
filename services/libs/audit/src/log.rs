//! Recording into the audit trail, waiting for JetStream to store it.
//!
//! An action that cannot be audited does not happen: [`AuditLog::attempt`]
//! records the attempt before the action and hands back an [`Attempt`],
//! which records the outcome after it. When the attempt cannot be stored
//! the caller gets [`AuditUnavailable`] (every service answers 503 with its
//! sentence) and nothing is done. [`AuditLog::audited`] runs the three
//! steps in that order for an action given as a closure.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage};

use crate::error::AuditError;
use crate::query::{self, AuditQuery};
use crate::record::{AuditRecord, Outcome};
use crate::stream::subject;
use crate::usage::Usage;

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
    usage: Option<Arc<Usage>>,
}

/// What a person is told when an action is refused because the audit trail
/// cannot record it: [`AuditUnavailable`]'s text.
pub const AUDIT_UNAVAILABLE: &str = "This was not done, because the audit trail cannot record it \
     right now and every change and every opening of a patient's record must be recorded. \
     Nothing was changed. Please try again in a few minutes.";

/// The audit trail could not store the record of an attempt, so the action
/// was not taken. Services answer 503 with this error's text.
#[derive(Debug, thiserror::Error)]
#[error("{AUDIT_UNAVAILABLE}")]
pub struct AuditUnavailable {
    /// Why the record could not be stored (for the log, not the caller).
    #[source]
    pub cause: AuditError,
}

/// Why an [`AuditLog::audited`] action did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum Audited<E> {
    /// The attempt could not be recorded; the action was not run.
    #[error(transparent)]
    Unavailable(AuditUnavailable),
    /// The action ran and failed (its failure is recorded as a refusal).
    #[error("{0}")]
    Failed(E),
}

/// An attempt recorded in the audit trail before acting; record what came
/// of it with [`Attempt::accepted`] or [`Attempt::refused`].
#[must_use = "record the outcome of the attempt"]
pub struct Attempt {
    log: AuditLog,
    record: AuditRecord,
    sequence: u64,
}

impl AuditLog {
    /// An audit log on a JetStream context.
    pub fn new(context: jetstream::Context) -> Self {
        Self {
            context,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            usage: None,
        }
    }

    /// The same log, exporting the stream's used and maximum bytes and the
    /// outcomes it could not record as metrics on `registry`
    /// (`pf_audit_stream_used_bytes`, `pf_audit_stream_max_bytes`,
    /// `pf_audit_unrecorded_total`), refreshed every `every` and at once
    /// when a record fails, with a warning in the log from
    /// [`crate::usage::WARN_FRACTION`] of the bound. The watch ends when the
    /// last clone of the log is dropped.
    pub fn watched(
        mut self,
        registry: &prometheus::Registry,
        every: Duration,
    ) -> Result<Self, prometheus::Error> {
        let usage = Usage::register(registry)?;
        crate::usage::watch(self.context.clone(), Arc::downgrade(&usage), every);
        self.usage = Some(usage);
        Ok(self)
    }

    /// Records `template`'s attempt ([`AuditRecord::attempt`]) and returns
    /// once it is stored. Act only after this returns `Ok`; then record the
    /// outcome with the [`Attempt`]. On `Err` nothing may be done: answer
    /// 503 with the error's text.
    pub async fn attempt(&self, template: AuditRecord) -> Result<Attempt, AuditUnavailable> {
        let sequence = self.required(template.attempt()).await?;
        Ok(Attempt {
            log: self.clone(),
            record: template,
            sequence,
        })
    }

    /// Stores `record`, which must be stored before the caller goes on (an
    /// opening of a patient's record before the record is shown). On `Err`
    /// answer 503 with the error's text.
    pub async fn required(&self, record: AuditRecord) -> Result<u64, AuditUnavailable> {
        self.record(record).await.map_err(|cause| {
            tracing::error!(%cause, "the audit trail could not record an attempt; it is refused");
            AuditUnavailable { cause }
        })
    }

    /// Records the attempt at `template`'s action, runs `action`, and records
    /// its outcome: accepted (with the event id `event_of` finds in the
    /// result) or refused with the error's text. `action` is a closure so
    /// that nothing of it runs before the attempt is stored.
    pub async fn audited<T, E, F, Fut>(
        &self,
        template: AuditRecord,
        action: F,
        event_of: impl FnOnce(&T) -> Option<String>,
    ) -> Result<T, Audited<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let attempt = self.attempt(template).await.map_err(Audited::Unavailable)?;
        match action().await {
            Ok(value) => {
                attempt.accepted(event_of(&value).as_deref()).await;
                Ok(value)
            }
            Err(err) => {
                attempt.refused(&err.to_string()).await;
                Err(Audited::Failed(err))
            }
        }
    }

    /// Notes that an outcome record could not be stored after its attempt
    /// was: the action happened, so the caller is not told otherwise.
    fn outcome_lost(&self, record: &AuditRecord, err: &AuditError) {
        if let Some(usage) = &self.usage {
            usage.unrecorded.inc();
        }
        tracing::error!(action = %record.action, cause = %err, "the outcome of an audited attempt could not be recorded; its attempt is in the trail");
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
        let result = self.store(&record).await;
        if let (Err(_), Some(usage)) = (&result, &self.usage) {
            // A full stream is the likeliest cause: look at once.
            usage.refresh_now.notify_one();
        }
        result
    }

    async fn store(&self, record: &AuditRecord) -> Result<u64, AuditError> {
        record.check()?;
        record.check_time(time::OffsetDateTime::now_utc())?;
        let payload = serde_json::to_vec(record)
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

impl Attempt {
    /// Records that the attempt was accepted (the change made, the record
    /// shown), naming the operational event it produced, if any. A failure
    /// is logged and counted, not returned: the action has happened.
    pub async fn accepted(self, event_id: Option<&str>) {
        let mut record = self.record.clone();
        record.id = uuid::Uuid::now_v7().to_string();
        record.at = time::OffsetDateTime::now_utc();
        record.outcome = Outcome::Accepted;
        record.event_id = event_id.map(str::to_owned).or(record.event_id);
        self.finish(record).await;
    }

    /// Records that the attempt was refused after all (a conflict found
    /// while acting), with the reason. A failure is logged and counted.
    pub async fn refused(self, reason: &str) {
        let record = AuditRecord::refused(
            self.record.actor.clone(),
            self.record.action.clone(),
            self.record.entity.clone(),
            reason,
            self.record.source.clone(),
        );
        let record = AuditRecord {
            request_id: self.record.request_id.clone(),
            ..record
        };
        self.finish(record).await;
    }

    /// For callers whose outcome record is made on another path (a
    /// handler's common answer): the attempt is stored, and they record
    /// the accepted change or the refusal themselves.
    pub fn outcome_recorded_elsewhere(self) {}

    /// The stream sequence of the attempt's record.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    async fn finish(self, record: AuditRecord) {
        if let Err(err) = self.log.record(record.clone()).await {
            self.log.outcome_lost(&record, &err);
        }
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
