//! Settings of the pressure service.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pf_runtime::{ConfigError, env_or};
use pf_sign_in::SignInSettings;

use crate::engine::AlertRules;

/// Where alerts are sent by HTTP.
#[derive(Clone)]
pub struct WebhookConfig {
    /// `PF_ALERT_WEBHOOK_URL`.
    pub url: String,
    /// `PF_ALERT_WEBHOOK_SECRET` or the file `PF_ALERT_WEBHOOK_SECRET_FILE`.
    pub secret: Vec<u8>,
    /// Attempts per alert (`PF_ALERT_WEBHOOK_ATTEMPTS`, default 6).
    pub attempts: u32,
    /// First pause between attempts, doubled each time up to 60 s
    /// (`PF_ALERT_WEBHOOK_BACKOFF_MS`, default 500).
    pub backoff: Duration,
    /// One attempt's time-out (`PF_ALERT_WEBHOOK_TIMEOUT_MS`, default 5 s).
    pub timeout: Duration,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .finish()
    }
}

/// Settings, from the environment with local defaults.
#[derive(Debug, Clone)]
pub struct PressureConfig {
    /// `/healthz`, `/readyz`, `/metrics`, `/api/v1/opel` (`PF_PRESSURE_ADDR`, default `127.0.0.1:8086`).
    pub listen: SocketAddr,
    /// NATS (`PF_NATS_URL`, `PF_NATS_USER`, `PF_NATS_PASSWORD(_FILE)`).
    pub nats: pf_event_log::NatsSettings,
    /// Redis (`PF_REDIS_URL`).
    pub redis_url: String,
    /// Who may read `/api/v1/opel`: the trusted token issuer and the
    /// sign-in store (`PF_OIDC_*`, `PF_REDIS_URL`, `PF_SIGN_IN_PREFIX`).
    pub sign_in: SignInSettings,
    /// Key prefix of the live state (`PF_REDIS_PREFIX`, default `pf:`).
    pub redis_prefix: String,
    /// Longest Redis round trip (`PF_REDIS_TIMEOUT_MS`, default 10 s).
    pub redis_timeout: Duration,
    /// The OPEL configuration file (`PF_OPEL_CONFIG`; default: the region's
    /// `opel.json`, for the built-in region the placeholders of
    /// `data/regions/llr/opel.json`).
    pub opel_config: Option<PathBuf>,
    /// Longest time between recomputations when nothing changes, so a
    /// falling level's dwell is noticed (`PF_PRESSURE_INTERVAL_MS`, default 5 s).
    pub interval: Duration,
    /// Occupancy re-arm margin, NCTR surge size and window
    /// (`PF_ALERT_OCCUPANCY_MARGIN_PCT` 2, `PF_ALERT_NCTR_SURGE` 10,
    /// `PF_ALERT_NCTR_SURGE_WINDOW_SECS` 3600; a surge of 0 turns it off),
    /// ED 12-hour waits and handovers over 60 minutes per site
    /// (`PF_ALERT_ED_OVER_12H` 1, `PF_ALERT_HANDOVERS_OVER_60` 3), G&A
    /// occupancy of an acute site or the system (`PF_ALERT_GA_OCCUPANCY_PCT`
    /// 95), care homes with figures older than `PF_ALERT_STALE_RETURN_HOURS`
    /// (24) or never given (`PF_ALERT_STALE_HOMES` 10); 0 turns one off.
    /// The defaults are placeholders until the ICB sets them.
    pub alert_rules: AlertRules,
    /// Recent alerts kept for `/api/v1/opel` (`PF_ALERTS_RECENT`, default 50).
    pub recent_alerts: usize,
    /// The outgoing webhook, if any.
    pub webhook: Option<WebhookConfig>,
    /// Where the region's data set is (`PF_REGION_DIR`, default the
    /// built-in LLR data set): its `sites.json` and `opel.json`.
    pub region_files: pf_region::RegionFiles,
    /// The region: its ICS names the events the system produces.
    pub region: pf_region::Region,
}

