//! Where identities come from, read once for every service: the built-in
//! (or production) issuer of machine identities, and optionally a trust's
//! staff provider beside it, each with its own claim mapping.

use pf_access::{ClaimMapping, IssuerConfig, JwksSource, TokenVerifier, TrustedIssuers};

use crate::{Authenticator, SessionPolicy, SignInStore};

/// Where identities come from.
#[derive(Debug, Clone)]
pub struct SignInSettings {
    /// The trusted token issuer (`PF_OIDC_ISSUER`, default the local identity
    /// service `http://127.0.0.1:8083`; `PF_OIDC_AUDIENCE`, default
    /// `patient-flow`; `PF_OIDC_JWKS_URL`, default `{issuer}/.well-known/jwks.json`;
    /// its claim mapping `PF_OIDC_CLAIMS_FILE` or `PF_OIDC_CLAIMS`, default
    /// the built-in issuer's claims).
    pub issuer: IssuerConfig,
    /// A further trusted issuer: the trust's staff identity provider, whose
    /// access tokens people bring to the APIs, beside the built-in issuer
    /// of machine identities (`PF_STAFF_ISSUER`; `PF_STAFF_AUDIENCE`,
    /// default `PF_OIDC_AUDIENCE`; `PF_STAFF_JWKS_URL`, default
    /// the discovery document's `jwks_uri`; `PF_STAFF_CLAIMS_FILE` or
    /// `PF_STAFF_CLAIMS`, the provider's claim mapping, see
    /// `docs/sign-in.md`; its opaque access tokens are introspected with
    /// `PF_STAFF_INTROSPECTION_URL`, `PF_STAFF_INTROSPECTION_CLIENT_ID`,
    /// `PF_STAFF_INTROSPECTION_SECRET_FILE`, and completed from
    /// `PF_STAFF_USERINFO_URL` as the mapping asks). Default none.
    pub staff_issuer: Option<IssuerConfig>,
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
        let env = |name: &str| std::env::var(name).ok();
        let mut primary = IssuerConfig::new(issuer, audience.clone(), JwksSource::Url(jwks));
        primary.claims = claims_from(env, "PF_OIDC")?;
        Ok(Self {
            staff_issuer: staff_issuer_from(env, &audience)?,
            issuer: primary,
            redis_url: pf_runtime::env_or("PF_REDIS_URL", "redis://127.0.0.1:6379".to_owned())?,
            prefix: pf_runtime::env_or("PF_SIGN_IN_PREFIX", "pf-auth:".to_owned())?,
        })
    }
}

/// The staff provider's issuer from the environment `var`, if
/// `PF_STAFF_ISSUER` is set (see [`SignInSettings::staff_issuer`]).
pub fn staff_issuer_from(
    var: impl Fn(&str) -> Option<String>,
    default_audience: &str,
) -> Result<Option<IssuerConfig>, pf_runtime::ConfigError> {
    let set = |name: &str| {
        var(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let Some(issuer) = set("PF_STAFF_ISSUER") else {
        return Ok(None);
    };
    let issuer = issuer.trim_end_matches('/').to_owned();
    let jwks = match set("PF_STAFF_JWKS_URL") {
        Some(url) => JwksSource::Url(url),
        None => JwksSource::Discovery,
    };
    let audience = set("PF_STAFF_AUDIENCE").unwrap_or_else(|| default_audience.to_owned());
    let mut config = IssuerConfig::new(issuer, audience, jwks);
    config.claims = claims_from(&var, "PF_STAFF")?;
    if let Some(url) = set("PF_STAFF_INTROSPECTION_URL") {
        let missing = |name: &str| pf_runtime::ConfigError {
            name: name.to_owned(),
            value: String::new(),
            cause: "PF_STAFF_INTROSPECTION_URL is set: set this too".to_owned(),
        };
        let client_id = set("PF_STAFF_INTROSPECTION_CLIENT_ID")
            .ok_or_else(|| missing("PF_STAFF_INTROSPECTION_CLIENT_ID"))?;
        let path = set("PF_STAFF_INTROSPECTION_SECRET_FILE")
            .ok_or_else(|| missing("PF_STAFF_INTROSPECTION_SECRET_FILE"))?;
        let client_secret = std::fs::read_to_string(&path)
            .map_err(|e| pf_runtime::ConfigError {
                name: "PF_STAFF_INTROSPECTION_SECRET_FILE".to_owned(),
                value: path.clone(),
                cause: e.to_string(),
            })?
            .trim()
            .to_owned();
        config.introspection = Some(pf_access::Introspection {
            url,
            client_id,
            client_secret,
            userinfo_url: set("PF_STAFF_USERINFO_URL"),
        });
    }
    Ok(Some(config))
}

/// The claim mapping named by `{prefix}_CLAIMS_FILE` (a JSON file) or given
/// in `{prefix}_CLAIMS` (the same JSON, e.g. from a Helm value); the
/// default mapping when neither is set.
pub fn claims_from(
    var: impl Fn(&str) -> Option<String>,
    prefix: &str,
) -> Result<ClaimMapping, pf_runtime::ConfigError> {
    let set = |name: &str| {
        var(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let file = format!("{prefix}_CLAIMS_FILE");
    let inline = format!("{prefix}_CLAIMS");
    match (set(&file), set(&inline)) {
        (Some(path), _) => ClaimMapping::from_file(std::path::Path::new(&path)).map_err(|e| {
            pf_runtime::ConfigError {
                name: file,
                value: path.clone(),
                cause: e.to_string(),
            }
        }),
        (None, Some(text)) => {
            ClaimMapping::from_json(&text).map_err(|cause| pf_runtime::ConfigError {
                name: inline,
                value: "(the mapping)".to_owned(),
                cause,
            })
        }
        (None, None) => Ok(ClaimMapping::default()),
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
            staff_issuer: None,
            redis_url: redis_url.to_owned(),
            prefix: "pf-auth:".to_owned(),
        }
    }

    /// Connects the sign-in store and builds the authenticator.
    pub async fn authenticator(&self) -> Result<Authenticator, SettingsError> {
        let mut verifiers = vec![TokenVerifier::new(self.issuer.clone())?];
        if let Some(staff) = &self.staff_issuer {
            verifiers.push(TokenVerifier::new(staff.clone())?);
        }
        let issuers = TrustedIssuers::new(verifiers)?;
        let store = SignInStore::connect(
            &self.redis_url,
            self.prefix.clone(),
            SessionPolicy::default(),
        )
        .await?;
        Ok(Authenticator::with_issuers(issuers, store))
    }
}
