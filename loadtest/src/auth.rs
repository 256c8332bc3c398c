//! Signing the load test in: a bearer token for the gateway's websocket, given
//! (`--token`) or fetched once with the OAuth 2.0 client-credentials grant
//! (`--client-id`/`--client-secret` against `{--identity-url}/oauth/token`),
//! and the NATS user of the publisher.
//!
//! Secrets live in [`Secret`], whose `Debug` and `Display` print `[redacted]`,
//! so neither `Args` nor a plan nor an error message can leak them.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

/// The path of the token endpoint under the identity service's base URL.
pub const TOKEN_PATH: &str = "/oauth/token";

/// A secret (token, client secret, password) that never prints.
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

impl FromStr for Secret {
    type Err = Infallible;

    fn from_str(value: &str) -> Result<Self, Infallible> {
        Ok(Self::new(value.trim()))
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

/// A NATS user and password for `ConnectOptions::user_and_password`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsCredentials {
    /// The NATS user.
    pub user: String,
    /// Its password.
    pub password: Secret,
}

/// Why no token could be fetched.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The identity service could not be reached or did not answer in time.
    #[error("cannot reach the identity service at {url}: {message}")]
    Unreachable {
        /// The token endpoint.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// It refused the request (RFC 6749 §5.2), e.g. `invalid_client`.
    #[error("the identity service refused client `{client_id}` ({status}): {reason}")]
    Refused {
        /// The client id sent.
        client_id: String,
        /// The HTTP status.
        status: u16,
        /// `error` and `error_description` from its answer.
        reason: String,
    },
    /// It answered something other than a bearer token.
    #[error("the identity service's answer is not a bearer token: {0}")]
    Unexpected(String),
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct TokenErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// The token endpoint of the identity service at `identity_url`.
pub fn token_url(identity_url: &str) -> String {
    format!("{}{TOKEN_PATH}", identity_url.trim_end_matches('/'))
}

/// Fetches an access token with the client-credentials grant:
/// `POST {identity_url}/oauth/token` with the form body
/// `grant_type=client_credentials&client_id=…&client_secret=…`.
pub async fn fetch_token(
    identity_url: &str,
    client_id: &str,
    client_secret: &Secret,
) -> Result<Secret, TokenError> {
    let url = token_url(identity_url);
    let unreachable = |e: reqwest::Error| TokenError::Unreachable {
        url: url.clone(),
        message: e.without_url().to_string(),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("pf-loadtest/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(unreachable)?;
    let response = http
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", client_secret.expose()),
        ])
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    let body = response.bytes().await.map_err(unreachable)?;
    if !status.is_success() {
        // Only the standard fields are repeated, never the raw body.
        let reason = serde_json::from_slice::<TokenErrorBody>(&body)
            .map(|b| match b.error_description {
                Some(description) => format!("{}: {description}", b.error),
                None => b.error,
            })
            .unwrap_or_else(|_| status.to_string());
        return Err(TokenError::Refused {
            client_id: client_id.to_owned(),
            status: status.as_u16(),
            reason,
        });
    }
    let answer: TokenResponse = serde_json::from_slice(&body)
        .map_err(|_| TokenError::Unexpected("not the expected JSON".to_owned()))?;
    if let Some(kind) = answer.token_type.as_deref()
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(TokenError::Unexpected(format!("token type `{kind}`")));
    }
    if answer.access_token.is_empty() {
        return Err(TokenError::Unexpected("an empty token".to_owned()));
    }
    Ok(Secret::new(answer.access_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret: Secret = " hunter2\n".parse().expect("infallible");
        assert_eq!(secret.expose(), "hunter2");
        let nats = NatsCredentials {
            user: "loadtest".into(),
            password: secret.clone(),
        };
        for text in [
            format!("{secret:?}"),
            format!("{secret}"),
            format!("{nats:?}"),
        ] {
            assert!(!text.contains("hunter2"), "{text}");
        }
    }

    #[test]
    fn the_token_endpoint_is_under_the_identity_url() {
        assert_eq!(
            token_url("http://127.0.0.1:8083/"),
            "http://127.0.0.1:8083/oauth/token"
        );
    }
}
