//! The `PF_AUDIT` stream: its subjects, retention and append-only settings.
//!
//! The audit trail lives in its own stream, apart from the operational
//! events, so that it has its own retention (years, not days), its own
//! permissions (services may only publish to it; administrators read it)
//! and cannot be deleted from or purged: `deny_delete` and `deny_purge` make
//! JetStream refuse both. Records leave only by ageing past the retention.
//!
//! Durability: file storage, and `replicas` should be 3 in production.
//! nats-server 2.9 has no `sync_interval`; an acknowledged record survives a
//! killed server but not a power cut unless the server runs with
//! `sync_interval: always` (2.10+) or with replicas across failure domains.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use tokio_util::sync::CancellationToken;

/// The stream's name.
pub const STREAM: &str = "PF_AUDIT";

/// The subjects it captures: `pf.audit.{organisation}.{actor}`.
pub const SUBJECTS: &str = "pf.audit.>";

/// Re-sent records with the same id within this window are stored once.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

const SECONDS_PER_DAY: u64 = 24 * 60 * 60;

/// How long the audit trail keeps records.
///
/// Defaults to 8 years (8 × 365 days), matching the minimum retention of
/// adult health records in the NHS Records Management Code of Practice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRetention(Duration);

/// The retention asked for is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit retention must be at least one day")]
pub struct RetentionError;

impl AuditRetention {
    /// Keep records for `days` days (at least 1).
    pub fn days(days: u32) -> Result<Self, RetentionError> {
        if days == 0 {
            return Err(RetentionError);
        }
        Ok(Self(Duration::from_secs(u64::from(days) * SECONDS_PER_DAY)))
    }

    /// The retention as the stream's `max_age`.
    pub fn max_age(self) -> Duration {
        self.0
    }
}

impl Default for AuditRetention {
    fn default() -> Self {
        Self(Duration::from_secs(8 * 365 * SECONDS_PER_DAY))
    }
}

/// The stream's bound by default: 20 GiB (see `docs/audit-trail.md`).
pub const DEFAULT_MAX_BYTES: i64 = 20 * 1024 * 1024 * 1024;

/// The environment variable that sets [`AuditConfig::max_bytes`].
pub const MAX_BYTES_ENV: &str = "PF_AUDIT_MAX_BYTES";

/// How the audit stream is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditConfig {
    /// How long records are kept.
    pub retention: AuditRetention,
    /// Stream replicas (1 for a single server, 3 for a cluster).
    pub replicas: usize,
    /// The stream's bound in bytes. At the bound the stream refuses new
    /// records (discard policy `new`) and never drops old ones, so every
    /// audited action is refused until an operator raises it: the trail is
    /// never silently truncated. Services alert well before
    /// ([`crate::usage`]).
    pub max_bytes: i64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention: AuditRetention::default(),
            replicas: 1,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// `PF_AUDIT_MAX_BYTES` is not a usable bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{MAX_BYTES_ENV} must be a whole number of bytes of at least 1 MiB (1048576), got `{0}`")]
pub struct MaxBytesError(String);

impl AuditConfig {
    /// The default configuration with `max_bytes` from `PF_AUDIT_MAX_BYTES`
    /// when set.
    pub fn from_env() -> Result<Self, MaxBytesError> {
        let mut config = Self::default();
        if let Ok(value) = std::env::var(MAX_BYTES_ENV) {
            config.max_bytes = parse_max_bytes(&value)?;
        }
        Ok(config)
    }
}

/// A byte bound of at least 1 MiB.
pub fn parse_max_bytes(value: &str) -> Result<i64, MaxBytesError> {
    match value.trim().parse::<i64>() {
        Ok(bytes) if bytes >= 1024 * 1024 => Ok(bytes),
        _ => Err(MaxBytesError(value.to_owned())),
    }
}

/// The audit stream could not be created or is not safe to use.
#[derive(Debug, thiserror::Error)]
pub enum EnsureError {
    /// JetStream could not be reached or refused the configuration.
    #[error("could not create or update stream {STREAM}: {0}")]
    Unavailable(String),
    /// JetStream cannot reserve the trail's bound: `max_bytes` is more than
    /// the server may store (its `max_file_store`, 75% of the free disk
    /// unless set).
    #[error(
        "stream {STREAM} cannot reserve {max_bytes} bytes: the NATS server has less room \
         than that (its max_file_store, by default 75% of the free disk); give the server more \
         disk or set a smaller {MAX_BYTES_ENV}"
    )]
    NoRoom {
        /// The bound asked for.
        max_bytes: i64,
    },
    /// A stream of that name exists but allows deleting or purging records.
    /// It is not changed automatically: an operator must look at it.
    #[error(
        "stream {STREAM} exists but is not append-only (deny_delete and deny_purge must be set)"
    )]
    NotAppendOnly,
}

/// The stream's configuration for `config`.
pub fn stream_config(config: &AuditConfig) -> stream::Config {
    stream::Config {
        name: STREAM.to_owned(),
        subjects: vec![SUBJECTS.to_owned()],
        description: Some(
            "Patient Flow audit trail: every accepted change and refused attempt".into(),
        ),
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: config.retention.max_age(),
        num_replicas: config.replicas,
        duplicate_window: DUPLICATE_WINDOW,
        deny_delete: true,
        deny_purge: true,
        max_bytes: config.max_bytes,
        // Full means refuse new records, never drop old ones.
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    }
}

