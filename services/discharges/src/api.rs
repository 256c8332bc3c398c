//! The discharge API (JSON, bearer token or session):
//!
//! - `POST /api/v1/discharges`: a patient is ready for discharge.
//! - `GET /api/v1/discharges`: the caller's organisations' waiting patients
//!   (NHS numbers masked).
//! - `GET /api/v1/discharges/{id}`: one patient, opened (NHS number shown;
//!   every opening is audited).
//! - `POST /api/v1/discharges/{id}/delay-reason`, `…/search`, `…/cancel`,
//!   `…/discharge`.
//! - `GET /api/v1/discharges/{id}/matches`: care homes whose live figures fit.
//! - `POST /api/v1/discharges/{id}/holds`, `…/holds/{hold_id}/release`.
//! - `POST /api/v1/discharges/pas/discharged`, `…/pas/discharge-cancelled`:
//!   a trust's PAS (through the ADT feed, a machine identity with the
//!   `bed_publisher` grant of that trust) records a discharge of, or
//!   cancels it for, the patient with an NHS number on that trust's list;
//!   the feed can do nothing else with the list.
//!
//! Refusals are `{"error": "…"}` (with `problems` for a referral's rule
//! breaks): 400 unreadable, 401, 403 another organisation's patient, 404,
//! 409 no bed free any more or the patient no longer waits, 422 rules, 503.
//! `services/discharges/openapi.json` documents every operation and answer
//! (served at `/api/v1/openapi.json`; the platform test `openapi` holds the
//! two together).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pf_access::{Action, OdsCode, Principal, Role};
use pf_care_home_log::HoldError;
use pf_care_home_model::{
    CareCategory, CareHomeRecord, CqcLocationId, FieldProblem, Hold, SexAccepted,
};
use pf_discharge_model::{
    DelayReason, Destination, DischargeRecord, DischargeStatus, ReferralInput,
};
use pf_event_log::{ChangeError, ContentionLimit, Decision};
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{
    DelayReasonChanged, DischargeCancelled, PatientDischarged, PatientReadyForDischarge,
    SearchStarted,
};
use pf_sign_in::{AuthError, Caller, NotSignedIn};
use pf_web::ErrorBody;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::discharge_log::{CurrentDischarge, entity_id};
use crate::state::AppState;

/// A refused or failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request could not be read.
    #[error("{0}")]
    Malformed(String),
    /// Not signed in.
    #[error(transparent)]
    Unauthenticated(AuthError),
    /// Not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// The change does not fit the current state.
    #[error("{0}")]
    Conflict(String),
    /// A value breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// A referral breaks rules.
    #[error("the referral breaks the rules below and was not saved")]
    Problems(Vec<FieldProblem>),
    /// Too many requests.
    #[error("too many requests; try again in {0} seconds")]
    TooMany(u64),
    /// The patient's identifiable details were deleted after the retention period.
    #[error("{0}")]
    Gone(String),
    /// Could not be confirmed.
    #[error("the change could not be confirmed as saved; please try again ({0})")]
    Unavailable(String),
    /// The audit trail could not record the attempt, so nothing was done.
    #[error(transparent)]
    NotAudited(#[from] pf_audit::AuditUnavailable),
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

impl From<HoldError> for ApiError {
    fn from(err: HoldError) -> Self {
        let text = err.to_string();
        match err {
            HoldError::UnknownHome(_) | HoldError::UnknownHold(_) => ApiError::NotFound(text),
            HoldError::Closed(_)
            | HoldError::NotAccepting(_)
            | HoldError::NotOffered { .. }
            | HoldError::WrongSex { .. } => ApiError::Invalid(text),
            HoldError::NoLongerAvailable { .. }
            | HoldError::AlreadyAccepted
            | HoldError::NotExpired
            | HoldError::Contended(_) => ApiError::Conflict(text),
            HoldError::Unavailable(_) => ApiError::Unavailable(text),
        }
    }
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Invalid(_) | ApiError::Problems(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::NotAudited(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            ApiError::Malformed(_) => "malformed",
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Gone(_) => "gone",
            ApiError::Conflict(_) => "conflict",
            ApiError::Invalid(_) | ApiError::Problems(_) => "invalid",
            ApiError::TooMany(_) => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::NotAudited(_) => "audit_unavailable",
        }
    }

    fn reason(&self) -> String {
        match self {
            ApiError::Problems(problems) => problems
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
            ApiError::TooMany(seconds) => Some(seconds),
            _ => None,
        };
        let error = self.to_string();
        let problems = match self {
            ApiError::Problems(problems) => problems,
            _ => Vec::new(),
        };
        ErrorBody { error, problems }.answer(status, retry_after)
    }
}

/// A bed held for a patient, as a coordinator sees it.
#[derive(Debug, Clone, Serialize)]
pub struct HoldView {
    /// Hold id.
    pub hold_id: String,
    /// The home.
    pub cqc_location_id: String,
    /// Its name.
    pub home_name: String,
    /// The category held.
    pub category: CareCategory,
    /// `requested` (waiting for the home) or `accepted`.
    pub state: pf_care_home_model::HoldState,
    /// When it was held.
    pub held_at: String,
    /// When it ends unless accepted.
    pub expires_at: String,
}

/// A patient on the list.
#[derive(Debug, Clone, Serialize)]
pub struct DischargeView {
    /// Discharge id.
    pub discharge_id: String,
    /// The NHS number, masked (`*** *** 5919`) unless the patient was opened.
    pub nhs_number: String,
    /// Male or female.
    pub sex: SexAccepted,
    /// Site and ward.
    pub site: String,
    /// Ward code.
    pub ward: String,
    /// The site's name.
    pub site_name: String,
    /// Discharge Ready Date.
    pub discharge_ready_date: String,
    /// Days waited since then.
    pub delay_days: i64,
    /// 0 to 3.
    pub pathway: u32,
    /// Care needed (pathways 2 and 3).
    pub care_needed: Option<CareCategory>,
    /// Where the search centres.
    pub search_postcode: String,
    /// Why the patient still waits.
    pub delay_reason: DelayReason,
    /// Its words.
    pub delay_reason_label: &'static str,
    /// Where the discharge stands.
    pub status: DischargeStatus,
    /// Care needs in a few words.
    pub needs: String,
    /// The bed held, if any.
    pub hold: Option<HoldView>,
    /// What to do next, in words.
    pub next_action: &'static str,
    /// Where the patient went.
    pub destination: Option<Destination>,
    /// The organisation managing the patient.
    pub managed_by: String,
}

fn next_action(record: &DischargeRecord, hold: Option<&Hold>) -> &'static str {
    match (record.status, hold.map(|h| h.state)) {
        (DischargeStatus::Discharged | DischargeStatus::Cancelled, _) => "None",
        (_, Some(pf_care_home_model::HoldState::Accepted)) => "Confirm the discharge",
        (_, Some(pf_care_home_model::HoldState::Requested)) => "Wait for the home's answer",
        _ if record.pathway.needs_a_bed() => "Find and hold a bed",
        _ => "Arrange the discharge",
    }
}

