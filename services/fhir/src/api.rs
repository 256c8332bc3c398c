//! The HTTP API under `/fhir/R4/`: read and search of `Location`,
//! `Organization` and `MeasureReport` (and read of the forecast reports,
//! [`crate::forecast`]), and the `CapabilityStatement` at
//! `/fhir/R4/metadata`.
//!
//! Every answer is `application/fhir+json`; every error is an
//! `OperationOutcome` whose issue says what went wrong in a sentence:
//! 400 a search parameter not supported or not valid, 401 not signed in,
//! 403 signed in without the grant, 404 no such resource, 405 a method not
//! offered, 429 too many failed sign-ins, 503 Redis or sign-in unavailable.
//!
//! # Who may read what (least privilege)
//! - Sites, wards, beds (`Location`), trusts (`Organization`) and capacity
//!   (`MeasureReport`) are counts and states with no patient data: the
//!   control-room grant (`ViewControlRoom`: control-room viewers,
//!   discharge coordinators, system administrators).
//! - Care homes and their vacancies (`Organization` with a CQC id): the
//!   vacancy-search grant (`SearchVacancies`: discharge coordinators,
//!   system administrators). A control-room viewer's `Organization` search
//!   lists trusts only.
//! - The capability statement is public, as FHIR clients read it before
//!   they sign in.
//!
//! Refused reads are recorded in the audit trail (`fhir.read`, the
//! resource type as entity), within each client's refusal budget, as the
//! bed API records its refused reads.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pf_access::{Action, Principal};
use pf_hospital_model::Catalogue;
use pf_hospital_model::catalogue::{CatalogueBed, SiteSpec, TrustSpec, WardSpec};
use pf_live_state::{LiveState, LiveStateError};
use pf_sign_in::{AuthError, Authenticator, Caller, CallerContext, NotSignedIn};
use serde::Serialize;
use time::OffsetDateTime;
use tower_http::trace::TraceLayer;

use crate::capability;
use crate::metrics::FhirMetrics;
use crate::model::{Identifier, ODS_SITE, OperationOutcome, Reference, Resource};
use crate::resources::{self, Capacity};
use crate::search::{self, BadSearch, Query};

/// The media type of every answer.
pub const FHIR_JSON: &str = "application/fhir+json";
/// Where the resources are.
pub const BASE: &str = "/fhir/R4";
/// The service's name in logs and the sign-in limits.
pub const SERVICE: &str = "fhir";

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Sites, wards and beds that exist.
    pub catalogue: Arc<Catalogue>,
    /// The live state (read-only).
    pub live: LiveState,
    /// Who is calling.
    pub authenticator: Arc<Authenticator>,
    /// Sign-in failure limits.
    pub limits: pf_sign_in::WriteLimits,
    /// Counters.
    pub metrics: FhirMetrics,
    /// `{public_url}/fhir/R4`.
    pub server: Arc<str>,
    /// Beds' events: reading their records and making changes.
    pub beds: pf_bed_log::BedLog,
    /// Where every change and refusal of a change is recorded.
    pub audit: pf_audit::AuditLog,
    /// Refusals of changes, within each client's budget.
    pub refusals: pf_audit::RefusalAudit,
    /// The forecast service's base URL, when forecasts are offered.
    pub forecast_url: Option<Arc<str>>,
    /// The client that reads the forecast service.
    pub http: reqwest::Client,
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
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.authenticator.clone()
    }
}

