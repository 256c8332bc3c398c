//! Clients of the discharge API (`/api/v1/discharges`, as the hospitals'
//! discharge teams use it) and of the care homes' answers to holds
//! (`POST /api/v1/care-homes/{cqc}/holds/{hold_id}/accept|decline`, as the
//! homes' staff use it). Each signs in with its own identity.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde::Deserialize;
use serde_json::json;

use crate::client::{ApiError, send_signed};
use crate::credentials::TokenProvider;
use crate::patients::Referral;

/// How long a 429 is waited out when the API gives no `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// What went wrong with one request.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// Not reachable, timed out or 5xx: try again later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 429: wait this long.
    #[error("too many requests; asked to wait {0:?}")]
    RateLimited(Duration),
    /// 401 even with a fresh token, or no token could be obtained.
    #[error("not signed in: {0}")]
    Unauthorized(String),
    /// 409: no bed free any more, the patient no longer waits, the home has
    /// not accepted yet.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 404: no such patient, home or hold (it may have ended).
    #[error("not found: {0}")]
    NotFound(String),
    /// Anything else (400, 403, 422, an unreadable answer).
    #[error("refused ({status}): {message}")]
    Refused {
        /// HTTP status, or 0 when the answer could not be read.
        status: u16,
        /// The API's sentence.
        message: String,
    },
}

impl FlowError {
    /// Whether the same request may succeed later as it is.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            FlowError::Unavailable(_) | FlowError::RateLimited(_) | FlowError::Unauthorized(_)
        )
    }
}

impl From<ApiError> for FlowError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Unauthorized(message) => FlowError::Unauthorized(message),
            ApiError::Unavailable(message) => FlowError::Unavailable(message),
            other => FlowError::Refused {
                status: 0,
                message: other.to_string(),
            },
        }
    }
}

/// Sorts a non-success answer.
pub fn classify(status: StatusCode, message: String, retry_after: Option<Duration>) -> FlowError {
    match status {
        StatusCode::TOO_MANY_REQUESTS => {
            FlowError::RateLimited(retry_after.unwrap_or(DEFAULT_RETRY_AFTER))
        }
        StatusCode::CONFLICT => FlowError::Conflict(message),
        StatusCode::NOT_FOUND => FlowError::NotFound(message),
        StatusCode::UNAUTHORIZED => FlowError::Unauthorized(message),
        StatusCode::REQUEST_TIMEOUT => FlowError::Unavailable(format!("{status}: {message}")),
        s if s.is_server_error() => FlowError::Unavailable(format!("{s}: {message}")),
        s => FlowError::Refused {
            status: s.as_u16(),
            message,
        },
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
}

async fn check(response: reqwest::Response) -> Result<reqwest::Response, FlowError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<ErrorBody>(&text)
        .map(|b| b.error)
        .unwrap_or_else(|_| text.chars().take(200).collect());
    Err(classify(status, message, retry_after))
}

async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, FlowError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| FlowError::Unavailable(e.without_url().to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| FlowError::Refused {
        status: 0,
        message: format!("the answer is not the expected JSON: {e}"),
    })
}

/// A bed held for a patient, as the list shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct HoldView {
    /// Hold id.
    pub hold_id: String,
    /// The home.
    pub cqc_location_id: String,
    /// `requested` or `accepted`.
    pub state: String,
}

/// A patient on the list (the fields the simulator uses).
#[derive(Debug, Clone, Deserialize)]
pub struct PatientView {
    /// Discharge id.
    pub discharge_id: String,
    /// 0 to 3.
    pub pathway: u32,
    /// `ready`, `searching`, `discharged`, `cancelled`.
    pub status: String,
    /// The organisation managing the patient.
    #[serde(default)]
    pub managed_by: String,
    /// The bed held, if any.
    #[serde(default)]
    pub hold: Option<HoldView>,
}

#[derive(Debug, Deserialize)]
struct PatientList {
    patients: Vec<PatientView>,
}

/// A care home that fits a patient (the fields the simulator uses).
#[derive(Debug, Clone, Deserialize)]
pub struct MatchView {
    /// CQC location id.
    pub cqc_location_id: String,
    /// Beds free to hold.
    pub free_beds: u32,
}

#[derive(Debug, Deserialize)]
struct MatchList {
    homes: Vec<MatchView>,
}

/// A hold just made.
#[derive(Debug, Clone, Deserialize)]
pub struct NewHold {
    /// Hold id.
    pub hold_id: String,
    /// The home.
    pub cqc_location_id: String,
}

/// Client of the discharge API; cheap to clone.
#[derive(Debug, Clone)]
pub struct DischargesClient {
    http: reqwest::Client,
    base: String,
    credentials: Option<Arc<TokenProvider>>,
}

