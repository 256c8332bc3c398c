//! The wall soak, short version: the platform's real binaries (identity,
//! hospital-beds, care-homes, discharges, urgent-care, projection, gateway) as child
//! processes against a real `nats-server -js` and `redis-server`, the
//! simulator binary at 10 times a normal day (the shipped LLR catalogue and
//! the 300 demo care homes), and the control-room page open in headless
//! Chromium for about a minute (`dashboards/tests/wall-soak.mjs`): its used
//! JS heap after GC, DOM nodes and event listeners must not grow, and after
//! the simulator is stopped the page must be at the version of a fresh
//! snapshot and show every figure a freshly loaded page shows, without ever
//! having reconnected. `scripts/soak-wall` runs the long version against
//! `scripts/start`.
//!
//! The binaries are found in the Cargo target folder of this test
//! (`PF_SOAK_BIN_DIR` overrides it); `scripts/test` builds them before
//! `cargo test`. `PF_SOAK_SECONDS` makes the soak longer.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::process::Command;
use std::time::{Duration, Instant};

use pf_integration_tests::binaries::{Ports, Service, bin_dir};
use pf_integration_tests::{dashboards_dir, demo};
use pf_test_support::{NatsServer, RedisServer, free_port};

async fn wait_ready(http: &reqwest::Client, service: &mut Service, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(r) = http.get(format!("{url}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            !service.exited(),
            "{} stopped:\n{}",
            service.name,
            service.log_tail()
        );
        assert!(
            Instant::now() < deadline,
            "{} did not become ready:\n{}",
            service.name,
            service.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wall_neither_grows_nor_misses_updates_under_a_10x_day() {
    let _turn = crate::one_at_a_time().await;
    let dir = dashboards_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "dashboards/node_modules is missing: run the README's test command (it runs `npm ci` in dashboards/)"
    );
    let nats = NatsServer::start();
    pf_integration_tests::create_streams(&nats.url()).await;
    let redis = RedisServer::start();
    let logs = std::env::temp_dir().join(format!(
        "pf-wall-soak-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&logs).unwrap();
    println!("service logs in {}", logs.display());
    let secret = "wall-soak-demo-secret-0123456789abcdef";
    let names = [
        "identity",
        "hospital-beds",
        "care-homes",
        "discharges",
        "urgent-care",
        "projection",
        "gateway",
    ];
    let ports = Ports::new(&names);
    let url = |name: &str| ports.url(name);
    let env = ports.environment(nats.url(), redis.url(), &dir, secret);
    let bins = bin_dir("PF_SOAK_BIN_DIR");
    let mut services: Vec<Service> = names
        .iter()
        .map(|name| {
            let mut service = Service::new(name, &bins, env.clone(), &logs);
            service.start();
            service
        })
        .collect();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for service in &mut services {
        let base = url(service.name);
        wait_ready(&http, service, &base).await;
    }

    // The load: the demo simulator at 10 times a normal day, through the APIs.
    let mut sim_env = env.clone();
    sim_env.extend(
        [
            ("PF_SIM_SPEED", "10"),
            ("PF_CLIENT_ID", "simulator"),
            ("PF_CLIENT_SECRET", secret),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let mut simulator = Service::new("simulator", &bins, sim_env, &logs);
    simulator.start();

    let session = pf_sign_in::SignInStore::connect(
        &redis.url(),
        "pf-auth:",
        pf_sign_in::SessionPolicy::default(),
    )
    .await
    .unwrap()
    .create_session(&demo("demo-control-room"))
    .await
    .unwrap();
    let seconds = std::env::var("PF_SOAK_SECONDS").unwrap_or_else(|_| "60".to_owned());
    let gateway = url("gateway");
    let simulator_pid = simulator.pid().expect("the simulator runs");
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("tests/wall-soak.mjs")
            .current_dir(&dir)
            .env("PF_GATEWAY_URL", gateway)
            .env("PF_SESSION_COOKIE", session.id)
            .env("PF_SOAK_SECONDS", seconds)
            .env("PF_SOAK_SAMPLE_SECONDS", "10")
            .env("PF_SOAK_STOP_LOAD", format!("kill -TERM {simulator_pid}"))
            .output()
    })
    .await
    .expect("the soak task panicked")
    .expect("node is not installed: run the README's test command");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    let simulator_ended = simulator.exited();
    assert!(
        output.status.success(),
        "the wall soak failed after {:.0?}:\n{stdout}\n{stderr}\nsimulator ({}):\n{}",
        started.elapsed(),
        if simulator_ended {
            "ended"
        } else {
            "still running"
        },
        simulator.log_tail()
    );
    drop(simulator);
    drop(services);
    let _ = std::fs::remove_dir_all(&logs);
}
