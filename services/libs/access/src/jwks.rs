//! The verification keys of one issuer: a fixed JWKS, or one fetched from a
//! URL (given, or found in the issuer's discovery document), cached and
//! refreshed.
//!
//! A fetched set is refreshed lazily when older than `refresh_every`. A token
//! naming a key id that is not in the set triggers one re-fetch (the issuer
//! may have rotated its keys), at most once per `unknown_key_refetch_every`,
//! so tokens with forged key ids cannot hammer the identity provider. A failed
//! fetch keeps the keys already held and is not retried for the same interval.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

use crate::token::TokenError;

/// One usable verification key.
pub(crate) struct VerifyKey {
    /// The key id (`kid`), if the set gives one.
    pub kid: Option<String>,
    /// The only algorithm the key may verify, if the set says.
    pub alg: Option<Algorithm>,
    /// The key itself.
    pub key: DecodingKey,
}

/// Where the keys come from.
pub(crate) enum KeySource {
    /// Given once at start.
    Static,
    /// Fetched from a URL with this client.
    Url {
        url: String,
        client: reqwest::Client,
    },
    /// Fetched from the `jwks_uri` of the issuer's discovery document
    /// (`{issuer}/.well-known/openid-configuration`), read again at every
    /// fetch, so that a provider moving its keys is followed too.
    Discovery {
        issuer: String,
        client: reqwest::Client,
    },
}

impl KeySource {
    fn fetched(&self) -> bool {
        !matches!(self, KeySource::Static)
    }
}

#[derive(Default)]
struct State {
    keys: Vec<Arc<VerifyKey>>,
    /// When a fetch is next due (`None`: never fetched).
    next_fetch: Option<Instant>,
    /// The last re-fetch caused by an unknown key id.
    last_unknown_key_refetch: Option<Instant>,
}

/// The cached keys of one issuer.
pub(crate) struct KeyStore {
    source: KeySource,
    algorithms: Vec<Algorithm>,
    refresh_every: Duration,
    unknown_key_refetch_every: Duration,
    state: RwLock<State>,
    fetching: Mutex<()>,
}

impl KeyStore {
    /// A store over `source`; a static store starts with `initial`.
    pub fn new(
        source: KeySource,
        initial: &JwkSet,
        algorithms: Vec<Algorithm>,
        refresh_every: Duration,
        unknown_key_refetch_every: Duration,
    ) -> Self {
        let keys = initial
            .keys
            .iter()
            .filter_map(|jwk| usable(jwk, &algorithms))
            .collect();
        Self {
            source,
            algorithms,
            refresh_every,
            unknown_key_refetch_every,
            state: RwLock::new(State {
                keys,
                ..State::default()
            }),
            fetching: Mutex::new(()),
        }
    }

    /// The key a token names (`kid`), fetching or re-fetching as described above.
    /// A token without a `kid` is accepted only when the set has exactly one key.
    pub async fn find(&self, kid: Option<&str>) -> Result<Arc<VerifyKey>, TokenError> {
        // The kid is the caller's text: keep what is reported (and logged) short.
        let unknown = || TokenError::UnknownKey {
            kid: kid.map(|k| k.chars().take(64).collect()),
        };
        if self.source.fetched() {
            self.ensure_fresh().await?;
        }
        if let Some(key) = self.lookup(kid).await {
            return Ok(key);
        }
        if kid.is_none() || !self.claim_unknown_key_refetch().await {
            return Err(unknown());
        }
        tracing::info!(kid = ?kid.map(|k| k.chars().take(64).collect::<String>()), "unknown key id; fetching the issuer's keys again");
        let _guard = self.fetching.lock().await;
        if let Err(e) = self.fetch().await {
            tracing::warn!(cause = %e, "could not re-fetch the issuer's keys");
        }
        self.lookup(kid).await.ok_or_else(unknown)
    }

    /// Fetches the keys now (a no-op for a static set); returns how many are usable.
    pub async fn refresh(&self) -> Result<usize, TokenError> {
        if self.source.fetched() {
            let _guard = self.fetching.lock().await;
            self.fetch().await?;
        }
        Ok(self.state.read().await.keys.len())
    }

    async fn lookup(&self, kid: Option<&str>) -> Option<Arc<VerifyKey>> {
        let state = self.state.read().await;
        match kid {
            Some(kid) => state
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .cloned(),
            None if state.keys.len() == 1 => state.keys.first().cloned(),
            None => None,
        }
    }

