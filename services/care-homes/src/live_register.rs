//! The register as the care-homes service reads it: the register file's
//! homes at start, then kept up to date from the homes' events in
//! JetStream, so a home a system administrator adds, edits or retires is
//! picked up by every replica without a restart.
//!
//! The follower reads the newest event of every home (an ordered consumer
//! delivering the last message per subject, then every new one): each
//! carries the home's whole record, so a registration replaces the home's
//! entry and a retirement takes it off.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt as _;
use pf_care_home_model::{CqcLocationId, Register, Registration};
use pf_event_log::streams::CARE_HOMES;
use pf_proto::v1::EventEnvelope;
use tokio_util::sync::CancellationToken;

/// The register, shared by the handlers and kept up to date.
#[derive(Debug, Clone, Default)]
pub struct LiveRegister {
    homes: Arc<RwLock<Register>>,
}

impl LiveRegister {
    /// Starting from `register` (the register file's homes).
    pub fn new(register: Register) -> Self {
        Self {
            homes: Arc::new(RwLock::new(register)),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Register> {
        // A writer never panics while holding the lock (insert and remove
        // of a map); a poisoned lock still holds a whole register.
        self.homes.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Register> {
        self.homes.write().unwrap_or_else(|p| p.into_inner())
    }

    /// One home's registration (`None`: not on the register, or retired).
    pub fn get(&self, cqc: &CqcLocationId) -> Option<Registration> {
        self.read().get(cqc).cloned()
    }

    /// Every home on the register.
    pub fn homes(&self) -> Vec<Registration> {
        self.read().homes().cloned().collect()
    }

    /// How many homes.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// A copy of the register as it is now.
    pub fn snapshot(&self) -> Register {
        self.read().clone()
    }

    /// Applies one care-home event: the home's registration replaces its
    /// entry, or it is taken off when the record says it was retired.
    /// Events that are not care-home events are ignored.
    pub fn apply(&self, event: &EventEnvelope) {
        let Ok(record) = pf_care_home_log::record_of(event) else {
            return;
        };
        let cqc = record.cqc().clone();
        if record.is_retired() {
            if self.write().remove(&cqc) {
                tracing::info!(%cqc, "care home retired from the register");
            }
        } else if self.write().insert(record.registration) {
            tracing::info!(%cqc, "care home registration picked up");
        }
    }

    /// Follows the homes' events until `shutdown`, following again (from
    /// the newest event of each home) when the stream is lost.
    pub async fn follow(&self, js: jetstream::Context, shutdown: CancellationToken) {
        let config = consumer::pull::OrderedConfig {
            filter_subject: "pf.care-homes.>".to_owned(),
            deliver_policy: consumer::DeliverPolicy::LastPerSubject,
            ..Default::default()
        };
        let mut warned = false;
        while !shutdown.is_cancelled() {
            let messages = match js.get_stream(CARE_HOMES.name).await {
                Ok(stream) => match stream.create_consumer(config.clone()).await {
                    Ok(consumer) => consumer.messages().await.ok(),
                    Err(err) => {
                        if !warned {
                            tracing::warn!(cause = %err, "cannot follow the register; retrying");
                            warned = true;
                        }
                        None
                    }
                },
                Err(err) => {
                    tracing::debug!(cause = %err, "care-home stream not there yet");
                    None
                }
            };
            let Some(mut messages) = messages else {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                }
            };
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    next = messages.next() => next,
                };
                match next {
                    Some(Ok(message)) => {
                        if let Ok(event) = EventEnvelope::decode_checked(&message.payload) {
                            self.apply(&event);
                        }
                    }
                    Some(Err(err)) => {
                        tracing::warn!(cause = %err, "lost the care-home stream; following again");
                        break;
                    }
                    None => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_care_home_model::{CareCategory, CareHomeRecord, LocalityCode, Retirement};
    use pf_proto::v1::event_envelope::Payload;
    use pf_proto::v1::{CareHomeRegistered, CareHomeRetired};

    fn registration(cqc: &str, beds: u32) -> Registration {
        Registration {
            cqc_location_id: CqcLocationId::parse(cqc).expect("id"),
            name: "Fell View (demo)".into(),
            address: String::new(),
            postcode: "LE2 1AB".into(),
            latitude: 52.6,
            longitude: -1.1,
            locality: LocalityCode::parse("leicester_city").expect("code"),
            registered_beds: beds,
            categories: vec![CareCategory::Nursing],
            phone: None,
        }
    }

    fn event(payload: Payload) -> EventEnvelope {
        EventEnvelope {
            payload: Some(payload),
            ..Default::default()
        }
    }

    #[test]
    fn a_registration_adds_or_replaces_a_home_and_a_retirement_takes_it_off() {
        let live = LiveRegister::new(Register::default());
        let cqc = CqcLocationId::parse("1-900000001").expect("id");
        let record = CareHomeRecord::registered(registration("1-900000001", 20));
        live.apply(&event(Payload::CareHomeRegistered(CareHomeRegistered {
            home: Some(record.to_proto()),
        })));
        assert_eq!(live.get(&cqc).map(|r| r.registered_beds), Some(20));
        let edited = record.with_registration(registration("1-900000001", 26));
        live.apply(&event(Payload::CareHomeRegistered(CareHomeRegistered {
            home: Some(edited.to_proto()),
        })));
        assert_eq!(live.get(&cqc).map(|r| r.registered_beds), Some(26));
        let retired = edited.with_retirement(Retirement {
            at: time::OffsetDateTime::UNIX_EPOCH,
            by_id: "admin".into(),
            by_name: "Admin".into(),
            reason: "Closed".into(),
        });
        live.apply(&event(Payload::CareHomeRetired(CareHomeRetired {
            home: Some(retired.to_proto()),
        })));
        assert!(live.get(&cqc).is_none());
        assert!(live.is_empty());
        // An event that is not a care home's changes nothing.
        live.apply(&EventEnvelope::default());
        assert_eq!(live.len(), 0);
    }
}
