//! The discharge dashboard: server-rendered pages for discharge
//! coordinators (NHS.UK design system), complete without JavaScript.
//!
//! - `GET /discharges`: the organisation's waiting patients, NHS numbers
//!   masked, longest wait first.
//! - `GET|POST /discharges/new`: add a patient ([`crate::new_patient`]).
//! - `GET /discharges/{id}[?done=…]`: one patient, opened (audited like the
//!   API's opening): needs, delay reason, the held bed, the matching homes.
//! - `POST /discharges/{id}/hold`, `…/release`, `…/delay-reason`,
//!   `…/cancel` (taken off the list), `…/discharge`: plain forms with the session's CSRF token, answered with
//!   a 303 back to the patient and a confirmation, or the page again with
//!   the NHS.UK error summary.
//!
//! Every read and change goes through the JSON API's own handlers, so the
//! pages and the API keep one set of rules, refusals and audit records.
//! `dashboards/static/discharge-dashboard.js` keeps an open page live from
//! the gateway's `/ws/discharges` notifications.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use pf_access::Principal;
use pf_care_home_model::{CqcLocationId, SexAccepted};
use pf_discharge_model::{DelayReason, DischargeStatus};
use pf_sign_in::{AuthError, Authenticator, Caller, CallerContext, NotSignedIn, WriteLimits};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::api;
use crate::discharge_log::entity_id;
use crate::state::AppState;

/// The pages this service renders (checked at start).
pub const PAGES: &[&str] = &[
    "discharges.html",
    "discharge.html",
    "discharge-refused.html",
    "new-patient.html",
    "discharge-cohorts.html",
];

/// The largest API answer read back by a page.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// What the page handlers share.
#[derive(Clone)]
pub struct Pages {
    pub(crate) app: AppState,
    templates: Arc<minijinja::Environment<'static>>,
}

impl Pages {
    /// The page templates.
    pub(crate) fn templates(&self) -> &minijinja::Environment<'static> {
        &self.templates
    }
}

impl CallerContext for Pages {
    fn authenticator(&self) -> &Authenticator {
        self.app.authenticator()
    }
    fn limits(&self) -> &WriteLimits {
        self.app.limits()
    }
    fn service_name(&self) -> &'static str {
        self.app.service_name()
    }
    fn trusted_proxies(&self) -> Option<&pf_audit::TrustedProxies> {
        self.app.trusted_proxies()
    }
}

/// The gateway websocket address cannot go into the page's policy.
#[derive(Debug, thiserror::Error)]
#[error("PF_GATEWAY_WS_URL `{0}` is not a ws:// or wss:// origin")]
pub struct BadGatewayUrl(String);

/// The origin (`ws://host:port`) of a websocket address.
pub fn websocket_origin(url: &str) -> Result<String, BadGatewayUrl> {
    let bad = || BadGatewayUrl(url.to_owned());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    if scheme != "ws" && scheme != "wss" {
        return Err(bad());
    }
    let host = rest.split('/').next().unwrap_or_default();
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if host.is_empty() || !host.chars().all(fine) {
        return Err(bad());
    }
    Ok(format!("{scheme}://{host}"))
}

/// The pages' Content-Security-Policy: pf-web's, with the gateway's
/// websocket origin added to `connect-src`.
pub fn content_security_policy(gateway_ws_url: &str) -> Result<HeaderValue, BadGatewayUrl> {
    let origin = websocket_origin(gateway_ws_url)?;
    let policy = pf_web::CONTENT_SECURITY_POLICY.replacen(
        "connect-src 'self'",
        &format!("connect-src 'self' {origin}"),
        1,
    );
    HeaderValue::from_str(&policy).map_err(|_| BadGatewayUrl(gateway_ws_url.to_owned()))
}

