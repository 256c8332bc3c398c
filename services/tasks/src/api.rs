//! The tasks API (JSON, bearer token or session):
//!
//! - `GET /api/v1/items`: the tasks and actions the caller may see
//!   (filters: `discharge_id`, `kind`, `state`, `mine`), each with whether
//!   it is overdue.
//! - `POST /api/v1/items`: a new discharge task or system-call action.
//! - `POST /api/v1/items/{id}/assign`, `…/due`, `…/done`, `…/cancel`.
//! - `GET /api/v1/actions/log?date=YYYY-MM-DD`: the day's actions as CSV.
//! - `GET|PUT /api/v1/teams/{ods}`: an organisation's team register.
//! - `GET /api/v1/task-types`: the configured discharge task types.
//!
//! Who may see and change what is `pf_task_model::change`'s rule. Every
//! change's attempt is in the audit trail before it is made; refusals are
//! `{"error": "…"}`: 400 unreadable, 401, 403, 404 (also for an item the
//! caller may not see), 409 closed already, 422 rules (identifying text, an
//! unknown owner), 429, 503. `services/tasks/openapi.json` documents them.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pf_access::{Action, OdsCode, Principal};
use pf_sign_in::{AuthError, Caller, NotSignedIn};
use pf_task_model::change::{self, Change, ChangeRefused, NewItem, Visibility};
use pf_task_model::{Item, ItemKind, ItemState, Owner, Team, TeamRegister};
use pf_web::ErrorBody;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::item_log::{LogError, item_entity, teams_entity};
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
    /// No such thing (or not the caller's to see).
    #[error("{0}")]
    NotFound(String),
    /// The change does not fit the current state.
    #[error("{0}")]
    Conflict(String),
    /// A value breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// Too many requests.
    #[error("too many requests; try again in {0} seconds")]
    TooMany(u64),
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

impl From<ChangeRefused> for ApiError {
    fn from(refused: ChangeRefused) -> Self {
        let text = refused.to_string();
        match refused {
            ChangeRefused::Forbidden(_) => ApiError::Forbidden(text),
            ChangeRefused::Text(_) | ChangeRefused::Invalid(_) => ApiError::Invalid(text),
            ChangeRefused::Conflict(_) => ApiError::Conflict(text),
        }
    }
}

impl From<LogError> for ApiError {
    fn from(err: LogError) -> Self {
        match err {
            LogError::NotFound => ApiError::NotFound(NO_SUCH_ITEM.into()),
            LogError::Refused(refused) => refused.into(),
            LogError::Contended => ApiError::Conflict(err.to_string()),
            LogError::Unavailable(cause) => ApiError::Unavailable(cause),
        }
    }
}

impl From<pf_live_state::LiveStateError> for ApiError {
    fn from(err: pf_live_state::LiveStateError) -> Self {
        ApiError::Unavailable(err.to_string())
    }
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
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
            ApiError::Conflict(_) => "conflict",
            ApiError::Invalid(_) => "invalid",
            ApiError::TooMany(_) => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::NotAudited(_) => "audit_unavailable",
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
        ErrorBody::<()> {
            error: self.to_string(),
            problems: Vec::new(),
        }
        .answer(status, retry_after)
    }
}

/// What a caller who may not see an item is told, as for one that does
/// not exist.
const NO_SUCH_ITEM: &str = "there is no such task or action, or it is not yours to see";

/// The audit trail's actions.
const CREATE: &str = "item.create";
const TEAMS: &str = "teams.change";
const EXPORT: &str = "actions.export";

/// An item as callers see it.
#[derive(Debug, Clone, Serialize)]
pub struct ItemView {
    /// The record.
    #[serde(flatten)]
    pub item: Item,
    /// The task type in words (empty for an action).
    pub task_label: String,
    /// Due, RFC 3339.
    pub due: String,
    /// Open and past due.
    pub overdue: bool,
}

fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

