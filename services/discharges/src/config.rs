//! Settings of the discharges service.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pf_runtime::{ConfigError, env_or};
use pf_sign_in::SignInSettings;
use pf_web::cross_site::SiteOrigins;

/// Settings, from the environment with local defaults.
#[derive(Debug, Clone)]
pub struct DischargesConfig {
    /// Where to listen (`PF_DISCHARGES_ADDR`, default `127.0.0.1:8085`).
    pub listen: SocketAddr,
    /// NATS server and this service's user there (`PF_NATS_*`).
    pub nats: pf_event_log::NatsSettings,

    /// Sign-in settings (`PF_OIDC_*`, `PF_REDIS_URL`).
    pub sign_in: SignInSettings,
    /// Redis with the live state, read for the list and the search
    /// (`PF_REDIS_URL`, default `redis://127.0.0.1:6379`).
    pub redis_url: String,
    /// The live state's key prefix (`PF_REDIS_PREFIX`, default `pf:`).
    pub redis_prefix: String,
    /// The prefix of the discharge records (`PF_REDIS_PATIENT_PREFIX`,
    /// default the live prefix with `-patient` before its last `:`,
    /// `pf-patient:`).
    pub redis_patient_prefix: String,
    /// How long a hold lasts unless the home accepts (`PF_HOLD_HOURS`, default 4).
    pub hold_lasts: time::Duration,
    /// How often expired holds are ended (`PF_HOLD_SWEEP_MS`, default 15 s).
    pub sweep_every: Duration,
    /// The default search radius in km (`PF_SEARCH_RADIUS_KM`, default 25).
    pub search_radius_km: f64,
    /// Care-home figures older than this are flagged stale (`PF_CARE_HOME_STALE_HOURS`, default 24).
    pub stale_after: Duration,
    /// Writes per second one identity may make (`PF_WRITES_PER_SECOND`, default 50).
    pub writes_per_second: u32,
    /// Failed sign-ins per second one address may make (`PF_REFUSED_PER_SECOND`, default 20).
    pub refused_per_second: u32,
    /// Where pages and the assets are (`PF_DASHBOARDS_DIR`, default `dashboards`).
    pub dashboards_dir: PathBuf,
    /// Where people without a session are sent to sign in
    /// (`PF_SIGN_IN_URL`, default `http://127.0.0.1:8083/sign-in`).
    pub sign_in_url: String,
    /// Where people sign out (`PF_SIGN_OUT_URL`, default `http://127.0.0.1:8083/sign-out`).
    pub sign_out_url: String,
    /// This service's address as browsers see it, for the return after
    /// sign-in (`PF_DISCHARGES_PUBLIC_URL`, default `http://127.0.0.1:8085`).
    pub public_url: String,
    /// The gateway's websocket origin as browsers see it: the pages' live
    /// notifications come from `{gateway_ws_url}/ws/discharges`
    /// (`PF_GATEWAY_WS_URL`, default `ws://127.0.0.1:8080`).
    pub gateway_ws_url: String,
    /// The tasks service's address as browsers see it: the patient page
    /// links to its forms (`PF_TASKS_PUBLIC_URL`, default `http://127.0.0.1:8089`).
    pub tasks_url: String,
    /// The platform's own origins, from which a signed-in browser may make
    /// changes through the JSON API (`PF_PUBLIC_URL`, `PF_*_PUBLIC_URL`;
    /// the request's own host always counts).
    pub site_origins: SiteOrigins,
    /// Where the region's data set is (`PF_REGION_DIR`, default the
    /// built-in LLR data set).
    pub region_files: pf_region::RegionFiles,
    /// The region: its localities and postcode districts.
    pub region: pf_region::Region,
    /// The file holding the master key that wraps every patient's data key
    /// (`PF_PATIENT_MASTER_KEY_FILE`, 64 hex digits; required when
    /// `PF_MODE=production`, otherwise a publicly known development key).
    pub patient_master_key_file: Option<PathBuf>,
    /// Where patients' data keys are in Redis (`PF_PATIENT_KEY_PREFIX`,
    /// default `pf-patient-key:`).
    pub patient_key_prefix: String,
    /// How long a patient's identifiable details are kept after they left
    /// the list, discharged or cancelled (`PF_PATIENT_RETENTION_DAYS`,
    /// default 30): then their key is destroyed.
    pub patient_retention: time::Duration,
    /// The discharge task types, as the tasks service has them
    /// (`PF_TASK_TYPES`; default `pf_task_model::TaskTypes::default`).
    pub task_types: pf_task_model::TaskTypes,
}

/// `PF_PATIENT_RETENTION_DAYS`: whole days, at least 1 (a typo must not
/// destroy patients' details the moment they leave the list).
fn patient_retention() -> Result<time::Duration, ConfigError> {
    let days: u32 = env_or("PF_PATIENT_RETENTION_DAYS", 30u32)?;
    if days == 0 {
        return Err(ConfigError {
            name: "PF_PATIENT_RETENTION_DAYS".into(),
            value: "0".into(),
            cause: "patients' details must be kept at least 1 day after they leave the list".into(),
        });
    }
    Ok(time::Duration::days(i64::from(days)))
}

