//! Administration: withdrawing and reinstating access, reading the audit
//! trail, and "who am I". `services/identity/openapi.json` documents these
//! and the link and kiosk routes (served at `/api/v1/openapi.json`).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Json, Response};
use pf_access::Action;
use pf_audit::export::{to_csv, to_json};
use pf_audit::{AuditError, AuditQuery};
use pf_sign_in::Authenticated;
use pf_sign_in::kiosks::{kiosk_id_of, kiosk_principal_id, valid_kiosk_id};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::api::{self, ApiError};
use crate::caller::Caller;
use crate::state::AppState;
use crate::trail;

/// The audit action of a revocation.
pub const REVOKED: &str = "access.revoked";
/// The audit action of a reinstatement.
pub const REINSTATED: &str = "access.reinstated";
/// The audit action of reading the audit trail.
pub const AUDIT_READ: &str = "audit.read";

/// `POST /api/v1/access/revoke` and `/reinstate` body: a person (or
/// machine identity) by `person_id`, or a kiosk by `kiosk_id`.
#[derive(Debug, Deserialize)]
pub struct PersonRequest {
    /// The person (or machine identity) concerned; a kiosk's principal id
    /// is `kiosk:{kiosk_id}`.
    #[serde(default)]
    pub person_id: Option<String>,
    /// The kiosk concerned.
    #[serde(default)]
    pub kiosk_id: Option<String>,
}

/// Whom a revocation or reinstatement concerns.
#[derive(Debug)]
struct Target {
    /// The principal id.
    id: String,
    /// The kiosk, when it was named as one (by `kiosk_id` or `kiosk:{id}`).
    kiosk: Option<String>,
}

impl Target {
    /// The audit entity: `kiosk/{id}` or `person/{id}`.
    fn entity(&self) -> String {
        match &self.kiosk {
            Some(kiosk) => format!("kiosk/{kiosk}"),
            None => format!("person/{}", trail::clip(&self.id)),
        }
    }
}

fn target(body: &Result<PersonRequest, ApiError>) -> Result<Target, ApiError> {
    let request = body
        .as_ref()
        .map_err(|err| ApiError::BadRequest(err.to_string()))?;
    let trimmed = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    match (trimmed(&request.person_id), trimmed(&request.kiosk_id)) {
        (Some(_), Some(_)) => Err(ApiError::Invalid(
            "Give either person_id or kiosk_id, not both.".to_owned(),
        )),
        (None, None) => Err(ApiError::Invalid(
            "Give the person_id of a person, or the kiosk_id of a kiosk.".to_owned(),
        )),
        (Some(id), None) if id.len() > 128 => Err(ApiError::Invalid(
            "Give the person_id (at most 128 characters).".to_owned(),
        )),
        (Some(id), None) => Ok(Target {
            kiosk: kiosk_id_of(&id).map(str::to_owned),
            id,
        }),
        (None, Some(kiosk)) if !valid_kiosk_id(&kiosk) => Err(ApiError::Invalid(
            "kiosk_id must be 1 to 64 letters, digits, '.', '_' or '-'.".to_owned(),
        )),
        (None, Some(kiosk)) => Ok(Target {
            id: kiosk_principal_id(&kiosk),
            kiosk: Some(kiosk),
        }),
    }
}

/// The entity of a request for the audit trail of its refusal (empty when
/// it names nobody).
fn entity_of(target: &Result<Target, ApiError>) -> String {
    target.as_ref().map(Target::entity).unwrap_or_default()
}

/// `POST /api/v1/access/revoke`: ends the person's (or kiosk's) sessions at
/// once, refuses their tokens and new sign-ins until they are reinstated,
/// and voids every link issued to them so far, for good (system
/// administrators only). A kiosk stays revoked for good.
pub async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Json<PersonRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let source = caller.source.clone();
    let target = target(&api::body(body));
    let entity = entity_of(&target);
    let admin = api::authorise(
        &app,
        caller,
        &headers,
        &Action::ManageAccess,
        REVOKED,
        &entity,
    )
    .await?;
    revoke_for(&app, &admin, &source, target)
        .await
        .map(|answer| Json(answer).into_response())
}

