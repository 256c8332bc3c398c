//! This service as an OpenID Connect relying party: finding the provider's
//! endpoints, exchanging a code for an ID token, checking that token, and
//! completing its claims from the userinfo endpoint when the claim mapping
//! says so (always, or when the ID token gives no role: NHS CIS2 gives
//! roles and organisations only there).

use std::time::Duration;

use pf_access::{IssuerConfig, JwksSource, Principal, TokenError, TokenVerifier, Userinfo};
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;
use tokio::sync::OnceCell;

use crate::config::{ClientAuth, OidcClientConfig};

/// The largest answer read from the provider (64 KiB).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why signing in through the provider did not work. Messages never quote
/// tokens, codes or secrets.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The discovery document could not be fetched or is not usable.
    #[error("the identity provider's discovery document is not usable: {0}")]
    Discovery(String),
    /// The token endpoint could not be reached or gave no readable answer.
    #[error("the identity provider could not be reached: {0}")]
    Unreachable(String),
    /// The token endpoint refused the code.
    #[error("the identity provider refused the code ({0})")]
    CodeRefused(String),
    /// The token answer has no ID token.
    #[error("the identity provider's answer has no ID token")]
    NoIdToken,
    /// The ID token did not verify (signature, issuer, audience, expiry,
    /// claims or roles).
    #[error("the ID token was refused: {0}")]
    IdToken(#[from] TokenError),
    /// The ID token's `nonce` is not the one this sign-in sent.
    #[error("the ID token's nonce does not match the sign-in's")]
    Nonce,
    /// The ID token was issued to another client (`azp`).
    #[error("the ID token was issued to another client")]
    OtherParty,
    /// The ID token names a machine, not a person.
    #[error("the ID token names a machine, not a person")]
    NotAPerson,
    /// The person was recognised but holds no role the mapping gives a
    /// Patient Flow role for (`held`: what they do hold, for the page).
    #[error("no mapped role; the person holds: {}", if held.is_empty() { "nothing".to_owned() } else { held.join(", ") })]
    NoMappedRole {
        /// The provider roles the person holds, as `code at ORG`.
        held: Vec<String>,
    },
    /// The userinfo endpoint could not be used, or answered for someone else.
    #[error("the userinfo answer cannot be used: {0}")]
    Userinfo(String),
    /// The verifier for the provider's keys could not be built.
    #[error("the identity provider's keys cannot be used: {0}")]
    Setup(#[from] pf_access::ConfigError),
}

impl OidcError {
    /// Whether the fault is the provider's availability (answer 503 and
    /// let the person try again) rather than a refusal.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            OidcError::Discovery(_)
                | OidcError::Unreachable(_)
                | OidcError::Setup(_)
                | OidcError::IdToken(TokenError::KeysUnavailable(_))
        )
    }
}

/// The provider's endpoints and a verifier of its ID tokens.
pub struct Provider {
    /// Where people are sent to sign in.
    pub authorization_url: Url,
    /// Where codes are exchanged.
    pub token_url: Url,
    /// Where the person's claims are completed, if the provider has one.
    pub userinfo_url: Option<Url>,
    verifier: TokenVerifier,
}

/// The discovery document's fields we use.
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: Option<String>,
    userinfo_endpoint: Option<String>,
}

/// The token endpoint's answer (RFC 6749 section 5.1, OIDC Core 3.1.3.3).
#[derive(Debug, Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
    access_token: Option<String>,
}

/// What the token endpoint gave.
pub struct Tokens {
    /// The ID token.
    pub id_token: String,
    /// The access token, for the userinfo endpoint.
    pub access_token: Option<String>,
}

/// The token endpoint's error (RFC 6749 section 5.2).
#[derive(Debug, Deserialize)]
struct TokenRefusal {
    error: Option<String>,
}

/// The relying party: settings, an HTTP client and the provider, found on
/// first use (so the demo issuer can be its own provider, and a provider
/// that is down at start does not stop the service).
pub struct OidcClient {
    config: OidcClientConfig,
    production: bool,
    http: reqwest::Client,
    provider: OnceCell<Provider>,
}