/// The pages' routes, with assets and security headers.
pub fn router(
    app: AppState,
    templates: minijinja::Environment<'static>,
    policy: HeaderValue,
    http_metrics: pf_runtime::HttpMetrics,
) -> Router {
    let dashboards = app.config.dashboards_dir.clone();
    let pages = Pages {
        app,
        templates: Arc::new(templates),
    };
    let routes = Router::new()
        .route("/", get(|| async { Redirect::to("/discharges") }))
        .route("/discharges", get(list_page))
        .route("/discharges/cohorts", get(crate::tasks_view::cohorts_page))
        .route(
            "/discharges/new",
            get(crate::new_patient::form_page).post(crate::new_patient::add),
        )
        .route("/discharges/{id}", get(patient_page))
        .route("/discharges/{id}/hold", form_route(Ask::Hold))
        .route("/discharges/{id}/release", form_route(Ask::Release))
        .route(
            "/discharges/{id}/delay-reason",
            form_route(Ask::DelayReason),
        )
        .route("/discharges/{id}/discharge", form_route(Ask::Discharge))
        .route("/discharges/{id}/cancel", form_route(Ask::Cancel));
    pf_web::with_security_headers(
        pf_web::assets(routes, &dashboards)
            .layer(SetResponseHeaderLayer::if_not_present(
                header::CONTENT_SECURITY_POLICY,
                policy,
            ))
            .layer(DefaultBodyLimit::max(crate::MAX_BODY_BYTES))
            .layer(axum::middleware::from_fn_with_state(
                http_metrics,
                pf_runtime::HttpMetrics::record,
            )),
        pf_web::CONTENT_SECURITY_POLICY,
    )
    .with_state(pages)
}

/// A patient as the API shows it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Patient {
    pub(crate) discharge_id: String,
    pub(crate) nhs_number: String,
    pub(crate) sex: String,
    pub(crate) site: String,
    pub(crate) ward: String,
    pub(crate) site_name: String,
    pub(crate) discharge_ready_date: String,
    pub(crate) delay_days: i64,
    pub(crate) pathway: u32,
    pub(crate) care_needed: Option<String>,
    pub(crate) search_postcode: String,
    pub(crate) delay_reason: String,
    pub(crate) delay_reason_label: String,
    pub(crate) status: String,
    pub(crate) needs: String,
    pub(crate) hold: Option<HeldBed>,
    pub(crate) next_action: String,
}

/// The bed held for a patient, as the API shows it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct HeldBed {
    pub(crate) hold_id: String,
    pub(crate) cqc_location_id: String,
    pub(crate) home_name: String,
    pub(crate) category: String,
    pub(crate) state: String,
    pub(crate) expires_at: String,
}

/// A matching home, as the API shows it.
#[derive(Debug, Clone, Deserialize)]
struct Match {
    cqc_location_id: String,
    name: String,
    postcode: String,
    locality: String,
    distance_km: f64,
    free_beds: u32,
    sex: String,
    updated_at: Option<String>,
    age_hours: Option<i64>,
    stale: bool,
    preferred: bool,
    note: String,
    #[serde(default)]
    phone: Option<String>,
}

/// A row of the matching homes table.
#[derive(Debug, Serialize)]
struct MatchRow {
    cqc: String,
    name: String,
    postcode: String,
    locality: String,
    distance: String,
    free_beds: u32,
    sex: &'static str,
    updated_at: String,
    age: String,
    stale: bool,
    preferred: bool,
    note: String,
    /// The home's number spaced for reading, and its `tel:` link.
    phone: Option<PhoneLink>,
}

/// A telephone number to show as a link.
#[derive(Debug, Serialize)]
struct PhoneLink {
    text: String,
    href: String,
}

#[derive(Debug, Serialize)]
struct Banner {
    title: &'static str,
    text: String,
}

#[derive(Debug, Serialize)]
struct SummaryError {
    href: &'static str,
    message: String,
}

#[derive(Debug, Serialize)]
struct Choice {
    value: &'static str,
    label: &'static str,
}

/// A copy of `caller` for one more call of an API handler.
pub(crate) fn again(caller: &Caller, principal: &Principal) -> Caller {
    Caller {
        principal: Ok(principal.clone()),
        source: caller.source.clone(),
        throttled: None,
        csrf_token: caller.csrf_token.clone(),
    }
}

/// An API handler's answer: its status and JSON.
pub(crate) async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
        .await
        .unwrap_or_default();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

pub(crate) fn error_text(body: &Value) -> String {
    body["error"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| "The change could not be made. Please try again.".to_owned())
}

pub(crate) fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers
}

