//! `pf-pressure`: OPEL levels computed live, and alerts.

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pf_runtime::telemetry::init("pressure");
    let config = pf_pressure::PressureConfig::from_env()?;
    let catalogue = pf_hospital_model::Catalogue::load(&config.region_files, &config.region)
        .context("cannot read the site catalogue")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("failed to listen on {}", config.listen))?;
    let shutdown = pf_runtime::shutdown::on_signal();
    pf_pressure::run(
        listener,
        config,
        catalogue,
        std::sync::Arc::new(pf_care_home_log::SystemClock),
        shutdown,
    )
    .await
}
