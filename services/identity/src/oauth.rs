//! The built-in issuer's OAuth 2.0 / OpenID Connect endpoints (development
//! only): its key set, its discovery document, and the token endpoint: the
//! client-credentials grant for machine clients (RFC 6749 section 4.4) and
//! the authorization-code grant with PKCE for web clients (section 4.1,
//! RFC 7636), which answers with an OpenID Connect ID token. The
//! authorization endpoint is [`crate::authorize`].

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
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "scopes_supported": ["openid", "profile", "email"],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "claims_supported": ["iss", "aud", "azp", "sub", "name", "org", "kind", "roles", "nonce", "auth_time", "iat", "nbf", "exp"],
    }))
    .into_response()
}

/// The token request's form.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    /// Authorization-code grant: the code, the redirect URI of the
    /// authorization request, and the PKCE code verifier.
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
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

/// Client id and secret from `Authorization: Basic`, if sent, as the
/// client may have meant them: form-decoded, as RFC 6749 section 2.3.1
/// requires, and as sent (many clients, `curl -u` among them, do not
/// form-encode). The form-decoded pair comes first; a secret is tried both
/// ways only when they differ.
fn basic_credentials(headers: &HeaderMap) -> Option<Vec<(String, String)>> {
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
    let form_decoded = |value: &str| -> String {
        form_urlencoded::parse(format!("v={value}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let mut pairs = vec![(form_decoded(id), form_decoded(secret))];
    if pairs[0] != (id.to_owned(), secret.to_owned()) {
        pairs.push((id.to_owned(), secret.to_owned()));
    }
    Some(pairs)
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
    let Ok(Form(mut form)) = form else {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send grant_type, client_id and client_secret as application/x-www-form-urlencoded",
        ));
    };
    let basic = basic_credentials(headers).map(|pairs| {
        // The first pair the registry knows, else the RFC's reading.
        let known = pairs.iter().position(|(id, secret)| {
            app.clients.authenticate(id, secret).is_some()
                || app.clients.authenticate_web(id, secret).is_some()
        });
        let mut pairs = pairs;
        pairs.swap_remove(known.unwrap_or(0))
    });
    let (client_id, secret) = match (basic, form.client_id.take(), form.client_secret.take()) {
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
        Some("authorization_code") => {
            return code_grant(app, source, issuer, &client_id, &secret, &form).await;
        }
        Some(_) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only the client_credentials and authorization_code grants are supported",
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

/// The life of an ID token from the authorization-code grant (5 minutes):
/// it is only read once, by the client that asked for it.
const ID_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// The authorization-code grant: a web client redeems a code from
/// `/oauth/authorize` (once) with the same redirect URI and the PKCE
/// verifier of the code's challenge, and gets an ID token for the person
/// who signed in (and an access token for Patient Flow's APIs).
async fn code_grant(
    app: &AppState,
    source: &Source,
    issuer: &LocalIssuer,
    client_id: &str,
    secret: &str,
    form: &TokenForm,
) -> Result<Response, OAuthError> {
    let client_entity = format!("client/{}", trail::clip(client_id));
    if app.clients.web_client(client_id).is_some() {
        app.limits.check_client(client_id).map_err(|limited| {
            app.metrics
                .rate_limited
                .with_label_values(&[limited.limit.label()])
                .inc();
            OAuthError::limited(limited)
        })?;
    }
    if app.clients.authenticate_web(client_id, secret).is_none() {
        let reason = "unknown web client or wrong secret";
        trail::refused(
            app,
            AuditActor::anonymous(),
            ACTION,
            &client_entity,
            reason,
            source,
        )
        .await;
        return Err(OAuthError::invalid_client());
    }
    let (Some(code), Some(redirect_uri), Some(verifier)) = (
        form.code.as_deref(),
        form.redirect_uri.as_deref(),
        form.code_verifier.as_deref(),
    ) else {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send code, redirect_uri and code_verifier",
        ));
    };
    let unavailable = || {
        OAuthError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the sign-in service cannot issue tokens right now; try again shortly",
        )
    };
    let taken = app.pending.take_code(code).await.map_err(|err| {
        tracing::error!(cause = %err, "could not read an authorization code");
        unavailable()
    })?;
    let invalid_grant =
        |description| OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", description);
    // The code is used up whatever happens next (RFC 6749 section 4.1.2).
    let refusal = match &taken {
        None => Some((
            "the code is unknown, expired or already used",
            invalid_grant("the code is unknown, expired or already used"),
        )),
        Some(issued) if issued.client_id != client_id => Some((
            "the code was issued to another client",
            invalid_grant("the code was issued to another client"),
        )),
        Some(issued) if issued.redirect_uri != redirect_uri => Some((
            "the redirect_uri differs from the authorization request's",
            invalid_grant("the redirect_uri differs from the authorization request's"),
        )),
        Some(issued) if !crate::pkce::verifies(verifier, &issued.code_challenge) => Some((
            "the PKCE code verifier does not match the code challenge",
            invalid_grant("the code_verifier does not match the code_challenge"),
        )),
        Some(_) => None,
    };
    let (actor, entity) = match &taken {
        Some(issued) => (
            trail::actor(&issued.principal),
            format!("person/{}", issued.principal.id),
        ),
        None => (AuditActor::anonymous(), client_entity.clone()),
    };
    if let Some((reason, error)) = refusal {
        trail::refused(app, actor, ACTION, &entity, reason, source).await;
        return Err(error);
    }
    let Some(issued) = taken else {
        return Err(invalid_grant(
            "the code is unknown, expired or already used",
        ));
    };
    let principal = issued.principal;
    if app.store().is_revoked(&principal.id).await.map_err(|err| {
        tracing::error!(cause = %err, "could not check revocation");
        unavailable()
    })? {
        let reason = "access has been withdrawn";
        trail::refused(app, actor, ACTION, &entity, reason, source).await;
        return Err(invalid_grant("access has been withdrawn"));
    }
    let sign = |err: pf_access::LocalIssuerError| {
        tracing::error!(cause = %err, "could not sign a token");
        unavailable()
    };
    let ttl = app.config.token_ttl;
    let id_token = issuer
        .issue_id_token(&principal, client_id, issued.nonce.as_deref(), ID_TOKEN_TTL)
        .map_err(sign)?;
    let access_token = issuer.issue(&principal, ttl).map_err(sign)?;
    trail::accepted(app, actor, ACTION, &entity, source)
        .await
        .map_err(|_| unavailable())?;
    tracing::info!(client = %client_id, person = %principal.id, "issued an ID token");
    Ok((
        no_store(),
        Json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ttl.as_secs(),
            "id_token": id_token,
            "scope": crate::config::DEFAULT_SCOPES,
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
            Some(vec![("sim".to_owned(), "pa:ss".to_owned())])
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode("sim:a%2Bb+c");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).expect("header"),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(vec![
                ("sim".to_owned(), "a+b c".to_owned()),
                ("sim".to_owned(), "a%2Bb+c".to_owned())
            ])
        );
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(basic_credentials(&headers), None);
    }
}