pub(crate) fn status_label(status: &str) -> &'static str {
    status
        .parse::<DischargeStatus>()
        .map(DischargeStatus::label)
        .unwrap_or("Unknown")
}

/// Whom a home takes, in the words of NHS content ("Women only").
fn sex_label(sex: &str) -> &'static str {
    match serde_json::from_value::<SexAccepted>(Value::String(sex.to_owned())) {
        Ok(SexAccepted::Female) => "Women only",
        Ok(SexAccepted::Male) => "Men only",
        Ok(SexAccepted::Either) => "Men and women",
        Err(_) => "Not known",
    }
}

/// A patient's sex, in words.
fn patient_sex_label(sex: &str) -> &'static str {
    match sex {
        "female" => "Female",
        "male" => "Male",
        _ => "Not known",
    }
}

/// How long a hold has left, in words: `1 hour 5 minutes left`.
pub fn time_left(expires_at: &str, now: OffsetDateTime) -> String {
    let Ok(end) = OffsetDateTime::parse(expires_at, &Rfc3339) else {
        return String::new();
    };
    let minutes = (end - now).whole_minutes();
    let plural = |n: i64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match minutes {
        m if m < 1 => "less than a minute left".to_owned(),
        m if m < 60 => format!("{} left", plural(m, "minute")),
        m if m % 60 == 0 => format!("{} left", plural(m / 60, "hour")),
        m => format!(
            "{} {} left",
            plural(m / 60, "hour"),
            plural(m % 60, "minute")
        ),
    }
}

/// `27 November 2026` from `2026-11-27`.
pub(crate) fn long_date(date: &str) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let long = time::macros::format_description!("[day padding:none] [month repr:long] [year]");
    time::Date::parse(date, &format)
        .ok()
        .and_then(|d| d.format(&long).ok())
        .unwrap_or_else(|| date.to_owned())
}

/// `14:02 on 30 November` in UK time, from RFC 3339.
fn clock_time(at: &str) -> String {
    OffsetDateTime::parse(at, &Rfc3339)
        .map(|at| {
            format!(
                "{} on {}",
                pf_web::uk_time::hh_mm(at),
                pf_web::uk_time::day_month(at)
            )
        })
        .unwrap_or_default()
}

/// How old a home's figures are, in words.
pub fn age_text(age_hours: Option<i64>) -> String {
    match age_hours {
        None => "Never given".to_owned(),
        Some(h) if h < 1 => "Less than an hour ago".to_owned(),
        Some(1) => "1 hour ago".to_owned(),
        Some(h) if h < 48 => format!("{h} hours ago"),
        Some(h) => format!("{} days ago", h / 24),
    }
}

/// The words for a hold's state.
pub fn hold_state_text(state: &str) -> &'static str {
    match state {
        "accepted" => "Accepted by the home",
        _ => "Waiting for the home's answer",
    }
}

/// Why a page cannot be shown to someone who is not signed in.
pub(crate) fn not_signed_in(pages: &Pages, refusal: NotSignedIn<'_>, path: &str) -> Response {
    match refusal {
        NotSignedIn::Throttled(wait) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, wait.as_secs().max(1).to_string())],
            "Too many attempts from this address. Please wait a minute and try again.",
        )
            .into_response(),
        NotSignedIn::Auth(AuthError::Unavailable(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable right now. Please try again in a moment.",
        )
            .into_response(),
        NotSignedIn::Auth(_) => {
            let config = &pages.app.config;
            pf_web::sign_in_redirect(&config.sign_in_url, &config.public_url, path)
        }
    }
}

pub(crate) fn refused_page(
    pages: &Pages,
    status: StatusCode,
    heading: &str,
    text: &str,
) -> Response {
    pf_web::render(
        &pages.templates,
        "discharge-refused.html",
        minijinja::context! {
            heading => heading,
            text => text,
            service_href => "/discharges",
            sign_out_url => pages.app.config.sign_out_url.clone(),
        },
        status,
    )
}

