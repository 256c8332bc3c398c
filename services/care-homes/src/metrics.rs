//! What the care-homes service counts.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

/// The service's metrics.
#[derive(Clone)]
pub struct CareHomeMetrics {
    /// `pf_care_home_updates_total{event_type, channel}`: updates stored.
    pub saved: IntCounterVec,
    /// `pf_care_home_resends_total{channel}`: resends answered from the idempotency store.
    pub resends: IntCounterVec,
    /// `pf_care_home_refused_total{reason}`: refused requests.
    pub refused: IntCounterVec,
    /// `pf_audit_failures_total`: audit records that could not be written.
    pub audit_failures: IntCounter,
}

impl CareHomeMetrics {
    /// Registers the metrics.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let saved = IntCounterVec::new(
            Opts::new("pf_care_home_updates_total", "Care-home updates stored"),
            &["event_type", "channel"],
        )?;
        let resends = IntCounterVec::new(
            Opts::new(
                "pf_care_home_resends_total",
                "Resent updates answered without storing them again",
            ),
            &["channel"],
        )?;
        let refused = IntCounterVec::new(
            Opts::new("pf_care_home_refused_total", "Refused requests, by reason"),
            &["reason"],
        )?;
        let audit_failures = IntCounter::new(
            "pf_audit_failures_total",
            "Audit records that could not be written",
        )?;
        registry.register(Box::new(saved.clone()))?;
        registry.register(Box::new(resends.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        registry.register(Box::new(audit_failures.clone()))?;
        Ok(Self {
            saved,
            resends,
            refused,
            audit_failures,
        })
    }
}
