//! Signing in and out in a browser: the demo sign-in page (development
//! only) and sign-out.
//!
//! The demo page lists one demo person per role; choosing one starts a
//! session for them. It is not mounted in production, where people sign in
//! with a sign-in link or their organisation's identity provider.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pf_access::{Principal, PrincipalKind, demo_principals};
use pf_audit::AuditActor;
use pf_sign_in::{SessionLifetime, cookie};
use serde::{Deserialize, Serialize};

use crate::caller::Source;
use crate::csrf;
use crate::pages::{self, DemoUser};
use crate::return_to::ReturnTo;
use crate::state::AppState;
use crate::trail;

/// The audit action of a sign-in.
pub const SIGN_IN: &str = "identity.signed_in";
/// The audit action of a sign-out.
pub const SIGN_OUT: &str = "identity.signed_out";

/// One line of the NHS.UK error summary: the message and the field it links to.
#[derive(Debug, Clone, Serialize)]
pub struct FormError {
    /// What is wrong and how to put it right.
    pub text: String,
    /// `#` and the id of the field.
    pub href: String,
}

impl FormError {
    /// An error about the field with id `field`.
    pub fn new(text: impl Into<String>, field: &str) -> Self {
        Self {
            text: text.into(),
            href: format!("#{field}"),
        }
    }
}

/// What `sign-in.html` shows.
#[derive(Debug, Default, Serialize)]
struct SignInPage {
    demo: bool,
    /// Where organisation sign-in (OpenID Connect) starts, when offered.
    oidc_start: Option<String>,
    demo_users: Vec<DemoUser>,
    csrf_token: String,
    return_to: String,
    selected: Option<String>,
    errors: Vec<FormError>,
}

/// The demo people (not machines) a person may sign in as.
pub fn demo_people() -> Vec<Principal> {
    demo_principals()
        .into_iter()
        .filter(|p| p.kind == PrincipalKind::Person)
        .collect()
}

/// The start of organisation sign-in, carrying `return_to`.
fn oidc_start(return_to: &str) -> String {
    const START: &str = "/sign-in/oidc";
    match reqwest::Url::parse(&format!("http://localhost{START}")) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair("return_to", return_to);
            url.query()
                .map_or_else(|| START.to_owned(), |query| format!("{START}?{query}"))
        }
        Err(_) => START.to_owned(),
    }
}

/// The sign-in page with a (possibly new) double-submit token.
fn page(
    app: &AppState,
    status: StatusCode,
    csrf_token: String,
    return_to: &ReturnTo,
    selected: Option<String>,
    errors: Vec<FormError>,
) -> Response {
    let demo = app.issuer.is_some();
    let context = SignInPage {
        demo,
        oidc_start: app.oidc.is_some().then(|| oidc_start(return_to.as_str())),
        demo_users: if demo {
            demo_people().iter().map(DemoUser::of).collect()
        } else {
            Vec::new()
        },
        csrf_token: csrf_token.clone(),
        return_to: return_to.as_str().to_owned(),
        selected,
        errors,
    };
    let response = pages::render(&app.templates, status, "sign-in.html", context);
    pages::with_cookies(
        response,
        &[csrf::set_cookie(&csrf_token, app.config.insecure_cookies)],
    )
}

/// `GET /sign-in` query.
#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    /// Where to go after signing in.
    pub return_to: Option<String>,
}

/// `GET /sign-in`: the demo users (development), or where to sign in (production).
pub async fn show(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<SignInQuery>,
) -> Response {
    let return_to = ReturnTo::resolve(
        query.return_to.as_deref(),
        &app.config.return_origins,
        app.config.home_url.as_deref(),
    );
    let token = csrf::token_for_page(&headers);
    page(&app, StatusCode::OK, token, &return_to, None, Vec::new())
}

/// `POST /sign-in` form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    csrf_token: Option<String>,
    person: Option<String>,
    return_to: Option<String>,
}