/// Creates the audit stream when missing; when it exists, brings its
/// retention and replicas in line with `config`. Refuses to use a stream of
/// that name that is not append-only. Idempotent.
///
/// Only the stream's owner, `pf-streams`, calls this; services that record
/// or read the trail call [`wait_until_ready`].
pub async fn ensure(context: &jetstream::Context, config: &AuditConfig) -> Result<(), EnsureError> {
    let wanted = stream_config(config);
    let no_room = |e: String| {
        if e.contains("insufficient storage") {
            EnsureError::NoRoom {
                max_bytes: wanted.max_bytes,
            }
        } else {
            EnsureError::Unavailable(e)
        }
    };
    let mut stream = context
        .get_or_create_stream(wanted.clone())
        .await
        .map_err(|e| no_room(e.to_string()))?;
    let existing = stream
        .info()
        .await
        .map_err(|e| EnsureError::Unavailable(e.to_string()))?
        .config
        .clone();
    if !existing.deny_delete || !existing.deny_purge {
        return Err(EnsureError::NotAppendOnly);
    }
    if existing.max_age != wanted.max_age
        || existing.num_replicas != wanted.num_replicas
        || existing.max_bytes != wanted.max_bytes
        || existing.discard != wanted.discard
    {
        let updated = stream::Config {
            max_age: wanted.max_age,
            num_replicas: wanted.num_replicas,
            max_bytes: wanted.max_bytes,
            discard: wanted.discard,
            ..existing
        };
        context
            .update_stream(updated)
            .await
            .map_err(|e| no_room(e.to_string()))?;
        tracing::info!(
            stream = STREAM,
            max_age_days = wanted.max_age.as_secs() / SECONDS_PER_DAY,
            replicas = wanted.num_replicas,
            "updated the audit stream's retention"
        );
    }
    Ok(())
}

/// Waits until the audit stream exists (see
/// [`pf_event_log::streams::wait_for`]), then checks that it is
/// append-only. `Ok(false)` when `shutdown` is cancelled first.
pub async fn wait_until_ready(
    context: &jetstream::Context,
    shutdown: &CancellationToken,
) -> Result<bool, EnsureError> {
    if !pf_event_log::streams::wait_for(context, &[STREAM], shutdown).await {
        return Ok(false);
    }
    let mut stream = context
        .get_stream(STREAM)
        .await
        .map_err(|e| EnsureError::Unavailable(e.to_string()))?;
    let config = &stream
        .info()
        .await
        .map_err(|e| EnsureError::Unavailable(e.to_string()))?
        .config;
    if !config.deny_delete || !config.deny_purge {
        return Err(EnsureError::NotAppendOnly);
    }
    Ok(true)
}

/// The subject of a record by `actor` for `organisation`.
pub fn subject(organisation: &str, actor: &str) -> String {
    format!("pf.audit.{}.{}", token(organisation), token(actor))
}

/// The subject filter for a query by person and/or organisation.
pub fn filter_subject(organisation: Option<&str>, actor: Option<&str>) -> String {
    match (organisation, actor) {
        (Some(org), Some(actor)) => subject(org, actor),
        (None, Some(actor)) => format!("pf.audit.*.{}", token(actor)),
        (Some(org), None) => format!("pf.audit.{}.>", token(org)),
        (None, None) => SUBJECTS.to_owned(),
    }
}

/// An id made into one subject token: letters, digits, `-` and `_` stay;
/// every other byte becomes `%` and two upper-case hex digits; empty becomes
/// `_`. Deterministic, so a query finds what was published.
pub fn token(id: &str) -> String {
    if id.is_empty() {
        return "_".to_owned();
    }
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_subject_safe_and_deterministic() {
        assert_eq!(token("RWE"), "RWE");
        assert_eq!(token("1-123456789"), "1-123456789");
        assert_eq!(token(""), "_");
        assert_eq!(token("a.b*c>d e"), "a%2Eb%2Ac%3Ed%20e");
        assert_eq!(token("50%"), "50%25");
        assert_eq!(token("jo@nhs.net"), "jo%40nhs%2Enet");
        assert_eq!(token("é"), "%C3%A9");
    }

    #[test]
    fn filters_follow_the_subject_layout() {
        assert_eq!(subject("RWE", "u.1"), "pf.audit.RWE.u%2E1");
        assert_eq!(filter_subject(Some("RWE"), Some("u1")), "pf.audit.RWE.u1");
        assert_eq!(filter_subject(None, Some("u1")), "pf.audit.*.u1");
        assert_eq!(filter_subject(Some("RWE"), None), "pf.audit.RWE.>");
        assert_eq!(filter_subject(None, None), "pf.audit.>");
    }

    #[test]
    fn retention_defaults_to_eight_years() {
        let days = AuditRetention::default().max_age().as_secs() / SECONDS_PER_DAY;
        assert_eq!(days, 8 * 365);
        assert_eq!(AuditRetention::days(0), Err(RetentionError));
        assert_eq!(
            AuditRetention::days(30).map(AuditRetention::max_age),
            Ok(Duration::from_secs(30 * SECONDS_PER_DAY))
        );
    }

    #[test]
    fn the_stream_is_append_only() {
        let config = stream_config(&AuditConfig::default());
        assert!(config.deny_delete && config.deny_purge);
        assert_eq!(config.storage, stream::StorageType::File);
        assert_eq!(config.duplicate_window, DUPLICATE_WINDOW);
        // Bounded, and full means refusing new records, not dropping old.
        assert_eq!(config.max_bytes, DEFAULT_MAX_BYTES);
        assert_eq!(config.discard, stream::DiscardPolicy::New);
    }

    #[test]
    fn the_bound_must_be_a_sane_number_of_bytes() {
        assert_eq!(parse_max_bytes("2147483648"), Ok(2_147_483_648));
        assert!(parse_max_bytes("10").is_err());
        assert!(parse_max_bytes("20GiB").is_err());
        assert!(parse_max_bytes("-1").is_err());
    }
}
