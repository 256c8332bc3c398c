//! Administration: withdrawing and reinstating access, reading the audit
//! trail, and "who am I".

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Json, Response};
use pf_access::Action;
use pf_audit::export::{to_csv, to_json};
use pf_audit::{AuditError, AuditQuery};
use pf_sign_in::Authenticated;
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

/// `POST /api/v1/access/revoke` and `/reinstate` body.
#[derive(Debug, Deserialize)]
pub struct PersonRequest {
    /// The person (or machine identity) concerned.
    pub person_id: String,
}

fn person_id(body: &Result<PersonRequest, ApiError>) -> Result<String, ApiError> {
    match body {
        Ok(request) => {
            let id = request.person_id.trim();
            if id.is_empty() || id.len() > 128 {
                Err(ApiError::Invalid(
                    "Give the person_id (at most 128 characters).".to_owned(),
                ))
            } else {
                Ok(id.to_owned())
            }
        }
        Err(err) => Err(ApiError::BadRequest(err.to_string())),
    }
}

/// `POST /api/v1/access/revoke`: ends the person's sessions at once and
/// refuses their tokens (system administrators only).
pub async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Json<PersonRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let source = caller.source.clone();
    let id = person_id(&api::body(body));
    let entity = id
        .as_ref()
        .map(|id| format!("person/{}", trail::clip(id)))
        .unwrap_or_default();
    let admin = api::authorise(
        &app,
        caller,
        &headers,
        &Action::ManageAccess,
        REVOKED,
        &entity,
    )
    .await?;
    let id = id?;
    let ended = app.store().revoke(&id).await.map_err(|err| {
        tracing::error!(cause = %err, "could not revoke");
        ApiError::unavailable()
    })?;
    trail::accepted(&app, trail::actor(&admin), REVOKED, &entity, &source)
        .await
        .map_err(|_| ApiError::unavailable())?;
    tracing::info!(person = %id, by = %admin.id, sessions_ended = ended, "access withdrawn");
    Ok(Json(json!({ "person_id": id, "sessions_ended": ended })).into_response())
}

/// `POST /api/v1/access/reinstate`: lifts a revocation (system
/// administrators only); the person can sign in again with a new link.
pub async fn reinstate(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Json<PersonRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let source = caller.source.clone();
    let id = person_id(&api::body(body));
    let entity = id
        .as_ref()
        .map(|id| format!("person/{}", trail::clip(id)))
        .unwrap_or_default();
    let admin = api::authorise(
        &app,
        caller,
        &headers,
        &Action::ManageAccess,
        REINSTATED,
        &entity,
    )
    .await?;
    let id = id?;
    app.store().reinstate(&id).await.map_err(|err| {
        tracing::error!(cause = %err, "could not reinstate");
        ApiError::unavailable()
    })?;
    trail::accepted(&app, trail::actor(&admin), REINSTATED, &entity, &source)
        .await
        .map_err(|_| ApiError::unavailable())?;
    tracing::info!(person = %id, by = %admin.id, "access reinstated");
    Ok(Json(json!({ "person_id": id })).into_response())
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
