//! The ADT feed: trusts' PAS/EPR systems send HL7 v2 ADT messages over MLLP
//! through their integration engines; this service turns admissions,
//! transfers, discharges and their cancellations into bed events, and,
//! where a trust sends them, its ED registrations and discharges into ED
//! attendance events.
//!
//! Each message is acknowledged `AA` only after its bed events are stored in
//! JetStream; refused ones get `AE`/`AR` with the reason and are parked as
//! dead letters. See `pf_hl7_adt` for the message rules.
//!
//! # Layout
//! - [`config`]: settings from the environment.
//! - [`mllp`]: the MLLP frame codec (bounded).
//! - [`listener`]: connections, limits, idle timeout, shutdown.
//! - [`ingest`]: one message to its ACK.
//! - [`beds`]: reading and changing a bed through the shared bed log
//!   (`pf-bed-log`), the bed decisions the HTTP API uses.
//! - [`discharges`]: joining A03/A13 to the discharge list through the
//!   discharges service's PAS routes (the NHS number's only use).
//! - [`urgent_care`]: ED registrations and discharges (patient class `E`)
//!   recorded as ED attendance events through the urgent-care service's API.
//! - [`machine`]: the feed's machine identity (bearer token) towards those
//!   two services.
//! - [`tls`]: optional TLS on the MLLP port.
//! - [`store`]: control ids (idempotency, kept ≥ 7 days) and the visit index in Redis.
//! - [`metrics`]: counters (no patient identifiers).
//! - [`run`]: connects and serves.
#![forbid(unsafe_code)]

pub mod beds;
pub mod config;
pub mod discharges;
pub mod ingest;
pub mod listener;
pub mod machine;
pub mod metrics;
pub mod mllp;
pub mod store;
pub mod tls;
pub mod urgent_care;

use std::sync::Arc;

use anyhow::Context as _;
use pf_event_log::streams;
use pf_hl7_adt::mapping::FeedsFile;
use pf_hospital_model::Catalogue;
use pf_runtime::Readiness;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::AdtConfig;

/// The demo feeds of the LLR trusts, used when no feeds file is named.
pub const DEMO_FEEDS: &str = include_str!("../feeds.demo.json");

/// Reads the feeds file named in the settings, or the demo feeds.
pub fn load_feeds(config: &AdtConfig) -> anyhow::Result<FeedsFile> {
    let Some(path) = &config.feeds_file else {
        tracing::warn!("PF_ADT_FEEDS_FILE is not set: using the demo feeds");
        return FeedsFile::from_json(DEMO_FEEDS).context("in the demo feeds");
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the feeds file {}", path.display()))?;
    FeedsFile::from_json(&text).with_context(|| format!("in {}", path.display()))
}

/// Runs the service: `http` for health and metrics, `mllp` for the feeds.
pub async fn run(
    http: TcpListener,
    mllp: TcpListener,
    config: AdtConfig,
    catalogue: Catalogue,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let feeds = load_feeds(&config)?;
    let tls = match &config.tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key)?),
        None => None,
    };
    let registry = prometheus::Registry::new();
    let readiness = Readiness::new(&["nats", "redis"]);
    let metrics =
        metrics::FeedMetrics::register(&registry).context("failed to register metrics")?;
    let ops = pf_runtime::ops::router(registry, readiness.clone());
    let serving = tokio::spawn(pf_runtime::ops::serve(http, ops, shutdown.clone()));

    let nats = config
        .nats
        .connect_tracking("pf-adt-feed", &readiness)
        .await
        .with_context(|| format!("failed to connect to NATS at {}", config.nats.url))?;
    let jetstream = async_nats::jetstream::new(nats);
    if !streams::wait_for(
        &jetstream,
        &[streams::BEDS.name, streams::DEAD_LETTERS.name],
        &shutdown,
    )
    .await
    {
        return Ok(());
    }
    readiness.set("nats", true);
    let store = store::FeedStore::connect(
        &config.redis_url,
        &config.redis_prefix,
        config.control_id_kept,
        config.visit_kept,
    )
    .await
    .context("failed to connect to Redis")?;
    readiness.set("redis", true);
    let ingest = ingest::Ingest {
        feeds: Arc::new(feeds),
        catalogue: Arc::new(catalogue),
        beds: pf_bed_log::BedLog::new(jetstream.clone()),
        dead_letters: pf_event_log::DeadLetters::new(jetstream),
        store,
        metrics,
        discharges: discharges::DischargesClient::new(config.discharges.clone()),
        urgent_care: urgent_care::UrgentCareClient::new(config.urgent_care.clone()),
    };
    let limits = listener::Limits {
        max_message_bytes: config.max_message_bytes,
        idle_timeout: config.idle_timeout,
        max_connections: config.max_connections,
    };
    tracing::info!(address = %mllp.local_addr()?, tls = tls.is_some(), "adt-feed listening for MLLP");
    listener::serve(mllp, tls, ingest, limits, shutdown).await;
    serving
        .await
        .context("the ops server stopped")?
        .context("the ops server failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_feeds_map_only_to_beds_in_the_llr_catalogue() {
        let feeds = FeedsFile::from_json(DEMO_FEEDS).expect("the demo feeds are valid");
        let catalogue = Catalogue::llr().expect("the LLR catalogue");
        for feed in &feeds.feeds {
            for rule in &feed.locations {
                let site = pf_hospital_model::SiteCode::parse(&rule.site).expect("a site code");
                assert!(
                    catalogue.site(&site).is_some(),
                    "{}: site {}",
                    feed.name,
                    rule.site
                );
                if let Some(ward) = &rule.catalogue_ward {
                    let ward = pf_hospital_model::WardCode::parse(ward).expect("a ward code");
                    assert!(
                        catalogue.ward(&site, &ward).is_some(),
                        "{}: ward {ward:?}",
                        feed.name
                    );
                }
            }
        }
    }
}
