//! The gateway: pushes the live state to people's screens.
//!
//! It follows the change log the projection writes in Redis, keeps one live
//! model in memory, and serves it as a server-rendered page and over
//! websockets: a snapshot with its version, then deltas. A client that
//! reconnects with `?since=` resumes without gaps or duplicates, or gets a
//! fresh snapshot when the gateway no longer has what it missed. It reads
//! only the live prefix, which holds no patient-identifiable data: of
//! discharges, their de-identified summaries (its Redis user is not granted
//! the patient prefix, where the records are).
//!
//! # Layout
//! - [`config`]: settings from the environment.
//! - [`view`]: bed totals and occupancy for sites and the system.
//! - [`care_homes`]: care-home vacancies by category and locality, stale figures.
//! - [`discharge_figures`]: patients waiting to leave, today's discharges against the plan.
//! - [`control_room`]: the live model and the snapshot/delta messages, of the
//!   region's sites and care homes only (the live state may hold other regions).
//! - [`hub`]: shares the model with every client; bounded per-client queues.
//! - [`feed`]: follows the change log in Redis into the hub.
//! - [`ws`]: the websocket endpoint.
//! - [`shared`]: the `opel`, `trends` and heartbeat frames, encoded once for every client.
//! - [`notices`], [`discharges_ws`]: live notifications for discharge coordinators.
//! - [`pages`]: the control-room page and security headers.
//! - [`trends`]: each scope's occupancy over 24 hours and a week before, from the projection's history.
//! - [`actions`]: the actions agreed on the system call, for the wall's actions panel.
//! - [`access`]: who may see the control room (sign-in and the policy).
//! - [`metrics`]: what the gateway counts.
#![forbid(unsafe_code)]

pub mod access;
pub mod actions;
pub mod care_homes;
pub mod config;
pub mod control_room;
pub mod discharge_figures;
pub mod discharges_ws;
pub mod feed;
pub mod hub;
pub mod metrics;
pub mod notices;
pub mod opel;
pub mod pages;
pub mod shared;
pub mod trends;
pub mod view;
pub mod ws;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::response::Redirect;
use axum::routing::get;
use pf_hospital_model::Catalogue;
use pf_live_state::{Keys, LiveState};
use pf_runtime::{HttpMetrics, Readiness};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

pub use config::GatewayConfig;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The live model.
    pub hub: Arc<hub::Hub>,
    /// Settings.
    pub config: Arc<GatewayConfig>,
    /// Counters.
    pub metrics: metrics::GatewayMetrics,
    /// Websocket clients connected.
    pub clients: Arc<AtomicUsize>,
    /// Page templates.
    pub templates: Arc<minijinja::Environment<'static>>,
    /// Cancelled at shutdown: clients are told to reconnect.
    pub shutdown: CancellationToken,
    /// Who is calling.
    pub authenticator: Arc<pf_sign_in::Authenticator>,
    /// Where refused attempts are recorded.
    pub audit: pf_audit::AuditLog,
    /// Refusals, within each client's budget (aggregated beyond it).
    pub refusals: pf_audit::RefusalAudit,
    /// OPEL levels and recent alerts (from pf-pressure's streams).
    pub opel: opel::OpelBoard,
    /// Occupancy trends (from the projection's history in Redis).
    pub trends: tokio::sync::watch::Sender<Arc<trends::TrendsView>>,
    /// The system call's actions (from the live state).
    pub actions: tokio::sync::watch::Sender<Arc<actions::ActionsView>>,
    /// Frames every websocket client shares.
    pub frames: Arc<shared::SharedFrames>,
    /// Live connections' sign-in checks, shared per credential.
    pub viewers: Arc<access::ViewerChecks>,
}

impl axum::extract::FromRef<AppState> for Arc<pf_sign_in::Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.authenticator.clone()
    }
}

