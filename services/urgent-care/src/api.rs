//! The HTTP API, described by `services/urgent-care/openapi.json` (served
//! at `/api/v1/openapi.json`):
//! - `POST /api/v1/ed/{site}/{attendance}/arrival`, `/decision-to-admit`,
//!   `/departure` (`{"outcome": "admitted" | "discharged" | "transferred"}`);
//! - `POST /api/v1/ambulance/{site}/{arrival}/arrival`, `/handover`, `/clear`;
//! - `PUT /api/v1/ambulance-service/{ods}/escalation` (`{"scale": "reap" |
//!   "opel", "level": 1…}`): the ambulance service's own escalation level,
//!   set by its feed (a client granted the service's ODS code).
//!
//! Each body may give `occurred_at` (RFC 3339; default: now). The ids are
//! the sending system's opaque ids (letters, digits and `-`, at most 64):
//! never an NHS number or a name.
//!
//! Every refusal is `{"error": "…"}` with a sentence a person understands:
//! 400 malformed request, 404 unknown site, 409 a change that does not fit
//! the record (e.g. a departure before an arrival), 422 an invalid value,
//! 503 when the event log did not confirm the change (it may not be saved).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef, FromRequestParts as _, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use bytes::Bytes;
use pf_event_log::{ChangeError, ContentionLimit, Decision, EntityLog};
use pf_hospital_model::{Catalogue, SiteCode};
use pf_proto::NewEvent;
use pf_proto::v1::{Actor, ActorKind, Source};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tower_http::trace::TraceLayer;

use crate::metrics::UrgentCareMetrics;
use crate::record::{
    self, AmbulanceChange, EdChange, Next, NotNow, Outcome, ambulance_entity, ed_entity,
};
use pf_access::{Action, OdsCode, Principal, PrincipalKind};
use pf_audit::AuditLog;
use pf_sign_in::{AuthError, Authenticator, Caller, CallerContext, NotSignedIn};
use pf_web::cross_site::{CrossSiteGuard, Refusal, SiteOrigins};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 4 * 1024;
/// The longest attendance or arrival id accepted.
pub const MAX_ID_CHARS: usize = 64;
/// How far in the future `occurred_at` may be (clock skew between systems).
const MAX_CLOCK_SKEW: time::Duration = time::Duration::minutes(5);
/// How long a change keeps deciding again while the same record keeps
/// changing.
const CONTENTION: ContentionLimit = ContentionLimit::Attempts(8);

/// The service's name in events (their source) and the audit trail.
pub const SERVICE: &str = "urgent-care";

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Sites that exist, and their trusts.
    pub catalogue: Arc<Catalogue>,
    /// Attendances' and arrivals' events: reading and changing them.
    pub log: EntityLog,
    /// Counters.
    pub metrics: UrgentCareMetrics,
    /// Who is calling.
    pub authenticator: Arc<Authenticator>,
    /// Where every change and refusal is recorded.
    pub audit: AuditLog,
    /// Refusals, within each client's budget (aggregated beyond it).
    pub refusals: pf_audit::RefusalAudit,
    /// Proxies whose `X-Forwarded-For` names the client (`PF_TRUSTED_PROXIES`).
    pub trusted_proxies: Arc<pf_audit::TrustedProxies>,
    /// Rate limits.
    pub limits: pf_sign_in::WriteLimits,
    /// The platform's own origins (for changes by signed-in browsers).
    pub site_origins: SiteOrigins,
}

/// The audit trail's action of a request refused by the cross-site guard
/// (its entity is the route's template).
pub const CROSS_SITE_ACTION: &str = "request.cross_site";

impl CrossSiteGuard for AppState {
    fn site_origins(&self) -> &SiteOrigins {
        &self.site_origins
    }

    async fn session_token(&self, headers: &HeaderMap) -> Option<String> {
        let (_, session) = self.authenticator.authenticate(headers).await.ok()?;
        session.map(|s| s.csrf_token)
    }

    async fn refused(&self, parts: &mut Parts, route: &str, refusal: Refusal) {
        let Ok(caller) = Caller::from_request_parts(parts, self).await;
        self.metrics
            .refused
            .with_label_values(&["cross_site"])
            .inc();
        let record = caller.refused(CROSS_SITE_ACTION, route, &refusal.to_string());
        // Over the client's refusal budget the refusal is counted into one
        // aggregate record instead; the answer stays a 403.
        let _ = self
            .refusals
            .refused(record, pf_audit::RefusalKind::of_label("cross_site"))
            .await;
    }
}

