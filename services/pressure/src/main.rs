//! `pf-pressure`: OPEL levels computed live, and alerts. One copy at a
//! time; the others wait on standby until its lease lapses (`pf-lease`).

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pf_runtime::telemetry::init("pressure");
    let config = pf_pressure::PressureConfig::from_env()?;
    let catalogue = pf_hospital_model::Catalogue::load(&config.region_files, &config.region)
        .context("cannot read the site catalogue")?;
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("failed to listen on {}", config.listen))?;
    let shutdown = pf_runtime::shutdown::on_signal();
    // One copy publishes levels and alerts; the others wait on standby.
    let Some((lease, listener)) =
        pf_lease::wait_for_turn(&config.nats, "pressure", listener, &shutdown).await?
    else {
        return Ok(());
    };
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let outcome = pf_pressure::run(
        listener,
        config,
        catalogue,
        std::sync::Arc::new(pf_care_home_log::SystemClock),
        lease.work(),
    )
    .await;
    let lost = lease.is_lost();
    lease.release().await;
    anyhow::ensure!(
        !lost,
        "pressure's lease passed to another copy; stopped publishing"
    );
    outcome
}
