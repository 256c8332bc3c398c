//! Turning a request into a [`Principal`].

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pf_access::{Principal, TokenError, TokenVerifier, TrustedIssuers};

use crate::cookie;
use crate::store::{Session, SignInStore, StoreError};

/// Why a request is not signed in.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Neither a bearer token nor a session cookie.
    #[error("sign in to use Patient Flow")]
    Missing,
    /// The bearer token was refused.
    #[error("the access token was refused: {0}")]
    Token(#[from] TokenError),
    /// Bearer tokens are not accepted here (no identity provider configured).
    #[error("access tokens are not accepted here; sign in instead")]
    TokensNotAccepted,
    /// The session ended (timed out, signed out or revoked).
    #[error("your session has ended; sign in again")]
    SessionEnded,
    /// The principal's access was revoked.
    #[error("access has been withdrawn; ask a system administrator")]
    Revoked,
    /// The sign-in store could not be reached.
    #[error("sign-in is unavailable right now; try again shortly")]
    Unavailable(#[from] StoreError),
}

impl AuthError {
    /// A short label for metrics and the audit trail.
    pub fn label(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Token(_) | AuthError::TokensNotAccepted => "token_refused",
            AuthError::SessionEnded => "session_ended",
            AuthError::Revoked => "revoked",
            AuthError::Unavailable(_) => "unavailable",
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let status = match self {
            AuthError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        };
        let mut response = (
            status,
            axum::Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"patient-flow\""),
            );
        }
        response
    }
}

/// Reads who is calling: a bearer token (verified against the identity
/// provider) or a session cookie (looked up in the sign-in store). A
/// revoked principal is refused either way.
pub struct Authenticator {
    issuers: TrustedIssuers,
    store: SignInStore,
}

impl Authenticator {
    /// An authenticator; without a verifier only sessions are accepted.
    pub fn new(verifier: Option<TokenVerifier>, store: SignInStore) -> Self {
        Self {
            issuers: TrustedIssuers::one(verifier),
            store,
        }
    }

    /// An authenticator trusting several issuers (each with its own keys,
    /// audience and claim mapping); with none only sessions are accepted.
    pub fn with_issuers(issuers: TrustedIssuers, store: SignInStore) -> Self {
        Self { issuers, store }
    }

    /// The sign-in store.
    pub fn store(&self) -> &SignInStore {
        &self.store
    }

    /// Who is calling, and their session when signed in through a browser.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
    ) -> Result<(Principal, Option<Session>), AuthError> {
        if let Some(token) = bearer(headers) {
            if self.issuers.is_empty() {
                return Err(AuthError::TokensNotAccepted);
            }
            let principal = self.issuers.verify(token).await?;
            if self.store.is_revoked(&principal.id).await? {
                return Err(AuthError::Revoked);
            }
            return Ok((principal, None));
        }
        let session_id = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(cookie::session_id)
            .ok_or(AuthError::Missing)?;
        let session = self
            .store
            .session(session_id)
            .await?
            .ok_or(AuthError::SessionEnded)?;
        // A revocation ends the person's sessions (identity does that); one
        // that slipped through is refused here, never ended: only identity
        // writes sign-in state.
        if self.store.is_revoked(&session.principal.id).await? {
            return Err(AuthError::Revoked);
        }
        Ok((session.principal.clone(), Some(session)))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The signed-in caller of a route; refuses the request with 401 otherwise.
/// The router's state must provide an `Arc<Authenticator>`.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who.
    pub principal: Principal,
    /// Their browser session, when signed in that way.
    pub session: Option<Session>,
}

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    Arc<Authenticator>: FromRef<S>,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let authenticator = Arc::<Authenticator>::from_ref(state);
        let (principal, session) = authenticator.authenticate(&parts.headers).await?;
        Ok(Self { principal, session })
    }
}
