//! An attendance's and an ambulance arrival's record, and whether a change
//! may be made to it: the decisions [`pf_event_log::EntityLog::change`]
//! asks for.
//!
//! An attendance arrives once, may have a decision to admit, and departs
//! once (admitted, discharged or transferred); nothing changes after its
//! departure. An ambulance arrival arrives once, hands over once, and
//! clears once after its handover. An ambulance service's escalation level
//! ([`decide_escalation`]) may change at any time, but not to a time before
//! the level it replaces. Repeating the last change with the
//! same time is accepted and stores nothing (a feed re-sending after a lost
//! answer); anything else out of order is refused with the reason.

use pf_proto::envelope::{timestamp, unix_millis};
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{
    AmbulanceArrival, AmbulanceArrived, AmbulanceCleared, AmbulanceEscalation,
    AmbulanceEscalationSet, AmbulanceHandedOver, EdArrived, EdAttendance, EdDecidedToAdmit,
    EdDeparted, EdDeparture, EscalationScale, EventEnvelope,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How a patient left the ED, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Admitted to a ward of the same hospital.
    Admitted,
    /// Discharged (not admitted).
    Discharged,
    /// Transferred to another provider.
    Transferred,
}

impl Outcome {
    /// Reads the API's word.
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "admitted" => Some(Outcome::Admitted),
            "discharged" => Some(Outcome::Discharged),
            "transferred" => Some(Outcome::Transferred),
            _ => None,
        }
    }

    fn to_proto(self) -> EdDeparture {
        match self {
            Outcome::Admitted => EdDeparture::Admitted,
            Outcome::Discharged => EdDeparture::Discharged,
            Outcome::Transferred => EdDeparture::Transferred,
        }
    }
}

/// A change to an ED attendance, at the time it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdChange {
    /// The patient arrived in the department.
    Arrive,
    /// A decision to admit was made.
    DecideToAdmit,
    /// The patient left the department.
    Depart(Outcome),
}

/// A change to an ambulance arrival, at the time it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmbulanceChange {
    /// The vehicle arrived at the hospital.
    Arrive,
    /// The patient was handed over to the hospital.
    HandOver,
    /// The vehicle was clear to leave.
    Clear,
}

/// Why a change does not fit the record as it is (a 409), in a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotNow {
    /// The change needs an earlier one first.
    #[error("{0}")]
    OutOfOrder(String),
    /// The change was already made, differently.
    #[error("{0}")]
    AlreadyDone(String),
    /// The time is before the record's earlier step.
    #[error("{0}")]
    BeforeEarlierStep(String),
}

fn at_text(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

fn ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn millis(ts: Option<&prost_types::Timestamp>) -> Option<i64> {
    ts.map(|t| unix_millis(Some(t)))
}

/// The entity id of an attendance.
pub fn ed_entity(site: &str, attendance: &str) -> String {
    format!("ed/{site}/{attendance}")
}

/// The entity id of an ambulance arrival.
pub fn ambulance_entity(site: &str, arrival: &str) -> String {
    format!("ambulance/{site}/{arrival}")
}

/// The entity id of an ambulance service's escalation level.
pub fn escalation_entity(service: &str) -> String {
    format!("ambulance-service/{service}")
}

/// How an ambulance service states its level, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Its Resource Escalation Action Plan level, 1 to 6.
    Reap,
    /// An OPEL-style level, 1 to 4.
    Opel,
}

impl Scale {
    /// Reads the API's word.
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "reap" => Some(Scale::Reap),
            "opel" => Some(Scale::Opel),
            _ => None,
        }
    }

    /// The highest level of the scale.
    pub fn highest(self) -> u32 {
        match self {
            Scale::Reap => 6,
            Scale::Opel => 4,
        }
    }

    fn to_proto(self) -> EscalationScale {
        match self {
            Scale::Reap => EscalationScale::Reap,
            Scale::Opel => EscalationScale::Opel,
        }
    }
}