impl DischargesClient {
    /// A client of the API at `base_url` (e.g. `http://127.0.0.1:8085`).
    pub fn new(
        base_url: &str,
        http: reqwest::Client,
        credentials: Option<Arc<TokenProvider>>,
    ) -> Self {
        Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            credentials,
        }
    }

    /// The API's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/discharges{path}", self.base)
    }

    async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<reqwest::Response, FlowError> {
        let url = self.url(path);
        let response = send_signed(self.credentials.as_deref(), || {
            self.http.post(&url).json(&body)
        })
        .await?;
        check(response).await
    }

    /// The waiting patients of the trusts this identity coordinates.
    pub async fn list(&self) -> Result<Vec<PatientView>, FlowError> {
        let url = self.url("");
        let response = send_signed(self.credentials.as_deref(), || self.http.get(&url)).await?;
        read_json::<PatientList>(check(response).await?)
            .await
            .map(|l| l.patients)
    }

    /// Puts a patient on the list.
    pub async fn create(&self, referral: &Referral) -> Result<PatientView, FlowError> {
        let body = serde_json::to_value(referral).map_err(|e| FlowError::Refused {
            status: 0,
            message: e.to_string(),
        })?;
        read_json(self.post("", body).await?).await
    }

    /// The homes whose live figures fit the patient, best first.
    pub async fn matches(&self, id: &str) -> Result<Vec<MatchView>, FlowError> {
        let url = self.url(&format!("/{id}/matches"));
        let response = send_signed(self.credentials.as_deref(), || self.http.get(&url)).await?;
        read_json::<MatchList>(check(response).await?)
            .await
            .map(|l| l.homes)
    }

    /// Holds a bed at home `cqc` for the patient.
    pub async fn hold(&self, id: &str, cqc: &str) -> Result<NewHold, FlowError> {
        read_json(
            self.post(&format!("/{id}/holds"), json!({ "cqc_location_id": cqc }))
                .await?,
        )
        .await
    }

    /// The patient left hospital for `destination` (a care home: the one
    /// that accepted them).
    pub async fn discharge(
        &self,
        id: &str,
        destination: &str,
        home: Option<&str>,
    ) -> Result<(), FlowError> {
        let body = match home {
            Some(home) => json!({ "destination": destination, "destination_home": home }),
            None => json!({ "destination": destination }),
        };
        self.post(&format!("/{id}/discharge"), body).await.map(drop)
    }

    /// The patient no longer waits.
    pub async fn cancel(&self, id: &str, reason: &str) -> Result<(), FlowError> {
        self.post(&format!("/{id}/cancel"), json!({ "reason": reason }))
            .await
            .map(drop)
    }

    /// Why the patient still waits.
    pub async fn delay_reason(&self, id: &str, reason: &str) -> Result<(), FlowError> {
        self.post(
            &format!("/{id}/delay-reason"),
            json!({ "delay_reason": reason }),
        )
        .await
        .map(drop)
    }
}

/// Client of the care homes' answers to holds; cheap to clone.
#[derive(Debug, Clone)]
pub struct HoldAnswers {
    http: reqwest::Client,
    base: String,
    credentials: Option<Arc<TokenProvider>>,
}

impl HoldAnswers {
    /// A client of the care-homes API at `base_url` (e.g. `http://127.0.0.1:8084`).
    pub fn new(
        base_url: &str,
        http: reqwest::Client,
        credentials: Option<Arc<TokenProvider>>,
    ) -> Self {
        Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            credentials,
        }
    }

    /// Home `cqc` accepts the patient of `hold_id`, or declines with `reason`.
    pub async fn answer(
        &self,
        cqc: &str,
        hold_id: &str,
        decline_reason: Option<&str>,
    ) -> Result<(), FlowError> {
        let (verb, body) = match decline_reason {
            None => ("accept", json!({})),
            Some(reason) => ("decline", json!({ "reason": reason })),
        };
        let url = format!(
            "{}/api/v1/care-homes/{cqc}/holds/{hold_id}/{verb}",
            self.base
        );
        let response = send_signed(self.credentials.as_deref(), || {
            self.http.post(&url).json(&body)
        })
        .await?;
        check(response).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sorted_by_what_to_do() {
        let c = |s: u16| classify(StatusCode::from_u16(s).expect("valid"), "x".into(), None);
        assert!(matches!(c(409), FlowError::Conflict(_)));
        assert!(matches!(c(404), FlowError::NotFound(_)));
        for transient in [500, 502, 503, 408, 429, 401] {
            assert!(c(transient).is_transient(), "{transient}");
        }
        for refused in [400, 403, 409, 404, 422] {
            assert!(!c(refused).is_transient(), "{refused}");
        }
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, "slow".into(), Some(Duration::from_secs(2))),
            FlowError::RateLimited(d) if d == Duration::from_secs(2)
        ));
    }

    #[test]
    fn the_list_reads_as_the_api_writes_it() {
        let list: PatientList = serde_json::from_str(
            r#"{"patients":[{"discharge_id":"d1","nhs_number":"*** *** 5919","pathway":3,
                "status":"searching","managed_by":"RWE","care_needed":"residential",
                "hold":{"hold_id":"h1","cqc_location_id":"1-000000001","home_name":"Sandy House",
                "category":"residential","state":"requested","held_at":"x","expires_at":"y"}},
                {"discharge_id":"d2","pathway":0,"status":"ready","hold":null}]}"#,
        )
        .expect("valid");
        assert_eq!(list.patients.len(), 2);
        let hold = list.patients[0].hold.as_ref().expect("held");
        assert_eq!(hold.state, "requested");
        assert_eq!(hold.cqc_location_id, "1-000000001");
        assert!(list.patients[1].hold.is_none());
    }
}
