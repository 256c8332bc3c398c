//! `pf-gateway`: the control-room page and the live websocket feed.

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pf_runtime::telemetry::init("gateway");
    let config = pf_gateway::GatewayConfig::from_env()?;
    let catalogue = pf_hospital_model::Catalogue::load(&config.region_files, &config.region)
        .context("failed to load the site catalogue")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("failed to listen on {}", config.listen))?;
    let shutdown = pf_runtime::shutdown::on_signal();
    pf_gateway::run(listener, config, catalogue, shutdown).await
}