    /// Whether this caller may re-fetch for an unknown key id (and records it).
    async fn claim_unknown_key_refetch(&self) -> bool {
        let mut state = self.state.write().await;
        let now = Instant::now();
        let allowed = state
            .last_unknown_key_refetch
            .is_none_or(|last| now.duration_since(last) >= self.unknown_key_refetch_every);
        if allowed {
            state.last_unknown_key_refetch = Some(now);
        }
        allowed
    }

    /// Fetches when never fetched or due; fails only when no keys are held.
    async fn ensure_fresh(&self) -> Result<(), TokenError> {
        let due = |state: &State| state.next_fetch.is_none_or(|at| Instant::now() >= at);
        {
            let state = self.state.read().await;
            if !due(&state) && state.keys.is_empty() {
                return Err(TokenError::KeysUnavailable(
                    "no usable key after the last fetch; retrying shortly".to_owned(),
                ));
            }
            if !due(&state) {
                return Ok(());
            }
        }
        let _guard = self.fetching.lock().await;
        if !due(&*self.state.read().await) {
            return Ok(());
        }
        match self.fetch().await {
            Ok(()) => Ok(()),
            Err(e) if self.state.read().await.keys.is_empty() => Err(e),
            Err(e) => {
                tracing::warn!(cause = %e, "could not refresh the issuer's keys; keeping the old ones");
                Ok(())
            }
        }
    }

    /// One fetch; the caller holds `fetching`.
    async fn fetch(&self) -> Result<(), TokenError> {
        let result = match &self.source {
            KeySource::Static => return Ok(()),
            KeySource::Url { url, client } => fetch_set(client, url).await,
            KeySource::Discovery { issuer, client } => match discover_jwks(client, issuer).await {
                Ok(url) => fetch_set(client, &url).await,
                Err(e) => Err(e),
            },
        };
        let mut state = self.state.write().await;
        let now = Instant::now();
        match result {
            Ok(raw) => {
                let keys: Vec<_> = raw
                    .into_iter()
                    .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
                    .filter_map(|jwk| usable(&jwk, &self.algorithms))
                    .collect();
                tracing::debug!(keys = keys.len(), "fetched the issuer's keys");
                state.keys = keys;
                state.next_fetch = Some(now + self.refresh_every);
                Ok(())
            }
            Err(e) => {
                state.next_fetch = Some(now + self.unknown_key_refetch_every);
                Err(e)
            }
        }
    }
}

async fn fetch_set(client: &reqwest::Client, url: &str) -> Result<Vec<Value>, TokenError> {
    let unavailable = |e: reqwest::Error| TokenError::KeysUnavailable(e.without_url().to_string());
    let body: Value = client
        .get(url)
        .send()
        .await
        .map_err(unavailable)?
        .error_for_status()
        .map_err(unavailable)?
        .json()
        .await
        .map_err(unavailable)?;
    match body.get("keys") {
        Some(Value::Array(keys)) => Ok(keys.clone()),
        _ => Err(TokenError::KeysUnavailable(
            "the JWKS document has no `keys` list".to_owned(),
        )),
    }
}

/// The `jwks_uri` of the issuer's discovery document, which must name the
/// issuer itself (OpenID Connect Discovery 1.0, section 4.3).
async fn discover_jwks(client: &reqwest::Client, issuer: &str) -> Result<String, TokenError> {
    let unavailable = |e: reqwest::Error| TokenError::KeysUnavailable(e.without_url().to_string());
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let body: Value = client
        .get(url)
        .send()
        .await
        .map_err(unavailable)?
        .error_for_status()
        .map_err(unavailable)?
        .json()
        .await
        .map_err(unavailable)?;
    let named = body.get("issuer").and_then(Value::as_str).unwrap_or("");
    if named.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(TokenError::KeysUnavailable(
            "the discovery document names another issuer".to_owned(),
        ));
    }
    body.get("jwks_uri")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            TokenError::KeysUnavailable("the discovery document has no jwks_uri".to_owned())
        })
}

/// A JWK as a verification key, or `None` when it is for encryption, a
/// shared secret, for an algorithm we do not accept, or not a key we can read.
fn usable(jwk: &Jwk, algorithms: &[Algorithm]) -> Option<Arc<VerifyKey>> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption))
        || matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_))
    {
        return None;
    }
    let alg = match jwk.common.key_algorithm {
        Some(named) => Some(
            Algorithm::try_from(named)
                .ok()
                .filter(|a| algorithms.contains(a))?,
        ),
        None => None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(Arc::new(VerifyKey {
        kid: jwk.common.key_id.clone(),
        alg,
        key,
    }))
}
