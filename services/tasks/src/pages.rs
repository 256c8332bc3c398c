//! The tasks pages: server-rendered forms (NHS.UK design system) to create,
//! give to another owner, complete and cancel tasks and actions, complete
//! without JavaScript.
//!
//! - `GET /tasks`: the caller's own open items, with a form to record a
//!   system-call action for a control-room lead.
//! - `GET /tasks?discharge_id=…`: one patient's tasks, with a form to add
//!   one for the patient's discharge coordinators.
//! - `POST /tasks/new`: a new task or action.
//! - `GET /tasks/items/{id}`: one item, with the forms the caller may use.
//! - `POST /tasks/items/{id}/assign`, `…/done`, `…/cancel`.
//!
//! Every form carries the session's CSRF token; a change goes through the
//! JSON API's own handler, so the pages and the API keep one set of rules,
//! refusals and audit records. A refusal is shown in the NHS.UK error
//! summary with the API's sentence; success is a 303 with a confirmation.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use pf_access::Principal;
use pf_sign_in::{AuthError, Caller, NotSignedIn};
use pf_task_model::change::{self, Change};
use pf_task_model::{Item, ItemKind, ItemState};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;
use time::{Date, Month, OffsetDateTime, Time};

use crate::api::{self, ListQuery};
use crate::state::AppState;

/// The pages this service renders (checked at start).
pub const PAGES: &[&str] = &["tasks.html", "task.html", "tasks-refused.html"];

/// The largest API answer read back by a page.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// What a form whose token does not match is told.
const EXPIRED: &str = "This form has expired. Reload the page and try again.";

/// What the page handlers share.
#[derive(Clone)]
pub struct Pages {
    app: AppState,
    templates: Arc<minijinja::Environment<'static>>,
}

impl pf_sign_in::CallerContext for Pages {
    fn authenticator(&self) -> &pf_sign_in::Authenticator {
        &self.app.authenticator
    }
    fn limits(&self) -> &pf_sign_in::WriteLimits {
        &self.app.limits
    }
    fn service_name(&self) -> &'static str {
        crate::item_log::SERVICE
    }
    fn trusted_proxies(&self) -> Option<&pf_audit::TrustedProxies> {
        Some(&self.app.trusted_proxies)
    }
}

/// The pages' routes, with assets and security headers.
pub fn router(
    app: AppState,
    templates: minijinja::Environment<'static>,
    http_metrics: pf_runtime::HttpMetrics,
) -> Router {
    let dashboards = app.config.dashboards_dir.clone();
    let pages = Pages {
        app,
        templates: Arc::new(templates),
    };
    let routes = Router::new()
        .route("/", get(|| async { Redirect::to("/tasks") }))
        .route("/tasks", get(list_page))
        .route("/tasks/new", post(create))
        .route("/tasks/items/{id}", get(item_page))
        .route(
            "/tasks/items/{id}/assign",
            post(
                |s: State<Pages>, c: Caller, p: Path<String>, f: Form<ChangeForm>| {
                    change_form(s, c, p, f, Ask::Assign)
                },
            ),
        )
        .route(
            "/tasks/items/{id}/done",
            post(
                |s: State<Pages>, c: Caller, p: Path<String>, f: Form<ChangeForm>| {
                    change_form(s, c, p, f, Ask::Done)
                },
            ),
        )
        .route(
            "/tasks/items/{id}/cancel",
            post(
                |s: State<Pages>, c: Caller, p: Path<String>, f: Form<ChangeForm>| {
                    change_form(s, c, p, f, Ask::Cancel)
                },
            ),
        );
    pf_web::with_security_headers(
        pf_web::assets(routes, &dashboards)
            .layer(DefaultBodyLimit::max(crate::MAX_BODY_BYTES))
            .layer(axum::middleware::from_fn_with_state(
                http_metrics,
                pf_runtime::HttpMetrics::record,
            )),
        pf_web::CONTENT_SECURITY_POLICY,
    )
    .with_state(pages)
}

