//! Signing in with a bearer token: [`TokenVerifier`] checks a JWT from a
//! configured OpenID Connect issuer and turns it into a [`Principal`];
//! [`TrustedIssuers`] holds several, each with its own rules.
//!
//! Checked, in order: the header's `alg` is one configured (RS256 or ES256;
//! `none` and HMAC can never be), the key named by `kid` is in the issuer's
//! JWKS, the signature, then `exp` and `nbf` (with leeway), `iss` and `aud`.
//! Roles and organisation are read through the [`ClaimMapping`]. Every
//! failure is a typed [`TokenError`] whose message never quotes the token.

use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::claims::ClaimMapping;
use crate::introspection::{Introspection, Introspector};
use crate::jwks::{KeySource, KeyStore};
use crate::principal::Principal;

/// Tokens longer than this are refused unread.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why a token was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT, or a part of it cannot be decoded.
    #[error("the token is malformed: {0}")]
    Malformed(String),
    /// The header names an algorithm we do not accept (`none`, HMAC, ...).
    #[error("tokens signed with `{alg}` are not accepted")]
    AlgorithmNotAllowed {
        /// The algorithm the header names.
        alg: String,
    },
    /// The issuer's key set has no key with this id (or the token names none
    /// and the set has several).
    #[error("the token names a key the issuer does not publish ({kid:?})")]
    UnknownKey {
        /// The key id the token names.
        kid: Option<String>,
    },
    /// The named key cannot verify the token's algorithm.
    #[error("the token's algorithm does not match its key")]
    UnusableKey,
    /// The signature does not verify.
    #[error("the token's signature is not valid")]
    BadSignature,
    /// Past its `exp`.
    #[error("the token has expired")]
    Expired,
    /// Before its `nbf`.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// Issued by someone else.
    #[error("the token is from another issuer")]
    WrongIssuer,
    /// Issued for another service.
    #[error("the token is for another audience")]
    WrongAudience,
    /// A required claim is absent.
    #[error("the token has no `{0}` claim")]
    MissingClaim(String),
    /// A claim has an unusable value.
    #[error("the token's `{claim}` claim is not valid: {reason}")]
    InvalidClaim {
        /// The claim.
        claim: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No role in the token is one we know, correctly scoped.
    #[error("the token grants no Patient Flow role")]
    NoRoles,
    /// An opaque token the issuer says is not active (unknown, expired or
    /// revoked).
    #[error("the issuer says the token is not active")]
    Inactive,
    /// An opaque token where no issuer introspects tokens.
    #[error("the token is not a JWT, and no trusted issuer checks opaque tokens")]
    Opaque,
    /// The issuer's keys could not be fetched and none are held.
    #[error("the issuer's signing keys are unavailable: {0}")]
    KeysUnavailable(String),
}

/// A signing algorithm we accept. There is deliberately no HMAC and no `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
}

impl SigningAlgorithm {
    fn to_jwt(self) -> Algorithm {
        match self {
            SigningAlgorithm::RS256 => Algorithm::RS256,
            SigningAlgorithm::ES256 => Algorithm::ES256,
        }
    }
}

/// Where the issuer's public keys come from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// Fetched from the issuer's `jwks_uri`, cached and refreshed.
    Url(String),
    /// Given once (the built-in demo issuer, tests).
    Static(JwkSet),
    /// Found from the issuer's discovery document's `jwks_uri` (read again
    /// at every refresh), cached and refreshed.
    Discovery,
}

/// One trusted issuer.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// The exact `iss` its tokens carry.
    pub issuer: String,
    /// The `aud` our tokens must carry.
    pub audience: String,
    /// Its public keys.
    pub jwks: JwksSource,
    /// Clock skew allowed on `exp` and `nbf`, in seconds. Default 30.
    pub leeway_secs: u64,
    /// Accepted algorithms. Default RS256 and ES256.
    pub algorithms: Vec<SigningAlgorithm>,
    /// Which claims hold subject, name, organisation and roles.
    pub claims: ClaimMapping,
    /// How long a fetched key set is used before fetching it again. Default 10 minutes.
    pub refresh_every: Duration,
    /// The least time between re-fetches caused by unknown key ids. Default 30 s.
    pub unknown_key_refetch_every: Duration,
    /// Timeout of one key-set fetch (and of an introspection). Default 10 s.
    pub fetch_timeout: Duration,
    /// How to check the issuer's opaque access tokens (RFC 7662); none by
    /// default, and then only JWTs are accepted.
    pub introspection: Option<Introspection>,
}

impl IssuerConfig {
    /// An issuer with the defaults above.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>, jwks: JwksSource) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks,
            leeway_secs: 30,
            algorithms: vec![SigningAlgorithm::RS256, SigningAlgorithm::ES256],
            claims: ClaimMapping::default(),
            refresh_every: Duration::from_secs(600),
            unknown_key_refetch_every: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(10),
            introspection: None,
        }
    }
}

