//! Who may see the control room: a signed-in principal the policy allows
//! `Action::ViewControlRoom` (aggregates only, never patient-level data).

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pf_access::{Action, Principal};
use pf_sign_in::AuthError;

use crate::AppState;

/// Why a viewer was turned away.
#[derive(Debug)]
pub enum Denied {
    /// Not signed in (or the session ended): sign in first.
    NotSignedIn(AuthError),
    /// Signed in, but the role does not include the control room.
    NotAllowed(String),
}

/// Checks that the caller may view the control room.
pub async fn control_room_viewer(app: &AppState, headers: &HeaderMap) -> Result<Principal, Denied> {
    let (principal, _) = app
        .authenticator
        .authenticate(headers)
        .await
        .map_err(Denied::NotSignedIn)?;
    principal
        .permits(&Action::ViewControlRoom)
        .require()
        .map_err(|refused| Denied::NotAllowed(refused.to_string()))?;
    Ok(principal)
}

/// A page request that was turned away: to sign-in, or a plain refusal.
pub fn page_refusal(app: &AppState, denied: Denied, path: &str) -> Response {
    match denied {
        Denied::NotSignedIn(AuthError::Unavailable(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable right now. Please try again in a moment.",
        )
            .into_response(),
        Denied::NotSignedIn(_) => {
            pf_web::sign_in_redirect(&app.config.sign_in_url, &app.config.public_url, path)
        }
        Denied::NotAllowed(reason) => (StatusCode::FORBIDDEN, reason).into_response(),
    }
}

/// A websocket upgrade that was turned away.
pub fn api_refusal(denied: Denied) -> Response {
    match denied {
        Denied::NotSignedIn(err) => err.into_response(),
        Denied::NotAllowed(reason) => (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({ "error": reason })),
        )
            .into_response(),
    }
}
