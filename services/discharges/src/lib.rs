//! The discharges service: discharge teams find, hold and confirm a
//! matching care-home bed.
//!
//! A patient who no longer meets the criteria to reside is put on the list
//! (a discharge event). Coordinators of the patient's organisation search
//! the care homes whose live figures fit, hold one bed (a care-home event on
//! the home's subject, so two teams can never hold the same last bed), wait
//! for the home's answer, and confirm the discharge, which takes the
//! vacancy away. Holds nobody answers end by themselves.
//!
//! # Layout
//! - [`config`]: settings from the environment.
//! - [`discharge_log`]: a discharge's events in JetStream.
//! - [`api`]: the JSON API, matching and hold expiry.
//! - [`pages`]: the discharge dashboard's pages (through the API's handlers).
//! - [`new_patient`]: the add-a-patient form (through the API's handler).
//! - [`list_view`]: the list's filters, sorts and audited NHS-number search.
//! - [`open_audit`]: one audit entry per person opening a patient in a window.
//! - [`tasks_view`]: who needs to do what next: a patient's tasks, overdue
//!   tasks on the list, the cohorts page.
//! - [`state`]: what the handlers share; auditing.
//! - [`run`]: connects and serves; ends expired holds and destroys the keys
//!   of patients past the retention period (`pf-patient-keys`) on a timer.
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod discharge_log;
pub mod list_view;
pub mod new_patient;
pub mod open_audit;
pub mod pages;
pub mod state;
pub mod tasks_view;

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use pf_care_home_log::{Clock, SystemClock};
use pf_event_log::streams;
use pf_hospital_model::Catalogue;
use pf_live_state::{Keys, LiveState};
use pf_runtime::{HttpMetrics, Readiness};
use prometheus::{IntCounterVec, Opts};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

pub use config::DischargesConfig;
pub use state::AppState;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The API's OpenAPI 3.1 document (`services/discharges/openapi.json`),
/// served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Runs the service with the system clock.
pub async fn run(
    listener: TcpListener,
    config: DischargesConfig,
    catalogue: Catalogue,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    run_with_clock(listener, config, catalogue, Arc::new(SystemClock), shutdown).await
}

