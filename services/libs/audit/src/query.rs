//! Reading the audit trail back: by person, organisation, entity and time.
//!
//! A query reads the stream with an ordered pull consumer (ephemeral, no
//! acknowledgements). Person and organisation narrow the consumer's subject
//! filter, so JetStream skips other actors' records; `from` starts the
//! consumer at that time; the entity is matched here. The query ends at the
//! stream's last sequence when it started, once past `to`, or at `limit`
//! records, so it is bounded in memory; [`crate::AuditLog`] bounds it in time.

use async_nats::jetstream::{
    self,
    consumer::{DeliverPolicy, pull},
};
use futures::StreamExt;
use time::OffsetDateTime;

use crate::error::AuditError;
use crate::record::AuditRecord;
use crate::stream::{STREAM, SUBJECTS, filter_subject};

/// Records returned when a query names no limit.
pub const DEFAULT_LIMIT: usize = 1000;

/// The most records one query returns.
pub const MAX_LIMIT: usize = 10_000;

/// How far a record's `at` may lie from the time JetStream stored it:
/// [`crate::record::CLOCK_TOLERANCE`] on the recording service's clock, plus
/// room for that clock to differ from the NATS server's. Time bounds are
/// widened by this when reading the stream, then applied exactly to `at`.
pub const CLOCK_MARGIN: time::Duration = time::Duration::minutes(15);

/// Which records to read. Every given criterion must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only records by this actor id.
    pub person: Option<String>,
    /// Only records of actors acting for this organisation.
    pub organisation: Option<String>,
    /// Only records whose entity equals this or starts with it
    /// (`bed/RWEAA/` matches every bed at site RWEAA).
    pub entity: Option<String>,
    /// Only records at or after this time.
    pub from: Option<OffsetDateTime>,
    /// Only records at or before this time.
    pub to: Option<OffsetDateTime>,
    /// At most this many records, the oldest; 0 means [`DEFAULT_LIMIT`],
    /// and more than [`MAX_LIMIT`] means [`MAX_LIMIT`].
    pub limit: usize,
}

impl Default for AuditQuery {
    fn default() -> Self {
        Self {
            person: None,
            organisation: None,
            entity: None,
            from: None,
            to: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

impl AuditQuery {
    /// The number of records this query may return.
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        }
    }

    /// Whether `record` meets every criterion.
    pub fn matches(&self, record: &AuditRecord) -> bool {
        self.person.as_ref().is_none_or(|p| record.actor.id == *p)
            && self
                .organisation
                .as_ref()
                .is_none_or(|o| record.actor.organisation == *o)
            && self
                .entity
                .as_ref()
                .is_none_or(|e| record.entity.starts_with(e.as_str()))
            && self.from.is_none_or(|from| record.at >= from)
            && self.to.is_none_or(|to| record.at <= to)
    }
}

/// Runs `query` against the audit stream (without a time limit).
pub(crate) async fn run(
    context: &jetstream::Context,
    query: &AuditQuery,
) -> Result<Vec<AuditRecord>, AuditError> {
    let limit = query.effective_limit();
    let stream = context
        .get_stream(STREAM)
        .await
        .map_err(|e| AuditError::Unavailable(e.to_string()))?;
    let last = stream.cached_info().state.last_sequence;
    if last == 0 {
        return Ok(Vec::new());
    }
    let deliver_policy = match query.from.and_then(|f| f.checked_sub(CLOCK_MARGIN)) {
        Some(start_time) => DeliverPolicy::ByStartTime { start_time },
        None => DeliverPolicy::All,
    };
    let filter = filter_subject(query.organisation.as_deref(), query.person.as_deref());
    // Every record from the first: there is at least one (`last` > 0).
    let whole_stream = filter == SUBJECTS && matches!(deliver_policy, DeliverPolicy::All);
    let mut consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: filter,
            deliver_policy,
            description: Some("audit query".into()),
            ..Default::default()
        })
        .await
        .map_err(|e| AuditError::Unavailable(e.to_string()))?;
    // Nothing to read: stop now (reading would wait for records that never
    // come). The count in the creation answer can lag behind the stream on
    // a busy server, so a zero is asked again before it is believed.
    if !whole_stream && consumer.cached_info().num_pending == 0 {
        let pending = consumer
            .info()
            .await
            .map_err(|e| AuditError::Unavailable(e.to_string()))?
            .num_pending;
        if pending == 0 {
            return Ok(Vec::new());
        }
    }
    let stored_after_end = query.to.and_then(|t| t.checked_add(CLOCK_MARGIN));
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| AuditError::Unavailable(e.to_string()))?;
    let mut found = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| AuditError::Unavailable(e.to_string()))?;
        let (sequence, pending, stored_at) = {
            let info = message
                .info()
                .map_err(|e| AuditError::Unavailable(e.to_string()))?;
            (info.stream_sequence, info.pending, info.published)
        };
        if sequence > last || stored_after_end.is_some_and(|end| stored_at > end) {
            break;
        }
        let record: AuditRecord =
            serde_json::from_slice(&message.payload).map_err(|e| AuditError::Corrupt {
                sequence,
                cause: e.to_string(),
            })?;
        if query.matches(&record) {
            found.push(record);
            if found.len() >= limit {
                break;
            }
        }
        if sequence >= last || pending == 0 {
            break;
        }
    }
    // Stream order is storage order; `at` may differ by a little.
    found.sort_by_key(|r| r.at);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{AuditActor, AuditSource};

    fn record(entity: &str) -> AuditRecord {
        AuditRecord::accepted(
            AuditActor::person("u1", "RWE"),
            "bed.state_changed",
            entity,
            AuditSource::new("hospital-beds", None, None),
        )
    }

    #[test]
    fn limits_are_bounded() {
        let q = |limit| AuditQuery {
            limit,
            ..Default::default()
        };
        assert_eq!(AuditQuery::default().effective_limit(), DEFAULT_LIMIT);
        assert_eq!(q(0).effective_limit(), DEFAULT_LIMIT);
        assert_eq!(q(5).effective_limit(), 5);
        assert_eq!(q(usize::MAX).effective_limit(), MAX_LIMIT);
    }

    #[test]
    fn criteria_all_apply() {
        let r = record("bed/RWEAA/WD15/B03");
        let q = |f: fn(&mut AuditQuery)| {
            let mut q = AuditQuery::default();
            f(&mut q);
            q.matches(&r)
        };
        assert!(q(|_| {}));
        assert!(q(|q| q.entity = Some("bed/RWEAA/".into())));
        assert!(q(|q| q.entity = Some("bed/RWEAA/WD15/B03".into())));
        assert!(!q(|q| q.entity = Some("bed/RT5".into())));
        assert!(q(|q| q.person = Some("u1".into())));
        assert!(!q(|q| q.person = Some("u2".into())));
        assert!(!q(|q| q.organisation = Some("RT5".into())));
        assert!(!q(|q| q.to = Some(OffsetDateTime::UNIX_EPOCH)));
        assert!(q(|q| q.from = Some(OffsetDateTime::UNIX_EPOCH)));
    }
}
