//! The control-room page, static assets and security headers.

use std::path::Path;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;
use time::OffsetDateTime;

use crate::AppState;
use crate::opel::OpelView;

/// Loads the templates, checking that the control-room page compiles.
pub fn templates(dashboards: &Path) -> Result<Environment<'static>, pf_web::TemplateError> {
    pf_web::templates(dashboards, &["control-room.html"])
}

/// `GET /control-room`: the wall display, every number in the HTML.
pub async fn control_room(
    State(app): State<AppState>,
    ConnectInfo(address): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Err(denied) =
        crate::access::control_room_viewer(&app, &headers, Some(address.ip())).await
    {
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
    let context = match serde_json::to_value(&snapshot) {
        Ok(snapshot) => {
            let mut context = crate::opel::page_context(snapshot, &app.opel.borrow());
            if let Some(object) = context.as_object_mut() {
                object.insert(
                    "trends".to_owned(),
                    serde_json::to_value(&**app.trends.borrow()).unwrap_or_default(),
                );
                object.insert(
                    "actions".to_owned(),
                    serde_json::to_value(&**app.actions.borrow()).unwrap_or_default(),
                );
            }
            context
        }
        Err(err) => {
            tracing::error!(cause = %err, "cannot encode the snapshot");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    pf_web::render(
        &app.templates,
        "control-room.html",
        &context,
        StatusCode::OK,
    )
}

/// `GET /api/v1/opel`: every scope's OPEL level and the recent alerts, for
/// the wall's script (control-room viewers only; no patient data).
pub async fn opel(
    State(app): State<AppState>,
    ConnectInfo(address): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Err(denied) =
        crate::access::control_room_viewer(&app, &headers, Some(address.ip())).await
    {
        return crate::access::api_refusal(denied);
    }
    let view = OpelView::clone(&app.opel.borrow());
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(view),
    )
        .into_response()
}

/// The Content-Security-Policy of every page.
pub const CONTENT_SECURITY_POLICY: &str = pf_web::CONTENT_SECURITY_POLICY;