/// The bed held for discharge `discharge_id`, and its home.
fn held_bed<'a>(
    homes: &'a [CareHomeRecord],
    discharge_id: &str,
) -> Option<(&'a CareHomeRecord, &'a Hold)> {
    homes.iter().find_map(|home| {
        home.holds
            .iter()
            .find(|h| h.discharge_id == discharge_id)
            .map(|h| (home, h))
    })
}

/// The view of a discharge; `opened` shows the NHS number.
pub fn view(
    state: &AppState,
    record: &DischargeRecord,
    homes: &[CareHomeRecord],
    opened: bool,
    today: time::Date,
) -> DischargeView {
    let held = held_bed(homes, &record.discharge_id);
    let site_name = pf_hospital_model::SiteCode::parse(&record.site)
        .ok()
        .and_then(|code| state.catalogue.site(&code).map(|(_, s)| s.name.clone()))
        .unwrap_or_else(|| record.site.clone());
    DischargeView {
        discharge_id: record.discharge_id.clone(),
        nhs_number: record
            .nhs_number
            .as_ref()
            .map(|n| if opened { n.spaced() } else { n.masked() })
            .unwrap_or_default(),
        sex: record.sex,
        site: record.site.clone(),
        ward: record.ward.clone(),
        site_name,
        discharge_ready_date: pf_discharge_model::record::format_date(record.discharge_ready_date),
        delay_days: record.delay_days(today),
        pathway: record.pathway.number(),
        care_needed: record.care_needed,
        search_postcode: record.search_postcode.clone(),
        delay_reason: record.delay_reason,
        delay_reason_label: record.delay_reason.label(),
        status: record.status,
        needs: record.needs.clone(),
        hold: held.map(|(home, h)| HoldView {
            hold_id: h.hold_id.clone(),
            cqc_location_id: home.cqc().to_string(),
            home_name: home.registration.name.clone(),
            category: h.category,
            state: h.state,
            held_at: h.held_at.format(&Rfc3339).unwrap_or_default(),
            expires_at: h.expires_at.format(&Rfc3339).unwrap_or_default(),
        }),
        next_action: next_action(record, held.map(|(_, h)| h)),
        destination: record.destination,
        managed_by: record.managed_by.clone(),
    }
}

