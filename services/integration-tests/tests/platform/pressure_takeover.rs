//! Pressure handing over to another copy, as its standby does when the
//! active copy dies (`pf-lease`): the new copy starts with none of the old
//! one's memory, so it must resume what was already published — each
//! scope's level (from `PF_SYSTEM`) and the alerts already raised (from
//! `PF_ALERTS`) — and announce nothing a second time while the figures
//! stay where they were. Real hospital-beds, projection, NATS and Redis;
//! the two copies run one after the other in this process.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use pf_integration_tests::Platform;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const SITE: &str = "RWEAA";

/// Starts a copy of pressure until `shutdown`; answers its base URL once
/// it has computed from every change projected so far.
async fn start_copy(platform: &Platform, shutdown: CancellationToken) -> String {
    let sign_in =
        pf_sign_in::SignInSettings::local(platform.issuer.issuer_config(), &platform.redis.url());
    let config =
        pf_pressure::PressureConfig::local(&platform.nats.url(), &platform.redis.url(), sign_in);
    let clock = pf_care_home_log::ManualClock::new(time::OffsetDateTime::now_utc());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let catalogue =
        pf_hospital_model::Catalogue::from_json(pf_integration_tests::TEST_CATALOGUE).unwrap();
    tokio::spawn(pf_pressure::run(
        listener,
        config,
        catalogue,
        Arc::new(clock),
        shutdown,
    ));
    platform.wait_until_projected().await;
    let version = platform.live_state("pf:").await.version().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let board: Option<Value> = match platform
            .http
            .get(format!("{url}/api/v1/opel"))
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
            return url;
        }
        assert!(
            Instant::now() < deadline,
            "pressure did not catch up: {board:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every alert in `PF_ALERTS`, oldest first.
async fn stored_alerts(platform: &Platform) -> Vec<Value> {
    let js = platform.jetstream().await;
    let mut stream = js.get_stream("PF_ALERTS").await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut alerts = Vec::new();
    if last == 0 {
        return alerts;
    }
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    while let Some(message) = messages.next().await {
        let message = message.unwrap();
        alerts.push(serde_json::from_slice(&message.payload).unwrap());
        if message.info().unwrap().stream_sequence >= last {
            break;
        }
    }
    alerts
}

/// The alerts of `kind` about the site.
fn of_kind<'a>(alerts: &'a [Value], kind: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|a| a["kind"] == kind && a["scope"] == SITE)
        .collect()
}

/// How many OPEL level changes of the site are in `PF_SYSTEM`.
async fn level_changes(platform: &Platform) -> u64 {
    let js = platform.jetstream().await;
    let stream = js.get_stream("PF_SYSTEM").await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: format!("pf.system.opel.{SITE}"),
            ..Default::default()
        })
        .await
        .unwrap();
    consumer.clone().info().await.unwrap().num_pending
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_pressure_copy_raises_no_alert_and_no_level_change_a_second_time() {
    let platform = Platform::start().await;
    // 20 G&A beds at the Royal Infirmary, 19 occupied: 95 %, above
    // occupancy thresholds and at a raised OPEL level.
    for n in 1..=20 {
        platform.open_bed(&format!("{SITE}/WD15/B{n:02}")).await;
    }
    for n in 1..=19 {
        let (status, body) = platform
            .set_state(&format!("{SITE}/WD15/B{n:02}"), "occupied")
            .await;
        assert_eq!(status, 200, "{body}");
    }

    let first = CancellationToken::new();
    start_copy(&platform, first.clone()).await;
    let alerts = stored_alerts(&platform).await;
    let occupancy_before = of_kind(&alerts, "occupancy_threshold").len();
    let level_alerts_before = of_kind(&alerts, "opel_level_changed").len();
    let changes_before = level_changes(&platform).await;
    assert!(occupancy_before > 0, "no occupancy alert: {alerts:?}");
    assert!(level_alerts_before > 0, "no level alert: {alerts:?}");
    assert!(changes_before > 0, "no level change published");

    // The active copy is gone; another takes over, knowing nothing of it.
    first.cancel();
    let second = CancellationToken::new();
    // Once it answers, it has computed from the same live state.
    start_copy(&platform, second.clone()).await;
    second.cancel();

    let alerts = stored_alerts(&platform).await;
    assert_eq!(
        of_kind(&alerts, "occupancy_threshold").len(),
        occupancy_before,
        "an occupancy threshold was alerted again after the takeover: {:?}",
        of_kind(&alerts, "occupancy_threshold")
    );
    assert_eq!(
        of_kind(&alerts, "opel_level_changed").len(),
        level_alerts_before,
        "a level change was alerted again after the takeover"
    );
    assert_eq!(
        level_changes(&platform).await,
        changes_before,
        "a level change was published again after the takeover"
    );
}