/// Revokes the person or kiosk `request` names, for `admin` (already
/// authorised): the attempt is in the audit trail first. Shared by the API
/// and the administration pages. The answer's `sessions_ended` counts the
/// sessions ended.
pub async fn revoke_person(
    app: &AppState,
    admin: &pf_access::Principal,
    source: &crate::caller::Source,
    request: Result<PersonRequest, ApiError>,
) -> Result<serde_json::Value, ApiError> {
    revoke_for(app, admin, source, target(&request)).await
}

async fn revoke_for(
    app: &AppState,
    admin: &pf_access::Principal,
    source: &crate::caller::Source,
    target: Result<Target, ApiError>,
) -> Result<serde_json::Value, ApiError> {
    let entity = entity_of(&target);
    let source = source.clone();
    let target = target?;
    let unavailable = |err: pf_sign_in::StoreError| {
        tracing::error!(cause = %err, "could not revoke");
        ApiError::unavailable()
    };
    // Nothing is revoked unless the attempt is in the audit trail first.
    let attempt = trail::attempt(app, trail::actor(admin), REVOKED, &entity, &source).await?;
    // A kiosk named by its bare id as a person_id is revoked too: revoking
    // more than asked is the safe mistake.
    let kiosk = match &target.kiosk {
        Some(kiosk) => Some(kiosk.clone()),
        None if valid_kiosk_id(&target.id) => app
            .store()
            .kiosk(&target.id)
            .await
            .map_err(unavailable)?
            .map(|kiosk| kiosk.id),
        None => None,
    };
    let mut ended = app.store().revoke(&target.id).await.map_err(unavailable)?;
    if let Some(kiosk) = &kiosk {
        let principal = kiosk_principal_id(kiosk);
        if principal != target.id {
            ended += app.store().revoke(&principal).await.map_err(unavailable)?;
        }
        if !app.store().revoke_kiosk(kiosk).await.map_err(unavailable)? && target.kiosk.is_some() {
            tracing::warn!(kiosk = %kiosk, "revoked the principal of a kiosk that is not registered");
        }
    }
    trail::outcome(attempt).await;
    if let Some(kiosk) = kiosk.as_ref().filter(|_| target.kiosk.is_none()) {
        // Revoked already: its record must not turn the answer into a 503.
        let entity = format!("kiosk/{kiosk}");
        let _ = trail::accepted(app, trail::actor(admin), REVOKED, &entity, &source).await;
    }
    tracing::info!(person = %target.id, kiosk = ?kiosk, by = %admin.id, sessions_ended = ended, "access withdrawn");
    let mut answer = json!({ "person_id": target.id, "sessions_ended": ended });
    if let Some(kiosk) = kiosk {
        answer["kiosk_id"] = json!(kiosk);
    }
    Ok(answer)
}

/// `POST /api/v1/access/reinstate`: lifts a revocation (system
/// administrators only); the person can sign in again with a link issued
/// from now on (any link issued before stays void). A kiosk is not
/// reinstated: the screen is registered again as a new kiosk.
pub async fn reinstate(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Json<PersonRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let source = caller.source.clone();
    let target = target(&api::body(body));
    let entity = entity_of(&target);
    let admin = api::authorise(
        &app,
        caller,
        &headers,
        &Action::ManageAccess,
        REINSTATED,
        &entity,
    )
    .await?;
    reinstate_for(&app, &admin, &source, target)
        .await
        .map(|answer| Json(answer).into_response())
}

/// Reinstates the person `request` names, for `admin` (already
/// authorised); a kiosk is refused. Shared by the API and the
/// administration pages.
pub async fn reinstate_person(
    app: &AppState,
    admin: &pf_access::Principal,
    source: &crate::caller::Source,
    request: Result<PersonRequest, ApiError>,
) -> Result<serde_json::Value, ApiError> {
    reinstate_for(app, admin, source, target(&request)).await
}