impl PressureConfig {
    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let webhook_url: String = env_or("PF_ALERT_WEBHOOK_URL", String::new())?;
        let webhook = if webhook_url.is_empty() {
            None
        } else {
            Some(WebhookConfig {
                url: webhook_url,
                secret: webhook_secret()?,
                attempts: env_or("PF_ALERT_WEBHOOK_ATTEMPTS", 6)?,
                backoff: Duration::from_millis(env_or("PF_ALERT_WEBHOOK_BACKOFF_MS", 500)?),
                timeout: Duration::from_millis(env_or("PF_ALERT_WEBHOOK_TIMEOUT_MS", 5_000)?),
            })
        };
        let opel_config: String = env_or("PF_OPEL_CONFIG", String::new())?;
        let (region_files, region) = pf_region::from_env().map_err(|err| ConfigError {
            name: pf_region::REGION_DIR_VAR.to_owned(),
            value: std::env::var(pf_region::REGION_DIR_VAR).unwrap_or_default(),
            cause: err.to_string(),
        })?;
        Ok(Self {
            listen: env_or("PF_PRESSURE_ADDR", SocketAddr::from(([127, 0, 0, 1], 8086)))?,
            nats: pf_event_log::NatsSettings::from_env_config()?,
            redis_url: env_or("PF_REDIS_URL", "redis://127.0.0.1:6379".to_owned())?,
            sign_in: SignInSettings::from_env()?,
            redis_prefix: env_or("PF_REDIS_PREFIX", "pf:".to_owned())?,
            redis_timeout: Duration::from_millis(env_or("PF_REDIS_TIMEOUT_MS", 10_000)?),
            opel_config: (!opel_config.is_empty()).then(|| PathBuf::from(opel_config)),
            interval: Duration::from_millis(env_or("PF_PRESSURE_INTERVAL_MS", 5_000)?),
            alert_rules: AlertRules {
                occupancy_margin_pct: env_or("PF_ALERT_OCCUPANCY_MARGIN_PCT", 2.0)?,
                nctr_surge: env_or("PF_ALERT_NCTR_SURGE", 10)?,
                nctr_surge_window_secs: env_or("PF_ALERT_NCTR_SURGE_WINDOW_SECS", 3600)?,
                ed_over_12h: env_or("PF_ALERT_ED_OVER_12H", 1)?,
                handovers_over_60: env_or("PF_ALERT_HANDOVERS_OVER_60", 3)?,
                ga_occupancy_pct: env_or("PF_ALERT_GA_OCCUPANCY_PCT", 95.0)?,
                stale_return_hours: env_or("PF_ALERT_STALE_RETURN_HOURS", 24)?,
                stale_homes: env_or("PF_ALERT_STALE_HOMES", 10)?,
            },
            recent_alerts: env_or("PF_ALERTS_RECENT", 50)?,
            webhook,
            region_files,
            region,
        })
    }

    /// Local defaults pointing at given servers and trusting `sign_in`'s
    /// issuer (for tests).
    pub fn local(nats_url: &str, redis_url: &str, sign_in: SignInSettings) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            nats: pf_event_log::NatsSettings::anonymous(nats_url),
            redis_url: redis_url.to_owned(),
            sign_in,
            redis_prefix: "pf:".to_owned(),
            redis_timeout: Duration::from_secs(10),
            opel_config: None,
            interval: Duration::from_millis(200),
            alert_rules: AlertRules::default(),
            recent_alerts: 50,
            webhook: None,
            region_files: pf_region::RegionFiles::BuiltIn,
            region: pf_region::Region::built_in(),
        }
    }
}

fn webhook_secret() -> Result<Vec<u8>, ConfigError> {
    let inline: String = env_or("PF_ALERT_WEBHOOK_SECRET", String::new())?;
    let path: String = env_or("PF_ALERT_WEBHOOK_SECRET_FILE", String::new())?;
    let secret = if !inline.is_empty() || path.is_empty() {
        inline
    } else {
        std::fs::read_to_string(&path).map_err(|e| ConfigError {
            name: "PF_ALERT_WEBHOOK_SECRET_FILE".to_owned(),
            value: path.clone(),
            cause: e.to_string(),
        })?
    };
    let secret = secret.trim().to_owned();
    if secret.len() < 16 {
        return Err(ConfigError {
            name: "PF_ALERT_WEBHOOK_SECRET".to_owned(),
            value: "<redacted>".to_owned(),
            cause: "a webhook URL needs a signing secret of at least 16 characters".to_owned(),
        });
    }
    Ok(secret.into_bytes())
}