/// Why a verifier could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No algorithm is accepted, so no token could ever verify.
    #[error("the issuer configuration accepts no signing algorithm")]
    NoAlgorithms,
    /// Issuer or audience is empty.
    #[error("the issuer configuration has an empty {0}")]
    Empty(&'static str),
    /// The HTTP client for fetching keys could not be built.
    #[error("failed to build the HTTP client for the issuer's keys")]
    HttpClient(#[source] reqwest::Error),
    /// Two trusted issuers have the same `iss`.
    #[error("the issuer `{0}` is configured twice")]
    DuplicateIssuer(String),
}

/// Verifies bearer tokens of one issuer.
pub struct TokenVerifier {
    issuer: String,
    audience: String,
    leeway_secs: u64,
    algorithms: Vec<Algorithm>,
    claims: ClaimMapping,
    keys: KeyStore,
    introspector: Option<Introspector>,
}

impl TokenVerifier {
    /// A verifier for `config`. Nothing is fetched yet; see [`TokenVerifier::refresh`].
    pub fn new(config: IssuerConfig) -> Result<Self, ConfigError> {
        if config.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        if config.issuer.trim().is_empty() {
            return Err(ConfigError::Empty("issuer"));
        }
        if config.audience.trim().is_empty() {
            return Err(ConfigError::Empty("audience"));
        }
        let algorithms: Vec<Algorithm> = config.algorithms.iter().map(|a| a.to_jwt()).collect();
        let (source, initial) = match config.jwks {
            JwksSource::Static(set) => (KeySource::Static, set),
            JwksSource::Url(url) => {
                let client = reqwest::Client::builder()
                    .timeout(config.fetch_timeout)
                    .build()
                    .map_err(ConfigError::HttpClient)?;
                (KeySource::Url { url, client }, JwkSet::default())
            }
            JwksSource::Discovery => {
                let client = reqwest::Client::builder()
                    .timeout(config.fetch_timeout)
                    .build()
                    .map_err(ConfigError::HttpClient)?;
                let issuer = config.issuer.clone();
                (KeySource::Discovery { issuer, client }, JwkSet::default())
            }
        };
        let introspector = config
            .introspection
            .map(|i| Introspector::new(i, config.issuer.clone(), config.fetch_timeout))
            .transpose()
            .map_err(ConfigError::HttpClient)?;
        let keys = KeyStore::new(
            source,
            &initial,
            algorithms.clone(),
            config.refresh_every,
            config.unknown_key_refetch_every,
        );
        Ok(Self {
            issuer: config.issuer,
            audience: config.audience,
            leeway_secs: config.leeway_secs,
            algorithms,
            claims: config.claims,
            keys,
            introspector,
        })
    }

    /// The issuer this verifier trusts.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Fetches the issuer's keys now (e.g. at start, to fail early); returns
    /// how many usable keys are held.
    pub async fn refresh(&self) -> Result<usize, TokenError> {
        self.keys.refresh().await
    }

    /// Verifies a bearer token (without the `Bearer ` prefix) and reads its principal.
    pub async fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        self.verify_with_claims(token)
            .await
            .map(|(principal, _)| principal)
    }

    /// Like [`verify`](Self::verify), and also returns the verified claims,
    /// for checks beyond this verifier's (e.g. an OpenID Connect ID token's
    /// `nonce`).
    pub async fn verify_with_claims(
        &self,
        token: &str,
    ) -> Result<(Principal, Map<String, Value>), TokenError> {
        let claims = self.verify_claims(token).await?;
        let principal = self.claims.principal(&claims)?;
        Ok((principal, claims))
    }

    /// The principal of an opaque access token, by introspection (and
    /// userinfo, as the mapping says); [`TokenError::Opaque`] when this
    /// issuer does not introspect.
    pub async fn verify_opaque(&self, token: &str) -> Result<Principal, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed("too long".to_owned()));
        }
        match &self.introspector {
            Some(introspector) => introspector.principal(token, &self.claims).await,
            None => Err(TokenError::Opaque),
        }
    }

    /// The claim mapping of this issuer.
    pub fn mapping(&self) -> &ClaimMapping {
        &self.claims
    }

    /// Checks a token (algorithm, key, signature, `exp`, `nbf`, `iss`,
    /// `aud`) and returns its claims without reading a principal, for a
    /// caller that completes them first (an OpenID Connect ID token with
    /// the provider's userinfo).
    pub async fn verify_claims(&self, token: &str) -> Result<Map<String, Value>, TokenError> {
        let token = token.trim();
        let (alg_name, kid) = peek_header(token)?;
        let alg = Algorithm::from_str(&alg_name)
            .ok()
            .filter(|a| self.algorithms.contains(a))
            .ok_or(TokenError::AlgorithmNotAllowed { alg: alg_name })?;
        let key = self.keys.find(kid.as_deref()).await?;
        if key.alg.is_some_and(|key_alg| key_alg != alg) {
            return Err(TokenError::UnusableKey);
        }
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway_secs;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|e| from_jwt_error(e.into_kind()))?;
        Ok(data.claims)
    }
}

