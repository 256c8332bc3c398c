//! One audit record: who did what to which entity, when, from where, and
//! whether it was accepted or refused.
//!
//! Records are stored as JSON. They never hold patient-identifiable data:
//! `entity` names a platform entity (`bed/RWEAA/WD15/B03`,
//! `care_home/1-123456789`, `discharge/{uuid}`), never a patient, and a
//! refusal's `reason` says why in words a reviewer needs, never an NHS
//! number. [`AuditRecord::check`] refuses a record that breaks this.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::guard::{contains_nhs_number, redact};

/// The longest text accepted in any one field, in bytes.
pub const MAX_FIELD_BYTES: usize = 2048;

/// How far a record's `at` may lie from the clock of the service storing it.
/// Records are made just before they are stored; queries rely on this to
/// stop reading at the end of a time range.
pub const CLOCK_TOLERANCE: time::Duration = time::Duration::minutes(5);

/// The longest user agent kept; longer ones are cut by [`AuditSource::new`].
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// The longest client address kept (an IPv6 address with a zone fits).
pub const MAX_IP_CHARS: usize = 64;

/// The longest entity or refusal reason kept by [`AuditRecord::new`]: 500
/// characters are at most 2000 bytes, within [`MAX_FIELD_BYTES`].
pub const MAX_TEXT_CHARS: usize = 500;

/// An accepted change or a refused attempt, as kept in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// A UUIDv7 naming this record; also the JetStream `Nats-Msg-Id`, so a
    /// record sent twice is stored once.
    pub id: String,
    /// When the change was accepted or the attempt refused (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who.
    pub actor: AuditActor,
    /// What, as `area.verb` (`bed.state_changed`, `sign_in`, `access.revoked`).
    pub action: String,
    /// Which entity (`bed/RWEAA/WD15/B03`); empty when there is none (a
    /// sign-in). Must never contain an NHS number or other patient data.
    pub entity: String,
    /// Accepted, or refused and why.
    pub outcome: Outcome,
    /// From where.
    pub source: AuditSource,
    /// The request that carried it, to join with service logs.
    pub request_id: Option<String>,
    /// The operational event the change produced (its event id).
    pub event_id: Option<String>,
    /// How many attempts this one record stands for, when more than one:
    /// refusals repeated by one client over the refusal limit are kept as
    /// one record with their count (see [`crate::refusals`]). Absent means one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeated: Option<u64>,
    /// How surely the person was identified and authenticated, as their
    /// identity provider said when they signed in (OpenID Connect `acr`;
    /// NHS CIS2 `authentication_assurance_level`, `id_assurance_level`).
    /// Absent when the provider says nothing or for other actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assurance: Option<String>,
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditActor {
    /// The person's or machine identity's id (an identity provider's
    /// subject, a service's NATS user); empty for anonymous.
    pub id: String,
    /// The organisation they acted for (ODS code or CQC location id); empty
    /// when unknown.
    pub organisation: String,
    /// A person, a machine, or nobody signed in.
    pub kind: ActorKind,
}

/// What kind of identity acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A signed-in person.
    Person,
    /// A service or integration acting under its own identity.
    Machine,
    /// Nobody signed in (a refused attempt without credentials).
    Anonymous,
}

/// Whether the platform accepted the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// The change is about to be made: recorded before acting, so that an
    /// action that cannot be audited does not happen (see
    /// [`crate::AuditLog::attempt`]). The record of the outcome follows.
    Attempted,
    /// The change was made.
    Accepted,
    /// The attempt was refused.
    Refused {
        /// Why, for a reviewer. Must never contain an NHS number or other
        /// patient data.
        reason: String,
    },
}

/// Where the attempt came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditSource {
    /// The client's IP address, when known.
    pub ip: Option<String>,
    /// The client's user agent, when known.
    pub user_agent: Option<String>,
    /// The service that accepted or refused it (`care-home`, `gateway`).
    pub service: String,
}