/// The ambulance service's escalation level in its newest event.
pub fn escalation_record(latest: Option<&EventEnvelope>) -> Option<AmbulanceEscalation> {
    match latest?.payload.as_ref()? {
        Payload::AmbulanceEscalationSet(p) => p.escalation.clone(),
        _ => None,
    }
}

/// Decides setting `service`'s escalation level to `level` on `scale` at
/// `at` (the level checked against the scale by the caller): the same
/// level on the same scale is a repeat; a time before the current level's
/// is refused.
pub fn decide_escalation(
    service: &str,
    current: Option<AmbulanceEscalation>,
    scale: Scale,
    level: u32,
    at: OffsetDateTime,
) -> Result<Next, NotNow> {
    let at_ms = ms(at);
    if let Some(current) = &current {
        let since = millis(current.set_at.as_ref()).unwrap_or(0);
        if current.scale == scale.to_proto() as i32 && current.level == level {
            return Ok(Next::Repeat);
        }
        if at_ms < since {
            return Err(NotNow::BeforeEarlierStep(format!(
                "the time {} is before {service}'s current level was set, at {}",
                at_text(at_ms),
                at_text(since)
            )));
        }
    }
    Ok(Next::Store(Payload::AmbulanceEscalationSet(
        AmbulanceEscalationSet {
            escalation: Some(AmbulanceEscalation {
                service: service.to_owned(),
                scale: scale.to_proto() as i32,
                level,
                set_at: Some(timestamp(at)),
            }),
        },
    )))
}

/// The attendance's record in its newest event (`None`: no event yet, or
/// an event of another kind).
pub fn ed_record(latest: Option<&EventEnvelope>) -> Option<EdAttendance> {
    match latest?.payload.as_ref()? {
        Payload::EdArrived(p) => p.attendance.clone(),
        Payload::EdDecidedToAdmit(p) => p.attendance.clone(),
        Payload::EdDeparted(p) => p.attendance.clone(),
        _ => None,
    }
}

/// The ambulance arrival's record in its newest event.
pub fn ambulance_record(latest: Option<&EventEnvelope>) -> Option<AmbulanceArrival> {
    match latest?.payload.as_ref()? {
        Payload::AmbulanceArrived(p) => p.arrival.clone(),
        Payload::AmbulanceHandedOver(p) => p.arrival.clone(),
        Payload::AmbulanceCleared(p) => p.arrival.clone(),
        _ => None,
    }
}

/// What a change to a record comes to.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "a decision lives for one attempt; boxing the payload would only add an allocation"
)]
pub enum Next {
    /// Store this payload as the next event.
    Store(Payload),
    /// The same change is already in place: store nothing.
    Repeat,
}