/// A problem in the NHS.UK error summary.
#[derive(Debug, Clone, Serialize)]
struct Problem {
    href: String,
    message: String,
}

/// An item as the pages show it.
#[derive(Debug, Serialize)]
struct Row {
    item_id: String,
    kind: &'static str,
    what: String,
    text: String,
    owner: String,
    due: String,
    overdue: bool,
    state: &'static str,
    closed: String,
    blocking: bool,
    patient: String,
}

fn uk_clock(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|at| {
            format!(
                "{} on {}",
                pf_web::uk_time::hh_mm(at),
                pf_web::uk_time::day_month(at)
            )
        })
        .unwrap_or_default()
}

fn row(view: &api::ItemView) -> Row {
    let item = &view.item;
    let (kind, what) = match item.kind {
        ItemKind::DischargeTask => ("discharge_task", view.task_label.clone()),
        ItemKind::SystemAction => ("system_action", "System call action".to_owned()),
    };
    let closed = match item.state {
        ItemState::Open => String::new(),
        ItemState::Done => format!("Done by {} at {}", item.closed_by, uk_clock(item.closed_ms)),
        ItemState::Cancelled => format!(
            "Cancelled by {} at {}",
            item.closed_by,
            uk_clock(item.closed_ms)
        ),
    };
    Row {
        item_id: item.item_id.clone(),
        kind,
        what,
        text: item.text.clone(),
        owner: item.owner.display.clone(),
        due: uk_clock(item.due_ms),
        overdue: view.overdue,
        state: match item.state {
            ItemState::Open => "open",
            ItemState::Done => "done",
            ItemState::Cancelled => "cancelled",
        },
        closed,
        blocking: item.blocking,
        patient: item.discharge_id.clone(),
    }
}

/// A sentence as the error summary shows it: capital first letter.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "The change could not be made. Please try again.".to_owned(),
    }
}

fn token_matches(caller: &Caller, presented: &str) -> bool {
    let expected = caller.csrf_token.as_deref().unwrap_or_default();
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

fn again(caller: &Caller, principal: &Principal) -> Caller {
    Caller {
        principal: Ok(principal.clone()),
        source: caller.source.clone(),
        throttled: None,
        csrf_token: caller.csrf_token.clone(),
    }
}

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers
}

async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
        .await
        .unwrap_or_default();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn refused_page(pages: &Pages, status: StatusCode, heading: &str, text: &str) -> Response {
    pf_web::render(
        &pages.templates,
        "tasks-refused.html",
        minijinja::context! {
            heading => heading,
            text => text,
            service_href => "/tasks",
            sign_out_url => pages.app.config.sign_out_url.clone(),
        },
        status,
    )
}

/// The signed-in caller, or the answer to give (sign-in, or why not).
fn signed_in(pages: &Pages, caller: &Caller, path: &str) -> Result<Principal, Box<Response>> {
    match caller.principal() {
        Ok(principal) => Ok(principal.clone()),
        Err(NotSignedIn::Throttled(wait)) => Err(Box::new(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, wait.as_secs().max(1).to_string())],
                "Too many attempts from this address. Please wait a minute and try again.",
            )
                .into_response(),
        )),
        Err(NotSignedIn::Auth(AuthError::Unavailable(_))) => Err(Box::new(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable right now. Please try again in a moment.",
            )
                .into_response(),
        )),
        Err(NotSignedIn::Auth(_)) => {
            let config = &pages.app.config;
            Err(Box::new(pf_web::sign_in_redirect(
                &config.sign_in_url,
                &config.public_url,
                path,
            )))
        }
    }
}

