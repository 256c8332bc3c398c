//! `GET /sign-in/oidc` and `GET /sign-in/oidc/callback`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use pf_access::{Principal, TokenError};
use pf_audit::AuditActor;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use super::client::{OidcError, error_code};
use crate::caller::Source;
use crate::pages;
use crate::pending::{self, OidcStart};
use crate::pkce;
use crate::return_to::ReturnTo;
use crate::sign_in::{SIGN_IN, start_session_with};
use crate::state::AppState;
use crate::trail;

/// The cookie that ties a started sign-in to the browser that started it,
/// so that a callback address sent to someone else signs no one in.
pub const BROWSER_COOKIE: &str = "pf_oidc";

/// The metrics label of these sign-ins.
const METHOD: &str = "oidc";

/// The problem page's template (this service's own).
pub const PROBLEM_TEMPLATE: &str = "sign-in-problem.html";

/// The `pf_oidc` cookie of a request, if present and well formed.
fn browser_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == BROWSER_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| {
            value.len() == 43
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `Set-Cookie` for the browser cookie: only sent to these two routes,
/// `SameSite=Lax` so that it comes back on the provider's redirect.
fn set_browser_cookie(value: &str, insecure_http: bool) -> String {
    let secure = if insecure_http { "" } else { "; Secure" };
    format!(
        "{BROWSER_COOKIE}={value}; Path=/sign-in/oidc; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        pending::STATE_TTL.as_secs()
    )
}

/// What the problem page shows.
#[derive(Debug, Serialize)]
struct ProblemPage<'a> {
    heading: &'a str,
    message: &'a str,
    advice: &'a str,
}

/// A page saying in plain words why the person is not signed in, with a
/// way to start again.
pub fn problem(
    app: &AppState,
    status: StatusCode,
    heading: &str,
    message: &str,
    advice: &str,
) -> Response {
    pages::render(
        &app.templates,
        status,
        PROBLEM_TEMPLATE,
        ProblemPage {
            heading,
            message,
            advice,
        },
    )
}

/// What a person with no mapped role should ask for: the mapping's own
/// words, else a general sentence.
fn no_role_advice(app: &AppState) -> String {
    app.oidc
        .as_ref()
        .and_then(|oidc| oidc.config().claims.no_role_advice.clone())
        .unwrap_or_else(|| {
            "Ask your organisation's Patient Flow administrator (or, for an NHS smartcard, your Registration Authority) to give your account a role that Patient Flow uses, at your organisation, then sign in again.".to_owned()
        })
}

const TRY_AGAIN: &str = "Go back to the sign-in page and try again. If it keeps happening, contact your organisation's IT service desk.";

/// Sign-in is unavailable right now (503).
fn unavailable(app: &AppState) -> Response {
    problem(
        app,
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in is not available right now",
        "Patient Flow cannot reach your organisation's sign-in at the moment.",
        "Try again in a few minutes.",
    )
}

/// Too many attempts from this address (429).
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
        "Patient Flow has paused sign-in from your network for a short while.",
        "Wait a minute, then try again.",
    ))
}

/// `GET /sign-in/oidc/client-jwks.json`: the public key of this service's
/// `private_key_jwt` client authentication, for the provider's
/// registration (404 when it authenticates with a secret).
pub async fn client_jwks(State(app): State<AppState>) -> Response {
    match app
        .oidc
        .as_ref()
        .and_then(|oidc| oidc.config().client_key.clone())
    {
        Some(key) => axum::response::IntoResponse::into_response(axum::Json(key.public_jwks())),
        None => axum::response::IntoResponse::into_response(StatusCode::NOT_FOUND),
    }
}

/// `GET /sign-in/oidc` query.
#[derive(Debug, Default, Deserialize)]
pub struct StartQuery {
    return_to: Option<String>,
}

/// `GET /sign-in/oidc`: sends the person to their organisation's sign-in.
pub async fn start(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    query: Result<Query<StartQuery>, QueryRejection>,
) -> Response {
    if let Some(limited) = too_many(&app, &source) {
        return limited;
    }
    let Some(oidc) = app.oidc.clone() else {
        return problem(
            &app,
            StatusCode::NOT_FOUND,
            "Organisation sign-in is not set up",
            "This Patient Flow does not offer sign-in with an organisation's account.",
            "Use the sign-in page, or the sign-in link your administrator sent you.",
        );
    };
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let return_to = ReturnTo::resolve(
        query.return_to.as_deref(),
        &app.config.return_origins,
        app.config.home_url.as_deref(),
    );
    let provider = match oidc.provider().await {
        Ok(provider) => provider,
        Err(err) => {
            tracing::error!(cause = %err, "the OpenID Connect provider cannot be used");
            return unavailable(&app);
        }
    };
    let browser = browser_cookie(&headers).map_or_else(pending::random_value, str::to_owned);
    let state = pending::new_state(&browser);
    let started = OidcStart {
        nonce: pending::random_value(),
        code_verifier: pending::random_value(),
        return_to: return_to.as_str().to_owned(),
        browser: browser.clone(),
    };
    if let Err(err) = app.pending.put_state(&state, &started).await {
        tracing::error!(cause = %err, "could not keep a started sign-in");
        return unavailable(&app);
    }
    let location = oidc.authorization_request(
        provider,
        &state,
        &started.nonce,
        &pkce::challenge(&started.code_verifier),
    );
    pages::see_other(
        location.as_str(),
        &[set_browser_cookie(&browser, app.config.insecure_cookies)],
    )
}