/// Decides `change` at `at` to the attendance `site`/`attendance` whose
/// record is `current`.
pub fn decide_ed(
    site: &str,
    attendance: &str,
    current: Option<EdAttendance>,
    change: EdChange,
    at: OffsetDateTime,
) -> Result<Next, NotNow> {
    let at_ms = ms(at);
    let who = format!("attendance {attendance} at {site}");
    let Some(mut record) = current else {
        return match change {
            EdChange::Arrive => Ok(Next::Store(Payload::EdArrived(EdArrived {
                attendance: Some(EdAttendance {
                    site: site.to_owned(),
                    attendance: attendance.to_owned(),
                    arrived_at: Some(timestamp(at)),
                    ..Default::default()
                }),
            }))),
            _ => Err(NotNow::OutOfOrder(format!(
                "{who} has no arrival recorded; send its arrival first"
            ))),
        };
    };
    let arrived = millis(record.arrived_at.as_ref()).unwrap_or(0);
    let departed = millis(record.departed_at.as_ref());
    match change {
        EdChange::Arrive if arrived == at_ms => Ok(Next::Repeat),
        EdChange::Arrive => Err(NotNow::AlreadyDone(format!(
            "{who} already arrived at {}; an attendance arrives once (a new visit needs a new attendance id)",
            at_text(arrived)
        ))),
        _ if at_ms < arrived => Err(NotNow::BeforeEarlierStep(format!(
            "the time {} is before the arrival of {who} at {}",
            at_text(at_ms),
            at_text(arrived)
        ))),
        EdChange::DecideToAdmit => {
            if let Some(decided) = millis(record.decided_to_admit_at.as_ref()) {
                return if decided == at_ms {
                    Ok(Next::Repeat)
                } else {
                    Err(NotNow::AlreadyDone(format!(
                        "{who} already has a decision to admit, at {}",
                        at_text(decided)
                    )))
                };
            }
            if let Some(left) = departed {
                return Err(NotNow::AlreadyDone(format!(
                    "{who} already left the department at {}",
                    at_text(left)
                )));
            }
            record.decided_to_admit_at = Some(timestamp(at));
            Ok(Next::Store(Payload::EdDecidedToAdmit(EdDecidedToAdmit {
                attendance: Some(record),
            })))
        }
        EdChange::Depart(outcome) => {
            if let Some(left) = departed {
                return if left == at_ms && record.departure() == outcome.to_proto() {
                    Ok(Next::Repeat)
                } else {
                    Err(NotNow::AlreadyDone(format!(
                        "{who} already left the department at {}",
                        at_text(left)
                    )))
                };
            }
            if let Some(decided) = millis(record.decided_to_admit_at.as_ref())
                && at_ms < decided
            {
                return Err(NotNow::BeforeEarlierStep(format!(
                    "the departure time {} is before the decision to admit of {who} at {}",
                    at_text(at_ms),
                    at_text(decided)
                )));
            }
            record.departed_at = Some(timestamp(at));
            record.set_departure(outcome.to_proto());
            Ok(Next::Store(Payload::EdDeparted(EdDeparted {
                attendance: Some(record),
            })))
        }
    }
}

