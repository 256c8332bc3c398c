//! The care-home form: one page per home. "Nothing has changed" comes
//! first (a form of its own, with its own idempotency key, confirmed as
//! "Figures confirmed unchanged at …"); then the figures in the national
//! Capacity Tracker's terms (maximum capacity, occupied, and by category the
//! vacant beds accepting admissions and reserved), the admissions status
//! (the closure reason revealed under "Closed to admissions") and a note.
//! Server-rendered with the NHS.UK design system and complete without
//! JavaScript; `dashboards/static/care-home-form.js` adds sending through a
//! dropped or slow connection (it posts the same form with `Accept:
//! application/json` and the same idempotency key until it gets an answer,
//! and keeps the key until the page has moved on), and registers the
//! service worker that shows the form on a reload while offline.
//!
//! - `GET /care-homes`: the person's homes (straight to the form when one).
//! - `GET /care-homes/{cqc}[?saved={key}]`: the form; `saved` shows the
//!   confirmation of an update that was durably accepted under that key.
//! - `POST /care-homes/{cqc}`: save (the Capacity Tracker's fields; a page
//!   from before them, posting `vacant` and `unavailable`, is read as such).
//! - `POST /care-homes/{cqc}/holds/{hold_id}`: accept or decline a discharge
//!   team's hold request (`action=accept|decline`, optional `reason`), then
//!   a 303 back to the form with a confirmation.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use pf_care_home_model::{
    CapacityTrackerInput, CareHomeRecord, CategoryFigures, ClosureReason, CqcLocationId,
    FieldProblem, ReportInput, SexAccepted, VacancyInput, field_name, figure_field,
};
use pf_sign_in::{AuthError, Caller};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;

use crate::api::{ApiError, HoldAnswer, SavedView, answer_hold, within_write_limit};
use crate::idempotency::IdempotencyKey;
use crate::state::{AppState, entity};
use crate::submission::{self, NotSaved, Update};
use pf_care_home_log::CurrentHome;

/// `GET /`.
pub async fn root() -> Redirect {
    Redirect::to("/care-homes")
}

#[derive(Serialize)]
struct HomeLink {
    cqc: String,
    name: String,
    postcode: String,
    selected: bool,
}

#[derive(Serialize)]
struct Person {
    name: String,
}

/// A page for someone who may not use it.
fn refusal_page(state: &AppState, caller: &Caller, path: &str) -> Response {
    match caller.principal() {
        Ok(_) => unreachable_refusal(),
        Err(pf_sign_in::NotSignedIn::Throttled(wait)) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, wait.as_secs().max(1).to_string())],
            "Too many attempts from this address. Please wait a minute and try again.",
        )
            .into_response(),
        Err(pf_sign_in::NotSignedIn::Auth(AuthError::Unavailable(_))) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable right now. Please try again in a moment.",
        )
            .into_response(),
        Err(pf_sign_in::NotSignedIn::Auth(_)) => {
            pf_web::sign_in_redirect(&state.config.sign_in_url, &state.config.public_url, path)
        }
    }
}

fn unreachable_refusal() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "Unexpected state.").into_response()
}

/// `GET /care-homes`.
pub async fn homes(State(state): State<AppState>, caller: Caller) -> Response {
    let Ok(principal) = caller.principal() else {
        return refusal_page(&state, &caller, "/care-homes");
    };
    let homes = state.homes_of(principal);
    if let [only] = homes.as_slice() {
        return Redirect::to(&format!("/care-homes/{only}")).into_response();
    }
    let links: Vec<HomeLink> = homes
        .iter()
        .filter_map(|cqc| state.register.get(cqc))
        .map(|home| HomeLink {
            cqc: home.cqc_location_id.to_string(),
            name: home.name.clone(),
            postcode: home.postcode.clone(),
            selected: false,
        })
        .collect();
    pf_web::render(
        &state.templates,
        "care-homes.html",
        minijinja::context! {
            homes => links,
            person => Person { name: principal.name.clone() },
            csrf => caller.csrf_token.clone().unwrap_or_default(),
            sign_out_url => state.config.sign_out_url,
        },
        StatusCode::OK,
    )
}

