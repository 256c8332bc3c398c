//! A small client of the care-homes vacancy API
//! (`services/care-homes/openapi.json`), signed in with the same token as
//! the hospital-beds client.
//!
//! Every write carries an `Idempotency-Key`: [`send_update`] makes a new one
//! (a UUID) per update and sends the update again with the *same* key after
//! a time-out, a 5xx, a 409 "already being saved" or a refused token, so an
//! update the platform stored but could not confirm is never stored twice.
//! A 429 is waited out as the API asks (`Retry-After`). Other refusals
//! (400, 403, 404, 422) are not retried: they are returned with the API's
//! sentence and the problems it named, for the log.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::client::{ApiError, send_signed};
use crate::credentials::TokenProvider;
use crate::retry::Backoff;
use crate::vacancies::{Figures, HomeSpec, Report, Update};

/// How many times one update is sent (with the same key) while the API is
/// unavailable, before it is given up.
pub const SEND_ATTEMPTS: u32 = 6;
/// How long a 429 is waited out when the API gives no `Retry-After`.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// What went wrong with one request.
#[derive(Debug, thiserror::Error)]
pub enum CareHomeError {
    /// The API could not be reached, timed out or answered 5xx: send the
    /// same request again (with the same key) later.
    #[error("care-homes API unavailable: {0}")]
    Unavailable(String),
    /// 429: too many updates from this identity; wait this long.
    #[error("too many updates; the care-homes API asks to wait {0:?}")]
    RateLimited(Duration),
    /// 409: the same update is being saved right now (an earlier attempt
    /// that timed out on our side), or others changed the home at the same
    /// moment: send it again with the same key shortly.
    #[error("not saved yet: {0}")]
    Busy(String),
    /// 401 even with a fresh token, or no token could be obtained.
    #[error("not signed in: {0}")]
    Unauthorized(String),
    /// Any other answer (400, 403, 404, 422) or an unreadable one.
    #[error("refused ({status}): {message}{problems}")]
    Refused {
        /// HTTP status, or 0 when the answer could not be read.
        status: u16,
        /// The API's sentence.
        message: String,
        /// The rules the report broke, by field.
        problems: Problems,
    },
}

impl CareHomeError {
    /// Whether sending the same request again (with the same key) may help.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, CareHomeError::Refused { .. })
    }
}

impl From<ApiError> for CareHomeError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Unauthorized(message) => CareHomeError::Unauthorized(message),
            ApiError::Unavailable(message) => CareHomeError::Unavailable(message),
            other => CareHomeError::Refused {
                status: 0,
                message: other.to_string(),
                problems: Problems::default(),
            },
        }
    }
}

/// One rule a report broke.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Problem {
    /// The field, e.g. `vacancies.nursing.vacant`.
    pub field: String,
    /// What is wrong, in plain words.
    pub message: String,
}

/// The problems of a refused report; prints as `: field: message; …`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            let sep = if i == 0 { ": " } else { "; " };
            write!(f, "{sep}{}: {}", p.field, p.message)?;
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    problems: Vec<Problem>,
}

/// One category's figures as the API lists them.
#[derive(Debug, Clone, Deserialize)]
pub struct VacancyView {
    /// The category (API word).
    pub category: String,
    /// Vacant beds.
    pub vacant: u32,
    /// Of which cannot take anyone now.
    #[serde(default)]
    pub unavailable: u32,
    /// Whom they can take.
    #[serde(default = "either")]
    pub sex: String,
}

fn either() -> String {
    crate::vacancies::EITHER.to_owned()
}

/// A home as `GET /api/v1/care-homes` lists it (the fields the simulator uses).
#[derive(Debug, Clone, Deserialize)]
pub struct HomeView {
    /// CQC location id.
    pub cqc_location_id: String,
    /// Name.
    pub name: String,
    /// Registered beds.
    pub registered_beds: u32,
    /// Each category offered and its figures.
    pub vacancies: Vec<VacancyView>,
    /// Closed to admissions.
    #[serde(default)]
    pub closed_to_admissions: bool,
    /// Why, when closed.
    #[serde(default)]
    pub closure_reason: Option<String>,
    /// More about the closure.
    #[serde(default)]
    pub closure_detail: String,
    /// Takes patients straight from hospital.
    #[serde(default = "yes")]
    pub accepting_hospital_discharges: bool,
    /// Free text for discharge teams.
    #[serde(default)]
    pub note: String,
    /// When the figures were last given; `None` if never.
    #[serde(default)]
    pub last_updated_at: Option<String>,
    /// The home's version.
    #[serde(default)]
    pub version: u64,
}

fn yes() -> bool {
    true
}

impl HomeView {
    /// What the home may report: its categories and registered beds.
    pub fn spec(&self) -> HomeSpec {
        HomeSpec {
            cqc: self.cqc_location_id.clone(),
            name: self.name.clone(),
            registered_beds: self.registered_beds,
            categories: self.vacancies.iter().map(|v| v.category.clone()).collect(),
        }
    }

    /// Whether the home has ever given figures.
    pub fn has_figures(&self) -> bool {
        self.last_updated_at.is_some()
    }

