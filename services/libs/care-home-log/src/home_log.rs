//! A care home's events in JetStream: reading its current record, changing
//! it (through [`EntityLog::change`], deciding again when another change got
//! in first), and registering the homes of the register.

use pf_access::{Principal, PrincipalKind};
use pf_care_home_model::{CareHomeRecord, CqcLocationId, Register};
use pf_care_home_model::{Registration, Retirement};
use pf_event_log::streams::{CARE_HOMES, care_home_subject};
use pf_event_log::{ChangeError, Changed, ContentionLimit, Decision, EntityLog, LatestEvent};
use pf_proto::NewEvent;
use pf_proto::envelope::unix_millis;
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{Actor, ActorKind, CareHomeRegistered, CareHomeRetired, EventEnvelope, Source};
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

/// Why a system administrator's change to the register was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegisterChangeError {
    /// No such home on the register.
    #[error("care home {0} is not on the register")]
    UnknownHome(String),
    /// The home was retired: it cannot be edited or retired again.
    #[error("{0} was retired from the register and cannot be changed")]
    Retired(String),
    /// Others kept changing the home at the same moment.
    #[error("care home {0} was changed by someone else at the same moment; please try again")]
    Contended(String),
    /// JetStream could not be reached or did not confirm.
    #[error("the change could not be confirmed as saved; please try again ({0})")]
    Unavailable(String),
}