/// `?saved=` or `?answered=`.
#[derive(Debug, Deserialize)]
pub struct FormQuery {
    saved: Option<String>,
    answered: Option<String>,
}

/// A hold at the home, as its staff see it: what they need to decide.
#[derive(Serialize)]
struct HoldRow {
    hold_id: String,
    category: &'static str,
    sex: &'static str,
    pathway: u32,
    ready_date: String,
    needs: String,
    held_by_name: String,
    held_by_organisation: String,
    expires_at: String,
    expires_text: String,
}

impl HoldRow {
    fn of(hold: &pf_care_home_model::Hold) -> Self {
        Self {
            hold_id: hold.hold_id.clone(),
            category: hold.category.label(),
            sex: match hold.sex {
                SexAccepted::Male => "Male",
                SexAccepted::Female => "Female",
                SexAccepted::Either => "Not given",
            },
            pathway: hold.pathway,
            ready_date: long_date(&hold.discharge_ready_date),
            needs: hold.needs.clone(),
            held_by_name: hold.held_by_name.clone(),
            held_by_organisation: hold.held_by_organisation.clone(),
            expires_at: hold
                .expires_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            expires_text: when(hold.expires_at),
        }
    }
}

/// `27 November 2026` from `2026-11-27`.
fn long_date(date: &str) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let long = time::macros::format_description!("[day padding:none] [month repr:long] [year]");
    time::Date::parse(date, &format)
        .ok()
        .and_then(|d| d.format(&long).ok())
        .unwrap_or_else(|| date.to_owned())
}

/// One category's fields, in the Capacity Tracker's terms.
#[derive(Serialize)]
struct CategoryField {
    slug: &'static str,
    label: &'static str,
    accepting: String,
    reserved: String,
    sex: String,
    accepting_error: Option<String>,
    reserved_error: Option<String>,
    sex_error: Option<String>,
}

#[derive(Serialize)]
struct Choice {
    value: &'static str,
    label: &'static str,
}

#[derive(Serialize)]
struct LastUpdate {
    never: bool,
    at: String,
    at_text: String,
    by: String,
    stale: bool,
    stale_hours: u64,
}

#[derive(Serialize)]
struct SummaryError {
    href: String,
    message: String,
}

#[derive(Serialize)]
struct SavedNote {
    title: &'static str,
    at_text: String,
    what: &'static str,
}

fn when(at: OffsetDateTime) -> String {
    format!(
        "{} on {}",
        pf_web::uk_time::hh_mm(at),
        pf_web::uk_time::day_month(at)
    )
}

fn field_id(field: &str) -> String {
    field.replace('.', "-")
}

struct FormPage<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    cqc: &'a CqcLocationId,
    current: &'a CurrentHome,
    input: CapacityTrackerInput,
    problems: Vec<FieldProblem>,
    saved: Option<SavedNote>,
    answered: Option<&'static str>,
}