fn text(value: &Option<serde_json::Value>) -> String {
    match value {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// `POST /api/v1/discharges`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReferralBody {
    nhs_number: Option<serde_json::Value>,
    sex: Option<serde_json::Value>,
    site: Option<serde_json::Value>,
    ward: Option<serde_json::Value>,
    discharge_ready_date: Option<serde_json::Value>,
    pathway: Option<serde_json::Value>,
    care_needed: Option<serde_json::Value>,
    search_postcode: Option<serde_json::Value>,
    funding: Option<serde_json::Value>,
    preferred_home: Option<serde_json::Value>,
    delay_reason: Option<serde_json::Value>,
    needs: Option<serde_json::Value>,
}

fn json<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !is_json {
        return Err(ApiError::Malformed(
            "send JSON with Content-Type: application/json".into(),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::Malformed(format!("the request body is not valid: {e}")))
}

/// Why someone who coordinates no organisation's discharges is refused the
/// discharge list (the API and the pages say the same).
pub const NOT_A_COORDINATOR: &str = "The discharge list is for discharge coordinators. Ask your \
                                     organisation's Patient Flow administrator if you need it.";

/// Refuses a caller who may manage no organisation's patients: an empty
/// list would wrongly say "nobody is waiting".
pub fn coordinates_any(principal: &Principal) -> Result<(), ApiError> {
    let manages_any = principal
        .ods_organisations(Role::DischargeCoordinator)
        .any(|ods| {
            principal
                .permits(&Action::ManagePatients { ods: ods.clone() })
                .is_allowed()
        });
    if manages_any {
        Ok(())
    } else {
        Err(ApiError::Forbidden(NOT_A_COORDINATOR.to_owned()))
    }
}

fn may_manage(principal: &Principal, organisation: &str) -> Result<(), ApiError> {
    let ods = OdsCode::parse(organisation)
        .map_err(|_| ApiError::Forbidden("this patient belongs to no organisation".into()))?;
    principal
        .permits(&Action::ManagePatients { ods })
        .require()
        .map(|_| ())
        .map_err(|r| ApiError::Forbidden(r.reason))
}

fn within_limit(state: &AppState, principal: &Principal) -> Result<(), ApiError> {
    state
        .limits
        .write(&principal.id)
        .map_err(|wait| ApiError::TooMany(wait.as_secs().max(1)))
}

async fn answer<T: Serialize>(
    state: &AppState,
    caller: &Caller,
    action: &str,
    entity: &str,
    result: Result<(StatusCode, T, Option<String>), ApiError>,
) -> Response {
    match result {
        Ok((status, body, event_id)) => {
            if status != StatusCode::OK || event_id.is_some() {
                state
                    .audit_accepted(caller, action, entity, event_id.as_deref())
                    .await;
            }
            (status, Json(body)).into_response()
        }
        Err(err) => {
            match state
                .audit_refused(caller, action, entity, err.label(), &err.reason())
                .await
            {
                Ok(()) => err.into_response(),
                // Refused too often: 429, and the refusal is counted in
                // an aggregate record instead of one of its own.
                Err(wait) => ApiError::TooMany(wait.as_secs().max(1)).into_response(),
            }
        }
    }
}

/// Today's date in the UK (Europe/London): from 23:00 UTC in summer it is
/// already tomorrow, and the wall counts the same day.
fn today(state: &AppState) -> time::Date {
    pf_live_state::discharge_counts::uk_date(state.clock.now())
}

/// `POST /api/v1/discharges`.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let discharge_id = uuid::Uuid::now_v7().to_string();
    let result = async {
        let principal = caller.principal()?;
        within_limit(&state, principal)?;
        let body: ReferralBody = json(&headers, &body)?;
        let site = text(&body.site);
        let trust = pf_hospital_model::SiteCode::parse(site.trim())
            .ok()
            .and_then(|code| state.catalogue.site(&code).map(|(t, _)| t.code.clone()))
            .ok_or_else(|| {
                ApiError::Problems(vec![FieldProblem {
                    field: "site".into(),
                    message: format!("Select a hospital site of {}", state.config.region.ics.name),
                }])
            })?;
        may_manage(principal, &trust)?;
        state
            .attempt(&caller, "discharge.ready", &entity_id(&discharge_id))
            .await?;
        let input = ReferralInput {
            nhs_number: text(&body.nhs_number),
            sex: text(&body.sex),
            ward: text(&body.ward),
            discharge_ready_date: text(&body.discharge_ready_date),
            pathway: text(&body.pathway),
            care_needed: text(&body.care_needed),
            search_postcode: text(&body.search_postcode),
            funding: text(&body.funding),
            preferred_home: text(&body.preferred_home),
            delay_reason: text(&body.delay_reason),
            needs: text(&body.needs),
        };
        let record = input
            .check(
                discharge_id.clone(),
                &trust,
                site.trim(),
                &trust,
                today(&state),
                &state.config.region,
            )
            .map_err(|p| ApiError::Problems(p.problems))?;
        let payload = Payload::PatientReadyForDischarge(PatientReadyForDischarge {
            discharge: Some(record.to_proto()),
        });
        let event = state
            .discharges
            .change(
                &discharge_id,
                ContentionLimit::Attempts(1),
                state.clock.now(),
                |current| {
                    if current.is_some() {
                        // A fresh UUIDv7 is never in use; refuse rather than
                        // overwrite another patient's record.
                        return Err(ApiError::Unavailable(
                            "a discharge with this id already exists".into(),
                        ));
                    }
                    Ok(Decision::Publish {
                        event: state.discharges.next_event(
                            None,
                            &trust,
                            &discharge_id,
                            principal,
                            payload.clone(),
                        ),
                        outcome: (),
                    })
                },
            )
            .await
            .map_err(|err| match err {
                ChangeError::Refused(refused) => refused,
                ChangeError::Contended { subject } => {
                    ApiError::Unavailable(format!("{subject} changed while it was being created"))
                }
                ChangeError::Unavailable(cause) | ChangeError::Rejected(cause) => {
                    ApiError::Unavailable(cause)
                }
            })?
            .stored
            .ok_or_else(|| ApiError::Unavailable("the referral was not stored".into()))?
            .event;
        state.changes.with_label_values(&[&event.event_type]).inc();
        let view = view(&state, &record, &[], true, today(&state));
        Ok((StatusCode::CREATED, view, Some(event.event_id)))
    }
    .await;
    answer(
        &state,
        &caller,
        "discharge.ready",
        &entity_id(&discharge_id),
        result,
    )
    .await
}

/// `GET /api/v1/discharges`.
pub async fn list(State(state): State<AppState>, caller: Caller) -> Response {
    let result = async {
        let principal = caller.principal()?.clone();
        coordinates_any(&principal)?;
        let discharges = state
            .live
            .clone()
            .all_discharges()
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let discharges = state
            .discharges
            .open_all(discharges)
            .await
            .map_err(ApiError::Unavailable)?;
        let homes = care_homes(&state).await?;
        let today = today(&state);
        let mut patients: Vec<DischargeView> = discharges
            .iter()
            .filter(|d| d.status.is_waiting() && may_manage(&principal, &d.managed_by).is_ok())
            .map(|d| view(&state, d, &homes, false, today))
            .collect();
        patients.sort_by_key(|p| std::cmp::Reverse(p.delay_days));
        Ok((
            StatusCode::OK,
            serde_json::json!({ "patients": patients }),
            None,
        ))
    }
    .await;
    answer(&state, &caller, "discharge.list", "discharges", result).await
}

/// The audit trail's actions of the changes to a patient on the list.
const HOLD: &str = "care_home.hold_bed";
const RELEASE: &str = "care_home.release_hold";
const DELAY_REASON: &str = "discharge.delay_reason";
const DISCHARGED: &str = "discharge.discharged";
const CANCELLED: &str = "discharge.cancelled";
/// The audit trail's action of opening a patient (NHS number shown).
const OPEN: &str = "discharge.open";

/// Why a discharge cannot be found.
const NOT_ON_THE_LIST: &str = "no such patient on the discharge list";

/// The discharge as stored now.
async fn stored(state: &AppState, id: &str) -> Result<CurrentDischarge, ApiError> {
    state
        .discharges
        .current(id)
        .await
        .map_err(ApiError::Unavailable)?
        .ok_or_else(|| ApiError::NotFound(NOT_ON_THE_LIST.into()))
}

/// Why a patient past the retention period cannot be opened.
const SHREDDED: &str = "this patient left the list longer ago than the retention period, so their identifiable details were deleted; the counts they were part of remain";

/// Loads a discharge the caller may manage.
async fn managed(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(Principal, CurrentDischarge), ApiError> {
    let principal = caller.principal()?.clone();
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(ApiError::NotFound(NOT_ON_THE_LIST.into()));
    }
    let current = stored(state, id).await?;
    may_manage(&principal, &current.record.managed_by)?;
    if current.record.nhs_number.is_none() {
        // The patient's key was destroyed after the retention period.
        return Err(ApiError::Gone(SHREDDED.into()));
    }
    Ok((principal, current))
}

/// Loads a discharge the caller may manage, for a change within their write
/// budget, once the attempt at `action` is in the audit trail: every change
/// goes through here, so none is made that could not be audited.
async fn managed_change(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: &str,
) -> Result<(Principal, CurrentDischarge), ApiError> {
    let (principal, current) = managed(state, caller, id).await?;
    within_limit(state, &principal)?;
    state.attempt(caller, action, &entity_id(id)).await?;
    Ok((principal, current))
}

/// Refuses a change to a patient who no longer waits for discharge.
fn still_waiting(record: &DischargeRecord) -> Result<(), ApiError> {
    if record.status.is_waiting() {
        Ok(())
    } else {
        Err(ApiError::Conflict(
            "the patient no longer waits for discharge".into(),
        ))
    }
}

/// Every care home's live record.
async fn care_homes(state: &AppState) -> Result<Vec<CareHomeRecord>, ApiError> {
    state
        .live
        .clone()
        .all_care_homes()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))
}

