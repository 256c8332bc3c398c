//! Holding a bed for a patient without double booking, and what follows:
//! the home's answer, release, expiry and the patient's arrival.
//!
//! Each operation reads the home's current record from JetStream, decides,
//! and publishes the next event with the sequence it decided from. When
//! another change got in first, it reads and decides again: so when fifty
//! coordinators try to hold the last three beds of a category at once,
//! exactly three holds land and the others are told plainly that no bed is
//! free any more.

use std::time::Duration;

use pf_access::Principal;
use pf_care_home_model::{
    CareCategory, CareHomeRecord, CqcLocationId, Hold, HoldState, SexAccepted,
};
use pf_event_log::{ChangeError, ContentionLimit, Decision};
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{
    BedHeld, HoldAccepted, HoldDeclined, HoldExpired, HoldReleased, ResidentAdmitted,
};
use time::OffsetDateTime;

use crate::home_log::{CurrentHome, HomeLog, HomeLogError, actor};

/// Why a hold operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    /// No such home on the register.
    #[error("care home {0} is not on the register")]
    UnknownHome(String),
    /// The home is closed to admissions.
    #[error("{0} is closed to admissions")]
    Closed(String),
    /// The home does not take patients straight from hospital.
    #[error("{0} is not taking patients straight from hospital")]
    NotAccepting(String),
    /// The home does not offer the category.
    #[error("{home} does not offer {category} care")]
    NotOffered {
        /// The home's name.
        home: String,
        /// The category's words.
        category: &'static str,
    },
    /// The home's free beds of the category take only the other sex.
    #[error("{home}'s free {category} beds are not for a {sex} patient")]
    WrongSex {
        /// The home's name.
        home: String,
        /// The category's words.
        category: &'static str,
        /// `male` or `female`.
        sex: &'static str,
    },
    /// No bed of the category is free any more.
    #[error("no {category} bed is free at {home} any more: it was taken or held by someone else")]
    NoLongerAvailable {
        /// The home's name.
        home: String,
        /// The category's words.
        category: &'static str,
    },
    /// No such hold at the home.
    #[error("there is no such hold at {0}; it may have been released, declined or expired")]
    UnknownHold(String),
    /// The hold was already answered.
    #[error("the hold was already accepted")]
    AlreadyAccepted,
    /// The hold has not expired yet.
    #[error("the hold has not expired yet")]
    NotExpired,
    /// Others kept changing the home for too long.
    #[error("care home {0} kept changing; please try again")]
    Contended(String),
    /// The event log could not be read or did not confirm.
    #[error("the hold could not be confirmed as saved; please try again ({0})")]
    Unavailable(String),
}

impl From<HomeLogError> for HoldError {
    fn from(err: HomeLogError) -> Self {
        HoldError::Unavailable(err.to_string())
    }
}

/// A bed to hold for a patient: what the home needs to decide.
#[derive(Debug, Clone)]
pub struct HoldRequest {
    /// The patient's discharge (opaque id).
    pub discharge_id: String,
    /// The category of bed.
    pub category: CareCategory,
    /// The patient's sex (male or female).
    pub sex: SexAccepted,
    /// Pathway, 0 to 3.
    pub pathway: u32,
    /// Discharge Ready Date, `YYYY-MM-DD`.
    pub discharge_ready_date: String,
    /// Care needs in a few words.
    pub needs: String,
    /// How long the hold lasts unless the home accepts.
    pub lasts: time::Duration,
}

/// The hold `hold_id` of the home, or why there is none.
fn hold_of<'a>(current: &'a CurrentHome, hold_id: &str) -> Result<&'a Hold, HoldError> {
    current
        .record
        .hold(hold_id)
        .ok_or_else(|| HoldError::UnknownHold(current.record.registration.name.clone()))
}

/// How long one operation keeps deciding again under contention.
const CONTENTION_LIMIT: Duration = Duration::from_secs(20);

/// Reads the home, decides with `decide` (the next record and event, or a
/// refusal), publishes; decides again when another change got in first
/// (after a short random pause, so the contenders spread out), for at most
/// [`CONTENTION_LIMIT`].
async fn change<F>(
    log: &HomeLog,
    cqc: &CqcLocationId,
    by: &Principal,
    mut decide: F,
) -> Result<(CareHomeRecord, String), HoldError>
where
    F: FnMut(&CurrentHome) -> Result<(CareHomeRecord, Payload), HoldError>,
{
    let changed = log
        .change(cqc, ContentionLimit::For(CONTENTION_LIMIT), |current| {
            let current = current.ok_or_else(|| HoldError::UnknownHome(cqc.to_string()))?;
            let (record, payload) = decide(current)?;
            Ok(Decision::Publish {
                event: log.next_event(cqc, Some(current), actor(by), payload),
                outcome: record,
            })
        })
        .await
        .map_err(|err| match err {
            ChangeError::Refused(refused) => refused,
            ChangeError::Contended { .. } => HoldError::Contended(cqc.to_string()),
            ChangeError::Unavailable(cause) | ChangeError::Rejected(cause) => {
                HoldError::Unavailable(cause)
            }
        })?;
    match changed.stored {
        Some(stored) => Ok((changed.outcome, stored.event.event_id)),
        // Every hold decision publishes an event.
        None => Err(HoldError::Unavailable(
            "the change was not stored".to_owned(),
        )),
    }
}