/// What a register change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterChange {
    /// A home joined the register.
    Added,
    /// Its registration details changed.
    Edited,
    /// The register already said exactly this: nothing was published.
    Unchanged,
    /// It was retired.
    Retired,
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
                            // A system administrator has the register since:
                            // the file no longer changes the home, nor brings
                            // a retired one back.
                            Some(current)
                                if current.record.registration_administered
                                    || current.record.is_retired() =>
                            {
                                return Ok(Decision::Unchanged(()));
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

/// A home as the register's readers see it: its record (retired ones
/// included) and when its newest event was accepted.
#[derive(Debug, Clone)]
pub struct RegisteredHome {
    /// The record.
    pub record: CareHomeRecord,
    /// When the platform accepted its newest event.
    pub recorded_at: OffsetDateTime,
}

impl HomeLog {
    /// Every home that has events, retired ones included, by CQC location
    /// id: the newest event of each home's subject, read with an ordered
    /// consumer (no acknowledgements, nothing left behind on the server).
    pub async fn all_homes(&self) -> Result<Vec<RegisteredHome>, HomeLogError> {
        use async_nats::jetstream::consumer;
        use futures::StreamExt as _;
        let unavailable = |e: &dyn std::fmt::Display| HomeLogError::Unavailable(e.to_string());
        let stream = self
            .log
            .context()
            .get_stream(CARE_HOMES.name)
            .await
            .map_err(|e| unavailable(&e))?;
        let mut consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: "pf.care-homes.>".to_owned(),
                deliver_policy: consumer::DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(&e))?;
        let pending = consumer
            .info()
            .await
            .map_err(|e| unavailable(&e))?
            .num_pending;
        let mut homes = Vec::new();
        if pending == 0 {
            return Ok(homes);
        }
        let mut messages = consumer.messages().await.map_err(|e| unavailable(&e))?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| unavailable(&e))?;
            let left = message.info().map(|info| info.pending).unwrap_or(0);
            let event = EventEnvelope::decode_checked(&message.payload)
                .map_err(|e| HomeLogError::Corrupt(message.subject.to_string(), e.to_string()))?;
            let record = record_of(&event)
                .map_err(|e| HomeLogError::Corrupt(message.subject.to_string(), e))?;
            homes.push(RegisteredHome {
                record,
                recorded_at: OffsetDateTime::from_unix_timestamp_nanos(
                    i128::from(unix_millis(event.recorded_at.as_ref())) * 1_000_000,
                )
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            });
            if left == 0 {
                break;
            }
        }
        homes.sort_by(|a, b| a.record.cqc().cmp(b.record.cqc()));
        Ok(homes)
    }

    /// Adds a home to the register, or changes its registration details
    /// (vacancies of categories still offered are kept), on behalf of a
    /// system administrator `by`: one `care_home.registered` event. From
    /// then on the register file read at start leaves the home alone. A
    /// retired home is refused; registration details equal to the current
    /// ones publish nothing. Returns what it did and the event id.
    pub async fn administer(
        &self,
        registration: &Registration,
        by: &Principal,
    ) -> Result<(RegisterChange, Option<String>), RegisterChangeError> {
        let cqc = &registration.cqc_location_id;
        let changed = self
            .change(
                cqc,
                ContentionLimit::Attempts(REGISTER_ATTEMPTS),
                |current| {
                    let (mut record, change) = match current {
                        None => (
                            CareHomeRecord::registered(registration.clone()),
                            RegisterChange::Added,
                        ),
                        Some(current) if current.record.is_retired() => {
                            return Err(RegisterChangeError::Retired(
                                current.record.registration.name.clone(),
                            ));
                        }
                        Some(current)
                            if current.record.registration == *registration
                                && current.record.registration_administered =>
                        {
                            return Ok(Decision::Unchanged(RegisterChange::Unchanged));
                        }
                        Some(current) => (
                            current.record.with_registration(registration.clone()),
                            RegisterChange::Edited,
                        ),
                    };
                    record.registration_administered = true;
                    let payload = Payload::CareHomeRegistered(CareHomeRegistered {
                        home: Some(record.to_proto()),
                    });
                    Ok(Decision::Publish {
                        event: self.next_event(cqc, current, actor(by), payload),
                        outcome: change,
                    })
                },
            )
            .await
            .map_err(|err| register_change_error(cqc, err))?;
        Ok((
            changed.outcome,
            changed.stored.map(|stored| stored.event.event_id),
        ))
    }

    /// Retires a home from the register on behalf of a system administrator
    /// `by`, for `reason`: one `care_home.retired` event carrying the record
    /// with its retirement. It can no longer report, no bed there can be
    /// held, and readers leave it out; its events are kept. Returns the
    /// event id.
    pub async fn retire(
        &self,
        cqc: &CqcLocationId,
        reason: &str,
        by: &Principal,
    ) -> Result<String, RegisterChangeError> {
        let changed = self
            .change(
                cqc,
                ContentionLimit::Attempts(REGISTER_ATTEMPTS),
                |current| {
                    let current =
                        current.ok_or_else(|| RegisterChangeError::UnknownHome(cqc.to_string()))?;
                    if current.record.is_retired() {
                        return Err(RegisterChangeError::Retired(
                            current.record.registration.name.clone(),
                        ));
                    }
                    let record = current.record.with_retirement(Retirement {
                        at: OffsetDateTime::now_utc(),
                        by_id: by.id.clone(),
                        by_name: by.name.clone(),
                        reason: reason.to_owned(),
                    });
                    let payload = Payload::CareHomeRetired(CareHomeRetired {
                        home: Some(record.to_proto()),
                    });
                    Ok(Decision::Publish {
                        event: self.next_event(cqc, Some(current), actor(by), payload),
                        outcome: (),
                    })
                },
            )
            .await
            .map_err(|err| register_change_error(cqc, err))?;
        changed
            .stored
            .map(|stored| stored.event.event_id)
            .ok_or_else(|| RegisterChangeError::Unavailable("the change was not stored".into()))
    }
}

fn register_change_error(
    cqc: &CqcLocationId,
    err: ChangeError<RegisterChangeError>,
) -> RegisterChangeError {
    match err {
        ChangeError::Refused(refused) => refused,
        ChangeError::Contended { .. } => RegisterChangeError::Contended(cqc.to_string()),
        ChangeError::Unavailable(cause) | ChangeError::Rejected(cause) => {
            RegisterChangeError::Unavailable(cause)
        }
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
