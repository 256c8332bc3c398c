//! The built-in issuer's OAuth 2.0 / OpenID Connect endpoints (development
//! only): its key set, its discovery document, and the client-credentials
//! token endpoint for machine clients (RFC 6749 section 4.4).

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use base64::Engine as _;
use pf_access::LocalIssuer;
use pf_audit::AuditActor;
use serde::Deserialize;
use serde_json::json;

use crate::caller::Source;
use crate::rate_limit::Limited;
use crate::state::AppState;
use crate::trail;

/// The audit action of a token request.
const ACTION: &str = "identity.token_issued";

/// The issuer, which is present whenever these routes are mounted.
fn issuer(app: &AppState) -> Option<&Arc<LocalIssuer>> {
    app.issuer.as_ref()
}

/// `GET /.well-known/jwks.json`: the demo issuer's public keys.
pub async fn jwks(State(app): State<AppState>) -> Response {
    match issuer(&app) {
        Some(issuer) => (
            [(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=300"),
            )],
            Json(issuer.jwks()),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /.well-known/openid-configuration`: where the keys and the token
/// endpoint are, and what they support.
pub async fn openid_configuration(State(app): State<AppState>) -> Response {
    let Some(issuer) = issuer(&app) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let base = &app.config.public_url;
    Json(json!({
        "issuer": issuer.issuer(),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "token_endpoint": format!("{base}/oauth/token"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "claims_supported": ["iss", "aud", "sub", "name", "org", "kind", "roles", "iat", "nbf", "exp"],
    }))
    .into_response()
}

/// The token request's form.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// An RFC 6749 section 5.2 error.
struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: &'static str,
    retry_after: Option<u64>,
}

impl OAuthError {
    fn new(status: StatusCode, code: &'static str, description: &'static str) -> Self {
        Self {
            status,
            code,
            description,
            retry_after: None,
        }
    }

    fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        )
    }

    fn limited(limited: Limited) -> Self {
        Self {
            retry_after: Some(limited.retry_after.as_secs().max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                "too many token requests; wait and try again",
            )
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            no_store(),
            Json(json!({ "error": self.code, "error_description": self.description })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"patient-flow\""),
            );
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Token answers must not be cached (RFC 6749 section 5.1).
fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// Client id and secret from `Authorization: Basic`, if sent.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// `POST /oauth/token`: a client-credentials token for a machine client.
pub async fn token(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let outcome = issue(&app, &source, &headers, form).await;
    let label = match &outcome {
        Ok(_) => "issued",
        Err(err) => err.code,
    };
    app.metrics.tokens.with_label_values(&[label]).inc();
    match outcome {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn issue(
    app: &AppState,
    source: &Source,
    headers: &HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, OAuthError> {
    let Some(issuer) = issuer(app) else {
        return Err(OAuthError::new(
            StatusCode::NOT_FOUND,
            "unsupported_grant_type",
            "this service issues no tokens in production",
        ));
    };
    if let Some(ip) = source.ip {
        app.limits.check_address(ip).map_err(|limited| {
            app.metrics
                .rate_limited
                .with_label_values(&[limited.limit.label()])
                .inc();
            OAuthError::limited(limited)
        })?;
    }
    let Ok(Form(form)) = form else {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send grant_type, client_id and client_secret as application/x-www-form-urlencoded",
        ));
    };
    let basic = basic_credentials(headers);
    let (client_id, secret) = match (basic, form.client_id, form.client_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "authenticate the client one way only: HTTP Basic or the form",
            ));
        }
        (Some(pair), None, None) => pair,
        (None, Some(id), Some(secret)) => (id, secret),
        (None, _, _) => {
            return Err(OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication is required",
            ));
        }
    };
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(_) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only the client_credentials grant is supported",
            ));
        }
        None => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            ));
        }
    }
    let entity = format!("client/{}", trail::clip(&client_id));
    if app.clients.contains(&client_id) {
        app.limits.check_client(&client_id).map_err(|limited| {
            app.metrics
                .rate_limited
                .with_label_values(&[limited.limit.label()])
                .inc();
            OAuthError::limited(limited)
        })?;
    }
    let Some(principal) = app.clients.authenticate(&client_id, &secret).cloned() else {
        let reason = "unknown client or wrong secret";
        trail::refused(
            app,
            AuditActor::anonymous(),
            ACTION,
            &entity,
            reason,
            source,
        )
        .await;
        return Err(OAuthError::invalid_client());
    };
    let unavailable = || {
        OAuthError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the sign-in service cannot issue tokens right now; try again shortly",
        )
    };
    if app.store().is_revoked(&principal.id).await.map_err(|err| {
        tracing::error!(cause = %err, "could not check revocation");
        unavailable()
    })? {
        let reason = "access has been withdrawn";
        trail::refused(
            app,
            trail::actor(&principal),
            ACTION,
            &entity,
            reason,
            source,
        )
        .await;
        return Err(OAuthError::invalid_client());
    }
    let ttl = app.config.token_ttl;
    let token = issuer.issue(&principal, ttl).map_err(|err| {
        tracing::error!(cause = %err, "could not sign a token");
        unavailable()
    })?;
    trail::accepted(app, trail::actor(&principal), ACTION, &entity, source)
        .await
        .map_err(|_| unavailable())?;
    tracing::info!(client = %client_id, "issued a client-credentials token");
    Ok((
        no_store(),
        Json(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ttl.as_secs(),
        })),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_read() {
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("sim:pa:ss");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).expect("header"),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("sim".to_owned(), "pa:ss".to_owned()))
        );
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(basic_credentials(&headers), None);
    }
}