/// `GET /api/v1/discharges/{id}`: the patient opened (audited).
pub async fn open(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let (_, current) = managed(&state, &caller, &id).await?;
        let homes = care_homes(&state).await?;
        let view = view(&state, &current.record, &homes, true, today(&state));
        Ok((StatusCode::OK, view, None))
    }
    .await;
    // Every opening of a patient (NHS number shown) is in the audit trail
    // before the patient is shown, once per person and patient in a window
    // (the page's live re-reads are not new openings). When it cannot be
    // recorded the patient is not shown (503).
    let who = caller.principal().map(|p| p.id.clone()).unwrap_or_default();
    let result = match result {
        Ok(opened)
            if state
                .recent_opens
                .must_record(&who, &id, std::time::Instant::now()) =>
        {
            match state.audit_read(&caller, OPEN, &entity_id(&id)).await {
                Ok(()) => Ok(opened),
                Err(err) => {
                    state.recent_opens.forget(&who, &id);
                    Err(ApiError::from(err))
                }
            }
        }
        other => other,
    };
    answer(&state, &caller, OPEN, &entity_id(&id), result).await
}

/// One care home that fits a patient.
#[derive(Debug, Serialize)]
pub struct MatchView {
    /// CQC location id.
    pub cqc_location_id: String,
    /// Name.
    pub name: String,
    /// Postcode.
    pub postcode: String,
    /// Local authority area (its name in the region).
    pub locality: String,
    /// Distance from the search place, km, one decimal.
    pub distance_km: f64,
    /// Beds of the category free to hold now.
    pub free_beds: u32,
    /// Whom they take.
    pub sex: SexAccepted,
    /// When the figures were given (RFC 3339).
    pub updated_at: Option<String>,
    /// Hours since then.
    pub age_hours: Option<i64>,
    /// Older than the staleness threshold.
    pub stale: bool,
    /// The patient's preferred home.
    pub preferred: bool,
    /// The home's note.
    pub note: String,
    /// The home's telephone number, spaced for reading (`0116 496 0123`),
    /// if the register has one.
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct MatchQuery {
    radius_km: Option<f64>,
}

/// `GET /api/v1/discharges/{id}/matches`.
pub async fn matches(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<MatchQuery>, QueryRejection>,
) -> Response {
    let result = async {
        let (principal, current) = managed(&state, &caller, &id).await?;
        // An unreadable query is the caller's mistake, said in JSON like
        // every other refusal (not the framework's plain-text 400).
        let radius_km = match query {
            Ok(Query(MatchQuery { radius_km })) if radius_km.is_none_or(f64::is_finite) => {
                radius_km
            }
            _ => {
                return Err(ApiError::Malformed(
                    "radius_km must be a number of kilometres, e.g. radius_km=25".into(),
                ));
            }
        };
        principal
            .permits(&Action::SearchVacancies)
            .require()
            .map_err(|r| ApiError::Forbidden(r.reason))?;
        let record = &current.record;
        let category = record.care_needed.ok_or_else(|| {
            ApiError::Invalid("say what care the patient needs before searching".into())
        })?;
        let place = record.place.ok_or_else(|| {
            ApiError::Invalid("give a postcode to search from before searching".into())
        })?;
        let radius = radius_km
            .unwrap_or(state.config.search_radius_km)
            .clamp(1.0, 200.0);
        let homes = matching_homes(&state, record, category, place, radius).await?;
        Ok((
            StatusCode::OK,
            serde_json::json!({ "radius_km": radius, "homes": homes }),
            None,
        ))
    }
    .await;
    answer(&state, &caller, "discharge.search", &entity_id(&id), result).await
}

async fn matching_homes(
    state: &AppState,
    record: &DischargeRecord,
    category: CareCategory,
    place: pf_discharge_model::Place,
    radius_km: f64,
) -> Result<Vec<MatchView>, ApiError> {
    let mut live = state.live.clone();
    let near = live
        .care_homes_near(place.longitude, place.latitude, radius_km)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let distances: BTreeMap<String, f64> = near.iter().cloned().collect();
    let ids: Vec<String> = near.into_iter().map(|(id, _)| id).collect();
    let homes = live
        .care_homes(&ids)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let now = state.clock.now();
    let mut out: Vec<MatchView> = homes
        .iter()
        .filter(|home| {
            let vacancy = home.vacancy(category);
            home.registration.categories.contains(&category)
                && home.closure.is_none()
                && home.accepting_hospital_discharges
                && home.free_beds(category) > 0
                && (vacancy.sex == SexAccepted::Either || vacancy.sex == record.sex)
        })
        .map(|home| {
            let age = home.confirmed.as_ref().map(|c| (now - c.at).whole_hours());
            let stale = home
                .confirmed
                .as_ref()
                .is_none_or(|c| (now - c.at) > state.config.stale_after);
            MatchView {
                cqc_location_id: home.cqc().to_string(),
                name: home.registration.name.clone(),
                postcode: home.registration.postcode.clone(),
                locality: state
                    .config
                    .region
                    .locality_name(home.registration.locality.as_str())
                    .to_owned(),
                distance_km: (distances.get(home.cqc().as_str()).copied().unwrap_or(0.0) * 10.0)
                    .round()
                    / 10.0,
                free_beds: home.free_beds(category),
                sex: home.vacancy(category).sex,
                updated_at: home
                    .confirmed
                    .as_ref()
                    .and_then(|c| c.at.format(&Rfc3339).ok()),
                age_hours: age,
                stale,
                preferred: record.preferred_home.as_deref() == Some(home.cqc().as_str()),
                note: home.note.clone(),
                phone: home.registration.phone.as_ref().map(|p| p.spaced()),
            }
        })
        .collect();
    // Preferred first, then fresh figures before stale ones, then nearest.
    out.sort_by(|a, b| {
        b.preferred
            .cmp(&a.preferred)
            .then(a.stale.cmp(&b.stale))
            .then(a.distance_km.total_cmp(&b.distance_km))
    });
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldBody {
    cqc_location_id: String,
    #[serde(default)]
    category: Option<String>,
}

/// `POST /api/v1/discharges/{id}/holds`.
pub async fn hold(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let (principal, current) = managed_change(&state, &caller, &id, HOLD).await?;
        let body: HoldBody = json(&headers, &body)?;
        let record = &current.record;
        still_waiting(record)?;
        let cqc = CqcLocationId::parse(&body.cqc_location_id).map_err(|_| {
            ApiError::NotFound(format!(
                "`{}` is not a care home on the register",
                body.cqc_location_id
            ))
        })?;
        let category = match body.category.as_deref() {
            Some(word) => word
                .parse::<CareCategory>()
                .map_err(|e| ApiError::Invalid(e.to_string()))?,
            None => record.care_needed.ok_or_else(|| {
                ApiError::Invalid("say what care the patient needs before holding a bed".into())
            })?,
        };
        let homes = care_homes(&state).await?;
        if let Some((home, _)) = held_bed(&homes, &record.discharge_id) {
            return Err(ApiError::Conflict(format!(
                "a bed is already held for this patient at {}; release it first",
                home.registration.name
            )));
        }
        let request = pf_care_home_log::HoldRequest {
            discharge_id: record.discharge_id.clone(),
            category,
            sex: record.sex,
            pathway: record.pathway.number(),
            discharge_ready_date: pf_discharge_model::record::format_date(
                record.discharge_ready_date,
            ),
            needs: record.needs.clone(),
            lasts: state.config.hold_lasts,
        };
        let (hold, event_id) = pf_care_home_log::holds::hold_bed(
            &state.homes,
            &cqc,
            &request,
            &principal,
            &record.managed_by,
            state.clock.now(),
        )
        .await?;
        state
            .changes
            .with_label_values(&["care_home.bed_held"])
            .inc();
        if record.status == DischargeStatus::Ready {
            // The search has started: best effort, the hold stands either way.
            let started = state
                .discharges
                .change(
                    &record.discharge_id,
                    ContentionLimit::Attempts(CONFLICT_ATTEMPTS),
                    state.clock.now(),
                    |current| {
                        let Some(current) =
                            current.filter(|c| c.record.status == DischargeStatus::Ready)
                        else {
                            return Ok::<_, std::convert::Infallible>(Decision::Unchanged(()));
                        };
                        let mut next = current.record.clone();
                        next.status = DischargeStatus::Searching;
                        let payload = Payload::SearchStarted(SearchStarted {
                            discharge: Some(next.to_proto()),
                        });
                        Ok(Decision::Publish {
                            event: state.discharges.next_event(
                                Some(current),
                                &next.trust,
                                &next.discharge_id,
                                &principal,
                                payload,
                            ),
                            outcome: (),
                        })
                    },
                )
                .await;
            if let Err(err) = started {
                tracing::warn!(cause = %err, "search-started event not stored");
            }
        }
        Ok((
            StatusCode::CREATED,
            serde_json::json!({
                "hold_id": hold.hold_id,
                "cqc_location_id": cqc.to_string(),
                "category": hold.category,
                "state": hold.state,
                "expires_at": hold.expires_at.format(&Rfc3339).unwrap_or_default(),
                "event_id": event_id,
            }),
            Some(event_id.clone()),
        ))
    }
    .await;
    answer(&state, &caller, HOLD, &entity_id(&id), result).await
}

/// Finds the home holding `hold_id` for discharge `id`.
async fn home_of_hold(
    state: &AppState,
    id: &str,
    hold_id: &str,
) -> Result<CqcLocationId, ApiError> {
    let homes = care_homes(state).await?;
    homes
        .iter()
        .find(|h| {
            h.holds
                .iter()
                .any(|hold| hold.hold_id == hold_id && hold.discharge_id == id)
        })
        .map(|h| h.cqc().clone())
        .ok_or_else(|| {
            ApiError::NotFound("no such hold for this patient; it may have ended".into())
        })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
}

fn optional_json<T: serde::de::DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        json(headers, body)
    }
}