impl CallerContext for AppState {
    fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }
    fn limits(&self) -> &pf_sign_in::WriteLimits {
        &self.limits
    }
    fn service_name(&self) -> &'static str {
        SERVICE
    }
    fn trusted_proxies(&self) -> Option<&pf_audit::TrustedProxies> {
        Some(&self.trusted_proxies)
    }
}

impl From<NotSignedIn<'_>> for ApiError {
    fn from(refusal: NotSignedIn<'_>) -> Self {
        match (&refusal, refusal.owned()) {
            (NotSignedIn::Throttled(wait), _) => ApiError::TooMany(wait.as_secs().max(1)),
            (_, Err(cause)) => ApiError::Unavailable(cause),
            (_, Ok(err)) => ApiError::Unauthenticated(err.unwrap_or(AuthError::Missing)),
        }
    }
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.authenticator.clone()
    }
}

/// The service's routes.
pub fn router(state: AppState, http_metrics: pf_runtime::HttpMetrics) -> Router {
    Router::new()
        .route("/api/v1/ed/{site}/{attendance}/arrival", post(ed_arrival))
        .route(
            "/api/v1/ed/{site}/{attendance}/decision-to-admit",
            post(ed_decision_to_admit),
        )
        .route(
            "/api/v1/ed/{site}/{attendance}/departure",
            post(ed_departure),
        )
        .route(
            "/api/v1/ambulance/{site}/{arrival}/arrival",
            post(ambulance_arrival),
        )
        .route(
            "/api/v1/ambulance/{site}/{arrival}/handover",
            post(ambulance_handover),
        )
        .route(
            "/api/v1/ambulance/{site}/{arrival}/clear",
            post(ambulance_clear),
        )
        .route(
            "/api/v1/ambulance-service/{service}/escalation",
            put(ambulance_escalation),
        )
        // A signed-in browser's changes must be JSON from our own pages.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            pf_web::cross_site::guard::<AppState>,
        ))
        .route(pf_web::OPENAPI_PATH, get(openapi))
        // The same at a path of its own, for the shared ingress.
        .route("/api/v1/openapi/urgent-care.json", get(openapi))
        .layer(axum::middleware::from_fn_with_state(
            http_metrics,
            pf_runtime::HttpMetrics::record,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// This API's OpenAPI 3.1 document (`services/urgent-care/openapi.json`).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// `GET /api/v1/openapi.json`: the document, to anyone.
async fn openapi() -> Response {
    pf_web::openapi_document(OPENAPI)
}

/// A refused or failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request could not be read.
    #[error("{0}")]
    Malformed(String),
    /// No such site.
    #[error("{0}")]
    NotFound(String),
    /// A value is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The change does not fit the record as it is.
    #[error(transparent)]
    Refused(#[from] NotNow),
    /// Others kept changing the record at the same moment.
    #[error("{0} was changed by someone else at the same moment; check it and try again")]
    Contended(String),
    /// The event log did not confirm the change.
    #[error(
        "the change could not be confirmed as saved, so it may not have been recorded; please try again ({0})"
    )]
    Unavailable(String),
    /// Not signed in, or the credentials were refused.
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    /// Signed in, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// Too many requests; try again after the given seconds.
    #[error("too many requests; try again in {0} seconds")]
    TooMany(u64),
    /// The audit trail could not record the attempt, so nothing was changed.
    #[error(transparent)]
    NotAudited(#[from] pf_audit::AuditUnavailable),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Refused(_) | ApiError::Contended(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) | ApiError::NotAudited(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unauthenticated(AuthError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn reason_label(&self) -> &'static str {
        match self {
            ApiError::Malformed(_) => "malformed",
            ApiError::NotFound(_) => "not_found",
            ApiError::Invalid(_) => "invalid",
            ApiError::Refused(_) => "not_now",
            ApiError::Contended(_) => "contended",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::NotAudited(_) => "audit_unavailable",
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::TooMany(_) => "rate_limited",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Unauthenticated(err) = self {
            return err.into_response();
        }
        let status = self.status();
        if let ApiError::TooMany(seconds) = self {
            return (
                status,
                [(axum::http::header::RETRY_AFTER, seconds.to_string())],
                Json(ErrorBody {
                    error: self.to_string(),
                }),
            )
                .into_response();
        }
        if status.is_server_error() {
            tracing::warn!(cause = %self, "change not confirmed");
        }
        (
            status,
            Json(ErrorBody {
                error: self.to_string(),
            }),
        )
            .into_response()
    }
}

/// The body of every refusal.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
}

