//! Who may see the control room: a signed-in principal the policy allows
//! `Action::ViewControlRoom` (aggregates only, never patient-level data).

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pf_access::{Action, Principal};
use std::net::IpAddr;

use pf_audit::{AuditActor, AuditRecord, AuditSource};
use pf_sign_in::AuthError;

use crate::AppState;

/// Why a viewer was turned away.
#[derive(Debug)]
pub enum Denied {
    /// Not signed in (or the session ended): sign in first.
    NotSignedIn(AuthError),
    /// Signed in, but the role does not include the control room.
    NotAllowed(String),
    /// Refused too often from here: wait this long (the refusals are
    /// counted in one aggregate audit record, not one record each).
    TooMany(std::time::Duration),
}

/// The answer to a client refused too often: 429 with `Retry-After`.
fn too_many(wait: std::time::Duration) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(
            axum::http::header::RETRY_AFTER,
            wait.as_secs().max(1).to_string(),
        )],
        pf_audit::TOO_MANY_REFUSALS,
    )
        .into_response()
}

/// The audit trail's action for viewing the control room.
pub const VIEW: &str = "control_room.view";

/// Checks that the caller may view the control room; a refusal is recorded
/// in the audit trail (who, when, from where, why) before the answer.
pub async fn control_room_viewer(
    app: &AppState,
    headers: &HeaderMap,
    address: Option<IpAddr>,
) -> Result<Principal, Denied> {
    let (principal, denied) = match app.authenticator.authenticate(headers).await {
        Err(err) => (None, Some(Denied::NotSignedIn(err))),
        Ok((principal, _)) => match principal.permits(&Action::ViewControlRoom).require() {
            Ok(_) => return Ok(principal),
            Err(refused) => (
                Some(principal),
                Some(Denied::NotAllowed(refused.to_string())),
            ),
        },
    };
    let denied = denied.unwrap_or(Denied::NotAllowed(String::new()));
    let reason = reason_of(&denied);
    if let Err(wait) = record_refusal(
        app,
        principal.as_ref(),
        VIEW,
        "control-room",
        reason,
        headers,
        address,
    )
    .await
    {
        return Err(Denied::TooMany(wait));
    }
    Err(denied)
}

fn reason_of(denied: &Denied) -> String {
    match denied {
        Denied::NotSignedIn(err) => err.to_string(),
        Denied::NotAllowed(reason) => reason.clone(),
        Denied::TooMany(_) => pf_audit::TOO_MANY_REFUSALS.to_owned(),
    }
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
        Denied::TooMany(wait) => too_many(wait),
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
        Denied::TooMany(wait) => too_many(wait),
    }
}

/// Records a refused attempt in the audit trail (who, when, from where,
/// why) within the client's refusal budget (the client is the peer, or the
/// forwarded address behind a trusted proxy); beyond it the refusal is
/// counted into an aggregate record and `Err(wait)`: answer 429.
pub async fn record_refusal(
    app: &AppState,
    principal: Option<&Principal>,
    action: &str,
    entity: &str,
    reason: String,
    headers: &HeaderMap,
    address: Option<IpAddr>,
) -> Result<(), std::time::Duration> {
    let actor = principal
        .map(AuditActor::of)
        .unwrap_or_else(AuditActor::anonymous);
    let user_agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let client = app.config.trusted_proxies.client(address, headers);
    let source = AuditSource::new("gateway", client.map(|a| a.to_string()), user_agent);
    app.metrics.refused.inc();
    let record = AuditRecord::refused(actor, action, entity, reason, source);
    // Every refusal here is one of access (not signed in, not allowed, a
    // foreign page).
    app.refusals
        .refused(record, pf_audit::RefusalKind::Access)
        .await
}

/// The audit trail's action for following discharge notifications.
pub const FOLLOW_DISCHARGES: &str = "discharges.live";