/// What the new-item form holds (kept on a refusal).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct NewForm {
    #[serde(default)]
    csrf: String,
    /// `discharge_task` or `system_action`.
    #[serde(default)]
    kind: String,
    #[serde(default)]
    discharge_id: String,
    #[serde(default)]
    task_type: String,
    #[serde(default)]
    text: String,
    #[serde(flatten)]
    owner: OwnerFields,
    #[serde(default)]
    due_day: String,
    #[serde(default)]
    due_month: String,
    #[serde(default)]
    due_year: String,
    #[serde(default)]
    due_time: String,
}

/// An owner as a form names them.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct OwnerFields {
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    person: String,
}

impl OwnerFields {
    fn body(&self) -> Value {
        let some = |s: &str| {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        };
        json!({
            "organisation": self.organisation.trim(),
            "team": some(&self.team),
            "person": some(&self.person),
        })
    }
}

/// A UK date and `HH:MM` clock time, as the instant (RFC 3339) it names.
fn due_instant(form: &NewForm) -> Result<String, Problem> {
    let problem = |message: &str| Problem {
        href: "#due-day".into(),
        message: message.into(),
    };
    let number = |s: &str| s.trim().parse::<u16>().ok();
    let (Some(day), Some(month), Some(year)) = (
        number(&form.due_day),
        number(&form.due_month),
        number(&form.due_year),
    ) else {
        return Err(problem(
            "Enter the date it is due by, with a day, month and year, for example 7 12 2026",
        ));
    };
    let date = Month::try_from(u8::try_from(month).unwrap_or(0))
        .ok()
        .and_then(|m| Date::from_calendar_date(i32::from(year), m, u8::try_from(day).ok()?).ok())
        .ok_or_else(|| {
            problem("The date it is due by must be a real date, for example 7 12 2026")
        })?;
    let time = form
        .due_time
        .trim()
        .split_once(':')
        .and_then(|(h, m)| Time::from_hms(h.parse().ok()?, m.parse().ok()?, 0).ok())
        .ok_or_else(|| Problem {
            href: "#due-time".into(),
            message: "Enter the time it is due by on the 24-hour clock, for example 16:00".into(),
        })?;
    // The UK clock is UTC or UTC+1: the instant whose UK clock reads so.
    let as_utc = date.with_time(time).assume_utc();
    let at = [as_utc - time::Duration::hours(1), as_utc]
        .into_iter()
        .find(|at| {
            pf_web::uk_time::date(*at) == date
                && pf_web::uk_time::hh_mm(*at) == format!("{:02}:{:02}", time.hour(), time.minute())
        })
        .unwrap_or(as_utc);
    at.format(&time::format_description::well_known::Rfc3339)
        .map_err(|_| problem("The date it is due by is out of range"))
}

/// Where in the form an API refusal belongs.
fn field_of(message: &str) -> &'static str {
    let lower = message.to_lowercase();
    if lower.contains("due") {
        "#due-day"
    } else if lower.contains("team") || lower.contains("sign-in id") || lower.contains("owner") {
        "#owner-team"
    } else if lower.contains("ods") {
        "#owner-organisation"
    } else if lower.contains("task type") {
        "#task_type"
    } else {
        "#text"
    }
}