/// Why a record may not be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The id is not a UUID.
    #[error("the audit record id is not a UUID")]
    BadId,
    /// The action is not `area.verb` in lower case (letters, digits, `.`, `_`).
    #[error("the audit record's action must be lower-case letters, digits, '.' and '_'")]
    BadAction,
    /// `at` is further than [`CLOCK_TOLERANCE`] from now: records are made
    /// when the change is accepted or refused, not later.
    #[error("the audit record's time is not within {CLOCK_TOLERANCE} of now")]
    OutOfTime,
    /// A required field is empty.
    #[error("the audit record's {0} is empty")]
    Empty(&'static str),
    /// A field is longer than [`MAX_FIELD_BYTES`].
    #[error("the audit record's {0} is too long")]
    TooLong(&'static str),
    /// A field holds something that looks like an NHS number. The value is
    /// deliberately not repeated here, so that the error can be logged.
    #[error(
        "the audit record's {0} looks like it holds an NHS number; patient data must not enter the audit trail"
    )]
    PatientIdentifiable(&'static str),
}

impl AuditActor {
    /// A signed-in person acting for `organisation`.
    pub fn person(id: impl Into<String>, organisation: impl Into<String>) -> Self {
        Self::new(id, organisation, ActorKind::Person)
    }

    /// A machine identity acting for `organisation`.
    pub fn machine(id: impl Into<String>, organisation: impl Into<String>) -> Self {
        Self::new(id, organisation, ActorKind::Machine)
    }

    /// Nobody signed in.
    pub fn anonymous() -> Self {
        Self::new("", "", ActorKind::Anonymous)
    }

    /// The actor for a signed-in principal: its id, its organisation (if
    /// any) and whether it is a person or a machine.
    pub fn of(principal: &pf_access::Principal) -> Self {
        let organisation = principal
            .organisation
            .as_ref()
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default();
        match principal.kind {
            pf_access::PrincipalKind::Person => Self::person(principal.id.clone(), organisation),
            pf_access::PrincipalKind::Machine => Self::machine(principal.id.clone(), organisation),
        }
    }

    fn new(id: impl Into<String>, organisation: impl Into<String>, kind: ActorKind) -> Self {
        Self {
            id: id.into(),
            organisation: organisation.into(),
            kind,
        }
    }
}

impl AuditSource {
    /// A source seen by `service`. The address and user agent come from the
    /// caller, so they are cut ([`MAX_IP_CHARS`], [`MAX_USER_AGENT_CHARS`])
    /// and anything in them that looks like an NHS number is redacted
    /// ([`redact`]): what a caller sends can never make a record fail.
    pub fn new(service: impl Into<String>, ip: Option<String>, user_agent: Option<String>) -> Self {
        Self {
            ip: ip.map(|ip| redact(&ip, MAX_IP_CHARS)),
            user_agent: user_agent.map(|ua| redact(&ua, MAX_USER_AGENT_CHARS)),
            service: service.into(),
        }
    }
}

impl AuditRecord {
    /// A new record of `outcome`, with a fresh UUIDv7 id, made now.
    ///
    /// The entity and a refusal's reason may carry text from the request (a
    /// path segment, an `Origin`): both are cut to [`MAX_TEXT_CHARS`] and
    /// redacted ([`redact`]), so that a caller cannot make the record fail.
    pub fn new(
        actor: AuditActor,
        action: impl Into<String>,
        entity: impl Into<String>,
        outcome: Outcome,
        source: AuditSource,
    ) -> Self {
        let outcome = match outcome {
            Outcome::Refused { reason } => Outcome::Refused {
                reason: redact(&reason, MAX_TEXT_CHARS),
            },
            other => other,
        };
        Self {
            id: Uuid::now_v7().to_string(),
            at: OffsetDateTime::now_utc(),
            actor,
            action: action.into(),
            entity: redact(&entity.into(), MAX_TEXT_CHARS),
            outcome,
            source,
            request_id: None,
            event_id: None,
            repeated: None,
            assurance: None,
        }
    }

    /// The record of an attempt at this record's action, to store before
    /// acting: the same actor, action, entity and source, outcome
    /// [`Outcome::Attempted`], a fresh id and time.
    pub fn attempt(&self) -> Self {
        Self {
            id: Uuid::now_v7().to_string(),
            at: OffsetDateTime::now_utc(),
            outcome: Outcome::Attempted,
            event_id: None,
            repeated: None,
            ..self.clone()
        }
    }