/// Why a coordinator's words for a home were refused.
pub const IDENTIFIER_FOR_THE_HOME: &str = "The reason is shared with the care home: leave out \
                                           NHS numbers, dates of birth and other identifiers";

/// Refuses free text a care home will read when it holds an NHS number, a
/// date or another identifier (the same guard as a referral's care needs).
fn shared_with_the_home(text: &str) -> Result<(), ApiError> {
    if pf_discharge_model::has_identifier(text) {
        Err(ApiError::Invalid(IDENTIFIER_FOR_THE_HOME.to_owned()))
    } else {
        Ok(())
    }
}

/// `POST /api/v1/discharges/{id}/holds/{hold_id}/release`.
pub async fn release(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, hold_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let (principal, _) = managed_change(&state, &caller, &id, RELEASE).await?;
        let body: ReasonBody = optional_json(&headers, &body)?;
        let reason = body.reason.unwrap_or_default();
        shared_with_the_home(&reason)?;
        let cqc = home_of_hold(&state, &id, &hold_id).await?;
        let (_, event_id) = pf_care_home_log::holds::release(
            &state.homes,
            &cqc,
            &hold_id,
            reason.trim(),
            &principal,
        )
        .await?;
        Ok((
            StatusCode::OK,
            serde_json::json!({ "released": hold_id, "event_id": event_id }),
            Some(event_id.clone()),
        ))
    }
    .await;
    answer(&state, &caller, RELEASE, &entity_id(&id), result).await
}

