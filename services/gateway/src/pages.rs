//! The control-room page, static assets and security headers.

use std::path::Path;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use time::OffsetDateTime;

use crate::AppState;

/// Could not set up page rendering.
#[derive(Debug, thiserror::Error)]
#[error("the page templates in {dir} cannot be used: {cause}")]
pub struct TemplateError {
    dir: String,
    cause: String,
}

/// Loads the templates under `{dashboards}/templates`, checking that the
/// control-room page compiles.
pub fn templates(dashboards: &Path) -> Result<Environment<'static>, TemplateError> {
    let dir = dashboards.join("templates");
    let mut env = Environment::new();
    env.set_loader(minijinja::path_loader(&dir));
    env.get_template("control-room.html")
        .map_err(|e| TemplateError {
            dir: dir.display().to_string(),
            cause: format!("{e:#}"),
        })?;
    Ok(env)
}

/// `GET /control-room`: the wall display, every number in the HTML.
pub async fn control_room(State(app): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Err(denied) = crate::access::control_room_viewer(&app, &headers).await {
        return crate::access::page_refusal(&app, denied, "/control-room");
    }
    let now = OffsetDateTime::now_utc();
    let Some(snapshot) = app.hub.with_room(|room| room.snapshot_message(now)) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, HeaderValue::from_static("2"))],
            "The live figures are loading. Please reload in a moment.",
        )
            .into_response();
    };
    let rendered = app
        .templates
        .get_template("control-room.html")
        .and_then(|template| template.render(&snapshot));
    match rendered {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            tracing::error!(cause = %format!("{err:#}"), "control room page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be shown.",
            )
                .into_response()
        }
    }
}

/// The Content-Security-Policy of every page: nothing inline, nothing from
/// elsewhere but the NHS fonts.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self' https://assets.nhs.uk; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";
