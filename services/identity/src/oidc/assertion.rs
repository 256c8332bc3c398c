//! `private_key_jwt` client authentication (OpenID Connect Core section 9,
//! RFC 7523): instead of a shared secret, this service signs a short-lived
//! JWT with its own private key, and the provider checks it with the public
//! key registered for the client (NHS CIS2 expects this in its live
//! environments). The public key set is served at
//! `/sign-in/oidc/client-jwks.json`, for the provider's registration.
//!
//! The key is read from a PEM file: `-----BEGIN PRIVATE KEY-----` (PKCS#8,
//! an EC P-256 key: ES256) or `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1:
//! RS256).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

/// The `client_assertion_type` of a signed client assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is valid (CIS2 accepts at most 5 minutes).
const ASSERTION_TTL: Duration = Duration::from_secs(60);

/// This service's private key for client authentication. Never printed.
#[derive(Clone)]
pub struct ClientKey {
    key: EncodingKey,
    alg: Algorithm,
    kid: String,
    public: Jwk,
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientKey({:?}, kid {}, [redacted])", self.alg, self.kid)
    }
}

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not a PEM private key we read.
    #[error(
        "the client key is not a PEM `PRIVATE KEY` (EC P-256, PKCS#8) or `RSA PRIVATE KEY` (PKCS#1)"
    )]
    NotPem,
    /// The key or an assertion could not be made.
    #[error("the client key cannot be used: {0}")]
    Key(String),
}

impl ClientKey {
    /// Reads a PEM private key; `kid` names it (default: its JWK
    /// thumbprint, RFC 7638).
    pub fn from_pem(pem: &str, kid: Option<String>) -> Result<Self, KeyError> {
        let kind = pem
            .lines()
            .find_map(|line| line.trim().strip_prefix("-----BEGIN "))
            .and_then(|rest| rest.strip_suffix("-----"))
            .ok_or(KeyError::NotPem)?;
        let body: String = pem
            .lines()
            .map(str::trim)
            .filter(|line| !line.starts_with("-----") && !line.is_empty())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| KeyError::NotPem)?;
        let (key, alg) = match kind {
            "PRIVATE KEY" => (EncodingKey::from_ec_der(&der), Algorithm::ES256),
            "RSA PRIVATE KEY" => (EncodingKey::from_rsa_der(&der), Algorithm::RS256),
            _ => return Err(KeyError::NotPem),
        };
        let mut public =
            Jwk::from_encoding_key(&key, alg).map_err(|e| KeyError::Key(e.to_string()))?;
        let kid = match kid {
            Some(kid) => kid,
            None => public
                .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
                .map_err(|e| KeyError::Key(e.to_string()))?,
        };
        public.common.key_id = Some(kid.clone());
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        public.common.key_algorithm = Some(match alg {
            Algorithm::RS256 => KeyAlgorithm::RS256,
            _ => KeyAlgorithm::ES256,
        });
        let client_key = Self {
            key,
            alg,
            kid,
            public,
        };
        // Fail at start, not at the first sign-in.
        client_key.assertion("check", "https://check.invalid/token")?;
        Ok(client_key)
    }

    /// The public key set to register at the provider.
    pub fn public_jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.public.clone()],
        }
    }

    /// A signed client assertion for `client_id` at the token endpoint
    /// `audience`: `iss` = `sub` = the client id, a random `jti`, one minute.
    pub fn assertion(&self, client_id: &str, audience: &str) -> Result<String, KeyError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| KeyError::Key(e.to_string()))?
            .as_secs();
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        let claims = json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": crate::pending::random_value(),
            "iat": now,
            "exp": now + ASSERTION_TTL.as_secs(),
        });
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| KeyError::Key(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pem_private_keys_are_read() {
        assert!(matches!(
            ClientKey::from_pem("nonsense", None),
            Err(KeyError::NotPem)
        ));
        assert!(matches!(
            ClientKey::from_pem(
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
                None
            ),
            Err(KeyError::NotPem)
        ));
        assert!(
            ClientKey::from_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
                None
            )
            .is_err()
        );
    }

    #[test]
    fn an_assertion_verifies_with_the_published_key_and_names_us() {
        use p256::elliptic_curve::Generate as _;
        use p256::pkcs8::EncodePrivateKey as _;
        let der = p256::ecdsa::SigningKey::try_generate()
            .expect("key")
            .to_pkcs8_der()
            .expect("der");
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(der.as_bytes())
        );
        let key = ClientKey::from_pem(&pem, Some("k1".to_owned())).expect("key");
        let jwks = key.public_jwks();
        assert!(
            !serde_json::to_string(&jwks)
                .expect("json")
                .contains("\"d\"")
        );
        let token = key
            .assertion("patient-flow", "https://idp.example/token")
            .expect("assertion");
        let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwks.keys[0]).expect("public key");
        let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
        validation.set_audience(&["https://idp.example/token"]);
        validation.set_issuer(&["patient-flow"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation)
            .expect("verifies")
            .claims;
        assert_eq!(claims["sub"], "patient-flow");
        assert_eq!(claims["jti"].as_str().map(str::len), Some(43));
        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!(header.kid.as_deref(), Some("k1"));
    }
}