/// How many times a change of a patient's record is decided again when
/// another change got in first.
const CONFLICT_ATTEMPTS: usize = 5;

/// Publishes the discharge's next record, deciding again on a conflict, and
/// answers with the patient as the change left them.
async fn change_patient(
    state: &AppState,
    principal: &Principal,
    id: &str,
    mut decide: impl FnMut(&DischargeRecord) -> Result<(DischargeRecord, Payload), ApiError>,
) -> Result<(StatusCode, DischargeView, Option<String>), ApiError> {
    let changed = state
        .discharges
        .change(
            id,
            ContentionLimit::Attempts(CONFLICT_ATTEMPTS),
            state.clock.now(),
            |current| {
                let current = current.ok_or_else(|| ApiError::NotFound(NOT_ON_THE_LIST.into()))?;
                let (record, payload) = decide(&current.record)?;
                let event = state.discharges.next_event(
                    Some(current),
                    &record.trust,
                    id,
                    principal,
                    payload,
                );
                Ok(Decision::Publish {
                    event,
                    outcome: record,
                })
            },
        )
        .await
        .map_err(|err| match err {
            ChangeError::Refused(refused) => refused,
            ChangeError::Contended { .. } => {
                ApiError::Conflict("the patient's record kept changing; please try again".into())
            }
            ChangeError::Unavailable(cause) | ChangeError::Rejected(cause) => {
                ApiError::Unavailable(cause)
            }
        })?;
    let Some(stored) = changed.stored else {
        // Every change of a patient's record publishes an event.
        return Err(ApiError::Unavailable("the change was not stored".into()));
    };
    state
        .changes
        .with_label_values(&[&stored.event.event_type])
        .inc();
    let view = view(state, &changed.outcome, &[], false, today(state));
    Ok((StatusCode::OK, view, Some(stored.event.event_id)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DelayBody {
    delay_reason: String,
}

/// `POST /api/v1/discharges/{id}/delay-reason`.
pub async fn delay_reason(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result =
        async {
            let (principal, _) = managed_change(&state, &caller, &id, DELAY_REASON).await?;
            let body: DelayBody = json(&headers, &body)?;
            let reason: DelayReason = body.delay_reason.parse().map_err(
                |e: pf_discharge_model::words::UnknownWord| ApiError::Invalid(e.to_string()),
            )?;
            change_patient(&state, &principal, &id, |current| {
                still_waiting(current)?;
                let mut next = current.clone();
                next.delay_reason = reason;
                let payload = Payload::DelayReasonChanged(DelayReasonChanged {
                    discharge: Some(next.to_proto()),
                    previous_reason: current.delay_reason.as_str().to_owned(),
                });
                Ok((next, payload))
            })
            .await
        }
        .await;
    answer(&state, &caller, DELAY_REASON, &entity_id(&id), result).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DischargeBody {
    destination: String,
    #[serde(default)]
    destination_home: Option<String>,
}

/// `POST /api/v1/discharges/{id}/discharge`: the patient left hospital. To a
/// care home, it must be one that accepted a hold for the patient: its
/// vacancy is taken away by the same step.
pub async fn discharge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let (principal, current) = managed_change(&state, &caller, &id, DISCHARGED).await?;
        let body: DischargeBody = json(&headers, &body)?;
        let destination: Destination = body
            .destination
            .parse()
            .map_err(|e: pf_discharge_model::words::UnknownWord| ApiError::Invalid(e.to_string()))?;
        still_waiting(&current.record)?;
        let homes = care_homes(&state).await?;
        let held =
            held_bed(&homes, &id).map(|(home, hold)| (home.cqc().clone(), hold.clone()));
        let mut destination_home = None;
        if destination == Destination::CareHome {
            let Some((cqc, hold)) = held.clone() else {
                return Err(ApiError::Conflict(
                    "no care home has accepted this patient: hold a bed and wait for the home to accept".into(),
                ));
            };
            if body.destination_home.as_deref().is_some_and(|h| h != cqc.as_str()) {
                return Err(ApiError::Conflict(format!(
                    "the bed held for this patient is at {cqc}, not at the home given"
                )));
            }
            if hold.state != pf_care_home_model::HoldState::Accepted {
                return Err(ApiError::Conflict(
                    "the home has not accepted the patient yet".into(),
                ));
            }
            pf_care_home_log::holds::admit(&state.homes, &cqc, &hold.hold_id, &principal).await?;
            destination_home = Some(cqc.to_string());
        } else if let Some((cqc, hold)) = held {
            // Going elsewhere: the held bed is given back.
            pf_care_home_log::holds::release(
                &state.homes,
                &cqc,
                &hold.hold_id,
                "discharged elsewhere",
                &principal,
            )
            .await?;
        }
        let now = state.clock.now();
        change_patient(&state, &principal, &id, |current| {
            let mut next = current.clone();
            next.status = DischargeStatus::Discharged;
            next.destination = Some(destination);
            next.destination_home = destination_home.clone();
            next.discharged_at = Some(now);
            let payload = Payload::PatientDischarged(PatientDischarged {
                discharge: Some(next.to_proto()),
            });
            Ok((next, payload))
        })
        .await
    }
    .await;
    answer(&state, &caller, DISCHARGED, &entity_id(&id), result).await
}

/// `POST /api/v1/discharges/{id}/cancel`: the patient no longer waits (any
/// held bed is given back).
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let (principal, current) = managed_change(&state, &caller, &id, CANCELLED).await?;
        let body: ReasonBody = optional_json(&headers, &body)?;
        still_waiting(&current.record)?;
        let homes = care_homes(&state).await?;
        for home in &homes {
            for hold in home.holds.iter().filter(|h| h.discharge_id == id) {
                pf_care_home_log::holds::release(
                    &state.homes,
                    home.cqc(),
                    &hold.hold_id,
                    "patient no longer waiting",
                    &principal,
                )
                .await?;
            }
        }
        let reason = body.reason.unwrap_or_default();
        change_patient(&state, &principal, &id, |current| {
            let mut next = current.clone();
            next.status = DischargeStatus::Cancelled;
            next.cancel_reason = reason.trim().to_owned();
            let payload = Payload::DischargeCancelled(DischargeCancelled {
                discharge: Some(next.to_proto()),
            });
            Ok((next, payload))
        })
        .await
    }
    .await;
    answer(&state, &caller, CANCELLED, &entity_id(&id), result).await
}

