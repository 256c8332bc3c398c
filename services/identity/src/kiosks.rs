//! Kiosks: control-room wall screens that nobody signs in to.
//!
//! A system administrator registers a kiosk (`POST /api/v1/access/kiosks`)
//! and gets a single-use, expiring setup link for it. Opening the link on
//! the screen shows a confirm page; only its POST uses the link, so a link
//! scanner does not. Using it starts a long session (`PF_KIOSK_SESSION_DAYS`)
//! for the kiosk's principal, `kiosk:{id}`, which may only view the control
//! room, and sends the screen there (`PF_CONTROL_ROOM_URL`). Revoking the
//! kiosk (`POST /api/v1/access/revoke` with its `kiosk_id`) ends the session
//! at once; the gateway closes the screen's live connection at its next
//! access check. A setup link that expired unused is replaced by a new one
//! (`POST /api/v1/access/kiosks/{kiosk_id}/link`), which voids the kiosk's
//! earlier unused link; a revoked kiosk gets none. The links are the
//! care-home sign-in links' own machinery ([`crate::links::LinkFlow`]) with
//! another purpose and confirm page.

use axum::Form;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use pf_access::Action;
use pf_sign_in::kiosks::{kiosk_id_of, kiosk_principal_id, valid_kiosk_id};
use pf_sign_in::{Kiosk, LinkPurpose, SessionLifetime};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::api::{self, ApiError};
use crate::caller::{Caller, Source};
use crate::links::{self, LinkFlow, RedeemForm};
use crate::sign_in::start_session_with;
use crate::state::AppState;
use crate::trail;

/// The audit action of registering a kiosk and issuing its setup link.
pub const KIOSK_ISSUED: &str = "access.kiosk_issued";
/// The audit action of issuing a registered kiosk a new setup link.
pub const KIOSK_LINK_ISSUED: &str = "access.kiosk_link_issued";
/// The audit action of using a kiosk's setup link.
pub const KIOSK_SET_UP: &str = "identity.kiosk_set_up";
/// The audit action of listing the kiosks (only refusals are recorded).
pub const KIOSKS_READ: &str = "access.kiosks_read";

/// Kiosk setup links.
pub const KIOSK_LINK: LinkFlow = LinkFlow {
    purpose: LinkPurpose::KioskSetup,
    path: "/sign-in/kiosk",
    page: "kiosk-setup.html",
    action: KIOSK_SET_UP,
    method: "kiosk",
    noun: "kiosk setup link",
};

/// `POST /api/v1/access/kiosks` body.
#[derive(Debug, Deserialize)]
pub struct KioskRequest {
    /// A stable id for the screen (used to revoke it): 1 to 64 letters,
    /// digits, `.`, `_` or `-`.
    #[serde(default)]
    pub kiosk_id: Option<String>,
    /// What people call the screen, e.g. "Control room wall 1".
    #[serde(default)]
    pub name: Option<String>,
}

impl KioskRequest {
    /// The kiosk id and name, or why the request is not acceptable.
    fn checked(&self) -> Result<(String, String), ApiError> {
        let id = self.kiosk_id.as_deref().map(str::trim).unwrap_or_default();
        if !valid_kiosk_id(id) {
            return Err(ApiError::Invalid(
                "kiosk_id must be 1 to 64 letters, digits, '.', '_' or '-', e.g. control-room-wall-1."
                    .to_owned(),
            ));
        }
        let name = self.name.as_deref().map(str::trim).unwrap_or_default();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ApiError::Invalid(
                "Give the kiosk a name people recognise, e.g. \"Control room wall 1\" (at most 100 characters)."
                    .to_owned(),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ApiError::Invalid(
                "The kiosk's name must be plain text on one line.".to_owned(),
            ));
        }
        Ok((id.to_owned(), name.to_owned()))
    }
}

/// `POST /api/v1/access/kiosks` and `/kiosks/{kiosk_id}/link` answer.
#[derive(Debug, Serialize)]
pub struct KioskIssued {
    /// The kiosk's id.
    pub kiosk_id: String,
    /// Its principal id, `kiosk:{id}`.
    pub principal_id: String,
    /// What people call the screen.
    pub name: String,
    /// The single-use setup link.
    pub link: String,
    /// How long the link works, in seconds.
    pub expires_in: u64,
}

