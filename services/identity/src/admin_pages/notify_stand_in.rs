//! A local stand-in for GOV.UK Notify, for tests and local demonstrations:
//! it serves Notify's documented `POST /v2/notifications/email` and
//! `POST /v2/notifications/sms`, checks the bearer JWT as Notify does
//! (HS256, `iss` the service id, `iat` within 30 seconds, signed with the
//! API key's secret), checks the body's required fields, keeps every
//! message it accepted, and answers in Notify's shapes (201 with the
//! notification, or `{"status_code", "errors": [{"error", "message"}]}`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A message the stand-in accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// `email` or `sms`.
    pub kind: String,
    /// The email address or phone number.
    pub to: String,
    /// The template id.
    pub template_id: String,
    /// The personalisation (`name`, `link`, `expires`).
    pub personalisation: Value,
}

#[derive(Clone)]
struct StandIn {
    service_id: String,
    secret: String,
    sent: Arc<Mutex<Vec<Sent>>>,
}

/// A running stand-in (stopped on drop).
pub struct NotifyStandIn {
    /// Its base URL (`http://127.0.0.1:{port}`).
    pub base_url: String,
    /// An API key it accepts, in Notify's form.
    pub api_key: String,
    sent: Arc<Mutex<Vec<Sent>>>,
    shutdown: CancellationToken,
}

impl Drop for NotifyStandIn {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The service id and secret of the stand-in's key.
pub const SERVICE_ID: &str = "26785a09-ab16-4eb0-8407-a37497a57506";
const SECRET: &str = "3d844edf-8d35-48ac-975b-e847b4f122b0";

impl NotifyStandIn {
    /// Starts on a free port of 127.0.0.1.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let sent = Arc::new(Mutex::new(Vec::new()));
        let state = StandIn {
            service_id: SERVICE_ID.to_owned(),
            secret: SECRET.to_owned(),
            sent: sent.clone(),
        };
        let router = Router::new()
            .route("/v2/notifications/email", post(email))
            .route("/v2/notifications/sms", post(sms))
            .with_state(state);
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        });
        Ok(Self {
            base_url,
            api_key: format!("patient_flow_stand_in-{SERVICE_ID}-{SECRET}"),
            sent,
            shutdown,
        })
    }

    /// Every message accepted so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        Json(json!({
            "status_code": status.as_u16(),
            "errors": [{ "error": kind, "message": message }],
        })),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    iat: i64,
}

/// Notify's token check: a bearer JWT, HS256, `iss` the service id, `iat`
/// within 30 seconds of now.
fn authorised(app: &StandIn, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let error = |status, kind, message| Box::new(error(status, kind, message));
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            error(
                StatusCode::UNAUTHORIZED,
                "AuthError",
                "Unauthorized: authentication token must be provided",
            )
        })?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let invalid = || {
        error(
            StatusCode::FORBIDDEN,
            "AuthError",
            "Invalid token: signature, api token is not valid",
        )
    };
    let key = DecodingKey::from_secret(app.secret.as_bytes()).map_err(|_| invalid())?;
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|_| invalid())?
        .claims;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if claims.iss != app.service_id {
        return Err(error(
            StatusCode::FORBIDDEN,
            "AuthError",
            "Invalid token: service not found",
        ));
    }
    if (now - claims.iat).abs() > 30 {
        return Err(error(
            StatusCode::FORBIDDEN,
            "AuthError",
            "Error: Your system clock must be accurate to within 30 seconds",
        ));
    }
    Ok(())
}

fn accept(
    app: &StandIn,
    kind: &str,
    to_field: &str,
    headers: &HeaderMap,
    body: &Value,
) -> Response {
    if let Err(refused) = authorised(app, headers) {
        return *refused;
    }
    let text = |name: &str| {
        body[name]
            .as_str()
            .map(str::to_owned)
            .filter(|v| !v.is_empty())
    };
    let Some(to) = text(to_field) else {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            &format!("{to_field} is a required property"),
        );
    };
    let Some(template_id) = text("template_id") else {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "template_id is a required property",
        );
    };
    let sent = Sent {
        kind: kind.to_owned(),
        to,
        template_id: template_id.clone(),
        personalisation: body["personalisation"].clone(),
    };
    let id = uuid_like(app);
    if let Ok(mut all) = app.sent.lock() {
        all.push(sent);
    }
    (
        StatusCode::CREATED,
        Json(json!({
            "id": id,
            "reference": body["reference"],
            "content": {},
            "uri": format!("/v2/notifications/{id}"),
            "template": { "id": template_id, "version": 1, "uri": "" },
        })),
    )
        .into_response()
}

/// A notification id (a count, in UUID form).
fn uuid_like(app: &StandIn) -> String {
    let n = app.sent.lock().map(|s| s.len()).unwrap_or(0);
    format!("00000000-0000-4000-8000-{n:012}")
}

async fn email(
    State(app): State<StandIn>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    accept(&app, "email", "email_address", &headers, &body)
}

async fn sms(State(app): State<StandIn>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    accept(&app, "sms", "phone_number", &headers, &body)
}
