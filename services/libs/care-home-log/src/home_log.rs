//! A care home's events in JetStream: reading its current record, changing
//! it (through [`EntityLog::change`], deciding again when another change got
//! in first), and registering the homes of the register.

use pf_access::{Principal, PrincipalKind};
use pf_care_home_model::{CareHomeRecord, CqcLocationId, Register};
use pf_event_log::streams::{CARE_HOMES, care_home_subject};
use pf_event_log::{ChangeError, Changed, ContentionLimit, Decision, EntityLog, LatestEvent};
use pf_proto::NewEvent;
use pf_proto::envelope::unix_millis;
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{Actor, ActorKind, CareHomeRegistered, EventEnvelope, Source};
use time::OffsetDateTime;

/// The care-homes service's name in events and the audit trail.
pub const SERVICE: &str = "care-homes";

/// The event log could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HomeLogError {
    /// JetStream could not be reached or did not confirm.
    #[error("the event log is unavailable: {0}")]
    Unavailable(String),
    /// The stored record is unusable.
    #[error("the stored record of care home {0} is unusable: {1}")]
    Corrupt(String, String),
}

/// A home's newest event and the record it carries.
#[derive(Debug, Clone)]
pub struct CurrentHome {
    /// The record.
    pub record: CareHomeRecord,
    /// The home's version (its number of events).
    pub version: u64,
    /// The newest event's stream sequence (for optimistic concurrency).
    pub stream_sequence: u64,
    /// The newest event's type.
    pub event_type: String,
    /// When the platform accepted the newest event.
    pub recorded_at: OffsetDateTime,
}

/// The entity id of a home's events.
pub fn entity_id(cqc: &CqcLocationId) -> String {
    format!("care-home/{cqc}")
}

/// The event actor for a principal.
pub fn actor(principal: &Principal) -> Actor {
    Actor {
        id: principal.id.clone(),
        organisation: principal
            .organisation
            .as_ref()
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default(),
        kind: match principal.kind {
            PrincipalKind::Person => ActorKind::Person,
            PrincipalKind::Machine => ActorKind::Machine,
        } as i32,
    }
}

/// How many times registering a home is decided again when another change
/// to it got in first.
const REGISTER_ATTEMPTS: usize = 5;

/// Reads and writes homes' events.
#[derive(Clone)]
pub struct HomeLog {
    log: EntityLog,
    service: &'static str,
}

/// The decider's own refusal, or a stored record that cannot be read.
enum Decided<E> {
    Refused(E),
    Corrupt(HomeLogError),
}

impl HomeLog {
    /// Over `jetstream`, publishing as `service` (the events' source).
    pub fn new(jetstream: async_nats::jetstream::Context, service: &'static str) -> Self {
        Self {
            log: EntityLog::new(jetstream),
            service,
        }
    }

    /// The home's current record (`None`: not registered).
    pub async fn current(&self, cqc: &CqcLocationId) -> Result<Option<CurrentHome>, HomeLogError> {
        let latest = self
            .log
            .latest(CARE_HOMES.name, &care_home_subject(cqc.as_str()))
            .await
            .map_err(HomeLogError::Unavailable)?;
        latest.map(|latest| current_of(cqc, &latest)).transpose()
    }

    /// The home's next event after `current` (the first when `None`),
    /// carrying `payload`, made on behalf of `actor`: what a decider passed to
    /// [`change`](Self::change) publishes.
    pub fn next_event(
        &self,
        cqc: &CqcLocationId,
        current: Option<&CurrentHome>,
        actor: Actor,
        payload: Payload,
    ) -> EventEnvelope {
        NewEvent {
            source: Source {
                organisation: cqc.to_string(),
                service: self.service.into(),
            },
            entity_id: entity_id(cqc),
            entity_version: current.map_or(1, |c| c.version + 1),
            occurred_at: None,
            actor,
            payload,
        }
        .seal(OffsetDateTime::now_utc())
    }