/// The answer to an accepted change.
#[derive(Debug, Serialize, Deserialize)]
pub struct Accepted {
    /// The stored event's id (`null` for a repeat of a change already made).
    pub event_id: Option<String>,
    /// The record's version after the change.
    pub entity_version: u64,
    /// Where the event is in the stream (`null` for a repeat).
    pub stream_sequence: Option<u64>,
    /// The event type stored (or already in place).
    pub event_type: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WhenBody {
    #[serde(default)]
    occurred_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DepartureBody {
    outcome: String,
    #[serde(default)]
    occurred_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EscalationBody {
    scale: String,
    level: u32,
    #[serde(default)]
    occurred_at: Option<String>,
}

/// The audit trail's action of setting an ambulance service's level.
const ESCALATION_ACTION: &str = "ambulance.escalation";

/// `PUT /api/v1/ambulance-service/{service}/escalation`: the ambulance
/// service's feed sets its current escalation level. Audited like every
/// change; published on `pf.urgent-care.escalation.{service}`.
#[tracing::instrument(skip(state, caller, body))]
async fn ambulance_escalation(
    State(state): State<AppState>,
    caller: Caller,
    Path(service): Path<String>,
    body: Bytes,
) -> Result<Json<Accepted>, ApiError> {
    let entity = match OdsCode::parse(&service) {
        Ok(ods) => record::escalation_entity(ods.as_str()),
        Err(_) => "ambulance-service/invalid".to_owned(),
    };
    let result = async {
        let principal = caller.principal()?;
        within_write_limit(&state, principal)?;
        let ods = OdsCode::parse(&service).map_err(|_| {
            ApiError::Malformed(format!(
                "`{service}` is not an ODS code; use the ambulance service's own code, e.g. RX9"
            ))
        })?;
        principal
            .permits(&Action::RecordUrgentCare { trust: ods.clone() })
            .require()
            .map_err(|refused| ApiError::Forbidden(refused.to_string()))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::Malformed(
                "the request needs a JSON body such as {\"scale\": \"reap\", \"level\": 3}".into(),
            ));
        }
        let body: EscalationBody = parse_body(&body)?;
        let scale = record::Scale::parse(&body.scale).ok_or_else(|| {
            ApiError::Invalid(format!(
                "`{}` is not an escalation scale; use reap (levels 1 to 6) or opel (levels 1 to 4)",
                body.scale
            ))
        })?;
        if body.level < 1 || body.level > scale.highest() {
            return Err(ApiError::Invalid(format!(
                "level {} is not on the {} scale, which runs from 1 to {}",
                body.level,
                body.scale,
                scale.highest()
            )));
        }
        let at = occurred_at_or_now(body.occurred_at, OffsetDateTime::now_utc())?;
        state
            .audit
            .attempt(caller.accepted(ESCALATION_ACTION, &entity))
            .await
            .map(pf_audit::Attempt::outcome_recorded_elsewhere)?;
        set_escalation(&state, principal, ods.as_str(), scale, body.level, at).await
    }
    .await;
    audited(&state, &caller, ESCALATION_ACTION, &entity, result)
        .await
        .map(Json)
}

async fn set_escalation(
    state: &AppState,
    principal: &Principal,
    service: &str,
    scale: record::Scale,
    level: u32,
    at: OffsetDateTime,
) -> Result<Accepted, ApiError> {
    let actor = Actor {
        id: principal.id.clone(),
        organisation: principal
            .organisation
            .as_ref()
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default(),
        kind: match principal.kind {
            PrincipalKind::Person => ActorKind::Person,
            PrincipalKind::Machine => ActorKind::Machine,
        } as i32,
    };
    let entity_id = record::escalation_entity(service);
    let subject = pf_event_log::streams::ambulance_escalation_subject(service);
    let changed = state
        .log
        .change(
            pf_event_log::streams::URGENT_CARE.name,
            &subject,
            CONTENTION,
            |latest| {
                let version = latest.map_or(0, |l| l.event.entity_version);
                let event = latest.map(|l| &l.event);
                let next = record::decide_escalation(
                    service,
                    record::escalation_record(event),
                    scale,
                    level,
                    at,
                )?;
                Ok(match next {
                    Next::Repeat => Decision::Unchanged(Accepted {
                        event_id: None,
                        entity_version: version,
                        stream_sequence: None,
                        event_type: event.map(|e| e.event_type.clone()).unwrap_or_default(),
                    }),
                    Next::Store(payload) => {
                        let event = NewEvent {
                            source: Source {
                                organisation: service.to_owned(),
                                service: SERVICE.to_owned(),
                            },
                            entity_id: entity_id.clone(),
                            entity_version: version + 1,
                            occurred_at: Some(at),
                            actor: actor.clone(),
                            payload,
                        }
                        .seal(OffsetDateTime::now_utc());
                        Decision::Publish {
                            outcome: Accepted {
                                event_id: Some(event.event_id.clone()),
                                entity_version: event.entity_version,
                                stream_sequence: None,
                                event_type: event.event_type.clone(),
                            },
                            event,
                        }
                    }
                })
            },
        )
        .await
        .map_err(|err| match err {
            ChangeError::Refused(not_now) => ApiError::Refused(not_now),
            ChangeError::Contended { .. } => ApiError::Contended(entity_id.clone()),
            ChangeError::Unavailable(cause) | ChangeError::Rejected(cause) => {
                ApiError::Unavailable(cause)
            }
        })?;
    let mut accepted = changed.outcome;
    if let Some(stored) = changed.stored {
        accepted.stream_sequence = Some(stored.published.stream_sequence);
        state
            .metrics
            .published
            .with_label_values(&[stored.event.event_type.as_str()])
            .inc();
    }
    Ok(accepted)
}

/// What a route changes.
#[derive(Debug, Clone, Copy)]
enum Change {
    Ed(EdChange),
    Ambulance(AmbulanceChange),
}

impl Change {
    fn entity(self, site: &str, id: &str) -> String {
        match self {
            Change::Ed(_) => ed_entity(site, id),
            Change::Ambulance(_) => ambulance_entity(site, id),
        }
    }
}

async fn ed_arrival(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let accepted = change(&state, &caller, &path, "ed.arrival", &body, |body| {
        let body: WhenBody = parse_optional_body(body)?;
        Ok((Change::Ed(EdChange::Arrive), body.occurred_at))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(accepted)))
}

async fn ed_decision_to_admit(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Accepted>, ApiError> {
    let accepted = change(
        &state,
        &caller,
        &path,
        "ed.decision_to_admit",
        &body,
        |body| {
            let body: WhenBody = parse_optional_body(body)?;
            Ok((Change::Ed(EdChange::DecideToAdmit), body.occurred_at))
        },
    )
    .await?;
    Ok(Json(accepted))
}

async fn ed_departure(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Accepted>, ApiError> {
    let accepted = change(&state, &caller, &path, "ed.departure", &body, |body| {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::Malformed(
                "the request needs a JSON body such as {\"outcome\": \"admitted\"}".into(),
            ));
        }
        let body: DepartureBody = parse_body(body)?;
        let outcome = Outcome::parse(&body.outcome).ok_or_else(|| {
            ApiError::Invalid(format!(
                "`{}` is not how a patient leaves the department; use one of: admitted, discharged, transferred",
                body.outcome
            ))
        })?;
        Ok((Change::Ed(EdChange::Depart(outcome)), body.occurred_at))
    })
    .await?;
    Ok(Json(accepted))
}

async fn ambulance_arrival(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let accepted = change(&state, &caller, &path, "ambulance.arrival", &body, |body| {
        let body: WhenBody = parse_optional_body(body)?;
        Ok((Change::Ambulance(AmbulanceChange::Arrive), body.occurred_at))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(accepted)))
}

async fn ambulance_handover(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Accepted>, ApiError> {
    let accepted = change(
        &state,
        &caller,
        &path,
        "ambulance.handover",
        &body,
        |body| {
            let body: WhenBody = parse_optional_body(body)?;
            Ok((
                Change::Ambulance(AmbulanceChange::HandOver),
                body.occurred_at,
            ))
        },
    )
    .await?;
    Ok(Json(accepted))
}

async fn ambulance_clear(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Accepted>, ApiError> {
    let accepted = change(&state, &caller, &path, "ambulance.clear", &body, |body| {
        let body: WhenBody = parse_optional_body(body)?;
        Ok((Change::Ambulance(AmbulanceChange::Clear), body.occurred_at))
    })
    .await?;
    Ok(Json(accepted))
}

/// One change of the record at `(site, id)`, read from `body` by
/// `read_change`: the caller's write limit and grant are checked first,
/// and the outcome is audited as `action` either way. The attempt is
/// recorded before the change is made: nothing changes that the audit
/// trail could not record (503).
#[tracing::instrument(skip(state, caller, body, read_change), fields(site = %site, id = %id))]
async fn change(
    state: &AppState,
    caller: &Caller,
    (site, id): &(String, String),
    action: &str,
    body: &Bytes,
    read_change: impl FnOnce(&Bytes) -> Result<(Change, Option<String>), ApiError>,
) -> Result<Accepted, ApiError> {
    let entity = audit_entity(action, site, id);
    let result = async {
        let principal = caller.principal()?;
        within_write_limit(state, principal)?;
        let site = authorised_site(state, principal, site)?;
        let id = checked_id(id)?;
        let (change, occurred_at) = read_change(body)?;
        let at = occurred_at_or_now(occurred_at, OffsetDateTime::now_utc())?;
        state
            .audit
            .attempt(caller.accepted(action, &entity))
            .await
            // The outcome is recorded by `audited` below.
            .map(pf_audit::Attempt::outcome_recorded_elsewhere)?;
        make_change(state, principal, &site, id, change, at).await
    }
    .await;
    audited(state, caller, action, &entity, result).await
}

/// The audit trail's name for the record named in a request path (only
/// well-formed identifiers are repeated).
fn audit_entity(action: &str, site: &str, id: &str) -> String {
    let kind = if action.starts_with("ed.") {
        "ed"
    } else {
        "ambulance"
    };
    match (SiteCode::parse(site), checked_id(id)) {
        (Ok(site), Ok(id)) => format!("{kind}/{site}/{id}"),
        _ => format!("{kind}/invalid"),
    }
}

/// An opaque id: letters, digits and `-`, 1 to [`MAX_ID_CHARS`] long (a
/// safe subject token, and too short a vocabulary to carry a name).
fn checked_id(id: &str) -> Result<&str, ApiError> {
    if id.is_empty()
        || id.chars().count() > MAX_ID_CHARS
        || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(ApiError::Malformed(format!(
            "`{id}` is not a usable id: use the sending system's own attendance or arrival id \
             (letters, digits and -, at most {MAX_ID_CHARS}), never an NHS number or a name"
        )));
    }
    if id.len() == 10 && id.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::Invalid(
            "the id looks like an NHS number; send the system's own opaque attendance id instead"
                .into(),
        ));
    }
    Ok(id)
}

