//! The urgent-care service: the way ED attendances and ambulance arrivals
//! enter the platform.
//!
//! A trust's ED system tells it of each attendance (arrival, decision to
//! admit, departure admitted/discharged/transferred) and the ambulance
//! service's feed of each vehicle at a hospital (arrival, handover, clear),
//! by opaque ids, never patient-identifiable data, and of the ambulance
//! service's own escalation level (REAP 1–6 or an OPEL-style 1–4). It checks the change
//! against the site catalogue, the caller's grant and the record's newest
//! event, then publishes the event to JetStream (`PF_URGENT_CARE`) through
//! the platform's one change loop ([`pf_event_log::EntityLog::change`]) and
//! answers only after JetStream acknowledged it. The projection folds the
//! events into the live state the wall and pressure read.
//!
//! # Layout
//! - [`config`]: settings from the environment.
//! - [`record`]: an attendance's and an arrival's record, an ambulance
//!   service's escalation level, and whether a change fits it.
//! - [`api`]: the HTTP routes, their error answers and the audit trail of
//!   every change and refusal.
//! - [`metrics`]: counters of published and refused changes.
//! - [`run`]: connects to NATS, waits for the streams and serves.
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod metrics;
pub mod record;

use std::sync::Arc;

use anyhow::Context as _;
use pf_event_log::streams;
use pf_hospital_model::Catalogue;
use pf_runtime::{HttpMetrics, Readiness};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::UrgentCareConfig;

/// Runs the service on `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: TcpListener,
    config: UrgentCareConfig,
    catalogue: Catalogue,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let readiness = Readiness::new(&["nats"]);
    let nats = config
        .nats
        .connect_tracking("pf-urgent-care", &readiness)
        .await
        .with_context(|| format!("failed to connect to NATS at {}", config.nats.url))?;
    let jetstream = async_nats::jetstream::new(nats);
    // The streams are pf-streams' to create; wait for the ones used here.
    if !pf_event_log::streams::wait_for(&jetstream, &[streams::URGENT_CARE.name], &shutdown).await
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
        log: pf_event_log::EntityLog::new(jetstream.clone()),
        metrics: metrics::UrgentCareMetrics::register(&registry)
            .context("failed to register metrics")?,
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
    tracing::info!(address = %listener.local_addr()?, "urgent-care listening");
    let served = pf_runtime::ops::serve(listener, router, shutdown)
        .await
        .context("urgent-care server failed");
    // Refusals counted since the last flush are recorded before stopping.
    refusals.flush().await;
    served
}
