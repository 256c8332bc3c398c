//! A small client of the hospital-beds HTTP API (see `docs/architecture.md`).
//!
//! Every failure is sorted into an [`ApiError`] the caller can act on: a
//! conflict means "my picture of the bed is stale", unavailability means
//! "back off and try again", anything else is logged and the bed re-read.
//!
//! With credentials ([`BedsClient::with_credentials`]) every request carries
//! `Authorization: Bearer …` from the shared [`TokenProvider`]; a 401 drops
//! the token and sends the request once more with a fresh one.

use std::sync::Arc;
use std::time::Duration;

use pf_hospital_model::{BedAddress, BedState};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use crate::credentials::TokenProvider;

/// What went wrong with one request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 409: impossible transition, bed not open, already open or a
    /// concurrent change. Our picture of the bed is stale.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 404: the API does not know the bed (its catalogue differs from ours).
    #[error("unknown bed: {0}")]
    NotFound(String),
    /// The API could not be reached, timed out or answered 5xx: worth retrying later.
    #[error("API unavailable: {0}")]
    Unavailable(String),
    /// 401 even with a freshly fetched token, or the identity service refused
    /// our client credentials: worth retrying later (a secret may be rotated,
    /// a grant added), with backoff.
    #[error("not signed in: {0}")]
    Unauthorized(String),
    /// Any other answer (400, 403, 413, 422, an unreadable body): a bug somewhere,
    /// not worth retrying as it is.
    #[error("request refused ({status}): {message}")]
    Refused {
        /// HTTP status, or 0 when the body could not be read.
        status: u16,
        /// What the API (or the decoder) said.
        message: String,
    },
}

impl ApiError {
    /// Whether waiting and trying again may help.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ApiError::Unavailable(_))
    }

    /// Whether waiting (with backoff) and trying again may help: the API or
    /// the identity service is unavailable, or we are not signed in.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ApiError::Unavailable(_) | ApiError::Unauthorized(_))
    }
}

/// A bed as `GET /api/v1/beds/{site}/{ward}/{bed}` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BedView {
    /// Whether the bed is open (in use); closed-for-cleaning beds are still open.
    pub open: bool,
    /// The state of an open bed; `None` when not open.
    #[serde(default)]
    pub state: Option<BedState>,
    /// The bed's entity version: how many events it has had.
    #[serde(default)]
    pub version: u64,
}

impl BedView {
    /// The state that matters to the simulator: `None` when not open.
    pub fn open_state(&self) -> Option<BedState> {
        if self.open { self.state } else { None }
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
}

#[derive(Serialize)]
struct ReasonBody<'a> {
    reason: &'a str,
}

#[derive(Serialize)]
struct StateBody<'a> {
    state: BedState,
    reason: &'a str,
}

/// Client of the hospital-beds API; cheap to clone (shares one connection
/// pool and one access token).
#[derive(Debug, Clone)]
pub struct BedsClient {
    http: reqwest::Client,
    base: String,
    credentials: Option<Arc<TokenProvider>>,
    adt: Option<crate::adt::AdtSender>,
}

impl BedsClient {
    /// A client of the API at `base_url` (e.g. `http://127.0.0.1:8081`).
    pub fn new(base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .pool_max_idle_per_host(64)
            .user_agent(concat!("pf-simulator/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            credentials: None,
            adt: None,
        })
    }

    /// This client, signing every request in with `credentials`.
    pub fn with_credentials(mut self, credentials: Arc<TokenProvider>) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// This client, sending admissions and discharges as HL7 v2 ADT over
    /// MLLP through `adt` (ADT mode) instead of through the API.
    pub fn with_adt(mut self, adt: crate::adt::AdtSender) -> Self {
        self.adt = Some(adt);
        self
    }

    /// Moves a bed from `from` to `to`: in ADT mode an admission (available
    /// or reserved → occupied) or a discharge (occupied → awaiting clean) is
    /// an ADT message, everything else an API call.
    pub async fn change_state(
        &self,
        bed: &BedAddress,
        from: Option<BedState>,
        to: BedState,
        reason: &str,
    ) -> Result<(), ApiError> {
        use crate::adt::AdtEvent;
        let event = match (from, to) {
            (Some(BedState::Available | BedState::Reserved), BedState::Occupied) => {
                Some(AdtEvent::Admit)
            }
            (Some(BedState::Occupied), BedState::AwaitingClean) => Some(AdtEvent::Discharge),
            _ => None,
        };
        match (&self.adt, event) {
            (Some(adt), Some(event)) => adt.send(event, bed).await,
            _ => self.set_state(bed, to, reason).await,
        }
    }

    /// The HTTP client (timeouts, user agent), to share with a [`TokenProvider`].
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends the request `make` builds, signed in when there are credentials;
    /// on a 401 with a token, drops it and sends the request once more.
    async fn execute(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        check(send_signed(self.credentials.as_deref(), make).await?).await
    }