impl DischargesConfig {
    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let (region_files, region) = pf_region::from_env().map_err(|err| ConfigError {
            name: pf_region::REGION_DIR_VAR.to_owned(),
            value: std::env::var(pf_region::REGION_DIR_VAR).unwrap_or_default(),
            cause: err.to_string(),
        })?;
        Ok(Self {
            listen: env_or(
                "PF_DISCHARGES_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 8085)),
            )?,
            nats: pf_event_log::NatsSettings::from_env().map_err(|e| ConfigError {
                name: "PF_NATS_USER".into(),
                value: String::new(),
                cause: e.to_string(),
            })?,
            sign_in: SignInSettings::from_env()?,
            redis_url: env_or("PF_REDIS_URL", "redis://127.0.0.1:6379".to_owned())?,
            redis_prefix: env_or("PF_REDIS_PREFIX", "pf:".to_owned())?,
            redis_patient_prefix: match std::env::var("PF_REDIS_PATIENT_PREFIX") {
                Ok(prefix) if !prefix.trim().is_empty() => prefix,
                _ => pf_live_state::Keys::new(env_or("PF_REDIS_PREFIX", "pf:".to_owned())?)
                    .patient_prefix()
                    .to_owned(),
            },
            hold_lasts: time::Duration::hours(env_or("PF_HOLD_HOURS", 4i64)?),
            sweep_every: Duration::from_millis(env_or("PF_HOLD_SWEEP_MS", 15_000u64)?),
            search_radius_km: env_or("PF_SEARCH_RADIUS_KM", 25.0)?,
            stale_after: Duration::from_secs(env_or("PF_CARE_HOME_STALE_HOURS", 24u64)? * 3600),
            writes_per_second: env_or("PF_WRITES_PER_SECOND", 50)?,
            refused_per_second: env_or("PF_REFUSED_PER_SECOND", 20)?,
            dashboards_dir: env_or("PF_DASHBOARDS_DIR", PathBuf::from("dashboards"))?,
            sign_in_url: env_or("PF_SIGN_IN_URL", "http://127.0.0.1:8083/sign-in".to_owned())?,
            sign_out_url: env_or(
                "PF_SIGN_OUT_URL",
                "http://127.0.0.1:8083/sign-out".to_owned(),
            )?,
            public_url: env_or(
                "PF_DISCHARGES_PUBLIC_URL",
                "http://127.0.0.1:8085".to_owned(),
            )?,
            gateway_ws_url: env_or("PF_GATEWAY_WS_URL", "ws://127.0.0.1:8080".to_owned())?,
            tasks_url: env_or("PF_TASKS_PUBLIC_URL", "http://127.0.0.1:8089".to_owned())?,
            site_origins: SiteOrigins::from_env(),
            region_files,
            region,
            patient_master_key_file: std::env::var_os("PF_PATIENT_MASTER_KEY_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            patient_key_prefix: env_or(
                "PF_PATIENT_KEY_PREFIX",
                pf_patient_keys::DEFAULT_PREFIX.to_owned(),
            )?,
            patient_retention: patient_retention()?,
            task_types: match std::env::var("PF_TASK_TYPES") {
                Ok(json) if !json.trim().is_empty() => pf_task_model::TaskTypes::from_json(&json)
                    .map_err(|e| ConfigError {
                    name: "PF_TASK_TYPES".into(),
                    value: json.clone(),
                    cause: e.to_string(),
                })?,
                _ => pf_task_model::TaskTypes::default(),
            },
        })
    }

    /// Local defaults for given servers (for tests).
    pub fn local(nats_url: &str, redis_url: &str, sign_in: SignInSettings) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            nats: pf_event_log::NatsSettings::anonymous(nats_url),
            sign_in,
            redis_url: redis_url.to_owned(),
            redis_prefix: "pf:".to_owned(),
            redis_patient_prefix: "pf-patient:".to_owned(),
            hold_lasts: time::Duration::hours(4),
            sweep_every: Duration::from_millis(100),
            search_radius_km: 25.0,
            stale_after: Duration::from_secs(24 * 3600),
            writes_per_second: 1000,
            refused_per_second: 100,
            // The repository's own folder, wherever the tests run from.
            dashboards_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../dashboards"),
            sign_in_url: "http://127.0.0.1:8083/sign-in".to_owned(),
            sign_out_url: "http://127.0.0.1:8083/sign-out".to_owned(),
            public_url: "http://127.0.0.1:8085".to_owned(),
            gateway_ws_url: "ws://127.0.0.1:8080".to_owned(),
            tasks_url: "http://127.0.0.1:8089".to_owned(),
            site_origins: SiteOrigins::default(),
            region_files: pf_region::RegionFiles::BuiltIn,
            region: pf_region::Region::built_in(),
            patient_master_key_file: None,
            patient_key_prefix: pf_patient_keys::DEFAULT_PREFIX.to_owned(),
            patient_retention: time::Duration::days(30),
            task_types: pf_task_model::TaskTypes::default(),
        }
    }
}
