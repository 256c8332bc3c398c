//! Settings of the care-homes service.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pf_runtime::{ConfigError, env_or};
use pf_sign_in::SignInSettings;
use pf_web::cross_site::SiteOrigins;

/// Where the register of homes comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterSource {
    /// The `care-homes.json` of the region's data set (for the built-in
    /// LLR data set, 300 synthetic homes).
    Region,
    /// A JSON file of the same shape.
    File(PathBuf),
    /// JSON text of the same shape (for tests).
    Json(String),
}

/// Settings, from the environment with local defaults.
#[derive(Debug, Clone)]
pub struct CareHomesConfig {
    /// Where to listen (`PF_CARE_HOMES_ADDR`, default `127.0.0.1:8084`).
    pub listen: SocketAddr,
    /// NATS server and this service's user there (`PF_NATS_URL`,
    /// `PF_NATS_USER`, `PF_NATS_PASSWORD` / `PF_NATS_PASSWORD_FILE`).
    pub nats: pf_event_log::NatsSettings,

    /// Sign-in settings (`PF_OIDC_*`, `PF_REDIS_URL`).
    pub sign_in: SignInSettings,
    /// Redis for idempotency keys (`PF_REDIS_URL`, default `redis://127.0.0.1:6379`).
    pub redis_url: String,
    /// Prefix of this service's Redis keys (`PF_CARE_HOMES_PREFIX`, default `pf-care:`).
    pub redis_prefix: String,
    /// The register of homes (`PF_CARE_HOME_REGISTER`: `demo` (the region's
    /// `care-homes.json`) or a file path; default `demo`).
    pub register: RegisterSource,
    /// Figures older than this are shown as stale (`PF_CARE_HOME_STALE_HOURS`, default 24).
    pub stale_after: Duration,
    /// How long an answered idempotency key is remembered
    /// (`PF_IDEMPOTENCY_HOURS`, default 168 = 7 days: longer than any phone
    /// stays offline).
    pub idempotency_ttl: Duration,
    /// Where pages and the assets are (`PF_DASHBOARDS_DIR`, default `dashboards`).
    pub dashboards_dir: PathBuf,
    /// Where people without a session are sent to sign in
    /// (`PF_SIGN_IN_URL`, default `http://127.0.0.1:8083/sign-in`).
    pub sign_in_url: String,
    /// The identity service's sign-out, where the pages' sign-out form
    /// posts: only identity ends sessions (`PF_SIGN_OUT_URL`, default
    /// `http://127.0.0.1:8083/sign-out`).
    pub sign_out_url: String,
    /// This service's address as browsers see it (`PF_CARE_HOMES_PUBLIC_URL`,
    /// default `http://127.0.0.1:8084`).
    pub public_url: String,
    /// Writes per second one identity may make (`PF_WRITES_PER_SECOND`, default 20).
    pub writes_per_second: u32,
    /// Failed sign-ins per second one address may make (`PF_REFUSED_PER_SECOND`, default 20).
    pub refused_per_second: u32,
    /// The platform's own origins, from which a signed-in browser may make
    /// changes through the JSON API (`PF_PUBLIC_URL`, `PF_*_PUBLIC_URL`;
    /// the request's own host always counts).
    pub site_origins: SiteOrigins,
    /// Where the region's data set is (`PF_REGION_DIR`, default the
    /// built-in LLR data set): its `care-homes.json` is the register unless
    /// `PF_CARE_HOME_REGISTER` names another file.
    pub region_files: pf_region::RegionFiles,
    /// The region: every home must lie in one of its localities.
    pub region: pf_region::Region,
}

impl CareHomesConfig {
    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let register = match env_or("PF_CARE_HOME_REGISTER", "demo".to_owned())?.as_str() {
            "demo" | "" => RegisterSource::Region,
            path => RegisterSource::File(PathBuf::from(path)),
        };
        let (region_files, region) = pf_region::from_env().map_err(|err| ConfigError {
            name: pf_region::REGION_DIR_VAR.to_owned(),
            value: std::env::var(pf_region::REGION_DIR_VAR).unwrap_or_default(),
            cause: err.to_string(),
        })?;
        Ok(Self {
            listen: env_or(
                "PF_CARE_HOMES_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 8084)),
            )?,
            nats: pf_event_log::NatsSettings::from_env_config()?,
            sign_in: SignInSettings::from_env()?,
            redis_url: env_or("PF_REDIS_URL", "redis://127.0.0.1:6379".to_owned())?,
            redis_prefix: env_or("PF_CARE_HOMES_PREFIX", "pf-care:".to_owned())?,
            register,
            stale_after: Duration::from_secs(env_or("PF_CARE_HOME_STALE_HOURS", 24u64)? * 3600),
            idempotency_ttl: Duration::from_secs(env_or("PF_IDEMPOTENCY_HOURS", 168u64)? * 3600),
            dashboards_dir: env_or("PF_DASHBOARDS_DIR", PathBuf::from("dashboards"))?,
            sign_in_url: env_or("PF_SIGN_IN_URL", "http://127.0.0.1:8083/sign-in".to_owned())?,
            sign_out_url: env_or(
                "PF_SIGN_OUT_URL",
                "http://127.0.0.1:8083/sign-out".to_owned(),
            )?,
            public_url: env_or(
                "PF_CARE_HOMES_PUBLIC_URL",
                "http://127.0.0.1:8084".to_owned(),
            )?,
            writes_per_second: env_or("PF_WRITES_PER_SECOND", 20)?,
            refused_per_second: env_or("PF_REFUSED_PER_SECOND", 20)?,
            site_origins: SiteOrigins::from_env(),
            region_files,
            region,
        })
    }

    /// Local defaults for given servers (for tests).
    pub fn local(
        nats_url: &str,
        redis_url: &str,
        sign_in: SignInSettings,
        dashboards_dir: PathBuf,
    ) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            nats: pf_event_log::NatsSettings::anonymous(nats_url),
            sign_in,
            redis_url: redis_url.to_owned(),
            redis_prefix: "pf-care:".to_owned(),
            register: RegisterSource::Region,
            stale_after: Duration::from_secs(24 * 3600),
            idempotency_ttl: Duration::from_secs(7 * 24 * 3600),
            dashboards_dir,
            sign_in_url: "http://127.0.0.1:8083/sign-in".to_owned(),
            sign_out_url: "http://127.0.0.1:8083/sign-out".to_owned(),
            public_url: "http://127.0.0.1:8084".to_owned(),
            writes_per_second: 20,
            refused_per_second: 20,
            site_origins: SiteOrigins::default(),
            region_files: pf_region::RegionFiles::BuiltIn,
            region: pf_region::Region::built_in(),
        }
    }
}
