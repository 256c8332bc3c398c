//! Redis failover: the live state on a Redis primary with a replica and
//! three Sentinels (real `redis-server`s, ACL users on all of them), the
//! real `pf-identity`, `pf-projection` and `pf-gateway` binaries given the
//! `redis+sentinel://` form of `PF_REDIS_URL`, under load from bed events.
//! A control-room client follows the gateway's feed; the primary is killed
//! with SIGKILL; the Sentinels promote the replica, the projection and the
//! gateway follow it, and the client's feed goes on (a delta from where it
//! was, or a fresh snapshot if the new primary lacked the last writes and
//! the projection replayed them; reconnecting with `?since=` if the
//! gateway closed it, as the page does) without anyone reloading. At the
//! end every bed is at its newest acknowledged version on the new primary
//! and the client is at the live state's version. Prints how long the
//! promotion, the projection and the feed took.

#![allow(clippy::unwrap_used, clippy::too_many_lines)] // test code: fail loudly

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pf_event_log::streams::{BEDS, bed_subject};
use pf_event_log::{EventPublisher, NatsSettings};
use pf_integration_tests::binaries::{Ports, Service, bin_dir};
use pf_integration_tests::{ControlRoomClient, dashboards_dir};
use pf_test_support::{NatsServer, RedisFailover};