/// Ends every hold that nobody accepted by its expiry time; returns how many.
pub async fn expire_holds(state: &AppState, now: OffsetDateTime) -> Result<usize, String> {
    let homes = state
        .live
        .clone()
        .all_care_homes()
        .await
        .map_err(|e| e.to_string())?;
    let keeper = Principal::machine("hold-expiry", "Hold expiry", None);
    let mut ended = 0;
    for home in &homes {
        for hold in home
            .holds
            .iter()
            .filter(|h| h.state == pf_care_home_model::HoldState::Requested && h.expires_at <= now)
        {
            match pf_care_home_log::holds::expire(
                &state.homes,
                home.cqc(),
                &hold.hold_id,
                now,
                &keeper,
            )
            .await
            {
                Ok(_) => {
                    ended += 1;
                    state
                        .changes
                        .with_label_values(&["care_home.hold_expired"])
                        .inc();
                }
                // Answered or released meanwhile: nothing to do.
                Err(
                    HoldError::UnknownHold(_) | HoldError::AlreadyAccepted | HoldError::NotExpired,
                ) => {}
                Err(err) => return Err(err.to_string()),
            }
        }
    }
    Ok(ended)
}

/// The audit trail's actions of what a trust's PAS said of a patient on the
/// list (through the ADT feed).
const PAS_DISCHARGED: &str = "discharge.pas_discharged";
const PAS_DISCHARGE_CANCELLED: &str = "discharge.pas_discharge_cancelled";

/// Why no patient was found for a PAS message (never naming the number).
const NOT_WAITING_HERE: &str =
    "no patient with this NHS number waits on this organisation's discharge list";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasDischargedBody {
    nhs_number: String,
    organisation: String,
    discharged_at: String,
    #[serde(default)]
    destination: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasCancelledBody {
    nhs_number: String,
    organisation: String,
}

/// What a PAS message did to the list: the discharge id and its status
/// (nothing else of the patient is answered).
#[derive(Debug, Serialize)]
struct PasAnswer {
    discharge_id: String,
    status: DischargeStatus,
}

/// Checks the caller may record `organisation`'s PAS discharges and reads
/// the NHS number (the answers never repeat it).
fn pas_caller(
    principal: &Principal,
    organisation: &str,
    nhs_number: &str,
) -> Result<(OdsCode, pf_discharge_model::NhsNumber), ApiError> {
    let ods = OdsCode::parse(organisation.trim())
        .map_err(|_| ApiError::Invalid("`organisation` is not an ODS code".into()))?;
    principal
        .permits(&Action::RecordPasDischarges { ods: ods.clone() })
        .require()
        .map_err(|r| ApiError::Forbidden(r.reason))?;
    let number = pf_discharge_model::NhsNumber::parse(nhs_number).map_err(|_| {
        ApiError::Invalid("`nhs_number` is not a valid NHS number (10 digits, check digit)".into())
    })?;
    Ok((ods, number))
}

/// The patient with `number` on `ods`'s list whose record `wanted` accepts
/// (from the live view; the change itself is decided on the event log).
async fn pas_patient(
    state: &AppState,
    ods: &OdsCode,
    number: &pf_discharge_model::NhsNumber,
    wanted: impl Fn(&DischargeRecord) -> bool,
) -> Result<DischargeRecord, ApiError> {
    let all = state
        .live
        .clone()
        .all_discharges()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let all = state
        .discharges
        .open_all(all)
        .await
        .map_err(ApiError::Unavailable)?;
    all.into_iter()
        .filter(|d| d.nhs_number.as_ref() == Some(number) && d.trust == ods.as_str() && wanted(d))
        .max_by_key(|d| d.discharge_id.clone())
        .ok_or_else(|| ApiError::NotFound(NOT_WAITING_HERE.into()))
}

/// What the home is told when a PAS discharge gives back the bed held for
/// the patient.
fn pas_release_reason(destination: Option<Destination>) -> &'static str {
    match destination {
        None => "discharged from hospital; the hospital did not say where",
        Some(Destination::CareHome) => "discharged from hospital before the home accepted",
        Some(_) => "discharged elsewhere",
    }
}

