//! Opaque access tokens (many providers' default) checked by asking the
//! issuer (OAuth 2.0 Token Introspection, RFC 7662), and the person's
//! claims completed from its userinfo endpoint when the claim mapping asks
//! for userinfo (NHS CIS2 gives roles only there).
//!
//! Answers are kept for a minute at most (never past the token's `exp`),
//! keyed by the token's SHA-256, refusals too, so that a client repeating a
//! token, or sending made-up ones, does not turn into one call to the
//! provider per request. At most [`MAX_CACHED`] answers are kept.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::claims::{ClaimMapping, Userinfo};
use crate::principal::Principal;
use crate::token::TokenError;

/// How many answers are kept at most.
pub const MAX_CACHED: usize = 10_000;
/// How long an answer is kept at most.
const KEEP: Duration = Duration::from_secs(60);

/// Where and as whom to introspect an issuer's opaque tokens.
#[derive(Clone)]
pub struct Introspection {
    /// The introspection endpoint.
    pub url: String,
    /// The client id it knows us by.
    pub client_id: String,
    /// Its secret (form-encoded, then HTTP Basic, RFC 6749 section 2.3.1).
    pub client_secret: String,
    /// The userinfo endpoint, when the mapping asks for userinfo.
    pub userinfo_url: Option<String>,
}

impl fmt::Debug for Introspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspection")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("userinfo_url", &self.userinfo_url)
            .finish()
    }
}

/// A kept answer: until when, and what it was.
type Cached = (Instant, Result<Principal, TokenError>);

/// Introspects one issuer's opaque tokens, with a small cache.
pub(crate) struct Introspector {
    config: Introspection,
    issuer: String,
    http: reqwest::Client,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
}

/// `application/x-www-form-urlencoded` of one value (RFC 6749 appendix B).
fn form_encoded(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                use std::fmt::Write as _;
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

impl Introspector {
    pub(crate) fn new(
        config: Introspection,
        issuer: String,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            config,
            issuer,
            http: reqwest::Client::builder().timeout(timeout).build()?,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The principal of an opaque token, from the cache or the issuer.
    pub(crate) async fn principal(
        &self,
        token: &str,
        mapping: &ClaimMapping,
    ) -> Result<Principal, TokenError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Instant::now();
        if let Some((until, answer)) = self.cache.lock().await.get(&key)
            && *until > now
        {
            return answer.clone();
        }
        let (answer, keep) = match self.ask(token, mapping).await {
            // Unreachable: not kept, so the next request tries again.
            Err(e @ TokenError::KeysUnavailable(_)) => return Err(e),
            // Kept no longer than the token lives.
            Ok((principal, to_exp)) => (
                Ok(principal),
                to_exp.map_or(KEEP, |s| Duration::from_secs(s).min(KEEP)),
            ),
            Err(e) => (Err(e), KEEP),
        };
        let mut cache = self.cache.lock().await;
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, (until, _)| *until > now);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(key, (now + keep, answer.clone()));
        answer
    }

    /// Asks the issuer: the principal and the seconds left until the
    /// token's `exp` (if it says).
    async fn ask(
        &self,
        token: &str,
        mapping: &ClaimMapping,
    ) -> Result<(Principal, Option<u64>), TokenError> {
        let unavailable =
            |e: reqwest::Error| TokenError::KeysUnavailable(e.without_url().to_string());
        let response = self
            .http
            .post(&self.config.url)
            .basic_auth(
                form_encoded(&self.config.client_id),
                Some(form_encoded(&self.config.client_secret)),
            )
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(unavailable)?
            .error_for_status()
            .map_err(unavailable)?;
        let mut claims: Map<String, Value> = response.json().await.map_err(unavailable)?;
        if claims.get("active") != Some(&Value::Bool(true)) {
            return Err(TokenError::Inactive);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if claims
            .get("exp")
            .and_then(Value::as_u64)
            .is_some_and(|exp| exp <= now)
        {
            return Err(TokenError::Expired);
        }
        if claims
            .get("iss")
            .and_then(Value::as_str)
            .is_some_and(|iss| iss.trim_end_matches('/') != self.issuer.trim_end_matches('/'))
        {
            return Err(TokenError::WrongIssuer);
        }
        let wants_userinfo = match mapping.userinfo {
            Userinfo::Never => false,
            Userinfo::Always => true,
            Userinfo::WhenNeeded => mapping.principal(&claims).is_err(),
        };
        if let (true, Some(url)) = (wants_userinfo, &self.config.userinfo_url) {
            let userinfo: Map<String, Value> = self
                .http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .map_err(unavailable)?
                .error_for_status()
                .map_err(unavailable)?
                .json()
                .await
                .map_err(unavailable)?;
            if userinfo.get("sub") != claims.get("sub") {
                return Err(TokenError::InvalidClaim {
                    claim: "sub".to_owned(),
                    reason: "userinfo is about another subject".to_owned(),
                });
            }
            for (name, value) in userinfo {
                if !matches!(
                    name.as_str(),
                    "iss"
                        | "aud"
                        | "exp"
                        | "iat"
                        | "nbf"
                        | "sub"
                        | "active"
                        | "client_id"
                        | "scope"
                ) {
                    claims.insert(name, value);
                }
            }
        }
        let principal = mapping.principal(&claims)?;
        let to_exp = claims
            .get("exp")
            .and_then(Value::as_u64)
            .map(|exp| exp.saturating_sub(now));
        Ok((principal, to_exp))
    }
}
