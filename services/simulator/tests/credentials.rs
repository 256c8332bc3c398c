//! The simulator's API client against a tiny axum server on 127.0.0.1:0 that
//! plays the identity service's token endpoint (client credentials) and a
//! protected hospital-beds API (401 without the token it issued last).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pf_hospital_model::{BedAddress, BedState};
use pf_simulator::credentials::{CredentialsConfig, Secret, SecretSource};
use pf_simulator::{ApiError, BedsClient, TokenProvider};
use serde_json::json;

const CLIENT_ID: &str = "simulator";
const SECRET: &str = "s3cret-value";

#[derive(Default)]
struct Fake {
    /// `expires_in` of the tokens issued.
    expires_in: u64,
    /// Token requests received (good or bad).
    token_requests: u32,
    /// The only token the API accepts (the last issued), if any.
    valid: Option<String>,
    /// When set, the API refuses every token.
    refuse_all: bool,
    /// API requests answered 401, and those accepted.
    unauthorized: u32,
    accepted: u32,
    /// Bodies of the writes accepted.
    writes: Vec<String>,
}

type Shared = Arc<Mutex<Fake>>;

fn lock(fake: &Shared) -> std::sync::MutexGuard<'_, Fake> {
    fake.lock().expect("fake state")
}

/// (token requests, API requests answered 401).
fn counts(fake: &Shared) -> (u32, u32) {
    let fake = lock(fake);
    (fake.token_requests, fake.unauthorized)
}

async fn token(State(fake): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut fake = lock(&fake);
    fake.token_requests += 1;
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(SECRET)
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client", "error_description": "unknown client"})),
        )
            .into_response();
    }
    let token = format!("token-{}", fake.token_requests);
    fake.valid = Some(token.clone());
    Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": fake.expires_in}))
        .into_response()
}

fn authorised(fake: &mut Fake, headers: &HeaderMap) -> bool {
    let sent = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let ok = !fake.refuse_all && sent.is_some() && sent == fake.valid.as_deref();
    if ok {
        fake.accepted += 1;
    } else {
        fake.unauthorized += 1;
    }
    ok
}

fn sign_in_first() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "Sign in first."})),
    )
        .into_response()
}

async fn read_bed(State(fake): State<Shared>, headers: HeaderMap) -> Response {
    if !authorised(&mut lock(&fake), &headers) {
        return sign_in_first();
    }
    Json(
        json!({"site": "RWEAA", "ward": "WD15", "bed": "B01", "kind": "general_acute",
        "escalation": false, "open": true, "state": "available", "version": 3}),
    )
    .into_response()
}

async fn write_bed(State(fake): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let mut fake = lock(&fake);
    if !authorised(&mut fake, &headers) {
        return sign_in_first();
    }
    fake.writes.push(body);
    Json(json!({"event_id": "x", "entity_version": 4, "stream_sequence": 9, "state": "occupied"}))
        .into_response()
}

/// Starts the fake on a free port; returns its base URL and state.
async fn start(expires_in: u64) -> (String, Shared) {
    let fake: Shared = Arc::new(Mutex::new(Fake {
        expires_in,
        ..Fake::default()
    }));
    let app = Router::new()
        .route("/oauth/token", post(token))
        .route("/api/v1/beds/{site}/{ward}/{bed}", get(read_bed))
        .route("/api/v1/beds/{site}/{ward}/{bed}/{action}", post(write_bed))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), fake)
}

fn client(base: &str, secret: Option<&str>) -> BedsClient {
    let config = CredentialsConfig {
        identity_url: base.to_owned(),
        client_id: CLIENT_ID.to_owned(),
        secret: secret.map(|s| SecretSource::Value(Secret::new(s))),
    };
    let client = BedsClient::new(base, Duration::from_secs(5)).expect("client");
    match TokenProvider::new(&config, client.http().clone()) {
        Some(provider) => client.with_credentials(Arc::new(provider)),
        None => client,
    }
}

fn bed() -> BedAddress {
    BedAddress::parse("RWEAA", "WD15", "B01").expect("valid address")
}