/// The service's routes.
pub fn router(state: AppState, http_metrics: pf_runtime::HttpMetrics) -> Router {
    Router::new()
        .route("/fhir/R4/metadata", get(metadata))
        .route("/fhir/R4/Location", get(search_locations))
        .route(
            "/fhir/R4/Location/{id}",
            get(read_location)
                .put(crate::write::put_location)
                .patch(crate::write::patch_location),
        )
        .route("/fhir/R4/Organization", get(search_organizations))
        .route("/fhir/R4/Organization/{id}", get(read_organization))
        .route("/fhir/R4/MeasureReport", get(search_reports))
        .route("/fhir/R4/MeasureReport/{id}", get(read_report))
        .fallback(not_found)
        .method_not_allowed_fallback(not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            http_metrics,
            pf_runtime::HttpMetrics::record,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::write::MAX_BODY_BYTES,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A refused or failed request, answered with an `OperationOutcome`.
#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    /// A search that cannot be run.
    #[error(transparent)]
    BadSearch(#[from] BadSearch),
    /// No such resource.
    #[error("{0}")]
    NotFound(String),
    /// Not signed in, or the credentials were refused.
    #[error(transparent)]
    Unauthenticated(AuthError),
    /// Signed in, but not allowed to read this.
    #[error("{0}")]
    Forbidden(String),
    /// Too many failed sign-ins; try again after the given seconds.
    #[error("too many failed sign-ins; try again in {0} seconds")]
    TooMany(u64),
    /// The method is not offered on this path.
    #[error(
        "this method is not offered here: resources are read with GET, and a bed's Location is changed with PUT or PATCH"
    )]
    MethodNotAllowed,
    /// The live state or sign-in could not be read.
    #[error("the live picture cannot be read right now; try again shortly ({0})")]
    Unavailable(String),
    /// A change's body or headers cannot be read.
    #[error("{0}")]
    Malformed(String),
    /// A change's body is not of a media type this server reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A change that cannot be made to this resource, or a value not accepted.
    #[error("{0}")]
    Unprocessable(String),
    /// The change does not fit the bed's current state, or others kept
    /// changing the bed at the same moment.
    #[error("{0}")]
    Conflict(String),
    /// The bed changed since the version in `If-Match`.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The change could not be confirmed as saved, or the audit trail could
    /// not record the attempt (nothing was changed).
    #[error("{0}")]
    NotSaved(String),
}

impl From<LiveStateError> for FhirError {
    fn from(err: LiveStateError) -> Self {
        FhirError::Unavailable(err.to_string())
    }
}

impl From<NotSignedIn<'_>> for FhirError {
    fn from(refusal: NotSignedIn<'_>) -> Self {
        match (&refusal, refusal.owned()) {
            (NotSignedIn::Throttled(wait), _) => FhirError::TooMany(wait.as_secs().max(1)),
            (_, Err(cause)) => FhirError::Unavailable(cause),
            (_, Ok(err)) => FhirError::Unauthenticated(err.unwrap_or(AuthError::Missing)),
        }
    }
}

impl FhirError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            FhirError::BadSearch(_) => (StatusCode::BAD_REQUEST, "invalid"),
            FhirError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            FhirError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "login"),
            FhirError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            FhirError::TooMany(_) => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
            FhirError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "not-supported"),
            FhirError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "transient"),
            FhirError::Malformed(_) => (StatusCode::BAD_REQUEST, "structure"),
            FhirError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-supported")
            }
            FhirError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "business-rule"),
            FhirError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            FhirError::PreconditionFailed(_) => (StatusCode::PRECONDITION_FAILED, "conflict"),
            FhirError::NotSaved(_) => (StatusCode::SERVICE_UNAVAILABLE, "transient"),
        }
    }

    /// A short label for the refusal counter.
    pub fn reason_label(&self) -> &'static str {
        match self {
            FhirError::BadSearch(_) => "bad_search",
            FhirError::NotFound(_) => "not_found",
            FhirError::Unauthenticated(_) => "unauthenticated",
            FhirError::Forbidden(_) => "forbidden",
            FhirError::TooMany(_) => "rate_limited",
            FhirError::MethodNotAllowed => "method",
            FhirError::Unavailable(_) => "unavailable",
            FhirError::Malformed(_) => "malformed",
            FhirError::UnsupportedMediaType(_) => "media_type",
            FhirError::Unprocessable(_) => "invalid",
            FhirError::Conflict(_) => "not_allowed",
            FhirError::PreconditionFailed(_) => "stale_version",
            FhirError::NotSaved(_) => "unavailable",
        }
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let (mut status, code) = self.status_and_code();
        if let FhirError::Unauthenticated(AuthError::Unavailable(_)) = self {
            status = StatusCode::SERVICE_UNAVAILABLE;
        }
        if status.is_server_error() {
            tracing::warn!(cause = %self, "FHIR request failed");
        }
        let mut response = fhir_json(status, &OperationOutcome::error(code, self.to_string()));
        let headers = response.headers_mut();
        match self {
            FhirError::Unauthenticated(_) if status == StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            FhirError::TooMany(seconds) => {
                if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                    headers.insert(header::RETRY_AFTER, value);
                }
            }
            FhirError::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static("GET, PUT, PATCH"));
            }
            _ => {}
        }
        response
    }
}

