//! How full the `PF_AUDIT` stream is, as metrics and a warning.
//!
//! The stream is bounded by bytes ([`crate::AuditConfig::max_bytes`]) and
//! refuses new records when full, never dropping old ones; every audited
//! action is then refused (503). So that operators have days to act, not
//! minutes, every service that records exports the stream's used and
//! maximum bytes (`pf_audit_stream_used_bytes`, `pf_audit_stream_max_bytes`;
//! the chart's `PrometheusRule` alerts at [`WARN_FRACTION`]) and logs a
//! warning past that fraction. See `docs/audit-trail.md` for the sizing.

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_nats::jetstream;
use prometheus::{IntCounter, IntGauge, Registry};
use tokio::sync::Notify;

use crate::stream::STREAM;

/// From this fraction of the bound on, every refresh logs a warning (and
/// the chart's alert rule fires at the same fraction).
pub const WARN_FRACTION: f64 = 0.7;

/// How often services look at the stream by default.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(30);

/// The metrics of the stream's usage.
pub(crate) struct Usage {
    used: IntGauge,
    max: IntGauge,
    /// Outcomes not recorded after their attempt was.
    pub(crate) unrecorded: IntCounter,
    /// Wakes the watch at once (a record failed).
    pub(crate) refresh_now: Notify,
}

impl Usage {
    pub(crate) fn register(registry: &Registry) -> Result<Arc<Self>, prometheus::Error> {
        let used = IntGauge::new(
            "pf_audit_stream_used_bytes",
            "Bytes the PF_AUDIT stream holds now",
        )?;
        let max = IntGauge::new(
            "pf_audit_stream_max_bytes",
            "The PF_AUDIT stream's bound in bytes (0: unbounded); at the bound every audited action is refused",
        )?;
        let unrecorded = IntCounter::new(
            "pf_audit_unrecorded_total",
            "Outcomes of audited attempts that could not be recorded (their attempt is in the trail)",
        )?;
        registry.register(Box::new(used.clone()))?;
        registry.register(Box::new(max.clone()))?;
        registry.register(Box::new(unrecorded.clone()))?;
        Ok(Arc::new(Self {
            used,
            max,
            unrecorded,
            refresh_now: Notify::new(),
        }))
    }
}

/// Looks at the stream every `every` (and when woken) while `usage` lives.
pub(crate) fn watch(context: jetstream::Context, usage: Weak<Usage>, every: Duration) {
    tokio::spawn(async move {
        loop {
            let Some(current) = usage.upgrade() else {
                return;
            };
            refresh(&context, &current).await;
            let wake = async {
                current.refresh_now.notified().await;
            };
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = wake => {}
            }
        }
    });
}

async fn refresh(context: &jetstream::Context, usage: &Usage) {
    let info = match context.get_stream(STREAM).await {
        Ok(mut stream) => stream.info().await.cloned(),
        Err(err) => {
            tracing::warn!(cause = %err, "could not read the audit stream's size");
            return;
        }
    };
    let info = match info {
        Ok(info) => info,
        Err(err) => {
            tracing::warn!(cause = %err, "could not read the audit stream's size");
            return;
        }
    };
    let used = i64::try_from(info.state.bytes).unwrap_or(i64::MAX);
    let max = info.config.max_bytes.max(0);
    usage.used.set(used);
    usage.max.set(max);
    if let Some(fraction) = fraction(used, max)
        && fraction >= WARN_FRACTION
    {
        tracing::warn!(
            used_bytes = used,
            max_bytes = max,
            percent = (fraction * 100.0).round(),
            "the audit trail is filling up: at its bound every audited action is refused; raise PF_AUDIT_MAX_BYTES (and the disk) now"
        );
    }
}

/// `used / max`, when the stream is bounded.
fn fraction(used: i64, max: i64) -> Option<f64> {
    (max > 0).then(|| used as f64 / max as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unbounded_stream_has_no_fraction() {
        assert_eq!(fraction(10, 0), None);
        assert_eq!(fraction(75, 100), Some(0.75));
    }
}