impl OidcClient {
    /// A client for `config`; nothing is fetched yet.
    pub fn new(config: OidcClientConfig, production: bool) -> Result<Self, OidcError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| OidcError::Unreachable(e.to_string()))?;
        Ok(Self {
            config,
            production,
            http,
            provider: OnceCell::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &OidcClientConfig {
        &self.config
    }

    /// The provider, from the settings or its discovery document (fetched
    /// once; a failed fetch is tried again on the next sign-in).
    pub async fn provider(&self) -> Result<&Provider, OidcError> {
        self.provider.get_or_try_init(|| self.find_provider()).await
    }

    async fn find_provider(&self) -> Result<Provider, OidcError> {
        let config = &self.config;
        let (authorization, token, jwks, userinfo) =
            match (&config.authorization_url, &config.token_url) {
                (Some(authorization), Some(token)) => (
                    authorization.clone(),
                    token.clone(),
                    config.jwks_url.clone(),
                    config.userinfo_url.clone(),
                ),
                _ => {
                    let found = self.discover().await?;
                    (
                        config
                            .authorization_url
                            .clone()
                            .unwrap_or(found.authorization_endpoint),
                        config.token_url.clone().unwrap_or(found.token_endpoint),
                        config.jwks_url.clone().or(found.jwks_uri),
                        config.userinfo_url.clone().or(found.userinfo_endpoint),
                    )
                }
            };
        let jwks = jwks.unwrap_or_else(|| format!("{}/.well-known/jwks.json", config.issuer));
        let url = |name: &str, value: &str| -> Result<Url, OidcError> {
            let url = Url::parse(value)
                .map_err(|e| OidcError::Discovery(format!("{name} is not a URL: {e}")))?;
            match url.scheme() {
                "https" => Ok(url),
                "http" if !self.production => Ok(url),
                _ => Err(OidcError::Discovery(format!("{name} must be an https URL"))),
            }
        };
        let authorization_url = url("authorization_endpoint", &authorization)?;
        let token_url = url("token_endpoint", &token)?;
        url("jwks_uri", &jwks)?;
        let userinfo_url = userinfo.map(|u| url("userinfo_endpoint", &u)).transpose()?;
        let mut issuer = IssuerConfig::new(
            config.issuer.clone(),
            config.client_id.clone(),
            JwksSource::Url(jwks),
        );
        issuer.claims = config.claims.clone();
        let verifier = TokenVerifier::new(issuer)?;
        tracing::info!(issuer = %config.issuer, "OpenID Connect provider found");
        Ok(Provider {
            authorization_url,
            token_url,
            userinfo_url,
            verifier,
        })
    }

    async fn discover(&self) -> Result<Discovery, OidcError> {
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer);
        let fail = |e: reqwest::Error| OidcError::Discovery(e.without_url().to_string());
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(fail)?
            .error_for_status()
            .map_err(fail)?;
        let body = read_limited(response).await.map_err(OidcError::Discovery)?;
        let found: Discovery = serde_json::from_slice(&body)
            .map_err(|e| OidcError::Discovery(format!("not a discovery document: {e}")))?;
        // OpenID Connect Discovery 1.0, section 4.3: the document is the issuer's.
        if found.issuer.trim_end_matches('/') != self.config.issuer {
            return Err(OidcError::Discovery(
                "the document names another issuer".to_owned(),
            ));
        }
        Ok(found)
    }

    /// Where to send a person to sign in.
    pub fn authorization_request(
        &self,
        provider: &Provider,
        state: &str,
        nonce: &str,
        code_challenge: &str,
    ) -> Url {
        let mut url = provider.authorization_url.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.config.redirect_url)
            .append_pair("scope", &self.config.scopes)
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
        url
    }

    /// Exchanges `code` (with its PKCE `code_verifier`) for an ID token
    /// (and the access token that opens the userinfo endpoint).
    pub async fn exchange(
        &self,
        provider: &Provider,
        code: &str,
        code_verifier: &str,
    ) -> Result<Tokens, OidcError> {
        let config = &self.config;
        let assertion: String;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", config.redirect_url.as_str()),
            ("code_verifier", code_verifier),
        ];
        let mut request = self.http.post(provider.token_url.clone());
        match config.client_auth {
            ClientAuth::Basic => {
                // RFC 6749 section 2.3.1: each form-encoded first, so that a
                // secret with `+`, `/`, `%` or `:` reaches the provider intact.
                request = request.basic_auth(
                    form_encoded(&config.client_id),
                    Some(form_encoded(config.client_secret.expose())),
                );
            }
            ClientAuth::Post => {
                form.push(("client_id", config.client_id.as_str()));
                form.push(("client_secret", config.client_secret.expose()));
            }
            ClientAuth::PrivateKeyJwt => {
                let key = config.client_key.as_ref().ok_or_else(|| {
                    OidcError::Unreachable("private_key_jwt needs a client key".to_owned())
                })?;
                // The audience is the token endpoint (OIDC Core section 9).
                assertion = key
                    .assertion(&config.client_id, provider.token_url.as_str())
                    .map_err(|e| OidcError::Unreachable(e.to_string()))?;
                form.push(("client_id", config.client_id.as_str()));
                form.push(("client_assertion_type", super::assertion::ASSERTION_TYPE));
                form.push(("client_assertion", assertion.as_str()));
            }
        }
        let response = request
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| OidcError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        let body = read_limited(response)
            .await
            .map_err(OidcError::Unreachable)?;
        if status.is_client_error() {
            let code = serde_json::from_slice::<TokenRefusal>(&body)
                .ok()
                .and_then(|r| r.error)
                .map_or_else(|| format!("HTTP {}", status.as_u16()), |e| error_code(&e));
            return Err(OidcError::CodeRefused(code));
        }
        if !status.is_success() {
            return Err(OidcError::Unreachable(format!(
                "the token endpoint answered HTTP {}",
                status.as_u16()
            )));
        }
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|_| OidcError::Unreachable("the token answer is not JSON".to_owned()))?;
        let id_token = answer
            .id_token
            .filter(|t| !t.trim().is_empty())
            .ok_or(OidcError::NoIdToken)?;
        Ok(Tokens {
            id_token,
            access_token: answer.access_token.filter(|t| !t.trim().is_empty()),
        })
    }

    /// Verifies an ID token (signature from the provider's keys, `iss`,
    /// `aud` = our client id, `exp`, `nbf`), that it carries `nonce` and,
    /// when it names an authorised party, that it is us; reads the person.
    ///
    /// The person's claims are then completed from the userinfo endpoint
    /// when the mapping says so (`userinfo`: `always`, or `when_needed` and
    /// the ID token gives no role), after checking that the answer is about
    /// the same `sub` (OIDC Core 5.3.2); the person is read from both
    /// through the mapping. Returns the person and the claims read (for
    /// the audit trail's assurance level).
    pub async fn verify_id_token(
        &self,
        provider: &Provider,
        tokens: &Tokens,
        nonce: &str,
    ) -> Result<(Principal, Map<String, Value>), OidcError> {
        let mut claims = provider.verifier.verify_claims(&tokens.id_token).await?;
        check_id_token_claims(&claims, &self.config.client_id, nonce)?;
        let mapping = provider.verifier.mapping();
        let ask = match mapping.userinfo {
            Userinfo::Never => false,
            Userinfo::Always => true,
            Userinfo::WhenNeeded => {
                provider.userinfo_url.is_some() && mapping.principal(&claims).is_err()
            }
        };
        if ask {
            let (Some(url), Some(access_token)) = (&provider.userinfo_url, &tokens.access_token)
            else {
                return Err(OidcError::Userinfo(
                    "the provider gave no userinfo endpoint or no access token".to_owned(),
                ));
            };
            let userinfo = self.userinfo(url, access_token).await?;
            if userinfo.get("sub") != claims.get("sub") {
                return Err(OidcError::Userinfo(
                    "the answer is about another subject than the ID token".to_owned(),
                ));
            }
            for (name, value) in userinfo {
                // The ID token's own claims are never overwritten.
                if !matches!(
                    name.as_str(),
                    "iss" | "aud" | "exp" | "iat" | "nbf" | "nonce" | "azp" | "sub"
                ) {
                    claims.insert(name, value);
                }
            }
        }
        let principal = match mapping.principal(&claims) {
            Ok(principal) => principal,
            Err(TokenError::NoRoles) => {
                return Err(OidcError::NoMappedRole {
                    held: mapping
                        .provider_roles(&claims)
                        .iter()
                        .take(20)
                        .map(|r| r.to_string().chars().take(80).collect())
                        .collect(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        if principal.is_machine() {
            return Err(OidcError::NotAPerson);
        }
        Ok((principal, claims))
    }

    /// The userinfo endpoint's claims (a JSON object; OIDC Core 5.3).
    async fn userinfo(
        &self,
        url: &Url,
        access_token: &str,
    ) -> Result<Map<String, Value>, OidcError> {
        let response = self
            .http
            .get(url.clone())
            .bearer_auth(access_token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| OidcError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(OidcError::Userinfo(format!(
                "the userinfo endpoint answered HTTP {}",
                status.as_u16()
            )));
        }
        let body = read_limited(response).await.map_err(OidcError::Userinfo)?;
        serde_json::from_slice::<Map<String, Value>>(&body)
            .map_err(|_| OidcError::Userinfo("the userinfo answer is not a JSON object".to_owned()))
    }
}

/// The checks of OIDC Core 3.1.3.7 beyond the verifier's: the `nonce` is
/// the sign-in's (compared in constant time), and `azp`, when present or
/// needed (several audiences), is our client id.
pub fn check_id_token_claims(
    claims: &Map<String, Value>,
    client_id: &str,
    nonce: &str,
) -> Result<(), OidcError> {
    let presented = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if nonce.is_empty() || !bool::from(presented.as_bytes().ct_eq(nonce.as_bytes())) {
        return Err(OidcError::Nonce);
    }
    let several_audiences = matches!(claims.get("aud"), Some(Value::Array(a)) if a.len() > 1);
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != client_id => Err(OidcError::OtherParty),
        None if several_audiences => Err(OidcError::OtherParty),
        _ => Ok(()),
    }
}

/// `value` in `application/x-www-form-urlencoded` form (RFC 6749 appendix B).
pub fn form_encoded(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// An OAuth error code from a provider, safe to log and record: at most 64
/// characters of `a-z`, `0-9` and `_`.
pub fn error_code(value: &str) -> String {
    let code: String = value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    if code.is_empty() {
        "unknown_error".to_owned()
    } else {
        code
    }
}

/// The body of an answer, refused beyond [`MAX_ANSWER_BYTES`].
async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err("the answer is too large".to_owned());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| e.without_url().to_string())?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err("the answer is too large".to_owned());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn the_nonce_must_be_the_sign_ins() {
        let ok = claims(json!({"nonce": "n1", "aud": "pf"}));
        assert!(check_id_token_claims(&ok, "pf", "n1").is_ok());
        assert!(matches!(
            check_id_token_claims(&ok, "pf", "n2"),
            Err(OidcError::Nonce)
        ));
        assert!(matches!(
            check_id_token_claims(&claims(json!({"aud": "pf"})), "pf", "n1"),
            Err(OidcError::Nonce)
        ));
        assert!(matches!(
            check_id_token_claims(&claims(json!({"nonce": 1})), "pf", "1"),
            Err(OidcError::Nonce)
        ));
    }

    #[test]
    fn another_authorised_party_is_refused() {
        let other = claims(json!({"nonce": "n", "aud": "pf", "azp": "other"}));
        assert!(matches!(
            check_id_token_claims(&other, "pf", "n"),
            Err(OidcError::OtherParty)
        ));
        let several = claims(json!({"nonce": "n", "aud": ["pf", "other"]}));
        assert!(matches!(
            check_id_token_claims(&several, "pf", "n"),
            Err(OidcError::OtherParty)
        ));
        let named = claims(json!({"nonce": "n", "aud": ["pf", "other"], "azp": "pf"}));
        assert!(check_id_token_claims(&named, "pf", "n").is_ok());
    }

    #[test]
    fn client_credentials_are_form_encoded() {
        assert_eq!(form_encoded("a+b/c%d:e f"), "a%2Bb%2Fc%25d%3Ae+f");
        assert_eq!(form_encoded("patient-flow-web"), "patient-flow-web");
    }

    #[test]
    fn provider_error_codes_are_made_safe() {
        assert_eq!(error_code("access_denied"), "access_denied");
        assert_eq!(error_code("<script>"), "script");
        assert_eq!(error_code("\u{1b}[31m"), "31m");
        assert_eq!(error_code("!!"), "unknown_error");
        assert_eq!(error_code(&"a".repeat(100)).len(), 64);
    }
}