fn view(state: &AppState, item: Item, now_ms: i64) -> ItemView {
    ItemView {
        task_label: if item.kind == ItemKind::DischargeTask {
            state.config.task_types.label(&item.task_type).to_owned()
        } else {
            String::new()
        },
        due: rfc3339(item.due_ms),
        overdue: item.overdue(now_ms),
        item,
    }
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
                .audit_refused(caller, action, entity, err.label(), &err.to_string())
                .await
            {
                Ok(()) => err.into_response(),
                Err(wait) => ApiError::TooMany(wait.as_secs().max(1)).into_response(),
            }
        }
    }
}

fn due_ms(text: &str) -> Result<i64, ApiError> {
    let at = OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|_| {
        ApiError::Invalid(format!(
            "`{text}` is not a due time; give a date and time like 2026-12-07T16:00:00Z"
        ))
    })?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| ApiError::Invalid("the due time is out of range".into()))
}

/// Who an item is for, as a caller names them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerBody {
    /// The owner's organisation (ODS code).
    pub organisation: String,
    /// A person's sign-in id.
    #[serde(default)]
    pub person: Option<String>,
    /// A team from the organisation's register.
    #[serde(default)]
    pub team: Option<String>,
}

/// Resolves an owner: a person known to sign-in (not revoked, with a
/// session, or the caller), or a team in the organisation's register.
async fn owner(state: &AppState, by: &Principal, body: &OwnerBody) -> Result<Owner, ApiError> {
    let ods = OdsCode::parse(body.organisation.trim()).map_err(|_| {
        ApiError::Invalid(format!(
            "`{}` is not an ODS organisation code",
            body.organisation
        ))
    })?;
    let organisation = ods.as_str().to_owned();
    let person = body
        .person
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let team = body
        .team
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    match (person, team) {
        (Some(person), None) => {
            let store = state.authenticator.store();
            let revoked = store
                .is_revoked(person)
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            let known = person == by.id
                || store
                    .last_used(person)
                    .await
                    .map_err(|e| ApiError::Unavailable(e.to_string()))?
                    .is_some();
            if revoked || !known {
                return Err(ApiError::Invalid(format!(
                    "nobody with the sign-in id {person} uses Patient Flow now; give the item to \
                     a person who has signed in, or to a team"
                )));
            }
            let display = if person == by.id {
                by.name.clone()
            } else {
                person.to_owned()
            };
            Ok(Owner {
                organisation,
                person: Some(person.to_owned()),
                team: None,
                display,
            })
        }
        (None, Some(team)) => {
            let register = state.live.clone().team_register(&organisation).await?;
            let found = register.get(team).ok_or_else(|| {
                ApiError::Invalid(format!(
                    "{organisation} has no team called {team}; its administrator keeps the \
                     register of its teams"
                ))
            })?;
            Ok(Owner {
                display: format!("{} ({organisation})", found.name),
                organisation,
                person: None,
                team: Some(found.name.clone()),
            })
        }
        _ => Err(ApiError::Invalid(
            "name the owner as either a person or a team of the organisation, not both".into(),
        )),
    }
}

/// Filters of the list.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// One patient's tasks.
    #[serde(default)]
    pub discharge_id: Option<String>,
    /// `discharge_task` or `system_action`.
    #[serde(default)]
    pub kind: Option<ItemKind>,
    /// `open`, `done` or `cancelled`.
    #[serde(default)]
    pub state: Option<ItemState>,
    /// Only the caller's own (theirs, or their organisation's teams').
    #[serde(default)]
    pub mine: Option<bool>,
    /// Only overdue ones.
    #[serde(default)]
    pub overdue: Option<bool>,
}

