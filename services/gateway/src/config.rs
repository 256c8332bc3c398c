//! Settings of the gateway.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pf_runtime::{ConfigError, env_or};
use pf_sign_in::SignInSettings;

/// Settings, from the environment with local defaults.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Where to listen (`PF_GATEWAY_ADDR`, default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Redis server (`PF_REDIS_URL`).
    pub redis_url: String,
    /// Key prefix (`PF_REDIS_PREFIX`, default `pf:`).
    pub redis_prefix: String,
    /// The `dashboards/` folder: templates, static files, nhsuk-frontend
    /// (`PF_DASHBOARDS_DIR`, default `dashboards`).
    pub dashboards_dir: PathBuf,
    /// Updates a client may fall behind before it is sent a fresh snapshot
    /// instead (`PF_WS_CLIENT_QUEUE`, default 256).
    pub client_queue: usize,
    /// Longest wait for a client to take one message before it is
    /// disconnected as stalled (`PF_WS_SEND_TIMEOUT_MS`, default 10 s).
    pub send_timeout: Duration,
    /// Deltas kept for clients that resume (`PF_WS_HISTORY`, default 1024).
    pub history: usize,
    /// How often an idle connection hears that its figures are still
    /// current (`PF_WS_HEARTBEAT_SECS`, default 15).
    pub heartbeat: Duration,
    /// Most simultaneous websocket clients (`PF_WS_MAX_CLIENTS`, default 5000).
    pub max_clients: usize,
    /// Care-home figures older than this are shown as stale
    /// (`PF_CARE_HOME_STALE_HOURS`, default 24).
    pub care_home_stale_after: Duration,
    /// NATS server and this service's user there, for the audit trail of
    /// refused attempts (`PF_NATS_URL`, `PF_NATS_USER`, `PF_NATS_PASSWORD` /
    /// `PF_NATS_PASSWORD_FILE`).
    pub nats: pf_event_log::NatsSettings,
    /// Who may see what: trusted token issuer and the sign-in store.
    pub sign_in: SignInSettings,
    /// Where people without a session are sent to sign in
    /// (`PF_SIGN_IN_URL`, default `http://127.0.0.1:8083/sign-in`).
    pub sign_in_url: String,
    /// This gateway's address as browsers see it, for the return after
    /// sign-in (`PF_GATEWAY_PUBLIC_URL`, default `http://127.0.0.1:8080`).
    pub public_url: String,
    /// The discharge pages' address as browsers see it: their `Origin` may
    /// open `/ws/discharges` (`PF_DISCHARGES_PUBLIC_URL`, default
    /// `http://127.0.0.1:8085`).
    pub discharges_public_url: String,
    /// Where the region's data set is (`PF_REGION_DIR`, default the
    /// built-in LLR data set): its `sites.json` is the catalogue `main`
    /// loads, its `expected-discharges.json` the default discharge plan.
    pub region_files: pf_region::RegionFiles,
    /// The region: its localities order and name the care-home figures.
    pub region: pf_region::Region,
    /// The daily discharge plan, as JSON: expected discharges per site and
    /// pathway (read from `PF_EXPECTED_DISCHARGES_FILE`; default the
    /// region's `expected-discharges.json`, for the built-in region the
    /// demo's illustrative plan, `data/regions/llr/expected-discharges.json`).
    pub discharge_plan: String,
    /// How often the occupancy trends are re-read from the projection's
    /// history (`PF_TRENDS_REFRESH_SECS`, default 60).
    pub trends_every: Duration,
    /// How often the wall's actions are read again (`PF_ACTIONS_REFRESH_SECS`, default 5).
    pub actions_every: Duration,
    /// Proxies whose `X-Forwarded-For` names the client, for the refusal
    /// budget and the audit trail (`PF_TRUSTED_PROXIES`, addresses separated
    /// by commas; default none: the peer is the client).
    pub trusted_proxies: pf_audit::TrustedProxies,
}