/// `body` as `application/fhir+json` with `status`.
pub(crate) fn fhir_json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
            bytes,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(cause = %err, "a FHIR answer could not be written");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// An answer or its refusal, counted.
pub(crate) fn answer<T: Serialize>(
    state: &AppState,
    kind: &str,
    result: Result<T, FhirError>,
) -> Response {
    match result {
        Ok(body) => {
            state.metrics.served.with_label_values(&[kind]).inc();
            fhir_json(StatusCode::OK, &body)
        }
        Err(err) => {
            state
                .metrics
                .refused
                .with_label_values(&[err.reason_label()])
                .inc();
            err.into_response()
        }
    }
}

/// The action under which refused reads are audited.
pub const READ_ACTION: &str = "fhir.read";

/// [`answer`], with a refusal recorded in the audit trail as the bed API
/// records refused reads (within the client's refusal budget: beyond it,
/// counted into an aggregate record and answered 429). The entity is the
/// resource type (`fhir/Location`): ids from the request are not repeated.
pub(crate) async fn audited_answer<T: Serialize>(
    state: &AppState,
    caller: &Caller,
    resource_type: &str,
    kind: &str,
    result: Result<T, FhirError>,
) -> Response {
    if let Err(err) = &result {
        let record = caller.refused(
            READ_ACTION,
            &format!("fhir/{resource_type}"),
            &err.to_string(),
        );
        let refusal = pf_audit::RefusalKind::of_label(err.reason_label());
        if let Err(wait) = state.refusals.refused(record, refusal).await {
            return answer::<T>(state, kind, Err(FhirError::TooMany(wait.as_secs().max(1))));
        }
    }
    answer(state, kind, result)
}

async fn not_found(State(state): State<AppState>) -> Response {
    answer::<()>(
        &state,
        "none",
        Err(FhirError::NotFound(
            "there is nothing at this address; the FHIR resources are under /fhir/R4/ \
             (Location, Organization, MeasureReport, metadata)"
                .into(),
        )),
    )
}

async fn not_allowed(State(state): State<AppState>) -> Response {
    answer::<()>(&state, "none", Err(FhirError::MethodNotAllowed))
}

async fn metadata(State(state): State<AppState>) -> Response {
    let statement = capability::statement(resources::instant(OffsetDateTime::now_utc()));
    answer(&state, "CapabilityStatement", Ok(statement))
}

/// The principal, if allowed to do `action`.
fn allowed<'a>(caller: &'a Caller, action: &Action) -> Result<&'a Principal, FhirError> {
    let principal = caller.principal()?;
    principal
        .permits(action)
        .require()
        .map_err(|refused| FhirError::Forbidden(refused.to_string()))?;
    Ok(principal)
}

/// One place of the catalogue.
pub(crate) enum Place<'a> {
    Site(&'a TrustSpec, &'a SiteSpec),
    Ward(&'a TrustSpec, &'a SiteSpec, &'a WardSpec),
    Bed(&'a TrustSpec, &'a SiteSpec, &'a WardSpec, CatalogueBed),
}

pub(crate) fn places(catalogue: &Catalogue) -> Vec<Place<'_>> {
    let mut places: Vec<Place<'_>> = resources::sites(catalogue)
        .map(|(t, s)| Place::Site(t, s))
        .collect();
    for (trust, site) in resources::sites(catalogue) {
        places.extend(site.wards.iter().map(|w| Place::Ward(trust, site, w)));
    }
    for bed in catalogue.beds() {
        let Some((trust, site)) = catalogue.site(&bed.address.site) else {
            continue;
        };
        let Some(ward) = site.wards.iter().find(|w| w.code == bed.address.ward) else {
            continue;
        };
        places.push(Place::Bed(trust, site, ward, bed));
    }
    places
}