/// The items `by` may see, with the filters, soonest due first.
pub async fn visible_items(
    state: &AppState,
    by: &Principal,
    query: &ListQuery,
) -> Result<Vec<ItemView>, ApiError> {
    let now = now_ms();
    let organisation = by.organisation.as_ref().map(|o| o.as_str());
    let mut items: Vec<ItemView> = state
        .live
        .clone()
        .all_items()
        .await?
        .into_iter()
        .filter(|i| change::visibility(i, by) == Visibility::Visible)
        .filter(|i| {
            query
                .discharge_id
                .as_deref()
                .is_none_or(|d| i.discharge_id == d)
        })
        .filter(|i| query.kind.is_none_or(|k| i.kind == k))
        .filter(|i| query.state.is_none_or(|s| i.state == s))
        .filter(|i| query.mine != Some(true) || i.owner.includes(&by.id, organisation))
        .filter(|i| query.overdue != Some(true) || i.overdue(now))
        .map(|i| view(state, i, now))
        .collect();
    items.sort_by(|a, b| (a.item.due_ms, &a.item.item_id).cmp(&(b.item.due_ms, &b.item.item_id)));
    Ok(items)
}

/// `GET /api/v1/items`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let result = async {
        let principal = caller.principal()?.clone();
        let Query(query) = query.map_err(|e| ApiError::Malformed(e.body_text()))?;
        visible_items(&state, &principal, &query).await
    }
    .await;
    match result {
        Ok(items) => Json(serde_json::json!({ "items": items })).into_response(),
        Err(err) => err.into_response(),
    }
}

/// A new item.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// `discharge_task` or `system_action`.
    pub kind: ItemKind,
    /// A discharge task's type code.
    #[serde(default)]
    pub task_type: Option<String>,
    /// What needs doing (for a task, default its type in words).
    #[serde(default)]
    pub text: String,
    /// Who does it.
    pub owner: OwnerBody,
    /// By when, RFC 3339.
    pub due: String,
    /// A discharge task's patient.
    #[serde(default)]
    pub discharge_id: Option<String>,
    /// Whether the patient cannot leave until it is done (default: the
    /// task type's).
    #[serde(default)]
    pub blocking: Option<bool>,
}

