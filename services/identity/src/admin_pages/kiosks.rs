//! `/admin/kiosks`: wall screens. Registering one shows its single-use
//! setup link as a QR code (and as text to copy); the list shows when each
//! screen was last seen; revoking one ends its session, and the gateway
//! closes its live connection.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use pf_sign_in::kiosks::kiosk_principal_id;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use super::guard::{self, Admin};
use super::qr;
use crate::admin::{self, PersonRequest};
use crate::api::ApiError;
use crate::caller::Source;
use crate::kiosks::{self as kiosk_api, KIOSK_ISSUED, KioskRequest};
use crate::pages;
use crate::sign_in::FormError;
use crate::state::AppState;
use crate::trail;

/// The page's path.
pub const PATH: &str = "/admin/kiosks";

/// A screen not seen for this long needs attention (a day).
pub const NOT_SEEN_SECS: i64 = 24 * 60 * 60;

/// A kiosk as the page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct KioskRow {
    /// Its id.
    pub kiosk_id: String,
    /// What people call it.
    pub name: String,
    /// Registered, in UK time.
    pub registered: String,
    /// Set up (its link used), in UK time.
    pub set_up: Option<String>,
    /// Last seen (its session last used), in UK time.
    pub last_seen: Option<String>,
    /// Revoked.
    pub revoked: bool,
    /// Registered and not revoked, but not seen for a day (or never set up
    /// a day after registering).
    pub needs_attention: bool,
}

/// A time as people in the UK read it.
pub fn uk(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .map(|t| {
            format!(
                "{} {}, {}",
                pf_web::uk_time::day_month(t),
                pf_web::uk_time::date(t).year(),
                pf_web::uk_time::hh_mm(t)
            )
        })
        .unwrap_or_default()
}

/// Every kiosk, oldest first.
pub async fn rows(app: &AppState) -> Result<Vec<KioskRow>, pf_sign_in::StoreError> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut rows = Vec::new();
    for kiosk in app.store().kiosks().await? {
        let last_used = if kiosk.is_revoked() {
            None
        } else {
            app.store()
                .last_used(&kiosk_principal_id(&kiosk.id))
                .await?
        };
        let seen = last_used.or(kiosk.set_up_at).unwrap_or(kiosk.created_at);
        rows.push(KioskRow {
            registered: uk(kiosk.created_at),
            set_up: kiosk.set_up_at.map(uk),
            last_seen: last_used.map(uk),
            revoked: kiosk.is_revoked(),
            needs_attention: !kiosk.is_revoked() && now - seen >= NOT_SEEN_SECS,
            kiosk_id: kiosk.id,
            name: kiosk.name,
        });
    }
    Ok(rows)
}

/// The page: `registered` is the kiosk just registered (with its QR code),
/// `errors` the register form's problems, `form` what was typed.
async fn page(
    app: &AppState,
    admin: &Admin,
    status: StatusCode,
    registered: Option<serde_json::Value>,
    errors: Vec<FormError>,
    form: serde_json::Value,
    notice: Option<String>,
) -> Response {
    let kiosks = match rows(app).await {
        Ok(rows) => rows,
        Err(err) => {
            tracing::error!(cause = %err, "could not list the kiosks");
            return guard::refused_page(
                app,
                StatusCode::SERVICE_UNAVAILABLE,
                "The list of wall screens cannot be read right now. Try again in a few minutes.",
            );
        }
    };
    pages::render(
        &app.templates,
        status,
        "admin/kiosks.html",
        json!({
            "nav": "kiosks",
            "person": admin.principal.name,
            "csrf_token": admin.csrf_token,
            "kiosks": kiosks,
            "registered": registered,
            "errors": errors,
            "form": form,
            "notice": notice,
        }),
    )
}