const SITE: &str = "RWEAA";
const WARD: &str = "AMU";
const BEDS_UNDER_LOAD: usize = 6;
const SECRET: &str = "sentinel-faults-demo-secret-0123456789abcdef";
const USER: &str = "pf-failover-test";
const PASSWORD: &str = "failover-test-password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wall_follows_a_promoted_redis_replica_without_a_reload() {
    let _turn = crate::one_at_a_time().await;
    let nats = NatsServer::start();
    let mut redis = RedisFailover::start(USER, PASSWORD, |path| {
        std::fs::write(
            path,
            format!("user default off\nuser {USER} on >{PASSWORD} ~* &* +@all\n"),
        )
        .unwrap();
    });
    pf_integration_tests::create_streams(&nats.url()).await;
    let logs = tempfile::tempdir().unwrap();
    let bins = bin_dir("PF_FAULTS_BIN_DIR");
    // hospital-beds and care-homes do not run: the environment names them.
    let ports = Ports::new(&[
        "identity",
        "hospital-beds",
        "care-homes",
        "projection",
        "gateway",
    ]);
    let common = ports.environment(nats.url(), redis.url(), &dashboards_dir(), SECRET);
    let mut identity = Service::new("identity", &bins, common.clone(), logs.path());
    let mut projection = Service::new("projection", &bins, common.clone(), logs.path());
    let mut gateway = Service::new("gateway", &bins, common.clone(), logs.path());
    identity.start();
    projection.start();
    gateway.start();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    crate::kit::wait_ready(&http, &ports.url("identity"), "identity").await;
    crate::kit::wait_ready(&http, &ports.url("projection"), "projection").await;
    crate::kit::wait_ready(&http, &ports.url("gateway"), "gateway").await;
    let token = crate::kit::viewer_token(&http, &ports.url("identity"), SECRET).await;

    // The load: beds changing state, each event published until acknowledged.
    let producing = Arc::new(AtomicBool::new(true));
    let acknowledged = Arc::new(Mutex::new([0u64; BEDS_UNDER_LOAD]));
    let producer = {
        let (producing, acknowledged, url) = (producing.clone(), acknowledged.clone(), nats.url());
        tokio::spawn(async move {
            let client = NatsSettings::anonymous(url)
                .connect("sentinel-faults")
                .await
                .unwrap();
            let publisher = EventPublisher::new(async_nats::jetstream::new(client));
            let mut turn = 0usize;
            while producing.load(Ordering::Relaxed) {
                let index = turn % BEDS_UNDER_LOAD;
                turn += 1;
                let version = acknowledged.lock().unwrap()[index] + 1;
                let bed = format!("B{index:02}");
                let event = crate::kit::bed_flip("sentinel-faults", SITE, WARD, &bed, version);
                while publisher
                    .publish(bed_subject(SITE, WARD, &bed), &event, None)
                    .await
                    .is_err()
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                acknowledged.lock().unwrap()[index] = version;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    let gateway_url = ports.url("gateway");
    let mut follower = crate::kit::Follower {
        snapshots_may_go_back: true,
        ..Default::default()
    };
    let mut client = ControlRoomClient::try_connect(&gateway_url, Some(&token), None)
        .await
        .unwrap();
    let first = client.next().await;
    assert_eq!(first["type"], "snapshot", "{first}");
    follower.take(&first, "the gateway");
    for _ in 0..30 {
        let message = client.next().await;
        follower.take(&message, "the gateway");
    }

    // The primary dies.
    let at_kill = follower.version;
    let killed_at = Instant::now();
    let killed = redis.kill_primary();
    let watcher = {
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !redis.promoted_other_than(killed) {
                assert!(
                    Instant::now() < deadline,
                    "the Sentinels did not promote the replica within 60 s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            (killed_at.elapsed(), redis)
        })
    };

    let (promoted_after, redis) = watcher.await.unwrap();

    // The live state's version on the promoted replica once the projection
    // writes there: the wall must go past it, i.e. show changes applied
    // after the failover.
    let mut live = pf_live_state::LiveState::connect(
        &redis.url(),
        pf_live_state::Keys::new("pf:"),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let after_failover = live.version().await.unwrap();

    // The feed goes on, the connection taken up again with `?since=` if
    // the gateway closed it, as the page does.
    let mut reconnects = 0u32;
    let deadline = Instant::now() + Duration::from_secs(90);
    while follower.version <= after_failover {
        assert!(
            Instant::now() < deadline,
            "the wall's feed did not go past version {after_failover} within 90 s of the kill (at version {})",
            follower.version
        );
        match tokio::time::timeout(Duration::from_secs(5), client.next_or_closed()).await {
            Ok(Ok(message)) => follower.take(&message, "the gateway"),
            Ok(Err(_closed)) => {
                reconnects += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                if let Ok(again) = ControlRoomClient::try_connect(
                    &gateway_url,
                    Some(&token),
                    Some(follower.version),
                )
                .await
                {
                    client = again;
                }
            }
            // Quiet for 5 s: keep waiting, within the deadline.
            Err(_) => {}
        }
    }
    let feed_again = killed_at.elapsed();

    // The load stops; the projection catches up on the new primary.
    producing.store(false, Ordering::Relaxed);
    producer.await.unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let published = js
        .get_stream(BEDS.name)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .last_sequence;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
            .get_stream(BEDS.name)
            .await
            .unwrap()
            .get_consumer("projection")
            .await
            .unwrap();
        if consumer.info().await.unwrap().ack_floor.stream_sequence >= published {
            break;
        }
        assert!(Instant::now() < deadline, "the projection did not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every bed at its newest acknowledged version, read through the
    // Sentinels (so from the promoted replica).
    let newest = *acknowledged.lock().unwrap();
    let names: Vec<String> = (0..BEDS_UNDER_LOAD).map(|i| format!("B{i:02}")).collect();
    let keys: Vec<(&str, &str, &str)> = names.iter().map(|b| (SITE, WARD, b.as_str())).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let beds = live.beds(&keys).await.unwrap();
        let versions: Vec<u64> = beds.iter().map(|b| b.map_or(0, |b| b.version)).collect();
        if versions == newest {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the live state on the new primary holds versions {versions:?}, the producer was acknowledged {newest:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last = live.version().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while follower.version < last {
        assert!(
            Instant::now() < deadline,
            "the client stayed at version {} below the live state's {last}",
            follower.version
        );
        match tokio::time::timeout(Duration::from_secs(5), client.next_or_closed()).await {
            Ok(Ok(message)) => follower.take(&message, "the gateway"),
            Ok(Err(_closed)) => {
                reconnects += 1;
                client = ControlRoomClient::try_connect(
                    &gateway_url,
                    Some(&token),
                    Some(follower.version),
                )
                .await
                .unwrap();
            }
            Err(_) => {}
        }
    }

    println!("Redis failover (primary killed with SIGKILL, 3 Sentinels, down-after 1 s):");
    println!(
        "  the Sentinels promoted the replica {:.2} s after the kill",
        promoted_after.as_secs_f64()
    );
    println!(
        "  the wall's feed went past the promoted replica's version at promotion ({after_failover}; the client was at {at_kill} at the kill) {:.2} s after the kill ({reconnects} reconnects)",
        feed_again.as_secs_f64()
    );
    println!(
        "  the client took {} deltas and {} snapshots, ending at the live state's version {last}; {published} events published, every bed at its newest version",
        follower.deltas, follower.snapshots
    );
    client.close().await;
}
