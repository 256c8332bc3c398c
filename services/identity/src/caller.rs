//! Who is calling and from where, for the policy and the audit trail.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use pf_access::Principal;
use pf_audit::AuditSource;
use pf_sign_in::{AuthError, Session};

use crate::state::AppState;

/// The audit trail's name for this service.
pub const SERVICE: &str = "identity";

/// Where a request came from. Extracting it never fails.
#[derive(Debug, Clone)]
pub struct Source {
    /// The client's address: `X-Forwarded-For`'s last entry (the one our
    /// proxy added) when `PF_TRUST_PROXY=true`, else the socket's peer.
    pub ip: Option<IpAddr>,
    /// The client's user agent.
    pub user_agent: Option<String>,
}

impl Source {
    /// The source as the audit trail records it.
    pub fn audit(&self) -> AuditSource {
        AuditSource::new(
            SERVICE,
            self.ip.map(|ip| ip.to_string()),
            self.user_agent.clone(),
        )
    }

    fn read(parts: &Parts, trust_proxy: bool) -> Self {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        let forwarded = trust_proxy.then(|| forwarded_for(&parts.headers)).flatten();
        Self {
            ip: forwarded.or(peer),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }
}

/// The last address of `X-Forwarded-For`, if it parses: the one the trusted
/// proxy in front of us added. Entries to its left are whatever the client
/// sent, so taking the first would let anyone pick their address for the
/// rate limits and the audit trail.
fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()?
        .to_str()
        .ok()?
        .split(',')
        .next_back()?
        .trim()
        .parse()
        .ok()
}

impl FromRequestParts<AppState> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::read(parts, state.config.trust_proxy))
    }
}

/// The caller of an API route: who (or why nobody) and from where.
/// Extracting it never fails, so a refusal can be recorded before answering.
pub struct Caller {
    /// The signed-in principal and session, or why there is none.
    pub auth: Result<(Principal, Option<Session>), AuthError>,
    /// Where the request came from.
    pub source: Source,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let auth = state.authenticator.authenticate(&parts.headers).await;
        Ok(Self {
            auth,
            source: Source::read(parts, state.config.trust_proxy),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_the_address_our_proxy_added_counts() {
        let mut headers = HeaderMap::new();
        // The client claimed 10.0.0.1; our proxy saw 203.0.113.7.
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("10.0.0.1, 203.0.113.7"),
        );
        assert_eq!(
            forwarded_for(&headers),
            Some(IpAddr::from([203, 0, 113, 7]))
        );
        headers.insert("x-forwarded-for", HeaderValue::from_static("not-an-ip"));
        assert_eq!(forwarded_for(&headers), None);
    }
}
