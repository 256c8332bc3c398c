//! The service's own counters.

use prometheus::{IntCounterVec, Opts, Registry};

/// Counters of answers.
#[derive(Clone)]
pub struct FhirMetrics {
    /// Resources returned, by type.
    pub served: IntCounterVec,
    /// Requests refused, by reason.
    pub refused: IntCounterVec,
}

impl FhirMetrics {
    /// Registers the counters in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let served = IntCounterVec::new(
            Opts::new(
                "pf_fhir_resources_served_total",
                "FHIR resources returned, by type",
            ),
            &["type"],
        )?;
        let refused = IntCounterVec::new(
            Opts::new("pf_fhir_refused_total", "FHIR requests refused, by reason"),
            &["reason"],
        )?;
        registry.register(Box::new(served.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        Ok(Self { served, refused })
    }
}
