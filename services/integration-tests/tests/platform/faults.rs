//! Faults while the platform runs: Redis losing the live state under a
//! running projection.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::{Duration, Instant};

use pf_integration_tests::{ControlRoomClient, Platform};

/// Replays the streams into a scratch copy and lists every difference from the live state.
async fn differences(platform: &Platform) -> Vec<String> {
    let js = platform.jetstream().await;
    let mut live = platform.live_state("pf:").await;
    let mut scratch = platform.live_state("pf-check-test:").await;
    pf_projection::replay::check(&js, &mut live, &mut scratch, 500)
        .await
        .unwrap()
        .differences
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_under_a_running_projection_is_rebuilt_and_clients_resynced() {
    let mut platform = Platform::start().await;
    for n in 1..=8 {
        platform.open_bed(&format!("RWEAA/WD15/B{n:02}")).await;
    }
    for n in 1..=4 {
        let (status, body) = platform
            .set_state(&format!("RWEAA/WD15/B{n:02}"), "occupied")
            .await;
        assert_eq!(status, 200, "{body}");
    }
    platform.wait_until_projected().await;
    assert!(differences(&platform).await.is_empty());
    let mut client = ControlRoomClient::connect(&platform, None).await;
    let first = client.next().await;
    assert_eq!(first["type"], "snapshot");
    assert_eq!(first["system"]["occupied"], 4);

    // Redis comes back empty while the projection runs, and new events keep coming.
    platform.redis.restart_empty();
    let lost_at = Instant::now();
    // (The first request may find the services' own Redis connection broken: 503, try again.)
    let mut attempts = 0;
    loop {
        let (status, body) = platform.set_state("RWEAA/WD15/B05", "occupied").await;
        if status == 200 || (status == 409 && attempts > 0) {
            break;
        }
        attempts += 1;
        assert!(status == 503 && attempts < 20, "{status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Within seconds the live state equals a fresh replay again.
    let deadline = lost_at + Duration::from_secs(15);
    loop {
        let differences = differences(&platform).await;
        if differences.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not rebuilt: {}",
            differences.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut live = platform.live_state("pf:").await;
    let digest = live.digest().await.unwrap();
    assert!(
        digest["bed:RWEAA:WD15:B01"].contains("state=occupied"),
        "{digest:?}"
    );
    assert_eq!(
        digest["system"],
        "general_acute:available=3,general_acute:occupied=5"
    );
    println!(
        "rebuilt {} ms after Redis lost its data",
        lost_at.elapsed().as_millis()
    );
    // Written again in this layout, and marked so: the next projection to
    // start does not take it for an older layout and rebuild it once more.
    let deadline = Instant::now() + Duration::from_secs(60);
    while live.layout_is_old().await.unwrap() {
        assert!(
            Instant::now() < deadline,
            "the replayed state was not marked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The dashboard recovers by itself: it is sent a fresh snapshot, or its
    // connection is closed and it reconnects (as the control-room page does)
    // to one; either way it ends with every bed.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        assert!(Instant::now() < deadline, "the dashboard did not recover");
        match client.next_or_closed().await {
            Ok(message) if message["type"] == "snapshot" && message["system"]["occupied"] == 5 => {
                break;
            }
            Ok(_) => {}
            Err(code) => {
                println!("gateway closed the dashboard's connection ({code:?}); reconnecting");
                tokio::time::sleep(Duration::from_millis(200)).await;
                client = ControlRoomClient::connect(&platform, None).await;
            }
        }
    }
}
