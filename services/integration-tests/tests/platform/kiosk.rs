//! A kiosk (a control-room wall screen nobody signs in to), end to end: an
//! administrator registers it at the real identity service, the screen
//! uses the single-use setup link, and its session opens the gateway's
//! control room and live feed; it opens nothing else. Revoked, its page
//! sends it to sign in and its live connection closes with 4401 at the
//! next access check.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use futures::StreamExt as _;
use pf_discharge_model::NhsNumber;
use pf_identity::{Identity, IdentityConfig};
use pf_integration_tests::{Platform, dashboards_dir, demo};
use pf_sign_in::{Kiosk, LinkPurpose, SessionLifetime, SessionPolicy, SignInStore};
use pf_test_support::RedisServer;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_util::sync::CancellationToken;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The identity service on the platform's Redis and NATS, sending kiosks to
/// the platform's gateway: its address and an administrator's token.
async fn start_identity(platform: &Platform, shutdown: &CancellationToken) -> (String, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut config = IdentityConfig::local(
        &platform.redis.url(),
        &platform.nats.url(),
        dashboards_dir(),
    );
    config.public_url = url.clone();
    config.control_room_url = format!("{}/control-room", platform.gateway_url);
    let identity = Identity::build(config).await.unwrap();
    let admin = identity
        .issuer
        .as_ref()
        .unwrap()
        .issue(&demo("demo-system-admin"), Duration::from_secs(600))
        .unwrap();
    tokio::spawn(identity.serve(listener, shutdown.clone()));
    (url, admin)
}

