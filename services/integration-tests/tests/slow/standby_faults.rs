//! Active and standby: two copies of `pf-projection` (the real binary)
//! against one `nats-server -js` and one `redis-server`, under load from a
//! producer publishing bed events. Exactly one copy says `"role":
//! "active"` on `/readyz` at any moment and the other `"standby"`; the
//! active one is killed with SIGKILL, the standby takes over (the time is
//! printed), the killed copy comes back as the standby, and the other is
//! killed in its turn. At the end the live state equals a fresh replay of
//! the stream (`pf-projection check`): nothing was applied twice or
//! skipped. Then the same for two copies of `pf-pressure` (the real
//! binary) while a site stays above its occupancy thresholds: the new
//! active copy raises no alert and publishes no level change a second
//! time. `PF_FAULTS=long` kills more often.

#![allow(clippy::unwrap_used, clippy::too_many_lines)] // test code: fail loudly

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use pf_event_log::streams::{BEDS, bed_subject};
use pf_event_log::{EventPublisher, NatsSettings};
use pf_integration_tests::binaries::{Ports, Service, bin_dir};
use pf_integration_tests::dashboards_dir;
use pf_test_support::{NatsServer, RedisServer, free_port};

const SITE: &str = "RWEAA";
const WARD: &str = "AMU";

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
                let event =
                    crate::kit::bed_flip("standby-faults", SITE, WARD, &bed, versions[index]);
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

/// The demo secret of the identity service run by the pressure test.
const SECRET: &str = "standby-faults-demo-secret-0123456789abcdef";

/// Every alert in `PF_ALERTS` about `scope`, as (kind, title), oldest first.
async fn alerts_about(js: &async_nats::jetstream::Context, scope: &str) -> Vec<(String, String)> {
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
        let alert: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        if alert["scope"] == scope {
            alerts.push((
                alert["kind"].as_str().unwrap().to_owned(),
                alert["title"].as_str().unwrap().to_owned(),
            ));
        }
        if message.info().unwrap().stream_sequence >= last {
            break;
        }
    }
    alerts
}

/// How many OPEL level changes of `scope` are in `PF_SYSTEM`.
async fn level_changes(js: &async_nats::jetstream::Context, scope: &str) -> u64 {
    let consumer = js
        .get_stream("PF_SYSTEM")
        .await
        .unwrap()
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: format!("pf.system.opel.{scope}"),
            ..Default::default()
        })
        .await
        .unwrap();
    consumer.clone().info().await.unwrap().num_pending
}