/// The caller, when a signed-in discharge coordinator; the answer to give
/// otherwise (sign-in, or a 403 page recorded in the audit trail).
pub(crate) async fn coordinator(
    pages: &Pages,
    caller: &Caller,
    path: &str,
    action: &str,
    entity: &str,
) -> Result<Principal, Response> {
    let principal = match caller.principal() {
        Ok(principal) => principal.clone(),
        Err(refusal) => return Err(not_signed_in(pages, refusal, path)),
    };
    if api::coordinates_any(&principal).is_ok() {
        return Ok(principal);
    }
    let reason = api::NOT_A_COORDINATOR;
    if pages
        .app
        .audit_refused(caller, action, entity, "forbidden", reason)
        .await
        .is_err()
    {
        return Err(refused_page(
            pages,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many refused requests",
            pf_audit::TOO_MANY_REFUSALS,
        ));
    }
    Err(refused_page(
        pages,
        StatusCode::FORBIDDEN,
        "You cannot see the discharge list",
        reason,
    ))
}

/// `GET /discharges[?site=…&ward=…&pathway=…&status=…&delay_reason=…&sort=…&nhs_number=…]`:
/// the list, filtered, sorted and searched as [`crate::list_view`] says.
pub async fn list_page(
    State(pages): State<Pages>,
    caller: Caller,
    Query(query): Query<crate::list_view::ListQuery>,
) -> Response {
    let principal = match coordinator(
        &pages,
        &caller,
        "/discharges",
        "discharge.list",
        "discharges",
    )
    .await
    {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    let (status, body) =
        read(api::list(State(pages.app.clone()), again(&caller, &principal)).await).await;
    if status != StatusCode::OK {
        return refused_page(
            &pages,
            status,
            "The discharge list cannot be shown",
            &error_text(&body),
        );
    }
    let patients: Vec<Patient> =
        serde_json::from_value(body["patients"].clone()).unwrap_or_default();
    // Overdue tasks are shown beside each patient; the list stands without
    // them when the tasks cannot be read.
    let overdue = crate::tasks_view::visible_tasks(&pages, &principal)
        .await
        .map(|items| crate::tasks_view::overdue_counts(&items, pages.app.clock.now()))
        .unwrap_or_default();
    crate::list_view::render(&pages, &caller, &principal, patients, query, &overdue).await
}

/// `?done=…&home=…`: what the last change did.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    done: Option<String>,
    home: Option<String>,
    /// `all`: every matching home, not only the first [`TOP_HOMES`].
    homes: Option<String>,
    /// `confirm`: ask before releasing the held bed.
    release: Option<String>,
}

/// How many matching homes a patient's page shows before "Show all".
pub const TOP_HOMES: usize = 10;

/// What a patient's page shows besides the patient.
#[derive(Debug, Default)]
struct Showing {
    /// The change just made.
    banner: Option<Banner>,
    all_homes: bool,
    confirm_release: bool,
}

/// `GET /discharges/{id}`.
pub async fn patient_page(
    State(pages): State<Pages>,
    caller: Caller,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    let path = format!("/discharges/{}", pf_web::percent_encode(&id));
    let principal =
        match coordinator(&pages, &caller, &path, "discharge.open", &entity_id(&id)).await {
            Ok(principal) => principal,
            Err(response) => return response,
        };
    let banner = banner(&pages, &done).await;
    let showing = Showing {
        banner,
        all_homes: done.homes.as_deref() == Some("all"),
        confirm_release: done.release.as_deref() == Some("confirm"),
    };
    render_patient(
        &pages,
        &caller,
        &principal,
        &id,
        Vec::new(),
        StatusCode::OK,
        showing,
    )
    .await
}

async fn banner(pages: &Pages, done: &Done) -> Option<Banner> {
    let home_name = match done.home.as_deref().map(CqcLocationId::parse) {
        Some(Ok(cqc)) => pages
            .app
            .live
            .clone()
            .care_home(cqc.as_str())
            .await
            .ok()
            .flatten()
            .map(|home| home.registration.name.clone()),
        _ => None,
    };
    let home = home_name.unwrap_or_else(|| "the care home".to_owned());
    let (title, text) = match done.done.as_deref()? {
        "held" => (
            "Bed held",
            format!("A bed is held at {home}. The home has been asked to accept the patient."),
        ),
        "released" => (
            "Bed released",
            "The held bed was released and is free for other patients.".to_owned(),
        ),
        "added" => (
            "Patient added",
            "The patient is on the discharge list.".to_owned(),
        ),
        "cancelled" => (
            "Taken off the list",
            "The patient no longer waits for discharge. Any bed held for them was released."
                .to_owned(),
        ),
        "delay-reason" => (
            "Delay reason changed",
            "The delay reason was saved.".to_owned(),
        ),
        "discharged" => (
            "Discharge confirmed",
            format!("The discharge to {home} is confirmed. The home's vacancy was taken away."),
        ),
        _ => return None,
    };
    Some(Banner { title, text })
}

