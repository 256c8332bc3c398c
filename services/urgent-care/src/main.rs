//! `pf-urgent-care`: the ED and ambulance event producer service.

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pf_runtime::telemetry::init("urgent-care");
    let config = pf_urgent_care::UrgentCareConfig::from_env()?;
    let (region_files, region) = pf_region::from_env().context("failed to load the region")?;
    let catalogue = pf_hospital_model::Catalogue::load(&region_files, &region)
        .context("failed to load the site catalogue")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("failed to listen on {}", config.listen))?;
    let shutdown = pf_runtime::shutdown::on_signal();
    pf_urgent_care::run(listener, config, catalogue, shutdown).await
}