/// `GET /sign-in/oidc/callback` query: the provider's answer.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Why a callback signed no one in.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    /// The provider said no (`error=`), e.g. the person cancelled.
    #[error("the identity provider answered `{0}`")]
    Provider(String),
    /// No `state` or no `code`.
    #[error("the answer has no state or no code")]
    Incomplete,
    /// The `state` is one this browser was given, but it is no longer
    /// waiting: expired or already used.
    #[error("the sign-in state is unknown, expired or already used")]
    UnknownState,
    /// The `state` is not one this service made for this browser: it was
    /// changed (or made up) on the way back.
    #[error("the sign-in state was changed on the way back")]
    TamperedState,
    /// Started in another browser (or the cookie was blocked).
    #[error("the sign-in was started in another browser")]
    OtherBrowser,
    /// Exchanging the code or checking the ID token failed.
    #[error(transparent)]
    Oidc(#[from] OidcError),
    /// The person's access has been withdrawn.
    #[error("access has been withdrawn")]
    Revoked(Box<Principal>),
    /// Redis could not be used.
    #[error("the sign-in store is unavailable")]
    Store,
}

impl Refusal {
    /// The page for this refusal.
    fn page(&self, app: &AppState) -> Response {
        let bad = StatusCode::BAD_REQUEST;
        match self {
            Refusal::Provider(code) if code == "access_denied" => problem(
                app,
                bad,
                "You have not been signed in",
                "Your organisation's sign-in did not let you into Patient Flow. You may have cancelled, or your account may not be allowed to use Patient Flow.",
                "If you need Patient Flow for your work, ask your organisation's IT service desk for access.",
            ),
            Refusal::Provider(_) | Refusal::Incomplete => problem(
                app,
                bad,
                "You have not been signed in",
                "Your organisation's sign-in could not finish signing you in.",
                TRY_AGAIN,
            ),
            Refusal::UnknownState => problem(
                app,
                bad,
                "This sign-in has expired",
                "This sign-in has already been used, or it was started more than 10 minutes ago.",
                "Go back to the sign-in page and sign in again.",
            ),
            Refusal::TamperedState => problem(
                app,
                bad,
                "This sign-in could not be trusted",
                "The answer from your organisation's sign-in was changed on its way back to Patient Flow, so it was not used.",
                "Go back to the sign-in page and sign in again. If it happens again, tell your organisation's IT service desk: something between your browser and Patient Flow may be changing web addresses.",
            ),
            Refusal::OtherBrowser => problem(
                app,
                bad,
                "This sign-in was started somewhere else",
                "This sign-in was started in a different browser, or your browser did not keep the cookie Patient Flow needs while you sign in.",
                "Go back to the sign-in page in this browser and sign in again.",
            ),
            Refusal::Oidc(err) if err.is_unavailable() => unavailable(app),
            Refusal::Oidc(OidcError::IdToken(TokenError::NoRoles)) => problem(
                app,
                StatusCode::FORBIDDEN,
                "You do not have a role on Patient Flow",
                "Your organisation's sign-in recognised you, but your account has no role on Patient Flow.",
                &no_role_advice(app),
            ),
            Refusal::Oidc(OidcError::NoMappedRole { held }) => {
                let message = if held.is_empty() {
                    "Your organisation's sign-in recognised you, but it gave Patient Flow no role for your account.".to_owned()
                } else {
                    format!(
                        "Your organisation's sign-in recognised you, but none of the roles it gave Patient Flow is one that Patient Flow uses where you hold it. The roles it gave: {}.",
                        held.join("; ")
                    )
                };
                problem(
                    app,
                    StatusCode::FORBIDDEN,
                    "You do not have a role on Patient Flow",
                    &message,
                    &no_role_advice(app),
                )
            }
            Refusal::Oidc(_) => problem(
                app,
                bad,
                "You have not been signed in",
                "Your organisation's sign-in answered in a way Patient Flow cannot accept.",
                TRY_AGAIN,
            ),
            Refusal::Revoked(_) => problem(
                app,
                StatusCode::FORBIDDEN,
                "Your access has been withdrawn",
                "Your access to Patient Flow has been withdrawn.",
                "If you think this is wrong, ask a Patient Flow system administrator.",
            ),
            Refusal::Store => unavailable(app),
        }
    }

    /// Whether to record this refusal (an outage is logged, not audited).
    fn recorded(&self) -> bool {
        !matches!(self, Refusal::Store) && !matches!(self, Refusal::Oidc(e) if e.is_unavailable())
    }
}

