//! Care-home sign-in links: a system administrator issues a single-use,
//! expiring link for a named person at one or more care homes; following it
//! shows a confirm page, and only the page's POST signs the person in (an
//! email scanner that fetches the link does not use it up).

use axum::Form;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use pf_access::{Action, CqcLocationId, Grant, OrgId, Principal, Role};
use pf_audit::AuditActor;
use pf_sign_in::LinkPurpose;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::{self, ApiError};
use crate::caller::{Caller, Source};
use crate::csrf;
use crate::pages;
use crate::sign_in::{FormError, start_session};
use crate::state::AppState;
use crate::trail;

/// The audit action of issuing a link.
pub const LINK_ISSUED: &str = "access.link_issued";
/// The audit action of using a link.
pub const LINK_REDEEMED: &str = "identity.link_redeemed";

/// `POST /api/v1/access/links` body.
#[derive(Debug, Deserialize)]
pub struct LinkRequest {
    /// The person's name, as shown in the page header and the audit trail.
    pub name: String,
    /// A stable id for the person (used to revoke them).
    pub person_id: String,
    /// The CQC location ids of the homes they work for.
    pub care_homes: Vec<String>,
}

/// A person id: 1 to 64 letters, digits, `.`, `_`, `@` or `-`.
fn valid_person_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
}

impl LinkRequest {
    /// The principal the link signs in, or why the request is not acceptable.
    pub fn principal(&self) -> Result<Principal, ApiError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ApiError::Invalid(
                "Enter the person's name (at most 100 characters).".to_owned(),
            ));
        }
        let person_id = self.person_id.trim();
        if !valid_person_id(person_id) {
            return Err(ApiError::Invalid(
                "person_id must be 1 to 64 letters, digits, '.', '_', '@' or '-'.".to_owned(),
            ));
        }
        if self.care_homes.is_empty() || self.care_homes.len() > 50 {
            return Err(ApiError::Invalid(
                "Name between 1 and 50 care homes by CQC location ID.".to_owned(),
            ));
        }
        let homes = self
            .care_homes
            .iter()
            .map(|home| CqcLocationId::parse(home).map(OrgId::Cqc))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| ApiError::Invalid(err.to_string()))?;
        let first = homes.first().cloned();
        let grant = Grant::new(Role::CareHomeEditor, homes)
            .map_err(|err| ApiError::Invalid(err.to_string()))?;
        Ok(Principal::person(person_id, name, first).with_grant(grant))
    }
}

/// `POST /api/v1/access/links` answer.
#[derive(Debug, Serialize)]
pub struct LinkIssued {
    /// The single-use sign-in link.
    pub link: String,
    /// How long it works, in seconds.
    pub expires_in: u64,
}

/// A kind of single-use link: the links the store looks up, the confirm
/// page that shows it, and how its use is recorded. Care-home sign-in links
/// and kiosk setup links share everything else.
#[derive(Debug, Clone, Copy)]
pub struct LinkFlow {
    /// Which links the store looks up.
    pub purpose: LinkPurpose,
    /// The path the link is served under (`{path}/{token}`).
    pub path: &'static str,
    /// The confirm page's template (context: `token`, `csrf_token`, `errors`).
    pub page: &'static str,
    /// The audit action of using the link.
    pub action: &'static str,
    /// The sign-in method counted in the metrics.
    pub method: &'static str,
    /// What the link is called in the audit trail's reasons.
    pub noun: &'static str,
}

/// Care-home sign-in links.
pub const CARE_HOME_LINK: LinkFlow = LinkFlow {
    purpose: LinkPurpose::SignIn,
    path: "/sign-in/link",
    page: "sign-in-link.html",
    action: LINK_REDEEMED,
    method: "link",
    noun: "sign-in link",
};

impl LinkFlow {
    /// Stores a new link of this kind for `principal`: its full address.
    pub async fn issue(&self, app: &AppState, principal: &Principal) -> Result<String, ApiError> {
        let stored = app.store().create_link_for(self.purpose, principal).await;
        self.address(app, stored)
    }

    /// Stores a new link of this kind for `principal` and voids every
    /// earlier unused link of the principal: the new link's full address.
    pub async fn reissue(&self, app: &AppState, principal: &Principal) -> Result<String, ApiError> {
        let stored = app.store().reissue_link_for(self.purpose, principal).await;
        self.address(app, stored)
    }

    /// The full address of a link whose token was `stored`.
    fn address(
        &self,
        app: &AppState,
        stored: Result<String, pf_sign_in::StoreError>,
    ) -> Result<String, ApiError> {
        let token = stored.map_err(|err| {
            tracing::error!(cause = %err, "could not store a single-use link");
            ApiError::unavailable()
        })?;
        Ok(format!("{}{}/{token}", app.config.public_url, self.path))
    }

    /// How long a new link works, in seconds.
    pub fn lifetime_secs(&self, app: &AppState) -> u64 {
        app.store().policy().link.as_secs()
    }
}