impl GatewayConfig {
    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let region_error = |err: pf_region::RegionError| ConfigError {
            name: pf_region::REGION_DIR_VAR.to_owned(),
            value: std::env::var(pf_region::REGION_DIR_VAR).unwrap_or_default(),
            cause: err.to_string(),
        };
        let (region_files, region) = pf_region::from_env().map_err(region_error)?;
        Ok(Self {
            listen: env_or("PF_GATEWAY_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            redis_url: env_or("PF_REDIS_URL", "redis://127.0.0.1:6379".to_owned())?,
            redis_prefix: env_or("PF_REDIS_PREFIX", "pf:".to_owned())?,
            dashboards_dir: env_or("PF_DASHBOARDS_DIR", PathBuf::from("dashboards"))?,
            client_queue: env_or("PF_WS_CLIENT_QUEUE", 256)?,
            send_timeout: Duration::from_millis(env_or("PF_WS_SEND_TIMEOUT_MS", 10_000)?),
            history: env_or("PF_WS_HISTORY", 1024)?,
            heartbeat: Duration::from_secs(env_or("PF_WS_HEARTBEAT_SECS", 15)?),
            max_clients: env_or("PF_WS_MAX_CLIENTS", 5000)?,
            care_home_stale_after: Duration::from_secs(
                env_or("PF_CARE_HOME_STALE_HOURS", 24u64)? * 3600,
            ),
            nats: pf_event_log::NatsSettings::from_env_config()?,
            sign_in: SignInSettings::from_env()?,
            sign_in_url: env_or("PF_SIGN_IN_URL", "http://127.0.0.1:8083/sign-in".to_owned())?,
            public_url: env_or("PF_GATEWAY_PUBLIC_URL", "http://127.0.0.1:8080".to_owned())?,
            discharges_public_url: env_or(
                "PF_DISCHARGES_PUBLIC_URL",
                "http://127.0.0.1:8085".to_owned(),
            )?,
            discharge_plan: match std::env::var_os("PF_EXPECTED_DISCHARGES_FILE") {
                Some(path) => std::fs::read_to_string(&path).map_err(|err| ConfigError {
                    name: "PF_EXPECTED_DISCHARGES_FILE".to_owned(),
                    value: PathBuf::from(&path).display().to_string(),
                    cause: format!("cannot read the file: {err}"),
                })?,
                None => region_files
                    .read(pf_region::DataFile::ExpectedDischarges)
                    .map_err(region_error)?
                    .text
                    .into_owned(),
            },
            region_files,
            region,
            trends_every: Duration::from_secs(env_or("PF_TRENDS_REFRESH_SECS", 60)?),
            actions_every: Duration::from_secs(env_or("PF_ACTIONS_REFRESH_SECS", 5)?.max(1)),
            trusted_proxies: pf_audit::TrustedProxies::from_env().map_err(|err| ConfigError {
                name: pf_audit::refusals::TRUSTED_PROXIES_ENV.to_owned(),
                value: std::env::var(pf_audit::refusals::TRUSTED_PROXIES_ENV).unwrap_or_default(),
                cause: err.to_string(),
            })?,
        })
    }

    /// Local defaults for a given Redis, NATS, dashboards folder and sign-in (for tests).
    pub fn local(
        redis_url: &str,
        nats_url: &str,
        dashboards_dir: PathBuf,
        sign_in: SignInSettings,
    ) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            redis_url: redis_url.to_owned(),
            redis_prefix: "pf:".to_owned(),
            dashboards_dir,
            client_queue: 256,
            send_timeout: Duration::from_secs(10),
            history: 1024,
            heartbeat: Duration::from_secs(15),
            max_clients: 5000,
            care_home_stale_after: crate::control_room::DEFAULT_STALE_AFTER,
            nats: pf_event_log::NatsSettings::anonymous(nats_url),
            sign_in,
            sign_in_url: "http://127.0.0.1:8083/sign-in".to_owned(),
            public_url: "http://127.0.0.1:8080".to_owned(),
            discharges_public_url: "http://127.0.0.1:8085".to_owned(),
            discharge_plan: crate::discharge_figures::DEFAULT_PLAN.to_owned(),
            region_files: pf_region::RegionFiles::BuiltIn,
            region: pf_region::Region::built_in(),
            trends_every: Duration::from_secs(1),
            actions_every: Duration::from_millis(200),
            trusted_proxies: pf_audit::TrustedProxies::default(),
        }
    }
}