/// `GET /sign-in/oidc/callback`: finishes the sign-in.
pub async fn callback(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Response {
    if let Some(limited) = too_many(&app, &source) {
        return limited;
    }
    let query = query.map(|Query(q)| q).unwrap_or_default();
    match complete(&app, &headers, query).await {
        Ok((principal, return_to, assurance)) => {
            start_session_with(
                &app,
                &headers,
                &source,
                &principal,
                METHOD,
                &return_to,
                None,
                assurance.as_deref(),
                || unavailable(&app),
            )
            .await
        }
        Err(refusal) => {
            app.metrics
                .sign_ins
                .with_label_values(&[METHOD, "refused"])
                .inc();
            if refusal.recorded() {
                let (actor, entity) = match &refusal {
                    Refusal::Revoked(principal) => {
                        (trail::actor(principal), format!("person/{}", principal.id))
                    }
                    _ => (AuditActor::anonymous(), String::new()),
                };
                let reason = format!("organisation sign-in: {refusal}");
                trail::refused(&app, actor, SIGN_IN, &entity, &reason, &source).await;
            }
            tracing::info!(reason = %refusal, "organisation sign-in refused");
            refusal.page(&app)
        }
    }
}

/// The checks of the callback, in order; the person, where to send them,
/// and the assurance level their provider gave.
async fn complete(
    app: &AppState,
    headers: &HeaderMap,
    query: CallbackQuery,
) -> Result<(Principal, String, Option<String>), Refusal> {
    let oidc = app.oidc.clone().ok_or(Refusal::Incomplete)?;
    let state = query.state.filter(|s| !s.is_empty());
    if let Some(error) = query.error {
        // Use the state up, so the same answer cannot be replayed later.
        if let Some(state) = &state {
            let _ = app.pending.take_state(state).await;
        }
        return Err(Refusal::Provider(error_code(&error)));
    }
    let (Some(state), Some(code)) = (state, query.code.filter(|c| !c.is_empty())) else {
        return Err(Refusal::Incomplete);
    };
    let started = app
        .pending
        .take_state(&state)
        .await
        .map_err(|err| {
            tracing::error!(cause = %err, "could not read a started sign-in");
            Refusal::Store
        })?
        .ok_or_else(|| match browser_cookie(headers) {
            // Not waiting: say why, as far as this browser can tell.
            None => Refusal::OtherBrowser,
            Some(browser) if pending::state_made_for(&state, browser) => Refusal::UnknownState,
            Some(_) => Refusal::TamperedState,
        })?;
    let same_browser = browser_cookie(headers)
        .is_some_and(|b| bool::from(b.as_bytes().ct_eq(started.browser.as_bytes())));
    if !same_browser {
        return Err(Refusal::OtherBrowser);
    }
    let provider = oidc.provider().await?;
    let tokens = oidc
        .exchange(provider, &code, &started.code_verifier)
        .await?;
    let (principal, claims) = oidc
        .verify_id_token(provider, &tokens, &started.nonce)
        .await?;
    match app.store().is_revoked(&principal.id).await {
        Ok(false) => Ok((principal, started.return_to, assurance(&claims))),
        Ok(true) => Err(Refusal::Revoked(Box::new(principal))),
        Err(err) => {
            tracing::error!(cause = %err, "could not check revocation");
            Err(Refusal::Store)
        }
    }
}

/// The assurance level claims a provider sent (OpenID Connect `acr`; NHS
/// CIS2 `authentication_assurance_level` and `id_assurance_level`), as
/// `name=value` pairs, for the audit record; `None` when it sent none.
fn assurance(claims: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    let pairs: Vec<String> = [
        "acr",
        "authentication_assurance_level",
        "id_assurance_level",
    ]
    .into_iter()
    .filter_map(|name| {
        let value = match claims.get(name)? {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let value: String = value
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        (!value.is_empty()).then(|| format!("{name}={value}"))
    })
    .collect();
    (!pairs.is_empty()).then(|| pairs.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn assurance_levels_are_read_from_the_claims_they_come_in() {
        let claims = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(
            assurance(&claims(serde_json::json!({
                "authentication_assurance_level": "3", "id_assurance_level": 3, "sub": "x"
            }))),
            Some("authentication_assurance_level=3; id_assurance_level=3".to_owned())
        );
        assert_eq!(
            assurance(&claims(serde_json::json!({"acr": "urn:x:aal2 \n"}))),
            Some("acr=urn:x:aal2".to_owned())
        );
        assert_eq!(assurance(&claims(serde_json::json!({"acr": ""}))), None);
        assert_eq!(assurance(&claims(serde_json::json!({"sub": "x"}))), None);
    }

    #[test]
    fn the_browser_cookie_is_read_only_when_well_formed() {
        let value = pending::random_value();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=1; pf_oidc={value}")).expect("header"),
        );
        assert_eq!(browser_cookie(&headers), Some(value.as_str()));
        headers.insert(header::COOKIE, HeaderValue::from_static("pf_oidc=short"));
        assert_eq!(browser_cookie(&headers), None);
        let set = set_browser_cookie(&value, false);
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Secure"));
        assert!(set.contains("Path=/sign-in/oidc;"));
    }
}
