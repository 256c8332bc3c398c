//! Settings of the tasks service.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pf_runtime::{ConfigError, env_or};
use pf_sign_in::SignInSettings;
use pf_task_model::TaskTypes;
use pf_web::cross_site::SiteOrigins;

/// Settings, from the environment with local defaults.
#[derive(Debug, Clone)]
pub struct TasksConfig {
    /// Where to listen (`PF_TASKS_ADDR`, default `127.0.0.1:8089`).
    pub listen: SocketAddr,
    /// NATS server and this service's user there (`PF_NATS_*`).
    pub nats: pf_event_log::NatsSettings,
    /// Sign-in settings (`PF_OIDC_*`, `PF_REDIS_URL`).
    pub sign_in: SignInSettings,
    /// Redis with the live state (`PF_REDIS_URL`).
    pub redis_url: String,
    /// The live state's key prefix (`PF_REDIS_PREFIX`, default `pf:`).
    pub redis_prefix: String,
    /// The discharge task types (`PF_TASK_TYPES`: a JSON list of
    /// `{code, label, blocking}`; default the six of
    /// [`TaskTypes::default`]).
    pub task_types: TaskTypes,
    /// How often overdue actions are looked for (`PF_OVERDUE_SWEEP_MS`,
    /// default 30 s).
    pub sweep_every: Duration,
    /// Writes per second one identity may make (`PF_WRITES_PER_SECOND`, default 50).
    pub writes_per_second: u32,
    /// Failed sign-ins per second one address may make (`PF_REFUSED_PER_SECOND`, default 20).
    pub refused_per_second: u32,
    /// The platform's own origins, from which a signed-in browser may make
    /// changes through the JSON API (`PF_PUBLIC_URL`, `PF_*_PUBLIC_URL`).
    pub site_origins: SiteOrigins,
    /// The page templates and assets (`PF_DASHBOARDS_DIR`, default `dashboards`).
    pub dashboards_dir: PathBuf,
    /// Where people sign in (`PF_SIGN_IN_URL`).
    pub sign_in_url: String,
    /// Where people sign out (`PF_SIGN_OUT_URL`).
    pub sign_out_url: String,
    /// This service's address as browsers reach it (`PF_TASKS_PUBLIC_URL`),
    /// where sign-in sends people back to.
    pub public_url: String,
}

impl TasksConfig {
    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let task_types = match std::env::var("PF_TASK_TYPES") {
            Ok(json) if !json.trim().is_empty() => {
                TaskTypes::from_json(&json).map_err(|e| ConfigError {
                    name: "PF_TASK_TYPES".into(),
                    value: json.clone(),
                    cause: e.to_string(),
                })?
            }
            _ => TaskTypes::default(),
        };
        Ok(Self {
            listen: env_or("PF_TASKS_ADDR", SocketAddr::from(([127, 0, 0, 1], 8089)))?,
            nats: pf_event_log::NatsSettings::from_env_config()?,
            sign_in: SignInSettings::from_env()?,
            redis_url: env_or("PF_REDIS_URL", "redis://127.0.0.1:6379".to_owned())?,
            redis_prefix: env_or("PF_REDIS_PREFIX", "pf:".to_owned())?,
            task_types,
            sweep_every: Duration::from_millis(env_or("PF_OVERDUE_SWEEP_MS", 30_000u64)?),
            writes_per_second: env_or("PF_WRITES_PER_SECOND", 50)?,
            refused_per_second: env_or("PF_REFUSED_PER_SECOND", 20)?,
            site_origins: SiteOrigins::from_env(),
            dashboards_dir: env_or("PF_DASHBOARDS_DIR", PathBuf::from("dashboards"))?,
            sign_in_url: env_or("PF_SIGN_IN_URL", "http://127.0.0.1:8083/sign-in".to_owned())?,
            sign_out_url: env_or(
                "PF_SIGN_OUT_URL",
                "http://127.0.0.1:8083/sign-out".to_owned(),
            )?,
            public_url: env_or("PF_TASKS_PUBLIC_URL", "http://127.0.0.1:8089".to_owned())?,
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
            task_types: TaskTypes::default(),
            sweep_every: Duration::from_millis(100),
            writes_per_second: 1000,
            refused_per_second: 100,
            site_origins: SiteOrigins::default(),
            dashboards_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../dashboards"),
            sign_in_url: "http://127.0.0.1:8083/sign-in".to_owned(),
            sign_out_url: "http://127.0.0.1:8083/sign-out".to_owned(),
            public_url: "http://127.0.0.1:8089".to_owned(),
        }
    }
}