/// The locations of `places` with their beds' live records.
async fn locations(
    state: &AppState,
    places: Vec<Place<'_>>,
) -> Result<Vec<crate::model::Location>, FhirError> {
    let beds: Vec<(&str, &str, &str)> = places
        .iter()
        .filter_map(|p| match p {
            Place::Bed(_, _, _, bed) => Some((
                bed.address.site.as_str(),
                bed.address.ward.as_str(),
                bed.address.bed.as_str(),
            )),
            _ => None,
        })
        .collect();
    let mut live = state.live.clone();
    let mut records = live.beds(&beds).await?.into_iter();
    Ok(places
        .iter()
        .map(|place| match place {
            Place::Site(t, s) => resources::site_location(t, s),
            Place::Ward(t, s, w) => resources::ward_location(t, s, w),
            Place::Bed(t, s, w, bed) => {
                let record = records.next().flatten();
                resources::bed_location(t, s, w, bed, record.as_ref())
            }
        })
        .collect())
}

/// The location as the catalogue alone describes it (no live record).
pub(crate) fn static_location(place: &Place<'_>) -> crate::model::Location {
    match place {
        Place::Site(t, s) => resources::site_location(t, s),
        Place::Ward(t, s, w) => resources::ward_location(t, s, w),
        Place::Bed(t, s, w, bed) => resources::bed_location(t, s, w, bed, None),
    }
}

async fn search_locations(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        allowed(&caller, &Action::ViewControlRoom)?;
        let query = search::parse(query.as_deref(), &["identifier", "partof", "organization"])?;
        // The catalogue's filters first, so only matching beds are read.
        let candidates: Vec<Place<'_>> = places(&state.catalogue)
            .into_iter()
            .filter(|place| {
                let l = static_location(place);
                query.identifier.iter().all(|t| t.matches(&l.identifier))
                    && query.partof.as_ref().is_none_or(|id| {
                        l.part_of.as_ref().and_then(|r| r.reference.as_deref())
                            == Some(format!("Location/{id}").as_str())
                    })
                    && query.organization.as_ref().is_none_or(|id| {
                        l.managing_organization.reference.as_deref()
                            == Some(format!("Organization/{id}").as_str())
                    })
            })
            .collect();
        let matches: Vec<Resource> = locations(&state, candidates)
            .await?
            .into_iter()
            .map(|l| Resource::Location(Box::new(l)))
            .filter(|r| {
                query
                    .last_updated
                    .iter()
                    .all(|b| b.matches(r.last_updated()))
            })
            .collect();
        Ok(page(&state, "Location", &query, matches))
    }
    .await;
    audited_answer(&state, &caller, "Location", "Bundle", result).await
}

fn page(
    state: &AppState,
    kind: &str,
    query: &Query,
    matches: Vec<Resource>,
) -> crate::model::Bundle {
    search::bundle(
        &format!("{}/{kind}", state.server),
        query,
        matches,
        &state.server,
    )
}

async fn read_location(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        allowed(&caller, &Action::ViewControlRoom)?;
        let place = places(&state.catalogue)
            .into_iter()
            .find(|p| static_location(p).id == id)
            .ok_or_else(|| FhirError::NotFound(format!("there is no Location with id `{id}`")))?;
        let mut found = locations(&state, vec![place]).await?;
        found
            .pop()
            .ok_or_else(|| FhirError::NotFound(format!("there is no Location with id `{id}`")))
    }
    .await;
    // A bed's version as its ETag, for If-Match on a change.
    let tag = result
        .as_ref()
        .ok()
        .and_then(|l| l.meta.as_ref())
        .and_then(|m| m.version_id.as_deref())
        .and_then(|v| HeaderValue::from_str(&format!("W/\"{v}\"")).ok());
    let mut response = audited_answer(&state, &caller, "Location", "Location", result).await;
    if let Some(tag) = tag {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}

/// Every organisation `principal` may see: trusts, and care homes when it
/// may search vacancies.
async fn organizations(
    state: &AppState,
    principal: &Principal,
) -> Result<Vec<Resource>, FhirError> {
    let mut all: Vec<Resource> = state
        .catalogue
        .trusts
        .iter()
        .map(|t| Resource::Organization(Box::new(resources::trust_organization(t))))
        .collect();
    if principal.permits(&Action::SearchVacancies).is_allowed() {
        let mut live = state.live.clone();
        let mut homes = live.all_care_homes().await?;
        homes.sort_by_key(resources::care_home_id);
        all.extend(
            homes
                .iter()
                .map(|h| Resource::Organization(Box::new(resources::care_home_organization(h)))),
        );
    }
    Ok(all)
}

