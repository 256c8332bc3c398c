//! Joining the discharge list: an A03 records the discharge of the patient
//! waiting on the trust's list, an A13 reverses it.
//!
//! The feed holds no patient data and reads none: it calls the discharges
//! service's two PAS routes (`POST /api/v1/discharges/pas/discharged`,
//! `…/pas/discharge-cancelled`) as its own machine identity (a bearer token
//! whose principal has the `bed_publisher` grant of the feed's trust, which
//! lets it record PAS discharges of that trust and nothing else of the
//! list; see [`crate::machine`] for the token). The NHS number goes in the request body
//! only: never in a log, a metric or a span.
//!
//! A join that fails never refuses the message: the bed change is already
//! stored. It is counted (`pf_adt_discharge_join_total{outcome}`) and logged
//! without the number.

use pf_hl7_adt::message::{AdtMessage, NhsNumberField, Trigger};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use crate::machine::Credentials;
use crate::machine::{MachineClient, ServiceLink};

/// Where the discharges service is and who the feed is to it.
pub type DischargesLink = ServiceLink;

/// What a message asks of the discharge list.
#[derive(Clone)]
pub struct Join {
    kind: JoinKind,
    nhs_number: String,
    at: OffsetDateTime,
    destination: Option<&'static str>,
}

impl std::fmt::Debug for Join {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Join")
            .field("kind", &self.kind)
            .field("nhs_number", &"[redacted]")
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinKind {
    Discharged,
    Cancelled,
}

/// How a join ended (the metric's `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The list changed.
    Joined,
    /// No patient with the number waits (or is discharged, for A13) on the
    /// trust's list.
    NotOnList,
    /// The message had no valid NHS number.
    NoNhsNumber,
    /// No discharges service is configured.
    NotConfigured,
    /// The discharges service refused the call (permissions, a rule).
    Refused,
    /// The discharges service could not be reached or did not confirm.
    Unavailable,
}

impl Outcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Joined => "joined",
            Outcome::NotOnList => "not_on_list",
            Outcome::NoNhsNumber => "no_nhs_number",
            Outcome::NotConfigured => "not_configured",
            Outcome::Refused => "refused",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// What the message asks of the list: `None` for a message that is not an
/// A03 or A13; `Err(NoNhsNumber)` when it is but carries no valid number.
pub fn join_of(message: &AdtMessage) -> Option<Result<Join, Outcome>> {
    let kind = match message.trigger {
        Trigger::Discharge => JoinKind::Discharged,
        Trigger::CancelDischarge => JoinKind::Cancelled,
        _ => return None,
    };
    let patient = message.patients.first();
    let Some(NhsNumberField::Valid(number)) = patient.map(|p| &p.nhs_number) else {
        return Some(Err(Outcome::NoNhsNumber));
    };
    let visit = message.visit();
    Some(Ok(Join {
        kind,
        nhs_number: number.as_str().to_owned(),
        at: visit
            .and_then(|v| v.discharged_at)
            .or_else(|| message.event_time())
            .unwrap_or_else(OffsetDateTime::now_utc),
        destination: visit.and_then(pf_hl7_adt::discharge::destination),
    }))
}

/// Calls the discharges service.
#[derive(Clone)]
pub struct DischargesClient {
    link: Option<DischargesLink>,
    client: MachineClient,
}

impl DischargesClient {
    /// A client of `link` (`None`: joining is off and counted so).
    pub fn new(link: Option<DischargesLink>) -> Self {
        Self {
            link,
            client: MachineClient::new(),
        }
    }

    /// Asks the list to take `join` for `organisation`'s patient.
    pub async fn join(&self, organisation: &str, join: &Join) -> Outcome {
        let Some(link) = &self.link else {
            return Outcome::NotConfigured;
        };
        let base = link.url.trim_end_matches('/');
        let (path, body) = match join.kind {
            JoinKind::Discharged => (
                "discharged",
                serde_json::json!({
                    "nhs_number": join.nhs_number,
                    "organisation": organisation,
                    "discharged_at": join.at.format(&Rfc3339).unwrap_or_default(),
                    "destination": join.destination,
                }),
            ),
            JoinKind::Cancelled => (
                "discharge-cancelled",
                serde_json::json!({
                    "nhs_number": join.nhs_number,
                    "organisation": organisation,
                }),
            ),
        };
        let status = self
            .client
            .post_json(
                &link.credentials,
                &format!("{base}/api/v1/discharges/pas/{path}"),
                &body,
            )
            .await;
        match status {
            Some(200) => Outcome::Joined,
            Some(404) => Outcome::NotOnList,
            Some(429 | 500..=599) | None => Outcome::Unavailable,
            Some(_) => Outcome::Refused,
        }
    }
}