#[tokio::test]
async fn the_client_fetches_uses_and_refreshes_its_token() {
    // Two-second tokens: renewed 200 ms (10%) before they expire.
    let (base, fake) = start(2).await;
    let client = client(&base, Some(SECRET));

    let view = client.get(&bed()).await.expect("signed-in read");
    assert_eq!(view.version, 3);
    client
        .set_state(&bed(), BedState::Occupied, "Admitted")
        .await
        .expect("signed-in write");
    client
        .open(&bed(), "Opened")
        .await
        .expect("a clone shares the token");
    {
        let fake = lock(&fake);
        assert_eq!(fake.token_requests, 1, "the token is cached");
        assert_eq!((fake.accepted, fake.unauthorized), (3, 0));
        assert!(fake.writes[0].contains("occupied"));
    }

    // Past the refresh point (1.8 s): a new token before the old one expires.
    tokio::time::sleep(Duration::from_millis(1900)).await;
    client
        .withdraw(&bed(), "Not needed")
        .await
        .expect("refreshed");
    {
        let fake = lock(&fake);
        assert_eq!(fake.token_requests, 2, "refreshed before expiry");
        assert_eq!(fake.valid.as_deref(), Some("token-2"));
        assert_eq!((fake.accepted, fake.unauthorized), (4, 0));
    }

    // The API stops accepting the token (revoked, signing key rotated): one
    // 401, a new token, and the request goes through.
    lock(&fake).valid = Some("revoked-all".to_owned());
    client.get(&bed()).await.expect("refreshed after a 401");
    let fake = lock(&fake);
    assert_eq!(fake.token_requests, 3);
    assert_eq!((fake.accepted, fake.unauthorized), (5, 1));
}

#[tokio::test]
async fn a_token_the_api_keeps_refusing_is_refreshed_once_then_backs_off() {
    let (base, fake) = start(3600).await;
    lock(&fake).refuse_all = true;
    let client = client(&base, Some(SECRET));

    let error = client.get(&bed()).await.expect_err("refused");
    assert!(matches!(error, ApiError::Unauthorized(_)), "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(counts(&fake), (2, 2), "one fresh token, one retry");

    // Straight away again: no new token request while backing off.
    let error = client.get(&bed()).await.expect_err("still refused");
    assert!(matches!(error, ApiError::Unauthorized(_)));
    assert_eq!(counts(&fake), (2, 3));

    // Once the API accepts newly issued tokens again, the next forced refresh
    // (after the 250 ms backoff) recovers.
    {
        let mut fake = lock(&fake);
        fake.refuse_all = false;
        fake.valid = None;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.get(&bed()).await.expect("accepted again");
    assert_eq!(counts(&fake), (3, 4));
}

#[tokio::test]
async fn wrong_credentials_are_not_signed_in_and_not_hammered() {
    let (base, fake) = start(3600).await;
    let client = client(&base, Some("wrong-secret"));
    let error = client.get(&bed()).await.expect_err("not signed in");
    match &error {
        ApiError::Unauthorized(message) => {
            assert!(message.contains("invalid_client"), "{message}");
            assert!(!message.contains("wrong-secret"), "{message}");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    for _ in 0..5 {
        assert!(client.get(&bed()).await.is_err());
    }
    let fake = lock(&fake);
    assert_eq!(fake.token_requests, 1, "failed token requests back off");
    assert_eq!(
        fake.unauthorized + fake.accepted,
        0,
        "nothing sent unsigned"
    );
}

#[tokio::test]
async fn an_unreachable_identity_service_is_unavailable() {
    let (base, fake) = start(3600).await;
    let config = CredentialsConfig {
        // Nothing listens on port 9 of loopback.
        identity_url: "http://127.0.0.1:9".to_owned(),
        client_id: CLIENT_ID.to_owned(),
        secret: Some(SecretSource::Value(Secret::new(SECRET))),
    };
    let client = BedsClient::new(&base, Duration::from_secs(2)).expect("client");
    let provider = TokenProvider::new(&config, client.http().clone()).expect("a secret is set");
    let client = client.with_credentials(Arc::new(provider));
    let error = client.get(&bed()).await.expect_err("no token");
    assert!(error.is_unavailable(), "{error:?}");
    assert_eq!(lock(&fake).unauthorized, 0);
}

#[tokio::test]
async fn without_a_secret_no_token_is_sent() {
    let (base, fake) = start(3600).await;
    let client = client(&base, None);
    let error = client
        .get(&bed())
        .await
        .expect_err("the fake needs a token");
    assert!(matches!(error, ApiError::Unauthorized(_)), "{error:?}");
    let fake = lock(&fake);
    assert_eq!((fake.token_requests, fake.unauthorized), (0, 1));
}
