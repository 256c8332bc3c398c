//! Who may see the administration pages, and the CSRF check of their forms.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use pf_access::{Action, Principal};
use pf_audit::AuditActor;
use pf_sign_in::AuthError;
use serde_json::json;

use crate::caller::Source;
use crate::csrf;
use crate::pages;
use crate::state::AppState;
use crate::trail;

/// The audit action of a refused administration page or action (its entity
/// is the page's path).
pub const ADMIN_PAGE: &str = "admin.page";

/// A system administrator signed in with a browser session.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Who.
    pub principal: Principal,
    /// The session's form token, for the page's forms.
    pub csrf_token: String,
}

/// The refusal page (`admin/refused.html`) with `status` and a sentence.
pub fn refused_page(app: &AppState, status: StatusCode, message: &str) -> Response {
    pages::render(
        &app.templates,
        status,
        "admin/refused.html",
        json!({ "message": message, "status": status.as_u16() }),
    )
}

/// Where a person without a session is sent: the sign-in page, back to `path`.
fn sign_in(path: &str) -> Response {
    let back: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
    pages::see_other(&format!("/sign-in?return_to={back}"), &[])
}

/// The caller, when they are a system administrator in a browser session.
/// Otherwise the answer to give: sign in (no session), 403 (anyone else, a
/// bearer token), 503 (the sign-in store is down); every refusal of someone
/// signed in, and of a stale or missing session, is in the audit trail as
/// [`ADMIN_PAGE`] on `path`.
pub async fn admin(
    app: &AppState,
    headers: &HeaderMap,
    source: &Source,
    path: &str,
) -> Result<Admin, Response> {
    let (principal, session) = match app.authenticator.authenticate(headers).await {
        Ok(found) => found,
        Err(AuthError::Unavailable(err)) => {
            tracing::error!(cause = %err, "sign-in store unavailable");
            return Err(refused_page(
                app,
                StatusCode::SERVICE_UNAVAILABLE,
                "The administration pages are not available right now. Try again in a few minutes.",
            ));
        }
        Err(err) => {
            let reason = format!("not signed in ({})", err.label());
            let _ = trail::refused_access(
                app,
                AuditActor::anonymous(),
                ADMIN_PAGE,
                path,
                &reason,
                source,
            )
            .await;
            return Err(sign_in(path));
        }
    };
    let actor = trail::actor(&principal);
    let Some(session) = session else {
        let reason = "the administration pages need a browser session, not an access token";
        let _ = trail::refused_access(app, actor, ADMIN_PAGE, path, reason, source).await;
        return Err(refused_page(
            app,
            StatusCode::FORBIDDEN,
            "Sign in with a browser to use the administration pages.",
        ));
    };
    if let Err(refusal) = principal.permits(&Action::ManageAccess).require() {
        let _ = trail::refused_access(app, actor, ADMIN_PAGE, path, &refusal.reason, source).await;
        return Err(refused_page(
            app,
            StatusCode::FORBIDDEN,
            "Only a system administrator can use the administration pages. \
             If you need to, ask your organisation's Patient Flow administrator.",
        ));
    }
    Ok(Admin {
        principal,
        csrf_token: session.csrf_token,
    })
}

/// [`admin`], then the form's CSRF token against the session's: a post
/// without it (another site's form, a page left open past its session) is
/// refused with a 403 page and recorded as `action` on `entity`.
pub async fn admin_form(
    app: &AppState,
    headers: &HeaderMap,
    source: &Source,
    path: &str,
    presented: Option<&str>,
    action: &str,
    entity: &str,
) -> Result<Admin, Response> {
    let admin = admin(app, headers, source, path).await?;
    if !csrf::tokens_match(&admin.csrf_token, presented.unwrap_or_default()) {
        let reason = "the administration form's security token was missing or wrong";
        trail::refused(
            app,
            trail::actor(&admin.principal),
            action,
            entity,
            reason,
            source,
        )
        .await;
        return Err(refused_page(
            app,
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from Patient Flow, so nothing was changed. \
             Go back, reload the page and try again.",
        ));
    }
    Ok(admin)
}

/// A form field: trimmed, `None` when empty.
pub fn field(value: Option<&String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}