async fn reinstate_for(
    app: &AppState,
    admin: &pf_access::Principal,
    source: &crate::caller::Source,
    target: Result<Target, ApiError>,
) -> Result<serde_json::Value, ApiError> {
    let entity = entity_of(&target);
    let source = source.clone();
    let target = target?;
    if let Some(kiosk) = &target.kiosk {
        let err = ApiError::Conflict(format!(
            "Kiosk `{kiosk}` stays revoked. To show the control room on that screen again, \
             register it as a new kiosk with another id."
        ));
        trail::refused(
            app,
            trail::actor(admin),
            REINSTATED,
            &entity,
            &err.to_string(),
            &source,
        )
        .await;
        return Err(err);
    }
    // Nothing is reinstated unless the attempt is in the audit trail first.
    let attempt = trail::attempt(app, trail::actor(admin), REINSTATED, &entity, &source).await?;
    if let Err(err) = app.store().reinstate(&target.id).await {
        tracing::error!(cause = %err, "could not reinstate");
        attempt
            .refused("the sign-in store could not be reached; nothing was reinstated")
            .await;
        return Err(ApiError::unavailable());
    }
    trail::outcome(attempt).await;
    tracing::info!(person = %target.id, by = %admin.id, "access reinstated");
    Ok(json!({ "person_id": target.id }))
}

/// `GET /api/v1/me`: who the caller is signed in as.
pub async fn me(Authenticated { principal, session }: Authenticated) -> Response {
    Json(json!({
        "principal": principal,
        "roles": principal.roles(),
        // A page of this session puts it in its forms (e.g. sign-out).
        "csrf_token": session.map(|s| s.csrf_token),
    }))
    .into_response()
}

/// `GET /api/v1/audit` query.
#[derive(Debug, Default, Deserialize)]
pub struct AuditParams {
    person: Option<String>,
    organisation: Option<String>,
    entity: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    format: Option<String>,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn time(name: &str, value: Option<String>) -> Result<Option<OffsetDateTime>, ApiError> {
    non_empty(value)
        .map(|v| {
            OffsetDateTime::parse(&v, &Rfc3339).map_err(|_| {
                ApiError::BadRequest(format!(
                    "`{name}` must be an RFC 3339 time, e.g. 2025-01-31T09:00:00Z."
                ))
            })
        })
        .transpose()
}

/// `GET /api/v1/audit?person=&organisation=&entity=&from=&to=&limit=&format=json|csv`:
/// the audit trail, oldest first (system administrators only).
pub async fn audit(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let source = caller.source.clone();
    let admin = api::authorise(&app, caller, &headers, &Action::ReadAudit, AUDIT_READ, "").await?;
    let Ok(Query(params)) = params else {
        return Err(ApiError::BadRequest(
            "The query parameters cannot be read.".to_owned(),
        ));
    };
    let csv = match params.format.as_deref().unwrap_or("json") {
        "json" => false,
        "csv" => true,
        _ => {
            return Err(ApiError::BadRequest(
                "`format` must be json or csv.".to_owned(),
            ));
        }
    };
    let query = AuditQuery {
        person: non_empty(params.person),
        organisation: non_empty(params.organisation),
        entity: non_empty(params.entity),
        from: time("from", params.from)?,
        to: time("to", params.to)?,
        limit: params.limit.unwrap_or(0),
    };
    let records = app.audit.query(&query).await.map_err(|err| match err {
        AuditError::TimedOut => ApiError::Unavailable(err.to_string()),
        other => {
            tracing::error!(cause = %other, "audit query failed");
            ApiError::unavailable()
        }
    })?;
    // Who read the trail is itself recorded; a lost record is logged.
    let _ = trail::accepted(&app, trail::actor(&admin), AUDIT_READ, "", &source).await;
    if csv {
        Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment; filename=\"audit.csv\""),
                ),
            ],
            to_csv(&records),
        )
            .into_response())
    } else {
        Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            to_json(&records),
        )
            .into_response())
    }
}