    fn url(&self, bed: &BedAddress, action: Option<&str>) -> String {
        let mut url = format!(
            "{}/api/v1/beds/{}/{}/{}",
            self.base, bed.site, bed.ward, bed.bed
        );
        if let Some(action) = action {
            url.push('/');
            url.push_str(action);
        }
        url
    }

    /// Reads a bed's current state.
    pub async fn get(&self, bed: &BedAddress) -> Result<BedView, ApiError> {
        let url = self.url(bed, None);
        let response = self.execute(|| self.http.get(&url)).await?;
        response.json::<BedView>().await.map_err(|e| {
            if e.is_decode() {
                ApiError::Refused {
                    status: 0,
                    message: format!("unreadable bed view: {e}"),
                }
            } else {
                transport(e)
            }
        })
    }

    /// Opens a bed (it becomes available).
    pub async fn open(&self, bed: &BedAddress, reason: &str) -> Result<(), ApiError> {
        let url = self.url(bed, Some("open"));
        let body = ReasonBody { reason };
        self.execute(|| self.http.post(&url).json(&body))
            .await
            .map(drop)
    }

    /// Moves an open bed to `state`.
    pub async fn set_state(
        &self,
        bed: &BedAddress,
        state: BedState,
        reason: &str,
    ) -> Result<(), ApiError> {
        let url = self.url(bed, Some("state"));
        let body = StateBody { state, reason };
        self.execute(|| self.http.post(&url).json(&body))
            .await
            .map(drop)
    }

    /// Withdraws an open bed (it stops being counted).
    pub async fn withdraw(&self, bed: &BedAddress, reason: &str) -> Result<(), ApiError> {
        let url = self.url(bed, Some("withdraw"));
        let body = ReasonBody { reason };
        self.execute(|| self.http.post(&url).json(&body))
            .await
            .map(drop)
    }
}

/// Sends the request `make` builds, with `Authorization: Bearer …` from
/// `credentials` when there are any; on a 401 with a token, drops it and
/// sends the request once more. Returns the answer whatever its status
/// (a second 401 included); fails only when no answer came or no token
/// could be obtained.
pub(crate) async fn send_signed(
    credentials: Option<&TokenProvider>,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, ApiError> {
    let Some(credentials) = credentials else {
        return make().send().await.map_err(transport);
    };
    let mut retried = false;
    loop {
        let token = credentials.bearer().await?;
        let response = make()
            .bearer_auth(token.secret())
            .send()
            .await
            .map_err(transport)?;
        if response.status() != StatusCode::UNAUTHORIZED {
            credentials.accepted();
            return Ok(response);
        }
        let again = credentials.rejected(&token);
        if retried || !again {
            return Ok(response);
        }
        retried = true;
    }
}

fn transport(error: reqwest::Error) -> ApiError {
    // Connection refused, reset, timed out: all mean "not there right now".
    ApiError::Unavailable(error.to_string())
}

async fn check(response: reqwest::Response) -> Result<reqwest::Response, ApiError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<ErrorBody>(&text)
        .map(|b| b.error)
        .unwrap_or_else(|_| text.chars().take(200).collect());
    Err(classify(status, message))
}

/// Sorts a non-success status into an [`ApiError`].
pub fn classify(status: StatusCode, message: String) -> ApiError {
    match status {
        StatusCode::CONFLICT => ApiError::Conflict(message),
        StatusCode::NOT_FOUND => ApiError::NotFound(message),
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized(message),
        StatusCode::TOO_MANY_REQUESTS => ApiError::Unavailable(message),
        s if s.is_server_error() => ApiError::Unavailable(format!("{s}: {message}")),
        s => ApiError::Refused {
            status: s.as_u16(),
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_sorted_by_what_to_do() {
        let c = |s: u16| classify(StatusCode::from_u16(s).expect("valid"), "x".into());
        assert!(matches!(c(409), ApiError::Conflict(_)));
        assert!(matches!(c(404), ApiError::NotFound(_)));
        assert!(c(503).is_unavailable());
        assert!(c(500).is_unavailable());
        assert!(c(429).is_unavailable());
        assert!(matches!(c(422), ApiError::Refused { status: 422, .. }));
        assert!(!c(400).is_unavailable());
        assert!(matches!(c(401), ApiError::Unauthorized(_)));
        assert!(c(401).is_retryable() && c(503).is_retryable());
        assert!(!c(403).is_retryable() && !c(409).is_retryable());
    }

    #[test]
    fn bed_views_are_read_from_the_documented_shape() {
        let open: BedView = serde_json::from_str(
            r#"{"site":"RWEAA","ward":"WD15","bed":"B03","kind":"general_acute",
                "escalation":false,"open":true,"state":"awaiting_clean","version":7}"#,
        )
        .expect("valid");
        assert_eq!(open.open_state(), Some(BedState::AwaitingClean));
        assert_eq!(open.version, 7);
        let never: BedView = serde_json::from_str(
            r#"{"site":"RWEAA","ward":"WD15","bed":"E01","kind":"general_acute",
                "escalation":true,"open":false,"state":null,"version":0}"#,
        )
        .expect("valid");
        assert_eq!(never.open_state(), None);
    }
}
