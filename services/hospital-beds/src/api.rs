//! The HTTP API: `/api/v1/sites` and `/api/v1/beds/{site}/{ward}/{bed}[/open|/state|/withdraw]`,
//! described by `services/hospital-beds/openapi.json` (served at `/api/v1/openapi.json`).
//!
//! Every refusal is `{"error": "…"}` with a sentence a person understands:
//! 400 malformed request, 404 unknown site/ward/bed, 409 a change that does
//! not fit the bed's current state, 422 an invalid value, 503 when the event
//! log did not confirm the change (it may not be saved).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef, FromRequestParts as _, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use pf_bed_log::{BedChange, BedChangeError, BedLog, BedLogError, BedRecord};
use pf_hospital_model::catalogue::CatalogueBed;
use pf_hospital_model::{BedAddress, BedState, Catalogue};
use pf_proto::v1::{Actor, ActorKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tower_http::trace::TraceLayer;

use crate::metrics::BedMetrics;
use pf_access::{Action, OdsCode, Principal, PrincipalKind};
use pf_audit::AuditLog;
use pf_sign_in::{AuthError, Authenticator, Caller, CallerContext, NotSignedIn};
use pf_web::cross_site::{CrossSiteGuard, Refusal, SiteOrigins};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The longest reason accepted.
pub const MAX_REASON_CHARS: usize = 500;
/// How far in the future `occurred_at` may be (clock skew between systems).
const MAX_CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

/// The service's name in events (their source) and the audit trail.
pub const SERVICE: &str = "hospital-beds";

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Sites, wards and beds that exist.
    pub catalogue: Arc<Catalogue>,
    /// Beds' events: reading their records and making changes.
    pub beds: BedLog,
    /// Counters.
    pub metrics: BedMetrics,
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
        .route("/api/v1/sites", get(sites))
        .route("/api/v1/beds/{site}/{ward}/{bed}", get(bed))
        .route("/api/v1/beds/{site}/{ward}/{bed}/open", post(open))
        .route("/api/v1/beds/{site}/{ward}/{bed}/state", post(set_state))
        .route("/api/v1/beds/{site}/{ward}/{bed}/withdraw", post(withdraw))
        // A signed-in browser's changes must be JSON from our own pages.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            pf_web::cross_site::guard::<AppState>,
        ))
        .route(pf_web::OPENAPI_PATH, get(openapi))
        // The same at a path of its own, for the shared ingress.
        .route("/api/v1/openapi/hospital-beds.json", get(openapi))
        .layer(axum::middleware::from_fn_with_state(
            http_metrics,
            pf_runtime::HttpMetrics::record,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// This API's OpenAPI 3.1 document (`services/hospital-beds/openapi.json`).
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
    /// No such site, ward or bed.
    #[error("{0}")]
    NotFound(String),
    /// A value is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The change does not fit the bed's current state.
    #[error(transparent)]
    Refused(#[from] BedChangeError),
    /// Others kept changing the bed at the same moment.
    #[error(
        "bed {0} was changed by someone else at the same moment; check its state and try again"
    )]
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
            ApiError::Refused(_) => "not_allowed",
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
    /// The stored event's id.
    pub event_id: String,
    /// The bed's version after the change.
    pub entity_version: u64,
    /// Where the event is in the stream.
    pub stream_sequence: u64,
    /// The bed's state after the change (`null` once withdrawn).
    pub state: Option<BedState>,
}

/// A bed as the API shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct BedView {
    /// ODS site code.
    pub site: String,
    /// Ward code.
    pub ward: String,
    /// Bed code.
    pub bed: String,
    /// Bed kind.
    pub kind: pf_hospital_model::BedKind,
    /// Whether it is an escalation bed.
    pub escalation: bool,
    /// Whether it is in the bed base.
    pub open: bool,
    /// Its state while open.
    pub state: Option<BedState>,
    /// Version of its newest event (0: none yet).
    pub version: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    occurred_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateBody {
    state: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    occurred_at: Option<String>,
}