/// Runs the service on `listener` until `shutdown` is cancelled, telling
/// the time by `clock` (a test moves it to expire holds).
pub async fn run_with_clock(
    listener: TcpListener,
    config: DischargesConfig,
    catalogue: Catalogue,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let mut templates = pf_web::templates(&config.dashboards_dir, pages::PAGES)
        .context("failed to load the page templates")?;
    templates.add_global("ics_name", config.region.ics.name.clone());
    let policy = pages::content_security_policy(&config.gateway_ws_url)?;
    let readiness = Readiness::new(&["nats", "redis"]);
    let nats = config
        .nats
        .connect("pf-discharges")
        .await
        .with_context(|| format!("failed to connect to NATS at {}", config.nats.url))?;
    let jetstream = async_nats::jetstream::new(nats);
    // The streams are pf-streams' to create; wait for the ones used here
    // (holds are care-home events).
    let used = [streams::DISCHARGES.name, streams::CARE_HOMES.name];
    if !pf_event_log::streams::wait_for(&jetstream, &used, &shutdown).await
        || !pf_audit::stream::wait_until_ready(&jetstream, &shutdown)
            .await
            .context("the audit stream cannot be used")?
    {
        return Ok(());
    }
    readiness.set("nats", true);
    let live = LiveState::connect(
        &config.redis_url,
        Keys::new(config.redis_prefix.clone())
            .with_patient_prefix(config.redis_patient_prefix.clone()),
        std::time::Duration::from_secs(5),
    )
    .await
    .with_context(|| {
        format!(
            "failed to connect to Redis at {}",
            pf_runtime::redact_url(&config.redis_url)
        )
    })?;
    readiness.set("redis", true);
    let authenticator = config
        .sign_in
        .authenticator()
        .await
        .context("failed to set up sign-in")?;
    let refused = IntCounterVec::new(
        Opts::new(
            "pf_discharge_refused_total",
            "Refused discharge requests, by reason",
        ),
        &["reason"],
    )?;
    let changes = IntCounterVec::new(
        Opts::new(
            "pf_discharge_changes_total",
            "Discharge and hold events stored, by type",
        ),
        &["event_type"],
    )?;
    registry.register(Box::new(refused.clone()))?;
    registry.register(Box::new(changes.clone()))?;
    let audit = pf_audit::AuditLog::new(jetstream.clone())
        .watched(&registry, pf_audit::usage::DEFAULT_REFRESH)?;
    let refusals =
        pf_audit::RefusalAudit::new(audit.clone(), pf_audit::RefusalBudget::default(), &registry)?;
    let master_key = match &config.patient_master_key_file {
        Some(path) => pf_patient_keys::MasterKey::from_file(path)?,
        None if pf_access::mode::Mode::from_env()?.is_production() => anyhow::bail!(
            "PF_PATIENT_MASTER_KEY_FILE must name the master key file when PF_MODE=production"
        ),
        None => {
            tracing::warn!(
                "PF_PATIENT_MASTER_KEY_FILE is not set: patients' keys are wrapped with the publicly known development key"
            );
            pf_patient_keys::MasterKey::development()
        }
    };
    let patient_keys = pf_patient_keys::PatientKeys::connect(
        &config.redis_url,
        config.patient_key_prefix.clone(),
        master_key,
        &registry,
    )
    .await
    .context("failed to connect to the patient key store")?;
    let state = AppState {
        discharges: discharge_log::DischargeLog::new(
            jetstream.clone(),
            patient_keys,
            config.patient_retention,
        ),
        homes: pf_care_home_log::HomeLog::new(jetstream.clone(), discharge_log::SERVICE),
        live,
        catalogue: Arc::new(catalogue),
        authenticator: Arc::new(authenticator),
        limits: pf_sign_in::WriteLimits::new(config.writes_per_second, config.refused_per_second),
        audit,
        refusals: refusals.clone(),
        trusted_proxies: Arc::new(pf_audit::TrustedProxies::from_env()?),
        clock,
        config: Arc::new(config),
        refused,
        changes,
        recent_opens: Arc::default(),
    };
    tokio::spawn(sweep_holds(state.clone(), shutdown.clone()));
    let http_metrics = HttpMetrics::register(&registry).context("failed to register metrics")?;
    let router = router(state.clone(), http_metrics.clone())
        .merge(pages::router(state, templates, policy, http_metrics))
        .merge(pf_runtime::ops::router(registry, readiness));
    tracing::info!(address = %listener.local_addr()?, "discharges listening");
    let served = pf_runtime::ops::serve(listener, router, shutdown)
        .await
        .context("discharges server failed");
    // Refusals counted since the last flush are recorded before stopping.
    refusals.flush().await;
    served
}

/// Ends expired holds every `sweep_every` until shutdown.
async fn sweep_holds(state: AppState, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(state.config.sweep_every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        match api::expire_holds(&state, state.clock.now()).await {
            Ok(0) => {}
            Ok(ended) => tracing::info!(ended, "expired holds ended"),
            Err(err) => tracing::warn!(cause = %err, "could not end expired holds; will retry"),
        }
        if let Err(err) = state.discharges.shred_due(state.clock.now()).await {
            tracing::warn!(cause = %err, "could not destroy patients' keys past retention; will retry");
        }
    }
}

/// The service's routes.
pub fn router(state: AppState, http_metrics: HttpMetrics) -> Router {
    Router::new()
        .route("/api/v1/discharges", get(api::list).post(api::create))
        .route("/api/v1/discharges/{id}", get(api::open))
        .route("/api/v1/discharges/{id}/matches", get(api::matches))
        .route("/api/v1/discharges/{id}/holds", post(api::hold))
        .route(
            "/api/v1/discharges/{id}/holds/{hold_id}/release",
            post(api::release),
        )
        .route(
            "/api/v1/discharges/{id}/delay-reason",
            post(api::delay_reason),
        )
        .route("/api/v1/discharges/{id}/discharge", post(api::discharge))
        .route("/api/v1/discharges/{id}/cancel", post(api::cancel))
        .route(
            "/api/v1/discharges/pas/discharged",
            post(api::pas_discharged),
        )
        .route(
            "/api/v1/discharges/pas/discharge-cancelled",
            post(api::pas_discharge_cancelled),
        )
        // A signed-in browser's changes must be JSON from our own pages.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            pf_web::cross_site::guard::<AppState>,
        ))
        .route(
            pf_web::OPENAPI_PATH,
            get(|| async { pf_web::openapi_document(OPENAPI) }),
        )
        // The same at a path of its own, for the shared ingress.
        .route(
            "/api/v1/openapi/discharges.json",
            get(|| async { pf_web::openapi_document(OPENAPI) }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            http_metrics,
            HttpMetrics::record,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
