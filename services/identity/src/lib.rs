//! The sign-in service: who people and machines are.
//!
//! In development it runs the built-in demo identity provider
//! ([`pf_access::LocalIssuer`]): it publishes its keys, gives machine
//! clients (the simulator, the load test, feeds from `PF_CLIENTS_FILE`)
//! tokens by client credentials, and offers a sign-in page listing one demo
//! person per role. In production the demo issuer is refused: the service
//! then serves care-home sign-in links and sessions only, and staff bring
//! bearer tokens from the organisation's identity provider (`PF_OIDC_ISSUER`).
//!
//! When `PF_OIDC_CLIENT_ID` is set, staff also sign in in a browser through
//! their organisation's OpenID Connect provider (authorization-code flow
//! with PKCE), ending in the same session as every other sign-in; in
//! development the demo issuer is such a provider too (`/oauth/authorize`).
//!
//! In both modes a system administrator issues single-use sign-in links to
//! care-home staff, registers kiosks (control-room wall screens that nobody
//! signs in to, set up once with a single-use link), withdraws and
//! reinstates access (sessions end at once), and reads the audit trail. Every accepted change and every refusal is
//! recorded in the audit trail before the answer.
//!
//! # Layout
//! - [`config`]: settings from the environment.
//! - [`state`]: what the handlers share.
//! - [`caller`]: who is calling and from where (socket or trusted proxy).
//! - [`trail`]: recording accepted changes and refusals.
//! - [`clients`]: machine clients and their hashed secrets.
//! - [`rate_limit`]: per-address and per-client rate limits.
//! - [`csrf`]: double-submit and session CSRF tokens.
//! - [`return_to`]: where to go after signing in, open-redirect safe.
//! - [`oauth`]: JWKS, discovery document, the token endpoint
//!   (client credentials; authorization code with PKCE).
//! - [`authorize`]: the demo issuer's authorization endpoint.
//! - [`oidc`]: organisation sign-in through an OpenID Connect provider.
//! - [`organisation_names`]: organisation names for people to read.
//! - [`pending`]: single-use records of sign-ins in progress (Redis).
//! - [`pkce`]: PKCE S256.
//! - [`sign_in`]: the sign-in page, demo sign-in and sign-out.
//! - [`links`]: issuing and using care-home sign-in links, and the
//!   single-use link flow kiosks share.
//! - [`devices`]: care-home staff keeping their own phone or tablet
//!   signed in (a renewable 90-day device credential), and administrators
//!   listing and revoking devices.
//! - [`kiosks`]: control-room wall screens: registering, listing,
//!   reissuing setup links and setting up kiosks with a long,
//!   control-room-only session.
//! - [`admin`]: revoking, reinstating, the audit-trail API, "who am I".
//! - [`admin_pages`]: the administration pages (wall screens, sign-in
//!   links and their delivery through GOV.UK Notify, people, the audit
//!   trail), for system administrators in a browser.
//! - [`api`]: JSON errors and the authorisation check of API routes.
//! - [`pages`]: templates and security headers.
//! - [`metrics`]: what the service counts.
#![forbid(unsafe_code)]