/// Several trusted issuers, each with its own keys, audience and claim
/// mapping: the built-in issuer of machine identities (the simulator,
/// feeds, the load test) beside a trust's staff provider. A token goes to
/// the verifier of the issuer its (not yet trusted) `iss` names, which
/// then checks everything, `iss` included; a token from any other issuer
/// is [`TokenError::WrongIssuer`].
pub struct TrustedIssuers {
    verifiers: Vec<TokenVerifier>,
}

impl TrustedIssuers {
    /// The issuers; two with the same `iss` are refused.
    pub fn new(verifiers: Vec<TokenVerifier>) -> Result<Self, ConfigError> {
        for (i, v) in verifiers.iter().enumerate() {
            if verifiers[..i].iter().any(|w| w.issuer == v.issuer) {
                return Err(ConfigError::DuplicateIssuer(v.issuer.clone()));
            }
        }
        Ok(Self { verifiers })
    }

    /// One issuer, or none (then only sessions are accepted).
    pub fn one(verifier: Option<TokenVerifier>) -> Self {
        Self {
            verifiers: verifier.into_iter().collect(),
        }
    }

    /// Whether no issuer is trusted.
    pub fn is_empty(&self) -> bool {
        self.verifiers.is_empty()
    }

    /// The trusted issuers' `iss` values.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.verifiers.iter().map(TokenVerifier::issuer)
    }

    /// Verifies a bearer token with its issuer's verifier. A token that is
    /// not a JWT goes to the one issuer that introspects opaque tokens.
    pub async fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let token = token.trim();
        if !looks_like_jwt(token) {
            let mut introspecting = self.verifiers.iter().filter(|v| v.introspector.is_some());
            return match (introspecting.next(), introspecting.next()) {
                (Some(verifier), None) => verifier.verify_opaque(token).await,
                _ => Err(TokenError::Opaque),
            };
        }
        let issuer = peek_issuer(token)?;
        let verifier = self
            .verifiers
            .iter()
            .find(|v| v.issuer == issuer)
            .ok_or(TokenError::WrongIssuer)?;
        verifier.verify(token).await
    }
}

/// Whether a bearer token has a JWT's three dot-separated parts.
fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// The `iss` of a token's payload, read before anything is trusted (only
/// to choose whose keys check it).
fn peek_issuer(token: &str) -> Result<String, TokenError> {
    peek_header(token)?;
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| TokenError::Malformed("no payload".to_owned()))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed("payload is not base64url".to_owned()))?;
    let claims: Value = serde_json::from_slice(&bytes)
        .map_err(|_| TokenError::Malformed("payload is not JSON".to_owned()))?;
    claims
        .get("iss")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| TokenError::MissingClaim("iss".to_owned()))
}

/// Reads `alg` and `kid` from the header before anything is trusted.
fn peek_header(token: &str) -> Result<(String, Option<String>), TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed("too long".to_owned()));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed(
            "not three dot-separated parts".to_owned(),
        ));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Malformed("header is not base64url".to_owned()))?;
    let header: Value = serde_json::from_slice(&bytes)
        .map_err(|_| TokenError::Malformed("header is not JSON".to_owned()))?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| TokenError::Malformed("header has no `alg`".to_owned()))?;
    let kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
    Ok((alg.to_owned(), kid))
}

fn from_jwt_error(kind: ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
        ErrorKind::InvalidAudience => TokenError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => TokenError::MissingClaim(claim),
        ErrorKind::InvalidClaimFormat(claim) => TokenError::InvalidClaim {
            claim,
            reason: "wrong type".to_owned(),
        },
        ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::InvalidAlgorithm => TokenError::UnusableKey,
        // Never quote decoder messages: they can echo claim values.
        ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            TokenError::Malformed("the claims cannot be decoded".to_owned())
        }
        _ => TokenError::Malformed("the token cannot be read".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_read_before_trust() {
        let enc = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let token = format!("{}.{}.", enc(r#"{"alg":"none"}"#), enc("{}"));
        assert_eq!(peek_header(&token), Ok(("none".to_owned(), None)));
        assert!(matches!(peek_header("a.b"), Err(TokenError::Malformed(_))));
        assert!(matches!(
            peek_header("!!.b.c"),
            Err(TokenError::Malformed(_))
        ));
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert!(matches!(peek_header(&long), Err(TokenError::Malformed(_))));
    }

    #[test]
    fn a_config_must_accept_something() {
        let mut config =
            IssuerConfig::new("https://idp", "pf", JwksSource::Static(JwkSet::default()));
        config.algorithms.clear();
        assert!(matches!(
            TokenVerifier::new(config),
            Err(ConfigError::NoAlgorithms)
        ));
    }
}