/// Renders the patient's page (opening the patient through the API, which
/// records the opening in the audit trail).
async fn render_patient(
    pages: &Pages,
    caller: &Caller,
    principal: &Principal,
    id: &str,
    errors: Vec<SummaryError>,
    status: StatusCode,
    showing: Showing,
) -> Response {
    let (opened, body) = read(
        api::open(
            State(pages.app.clone()),
            again(caller, principal),
            Path(id.to_owned()),
        )
        .await,
    )
    .await;
    if opened != StatusCode::OK {
        let heading = match opened {
            StatusCode::NOT_FOUND => "Patient not found",
            StatusCode::FORBIDDEN => "You cannot open this patient",
            _ => "The patient cannot be shown",
        };
        return refused_page(pages, opened, heading, &error_text(&body));
    }
    let Ok(patient) = serde_json::from_value::<Patient>(body) else {
        return refused_page(
            pages,
            StatusCode::INTERNAL_SERVER_ERROR,
            "The patient cannot be shown",
            "The patient's record could not be read. Please try again.",
        );
    };
    let waiting = patient
        .status
        .parse::<DischargeStatus>()
        .is_ok_and(DischargeStatus::is_waiting);
    let mut matches: Vec<MatchRow> = Vec::new();
    let mut radius_km = pages.app.config.search_radius_km;
    let mut matches_note = None;
    let mut matches_total = 0;
    // The API's default search radius: its query has one optional field.
    let query = serde_json::from_value::<api::MatchQuery>(serde_json::json!({}));
    if waiting
        && patient.care_needed.is_some()
        && let Ok(query) = query
    {
        let (found, body) = read(
            api::matches(
                State(pages.app.clone()),
                again(caller, principal),
                Path(id.to_owned()),
                Ok(Query(query)),
            )
            .await,
        )
        .await;
        if found == StatusCode::OK {
            radius_km = body["radius_km"].as_f64().unwrap_or(radius_km);
            let homes: Vec<Match> =
                serde_json::from_value(body["homes"].clone()).unwrap_or_default();
            matches = homes
                .into_iter()
                .map(|m| MatchRow {
                    cqc: m.cqc_location_id,
                    name: m.name,
                    postcode: m.postcode,
                    locality: m.locality,
                    distance: format!("{:.1} km", m.distance_km),
                    free_beds: m.free_beds,
                    sex: sex_label(&m.sex),
                    updated_at: m.updated_at.unwrap_or_default(),
                    age: age_text(m.age_hours),
                    stale: m.stale,
                    preferred: m.preferred,
                    note: m.note,
                    phone: m
                        .phone
                        .as_deref()
                        .and_then(|p| pf_care_home_model::PhoneNumber::parse(p).ok())
                        .map(|p| PhoneLink {
                            text: p.spaced(),
                            href: p.tel_uri(),
                        }),
                })
                .collect();
            matches_total = matches.len();
            if !showing.all_homes {
                matches.truncate(TOP_HOMES);
            }
        } else {
            matches_note = Some(error_text(&body));
        }
    }
    let hold = patient.hold.as_ref().map(|h| {
        minijinja::context! {
            hold_id => h.hold_id.clone(),
            cqc => h.cqc_location_id.clone(),
            home_name => h.home_name.clone(),
            state => h.state.clone(),
            state_text => hold_state_text(&h.state),
            accepted => h.state == "accepted",
            expires_at => h.expires_at.clone(),
            expires_text => clock_time(&h.expires_at),
            time_left => time_left(&h.expires_at, pages.app.clock.now()),
        }
    });
    let care_needed_label = patient
        .care_needed
        .as_deref()
        .and_then(|c| c.parse::<pf_care_home_model::CareCategory>().ok())
        .map(|c| c.label())
        .unwrap_or("Not given");
    let reasons: Vec<Choice> = DelayReason::ALL
        .iter()
        .map(|r| Choice {
            value: r.as_str(),
            label: r.label(),
        })
        .collect();
    let now = pages.app.clock.now();
    let tasks = crate::tasks_view::visible_tasks(pages, principal)
        .await
        .map(|items| crate::tasks_view::patient_rows(&items, id, &pages.app.config.task_types, now))
        .ok();
    pf_web::render(
        &pages.templates,
        "discharge.html",
        minijinja::context! {
            tasks => tasks,
            tasks_url => pages.app.config.tasks_url.trim_end_matches('/').to_owned(),
            id => patient.discharge_id.clone(),
            patient => patient.clone(),
            ready_date => long_date(&patient.discharge_ready_date),
            status_label => status_label(&patient.status),
            sex_label => patient_sex_label(&patient.sex),
            care_needed_label => care_needed_label,
            waiting => waiting,
            hold => hold,
            matches => matches,
            matches_total => matches_total,
            all_homes => showing.all_homes,
            top_homes => TOP_HOMES,
            confirm_release => showing.confirm_release && patient.hold.is_some(),
            matches_note => matches_note,
            radius_km => format!("{radius_km:.0}"),
            reasons => reasons,
            banner => showing.banner,
            errors => errors,
            csrf => caller.csrf_token.clone().unwrap_or_default(),
            person => principal.name.clone(),
            gateway_ws_url => pages.app.config.gateway_ws_url.trim_end_matches('/').to_owned(),
            service_href => "/discharges",
            sign_out_url => pages.app.config.sign_out_url.clone(),
        },
        status,
    )
}