pub mod admin;
pub mod admin_pages;
pub mod api;
pub mod authorize;
pub mod caller;
pub mod clients;
pub mod config;
pub mod csrf;
pub mod devices;
pub mod kiosks;
pub mod links;
pub mod metrics;
pub mod oauth;
pub mod oidc;
pub mod organisation_names;
pub mod pages;
pub mod pending;
pub mod pkce;
pub mod rate_limit;
pub mod return_to;
pub mod sign_in;
pub mod state;
pub mod trail;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request, header};
use axum::routing::{get, post};
use pf_access::{
    IssuerConfig, JwksSource, LocalIssuer, LocalIssuerConfig, TokenVerifier, TrustedIssuers,
};
use pf_audit::AuditLog;
use pf_runtime::{HttpMetrics, Readiness};
use pf_sign_in::{Authenticator, SignInStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use clients::ClientRegistry;
pub use config::IdentityConfig;
pub use state::AppState;

/// The largest request body accepted (16 KiB).
pub const BODY_LIMIT: usize = 16 * 1024;

/// The administration and audit API's OpenAPI 3.1 document
/// (`services/identity/openapi.json`), served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// A built identity service, connected and ready to serve.
pub struct Identity {
    /// The built-in demo issuer (`None` in production), so that an
    /// in-process test can mint tokens.
    pub issuer: Option<Arc<LocalIssuer>>,
    /// The sign-in store.
    pub store: SignInStore,
    /// The audit trail.
    pub audit: AuditLog,
    state: AppState,
    registry: prometheus::Registry,
    readiness: Readiness,
    http_metrics: HttpMetrics,
}

impl Identity {
    /// Connects to Redis and NATS, ensures the audit stream, starts the demo
    /// issuer (development only) and loads the machine clients.
    pub async fn build(config: IdentityConfig) -> anyhow::Result<Self> {
        let registry = prometheus::Registry::new();
        let metrics =
            metrics::IdentityMetrics::register(&registry).context("failed to register metrics")?;
        let http_metrics =
            HttpMetrics::register(&registry).context("failed to register metrics")?;
        let readiness = Readiness::new(&["redis", "nats"]);
        let mut templates = pages::templates(&config.dashboards_dir)?;
        templates.add_global("ics_name", config.ics_name.clone());

        let issuer = match LocalIssuer::new(
            config.mode,
            LocalIssuerConfig {
                issuer: config.public_url.clone(),
                audience: config.token_audience.clone(),
                key_id: None,
            },
        ) {
            Ok(issuer) => Some(Arc::new(issuer)),
            Err(pf_access::LocalIssuerError::RefusedInProduction) => {
                tracing::info!(
                    "production mode: no demo issuer; serving sign-in links and sessions"
                );
                None
            }
            Err(err) => return Err(err).context("failed to start the demo issuer"),
        };
        let verifiers = match (&issuer, &config.external_issuer) {
            (Some(issuer), _) => Some(issuer.issuer_config()),
            (None, Some(external)) => {
                let mut issuer = IssuerConfig::new(
                    external.issuer.clone(),
                    config.token_audience.clone(),
                    JwksSource::Url(external.jwks_url.clone()),
                );
                issuer.claims = external.claims.clone();
                Some(issuer)
            }
            (None, None) => None,
        }
        .into_iter()
        .chain(config.staff_issuer.clone())
        .map(TokenVerifier::new)
        .collect::<Result<Vec<_>, _>>()
        .context("failed to set up token verification")?;
        let trusted =
            TrustedIssuers::new(verifiers).context("failed to set up token verification")?;

        let mut clients = match &config.clients_file {
            Some(path) => ClientRegistry::load(path)?,
            None => ClientRegistry::default(),
        };
        if let Some(secret) = &config.demo_client_secret {
            anyhow::ensure!(
                !config.mode.is_production(),
                "PF_DEMO_CLIENT_SECRET is for development only"
            );
            clients.add_demo_clients(secret.expose());
            // The demo web client may come back to this service's own
            // organisation sign-in only.
            let mut callbacks = vec![format!("{}/sign-in/oidc/callback", config.public_url)];
            if let Some(oidc) = &config.oidc {
                callbacks.push(oidc.redirect_url.clone());
            }
            clients.add_demo_web_client(secret.expose(), callbacks);
        }
        if issuer.is_none() && !clients.is_empty() {
            tracing::warn!(
                "production mode: machine clients get tokens from the identity provider, not here; PF_CLIENTS_FILE is ignored"
            );
        }

        let store = SignInStore::connect(
            &config.redis_url,
            config.sign_in_prefix.clone(),
            config.session_policy,
        )
        .await
        .with_context(|| {
            format!(
                "failed to connect to Redis at {}",
                pf_runtime::redact_url(&config.redis_url)
            )
        })?;
        readiness.set("redis", true);

        let pending =
            pending::PendingStore::connect(&config.redis_url, config.sign_in_prefix.clone())
                .await
                .with_context(|| {
                    format!(
                        "failed to connect to Redis at {}",
                        pf_runtime::redact_url(&config.redis_url)
                    )
                })?;
        let oidc = config
            .oidc
            .clone()
            .map(|oidc| {
                tracing::info!(issuer = %oidc.issuer, client = %oidc.client_id, "organisation sign-in (OpenID Connect) offered");
                oidc::OidcClient::new(oidc, config.mode.is_production()).map(Arc::new)
            })
            .transpose()
            .context("failed to set up organisation sign-in")?;

        let nats = config
            .nats
            .connect("pf-identity")
            .await
            .with_context(|| format!("failed to connect to NATS at {}", config.nats.url))?;
        let jetstream = async_nats::jetstream::new(nats);
        let admin_jetstream = jetstream.clone();
        // pf-streams creates the audit stream and sets its retention and bound.
        pf_audit::stream::wait_until_ready(&jetstream, &CancellationToken::new())
            .await
            .context("the audit stream cannot be used")?;
        let audit = AuditLog::new(jetstream)
            .watched(&registry, pf_audit::usage::DEFAULT_REFRESH)
            .context("failed to register the audit trail's metrics")?;
        let refusals = pf_audit::RefusalAudit::new(
            audit.clone(),
            pf_audit::RefusalBudget::default(),
            &registry,
        )
        .context("failed to register the refusal metrics")?;
        readiness.set("nats", true);

        let link_register =
            admin_pages::register::LinkRegister::connect(&config.redis_url, &config.sign_in_prefix)
                .await
                .with_context(|| {
                    format!(
                        "failed to connect to Redis at {}",
                        pf_runtime::redact_url(&config.redis_url)
                    )
                })?;
        let notify = config
            .notify
            .clone()
            .map(|notify| {
                tracing::info!(base_url = %notify.base_url, "sign-in links can be sent through GOV.UK Notify");
                admin_pages::notify::NotifyClient::new(notify).map(Arc::new)
            })
            .transpose()
            .context("failed to set up GOV.UK Notify")?;
        let devices =
            devices::DeviceStore::connect(&config.redis_url, config.sign_in_prefix.clone())
                .await
                .context("failed to connect the device store to Redis")?;
        let limits =
            rate_limit::RateLimits::new(config.ip_rate_per_minute, config.token_rate_per_minute);
        let site_origins = pf_web::cross_site::SiteOrigins::new(
            std::iter::once(&config.public_url).chain(config.return_origins.iter()),
        );
        let state = AppState {
            config: Arc::new(config),
            issuer: issuer.clone(),
            authenticator: Arc::new(Authenticator::with_issuers(trusted, store.clone())),
            clients: Arc::new(clients),
            audit: audit.clone(),
            refusals,
            templates: Arc::new(templates),
            limits,
            metrics,
            pending,
            oidc,
            site_origins,
            care_home_log: pf_care_home_log::HomeLog::new(admin_jetstream.clone(), "identity"),
            jetstream: admin_jetstream,
            link_register,
            notify,
            devices,
        };
        Ok(Self {
            issuer,
            store,
            audit,
            state,
            registry,
            readiness,
            http_metrics,
        })
    }

    /// The shared state (for tests that call handlers' helpers).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves on `listener` until `shutdown` is cancelled, then lets
    /// in-flight requests finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let pruning = tokio::spawn(self.state.limits.clone().prune(shutdown.clone()));
        let router = router(self.state, self.http_metrics)
            .merge(pf_runtime::ops::router(self.registry, self.readiness));
        tracing::info!(address = %listener.local_addr()?, "identity service listening");
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown({
            let shutdown = shutdown.clone();
            async move { shutdown.cancelled().await }
        })
        .await;
        shutdown.cancel();
        let _ = pruning.await;
        served.context("identity server failed")
    }
}