/// `POST /api/v1/items`.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let item_id = uuid::Uuid::now_v7().to_string();
    let entity = item_entity(&item_id);
    let result = async {
        let principal = caller.principal()?.clone();
        let body: CreateBody = json(&headers, &body)?;
        let new = match body.kind {
            ItemKind::DischargeTask => {
                let discharge_id = body.discharge_id.as_deref().map(str::trim).unwrap_or("");
                if uuid::Uuid::parse_str(discharge_id).is_err() {
                    return Err(ApiError::Invalid(
                        "a discharge task needs the patient's discharge id".into(),
                    ));
                }
                let summary = state
                    .live
                    .clone()
                    .discharge_summary(discharge_id)
                    .await?
                    .ok_or_else(|| {
                        ApiError::NotFound("no such patient on the discharge list".into())
                    })?;
                change::may_create(ItemKind::DischargeTask, &summary.managed_by, &principal)?;
                if !summary.status.is_waiting() {
                    return Err(ApiError::Conflict(
                        "the patient no longer waits for discharge".into(),
                    ));
                }
                let code = body.task_type.as_deref().unwrap_or("").trim();
                let task_type = state.config.task_types.get(code).ok_or_else(|| {
                    ApiError::Invalid(format!(
                        "`{code}` is not one of the discharge task types ({})",
                        state
                            .config
                            .task_types
                            .all()
                            .iter()
                            .map(|t| t.code.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
                NewItem {
                    kind: ItemKind::DischargeTask,
                    task_type: task_type.code.clone(),
                    text: body.text.clone(),
                    owner: owner(&state, &principal, &body.owner).await?,
                    due_ms: due_ms(&body.due)?,
                    discharge_id: discharge_id.to_owned(),
                    managed_by: summary.managed_by.clone(),
                    blocking: body.blocking.unwrap_or(task_type.blocking),
                }
            }
            ItemKind::SystemAction => {
                change::may_create(ItemKind::SystemAction, "", &principal)?;
                if body.discharge_id.is_some() || body.task_type.is_some() {
                    return Err(ApiError::Invalid(
                        "a system-call action names no patient and no task type".into(),
                    ));
                }
                NewItem {
                    kind: ItemKind::SystemAction,
                    task_type: String::new(),
                    text: body.text.clone(),
                    owner: owner(&state, &principal, &body.owner).await?,
                    due_ms: due_ms(&body.due)?,
                    discharge_id: String::new(),
                    managed_by: String::new(),
                    blocking: false,
                }
            }
        };
        let now = now_ms();
        let item = change::create(new, item_id.clone(), &principal.id, now)?;
        within_limit(&state, &principal)?;
        state.attempt(&caller, CREATE, &entity).await?;
        let stored = state.items.create(item.clone(), &principal).await?;
        state
            .changes
            .with_label_values(&[stored.event.event_type.as_str()])
            .inc();
        Ok((
            StatusCode::CREATED,
            view(&state, item, now),
            Some(stored.event.event_id),
        ))
    }
    .await;
    answer(&state, &caller, CREATE, &entity, result).await
}

/// A new owner.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// Who does it now.
    pub owner: OwnerBody,
}

/// A new due time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DueBody {
    /// RFC 3339.
    pub due: String,
}

/// What was done, or why it is no longer needed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// In words (checked for identifiers).
    #[serde(default)]
    pub note: String,
}

async fn change_item(
    state: &AppState,
    caller: &Caller,
    id: &str,
    make: impl AsyncFnOnce(&Principal) -> Result<Change, ApiError>,
) -> (
    String,
    Result<(StatusCode, ItemView, Option<String>), ApiError>,
) {
    let mut action = "item.change".to_owned();
    let result = async {
        let principal = caller.principal()?.clone();
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(ApiError::NotFound(NO_SUCH_ITEM.into()));
        }
        let change = make(&principal).await?;
        change.action().clone_into(&mut action);
        within_limit(state, &principal)?;
        state.attempt(caller, &action, &item_entity(id)).await?;
        let now = now_ms();
        let (item, stored) = state.items.change(id, &change, &principal, now).await?;
        if let Some(stored) = &stored {
            state
                .changes
                .with_label_values(&[stored.event.event_type.as_str()])
                .inc();
        }
        Ok((
            StatusCode::OK,
            view(state, item, now),
            stored.map(|s| s.event.event_id),
        ))
    }
    .await;
    (action, result)
}

/// `POST /api/v1/items/{id}/assign`.
pub async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (action, result) = change_item(&state, &caller, &id, async |principal| {
        let body: AssignBody = json(&headers, &body)?;
        Ok(Change::Assign(owner(&state, principal, &body.owner).await?))
    })
    .await;
    answer(&state, &caller, &action, &item_entity(&id), result).await
}

/// `POST /api/v1/items/{id}/due`.
pub async fn due(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (action, result) = change_item(&state, &caller, &id, async |_| {
        let body: DueBody = json(&headers, &body)?;
        Ok(Change::Due(due_ms(&body.due)?))
    })
    .await;
    answer(&state, &caller, &action, &item_entity(&id), result).await
}

/// `POST /api/v1/items/{id}/done`.
pub async fn done(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (action, result) = change_item(&state, &caller, &id, async |_| {
        let body: NoteBody = optional_json(&headers, &body)?;
        Ok(Change::Done(body.note))
    })
    .await;
    answer(&state, &caller, &action, &item_entity(&id), result).await
}

/// `POST /api/v1/items/{id}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (action, result) = change_item(&state, &caller, &id, async |_| {
        let body: NoteBody = optional_json(&headers, &body)?;
        Ok(Change::Cancel(body.note))
    })
    .await;
    answer(&state, &caller, &action, &item_entity(&id), result).await
}

/// The day of the log.
#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    /// `YYYY-MM-DD` (UK date the actions were recorded; default today).
    #[serde(default)]
    pub date: Option<String>,
}

