//! Settings of the urgent-care service.

use std::net::SocketAddr;

use pf_access::IssuerConfig;
use pf_runtime::{ConfigError, env_or};
use pf_sign_in::SignInSettings;
use pf_web::cross_site::SiteOrigins;

/// Settings, from the environment with local defaults.
#[derive(Debug, Clone)]
pub struct UrgentCareConfig {
    /// Where to listen (`PF_URGENT_CARE_ADDR`, default `127.0.0.1:8091`).
    pub listen: SocketAddr,
    /// NATS server and this service's user there (`PF_NATS_URL`,
    /// `PF_NATS_USER`, `PF_NATS_PASSWORD` / `PF_NATS_PASSWORD_FILE`).
    pub nats: pf_event_log::NatsSettings,

    /// Sign-in settings.
    pub sign_in: SignInSettings,
    /// Writes per second one identity may make (`PF_WRITES_PER_SECOND`, default 2000).
    pub writes_per_second: u32,
    /// Failed sign-ins per second one address may make (`PF_REFUSED_PER_SECOND`, default 20).
    pub refused_per_second: u32,
    /// The platform's own origins, from which a signed-in browser may make
    /// changes (`PF_PUBLIC_URL`, `PF_*_PUBLIC_URL`; the request's own host
    /// always counts).
    pub site_origins: SiteOrigins,
}

impl UrgentCareConfig {
    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            listen: env_or(
                "PF_URGENT_CARE_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 8091)),
            )?,
            nats: pf_event_log::NatsSettings::from_env_config()?,
            sign_in: SignInSettings::from_env()?,
            writes_per_second: env_or("PF_WRITES_PER_SECOND", 2000)?,
            refused_per_second: env_or("PF_REFUSED_PER_SECOND", 20)?,
            site_origins: SiteOrigins::from_env(),
        })
    }

    /// Local defaults pointing at given servers and a trusted issuer (for tests).
    pub fn local(nats_url: &str, redis_url: &str, issuer: IssuerConfig) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            nats: pf_event_log::NatsSettings::anonymous(nats_url),
            sign_in: SignInSettings::local(issuer, redis_url),
            writes_per_second: 2000,
            refused_per_second: 1000,
            site_origins: SiteOrigins::default(),
        }
    }
}
