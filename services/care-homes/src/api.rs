//! The JSON API for care-record systems (and anyone with a token):
//!
//! - `GET /api/v1/care-homes`: the homes the caller may change.
//! - `GET /api/v1/care-homes/{cqc}`: one home's current record.
//! - `PUT /api/v1/care-homes/{cqc}/vacancies`: a whole vacancy report.
//! - `POST /api/v1/care-homes/{cqc}/confirmation`: "nothing has changed".
//!
//! Writes need an `Idempotency-Key` header: a resend with the same key gets
//! the first answer and stores nothing new. Every refusal is
//! `{"error": "…"}` (with `problems` for rule breaks), in words a person
//! understands; `services/care-homes/openapi.json` documents it all.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pf_care_home_model::{
    CapacityTrackerInput, CareCategory, CareHomeRecord, CategoryFigures, ClosureReason,
    CqcLocationId, LocalityCode, ReportInput, SexAccepted, VacancyInput,
};
use pf_sign_in::{AuthError, Caller, NotSignedIn};
use pf_web::ErrorBody;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::idempotency::IdempotencyKey;
use crate::state::{AppState, entity};
use crate::submission::{self, NotSaved, Saved, Update};

/// A refused or failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request could not be read.
    #[error("{0}")]
    Malformed(String),
    /// Not signed in, or the credentials were refused.
    #[error(transparent)]
    Unauthenticated(AuthError),
    /// The update was not saved.
    #[error(transparent)]
    NotSaved(#[from] NotSaved),
    /// The sign-in store is unavailable.
    #[error("sign-in is unavailable right now; try again shortly ({0})")]
    SignInUnavailable(String),
    /// The audit trail could not record the attempt, so nothing was saved.
    #[error(transparent)]
    NotAudited(#[from] pf_audit::AuditUnavailable),
}

impl From<NotSignedIn<'_>> for ApiError {
    fn from(refusal: NotSignedIn<'_>) -> Self {
        match (&refusal, refusal.owned()) {
            (NotSignedIn::Throttled(wait), _) => {
                ApiError::NotSaved(NotSaved::TooMany(wait.as_secs().max(1)))
            }
            (_, Err(cause)) => ApiError::SignInUnavailable(cause),
            (_, Ok(err)) => ApiError::Unauthenticated(err.unwrap_or(AuthError::Missing)),
        }
    }
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::SignInUnavailable(_) | ApiError::NotAudited(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::NotSaved(err) => match err {
                NotSaved::Forbidden(_) => StatusCode::FORBIDDEN,
                NotSaved::UnknownHome(_) => StatusCode::NOT_FOUND,
                NotSaved::Retired(_) => StatusCode::GONE,
                NotSaved::Problems(_) => StatusCode::UNPROCESSABLE_ENTITY,
                NotSaved::KeyReused | NotSaved::Busy | NotSaved::Contended(_) => {
                    StatusCode::CONFLICT
                }
                NotSaved::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
                NotSaved::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
        }
    }

    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            ApiError::Malformed(_) => "malformed",
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::SignInUnavailable(_) => "unavailable",
            ApiError::NotAudited(_) => "audit_unavailable",
            ApiError::NotSaved(err) => match err {
                NotSaved::Forbidden(_) => "forbidden",
                NotSaved::UnknownHome(_) => "not_found",
                NotSaved::Retired(_) => "retired",
                NotSaved::Problems(_) => "invalid",
                NotSaved::KeyReused => "key_reused",
                NotSaved::Busy => "busy",
                NotSaved::Contended(_) => "contended",
                NotSaved::TooMany(_) => "rate_limited",
                NotSaved::Unavailable(_) => "unavailable",
            },
        }
    }

    /// Records the refusal in the audit trail: `action` on `entity` by
    /// `caller`; the refusal to answer with. A client refused too often gets
    /// 429 instead, and its refusals are aggregated into one record.
    pub async fn audit(
        self,
        state: &AppState,
        caller: &Caller,
        action: &str,
        entity: &str,
    ) -> ApiError {
        match state
            .audit_refused(caller, action, entity, self.label(), &self.reason())
            .await
        {
            Ok(()) => self,
            Err(wait) => ApiError::NotSaved(NotSaved::TooMany(wait.as_secs().max(1))),
        }
    }

    /// The reason for the audit trail.
    pub fn reason(&self) -> String {
        match self {
            ApiError::NotSaved(NotSaved::Problems(problems)) => problems
                .problems
                .iter()
                .map(|p| p.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Unauthenticated(err) = self {
            return err.into_response();
        }
        let status = self.status();
        let retry_after = match self {
            ApiError::NotSaved(NotSaved::TooMany(seconds)) => Some(seconds),
            _ => None,
        };
        let body = match self {
            ApiError::NotSaved(NotSaved::Problems(p)) => ErrorBody {
                error: "the update breaks the rules below and was not saved".to_owned(),
                problems: p.problems,
            },
            other => ErrorBody {
                error: other.to_string(),
                problems: Vec::new(),
            },
        };
        body.answer(status, retry_after)
    }
}

/// One category's figures as the API shows them.
#[derive(Debug, Serialize)]
pub struct VacancyView {
    /// The category.
    pub category: CareCategory,
    /// Its name.
    pub label: &'static str,
    /// Vacant beds.
    pub vacant: u32,
    /// Of which cannot take anyone now.
    pub unavailable: u32,
    /// Vacant and able to take someone now.
    pub available: u32,
    /// Capacity Tracker: vacant beds accepting admissions (the same number
    /// as `available`).
    pub accepting_admissions: u32,
    /// Capacity Tracker: vacant beds reserved (the same number as
    /// `unavailable`).
    pub reserved: u32,
    /// Whom they can take.
    pub sex: SexAccepted,
}

/// A home as the API shows it.
#[derive(Debug, Serialize)]
pub struct HomeView {
    /// CQC location id.
    pub cqc_location_id: String,
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// Postcode.
    pub postcode: String,
    /// Local authority area.
    pub locality: LocalityCode,
    /// Latitude.
    pub latitude: f64,
    /// Longitude.
    pub longitude: f64,
    /// Registered beds.
    pub registered_beds: u32,
    /// Capacity Tracker: the beds the home can use now, as it last gave
    /// them (`null` until it gives them).
    pub maximum_capacity: Option<u32>,
    /// Capacity Tracker: occupied beds, as the home last gave them (`null`
    /// until it gives them).
    pub occupied: Option<u32>,
    /// Each category offered and its figures.
    pub vacancies: Vec<VacancyView>,
    /// Closed to admissions.
    pub closed_to_admissions: bool,
    /// Why, when closed.
    pub closure_reason: Option<ClosureReason>,
    /// More about the closure.
    pub closure_detail: String,
    /// Takes patients straight from hospital.
    pub accepting_hospital_discharges: bool,
    /// Free text for discharge teams.
    pub note: String,
    /// When the figures were last given (RFC 3339), if ever.
    pub last_updated_at: Option<String>,
    /// Who gave them.
    pub last_updated_by: Option<String>,
    /// Older than the staleness threshold (or never given).
    pub stale: bool,
    /// The home's version (its number of events).
    pub version: u64,
    /// Beds held for patients: requests to answer and accepted patients.
    pub holds: Vec<HoldView>,
}

/// A bed held at the home for a patient: what the home needs to decide.
#[derive(Debug, Serialize)]
pub struct HoldView {
    /// Hold id.
    pub hold_id: String,
    /// The category held.
    pub category: CareCategory,
    /// Its words.
    pub category_label: &'static str,
    /// The patient's sex.
    pub sex: SexAccepted,
    /// Discharge pathway.
    pub pathway: u32,
    /// Discharge Ready Date.
    pub discharge_ready_date: String,
    /// Care needs in a few words.
    pub needs: String,
    /// The discharge team's organisation (ODS).
    pub held_by_organisation: String,
    /// The coordinator.
    pub held_by_name: String,
    /// `requested` or `accepted`.
    pub state: pf_care_home_model::HoldState,
    /// When it ends unless accepted (RFC 3339).
    pub expires_at: String,
}

impl HomeView {
    /// The view of `record` at `version`.
    pub fn of(record: &CareHomeRecord, version: u64, stale: bool) -> Self {
        let r = &record.registration;
        Self {
            cqc_location_id: r.cqc_location_id.to_string(),
            name: r.name.clone(),
            address: r.address.clone(),
            postcode: r.postcode.clone(),
            locality: r.locality.clone(),
            latitude: r.latitude,
            longitude: r.longitude,
            registered_beds: r.registered_beds,
            maximum_capacity: record.capacity.map(|c| c.maximum_capacity),
            occupied: record.capacity.map(|c| c.occupied),
            vacancies: record
                .vacancies
                .iter()
                .map(|v| VacancyView {
                    category: v.category,
                    label: v.category.label(),
                    vacant: v.vacant,
                    unavailable: v.unavailable,
                    available: v.available(),
                    accepting_admissions: v.available(),
                    reserved: v.unavailable,
                    sex: v.sex,
                })
                .collect(),
            closed_to_admissions: record.closure.is_some(),
            closure_reason: record.closure.as_ref().map(|c| c.reason),
            closure_detail: record
                .closure
                .as_ref()
                .map(|c| c.detail.clone())
                .unwrap_or_default(),
            accepting_hospital_discharges: record.accepting_hospital_discharges,
            note: record.note.clone(),
            last_updated_at: record
                .confirmed
                .as_ref()
                .and_then(|c| c.at.format(&Rfc3339).ok()),
            last_updated_by: record.confirmed.as_ref().map(|c| c.by_name.clone()),
            stale,
            version,
            holds: record
                .holds
                .iter()
                .map(|h| HoldView {
                    hold_id: h.hold_id.clone(),
                    category: h.category,
                    category_label: h.category.label(),
                    sex: h.sex,
                    pathway: h.pathway,
                    discharge_ready_date: h.discharge_ready_date.clone(),
                    needs: h.needs.clone(),
                    held_by_organisation: h.held_by_organisation.clone(),
                    held_by_name: h.held_by_name.clone(),
                    state: h.state,
                    expires_at: h.expires_at.format(&Rfc3339).unwrap_or_default(),
                })
                .collect(),
        }
    }
}

/// The answer to a saved update.
#[derive(Debug, Serialize)]
pub struct SavedView {
    /// The stored event's id.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// The home's version after it.
    pub entity_version: u64,
    /// When it was accepted (RFC 3339).
    pub recorded_at: String,
    /// This request repeated an idempotency key already answered: nothing
    /// new was stored.
    pub replayed: bool,
}

impl From<&Saved> for SavedView {
    fn from(saved: &Saved) -> Self {
        Self {
            event_id: saved.answer.event_id.clone(),
            event_type: saved.answer.event_type.clone(),
            entity_version: saved.answer.entity_version,
            recorded_at: saved.answer.recorded_at.clone(),
            replayed: saved.replayed,
        }
    }
}

/// A category's figures in a request: numbers, or text holding one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VacancyBody {
    #[serde(default)]
    vacant: Option<serde_json::Value>,
    #[serde(default)]
    unavailable: Option<serde_json::Value>,
    #[serde(default)]
    accepting_admissions: Option<serde_json::Value>,
    #[serde(default)]
    reserved: Option<serde_json::Value>,
    #[serde(default)]
    sex: Option<String>,
}

