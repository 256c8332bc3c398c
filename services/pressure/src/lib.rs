//! `pf-pressure`: OPEL levels computed live from the live state, and alerts.
//!
//! Follows the change log in Redis (like the gateway's feed); after each
//! batch of changes, and at least every `PF_PRESSURE_INTERVAL_MS`, it takes
//! a snapshot and recomputes every site's and the system's parameters
//! (occupancy % of the beds each scope's parameter names —
//! `ga_occupancy_pct` for acute sites and the system, as on the wall,
//! `community_occupancy_pct` and so on for the others, see
//! [`engine::occupancy_measure`] —, escalation beds open, NCTR share =
//! waiting discharges / occupied beds of those kinds, and the ED and
//! ambulance parameters from [`pf_live_state::urgent_care::figures`]: % in
//! ED over 4 and 12 hours, % of today's handovers over 60 minutes,
//! ambulance hours lost today), scores them with the OPEL configuration
//! (`PF_OPEL_CONFIG`, default the shipped placeholders) and follows each
//! level with a [`pf_opel::LevelTracker`] (rises at once, falls after a
//! margin and a minimum dwell). The system's (ICS) level follows the
//! configured ICS rule over the providers' levels, with its own figures as
//! a floor ([`pf_opel::OpelConfig::ics`]). Every level carries its drivers
//! (the at most three parameters behind it) and its reason in words
//! ([`pf_opel::OpelConfig::explain`]). The time comes from a
//! [`pf_care_home_log::Clock`], so tests move it instead of waiting.
//!
//! Each level change is published as a `system.opel_level_changed` event
//! on `pf.system.opel.{scope}` (stream `PF_SYSTEM`) with the parameters,
//! score, drivers and reason that caused it. Alerts (level changes, a site crossing an
//! occupancy threshold, a care home closing to admissions, a surge of NCTR
//! patients, and at the thresholds set in [`engine::AlertRules`]: ED
//! 12-hour waits, handover delays, G&A occupancy of a site or the system,
//! care homes with stale figures — each raised once while it holds and
//! cleared by an `info` notice when it ends, [`engine::HOLDING_KINDS`])
//! are JSON on `pf.alerts.{kind}` (stream `PF_ALERTS`) and, when
//! `PF_ALERT_WEBHOOK_URL` is set, POSTed there signed (see [`webhook`]).
//! A new copy (a restart, or the standby taking over) resumes each scope's
//! level from `PF_SYSTEM` and the alerts already raised from `PF_ALERTS`
//! ([`resume`]), so it announces neither a second time.
//!
//! `GET /api/v1/opel` answers the current levels and recent alerts (no
//! patient data: counts and percentages only) to a signed-in caller who may
//! see the control room (control-room viewers, discharge coordinators,
//! system administrators), by bearer token or session, like the gateway's.
#![forbid(unsafe_code)]

pub mod config;
pub mod engine;
pub mod metrics;
pub mod resume;
pub mod webhook;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::{FromRef, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pf_access::Action;
use pf_care_home_log::Clock;
use pf_event_log::{EventPublisher, streams};
use pf_hospital_model::Catalogue;
use pf_live_state::{Keys, LiveState};
use pf_opel::{Level, OpelConfig};
use pf_proto::envelope::NewEvent;
use pf_proto::v1::{self, Actor, ActorKind, Source, event_envelope::Payload};
use pf_runtime::Readiness;
use pf_sign_in::{Authenticated, Authenticator};
use pf_web::ErrorBody;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use config::{PressureConfig, WebhookConfig};
pub use engine::{Alert, Engine, ScopeState};
use metrics::PressureMetrics;

/// The name in events' `source.service`.
pub const SERVICE: &str = "pf-pressure";

/// The API's OpenAPI 3.1 document (`services/pressure/openapi.json`),
/// served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// What `/api/v1/opel` answers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Board {
    /// The system first, then each site with beds.
    pub scopes: Vec<ScopeState>,
    /// Newest first.
    pub alerts: VecDeque<Alert>,
    /// The live-state change version last computed from.
    pub version: u64,
}