async fn sites(State(state): State<AppState>, caller: Caller) -> Result<Json<Catalogue>, ApiError> {
    // Reference data: any signed-in caller may read it.
    let result = caller
        .principal()
        .map(|_| state.catalogue.as_ref().clone())
        .map_err(ApiError::from);
    if let Err(err) = &result {
        refusal_limited(record_refusal(&state, &caller, "site.read", "sites", err).await)?;
    }
    Ok(Json(result?))
}

#[tracing::instrument(skip(state, caller), fields(site, ward, bed))]
async fn bed(
    State(state): State<AppState>,
    caller: Caller,
    Path((site, ward, bed)): Path<(String, String, String)>,
) -> Result<Json<BedView>, ApiError> {
    let result = async {
        let principal = caller.principal()?;
        let bed = authorised_bed(&state, principal, &site, &ward, &bed)?;
        let (record, _) = current_record(&state, &bed).await?;
        Ok(BedView {
            site: bed.address.site.to_string(),
            ward: bed.address.ward.to_string(),
            bed: bed.address.bed.to_string(),
            kind: bed.kind,
            escalation: bed.escalation,
            open: record.open,
            state: record.state,
            version: record.version,
        })
    }
    .await;
    if let Err(err) = &result {
        refusal_limited(
            record_refusal(
                &state,
                &caller,
                "bed.read",
                &entity(&site, &ward, &bed),
                err,
            )
            .await,
        )?;
    }
    Ok(Json(result?))
}

#[tracing::instrument(skip(state, caller, path, body), fields(site, ward, bed))]
async fn open(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let accepted = change_bed(&state, &caller, &path, "bed.open", &body, |body| {
        let body: ReasonBody = parse_optional_body(body)?;
        let reason = reason(body.reason)?;
        Ok((BedChange::Open { reason }, body.occurred_at))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(accepted)))
}

#[tracing::instrument(skip(state, caller, path, body), fields(site, ward, bed))]
async fn set_state(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<Accepted>, ApiError> {
    let accepted = change_bed(&state, &caller, &path, "bed.change_state", &body, |body| {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::Malformed(
                "the request needs a JSON body such as {\"state\": \"occupied\"}".into(),
            ));
        }
        let body: StateBody = parse_body(body)?;
        let state: BedState = body.state.parse().map_err(|_| {
            ApiError::Invalid(format!(
                "`{}` is not a bed state; use one of: available, occupied, awaiting_clean, reserved, closed",
                body.state
            ))
        })?;
        let reason = reason(body.reason)?;
        Ok((BedChange::SetState { state, reason }, body.occurred_at))
    })
    .await?;
    Ok(Json(accepted))
}

#[tracing::instrument(skip(state, caller, path, body), fields(site, ward, bed))]
async fn withdraw(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<Accepted>, ApiError> {
    let accepted = change_bed(&state, &caller, &path, "bed.withdraw", &body, |body| {
        let body: ReasonBody = parse_optional_body(body)?;
        let reason = reason(body.reason)?;
        Ok((BedChange::Withdraw { reason }, body.occurred_at))
    })
    .await?;
    Ok(Json(accepted))
}

/// One change of the bed at `(site, ward, bed)`, read from `body` by
/// `read_change` (the change and its optional `occurred_at`): the caller's
/// write limit and grant are checked first, and the outcome is audited as
/// `action` either way. The attempt is recorded before the change is made:
/// nothing changes that the audit trail could not record (503).
async fn change_bed(
    state: &AppState,
    caller: &Caller,
    (site, ward, bed): &(String, String, String),
    action: &str,
    body: &Bytes,
    read_change: impl FnOnce(&Bytes) -> Result<(BedChange, Option<String>), ApiError>,
) -> Result<Accepted, ApiError> {
    let result = async {
        let principal = caller.principal()?;
        within_write_limit(state, principal)?;
        let target = authorised_bed(state, principal, site, ward, bed)?;
        let (change, occurred_at) = read_change(body)?;
        state
            .audit
            .attempt(caller.accepted(action, &entity(site, ward, bed)))
            .await
            // The outcome is recorded by `audited` below.
            .map(pf_audit::Attempt::outcome_recorded_elsewhere)?;
        make_change(state, principal, target, change, occurred_at).await
    }
    .await;
    audited(state, caller, action, &entity(site, ward, bed), result).await
}

/// The audit trail's name for a bed named in a request path (only
/// well-formed identifiers are repeated).
fn entity(site: &str, ward: &str, bed: &str) -> String {
    BedAddress::parse(site, ward, bed)
        .map(|a| a.entity_id())
        .unwrap_or_else(|_| "bed/invalid".to_owned())
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
            let record = caller
                .accepted(action, entity)
                .with_event_id(accepted.event_id.clone());
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

/// Finds the bed and checks that `principal` may change beds of its trust.
fn authorised_bed(
    state: &AppState,
    principal: &Principal,
    site: &str,
    ward: &str,
    bed: &str,
) -> Result<CatalogueBed, ApiError> {
    let bed = find_bed(&state.catalogue, site, ward, bed)?;
    let trust = state
        .catalogue
        .site(&bed.address.site)
        .and_then(|(trust, _)| OdsCode::parse(&trust.code).ok())
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "site {} belongs to no known trust",
                bed.address.site
            ))
        })?;
    principal
        .permits(&Action::ChangeBeds { trust })
        .require()
        .map_err(|refused| ApiError::Forbidden(refused.to_string()))?;
    Ok(bed)
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

