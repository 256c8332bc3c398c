//! Turning an ED attendance, ambulance arrival or ambulance service's
//! escalation event into a live-state update.

use pf_live_state::urgent_care::{AmbulanceEscalationUpdate, Departure, EscalationSummary};
use pf_live_state::{AmbulanceUpdate, EdAttendanceUpdate, Update};
use pf_proto::envelope::unix_millis;
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{
    AmbulanceArrival, AmbulanceEscalation, EdAttendance, EdDeparture, EscalationScale,
    EventEnvelope,
};

/// Why an event cannot be applied. The text is the dead-letter reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unusable {
    /// The envelope itself is broken.
    #[error(transparent)]
    Envelope(#[from] pf_proto::EnvelopeError),
    /// An event of another kind on the urgent-care stream.
    #[error("a {0} event does not belong on an urgent-care subject")]
    NotAnUrgentCareEvent(&'static str),
    /// The record it carries is unusable.
    #[error("bad urgent-care record: {0}")]
    BadRecord(&'static str),
    /// The entity id or subject does not name the record in the payload.
    #[error("entity `{entity_id}` or subject `{subject}` does not match {named}")]
    Mismatch {
        /// From the envelope.
        entity_id: String,
        /// Where it was published.
        subject: String,
        /// From the payload.
        named: String,
    },
}

impl Unusable {
    /// A short label for the dead-letter metric.
    pub fn label(&self) -> &'static str {
        match self {
            Unusable::Envelope(_) => "envelope",
            Unusable::NotAnUrgentCareEvent(_) | Unusable::Mismatch { .. } => "mismatch",
            Unusable::BadRecord(_) => "bad_value",
        }
    }
}

/// Decodes and checks an event published on `subject` of the urgent-care
/// stream.
pub fn decode(subject: &str, bytes: &[u8]) -> Result<Update, Unusable> {
    let event = EventEnvelope::decode_checked(bytes)?;
    let occurred_at_ms = unix_millis(event.occurred_at.as_ref());
    let missing = || Unusable::Envelope(pf_proto::EnvelopeError::Missing("payload"));
    match event.payload.as_ref().ok_or_else(missing)? {
        Payload::EdArrived(p) => ed(&event, subject, p.attendance.as_ref(), occurred_at_ms),
        Payload::EdDecidedToAdmit(p) => ed(&event, subject, p.attendance.as_ref(), occurred_at_ms),
        Payload::EdDeparted(p) => ed(&event, subject, p.attendance.as_ref(), occurred_at_ms),
        Payload::AmbulanceArrived(p) => {
            ambulance(&event, subject, p.arrival.as_ref(), occurred_at_ms)
        }
        Payload::AmbulanceHandedOver(p) => {
            ambulance(&event, subject, p.arrival.as_ref(), occurred_at_ms)
        }
        Payload::AmbulanceCleared(p) => {
            ambulance(&event, subject, p.arrival.as_ref(), occurred_at_ms)
        }
        Payload::AmbulanceEscalationSet(p) => {
            escalation(&event, subject, p.escalation.as_ref(), occurred_at_ms)
        }
        other => Err(Unusable::NotAnUrgentCareEvent(
            pf_proto::envelope::event_type(other),
        )),
    }
}

fn ed(
    event: &EventEnvelope,
    subject: &str,
    record: Option<&EdAttendance>,
    occurred_at_ms: i64,
) -> Result<Update, Unusable> {
    let record = record.ok_or(Unusable::BadRecord("the attendance is missing"))?;
    if record.site.is_empty()
        || record.attendance.is_empty()
        || event.entity_id != format!("ed/{}/{}", record.site, record.attendance)
        || subject != pf_event_log::streams::ed_subject(&record.site, &record.attendance)
    {
        return Err(Unusable::Mismatch {
            entity_id: event.entity_id.clone(),
            subject: subject.to_owned(),
            named: format!("attendance {} at {}", record.attendance, record.site),
        });
    }
    let arrived_at_ms = record
        .arrived_at
        .as_ref()
        .map(|t| unix_millis(Some(t)))
        .ok_or(Unusable::BadRecord("the attendance has no arrival time"))?;
    let departed = match (record.departed_at.as_ref(), record.departure()) {
        (None, EdDeparture::Unspecified) => None,
        (Some(at), how) => Some((
            unix_millis(Some(at)),
            match how {
                EdDeparture::Admitted => Departure::Admitted,
                EdDeparture::Discharged => Departure::Discharged,
                EdDeparture::Transferred => Departure::Transferred,
                EdDeparture::Unspecified => {
                    return Err(Unusable::BadRecord("a departure without its outcome"));
                }
            },
        )),
        (None, _) => return Err(Unusable::BadRecord("a departure outcome without its time")),
    };
    Ok(Update::Ed(Box::new(EdAttendanceUpdate {
        event_id: event.event_id.clone(),
        event_type: event.event_type.clone(),
        entity_version: event.entity_version,
        site: record.site.clone(),
        attendance: record.attendance.clone(),
        arrived_at_ms,
        decided_to_admit_at_ms: record
            .decided_to_admit_at
            .as_ref()
            .map(|t| unix_millis(Some(t))),
        departed,
        occurred_at_ms,
    })))
}

fn ambulance(
    event: &EventEnvelope,
    subject: &str,
    record: Option<&AmbulanceArrival>,
    occurred_at_ms: i64,
) -> Result<Update, Unusable> {
    let record = record.ok_or(Unusable::BadRecord("the ambulance arrival is missing"))?;
    if record.site.is_empty()
        || record.arrival.is_empty()
        || event.entity_id != format!("ambulance/{}/{}", record.site, record.arrival)
        || subject != pf_event_log::streams::ambulance_subject(&record.site, &record.arrival)
    {
        return Err(Unusable::Mismatch {
            entity_id: event.entity_id.clone(),
            subject: subject.to_owned(),
            named: format!("ambulance arrival {} at {}", record.arrival, record.site),
        });
    }
    let arrived_at_ms = record
        .arrived_at
        .as_ref()
        .map(|t| unix_millis(Some(t)))
        .ok_or(Unusable::BadRecord(
            "the ambulance arrival has no arrival time",
        ))?;
    Ok(Update::Ambulance(Box::new(AmbulanceUpdate {
        event_id: event.event_id.clone(),
        event_type: event.event_type.clone(),
        entity_version: event.entity_version,
        site: record.site.clone(),
        arrival: record.arrival.clone(),
        arrived_at_ms,
        handed_over_at_ms: record.handed_over_at.as_ref().map(|t| unix_millis(Some(t))),
        cleared_at_ms: record.cleared_at.as_ref().map(|t| unix_millis(Some(t))),
        occurred_at_ms,
    })))
}

fn escalation(
    event: &EventEnvelope,
    subject: &str,
    record: Option<&AmbulanceEscalation>,
    occurred_at_ms: i64,
) -> Result<Update, Unusable> {
    let record = record.ok_or(Unusable::BadRecord("the escalation level is missing"))?;
    if record.service.is_empty()
        || event.entity_id != format!("ambulance-service/{}", record.service)
        || subject != pf_event_log::streams::ambulance_escalation_subject(&record.service)
    {
        return Err(Unusable::Mismatch {
            entity_id: event.entity_id.clone(),
            subject: subject.to_owned(),
            named: format!("the escalation level of {}", record.service),
        });
    }
    let (scale, highest) = match record.scale() {
        EscalationScale::Reap => ("reap", 6),
        EscalationScale::Opel => ("opel", 4),
        EscalationScale::Unspecified => {
            return Err(Unusable::BadRecord("an escalation level without its scale"));
        }
    };
    if record.level < 1 || record.level > highest {
        return Err(Unusable::BadRecord("an escalation level off its scale"));
    }
    let set_ms = record
        .set_at
        .as_ref()
        .map(|t| unix_millis(Some(t)))
        .ok_or(Unusable::BadRecord("an escalation level without its time"))?;
    Ok(Update::AmbulanceEscalation(Box::new(
        AmbulanceEscalationUpdate {
            event_id: event.event_id.clone(),
            event_type: event.event_type.clone(),
            entity_version: event.entity_version,
            summary: EscalationSummary {
                service: record.service.clone(),
                scale: scale.to_owned(),
                level: record.level,
                set_ms,
            },
            occurred_at_ms,
        },
    )))
}
