//! Counters of what the service published and refused.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

/// `pf_events_published_total{event_type}` and `pf_events_refused_total{reason}`.
#[derive(Clone)]
pub struct UrgentCareMetrics {
    /// Events acknowledged by JetStream, by event type.
    pub published: IntCounterVec,
    /// Changes refused, by reason class.
    pub refused: IntCounterVec,
    /// Audit records that could not be stored.
    pub audit_failures: IntCounter,
}

impl UrgentCareMetrics {
    /// Registers the counters.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let published = IntCounterVec::new(
            Opts::new(
                "pf_events_published_total",
                "Events stored in JetStream, by type",
            ),
            &["event_type"],
        )?;
        let refused = IntCounterVec::new(
            Opts::new(
                "pf_events_refused_total",
                "Changes refused before publishing, by reason",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(published.clone()))?;
        let audit_failures = IntCounter::new(
            "pf_audit_failures_total",
            "Audit records that could not be stored",
        )?;
        registry.register(Box::new(refused.clone()))?;
        registry.register(Box::new(audit_failures.clone()))?;
        Ok(Self {
            published,
            refused,
            audit_failures,
        })
    }
}