type Shared = Arc<Mutex<Board>>;

/// Reads the OPEL configuration: the file, or the region's `opel.json`.
pub fn load_opel_config(config: &PressureConfig) -> anyhow::Result<OpelConfig> {
    match &config.opel_config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read PF_OPEL_CONFIG {}", path.display()))?;
            OpelConfig::from_json(&text).with_context(|| format!("in {}", path.display()))
        }
        None => {
            let file = config.region_files.read(pf_region::DataFile::Opel)?;
            OpelConfig::from_json(&file.text).with_context(|| format!("in {}", file.name))
        }
    }
}

/// Runs the service until `shutdown`.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: PressureConfig,
    catalogue: Catalogue,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let opel = load_opel_config(&config)?;
    let registry = prometheus::Registry::new();
    let metrics = PressureMetrics::register(&registry)?;
    let readiness = Readiness::new(&["nats", "redis"]);
    let board: Shared = Arc::new(Mutex::new(Board::default()));

    let authenticator = config
        .sign_in
        .authenticator()
        .await
        .context("failed to set up sign-in")?;
    let api = Api {
        board: board.clone(),
        authenticator: Arc::new(authenticator),
    };
    let router = Router::new()
        .route("/api/v1/opel", get(current))
        .route(
            pf_web::OPENAPI_PATH,
            get(|| async { pf_web::openapi_document(OPENAPI) }),
        )
        .with_state(api)
        .merge(pf_runtime::ops::router(registry, readiness.clone()));
    let server = tokio::spawn(pf_runtime::ops::serve(listener, router, shutdown.clone()));

    let nats = config
        .nats
        .connect(SERVICE)
        .await
        .with_context(|| format!("failed to connect to NATS at {}", config.nats.url))?;
    let jetstream = async_nats::jetstream::new(nats);
    // pf-streams creates the streams; wait for the ones written here.
    if !streams::wait_for(
        &jetstream,
        &[streams::SYSTEM.name, streams::ALERTS.name],
        &shutdown,
    )
    .await
    {
        return Ok(());
    }
    readiness.set("nats", true);

    let keys = Keys::new(&config.redis_prefix);
    let reader = LiveState::connect(&config.redis_url, keys.clone(), config.redis_timeout)
        .await
        .context("failed to connect to Redis")?;
    let tail = LiveState::connect(&config.redis_url, keys, config.redis_timeout)
        .await
        .context("failed to connect to Redis")?;

    let sites = engine::sites(&catalogue);
    let mut engine = Engine::new(opel, config.alert_rules, sites.clone());
    let mut versions = std::collections::BTreeMap::new();
    for scope in sites.keys().map(String::as_str).chain([engine::SYSTEM]) {
        if let Some((level, version)) = last_published(&jetstream, scope).await? {
            engine.resume(scope, level);
            versions.insert(scope.to_owned(), version);
        }
    }
    // And the alerts already raised, so a takeover repeats none of them.
    match resume::raised(&jetstream).await {
        Ok(raised) => raised.resume(&mut engine),
        Err(err) => tracing::warn!(
            cause = format!("{err:#}"),
            "cannot read the alerts already raised; one may be raised again"
        ),
    }

    let webhook = match config.webhook.clone() {
        Some(webhook) => {
            let (sender, receiver) = mpsc::channel(webhook::QUEUE);
            tokio::spawn(webhook::deliver(
                webhook,
                receiver,
                metrics.clone(),
                shutdown.clone(),
            ));
            Some(sender)
        }
        None => None,
    };
    let outlet = Outlet {
        publisher: EventPublisher::new(jetstream.clone()),
        jetstream,
        webhook,
        versions,
        metrics,
        board,
        recent: config.recent_alerts,
        organisation: config.region.ics.short_name.clone(),
    };
    follow(
        reader,
        tail,
        engine,
        outlet,
        clock,
        config.interval,
        readiness,
        shutdown.clone(),
    )
    .await;
    server.await??;
    Ok(())
}

