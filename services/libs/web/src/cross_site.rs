//! Cross-site requests: a JSON API that accepts the session cookie must
//! not do what another site's page tells a signed-in person's browser to.
//!
//! The rule, for every state-changing request (`POST`, `PUT`, `PATCH`,
//! `DELETE`) that rides on a session cookie (no bearer token):
//!
//! 1. it says `Content-Type: application/json`, even with an empty body
//!    (another site's form or a "simple" script request cannot; a script
//!    that sets it needs a CORS preflight, which we never grant);
//! 2. its `Origin` is the request's own host or one of the platform's own
//!    origins ([`SiteOrigins`]); when a client sends no `Origin` at all, it
//!    carries the session's CSRF token in [`CSRF_HEADER`] instead.
//!
//! Anything else is refused with 403 and a sentence ([`Refusal`]). Bearer
//! callers (machines, other systems) are not affected: a browser never adds
//! a bearer token by itself. Server-rendered forms have their own CSRF
//! token and are not behind this guard.
//!
//! [`guard`] is the middleware; a service says how it finds the session's
//! token and records a refusal by implementing [`CrossSiteGuard`].

use std::future::Future;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The header a client without `Origin` carries its session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The sentence a refused caller reads.
pub const REFUSED: &str = "This request came from another site, or was not sent as JSON, so it \
    was refused: Patient Flow's APIs accept changes from a signed-in browser only from its own \
    pages, with Content-Type: application/json. Use Patient Flow's pages, or an API token.";

/// The environment variables naming the platform's public addresses; their
/// origins are [`SiteOrigins::from_env`].
pub const ORIGIN_VARIABLES: [&str; 4] = [
    "PF_PUBLIC_URL",
    "PF_GATEWAY_PUBLIC_URL",
    "PF_CARE_HOMES_PUBLIC_URL",
    "PF_DISCHARGES_PUBLIC_URL",
];

/// The platform's own origins (`scheme://host[:port]`), besides the host a
/// request was sent to.
#[derive(Debug, Clone, Default)]
pub struct SiteOrigins(Arc<[String]>);

impl SiteOrigins {
    /// The origins of `urls` (paths are ignored; empty ones skipped).
    pub fn new<I, U>(urls: I) -> Self
    where
        I: IntoIterator<Item = U>,
        U: AsRef<str>,
    {
        let origins: Vec<String> = urls
            .into_iter()
            .map(|url| origin_of(url.as_ref().trim()).to_ascii_lowercase())
            .filter(|origin| origin.contains("://"))
            .collect();
        Self(origins.into())
    }

    /// The origins of the public addresses in [`ORIGIN_VARIABLES`] that are set.
    pub fn from_env() -> Self {
        Self::new(
            ORIGIN_VARIABLES
                .iter()
                .filter_map(|name| std::env::var(name).ok()),
        )
    }

    /// Whether `origin` is one of them.
    pub fn contains(&self, origin: &str) -> bool {
        self.0.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }
}

/// The origin (`scheme://host[:port]`) of a URL.
pub fn origin_of(url: &str) -> &str {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            &url[..scheme.len() + 3 + end]
        }
        None => url,
    }
}

/// Why a cookie-riding request was refused (for the audit trail; the
/// caller reads [`REFUSED`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `Content-Type: application/json`.
    #[error(
        "cross-site guard: a session-cookie request that changes state without Content-Type: application/json"
    )]
    NotJson,
    /// `Origin` is another site's (or `null`).
    #[error(
        "cross-site guard: a session-cookie request that changes state from another site's origin"
    )]
    OtherOrigin,
    /// No `Origin`, and no valid CSRF token.
    #[error(
        "cross-site guard: a session-cookie request that changes state with neither Origin nor a valid CSRF token"
    )]
    NoOriginNorToken,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        crate::ErrorBody::<()> {
            error: REFUSED.to_owned(),
            problems: Vec::new(),
        }
        .answer(StatusCode::FORBIDDEN, None)
    }
}

/// Whether `method` may change state (everything but `GET`, `HEAD`,
/// `OPTIONS` and `TRACE`).
pub fn changes_state(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Whether the request carries a bearer token (which the platform prefers
/// to a cookie, so the request does not ride on the cookie).
pub fn has_bearer(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()
        })
}

/// Whether the request says its body is JSON.
pub fn declares_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// Checks a state-changing request that rides on a session whose CSRF
/// token is `session_token` against the rule of this module.
pub fn check(
    headers: &HeaderMap,
    origins: &SiteOrigins,
    session_token: &str,
) -> Result<(), Refusal> {
    if !declares_json(headers) {
        return Err(Refusal::NotJson);
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        let presented = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        return if tokens_match(session_token, presented.trim()) {
            Ok(())
        } else {
            Err(Refusal::NoOriginNorToken)
        };
    };
    let origin = origin.to_str().map_err(|_| Refusal::OtherOrigin)?.trim();
    if same_host(origin, headers) || origins.contains(origin) {
        Ok(())
    } else {
        Err(Refusal::OtherOrigin)
    }
}

/// Whether `origin`'s host and port are the request's `Host`.
fn same_host(origin: &str, headers: &HeaderMap) -> bool {
    let Some((_, authority)) = origin.split_once("://") else {
        return false;
    };
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|host| !host.is_empty() && host.trim().eq_ignore_ascii_case(authority))
}