impl FormPage<'_> {
    fn render(self, status: StatusCode) -> Response {
        let state = self.state;
        let Ok(principal) = self.caller.principal() else {
            return unreachable_refusal();
        };
        let record: &CareHomeRecord = &self.current.record;
        let problem = |field: &str| {
            self.problems
                .iter()
                .find(|p| p.field == field)
                .map(|p| p.message.clone())
        };
        let categories: Vec<CategoryField> = record
            .registration
            .categories
            .iter()
            .map(|category| {
                let figures = self
                    .input
                    .figures
                    .get(category.as_str())
                    .cloned()
                    .unwrap_or_default();
                let sex = self
                    .input
                    .rest
                    .vacancies
                    .get(category.as_str())
                    .map(|v| v.sex.clone())
                    .unwrap_or_default();
                CategoryField {
                    slug: category.as_str(),
                    label: category.label(),
                    accepting: figures.accepting,
                    reserved: figures.reserved,
                    sex: if sex.is_empty() { "either".into() } else { sex },
                    accepting_error: problem(&figure_field(*category, "accepting")),
                    reserved_error: problem(&figure_field(*category, "reserved")),
                    sex_error: problem(&field_name(*category, "sex")),
                }
            })
            .collect();
        let now = OffsetDateTime::now_utc();
        let last = LastUpdate {
            never: record.confirmed.is_none(),
            at: record
                .confirmed
                .as_ref()
                .and_then(|c| {
                    c.at.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default(),
            at_text: record
                .confirmed
                .as_ref()
                .map(|c| when(c.at))
                .unwrap_or_default(),
            by: record
                .confirmed
                .as_ref()
                .map(|c| c.by_name.clone())
                .unwrap_or_default(),
            stale: state.is_stale(record, now),
            stale_hours: state.config.stale_after.as_secs() / 3600,
        };
        let homes: Vec<HomeLink> = state
            .homes_of(principal)
            .iter()
            .filter_map(|cqc| state.register.get(cqc))
            .map(|home| HomeLink {
                cqc: home.cqc_location_id.to_string(),
                name: home.name.clone(),
                postcode: home.postcode.clone(),
                selected: &home.cqc_location_id == self.cqc,
            })
            .collect();
        let errors: Vec<SummaryError> = self
            .problems
            .iter()
            .map(|p| SummaryError {
                href: format!("#{}", field_id(&p.field)),
                message: p.message.clone(),
            })
            .collect();
        let requests: Vec<HoldRow> = record
            .holds
            .iter()
            .filter(|h| h.state == pf_care_home_model::HoldState::Requested)
            .map(HoldRow::of)
            .collect();
        let expected: Vec<HoldRow> = record
            .holds
            .iter()
            .filter(|h| h.state == pf_care_home_model::HoldState::Accepted)
            .map(HoldRow::of)
            .collect();
        let r = &record.registration;
        let context = minijinja::context! {
            hold_requests => requests,
            expected => expected,
            answered => self.answered,
            home => minijinja::context! {
                cqc => r.cqc_location_id.to_string(),
                name => r.name.clone(),
                address => r.address.clone(),
                postcode => r.postcode.clone(),
                locality => self.state.config.region.locality_name(r.locality.as_str()),
                registered_beds => r.registered_beds,
            },
            homes => homes,
            person => Person { name: principal.name.clone() },
            last => last,
            categories => categories,
            maximum_capacity => self.input.maximum_capacity,
            maximum_capacity_error => problem("maximum_capacity"),
            occupied => self.input.occupied,
            occupied_error => problem("occupied"),
            closed => self.input.rest.closed_to_admissions,
            closure_reason => self.input.rest.closure_reason,
            closure_detail => self.input.rest.closure_detail,
            closure_reason_error => problem("closure_reason"),
            closure_detail_error => problem("closure_detail"),
            accepting => self.input.rest.accepting_hospital_discharges,
            note => self.input.rest.note,
            note_error => problem("note"),
            reasons => ClosureReason::ALL.iter().map(|r| Choice { value: r.as_str(), label: r.label() }).collect::<Vec<_>>(),
            sexes => SexAccepted::ALL.iter().map(|s| Choice { value: s.as_str(), label: s.label() }).collect::<Vec<_>>(),
            errors => errors,
            csrf => self.caller.csrf_token.clone().unwrap_or_default(),
            sign_out_url => state.config.sign_out_url,
            device_url => device_url(state, &r.cqc_location_id),
            idempotency_key => IdempotencyKey::new_random().as_str().to_owned(),
            unchanged_key => IdempotencyKey::new_random().as_str().to_owned(),
            saved => self.saved,
        };
        pf_web::render(&state.templates, "care-home.html", context, status)
    }
}

/// Where a person keeps this device signed in (the identity service's
/// `/devices/register`, next to its `/sign-in`), coming back to the form.
fn device_url(state: &AppState, cqc: &CqcLocationId) -> String {
    let identity = state
        .config
        .sign_in_url
        .trim_end_matches('/')
        .trim_end_matches("/sign-in");
    format!(
        "{identity}/devices/register?return_to={}",
        pf_web::percent_encode(&format!(
            "{}/care-homes/{cqc}",
            state.config.public_url.trim_end_matches('/')
        ))
    )
}

/// `GET /care-homes/{cqc}`.
pub async fn form(
    State(state): State<AppState>,
    caller: Caller,
    Path(cqc): Path<String>,
    Query(query): Query<FormQuery>,
) -> Response {
    let path = format!("/care-homes/{cqc}");
    let Ok(principal) = caller.principal() else {
        return refusal_page(&state, &caller, &path);
    };
    let home = match allowed_home(&state, principal, &cqc) {
        Ok(home) => home,
        Err(err) => {
            let err = err
                .audit(&state, &caller, "care_home.read", &entity(&cqc))
                .await;
            return plain_refusal(&err);
        }
    };
    let current = match state.log.current(&home).await {
        Ok(Some(current)) => current,
        Ok(None) => {
            return plain_refusal(&ApiError::NotSaved(NotSaved::UnknownHome(home.to_string())));
        }
        Err(err) => return plain_refusal(&ApiError::NotSaved(err.into())),
    };
    // The confirmation shows only for an update that was durably accepted.
    let mut saved = None;
    if let Some(key) = query
        .saved
        .as_deref()
        .and_then(|k| IdempotencyKey::parse(k).ok())
        && let Ok(Some(answer)) = state.keys.answer_of(home.as_str(), &key).await
    {
        let at = OffsetDateTime::parse(
            &answer.recorded_at,
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
        let unchanged = submission::confirmed_unchanged(&answer);
        saved = Some(SavedNote {
            title: if unchanged {
                "Figures confirmed unchanged"
            } else {
                "Your update was saved"
            },
            at_text: when(at),
            what: match answer.event_type.as_str() {
                _ if unchanged => "Discharge teams see your figures as up to date.",
                "care_home.closed_to_admissions" => {
                    "The home is now shown as closed to admissions."
                }
                "care_home.reopened_to_admissions" => {
                    "The home is now shown as open to admissions."
                }
                _ => "Discharge teams now see these figures.",
            },
        });
    }
    let answered = match query.answered.as_deref() {
        Some("accepted") => {
            Some("You accepted the patient. The discharge team can now confirm the discharge.")
        }
        Some("declined") => Some("You declined the request. The bed is free for other patients."),
        _ => None,
    };
    let input = current
        .record
        .as_report()
        .to_capacity_tracker_input(&current.record.registration);
    FormPage {
        state: &state,
        caller: &caller,
        cqc: &home,
        current: &current,
        input,
        problems: Vec::new(),
        saved,
        answered,
    }
    .render(StatusCode::OK)
}

fn allowed_home(
    state: &AppState,
    principal: &pf_access::Principal,
    cqc: &str,
) -> Result<CqcLocationId, ApiError> {
    let home = CqcLocationId::parse(cqc).map_err(|_| {
        ApiError::NotSaved(NotSaved::UnknownHome(
            "named in the address (a CQC location id is `1-` and digits)".into(),
        ))
    })?;
    principal
        .permits(&pf_access::Action::ChangeCareHome { cqc: home.clone() })
        .require()
        .map_err(|r| ApiError::NotSaved(NotSaved::Forbidden(r.reason)))?;
    if state.register.get(&home).is_none() {
        return Err(ApiError::NotSaved(NotSaved::UnknownHome(home.to_string())));
    }
    Ok(home)
}

fn plain_refusal(err: &ApiError) -> Response {
    (err.status(), err.to_string()).into_response()
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// What a posted form says.
struct Posted {
    /// The figures in the Capacity Tracker's shape (the form's own).
    input: CapacityTrackerInput,
    /// Whether it carried any of that shape's fields; a page from before
    /// them (still open, or waiting on a device) posts `vacant` and
    /// `unavailable` instead, which are read as such.
    national: bool,
    csrf: Option<String>,
    key: Option<String>,
    action: String,
}

/// Reads the posted form.
fn read_form(fields: &[(String, String)]) -> Posted {
    let mut input = CapacityTrackerInput {
        rest: ReportInput {
            accepting_hospital_discharges: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let (mut csrf, mut key, mut action, mut national) = (None, None, String::from("save"), false);
    for (name, value) in fields {
        let rest = &mut input.rest;
        match name.as_str() {
            "csrf" => csrf = Some(value.clone()),
            "idempotency_key" => key = Some(value.clone()),
            "action" => action = value.clone(),
            "maximum_capacity" => {
                national = true;
                input.maximum_capacity = value.clone();
            }
            "occupied" => {
                national = true;
                input.occupied = value.clone();
            }
            "closed_to_admissions" => rest.closed_to_admissions = value == "yes",
            "closure_reason" => rest.closure_reason = value.clone(),
            "closure_detail" => rest.closure_detail = value.clone(),
            "accepting_hospital_discharges" => {
                rest.accepting_hospital_discharges = value != "no";
            }
            "note" => rest.note = value.clone(),
            other => {
                if let Some(tail) = other.strip_prefix("vacancies.")
                    && let Some((category, part)) = tail.rsplit_once('.')
                {
                    let entry: &mut VacancyInput =
                        rest.vacancies.entry(category.to_owned()).or_default();
                    let figures: &mut CategoryFigures =
                        input.figures.entry(category.to_owned()).or_default();
                    match part {
                        "accepting" => {
                            national = true;
                            figures.accepting = value.clone();
                        }
                        "reserved" => {
                            national = true;
                            figures.reserved = value.clone();
                        }
                        "vacant" => entry.vacant = value.clone(),
                        "unavailable" => entry.unavailable = value.clone(),
                        "sex" => entry.sex = value.clone(),
                        _ => {}
                    }
                }
            }
        }
    }
    if !national {
        // An older page: show what it sent in this form's fields.
        for (category, v) in &input.rest.vacancies {
            input.figures.insert(
                category.clone(),
                CategoryFigures {
                    accepting: v.vacant.clone(),
                    reserved: v.unavailable.clone(),
                },
            );
        }
    }
    Posted {
        input,
        national,
        csrf,
        key,
        action,
    }
}

/// An older page's problems, named by this form's fields.
fn in_national_terms(problems: &[FieldProblem]) -> Vec<FieldProblem> {
    problems
        .iter()
        .map(|p| FieldProblem {
            field: p
                .field
                .strip_suffix(".vacant")
                .map(|stem| format!("{stem}.accepting"))
                .or_else(|| {
                    p.field
                        .strip_suffix(".unavailable")
                        .map(|stem| format!("{stem}.reserved"))
                })
                .unwrap_or_else(|| p.field.clone()),
            message: p.message.clone(),
        })
        .collect()
}

/// `POST /care-homes/{cqc}`.
pub async fn save(
    State(state): State<AppState>,
    caller: Caller,
    Path(cqc): Path<String>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let json = wants_json(&headers);
    let path = format!("/care-homes/{cqc}");
    let Posted {
        input,
        national,
        csrf,
        key,
        action,
    } = read_form(&fields);
    let update = if action == "unchanged" {
        Update::Unchanged
    } else if national {
        Update::CapacityTracker(input.clone())
    } else {
        Update::Report(input.rest.clone())
    };
    let audit_action = update.action();
    let principal = match caller.principal() {
        Ok(principal) => principal,
        Err(refusal) => {
            let err = ApiError::from(refusal);
            let err = err
                .audit(&state, &caller, audit_action, &entity(&cqc))
                .await;
            if json {
                return json_refusal(&state, err);
            }
            if matches!(err, ApiError::NotSaved(NotSaved::TooMany(_))) {
                return plain_refusal(&err);
            }
            return signed_out_page(&state, &path);
        }
    };
    let result = async {
        within_write_limit(&state, principal)?;
        let home = allowed_home(&state, principal, &cqc)?;
        let expected = caller.csrf_token.as_deref().unwrap_or_default();
        let given = csrf.as_deref().unwrap_or_default();
        if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            return Err(ApiError::Malformed(
                "this form has expired; reload the page and save again".into(),
            ));
        }
        let key = IdempotencyKey::parse(key.as_deref().unwrap_or_default())
            .map_err(|e| ApiError::Malformed(e.to_string()))?;
        state.attempt(&caller, audit_action, &entity(&cqc)).await?;
        let saved =
            submission::save(&state.log, &state.keys, principal, &home, &key, &update).await?;
        Ok((home, key, saved))
    }
    .await;
    match result {
        Ok((home, key, saved)) => {
            state
                .record_saved(&caller, audit_action, &entity(&cqc), &saved, "form")
                .await;
            let target = format!("/care-homes/{home}?saved={}", key.as_str());
            if json {
                return Json(serde_json::json!({
                    "saved": SavedView::from(&saved),
                    "redirect": target,
                }))
                .into_response();
            }
            Redirect::to(&target).into_response()
        }
        Err(err) => {
            let err = err
                .audit(&state, &caller, audit_action, &entity(&cqc))
                .await;
            if json {
                return json_refusal(&state, err);
            }
            let ApiError::NotSaved(NotSaved::Problems(problems)) = &err else {
                return plain_refusal(&err);
            };
            let Ok(home) = CqcLocationId::parse(&cqc) else {
                return plain_refusal(&err);
            };
            match state.log.current(&home).await {
                Ok(Some(current)) => FormPage {
                    state: &state,
                    caller: &caller,
                    cqc: &home,
                    current: &current,
                    input,
                    problems: in_national_terms(&problems.problems),
                    saved: None,
                    answered: None,
                }
                .render(StatusCode::UNPROCESSABLE_ENTITY),
                _ => plain_refusal(&err),
            }
        }
    }
}

use axum::Json;

fn json_refusal(state: &AppState, err: ApiError) -> Response {
    if let ApiError::Unauthenticated(_) = err {
        return (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({
                "error": "You have been signed out. Your update is kept on this device; sign in again to send it.",
                "sign_in_url": state.config.sign_in_url,
            })),
        )
            .into_response();
    }
    err.into_response()
}

fn signed_out_page(state: &AppState, path: &str) -> Response {
    pf_web::render(
        &state.templates,
        "care-home-signed-out.html",
        minijinja::context! {
            sign_in_url => format!(
                "{}?return_to={}",
                state.config.sign_in_url,
                pf_web::percent_encode(&format!("{}{path}", state.config.public_url.trim_end_matches('/')))
            ),
        },
        StatusCode::UNAUTHORIZED,
    )
}

/// `POST /care-homes/{cqc}/holds/{hold_id}`: the home's answer to a hold.
pub async fn answer(
    State(state): State<AppState>,
    caller: Caller,
    Path((cqc, hold_id)): Path<(String, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let path = format!("/care-homes/{cqc}");
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let (answer, action, done) = match field("action") {
        "accept" => (HoldAnswer::Accept, "care_home.accept_hold", "accepted"),
        "decline" => (HoldAnswer::Decline, "care_home.decline_hold", "declined"),
        _ => {
            return plain_refusal(&ApiError::Malformed(
                "say whether you accept or decline the patient".into(),
            ));
        }
    };
    let principal = match caller.principal() {
        Ok(principal) => principal,
        Err(refusal) => {
            let err = ApiError::from(refusal);
            let err = err.audit(&state, &caller, action, &entity(&cqc)).await;
            if matches!(err, ApiError::NotSaved(NotSaved::TooMany(_))) {
                return plain_refusal(&err);
            }
            return signed_out_page(&state, &path);
        }
    };
    let result = async {
        let expected = caller.csrf_token.as_deref().unwrap_or_default();
        if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(field("csrf").as_bytes())) {
            return Err(ApiError::Malformed(
                "this form has expired; reload the page and answer again".into(),
            ));
        }
        answer_hold(
            &state,
            &caller,
            action,
            &cqc,
            &hold_id,
            answer,
            field("reason"),
        )
        .await
    }
    .await;
    match result {
        Ok(event_id) => {
            state
                .audit_accepted(&caller, action, &entity(&cqc), &event_id)
                .await;
            Redirect::to(&format!("{path}?answered={done}")).into_response()
        }
        Err(err) => {
            let err = err.audit(&state, &caller, action, &entity(&cqc)).await;
            let Ok(home) = allowed_home(&state, principal, &cqc) else {
                return plain_refusal(&err);
            };
            match state.log.current(&home).await {
                Ok(Some(current)) => FormPage {
                    state: &state,
                    caller: &caller,
                    cqc: &home,
                    current: &current,
                    input: current
                        .record
                        .as_report()
                        .to_capacity_tracker_input(&current.record.registration),
                    problems: vec![FieldProblem {
                        field: "hold-requests".into(),
                        message: err.to_string(),
                    }],
                    saved: None,
                    answered: None,
                }
                .render(err.status()),
                _ => plain_refusal(&err),
            }
        }
    }
}
