//! Reading a bed's record and changing it under optimistic concurrency.

use async_nats::jetstream;
use pf_event_log::streams::{BEDS, bed_subject};
use pf_event_log::{ChangeError, ContentionLimit, Decision, EntityLog};
use pf_hospital_model::BedState;
use pf_hospital_model::catalogue::CatalogueBed;
use pf_proto::NewEvent;
use pf_proto::v1::{Actor, Source};
use time::OffsetDateTime;

use crate::record::{BedChange, BedChangeError, BedRecord, decide};

/// How many times a change is decided again when another change to the same
/// bed got into the stream first.
pub const CONFLICT_ATTEMPTS: usize = 5;

/// The subject of a bed's events.
pub fn subject(bed: &CatalogueBed) -> String {
    bed_subject(
        bed.address.site.as_str(),
        bed.address.ward.as_str(),
        bed.address.bed.as_str(),
    )
}

/// A change that was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedChanged {
    /// The stored event's id.
    pub event_id: String,
    /// The stored event's type (`bed.opened`, ...).
    pub event_type: String,
    /// The bed's version after the change.
    pub entity_version: u64,
    /// Where the event is in the stream.
    pub stream_sequence: u64,
    /// The bed's state after the change (`None` once withdrawn).
    pub state: Option<BedState>,
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum BedLogError {
    /// The change does not fit the bed's current record.
    #[error(transparent)]
    Refused(#[from] BedChangeError),
    /// Others kept changing the bed (its address) at the same moment.
    #[error("bed {0} kept changing while this change was being made")]
    Contended(String),
    /// The event log could not be read or did not confirm the change.
    #[error("{0}")]
    Unavailable(String),
}

/// Reads and changes beds' events.
#[derive(Clone)]
pub struct BedLog {
    log: EntityLog,
}

impl BedLog {
    /// Over a JetStream context.
    pub fn new(context: jetstream::Context) -> Self {
        Self {
            log: EntityLog::new(context),
        }
    }

    /// The bed's current record and its newest event's stream sequence (0:
    /// the bed has no events yet).
    pub async fn current(&self, bed: &CatalogueBed) -> Result<(BedRecord, u64), BedLogError> {
        let latest = self
            .log
            .latest(BEDS.name, &subject(bed))
            .await
            .map_err(BedLogError::Unavailable)?;
        Ok(match latest {
            Some(latest) => (BedRecord::from_event(&latest.event), latest.stream_sequence),
            None => (BedRecord::NEVER_OPENED, 0),
        })
    }

    /// Makes `change` to `bed` on behalf of `actor`, published by `service`
    /// (the event's source), as having happened at `occurred_at` (`None`:
    /// now). Decided against the bed's newest event, and decided again when
    /// another change got in first.
    pub async fn change(
        &self,
        bed: &CatalogueBed,
        change: BedChange,
        actor: Actor,
        occurred_at: Option<OffsetDateTime>,
        service: &str,
    ) -> Result<BedChanged, BedLogError> {
        self.change_at_version(bed, change, actor, occurred_at, service, None)
            .await
    }

    /// [`change`](Self::change), made only while the bed's version is
    /// `expected` (when given): a client that read version 3 does not
    /// overwrite a change made since (FHIR `If-Match`). Checked against the
    /// newest event each time the change is decided, so a change that got in
    /// first is never overwritten.
    #[tracing::instrument(skip(self, bed, actor), fields(bed = %bed.address))]
    pub async fn change_at_version(
        &self,
        bed: &CatalogueBed,
        change: BedChange,
        actor: Actor,
        occurred_at: Option<OffsetDateTime>,
        service: &str,
        expected: Option<u64>,
    ) -> Result<BedChanged, BedLogError> {
        let changed = self
            .log
            .change(
                BEDS.name,
                &subject(bed),
                ContentionLimit::Attempts(CONFLICT_ATTEMPTS),
                |latest| {
                    let record =
                        latest.map_or(BedRecord::NEVER_OPENED, |l| BedRecord::from_event(&l.event));
                    if let Some(expected) = expected
                        && expected != record.version
                    {
                        return Err(BedChangeError::VersionMismatch {
                            bed: bed.address.to_string(),
                            expected,
                            current: record.version,
                        });
                    }
                    let payload = decide(bed, record, &change)?;
                    let event = NewEvent {
                        source: Source {
                            organisation: bed.address.site.to_string(),
                            service: service.to_owned(),
                        },
                        entity_id: bed.address.entity_id(),
                        entity_version: record.version + 1,
                        occurred_at,
                        actor: actor.clone(),
                        payload,
                    }
                    .seal(OffsetDateTime::now_utc());
                    Ok(Decision::Publish { event, outcome: () })
                },
            )
            .await
            .map_err(|e| match e {
                ChangeError::Refused(refused) => BedLogError::Refused(refused),
                ChangeError::Contended { .. } => BedLogError::Contended(bed.address.to_string()),
                ChangeError::Unavailable(cause) | ChangeError::Rejected(cause) => {
                    BedLogError::Unavailable(cause)
                }
            })?;
        let Some(stored) = changed.stored else {
            // Every bed decision publishes; an unchanged one cannot happen.
            return Err(BedLogError::Unavailable(
                "the change was not stored".to_owned(),
            ));
        };
        let state = match change {
            BedChange::Open { .. } => Some(BedState::Available),
            BedChange::SetState { state, .. } => Some(state),
            BedChange::Withdraw { .. } => None,
        };
        tracing::info!(
            event_id = %stored.event.event_id,
            event_type = %stored.event.event_type,
            version = stored.event.entity_version,
            sequence = stored.published.stream_sequence,
            "bed change stored"
        );
        Ok(BedChanged {
            event_id: stored.event.event_id,
            event_type: stored.event.event_type,
            entity_version: stored.event.entity_version,
            stream_sequence: stored.published.stream_sequence,
            state,
        })
    }
}
