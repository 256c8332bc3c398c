//! `pf-streams`: creates the platform's JetStream streams and keeps their
//! settings in line with configuration, then exits. Run it once after
//! installing or upgrading, before (or while) the services start: they wait
//! for the streams it creates.

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pf_runtime::telemetry::init("streams");
    let config = pf_streams::StreamsConfig::from_env()?;
    let nats = pf_event_log::NatsSettings::from_env_config()?;
    let client = nats
        .connect("pf-streams")
        .await
        .with_context(|| format!("failed to connect to NATS at {}", nats.url))?;
    let jetstream = async_nats::jetstream::new(client.clone());
    pf_streams::ensure(&jetstream, &config)
        .await
        .context("failed to create or update the streams")?;
    client
        .flush()
        .await
        .context("failed to flush the NATS connection")?;
    tracing::info!(
        replicas = config.durability.replicas,
        audit_replicas = config.audit.replicas,
        "the platform's streams are in place"
    );
    Ok(())
}