/// The list page's query.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    discharge_id: Option<String>,
    /// A confirmation to show (`added`).
    #[serde(default)]
    done: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn render_list(
    pages: &Pages,
    caller: &Caller,
    principal: &Principal,
    discharge_id: Option<&str>,
    form: NewForm,
    problems: Vec<Problem>,
    confirmation: Option<&str>,
    status: StatusCode,
) -> Response {
    let query = ListQuery {
        discharge_id: discharge_id.map(str::to_owned),
        mine: discharge_id.is_none().then_some(true),
        ..ListQuery::default()
    };
    let items = match api::visible_items(&pages.app, principal, &query).await {
        Ok(items) => items,
        Err(_) => {
            return refused_page(
                pages,
                StatusCode::SERVICE_UNAVAILABLE,
                "Sorry, there is a problem",
                "The tasks cannot be read right now. Please try again in a moment.",
            );
        }
    };
    let mut rows: Vec<Row> = items
        .iter()
        .filter(|v| discharge_id.is_some() || v.item.state == ItemState::Open)
        .map(row)
        .collect();
    rows.sort_by_key(|r| r.state != "open");
    let may_add_task = match discharge_id {
        Some(id) => match pages.app.live.clone().discharge_summary(id).await {
            Ok(Some(summary)) => {
                change::may_create(ItemKind::DischargeTask, &summary.managed_by, principal).is_ok()
                    && summary.status.is_waiting()
            }
            _ => false,
        },
        None => false,
    };
    let may_add_action =
        discharge_id.is_none() && change::may_create(ItemKind::SystemAction, "", principal).is_ok();
    // Open actions for a lead, beside their own.
    let actions: Vec<Row> = if may_add_action {
        let query = ListQuery {
            kind: Some(ItemKind::SystemAction),
            ..ListQuery::default()
        };
        api::visible_items(&pages.app, principal, &query)
            .await
            .unwrap_or_default()
            .iter()
            .map(row)
            .collect()
    } else {
        Vec::new()
    };
    let organisation = principal
        .organisation
        .as_ref()
        .map(|o| o.as_str().to_owned())
        .unwrap_or_default();
    let mut form = form;
    if form.owner.organisation.is_empty() {
        form.owner.organisation.clone_from(&organisation);
    }
    let teams = match pages
        .app
        .live
        .clone()
        .team_register(form.owner.organisation.trim())
        .await
    {
        Ok(register) => register.teams.iter().map(|t| t.name.clone()).collect(),
        Err(_) => Vec::<String>::new(),
    };
    let types: Vec<Value> = pages
        .app
        .config
        .task_types
        .all()
        .iter()
        .map(|t| json!({"value": t.code, "label": t.label}))
        .collect();
    let confirmation = match confirmation {
        Some("added") => Some("The task has been added."),
        Some("recorded") => Some("The action has been recorded."),
        _ => None,
    };
    pf_web::render(
        &pages.templates,
        "tasks.html",
        minijinja::context! {
            rows => rows,
            actions => actions,
            discharge_id => discharge_id,
            may_add_task => may_add_task,
            may_add_action => may_add_action,
            form => form,
            errors => problems,
            teams => teams,
            task_types => types,
            confirmation => confirmation,
            csrf => caller.csrf_token.clone().unwrap_or_default(),
            person => principal.name.clone(),
            service_href => "/tasks",
            sign_out_url => pages.app.config.sign_out_url.clone(),
        },
        status,
    )
}

