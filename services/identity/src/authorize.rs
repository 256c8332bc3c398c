//! The demo issuer's authorization endpoint (development only), so that the
//! organisation sign-in ([`crate::oidc`]) can be tried and tested without an
//! external identity provider.
//!
//! `GET /oauth/authorize` checks the request (a registered web client, its
//! exact redirect URI, `response_type=code`, scope `openid`, a PKCE S256
//! challenge) and shows the demo people to choose from; with a `login_hint`
//! naming one of them it goes straight on. `POST /oauth/authorize` (the
//! page's form, CSRF-protected) or the hint then sends the browser back to
//! the client with a single-use code bound to the client, the redirect URI,
//! the nonce and the code challenge; `POST /oauth/token` redeems it
//! (see [`crate::oauth`]).
//!
//! A request whose client or redirect URI is unknown is answered with a
//! page here, never redirected (RFC 6749 section 4.1.2.1).

use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use pf_access::Principal;
use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::caller::Source;
use crate::csrf;
use crate::oidc::routes::problem;
use crate::pages::{self, DemoUser};
use crate::pending::{self, IssuedCode};
use crate::pkce;
use crate::sign_in::{FormError, demo_people};
use crate::state::AppState;

/// The page's template (this service's own).
pub const TEMPLATE: &str = "oauth-authorize.html";

/// The authorization request (query of the GET, hidden fields of the POST).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    login_hint: Option<String>,
}

/// `POST /oauth/authorize` form: the request, the chosen person and the
/// double-submit token.
#[derive(Debug, Default, Deserialize)]
pub struct AuthorizeForm {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    person: Option<String>,
    csrf_token: Option<String>,
}

impl AuthorizeForm {
    fn params(&self) -> AuthorizeParams {
        AuthorizeParams {
            response_type: self.response_type.clone(),
            client_id: self.client_id.clone(),
            redirect_uri: self.redirect_uri.clone(),
            scope: self.scope.clone(),
            state: self.state.clone(),
            nonce: self.nonce.clone(),
            code_challenge: self.code_challenge.clone(),
            code_challenge_method: self.code_challenge_method.clone(),
            login_hint: None,
        }
    }
}

/// A checked authorization request.
#[derive(Debug, Clone)]
struct Checked {
    client_id: String,
    redirect_uri: Url,
    /// The redirect URI exactly as the client sent it (the token request
    /// must repeat it exactly).
    redirect_raw: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: String,
}

