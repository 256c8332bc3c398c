//! What the JSON API routes share: errors, and the check that a caller is
//! signed in and allowed, which records every refusal in the audit trail.

use axum::Json;
use axum::extract::FromRequestParts as _;
use axum::extract::rejection::JsonRejection;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pf_access::{Action, Principal};
use pf_audit::AuditActor;
use pf_sign_in::AuthError;
use pf_web::cross_site::{CrossSiteGuard, Refusal, SiteOrigins};
use serde_json::json;

use crate::caller::Caller;
use crate::state::AppState;
use crate::trail;

/// Why an API request was refused or failed. Answers are
/// `{"error": "<sentence a person understands>"}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Not signed in (401), or sign-in unavailable (503).
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    /// Signed in but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// The body or query cannot be read (400).
    #[error("{0}")]
    BadRequest(String),
    /// What the request names does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request clashes with what exists (409).
    #[error("{0}")]
    Conflict(String),
    /// A value is not acceptable (422).
    #[error("{0}")]
    Invalid(String),
    /// A store or the audit trail is unavailable (503); nothing was done
    /// that the caller was told about.
    #[error("{0}")]
    Unavailable(String),
    /// Refused too often from here (429 with `Retry-After`, in seconds).
    #[error("{}", pf_audit::TOO_MANY_REFUSALS)]
    TooMany(u64),
}

impl From<pf_audit::AuditUnavailable> for ApiError {
    fn from(err: pf_audit::AuditUnavailable) -> Self {
        ApiError::Unavailable(err.to_string())
    }
}

impl ApiError {
    /// The usual answer when the audit trail or the store is down.
    pub fn unavailable() -> Self {
        ApiError::Unavailable(
            "The sign-in service cannot do this right now; try again shortly.".to_owned(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
        };
        match self {
            // 401 with `WWW-Authenticate`, or 503 when the store is down.
            ApiError::Unauthenticated(err) => err.into_response(),
            ApiError::TooMany(seconds) => (
                status,
                [(header::RETRY_AFTER, seconds.to_string())],
                Json(json!({ "error": pf_audit::TOO_MANY_REFUSALS })),
            )
                .into_response(),
            other => (status, Json(json!({ "error": other.to_string() }))).into_response(),
        }
    }
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
        let actor = match &caller.auth {
            Ok((principal, _)) => trail::actor(principal),
            Err(_) => AuditActor::anonymous(),
        };
        let reason = refusal.to_string();
        // Within the client's refusal budget; beyond it counted into one
        // aggregate record. The answer stays a 403.
        let _ = trail::refused_access(
            self,
            actor,
            CROSS_SITE_ACTION,
            route,
            &reason,
            &caller.source,
        )
        .await;
    }
}

/// The origin (`scheme://host[:port]`) of a URL.
fn origin_of(url: &str) -> &str {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host_end = rest.find('/').unwrap_or(rest.len());
            &url[..scheme.len() + 3 + host_end]
        }
        None => url,
    }
}

/// Whether a browser request comes from our own pages: a request without
/// `Origin` (not a cross-site browser request) or with ours.
pub fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => origin.eq_ignore_ascii_case(origin_of(public_url)),
    }
}

/// Whether the request says its body is JSON (`Content-Type:
/// application/json`), which a page of another site cannot send without a
/// CORS preflight.
pub fn declares_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// The caller's principal, when signed in and allowed to do `action`.
/// Every refusal is recorded as `audit_action` on `entity`. A session
/// (cookie) caller must also come from our origin: a JSON request needs a
/// CORS preflight cross-site and the cookie is SameSite=Lax, and this is a
/// third guard against cross-site requests.
pub async fn authorise(
    app: &AppState,
    caller: Caller,
    headers: &HeaderMap,
    action: &Action,
    audit_action: &str,
    entity: &str,
) -> Result<Principal, ApiError> {
    let (principal, session) = match caller.auth {
        Ok(found) => found,
        Err(err) => {
            let reason = format!("not signed in ({})", err.label());
            let actor = AuditActor::anonymous();
            trail::refused_access(app, actor, audit_action, entity, &reason, &caller.source)
                .await?;
            return Err(err.into());
        }
    };
    let actor = trail::actor(&principal);
    if session.is_some() && !same_origin(headers, &app.config.public_url) {
        let reason = "cross-site request with a session cookie";
        trail::refused_access(app, actor, audit_action, entity, reason, &caller.source).await?;
        return Err(ApiError::Forbidden(
            "Requests from other sites are refused.".to_owned(),
        ));
    }
    if let Err(refused) = principal.permits(action).require() {
        trail::refused_access(
            app,
            actor,
            audit_action,
            entity,
            &refused.reason,
            &caller.source,
        )
        .await?;
        return Err(ApiError::Forbidden(refused.reason));
    }
    Ok(principal)
}

/// A JSON body, or a 400 naming the problem (never echoing the body).
pub fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value).map_err(|rejection| {
        ApiError::BadRequest(format!(
            "The request body is not the JSON this route expects ({}).",
            rejection.status()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn origins_must_match_the_public_url() {
        assert_eq!(origin_of("https://pf.example/x/y"), "https://pf.example");
        assert_eq!(origin_of("http://127.0.0.1:8083"), "http://127.0.0.1:8083");
        let mut headers = HeaderMap::new();
        assert!(same_origin(&headers, "http://127.0.0.1:8083"));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8083"),
        );
        assert!(same_origin(&headers, "http://127.0.0.1:8083/"));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&headers, "http://127.0.0.1:8083"));
    }
}
