//! Saving a home's figures: the one way both the form and the API change a
//! home, so that they check, de-duplicate and record alike.

use std::time::Duration;

use pf_access::{Action, Principal};
use pf_care_home_model::{
    CapacityTrackerInput, CareHomeRecord, Confirmation, CqcLocationId, ReportInput, ReportProblems,
    VacancyReport,
};
use pf_event_log::{ChangeError, ContentionLimit, Decision};
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{ClosedToAdmissions, ReopenedToAdmissions, VacanciesReported};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::idempotency::{Answer, Claim, IdempotencyKey, IdempotencyStore};
use pf_care_home_log::{HomeLog, HomeLogError, actor};

/// What a home tells us.
#[derive(Debug, Clone)]
pub enum Update {
    /// New figures (a whole report) in the older shape (vacant and
    /// unavailable by category; no capacity).
    Report(ReportInput),
    /// New figures in the national Capacity Tracker's shape.
    CapacityTracker(CapacityTrackerInput),
    /// "Nothing has changed": the figures stand, confirmed now.
    Unchanged,
}

impl Update {
    /// The audit trail's action.
    pub fn action(&self) -> &'static str {
        match self {
            Update::Report(_) | Update::CapacityTracker(_) => "care_home.report_vacancies",
            Update::Unchanged => "care_home.confirm_unchanged",
        }
    }
}

/// An update that was durably accepted.
#[derive(Debug, Clone)]
pub struct Saved {
    /// The answer (also kept under the idempotency key).
    pub answer: Answer,
    /// This request was a resend of one already saved: nothing new was stored.
    pub replayed: bool,
    /// The home's record after the update.
    pub record: Option<CareHomeRecord>,
}

/// Why an update was not saved.
#[derive(Debug, thiserror::Error)]
pub enum NotSaved {
    /// The principal may not change this home.
    #[error("{0}")]
    Forbidden(String),
    /// No such home on the register.
    #[error("care home {0} is not on the register")]
    UnknownHome(String),
    /// The home was retired from the register: it can no longer report.
    #[error("{0} was retired from the register, so it can no longer report its vacancies")]
    Retired(String),
    /// The figures break a rule.
    #[error("{0}")]
    Problems(ReportProblems),
    /// The idempotency key was used before for a different update.
    #[error(
        "this idempotency key was already used for a different update of this home; send each new update with a new key"
    )]
    KeyReused,
    /// The same update is being saved by another request right now.
    #[error("this update is already being saved; wait a moment and look again")]
    Busy,
    /// Others kept changing the home at the same moment.
    #[error("care home {0} was changed by someone else at the same moment; please try again")]
    Contended(String),
    /// Too many updates from one identity.
    #[error("too many updates; try again in {0} seconds")]
    TooMany(u64),
    /// The event log or the idempotency store could not confirm the update.
    #[error(
        "the update could not be confirmed as saved, so it may not have been recorded; please try again ({0})"
    )]
    Unavailable(String),
}

impl From<HomeLogError> for NotSaved {
    fn from(err: HomeLogError) -> Self {
        NotSaved::Unavailable(err.to_string())
    }
}

/// How many times an update is made again when another event of the same
/// home got into the stream first.
const CONFLICT_ATTEMPTS: usize = 5;
/// How long a resend waits for the first request with its key to finish.
const BUSY_WAIT: Duration = Duration::from_secs(5);

/// Saves `update` of home `cqc` for `principal` under idempotency `key`.
pub async fn save(
    log: &HomeLog,
    keys: &IdempotencyStore,
    principal: &Principal,
    cqc: &CqcLocationId,
    key: &IdempotencyKey,
    update: &Update,
) -> Result<Saved, NotSaved> {
    principal
        .permits(&Action::ChangeCareHome { cqc: cqc.clone() })
        .require()
        .map_err(|refused| NotSaved::Forbidden(refused.reason))?;
    let current = log
        .current(cqc)
        .await?
        .ok_or_else(|| NotSaved::UnknownHome(cqc.to_string()))?;
    if current.record.is_retired() {
        return Err(NotSaved::Retired(current.record.registration.name.clone()));
    }
    let report = match update {
        Update::Report(input) => Some(
            VacancyReport::parse(input, &current.record.registration)
                .map_err(NotSaved::Problems)?,
        ),
        Update::CapacityTracker(input) => Some(
            VacancyReport::parse_capacity_tracker(input, &current.record.registration)
                .map_err(NotSaved::Problems)?,
        ),
        Update::Unchanged => None,
    };
    let fingerprint = fingerprint(report.as_ref());
    let home = cqc.as_str();
    let mut waited = Duration::ZERO;
    loop {
        match keys
            .claim(home, key)
            .await
            .map_err(|e| NotSaved::Unavailable(e.to_string()))?
        {
            Claim::New => break,
            Claim::Answered(answer) if answer.fingerprint == fingerprint => {
                return Ok(Saved {
                    answer,
                    replayed: true,
                    record: None,
                });
            }
            Claim::Answered(_) => return Err(NotSaved::KeyReused),
            Claim::Busy if waited < BUSY_WAIT => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                waited += Duration::from_millis(100);
            }
            Claim::Busy => return Err(NotSaved::Busy),
        }
    }
    let result = publish(log, principal, cqc, report.as_ref(), key).await;
    match result {
        Ok((answer_without_fingerprint, record)) => {
            let answer = Answer {
                fingerprint,
                ..answer_without_fingerprint
            };
            if let Err(err) = keys.answer(home, key, &answer).await {
                // Saved all the same; a resend within the claim's life is
                // told "busy", after it would be saved a second time with the
                // same figures (harmless to the state, visible in the trail).
                tracing::warn!(cause = %err, "an accepted update's answer could not be kept");
            }
            Ok(Saved {
                answer,
                replayed: false,
                record: Some(record),
            })
        }
        Err(err) => {
            if let Err(release) = keys.release(home, key).await {
                tracing::warn!(cause = %release, "an idempotency claim could not be freed; it expires by itself");
            }
            Err(err)
        }
    }
}

