//! Short-lived, single-use records of sign-ins in progress, kept in Redis:
//! the `state` of an OpenID Connect sign-in this service started, and the
//! authorization codes the demo issuer handed out.
//!
//! Keys (under the sign-in prefix, default `pf-auth:`, which the identity
//! service's Redis user may write):
//! - `oidc-state:{sha256(state)}`: what the callback needs ([`OidcStart`]);
//! - `oidc-code:{sha256(code)}`: what the token endpoint checks ([`IssuedCode`]).
//!
//! Each is read and deleted in one step (`GETDEL`), so it works once, and
//! expires on its own. Only the SHA-256 of the state or code is a key, so a
//! copy of Redis gives neither away.

use std::time::Duration;

use base64::Engine as _;
use pf_access::Principal;
use pf_runtime::RedisConnection;
use rand::RngCore as _;
use redis::aio::ConnectionManagerConfig;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// How long a started sign-in waits for the provider's answer (10 minutes).
pub const STATE_TTL: Duration = Duration::from_secs(10 * 60);
/// How long an authorization code of the demo issuer works (60 seconds).
pub const CODE_TTL: Duration = Duration::from_secs(60);

/// The pending store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PendingError {
    /// A Redis command failed.
    #[error("the sign-in store is unavailable: {0}")]
    Redis(#[from] redis::RedisError),
    /// A record could not be written or read back.
    #[error("the sign-in store holds unreadable data: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// A sign-in this service started at the provider, keyed by its `state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcStart {
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier sent with the code.
    pub code_verifier: String,
    /// Where to go once signed in (already checked by `return_to`).
    pub return_to: String,
    /// The browser that started it (the `pf_oidc` cookie's value).
    pub browser: String,
}

/// An authorization code the demo issuer gave out, keyed by the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCode {
    /// The client it was given to.
    pub client_id: String,
    /// The exact `redirect_uri` of the authorization request.
    pub redirect_uri: String,
    /// The client's `nonce`, for the ID token.
    pub nonce: Option<String>,
    /// The PKCE S256 challenge the verifier must match.
    pub code_challenge: String,
    /// Who signed in.
    pub principal: Principal,
}

/// A new random value (256 bits, base64url, 43 characters): states,
/// nonces, code verifiers and codes.
pub fn random_value() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `value` could be one of [`random_value`]'s (or a provider's
/// state or code of reasonable size): 1 to 512 URL-safe characters.
pub fn plausible(value: &str) -> bool {
    (1..=512).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
}

/// The check part of a `state`: 22 characters of SHA-256 over the
/// browser cookie and the random part. Both have a fixed length, and the
/// browser cookie is HttpOnly and never leaves this browser and this
/// service, so a state changed on the way back cannot carry a matching
/// check. It only tells a changed state from an expired one (the state's
/// record in Redis is what lets a sign-in finish).
fn state_check(browser: &str, random: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"pf-oidc-state\0");
    hash.update(browser.as_bytes());
    hash.update(b"\0");
    hash.update(random.as_bytes());
    let mut check = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash.finalize());
    check.truncate(22);
    check
}

/// A new `state` for a sign-in started in `browser`: a random value, `.`,
/// and a check tied to the browser (see [`state_made_for`]).
pub fn new_state(browser: &str) -> String {
    let random = random_value();
    let check = state_check(browser, &random);
    format!("{random}.{check}")
}

/// Whether `state` is one [`new_state`] made for `browser`, unchanged: a
/// state that is not (while the browser is the one that started a
/// sign-in) was changed on the way back.
pub fn state_made_for(state: &str, browser: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    let Some((random, check)) = state.split_once('.') else {
        return false;
    };
    random.len() == 43
        && check.len() == 22
        && bool::from(
            state_check(browser, random)
                .as_bytes()
                .ct_eq(check.as_bytes()),
        )
}

fn digest(value: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(value.as_bytes()))
}

/// The single-use records.
#[derive(Clone)]
pub struct PendingStore {
    connection: RedisConnection,
    prefix: String,
}

impl PendingStore {
    /// Connects to Redis at `url`, keys under `prefix`.
    pub async fn connect(url: &str, prefix: impl Into<String>) -> Result<Self, PendingError> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_connection_timeout(Some(Duration::from_secs(5)));
        let connection = RedisConnection::connect(url, config).await?;
        Ok(Self {
            connection,
            prefix: prefix.into(),
        })
    }

    fn key(&self, kind: &str, value: &str) -> String {
        format!("{}{kind}:{}", self.prefix, digest(value))
    }

    async fn put(
        &self,
        kind: &str,
        value: &str,
        record: &impl Serialize,
        ttl: Duration,
    ) -> Result<(), PendingError> {
        let mut connection = self.connection.clone();
        let _: () = redis::cmd("SET")
            .arg(self.key(kind, value))
            .arg(serde_json::to_string(record)?)
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .arg("NX")
            .query_async(&mut connection)
            .await?;
        Ok(())
    }

    async fn take<T: DeserializeOwned>(
        &self,
        kind: &str,
        value: &str,
    ) -> Result<Option<T>, PendingError> {
        if !plausible(value) {
            return Ok(None);
        }
        let mut connection = self.connection.clone();
        let stored: Option<String> = redis::cmd("GETDEL")
            .arg(self.key(kind, value))
            .query_async(&mut connection)
            .await?;
        stored
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(PendingError::from)
    }

    /// Remembers a started sign-in under its `state` for [`STATE_TTL`].
    pub async fn put_state(&self, state: &str, start: &OidcStart) -> Result<(), PendingError> {
        self.put("oidc-state", state, start, STATE_TTL).await
    }

    /// The started sign-in with this `state`, once; `None` when unknown,
    /// expired or already used.
    pub async fn take_state(&self, state: &str) -> Result<Option<OidcStart>, PendingError> {
        self.take("oidc-state", state).await
    }

    /// Remembers an authorization code for [`CODE_TTL`].
    pub async fn put_code(&self, code: &str, issued: &IssuedCode) -> Result<(), PendingError> {
        self.put("oidc-code", code, issued, CODE_TTL).await
    }

    /// The authorization code's record, once; `None` when unknown, expired
    /// or already used.
    pub async fn take_code(&self, code: &str) -> Result<Option<IssuedCode>, PendingError> {
        self.take("oidc-code", code).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_are_long_and_url_safe() {
        let value = random_value();
        assert_eq!(value.len(), 43);
        assert!(plausible(&value));
        assert_ne!(value, random_value());
        assert!(!plausible("") && !plausible("a b") && !plausible(&"a".repeat(513)));
        assert_ne!(digest("a"), digest("b"));
    }

    #[test]
    fn a_state_is_checked_against_its_browser() {
        let browser = random_value();
        let state = new_state(&browser);
        assert!(plausible(&state));
        assert!(state_made_for(&state, &browser));
        assert!(!state_made_for(&state, &random_value()));
        let mut changed = state.clone().into_bytes();
        changed[0] = if changed[0] == b'A' { b'B' } else { b'A' };
        assert!(!state_made_for(
            &String::from_utf8(changed).unwrap_or_default(),
            &browser
        ));
        assert!(!state_made_for("no-dot", &browser));
    }
}