/// `POST /api/v1/access/kiosks`: registers a kiosk and answers with its
/// single-use setup link (system administrators only).
pub async fn issue(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Json<KioskRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let source = caller.source.clone();
    let body = api::body(body);
    let entity = match &body {
        Ok(KioskRequest {
            kiosk_id: Some(id), ..
        }) => format!("kiosk/{}", trail::clip(id.trim())),
        _ => String::new(),
    };
    let admin = api::authorise(
        &app,
        caller,
        &headers,
        &Action::ManageAccess,
        KIOSK_ISSUED,
        &entity,
    )
    .await?;
    register(&app, &admin, &source, &entity, body)
        .await
        .map(IntoResponse::into_response)
}

/// Registers a kiosk for `admin` (already authorised) and issues its setup
/// link; every refusal and the acceptance are in the audit trail under
/// `entity`. Shared by the API and the administration pages.
pub async fn register(
    app: &AppState,
    admin: &pf_access::Principal,
    source: &Source,
    entity: &str,
    body: Result<KioskRequest, ApiError>,
) -> Result<KioskIssued, ApiError> {
    let trail = AdminTrail {
        app,
        actor: trail::actor(admin),
        action: KIOSK_ISSUED,
        entity,
        source,
    };
    let refuse = |err| trail.refuse(err);
    let (id, name) = match body.and_then(|request| request.checked()) {
        Ok(checked) => checked,
        Err(err) => return Err(refuse(err).await),
    };
    let kiosk = Kiosk::new(&id, &name, &admin.id);
    let principal = match kiosk.principal() {
        Ok(principal) => principal,
        Err(err) => return Err(refuse(ApiError::Invalid(err.to_string())).await),
    };
    trail.attempt().await?;
    // The link is made first: a kiosk is never registered without one. A
    // link made for an id that turns out to be taken is never shown.
    let link = KIOSK_LINK.issue(app, &principal).await?;
    let registered = app.store().register_kiosk(&kiosk).await.map_err(|err| {
        tracing::error!(cause = %err, "could not register a kiosk");
        ApiError::unavailable()
    })?;
    if !registered {
        let err = ApiError::Conflict(format!(
            "A kiosk with the id `{id}` already exists (a revoked kiosk keeps its id). \
             Choose another id for this screen."
        ));
        return Err(refuse(err).await);
    }
    trail.accepted().await?;
    tracing::info!(kiosk = %id, by = %admin.id, "registered a kiosk and issued its setup link");
    Ok(KioskIssued {
        principal_id: principal.id,
        kiosk_id: id,
        name,
        link,
        expires_in: KIOSK_LINK.lifetime_secs(app),
    })
}

/// `POST /api/v1/access/kiosks/{kiosk_id}/link`: a new single-use setup
/// link for a registered, unrevoked kiosk, which voids the kiosk's earlier
/// unused setup link (system administrators only). It takes no body; a
/// caller signed in with a session cookie must declare JSON, which a page
/// of another site cannot do without a CORS preflight. The kiosk's session,
/// if it has one, goes on: revoke the kiosk to end it.
pub async fn reissue(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(kiosk_id): Path<String>,
) -> Result<Response, ApiError> {
    let source = caller.source.clone();
    let from_session = matches!(caller.auth, Ok((_, Some(_))));
    let named = trail::clip(kiosk_id.trim());
    let entity = format!("kiosk/{named}");
    let admin = api::authorise(
        &app,
        caller,
        &headers,
        &Action::ManageAccess,
        KIOSK_LINK_ISSUED,
        &entity,
    )
    .await?;
    let trail = AdminTrail {
        app: &app,
        actor: trail::actor(&admin),
        action: KIOSK_LINK_ISSUED,
        entity: &entity,
        source: &source,
    };
    let refuse = |err| trail.refuse(err);
    if from_session && !api::declares_json(&headers) {
        let err = ApiError::Forbidden(
            "Send this request with Content-Type: application/json, as the administration pages do."
                .to_owned(),
        );
        return Err(refuse(err).await);
    }
    let unavailable = |err: pf_sign_in::StoreError| {
        tracing::error!(cause = %err, "could not issue a kiosk a new setup link");
        ApiError::unavailable()
    };
    let Some(kiosk) = app
        .store()
        .kiosk(kiosk_id.trim())
        .await
        .map_err(unavailable)?
    else {
        let err = ApiError::NotFound(format!(
            "There is no kiosk with the id `{named}`. Check the id in the list of kiosks, \
             or register the screen as a new kiosk."
        ));
        return Err(refuse(err).await);
    };
    let principal_id = kiosk_principal_id(&kiosk.id);
    let revoked = kiosk.is_revoked()
        || app
            .store()
            .is_revoked(&principal_id)
            .await
            .map_err(unavailable)?;
    if revoked {
        let err = ApiError::Conflict(format!(
            "Kiosk `{}` was revoked, so it cannot have a new setup link. To show the control \
             room on that screen again, register it as a new kiosk with another id.",
            kiosk.id
        ));
        return Err(refuse(err).await);
    }
    let principal = match kiosk.principal() {
        Ok(principal) => principal,
        Err(err) => return Err(refuse(ApiError::Invalid(err.to_string())).await),
    };
    trail.attempt().await?;
    let link = KIOSK_LINK.reissue(&app, &principal).await?;
    trail.accepted().await?;
    tracing::info!(kiosk = %kiosk.id, by = %admin.id, "issued a kiosk a new setup link");
    Ok(KioskIssued {
        principal_id: principal.id,
        kiosk_id: kiosk.id,
        name: kiosk.name,
        link,
        expires_in: KIOSK_LINK.lifetime_secs(&app),
    }
    .into_response())
}

