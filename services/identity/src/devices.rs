//! Staying signed in on one's own phone or tablet.
//!
//! A care-home manager updates the home's figures once or twice a day; a new
//! single-use link every time is too much. Once signed in (by a link), a
//! care-home editor may register the device in their hand: it then keeps a
//! **device credential**, a random 256-bit token in an HttpOnly, Secure,
//! SameSite=Lax cookie (`pf_device`, sent only to `/sign-in`), for
//! [`DEVICE_LIFETIME`] (90 days) from its last use. When their session has
//! ended, the care-home form sends them to `/sign-in` as before; with the
//! cookie, that starts a new session **for the same person** (the principal
//! recorded when the device was registered), so every update stays
//! attributed to them, and renews the credential.
//!
//! A credential works only while the person is not revoked and while the
//! link generation it was registered in is current (see `pf_sign_in`'s
//! store): revoking the person voids their devices for good, as it does their
//! links. A system administrator lists devices and revokes one
//! (`GET /api/v1/access/devices`, `POST /api/v1/access/devices/{id}/revoke`,
//! and the page `GET /admin/devices`). Registering, each sign-in with a
//! device and each revocation are recorded in the audit trail before the
//! answer; refusals too.
//!
//! Keys (under the sign-in prefix, `pf-auth:`; only identity may use them):
//! - `device:{sha256(token)}`: the device (JSON), expiring with it; only
//!   the hash is stored, so a copy of Redis holds no usable credential.
//! - `device-id:{id}`: that hash, for revocation by id; same expiry.
//! - `devices`: the ids of registered devices (expired ones are dropped when
//!   listed).

use std::time::Duration;

use axum::Form;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use pf_access::{Action, Principal, PrincipalKind, Role};
use rand::RngCore as _;
use redis::AsyncCommands as _;
use redis::aio::ConnectionManagerConfig;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::api::{self, ApiError};
use crate::caller::{Caller, Source};
use crate::return_to::ReturnTo;
use crate::state::AppState;
use crate::{csrf, pages, sign_in, trail};

/// How long a device stays signed in after its last use.
pub const DEVICE_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);
/// The device cookie's name.
pub const DEVICE_COOKIE: &str = "pf_device";
/// Audit action: a device registered.
pub const DEVICE_REGISTERED: &str = "device.register";
/// Audit action: a session started with a device credential.
pub const DEVICE_SIGN_IN: &str = "device.sign_in";
/// Audit action: a device revoked by an administrator.
pub const DEVICE_REVOKED: &str = "device.revoke";
/// Audit action: the device list read.
pub const DEVICES_READ: &str = "device.list";
/// The longest device name kept.
pub const LABEL_MAX_CHARS: usize = 60;

/// The device store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// Redis failed.
    #[error("the device store is unavailable: {0}")]
    Redis(#[from] redis::RedisError),
    /// A stored device could not be read.
    #[error("the device store holds unreadable data: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// A registered device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Device {
    /// Its id (random, not the credential).
    pub id: String,
    /// The person it signs in.
    pub principal: Principal,
    /// What they called it ("My phone").
    pub label: String,
    /// When it was registered (seconds since the epoch).
    pub created_at: i64,
    /// When it last signed someone in (seconds since the epoch).
    pub last_used_at: Option<i64>,
    /// When it stops working unless used again (seconds since the epoch).
    pub expires_at: i64,
    /// The person's link generation when it was registered.
    pub generation: i64,
}

/// Devices in Redis.
#[derive(Clone)]
pub struct DeviceStore {
    connection: pf_runtime::RedisConnection,
    prefix: String,
}

fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer)
}

fn digest(token: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes()))
}

fn lifetime_secs() -> u64 {
    DEVICE_LIFETIME.as_secs()
}

impl DeviceStore {
    /// Connects to Redis at `url`, keys under `prefix` (the sign-in prefix).
    pub async fn connect(url: &str, prefix: impl Into<String>) -> Result<Self, DeviceError> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_connection_timeout(Some(Duration::from_secs(5)));
        Ok(Self {
            connection: pf_runtime::RedisConnection::connect(url, config).await?,
            prefix: prefix.into(),
        })
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    fn index(&self) -> String {
        format!("{}devices", self.prefix)
    }

