//! Alert thresholds set as configuration: G&A occupancy of a site and of
//! the system above a set %, and more care homes than a set count with
//! stale figures. Each alert is raised once while its condition holds (a
//! new pressure copy included), cleared when it ends, and reaches NATS, the
//! signed webhook and the wall. Real hospital-beds, care-homes, projection,
//! gateway and pressure, NATS and Redis; pressure's clock is moved by the
//! test.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use futures::StreamExt as _;
use hmac::{KeyInit as _, Mac as _};
use pf_access::{Grant, Principal, Role};
use pf_integration_tests::Platform;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "a-webhook-secret-for-tests-only";
const SITE: &str = "RWEAA";

/// What the webhook accepted, signature checked.
#[derive(Clone, Default)]
struct Hook {
    received: Arc<Mutex<Vec<Value>>>,
}

async fn hook(
    axum::extract::State(hook): axum::extract::State<Hook>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let signature = headers
        .get("pf-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .unwrap_or_default()
        .to_owned();
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

async fn start_hook() -> (Hook, String) {
    let received = Hook::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (received, url)
}

/// A pressure copy with the given rules, until `shutdown`.
struct Copy {
    url: String,
}

async fn start_copy(
    platform: &Platform,
    rules: pf_pressure::engine::AlertRules,
    hook_url: &str,
    clock: &pf_care_home_log::ManualClock,
    shutdown: CancellationToken,
) -> Copy {
    let sign_in =
        pf_sign_in::SignInSettings::local(platform.issuer.issuer_config(), &platform.redis.url());
    let mut config =
        pf_pressure::PressureConfig::local(&platform.nats.url(), &platform.redis.url(), sign_in);
    config.alert_rules = rules;
    config.webhook = Some(pf_pressure::WebhookConfig {
        url: hook_url.to_owned(),
        secret: SECRET.as_bytes().to_vec(),
        attempts: 4,
        backoff: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let catalogue =
        pf_hospital_model::Catalogue::from_json(pf_integration_tests::TEST_CATALOGUE).unwrap();
    tokio::spawn(pf_pressure::run(
        listener,
        config,
        catalogue,
        Arc::new(clock.clone()),
        shutdown,
    ));
    let copy = Copy { url };
    copy.caught_up(platform).await;
    copy
}

impl Copy {
    /// Waits until the copy has computed from every change projected so far
    /// (and from the time its clock says now).
    async fn caught_up(&self, platform: &Platform) {
        platform.wait_until_projected().await;
        let version = platform.live_state("pf:").await.version().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let board: Option<Value> = match platform
                .http
                .get(format!("{}/api/v1/opel", self.url))
                .bearer_auth(&platform.viewer_token)
                .send()
                .await
            {
                Ok(response) if response.status().is_success() => response.json().await.ok(),
                _ => None,
            };
            if board
                .as_ref()
                .and_then(|b| b["version"].as_u64())
                .is_some_and(|v| v >= version)
            {
                // One more round, so a step taken at the clock's new time
                // (the interval is 200 ms) is in.
                tokio::time::sleep(Duration::from_millis(600)).await;
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pressure did not catch up: {board:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Every alert of `kind` in `PF_ALERTS`, oldest first.
async fn stored(platform: &Platform, kind: &str) -> Vec<Value> {
    let js = platform.jetstream().await;
    let stream = js.get_stream("PF_ALERTS").await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: format!("pf.alerts.{kind}"),
            ..Default::default()
        })
        .await
        .unwrap();
    let pending = consumer.clone().info().await.unwrap().num_pending;
    let mut alerts = Vec::new();
    if pending == 0 {
        return alerts;
    }
    let mut messages = consumer
        .fetch()
        .max_messages(pending as usize)
        .messages()
        .await
        .unwrap();
    while let Some(message) = messages.next().await {
        alerts.push(serde_json::from_slice(&message.unwrap().payload).unwrap());
    }
    alerts
}

/// Waits for the stored alerts of `kind` about `scope` to number `n`, and
/// answers them.
async fn wait_for(platform: &Platform, kind: &str, scope: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let alerts: Vec<Value> = stored(platform, kind)
            .await
            .into_iter()
            .filter(|a| a["scope"] == scope)
            .collect();
        if alerts.len() >= n {
            assert_eq!(
                alerts.len(),
                n,
                "more {kind} alerts than expected: {alerts:?}"
            );
            return alerts;
        }
        assert!(
            Instant::now() < deadline,
            "{n} {kind} alerts about {scope} expected: {alerts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the webhook has received the alert `id`.
async fn webhook_got(hook: &Hook, id: &Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !hook
        .received
        .lock()
        .unwrap()
        .iter()
        .any(|a| a["alert_id"] == *id)
    {
        assert!(Instant::now() < deadline, "the webhook never got {id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the wall's alerts (the gateway's OPEL board) list `id`.
async fn wall_shows(platform: &Platform, id: &Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let board = platform.opel_board().await;
        if let Some(alert) = board["alerts"]
            .as_array()
            .and_then(|alerts| alerts.iter().find(|a| a["alert_id"] == *id))
        {
            return alert.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the wall never showed {id}: {board}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn set(platform: &Platform, n: u32, state: &str) {
    let (status, body) = platform
        .set_state(&format!("{SITE}/WD15/B{n:02}"), state)
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ga_occupancy_over_the_set_percentage_is_raised_once_and_cleared_for_site_and_system() {
    let platform = Platform::start().await;
    let (hook, hook_url) = start_hook().await;
    // 20 G&A beds at the Royal Infirmary (the system's only G&A beds), 15
    // occupied: 75 %.
    for n in 1..=20 {
        platform.open_bed(&format!("{SITE}/WD15/B{n:02}")).await;
    }
    for n in 1..=15 {
        set(&platform, n, "occupied").await;
    }
    let rules = pf_pressure::engine::AlertRules {
        ga_occupancy_pct: 80.0,
        // Cleared below 74 %.
        occupancy_margin_pct: 6.0,
        ..Default::default()
    };
    let clock = pf_care_home_log::ManualClock::new(time::OffsetDateTime::now_utc());
    let copy = start_copy(
        &platform,
        rules,
        &hook_url,
        &clock,
        CancellationToken::new(),
    )
    .await;
    assert!(stored(&platform, "ga_occupancy_high").await.is_empty());

    // 16 of 20: 80 %, at the threshold: raised for the site and the system.
    set(&platform, 16, "occupied").await;
    let site = wait_for(&platform, "ga_occupancy_high", SITE, 1).await;
    let system = wait_for(&platform, "ga_occupancy_high", "system", 1).await;
    for alert in [&site[0], &system[0]] {
        assert_eq!(alert["severity"], "warning", "{alert}");
        assert_eq!(alert["details"]["occupancy_pct"], 80.0, "{alert}");
        assert_eq!(alert["details"]["threshold_pct"], 80.0, "{alert}");
        webhook_got(&hook, &alert["alert_id"]).await;
    }
    assert!(
        site[0]["title"]
            .as_str()
            .unwrap()
            .starts_with("Leicester Royal Infirmary: G&A occupancy 80%"),
        "{}",
        site[0]
    );
    let shown = wall_shows(&platform, &site[0]["alert_id"]).await;
    assert_eq!(shown["kind"], "ga_occupancy_high");

    // Higher, then back to the threshold, then below it but within the
    // margin (75 %): it still holds, so nothing more.
    set(&platform, 17, "occupied").await;
    set(&platform, 17, "awaiting_clean").await;
    set(&platform, 16, "awaiting_clean").await;
    copy.caught_up(&platform).await;
    wait_for(&platform, "ga_occupancy_high", SITE, 1).await;
    wait_for(&platform, "ga_occupancy_high", "system", 1).await;

    // 14 of 20 (70 %), clearly below: cleared, once, for both.
    set(&platform, 15, "awaiting_clean").await;
    let site = wait_for(&platform, "ga_occupancy_high", SITE, 2).await;
    let system = wait_for(&platform, "ga_occupancy_high", "system", 2).await;
    for alert in [&site[1], &system[1]] {
        assert_eq!(alert["severity"], "info", "{alert}");
        assert_eq!(alert["details"]["cleared"], true, "{alert}");
        assert_eq!(alert["details"]["occupancy_pct"], 70.0, "{alert}");
        webhook_got(&hook, &alert["alert_id"]).await;
    }
    wall_shows(&platform, &system[1]["alert_id"]).await;
    copy.caught_up(&platform).await;
    wait_for(&platform, "ga_occupancy_high", SITE, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_care_home_returns_over_the_set_count_are_raised_once_across_copies_and_cleared() {
    let platform = Platform::start().await;
    let (hook, hook_url) = start_hook().await;
    // The three registered homes have never given figures: all stale.
    let rules = pf_pressure::engine::AlertRules {
        stale_homes: 3,
        stale_return_hours: 24,
        ..Default::default()
    };
    let clock = pf_care_home_log::ManualClock::new(time::OffsetDateTime::now_utc());
    let first = CancellationToken::new();
    start_copy(&platform, rules, &hook_url, &clock, first.clone()).await;
    let raised = wait_for(&platform, "care_home_returns_stale", "system", 1).await;
    assert_eq!(raised[0]["severity"], "warning");
    assert_eq!(raised[0]["details"]["stale"], 3);
    assert_eq!(raised[0]["details"]["threshold"], 3);
    assert_eq!(raised[0]["details"]["older_than_hours"], 24);
    webhook_got(&hook, &raised[0]["alert_id"]).await;
    wall_shows(&platform, &raised[0]["alert_id"]).await;

    // Another copy takes over, knowing nothing of the first: the alert
    // still holds, so it is not raised again.
    first.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = start_copy(
        &platform,
        rules,
        &hook_url,
        &clock,
        CancellationToken::new(),
    )
    .await;
    wait_for(&platform, "care_home_returns_stale", "system", 1).await;

    // One home reports: two stale, below the threshold: cleared (by the
    // copy that never raised it).
    let editor = Principal::person("editor-1", "Editor One", None)
        .with_grant(Grant::parse(Role::CareHomeEditor, &["1-000000001"]).unwrap());
    let response = platform
        .http
        .put(format!(
            "{}/api/v1/care-homes/1-000000001/vacancies",
            platform.care_homes_url
        ))
        .bearer_auth(platform.token_for(&editor))
        .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
        .json(&json!({
            "vacancies": {
                "residential": { "vacant": 1, "unavailable": 0, "sex": "either" },
                "residential_dementia": { "vacant": 0, "sex": "female" }
            },
            "accepting_hospital_discharges": true,
            "note": ""
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let alerts = wait_for(&platform, "care_home_returns_stale", "system", 2).await;
    assert_eq!(alerts[1]["severity"], "info", "{}", alerts[1]);
    assert_eq!(alerts[1]["details"]["cleared"], true, "{}", alerts[1]);
    assert_eq!(alerts[1]["details"]["stale"], 2, "{}", alerts[1]);
    webhook_got(&hook, &alerts[1]["alert_id"]).await;

    // A day and more later its figures are stale again: raised again.
    clock.advance(time::Duration::hours(25));
    second.caught_up(&platform).await;
    let alerts = wait_for(&platform, "care_home_returns_stale", "system", 3).await;
    assert_eq!(alerts[2]["severity"], "warning", "{}", alerts[2]);
    assert_eq!(alerts[2]["details"]["stale"], 3, "{}", alerts[2]);
}