/// Builds the service and runs it on `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: TcpListener,
    config: IdentityConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    Identity::build(config)
        .await?
        .serve(listener, shutdown)
        .await
}

/// The JSON API. A signed-in browser's changes must be JSON from the
/// platform's own pages (the forms above carry their CSRF token instead).
fn api_routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/access/links", post(links::issue))
        .route(
            "/api/v1/access/kiosks",
            get(kiosks::list).post(kiosks::issue),
        )
        .route(
            "/api/v1/access/kiosks/{kiosk_id}/link",
            post(kiosks::reissue),
        )
        .route("/api/v1/access/revoke", post(admin::revoke))
        .route("/api/v1/access/reinstate", post(admin::reinstate))
        .route("/api/v1/audit", get(admin::audit))
        .route("/api/v1/me", get(admin::me))
        .route("/api/v1/access/devices", get(devices::list))
        .route(
            "/api/v1/access/devices/{device_id}/revoke",
            post(devices::revoke),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            pf_web::cross_site::guard::<AppState>,
        ))
        .route(
            pf_web::OPENAPI_PATH,
            get(|| async { pf_web::openapi_document(OPENAPI) }),
        )
        // The same at a path of its own, for the shared ingress.
        .route(
            "/api/v1/openapi/identity.json",
            get(|| async { pf_web::openapi_document(OPENAPI) }),
        )
}

