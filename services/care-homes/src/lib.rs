//! The care-homes service: care homes keep their vacancies live.
//!
//! A care-home nurse or manager signs in with a link and updates the home's
//! figures on one page, on a cheap phone, with or without JavaScript, and
//! through a dropped connection. Care-record systems send the same updates
//! as JSON. Both are checked against the same rules, de-duplicated by an
//! idempotency key, published as care-home events to JetStream (answering
//! only after JetStream acknowledged them) and recorded in the audit trail.
//!
//! # Layout
//! - [`config`]: settings from the environment.
//! - [`idempotency`]: keys that make a resend harmless.
//! - [`submission`]: saving an update, the one path of form and API.
//! - [`api`]: the JSON API (`openapi.json` documents it), including the
//!   export in the national Capacity Tracker's shape (CSV).
//! - [`form`]: the server-rendered form (and, at [`SERVICE_WORKER_PATH`],
//!   its service worker, `dashboards/static/care-home-service-worker.js`).
//! - [`live_register`]: the register, kept up to date from the homes'
//!   events (a home added, edited or retired by a system administrator is
//!   picked up without a restart).
//! - [`state`]: what the handlers share; auditing.
//! - [`metrics`]: what the service counts.
//! - [`run`]: connects, registers the homes of the register and serves.
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod form;
pub mod idempotency;
pub mod live_register;
pub mod metrics;
pub mod state;
pub mod submission;

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post, put};
use pf_access::Principal;
use pf_care_home_model::Register;
use pf_event_log::streams;
use pf_runtime::{HttpMetrics, Readiness};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use config::{CareHomesConfig, RegisterSource};
pub use state::AppState;

/// The largest request body accepted (16 KiB: a report of every category
/// with a full note is under 3 KiB).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The API's OpenAPI 3.1 document (`services/care-homes/openapi.json`),
/// served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The pages this service renders (checked at start).
pub const PAGES: &[&str] = &[
    "care-home.html",
    "care-homes.html",
    "care-home-signed-out.html",
];

/// The identity that registers the homes of the register.
pub fn register_keeper() -> Principal {
    Principal::machine("care-home-register", "Care-home register", None)
}

/// Runs the service on `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: TcpListener,
    config: CareHomesConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let readiness = Readiness::new(&["nats", "register"]);
    let register = match &config.register {
        RegisterSource::Region => Register::load(&config.region_files, &config.region),
        RegisterSource::File(path) => Register::load_file(path, &config.region),
        RegisterSource::Json(json) => {
            Register::for_region("PF_CARE_HOME_REGISTER", json, &config.region)
        }
    }
    .context("failed to read the care-home register")?;
    let mut templates = pf_web::templates(&config.dashboards_dir, PAGES)
        .context("failed to load the page templates")?;
    templates.add_global("ics_name", config.region.ics.name.clone());
    let nats = config
        .nats
        .connect_tracking("pf-care-homes", &readiness)
        .await
        .with_context(|| format!("failed to connect to NATS at {}", config.nats.url))?;
    let jetstream = async_nats::jetstream::new(nats);
    // The streams are pf-streams' to create; wait for the ones used here.
    if !pf_event_log::streams::wait_for(&jetstream, &[streams::CARE_HOMES.name], &shutdown).await
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
    let keys = idempotency::IdempotencyStore::connect(
        &config.redis_url,
        &config.redis_prefix,
        config.idempotency_ttl,
    )
    .await
    .context("failed to connect to Redis for idempotency keys")?;
    let log = pf_care_home_log::HomeLog::new(jetstream.clone(), pf_care_home_log::SERVICE);
    let live_register = live_register::LiveRegister::new(register.clone());

    // Registering ~300 homes takes a second; serve meanwhile (not ready).
    {
        let (log, register, readiness) = (log.clone(), register.clone(), readiness.clone());
        tokio::spawn(async move {
            match log.register(&register, &register_keeper()).await {
                Ok(published) => {
                    tracing::info!(
                        homes = register.len(),
                        published,
                        "care-home register loaded"
                    );
                    readiness.set("register", true);
                }
                Err(err) => {
                    tracing::error!(cause = %err, "the care-home register could not be loaded")
                }
            }
        });
    }
    // From then on the homes' events say what is on the register: homes
    // added, edited or retired on the administration pages.
    {
        let (live, js, shutdown) = (live_register.clone(), jetstream.clone(), shutdown.clone());
        tokio::spawn(async move { live.follow(js, shutdown).await });
    }

    let audit = pf_audit::AuditLog::new(jetstream.clone())
        .watched(&registry, pf_audit::usage::DEFAULT_REFRESH)?;
    let refusals =
        pf_audit::RefusalAudit::new(audit.clone(), pf_audit::RefusalBudget::default(), &registry)?;
    let state = AppState {
        log,
        keys,
        register: live_register,
        authenticator: Arc::new(authenticator),
        limits: pf_sign_in::WriteLimits::new(config.writes_per_second, config.refused_per_second),
        audit,
        refusals: refusals.clone(),
        trusted_proxies: Arc::new(pf_audit::TrustedProxies::from_env()?),
        metrics: metrics::CareHomeMetrics::register(&registry)
            .context("failed to register metrics")?,
        templates: Arc::new(templates),
        config: Arc::new(config),
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
    let router = router(state, http_metrics).merge(pf_runtime::ops::router(registry, readiness));
    tracing::info!(address = %listener.local_addr()?, "care-homes listening");
    let served = pf_runtime::ops::serve(listener, router, shutdown)
        .await
        .context("care-homes server failed");
    // Refusals counted since the last flush are recorded before stopping.
    refusals.flush().await;
    served
}