/// A new setup link is answered 201, never cached (it signs a screen in).
impl IntoResponse for KioskIssued {
    fn into_response(self) -> Response {
        (
            StatusCode::CREATED,
            [(axum::http::header::CACHE_CONTROL, "no-store")],
            Json(self),
        )
            .into_response()
    }
}

/// An administrator's kiosk request in the audit trail: its refusals and
/// its acceptance recorded under one action and entity.
struct AdminTrail<'a> {
    app: &'a AppState,
    actor: pf_audit::AuditActor,
    action: &'static str,
    entity: &'a str,
    source: &'a Source,
}

impl AdminTrail<'_> {
    /// Records the refusal `err` (a failure to record it is logged) and
    /// gives it back.
    async fn refuse(&self, err: ApiError) -> ApiError {
        let reason = err.to_string();
        trail::refused(
            self.app,
            self.actor.clone(),
            self.action,
            self.entity,
            &reason,
            self.source,
        )
        .await;
        err
    }

    /// Records the attempt before acting; 503 (and nothing done) when it
    /// cannot be recorded.
    async fn attempt(&self) -> Result<(), ApiError> {
        trail::attempt(
            self.app,
            self.actor.clone(),
            self.action,
            self.entity,
            self.source,
        )
        .await
        // The outcome is recorded by `accepted` or `refuse`.
        .map(pf_audit::Attempt::outcome_recorded_elsewhere)
        .map_err(ApiError::from)
    }

    /// Records the acceptance; 503 when it cannot be recorded.
    async fn accepted(&self) -> Result<(), ApiError> {
        trail::accepted(
            self.app,
            self.actor.clone(),
            self.action,
            self.entity,
            self.source,
        )
        .await
        .map_err(|_| ApiError::unavailable())
    }
}

/// A kiosk as `GET /api/v1/access/kiosks` lists it; times in RFC 3339.
#[derive(Debug, Serialize)]
struct KioskListing {
    kiosk_id: String,
    principal_id: String,
    name: String,
    created_at: Option<String>,
    created_by: String,
    /// When its setup link was used; `None` while still unused.
    set_up_at: Option<String>,
    /// When its live session was last used (each page load or live-update
    /// access check); `None` without a live session.
    last_used_at: Option<String>,
    revoked: bool,
    revoked_at: Option<String>,
}

fn rfc3339(seconds: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
}