/// Equal and non-empty, compared without stopping at the first difference.
fn tokens_match(expected: &str, presented: &str) -> bool {
    if expected.is_empty() || expected.len() != presented.len() {
        return false;
    }
    expected
        .bytes()
        .zip(presented.bytes())
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

/// What a service gives the [`guard`].
pub trait CrossSiteGuard: Clone + Send + Sync + 'static {
    /// The platform's own origins.
    fn site_origins(&self) -> &SiteOrigins;

    /// The CSRF token of the session the request signs in with, or `None`
    /// when it does not sign in with a session (no cookie, an ended one).
    fn session_token(&self, headers: &HeaderMap) -> impl Future<Output = Option<String>> + Send;

    /// Records a refusal (audit trail, metrics) of the request with `parts`
    /// on `route` (the route's template, never its path).
    fn refused(
        &self,
        parts: &mut Parts,
        route: &str,
        refusal: Refusal,
    ) -> impl Future<Output = ()> + Send;
}

/// The middleware: refuses a state-changing request that rides on a
/// session cookie and breaks the rule; lets everything else through.
pub async fn guard<S: CrossSiteGuard>(
    State(service): State<S>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    if !changes_state(request.method())
        || has_bearer(headers)
        || !headers.contains_key(header::COOKIE)
    {
        return next.run(request).await;
    }
    let Some(token) = service.session_token(headers).await else {
        // Not signed in with a session: the route answers (401).
        return next.run(request).await;
    };
    match check(headers, service.site_origins(), &token) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            let (mut parts, _) = request.into_parts();
            let route = parts
                .extensions
                .get::<MatchedPath>()
                .map_or_else(String::new, |p| p.as_str().to_owned());
            tracing::warn!(%refusal, route, "cross-site request refused");
            service.refused(&mut parts, &route, refusal).await;
            refusal.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const TOKEN: &str = "tok-123";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        headers
    }

    #[test]
    fn origins_are_read_from_urls() {
        assert_eq!(origin_of("https://pf.example/x/y"), "https://pf.example");
        assert_eq!(
            origin_of("http://127.0.0.1:8083?a"),
            "http://127.0.0.1:8083"
        );
        let origins = SiteOrigins::new(["http://127.0.0.1:8085/discharges", "", "nonsense"]);
        assert!(origins.contains("http://127.0.0.1:8085"));
        assert!(!origins.contains("http://127.0.0.1:8084"));
        assert!(!origins.contains("nonsense"));
    }

    #[test]
    fn json_from_our_own_pages_passes() {
        let own = SiteOrigins::new(["https://pf.example"]);
        let json = ("content-type", "application/json; charset=utf-8");
        let same_host = headers(&[
            json,
            ("host", "care.example:8084"),
            ("origin", "http://care.example:8084"),
        ]);
        assert_eq!(check(&same_host, &SiteOrigins::default(), TOKEN), Ok(()));
        let listed = headers(&[
            json,
            ("host", "internal:80"),
            ("origin", "https://pf.example"),
        ]);
        assert_eq!(check(&listed, &own, TOKEN), Ok(()));
        let token = headers(&[json, (CSRF_HEADER, TOKEN)]);
        assert_eq!(check(&token, &own, TOKEN), Ok(()));
    }

    #[test]
    fn anything_else_is_refused() {
        let own = SiteOrigins::new(["https://pf.example"]);
        let json = ("content-type", "application/json");
        let host = ("host", "pf.example");
        for (request, refusal) in [
            (
                headers(&[host, ("origin", "https://pf.example")]),
                Refusal::NotJson,
            ),
            (
                headers(&[
                    ("content-type", "text/plain"),
                    host,
                    ("origin", "https://pf.example"),
                ]),
                Refusal::NotJson,
            ),
            (
                headers(&[("content-type", "application/jsonp"), host]),
                Refusal::NotJson,
            ),
            (
                headers(&[json, host, ("origin", "https://evil.example")]),
                Refusal::OtherOrigin,
            ),
            (
                headers(&[json, host, ("origin", "null")]),
                Refusal::OtherOrigin,
            ),
            (
                headers(&[json, host, ("origin", "http://pf.example.evil.example")]),
                Refusal::OtherOrigin,
            ),
            (headers(&[json, host]), Refusal::NoOriginNorToken),
            (
                headers(&[json, host, (CSRF_HEADER, "tok-124")]),
                Refusal::NoOriginNorToken,
            ),
            (
                headers(&[json, host, (CSRF_HEADER, "")]),
                Refusal::NoOriginNorToken,
            ),
        ] {
            assert_eq!(check(&request, &own, TOKEN), Err(refusal), "{request:?}");
        }
        // A session without a token never matches an empty header.
        assert_eq!(
            check(&headers(&[json, (CSRF_HEADER, "")]), &own, ""),
            Err(Refusal::NoOriginNorToken)
        );
    }

    #[test]
    fn only_writes_without_a_bearer_token_are_checked() {
        assert!(changes_state(&Method::POST));
        assert!(changes_state(&Method::PUT));
        assert!(changes_state(&Method::PATCH));
        assert!(changes_state(&Method::DELETE));
        assert!(!changes_state(&Method::GET));
        assert!(!changes_state(&Method::HEAD));
        assert!(has_bearer(&headers(&[("authorization", "Bearer abc")])));
        assert!(!has_bearer(&headers(&[("authorization", "Bearer ")])));
        assert!(!has_bearer(&headers(&[("authorization", "Basic abc")])));
    }
}