/// `PUT …/vacancies`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportBody {
    #[serde(default)]
    maximum_capacity: Option<serde_json::Value>,
    #[serde(default)]
    occupied: Option<serde_json::Value>,
    vacancies: BTreeMap<String, VacancyBody>,
    #[serde(default)]
    closed_to_admissions: bool,
    #[serde(default)]
    closure_reason: Option<String>,
    #[serde(default)]
    closure_detail: Option<String>,
    #[serde(default = "yes")]
    accepting_hospital_discharges: bool,
    #[serde(default)]
    note: Option<String>,
}

fn yes() -> bool {
    true
}

fn as_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl ReportBody {
    /// Whether it uses the Capacity Tracker's fields (any of them); else it
    /// is read in the older shape (`vacant`, `unavailable`).
    fn is_national(&self) -> bool {
        self.maximum_capacity.is_some()
            || self.occupied.is_some()
            || self
                .vacancies
                .values()
                .any(|v| v.accepting_admissions.is_some() || v.reserved.is_some())
    }

    /// The update it asks for.
    fn into_update(self) -> Update {
        let national = self.is_national();
        let text = |v: &Option<serde_json::Value>| v.as_ref().map(as_text).unwrap_or_default();
        let figures = self
            .vacancies
            .iter()
            .map(|(category, v)| {
                (
                    category.clone(),
                    CategoryFigures {
                        accepting: text(&v.accepting_admissions),
                        reserved: text(&v.reserved),
                    },
                )
            })
            .collect();
        let (maximum_capacity, occupied) = (text(&self.maximum_capacity), text(&self.occupied));
        let rest = ReportInput {
            vacancies: self
                .vacancies
                .into_iter()
                .map(|(category, v)| {
                    (
                        category,
                        VacancyInput {
                            vacant: text(&v.vacant),
                            unavailable: text(&v.unavailable),
                            sex: v.sex.unwrap_or_default(),
                        },
                    )
                })
                .collect(),
            closed_to_admissions: self.closed_to_admissions,
            closure_reason: self.closure_reason.unwrap_or_default(),
            closure_detail: self.closure_detail.unwrap_or_default(),
            accepting_hospital_discharges: self.accepting_hospital_discharges,
            note: self.note.unwrap_or_default(),
        };
        if national {
            Update::CapacityTracker(CapacityTrackerInput {
                maximum_capacity,
                occupied,
                figures,
                rest,
            })
        } else {
            Update::Report(rest)
        }
    }
}