/// Decides `change` at `at` to the ambulance arrival `site`/`arrival`
/// whose record is `current`.
pub fn decide_ambulance(
    site: &str,
    arrival: &str,
    current: Option<AmbulanceArrival>,
    change: AmbulanceChange,
    at: OffsetDateTime,
) -> Result<Next, NotNow> {
    let at_ms = ms(at);
    let who = format!("ambulance arrival {arrival} at {site}");
    let Some(mut record) = current else {
        return match change {
            AmbulanceChange::Arrive => {
                Ok(Next::Store(Payload::AmbulanceArrived(AmbulanceArrived {
                    arrival: Some(AmbulanceArrival {
                        site: site.to_owned(),
                        arrival: arrival.to_owned(),
                        arrived_at: Some(timestamp(at)),
                        ..Default::default()
                    }),
                })))
            }
            _ => Err(NotNow::OutOfOrder(format!(
                "{who} has no arrival at hospital recorded; send its arrival first"
            ))),
        };
    };
    let arrived = millis(record.arrived_at.as_ref()).unwrap_or(0);
    let handed = millis(record.handed_over_at.as_ref());
    let cleared = millis(record.cleared_at.as_ref());
    match change {
        AmbulanceChange::Arrive if arrived == at_ms => Ok(Next::Repeat),
        AmbulanceChange::Arrive => Err(NotNow::AlreadyDone(format!(
            "{who} already arrived at {}; a new arrival needs a new id",
            at_text(arrived)
        ))),
        _ if at_ms < arrived => Err(NotNow::BeforeEarlierStep(format!(
            "the time {} is before the arrival of {who} at {}",
            at_text(at_ms),
            at_text(arrived)
        ))),
        AmbulanceChange::HandOver => match handed {
            Some(done) if done == at_ms => Ok(Next::Repeat),
            Some(done) => Err(NotNow::AlreadyDone(format!(
                "{who} was already handed over at {}",
                at_text(done)
            ))),
            None => {
                record.handed_over_at = Some(timestamp(at));
                Ok(Next::Store(Payload::AmbulanceHandedOver(
                    AmbulanceHandedOver {
                        arrival: Some(record),
                    },
                )))
            }
        },
        AmbulanceChange::Clear => match (handed, cleared) {
            (_, Some(done)) if done == at_ms => Ok(Next::Repeat),
            (_, Some(done)) => Err(NotNow::AlreadyDone(format!(
                "{who} was already clear at {}",
                at_text(done)
            ))),
            (None, None) => Err(NotNow::OutOfOrder(format!(
                "{who} has not been handed over yet; send the handover first"
            ))),
            (Some(done), None) if at_ms < done => Err(NotNow::BeforeEarlierStep(format!(
                "the time {} is before the handover of {who} at {}",
                at_text(at_ms),
                at_text(done)
            ))),
            (Some(_), None) => {
                record.cleared_at = Some(timestamp(at));
                Ok(Next::Store(Payload::AmbulanceCleared(AmbulanceCleared {
                    arrival: Some(record),
                })))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: OffsetDateTime = time::macros::datetime!(2026-12-07 09:00 UTC);

    fn stored(next: Next) -> EdAttendance {
        match next {
            Next::Store(payload) => ed_record(Some(&EventEnvelope {
                payload: Some(payload),
                ..Default::default()
            }))
            .expect("an ED record"),
            Next::Repeat => panic!("expected a change"),
        }
    }

    #[test]
    fn an_attendance_arrives_is_admitted_and_leaves_once() {
        let later = T0 + time::Duration::hours(3);
        let arrived = stored(decide_ed("RWEAA", "a1", None, EdChange::Arrive, T0).unwrap());
        assert_eq!(
            decide_ed("RWEAA", "a1", Some(arrived.clone()), EdChange::Arrive, T0),
            Ok(Next::Repeat)
        );
        let decided = stored(
            decide_ed("RWEAA", "a1", Some(arrived), EdChange::DecideToAdmit, later).unwrap(),
        );
        let left = stored(
            decide_ed(
                "RWEAA",
                "a1",
                Some(decided.clone()),
                EdChange::Depart(Outcome::Admitted),
                later + time::Duration::hours(2),
            )
            .unwrap(),
        );
        assert_eq!(left.departure(), EdDeparture::Admitted);
        assert!(matches!(
            decide_ed(
                "RWEAA",
                "a1",
                Some(left),
                EdChange::DecideToAdmit,
                later + time::Duration::hours(1)
            ),
            Err(NotNow::AlreadyDone(_))
        ));
        assert!(matches!(
            decide_ed(
                "RWEAA",
                "a1",
                Some(decided),
                EdChange::Depart(Outcome::Discharged),
                T0
            ),
            Err(NotNow::BeforeEarlierStep(_))
        ));
        assert!(matches!(
            decide_ed(
                "RWEAA",
                "a2",
                None,
                EdChange::Depart(Outcome::Discharged),
                T0
            ),
            Err(NotNow::OutOfOrder(_))
        ));
    }

    #[test]
    fn an_ambulance_clears_only_after_its_handover() {
        let Next::Store(Payload::AmbulanceArrived(AmbulanceArrived { arrival })) =
            decide_ambulance("RWEAA", "v1", None, AmbulanceChange::Arrive, T0).unwrap()
        else {
            panic!("an arrival")
        };
        assert!(matches!(
            decide_ambulance("RWEAA", "v1", arrival.clone(), AmbulanceChange::Clear, T0),
            Err(NotNow::OutOfOrder(_))
        ));
        assert!(matches!(
            decide_ambulance(
                "RWEAA",
                "v1",
                arrival,
                AmbulanceChange::HandOver,
                T0 + time::Duration::minutes(40)
            ),
            Ok(Next::Store(Payload::AmbulanceHandedOver(_)))
        ));
    }
}