/// `POST /sign-in`: starts a session for the chosen demo person and sends
/// them to `return_to` (a local path; anything else goes to the default).
pub async fn submit(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_else(|_| SignInForm {
        csrf_token: None,
        person: None,
        return_to: None,
    });
    let return_to = ReturnTo::resolve(
        form.return_to.as_deref(),
        &app.config.return_origins,
        app.config.home_url.as_deref(),
    );
    let refuse = |status, token: String, selected, errors| {
        app.metrics
            .sign_ins
            .with_label_values(&["demo", "refused"])
            .inc();
        page(&app, status, token, &return_to, selected, errors)
    };
    if let Some(ip) = source.ip
        && let Err(limited) = app.limits.check_address(ip)
    {
        app.metrics
            .rate_limited
            .with_label_values(&[limited.limit.label()])
            .inc();
        let error = FormError::new(
            "You have tried to sign in too many times. Wait a minute, then try again.",
            "person",
        );
        let token = csrf::token_for_page(&headers);
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            token,
            form.person,
            vec![error],
        );
    }
    if !csrf::double_submit_ok(&headers, form.csrf_token.as_deref()) {
        let reason = "the sign-in form's security token was missing or wrong";
        trail::refused(&app, AuditActor::anonymous(), SIGN_IN, "", reason, &source).await;
        let error = FormError::new(
            "Your sign-in form has expired. Select who you want to sign in as again.",
            "person",
        );
        return refuse(
            StatusCode::FORBIDDEN,
            csrf::new_token(),
            form.person,
            vec![error],
        );
    }
    let token = csrf::token_for_page(&headers);
    let chosen = form.person.as_deref().map(str::trim).unwrap_or_default();
    let Some(principal) = demo_people().into_iter().find(|p| p.id == chosen) else {
        if !chosen.is_empty() {
            let reason = "not one of the demo users";
            let entity = format!("person/{}", trail::clip(chosen));
            trail::refused(
                &app,
                AuditActor::anonymous(),
                SIGN_IN,
                &entity,
                reason,
                &source,
            )
            .await;
        }
        let error = FormError::new("Select who you want to sign in as", "person");
        return refuse(StatusCode::BAD_REQUEST, token, None, vec![error]);
    };
    let entity = format!("person/{}", principal.id);
    let actor = trail::actor(&principal);
    match app.store().is_revoked(&principal.id).await {
        Ok(false) => {}
        Ok(true) => {
            let reason = "access has been withdrawn";
            trail::refused(&app, actor, SIGN_IN, &entity, reason, &source).await;
            let error = FormError::new(
                "This user's access has been withdrawn. Choose another user or ask a system administrator.",
                "person",
            );
            return refuse(
                StatusCode::FORBIDDEN,
                token,
                Some(principal.id),
                vec![error],
            );
        }
        Err(err) => {
            tracing::error!(cause = %err, "sign-in store unavailable");
            return unavailable(&app, token, &return_to, Some(principal.id));
        }
    }
    start_session(
        &app,
        &headers,
        &source,
        &principal,
        "demo",
        return_to.as_str(),
        || unavailable(&app, token.clone(), &return_to, Some(principal.id.clone())),
    )
    .await
}

/// The sign-in page saying the service is unavailable (503).
fn unavailable(
    app: &AppState,
    token: String,
    return_to: &ReturnTo,
    selected: Option<String>,
) -> Response {
    let error = FormError::new(
        "Sign-in is not available right now. Try again in a few minutes.",
        "person",
    );
    page(
        app,
        StatusCode::SERVICE_UNAVAILABLE,
        token,
        return_to,
        selected,
        vec![error],
    )
}

/// Starts a session for `principal` (ending the browser's previous one, so
/// a session id never survives a sign-in), records it, and redirects to
/// `to` with the session cookie. `on_failure` answers when the session or
/// its audit record cannot be stored; then no session is left behind.
pub async fn start_session(
    app: &AppState,
    headers: &HeaderMap,
    source: &Source,
    principal: &Principal,
    method: &str,
    to: &str,
    on_failure: impl FnOnce() -> Response,
) -> Response {
    start_session_with(
        app, headers, source, principal, method, to, None, None, on_failure,
    )
    .await
}

