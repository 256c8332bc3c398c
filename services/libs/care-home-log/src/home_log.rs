//! A care home's events in JetStream: reading its current record, publishing
//! the next event, and registering the homes of the register.

use pf_access::{Principal, PrincipalKind};
use pf_care_home_model::{CareHomeRecord, CqcLocationId, Register};
use pf_event_log::streams::{CARE_HOMES, care_home_subject};
use pf_event_log::{EventPublisher, PublishFailure, Published, latest_event};
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

/// Reads and writes homes' events.
#[derive(Clone)]
pub struct HomeLog {
    jetstream: async_nats::jetstream::Context,
    publisher: EventPublisher,
    service: &'static str,
}

impl HomeLog {
    /// Over `jetstream`, publishing as `service` (the events' source).
    pub fn new(jetstream: async_nats::jetstream::Context, service: &'static str) -> Self {
        Self {
            publisher: EventPublisher::new(jetstream.clone()),
            jetstream,
            service,
        }
    }

    /// The home's current record (`None`: not registered).
    pub async fn current(&self, cqc: &CqcLocationId) -> Result<Option<CurrentHome>, HomeLogError> {
        let latest = latest_event(
            &self.jetstream,
            CARE_HOMES.name,
            &care_home_subject(cqc.as_str()),
        )
        .await
        .map_err(|e| HomeLogError::Unavailable(e.to_string()))?;
        let Some(latest) = latest else {
            return Ok(None);
        };
        let record =
            record_of(&latest.event).map_err(|e| HomeLogError::Corrupt(cqc.to_string(), e))?;
        Ok(Some(CurrentHome {
            record,
            version: latest.event.entity_version,
            stream_sequence: latest.stream_sequence,
            event_type: latest.event.event_type.clone(),
            recorded_at: OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(unix_millis(latest.event.recorded_at.as_ref())) * 1_000_000,
            )
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        }))
    }

    /// Publishes `payload` as the home's next event after `current`, and
    /// waits for JetStream's acknowledgement (re-sending the same event when
    /// it did not confirm). `Conflict` means another event got in first.
    pub async fn publish(
        &self,
        cqc: &CqcLocationId,
        current: Option<&CurrentHome>,
        actor: Actor,
        payload: Payload,
    ) -> Result<(EventEnvelope, Published), PublishFailure> {
        let event = NewEvent {
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
        .seal(OffsetDateTime::now_utc());
        let subject = care_home_subject(cqc.as_str());
        let expected = current.map_or(0, |c| c.stream_sequence);
        let result = self
            .publisher
            .publish_confirmed(&subject, &event, Some(expected))
            .await;
        result.map(|published| (event, published))
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
            let current = self.current(cqc).await?;
            let record = match &current {
                None => CareHomeRecord::registered(registration.clone()),
                Some(current) if current.record.registration == *registration => continue,
                Some(current) => current.record.with_registration(registration.clone()),
            };
            let payload = Payload::CareHomeRegistered(CareHomeRegistered {
                home: Some(record.to_proto()),
            });
            match self
                .publish(cqc, current.as_ref(), actor(by), payload)
                .await
            {
                Ok(_) => published += 1,
                // Another replica registered it at the same moment.
                Err(PublishFailure::Conflict) => {}
                Err(err) => return Err(HomeLogError::Unavailable(err.to_string())),
            }
        }
        Ok(published)
    }
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
