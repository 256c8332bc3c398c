//! What every server-rendered page of Patient Flow shares.
//!
//! - [`templates`]: the page templates under `{dashboards}/templates`
//!   (minijinja, Jinja2 syntax), checked at start-up; [`render`] answers
//!   with a page or a plain 500.
//! - [`assets`]: the NHS.UK frontend and the app's own files;
//!   [`nhsuk_frontend`] serves the frontend's stylesheet without its
//!   `@font-face` rules (the NHS fonts sit on an external host that ward and
//!   wall networks block, and their licence does not let us host them), so
//!   the pages use the design system's fallback fonts and no request leaves
//!   the site.
//! - [`with_security_headers`]: CSP without `unsafe-inline`, HSTS,
//!   `frame-ancestors 'none'`, no referrer, no sniffing.
//! - [`uk_time`]: clock times as people in the UK read them.
//! - [`sign_in_redirect`]: where a person without a session is sent, with
//!   the way back.
//! - [`ErrorBody`]: how a JSON API refuses a request.
//! - [`openapi_document`]: how a service serves its API's OpenAPI document
//!   (`GET /api/v1/openapi.json`, no sign-in, cacheable).
//! - [`cross_site`]: the guard of JSON APIs that accept the session cookie:
//!   a state-changing request must be JSON from the platform's own origin
//!   (or carry the session's CSRF token).
#![forbid(unsafe_code)]

pub mod cross_site;
pub mod uk_time;

use std::path::Path;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::Environment;
use serde::{Deserialize, Serialize};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// The Content-Security-Policy of pages: nothing inline, nothing from
/// elsewhere (no font host either), forms only to this origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";

/// Could not set up page rendering.
#[derive(Debug, thiserror::Error)]
#[error("the page templates in {dir} cannot be used: {cause}")]
pub struct TemplateError {
    dir: String,
    cause: String,
}

/// Loads the templates under `{dashboards}/templates`, checking that each
/// of `pages` compiles (so a broken template stops the service at start,
/// not a person at 2 a.m.).
pub fn templates(dashboards: &Path, pages: &[&str]) -> Result<Environment<'static>, TemplateError> {
    let dir = dashboards.join("templates");
    let mut env = Environment::new();
    env.set_loader(minijinja::path_loader(&dir));
    for page in pages {
        env.get_template(page).map_err(|e| TemplateError {
            dir: dir.display().to_string(),
            cause: format!("{e:#}"),
        })?;
    }
    Ok(env)
}

/// Renders `page` with `context` as a `status` answer; a page that fails to
/// render is logged and answered with a plain 500.
pub fn render(
    env: &Environment<'_>,
    page: &str,
    context: impl Serialize,
    status: StatusCode,
) -> Response {
    match env
        .get_template(page)
        .and_then(|template| template.render(context))
    {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            tracing::error!(page, cause = %format!("{err:#}"), "page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be shown. Please try again.",
            )
                .into_response()
        }
    }
}

/// Serves the NHS.UK frontend at `/assets/nhsuk` and `dashboards/static`
/// at `/assets/app`.
pub fn assets<S: Clone + Send + Sync + 'static>(router: Router<S>, dashboards: &Path) -> Router<S> {
    nhsuk_frontend(router, dashboards)
        .nest_service("/assets/app", ServeDir::new(dashboards.join("static")))
}

/// The stylesheet the pages link, under `/assets/nhsuk`.
pub const NHSUK_STYLESHEET: &str = "nhsuk-frontend.min.css";