/// `POST /api/v1/access/links`: a sign-in link for a care-home person
/// (system administrators only).
pub async fn issue(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Json<LinkRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let source = caller.source.clone();
    let body = api::body(body);
    let entity = match &body {
        Ok(request) => format!("person/{}", trail::clip(request.person_id.trim())),
        Err(_) => String::new(),
    };
    let admin = api::authorise(
        &app,
        caller,
        &headers,
        &Action::ManageAccess,
        LINK_ISSUED,
        &entity,
    )
    .await?;
    let answer = issue_for(&app, &admin, &source, &entity, body, false).await?;
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(answer),
    )
        .into_response())
}

/// Issues a care-home sign-in link for `admin` (already authorised): every
/// refusal and the acceptance are in the audit trail under `entity`. Shared
/// by the API and the administration pages. With `void_earlier`, every
/// earlier unused link of the person stops working (a reissue). The link is
/// entered in the administration pages' register of links.
pub async fn issue_for(
    app: &AppState,
    admin: &Principal,
    source: &Source,
    entity: &str,
    body: Result<LinkRequest, ApiError>,
    void_earlier: bool,
) -> Result<LinkIssued, ApiError> {
    let actor = trail::actor(admin);
    let checked = body.and_then(|request| request.principal());
    let principal = match checked {
        Ok(principal) => principal,
        Err(err) => {
            trail::refused(app, actor, LINK_ISSUED, entity, &err.to_string(), source).await;
            return Err(err);
        }
    };
    // No link is made unless the attempt is in the audit trail first.
    trail::attempt(app, actor.clone(), LINK_ISSUED, entity, source)
        .await
        .map(pf_audit::Attempt::outcome_recorded_elsewhere)?;
    let link = if void_earlier {
        CARE_HOME_LINK.reissue(app, &principal).await?
    } else {
        CARE_HOME_LINK.issue(app, &principal).await?
    };
    trail::accepted(app, actor, LINK_ISSUED, entity, source)
        .await
        .map_err(|_| ApiError::unavailable())?;
    tracing::info!(person = %principal.id, by = %admin.id, "issued a sign-in link");
    let issued_at = time::OffsetDateTime::now_utc().unix_timestamp();
    let lifetime = i64::try_from(CARE_HOME_LINK.lifetime_secs(app)).unwrap_or(i64::MAX);
    let entry = crate::admin_pages::register::IssuedLink {
        person_id: principal.id.clone(),
        name: principal.name.clone(),
        care_homes: principal
            .care_homes(pf_access::Role::CareHomeEditor)
            .map(|home| home.as_str().to_owned())
            .collect(),
        issued_at,
        expires_at: issued_at.saturating_add(lifetime),
        issued_by: admin.id.clone(),
        used_at: None,
        delivered: None,
    };
    // The link works whether or not the register has it: a failure only
    // leaves it out of the administration pages' list.
    if let Err(err) = app.link_register.issued(&entry).await {
        tracing::warn!(cause = %err, "could not enter a sign-in link in the register");
    }
    Ok(LinkIssued {
        link,
        expires_in: CARE_HOME_LINK.lifetime_secs(app),
    })
}

/// Whether a path segment could be a link token (43 base64url characters
/// are made; anything up to 64 is looked up).
fn plausible(token: &str) -> bool {
    (1..=64).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The "expired or used" page (410 Gone).
pub fn expired(app: &AppState) -> Response {
    pages::render(
        &app.templates,
        StatusCode::GONE,
        "sign-in-link-expired.html",
        json!({}),
    )
}

/// A plain 503 when a used link could not start a session: the link is
/// used up, so the person is told to ask for a new one.
pub fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in is not available right now. Ask your administrator for a new link.",
    )
        .into_response()
}

/// The confirm page with a double-submit token.
fn confirm_page(
    app: &AppState,
    flow: &LinkFlow,
    status: StatusCode,
    token: &str,
    csrf_token: String,
    errors: Vec<FormError>,
) -> Response {
    let response = pages::render(
        &app.templates,
        status,
        flow.page,
        json!({ "token": token, "csrf_token": csrf_token, "errors": errors }),
    );
    pages::with_cookies(
        response,
        &[csrf::set_cookie(&csrf_token, app.config.insecure_cookies)],
    )
}

/// `GET {path}/{token}` of a kind of link: the confirm page; does not use
/// the link up.
pub fn show_link(app: &AppState, flow: &LinkFlow, headers: &HeaderMap, token: &str) -> Response {
    if !plausible(token) {
        return expired(app);
    }
    confirm_page(
        app,
        flow,
        StatusCode::OK,
        token,
        csrf::token_for_page(headers),
        Vec::new(),
    )
}

/// `GET /sign-in/link/{token}`: the confirm page; does not use the link up.
pub async fn show(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    show_link(&app, &CARE_HOME_LINK, &headers, &token)
}

/// `POST /sign-in/link/{token}` form (and a kiosk setup link's).
#[derive(Debug, Deserialize)]
pub struct RedeemForm {
    csrf_token: Option<String>,
}