    /// Its current figures, as a report.
    pub fn current(&self) -> Report {
        Report {
            vacancies: self
                .vacancies
                .iter()
                .map(|v| {
                    (
                        v.category.clone(),
                        Figures {
                            vacant: v.vacant,
                            unavailable: v.unavailable,
                            sex: v.sex.clone(),
                        },
                    )
                })
                .collect(),
            closed_to_admissions: self.closed_to_admissions,
            closure_reason: self.closure_reason.clone(),
            closure_detail: self.closure_detail.clone(),
            accepting_hospital_discharges: self.accepting_hospital_discharges,
            note: self.note.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct HomeList {
    homes: Vec<HomeView>,
}

/// The `saved` part of an accepted update.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Saved {
    /// The stored event's type.
    pub event_type: String,
    /// The home's version after it.
    pub entity_version: u64,
    /// A resend of an update already stored: nothing new was stored.
    #[serde(default)]
    pub replayed: bool,
}

#[derive(Debug, Deserialize)]
struct SaveAnswer {
    saved: Saved,
}

/// Whether a CQC location id is safe to put in a path (`1-` and digits).
pub fn is_plain_cqc(cqc: &str) -> bool {
    cqc.strip_prefix("1-")
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Client of the care-homes API; cheap to clone.
#[derive(Debug, Clone)]
pub struct CareHomesClient {
    http: reqwest::Client,
    base: String,
    credentials: Option<Arc<TokenProvider>>,
}

impl CareHomesClient {
    /// A client of the API at `base_url` (e.g. `http://127.0.0.1:8084`),
    /// sending requests with `http` (timeouts, user agent).
    pub fn new(base_url: &str, http: reqwest::Client) -> Self {
        Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            credentials: None,
        }
    }

    /// This client, signing every request in with `credentials`.
    pub fn with_credentials(mut self, credentials: Arc<TokenProvider>) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The API's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn execute(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, CareHomeError> {
        let response = send_signed(self.credentials.as_deref(), make).await?;
        check(response).await
    }

    /// The homes this identity may change, with their current figures.
    pub async fn homes(&self) -> Result<Vec<HomeView>, CareHomeError> {
        let url = format!("{}/api/v1/care-homes", self.base);
        let response = self.execute(|| self.http.get(&url)).await?;
        read_json::<HomeList>(response).await.map(|l| l.homes)
    }

    /// One home's current record.
    pub async fn home(&self, cqc: &str) -> Result<HomeView, CareHomeError> {
        let url = format!("{}/api/v1/care-homes/{cqc}", self.base);
        let response = self.execute(|| self.http.get(&url)).await?;
        read_json::<HomeView>(response).await
    }

    /// Sends `update` of home `cqc` once, under idempotency `key`.
    pub async fn send(
        &self,
        cqc: &str,
        update: &Update,
        key: &str,
    ) -> Result<Saved, CareHomeError> {
        let response = match update {
            Update::Report(report) => {
                let url = format!("{}/api/v1/care-homes/{cqc}/vacancies", self.base);
                self.execute(|| {
                    self.http
                        .put(&url)
                        .header("Idempotency-Key", key)
                        .json(report)
                })
                .await?
            }
            Update::Unchanged => {
                let url = format!("{}/api/v1/care-homes/{cqc}/confirmation", self.base);
                self.execute(|| self.http.post(&url).header("Idempotency-Key", key))
                    .await?
            }
        };
        read_json::<SaveAnswer>(response).await.map(|a| a.saved)
    }
}

/// Sends `update` of home `cqc` under a new idempotency key, sending it again
/// with the same key while the API is unavailable or busy (with backoff, at
/// most [`SEND_ATTEMPTS`] times) or rate-limited (as long as it asks), until
/// it is saved, refused, or `cancel` fires.
pub async fn send_update(
    client: &CareHomesClient,
    cqc: &str,
    update: &Update,
    cancel: &CancellationToken,
) -> Result<Saved, CareHomeError> {
    let key = uuid::Uuid::now_v7().to_string();
    send_with_key(client, cqc, update, &key, cancel).await
}

/// [`send_update`] with a given key.
pub async fn send_with_key(
    client: &CareHomesClient,
    cqc: &str,
    update: &Update,
    key: &str,
    cancel: &CancellationToken,
) -> Result<Saved, CareHomeError> {
    let mut backoff = Backoff::new();
    loop {
        let error = match client.send(cqc, update, key).await {
            Ok(saved) => return Ok(saved),
            Err(error) if error.is_retryable() => error,
            Err(error) => return Err(error),
        };
        let delay = match &error {
            CareHomeError::RateLimited(wait) => *wait,
            _ if backoff.failures() + 1 >= SEND_ATTEMPTS => return Err(error),
            _ => backoff.next_delay(),
        };
        tracing::debug!(home = cqc, %error, ?delay, key, "sending the update again with the same key");
        tokio::select! {
            () = cancel.cancelled() => return Err(error),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, CareHomeError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| CareHomeError::Unavailable(e.without_url().to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| CareHomeError::Refused {
        status: 0,
        message: format!("the care-homes API's answer is not the expected JSON: {e}"),
        problems: Problems::default(),
    })
}

async fn check(response: reqwest::Response) -> Result<reqwest::Response, CareHomeError> {
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
    let (message, problems) = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => (body.error, body.problems),
        Err(_) => (text.chars().take(200).collect(), Vec::new()),
    };
    Err(classify(status, message, problems, retry_after))
}

/// Sorts a non-success answer into a [`CareHomeError`].
pub fn classify(
    status: StatusCode,
    message: String,
    problems: Vec<Problem>,
    retry_after: Option<Duration>,
) -> CareHomeError {
    match status {
        StatusCode::TOO_MANY_REQUESTS => {
            CareHomeError::RateLimited(retry_after.unwrap_or(DEFAULT_RETRY_AFTER))
        }
        StatusCode::CONFLICT => CareHomeError::Busy(message),
        StatusCode::UNAUTHORIZED => CareHomeError::Unauthorized(message),
        StatusCode::REQUEST_TIMEOUT => CareHomeError::Unavailable(format!("{status}: {message}")),
        s if s.is_server_error() => CareHomeError::Unavailable(format!("{s}: {message}")),
        s => CareHomeError::Refused {
            status: s.as_u16(),
            message,
            problems: Problems(problems),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sorted_by_what_to_do() {
        let c = |s: u16| {
            classify(
                StatusCode::from_u16(s).expect("valid"),
                "x".into(),
                Vec::new(),
                None,
            )
        };
        for retry in [500, 502, 503, 504, 408, 409, 429, 401] {
            assert!(c(retry).is_retryable(), "{retry}");
        }
        for refused in [400, 403, 404, 413, 422] {
            assert!(!c(refused).is_retryable(), "{refused}");
        }
        assert!(matches!(
            classify(
                StatusCode::TOO_MANY_REQUESTS,
                "slow down".into(),
                Vec::new(),
                Some(Duration::from_secs(3))
            ),
            CareHomeError::RateLimited(d) if d == Duration::from_secs(3)
        ));
    }

    #[test]
    fn refusals_name_the_problems() {
        let error = classify(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the update breaks the rules below and was not saved".into(),
            vec![
                Problem {
                    field: "vacancies.nursing.vacant".into(),
                    message: "Vacant nursing beds must be 20 or fewer".into(),
                },
                Problem {
                    field: "closure_reason".into(),
                    message: "Select why the home is closed to admissions".into(),
                },
            ],
            None,
        );
        assert_eq!(
            error.to_string(),
            "refused (422): the update breaks the rules below and was not saved: \
             vacancies.nursing.vacant: Vacant nursing beds must be 20 or fewer; \
             closure_reason: Select why the home is closed to admissions"
        );
    }

    #[test]
    fn homes_are_read_from_the_documented_shape() {
        let home: HomeView = serde_json::from_str(
            r#"{"cqc_location_id":"1-000000001","name":"Sandy House (demo)","address":"80 Station Road",
                "postcode":"LE16 4DG","locality":"leicestershire","latitude":52.4,"longitude":-0.9,
                "registered_beds":42,
                "vacancies":[
                  {"category":"residential","label":"Residential","vacant":2,"unavailable":1,"available":1,"sex":"female"},
                  {"category":"residential_dementia","label":"Residential dementia","vacant":0,"unavailable":0,"available":0,"sex":"either"}],
                "closed_to_admissions":true,"closure_reason":"outbreak","closure_detail":"Norovirus",
                "accepting_hospital_discharges":false,"note":"","last_updated_at":"2025-01-01T08:00:00Z",
                "last_updated_by":"Hospital simulator (demo only)","stale":false,"version":3}"#,
        )
        .expect("valid");
        let spec = home.spec();
        assert_eq!(spec.registered_beds, 42);
        assert_eq!(spec.categories, ["residential", "residential_dementia"]);
        assert!(home.has_figures());
        let current = home.current();
        assert_eq!(crate::vacancies::check(&spec, &current), Ok(()));
        assert_eq!(current.vacancies["residential"].unavailable, 1);
        assert_eq!(current.closure_reason.as_deref(), Some("outbreak"));

        let never: HomeView = serde_json::from_str(
            r#"{"cqc_location_id":"1-000000002","name":"Field View (demo)","registered_beds":20,
                "vacancies":[{"category":"mental_health_residential","vacant":0,"unavailable":0,"sex":"either"}],
                "closed_to_admissions":false,"closure_reason":null,"closure_detail":"",
                "accepting_hospital_discharges":true,"note":"","last_updated_at":null,"version":1}"#,
        )
        .expect("valid");
        assert!(!never.has_figures());
    }

    #[test]
    fn only_plain_cqc_ids_go_into_paths() {
        assert!(is_plain_cqc("1-000000001"));
        assert!(!is_plain_cqc("1-"));
        assert!(!is_plain_cqc("1-12/../x"));
        assert!(!is_plain_cqc("RWE"));
    }
}