/// Serves the NHS.UK frontend's compiled files at `/assets/nhsuk`, its
/// stylesheet ([`NHSUK_STYLESHEET`]) without `@font-face` rules: the
/// design system's font stack then falls back to Arial and sans-serif, and
/// no page asks another host for fonts.
pub fn nhsuk_frontend<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    dashboards: &Path,
) -> Router<S> {
    let dist = dashboards.join("node_modules/nhsuk-frontend/dist/nhsuk");
    let router = match std::fs::read_to_string(dist.join(NHSUK_STYLESHEET)) {
        Ok(css) => {
            let css: std::sync::Arc<str> = without_font_faces(&css).into();
            router.route(
                &format!("/assets/nhsuk/{NHSUK_STYLESHEET}"),
                axum::routing::get(move || {
                    let css = css.clone();
                    async move {
                        (
                            [
                                (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                                (header::CACHE_CONTROL, "public, max-age=3600"),
                            ],
                            css.to_string(),
                        )
                    }
                }),
            )
        }
        Err(err) => {
            tracing::error!(dir = %dist.display(), cause = %err, "the NHS.UK stylesheet cannot be read");
            router
        }
    };
    router.nest_service("/assets/nhsuk", ServeDir::new(dist))
}

/// `css` without its `@font-face { … }` rules.
pub fn without_font_faces(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(start) = rest.find("@font-face") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        match after.find('}') {
            Some(end) => rest = &after[end + 1..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Adds the security headers of every page and API answer (kept when a
/// handler set its own).
pub fn with_security_headers<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    content_security_policy: &'static str,
) -> Router<S> {
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    router
        .layer(header(
            header::CONTENT_SECURITY_POLICY,
            content_security_policy,
        ))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::REFERRER_POLICY, "no-referrer"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        // Browsers act on HSTS only over https; on plain-http localhost it is ignored.
        .layer(header(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ))
}

/// Sends a person without a session to `sign_in_url`, to come back to
/// `path` on `public_url` afterwards.
pub fn sign_in_redirect(sign_in_url: &str, public_url: &str, path: &str) -> Response {
    let return_to = format!("{}{path}", public_url.trim_end_matches('/'));
    Redirect::to(&format!(
        "{sign_in_url}?return_to={}",
        percent_encode(&return_to)
    ))
    .into_response()
}

/// Where every JSON API serves its OpenAPI 3.1 document.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The answer to `GET /api/v1/openapi.json`: `document` (a service's
/// `openapi.json`, embedded at build time) as JSON, cacheable by anyone for
/// an hour. It describes the API only, so it needs no sign-in.
pub fn openapi_document(document: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        document,
    )
        .into_response()
}

/// The body of every refusal of a JSON API: `{"error": "…"}`, with
/// `problems` when a request broke rules.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody<P> {
    /// What went wrong, for a person.
    pub error: String,
    /// Each rule the request broke, by field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<P>,
}

impl<P: Serialize> ErrorBody<P> {
    /// The refusal as a `status` answer, telling a caller over its rate
    /// limit when to come back (`Retry-After`, in seconds).
    pub fn answer(self, status: StatusCode, retry_after: Option<u64>) -> Response {
        let body = axum::Json(self);
        match retry_after {
            Some(seconds) => {
                (status, [(header::RETRY_AFTER, seconds.to_string())], body).into_response()
            }
            None => (status, body).into_response(),
        }
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stylesheet_asks_no_other_host_for_fonts() {
        let css = "a{color:red}@font-face{font-family:Frutiger W01;src:url(https://assets.nhs.uk/f.woff2)}b{font-family:Frutiger W01,arial,sans-serif}@font-face{src:url(x)}";
        assert_eq!(
            without_font_faces(css),
            "a{color:red}b{font-family:Frutiger W01,arial,sans-serif}"
        );
        assert!(!CONTENT_SECURITY_POLICY.contains("https://"));
    }

    #[test]
    fn return_addresses_are_encoded() {
        assert_eq!(
            percent_encode("http://127.0.0.1:8080/control-room?x=1&y"),
            "http%3A%2F%2F127.0.0.1%3A8080%2Fcontrol-room%3Fx%3D1%26y"
        );
        let response = sign_in_redirect("http://id/sign-in", "http://gw/", "/care-homes");
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(
            location,
            "http://id/sign-in?return_to=http%3A%2F%2Fgw%2Fcare-homes"
        );
    }

    #[test]
    fn a_caller_over_its_limit_is_told_when_to_come_back() {
        let refusal = |retry_after| {
            ErrorBody::<String> {
                error: "too many requests".to_owned(),
                problems: Vec::new(),
            }
            .answer(StatusCode::TOO_MANY_REQUESTS, retry_after)
        };
        let waited = refusal(Some(30));
        assert_eq!(waited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            waited.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from_static("30"))
        );
        assert!(refusal(None).headers().get(header::RETRY_AFTER).is_none());
    }
}