/// Publishes the update as the home's next event, decided from its newest
/// record and decided again when another change got in first.
async fn publish(
    log: &HomeLog,
    principal: &Principal,
    cqc: &CqcLocationId,
    report: Option<&VacancyReport>,
    key: &IdempotencyKey,
) -> Result<(Answer, CareHomeRecord), NotSaved> {
    let changed = log
        .change(
            cqc,
            ContentionLimit::Attempts(CONFLICT_ATTEMPTS),
            |current| {
                let current = current.ok_or_else(|| NotSaved::UnknownHome(cqc.to_string()))?;
                // Retired since the update was checked: refused all the same.
                if current.record.is_retired() {
                    return Err(NotSaved::Retired(current.record.registration.name.clone()));
                }
                let confirmation = Confirmation {
                    at: OffsetDateTime::now_utc(),
                    by_id: principal.id.clone(),
                    by_name: principal.name.clone(),
                };
                let record = match report {
                    Some(report) => current.record.with_report(report, confirmation),
                    None => current.record.confirmed_unchanged(confirmation),
                };
                let payload = payload(&current.record, &record, report.is_none(), key);
                Ok(Decision::Publish {
                    event: log.next_event(cqc, Some(current), actor(principal), payload),
                    outcome: record,
                })
            },
        )
        .await
        .map_err(|err| match err {
            ChangeError::Refused(refused) => refused,
            ChangeError::Contended { .. } => NotSaved::Contended(cqc.to_string()),
            ChangeError::Unavailable(cause) | ChangeError::Rejected(cause) => {
                NotSaved::Unavailable(cause)
            }
        })?;
    let Some(stored) = changed.stored else {
        // Every update publishes an event (an unchanged one confirms the
        // figures).
        return Err(NotSaved::Unavailable(
            "the update was not stored".to_owned(),
        ));
    };
    let (event, published) = (stored.event, stored.published);
    tracing::info!(
        event_id = %event.event_id,
        event_type = %event.event_type,
        version = event.entity_version,
        sequence = published.stream_sequence,
        "care-home update stored"
    );
    let recorded_at = event
        .recorded_at
        .as_ref()
        .and_then(|t| {
            OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos),
            )
            .ok()
        })
        .unwrap_or_else(OffsetDateTime::now_utc);
    Ok((
        Answer {
            fingerprint: String::new(),
            event_id: event.event_id,
            event_type: event.event_type,
            entity_version: event.entity_version,
            recorded_at: recorded_at.format(&Rfc3339).unwrap_or_default(),
        },
        changed.outcome,
    ))
}

/// The event for a change from `before` to `after`: closing and reopening
/// have events of their own, anything else is a vacancy report.
fn payload(
    before: &CareHomeRecord,
    after: &CareHomeRecord,
    unchanged: bool,
    key: &IdempotencyKey,
) -> Payload {
    let home = Some(after.to_proto());
    let idempotency_key = key.as_str().to_owned();
    match (before.closure.is_some(), after.closure.is_some()) {
        (false, true) => Payload::ClosedToAdmissions(ClosedToAdmissions {
            home,
            idempotency_key,
        }),
        (true, false) => Payload::ReopenedToAdmissions(ReopenedToAdmissions {
            home,
            idempotency_key,
        }),
        _ => Payload::VacanciesReported(VacanciesReported {
            home,
            confirmed_unchanged: unchanged,
            idempotency_key,
        }),
    }
}

/// Whether a stored answer was a "nothing has changed" confirmation (its
/// fingerprint is that of no new figures).
pub fn confirmed_unchanged(answer: &Answer) -> bool {
    answer.fingerprint == fingerprint(None)
}

/// A digest of what an update says (the figures, or "unchanged").
fn fingerprint(report: Option<&VacancyReport>) -> String {
    let text = match report {
        Some(report) => serde_json::to_string(report).unwrap_or_default(),
        None => "unchanged".to_owned(),
    };
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