/// The routes, with body limit, security headers, metrics and tracing.
fn router(state: AppState, http_metrics: HttpMetrics) -> Router {
    let config = state.config.clone();
    let dir = &config.dashboards_dir;
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    // The demo sign-in form posts only where the demo issuer runs; in
    // production the page only says how to sign in.
    // A device kept signed in (its credential cookie) signs in at once.
    let sign_in_page = if state.issuer.is_some() {
        get(devices::sign_in_or_show).post(sign_in::submit)
    } else {
        get(devices::sign_in_or_show)
    };
    // A kiosk's setup form redirects to the control room: browsers apply
    // `form-action` to that redirect, so its origin is allowed too.
    let mut form_origins = config.return_origins.clone();
    if let Ok(control_room) = reqwest::Url::parse(&config.control_room_url) {
        form_origins.push(control_room.origin().ascii_serialization());
    }
    let mut routes = Router::new()
        .route("/sign-in", sign_in_page)
        .route(
            "/sign-out",
            get(sign_in::confirm_sign_out).post(sign_in::sign_out),
        )
        .route(
            "/sign-in/link/{token}",
            get(links::show).post(links::redeem),
        )
        .route(
            "/sign-in/kiosk/{token}",
            get(kiosks::show).post(kiosks::redeem),
        )
        .merge(admin_pages::routes())
        .route(
            "/devices/register",
            get(devices::register_form).post(devices::register),
        )
        .route("/admin/devices", get(devices::admin_page))
        .route(
            "/admin/devices/{device_id}/revoke",
            post(devices::admin_revoke),
        )
        .merge(api_routes(state.clone()));
    if state.oidc.is_some() {
        routes = routes
            .route("/sign-in/oidc", get(oidc::routes::start))
            .route("/sign-in/oidc/callback", get(oidc::routes::callback))
            .route(
                "/sign-in/oidc/client-jwks.json",
                get(oidc::routes::client_jwks),
            );
    }
    if state.issuer.is_some() {
        routes = routes
            .route(
                "/oauth/authorize",
                get(authorize::show).post(authorize::submit),
            )
            .route("/.well-known/jwks.json", get(oauth::jwks))
            .route(
                "/.well-known/openid-configuration",
                get(oauth::openid_configuration),
            )
            .route("/oauth/token", post(oauth::token));
    }
    let mut router = pf_web::nhsuk_frontend(routes, dir)
        .nest_service("/assets/app", ServeDir::new(dir.join("static")))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        // The care-home import carries a whole CSV file: its own limit.
        .merge(admin_pages::import_routes())
        // Outside the body limit, so that refused bodies (413) are counted.
        .layer(axum::middleware::from_fn_with_state(
            http_metrics,
            HttpMetrics::record,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&pages::content_security_policy(&form_origins))
                .unwrap_or_else(|_| HeaderValue::from_static(pages::CONTENT_SECURITY_POLICY)),
        ))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::REFERRER_POLICY, "no-referrer"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::CACHE_CONTROL, "no-store"));
    if !config.insecure_cookies {
        router = router.layer(header(
            header::STRICT_TRANSPORT_SECURITY,
            pages::STRICT_TRANSPORT_SECURITY,
        ));
    }
    router
        // Spans name the route template, never the path: a sign-in link's
        // token is in its path and must not reach the logs.
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let route = request
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map_or("unmatched", |p| p.as_str());
                tracing::info_span!("request", method = %request.method(), route)
            }),
        )
        .with_state(state)
}
