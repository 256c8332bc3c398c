//! The hospital-beds service: the way bed changes enter the platform.
//!
//! Hospital systems (and the demo simulator) tell it that a bed was opened,
//! changed state or was withdrawn. It checks the change against the site
//! catalogue and the bed's newest event, then publishes a bed event to
//! JetStream and answers only after JetStream acknowledged it.
//!
//! # Layout
//! - [`config`]: settings from the environment.
//! - The bed's record and the decision whether a change may be made live in
//!   [`pf_bed_log`] (shared with the other producers of bed events); the API
//!   makes its changes through [`pf_bed_log::BedLog`].
//! - [`api`]: the HTTP routes, their error answers and the audit trail of
//!   every change and refusal.
//! - [`metrics`]: counters of published and refused changes.
//! - [`run`]: connects to NATS, makes sure the streams exist and serves.
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod metrics;

use std::sync::Arc;

use anyhow::Context as _;
use pf_event_log::streams;
use pf_hospital_model::Catalogue;
use pf_runtime::{HttpMetrics, Readiness};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::BedsConfig;

/// Runs the service on `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: TcpListener,
    config: BedsConfig,
    catalogue: Catalogue,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let readiness = Readiness::new(&["nats"]);
    let nats = config
        .nats
        .connect_tracking("pf-hospital-beds", &readiness)
        .await
        .with_context(|| format!("failed to connect to NATS at {}", config.nats.url))?;
    let jetstream = async_nats::jetstream::new(nats);
    // The streams are pf-streams' to create; wait for the ones used here.
    if !pf_event_log::streams::wait_for(&jetstream, &[streams::BEDS.name], &shutdown).await
        || !pf_audit::stream::wait_until_ready(&jetstream, &shutdown)
            .await
            .context("the audit stream cannot be used")?
    {
        return Ok(());
    }
    readiness.set("nats", true);
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
        beds: pf_bed_log::BedLog::new(jetstream.clone()),
        metrics: metrics::BedMetrics::register(&registry).context("failed to register metrics")?,
        authenticator: Arc::new(authenticator),
        limits: pf_sign_in::WriteLimits::new(config.writes_per_second, config.refused_per_second),
        audit,
        refusals: refusals.clone(),
        trusted_proxies: Arc::new(pf_audit::TrustedProxies::from_env()?),
        site_origins: config.site_origins.clone(),
    };
    let limits = state.limits.clone();
    let forgetting = shutdown.clone();
    tokio::spawn(async move {
        let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = forgetting.cancelled() => return,
                _ = every_minute.tick() => limits.forget_idle(),
            }
        }
    });
    let http_metrics = HttpMetrics::register(&registry).context("failed to register metrics")?;
    let router =
        api::router(state, http_metrics).merge(pf_runtime::ops::router(registry, readiness));
    tracing::info!(address = %listener.local_addr()?, "hospital-beds listening");
    let served = pf_runtime::ops::serve(listener, router, shutdown)
        .await
        .context("hospital-beds server failed");
    // Refusals counted since the last flush are recorded before stopping.
    refusals.flush().await;
    served
}