/// Ends the beds held for discharge `id` when the PAS says the patient left
/// hospital, as the team's own discharge does: gone to a care home, the bed
/// the home accepted the patient into is taken up (its vacancy goes, as the
/// patient arrived); every other bed held for the patient is given back, so
/// the home's vacancy is offered again. A hold that ended meanwhile
/// (declined, expired, released) is passed over. Returns the home whose bed
/// was taken up.
async fn settle_held_beds(
    state: &AppState,
    homes: &[CareHomeRecord],
    id: &str,
    destination: Option<Destination>,
    principal: &Principal,
) -> Result<Option<String>, ApiError> {
    let mut taken_up = None;
    for home in homes {
        for hold in home.holds.iter().filter(|h| h.discharge_id == id) {
            let takes_it_up = destination == Some(Destination::CareHome)
                && hold.state == pf_care_home_model::HoldState::Accepted
                && taken_up.is_none();
            let ended = if takes_it_up {
                pf_care_home_log::holds::admit(&state.homes, home.cqc(), &hold.hold_id, principal)
                    .await
            } else {
                pf_care_home_log::holds::release(
                    &state.homes,
                    home.cqc(),
                    &hold.hold_id,
                    pas_release_reason(destination),
                    principal,
                )
                .await
            };
            match ended {
                Ok(_) if takes_it_up => taken_up = Some(home.cqc().to_string()),
                Ok(_) | Err(HoldError::UnknownHold(_)) => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
    Ok(taken_up)
}

/// `POST /api/v1/discharges/pas/discharged`: the trust's PAS says a patient
/// left hospital (an ADT A03). The patient waiting on the trust's list with
/// this NHS number is recorded as discharged, at the PAS's time, to the
/// destination it sent (if any), and any bed held for them is ended (see
/// [`settle_held_beds`]). Only the trust's own bed-state feed may.
pub async fn pas_discharged(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut entity = "discharges".to_owned();
    let result = async {
        let principal = caller.principal()?.clone();
        within_limit(&state, &principal)?;
        let body: PasDischargedBody = json(&headers, &body)?;
        let (ods, number) = pas_caller(&principal, &body.organisation, &body.nhs_number)?;
        let at = OffsetDateTime::parse(body.discharged_at.trim(), &Rfc3339)
            .map_err(|_| ApiError::Invalid("`discharged_at` is not an RFC 3339 time".into()))?;
        let destination = match body.destination.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(word) => Some(word.parse::<Destination>().map_err(
                |e: pf_discharge_model::words::UnknownWord| ApiError::Invalid(e.to_string()),
            )?),
        };
        let found = pas_patient(&state, &ods, &number, |d| d.status.is_waiting()).await?;
        let id = found.discharge_id.clone();
        entity = entity_id(&id);
        state.attempt(&caller, PAS_DISCHARGED, &entity).await?;
        let homes = care_homes(&state).await?;
        let destination_home =
            settle_held_beds(&state, &homes, &id, destination, &principal).await?;
        let (status, _, event_id) = change_patient(&state, &principal, &id, |current| {
            still_waiting(current)?;
            let mut next = current.clone();
            next.status = DischargeStatus::Discharged;
            next.destination = destination;
            next.destination_home = destination_home.clone();
            next.discharged_at = Some(at);
            let payload = Payload::PatientDischarged(PatientDischarged {
                discharge: Some(next.to_proto()),
            });
            Ok((next, payload))
        })
        .await?;
        let answer = PasAnswer {
            discharge_id: id,
            status: DischargeStatus::Discharged,
        };
        Ok((status, answer, event_id))
    }
    .await;
    answer(&state, &caller, PAS_DISCHARGED, &entity, result).await
}

/// `POST /api/v1/discharges/pas/discharge-cancelled`: the trust's PAS
/// cancelled a discharge (an ADT A13). The patient with this NHS number
/// whom the list shows as discharged waits again, as before the discharge.
pub async fn pas_discharge_cancelled(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut entity = "discharges".to_owned();
    let result = async {
        let principal = caller.principal()?.clone();
        within_limit(&state, &principal)?;
        let body: PasCancelledBody = json(&headers, &body)?;
        let (ods, number) = pas_caller(&principal, &body.organisation, &body.nhs_number)?;
        let found = pas_patient(&state, &ods, &number, |d| {
            d.status == DischargeStatus::Discharged
        })
        .await?;
        let id = found.discharge_id.clone();
        entity = entity_id(&id);
        state
            .attempt(&caller, PAS_DISCHARGE_CANCELLED, &entity)
            .await?;
        let (status, _, event_id) = change_patient(&state, &principal, &id, |current| {
            if current.status != DischargeStatus::Discharged {
                return Err(ApiError::Conflict(
                    "the patient's discharge is not recorded, so there is none to cancel".into(),
                ));
            }
            // Back on the list as a patient ready for discharge: any search
            // starts again. A bed given back when the discharge was recorded
            // is not held again (another team may have it by now), and a bed
            // taken up at a care home stays taken until the home updates its
            // vacancies: the home knows whether the patient arrived.
            let mut next = current.clone();
            next.status = DischargeStatus::Ready;
            next.destination = None;
            next.destination_home = None;
            next.discharged_at = None;
            let payload = Payload::PatientReadyForDischarge(PatientReadyForDischarge {
                discharge: Some(next.to_proto()),
            });
            Ok((next, payload))
        })
        .await?;
        let answer = PasAnswer {
            discharge_id: id,
            status: DischargeStatus::Ready,
        };
        Ok((status, answer, event_id))
    }
    .await;
    answer(&state, &caller, PAS_DISCHARGE_CANCELLED, &entity, result).await
}
