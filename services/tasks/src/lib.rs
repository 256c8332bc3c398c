//! The tasks service: who needs to do what next.
//!
//! Discharge tasks for waiting patients (medicines to take out, transport,
//! a package of care ...) and the actions agreed on the system call are one
//! model, `pf_task_model::Item`: an owner (a person known to sign-in or a
//! named team of an organisation), a due time and a state. Every change is
//! an event on `PF_TASKS` (stored through the event log's one
//! read-decide-publish loop), audited; the projection folds the events into
//! the live state, which the lists here, the discharge pages and the wall
//! read. Overdue actions raise an alert.
//!
//! # Layout
//! - [`config`]: settings from the environment.
//! - [`item_log`]: items' and team registers' events in JetStream.
//! - [`api`]: the JSON API (items, the actions log, team registers).
//! - [`pages`]: the forms to create, give to another owner, complete and
//!   cancel tasks and actions in a browser.
//! - [`overdue`]: overdue actions to alerts.
//! - [`state`]: what the handlers share; auditing.
//! - [`run`]: connects and serves; sweeps for overdue actions.
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod item_log;
pub mod overdue;
pub mod pages;
pub mod state;

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use pf_event_log::streams;
use pf_live_state::{Keys, LiveState};
use pf_runtime::{HttpMetrics, Readiness};
use prometheus::{IntCounter, IntCounterVec, Opts};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

pub use config::TasksConfig;
pub use state::AppState;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The API's OpenAPI 3.1 document (`services/tasks/openapi.json`).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Runs the service on `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: TcpListener,
    config: TasksConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let templates = pf_web::templates(&config.dashboards_dir, pages::PAGES)
        .context("failed to load the page templates")?;
    let readiness = Readiness::new(&["nats", "redis"]);
    let nats = config
        .nats
        .connect("pf-tasks")
        .await
        .with_context(|| format!("failed to connect to NATS at {}", config.nats.url))?;
    let jetstream = async_nats::jetstream::new(nats);
    let used = [streams::TASKS.name, streams::ALERTS.name];
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
        Keys::new(config.redis_prefix.clone()),
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
            "pf_tasks_refused_total",
            "Refused task and action requests, by reason",
        ),
        &["reason"],
    )?;
    let changes = IntCounterVec::new(
        Opts::new(
            "pf_tasks_changes_total",
            "Task, action and team-register events stored, by type",
        ),
        &["event_type"],
    )?;
    let overdue_alerts = IntCounter::new(
        "pf_tasks_overdue_alerts_total",
        "Alerts raised for overdue system-call actions",
    )?;
    registry.register(Box::new(refused.clone()))?;
    registry.register(Box::new(changes.clone()))?;
    let overdue_sweeps = IntCounter::new(
        "pf_tasks_overdue_sweeps_total",
        "Completed looks for overdue system-call actions",
    )?;
    registry.register(Box::new(overdue_alerts.clone()))?;
    registry.register(Box::new(overdue_sweeps.clone()))?;
    let audit = pf_audit::AuditLog::new(jetstream.clone())
        .watched(&registry, pf_audit::usage::DEFAULT_REFRESH)?;
    let refusals =
        pf_audit::RefusalAudit::new(audit.clone(), pf_audit::RefusalBudget::default(), &registry)?;
    let state = AppState {
        items: item_log::ItemLog::new(jetstream.clone()),
        live,
        authenticator: Arc::new(authenticator),
        limits: pf_sign_in::WriteLimits::new(config.writes_per_second, config.refused_per_second),
        audit,
        refusals: refusals.clone(),
        trusted_proxies: Arc::new(pf_audit::TrustedProxies::from_env()?),
        config: Arc::new(config),
        refused,
        changes,
        overdue_alerts,
        overdue_sweeps,
    };
    tokio::spawn(overdue::sweep(state.clone(), jetstream, shutdown.clone()));
    let http_metrics = HttpMetrics::register(&registry).context("failed to register metrics")?;
    let router = router(state.clone(), http_metrics.clone())
        .merge(pages::router(state, templates, http_metrics))
        .merge(pf_runtime::ops::router(registry, readiness));
    tracing::info!(address = %listener.local_addr()?, "tasks listening");
    let served = pf_runtime::ops::serve(listener, router, shutdown)
        .await
        .context("tasks server failed");
    refusals.flush().await;
    served
}

/// The service's routes.
pub fn router(state: AppState, http_metrics: HttpMetrics) -> Router {
    Router::new()
        .route("/api/v1/items", get(api::list).post(api::create))
        .route("/api/v1/items/{id}/assign", post(api::assign))
        .route("/api/v1/items/{id}/due", post(api::due))
        .route("/api/v1/items/{id}/done", post(api::done))
        .route("/api/v1/items/{id}/cancel", post(api::cancel))
        .route("/api/v1/actions/log", get(api::actions_log))
        .route("/api/v1/teams/{ods}", get(api::teams).put(api::set_teams))
        .route("/api/v1/task-types", get(api::task_types))
        // A signed-in browser's changes must be JSON from our own pages.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            pf_web::cross_site::guard::<AppState>,
        ))
        .route(
            pf_web::OPENAPI_PATH,
            get(|| async { pf_web::openapi_document(OPENAPI) }),
        )
        .route(
            "/api/v1/openapi/tasks.json",
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
