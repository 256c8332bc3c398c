//! What the projection counts.

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry};

/// The projection's metrics.
#[derive(Clone)]
pub struct ProjectionMetrics {
    /// `pf_events_applied_total{outcome="applied|stale", stream}`.
    pub applied: IntCounterVec,
    /// `pf_events_dead_lettered_total{reason}`.
    pub dead_lettered: IntCounterVec,
    /// `pf_consumer_pending{stream}`: events in the stream not yet applied.
    pub pending: IntGaugeVec,
    /// `pf_apply_duration_seconds`: one batch's Redis round trip.
    pub apply_duration: Histogram,
    /// `pf_apply_batch_size`: events per batch.
    pub batch_size: Histogram,
}

impl ProjectionMetrics {
    /// Registers the metrics.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let applied = IntCounterVec::new(
            Opts::new(
                "pf_events_applied_total",
                "Events folded into the live state, by outcome and stream",
            ),
            &["outcome", "stream"],
        )?;
        let dead_lettered = IntCounterVec::new(
            Opts::new(
                "pf_events_dead_lettered_total",
                "Events refused to the dead-letter subject, by reason",
            ),
            &["reason"],
        )?;
        let pending = IntGaugeVec::new(
            Opts::new(
                "pf_consumer_pending",
                "Events in the stream not yet applied",
            ),
            &["stream"],
        )?;
        let apply_duration = Histogram::with_opts(
            HistogramOpts::new(
                "pf_apply_duration_seconds",
                "Time to apply one batch to Redis",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        )?;
        let batch_size = Histogram::with_opts(
            HistogramOpts::new("pf_apply_batch_size", "Events applied per batch").buckets(vec![
                1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0,
            ]),
        )?;
        registry.register(Box::new(applied.clone()))?;
        registry.register(Box::new(dead_lettered.clone()))?;
        registry.register(Box::new(pending.clone()))?;
        registry.register(Box::new(apply_duration.clone()))?;
        registry.register(Box::new(batch_size.clone()))?;
        Ok(Self {
            applied,
            dead_lettered,
            pending,
            apply_duration,
            batch_size,
        })
    }
}
