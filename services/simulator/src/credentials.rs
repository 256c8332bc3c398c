//! Signing the simulator in: an OAuth 2.0 client-credentials token from the
//! identity service, cached, refreshed before it expires, and sent as
//! `Authorization: Bearer …` on every request to hospital-beds.
//!
//! Configuration ([`CredentialsConfig::from_lookup`]):
//! - `PF_IDENTITY_URL` (default `http://127.0.0.1:8083`): the token endpoint is
//!   `{PF_IDENTITY_URL}/oauth/token`;
//! - `PF_CLIENT_ID` (default `simulator`);
//! - `PF_CLIENT_SECRET`, or `PF_CLIENT_SECRET_FILE` (read again at every token
//!   request, trimmed, so a rotated secret file is picked up without a
//!   restart). With neither, the simulator sends no token (for platforms
//!   without sign-in) and says so once in the log.
//!
//! Refresh: a token is renewed once less than [`refresh_margin`] of its life
//! remains (60 s, or 10% of its life for tokens shorter than ten minutes), and
//! when the API answers 401: then the token is dropped and fetched again once;
//! a second 401 is reported as [`ApiError::Unauthorized`] and further forced
//! refreshes wait with [`Backoff`]. A failed token request is not repeated
//! before its own backoff delay has passed; meanwhile a token that is due for
//! refresh but not yet expired is still used.
//!
//! Neither the secret nor the token is ever logged: both live in types whose
//! `Debug` prints `[redacted]`.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use tokio::time::Instant;

use crate::client::ApiError;
use crate::retry::Backoff;

/// Where the identity service listens unless `PF_IDENTITY_URL` says otherwise.
pub const DEFAULT_IDENTITY_URL: &str = "http://127.0.0.1:8083";
/// The simulator's machine identity unless `PF_CLIENT_ID` says otherwise.
pub const DEFAULT_CLIENT_ID: &str = "simulator";
/// The path of the token endpoint under the identity service's base URL.
pub const TOKEN_PATH: &str = "/oauth/token";
/// Renew a token when less than this remains (for tokens of ten minutes or more).
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(60);
/// The life assumed for a token whose answer has no `expires_in`.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// A secret string whose `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where the client secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `PF_CLIENT_SECRET`.
    Value(Secret),
    /// `PF_CLIENT_SECRET_FILE`: read (and trimmed) at every token request.
    File(PathBuf),
}

impl SecretSource {
    /// The secret now.
    pub fn load(&self) -> anyhow::Result<Secret> {
        match self {
            SecretSource::Value(secret) => Ok(secret.clone()),
            SecretSource::File(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read PF_CLIENT_SECRET_FILE `{}`", path.display())
                })?;
                let secret = text.trim();
                if secret.is_empty() {
                    bail!("PF_CLIENT_SECRET_FILE `{}` is empty", path.display());
                }
                Ok(Secret::new(secret))
            }
        }
    }
}

/// How the simulator signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsConfig {
    /// Base URL of the identity service, without a trailing slash.
    pub identity_url: String,
    /// The OAuth client id of the simulator's machine identity.
    pub client_id: String,
    /// The client secret; `None` runs without a token.
    pub secret: Option<SecretSource>,
}

impl Default for CredentialsConfig {
    fn default() -> Self {
        Self {
            identity_url: DEFAULT_IDENTITY_URL.to_owned(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            secret: None,
        }
    }
}

impl CredentialsConfig {
    /// Reads `PF_IDENTITY_URL`, `PF_CLIENT_ID`, `PF_CLIENT_SECRET` and
    /// `PF_CLIENT_SECRET_FILE` through `lookup`; unset or empty variables take
    /// the defaults. Setting both secret variables is an error, and so is a
    /// secret file that cannot be read or is empty.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut config = Self::default();
        if let Some(url) = get("PF_IDENTITY_URL") {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("PF_IDENTITY_URL must start with http:// or https://, got `{url}`");
            }
            config.identity_url = url.trim_end_matches('/').to_owned();
        }
        if let Some(id) = get("PF_CLIENT_ID") {
            config.client_id = id;
        }
        config.secret = match (get("PF_CLIENT_SECRET"), get("PF_CLIENT_SECRET_FILE")) {
            (Some(_), Some(_)) => {
                bail!("set PF_CLIENT_SECRET or PF_CLIENT_SECRET_FILE, not both")
            }
            (Some(secret), None) => Some(SecretSource::Value(Secret::new(secret))),
            (None, Some(path)) => {
                let source = SecretSource::File(PathBuf::from(path));
                source.load()?;
                Some(source)
            }
            (None, None) => None,
        };
        Ok(config)
    }

    /// The token endpoint: `{identity_url}/oauth/token`.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.identity_url)
    }
}

