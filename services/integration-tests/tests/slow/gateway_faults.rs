//! Two gateways (the real `pf-gateway` binary twice) in front of one live
//! state, under load from bed events. A control-room client follows one
//! gateway, checking that every delta starts at the version it is at; that
//! gateway is killed with SIGKILL, and the client reconnects to the other
//! with `?since=` its version, as the page does. Versions are the live
//! state's (global), not a gateway's, so the other gateway resumes it from
//! there, or sends a snapshot no older than it: never a gap, never a step
//! back. The killed gateway comes back and is the other's fallback in its
//! turn. `PF_FAULTS=long` kills more often.

#![allow(clippy::unwrap_used, clippy::too_many_lines)] // test code: fail loudly

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pf_event_log::streams::{BEDS, bed_subject};
use pf_event_log::{EventPublisher, NatsSettings};
use pf_integration_tests::binaries::{Ports, Service, bin_dir};
use pf_integration_tests::{ControlRoomClient, dashboards_dir};
use pf_test_support::{NatsServer, RedisServer, free_port};

const SITE: &str = "RWEAA";
const WARD: &str = "AMU";
const SECRET: &str = "gateway-faults-demo-secret-0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_moves_to_the_other_gateway_without_a_gap() {
    let _turn = crate::one_at_a_time().await;
    let kills = if std::env::var("PF_FAULTS").as_deref() == Ok("long") {
        6
    } else {
        2
    };
    let nats = NatsServer::start();
    let redis = RedisServer::start();
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
    identity.start();
    projection.start();

    // Two gateways, each on a port of its own, with its own log.
    let gateway_ports = [free_port(), free_port()];
    let mut gateways: Vec<Service> = gateway_ports
        .iter()
        .map(|port| {
            let mut env = common.clone();
            env.retain(|(name, _)| name != "PF_GATEWAY_ADDR");
            env.push(("PF_GATEWAY_ADDR".to_owned(), format!("127.0.0.1:{port}")));
            let dir = logs.path().join(port.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            Service::new("gateway", &bins, env, &dir)
        })
        .collect();
    for gateway in &mut gateways {
        gateway.start();
    }
    let urls: Vec<String> = gateway_ports
        .iter()
        .map(|port| format!("http://127.0.0.1:{port}"))
        .collect();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    crate::kit::wait_ready(&http, &ports.url("identity"), "identity").await;
    crate::kit::wait_ready(&http, &ports.url("projection"), "projection").await;
    for url in &urls {
        crate::kit::wait_ready(&http, url, "a gateway").await;
    }
    let token = crate::kit::viewer_token(&http, &ports.url("identity"), SECRET).await;

    // The load: beds changing state, each event published until acknowledged.
    let producing = Arc::new(AtomicBool::new(true));
    let producer = {
        let (producing, url) = (producing.clone(), nats.url());
        tokio::spawn(async move {
            let client = NatsSettings::anonymous(url)
                .connect("gateway-faults")
                .await
                .unwrap();
            let publisher = EventPublisher::new(async_nats::jetstream::new(client));
            let mut versions = [0u64; 6];
            let mut turn = 0usize;
            while producing.load(Ordering::Relaxed) {
                let index = turn % versions.len();
                turn += 1;
                versions[index] += 1;
                let bed = format!("B{index:02}");
                let event =
                    crate::kit::bed_flip("gateway-faults", SITE, WARD, &bed, versions[index]);
                while publisher
                    .publish(bed_subject(SITE, WARD, &bed), &event, None)
                    .await
                    .is_err()
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    let mut follower = crate::kit::Follower::default();
    let mut on = 0usize;
    let mut client = ControlRoomClient::try_connect(&urls[on], Some(&token), None)
        .await
        .unwrap();
    let first = client.next().await;
    assert_eq!(first["type"], "snapshot", "{first}");
    follower.take(&first, &format!("gateway {on}"));
    let mut report = Vec::new();
    for kill in 0..kills {
        // Follow the feed for a while.
        for _ in 0..30 {
            let message = client.next().await;
            follower.take(&message, &format!("gateway {on}"));
        }
        let at_kill = follower.version;
        let killed_at = Instant::now();
        gateways[on].kill();
        // Whatever the dying gateway still delivered, then the close.
        while let Ok(message) = client.next_or_closed().await {
            follower.take(&message, &format!("gateway {on}"));
        }
        // Reconnect to the other gateway from the version reached.
        on = 1 - on;
        client = ControlRoomClient::try_connect(&urls[on], Some(&token), Some(follower.version))
            .await
            .unwrap();
        let message = client.next().await;
        let how = if message["type"] == "delta" {
            "resumed with deltas"
        } else {
            "sent a snapshot"
        };
        follower.take(&message, &format!("gateway {on}"));
        report.push(format!(
            "kill {}: the client was at version {at_kill} ({} after the kill); the other gateway {how} after {:.2} s",
            kill + 1,
            follower.version,
            killed_at.elapsed().as_secs_f64()
        ));
        // The killed gateway comes back, for the next kill.
        gateways[1 - on].start();
        crate::kit::wait_ready(&http, &urls[1 - on], "the restarted gateway").await;
    }

    // The load stops; the client ends where a fresh snapshot is.
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
    let mut live = pf_live_state::LiveState::connect(
        &redis.url(),
        pf_live_state::Keys::new("pf:"),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let last = live.version().await.unwrap();
    while follower.version < last {
        let message = client.next().await;
        follower.take(&message, &format!("gateway {on}"));
    }
    assert_eq!(
        follower.version, last,
        "the client went past the live state"
    );

    println!("two gateways:");
    for line in &report {
        println!("  {line}");
    }
    println!(
        "  the client took {} deltas and {} snapshots, ending at version {last}",
        follower.deltas, follower.snapshots
    );
    client.close().await;
}
