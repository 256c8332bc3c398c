//! Who is calling and from where: for the policy and the audit trail.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use pf_access::Principal;
use pf_audit::AuditSource;
use pf_sign_in::AuthError;

use crate::api::{ApiError, AppState};

/// The caller of a route. Extracting it never fails: a caller who is not
/// signed in is still recorded in the audit trail when refused.
pub struct Caller {
    /// The signed-in principal, or why there is none.
    pub principal: Result<Principal, AuthError>,
    /// Where the request came from.
    pub source: AuditSource,
    /// The address has failed to sign in too often: refuse with 429.
    pub throttled: Option<std::time::Duration>,
}

impl Caller {
    /// The principal, or the refusal for a caller who is not signed in.
    pub fn principal(&self) -> Result<&Principal, ApiError> {
        if let Some(wait) = self.throttled {
            return Err(ApiError::TooMany(wait.as_secs().max(1)));
        }
        self.principal.as_ref().map_err(|err| match err {
            AuthError::Unavailable(cause) => ApiError::Unavailable(cause.to_string()),
            AuthError::Missing => ApiError::Unauthenticated(AuthError::Missing),
            AuthError::Token(e) => ApiError::Unauthenticated(AuthError::Token(e.clone())),
            AuthError::TokensNotAccepted => ApiError::Unauthenticated(AuthError::TokensNotAccepted),
            AuthError::SessionEnded => ApiError::Unauthenticated(AuthError::SessionEnded),
            AuthError::Revoked => ApiError::Unauthenticated(AuthError::Revoked),
        })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        let principal = state
            .authenticator
            .authenticate(&parts.headers)
            .await
            .map(|(principal, _)| principal);
        let mut throttled = None;
        if principal.is_err()
            && let Some(address) = address
            && let Err(wait) = state.limits.refused(address)
        {
            tracing::warn!(%address, "too many failed sign-ins from one address");
            throttled = Some(wait);
        }
        let ip = address.map(|a| a.to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Self {
            principal,
            source: AuditSource::new("hospital-beds", ip, user_agent),
            throttled,
        })
    }
}
