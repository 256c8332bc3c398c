//! Who is calling and from where: for the policy and the audit trail.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use pf_access::Principal;
use pf_audit::{AuditActor, AuditRecord, AuditSource};

use crate::authenticator::{AuthError, Authenticator};
use crate::limits::WriteLimits;

/// What a service gives the [`Caller`] extractor.
pub trait CallerContext: Send + Sync {
    /// Who is calling.
    fn authenticator(&self) -> &Authenticator;
    /// The service's rate limits.
    fn limits(&self) -> &WriteLimits;
    /// The service's name in the audit trail (`hospital-beds`, `care-homes`).
    fn service_name(&self) -> &'static str;
    /// Proxies whose `X-Forwarded-For` names the client (none by default:
    /// the peer is the client).
    fn trusted_proxies(&self) -> Option<&pf_audit::TrustedProxies> {
        None
    }
}

/// Why a caller may not go on.
#[derive(Debug)]
pub enum NotSignedIn<'a> {
    /// The address failed to sign in too often: wait this long.
    Throttled(Duration),
    /// No valid credentials.
    Auth(&'a AuthError),
}

impl NotSignedIn<'_> {
    /// An owned copy of the sign-in failure for an error answer, or the
    /// text of why the sign-in store could not be reached (`Ok(None)` when
    /// throttled).
    pub fn owned(&self) -> Result<Option<AuthError>, String> {
        let NotSignedIn::Auth(err) = self else {
            return Ok(None);
        };
        Ok(Some(match err {
            AuthError::Missing => AuthError::Missing,
            AuthError::Token(e) => AuthError::Token(e.clone()),
            AuthError::TokensNotAccepted => AuthError::TokensNotAccepted,
            AuthError::SessionEnded => AuthError::SessionEnded,
            AuthError::Revoked => AuthError::Revoked,
            AuthError::Unavailable(e) => return Err(e.to_string()),
        }))
    }
}

/// The caller of a route. Extracting it never fails: a caller who is not
/// signed in is still recorded in the audit trail when refused.
pub struct Caller {
    /// The signed-in principal, or why there is none.
    pub principal: Result<Principal, AuthError>,
    /// Where the request came from.
    pub source: AuditSource,
    /// The address has failed to sign in too often: refuse with 429.
    pub throttled: Option<Duration>,
    /// The session's CSRF token, when signed in with a session (forms must
    /// carry it).
    pub csrf_token: Option<String>,
}

impl Caller {
    /// The principal, or why the caller may not go on.
    pub fn principal(&self) -> Result<&Principal, NotSignedIn<'_>> {
        if let Some(wait) = self.throttled {
            return Err(NotSignedIn::Throttled(wait));
        }
        self.principal.as_ref().map_err(NotSignedIn::Auth)
    }
}

impl Caller {
    /// Who the audit trail names: the principal, or anonymous.
    pub fn audit_actor(&self) -> AuditActor {
        self.principal
            .as_ref()
            .ok()
            .map(AuditActor::of)
            .unwrap_or_else(AuditActor::anonymous)
    }

    /// The audit record of an accepted `action` on `entity` by this caller.
    pub fn accepted(&self, action: &str, entity: &str) -> AuditRecord {
        AuditRecord::accepted(self.audit_actor(), action, entity, self.source.clone())
    }

    /// The audit record of a refused `action` on `entity`, with the reason
    /// the caller was given.
    pub fn refused(&self, action: &str, entity: &str, reason: &str) -> AuditRecord {
        AuditRecord::refused(
            self.audit_actor(),
            action,
            entity,
            reason,
            self.source.clone(),
        )
    }
}

impl<S: CallerContext> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        let address = match state.trusted_proxies() {
            Some(proxies) => proxies.client(peer, &parts.headers),
            None => peer,
        };
        let (principal, csrf_token) = match state.authenticator().authenticate(&parts.headers).await
        {
            Ok((principal, session)) => (Ok(principal), session.map(|s| s.csrf_token)),
            Err(err) => (Err(err), None),
        };
        let mut throttled = None;
        if principal.is_err()
            && let Some(address) = address
            && let Err(wait) = state.limits().refused(address)
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
            source: AuditSource::new(state.service_name(), ip, user_agent),
            throttled,
            csrf_token,
        })
    }
}