/// Holds one free bed of `request.category` at home `cqc` for a patient,
/// held by `by` for organisation `organisation`, at `now`. The hold lasts
/// `request.lasts` unless the home accepts. Returns the hold and the event id.
pub async fn hold_bed(
    log: &HomeLog,
    cqc: &CqcLocationId,
    request: &HoldRequest,
    by: &Principal,
    organisation: &str,
    now: OffsetDateTime,
) -> Result<(Hold, String), HoldError> {
    let hold_id = uuid::Uuid::now_v7().to_string();
    let hold = Hold {
        hold_id: hold_id.clone(),
        discharge_id: request.discharge_id.clone(),
        category: request.category,
        sex: request.sex,
        held_by_organisation: organisation.to_owned(),
        held_by_name: by.name.clone(),
        held_at: now,
        expires_at: now + request.lasts,
        state: HoldState::Requested,
        pathway: request.pathway,
        discharge_ready_date: request.discharge_ready_date.clone(),
        needs: request.needs.clone(),
    };
    let (_, event_id) = change(log, cqc, by, |current| {
        let home = &current.record;
        // A retired home is off the register: no bed there can be held.
        if home.is_retired() {
            return Err(HoldError::UnknownHome(cqc.to_string()));
        }
        let name = home.registration.name.clone();
        let category = request.category.label();
        if home.closure.is_some() {
            return Err(HoldError::Closed(name));
        }
        if !home.accepting_hospital_discharges {
            return Err(HoldError::NotAccepting(name));
        }
        if !home.registration.categories.contains(&request.category) {
            return Err(HoldError::NotOffered {
                home: name,
                category,
            });
        }
        let vacancy = home.vacancy(request.category);
        if vacancy.sex != SexAccepted::Either && vacancy.sex != request.sex {
            return Err(HoldError::WrongSex {
                home: name,
                category,
                sex: request.sex.as_str(),
            });
        }
        if home.free_beds(request.category) == 0 {
            return Err(HoldError::NoLongerAvailable {
                home: name,
                category,
            });
        }
        let record = home.with_hold(hold.clone());
        let payload = Payload::BedHeld(BedHeld {
            home: Some(record.to_proto()),
            hold_id: hold_id.clone(),
        });
        Ok((record, payload))
    })
    .await?;
    Ok((hold, event_id))
}

/// The home accepts the patient of `hold_id`.
pub async fn accept(
    log: &HomeLog,
    cqc: &CqcLocationId,
    hold_id: &str,
    by: &Principal,
) -> Result<(CareHomeRecord, String), HoldError> {
    change(log, cqc, by, |current| {
        let hold = hold_of(current, hold_id)?;
        if hold.state == HoldState::Accepted {
            return Err(HoldError::AlreadyAccepted);
        }
        let record = current.record.with_hold_accepted(hold_id);
        let payload = Payload::HoldAccepted(HoldAccepted {
            home: Some(record.to_proto()),
            hold_id: hold_id.to_owned(),
        });
        Ok((record, payload))
    })
    .await
}

/// The home declines the patient of `hold_id`: the bed is free again.
pub async fn decline(
    log: &HomeLog,
    cqc: &CqcLocationId,
    hold_id: &str,
    reason: &str,
    by: &Principal,
) -> Result<(CareHomeRecord, String), HoldError> {
    free_bed(log, cqc, hold_id, by, |home| {
        Payload::HoldDeclined(HoldDeclined {
            home,
            hold_id: hold_id.to_owned(),
            reason: reason.to_owned(),
        })
    })
    .await
}

/// The discharge team releases the hold: the bed is free again.
pub async fn release(
    log: &HomeLog,
    cqc: &CqcLocationId,
    hold_id: &str,
    reason: &str,
    by: &Principal,
) -> Result<(CareHomeRecord, String), HoldError> {
    free_bed(log, cqc, hold_id, by, |home| {
        Payload::HoldReleased(HoldReleased {
            home,
            hold_id: hold_id.to_owned(),
            reason: reason.to_owned(),
        })
    })
    .await
}

/// Ends a hold so its bed is free again, recorded by the event `payload`
/// makes from the home's new record.
async fn free_bed(
    log: &HomeLog,
    cqc: &CqcLocationId,
    hold_id: &str,
    by: &Principal,
    payload: impl Fn(Option<pf_proto::v1::CareHome>) -> Payload,
) -> Result<(CareHomeRecord, String), HoldError> {
    change(log, cqc, by, |current| {
        hold_of(current, hold_id)?;
        let record = current.record.without_hold(hold_id);
        let event = payload(Some(record.to_proto()));
        Ok((record, event))
    })
    .await
}

/// Ends a hold that nobody accepted by its expiry time (`now` is past it).
pub async fn expire(
    log: &HomeLog,
    cqc: &CqcLocationId,
    hold_id: &str,
    now: OffsetDateTime,
    by: &Principal,
) -> Result<(CareHomeRecord, String), HoldError> {
    change(log, cqc, by, |current| {
        let hold = hold_of(current, hold_id)?;
        if hold.state == HoldState::Accepted {
            return Err(HoldError::AlreadyAccepted);
        }
        if hold.expires_at > now {
            return Err(HoldError::NotExpired);
        }
        let record = current.record.without_hold(hold_id);
        let payload = Payload::HoldExpired(HoldExpired {
            home: Some(record.to_proto()),
            hold_id: hold_id.to_owned(),
        });
        Ok((record, payload))
    })
    .await
}

/// The patient of the hold arrived: the hold ends and its bed is no longer vacant.
pub async fn admit(
    log: &HomeLog,
    cqc: &CqcLocationId,
    hold_id: &str,
    by: &Principal,
) -> Result<(CareHomeRecord, String), HoldError> {
    change(log, cqc, by, |current| {
        let hold = hold_of(current, hold_id)?;
        let discharge_id = hold.discharge_id.clone();
        let record = current.record.with_resident_admitted(hold_id);
        let payload = Payload::ResidentAdmitted(ResidentAdmitted {
            home: Some(record.to_proto()),
            hold_id: hold_id.to_owned(),
            discharge_id,
        });
        Ok((record, payload))
    })
    .await
}