/// Why a request cannot go on.
#[derive(Debug)]
enum Invalid {
    /// The client or its redirect URI is unknown: answer here.
    Here(&'static str),
    /// Anything else: send the browser back with an OAuth error.
    Back {
        redirect_uri: Box<Url>,
        state: Option<String>,
        error: &'static str,
        description: &'static str,
    },
}

/// Text of at most 512 characters without control characters, or `None`.
fn bounded(value: Option<&String>) -> Option<String> {
    value
        .filter(|v| !v.is_empty() && v.len() <= 512 && !v.chars().any(char::is_control))
        .cloned()
}

fn check(app: &AppState, params: &AuthorizeParams) -> Result<Checked, Invalid> {
    let client_id = params.client_id.as_deref().unwrap_or_default();
    let Some(client) = app.clients.web_client(client_id) else {
        return Err(Invalid::Here(
            "The application that sent you here is not known.",
        ));
    };
    let redirect = params.redirect_uri.as_deref().unwrap_or_default();
    let redirect_uri = match Url::parse(redirect) {
        Ok(url) if client.allows_redirect(redirect) => url,
        _ => {
            return Err(Invalid::Here(
                "The application that sent you here asked to be answered at an address it has not registered.",
            ));
        }
    };
    let state = bounded(params.state.as_ref());
    let back = |error, description| Invalid::Back {
        redirect_uri: Box::new(redirect_uri.clone()),
        state: state.clone(),
        error,
        description,
    };
    if params.response_type.as_deref() != Some("code") {
        return Err(back(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    let scopes = params.scope.as_deref().unwrap_or_default();
    if !scopes.split(' ').any(|s| s == "openid") {
        return Err(back("invalid_scope", "the scope must include openid"));
    }
    let code_challenge = params.code_challenge.as_deref().unwrap_or_default();
    if params.code_challenge_method.as_deref() != Some("S256")
        || !pkce::challenge_ok(code_challenge)
    {
        return Err(back(
            "invalid_request",
            "a PKCE code_challenge with code_challenge_method=S256 is required",
        ));
    }
    if params.nonce.is_some() && bounded(params.nonce.as_ref()).is_none() {
        return Err(back("invalid_request", "the nonce is not usable"));
    }
    Ok(Checked {
        client_id: client_id.to_owned(),
        redirect_uri,
        redirect_raw: redirect.to_owned(),
        state,
        nonce: bounded(params.nonce.as_ref()),
        code_challenge: code_challenge.to_owned(),
    })
}

/// Sends the browser back to the client with `pairs` (and the state).
fn back_to(mut redirect_uri: Url, state: Option<&str>, pairs: &[(&str, &str)]) -> Response {
    {
        let mut query = redirect_uri.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    pages::see_other(redirect_uri.as_str(), &[])
}

/// The answer to an invalid request.
fn refuse(app: &AppState, invalid: Invalid) -> Response {
    match invalid {
        Invalid::Here(message) => problem(
            app,
            StatusCode::BAD_REQUEST,
            "Sign-in cannot continue",
            message,
            "Go back to the application and sign in from there.",
        ),
        Invalid::Back {
            redirect_uri,
            state,
            error,
            description,
        } => back_to(
            *redirect_uri,
            state.as_deref(),
            &[("error", error), ("error_description", description)],
        ),
    }
}

/// What the page shows.
#[derive(Debug, Serialize)]
struct AuthorizePage<'a> {
    demo_users: Vec<DemoUser>,
    params: &'a AuthorizeParams,
    csrf_token: &'a str,
    selected: Option<&'a str>,
    errors: Vec<FormError>,
}

fn page(
    app: &AppState,
    status: StatusCode,
    params: &AuthorizeParams,
    csrf_token: String,
    selected: Option<&str>,
    errors: Vec<FormError>,
) -> Response {
    let context = AuthorizePage {
        demo_users: demo_people().iter().map(DemoUser::of).collect(),
        params,
        csrf_token: &csrf_token,
        selected,
        errors,
    };
    let response = pages::render(&app.templates, status, TEMPLATE, context);
    pages::with_cookies(
        response,
        &[csrf::set_cookie(&csrf_token, app.config.insecure_cookies)],
    )
}

/// Too many requests from this address (429).
fn too_many(app: &AppState, source: &Source) -> Option<Response> {
    let ip = source.ip?;
    let limited = app.limits.check_address(ip).err()?;
    app.metrics
        .rate_limited
        .with_label_values(&[limited.limit.label()])
        .inc();
    Some(problem(
        app,
        StatusCode::TOO_MANY_REQUESTS,
        "You have tried to sign in too many times",
        "Sign-in from your network is paused for a short while.",
        "Wait a minute, then try again.",
    ))
}

/// `GET /oauth/authorize`: the demo people to choose from, or straight back
/// to the client when `login_hint` names one of them.
pub async fn show(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    query: Result<Query<AuthorizeParams>, QueryRejection>,
) -> Response {
    if let Some(limited) = too_many(&app, &source) {
        return limited;
    }
    let params = query.map(|Query(q)| q).unwrap_or_default();
    let checked = match check(&app, &params) {
        Ok(checked) => checked,
        Err(invalid) => return refuse(&app, invalid),
    };
    let hinted = params
        .login_hint
        .as_deref()
        .and_then(|hint| demo_people().into_iter().find(|p| p.id == hint));
    if let Some(principal) = hinted {
        return give_code(&app, checked, principal).await;
    }
    let token = csrf::token_for_page(&headers);
    page(&app, StatusCode::OK, &params, token, None, Vec::new())
}

/// `POST /oauth/authorize`: the chosen person goes back to the client with
/// a code.
pub async fn submit(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    form: Result<Form<AuthorizeForm>, FormRejection>,
) -> Response {
    if let Some(limited) = too_many(&app, &source) {
        return limited;
    }
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let params = form.params();
    let checked = match check(&app, &params) {
        Ok(checked) => checked,
        Err(invalid) => return refuse(&app, invalid),
    };
    if !csrf::double_submit_ok(&headers, form.csrf_token.as_deref()) {
        let error = FormError::new(
            "This page has expired. Select who you want to sign in as again.",
            "person",
        );
        return page(
            &app,
            StatusCode::FORBIDDEN,
            &params,
            csrf::new_token(),
            form.person.as_deref(),
            vec![error],
        );
    }
    let chosen = form.person.as_deref().map(str::trim).unwrap_or_default();
    let Some(principal) = demo_people().into_iter().find(|p| p.id == chosen) else {
        let error = FormError::new("Select who you want to sign in as", "person");
        let token = csrf::token_for_page(&headers);
        return page(
            &app,
            StatusCode::BAD_REQUEST,
            &params,
            token,
            None,
            vec![error],
        );
    };
    give_code(&app, checked, principal).await
}

/// Sends the browser back to the client with a new single-use code (or
/// `access_denied` when the person's access has been withdrawn).
async fn give_code(app: &AppState, checked: Checked, principal: Principal) -> Response {
    let unavailable = |checked: Checked| {
        back_to(
            checked.redirect_uri,
            checked.state.as_deref(),
            &[
                ("error", "temporarily_unavailable"),
                ("error_description", "sign-in is not available right now"),
            ],
        )
    };
    match app.store().is_revoked(&principal.id).await {
        Ok(false) => {}
        Ok(true) => {
            return back_to(
                checked.redirect_uri,
                checked.state.as_deref(),
                &[
                    ("error", "access_denied"),
                    ("error_description", "access has been withdrawn"),
                ],
            );
        }
        Err(err) => {
            tracing::error!(cause = %err, "could not check revocation");
            return unavailable(checked);
        }
    }
    let code = pending::random_value();
    let issued = IssuedCode {
        client_id: checked.client_id.clone(),
        redirect_uri: checked.redirect_raw.clone(),
        nonce: checked.nonce.clone(),
        code_challenge: checked.code_challenge.clone(),
        principal,
    };
    if let Err(err) = app.pending.put_code(&code, &issued).await {
        tracing::error!(cause = %err, "could not keep an authorization code");
        return unavailable(checked);
    }
    back_to(
        checked.redirect_uri,
        checked.state.as_deref(),
        &[("code", &code)],
    )
}
