//! Settings of the FHIR service.

use std::net::SocketAddr;

use pf_access::IssuerConfig;
use pf_runtime::{ConfigError, env_or};
use pf_sign_in::SignInSettings;

/// Settings, from the environment with local defaults.
#[derive(Debug, Clone)]
pub struct FhirConfig {
    /// Where to listen (`PF_FHIR_ADDR`, default `127.0.0.1:8088`).
    pub listen: SocketAddr,
    /// The server's own base URL as clients reach it, for `fullUrl` and
    /// paging links (`PF_FHIR_PUBLIC_URL`, default `http://{listen}`);
    /// resources are under `{public_url}/fhir/R4`.
    pub public_url: String,
    /// Redis holding the live state, with this service's read-only user
    /// (`PF_REDIS_URL`).
    pub redis_url: String,
    /// The live state's key prefix (`PF_REDIS_PREFIX`, default `pf:`).
    pub redis_prefix: String,
    /// NATS server and this service's user there, for bed changes and the
    /// audit trail (`PF_NATS_URL`, `PF_NATS_USER`, `PF_NATS_PASSWORD` /
    /// `PF_NATS_PASSWORD_FILE`).
    pub nats: pf_event_log::NatsSettings,
    /// Sign-in settings.
    pub sign_in: SignInSettings,
    /// Changes per second one identity may make (`PF_WRITES_PER_SECOND`, default 2000).
    pub writes_per_second: u32,
    /// Failed sign-ins per second one address may make (`PF_REFUSED_PER_SECOND`, default 20).
    pub refused_per_second: u32,
    /// The forecast service's base URL (`PF_FORECAST_URL`, e.g.
    /// `http://127.0.0.1:8090`): forecast reports are read from it. Unset:
    /// no forecast reports.
    pub forecast_url: Option<String>,
}

impl FhirConfig {
    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let listen = env_or("PF_FHIR_ADDR", SocketAddr::from(([127, 0, 0, 1], 8088)))?;
        Ok(Self {
            listen,
            public_url: env_or("PF_FHIR_PUBLIC_URL", format!("http://{listen}"))?,
            redis_url: env_or("PF_REDIS_URL", "redis://127.0.0.1:6379".to_owned())?,
            redis_prefix: env_or("PF_REDIS_PREFIX", "pf:".to_owned())?,
            nats: pf_event_log::NatsSettings::from_env_config()?,
            sign_in: SignInSettings::from_env()?,
            writes_per_second: env_or("PF_WRITES_PER_SECOND", 2000)?,
            refused_per_second: env_or("PF_REFUSED_PER_SECOND", 20)?,
            forecast_url: Some(env_or("PF_FORECAST_URL", String::new())?)
                .filter(|url| !url.is_empty()),
        })
    }

    /// Local defaults pointing at given servers and a trusted issuer, served
    /// at `public_url` (for tests).
    pub fn local(nats_url: &str, redis_url: &str, issuer: IssuerConfig, public_url: &str) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: public_url.to_owned(),
            redis_url: redis_url.to_owned(),
            redis_prefix: "pf:".to_owned(),
            nats: pf_event_log::NatsSettings::anonymous(nats_url),
            sign_in: SignInSettings::local(issuer, redis_url),
            writes_per_second: 2000,
            refused_per_second: 1000,
            forecast_url: None,
        }
    }
}
