//! ED attendances from the ADT feed: a trust whose PAS/EPR sends its
//! emergency department's registrations and discharges on the feed has
//! them recorded as urgent-care ED events (see [`pf_hl7_adt::ed`] for
//! which messages are which event).
//!
//! The feed calls the urgent-care service's JSON API
//! (`POST /api/v1/ed/{site}/{attendance}/arrival`, `…/departure`) as its
//! own machine identity (the `bed_publisher` grant of its trust gives
//! `RecordUrgentCare` for that trust's sites and nothing else), so the
//! service keeps its one set of checks, its audit trail and its change
//! loop, and the feed needs no NATS or Redis permission of its own for it.
//!
//! The attendance id is an opaque digest of the feed's name and the visit
//! number ([`attendance_id`]): nothing in the call identifies the patient,
//! and the NHS number never leaves the feed. A call that fails never
//! refuses the message: the bed changes are already stored. It is counted
//! (`pf_adt_ed_events_total{event, outcome}`) and logged without the visit
//! number or the attendance id.

use pf_hl7_adt::ed::EdEvent;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::machine::{MachineClient, ServiceLink};

/// Where the urgent-care service is and who the feed is to it.
pub type UrgentCareLink = ServiceLink;

/// How a call ended (the metric's `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (or already stored: a repeat).
    Recorded,
    /// The attendance's record does not take it (a departure of an
    /// attendance whose arrival was never recorded, a second departure).
    NotNow,
    /// No urgent-care service is configured.
    NotConfigured,
    /// The message's visit has no visit number (PV1-19) to key it by.
    NoVisitNumber,
    /// The service refused the call (permissions, an unknown site).
    Refused,
    /// The service could not be reached or did not confirm.
    Unavailable,
}

impl Outcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Recorded => "recorded",
            Outcome::NotNow => "not_now",
            Outcome::NotConfigured => "not_configured",
            Outcome::NoVisitNumber => "no_visit_number",
            Outcome::Refused => "refused",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// The event's metric label.
pub fn event_label(event: &EdEvent) -> &'static str {
    match event {
        EdEvent::Arrival { .. } => "arrival",
        EdEvent::Departure { .. } => "departure",
    }
}

/// The attendance id the urgent-care service knows a visit by: the first
/// 128 bits of SHA-256 over the feed's name and the visit number, in hex.
/// Stable (a resend, a departure days later find the same record), unique
/// per feed, and it carries no visit number, so nothing in the urgent-care
/// events leads back to the patient's record in the PAS without the feed.
pub fn attendance_id(feed: &str, visit_number: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"pf-adt-ed\0");
    digest.update(feed.as_bytes());
    digest.update(b"\0");
    digest.update(visit_number.as_bytes());
    digest.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Calls the urgent-care service.
#[derive(Clone)]
pub struct UrgentCareClient {
    link: Option<UrgentCareLink>,
    client: MachineClient,
}

impl UrgentCareClient {
    /// A client of `link` (`None`: ED events are off and counted so).
    pub fn new(link: Option<UrgentCareLink>) -> Self {
        Self {
            link,
            client: MachineClient::new(),
        }
    }

    /// Whether a service is configured (when not, the feed keeps no ED
    /// attendances either).
    pub fn is_configured(&self) -> bool {
        self.link.is_some()
    }

    /// Records `event` of `attendance` (an [`attendance_id`]), which
    /// happened `at`.
    pub async fn record(&self, event: &EdEvent, attendance: &str, at: OffsetDateTime) -> Outcome {
        let Some(link) = &self.link else {
            return Outcome::NotConfigured;
        };
        let base = link.url.trim_end_matches('/');
        let occurred_at = at.format(&Rfc3339).unwrap_or_default();
        let (site, path, body) = match event {
            EdEvent::Arrival { site } => (
                site,
                "arrival",
                serde_json::json!({ "occurred_at": occurred_at }),
            ),
            EdEvent::Departure { site, outcome } => (
                site,
                "departure",
                serde_json::json!({ "outcome": outcome.as_str(), "occurred_at": occurred_at }),
            ),
        };
        let status = self
            .client
            .post_json(
                &link.credentials,
                &format!("{base}/api/v1/ed/{site}/{attendance}/{path}"),
                &body,
            )
            .await;
        match status {
            Some(200 | 201) => Outcome::Recorded,
            Some(409) => Outcome::NotNow,
            Some(429 | 500..=599) | None => Outcome::Unavailable,
            Some(_) => Outcome::Refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attendance_ids_are_opaque_stable_and_per_feed() {
        let id = attendance_id("uhl-epic", "V1234567");
        assert_eq!(id, attendance_id("uhl-epic", "V1234567"));
        assert_ne!(id, attendance_id("uhl-cerner", "V1234567"));
        assert_ne!(id, attendance_id("uhl-epic", "V1234568"));
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(!id.contains("1234567"));
    }
}
