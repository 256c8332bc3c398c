//! Joining the discharge list: an A03 records the discharge of the patient
//! waiting on the trust's list, an A13 reverses it.
//!
//! The feed holds no patient data and reads none: it calls the discharges
//! service's two PAS routes (`POST /api/v1/discharges/pas/discharged`,
//! `…/pas/discharge-cancelled`) as its own machine identity (a bearer token
//! whose principal has the `bed_publisher` grant of the feed's trust, which
//! lets it record PAS discharges of that trust and nothing else of the
//! list). The token is an OAuth 2.0 client-credentials token from the
//! identity service (client `adt-feed` by default), kept until shortly
//! before it expires and fetched again on a 401; or a token issued
//! elsewhere, read from a file. The NHS number goes in the request body
//! only: never in a log, a metric or a span.
//!
//! A join that fails never refuses the message: the bed change is already
//! stored. It is counted (`pf_adt_discharge_join_total{outcome}`) and logged
//! without the number.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pf_hl7_adt::message::{AdtMessage, NhsNumberField, Trigger};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Where the discharges service is and who the feed is to it.
#[derive(Debug, Clone)]
pub struct DischargesLink {
    /// The discharges service's base URL (`http://discharges:8085`).
    pub url: String,
    /// How the feed proves its machine identity.
    pub credentials: Credentials,
}

/// How the feed gets its bearer token.
#[derive(Clone)]
pub enum Credentials {
    /// A token issued elsewhere (`PF_ADT_DISCHARGES_TOKEN_FILE`).
    Token(String),
    /// OAuth 2.0 client credentials at the identity service's token
    /// endpoint (`PF_IDENTITY_URL`, `PF_ADT_CLIENT_ID`,
    /// `PF_ADT_CLIENT_SECRET_FILE`, read at every token request so a
    /// rotated secret is picked up).
    Client {
        /// `{identity}/oauth/token`.
        token_url: String,
        /// The feed's client id.
        client_id: String,
        /// The file holding its secret.
        secret_file: PathBuf,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Token([redacted])"),
            Credentials::Client {
                token_url,
                client_id,
                ..
            } => f
                .debug_struct("Client")
                .field("token_url", token_url)
                .field("client_id", client_id)
                .finish_non_exhaustive(),
        }
    }
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

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
    http: reqwest::Client,
    /// The client-credentials token and when to fetch a new one.
    token: Arc<Mutex<Option<(String, Instant)>>>,
}

impl DischargesClient {
    /// A client of `link` (`None`: joining is off and counted so).
    pub fn new(link: Option<DischargesLink>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self {
            link,
            http,
            token: Arc::default(),
        }
    }

    /// The bearer token now (`None`: it could not be had).
    async fn bearer(&self, credentials: &Credentials) -> Option<String> {
        let (token_url, client_id, secret_file) = match credentials {
            Credentials::Token(token) => return Some(token.clone()),
            Credentials::Client {
                token_url,
                client_id,
                secret_file,
            } => (token_url, client_id, secret_file),
        };
        if let Some((token, renew_at)) = self
            .token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            && Instant::now() < renew_at
        {
            return Some(token);
        }
        let secret = match std::fs::read_to_string(secret_file) {
            Ok(secret) => secret.trim().to_owned(),
            Err(e) => {
                tracing::warn!(error = %e, "the feed's client secret cannot be read");
                return None;
            }
        };
        let asked = Instant::now();
        let answer = self
            .http
            .post(token_url)
            .basic_auth(client_id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .ok()?;
        if !answer.status().is_success() {
            tracing::warn!(
                status = answer.status().as_u16(),
                "the identity service refused the feed a token"
            );
            return None;
        }
        let answer: TokenAnswer = answer.json().await.ok()?;
        // Renewed a minute (or a tenth of its life) before it expires.
        let life = Duration::from_secs(answer.expires_in.unwrap_or(300));
        let renew_at = asked + life - (life / 10).min(Duration::from_secs(60));
        *self.token.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((answer.access_token.clone(), renew_at));
        Some(answer.access_token)
    }

    fn forget_token(&self) {
        *self.token.lock().unwrap_or_else(PoisonError::into_inner) = None;
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
        let mut status = None;
        // Once more with a new token when the first was refused (expired,
        // revoked, or the identity service's keys rotated).
        for _ in 0..2 {
            let Some(token) = self.bearer(&link.credentials).await else {
                return Outcome::Unavailable;
            };
            let sent = self
                .http
                .post(format!("{base}/api/v1/discharges/pas/{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                // reqwest's error names the URL only, never the body.
                .ok();
            status = Some(sent);
            if sent == Some(401) {
                self.forget_token();
            } else {
                break;
            }
        }
        match status.flatten() {
            Some(200) => Outcome::Joined,
            Some(404) => Outcome::NotOnList,
            Some(429 | 500..=599) | None => Outcome::Unavailable,
            Some(_) => Outcome::Refused,
        }
    }
}