    /// The person's current link generation (0 when never raised).
    pub async fn generation(&self, principal_id: &str) -> Result<i64, DeviceError> {
        let mut connection = self.connection.clone();
        let value: Option<i64> = connection
            .get(self.key("link-generation", principal_id))
            .await?;
        Ok(value.unwrap_or(0))
    }

    /// Registers a device for `principal`: returns its credential (for the
    /// cookie; never stored) and the device.
    pub async fn register(
        &self,
        principal: &Principal,
        label: &str,
    ) -> Result<(String, Device), DeviceError> {
        let token = random_token(32);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let device = Device {
            id: random_token(12),
            principal: principal.clone(),
            label: label.to_owned(),
            created_at: now,
            last_used_at: None,
            expires_at: now + i64::try_from(lifetime_secs()).unwrap_or(i64::MAX),
            generation: self.generation(&principal.id).await?,
        };
        self.store(&digest(&token), &device).await?;
        Ok((token, device))
    }

    async fn store(&self, hashed: &str, device: &Device) -> Result<(), DeviceError> {
        let mut connection = self.connection.clone();
        let _: () = redis::pipe()
            .set_ex(
                self.key("device", hashed),
                serde_json::to_string(device)?,
                lifetime_secs(),
            )
            .ignore()
            .set_ex(self.key("device-id", &device.id), hashed, lifetime_secs())
            .ignore()
            .sadd(self.index(), &device.id)
            .ignore()
            .query_async(&mut connection)
            .await?;
        Ok(())
    }