/// `GET /admin/kiosks`.
pub async fn show(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let admin = match guard::admin(&app, &headers, &source, PATH).await {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    let notice = guard::field(query.get("revoked"))
        .map(|id| format!("Wall screen {id} was revoked. Its live connection has been ended."));
    page(
        &app,
        &admin,
        StatusCode::OK,
        None,
        Vec::new(),
        json!({}),
        notice,
    )
    .await
}

/// The form's fields.
pub fn form_fields(body: &Bytes) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// `POST /admin/kiosks`: registers a screen; the page then shows its setup
/// link as a QR code.
pub async fn register(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form_fields(&body);
    let kiosk_id = guard::field(fields.get("kiosk_id"));
    let name = guard::field(fields.get("name"));
    let entity = kiosk_id
        .as_deref()
        .map(|id| format!("kiosk/{}", trail::clip(id)))
        .unwrap_or_default();
    let admin = match guard::admin_form(
        &app,
        &headers,
        &source,
        PATH,
        fields.get("csrf_token").map(String::as_str),
        KIOSK_ISSUED,
        &entity,
    )
    .await
    {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    let form = json!({ "kiosk_id": kiosk_id, "name": name });
    let request = KioskRequest {
        kiosk_id: kiosk_id.clone(),
        name: name.clone(),
    };
    match kiosk_api::register(&app, &admin.principal, &source, &entity, Ok(request)).await {
        Ok(issued) => {
            let svg = match qr::svg(&issued.link) {
                Ok(svg) => Some(svg),
                Err(err) => {
                    tracing::warn!(cause = %err, "could not draw a setup link's QR code");
                    None
                }
            };
            let registered = json!({
                "kiosk_id": issued.kiosk_id,
                "name": issued.name,
                "link": issued.link,
                "qr": svg,
                "expires_in_hours": issued.expires_in / 3600,
            });
            page(
                &app,
                &admin,
                StatusCode::CREATED,
                Some(registered),
                Vec::new(),
                json!({}),
                None,
            )
            .await
        }
        Err(err) => {
            let (status, error) = form_error(err);
            page(&app, &admin, status, None, vec![error], form, None).await
        }
    }
}

/// An API refusal as the register form's error, on the field it is about.
fn form_error(err: ApiError) -> (StatusCode, FormError) {
    let message = err.to_string();
    let status = match &err {
        ApiError::Conflict(_) => StatusCode::CONFLICT,
        ApiError::Invalid(_) | ApiError::BadRequest(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::FORBIDDEN,
    };
    let field = if message.contains("name") && !message.starts_with("kiosk_id") {
        "name"
    } else {
        "kiosk-id"
    };
    // The API speaks of `kiosk_id`; the page calls it the screen's ID.
    let message = message
        .replace("kiosk_id", "The screen ID")
        .replace('`', "");
    (status, FormError::new(&message, field))
}

/// `POST /admin/kiosks/revoke`: revokes a screen (for good); its session
/// ends and the gateway closes its live connection.
pub async fn revoke(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form_fields(&body);
    let kiosk_id = guard::field(fields.get("kiosk_id")).unwrap_or_default();
    let entity = format!("kiosk/{}", trail::clip(&kiosk_id));
    let admin = match guard::admin_form(
        &app,
        &headers,
        &source,
        PATH,
        fields.get("csrf_token").map(String::as_str),
        admin::REVOKED,
        &entity,
    )
    .await
    {
        Ok(admin) => admin,
        Err(answer) => return answer,
    };
    let request = PersonRequest {
        person_id: None,
        kiosk_id: Some(kiosk_id.clone()),
    };
    match admin::revoke_person(&app, &admin.principal, &source, Ok(request)).await {
        Ok(_) => {
            let id: String = form_urlencoded::byte_serialize(kiosk_id.as_bytes()).collect();
            pages::see_other(&format!("{PATH}?revoked={id}"), &[])
        }
        Err(err) => {
            let (status, error) = form_error(err);
            page(&app, &admin, status, None, vec![error], json!({}), None).await
        }
    }
}