/// `GET /api/v1/actions/log`: the day's system-call actions as CSV (an
/// audited export, for control-room leads).
pub async fn actions_log(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let result: Result<(time::Date, String), ApiError> = async {
        let principal = caller.principal()?.clone();
        principal
            .permits(&Action::RecordSystemActions)
            .require()
            .map_err(|r| ApiError::Forbidden(r.reason))?;
        let Query(query) = query.map_err(|e| ApiError::Malformed(e.body_text()))?;
        let day = match query.date.as_deref() {
            Some(text) => pf_discharge_model::record::parse_date(text).ok_or_else(|| {
                ApiError::Invalid(format!("`{text}` is not a date like 2026-12-07"))
            })?,
            None => pf_web::uk_time::date(OffsetDateTime::now_utc()),
        };
        let mut actions: Vec<Item> = state
            .live
            .clone()
            .all_items()
            .await?
            .into_iter()
            .filter(|i| i.kind == ItemKind::SystemAction)
            .filter(|i| {
                OffsetDateTime::from_unix_timestamp_nanos(i128::from(i.created_ms) * 1_000_000)
                    .is_ok_and(|at| pf_web::uk_time::date(at) == day)
            })
            .collect();
        actions.sort_by(|a, b| (a.created_ms, &a.item_id).cmp(&(b.created_ms, &b.item_id)));
        let csv =
            pf_task_model::log::csv(&actions).map_err(|e| ApiError::Unavailable(e.to_string()))?;
        state
            .audit_read(&caller, EXPORT, &format!("actions/{day}"))
            .await?;
        Ok((day, csv))
    }
    .await;
    match result {
        Ok((day, csv)) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"system-call-actions-{day}.csv\""),
                ),
            ],
            csv,
        )
            .into_response(),
        Err(err) => {
            let _ = state
                .audit_refused(&caller, EXPORT, "actions", err.label(), &err.to_string())
                .await;
            err.into_response()
        }
    }
}

fn ods_of(text: &str) -> Result<OdsCode, ApiError> {
    OdsCode::parse(text)
        .map_err(|_| ApiError::NotFound(format!("`{text}` is not an ODS organisation code")))
}

/// `GET /api/v1/teams/{ods}`: any signed-in person (to choose an owner).
pub async fn teams(
    State(state): State<AppState>,
    caller: Caller,
    Path(ods): Path<String>,
) -> Response {
    let result = async {
        caller.principal()?;
        let ods = ods_of(&ods)?;
        Ok::<_, ApiError>(state.live.clone().team_register(ods.as_str()).await?)
    }
    .await;
    match result {
        Ok(register) => Json(register).into_response(),
        Err(err) => err.into_response(),
    }
}

/// A whole team register.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsBody {
    /// Every team, in order.
    pub teams: Vec<Team>,
}

/// `PUT /api/v1/teams/{ods}`: the organisation's administrator replaces
/// the register.
pub async fn set_teams(
    State(state): State<AppState>,
    caller: Caller,
    Path(ods): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let entity = teams_entity(&ods);
    let result = async {
        let principal = caller.principal()?.clone();
        let ods = ods_of(&ods)?;
        principal
            .permits(&Action::ManageTeams { ods: ods.clone() })
            .require()
            .map_err(|r| ApiError::Forbidden(r.reason))?;
        let body: TeamsBody = json(&headers, &body)?;
        let register = TeamRegister::new(ods.as_str(), body.teams)
            .map_err(|e| ApiError::Invalid(e.to_string()))?;
        within_limit(&state, &principal)?;
        state.attempt(&caller, TEAMS, &entity).await?;
        let stored = state.items.set_teams(&register, &principal).await?;
        Ok((StatusCode::OK, register, stored.map(|s| s.event.event_id)))
    }
    .await;
    answer(&state, &caller, TEAMS, &entity, result).await
}

/// `GET /api/v1/task-types`.
pub async fn task_types(State(state): State<AppState>, caller: Caller) -> Response {
    match caller.principal() {
        Ok(_) => Json(state.config.task_types.clone()).into_response(),
        Err(refusal) => ApiError::from(refusal).into_response(),
    }
}
