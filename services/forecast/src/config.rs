//! Settings from the environment, with local defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pf_runtime::{ConfigError, env_or};
use pf_sign_in::SignInSettings;

/// How the service runs.
#[derive(Debug, Clone)]
pub struct ForecastConfig {
    /// `PF_FORECAST_ADDR` (default `127.0.0.1:8089`).
    pub listen: SocketAddr,
    /// NATS, as the `forecast` user.
    pub nats: pf_event_log::NatsSettings,
    /// `PF_REDIS_URL`: sign-in sessions (its API is signed in).
    pub redis_url: String,
    /// Who may call the API.
    pub sign_in: SignInSettings,
    /// `PF_FORECAST_HISTORY_WEEKS` (default 8): weeks of history fitted.
    pub history_weeks: u32,
    /// `PF_FORECAST_REFIT_SECS` (default 3600): refit at least this often.
    pub refit_every: Duration,
    /// `PF_FORECAST_WATCH_SECS` (default 30): how often the streams are
    /// checked for a rebuild or a load of history.
    pub watch_every: Duration,
    /// `PF_FORECAST_REFIT_EVENTS` (default 20000): this many new events
    /// since the last fit (history loaded, a replay) refits at once.
    pub refit_events: u64,
    /// `PF_FORECAST_ALERT_OCCUPANCY_PCT` (default 95): an alert when a
    /// scope's forecast G&A occupancy reaches this within 24 hours.
    pub alert_occupancy_pct: f64,
    /// `PF_OPEL_CONFIG`: the OPEL configuration (default: the region's).
    pub opel_config: Option<PathBuf>,
    /// `PF_ALERT_WEBHOOK_URL` and its secret, as pf-pressure reads them.
    pub webhook: Option<pf_pressure::WebhookConfig>,
}

impl ForecastConfig {
    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let opel_config: String = env_or("PF_OPEL_CONFIG", String::new())?;
        let pressure = pf_pressure::PressureConfig::from_env()?;
        Ok(Self {
            listen: env_or("PF_FORECAST_ADDR", SocketAddr::from(([127, 0, 0, 1], 8089)))?,
            nats: pf_event_log::NatsSettings::from_env_config()?,
            redis_url: env_or("PF_REDIS_URL", "redis://127.0.0.1:6379".to_owned())?,
            sign_in: SignInSettings::from_env()?,
            history_weeks: env_or("PF_FORECAST_HISTORY_WEEKS", 8)?,
            refit_every: Duration::from_secs(env_or("PF_FORECAST_REFIT_SECS", 3600)?),
            watch_every: Duration::from_secs(env_or("PF_FORECAST_WATCH_SECS", 30)?),
            refit_events: env_or("PF_FORECAST_REFIT_EVENTS", 20_000)?,
            alert_occupancy_pct: env_or("PF_FORECAST_ALERT_OCCUPANCY_PCT", 95.0)?,
            opel_config: (!opel_config.is_empty()).then(|| PathBuf::from(opel_config)),
            webhook: pressure.webhook,
        })
    }

    /// Local defaults pointing at given servers (for tests).
    pub fn local(nats_url: &str, redis_url: &str, sign_in: SignInSettings) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            nats: pf_event_log::NatsSettings::anonymous(nats_url),
            redis_url: redis_url.to_owned(),
            sign_in,
            history_weeks: 8,
            refit_every: Duration::from_secs(3600),
            watch_every: Duration::from_millis(500),
            refit_events: 20_000,
            alert_occupancy_pct: 95.0,
            opel_config: None,
            webhook: None,
        }
    }
}