/// Checks that the caller is a discharge coordinator (allowed
/// `Action::ManagePatients` for at least one organisation); their
/// organisations' ODS codes. A refusal is recorded in the audit trail.
pub async fn discharge_coordinator(
    app: &AppState,
    headers: &HeaderMap,
    address: Option<IpAddr>,
) -> Result<(Principal, std::collections::BTreeSet<String>), Denied> {
    let (principal, denied) = match app.authenticator.authenticate(headers).await {
        Err(err) => (None, Denied::NotSignedIn(err)),
        Ok((principal, _)) => {
            let organisations: std::collections::BTreeSet<String> = principal
                .ods_organisations(pf_access::Role::DischargeCoordinator)
                .filter(|ods| {
                    principal
                        .permits(&Action::ManagePatients {
                            ods: (*ods).clone(),
                        })
                        .is_allowed()
                })
                .map(|ods| ods.as_str().to_owned())
                .collect();
            if !organisations.is_empty() {
                return Ok((principal, organisations));
            }
            (
                Some(principal),
                Denied::NotAllowed(
                    "Live discharge notifications are for discharge coordinators.".to_owned(),
                ),
            )
        }
    };
    let reason = reason_of(&denied);
    if let Err(wait) = record_refusal(
        app,
        principal.as_ref(),
        FOLLOW_DISCHARGES,
        "discharges",
        reason,
        headers,
        address,
    )
    .await
    {
        return Err(Denied::TooMany(wait));
    }
    Err(denied)
}

/// `scheme://host[:port]` of a URL, lower-cased, without a path.
pub fn origin_of(url: &str) -> String {
    let url = url.trim().to_ascii_lowercase();
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            format!("{scheme}://{host}")
        }
        None => url,
    }
}

/// Whether a browser page at `origin` may open a websocket here: a page of
/// one of `pages` (public addresses), or one this gateway served itself
/// (the origin's host is the request's `Host`).
pub fn origin_allowed(origin: &str, host: Option<&str>, pages: &[&str]) -> bool {
    let origin = origin_of(origin);
    let same_host = host.is_some_and(|host| {
        origin
            .split_once("://")
            .is_some_and(|(_, origin_host)| origin_host == host.trim().to_ascii_lowercase())
    });
    same_host || pages.iter().any(|page| origin_of(page) == origin)
}

/// Browsers send an `Origin` with every websocket upgrade (other clients
/// need not): a page elsewhere must not open a live feed with a signed-in
/// person's cookie. The refusal (403, recorded in the audit trail), or
/// `None` when the upgrade may go on.
pub async fn refuse_foreign_origin(
    app: &AppState,
    headers: &HeaderMap,
    address: Option<IpAddr>,
    action: &str,
    entity: &str,
    pages: &[&str],
) -> Option<Response> {
    let origin = headers.get(axum::http::header::ORIGIN)?;
    let origin = origin.to_str().unwrap_or_default();
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok());
    if origin_allowed(origin, host, pages) {
        return None;
    }
    let principal = app
        .authenticator
        .authenticate(headers)
        .await
        .ok()
        .map(|(p, _)| p);
    let page = origin_of(origin);
    if let Err(wait) = record_refusal(
        app,
        principal.as_ref(),
        action,
        entity,
        format!("a page at {page} may not open this live feed"),
        headers,
        address,
    )
    .await
    {
        return Some(too_many(wait));
    }
    Some(
        (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({ "error": "a page on another site may not open this live feed" })),
        )
            .into_response(),
    )
}

#[cfg(test)]
mod origin_tests {
    use super::*;

    #[test]
    fn origins_compare_without_paths_or_case() {
        assert_eq!(origin_of("http://127.0.0.1:8085/"), "http://127.0.0.1:8085");
        assert_eq!(origin_of("HTTP://Example.org/x?y"), "http://example.org");
        assert_ne!(
            origin_of("http://127.0.0.1:8086"),
            origin_of("http://127.0.0.1:8085")
        );
    }

    #[test]
    fn a_page_may_open_a_feed_from_its_own_host_or_a_configured_page() {
        let pages = ["http://127.0.0.1:8085"];
        assert!(origin_allowed(
            "http://127.0.0.1:8085",
            Some("other:1"),
            &pages
        ));
        assert!(origin_allowed(
            "https://wall.example",
            Some("WALL.example"),
            &[]
        ));
        assert!(!origin_allowed(
            "https://evil.example",
            Some("wall.example"),
            &pages
        ));
        assert!(!origin_allowed("https://evil.example", None, &pages));
        assert!(!origin_allowed("null", Some("wall.example"), &pages));
    }
}
