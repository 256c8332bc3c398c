//! The FHIR service: the live bed and care-home picture as FHIR R4 with
//! UK Core identifiers, for a regional data team, a trust's EPR or the
//! national data platform to read with the tools they already have.
//!
//! It reads the site catalogue from the region's data and the live state
//! from Redis (as its own read-only user on the live prefix: counts, bed
//! states and care-home records, never patient-level data), and answers
//! under `/fhir/R4/`: `Location` (sites, wards, beds), `Organization`
//! (trusts, care homes with their vacancies), `MeasureReport` (bed
//! capacity per site and for the system, in the shape of HL7 SANER; and the
//! forecasts of the next 72 hours, read from pf-forecast, as reports with a
//! period in the future) and the `CapabilityStatement` at
//! `/fhir/R4/metadata`. A bed's
//! `operationalStatus` may be changed with `PUT` or `PATCH`: the change is
//! decided by the same bed log, published to the same stream and audited
//! the same way as through the bed API.
//!
//! # Layout
//! - [`config`]: settings from the environment.
//! - [`model`]: the FHIR R4 resources and data types returned, as serde
//!   structs, and the identifier systems.
//! - [`resources`]: catalogue and live state → resources; the bed-status
//!   mapping to HL7 v2 table 0116; the capacity counts.
//! - [`search`]: search parameters, `_lastUpdated`, paging into a
//!   `Bundle` search set.
//! - [`forecast`]: pf-forecast's forecasts → `MeasureReport`s with a
//!   future period, one stratum per hour, prediction intervals as
//!   extensions.
//! - [`capability`]: the `CapabilityStatement`.
//! - [`api`]: the routes, who may read what, and `OperationOutcome` for
//!   every error.
//! - [`write`]: `PUT`/`PATCH` of a bed's `operationalStatus` (with
//!   `If-Match`), through the shared bed log ([`pf_bed_log::BedLog`]) and
//!   audited like the bed API.
//! - [`metrics`]: counters of resources served and requests refused.
//! - [`run`]: connects to Redis and serves until shut down.
#![forbid(unsafe_code)]

pub mod api;
pub mod capability;
pub mod config;
pub mod forecast;
pub mod metrics;
pub mod model;
pub mod resources;
pub mod search;
pub mod write;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use pf_hospital_model::Catalogue;
use pf_live_state::{Keys, LiveState};
use pf_runtime::{HttpMetrics, Readiness};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::FhirConfig;

/// How often Redis is checked for readiness.
const REDIS_CHECK: Duration = Duration::from_secs(5);

/// Runs the service on `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: TcpListener,
    config: FhirConfig,
    catalogue: Catalogue,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let readiness = Readiness::new(&["redis", "nats"]);
    let nats = config
        .nats
        .connect_tracking("pf-fhir", &readiness)
        .await
        .with_context(|| format!("failed to connect to NATS at {}", config.nats.url))?;
    let jetstream = async_nats::jetstream::new(nats);
    // The streams are pf-streams' to create; wait for the ones used here.
    if !pf_event_log::streams::wait_for(&jetstream, &[pf_event_log::streams::BEDS.name], &shutdown)
        .await
        || !pf_audit::stream::wait_until_ready(&jetstream, &shutdown)
            .await
            .context("the audit stream cannot be used")?
    {
        return Ok(());
    }
    readiness.set("nats", true);
    let live = LiveState::connect(
        &config.redis_url,
        Keys::new(config.redis_prefix.clone()),
        Duration::from_secs(2),
    )
    .await
    .with_context(|| {
        format!(
            "failed to connect to Redis at {}",
            pf_runtime::redact_url(&config.redis_url)
        )
    })?;
    let authenticator = config
        .sign_in
        .authenticator()
        .await
        .context("failed to set up sign-in")?;
    let audit = pf_audit::AuditLog::new(jetstream.clone())
        .watched(&registry, pf_audit::usage::DEFAULT_REFRESH)?;
    let refusals =
        pf_audit::RefusalAudit::new(audit.clone(), pf_audit::RefusalBudget::default(), &registry)?;
    let state = api::AppState {
        catalogue: Arc::new(catalogue),
        live: live.clone(),
        authenticator: Arc::new(authenticator),
        limits: pf_sign_in::WriteLimits::new(config.writes_per_second, config.refused_per_second),
        beds: pf_bed_log::BedLog::new(jetstream.clone()),
        audit: audit.clone(),
        refusals: refusals.clone(),
        metrics: metrics::FhirMetrics::register(&registry).context("failed to register metrics")?,
        server: format!("{}{}", config.public_url.trim_end_matches('/'), api::BASE).into(),
        forecast_url: config.forecast_url.as_deref().map(Arc::from),
        http: reqwest::Client::builder()
            .build()
            .context("failed to set up the forecast service's client")?,
    };
    let watching = shutdown.clone();
    let watched = readiness.clone();
    tokio::spawn(async move {
        let mut live = live;
        let mut every = tokio::time::interval(REDIS_CHECK);
        loop {
            tokio::select! {
                _ = watching.cancelled() => return,
                _ = every.tick() => watched.set("redis", live.ping().await.is_ok()),
            }
        }
    });
    let http_metrics = HttpMetrics::register(&registry).context("failed to register metrics")?;
    let router =
        api::router(state, http_metrics).merge(pf_runtime::ops::router(registry, readiness));
    tracing::info!(address = %listener.local_addr()?, "fhir listening");
    let served = pf_runtime::ops::serve(listener, router, shutdown)
        .await
        .context("fhir server failed");
    // Refusals counted since the last flush are recorded before stopping.
    refusals.flush().await;
    served
}
