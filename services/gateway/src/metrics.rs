//! What the gateway counts.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// The gateway's metrics.
#[derive(Clone)]
pub struct GatewayMetrics {
    /// `pf_ws_clients`: websocket clients connected.
    pub clients: IntGauge,
    /// `pf_ws_resyncs_total{reason}`: snapshots sent to clients already connected.
    pub resyncs: IntCounterVec,
    /// `pf_ws_disconnects_total{reason}`: clients the gateway disconnected.
    pub disconnects: IntCounterVec,
    /// `pf_ws_messages_sent_total`.
    pub messages_sent: IntCounter,
    /// `pf_gateway_version`: the change version the gateway is at.
    pub version: IntGauge,
    /// `pf_gateway_refused_total`: page and websocket requests refused.
    pub refused: IntCounter,
}

impl GatewayMetrics {
    /// Registers the metrics.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let clients = IntGauge::new("pf_ws_clients", "Websocket clients connected")?;
        let resyncs = IntCounterVec::new(
            Opts::new(
                "pf_ws_resyncs_total",
                "Fresh snapshots sent to connected clients, by reason",
            ),
            &["reason"],
        )?;
        let disconnects = IntCounterVec::new(
            Opts::new(
                "pf_ws_disconnects_total",
                "Clients disconnected by the gateway, by reason",
            ),
            &["reason"],
        )?;
        let messages_sent =
            IntCounter::new("pf_ws_messages_sent_total", "Websocket messages sent")?;
        let version = IntGauge::new(
            "pf_gateway_version",
            "Change version the gateway has folded in",
        )?;
        registry.register(Box::new(clients.clone()))?;
        registry.register(Box::new(resyncs.clone()))?;
        registry.register(Box::new(disconnects.clone()))?;
        registry.register(Box::new(messages_sent.clone()))?;
        let refused = IntCounter::new(
            "pf_gateway_refused_total",
            "Control-room page and websocket requests refused (not signed in or not allowed)",
        )?;
        registry.register(Box::new(version.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        Ok(Self {
            clients,
            resyncs,
            disconnects,
            messages_sent,
            version,
            refused,
        })
    }
}
