//! OPEL computed live: bed and discharge events drive a site across the
//! thresholds; the level, the `system.opel_level_changed` event, the alert
//! on NATS and the signed webhook follow, and a value hovering at a
//! threshold does not make the level flap. Real hospital-beds, discharges,
//! projection and pressure services, NATS and Redis; the pressure service's
//! clock is moved by the test.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use futures::StreamExt as _;
use hmac::{KeyInit as _, Mac as _};
use pf_access::{Grant, Principal, Role};
use pf_discharge_model::NhsNumber;
use pf_integration_tests::Platform;
use pf_proto::v1::{EventEnvelope, event_envelope::Payload};
use serde_json::{Value, json};

const SECRET: &str = "a-webhook-secret-for-tests-only";
const SITE: &str = "RWEAA";

/// The webhook test server: what it accepted, after refusing the first try.
#[derive(Clone, Default)]
struct Hook {
    received: Arc<Mutex<Vec<Value>>>,
    attempts: Arc<Mutex<u32>>,
}

async fn hook(
    axum::extract::State(hook): axum::extract::State<Hook>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let attempt = {
        let mut attempts = hook.attempts.lock().unwrap();
        *attempts += 1;
        *attempts
    };
    if attempt == 1 {
        // The first delivery fails: the sender must retry.
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    assert!(headers.get("pf-timestamp").is_some(), "timestamp header");
    let signature = headers
        .get("pf-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .expect("signature header");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if signature != expected {
        return StatusCode::UNAUTHORIZED;
    }
    hook.received
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    StatusCode::NO_CONTENT
}

struct Pressure {
    url: String,
    clock: pf_care_home_log::ManualClock,
}

/// Why the Royal Infirmary is at OPEL 3 with every G&A bed occupied.
const REASON: &str = "G&A occupancy 100% (≥ 98%)";

async fn start_pressure(platform: &Platform, hook_url: String) -> Pressure {
    // A configuration file (PF_OPEL_CONFIG) with a 10-minute dwell.
    let mut opel: Value = serde_json::from_str(pf_opel::LLR_DEFAULTS).unwrap();
    opel["hysteresis"]["min_dwell_secs"] = json!(600);
    let path = std::env::temp_dir().join(format!("pf-opel-test-{}.json", uuid::Uuid::now_v7()));
    std::fs::write(&path, opel.to_string()).unwrap();

    let sign_in =
        pf_sign_in::SignInSettings::local(platform.issuer.issuer_config(), &platform.redis.url());
    let mut config =
        pf_pressure::PressureConfig::local(&platform.nats.url(), &platform.redis.url(), sign_in);
    config.opel_config = Some(path);
    config.alert_rules.nctr_surge = 3;
    config.webhook = Some(pf_pressure::WebhookConfig {
        url: hook_url,
        secret: SECRET.as_bytes().to_vec(),
        attempts: 4,
        backoff: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
    });
    let clock = pf_care_home_log::ManualClock::new(time::OffsetDateTime::now_utc());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let catalogue =
        pf_hospital_model::Catalogue::from_json(pf_integration_tests::TEST_CATALOGUE).unwrap();
    tokio::spawn(pf_pressure::run(
        listener,
        config,
        catalogue,
        Arc::new(clock.clone()),
        tokio_util::sync::CancellationToken::new(),
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = platform.http.get(format!("{url}/readyz")).send().await
            && response.status().is_success()
        {
            break;
        }
        assert!(Instant::now() < deadline, "pressure did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Pressure { url, clock }
}

impl Pressure {
    async fn board(&self, platform: &Platform) -> Value {
        platform
            .http
            .get(format!("{}/api/v1/opel", self.url))
            .bearer_auth(&platform.viewer_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until the service has computed from every change projected so far.
    async fn caught_up(&self, platform: &Platform) -> Value {
        platform.wait_until_projected().await;
        let version = platform.live_state("pf:").await.version().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let board = self.board(platform).await;
            if board["version"].as_u64().unwrap() >= version {
                return board;
            }
            assert!(Instant::now() < deadline, "pressure stuck: {board}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_for_level(&self, platform: &Platform, scope: &str, level: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let board = self.caught_up(platform).await;
            if level_of(&board, scope) == Some(level) {
                return board;
            }
            assert!(
                Instant::now() < deadline,
                "{scope} never reached OPEL {level}: {board}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn level_of(board: &Value, scope: &str) -> Option<u64> {
    board["scopes"]
        .as_array()?
        .iter()
        .find(|s| s["scope"] == scope)?["level"]
        .as_u64()
}

/// The OPEL-level-changed events of `scope` in PF_SYSTEM, oldest first.
async fn level_events(platform: &Platform, scope: &str) -> Vec<pf_proto::v1::OpelLevelChanged> {
    let js = platform.jetstream().await;
    let stream = js.get_stream("PF_SYSTEM").await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: format!("pf.system.opel.{scope}"),
            ..Default::default()
        })
        .await
        .unwrap();
    let pending = consumer.clone().info().await.unwrap().num_pending;
    let mut events = Vec::new();
    if pending == 0 {
        return events;
    }
    let mut messages = consumer
        .fetch()
        .max_messages(pending as usize)
        .messages()
        .await
        .unwrap();
    while let Some(message) = messages.next().await {
        let message = message.unwrap();
        let envelope = EventEnvelope::decode_checked(&message.payload).unwrap();
        assert_eq!(envelope.event_type, "system.opel_level_changed");
        let Some(Payload::OpelLevelChanged(changed)) = envelope.payload else {
            panic!("not an OPEL level change");
        };
        events.push(changed);
    }
    events
}

fn levels(events: &[pf_proto::v1::OpelLevelChanged]) -> Vec<(u32, u32)> {
    events.iter().map(|e| (e.from_level, e.to_level)).collect()
}

fn parameter(event: &pf_proto::v1::OpelLevelChanged, name: &str) -> f64 {
    event
        .parameters
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no {name} in {event:?}"))
        .value
}

async fn next_alert(
    alerts: &mut async_nats::Subscriber,
    want: impl Fn(&Value) -> bool,
) -> (String, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let message = tokio::time::timeout_at(deadline, alerts.next())
            .await
            .expect("alert in time")
            .expect("subscription open");
        let alert: Value = serde_json::from_slice(&message.payload).unwrap();
        if want(&alert) {
            return (message.subject.to_string(), alert);
        }
    }
}

async fn occupy(platform: &Platform, n: u32) {
    let (status, body) = platform
        .set_state(&format!("{SITE}/WD15/B{n:02}"), "occupied")
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The patient leaves: the bed awaits cleaning (still in the bed base).
async fn free(platform: &Platform, n: u32) {
    let (status, body) = platform
        .set_state(&format!("{SITE}/WD15/B{n:02}"), "awaiting_clean")
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The bed is cleaned and the next patient takes it.
async fn reoccupy(platform: &Platform, n: u32) {
    let (status, body) = platform
        .set_state(&format!("{SITE}/WD15/B{n:02}"), "available")
        .await;
    assert_eq!(status, 200, "{body}");
    occupy(platform, n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_across_opel_thresholds_change_the_level_emit_the_event_and_alert_without_flapping()
 {
    let platform = Platform::start().await;

    // The webhook receiver.
    let received = Hook::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(received.clone());
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", hook_listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(hook_listener, app).await });

    // Another system listening to the alerts.
    let nats = async_nats::connect(platform.nats.url()).await.unwrap();
    let mut alerts = nats.subscribe("pf.alerts.>").await.unwrap();

    // 20 G&A beds at the Royal Infirmary, 18 occupied: 90 %, OPEL 1.
    for n in 1..=20 {
        platform.open_bed(&format!("{SITE}/WD15/B{n:02}")).await;
    }
    for n in 1..=18 {
        occupy(&platform, n).await;
    }
    let pressure = start_pressure(&platform, hook_url).await;
    let board = pressure.wait_for_level(&platform, SITE, 1).await;
    assert_eq!(level_of(&board, "system"), Some(1), "{board}");

    // 19 of 20 (95 %): OPEL 2; 20 of 20: OPEL 3, at once.
    occupy(&platform, 19).await;
    pressure.wait_for_level(&platform, SITE, 2).await;
    occupy(&platform, 20).await;
    let board = pressure.wait_for_level(&platform, SITE, 3).await;
    let site = board["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scope"] == SITE)
        .unwrap();
    assert_eq!(site["words"], "Severe pressure");
    assert_eq!(site["parameters"]["ga_occupancy_pct"], 100.0);
    // Why: the parameter that drives it, with the threshold it reached.
    assert_eq!(site["reason"], REASON, "{site}");
    assert_eq!(site["drivers"][0]["parameter"], "ga_occupancy_pct");
    assert_eq!(site["drivers"][0]["threshold"], 98.0);

    let events = level_events(&platform, SITE).await;
    assert_eq!(levels(&events), vec![(0, 1), (1, 2), (2, 3)]);
    let rise = events.last().unwrap();
    assert_eq!(parameter(rise, "ga_occupancy_pct"), 100.0);
    assert_eq!(parameter(rise, "nctr_share_pct"), 0.0);
    assert_eq!(rise.score, 2.5);
    assert_eq!(rise.words, "Severe pressure");
    assert_eq!(rise.reason, REASON);
    assert_eq!(rise.drivers, vec!["ga_occupancy_pct".to_owned()]);

    // The alerts on NATS.
    let (subject, alert) = next_alert(&mut alerts, |a| {
        a["kind"] == "opel_level_changed" && a["scope"] == SITE && a["details"]["to_level"] == 3
    })
    .await;
    assert_eq!(subject, "pf.alerts.opel_level_changed");
    assert_eq!(alert["severity"], "warning");
    assert!(
        alert["title"]
            .as_str()
            .unwrap()
            .contains("OPEL 3 (Severe pressure)"),
        "{alert}"
    );
    assert_eq!(alert["details"]["parameters"]["ga_occupancy_pct"], 100.0);
    assert_eq!(alert["details"]["reason"], REASON, "{alert}");
    assert!(
        alert["title"].as_str().unwrap().ends_with(REASON),
        "the alert says why: {alert}"
    );
    let (subject, occupancy) = next_alert(&mut alerts, |a| {
        a["kind"] == "occupancy_threshold" && a["details"]["threshold_pct"] == 98.0
    })
    .await;
    assert_eq!(subject, "pf.alerts.occupancy_threshold");
    assert_eq!(occupancy["scope"], SITE);

    // The webhook got it, signed (after a refused first try).
    let deadline = Instant::now() + Duration::from_secs(15);
    let delivered = loop {
        let found = received
            .received
            .lock()
            .unwrap()
            .iter()
            .find(|a| a["alert_id"] == alert["alert_id"])
            .cloned();
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "webhook never received {alert}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(delivered, alert);
    assert!(*received.attempts.lock().unwrap() >= 2);

    // The wall: the banner with the alert and its time, and the level as number and words.
    let deadline = Instant::now() + Duration::from_secs(15);
    let page = loop {
        let page = platform
            .http
            .get(format!("{}/control-room", platform.gateway_url))
            .bearer_auth(&platform.viewer_token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if page.contains(&format!(
            r#"data-alert-id="{}""#,
            alert["alert_id"].as_str().unwrap()
        )) {
            break page;
        }
        assert!(Instant::now() < deadline, "no banner on the wall: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(page.contains(r#"id="pf-alerts""#), "banner");
    assert!(page.contains(r#"role="alert""#), "announced");
    assert!(
        page.contains("Leicester Royal Infirmary: OPEL 3 (Severe pressure)"),
        "the alert's title"
    );
    assert!(
        page.contains(r#"<p class="pf-opel pf-opel--3" data-opel="RWEAA"><span class="pf-opel__name">OPEL <span class="pf-opel__level" data-opel-field="level">3</span></span> <span class="pf-opel__words" data-opel-field="words">Severe pressure</span> <span class="pf-opel__reason" data-opel-field="reason">G&amp;A occupancy 100% (≥ 98%)</span></p>"#),
        "the site's level in number and words"
    );
    assert!(page.contains(
        r#"data-opel="system"><span class="pf-opel__name">OPEL <span class="pf-opel__level" data-opel-field="level">3</span>"#
    ));
    // An open wall hears of it over its websocket (no polling).
    let mut live = pf_integration_tests::ControlRoomClient::connect(&platform, None).await;
    let opel = live.next_of(&["opel"]).await;
    assert_eq!(opel["levels"][SITE]["level"], 3, "{opel}");
    assert_eq!(opel["levels"][SITE]["words"], "Severe pressure");
    assert_eq!(opel["levels"][SITE]["reason"], REASON);
    assert!(
        opel["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["alert_id"] == alert["alert_id"]),
        "the alert is in the websocket's opel message: {opel}"
    );
    live.close().await;
    let wall: Value = platform.opel_board().await;
    assert_eq!(wall["levels"][SITE]["level"], 3, "{wall}");
    assert_eq!(wall["levels"][SITE]["words"], "Severe pressure");
    let anonymous = platform
        .http
        .get(format!("{}/api/v1/opel", platform.gateway_url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);

    // Hovering between 95 % and 100 % for an hour, a few minutes at a time
    // below: the level stays at 3 and nothing new is published.
    for _ in 0..6 {
        free(&platform, 20).await;
        pressure.caught_up(&platform).await;
        pressure.clock.advance(time::Duration::minutes(4));
        tokio::time::sleep(Duration::from_millis(400)).await; // a few recomputations
        reoccupy(&platform, 20).await;
        pressure.caught_up(&platform).await;
        pressure.clock.advance(time::Duration::minutes(6));
    }
    let board = pressure.caught_up(&platform).await;
    assert_eq!(level_of(&board, SITE), Some(3));
    assert_eq!(
        levels(&level_events(&platform, SITE).await),
        vec![(0, 1), (1, 2), (2, 3)],
        "hovering made the level flap"
    );
    let occupancy_alerts = board["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "occupancy_threshold" && a["scope"] == SITE)
        .count();
    assert_eq!(occupancy_alerts, 2, "95 % and 98 %, once each: {board}");

    // Below for longer than the dwell: it falls to OPEL 2.
    free(&platform, 20).await;
    pressure.caught_up(&platform).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    pressure.clock.advance(time::Duration::minutes(9));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(level_of(&pressure.board(&platform).await, SITE), Some(3));
    pressure.clock.advance(time::Duration::minutes(2));
    pressure.wait_for_level(&platform, SITE, 2).await;
    let events = level_events(&platform, SITE).await;
    assert_eq!(levels(&events), vec![(0, 1), (1, 2), (2, 3), (3, 2)]);

    // Patients with no criteria to reside: 3 of 19 occupied beds (15.8 %)
    // scores NCTR 3, the site goes back to OPEL 3, and the surge is alerted.
    let coordinator = Principal::person("idt-1", "Coordinator idt-1", None)
        .with_grant(Grant::parse(Role::DischargeCoordinator, &["RWE"]).unwrap());
    let token = platform.token_for(&coordinator);
    for n in 0..3 {
        let response = platform
            .http
            .post(format!("{}/api/v1/discharges", platform.discharges_url))
            .bearer_auth(&token)
            .json(&json!({
                "nhs_number": NhsNumber::test_number(n).as_str(),
                "sex": "female",
                "site": SITE,
                "ward": "WD15",
                "discharge_ready_date": "2026-11-27",
                "pathway": 3,
                "care_needed": "residential",
                "search_postcode": "LE2 7LX",
                "delay_reason": "awaiting_care_home_place",
                "needs": "Walks with a frame"
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
    }
    pressure.wait_for_level(&platform, SITE, 3).await;
    let events = level_events(&platform, SITE).await;
    let nctr = events.last().unwrap();
    assert_eq!((nctr.from_level, nctr.to_level), (2, 3));
    assert_eq!(parameter(nctr, "nctr_share_pct"), 15.8);
    assert_eq!(parameter(nctr, "ga_occupancy_pct"), 95.0);
    let (subject, surge) = next_alert(&mut alerts, |a| a["kind"] == "nctr_surge").await;
    assert_eq!(subject, "pf.alerts.nctr_surge");
    assert_eq!(surge["details"]["waiting"], 3);
}

/// Pressure's own `/api/v1/opel` answers only those who may see the control
/// room (control-room viewers, discharge coordinators, administrators), by
/// token or session, like the gateway's; anyone else gets 401 or 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pressures_opel_board_is_for_signed_in_control_room_readers() {
    let platform = Platform::start().await;
    let pressure = start_pressure(&platform, "http://127.0.0.1:9/hook".to_owned()).await;
    let url = format!("{}/api/v1/opel", pressure.url);
    let status = |request: reqwest::RequestBuilder| async move {
        request.send().await.unwrap().status().as_u16()
    };
    assert_eq!(status(platform.http.get(&url)).await, 401, "no identity");
    let editor = platform.token_for(&pf_integration_tests::demo("demo-care-home-editor"));
    assert_eq!(
        status(platform.http.get(&url).bearer_auth(editor)).await,
        403
    );
    let publisher = platform.token_for(
        &Principal::machine("bed-feed", "Bed feed", None)
            .with_grant(Grant::parse(Role::BedPublisher, &["RWE"]).unwrap()),
    );
    assert_eq!(
        status(platform.http.get(&url).bearer_auth(publisher)).await,
        403
    );
    for reader in [
        "demo-control-room",
        "demo-discharge-coordinator",
        "demo-system-admin",
    ] {
        let token = platform.token_for(&pf_integration_tests::demo(reader));
        assert_eq!(
            status(platform.http.get(&url).bearer_auth(token)).await,
            200,
            "{reader}"
        );
    }
    let session = platform
        .sign_in_store()
        .await
        .create_session(&pf_integration_tests::demo("demo-control-room"))
        .await
        .unwrap();
    let cookie = format!("pf_session={}", session.id);
    let board: Value = platform
        .http
        .get(&url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(board["scopes"].is_array(), "{board}");
}
