//! Settings of the projection.

use std::net::SocketAddr;
use std::time::Duration;

use pf_live_state::{Keys, TrendSettings};
use pf_runtime::{ConfigError, env_or};

/// Settings, from the environment with local defaults.
#[derive(Debug, Clone)]
pub struct ProjectionConfig {
    /// Where `/healthz`, `/readyz`, `/metrics` listen (`PF_PROJECTION_ADDR`, default `127.0.0.1:8082`).
    pub listen: SocketAddr,
    /// NATS server and this service's user there (`PF_NATS_URL`,
    /// `PF_NATS_USER`, `PF_NATS_PASSWORD` / `PF_NATS_PASSWORD_FILE`).
    pub nats: pf_event_log::NatsSettings,
    /// Redis server (`PF_REDIS_URL`, default `redis://127.0.0.1:6379`).
    pub redis_url: String,
    /// Key prefix of the live state (`PF_REDIS_PREFIX`, default `pf:`): no
    /// patient-identifiable data under it.
    pub redis_prefix: String,
    /// Key prefix of the patient-level data, discharge records and the
    /// discharge views' notices (`PF_REDIS_PATIENT_PREFIX`, default the live
    /// prefix with `-patient` before its last `:`, `pf-patient:`).
    pub redis_patient_prefix: String,
    /// Longest wait for one Redis round trip (`PF_REDIS_TIMEOUT_MS`, default 10 s).
    pub redis_timeout: Duration,
    /// Durable consumer name (`PF_PROJECTION_CONSUMER`, default `projection`).
    pub consumer_name: String,
    /// Most events applied in one Redis round trip (`PF_PROJECTION_BATCH`, default 500).
    pub batch_size: usize,
    /// Entries kept in the change log (`PF_CHANGES_MAX_LEN`, default 100,000).
    pub changes_max_len: u64,

    /// How often the watchdog checks that Redis still holds what it
    /// acknowledged (`PF_PROJECTION_WATCHDOG_MS`, default 1 s; 0 turns it off).
    pub watchdog_interval: Duration,
    /// Occupancy history per site and for the system: bucket length
    /// (`PF_TREND_BUCKET_SECS`, default 300, 60 to 86,400) and retention
    /// (`PF_TREND_KEEP_DAYS`, default 8, 1 to 366; keep at least 8 for the
    /// same day last week). The bucket length is stored beside the history
    /// for readers. Changing it leaves the existing entries as they are.
    pub trends: TrendSettings,
}

impl ProjectionConfig {
    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            listen: env_or(
                "PF_PROJECTION_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 8082)),
            )?,
            nats: pf_event_log::NatsSettings::from_env_config()?,
            redis_url: env_or("PF_REDIS_URL", "redis://127.0.0.1:6379".to_owned())?,
            redis_prefix: env_or("PF_REDIS_PREFIX", "pf:".to_owned())?,
            redis_patient_prefix: match std::env::var("PF_REDIS_PATIENT_PREFIX") {
                Ok(prefix) if !prefix.trim().is_empty() => prefix,
                _ => Keys::new(env_or("PF_REDIS_PREFIX", "pf:".to_owned())?)
                    .patient_prefix()
                    .to_owned(),
            },
            redis_timeout: Duration::from_millis(env_or("PF_REDIS_TIMEOUT_MS", 10_000)?),
            consumer_name: env_or("PF_PROJECTION_CONSUMER", "projection".to_owned())?,
            batch_size: env_or("PF_PROJECTION_BATCH", 500)?,
            changes_max_len: env_or("PF_CHANGES_MAX_LEN", 100_000)?,
            watchdog_interval: Duration::from_millis(env_or("PF_PROJECTION_WATCHDOG_MS", 1_000)?),
            trends: TrendSettings {
                bucket: Duration::from_secs(in_range("PF_TREND_BUCKET_SECS", 300, 60..=86_400)?),
                keep: Duration::from_secs(in_range("PF_TREND_KEEP_DAYS", 8, 1..=366)? * 86_400),
            },
        })
    }

    /// Local defaults pointing at given servers (for tests).
    pub fn local(nats_url: &str, redis_url: &str) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            nats: pf_event_log::NatsSettings::anonymous(nats_url),
            redis_url: redis_url.to_owned(),
            redis_prefix: "pf:".to_owned(),
            redis_patient_prefix: "pf-patient:".to_owned(),
            redis_timeout: Duration::from_secs(10),
            consumer_name: "projection".to_owned(),
            batch_size: 500,
            changes_max_len: 100_000,
            watchdog_interval: Duration::from_millis(200),
            trends: TrendSettings::default(),
        }
    }
}

/// Reads a whole number from the environment and checks its range.
fn in_range(
    name: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    within(name, env_or(name, default)?, range)
}

fn within(
    name: &str,
    value: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError {
            name: name.to_owned(),
            value: value.to_string(),
            cause: format!("must be from {} to {}", range.start(), range.end()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_settings_out_of_range_are_refused_with_the_range() {
        assert_eq!(
            within("PF_TREND_BUCKET_SECS", 300, 60..=86_400).ok(),
            Some(300)
        );
        let refused = within("PF_TREND_BUCKET_SECS", 1, 60..=86_400).unwrap_err();
        assert_eq!(refused.name, "PF_TREND_BUCKET_SECS");
        assert!(
            refused.to_string().contains("from 60 to 86400"),
            "{refused}"
        );
        assert!(within("PF_TREND_KEEP_DAYS", 0, 1..=366).is_err());
    }

    #[test]
    fn the_defaults_keep_eight_days_in_five_minute_buckets() {
        let config = ProjectionConfig::local("nats://127.0.0.1:4222", "redis://127.0.0.1:6379");
        assert_eq!(config.trends.bucket, Duration::from_secs(300));
        assert_eq!(config.trends.keep, Duration::from_secs(8 * 86_400));
    }
}
