//! The discharge dashboard in a real headless Chromium (Debian's
//! `chromium`, driven by playwright-core): a coordinator opens a waiting
//! patient, holds a matching bed, the home accepts it in another browser,
//! the coordinator's page shows it without a reload, the discharge is
//! confirmed and the home's vacancy drops on the control room; axe-core
//! (WCAG 2.2 AA) on every state at a laptop and a phone width. The browser
//! side is `dashboards/tests/discharge-dashboard.test.mjs`.
//!
//! The pages are served by a discharges service that knows the gateway's
//! websocket address, and followed through a gateway that knows the pages'
//! origin: both are started here, on the platform's NATS and Redis.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::process::Command;
use std::time::{Duration, Instant};

use pf_access::{Grant, Principal, Role};
use pf_discharge_model::NhsNumber;
use pf_hospital_model::Catalogue;
use pf_integration_tests::{Platform, TEST_CATALOGUE, dashboards_dir, demo};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

const HOME: &str = "1-000000001"; // Alder House (demo): residential, residential dementia

async fn wait_ready(platform: &Platform, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !platform
        .http
        .get(format!("{url}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "{url} did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The status of a websocket upgrade (`/ws/discharges` unless `path` says
/// otherwise) with a session cookie and an `Origin`.
async fn upgrade_status(gateway_url: &str, session: &str, origin: &str) -> u16 {
    upgrade_status_at(gateway_url, "/ws/discharges", session, origin).await
}

async fn upgrade_status_at(gateway_url: &str, path: &str, session: &str, origin: &str) -> u16 {
    let url = format!("{}{path}", gateway_url.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("cookie", format!("pf_session={session}").parse().unwrap());
    headers.insert("origin", origin.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("websocket connection failed: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_holds_a_bed_the_home_accepts_and_the_discharge_is_confirmed() {
    let _turn = crate::one_at_a_time().await;
    let platform = Platform::start().await;
    let dir = dashboards_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "dashboards/node_modules is missing: run the README's test command (it runs `npm ci` in dashboards/)"
    );
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sign_in =
        pf_sign_in::SignInSettings::local(platform.issuer.issuer_config(), &platform.redis.url());

    // A gateway and a discharges service that know each other's addresses.
    let gateway_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway_url = format!("http://{}", gateway_listener.local_addr().unwrap());
    let pages_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pages_url = format!("http://{}", pages_listener.local_addr().unwrap());
    let mut gateway = pf_gateway::GatewayConfig::local(
        &platform.redis.url(),
        &platform.nats.url(),
        dir.clone(),
        sign_in.clone(),
    );
    gateway.public_url = gateway_url.clone();
    gateway.discharges_public_url = pages_url.clone();
    gateway.heartbeat = Duration::from_secs(2);
    gateway.discharge_plan = pf_integration_tests::TEST_DISCHARGE_PLAN.to_owned();
    let catalogue = Catalogue::from_json(TEST_CATALOGUE).unwrap();
    tokio::spawn(pf_gateway::run(
        gateway_listener,
        gateway,
        catalogue.clone(),
        shutdown.clone(),
    ));
    let mut pages = pf_discharges::DischargesConfig::local(
        &platform.nats.url(),
        &platform.redis.url(),
        sign_in,
    );
    pages.public_url = pages_url.clone();
    pages.gateway_ws_url = gateway_url.replacen("http", "ws", 1);
    tokio::spawn(pf_discharges::run(
        pages_listener,
        pages,
        catalogue,
        shutdown.clone(),
    ));
    wait_ready(&platform, &gateway_url).await;
    wait_ready(&platform, &pages_url).await;

    // Two residential beds free at the home, given by its care-record system.
    let feed = platform.token_for(
        &Principal::machine("feed", "Care records", None)
            .with_grant(Grant::parse(Role::VacancyPublisher, &[HOME]).unwrap()),
    );
    let response = platform
        .http
        .put(format!(
            "{}/api/v1/care-homes/{HOME}/vacancies",
            platform.care_homes_url
        ))
        .bearer_auth(&feed)
        .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
        .json(&json!({"vacancies": {"residential": {"vacant": 2}, "residential_dementia": {"vacant": 0}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    // A patient waiting for a residential place.
    let coordinator = Principal::person("idt-browser", "Sam Coordinator", None)
        .with_grant(Grant::parse(Role::DischargeCoordinator, &["RWE"]).unwrap());
    let nhs_number = NhsNumber::test_number(7);
    let ready_date = (time::OffsetDateTime::now_utc().date() - time::Duration::days(3)).to_string();
    let response = platform
        .http
        .post(format!("{pages_url}/api/v1/discharges"))
        .bearer_auth(platform.token_for(&coordinator))
        .json(&json!({
            "nhs_number": nhs_number.as_str(),
            "sex": "female",
            "site": "RWEAA",
            "ward": "WD15",
            "discharge_ready_date": ready_date,
            "pathway": 3,
            "care_needed": "residential",
            "search_postcode": "LE2 7LX",
            "delay_reason": "awaiting_care_home_place",
            "needs": "Walks with a frame"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let patient: serde_json::Value = response.json().await.unwrap();
    let discharge_id = patient["discharge_id"].as_str().unwrap().to_owned();
    platform.wait_until_projected().await;

    // Sessions as the sign-in service would make them.
    let store = platform.sign_in_store().await;
    let coordinator_session = store.create_session(&coordinator).await.unwrap().id;
    let home_editor = Principal::person("nurse-alder", "Alex Nurse", None)
        .with_grant(Grant::parse(Role::CareHomeEditor, &[HOME]).unwrap());
    let home_session = store.create_session(&home_editor).await.unwrap().id;
    let viewer_session = store
        .create_session(&demo("demo-control-room"))
        .await
        .unwrap()
        .id;

    // The websocket takes only the pages' origins, and only coordinators.
    assert_eq!(
        upgrade_status(
            &gateway_url,
            &coordinator_session,
            "http://elsewhere.example"
        )
        .await,
        403
    );
    assert_eq!(
        upgrade_status(&gateway_url, &viewer_session, &pages_url).await,
        403
    );
    assert_eq!(
        upgrade_status(&gateway_url, &coordinator_session, &pages_url).await,
        101
    );
    // The control room's feed takes only the gateway's own pages: a page
    // elsewhere cannot open it with a viewer's cookie.
    for (origin, status) in [
        ("http://elsewhere.example", 403),
        (gateway_url.as_str(), 101),
    ] {
        assert_eq!(
            upgrade_status_at(&gateway_url, "/ws/control-room", &viewer_session, origin).await,
            status,
            "control room from {origin}"
        );
    }

    let searched_id = discharge_id.clone();
    let care_homes = platform.care_homes_url.clone();
    let (gateway, pages) = (gateway_url.clone(), pages_url.clone());
    let nhs_spaced = nhs_number.spaced();
    let new_nhs_number = NhsNumber::test_number(8).spaced();
    let live_nhs_number = NhsNumber::test_number(20).spaced();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args([
                "--test",
                "--test-reporter=spec",
                "tests/discharge-dashboard.test.mjs",
            ])
            .current_dir(&dir)
            .env("PF_DISCHARGES_URL", pages)
            .env("PF_CARE_HOMES_URL", care_homes)
            .env("PF_GATEWAY_URL", gateway)
            .env("PF_COORDINATOR_SESSION", coordinator_session)
            .env("PF_HOME_SESSION", home_session)
            .env("PF_VIEWER_SESSION", viewer_session)
            .env("PF_TEST_HOME", HOME)
            .env("PF_DISCHARGE_ID", discharge_id)
            .env("PF_NHS_NUMBER", nhs_spaced)
            .env("PF_NEW_NHS_NUMBER", new_nhs_number)
            .env("PF_LIVE_NHS_NUMBER", live_nhs_number)
            .output()
    })
    .await
    .expect("the browser test task panicked")
    .expect("node is not installed: run the README's test command");
    shutdown.cancel();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser tests failed:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");

    // The browser's search by NHS number is in the audit trail, naming the
    // patient it found.
    let audit = pf_audit::AuditLog::new(platform.jetstream().await);
    let records = audit
        .query(&pf_audit::AuditQuery {
            entity: Some(format!("discharge/{searched_id}")),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        records
            .iter()
            .any(|r| r.action == "discharge.search" && r.actor.id == "idt-browser"),
        "{records:?}"
    );
}
