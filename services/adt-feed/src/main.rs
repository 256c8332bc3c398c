//! `pf-adt-feed`: the HL7 v2 ADT feed over MLLP.

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pf_runtime::telemetry::init("adt-feed");
    let config = pf_adt_feed::AdtConfig::from_env()?;
    let catalogue =
        pf_hospital_model::Catalogue::llr().context("failed to load the site catalogue")?;
    let http = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("failed to listen on {}", config.listen))?;
    let mllp = tokio::net::TcpListener::bind(config.mllp)
        .await
        .with_context(|| format!("failed to listen for MLLP on {}", config.mllp))?;
    let shutdown = pf_runtime::shutdown::on_signal();
    pf_adt_feed::run(http, mllp, config, catalogue, shutdown).await
}
