//! Reading a bed's record and changing it: the one place this service
//! touches the bed event log, through the shared bed decisions
//! ([`pf_bed_log::BedLog`], the same the HTTP API uses). A change is
//! published with the bed's expected last sequence, so a staff change that
//! got there first makes it decide again.

use pf_bed_log::{BedChange, BedLog, BedLogError, BedRecord};
use pf_hl7_adt::rules::BedView;
use pf_hospital_model::BedState;
use pf_hospital_model::catalogue::CatalogueBed;
use pf_proto::v1::Actor;
use time::OffsetDateTime;

/// Why a bed could not be read or changed.
pub type BedWriteError = BedLogError;

/// The name the feed's events carry as their source service.
pub const SERVICE: &str = "adt-feed";

/// A bed's view for the rules, with its record.
pub async fn current(
    log: &BedLog,
    bed: &CatalogueBed,
) -> Result<(BedView, BedRecord), BedWriteError> {
    let (record, _) = log.current(bed).await?;
    let view = BedView {
        state: if record.open { record.state } else { None },
        last_change: record.occurred_at,
    };
    Ok((view, record))
}

/// Moves `bed` to `state`; returns the stored event's id.
pub async fn change(
    log: &BedLog,
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
    let changed = log
        .change(bed, change, actor.clone(), Some(occurred_at), SERVICE)
        .await?;
    Ok(changed.event_id)
}
