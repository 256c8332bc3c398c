//! Where identities come from, read once for every service.

use pf_access::{IssuerConfig, JwksSource, TokenVerifier};

use crate::{Authenticator, SessionPolicy, SignInStore};

/// Where identities come from.
#[derive(Debug, Clone)]
pub struct SignInSettings {
    /// The trusted token issuer (`PF_OIDC_ISSUER`, default the local identity
    /// service `http://127.0.0.1:8083`; `PF_OIDC_AUDIENCE`, default
    /// `patient-flow`; `PF_OIDC_JWKS_URL`, default `{issuer}/.well-known/jwks.json`).
    pub issuer: IssuerConfig,
    /// Redis holding sessions and revocations (`PF_REDIS_URL`).
    pub redis_url: String,
    /// Their key prefix (`PF_SIGN_IN_PREFIX`, default `pf-auth:`).
    pub prefix: String,
}

impl SignInSettings {
    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, pf_runtime::ConfigError> {
        let issuer: String =
            pf_runtime::env_or("PF_OIDC_ISSUER", "http://127.0.0.1:8083".to_owned())?;
        let audience: String = pf_runtime::env_or("PF_OIDC_AUDIENCE", "patient-flow".to_owned())?;
        let jwks: String = pf_runtime::env_or(
            "PF_OIDC_JWKS_URL",
            format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')),
        )?;
        Ok(Self {
            issuer: IssuerConfig::new(issuer, audience, JwksSource::Url(jwks)),
            redis_url: pf_runtime::env_or("PF_REDIS_URL", "redis://127.0.0.1:6379".to_owned())?,
            prefix: pf_runtime::env_or("PF_SIGN_IN_PREFIX", "pf-auth:".to_owned())?,
        })
    }
}

/// Settings could not be turned into an authenticator.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The issuer settings are not valid.
    #[error("the token issuer settings are not valid: {0}")]
    Issuer(#[from] pf_access::ConfigError),
    /// Redis could not be reached.
    #[error(transparent)]
    Store(#[from] crate::StoreError),
}

impl SignInSettings {
    /// Settings for tests: a given issuer and Redis.
    pub fn local(issuer: IssuerConfig, redis_url: &str) -> Self {
        Self {
            issuer,
            redis_url: redis_url.to_owned(),
            prefix: "pf-auth:".to_owned(),
        }
    }

    /// Connects the sign-in store and builds the authenticator.
    pub async fn authenticator(&self) -> Result<Authenticator, SettingsError> {
        let verifier = TokenVerifier::new(self.issuer.clone())?;
        let store = SignInStore::connect(
            &self.redis_url,
            self.prefix.clone(),
            SessionPolicy::default(),
        )
        .await?;
        Ok(Authenticator::new(Some(verifier), store))
    }
}
