//! A discharge's events in JetStream: its current record and changing it
//! through the event log's one read-decide-publish loop
//! ([`EntityLog::change`]).

use pf_access::Principal;
use pf_discharge_model::DischargeRecord;
use pf_event_log::streams::{DISCHARGES, discharge_subject};
use pf_event_log::{ChangeError, Changed, ContentionLimit, Decision, EntityLog, LatestEvent};
use pf_proto::NewEvent;
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{EventEnvelope, Source};
use time::OffsetDateTime;

/// The service's name in events and the audit trail.
pub const SERVICE: &str = "discharges";

/// A discharge's newest event and the record it carries.
#[derive(Debug, Clone)]
pub struct CurrentDischarge {
    /// The record.
    pub record: DischargeRecord,
    /// Its version.
    pub version: u64,
    /// The newest event's stream sequence.
    pub stream_sequence: u64,
}

/// Reads and writes discharges' events.
#[derive(Clone)]
pub struct DischargeLog {
    log: EntityLog,
}

/// The decider's own refusal, or a stored record that cannot be read.
enum Decided<E> {
    Refused(E),
    Corrupt(String),
}

/// The entity id of a discharge's events.
pub fn entity_id(discharge_id: &str) -> String {
    format!("discharge/{discharge_id}")
}

impl DischargeLog {
    /// Over `jetstream`.
    pub fn new(jetstream: async_nats::jetstream::Context) -> Self {
        Self {
            log: EntityLog::new(jetstream),
        }
    }

    /// The discharge's current record (`None`: no such discharge).
    pub async fn current(&self, discharge_id: &str) -> Result<Option<CurrentDischarge>, String> {
        let latest = self
            .log
            .latest(DISCHARGES.name, &discharge_subject(discharge_id))
            .await?;
        latest.as_ref().map(current_of).transpose()
    }

    /// The discharge's next event after `current` (the first when `None`),
    /// from `trust`, made by `by`, carrying `payload`: what a decider passed
    /// to [`change`](Self::change) publishes.
    pub fn next_event(
        &self,
        current: Option<&CurrentDischarge>,
        trust: &str,
        discharge_id: &str,
        by: &Principal,
        payload: Payload,
    ) -> EventEnvelope {
        NewEvent {
            source: Source {
                organisation: trust.to_owned(),
                service: SERVICE.into(),
            },
            entity_id: entity_id(discharge_id),
            entity_version: current.map_or(1, |c| c.version + 1),
            occurred_at: None,
            actor: pf_care_home_log::actor(by),
            payload,
        }
        .seal(OffsetDateTime::now_utc())
    }

    /// Changes the discharge: `decide` gets its current record (`None`: no
    /// such discharge) and says which event to publish (made with
    /// [`next_event`](Self::next_event)), that nothing is to change, or why
    /// not. When another change got in first, it is decided again from the
    /// newer record, within `limit`. A stored record that cannot be read
    /// comes back as [`ChangeError::Unavailable`].
    pub async fn change<T, E>(
        &self,
        discharge_id: &str,
        limit: ContentionLimit,
        mut decide: impl FnMut(Option<&CurrentDischarge>) -> Result<Decision<T>, E>,
    ) -> Result<Changed<T>, ChangeError<E>> {
        let subject = discharge_subject(discharge_id);
        let result = self
            .log
            .change(DISCHARGES.name, &subject, limit, |latest| {
                let current = latest
                    .map(current_of)
                    .transpose()
                    .map_err(Decided::Corrupt)?;
                decide(current.as_ref()).map_err(Decided::Refused)
            })
            .await;
        result.map_err(|err| match err {
            ChangeError::Refused(Decided::Refused(refused)) => ChangeError::Refused(refused),
            ChangeError::Refused(Decided::Corrupt(cause)) => ChangeError::Unavailable(cause),
            ChangeError::Contended { subject } => ChangeError::Contended { subject },
            ChangeError::Unavailable(cause) => ChangeError::Unavailable(cause),
            ChangeError::Rejected(cause) => ChangeError::Rejected(cause),
        })
    }
}

/// The discharge's current record from its newest event.
fn current_of(latest: &LatestEvent) -> Result<CurrentDischarge, String> {
    let discharge = latest
        .event
        .payload
        .as_ref()
        .and_then(pf_discharge_model::record::discharge_in)
        .flatten();
    let record = DischargeRecord::from_proto(discharge).map_err(|e| e.to_string())?;
    Ok(CurrentDischarge {
        record,
        version: latest.event.entity_version,
        stream_sequence: latest.stream_sequence,
    })
}