/// How long before expiry a token of `lifetime` is renewed: 60 s, or 10% of
/// its life when that is less (tokens shorter than ten minutes).
pub fn refresh_margin(lifetime: Duration) -> Duration {
    REFRESH_BEFORE_EXPIRY.min(lifetime / 10)
}

/// An access token and when it was obtained.
#[derive(Clone)]
pub struct AccessToken {
    value: Secret,
    generation: u64,
    obtained: Instant,
    lifetime: Duration,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &self.value)
            .field("generation", &self.generation)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl AccessToken {
    /// A token obtained at `obtained` (taken before the request was sent, so
    /// the real expiry is never earlier than we think) that lives `lifetime`.
    pub fn new(value: Secret, generation: u64, obtained: Instant, lifetime: Duration) -> Self {
        Self {
            value,
            generation,
            obtained,
            lifetime,
        }
    }

    /// The token, for the `Authorization` header.
    pub fn secret(&self) -> &str {
        self.value.expose()
    }

    /// When it stops being valid.
    pub fn expires_at(&self) -> Instant {
        self.obtained + self.lifetime
    }

    /// When it should be renewed ([`refresh_margin`] before expiry).
    pub fn refresh_at(&self) -> Instant {
        self.expires_at() - refresh_margin(self.lifetime)
    }

    /// Whether it should be renewed at `now`.
    pub fn needs_refresh(&self, now: Instant) -> bool {
        now >= self.refresh_at()
    }

    /// Whether it has expired at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires_at()
    }
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The token endpoint's refusal (RFC 6749 §5.2).
#[derive(Deserialize)]
struct TokenErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// What a failed token request means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureKind {
    /// The identity service is down or overloaded: try later.
    Unavailable,
    /// It refused our credentials (400/401): a configuration problem.
    Refused,
}

#[derive(Debug, Clone)]
struct FetchFailure {
    kind: FailureKind,
    message: String,
}