/// The value of cookie `name` that `response` sets.
fn cookie(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

/// Opens `/ws/control-room` with a session cookie.
async fn connect(gateway_url: &str, session: &str) -> Result<Socket, u16> {
    let url = format!("{}/ws/control-room", gateway_url.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", session.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("websocket connection failed: {other}"),
    }
}

/// The next message that is not a heartbeat, or the close code.
async fn next(socket: &mut Socket) -> Result<Value, Option<u16>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("nothing from the gateway within 10 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] != "heartbeat" {
                    return Ok(value);
                }
            }
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_sees_the_control_room_until_it_is_revoked() {
    let platform = Platform::start().await;
    let shutdown = CancellationToken::new();
    let (identity_url, admin) = start_identity(&platform, &shutdown).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // The administrator registers the screen and gets its setup link.
    let issued = http
        .post(format!("{identity_url}/api/v1/access/kiosks"))
        .bearer_auth(&admin)
        .json(&json!({ "kiosk_id": "control-room-wall-1", "name": "Control room wall 1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), 201);
    let issued: Value = issued.json().await.unwrap();
    let link = issued["link"].as_str().unwrap().to_owned();

    // On the screen: the confirm page, then its Continue button.
    let page = http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csrf = cookie(&page, "pf_csrf");
    let used = http
        .post(&link)
        .header(COOKIE, format!("pf_csrf={csrf}"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), 303);
    let control_room = format!("{}/control-room", platform.gateway_url);
    assert_eq!(used.headers()[LOCATION], control_room.as_str());
    let session = format!("pf_session={}", cookie(&used, "pf_session"));

    let page_status = || async {
        let response = http
            .get(&control_room)
            .header(COOKIE, &session)
            .send()
            .await
            .unwrap();
        let location = response
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        (response.status().as_u16(), location)
    };
    assert_eq!(
        page_status().await.0,
        200,
        "the kiosk sees the control room"
    );
    let mut live = connect(&platform.gateway_url, &session).await.unwrap();
    assert_eq!(next(&mut live).await.unwrap()["type"], "snapshot");

    // Nothing else opens for it: patients on the discharge list, care-home
    // forms, vacancy search, beds, write APIs, administration.
    let coordinator = platform.token_for(&demo("demo-discharge-coordinator"));
    let opened = http
        .post(format!("{}/api/v1/discharges", platform.discharges_url))
        .bearer_auth(&coordinator)
        .json(&json!({
            "nhs_number": NhsNumber::test_number(1).as_str(),
            "sex": "female",
            "site": "RWEAA",
            "ward": "WD15",
            "discharge_ready_date": "2026-11-27",
            "pathway": 3,
            "care_needed": "residential",
            "search_postcode": "LE2 7LX",
            "delay_reason": "awaiting_care_home_place"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 201);
    let patient: Value = opened.json().await.unwrap();
    let patient = patient["discharge_id"].as_str().unwrap().to_owned();
    platform.wait_until_projected().await;
    let discharges = format!("{}/api/v1/discharges", platform.discharges_url);
    let list: Value = http
        .get(&discharges)
        .bearer_auth(&coordinator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["patients"].as_array().unwrap().len(),
        1,
        "the coordinator sees the patient"
    );
    // A kiosk is refused both lists outright: no patient and no care home's
    // record reaches it.
    for url in [
        discharges,
        format!("{}/api/v1/care-homes", platform.care_homes_url),
    ] {
        let answer = http
            .get(&url)
            .header(COOKIE, &session)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 403, "{url}");
        let body: Value = answer.json().await.unwrap();
        assert!(body.get("patients").is_none() && body.get("homes").is_none());
    }
    let refused = [
        (
            http.get(format!(
                "{}/api/v1/discharges/{patient}",
                platform.discharges_url
            )),
            "a patient",
        ),
        (
            http.post(format!(
                "{}/api/v1/discharges/{patient}/cancel",
                platform.discharges_url
            ))
            .json(&json!({})),
            "cancelling a discharge",
        ),
        (
            http.get(format!(
                "{}/care-homes/1-000000001",
                platform.care_homes_url
            )),
            "a care-home form",
        ),
        (
            http.put(format!(
                "{}/api/v1/care-homes/1-000000001/vacancies",
                platform.care_homes_url
            ))
            .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
            .json(&json!({ "vacancies": { "residential": { "vacant": 9 } } })),
            "changing vacancies",
        ),
        (
            http.post(format!(
                "{}/api/v1/beds/RWEAA/WD15/B01/open",
                platform.beds_url
            ))
            .json(&json!({})),
            "opening a bed",
        ),
        (
            http.get(format!("{identity_url}/api/v1/access/kiosks")),
            "the kiosk list",
        ),
    ];
    for (request, what) in refused {
        let response = request.header(COOKIE, &session).send().await.unwrap();
        let status = response.status().as_u16();
        assert!(
            matches!(status, 401 | 403 | 404),
            "{what} must be refused to a kiosk, got {status}: {}",
            response.text().await.unwrap_or_default()
        );
    }

    // Revoked by its kiosk id: the open feed closes at the next access
    // check (heartbeat 1 s here) and the page sends it to sign in.
    let revoked = http
        .post(format!("{identity_url}/api/v1/access/revoke"))
        .bearer_auth(&admin)
        .json(&json!({ "kiosk_id": "control-room-wall-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let revoked: Value = revoked.json().await.unwrap();
    assert_eq!(revoked["sessions_ended"], 1);
    let closed = loop {
        match next(&mut live).await {
            Ok(_) => continue,
            Err(code) => break code,
        }
    };
    assert_eq!(closed, Some(4401), "closed as signed out");
    let (status, location) = page_status().await;
    assert_eq!(status, 303, "sent to sign in");
    assert!(
        location.as_deref().unwrap_or_default().contains("/sign-in"),
        "{location:?}"
    );
    assert_eq!(
        connect(&platform.gateway_url, &session).await.err(),
        Some(401)
    );
    shutdown.cancel();
}

/// Writes the Redis users `scripts/start` configures (`scripts/redis-users.sh`).
fn write_acl(path: &Path) {
    let var = path.parent().unwrap();
    std::fs::create_dir_all(var.join("secrets")).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new("bash")
        .arg("-c")
        .arg(r#". scripts/redis-users.sh && write_redis_acl "$1""#)
        .arg("bash")
        .arg(path)
        .current_dir(repo)
        .env("VAR", var)
        .status()
        .unwrap();
    assert!(status.success(), "scripts/redis-users.sh failed");
}

/// The sign-in store as a service's Redis user.
async fn store_as(server: &RedisServer, user: &str) -> SignInStore {
    let password =
        std::fs::read_to_string(server.dir().join("secrets").join(format!("redis-{user}")))
            .unwrap();
    let url = server
        .url()
        .replace("redis://", &format!("redis://{user}:{}@", password.trim()));
    SignInStore::connect(&url, "pf-auth:", SessionPolicy::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_services_redis_users_may_set_up_read_and_revoke_a_kiosk() {
    let server = RedisServer::start_with_acl(write_acl);
    let identity = store_as(&server, "identity").await;
    let kiosk = Kiosk::new("wall-1", "Control room wall 1", "demo-system-admin");
    assert!(identity.register_kiosk(&kiosk).await.unwrap());
    assert!(!identity.register_kiosk(&kiosk).await.unwrap());
    let principal = kiosk.principal().unwrap();
    let link = identity
        .create_link_for(LinkPurpose::KioskSetup, &principal)
        .await
        .unwrap();
    assert_eq!(
        identity
            .redeem_link_for(LinkPurpose::KioskSetup, &link)
            .await
            .unwrap(),
        Some(principal.clone())
    );
    identity.kiosk_set_up("wall-1").await.unwrap();
    let lifetime = SessionLifetime::fixed(Duration::from_secs(90 * 24 * 60 * 60));
    let session = identity
        .create_long_session(&principal, lifetime)
        .await
        .unwrap();

    // Every service that checks sessions reads (and renews) the kiosk's.
    let readers = ["gateway", "care-homes", "discharges", "hospital-beds"];
    for user in readers {
        let store = store_as(&server, user).await;
        let read = store.session(&session.id).await;
        assert!(
            matches!(&read, Ok(Some(s)) if s.principal == principal),
            "{user}: {read:?}"
        );
        assert!(!store.is_revoked(&principal.id).await.unwrap(), "{user}");
    }
    let listed = identity.kiosks().await.unwrap();
    assert!(listed[0].set_up_at.is_some());
    assert!(identity.last_used(&principal.id).await.unwrap().is_some());

    assert_eq!(identity.revoke(&principal.id).await.unwrap(), 1);
    assert!(identity.revoke_kiosk("wall-1").await.unwrap());
    for user in readers {
        let store = store_as(&server, user).await;
        assert_eq!(store.session(&session.id).await.unwrap(), None, "{user}");
        assert!(store.is_revoked(&principal.id).await.unwrap(), "{user}");
    }
}
