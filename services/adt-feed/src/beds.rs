//! Reading a bed's record and publishing a bed change: the one place this
//! service touches the bed event log.
//!
//! The bed decisions are the HTTP API's own (`pf_hospital_beds::bed_record`),
//! published with the bed's expected last sequence so that a staff change
//! that got there first makes this one decide again. When the shared bed
//! library (`pf-bed-log`, `BedLog::change`/`BedLog::current`) lands, these two
//! functions become calls to it and nothing else here changes.

use pf_event_log::streams::{BEDS, bed_subject};
use pf_event_log::{EventPublisher, PublishFailure, latest_event};
use pf_hl7_adt::rules::BedView;
use pf_hospital_beds::bed_record::{BedChange, BedChangeError, BedRecord, decide};
use pf_hospital_model::BedState;
use pf_hospital_model::catalogue::CatalogueBed;
use pf_proto::NewEvent;
use pf_proto::v1::{Actor, Source};
use time::OffsetDateTime;

/// Why a bed could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum BedWriteError {
    /// The event log could not be used; the message may be sent again.
    #[error("the bed event log is unavailable: {0}")]
    Unavailable(String),
    /// The shared bed rules refuse the change (the bed moved meanwhile).
    #[error(transparent)]
    Refused(#[from] BedChangeError),
    /// Other changes to the bed kept getting there first.
    #[error("bed {0} is being changed by others; try again")]
    Contended(String),
}

/// A bed's view for the rules, with its record and stream sequence.
pub async fn current(
    jetstream: &async_nats::jetstream::Context,
    bed: &CatalogueBed,
) -> Result<(BedView, BedRecord, u64), BedWriteError> {
    let latest = latest_event(jetstream, BEDS.name, &subject(bed))
        .await
        .map_err(|e| BedWriteError::Unavailable(e.to_string()))?;
    Ok(match latest {
        Some(latest) => {
            let record = BedRecord::from_event(&latest.event);
            let millis = pf_proto::envelope::unix_millis(latest.event.occurred_at.as_ref());
            let last_change =
                OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok();
            let view = BedView {
                state: if record.open { record.state } else { None },
                last_change,
            };
            (view, record, latest.stream_sequence)
        }
        None => (
            BedView {
                state: None,
                last_change: None,
            },
            BedRecord::NEVER_OPENED,
            0,
        ),
    })
}

fn subject(bed: &CatalogueBed) -> String {
    bed_subject(
        bed.address.site.as_str(),
        bed.address.ward.as_str(),
        bed.address.bed.as_str(),
    )
}

const CONFLICT_ATTEMPTS: usize = 5;

/// Moves `bed` to `state`; returns the stored event's id.
pub async fn change(
    jetstream: &async_nats::jetstream::Context,
    publisher: &EventPublisher,
    bed: &CatalogueBed,
    state: BedState,
    reason: &str,
    actor: &Actor,
    occurred_at: OffsetDateTime,
) -> Result<String, BedWriteError> {
    let change = BedChange::SetState {
        state,
        reason: reason.to_owned(),
    };
    for _ in 0..CONFLICT_ATTEMPTS {
        let (_, record, last_sequence) = current(jetstream, bed).await?;
        let payload = decide(bed, record, &change)?;
        let event = NewEvent {
            source: Source {
                organisation: bed.address.site.to_string(),
                service: "adt-feed".into(),
            },
            entity_id: bed.address.entity_id(),
            entity_version: record.version + 1,
            occurred_at: Some(occurred_at),
            actor: actor.clone(),
            payload,
        }
        .seal(OffsetDateTime::now_utc());
        match publisher
            .publish_confirmed(&subject(bed), &event, Some(last_sequence))
            .await
        {
            Ok(_) => return Ok(event.event_id),
            Err(PublishFailure::Conflict) => continue,
            Err(other) => return Err(BedWriteError::Unavailable(other.to_string())),
        }
    }
    Err(BedWriteError::Contended(bed.address.to_string()))
}
