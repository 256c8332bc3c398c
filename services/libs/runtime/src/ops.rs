//! Operational endpoints: `/healthz`, `/readyz`, `/metrics`, and HTTP
//! request metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// Named readiness checks; `/readyz` answers 200 only when all are ready.
///
/// A service registers each dependency (`nats`, `redis`, …) as not ready at
/// start and flips it as connections come and go.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Arc<RwLock<BTreeMap<&'static str, bool>>>,
}

impl Readiness {
    /// A readiness with the given checks, all not ready yet.
    pub fn new(checks: &[&'static str]) -> Self {
        let readiness = Self::default();
        for check in checks {
            readiness.set(check, false);
        }
        readiness
    }

    /// Records whether `check` is ready.
    pub fn set(&self, check: &'static str, ready: bool) {
        if let Ok(mut checks) = self.checks.write() {
            checks.insert(check, ready);
        }
    }

    /// Whether every check is ready.
    pub fn is_ready(&self) -> bool {
        self.checks
            .read()
            .map(|c| c.values().all(|ready| *ready))
            .unwrap_or(false)
    }

    fn report(&self) -> BTreeMap<&'static str, bool> {
        self.checks.read().map(|c| c.clone()).unwrap_or_default()
    }
}

/// This process's role when it runs as one of an active and a standby
/// (`active` or `standby`, see `pf-lease`); `None` for a service that runs
/// alone or many at once. `/readyz` reports it as `"role"`.
static ROLE: RwLock<Option<&'static str>> = RwLock::new(None);

/// Records this process's role, reported by `/readyz` as `"role"`.
pub fn set_role(role: &'static str) {
    if let Ok(mut current) = ROLE.write() {
        *current = Some(role);
    }
}

/// The role recorded by [`set_role`], if any.
pub fn role() -> Option<&'static str> {
    ROLE.read().ok().and_then(|role| *role)
}

#[derive(Clone)]
struct OpsState {
    registry: Registry,
    readiness: Readiness,
}

/// The `/healthz`, `/readyz` and `/metrics` routes.
pub fn router(registry: Registry, readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(OpsState {
            registry,
            readiness,
        })
}

async fn readyz(State(state): State<OpsState>) -> impl IntoResponse {
    let status = if state.readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut report: serde_json::Map<String, serde_json::Value> = state
        .readiness
        .report()
        .into_iter()
        .map(|(check, ready)| (check.to_owned(), serde_json::Value::Bool(ready)))
        .collect();
    if let Some(role) = role() {
        report.insert("role".to_owned(), role.into());
    }
    (status, Json(report))
}

async fn metrics(State(state): State<OpsState>) -> Response {
    let mut body = Vec::new();
    let encoder = TextEncoder::new();
    match encoder.encode(&state.registry.gather(), &mut body) {
        Ok(()) => (
            [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
            body,
        )
            .into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

/// Counts and times HTTP requests by route and status.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    /// Registers `pf_http_requests_total` and `pf_http_request_duration_seconds`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new(
                "pf_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "pf_http_request_duration_seconds",
                "HTTP request duration by route",
            ),
            &["route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Self { requests, duration })
    }

    /// Middleware recording every request; add with
    /// `axum::middleware::from_fn_with_state(metrics, HttpMetrics::record)`.
    pub async fn record(
        State(metrics): State<HttpMetrics>,
        request: Request,
        next: Next,
    ) -> Response {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "unmatched".to_owned());
        let started = Instant::now();
        let response = next.run(request).await;
        metrics
            .duration
            .with_label_values(&[route.as_str()])
            .observe(started.elapsed().as_secs_f64());
        metrics
            .requests
            .with_label_values(&[route.as_str(), response.status().as_str()])
            .inc();
        response
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets
/// in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    // Handlers may read the peer address (`ConnectInfo`) for the audit trail.
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}
