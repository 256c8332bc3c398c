//! The service's Prometheus metrics.

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

/// Counters and gauges.
#[derive(Clone)]
pub struct PressureMetrics {
    /// Alerts raised, by kind.
    pub alerts: IntCounterVec,
    /// Webhook deliveries, by outcome.
    pub webhook_deliveries: IntCounterVec,
    /// Current OPEL level, by scope.
    pub level: IntGaugeVec,
}

impl PressureMetrics {
    /// Registers them.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let alerts = IntCounterVec::new(
            Opts::new("pf_pressure_alerts_total", "Alerts raised, by kind"),
            &["kind"],
        )?;
        let webhook_deliveries = IntCounterVec::new(
            Opts::new(
                "pf_pressure_webhook_deliveries_total",
                "Alerts sent to the webhook, by outcome (delivered, refused, failed, dropped, abandoned)",
            ),
            &["outcome"],
        )?;
        let level = IntGaugeVec::new(
            Opts::new(
                "pf_pressure_opel_level",
                "Current OPEL level (1-4), by scope",
            ),
            &["scope"],
        )?;
        registry.register(Box::new(alerts.clone()))?;
        registry.register(Box::new(webhook_deliveries.clone()))?;
        registry.register(Box::new(level.clone()))?;
        Ok(Self {
            alerts,
            webhook_deliveries,
            level,
        })
    }
}