/// `GET /tasks[?discharge_id=…]`.
pub async fn list_page(
    State(pages): State<Pages>,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Response {
    let path = match &query.discharge_id {
        Some(id) => format!("/tasks?discharge_id={}", pf_web::percent_encode(id)),
        None => "/tasks".to_owned(),
    };
    let principal = match signed_in(&pages, &caller, &path) {
        Ok(principal) => principal,
        Err(response) => return *response,
    };
    render_list(
        &pages,
        &caller,
        &principal,
        query.discharge_id.as_deref(),
        NewForm::default(),
        Vec::new(),
        query.done.as_deref(),
        StatusCode::OK,
    )
    .await
}

/// `POST /tasks/new`.
pub async fn create(
    State(pages): State<Pages>,
    caller: Caller,
    Form(form): Form<NewForm>,
) -> Response {
    let patient = (form.kind == "discharge_task").then(|| form.discharge_id.trim().to_owned());
    let back = match &patient {
        Some(id) => format!("/tasks?discharge_id={}", pf_web::percent_encode(id)),
        None => "/tasks".to_owned(),
    };
    let principal = match signed_in(&pages, &caller, &back) {
        Ok(principal) => principal,
        Err(response) => return *response,
    };
    let refuse = async |problems: Vec<Problem>, status: StatusCode| {
        render_list(
            &pages,
            &caller,
            &principal,
            patient.as_deref(),
            form.clone(),
            problems,
            None,
            status,
        )
        .await
    };
    if !token_matches(&caller, &form.csrf) {
        let _ = pages
            .app
            .audit_refused(&caller, "item.create", "items", "malformed", EXPIRED)
            .await;
        let problem = Problem {
            href: "#text".into(),
            message: EXPIRED.into(),
        };
        return refuse(vec![problem], StatusCode::BAD_REQUEST).await;
    }
    let due = match due_instant(&form) {
        Ok(due) => due,
        Err(problem) => return refuse(vec![problem], StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    let body = match &patient {
        Some(id) => json!({
            "kind": "discharge_task",
            "task_type": form.task_type.trim(),
            "text": form.text,
            "owner": form.owner.body(),
            "due": due,
            "discharge_id": id,
        }),
        None => json!({
            "kind": "system_action",
            "text": form.text,
            "owner": form.owner.body(),
            "due": due,
        }),
    };
    let answer = api::create(
        State(pages.app.clone()),
        again(&caller, &principal),
        json_headers(),
        body.to_string().into(),
    )
    .await;
    let (status, body) = read(answer).await;
    if status.is_success() {
        let done = if patient.is_some() {
            "added"
        } else {
            "recorded"
        };
        let sep = if back.contains('?') { '&' } else { '?' };
        return Redirect::to(&format!("{back}{sep}done={done}")).into_response();
    }
    let message = body["error"].as_str().unwrap_or_default();
    let problem = Problem {
        href: field_of(message).into(),
        message: sentence(message),
    };
    refuse(vec![problem], status).await
}

/// The change a form asks for.
#[derive(Debug, Clone, Copy)]
enum Ask {
    Assign,
    Done,
    Cancel,
}

/// What the change forms hold.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct ChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    owner: OwnerFields,
    #[serde(default)]
    note: String,
}

/// The item `id` as `principal` may see it.
async fn visible_item(
    pages: &Pages,
    principal: &Principal,
    id: &str,
) -> Result<Option<api::ItemView>, Response> {
    match api::visible_items(&pages.app, principal, &ListQuery::default()).await {
        Ok(items) => Ok(items.into_iter().find(|v| v.item.item_id == id)),
        Err(_) => Err(refused_page(
            pages,
            StatusCode::SERVICE_UNAVAILABLE,
            "Sorry, there is a problem",
            "The tasks cannot be read right now. Please try again in a moment.",
        )),
    }
}

#[allow(clippy::too_many_arguments)]
async fn render_item(
    pages: &Pages,
    caller: &Caller,
    principal: &Principal,
    id: &str,
    form: ChangeForm,
    problems: Vec<Problem>,
    confirmation: Option<&str>,
    status: StatusCode,
) -> Response {
    let view = match visible_item(pages, principal, id).await {
        Ok(Some(view)) => view,
        Ok(None) => {
            return refused_page(
                pages,
                StatusCode::NOT_FOUND,
                "Task or action not found",
                "There is no such task or action, or it is not yours to see.",
            );
        }
        Err(response) => return response,
    };
    let item: &Item = &view.item;
    let open = item.state == ItemState::Open;
    let may = |change: &Change| open && change::may_change(item, change, principal).is_ok();
    let may_assign = may(&Change::Assign(item.owner.clone()));
    let may_done = may(&Change::Done(String::new()));
    let may_cancel = may(&Change::Cancel(String::new()));
    let mut form = form;
    if form.owner.organisation.is_empty() {
        form.owner.organisation.clone_from(&item.owner.organisation);
    }
    let teams: Vec<String> = pages
        .app
        .live
        .clone()
        .team_register(form.owner.organisation.trim())
        .await
        .map(|r| r.teams.iter().map(|t| t.name.clone()).collect())
        .unwrap_or_default();
    let confirmation = match confirmation {
        Some("assigned") => Some("The new owner has it now."),
        Some("done") => Some("It has been marked as done."),
        Some("cancelled") => Some("It has been cancelled."),
        _ => None,
    };
    pf_web::render(
        &pages.templates,
        "task.html",
        minijinja::context! {
            item => row(&view),
            may_assign => may_assign,
            may_done => may_done,
            may_cancel => may_cancel,
            form => form,
            teams => teams,
            errors => problems,
            confirmation => confirmation,
            csrf => caller.csrf_token.clone().unwrap_or_default(),
            person => principal.name.clone(),
            service_href => "/tasks",
            sign_out_url => pages.app.config.sign_out_url.clone(),
        },
        status,
    )
}

/// `GET /tasks/items/{id}[?done=…]`.
pub async fn item_page(
    State(pages): State<Pages>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let path = format!("/tasks/items/{}", pf_web::percent_encode(&id));
    let principal = match signed_in(&pages, &caller, &path) {
        Ok(principal) => principal,
        Err(response) => return *response,
    };
    render_item(
        &pages,
        &caller,
        &principal,
        &id,
        ChangeForm::default(),
        Vec::new(),
        query.done.as_deref(),
        StatusCode::OK,
    )
    .await
}

/// `POST /tasks/items/{id}/assign|done|cancel`.
async fn change_form(
    State(pages): State<Pages>,
    caller: Caller,
    Path(id): Path<String>,
    Form(form): Form<ChangeForm>,
    ask: Ask,
) -> Response {
    let path = format!("/tasks/items/{}", pf_web::percent_encode(&id));
    let principal = match signed_in(&pages, &caller, &path) {
        Ok(principal) => principal,
        Err(response) => return *response,
    };
    let anchor = match ask {
        Ask::Assign => "#owner-team",
        Ask::Done => "#done-note",
        Ask::Cancel => "#cancel-note",
    };
    if !token_matches(&caller, &form.csrf) {
        let _ = pages
            .app
            .audit_refused(
                &caller,
                "item.change",
                &crate::item_log::item_entity(&id),
                "malformed",
                EXPIRED,
            )
            .await;
        let problem = Problem {
            href: anchor.into(),
            message: EXPIRED.into(),
        };
        return render_item(
            &pages,
            &caller,
            &principal,
            &id,
            form,
            vec![problem],
            None,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let state = State(pages.app.clone());
    let call = again(&caller, &principal);
    let at = Path(id.clone());
    let (answer, done) = match ask {
        Ask::Assign => {
            let body = json!({ "owner": form.owner.body() }).to_string();
            (
                api::assign(state, call, at, json_headers(), body.into()).await,
                "assigned",
            )
        }
        Ask::Done => {
            let body = json!({ "note": form.note }).to_string();
            (
                api::done(state, call, at, json_headers(), body.into()).await,
                "done",
            )
        }
        Ask::Cancel => {
            let body = json!({ "note": form.note }).to_string();
            (
                api::cancel(state, call, at, json_headers(), body.into()).await,
                "cancelled",
            )
        }
    };
    let (status, body) = read(answer).await;
    if status.is_success() {
        return Redirect::to(&format!("{path}?done={done}")).into_response();
    }
    let message = body["error"].as_str().unwrap_or_default();
    if status == StatusCode::NOT_FOUND {
        return refused_page(
            &pages,
            status,
            "Task or action not found",
            "There is no such task or action, or it is not yours to see.",
        );
    }
    let href = match (ask, field_of(message)) {
        (Ask::Assign, field) if field != "#text" => field,
        _ => anchor,
    };
    let problem = Problem {
        href: href.into(),
        message: sentence(message),
    };
    render_item(
        &pages,
        &caller,
        &principal,
        &id,
        form,
        vec![problem],
        None,
        status,
    )
    .await
}