/// `POST {path}/{token}` of a kind of link: checks the rate limit and the
/// confirm form, then uses the link (once). The link's principal, or the
/// page to answer with; every refusal is counted and recorded.
pub async fn use_link(
    app: &AppState,
    flow: &LinkFlow,
    source: &Source,
    headers: &HeaderMap,
    token: &str,
    form: Result<Form<RedeemForm>, FormRejection>,
) -> Result<Principal, Response> {
    if let Some(ip) = source.ip
        && let Err(limited) = app.limits.check_address(ip)
    {
        app.metrics
            .rate_limited
            .with_label_values(&[limited.limit.label()])
            .inc();
        let error = FormError::new(
            "You have tried to sign in too many times. Wait a minute, then try again.",
            "continue",
        );
        let csrf_token = csrf::token_for_page(headers);
        return Err(confirm_page(
            app,
            flow,
            StatusCode::TOO_MANY_REQUESTS,
            token,
            csrf_token,
            vec![error],
        ));
    }
    let refuse = |reason: String| async move {
        trail::refused(
            app,
            AuditActor::anonymous(),
            flow.action,
            "",
            &reason,
            source,
        )
        .await;
        app.metrics
            .sign_ins
            .with_label_values(&[flow.method, "refused"])
            .inc();
    };
    let presented = form.ok().and_then(|Form(f)| f.csrf_token);
    if !csrf::double_submit_ok(headers, presented.as_deref()) {
        refuse(format!(
            "the {} form's security token was missing or wrong",
            flow.noun
        ))
        .await;
        let error = FormError::new(
            "This page has expired. Select Continue to sign in.",
            "continue",
        );
        return Err(confirm_page(
            app,
            flow,
            StatusCode::FORBIDDEN,
            token,
            csrf::new_token(),
            vec![error],
        ));
    }
    let redeemed = if plausible(token) {
        app.store().redeem_link_for(flow.purpose, token).await
    } else {
        Ok(None)
    };
    match redeemed {
        Ok(Some(principal)) => Ok(principal),
        Ok(None) => {
            refuse(format!(
                "the {} has expired, was used, or was withdrawn",
                flow.noun
            ))
            .await;
            Err(expired(app))
        }
        Err(err) => {
            tracing::error!(cause = %err, "sign-in store unavailable");
            Err((
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is not available right now. Try again in a few minutes.",
            )
                .into_response())
        }
    }
}

/// `POST /sign-in/link/{token}`: uses the link (once) and signs the person in.
pub async fn redeem(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    Path(token): Path<String>,
    form: Result<Form<RedeemForm>, FormRejection>,
) -> Response {
    let principal = match use_link(&app, &CARE_HOME_LINK, &source, &headers, &token, form).await {
        Ok(principal) => principal,
        Err(answer) => return answer,
    };
    let entity = format!("person/{}", principal.id);
    if let Err(err) = app.link_register.used(&principal.id).await {
        tracing::warn!(cause = %err, "could not mark a sign-in link used in the register");
    }
    if trail::accepted(
        &app,
        trail::actor(&principal),
        LINK_REDEEMED,
        &entity,
        &source,
    )
    .await
    .is_err()
    {
        // The link is used up; say so plainly rather than leave the person stuck.
        return unavailable();
    }
    // Links are for care-home staff: they land on their homes' form.
    let home = match app.config.care_homes_url.as_deref() {
        Some(care_homes) => format!("{}/care-homes", care_homes.trim_end_matches('/')),
        None => format!(
            "{}/",
            app.config
                .home_url
                .as_deref()
                .unwrap_or("")
                .trim_end_matches('/')
        ),
    };
    start_session(
        &app,
        &headers,
        &source,
        &principal,
        "link",
        &home,
        unavailable,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(person_id: &str, homes: &[&str]) -> LinkRequest {
        LinkRequest {
            name: "Jo Bloggs".into(),
            person_id: person_id.into(),
            care_homes: homes.iter().map(|h| (*h).to_owned()).collect(),
        }
    }

    #[test]
    fn a_link_request_makes_a_care_home_editor() {
        let principal = request("jo.bloggs", &["1-000000001", "1-000000002"])
            .principal()
            .expect("valid");
        assert_eq!(principal.roles(), vec![Role::CareHomeEditor]);
        assert_eq!(principal.care_homes(Role::CareHomeEditor).count(), 2);
        assert_eq!(
            principal.organisation.map(|o| o.to_string()).as_deref(),
            Some("1-000000001")
        );
    }

    #[test]
    fn bad_link_requests_are_refused() {
        assert!(request("jo bloggs", &["1-000000001"]).principal().is_err());
        assert!(request("jo", &[]).principal().is_err());
        assert!(request("jo", &["RWE"]).principal().is_err());
        assert!(plausible("abc_-9") && !plausible("a/b") && !plausible(&"a".repeat(65)));
    }
}
