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

/// Publishes, straight into `PF_BEDS`, event `round` of beds 1 to `beds` on
/// ward RWEAA/WDRF: first a `BedOpened`, then states in turn.
async fn publish_round(js: &async_nats::jetstream::Context, beds: usize, round: u64) {
    use pf_proto::NewEvent;
    use pf_proto::v1::event_envelope::Payload;
    use pf_proto::v1::{
        Actor, ActorKind, BedKind, BedOpened, BedRef, BedState, BedStateChanged, Source,
    };
    let states = [
        BedState::Available,
        BedState::Occupied,
        BedState::AwaitingClean,
    ];
    for n in 1..=beds {
        let bed = BedRef {
            site: "RWEAA".into(),
            ward: "WDRF".into(),
            bed: format!("B{n:02}"),
        };
        let payload = if round == 1 {
            Payload::BedOpened(BedOpened {
                bed: Some(bed),
                kind: BedKind::GeneralAcute as i32,
                escalation: false,
                reason: "fault test".into(),
            })
        } else {
            let index = usize::try_from(round).unwrap();
            Payload::BedStateChanged(BedStateChanged {
                bed: Some(bed),
                kind: BedKind::GeneralAcute as i32,
                escalation: false,
                previous_state: states[(index - 1) % 3] as i32,
                state: states[index % 3] as i32,
                reason: "fault test".into(),
            })
        };
        let envelope = NewEvent {
            source: Source {
                organisation: "RWE".into(),
                service: "fault-test".into(),
            },
            entity_id: format!("bed/RWEAA/WDRF/B{n:02}"),
            entity_version: round,
            occurred_at: None,
            actor: Actor {
                id: "fault-test".into(),
                organisation: "RWE".into(),
                kind: ActorKind::Machine as i32,
            },
            payload,
        }
        .seal(time::OffsetDateTime::now_utc());
        let message = async_nats::jetstream::message::PublishMessage::build()
            .message_id(&envelope.event_id)
            .payload(envelope.to_bytes().into());
        js.send_publish(format!("pf.beds.RWEAA.WDRF.B{n:02}"), message)
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_refusing_writes_for_a_while_loses_no_event() {
    let platform = Platform::start().await;
    let js = platform.jetstream().await;
    publish_round(&js, 20, 1).await;
    platform.wait_until_projected().await;
    assert!(differences(&platform).await.is_empty());

    // Redis refuses every write (out of memory) while events keep coming in
    // separate batches; then it takes writes again and more events come.
    let mut admin = redis::Client::open(platform.redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let config = |value: &'static str| {
        let mut command = redis::cmd("CONFIG");
        command.arg("SET").arg("maxmemory").arg(value);
        command
    };
    let () = config("1").query_async(&mut admin).await.unwrap();
    for round in 2..=4 {
        publish_round(&js, 20, round).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let () = config("0").query_async(&mut admin).await.unwrap();
    // New events for a few beds only: the others' last events are the ones
    // Redis refused, and they must not be acknowledged along with these.
    publish_round(&js, 5, 5).await;

    // Every event is applied: the live state equals a fresh replay, every bed
    // at its last version.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        platform.wait_until_projected().await;
        let differences = differences(&platform).await;
        if differences.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "events lost while Redis refused writes: {}",
            differences.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut live = platform.live_state("pf:").await;
    let digest = live.digest().await.unwrap();
    for n in 1..=20 {
        let bed = &digest[&format!("bed:RWEAA:WDRF:B{n:02}")];
        let last = if n <= 5 { "version=5" } else { "version=4" };
        assert!(bed.contains(last), "B{n:02}: {bed}");
    }
}
