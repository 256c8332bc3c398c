//! The one owner of the platform's JetStream streams.
//!
//! Every stream has exactly one owner, and it is this: `pf-streams` runs
//! once when the platform is installed or upgraded (`scripts/start` runs it
//! before the services; the Helm chart runs it as a post-install and
//! post-upgrade Job), signs in to NATS as its own user `streams` — the only
//! user allowed to create or update a stream — and creates every stream or
//! brings its configured settings (replicas, retention, limits) in line
//! with [`StreamsConfig`]. Services never create or change a stream: their
//! NATS users may ask for stream info at most, and they wait at start-up
//! until the streams they use exist
//! ([`pf_event_log::streams::wait_for`]). So no service can shrink the
//! audit trail's limits, and no service resets a stream to its own defaults
//! because it happened to start first.
//!
//! # Layout
//! - [`StreamsConfig`]: the settings, from the environment.
//! - [`ensure`]: creates or updates every stream: the event streams, dead
//!   letters, system events and alerts (`pf_event_log::streams`) and the
//!   audit trail (`pf_audit::stream`), and the bucket of the projection's
//!   and pressure's active/standby leases (`pf_lease`).
#![forbid(unsafe_code)]

use pf_audit::{AuditConfig, AuditRetention};
use pf_event_log::Durability;

/// The settings of every stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamsConfig {
    /// Replicas, duplicate window and alert retention of the platform's
    /// streams (`PF_STREAM_REPLICAS`, `PF_STREAM_DUPLICATE_WINDOW_SECS`,
    /// `PF_ALERTS_KEEP_DAYS`).
    pub durability: Durability,
    /// The audit trail's retention, replicas and bound
    /// (`PF_AUDIT_RETENTION_DAYS`, default 8 years; `PF_AUDIT_REPLICAS`,
    /// default `PF_STREAM_REPLICAS`; `PF_AUDIT_MAX_BYTES`, default 20 GiB:
    /// at the bound the stream refuses new records, see
    /// `docs/audit-trail.md`).
    pub audit: AuditConfig,
    /// The time to live of the active/standby leases (`PF_LEASE_TTL_MS`,
    /// default 3 s): a standby takes over at most this long after the
    /// active copy dies. The lease bucket has the streams' replicas.
    pub lease_ttl: pf_lease::LeaseTtl,
}

impl StreamsConfig {
    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, pf_runtime::ConfigError> {
        let durability = Durability::from_env()?;
        let days: u32 = pf_runtime::env_or("PF_AUDIT_RETENTION_DAYS", 8 * 365)?;
        let retention = AuditRetention::days(days).map_err(|cause| pf_runtime::ConfigError {
            name: "PF_AUDIT_RETENTION_DAYS".to_owned(),
            value: days.to_string(),
            cause: cause.to_string(),
        })?;
        let max_bytes = match std::env::var(pf_audit::stream::MAX_BYTES_ENV) {
            Ok(value) => pf_audit::stream::parse_max_bytes(&value).map_err(|cause| {
                pf_runtime::ConfigError {
                    name: pf_audit::stream::MAX_BYTES_ENV.to_owned(),
                    value: value.clone(),
                    cause: cause.to_string(),
                }
            })?,
            Err(_) => pf_audit::stream::DEFAULT_MAX_BYTES,
        };
        let audit = AuditConfig {
            retention,
            replicas: pf_runtime::env_or("PF_AUDIT_REPLICAS", durability.replicas)?,
            max_bytes,
        };
        Ok(Self {
            durability,
            audit,
            lease_ttl: pf_lease::ttl_from_env()?,
        })
    }
}

/// A stream could not be created or brought in line.
#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    /// One of the platform's event, alert or system streams.
    #[error(transparent)]
    Events(#[from] pf_event_log::streams::EnsureError),
    /// The audit trail.
    #[error(transparent)]
    Audit(#[from] pf_audit::stream::EnsureError),
    /// The bucket of the active/standby leases.
    #[error(transparent)]
    Leases(#[from] pf_lease::LeaseError),
}

/// Creates every stream of the platform, or brings its configured settings
/// in line with `config`. Idempotent.
pub async fn ensure(
    context: &async_nats::jetstream::Context,
    config: &StreamsConfig,
) -> Result<(), StreamsError> {
    pf_event_log::streams::ensure(context, config.durability).await?;
    pf_audit::stream::ensure(context, &config.audit).await?;
    pf_lease::ensure_bucket(context, config.durability.replicas, config.lease_ttl).await?;
    Ok(())
}