/// A posted form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    cqc_location_id: String,
    #[serde(default)]
    hold_id: String,
    #[serde(default)]
    delay_reason: String,
    #[serde(default)]
    destination_home: String,
    #[serde(default)]
    cancel_reason: String,
}

/// What a form asks for.
#[derive(Clone, Copy)]
enum Ask {
    Hold,
    Release,
    DelayReason,
    Discharge,
    Cancel,
}

impl Ask {
    fn audit_action(&self) -> &'static str {
        match self {
            Ask::Hold => "care_home.hold_bed",
            Ask::Release => "care_home.release_hold",
            Ask::DelayReason => "discharge.delay_reason",
            Ask::Cancel => "discharge.cancelled",
            Ask::Discharge => "discharge.discharged",
        }
    }

    fn anchor(&self) -> &'static str {
        match self {
            Ask::Hold => "#matches",
            Ask::Release | Ask::Discharge => "#held-bed",
            Ask::DelayReason => "#delay_reason",
            Ask::Cancel => "#cancel_reason",
        }
    }
}

/// A form's route: `POST` answered by [`act`] for `ask`.
fn form_route(ask: Ask) -> MethodRouter<Pages> {
    post(
        move |State(pages): State<Pages>,
              caller: Caller,
              Path(id): Path<String>,
              Form(form): Form<ActionForm>| act(pages, caller, id, form, ask),
    )
}