/// What `/api/v1/opel` reads.
#[derive(Clone)]
struct Api {
    board: Shared,
    authenticator: Arc<Authenticator>,
}

impl FromRef<Api> for Arc<Authenticator> {
    fn from_ref(api: &Api) -> Self {
        api.authenticator.clone()
    }
}

/// `GET /api/v1/opel`: for those who may see the control room.
async fn current(State(api): State<Api>, caller: Authenticated) -> Response {
    if let Err(refused) = caller.principal.permits(&Action::ViewControlRoom).require() {
        return ErrorBody::<()> {
            error: refused.reason,
            problems: Vec::new(),
        }
        .answer(StatusCode::FORBIDDEN, None);
    }
    let board = api.board.lock().map(|b| b.clone()).unwrap_or_default();
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(board),
    )
        .into_response()
}

/// The level and entity version last published for `scope`, if any.
async fn last_published(
    jetstream: &async_nats::jetstream::Context,
    scope: &str,
) -> anyhow::Result<Option<(Level, u64)>> {
    let stream = jetstream
        .get_stream(streams::SYSTEM.name)
        .await
        .context("cannot read PF_SYSTEM")?;
    let message = match stream
        .get_last_raw_message_by_subject(&streams::opel_subject(scope))
        .await
    {
        Ok(message) => message,
        Err(err)
            if err.kind()
                == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound =>
        {
            return Ok(None);
        }
        Err(err) => return Err(err).context("cannot read the last OPEL level"),
    };
    let Ok(envelope) = v1::EventEnvelope::decode_checked(&message.payload) else {
        return Ok(None);
    };
    let level = match envelope.payload {
        Some(Payload::OpelLevelChanged(changed)) => match changed.to_level {
            1 => Level::One,
            2 => Level::Two,
            3 => Level::Three,
            4 => Level::Four,
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    Ok(Some((level, envelope.entity_version)))
}

/// Where the engine's outcome goes.
struct Outlet {
    publisher: EventPublisher,
    jetstream: async_nats::jetstream::Context,
    webhook: Option<mpsc::Sender<Alert>>,
    versions: std::collections::BTreeMap<String, u64>,
    metrics: PressureMetrics,
    board: Shared,
    recent: usize,
    /// The organisation of the events the system produces (the ICS).
    organisation: String,
}

impl Outlet {
    async fn emit(&mut self, outcome: engine::Outcome, now: time::OffsetDateTime) {
        for change in outcome.changes {
            let version = self.versions.entry(change.scope.clone()).or_insert(0);
            *version += 1;
            let event = NewEvent {
                source: Source {
                    organisation: self.organisation.clone(),
                    service: SERVICE.to_owned(),
                },
                entity_id: format!("opel/{}", change.scope),
                entity_version: *version,
                occurred_at: Some(now),
                actor: Actor {
                    id: SERVICE.to_owned(),
                    organisation: self.organisation.clone(),
                    kind: ActorKind::Machine as i32,
                },
                payload: Payload::OpelLevelChanged(v1::OpelLevelChanged {
                    scope: change.scope.clone(),
                    site_kind: change.kind.clone(),
                    from_level: change.from.map(|l| u32::from(l.number())).unwrap_or(0),
                    to_level: u32::from(change.to.number()),
                    score: change.score,
                    parameters: change
                        .parameters
                        .iter()
                        .map(|(name, value)| v1::OpelParameter {
                            name: name.clone(),
                            value: *value,
                        })
                        .collect(),
                    words: change.to.words().to_owned(),
                    reason: change.reason.clone(),
                    drivers: change.drivers.iter().map(|d| d.parameter.clone()).collect(),
                }),
            }
            .seal(now);
            let subject = streams::opel_subject(&change.scope);
            if let Err(err) = self
                .publisher
                .publish_confirmed(&subject, &event, None)
                .await
            {
                tracing::error!(cause = %err, scope = %change.scope, "cannot publish an OPEL level change");
            }
            self.metrics
                .level
                .with_label_values(&[change.scope.as_str()])
                .set(i64::from(change.to.number()));
            tracing::info!(
                scope = %change.scope,
                from = ?change.from.map(Level::number),
                to = change.to.number(),
                score = change.score,
                "OPEL level changed"
            );
        }
        for alert in outcome.alerts {
            self.metrics.alerts.with_label_values(&[alert.kind]).inc();
            match serde_json::to_vec(&alert) {
                Ok(body) => {
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert("Nats-Msg-Id", alert.alert_id.as_str());
                    let sent = self
                        .jetstream
                        .publish_with_headers(
                            streams::alert_subject(alert.kind),
                            headers,
                            body.into(),
                        )
                        .await;
                    let acked = match sent {
                        Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                        Err(err) => Err(err.to_string()),
                    };
                    if let Err(err) = acked {
                        tracing::error!(cause = %err, kind = alert.kind, "cannot publish an alert");
                    }
                }
                Err(err) => tracing::error!(cause = %err, "cannot encode an alert"),
            }
            if let Some(webhook) = &self.webhook
                && webhook.try_send(alert.clone()).is_err()
            {
                self.metrics
                    .webhook_deliveries
                    .with_label_values(&["dropped"])
                    .inc();
            }
            tracing::info!(kind = alert.kind, scope = %alert.scope, title = %alert.title, "alert");
            if let Ok(mut board) = self.board.lock() {
                board.alerts.push_front(alert);
                board.alerts.truncate(self.recent);
            }
        }
    }
}

/// Recomputes after every batch of changes, and at least every `interval`.
#[allow(clippy::too_many_arguments)]
async fn follow(
    mut reader: LiveState,
    mut tail: LiveState,
    mut engine: Engine,
    mut outlet: Outlet,
    clock: Arc<dyn Clock>,
    interval: Duration,
    readiness: Readiness,
    shutdown: CancellationToken,
) {
    let mut version = 0;
    while !shutdown.is_cancelled() {
        let snapshot = match reader.snapshot().await {
            Ok(snapshot) => snapshot,
            Err(err) => {
                readiness.set("redis", false);
                tracing::warn!(cause = %err, "cannot read the live state; retrying");
                pause(&shutdown, Duration::from_secs(1)).await;
                continue;
            }
        };
        let now = clock.now();
        let urgent = match reader
            .urgent_care(pf_live_state::discharge_counts::uk_date(now))
            .await
        {
            Ok(state) => {
                let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
                pf_live_state::urgent_care::figures(&state, now_ms)
            }
            Err(err) => {
                readiness.set("redis", false);
                tracing::warn!(cause = %err, "cannot read the ED and ambulance state; retrying");
                pause(&shutdown, Duration::from_secs(1)).await;
                continue;
            }
        };
        readiness.set("redis", true);
        let outcome = engine.step_with(&snapshot, &urgent, now);
        outlet.emit(outcome, now).await;
        version = version.max(snapshot.version);
        if let Ok(mut board) = outlet.board.lock() {
            board.scopes = engine.states();
            board.version = snapshot.version;
        }
        // Wait for a change (or the interval), then take a fresh snapshot.
        let changes = tokio::select! {
            _ = shutdown.cancelled() => return,
            changes = tail.changes_after(version, 1000, Some(interval)) => changes,
        };
        match changes {
            Ok(changes) => {
                if let Some(last) = changes.last() {
                    version = version.max(last.version());
                }
                // A reset, or a Redis restarted empty: the snapshot says so.
                if reader
                    .version()
                    .await
                    .is_ok_and(|current| current < version)
                {
                    version = 0;
                }
            }
            Err(err) => {
                readiness.set("redis", false);
                tracing::warn!(cause = %err, "lost the change log");
                pause(&shutdown, Duration::from_millis(500)).await;
            }
        }
    }
}

async fn pause(shutdown: &CancellationToken, duration: Duration) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(duration) => {}
    }
}
