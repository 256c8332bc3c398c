//! Who may see the control room: a signed-in principal the policy allows
//! `Action::ViewControlRoom` (aggregates only, never patient-level data).

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
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
            let return_to = format!("{}{path}", app.config.public_url.trim_end_matches('/'));
            let target = format!(
                "{}?return_to={}",
                app.config.sign_in_url,
                percent_encode(&return_to)
            );
            Redirect::to(&target).into_response()
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

fn percent_encode(value: &str) -> String {
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
    #[test]
    fn return_addresses_are_encoded() {
        assert_eq!(
            super::percent_encode("http://127.0.0.1:8080/control-room"),
            "http%3A%2F%2F127.0.0.1%3A8080%2Fcontrol-room"
        );
    }
}
