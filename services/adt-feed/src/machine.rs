//! The feed's machine identity towards the platform's own services (the
//! discharges service, the urgent-care service): a bearer token, either an
//! OAuth 2.0 client-credentials token from the identity service, kept until
//! shortly before it expires and fetched again on a 401, or a token issued
//! elsewhere, read from a file. Nothing a patient could be identified by
//! goes in a token request, a log or a metric here.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Where a service is and who the feed is to it.
#[derive(Debug, Clone)]
pub struct ServiceLink {
    /// The service's base URL (`http://discharges:8085`).
    pub url: String,
    /// How the feed proves its machine identity.
    pub credentials: Credentials,
}

/// How the feed gets its bearer token.
#[derive(Clone)]
pub enum Credentials {
    /// A token issued elsewhere (`PF_ADT_DISCHARGES_TOKEN_FILE`,
    /// `PF_ADT_URGENT_CARE_TOKEN_FILE`).
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

/// An HTTP client of one service, signed in as the feed.
#[derive(Clone)]
pub struct MachineClient {
    /// The HTTP client (5 s timeout: a slow service never holds an ACK longer).
    pub http: reqwest::Client,
    /// The client-credentials token and when to fetch a new one.
    token: Arc<Mutex<Option<(String, Instant)>>>,
}

impl Default for MachineClient {
    fn default() -> Self {
        Self::new()
    }
}

impl MachineClient {
    /// A client with no token yet.
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self {
            http,
            token: Arc::default(),
        }
    }

    /// The bearer token now (`None`: it could not be had).
    pub async fn bearer(&self, credentials: &Credentials) -> Option<String> {
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

    /// Posts `body` to `url` as the feed; once more with a new token when
    /// the first was refused (expired, revoked, or the identity service's
    /// keys rotated). `None`: no token, or no answer.
    pub async fn post_json(
        &self,
        credentials: &Credentials,
        url: &str,
        body: &serde_json::Value,
    ) -> Option<u16> {
        let mut status = None;
        for _ in 0..2 {
            let token = self.bearer(credentials).await?;
            let sent = self
                .http
                .post(url)
                .bearer_auth(token)
                .json(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                // reqwest's error names the URL only, never the body.
                .ok();
            status = sent;
            if sent == Some(401) {
                self.forget_token();
            } else {
                break;
            }
        }
        status
    }

    fn forget_token(&self) {
        *self.token.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}