/// `GET /api/v1/access/kiosks`: every kiosk, oldest first, revoked ones
/// included (system administrators only).
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    api::authorise(
        &app,
        caller,
        &headers,
        &Action::ManageAccess,
        KIOSKS_READ,
        "kiosks",
    )
    .await?;
    let unavailable = |err: pf_sign_in::StoreError| {
        tracing::error!(cause = %err, "could not list the kiosks");
        ApiError::unavailable()
    };
    let kiosks = app.store().kiosks().await.map_err(unavailable)?;
    let mut listed = Vec::with_capacity(kiosks.len());
    for kiosk in kiosks {
        let principal_id = kiosk_principal_id(&kiosk.id);
        let last_used = if kiosk.is_revoked() {
            None
        } else {
            app.store()
                .last_used(&principal_id)
                .await
                .map_err(unavailable)?
        };
        listed.push(KioskListing {
            principal_id,
            name: kiosk.name,
            created_at: rfc3339(kiosk.created_at),
            created_by: kiosk.created_by,
            set_up_at: kiosk.set_up_at.and_then(rfc3339),
            last_used_at: last_used.and_then(rfc3339),
            revoked: kiosk.revoked_at.is_some(),
            revoked_at: kiosk.revoked_at.and_then(rfc3339),
            kiosk_id: kiosk.id,
        });
    }
    Ok(Json(serde_json::json!({ "kiosks": listed })).into_response())
}

/// `GET /sign-in/kiosk/{token}`: the setup confirm page; does not use the
/// link up.
pub async fn show(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    links::show_link(&app, &KIOSK_LINK, &headers, &token)
}

/// `POST /sign-in/kiosk/{token}`: uses the setup link (once), starts the
/// kiosk's long session and sends the screen to the control room.
pub async fn redeem(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    Path(token): Path<String>,
    form: Result<Form<RedeemForm>, FormRejection>,
) -> Response {
    let principal = match links::use_link(&app, &KIOSK_LINK, &source, &headers, &token, form).await
    {
        Ok(principal) => principal,
        Err(answer) => return answer,
    };
    let entity = trail::entity_of(&principal);
    let actor = trail::actor(&principal);
    // A kiosk revoked after its link was issued is not set up.
    let kiosk_id = kiosk_id_of(&principal.id).unwrap_or_default().to_owned();
    match app.store().kiosk(&kiosk_id).await {
        Ok(Some(kiosk)) if !kiosk.is_revoked() => {}
        Ok(_) => {
            let reason = "the kiosk was revoked before its setup link was used";
            trail::refused(&app, actor, KIOSK_SET_UP, &entity, reason, &source).await;
            app.metrics
                .sign_ins
                .with_label_values(&[KIOSK_LINK.method, "refused"])
                .inc();
            return links::expired(&app);
        }
        Err(err) => {
            tracing::error!(cause = %err, "sign-in store unavailable");
            return links::unavailable();
        }
    }
    if trail::accepted(&app, actor, KIOSK_SET_UP, &entity, &source)
        .await
        .is_err()
    {
        return links::unavailable();
    }
    if let Err(err) = app.store().kiosk_set_up(&kiosk_id).await {
        // Only the listing's "set up at" is lost; the screen still works.
        tracing::warn!(cause = %err, kiosk = %kiosk_id, "could not record a kiosk's setup time");
    }
    let lifetime = SessionLifetime::fixed(app.config.kiosk_session);
    start_session_with(
        &app,
        &headers,
        &source,
        &principal,
        KIOSK_LINK.method,
        &app.config.control_room_url,
        Some(lifetime),
        None,
        links::unavailable,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: Option<&str>, name: Option<&str>) -> KioskRequest {
        KioskRequest {
            kiosk_id: id.map(str::to_owned),
            name: name.map(str::to_owned),
        }
    }

    #[test]
    fn kiosk_requests_need_a_plain_id_and_a_name() {
        let (id, name) = request(Some(" wall-1 "), Some(" Control room wall 1 "))
            .checked()
            .expect("valid");
        assert_eq!(
            (id.as_str(), name.as_str()),
            ("wall-1", "Control room wall 1")
        );
        for bad in [
            request(None, Some("Wall")),
            request(Some("wall 1"), Some("Wall")),
            request(Some("kiosk:wall"), Some("Wall")),
            request(Some("wall-1"), None),
            request(Some("wall-1"), Some("  ")),
            request(Some("wall-1"), Some("Wall\n1")),
        ] {
            assert!(
                matches!(bad.checked(), Err(ApiError::Invalid(_))),
                "{bad:?}"
            );
        }
    }
}