/// [`start_session`] with timeouts of the session's own instead of the
/// store's policy (a kiosk's long session; the cookie lives as long), and
/// the assurance level the identity provider gave, for the audit record.
#[allow(clippy::too_many_arguments)]
pub async fn start_session_with(
    app: &AppState,
    headers: &HeaderMap,
    source: &Source,
    principal: &Principal,
    method: &str,
    to: &str,
    lifetime: Option<SessionLifetime>,
    assurance: Option<&str>,
    on_failure: impl FnOnce() -> Response,
) -> Response {
    let store = app.store();
    let previous = headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(cookie::session_id)
        .map(str::to_owned);
    let created = match lifetime {
        Some(lifetime) => store.create_long_session(principal, lifetime).await,
        None => store.create_session(principal).await,
    };
    let session = match created {
        Ok(session) => session,
        Err(err) => {
            tracing::error!(cause = %err, "could not start a session");
            return on_failure();
        }
    };
    let entity = trail::entity_of(principal);
    if trail::accepted_assured(
        app,
        trail::actor(principal),
        SIGN_IN,
        &entity,
        source,
        assurance,
    )
    .await
    .is_err()
    {
        let _ = store.end_session(&session.id).await;
        return on_failure();
    }
    if let Some(previous) = previous {
        let _ = store.end_session(&previous).await;
    }
    app.metrics
        .sign_ins
        .with_label_values(&[method, "accepted"])
        .inc();
    tracing::info!(person = %principal.id, method, "signed in");
    let max_age = lifetime.map_or_else(|| store.policy().absolute.as_secs(), |l| l.absolute_secs);
    let set = cookie::set_session(&session.id, max_age, app.config.insecure_cookies);
    pages::see_other(to, &[set])
}

/// `GET /sign-out`: the page every other service's "Sign out" link leads
/// to, with a form that posts the session's CSRF token to `POST /sign-out`
/// (a link alone must not end a session: another site could make a browser
/// follow it). Not signed in: the sign-in page.
pub async fn confirm_sign_out(State(app): State<AppState>, headers: HeaderMap) -> Response {
    match app.authenticator.authenticate(&headers).await {
        Ok((principal, Some(session))) => pages::render(
            &app.templates,
            StatusCode::OK,
            "sign-out.html",
            serde_json::json!({ "person": principal.name, "csrf_token": session.csrf_token }),
        ),
        _ => pages::see_other("/sign-in", &[]),
    }
}

/// `POST /sign-out` form.
#[derive(Debug, Deserialize)]
pub struct SignOutForm {
    csrf_token: Option<String>,
}

/// `POST /sign-out`: ends the session (the form must carry the session's
/// CSRF token), clears the cookie and goes to the sign-in page.
pub async fn sign_out(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    form: Result<Form<SignOutForm>, FormRejection>,
) -> Response {
    let clear = cookie::clear_session(app.config.insecure_cookies);
    let session = match app.authenticator.authenticate(&headers).await {
        Ok((_, Some(session))) => session,
        // Not signed in (or only by token): nothing to end.
        _ => return pages::see_other("/sign-in", &[clear]),
    };
    let presented = form
        .ok()
        .and_then(|Form(f)| f.csrf_token)
        .unwrap_or_default();
    let actor = trail::actor(&session.principal);
    let entity = format!("person/{}", session.principal.id);
    if !csrf::tokens_match(&session.csrf_token, &presented) {
        let reason = "the sign-out form's security token was missing or wrong";
        trail::refused(&app, actor, SIGN_OUT, &entity, reason, &source).await;
        return (
            StatusCode::FORBIDDEN,
            "The sign-out form has expired. Go back, reload the page and try again.",
        )
            .into_response();
    }
    if let Err(err) = app.store().end_session(&session.id).await {
        tracing::error!(cause = %err, "could not end a session");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-out is not available right now. Try again in a few minutes.",
        )
            .into_response();
    }
    // The session has ended either way; a lost record is logged by `trail`.
    let _ = trail::accepted(&app, actor, SIGN_OUT, &entity, &source).await;
    pages::see_other("/sign-in", &[clear])
}