/// Runs the gateway on `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: TcpListener,
    config: GatewayConfig,
    catalogue: Catalogue,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let metrics =
        metrics::GatewayMetrics::register(&registry).context("failed to register metrics")?;
    let http_metrics = HttpMetrics::register(&registry).context("failed to register metrics")?;
    let readiness = Readiness::new(&["redis"]);
    let mut templates = pages::templates(&config.dashboards_dir)?;
    templates.add_global("ics_name", config.region.ics.name.clone());
    let authenticator = Arc::new(
        config
            .sign_in
            .authenticator()
            .await
            .context("failed to set up sign-in")?,
    );

    // The audit trail of refused attempts lives in JetStream.
    let nats = config
        .nats
        .connect("pf-gateway")
        .await
        .with_context(|| format!("failed to connect to NATS at {}", config.nats.url))?;
    let jetstream = async_nats::jetstream::new(nats);
    // pf-streams creates the audit stream; wait for it.
    if !pf_audit::stream::wait_until_ready(&jetstream, &shutdown)
        .await
        .context("the audit stream cannot be used")?
    {
        return Ok(());
    }
    let audit = pf_audit::AuditLog::new(jetstream.clone())
        .watched(&registry, pf_audit::usage::DEFAULT_REFRESH)?;
    let refusals =
        pf_audit::RefusalAudit::new(audit.clone(), pf_audit::RefusalBudget::default(), &registry)?;
    let opel_board = opel::board();
    let opel_follower = tokio::spawn(opel::follow(
        jetstream,
        opel_board.clone(),
        shutdown.clone(),
    ));

    let keys = Keys::new(config.redis_prefix.clone());
    let reader = LiveState::connect(&config.redis_url, keys.clone(), Duration::from_secs(10))
        .await
        .with_context(|| {
            format!(
                "failed to connect to Redis at {}",
                pf_runtime::redact_url(&config.redis_url)
            )
        })?;
    // Blocking reads need a connection of their own, with a timeout beyond the block time.
    let tail = LiveState::connect(&config.redis_url, keys.clone(), Duration::from_secs(30))
        .await
        .with_context(|| {
            format!(
                "failed to connect to Redis at {}",
                pf_runtime::redact_url(&config.redis_url)
            )
        })?;

    let actions_reader =
        LiveState::connect(&config.redis_url, keys.clone(), Duration::from_secs(10))
            .await
            .with_context(|| {
                format!(
                    "failed to connect to Redis at {}",
                    pf_runtime::redact_url(&config.redis_url)
                )
            })?;
    let actions_board = tokio::sync::watch::Sender::new(Arc::default());
    let actions_follower = tokio::spawn(actions::follow(
        actions_reader,
        actions_board.clone(),
        config.actions_every,
        shutdown.clone(),
    ));
    let history = LiveState::connect(&config.redis_url, keys, Duration::from_secs(10))
        .await
        .with_context(|| {
            format!(
                "failed to connect to Redis at {}",
                pf_runtime::redact_url(&config.redis_url)
            )
        })?;
    let trends_board = tokio::sync::watch::Sender::new(Arc::default());
    let trust_of = view::site_labels(&catalogue)
        .into_iter()
        .map(|(code, label)| (code, label.trust))
        .collect();
    let trends_follower = tokio::spawn(trends::follow(
        history,
        trust_of,
        trends_board.clone(),
        config.trends_every,
        shutdown.clone(),
    ));
    let hub = Arc::new(hub::Hub::new(config.client_queue, config.history));
    let labels = view::site_labels(&catalogue);
    let plan = discharge_figures::DischargePlan::from_json(
        &config.discharge_plan,
        labels.keys().map(String::as_str),
    )
    .context("the discharge plan (PF_EXPECTED_DISCHARGES_FILE) cannot be used")?;
    let settings = Arc::new(control_room::RoomSettings {
        labels,
        stale_after: config.care_home_stale_after,
        plan,
        localities: config.region.localities.clone(),
    });
    let clock = tokio::spawn(feed::keep_time(
        hub.clone(),
        Duration::from_secs(30),
        shutdown.clone(),
    ));
    let feed = tokio::spawn(feed::follow(
        reader,
        tail,
        hub.clone(),
        settings,
        readiness.clone(),
        metrics.clone(),
        shutdown.clone(),
    ));

    let state = AppState {
        hub,
        config: Arc::new(config.clone()),
        metrics,
        clients: Arc::new(AtomicUsize::new(0)),
        templates: Arc::new(templates),
        shutdown: shutdown.clone(),
        authenticator,
        audit,
        refusals: refusals.clone(),
        opel: opel_board,
        trends: trends_board,
        actions: actions_board,
        frames: Arc::default(),
        viewers: Arc::new(access::ViewerChecks::new(config.heartbeat)),
    };
    let router =
        router(state, &config, http_metrics).merge(pf_runtime::ops::router(registry, readiness));
    tracing::info!(address = %listener.local_addr()?, "gateway listening");
    let served = pf_runtime::ops::serve(listener, router, shutdown.clone()).await;
    shutdown.cancel();
    let _ = feed.await;
    let _ = clock.await;
    let _ = trends_follower.await;
    let _ = actions_follower.await;
    let _ = opel_follower.await;
    // Refusals counted since the last flush are recorded before stopping.
    refusals.flush().await;
    served.context("gateway server failed")
}

/// The JSON API's OpenAPI 3.1 document (`services/gateway/openapi.json`),
/// served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

fn router(state: AppState, config: &GatewayConfig, http_metrics: HttpMetrics) -> Router {
    let routes = Router::new()
        .route("/", get(|| async { Redirect::to("/control-room") }))
        .route("/control-room", get(pages::control_room))
        .route("/ws/control-room", get(ws::control_room))
        .route("/api/v1/opel", get(pages::opel))
        .route("/api/v1/actions", get(actions::api))
        .route(
            pf_web::OPENAPI_PATH,
            get(|| async { pf_web::openapi_document(OPENAPI) }),
        )
        // The same at a path of its own, for the shared ingress.
        .route(
            "/api/v1/openapi/gateway.json",
            get(|| async { pf_web::openapi_document(OPENAPI) }),
        )
        .route("/ws/discharges", get(discharges_ws::discharges));
    pf_web::with_security_headers(
        pf_web::assets(routes, &config.dashboards_dir).layer(axum::middleware::from_fn_with_state(
            http_metrics,
            HttpMetrics::record,
        )),
        pages::CONTENT_SECURITY_POLICY,
    )
    .layer(TraceLayer::new_for_http())
    .with_state(state)
}