impl FetchFailure {
    fn to_api_error(&self) -> ApiError {
        match self.kind {
            FailureKind::Unavailable => {
                ApiError::Unavailable(format!("identity service: {}", self.message))
            }
            FailureKind::Refused => ApiError::Unauthorized(self.message.clone()),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    token: Option<AccessToken>,
    /// Failed token requests since the last success.
    fetch_backoff: Backoff,
    /// No token request before then, after a failure.
    fetch_blocked_until: Option<Instant>,
    last_failure: Option<FetchFailure>,
    /// 401s that forced a refresh since the API last accepted a request.
    rejection_backoff: Backoff,
    /// No forced refresh before then.
    forced_refresh_blocked_until: Option<Instant>,
}

/// Fetches, caches and refreshes the simulator's access token; shared by
/// every clone of the [`BedsClient`](crate::BedsClient).
#[derive(Debug)]
pub struct TokenProvider {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    secret: SecretSource,
    state: Mutex<State>,
    /// One token request at a time; the others wait for its result.
    fetching: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    rejections_pending: AtomicBool,
}

impl TokenProvider {
    /// A provider for `config`, or `None` when no secret is configured.
    pub fn new(config: &CredentialsConfig, http: reqwest::Client) -> Option<Self> {
        let secret = config.secret.clone()?;
        Some(Self {
            http,
            token_url: config.token_url(),
            client_id: config.client_id.clone(),
            secret,
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            rejections_pending: AtomicBool::new(false),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn usable(&self, now: Instant) -> Option<AccessToken> {
        self.state()
            .token
            .as_ref()
            .filter(|t| !t.needs_refresh(now))
            .cloned()
    }

    /// The token to send now: the cached one, or a fresh one when it is due
    /// for refresh. Fails with [`ApiError::Unavailable`] when the identity
    /// service cannot be reached and with [`ApiError::Unauthorized`] when it
    /// refuses our credentials (and no unexpired token is left).
    pub async fn bearer(&self) -> Result<AccessToken, ApiError> {
        if let Some(token) = self.usable(Instant::now()) {
            return Ok(token);
        }
        let _fetching = self.fetching.lock().await;
        // Another request may have fetched one while we waited.
        let now = Instant::now();
        if let Some(token) = self.usable(now) {
            return Ok(token);
        }
        let blocked = {
            let state = self.state();
            match (&state.fetch_blocked_until, &state.last_failure) {
                (Some(until), Some(failure)) if now < *until => Some(failure.clone()),
                _ => None,
            }
        };
        let was_blocked = blocked.is_some();
        let result = match blocked {
            Some(failure) => Err(failure),
            None => self.fetch(now).await,
        };
        let mut state = self.state();
        match result {
            Ok(token) => {
                tracing::debug!(
                    lifetime_s = token.lifetime.as_secs(),
                    client_id = %self.client_id,
                    "access token obtained"
                );
                if state.fetch_backoff.failures() > 0 {
                    tracing::info!("the identity service issued a token again");
                }
                state.fetch_backoff.reset();
                state.fetch_blocked_until = None;
                state.last_failure = None;
                state.token = Some(token.clone());
                Ok(token)
            }
            Err(failure) => {
                if !was_blocked {
                    let delay = state.fetch_backoff.next_delay();
                    state.fetch_blocked_until = Some(Instant::now() + delay);
                    if state.fetch_backoff.should_warn() {
                        tracing::warn!(
                            error = %failure.message,
                            client_id = %self.client_id,
                            ?delay,
                            failures = state.fetch_backoff.failures(),
                            "cannot obtain an access token"
                        );
                    }
                    state.last_failure = Some(failure.clone());
                }
                // A token due for refresh but not yet expired is still good.
                match state.token.as_ref().filter(|t| !t.is_expired(now)) {
                    Some(token) => Ok(token.clone()),
                    None => Err(failure.to_api_error()),
                }
            }
        }
    }

    async fn fetch(&self, started: Instant) -> Result<AccessToken, FetchFailure> {
        let secret = self.secret.load().map_err(|e| FetchFailure {
            kind: FailureKind::Refused,
            message: format!("{e:#}"),
        })?;
        let unavailable = |message: String| FetchFailure {
            kind: FailureKind::Unavailable,
            message,
        };
        let response = self
            .http
            .post(&self.token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", secret.expose()),
            ])
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        if !status.is_success() {
            // Only the standard fields are repeated, never the raw body.
            let reason = serde_json::from_slice::<TokenErrorBody>(&body)
                .map(|b| match b.error_description {
                    Some(description) => format!("{}: {description}", b.error),
                    None => b.error,
                })
                .unwrap_or_else(|_| status.to_string());
            let kind = if status.is_server_error() || status.as_u16() == 429 {
                FailureKind::Unavailable
            } else {
                FailureKind::Refused
            };
            return Err(FetchFailure {
                kind,
                message: format!(
                    "the identity service refused client `{}` ({status}): {reason}",
                    self.client_id
                ),
            });
        }
        let answer: TokenResponse = serde_json::from_slice(&body).map_err(|_| FetchFailure {
            kind: FailureKind::Refused,
            message: "the identity service's token answer is not the expected JSON".to_owned(),
        })?;
        if let Some(kind) = answer.token_type.as_deref()
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(FetchFailure {
                kind: FailureKind::Refused,
                message: format!("the identity service issued a `{kind}` token, not a Bearer one"),
            });
        }
        if answer.access_token.is_empty() {
            return Err(FetchFailure {
                kind: FailureKind::Refused,
                message: "the identity service issued an empty token".to_owned(),
            });
        }
        let lifetime = answer
            .expires_in
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(AccessToken::new(
            Secret::new(answer.access_token),
            generation,
            started,
            lifetime,
        ))
    }

    /// The API answered 401 to a request sent with `token`. Returns whether
    /// the request is worth sending once more: yes when the token has been
    /// replaced since, or when it is dropped now (so the next
    /// [`bearer`](Self::bearer) fetches a new one); no while forced refreshes
    /// are backing off.
    pub fn rejected(&self, token: &AccessToken) -> bool {
        let mut state = self.state();
        let now = Instant::now();
        match &state.token {
            Some(current) if current.generation != token.generation => return true,
            None => return true,
            Some(_) => {}
        }
        if state
            .forced_refresh_blocked_until
            .is_some_and(|until| now < until)
        {
            return false;
        }
        state.token = None;
        let delay = state.rejection_backoff.next_delay();
        state.forced_refresh_blocked_until = Some(now + delay);
        self.rejections_pending.store(true, Ordering::Relaxed);
        if state.rejection_backoff.should_warn() {
            tracing::warn!(
                failures = state.rejection_backoff.failures(),
                "an API refused our access token; fetching a new one"
            );
        }
        true
    }

    /// The API accepted a request: forced refreshes need not back off any more.
    pub fn accepted(&self) {
        if self.rejections_pending.swap(false, Ordering::Relaxed) {
            let mut state = self.state();
            state.rejection_backoff.reset();
            state.forced_refresh_blocked_until = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> anyhow::Result<CredentialsConfig> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        CredentialsConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn margin_is_a_minute_or_a_tenth_of_short_lives() {
        assert_eq!(
            refresh_margin(Duration::from_secs(3600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(300)),
            Duration::from_secs(30)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(2)),
            Duration::from_millis(200)
        );
        assert_eq!(refresh_margin(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        let t0 = Instant::now();
        let hour = AccessToken::new(Secret::new("t"), 1, t0, Duration::from_secs(3600));
        assert!(!hour.needs_refresh(t0));
        assert!(!hour.needs_refresh(t0 + Duration::from_secs(3539)));
        assert!(hour.needs_refresh(t0 + Duration::from_secs(3540)));
        assert!(!hour.is_expired(t0 + Duration::from_secs(3599)));
        assert!(hour.is_expired(t0 + Duration::from_secs(3600)));

        let five_minutes = AccessToken::new(Secret::new("t"), 2, t0, Duration::from_secs(300));
        assert_eq!(five_minutes.refresh_at(), t0 + Duration::from_secs(270));
        assert!(!five_minutes.needs_refresh(t0 + Duration::from_secs(269)));
        assert!(five_minutes.needs_refresh(t0 + Duration::from_secs(270)));

        let expired = AccessToken::new(Secret::new("t"), 3, t0, Duration::ZERO);
        assert!(expired.needs_refresh(t0) && expired.is_expired(t0));
    }

    #[test]
    fn secrets_and_tokens_never_print() {
        let token = AccessToken::new(
            Secret::new("eyJhbGciOi.secret.sig"),
            1,
            Instant::now(),
            Duration::from_secs(60),
        );
        let config = from(&[("PF_CLIENT_SECRET", "hunter2")]).expect("valid");
        for text in [
            format!("{token:?}"),
            format!("{config:?}"),
            format!("{}", Secret::new("hunter2")),
        ] {
            assert!(!text.contains("hunter2") && !text.contains("eyJ"), "{text}");
        }
    }

    #[test]
    fn configuration_defaults_and_sources() {
        let config = from(&[]).expect("defaults");
        assert_eq!(config, CredentialsConfig::default());
        assert_eq!(config.token_url(), "http://127.0.0.1:8083/oauth/token");
        assert!(config.secret.is_none());

        let config = from(&[
            ("PF_IDENTITY_URL", "https://id.example/"),
            ("PF_CLIENT_ID", "sim-2"),
            ("PF_CLIENT_SECRET", " s3cret "),
        ])
        .expect("valid");
        assert_eq!(config.token_url(), "https://id.example/oauth/token");
        assert_eq!(config.client_id, "sim-2");
        assert_eq!(
            config
                .secret
                .expect("secret")
                .load()
                .expect("loads")
                .expose(),
            "s3cret"
        );

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("secret");
        std::fs::write(&path, "from-file\n").expect("write");
        let file = path.to_str().expect("utf-8 path");
        let config = from(&[("PF_CLIENT_SECRET_FILE", file)]).expect("valid");
        let source = config.secret.expect("secret");
        assert_eq!(source.load().expect("loads").expose(), "from-file");
        // Re-read at each token request: a rotated file is picked up.
        std::fs::write(&path, "rotated").expect("write");
        assert_eq!(source.load().expect("loads").expose(), "rotated");

        std::fs::write(&path, " \n").expect("write");
        assert!(from(&[("PF_CLIENT_SECRET_FILE", file)]).is_err());
        assert!(from(&[("PF_CLIENT_SECRET_FILE", "/nonexistent/pf-secret")]).is_err());
        assert!(from(&[("PF_CLIENT_SECRET", "a"), ("PF_CLIENT_SECRET_FILE", file)]).is_err());
        assert!(from(&[("PF_IDENTITY_URL", "id:8083")]).is_err());
    }
}