/// Where the form's service worker is served (its scope is `/care-homes/`).
pub const SERVICE_WORKER_PATH: &str = "/care-homes/service-worker.js";

/// The service's routes.
pub fn router(state: AppState, http_metrics: HttpMetrics) -> Router {
    let dashboards = state.config.dashboards_dir.clone();
    let routes = Router::new()
        .route("/", get(form::root))
        .route("/care-homes", get(form::homes))
        .route("/care-homes/{cqc}", get(form::form).post(form::save))
        .route("/care-homes/{cqc}/holds/{hold_id}", post(form::answer))
        // The form's service worker, at the top of the scope it serves
        // (`/care-homes/`), so a form reloaded offline is still shown.
        .route_service(
            SERVICE_WORKER_PATH,
            tower_http::services::ServeFile::new(
                dashboards.join("static/care-home-service-worker.js"),
            ),
        );
    // The JSON API: a signed-in browser's changes must be JSON from our own
    // pages (the forms above carry their CSRF token instead).
    let api_routes = Router::new()
        .route("/api/v1/care-homes", get(api::list))
        .route(
            "/api/v1/care-homes/capacity-tracker.csv",
            get(api::capacity_tracker_csv),
        )
        .route("/api/v1/care-homes/{cqc}", get(api::home))
        .route(
            "/api/v1/care-homes/{cqc}/vacancies",
            put(api::put_vacancies),
        )
        .route(
            "/api/v1/care-homes/{cqc}/confirmation",
            post(api::post_confirmation),
        )
        .route(
            "/api/v1/care-homes/{cqc}/holds/{hold_id}/{answer}",
            post(api::post_hold_answer),
        )
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
            "/api/v1/openapi/care-homes.json",
            get(|| async { pf_web::openapi_document(OPENAPI) }),
        );
    let policy = content_security_policy(&state.config.sign_out_url);
    pf_web::with_security_headers(
        pf_web::assets(routes.merge(api_routes), &dashboards)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(axum::middleware::from_fn_with_state(
                http_metrics,
                HttpMetrics::record,
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::CONTENT_SECURITY_POLICY,
                policy,
            )),
        pf_web::CONTENT_SECURITY_POLICY,
    )
    .layer(TraceLayer::new_for_http())
    .with_state(state)
}

/// The pages' Content-Security-Policy: the platform's, with forms allowed to
/// post to the identity service's sign-out too (only identity ends
/// sessions). An address that is not a plain http(s) origin is left out
/// (sign-out then fails in the browser, visibly, rather than widening the
/// policy).
fn content_security_policy(sign_out_url: &str) -> HeaderValue {
    let origin = http_origin(sign_out_url)
        .map(|origin| format!(" {origin}"))
        .unwrap_or_default();
    let policy = pf_web::CONTENT_SECURITY_POLICY.replacen(
        "form-action 'self'",
        &format!("form-action 'self'{origin}"),
        1,
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static(pf_web::CONTENT_SECURITY_POLICY))
}

/// The origin (`https://host[:port]`) of an http(s) address.
fn http_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = rest.split('/').next().unwrap_or_default();
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    (!host.is_empty() && host.chars().all(fine)).then(|| format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::content_security_policy;

    #[test]
    fn pages_may_post_to_identitys_sign_out_and_nowhere_else() {
        let policy = content_security_policy("https://flow.example.nhs.uk/sign-out");
        let policy = policy.to_str().expect("ascii");
        assert!(policy.contains("form-action 'self' https://flow.example.nhs.uk;"));
        let hostile = content_security_policy("https://a.example; script-src *");
        assert!(
            hostile
                .to_str()
                .expect("ascii")
                .contains("form-action 'self';")
        );
    }
}