async fn search_organizations(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let principal = allowed(&caller, &Action::ViewControlRoom)?;
        let query = search::parse(query.as_deref(), &["identifier"])?;
        let matches = organizations(&state, principal)
            .await?
            .into_iter()
            .filter(|r| match r {
                Resource::Organization(o) => {
                    query.identifier.iter().all(|t| t.matches(&o.identifier))
                }
                _ => false,
            })
            .filter(|r| {
                query
                    .last_updated
                    .iter()
                    .all(|b| b.matches(r.last_updated()))
            })
            .collect();
        Ok(page(&state, "Organization", &query, matches))
    }
    .await;
    audited_answer(&state, &caller, "Organization", "Bundle", result).await
}

async fn read_organization(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let principal = allowed(&caller, &Action::ViewControlRoom)?;
        if let Some(trust) = state.catalogue.trusts.iter().find(|t| t.code == id) {
            return Ok(resources::trust_organization(trust));
        }
        if pf_access::CqcLocationId::parse(&id).is_ok() {
            // Care homes need the vacancy-search grant.
            principal
                .permits(&Action::SearchVacancies)
                .require()
                .map_err(|refused| FhirError::Forbidden(refused.to_string()))?;
            let mut live = state.live.clone();
            if let Some(record) = live.care_home(&id).await? {
                return Ok(resources::care_home_organization(&record));
            }
        }
        Err(FhirError::NotFound(format!(
            "there is no Organization with id `{id}`"
        )))
    }
    .await;
    audited_answer(&state, &caller, "Organization", "Organization", result).await
}

/// Every capacity report: the system's, then each site's.
async fn reports(state: &AppState) -> Result<Vec<crate::model::MeasureReport>, FhirError> {
    let mut live = state.live.clone();
    let snapshot = live.snapshot().await?;
    let (by_site, system) = resources::site_figures(&snapshot.wards);
    let now = OffsetDateTime::now_utc();
    let region = state.catalogue.region.as_str();
    let mut reports = vec![resources::measure_report(
        "beds-system".into(),
        None,
        region,
        &Capacity::of(&system),
        now,
    )];
    for (_, site) in resources::sites(&state.catalogue) {
        let figures = by_site.get(site.code.as_str()).cloned().unwrap_or_default();
        reports.push(resources::measure_report(
            format!("beds-{}", site.code.as_str()),
            Some(Reference::to(
                format!("Location/{}", resources::site_id(site)),
                Identifier::new(ODS_SITE, site.code.as_str()),
                &site.name,
            )),
            region,
            &Capacity::of(&figures),
            now,
        ));
    }
    Ok(reports)
}

async fn search_reports(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        allowed(&caller, &Action::ViewControlRoom)?;
        let query = search::parse(query.as_deref(), &["subject"])?;
        if !query.last_updated.is_empty() {
            return Err(FhirError::BadSearch(BadSearch(
                "_lastUpdated does not apply to capacity reports: each is made at the moment \
                 of reading"
                    .into(),
            )));
        }
        let matches = reports(&state)
            .await?
            .into_iter()
            .filter(|r| {
                query.subject.as_ref().is_none_or(|id| {
                    r.subject.as_ref().and_then(|s| s.reference.as_deref())
                        == Some(format!("Location/{id}").as_str())
                })
            })
            .map(|r| Resource::MeasureReport(Box::new(r)))
            .collect();
        Ok(page(&state, "MeasureReport", &query, matches))
    }
    .await;
    audited_answer(&state, &caller, "MeasureReport", "Bundle", result).await
}

async fn read_report(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if id.starts_with(crate::forecast::ID_PREFIX) {
        return crate::forecast::read_forecast(State(state), caller, headers, Path(id)).await;
    }
    let result = async {
        allowed(&caller, &Action::ViewControlRoom)?;
        reports(&state)
            .await?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| {
                FhirError::NotFound(format!(
                    "there is no MeasureReport with id `{id}`; reports are `beds-system` and \
                     `beds-{{ODS site code}}` (capacity now), `forecast-system` and \
                     `forecast-{{ODS site code}}` (the next 72 hours)"
                ))
            })
    }
    .await;
    audited_answer(&state, &caller, "MeasureReport", "MeasureReport", result).await
}
