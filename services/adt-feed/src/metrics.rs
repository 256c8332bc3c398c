//! The feed's metrics (never a patient identifier in a label).

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};

/// Counters of messages, refusals and connections.
#[derive(Clone)]
pub struct FeedMetrics {
    /// Messages answered, by feed, trigger and MSA-1 code.
    pub messages: IntCounterVec,
    /// Messages refused, by feed and reason kind (`unknown_location`, …).
    pub refused: IntCounterVec,
    /// Resends answered from the control-id store.
    pub resends: IntCounterVec,
    /// Connections closed for their framing, by reason.
    pub frames_refused: IntCounterVec,
    /// Connections open now.
    pub connections: IntGauge,
    /// Seconds from a message's last byte to its ACK.
    pub ack_seconds: Histogram,
    /// A03/A13 joined to the discharge list, by outcome.
    pub discharge_joins: IntCounterVec,
    /// ED arrivals and departures sent to the urgent-care service, by
    /// event and outcome.
    pub ed_events: IntCounterVec,
}

impl FeedMetrics {
    /// Registers the metrics.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let messages = IntCounterVec::new(
            Opts::new(
                "pf_adt_messages_total",
                "ADT messages answered, by feed, trigger and MSA-1 code",
            ),
            &["feed", "trigger", "code"],
        )?;
        let refused = IntCounterVec::new(
            Opts::new(
                "pf_adt_refused_total",
                "ADT messages refused (AE/AR), by feed and reason",
            ),
            &["feed", "reason"],
        )?;
        let resends = IntCounterVec::new(
            Opts::new(
                "pf_adt_resends_total",
                "ADT messages sent again and answered with their first ACK",
            ),
            &["feed"],
        )?;
        let frames_refused = IntCounterVec::new(
            Opts::new(
                "pf_adt_connections_refused_total",
                "MLLP connections closed for what they sent, by reason",
            ),
            &["reason"],
        )?;
        let connections = IntGauge::new("pf_adt_connections", "MLLP connections open")?;
        let ack_seconds = Histogram::with_opts(
            HistogramOpts::new("pf_adt_ack_seconds", "Seconds from a message to its ACK").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            ),
        )?;
        let discharge_joins = IntCounterVec::new(
            Opts::new(
                "pf_adt_discharge_join_total",
                "A03/A13 joined to the discharge list, by outcome",
            ),
            &["outcome"],
        )?;
        let ed_events = IntCounterVec::new(
            Opts::new(
                "pf_adt_ed_events_total",
                "ED arrivals and departures sent to the urgent-care service, by event and outcome",
            ),
            &["event", "outcome"],
        )?;
        registry.register(Box::new(discharge_joins.clone()))?;
        registry.register(Box::new(ed_events.clone()))?;
        registry.register(Box::new(messages.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        registry.register(Box::new(resends.clone()))?;
        registry.register(Box::new(frames_refused.clone()))?;
        registry.register(Box::new(connections.clone()))?;
        registry.register(Box::new(ack_seconds.clone()))?;
        Ok(Self {
            messages,
            refused,
            resends,
            frames_refused,
            connections,
            ack_seconds,
            discharge_joins,
            ed_events,
        })
    }
}