    /// The device of credential `token`, if it still works; its use is
    /// recorded and its lifetime renewed. A device registered before the
    /// person's latest revocation or reinstatement does not work (and is
    /// removed); whether the person is revoked now is the caller's check.
    pub async fn sign_in_with(&self, token: &str) -> Result<Option<Device>, DeviceError> {
        if token.is_empty() || token.len() > 64 {
            return Ok(None);
        }
        let hashed = digest(token);
        let mut connection = self.connection.clone();
        let stored: Option<String> = connection.get(self.key("device", &hashed)).await?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let mut device: Device = serde_json::from_str(&stored)?;
        if self.generation(&device.principal.id).await? != device.generation {
            self.remove(&device.id).await?;
            return Ok(None);
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        device.last_used_at = Some(now);
        device.expires_at = now + i64::try_from(lifetime_secs()).unwrap_or(i64::MAX);
        self.store(&hashed, &device).await?;
        Ok(Some(device))
    }

    /// Every registered device that still works, oldest first.
    pub async fn list(&self) -> Result<Vec<Device>, DeviceError> {
        let mut connection = self.connection.clone();
        let ids: Vec<String> = connection.smembers(self.index()).await?;
        let mut devices = Vec::with_capacity(ids.len());
        for id in ids {
            match self.find(&id).await? {
                Some((_, device)) => devices.push(device),
                None => {
                    let _: () = connection.srem(self.index(), &id).await?;
                }
            }
        }
        devices.sort_by_key(|d| (d.created_at, d.id.clone()));
        Ok(devices)
    }

    async fn find(&self, id: &str) -> Result<Option<(String, Device)>, DeviceError> {
        let mut connection = self.connection.clone();
        let hashed: Option<String> = connection.get(self.key("device-id", id)).await?;
        let Some(hashed) = hashed else {
            return Ok(None);
        };
        let stored: Option<String> = connection.get(self.key("device", &hashed)).await?;
        match stored {
            Some(stored) => Ok(Some((hashed, serde_json::from_str(&stored)?))),
            None => Ok(None),
        }
    }

    /// Removes device `id`: it signs no one in again. `None` when there is
    /// no such device (or it had expired).
    pub async fn remove(&self, id: &str) -> Result<Option<Device>, DeviceError> {
        let found = self.find(id).await?;
        let mut connection = self.connection.clone();
        let mut pipe = redis::pipe();
        if let Some((hashed, _)) = &found {
            pipe.del(self.key("device", hashed)).ignore();
        }
        let _: () = pipe
            .del(self.key("device-id", id))
            .ignore()
            .srem(self.index(), id)
            .ignore()
            .query_async(&mut connection)
            .await?;
        Ok(found.map(|(_, device)| device))
    }
}

/// `Set-Cookie` for a device credential: HttpOnly, Secure unless
/// `insecure_http`, SameSite=Lax, sent only to `/sign-in`.
pub fn set_cookie(token: &str, insecure_http: bool) -> String {
    let secure = if insecure_http { "" } else { "; Secure" };
    format!(
        "{DEVICE_COOKIE}={token}; Path=/sign-in; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        lifetime_secs()
    )
}

/// `Set-Cookie` that removes the device credential.
pub fn clear_cookie(insecure_http: bool) -> String {
    let secure = if insecure_http { "" } else { "; Secure" };
    format!("{DEVICE_COOKIE}=; Path=/sign-in; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

/// The device credential in the request's cookies, if any.
pub fn credential(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == DEVICE_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// Whether `principal` may keep a device signed in: a person who edits a
/// care home's figures (the people who sign in by link).
pub fn may_register(principal: &Principal) -> bool {
    principal.kind == PrincipalKind::Person
        && principal.care_homes(Role::CareHomeEditor).next().is_some()
}

fn when(at: i64) -> String {
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn day(at: i64) -> String {
    let format = time::macros::format_description!("[day padding:none] [month repr:long] [year]");
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

fn unavailable_page() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in is unavailable right now. Please try again in a moment.",
    )
        .into_response()
}

/// `GET /sign-in` query.
#[derive(Debug, Deserialize)]
pub struct ReturnQuery {
    return_to: Option<String>,
}

/// `GET /sign-in`: with a working device credential, a new session for its
/// person, straight back to `return_to`; otherwise the sign-in page as
/// before (a credential that no longer works is removed from the browser).
pub async fn sign_in_or_show(
    State(app): State<AppState>,
    source: Source,
    headers: HeaderMap,
    Query(query): Query<ReturnQuery>,
) -> Response {
    let Some(token) = credential(&headers).map(str::to_owned) else {
        return show(app, headers, query).await;
    };
    let return_to = ReturnTo::resolve(
        query.return_to.as_deref(),
        &app.config.return_origins,
        app.config.home_url.as_deref(),
    );
    let used = async {
        // The person's revocation is checked before the device is used.
        let stored = app.devices.sign_in_with(&token).await?;
        let Some(device) = stored else {
            return Ok::<_, DeviceError>(None);
        };
        let revoked = app
            .store()
            .is_revoked(&device.principal.id)
            .await
            .unwrap_or(true);
        if revoked {
            app.devices.remove(&device.id).await?;
            return Ok(None);
        }
        Ok(Some(device))
    }
    .await;
    let device = match used {
        Ok(Some(device)) => device,
        Ok(None) => {
            trail::refused(
                &app,
                pf_audit::AuditActor::anonymous(),
                DEVICE_SIGN_IN,
                "device/unknown",
                "the device credential is unknown, expired or revoked",
                &source,
            )
            .await;
            let response = show(app.clone(), headers, query).await;
            return pages::with_cookies(response, &[clear_cookie(app.config.insecure_cookies)]);
        }
        Err(err) => {
            tracing::error!(cause = %err, "could not read a device credential");
            return unavailable_page();
        }
    };
    let entity = format!("device/{}", device.id);
    if trail::accepted(
        &app,
        trail::actor(&device.principal),
        DEVICE_SIGN_IN,
        &entity,
        &source,
    )
    .await
    .is_err()
    {
        return unavailable_page();
    }
    let response = sign_in::start_session(
        &app,
        &headers,
        &source,
        &device.principal,
        "device",
        return_to.as_str(),
        unavailable_page,
    )
    .await;
    // Renewed: another 90 days from now.
    pages::with_cookies(response, &[set_cookie(&token, app.config.insecure_cookies)])
}

async fn show(app: AppState, headers: HeaderMap, query: ReturnQuery) -> Response {
    sign_in::show(
        State(app),
        headers,
        Query(sign_in::SignInQuery {
            return_to: query.return_to,
        }),
    )
    .await
}

/// The device page's context.
#[derive(Serialize)]
struct RegisterPage {
    name: String,
    csrf_token: String,
    return_to: String,
    days: u64,
    error: Option<String>,
    label: String,
}

fn register_page(
    app: &AppState,
    status: StatusCode,
    principal: &Principal,
    csrf_token: &str,
    return_to: &str,
    label: &str,
    error: Option<String>,
) -> Response {
    pages::render(
        &app.templates,
        status,
        "device-register.html",
        RegisterPage {
            name: principal.name.clone(),
            csrf_token: csrf_token.to_owned(),
            return_to: return_to.to_owned(),
            days: DEVICE_LIFETIME.as_secs() / 86_400,
            error,
            label: label.to_owned(),
        },
    )
}

fn signed_in(caller: &Caller) -> Option<(Principal, pf_sign_in::Session)> {
    match &caller.auth {
        Ok((principal, Some(session))) => Some((principal.clone(), session.clone())),
        _ => None,
    }
}

/// `GET /devices/register`: what keeping this device signed in means, and
/// a button to do it (signed-in care-home editors only).
pub async fn register_form(
    State(app): State<AppState>,
    caller: Caller,
    Query(query): Query<ReturnQuery>,
) -> Response {
    let return_to = ReturnTo::resolve(
        query.return_to.as_deref(),
        &app.config.return_origins,
        app.config.home_url.as_deref(),
    );
    let Some((principal, session)) = signed_in(&caller) else {
        return pages::see_other(
            &format!(
                "/sign-in?return_to={}",
                form_urlencoded::byte_serialize(return_to.as_str().as_bytes()).collect::<String>()
            ),
            &[],
        );
    };
    if !may_register(&principal) {
        return (
            StatusCode::FORBIDDEN,
            "Only care-home staff can keep a device signed in.",
        )
            .into_response();
    }
    register_page(
        &app,
        StatusCode::OK,
        &principal,
        &session.csrf_token,
        return_to.as_str(),
        "",
        None,
    )
}

/// `POST /devices/register` form.
#[derive(Debug, Deserialize)]
pub struct RegisterForm {
    csrf_token: Option<String>,
    label: Option<String>,
    return_to: Option<String>,
}

/// `POST /devices/register`: registers this device for the signed-in
/// person, sets its credential and goes back to `return_to`.
pub async fn register(
    State(app): State<AppState>,
    caller: Caller,
    Form(form): Form<RegisterForm>,
) -> Response {
    let source = caller.source.clone();
    let return_to = ReturnTo::resolve(
        form.return_to.as_deref(),
        &app.config.return_origins,
        app.config.home_url.as_deref(),
    );
    let Some((principal, session)) = signed_in(&caller) else {
        trail::refused(
            &app,
            pf_audit::AuditActor::anonymous(),
            DEVICE_REGISTERED,
            "device/new",
            "not signed in",
            &source,
        )
        .await;
        return (
            StatusCode::UNAUTHORIZED,
            "You have been signed out. Sign in again, then keep this device signed in.",
        )
            .into_response();
    };
    let entity = trail::entity_of(&principal);
    if !csrf::tokens_match(
        &session.csrf_token,
        form.csrf_token.as_deref().unwrap_or(""),
    ) {
        trail::refused(
            &app,
            trail::actor(&principal),
            DEVICE_REGISTERED,
            &entity,
            "the form token did not match",
            &source,
        )
        .await;
        return (
            StatusCode::BAD_REQUEST,
            "This form has expired. Go back, reload the page and try again.",
        )
            .into_response();
    }
    if !may_register(&principal) {
        trail::refused(
            &app,
            trail::actor(&principal),
            DEVICE_REGISTERED,
            &entity,
            "only care-home editors keep a device signed in",
            &source,
        )
        .await;
        return (
            StatusCode::FORBIDDEN,
            "Only care-home staff can keep a device signed in.",
        )
            .into_response();
    }
    let label = form.label.unwrap_or_default().trim().to_owned();
    if label.chars().count() > LABEL_MAX_CHARS || label.chars().any(char::is_control) {
        return register_page(
            &app,
            StatusCode::UNPROCESSABLE_ENTITY,
            &principal,
            &session.csrf_token,
            return_to.as_str(),
            &label,
            Some(format!(
                "The device name must be {LABEL_MAX_CHARS} characters or fewer"
            )),
        );
    }
    let label = if label.is_empty() {
        "Phone or tablet".to_owned()
    } else {
        label
    };
    let (token, device) = match app.devices.register(&principal, &label).await {
        Ok(registered) => registered,
        Err(err) => {
            tracing::error!(cause = %err, "could not register a device");
            return unavailable_page();
        }
    };
    if trail::accepted(
        &app,
        trail::actor(&principal),
        DEVICE_REGISTERED,
        &format!("device/{}", device.id),
        &source,
    )
    .await
    .is_err()
    {
        // Not audited: not kept.
        let _ = app.devices.remove(&device.id).await;
        return unavailable_page();
    }
    tracing::info!(person = %principal.id, device = %device.id, "device registered");
    pages::see_other(
        return_to.as_str(),
        &[set_cookie(&token, app.config.insecure_cookies)],
    )
}

/// A device as administrators see it (never its credential).
#[derive(Debug, Serialize)]
pub struct DeviceListing {
    /// Device id.
    pub device_id: String,
    /// The person it signs in.
    pub principal_id: String,
    /// Their name.
    pub name: String,
    /// The care homes they may update.
    pub care_homes: Vec<String>,
    /// What they called the device.
    pub label: String,
    /// Registered (RFC 3339).
    pub created_at: String,
    /// Last used to sign in (RFC 3339), if ever.
    pub last_used_at: Option<String>,
    /// Stops working unless used before then (RFC 3339).
    pub expires_at: String,
    /// The same, for people: "7 March 2027".
    #[serde(skip)]
    pub expires_text: String,
    /// Registered, for people.
    #[serde(skip)]
    pub created_text: String,
}

impl DeviceListing {
    fn of(device: &Device) -> Self {
        let names = crate::organisation_names::names();
        Self {
            device_id: device.id.clone(),
            principal_id: device.principal.id.clone(),
            name: device.principal.name.clone(),
            care_homes: device
                .principal
                .care_homes(Role::CareHomeEditor)
                .map(|c| names.name_of(c.as_str()).to_owned())
                .collect(),
            label: device.label.clone(),
            created_at: when(device.created_at),
            last_used_at: device.last_used_at.map(when),
            expires_at: when(device.expires_at),
            expires_text: day(device.expires_at),
            created_text: day(device.created_at),
        }
    }
}

fn store_unavailable(err: DeviceError) -> ApiError {
    tracing::error!(cause = %err, "the device store is unavailable");
    ApiError::unavailable()
}

/// `GET /api/v1/access/devices`: every device that keeps someone signed in
/// (system administrators only).
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
        DEVICES_READ,
        "devices",
    )
    .await?;
    let devices = app.devices.list().await.map_err(store_unavailable)?;
    let listed: Vec<DeviceListing> = devices.iter().map(DeviceListing::of).collect();
    Ok(Json(serde_json::json!({ "devices": listed })).into_response())
}

/// `POST /api/v1/access/devices/{device_id}/revoke`: the device signs no one
/// in again (system administrators only). Sessions it already started end
/// by themselves (or at once when the person is revoked).
pub async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(device_id): Path<String>,
) -> Result<Response, ApiError> {
    let source = caller.source.clone();
    let entity = format!("device/{}", trail::clip(&device_id));
    let admin = api::authorise(
        &app,
        caller,
        &headers,
        &Action::ManageAccess,
        DEVICE_REVOKED,
        &entity,
    )
    .await?;
    let listing = revoke_device(&app, &admin, &device_id, &entity, &source).await?;
    Ok(Json(serde_json::json!({ "revoked": listing })).into_response())
}

async fn revoke_device(
    app: &AppState,
    admin: &Principal,
    device_id: &str,
    entity: &str,
    source: &Source,
) -> Result<DeviceListing, ApiError> {
    let attempt = trail::attempt(app, trail::actor(admin), DEVICE_REVOKED, entity, source)
        .await
        .map_err(|_| ApiError::unavailable())?;
    match app.devices.remove(device_id).await {
        Ok(Some(device)) => {
            trail::outcome(attempt).await;
            tracing::info!(device = %device.id, by = %admin.id, "device revoked");
            Ok(DeviceListing::of(&device))
        }
        Ok(None) => {
            attempt.refused("no such device").await;
            Err(ApiError::NotFound(
                "There is no such device (it may have expired or been revoked already).".into(),
            ))
        }
        Err(err) => {
            attempt.refused("the device store is unavailable").await;
            Err(store_unavailable(err))
        }
    }
}

/// The administrators' page context.
#[derive(Serialize)]
struct AdminPage {
    devices: Vec<AdminRow>,
    csrf_token: String,
    revoked: Option<String>,
}

#[derive(Serialize)]
struct AdminRow {
    device_id: String,
    name: String,
    care_homes: String,
    label: String,
    created_text: String,
    last_used_at: Option<String>,
    expires_text: String,
}

/// `?revoked=` on the page.
#[derive(Debug, Deserialize)]
pub struct AdminQuery {
    revoked: Option<String>,
}

fn admin_of(caller: &Caller) -> Option<(Principal, pf_sign_in::Session)> {
    signed_in(caller).filter(|(p, _)| p.permits(&Action::ManageAccess).require().is_ok())
}

/// `GET /admin/devices`: the devices, each with a "Revoke" button (system
/// administrators signed in with a session).
pub async fn admin_page(
    State(app): State<AppState>,
    caller: Caller,
    Query(query): Query<AdminQuery>,
) -> Response {
    let Some((_, session)) = admin_of(&caller) else {
        trail::refused(
            &app,
            caller
                .auth
                .as_ref()
                .map(|(p, _)| trail::actor(p))
                .unwrap_or_else(|_| pf_audit::AuditActor::anonymous()),
            DEVICES_READ,
            "devices",
            "not a signed-in system administrator",
            &caller.source,
        )
        .await;
        return (
            StatusCode::FORBIDDEN,
            "Only system administrators can see the devices kept signed in. Sign in as one first.",
        )
            .into_response();
    };
    let devices = match app.devices.list().await {
        Ok(devices) => devices,
        Err(err) => {
            tracing::error!(cause = %err, "could not list devices");
            return unavailable_page();
        }
    };
    let rows = devices
        .iter()
        .map(DeviceListing::of)
        .map(|d| AdminRow {
            device_id: d.device_id,
            name: d.name,
            care_homes: d.care_homes.join(", "),
            label: d.label,
            created_text: d.created_text,
            last_used_at: d.last_used_at,
            expires_text: d.expires_text,
        })
        .collect();
    pages::render(
        &app.templates,
        StatusCode::OK,
        "device-admin.html",
        AdminPage {
            devices: rows,
            csrf_token: session.csrf_token,
            revoked: query.revoked,
        },
    )
}

/// `POST /admin/devices/{device_id}/revoke` form.
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    csrf_token: Option<String>,
}