    /// A new record of an accepted change.
    pub fn accepted(
        actor: AuditActor,
        action: impl Into<String>,
        entity: impl Into<String>,
        source: AuditSource,
    ) -> Self {
        Self::new(actor, action, entity, Outcome::Accepted, source)
    }

    /// A new record of a refused attempt, with the reason.
    pub fn refused(
        actor: AuditActor,
        action: impl Into<String>,
        entity: impl Into<String>,
        reason: impl Into<String>,
        source: AuditSource,
    ) -> Self {
        let outcome = Outcome::Refused {
            reason: reason.into(),
        };
        Self::new(actor, action, entity, outcome, source)
    }

    /// The same record, naming the request that carried it.
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// The same record, naming the operational event the change produced.
    pub fn with_event_id(mut self, event_id: impl Into<String>) -> Self {
        self.event_id = Some(event_id.into());
        self
    }

    /// The same record, with the assurance level the identity provider
    /// gave (cut to [`MAX_TEXT_CHARS`] and redacted like the entity).
    pub fn with_assurance(mut self, assurance: Option<&str>) -> Self {
        self.assurance = assurance
            .map(|a| redact(a, MAX_TEXT_CHARS))
            .filter(|a| !a.is_empty());
        self
    }

    /// The same record, standing for `count` repeated attempts.
    pub fn with_repeated(mut self, count: u64) -> Self {
        self.repeated = (count > 1).then_some(count);
        self
    }

    /// Whether the attempt was accepted.
    pub fn is_accepted(&self) -> bool {
        matches!(self.outcome, Outcome::Accepted)
    }

    /// Checks that the record may be stored: a UUID id, a lower-case
    /// `area.verb` action, a service, no field too long, and nothing that looks like an NHS number
    /// in any text field.
    pub fn check(&self) -> Result<(), RecordError> {
        if Uuid::parse_str(&self.id).is_err() {
            return Err(RecordError::BadId);
        }
        if self.action.is_empty() {
            return Err(RecordError::Empty("action"));
        }
        let action_char =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._".contains(c);
        if !self.action.chars().all(action_char) {
            return Err(RecordError::BadAction);
        }
        if self.source.service.is_empty() {
            return Err(RecordError::Empty("source.service"));
        }
        for (name, value) in self.text_fields() {
            if value.len() > MAX_FIELD_BYTES {
                return Err(RecordError::TooLong(name));
            }
            // A UUID cannot carry an NHS number except by coincidence; its
            // digits are not checked, so that random ids are never refused.
            if Uuid::parse_str(value).is_err() && contains_nhs_number(value) {
                return Err(RecordError::PatientIdentifiable(name));
            }
        }
        Ok(())
    }

    /// Checks that `at` lies within [`CLOCK_TOLERANCE`] of `now`.
    pub fn check_time(&self, now: OffsetDateTime) -> Result<(), RecordError> {
        if (self.at - now).abs() > CLOCK_TOLERANCE {
            return Err(RecordError::OutOfTime);
        }
        Ok(())
    }