/// Finds the site and checks that `principal` may record urgent care at
/// its trust's sites.
fn authorised_site(
    state: &AppState,
    principal: &Principal,
    site: &str,
) -> Result<SiteCode, ApiError> {
    let code = SiteCode::parse(site).map_err(|e| ApiError::Malformed(e.to_string()))?;
    let Some((trust, _)) = state.catalogue.site(&code) else {
        return Err(ApiError::NotFound(format!(
            "there is no site with code {code}"
        )));
    };
    let trust = OdsCode::parse(&trust.code)
        .map_err(|_| ApiError::NotFound(format!("site {code} belongs to no known trust")))?;
    principal
        .permits(&Action::RecordUrgentCare { trust })
        .require()
        .map_err(|refused| ApiError::Forbidden(refused.to_string()))?;
    Ok(code)
}

fn occurred_at_or_now(
    value: Option<String>,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, ApiError> {
    Ok(occurred_at(value, now)?.unwrap_or(now))
}

async fn make_change(
    state: &AppState,
    principal: &Principal,
    site: &SiteCode,
    id: &str,
    change: Change,
    at: OffsetDateTime,
) -> Result<Accepted, ApiError> {
    let actor = Actor {
        id: principal.id.clone(),
        organisation: principal
            .organisation
            .as_ref()
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default(),
        kind: match principal.kind {
            PrincipalKind::Person => ActorKind::Person,
            PrincipalKind::Machine => ActorKind::Machine,
        } as i32,
    };
    let site = site.as_str();
    let (subject, entity_id) = match change {
        Change::Ed(_) => (
            pf_event_log::streams::ed_subject(site, id),
            ed_entity(site, id),
        ),
        Change::Ambulance(_) => (
            pf_event_log::streams::ambulance_subject(site, id),
            ambulance_entity(site, id),
        ),
    };
    let changed = state
        .log
        .change(
            pf_event_log::streams::URGENT_CARE.name,
            &subject,
            CONTENTION,
            |latest| {
                let version = latest.map_or(0, |l| l.event.entity_version);
                let event = latest.map(|l| &l.event);
                let next = match change {
                    Change::Ed(c) => record::decide_ed(site, id, record::ed_record(event), c, at),
                    Change::Ambulance(c) => {
                        record::decide_ambulance(site, id, record::ambulance_record(event), c, at)
                    }
                }?;
                Ok(match next {
                    Next::Repeat => Decision::Unchanged(Accepted {
                        event_id: None,
                        entity_version: version,
                        stream_sequence: None,
                        event_type: event.map(|e| e.event_type.clone()).unwrap_or_default(),
                    }),
                    Next::Store(payload) => {
                        let event = NewEvent {
                            source: Source {
                                organisation: site.to_owned(),
                                service: SERVICE.to_owned(),
                            },
                            entity_id: entity_id.clone(),
                            entity_version: version + 1,
                            occurred_at: Some(at),
                            actor: actor.clone(),
                            payload,
                        }
                        .seal(OffsetDateTime::now_utc());
                        Decision::Publish {
                            outcome: Accepted {
                                event_id: Some(event.event_id.clone()),
                                entity_version: event.entity_version,
                                stream_sequence: None,
                                event_type: event.event_type.clone(),
                            },
                            event,
                        }
                    }
                })
            },
        )
        .await
        .map_err(|err| match err {
            ChangeError::Refused(not_now) => ApiError::Refused(not_now),
            ChangeError::Contended { .. } => ApiError::Contended(change.entity(site, id)),
            ChangeError::Unavailable(cause) | ChangeError::Rejected(cause) => {
                ApiError::Unavailable(cause)
            }
        })?;
    let mut accepted = changed.outcome;
    if let Some(stored) = changed.stored {
        accepted.stream_sequence = Some(stored.published.stream_sequence);
        state
            .metrics
            .published
            .with_label_values(&[stored.event.event_type.as_str()])
            .inc();
    }
    Ok(accepted)
}
/// Records the outcome of a change in the audit trail and passes it on.
async fn audited(
    state: &AppState,
    caller: &Caller,
    action: &str,
    entity: &str,
    result: Result<Accepted, ApiError>,
) -> Result<Accepted, ApiError> {
    match &result {
        Ok(accepted) => {
            let mut record = caller.accepted(action, entity);
            if let Some(event_id) = &accepted.event_id {
                record = record.with_event_id(event_id.clone());
            }
            if let Err(err) = state.audit.record(record).await {
                state.metrics.audit_failures.inc();
                tracing::error!(cause = %err, "an accepted change could not be written to the audit trail");
            }
        }
        Err(err) => refusal_limited(record_refusal(state, caller, action, entity, err).await)?,
    }
    result
}

/// A client refused too often gets 429 instead of the refusal (which is
/// counted in an aggregate audit record).
fn refusal_limited(recorded: Result<(), std::time::Duration>) -> Result<(), ApiError> {
    recorded.map_err(|wait| ApiError::TooMany(wait.as_secs().max(1)))
}

/// Records a refusal within the client's refusal budget; `Err(wait)`
/// beyond it (counted into an aggregate record instead).
async fn record_refusal(
    state: &AppState,
    caller: &Caller,
    action: &str,
    entity: &str,
    err: &ApiError,
) -> Result<(), std::time::Duration> {
    state
        .metrics
        .refused
        .with_label_values(&[err.reason_label()])
        .inc();
    let record = caller.refused(action, entity, &err.to_string());
    let kind = pf_audit::RefusalKind::of_label(err.reason_label());
    state.refusals.refused(record, kind).await
}

/// Counts a write against the principal's budget.
fn within_write_limit(state: &AppState, principal: &Principal) -> Result<(), ApiError> {
    state
        .limits
        .write(&principal.id)
        .map_err(|wait| ApiError::TooMany(wait.as_secs().max(1)))
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::Malformed(format!("the request body is not valid: {e}")))
}

fn parse_optional_body<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse_body(body)
    }
}

fn occurred_at(
    value: Option<String>,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let at = OffsetDateTime::parse(&value, &Rfc3339).map_err(|_| {
        ApiError::Invalid(format!(
            "occurred_at `{value}` is not a date and time like 2026-11-30T09:15:00Z"
        ))
    })?;
    if at - now > MAX_CLOCK_SKEW {
        return Err(ApiError::Invalid(format!(
            "occurred_at `{value}` is in the future"
        )));
    }
    Ok(Some(at))
}
