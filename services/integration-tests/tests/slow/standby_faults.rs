//! Active and standby: two copies of `pf-projection` (the real binary)
//! against one `nats-server -js` and one `redis-server`, under load from a
//! producer publishing bed events. Exactly one copy says `"role":
//! "active"` on `/readyz` at any moment and the other `"standby"`; the
//! active one is killed with SIGKILL, the standby takes over (the time is
//! printed), the killed copy comes back as the standby, and the other is
//! killed in its turn. At the end the live state equals a fresh replay of
//! the stream (`pf-projection check`): nothing was applied twice or
//! skipped. `PF_FAULTS=long` kills more often.

#![allow(clippy::unwrap_used, clippy::too_many_lines)] // test code: fail loudly

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pf_event_log::streams::{BEDS, bed_subject};
use pf_event_log::{EventPublisher, NatsSettings};
use pf_integration_tests::binaries::{Service, bin_dir};
use pf_proto::NewEvent;
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{Actor, BedRef, BedStateChanged, Source};
use pf_test_support::{NatsServer, RedisServer, free_port};

const SITE: &str = "RWEAA";
const WARD: &str = "AMU";

fn bed_event(bed: &str, version: u64) -> pf_proto::v1::EventEnvelope {
    let (previous, state) = if version.is_multiple_of(2) {
        (
            pf_proto::v1::BedState::Occupied,
            pf_proto::v1::BedState::Available,
        )
    } else {
        (
            pf_proto::v1::BedState::Available,
            pf_proto::v1::BedState::Occupied,
        )
    };
    NewEvent {
        source: Source {
            organisation: SITE.into(),
            service: "standby-faults".into(),
        },
        entity_id: format!("bed/{SITE}/{WARD}/{bed}"),
        entity_version: version,
        occurred_at: None,
        actor: Actor::default(),
        payload: Payload::BedStateChanged(BedStateChanged {
            bed: Some(BedRef {
                site: SITE.into(),
                ward: WARD.into(),
                bed: bed.into(),
            }),
            kind: pf_proto::v1::BedKind::GeneralAcute as i32,
            escalation: false,
            previous_state: previous as i32,
            state: state as i32,
            reason: "standby faults".into(),
        }),
    }
    .seal(time::OffsetDateTime::now_utc())
}

/// The role a copy reports on `/readyz`, or `None` while it does not answer.
async fn role(http: &reqwest::Client, port: u16) -> Option<String> {
    let response = http
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .ok()?;
    let body: serde_json::Value = response.json().await.ok()?;
    Some(body.get("role")?.as_str()?.to_owned())
}

/// Waits until one copy is active and the other standby; returns the
/// active one's index.
async fn one_active(http: &reqwest::Client, ports: [u16; 2]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let roles = [role(http, ports[0]).await, role(http, ports[1]).await];
        match (roles[0].as_deref(), roles[1].as_deref()) {
            (Some("active"), Some("standby")) => return 0,
            (Some("standby"), Some("active")) => return 1,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "no active/standby pair within 60 s: {roles:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_projection_takes_over_and_nothing_is_applied_twice() {
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
    let ports = [free_port(), free_port()];
    let mut copies: Vec<Service> = ports
        .iter()
        .map(|port| {
            let env = vec![
                ("PF_NATS_URL".to_owned(), nats.url()),
                ("PF_REDIS_URL".to_owned(), redis.url()),
                ("PF_PROJECTION_ADDR".to_owned(), format!("127.0.0.1:{port}")),
                ("RUST_LOG".to_owned(), "info,async_nats=warn".to_owned()),
            ];
            Service::new(
                "projection",
                &bins,
                env,
                &logs.path().join(port.to_string()),
            )
        })
        .collect();
    for port in ports {
        std::fs::create_dir_all(logs.path().join(port.to_string())).unwrap();
    }
    for copy in &mut copies {
        copy.start();
    }
    let http = reqwest::Client::new();

    // Watches the roles the whole time: never two active at once.
    let watching = Arc::new(AtomicBool::new(true));
    let both_active = Arc::new(Mutex::new(Vec::<String>::new()));
    let watcher = {
        let (http, watching, both_active) = (http.clone(), watching.clone(), both_active.clone());
        tokio::spawn(async move {
            while watching.load(Ordering::Relaxed) {
                let roles = [role(&http, ports[0]).await, role(&http, ports[1]).await];
                if roles.iter().all(|r| r.as_deref() == Some("active")) {
                    both_active.lock().unwrap().push(format!("{roles:?}"));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    // The load: beds changing state, each event published until acknowledged.
    let producing = Arc::new(AtomicBool::new(true));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let producer = {
        let (producing, acknowledged, url) = (producing.clone(), acknowledged.clone(), nats.url());
        tokio::spawn(async move {
            let client = NatsSettings::anonymous(url)
                .connect("standby-faults")
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
                let event = bed_event(&bed, versions[index]);
                while publisher
                    .publish(bed_subject(SITE, WARD, &bed), &event, None)
                    .await
                    .is_err()
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                acknowledged.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let applied_through = |js: async_nats::jetstream::Context| async move {
        let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
            .get_stream(BEDS.name)
            .await
            .unwrap()
            .get_consumer("projection")
            .await
            .unwrap();
        consumer.info().await.unwrap().ack_floor.stream_sequence
    };

    let mut report = Vec::new();
    for kill in 0..kills {
        let active = one_active(&http, ports).await;
        let standby = 1 - active;
        // Let the active one work under load for a while.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let floor_before = applied_through(js.clone()).await;
        let killed_at = Instant::now();
        copies[active].kill();
        let deadline = Instant::now() + Duration::from_secs(60);
        while role(&http, ports[standby]).await.as_deref() != Some("active") {
            assert!(
                Instant::now() < deadline,
                "the standby did not take over within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took_over = killed_at.elapsed();
        while applied_through(js.clone()).await <= floor_before {
            assert!(
                Instant::now() < deadline,
                "the new active copy applied nothing within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let applying = killed_at.elapsed();
        report.push(format!(
            "kill {}: killed the active copy; the standby said active after {:.2} s and applied events after {:.2} s",
            kill + 1,
            took_over.as_secs_f64(),
            applying.as_secs_f64()
        ));
        // The killed copy comes back, as the standby.
        copies[active].start();
    }
    one_active(&http, ports).await;

    producing.store(false, Ordering::Relaxed);
    producer.await.unwrap();
    let last = js
        .get_stream(BEDS.name)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .last_sequence;
    let deadline = Instant::now() + Duration::from_secs(60);
    while applied_through(js.clone()).await < last {
        assert!(Instant::now() < deadline, "the projection did not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watching.store(false, Ordering::Relaxed);
    watcher.await.unwrap();

    println!("projection active/standby:");
    for line in &report {
        println!("  {line}");
    }
    println!(
        "  {} events acknowledged, {} in the stream",
        acknowledged.load(Ordering::Relaxed),
        last
    );
    let both = both_active.lock().unwrap().clone();
    assert!(both.is_empty(), "two copies were active at once: {both:?}");
    let check = copies[0].run_once(&["check"], &[]);
    let printed = String::from_utf8_lossy(&check.stdout);
    println!("  pf-projection check: {}", printed.trim());
    assert!(
        check.status.success(),
        "the live state differs from a replay: {printed}{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