fn home_id(cqc: &str) -> Result<CqcLocationId, ApiError> {
    CqcLocationId::parse(cqc).map_err(|_| {
        ApiError::NotSaved(NotSaved::UnknownHome(
            "named in the address (a CQC location id is `1-` and digits)".to_owned(),
        ))
    })
}

fn idempotency_key(headers: &HeaderMap) -> Result<IdempotencyKey, ApiError> {
    let value = headers
        .get("idempotency-key")
        .ok_or_else(|| {
            ApiError::Malformed(
                "an Idempotency-Key header is required (a new UUID for each new update)".into(),
            )
        })?
        .to_str()
        .map_err(|_| ApiError::Malformed("the Idempotency-Key header is not text".into()))?;
    IdempotencyKey::parse(value).map_err(|e| ApiError::Malformed(e.to_string()))
}

fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<ReportBody, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !json {
        return Err(ApiError::Malformed(
            "send the report as JSON with Content-Type: application/json".into(),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::Malformed(format!("the request body is not a valid report: {e}")))
}

/// Checks the write budget of the caller.
pub fn within_write_limit(
    state: &AppState,
    principal: &pf_access::Principal,
) -> Result<(), NotSaved> {
    state
        .limits
        .write(&principal.id)
        .map_err(|wait| NotSaved::TooMany(wait.as_secs().max(1)))
}

/// Why a caller who may update no care home is refused the list of homes.
pub const NOT_REGISTERED: &str = "You are not registered with any care home on Patient Flow. \
                                  Ask your local authority's Patient Flow administrator for a sign-in link.";

/// `GET /api/v1/care-homes`: the homes the caller may update, with their
/// current figures; 403 for a caller who may update none.
pub async fn list(State(state): State<AppState>, caller: Caller) -> Response {
    let principal = match caller.principal() {
        Ok(p) => p.clone(),
        Err(refusal) => {
            let err = ApiError::from(refusal);
            let err = err
                .audit(&state, &caller, "care_home.list", "care-homes")
                .await;
            return err.into_response();
        }
    };
    let mine = state.homes_of(&principal);
    if mine.is_empty() {
        // An empty list would read as "your homes are not registered yet".
        let err = ApiError::from(NotSaved::Forbidden(NOT_REGISTERED.to_owned()));
        let err = err
            .audit(&state, &caller, "care_home.list", "care-homes")
            .await;
        return err.into_response();
    }
    let now = OffsetDateTime::now_utc();
    let mut homes = Vec::new();
    for cqc in mine {
        match state.log.current(&cqc).await {
            Ok(Some(current)) => {
                let stale = state.is_stale(&current.record, now);
                homes.push(HomeView::of(&current.record, current.version, stale));
            }
            Ok(None) => {}
            Err(err) => return ApiError::from(NotSaved::from(err)).into_response(),
        }
    }
    Json(serde_json::json!({ "homes": homes })).into_response()
}

/// `GET /api/v1/care-homes/capacity-tracker.csv`: the caller's homes in
/// the national Capacity Tracker's shape (one row per home and category).
pub async fn capacity_tracker_csv(State(state): State<AppState>, caller: Caller) -> Response {
    let principal = match caller.principal() {
        Ok(p) => p.clone(),
        Err(refusal) => {
            let err = ApiError::from(refusal);
            let err = err
                .audit(&state, &caller, "care_home.export", "care-homes")
                .await;
            return err.into_response();
        }
    };
    let mine = state.homes_of(&principal);
    if mine.is_empty() {
        let err = ApiError::from(NotSaved::Forbidden(NOT_REGISTERED.to_owned()));
        let err = err
            .audit(&state, &caller, "care_home.export", "care-homes")
            .await;
        return err.into_response();
    }
    let mut text = pf_care_home_model::capacity_tracker::csv::header();
    for cqc in mine {
        match state.log.current(&cqc).await {
            Ok(Some(current)) => {
                text.push_str(&pf_care_home_model::capacity_tracker::csv::rows(
                    &current.record,
                ));
            }
            Ok(None) => {}
            Err(err) => return ApiError::from(NotSaved::from(err)).into_response(),
        }
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"capacity-tracker.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response()
}

/// `GET /api/v1/care-homes/{cqc}`.
pub async fn home(
    State(state): State<AppState>,
    caller: Caller,
    Path(cqc): Path<String>,
) -> Response {
    let result = async {
        let principal = caller.principal()?;
        let cqc = home_id(&cqc)?;
        principal
            .permits(&pf_access::Action::ChangeCareHome { cqc: cqc.clone() })
            .require()
            .map_err(|r| NotSaved::Forbidden(r.reason))?;
        let current = state
            .log
            .current(&cqc)
            .await
            .map_err(NotSaved::from)?
            .ok_or_else(|| NotSaved::UnknownHome(cqc.to_string()))?;
        let stale = state.is_stale(&current.record, OffsetDateTime::now_utc());
        Ok::<_, ApiError>(HomeView::of(&current.record, current.version, stale))
    }
    .await;
    match result {
        Ok(view) => Json(view).into_response(),
        Err(err) => {
            let err = err
                .audit(&state, &caller, "care_home.read", &entity(&cqc))
                .await;
            err.into_response()
        }
    }
}

/// `PUT /api/v1/care-homes/{cqc}/vacancies`.
pub async fn put_vacancies(
    State(state): State<AppState>,
    caller: Caller,
    Path(cqc): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let update = json_body(&headers, &body).map(ReportBody::into_update);
    write(
        state,
        caller,
        cqc,
        headers,
        update,
        "care_home.report_vacancies",
    )
    .await
}

/// `POST /api/v1/care-homes/{cqc}/confirmation`.
pub async fn post_confirmation(
    State(state): State<AppState>,
    caller: Caller,
    Path(cqc): Path<String>,
    headers: HeaderMap,
) -> Response {
    write(
        state,
        caller,
        cqc,
        headers,
        Ok(Update::Unchanged),
        "care_home.confirm_unchanged",
    )
    .await
}

async fn write(
    state: AppState,
    caller: Caller,
    cqc: String,
    headers: HeaderMap,
    update: Result<Update, ApiError>,
    action: &str,
) -> Response {
    let result = async {
        let principal = caller.principal()?;
        within_write_limit(&state, principal)?;
        let home = home_id(&cqc)?;
        let key = idempotency_key(&headers)?;
        let update = update?;
        state.attempt(&caller, action, &entity(&cqc)).await?;
        Ok::<_, ApiError>(
            submission::save(&state.log, &state.keys, principal, &home, &key, &update).await?,
        )
    }
    .await;
    match result {
        Ok(saved) => {
            state
                .record_saved(&caller, action, &entity(&cqc), &saved, "api")
                .await;
            let stale = saved
                .record
                .as_ref()
                .map(|r| state.is_stale(r, OffsetDateTime::now_utc()))
                .unwrap_or(false);
            let home = saved
                .record
                .as_ref()
                .map(|r| HomeView::of(r, saved.answer.entity_version, stale));
            let body = serde_json::json!({ "saved": SavedView::from(&saved), "home": home });
            (StatusCode::OK, Json(body)).into_response()
        }
        Err(err) => {
            let err = err.audit(&state, &caller, action, &entity(&cqc)).await;
            err.into_response()
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclineBody {
    #[serde(default)]
    reason: Option<String>,
}

/// The answer of a home to a hold: `accept` or `decline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldAnswer {
    /// Take the patient.
    Accept,
    /// Do not take the patient.
    Decline,
}

/// Answers hold `hold_id` at home `cqc` for the caller (who must answer
/// holds of the home), once the attempt at `action` is in the audit trail;
/// returns the stored event's id.
pub async fn answer_hold(
    state: &AppState,
    caller: &Caller,
    action: &str,
    cqc: &str,
    hold_id: &str,
    answer: HoldAnswer,
    reason: &str,
) -> Result<String, ApiError> {
    let principal = caller.principal()?;
    within_write_limit(state, principal)?;
    let home = home_id(cqc)?;
    principal
        .permits(&pf_access::Action::AnswerHolds { cqc: home.clone() })
        .require()
        .map_err(|r| NotSaved::Forbidden(r.reason))?;
    let reason = reason.trim();
    if reason.chars().count() > 200 {
        return Err(ApiError::Malformed(
            "the reason must be 200 characters or fewer".into(),
        ));
    }
    state.attempt(caller, action, &entity(cqc)).await?;
    let result = match answer {
        HoldAnswer::Accept => {
            pf_care_home_log::holds::accept(&state.log, &home, hold_id, principal).await
        }
        HoldAnswer::Decline => {
            pf_care_home_log::holds::decline(&state.log, &home, hold_id, reason, principal).await
        }
    };
    match result {
        Ok((_, event_id)) => Ok(event_id),
        Err(pf_care_home_log::HoldError::UnknownHold(name)) => {
            Err(ApiError::NotSaved(NotSaved::UnknownHome(format!(
                "hold at {name} (it may have been released or expired)"
            ))))
        }
        Err(pf_care_home_log::HoldError::AlreadyAccepted) => {
            Err(ApiError::Malformed("the hold was already accepted".into()))
        }
        Err(pf_care_home_log::HoldError::UnknownHome(h)) => {
            Err(ApiError::NotSaved(NotSaved::UnknownHome(h)))
        }
        Err(other) => Err(ApiError::NotSaved(NotSaved::Unavailable(other.to_string()))),
    }
}

/// `POST /api/v1/care-homes/{cqc}/holds/{hold_id}/accept` and `…/decline`.
pub async fn post_hold_answer(
    State(state): State<AppState>,
    caller: Caller,
    Path((cqc, hold_id, verb)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let action = match verb.as_str() {
        "accept" => "care_home.accept_hold",
        "decline" => "care_home.decline_hold",
        // Said in JSON like every other refusal of the API.
        _ => {
            return ErrorBody::<String> {
                error: format!("`{verb}` is not an answer to a hold: use accept or decline"),
                problems: Vec::new(),
            }
            .answer(StatusCode::NOT_FOUND, None);
        }
    };
    let result = async {
        let answer = if verb == "accept" {
            HoldAnswer::Accept
        } else {
            HoldAnswer::Decline
        };
        let reason = if body.iter().all(u8::is_ascii_whitespace) {
            String::new()
        } else {
            let is_json = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            if !is_json {
                return Err(ApiError::Malformed(
                    "send JSON with Content-Type: application/json".into(),
                ));
            }
            let body: DeclineBody = serde_json::from_slice(&body)
                .map_err(|e| ApiError::Malformed(format!("the request body is not valid: {e}")))?;
            body.reason.unwrap_or_default()
        };
        answer_hold(&state, &caller, action, &cqc, &hold_id, answer, &reason).await
    }
    .await;
    match result {
        Ok(event_id) => {
            state
                .audit_accepted(&caller, action, &entity(&cqc), &event_id)
                .await;
            Json(serde_json::json!({ "hold_id": hold_id, "answer": verb, "event_id": event_id }))
                .into_response()
        }
        Err(err) => {
            let err = err.audit(&state, &caller, action, &entity(&cqc)).await;
            err.into_response()
        }
    }
}
