//! Who needs to do what next, in a real headless Chromium: a patient's
//! tasks on their page, overdue tasks on the discharge list, the cohorts
//! page with one click to a patient and the task that blocks them, and the
//! system call's actions on the wall; then, through the tasks service's
//! forms, a coordinator adding a task and giving it to a colleague, the
//! owner marking it done and the control-room lead recording an overdue
//! action the wall shows; axe-core (WCAG 2.2 AA) on each. The browser side
//! is `dashboards/tests/tasks.test.mjs`.
//!
//! Tasks and actions are made through the tasks service's API (as the
//! people who own them would), folded by the projection; the pages are
//! served by a discharges service and a gateway started here.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::process::Command;
use std::time::{Duration, Instant};

use pf_access::{Grant, OrgId, Principal, Role};
use pf_discharge_model::NhsNumber;
use pf_hospital_model::Catalogue;
use pf_integration_tests::{Platform, TEST_CATALOGUE, dashboards_dir, demo};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

async fn wait_ok(platform: &Platform, url: &str, session: Option<&str>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut request = platform.http.get(url);
        if let Some(session) = session {
            request = request.header("cookie", format!("pf_session={session}"));
        }
        if request.send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        assert!(Instant::now() < deadline, "{url} did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post(platform: &Platform, who: &Principal, path: &str, body: Value) -> Value {
    let response = platform
        .http
        .request(
            if path.starts_with("/api/v1/teams") {
                reqwest::Method::PUT
            } else {
                reqwest::Method::POST
            },
            format!("{}{path}", platform.tasks_url),
        )
        .bearer_auth(platform.token_for(who))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

fn at(offset: time::Duration) -> String {
    (OffsetDateTime::now_utc() + offset)
        .format(&Rfc3339)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_on_the_discharge_pages_and_actions_on_the_wall() {
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
    pages.tasks_url = platform.tasks_url.clone();
    tokio::spawn(pf_discharges::run(
        pages_listener,
        pages,
        catalogue,
        shutdown.clone(),
    ));
    wait_ok(&platform, &format!("{gateway_url}/readyz"), None).await;
    wait_ok(&platform, &format!("{pages_url}/readyz"), None).await;

    // A waiting patient of RWE; RWE's teams; a transport task overdue with
    // the Discharge Hub and a medicines task done by the pharmacist.
    let coordinator = Principal::person("idt-browser", "Sam Coordinator", OrgId::parse("RWE").ok())
        .with_grant(Grant::parse(Role::DischargeCoordinator, &["RWE"]).unwrap());
    let ready_date = (OffsetDateTime::now_utc().date() - time::Duration::days(3)).to_string();
    let response = platform
        .http
        .post(format!("{pages_url}/api/v1/discharges"))
        .bearer_auth(platform.token_for(&coordinator))
        .json(&json!({
            "nhs_number": NhsNumber::test_number(31).as_str(),
            "sex": "male",
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
    let patient: Value = response.json().await.unwrap();
    let discharge_id = patient["discharge_id"].as_str().unwrap().to_owned();
    platform.wait_until_projected().await;
    let admin = demo("demo-system-admin");
    post(
        &platform,
        &admin,
        "/api/v1/teams/RWE",
        json!({"teams": [{"name": "Discharge Hub", "description": "Transfer of care"}]}),
    )
    .await;
    let store = platform.sign_in_store().await;
    // A person owner may sign in, so holds a Patient Flow role.
    let pharmacist = Principal::person("pharm-1", "Pat Pharmacist", OrgId::parse("RWE").ok())
        .with_grant(Grant::parse(Role::DischargeCoordinator, &["RWE"]).unwrap());
    let owner_session = store.create_session(&pharmacist).await.unwrap().id;
    let deadline = Instant::now() + Duration::from_secs(30);
    let transport = loop {
        let response = platform
            .http
            .post(format!("{}/api/v1/items", platform.tasks_url))
            .bearer_auth(platform.token_for(&coordinator))
            .json(&json!({"kind": "discharge_task", "task_type": "transport",
                "owner": {"organisation": "RWE", "team": "Discharge Hub"},
                "due": at(-time::Duration::hours(1)), "discharge_id": discharge_id}))
            .send()
            .await
            .unwrap();
        if response.status() == 201 {
            break response.json::<Value>().await.unwrap();
        }
        // The register is folded into the live state first.
        assert!(
            Instant::now() < deadline,
            "{}",
            response.text().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(transport["overdue"], true);
    let tto = post(
        &platform,
        &coordinator,
        "/api/v1/items",
        json!({"kind": "discharge_task", "task_type": "medicines_tto",
            "owner": {"organisation": "RWE", "person": "pharm-1"},
            "due": at(time::Duration::hours(2)), "discharge_id": discharge_id}),
    )
    .await;
    let tto_id = tto["item_id"].as_str().unwrap();
    post(
        &platform,
        &pharmacist,
        &format!("/api/v1/items/{tto_id}/done"),
        json!({}),
    )
    .await;

    // Two actions of the system call: one overdue, one done by its owner.
    let lead = Principal::person("lead-1", "Lee Lead", OrgId::parse("QK1").ok())
        .with_grant(Grant::parse(Role::ControlRoomLead, &[]).unwrap());
    let action_text = "Open the discharge lounge at 8";
    let done_text = "Stand up 4 escalation beds at LRI";
    post(
        &platform,
        &lead,
        "/api/v1/items",
        json!({"kind": "system_action", "text": action_text,
            "owner": {"organisation": "RWE", "team": "Discharge Hub"}, "due": at(-time::Duration::minutes(20))}),
    )
    .await;
    let done = post(
        &platform,
        &lead,
        "/api/v1/items",
        json!({"kind": "system_action", "text": done_text,
            "owner": {"organisation": "RWE", "person": "pharm-1"}, "due": at(time::Duration::hours(1))}),
    )
    .await;
    let done_id = done["item_id"].as_str().unwrap();
    post(
        &platform,
        &pharmacist,
        &format!("/api/v1/items/{done_id}/done"),
        json!({}),
    )
    .await;
    platform.wait_until_projected().await;

    let coordinator_session = store.create_session(&coordinator).await.unwrap().id;
    let lead_session = store.create_session(&lead).await.unwrap().id;
    let tasks_url = platform.tasks_url.clone();
    let viewer_session = store
        .create_session(&demo("demo-control-room"))
        .await
        .unwrap()
        .id;
    // The wall has its figures, and its actions panel both actions.
    wait_ok(
        &platform,
        &format!("{gateway_url}/control-room"),
        Some(&viewer_session),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = platform
            .http
            .get(format!("{gateway_url}/api/v1/actions"))
            .header("cookie", format!("pf_session={viewer_session}"))
            .send()
            .await
            .unwrap();
        let view: Value = response.json().await.unwrap_or(Value::Null);
        if view["actions"].as_array().map(Vec::len) == Some(2) {
            break;
        }
        assert!(Instant::now() < deadline, "the wall's actions: {view}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", "--test-reporter=spec", "tests/tasks.test.mjs"])
            .current_dir(&dir)
            .env("PF_DISCHARGES_URL", pages_url)
            .env("PF_GATEWAY_URL", gateway_url)
            .env("PF_COORDINATOR_SESSION", coordinator_session)
            .env("PF_VIEWER_SESSION", viewer_session)
            .env("PF_DISCHARGE_ID", discharge_id)
            .env("PF_ACTION_TEXT", action_text)
            .env("PF_DONE_ACTION_TEXT", done_text)
            .env("PF_TASKS_URL", tasks_url)
            .env("PF_LEAD_SESSION", lead_session)
            .env("PF_OWNER_SESSION", owner_session)
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
}
