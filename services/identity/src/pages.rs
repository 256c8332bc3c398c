//! Page rendering (minijinja templates from `dashboards/templates`) and the
//! security headers of every answer.

use std::path::Path;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use pf_access::{Principal, Role};
use serde::Serialize;

/// The Content-Security-Policy of every answer: nothing inline, nothing from
/// elsewhere, no font host either (the same as the gateway's).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";

/// The policy with `form-action` widened to the origins a signed-in person
/// is sent back to: browsers apply `form-action` to the redirect that
/// follows a form, so the sign-in form's redirect to the dashboards needs it.
pub fn content_security_policy(return_origins: &[String]) -> String {
    let mut origins = String::new();
    for origin in return_origins {
        // Only plain origins (scheme://host[:port]) reach a header.
        if origin.starts_with("http") && !origin.contains([';', ',', ' ', '\'', '"']) {
            origins.push(' ');
            origins.push_str(origin.trim_end_matches('/'));
        }
    }
    CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'",
        &format!("form-action 'self'{origins}"),
    )
}

/// HSTS, sent unless cookies are insecure (plain-http development).
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000; includeSubDomains";

/// The pages this service renders; each must compile at start.
pub const TEMPLATES: [&str; 5] = [
    "sign-in.html",
    "sign-in-link.html",
    "sign-in-link-expired.html",
    "kiosk-setup.html",
    "sign-out.html",
];

/// Could not set up page rendering.
#[derive(Debug, thiserror::Error)]
#[error("the page templates in {dir} cannot be used: {cause}")]
pub struct TemplateError {
    dir: String,
    cause: String,
}

/// Pages of this service's own (organisation sign-in and the demo issuer's
/// authorization page), built into the binary; they extend the dashboards'
/// `layout.html`.
pub const OWN_TEMPLATES: [(&str, &str); 2] = [
    (
        "sign-in-problem.html",
        include_str!("../templates/sign-in-problem.html"),
    ),
    (
        "oauth-authorize.html",
        include_str!("../templates/oauth-authorize.html"),
    ),
];

/// Loads the templates under `{dashboards}/templates` and this service's
/// own, checking that every page of this service compiles.
pub fn templates(dashboards: &Path) -> Result<Environment<'static>, TemplateError> {
    let dir = dashboards.join("templates");
    let mut env = Environment::new();
    env.set_loader(minijinja::path_loader(&dir));
    for (name, source) in OWN_TEMPLATES {
        env.add_template(name, source).map_err(|e| TemplateError {
            dir: "services/identity/templates".to_owned(),
            cause: format!("{e:#}"),
        })?;
    }
    for name in TEMPLATES
        .into_iter()
        .chain(OWN_TEMPLATES.map(|(name, _)| name))
        .chain(crate::admin_pages::TEMPLATES)
    {
        env.get_template(name).map_err(|e| TemplateError {
            dir: dir.display().to_string(),
            cause: format!("{e:#}"),
        })?;
    }
    Ok(env)
}

/// Renders `name` with `context` as an HTML answer with `status`.
pub fn render(
    env: &Environment<'static>,
    status: StatusCode,
    name: &str,
    context: impl Serialize,
) -> Response {
    let rendered = env
        .get_template(name)
        .and_then(|template| template.render(context));
    match rendered {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            tracing::error!(template = name, cause = %format!("{err:#}"), "page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be shown.",
            )
                .into_response()
        }
    }
}

/// Adds `Set-Cookie` headers to an answer.
pub fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A 303 See Other to a local path, setting `cookies`.
pub fn see_other(location: &str, cookies: &[String]) -> Response {
    let response = match HeaderValue::from_str(location) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, HeaderValue::from_static("/"))],
        )
            .into_response(),
    };
    with_cookies(response, cookies)
}

/// A role in words for people.
pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::CareHomeEditor => "Care-home editor",
        Role::DischargeCoordinator => "Discharge coordinator",
        Role::ControlRoomViewer => "Control-room viewer",
        Role::ControlRoomLead => "Control-room lead",
        Role::SystemAdmin => "System administrator",
        Role::BedPublisher => "Bed-state feed",
        Role::VacancyPublisher => "Vacancy feed",
    }
}

/// A demo person as the sign-in page lists them.
#[derive(Debug, Clone, Serialize)]
pub struct DemoUser {
    /// Their id (the radio's value).
    pub id: String,
    /// Their name.
    pub name: String,
    /// Their roles, in words.
    pub roles: String,
    /// The organisation they act for, or "the whole system".
    pub organisation: String,
}

impl DemoUser {
    /// The listing of a demo principal.
    pub fn of(principal: &Principal) -> Self {
        let roles: Vec<String> = principal
            .grants
            .iter()
            .map(|grant| {
                let names = crate::organisation_names::names();
                let orgs: Vec<&str> = grant
                    .organisations()
                    .iter()
                    .map(|o| names.name_of(o.as_str()))
                    .collect();
                if orgs.is_empty() {
                    format!("{} (whole system)", role_label(grant.role()))
                } else {
                    format!("{} for {}", role_label(grant.role()), orgs.join(", "))
                }
            })
            .collect();
        Self {
            id: principal.id.clone(),
            name: principal.name.clone(),
            roles: roles.join("; "),
            organisation: principal.organisation.as_ref().map_or_else(
                || "none".to_owned(),
                |o| {
                    crate::organisation_names::names()
                        .name_of(o.as_str())
                        .to_owned()
                },
            ),
        }
    }
}