/// `POST /admin/devices/{device_id}/revoke`: the page's "Revoke" button.
pub async fn admin_revoke(
    State(app): State<AppState>,
    caller: Caller,
    Path(device_id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Response {
    let entity = format!("device/{}", trail::clip(&device_id));
    let Some((admin, session)) = admin_of(&caller) else {
        trail::refused(
            &app,
            pf_audit::AuditActor::anonymous(),
            DEVICE_REVOKED,
            &entity,
            "not a signed-in system administrator",
            &caller.source,
        )
        .await;
        return (
            StatusCode::FORBIDDEN,
            "Only system administrators can revoke a device.",
        )
            .into_response();
    };
    if !csrf::tokens_match(
        &session.csrf_token,
        form.csrf_token.as_deref().unwrap_or(""),
    ) {
        trail::refused(
            &app,
            trail::actor(&admin),
            DEVICE_REVOKED,
            &entity,
            "the form token did not match",
            &caller.source,
        )
        .await;
        return (
            StatusCode::BAD_REQUEST,
            "This form has expired. Reload the page and try again.",
        )
            .into_response();
    }
    match revoke_device(&app, &admin, &device_id, &entity, &caller.source).await {
        Ok(listing) => pages::see_other(
            &format!(
                "/admin/devices?revoked={}",
                form_urlencoded::byte_serialize(
                    format!("{} ({})", listing.label, listing.name).as_bytes()
                )
                .collect::<String>()
            ),
            &[],
        ),
        Err(err) => err.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_kept_from_scripts_and_other_paths() {
        let set = set_cookie("abc", false);
        assert!(set.starts_with("pf_device=abc; Path=/sign-in; HttpOnly; SameSite=Lax;"));
        assert!(set.ends_with("; Secure"));
        assert!(set.contains(&format!("Max-Age={}", 90 * 24 * 3600)));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            axum::http::HeaderValue::from_static("pf_session=s; pf_device=tok"),
        );
        assert_eq!(credential(&headers), Some("tok"));
    }
}
