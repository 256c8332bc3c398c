//! A discharge's events in JetStream: its current record and the next event.

use pf_access::Principal;
use pf_discharge_model::DischargeRecord;
use pf_event_log::streams::{DISCHARGES, discharge_subject};
use pf_event_log::{EventPublisher, PublishFailure, latest_event};
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
    jetstream: async_nats::jetstream::Context,
    publisher: EventPublisher,
}

/// The entity id of a discharge's events.
pub fn entity_id(discharge_id: &str) -> String {
    format!("discharge/{discharge_id}")
}

impl DischargeLog {
    /// Over `jetstream`.
    pub fn new(jetstream: async_nats::jetstream::Context) -> Self {
        Self {
            publisher: EventPublisher::new(jetstream.clone()),
            jetstream,
        }
    }

    /// The discharge's current record (`None`: no such discharge).
    pub async fn current(&self, discharge_id: &str) -> Result<Option<CurrentDischarge>, String> {
        let latest = latest_event(
            &self.jetstream,
            DISCHARGES.name,
            &discharge_subject(discharge_id),
        )
        .await
        .map_err(|e| e.to_string())?;
        let Some(latest) = latest else {
            return Ok(None);
        };
        let discharge = latest
            .event
            .payload
            .as_ref()
            .and_then(pf_discharge_model::record::discharge_in)
            .flatten();
        let record = DischargeRecord::from_proto(discharge).map_err(|e| e.to_string())?;
        Ok(Some(CurrentDischarge {
            record,
            version: latest.event.entity_version,
            stream_sequence: latest.stream_sequence,
        }))
    }

    /// Publishes the discharge's next event (the first when `current` is
    /// `None`); `Conflict` when another event got in first.
    pub async fn publish(
        &self,
        current: Option<&CurrentDischarge>,
        trust: &str,
        discharge_id: &str,
        by: &Principal,
        payload: Payload,
    ) -> Result<EventEnvelope, PublishFailure> {
        let event = NewEvent {
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
        .seal(OffsetDateTime::now_utc());
        self.publisher
            .publish_confirmed(
                &discharge_subject(discharge_id),
                &event,
                Some(current.map_or(0, |c| c.stream_sequence)),
            )
            .await
            .map(|_| event)
    }
}