    /// Every text field with its name.
    fn text_fields(&self) -> Vec<(&'static str, &str)> {
        let mut fields = vec![
            ("id", self.id.as_str()),
            ("actor.id", self.actor.id.as_str()),
            ("actor.organisation", self.actor.organisation.as_str()),
            ("action", self.action.as_str()),
            ("entity", self.entity.as_str()),
            ("source.service", self.source.service.as_str()),
        ];
        if let Outcome::Refused { reason } = &self.outcome {
            fields.push(("outcome.reason", reason));
        }
        let optional = [
            ("source.ip", &self.source.ip),
            ("source.user_agent", &self.source.user_agent),
            ("request_id", &self.request_id),
            ("event_id", &self.event_id),
        ];
        fields.extend(
            optional
                .into_iter()
                .filter_map(|(name, value)| value.as_deref().map(|v| (name, v))),
        );
        fields
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn source() -> AuditSource {
        AuditSource::new("care-home", Some("192.0.2.10".into()), None)
    }

    fn sample() -> AuditRecord {
        AuditRecord::accepted(
            AuditActor::person("u-1", "1-123456789"),
            "care_home.vacancies_updated",
            "care_home/1-123456789",
            source(),
        )
        .with_event_id(Uuid::now_v7().to_string())
    }

    #[test]
    fn a_plain_record_passes_the_check_and_round_trips_as_json() {
        let record = sample();
        record.check().unwrap();
        let json = serde_json::to_string(&record).unwrap();
        assert!(json.contains(r#""result":"accepted""#), "{json}");
        assert!(json.contains(r#""kind":"person""#), "{json}");
        let back: AuditRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn an_nhs_number_in_any_text_field_is_refused() {
        let nhs = "943 476 5919";
        let mut cases: Vec<(&str, AuditRecord)> = Vec::new();
        let mut r = sample();
        r.entity = format!("patient/{nhs}");
        cases.push(("entity", r));
        // Made by the constructors, text is redacted; a bug that sets a
        // field afterwards is still caught.
        let mut r = AuditRecord::refused(
            AuditActor::anonymous(),
            "discharge.recorded",
            "",
            "no patient",
            source(),
        );
        r.outcome = Outcome::Refused {
            reason: "no patient 9434765919".into(),
        };
        cases.push(("outcome.reason", r));
        cases.push(("request_id", sample().with_request_id("9434765919")));
        let mut r = sample();
        r.actor.id = "9434765919".into();
        cases.push(("actor.id", r));
        for (field, record) in cases {
            assert_eq!(record.check(), Err(RecordError::PatientIdentifiable(field)));
        }
    }

    #[test]
    fn malformed_records_are_refused() {
        let mut r = sample();
        r.id = "not-a-uuid".into();
        assert_eq!(r.check(), Err(RecordError::BadId));
        let mut r = sample();
        r.action.clear();
        assert_eq!(r.check(), Err(RecordError::Empty("action")));
        let mut r = sample();
        r.action = "Bed changed\r\n".into();
        assert_eq!(r.check(), Err(RecordError::BadAction));
        let mut r = sample();
        r.entity = "x".repeat(MAX_FIELD_BYTES + 1);
        assert_eq!(r.check(), Err(RecordError::TooLong("entity")));
    }

    #[test]
    fn a_record_must_be_made_about_now() {
        let r = sample();
        let now = r.at;
        r.check_time(now + time::Duration::minutes(4)).unwrap();
        r.check_time(now - time::Duration::minutes(4)).unwrap();
        assert_eq!(
            r.check_time(now + time::Duration::minutes(6)),
            Err(RecordError::OutOfTime)
        );
    }

    #[test]
    fn what_a_caller_sends_is_redacted_not_refused() {
        let source = AuditSource::new(
            "discharges",
            Some("943 476 5919".into()),
            Some("Mozilla/5.0 (patient 9434765919)".into()),
        );
        let record = AuditRecord::refused(
            AuditActor::anonymous(),
            "control_room.view",
            "bed/RWEAA/9434765919",
            "a page at https://9434765919.example may not open this feed",
            source,
        );
        record.check().unwrap();
        assert_eq!(
            record.source.user_agent.as_deref(),
            Some("Mozilla/5.0 (patient [redacted])")
        );
        assert_eq!(record.entity, "bed/RWEAA/[redacted]");
        let json = serde_json::to_string(&record).unwrap();
        assert!(!json.contains("9434765919"), "{json}");
    }

    #[test]
    fn an_attempt_names_the_same_action_and_a_new_id() {
        let accepted = sample();
        let attempt = accepted.attempt();
        assert_eq!(attempt.outcome, Outcome::Attempted);
        assert_ne!(attempt.id, accepted.id);
        assert_eq!(
            (attempt.action, attempt.entity),
            (accepted.action, accepted.entity)
        );
        let json = serde_json::to_string(&sample().with_repeated(5)).unwrap();
        assert!(json.contains(r#""repeated":5"#), "{json}");
        assert!(
            !serde_json::to_string(&sample())
                .unwrap()
                .contains("repeated")
        );
    }

    #[test]
    fn a_long_user_agent_is_cut() {
        let s = AuditSource::new("gateway", None, Some("é".repeat(1000)));
        assert_eq!(s.user_agent.unwrap().chars().count(), MAX_USER_AGENT_CHARS);
    }
}