/// Checks the form's token, makes the change through the API's handler and
/// answers with a 303 back to the patient, or the page with the refusal.
async fn act(pages: Pages, caller: Caller, id: String, form: ActionForm, ask: Ask) -> Response {
    let path = format!("/discharges/{}", pf_web::percent_encode(&id));
    let entity = entity_id(&id);
    let principal = match coordinator(&pages, &caller, &path, ask.audit_action(), &entity).await {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    let expected = caller.csrf_token.as_deref().unwrap_or_default();
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(form.csrf.as_bytes())) {
        let reason = "This form has expired. Reload the page and try again.";
        if pages
            .app
            .audit_refused(&caller, ask.audit_action(), &entity, "malformed", reason)
            .await
            .is_err()
        {
            return refused_page(
                &pages,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many refused requests",
                pf_audit::TOO_MANY_REFUSALS,
            );
        }
        let errors = vec![SummaryError {
            href: ask.anchor(),
            message: reason.to_owned(),
        }];
        return render_patient(
            &pages,
            &caller,
            &principal,
            &id,
            errors,
            StatusCode::BAD_REQUEST,
            Showing::default(),
        )
        .await;
    }
    let state = State(pages.app.clone());
    let call = again(&caller, &principal);
    let (answer, done, home) = match ask {
        Ask::Hold => {
            let home = form.cqc_location_id.trim().to_owned();
            let body = serde_json::json!({ "cqc_location_id": home });
            let path = Path(id.clone());
            let answer = api::hold(state, call, path, json_headers(), body.to_string().into());
            (answer.await, "held", Some(home))
        }
        Ask::Release => {
            let body = serde_json::json!({ "reason": "released by the discharge team" });
            let path = Path((id.clone(), form.hold_id.trim().to_owned()));
            let answer = api::release(state, call, path, json_headers(), body.to_string().into());
            (answer.await, "released", None)
        }
        Ask::DelayReason => {
            let body = serde_json::json!({ "delay_reason": form.delay_reason.trim() });
            let path = Path(id.clone());
            let answer =
                api::delay_reason(state, call, path, json_headers(), body.to_string().into());
            (answer.await, "delay-reason", None)
        }
        Ask::Cancel => {
            let body = serde_json::json!({ "reason": form.cancel_reason.trim() });
            let path = Path(id.clone());
            let answer = api::cancel(state, call, path, json_headers(), body.to_string().into());
            (answer.await, "cancelled", None)
        }
        Ask::Discharge => {
            let home = form.destination_home.trim().to_owned();
            let body = serde_json::json!({ "destination": "care_home", "destination_home": home });
            let path = Path(id.clone());
            let answer = api::discharge(state, call, path, json_headers(), body.to_string().into());
            (answer.await, "discharged", Some(home))
        }
    };
    let (status, body) = read(answer).await;
    if status.is_success() {
        let mut target = format!("/discharges/{}?done={done}", pf_web::percent_encode(&id));
        if let Some(home) = home.filter(|h| CqcLocationId::parse(h).is_ok()) {
            target.push_str(&format!("&home={}", pf_web::percent_encode(&home)));
        }
        return Redirect::to(&target).into_response();
    }
    if status == StatusCode::UNAUTHORIZED {
        return not_signed_in(&pages, NotSignedIn::Auth(&AuthError::SessionEnded), &path);
    }
    let errors = vec![SummaryError {
        href: ask.anchor(),
        message: error_text(&body),
    }];
    let shown = if status.is_client_error() {
        status
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    render_patient(
        &pages,
        &caller,
        &principal,
        &id,
        errors,
        shown,
        Showing::default(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_origin_joins_the_policy() {
        let policy = content_security_policy("ws://127.0.0.1:8080/").expect("valid");
        let policy = policy.to_str().expect("ascii");
        assert!(policy.contains("connect-src 'self' ws://127.0.0.1:8080;"));
        assert!(content_security_policy("ws://x; script-src *").is_err());
        assert!(content_security_policy("http://127.0.0.1").is_err());
    }

    #[test]
    fn ages_and_dates_read_as_words() {
        assert_eq!(age_text(None), "Never given");
        assert_eq!(age_text(Some(0)), "Less than an hour ago");
        assert_eq!(age_text(Some(5)), "5 hours ago");
        assert_eq!(age_text(Some(72)), "3 days ago");
        assert_eq!(long_date("2026-11-27"), "27 November 2026");
        let now = OffsetDateTime::parse("2026-12-07T10:00:00Z", &Rfc3339).expect("date");
        assert_eq!(
            time_left("2026-12-07T11:05:00Z", now),
            "1 hour 5 minutes left"
        );
        assert_eq!(time_left("2026-12-07T10:01:00Z", now), "1 minute left");
        assert_eq!(time_left("2026-12-07T12:00:00Z", now), "2 hours left");
        assert_eq!(
            time_left("2026-12-07T09:00:00Z", now),
            "less than a minute left"
        );
        assert_eq!(sex_label("female"), "Women only");
        assert_eq!(sex_label("either"), "Men and women");
    }
}