fn reason(reason: Option<String>) -> Result<String, ApiError> {
    let reason = reason.unwrap_or_default().trim().to_owned();
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::Invalid(format!(
            "the reason is too long: at most {MAX_REASON_CHARS} characters"
        )));
    }
    if reason.chars().any(char::is_control) {
        return Err(ApiError::Invalid(
            "the reason may not contain control characters".into(),
        ));
    }
    Ok(reason)
}

fn occurred_at(
    value: Option<String>,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, ApiError> {
    let Some(value) = value else { return Ok(None) };
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

/// Finds a bed in the catalogue, saying which part of the address is unknown.
fn find_bed(
    catalogue: &Catalogue,
    site: &str,
    ward: &str,
    bed: &str,
) -> Result<CatalogueBed, ApiError> {
    let address =
        BedAddress::parse(site, ward, bed).map_err(|e| ApiError::Malformed(e.to_string()))?;
    let Some((_, site_spec)) = catalogue.site(&address.site) else {
        return Err(ApiError::NotFound(format!(
            "there is no site with code {}",
            address.site
        )));
    };
    if catalogue.ward(&address.site, &address.ward).is_none() {
        return Err(ApiError::NotFound(format!(
            "{} ({}) has no ward {}",
            site_spec.name, address.site, address.ward
        )));
    }
    let span = tracing::Span::current();
    span.record("site", address.site.as_str());
    span.record("ward", address.ward.as_str());
    span.record("bed", address.bed.as_str());
    catalogue.bed(&address).ok_or_else(|| {
        ApiError::NotFound(format!(
            "ward {} at {} has no bed {}",
            address.ward, site_spec.name, address.bed
        ))
    })
}

async fn current_record(
    state: &AppState,
    bed: &CatalogueBed,
) -> Result<(BedRecord, u64), ApiError> {
    state.beds.current(bed).await.map_err(ApiError::from)
}

impl From<BedLogError> for ApiError {
    fn from(err: BedLogError) -> Self {
        match err {
            BedLogError::Refused(refused) => ApiError::Refused(refused),
            BedLogError::Contended(bed) => ApiError::Contended(bed),
            BedLogError::Unavailable(cause) => ApiError::Unavailable(cause),
        }
    }
}

async fn make_change(
    state: &AppState,
    principal: &Principal,
    bed: CatalogueBed,
    change: BedChange,
    occurred: Option<String>,
) -> Result<Accepted, ApiError> {
    let occurred_at = occurred_at(occurred, OffsetDateTime::now_utc())?;
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
    let changed = state
        .beds
        .change(&bed, change, actor, occurred_at, SERVICE)
        .await?;
    state
        .metrics
        .published
        .with_label_values(&[changed.event_type.as_str()])
        .inc();
    Ok(Accepted {
        event_id: changed.event_id,
        entity_version: changed.entity_version,
        stream_sequence: changed.stream_sequence,
        state: changed.state,
    })
}
