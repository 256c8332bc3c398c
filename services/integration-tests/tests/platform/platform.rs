//! The platform end to end: real nats-server (JetStream), redis-server,
//! hospital-beds, projection and gateway.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::collections::BTreeSet;

use pf_event_log::streams::{BEDS, DEAD_LETTERS, bed_subject};
use pf_integration_tests::{ControlRoomClient, Platform, site};
use pf_proto::NewEvent;
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{Actor, BedRef, BedStateChanged, Source};
use serde_json::json;

const BED: &str = "RWEAA/WD15/B01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bed_change_reaches_redis_and_a_websocket_client() {
    let platform = Platform::start().await;
    let mut client = ControlRoomClient::connect(&platform, None).await;
    let snapshot = client.next().await;
    assert_eq!(snapshot["type"], "snapshot");
    let lri = site(&snapshot, "RWEAA").expect("catalogue sites are listed before they have beds");
    assert_eq!(lri["name"], "Leicester Royal Infirmary");
    assert_eq!(lri["total"], 0);

    platform.open_bed(BED).await;
    let (status, body) = platform.set_state(BED, "occupied").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["entity_version"], 2);

    // The bed's record and every level of counters in Redis.
    platform.wait_for_version(2).await;
    let mut live = platform.live_state("pf:").await;
    let digest = live.digest().await.unwrap();
    let bed = &digest["bed:RWEAA:WD15:B01"];
    assert!(
        bed.contains("state=occupied") && bed.contains("version=2"),
        "{bed}"
    );
    for counters in ["ward:RWEAA:WD15", "site:RWEAA", "system"] {
        assert_eq!(digest[counters], "general_acute:occupied=1", "{counters}");
    }

    // The websocket client saw both changes as contiguous deltas.
    let mut at = snapshot["version"].as_u64().unwrap();
    while at < 2 {
        let delta = client.next().await;
        assert_eq!(delta["type"], "delta");
        assert_eq!(delta["from_version"].as_u64(), Some(at), "no gap");
        at = delta["version"].as_u64().unwrap();
        if at == 2 {
            let lri = site(&delta, "RWEAA").expect("the changed site is in the delta");
            assert_eq!(lri["occupied"], 1);
            assert_eq!(lri["total"], 1);
            assert_eq!(lri["occupancy_pct"], 100.0);
            assert_eq!(delta["system"]["occupied"], 1);
        }
    }

    // Metrics say what happened.
    let beds_metrics = platform.metrics(&platform.beds_url).await;
    assert!(
        beds_metrics.contains(r#"pf_events_published_total{event_type="bed.state_changed"} 1"#),
        "{beds_metrics}"
    );
    let projection_metrics = platform.metrics(&platform.projection_url).await;
    assert!(
        projection_metrics
            .contains(r#"pf_events_applied_total{outcome="applied",stream="PF_BEDS"} 2"#),
        "{projection_metrics}"
    );
    let gateway_metrics = platform.metrics(&platform.gateway_url).await;
    assert!(
        gateway_metrics.contains("pf_ws_clients 1"),
        "{gateway_metrics}"
    );
}

fn bed_event(bed: &str, version: u64, previous: i32, state: i32) -> pf_proto::v1::EventEnvelope {
    NewEvent {
        source: Source {
            organisation: "RWEAA".into(),
            service: "test".into(),
        },
        entity_id: format!("bed/RWEAA/WD15/{bed}"),
        entity_version: version,
        occurred_at: None,
        actor: Actor::default(),
        payload: Payload::BedStateChanged(BedStateChanged {
            bed: Some(BedRef {
                site: "RWEAA".into(),
                ward: "WD15".into(),
                bed: bed.into(),
            }),
            kind: pf_proto::v1::BedKind::GeneralAcute as i32,
            escalation: false,
            previous_state: previous,
            state,
            reason: "test".into(),
        }),
    }
    .seal(time::OffsetDateTime::now_utc())
}

const AVAILABLE: i32 = pf_proto::v1::BedState::Available as i32;
const OCCUPIED: i32 = pf_proto::v1::BedState::Occupied as i32;
const AWAITING_CLEAN: i32 = pf_proto::v1::BedState::AwaitingClean as i32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_applied_once_and_late_versions_are_ignored() {
    let platform = Platform::start().await;
    platform.open_bed("RWEAA/WD15/B02").await;
    let js = platform.jetstream().await;
    let publisher = pf_event_log::EventPublisher::new(js.clone());
    let subject = bed_subject("RWEAA", "WD15", "B02");

    // The same event id twice: JetStream stores it once.
    let occupied = bed_event("B02", 2, AVAILABLE, OCCUPIED);
    let first = publisher
        .publish(subject.clone(), &occupied, None)
        .await
        .unwrap();
    let again = publisher
        .publish(subject.clone(), &occupied, None)
        .await
        .unwrap();
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(again.stream_sequence, first.stream_sequence);

    // The same event again past de-duplication (no message id): stored twice, applied once.
    js.publish(subject.clone(), occupied.to_bytes().into())
        .await
        .unwrap()
        .await
        .unwrap();
    // Version 4 arrives before version 3: 3 is older than what is applied and changes nothing.
    let v4 = bed_event("B02", 4, AWAITING_CLEAN, AVAILABLE);
    let v3 = bed_event("B02", 3, OCCUPIED, AWAITING_CLEAN);
    js.publish(subject.clone(), v4.to_bytes().into())
        .await
        .unwrap()
        .await
        .unwrap();
    js.publish(subject.clone(), v3.to_bytes().into())
        .await
        .unwrap()
        .await
        .unwrap();
    platform.wait_until_projected().await;

    let mut live = platform.live_state("pf:").await;
    let digest = live.digest().await.unwrap();
    let bed = &digest["bed:RWEAA:WD15:B02"];
    assert!(
        bed.contains("state=available") && bed.contains("version=4"),
        "{bed}"
    );
    assert_eq!(
        digest["site:RWEAA"], "general_acute:available=1",
        "one bed, counted once"
    );
    let metrics = platform.metrics(&platform.projection_url).await;
    // opened (1) + occupied (2) + v4 applied; the repeat of 2 and the late 3 were stale.
    assert!(
        metrics.contains(r#"pf_events_applied_total{outcome="applied",stream="PF_BEDS"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"pf_events_applied_total{outcome="stale",stream="PF_BEDS"} 2"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_reason_and_changes_nothing() {
    let platform = Platform::start().await;
    platform.open_bed(BED).await;
    let (status, _) = platform.set_state(BED, "occupied").await;
    assert_eq!(status, 200);
    platform.wait_until_projected().await;
    let mut live = platform.live_state("pf:").await;
    let before = live.digest().await.unwrap();
    let js = platform.jetstream().await;
    let last_sequence = js
        .get_stream(BEDS.name)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .last_sequence;

    let cases: Vec<(&str, serde_json::Value, u16, &str)> = vec![
        (
            "/api/v1/beds/XXXXX/WD15/B01/state",
            json!({"state": "available"}),
            404,
            "no site with code XXXXX",
        ),
        (
            "/api/v1/beds/RWEAA/WD99/B01/state",
            json!({"state": "available"}),
            404,
            "has no ward WD99",
        ),
        (
            "/api/v1/beds/RWEAA/WD15/B99/state",
            json!({"state": "available"}),
            404,
            "has no bed B99",
        ),
        (
            "/api/v1/beds/RWEAA/WD15/B01/state",
            json!({"state": "closed"}),
            409,
            "a bed that is occupied cannot become closed",
        ),
        (
            "/api/v1/beds/RWEAA/WD15/B01/state",
            json!({"state": "occupied"}),
            409,
            "already occupied",
        ),
        (
            "/api/v1/beds/RWEAA/WD15/B01/state",
            json!({"state": "asleep"}),
            422,
            "`asleep` is not a bed state",
        ),
        (
            "/api/v1/beds/RWEAA/WD15/B01/state",
            json!({"state": 7}),
            400,
            "request body is not valid",
        ),
        (
            "/api/v1/beds/RWEAA/WD15/B01/state",
            json!({"state": "available", "colour": "red"}),
            400,
            "unknown field",
        ),
        (
            "/api/v1/beds/RWEAA/WD15/B01/state",
            json!({"state": "available", "occurred_at": "yesterday"}),
            422,
            "not a date and time",
        ),
        (
            "/api/v1/beds/RWEAA/WD15/B01/open",
            json!({}),
            409,
            "already open",
        ),
        (
            "/api/v1/beds/RWEAA/WD15/B01/withdraw",
            json!({}),
            409,
            "cannot be withdrawn until the patient has left",
        ),
        (
            "/api/v1/beds/RWEAA/WD15/B02/state",
            json!({"state": "occupied"}),
            409,
            "is not open",
        ),
        (
            "/api/v1/beds/RWEAA/WD15/B01/state",
            json!({"state": "available", "reason": "x".repeat(501)}),
            422,
            "reason is too long",
        ),
    ];
    for (path, body, status, message) in cases {
        let (got, answer) = platform.post(path, body).await;
        assert_eq!(got, status, "{path}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(message),
            "{path}: expected `{message}` in `{error}`"
        );
    }
    // A body that is not JSON at all, and one too large.
    let response = platform
        .http
        .post(format!("{}/api/v1/beds/{BED}/state", platform.beds_url))
        .bearer_auth(&platform.publisher_token)
        .body("state=available")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let response = platform
        .http
        .post(format!("{}/api/v1/beds/{BED}/state", platform.beds_url))
        .bearer_auth(&platform.publisher_token)
        .body(vec![b' '; 64 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);

    // An unusable event sent straight to the stream is dead-lettered with its reason.
    let mut broken = bed_event("B01", 9, OCCUPIED, 0);
    broken.entity_id = "bed/RWEAA/WD15/B01".into();
    js.publish(
        bed_subject("RWEAA", "WD15", "B01"),
        broken.to_bytes().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    js.publish(bed_subject("RWEAA", "WD15", "B01"), "not an event".into())
        .await
        .unwrap()
        .await
        .unwrap();
    platform.wait_until_projected().await;
    let dead = js.get_stream(DEAD_LETTERS.name).await.unwrap();
    let mut reasons = BTreeSet::new();
    for sequence in 1..=2 {
        let letter = dead.get_raw_message(sequence).await.unwrap();
        let headers = letter.headers;
        reasons.insert(
            headers
                .get(pf_event_log::dead_letter::REASON_HEADER)
                .unwrap()
                .to_string(),
        );
        assert_eq!(
            headers
                .get(pf_event_log::dead_letter::ORIGINAL_SUBJECT_HEADER)
                .unwrap()
                .as_str(),
            "pf.beds.RWEAA.WD15.B01"
        );
    }
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("bed state 0 is not a known state")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("not a Patient Flow event envelope")),
        "{reasons:?}"
    );

    // Nothing accepted changed; only the two raw publishes reached the stream.
    assert_eq!(live.digest().await.unwrap(), before);
    let after_sequence = js
        .get_stream(BEDS.name)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .last_sequence;
    assert_eq!(after_sequence, last_sequence + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_changes_to_one_bed_cannot_both_win() {
    let platform = Platform::start().await;
    platform.open_bed(BED).await;
    let attempts = (0..10).map(|_| platform.set_state(BED, "occupied"));
    let results = futures::future::join_all(attempts).await;
    let won = results.iter().filter(|(status, _)| *status == 200).count();
    let refused = results.iter().filter(|(status, _)| *status == 409).count();
    assert_eq!((won, refused), (1, 9), "{results:?}");
    platform.wait_until_projected().await;
    let mut live = platform.live_state("pf:").await;
    assert_eq!(
        live.digest().await.unwrap()["system"],
        "general_acute:occupied=1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_from_the_stream_equals_the_live_state() {
    let platform = Platform::start().await;
    for n in 1..=12 {
        platform.open_bed(&format!("RWEAA/WD15/B{n:02}")).await;
    }
    platform.open_bed("RWEAA/WD15/E01").await;
    platform.open_bed("RWEAK/CCU/B01").await;
    for (bed, states) in [
        (
            "RWEAA/WD15/B01",
            vec![
                "occupied",
                "awaiting_clean",
                "available",
                "reserved",
                "occupied",
            ],
        ),
        ("RWEAA/WD15/B02", vec!["closed", "available"]),
        ("RWEAA/WD15/E01", vec!["occupied"]),
        ("RWEAK/CCU/B01", vec!["occupied", "awaiting_clean"]),
    ] {
        for state in states {
            let (status, body) = platform.set_state(bed, state).await;
            assert_eq!(status, 200, "{bed} → {state}: {body}");
        }
    }
    let (status, _) = platform
        .post(
            "/api/v1/beds/RWEAA/WD15/B12/withdraw",
            json!({"reason": "ward reconfigured"}),
        )
        .await;
    assert_eq!(status, 200);
    platform.wait_until_projected().await;

    let mut live = platform.live_state("pf:").await;
    let live_digest = live.digest().await.unwrap();
    assert_eq!(
        live_digest["site:RWEAK"],
        "adult_critical_care:awaiting_clean=1"
    );

    // Replaying into a second copy gives the same state.
    let js = platform.jetstream().await;
    let mut scratch = platform.live_state("scratch:").await;
    let report = pf_projection::replay::rebuild(&js, &mut scratch, 4)
        .await
        .unwrap();
    assert_eq!(
        report.events,
        25 + 3,
        "and the three care homes' registrations"
    );
    assert_eq!(scratch.digest().await.unwrap(), live_digest);

    // Rebuilding the live copy in place changes nothing either, and a client is resynced.
    let mut client = ControlRoomClient::connect(&platform, None).await;
    let first = client.next().await;
    assert_eq!(first["type"], "snapshot");
    pf_projection::replay::rebuild(&js, &mut live, 500)
        .await
        .unwrap();
    assert_eq!(live.digest().await.unwrap(), live_digest);
    // The client is sent a fresh snapshot, then the replayed changes, and
    // ends where it started.
    let mut message = client.next().await;
    while message["type"] != "snapshot" {
        message = client.next().await;
    }
    let end = live.version().await.unwrap();
    while message["version"].as_u64() != Some(end) {
        message = client.next().await;
    }
    assert_eq!(message["system"], first["system"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_client_resumes_without_gaps_or_duplicates() {
    let platform = Platform::start().await;
    for n in 1..=5 {
        platform.open_bed(&format!("RWEAA/WD15/B{n:02}")).await;
    }
    platform.wait_for_version(5).await;
    let mut client = ControlRoomClient::connect(&platform, None).await;
    let snapshot = client.next().await;
    let base = platform.base_version;
    let left_at = snapshot["version"].as_u64().unwrap();
    assert_eq!(left_at, base + 5);
    client.close().await;

    // Changes while the client is away.
    for n in 1..=5 {
        let (status, _) = platform
            .set_state(&format!("RWEAA/WD15/B{n:02}"), "occupied")
            .await;
        assert_eq!(status, 200);
    }
    platform.wait_for_version(10).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let mut client = ControlRoomClient::connect(&platform, Some(left_at)).await;
    let mut at = left_at;
    let mut occupied = None;
    while at < base + 10 {
        let message = client.next().await;
        assert_eq!(
            message["type"], "delta",
            "resumed, not restarted: {message}"
        );
        assert_eq!(
            message["from_version"].as_u64(),
            Some(at),
            "no gap, no duplicate"
        );
        at = message["version"].as_u64().unwrap();
        occupied = message["system"]["occupied"].as_i64();
    }
    assert_eq!(occupied, Some(5));

    // A version the gateway cannot resume from gets a snapshot.
    let mut stranger = ControlRoomClient::connect(&platform, Some(1_000_000)).await;
    let message = stranger.next().await;
    assert_eq!(message["type"], "snapshot");
    assert_eq!(message["version"], base + 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projection_starting_over_a_redis_that_lost_its_data_rebuilds_it() {
    let mut platform = Platform::start().await;
    for n in 1..=6 {
        platform.open_bed(&format!("RWEAA/WD15/B{n:02}")).await;
    }
    let (status, _) = platform.set_state("RWEAA/WD15/B01", "occupied").await;
    assert_eq!(status, 200);
    platform.wait_until_projected().await;
    let mut live = platform.live_state("pf:").await;
    let before = live.digest().await.unwrap();
    assert_eq!(live.applied_through(BEDS.name).await.unwrap(), Some(7));

    // Redis comes back empty; the events stay acknowledged in JetStream.
    platform.redis.restart_empty();
    let mut live = platform.live_state("pf:").await;
    assert!(live.digest().await.unwrap().is_empty());

    // A projection that starts now sees the watermark behind its consumer and rebuilds.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config =
        pf_projection::ProjectionConfig::local(&platform.nats.url(), &platform.redis.url());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let projection = tokio::spawn(pf_projection::run(
        listener,
        config,
        false,
        shutdown.clone(),
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while live.digest().await.unwrap() != before {
        assert!(
            std::time::Instant::now() < deadline,
            "state was not rebuilt"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    projection.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_keeps_everyone_signed_in_and_revocations_in_force() {
    let platform = Platform::start().await;
    platform.open_bed(BED).await;
    platform.wait_until_projected().await;
    let store = platform.sign_in_store().await;
    let viewer = pf_integration_tests::demo("demo-control-room");
    let session = store.create_session(&viewer).await.unwrap();
    store.revoke("someone-else").await.unwrap();

    let js = platform.jetstream().await;
    let mut live = platform.live_state("pf:").await;
    pf_projection::replay::rebuild(&js, &mut live, 100)
        .await
        .unwrap();

    assert!(
        store.session(&session.id).await.unwrap().is_some(),
        "the session survives"
    );
    assert!(
        store.is_revoked("someone-else").await.unwrap(),
        "the revocation survives"
    );
}
