//! `pf-care-homes`: the care-home form and vacancy API.

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pf_runtime::telemetry::init("care-homes");
    let config = pf_care_homes::CareHomesConfig::from_env()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("failed to listen on {}", config.listen))?;
    let shutdown = pf_runtime::shutdown::on_signal();
    pf_care_homes::run(listener, config, shutdown).await
}