    /// Changes the home: `decide` gets its current record (`None`: not
    /// registered) and says which event to publish (made with
    /// [`next_event`](Self::next_event)), that nothing is to change, or why
    /// not. When another change to the home got in first, it is decided
    /// again from the newer record, within `limit`. A stored record that
    /// cannot be read comes back as [`ChangeError::Unavailable`].
    pub async fn change<T, E>(
        &self,
        cqc: &CqcLocationId,
        limit: ContentionLimit,
        mut decide: impl FnMut(Option<&CurrentHome>) -> Result<Decision<T>, E>,
    ) -> Result<Changed<T>, ChangeError<E>> {
        let subject = care_home_subject(cqc.as_str());
        let result = self
            .log
            .change(CARE_HOMES.name, &subject, limit, |latest| {
                let current = latest
                    .map(|latest| current_of(cqc, latest))
                    .transpose()
                    .map_err(Decided::Corrupt)?;
                decide(current.as_ref()).map_err(Decided::Refused)
            })
            .await;
        result.map_err(|err| match err {
            ChangeError::Refused(Decided::Refused(refused)) => ChangeError::Refused(refused),
            ChangeError::Refused(Decided::Corrupt(corrupt)) => {
                ChangeError::Unavailable(corrupt.to_string())
            }
            ChangeError::Contended { subject } => ChangeError::Contended { subject },
            ChangeError::Unavailable(cause) => ChangeError::Unavailable(cause),
            ChangeError::Rejected(cause) => ChangeError::Rejected(cause),
        })
    }

    /// Registers every home of `register` that has no events yet, and
    /// re-registers those whose registration details changed (vacancies of
    /// categories still offered are kept). Returns how many events it
    /// published.
    pub async fn register(
        &self,
        register: &Register,
        by: &Principal,
    ) -> Result<usize, HomeLogError> {
        let mut published = 0;
        for registration in register.homes() {
            let cqc = &registration.cqc_location_id;
            let result = self
                .change(
                    cqc,
                    ContentionLimit::Attempts(REGISTER_ATTEMPTS),
                    |current| {
                        let record = match current {
                            None => CareHomeRecord::registered(registration.clone()),
                            // Already registered as the register says (perhaps
                            // by another replica at the same moment).
                            Some(current) if current.record.registration == *registration => {
                                return Ok::<_, std::convert::Infallible>(Decision::Unchanged(()));
                            }
                            Some(current) => current.record.with_registration(registration.clone()),
                        };
                        let payload = Payload::CareHomeRegistered(CareHomeRegistered {
                            home: Some(record.to_proto()),
                        });
                        Ok(Decision::Publish {
                            event: self.next_event(cqc, current, actor(by), payload),
                            outcome: (),
                        })
                    },
                )
                .await;
            match result {
                Ok(changed) => published += usize::from(changed.stored.is_some()),
                // Other replicas kept registering it at the same moment.
                Err(ChangeError::Contended { .. }) => {}
                Err(ChangeError::Refused(never)) => match never {},
                Err(ChangeError::Unavailable(cause) | ChangeError::Rejected(cause)) => {
                    return Err(HomeLogError::Unavailable(cause));
                }
            }
        }
        Ok(published)
    }
}

/// The home's current record from its newest event.
fn current_of(cqc: &CqcLocationId, latest: &LatestEvent) -> Result<CurrentHome, HomeLogError> {
    let record = record_of(&latest.event).map_err(|e| HomeLogError::Corrupt(cqc.to_string(), e))?;
    Ok(CurrentHome {
        record,
        version: latest.event.entity_version,
        stream_sequence: latest.stream_sequence,
        event_type: latest.event.event_type.clone(),
        recorded_at: OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(unix_millis(latest.event.recorded_at.as_ref())) * 1_000_000,
        )
        .unwrap_or(OffsetDateTime::UNIX_EPOCH),
    })
}

/// The record an event carries.
pub fn record_of(event: &EventEnvelope) -> Result<CareHomeRecord, String> {
    let home = event
        .payload
        .as_ref()
        .and_then(pf_care_home_model::home_in)
        .flatten();
    CareHomeRecord::from_proto(home).map_err(|e| e.to_string())
}
