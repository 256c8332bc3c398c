//! The FHIR service: the live bed and care-home picture as FHIR R4 with
//! UK Core identifiers, for a regional data team, a trust's EPR or the
//! national data platform to read with the tools they already have.
//!
//! It reads the site catalogue from the region's data and the live state
//! from Redis (as its own read-only user on the live prefix: counts, bed
//! states and care-home records, never patient-level data), and answers
//! under `/fhir/R4/`: `Location` (sites, wards, beds), `Organization`
//! (trusts, care homes with their vacancies), `MeasureReport` (bed
//! capacity per site and for the system, in the shape of HL7 SANER) and
//! the `CapabilityStatement` at `/fhir/R4/metadata`.
//!
//! # Layout
//! - [`config`]: settings from the environment.
//! - [`model`]: the FHIR R4 resources and data types returned, as serde
//!   structs, and the identifier systems.
//! - [`resources`]: catalogue and live state → resources; the bed-status
//!   mapping to HL7 v2 table 0116; the capacity counts.
//! - [`search`]: search parameters, `_lastUpdated`, paging into a
//!   `Bundle` search set.
//! - [`capability`]: the `CapabilityStatement`.
//! - [`api`]: the routes, who may read what, and `OperationOutcome` for
//!   every error.
//! - [`metrics`]: counters of resources served and requests refused.
//! - [`run`]: connects to Redis and serves until shut down.
#![forbid(unsafe_code)]

pub mod api;
pub mod capability;
pub mod config;
pub mod metrics;
pub mod model;
pub mod resources;
pub mod search;

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
    let readiness = Readiness::new(&["redis"]);
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
    let state = api::AppState {
        catalogue: Arc::new(catalogue),
        live: live.clone(),
        authenticator: Arc::new(authenticator),
        limits: pf_sign_in::WriteLimits::new(1, config.refused_per_second),
        metrics: metrics::FhirMetrics::register(&registry).context("failed to register metrics")?,
        server: format!("{}{}", config.public_url.trim_end_matches('/'), api::BASE).into(),
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
    pf_runtime::ops::serve(listener, router, shutdown)
        .await
        .context("fhir server failed")
}
