//! A discharge's events in JetStream: its current record and changing it
//! through the event log's one read-decide-publish loop
//! ([`EntityLog::change`]).
//!
//! Every event published here carries the patient's fields sealed with the
//! patient's own data key (`pf-patient-keys`, payload version 2); records
//! are opened when read. Once a patient has left the list (discharged or
//! cancelled) their key is scheduled for destruction after the retention
//! period (`PF_PATIENT_RETENTION_DAYS`); a patient put back keeps it.

use pf_access::Principal;
use pf_discharge_model::DischargeRecord;
use pf_event_log::streams::{DISCHARGES, discharge_subject};
use pf_event_log::{ChangeError, Changed, ContentionLimit, Decision, EntityLog, LatestEvent};
use pf_patient_keys::{DataKey, PatientKeys};
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
    keys: PatientKeys,
    retention: time::Duration,
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
    /// Over `jetstream`, sealing patients' fields with `keys`; a patient's
    /// key is destroyed `retention` after they left the list.
    pub fn new(
        jetstream: async_nats::jetstream::Context,
        keys: PatientKeys,
        retention: time::Duration,
    ) -> Self {
        Self {
            log: EntityLog::new(jetstream),
            keys,
            retention,
        }
    }

    /// The patients' data keys.
    pub fn keys(&self) -> &PatientKeys {
        &self.keys
    }

    /// The discharge's current record (`None`: no such discharge), opened;
    /// its `nhs_number` is `None` when the patient's key was destroyed after
    /// the retention period.
    pub async fn current(&self, discharge_id: &str) -> Result<Option<CurrentDischarge>, String> {
        let latest = self
            .log
            .latest(DISCHARGES.name, &discharge_subject(discharge_id))
            .await?;
        let key = self
            .keys
            .existing(discharge_id)
            .await
            .map_err(|e| e.to_string())?;
        latest
            .as_ref()
            .map(|latest| current_of(latest, key.as_ref()))
            .transpose()
    }

    /// Opens records read from the live state; those whose key was destroyed
    /// after the retention period are left out.
    pub async fn open_all(
        &self,
        records: Vec<DischargeRecord>,
    ) -> Result<Vec<DischargeRecord>, String> {
        self.keys.open_all(records).await.map_err(|e| e.to_string())
    }

    /// Destroys the keys whose retention period ended by `now`.
    pub async fn shred_due(&self, now: OffsetDateTime) -> Result<usize, String> {
        self.keys.shred_due(now).await.map_err(|e| e.to_string())
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
        now: OffsetDateTime,
        mut decide: impl FnMut(Option<&CurrentDischarge>) -> Result<Decision<T>, E>,
    ) -> Result<Changed<T>, ChangeError<E>> {
        let subject = discharge_subject(discharge_id);
        let key = self
            .keys
            .key_for(discharge_id)
            .await
            .map_err(|e| ChangeError::Unavailable(e.to_string()))?;
        let mut waiting = None;
        let result = self
            .log
            .change(DISCHARGES.name, &subject, limit, |latest| {
                let current = latest
                    .map(|latest| current_of(latest, Some(&key)))
                    .transpose()
                    .map_err(Decided::Corrupt)?;
                let decision = decide(current.as_ref()).map_err(Decided::Refused)?;
                Ok(match decision {
                    Decision::Publish { mut event, outcome } => {
                        waiting = seal(&key, &mut event).map_err(Decided::Corrupt)?;
                        Decision::Publish { event, outcome }
                    }
                    unchanged => unchanged,
                })
            })
            .await;
        if let (Ok(_), Some(waiting)) = (&result, waiting) {
            // Kept while the patient waits; destroyed `retention` after they left.
            let until = (!waiting).then_some(now + self.retention);
            if let Err(err) = self.keys.retain_until(discharge_id, until).await {
                tracing::error!(cause = %err, "a patient's key retention could not be set; the next change sets it again");
            }
        }
        result.map_err(|err| match err {
            ChangeError::Refused(Decided::Refused(refused)) => ChangeError::Refused(refused),
            ChangeError::Refused(Decided::Corrupt(cause)) => ChangeError::Unavailable(cause),
            ChangeError::Contended { subject } => ChangeError::Contended { subject },
            ChangeError::Unavailable(cause) => ChangeError::Unavailable(cause),
            ChangeError::Rejected(cause) => ChangeError::Rejected(cause),
        })
    }
}

/// Seals the patient's fields in the event's record (payload version 2):
/// whether the patient still waits, `None` when the event carries no record.
fn seal(key: &DataKey, event: &mut EventEnvelope) -> Result<Option<bool>, String> {
    let Some(discharge) = event
        .payload
        .as_mut()
        .and_then(pf_discharge_model::record::discharge_in_mut)
    else {
        return Ok(None);
    };
    let record = DischargeRecord::from_proto(Some(discharge)).map_err(|e| e.to_string())?;
    let waiting = record.status.is_waiting();
    *discharge = key.seal_record(record).to_proto();
    Ok(Some(waiting))
}

/// The discharge's current record from its newest event, opened with `key`
/// (left sealed, `nhs_number: None`, without one).
fn current_of(latest: &LatestEvent, key: Option<&DataKey>) -> Result<CurrentDischarge, String> {
    let discharge = latest
        .event
        .payload
        .as_ref()
        .and_then(pf_discharge_model::record::discharge_in)
        .flatten();
    let mut record = DischargeRecord::from_proto(discharge).map_err(|e| e.to_string())?;
    if let Some(key) = key {
        record = key.open_record(record).map_err(|e| e.to_string())?;
    }
    Ok(CurrentDischarge {
        record,
        version: latest.event.entity_version,
        stream_sequence: latest.stream_sequence,
    })
}