/// Waits until the active pressure copy on `port` has computed from the
/// live state as it is now (its board's version reached the live state's).
async fn computed(
    http: &reqwest::Client,
    port: u16,
    token: &str,
    live: &mut pf_live_state::LiveState,
) {
    let version = live.version().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let board: Option<serde_json::Value> = match http
            .get(format!("http://127.0.0.1:{port}/api/v1/opel"))
            .bearer_auth(token)
            .timeout(Duration::from_secs(2))
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
            return;
        }
        assert!(
            Instant::now() < deadline,
            "pressure did not compute version {version} within 60 s: {board:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_pressure_takes_over_and_raises_nothing_twice() {
    let _turn = crate::one_at_a_time().await;
    let kills = if std::env::var("PF_FAULTS").as_deref() == Ok("long") {
        4
    } else {
        2
    };
    let nats = NatsServer::start();
    let redis = RedisServer::start();
    pf_integration_tests::create_streams(&nats.url()).await;
    let logs = tempfile::tempdir().unwrap();
    let bins = bin_dir("PF_FAULTS_BIN_DIR");
    // Only identity, the projection and pressure run; the environment names
    // the others.
    let ports = Ports::new(&[
        "identity",
        "hospital-beds",
        "care-homes",
        "projection",
        "gateway",
        "pressure",
    ]);
    let common = ports.environment(nats.url(), redis.url(), &dashboards_dir(), SECRET);
    let mut identity = Service::new("identity", &bins, common.clone(), logs.path());
    let mut projection = Service::new("projection", &bins, common.clone(), logs.path());
    identity.start();
    projection.start();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for name in ["identity", "projection"] {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !http
            .get(format!("{}/readyz", ports.url(name)))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "{name} did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let token: serde_json::Value = http
        .post(format!("{}/oauth/token", ports.url("identity")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id=loadtest&client_secret={SECRET}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();

    // The Royal Infirmary: six G&A beds, all occupied (100 %), above every
    // occupancy threshold and at a raised OPEL level, and staying there.
    let client = NatsSettings::anonymous(nats.url())
        .connect("standby-faults")
        .await
        .unwrap();
    let publisher = EventPublisher::new(async_nats::jetstream::new(client));
    for n in 0..6 {
        let bed = format!("F{n:02}");
        publisher
            .publish(
                bed_subject(SITE, WARD, &bed),
                &crate::kit::bed_flip("standby-faults", SITE, WARD, &bed, 1),
                None,
            )
            .await
            .unwrap();
    }

    // Two copies of pressure.
    let pressure_ports = [free_port(), free_port()];
    let mut copies: Vec<Service> = pressure_ports
        .iter()
        .map(|port| {
            let mut env = common.clone();
            env.retain(|(name, _)| name != "PF_PRESSURE_ADDR");
            env.push(("PF_PRESSURE_ADDR".to_owned(), format!("127.0.0.1:{port}")));
            let dir = logs.path().join(port.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            Service::new("pressure", &bins, env, &dir)
        })
        .collect();
    for copy in &mut copies {
        copy.start();
    }
    let watching = Arc::new(AtomicBool::new(true));
    let both_active = Arc::new(Mutex::new(Vec::<String>::new()));
    let watcher = {
        let (http, watching, both_active) = (http.clone(), watching.clone(), both_active.clone());
        tokio::spawn(async move {
            while watching.load(Ordering::Relaxed) {
                let roles = [
                    role(&http, pressure_ports[0]).await,
                    role(&http, pressure_ports[1]).await,
                ];
                if roles.iter().all(|r| r.as_deref() == Some("active")) {
                    both_active.lock().unwrap().push(format!("{roles:?}"));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    // The load: beds at Glenfield coming and going, far from any threshold.
    let producing = Arc::new(AtomicBool::new(true));
    let producer = {
        let (producing, publisher) = (producing.clone(), publisher.clone());
        tokio::spawn(async move {
            let mut versions = [0u64; 6];
            let mut turn = 0usize;
            while producing.load(Ordering::Relaxed) {
                let index = turn % versions.len();
                turn += 1;
                versions[index] += 1;
                let bed = format!("G{index:02}");
                let event =
                    crate::kit::bed_flip("standby-faults", "RWEAK", "W1", &bed, versions[index]);
                while publisher
                    .publish(bed_subject("RWEAK", "W1", &bed), &event, None)
                    .await
                    .is_err()
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let mut live = pf_live_state::LiveState::connect(
        &redis.url(),
        pf_live_state::Keys::new("pf:"),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let active = one_active(&http, pressure_ports).await;
    computed(&http, pressure_ports[active], &token, &mut live).await;
    let raised = alerts_about(&js, SITE).await;
    let changes = level_changes(&js, SITE).await;
    assert!(
        raised.iter().any(|(kind, _)| kind == "occupancy_threshold"),
        "the site's occupancy was not alerted: {raised:?}"
    );
    assert!(changes > 0, "the site's level was not published");

    let mut report = Vec::new();
    for kill in 0..kills {
        let active = one_active(&http, pressure_ports).await;
        let standby = 1 - active;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let killed_at = Instant::now();
        copies[active].kill();
        let deadline = Instant::now() + Duration::from_secs(60);
        while role(&http, pressure_ports[standby]).await.as_deref() != Some("active") {
            assert!(
                Instant::now() < deadline,
                "the standby did not take over within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took_over = killed_at.elapsed();
        computed(&http, pressure_ports[standby], &token, &mut live).await;
        report.push(format!(
            "kill {}: killed the active copy; the standby said active after {:.2} s and had computed the live state after {:.2} s",
            kill + 1,
            took_over.as_secs_f64(),
            killed_at.elapsed().as_secs_f64()
        ));
        copies[active].start();
    }
    let active = one_active(&http, pressure_ports).await;
    producing.store(false, Ordering::Relaxed);
    producer.await.unwrap();
    computed(&http, pressure_ports[active], &token, &mut live).await;
    watching.store(false, Ordering::Relaxed);
    watcher.await.unwrap();

    println!("pressure active/standby:");
    for line in &report {
        println!("  {line}");
    }
    let after = alerts_about(&js, SITE).await;
    println!(
        "  {} alerts and {changes} level changes of {SITE} before the kills, {} and {} after",
        raised.len(),
        after.len(),
        level_changes(&js, SITE).await
    );
    let both = both_active.lock().unwrap().clone();
    assert!(both.is_empty(), "two copies were active at once: {both:?}");
    assert_eq!(after, raised, "an alert about {SITE} was raised again");
    assert_eq!(
        level_changes(&js, SITE).await,
        changes,
        "a level change of {SITE} was published again"
    );
}
