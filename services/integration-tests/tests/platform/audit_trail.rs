//! The audit trail holds under attack, against the real services, NATS and
//! Redis: what a caller sends cannot stop a record (it is redacted), an
//! action that cannot be audited does not happen (503, nothing changed),
//! a full `PF_AUDIT` refuses actions and shows in the services' metrics,
//! and a flood of anonymous requests is answered 429 and kept as a few
//! records with a count instead of one record each.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::{Duration, Instant};

use pf_access::{Grant, Principal, Role};
use pf_discharge_model::NhsNumber;
use pf_integration_tests::Platform;
use serde_json::{Value, json};

const AUDIT_STREAM: &str = "PF_AUDIT";

fn coordinator(id: &str) -> Principal {
    Principal::person(id, format!("Coordinator {id}"), None)
        .with_grant(Grant::parse(Role::DischargeCoordinator, &["RWE"]).unwrap())
}

fn referral(n: u32) -> Value {
    json!({
        "nhs_number": NhsNumber::test_number(n).as_str(),
        "sex": "female",
        "site": "RWEAA",
        "ward": "WD15",
        "discharge_ready_date": "2026-11-27",
        "pathway": 3,
        "care_needed": "residential",
        "search_postcode": "LE2 7LX",
        "delay_reason": "awaiting_care_home_place",
        "needs": "Walks with a frame"
    })
}

/// Sends a request to the discharges service as `token` with `user_agent`.
async fn send(
    platform: &Platform,
    token: &str,
    user_agent: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = platform
        .http
        .request(method, format!("{}{path}", platform.discharges_url))
        .bearer_auth(token)
        .header(reqwest::header::USER_AGENT, user_agent);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Every record in `PF_AUDIT`, as stored (raw JSON), oldest first.
async fn audit_records(platform: &Platform) -> Vec<(String, Value)> {
    let jetstream = platform.jetstream().await;
    let mut stream = jetstream.get_stream(AUDIT_STREAM).await.unwrap();
    let info = stream.info().await.unwrap().clone();
    let mut records = Vec::new();
    for sequence in info.state.first_sequence..=info.state.last_sequence {
        if sequence == 0 {
            continue;
        }
        let Ok(message) = stream.get_raw_message(sequence).await else {
            continue;
        };
        let raw = String::from_utf8(message.payload.to_vec()).unwrap();
        let value: Value = serde_json::from_str(&raw).unwrap();
        records.push((raw, value));
    }
    records
}

/// Sets the audit stream's byte bound (as an operator would).
async fn set_audit_bound(platform: &Platform, max_bytes: i64) {
    let jetstream = platform.jetstream().await;
    let mut stream = jetstream.get_stream(AUDIT_STREAM).await.unwrap();
    let mut config = stream.info().await.unwrap().config.clone();
    config.max_bytes = max_bytes;
    jetstream.update_stream(config).await.unwrap();
}

/// The value of a metric without labels in a `/metrics` text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (key, value) = line.split_once(' ')?;
            (key == name).then(|| value.trim().parse().ok()).flatten()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nhs_number_in_the_user_agent_is_redacted_and_the_actions_are_audited() {
    let platform = Platform::start().await;
    let token = platform.token_for(&coordinator("idt-ua"));
    let agent = "Mozilla/5.0 (patient 943 476 5919; ref 9434765919)";
    let (status, patient) = send(
        &platform,
        &token,
        agent,
        reqwest::Method::POST,
        "/api/v1/discharges",
        Some(referral(21)),
    )
    .await;
    assert_eq!(status, 201, "{patient}");
    let id = patient["discharge_id"].as_str().unwrap().to_owned();

    let (status, opened) = send(
        &platform,
        &token,
        agent,
        reqwest::Method::GET,
        &format!("/api/v1/discharges/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{opened}");
    assert_eq!(
        opened["nhs_number"].as_str().unwrap().replace(' ', ""),
        NhsNumber::test_number(21).as_str().replace(' ', ""),
        "the full NHS number is shown"
    );
    let (status, changed) = send(
        &platform,
        &token,
        agent,
        reqwest::Method::POST,
        &format!("/api/v1/discharges/{id}/delay-reason"),
        Some(json!({"delay_reason": "awaiting_package_of_care"})),
    )
    .await;
    assert_eq!(status, 200, "{changed}");

    let records = audit_records(&platform).await;
    let entity = format!("discharge/{id}");
    let found = |action: &str, result: &str| {
        records.iter().find(|(_, r)| {
            r["action"] == action && r["entity"] == entity && r["outcome"]["result"] == result
        })
    };
    for action in ["discharge.open", "discharge.delay_reason"] {
        let (_, record) = found(action, "accepted")
            .unwrap_or_else(|| panic!("{action} is not in the audit trail: {records:?}"));
        assert_eq!(
            record["source"]["user_agent"], "Mozilla/5.0 (patient [redacted]; ref [redacted])",
            "{record}"
        );
        assert_eq!(record["actor"]["id"], "idt-ua");
    }
    // The change's attempt was recorded before it was made.
    assert!(
        found("discharge.delay_reason", "attempted").is_some(),
        "{records:?}"
    );
    for (raw, _) in &records {
        assert!(
            !raw.contains("9434765919") && !raw.contains("943 476 5919"),
            "an NHS number reached the audit trail: {raw}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_audit_trail_refuses_changes_and_openings_and_the_gauge_shows_it() {
    let platform = Platform::start().await;
    let token = platform.token_for(&coordinator("idt-full"));
    let agent = "Mozilla/5.0";
    let (status, patient) = send(
        &platform,
        &token,
        agent,
        reqwest::Method::POST,
        "/api/v1/discharges",
        Some(referral(22)),
    )
    .await;
    assert_eq!(status, 201, "{patient}");
    let id = patient["discharge_id"].as_str().unwrap().to_owned();
    platform.open_bed("RWEAA/WD15/B02").await;
    platform.wait_until_projected().await;
    let version = platform.live_state("pf:").await.version().await.unwrap();

    // The stream reaches its bound: exactly what it holds now.
    let jetstream = platform.jetstream().await;
    let held = jetstream
        .get_stream(AUDIT_STREAM)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .clone();
    let bound = i64::try_from(held.bytes).unwrap();
    set_audit_bound(&platform, bound).await;

    let (status, answer) = send(
        &platform,
        &token,
        agent,
        reqwest::Method::POST,
        &format!("/api/v1/discharges/{id}/delay-reason"),
        Some(json!({"delay_reason": "awaiting_package_of_care"})),
    )
    .await;
    assert_eq!(status, 503, "the change went ahead unaudited: {answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("audit trail"),
        "{answer}"
    );
    let (status, answer) = send(
        &platform,
        &token,
        agent,
        reqwest::Method::GET,
        &format!("/api/v1/discharges/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 503, "the patient was shown unaudited: {answer}");
    assert!(answer.get("nhs_number").is_none(), "{answer}");
    // The same rule holds for a bed change and a care home's vacancies.
    let (status, answer) = platform.set_state("RWEAA/WD15/B02", "occupied").await;
    assert_eq!(status, 503, "the bed changed unaudited: {answer}");
    assert!(answer.to_string().contains("audit trail"), "{answer}");
    let feed = platform.token_for(
        &Principal::machine("feed", "Care records", None)
            .with_grant(Grant::parse(Role::VacancyPublisher, &["1-000000001"]).unwrap()),
    );
    let response = platform
        .http
        .put(format!(
            "{}/api/v1/care-homes/1-000000001/vacancies",
            platform.care_homes_url
        ))
        .bearer_auth(&feed)
        .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
        .json(&json!({"vacancies": {"residential": {"vacant": 2}, "residential_dementia": {"vacant": 1}}}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status, 503, "the vacancies changed unaudited: {text}");
    assert!(text.contains("audit trail"), "{text}");

    // Nothing old was dropped to make room, nothing new was stored.
    let now = jetstream
        .get_stream(AUDIT_STREAM)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .clone();
    assert_eq!(
        (now.first_sequence, now.messages),
        (held.first_sequence, held.messages)
    );

    // The service's metrics show the stream at its bound.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = platform.metrics(&platform.discharges_url).await;
        let used = metric(&text, "pf_audit_stream_used_bytes");
        let max = metric(&text, "pf_audit_stream_max_bytes");
        if max == Some(bound as f64) && used >= Some(bound as f64) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gauge does not show the full stream: used {used:?}, max {max:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Nothing changed: with room again, the patient still has the old reason.
    set_audit_bound(&platform, 64 * 1024 * 1024).await;
    platform.wait_until_projected().await;
    assert_eq!(
        platform.live_state("pf:").await.version().await.unwrap(),
        version,
        "nothing changed"
    );
    let (status, opened) = send(
        &platform,
        &token,
        agent,
        reqwest::Method::GET,
        &format!("/api/v1/discharges/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{opened}");
    assert_eq!(opened["delay_reason"], "awaiting_care_home_place");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_refusals_are_limited_and_kept_as_few_records_with_a_count() {
    let platform = Platform::start().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let before = audit_records(&platform).await.len();
    let mut limited = 0u64;
    let mut retry_after = None;
    for _ in 0..200 {
        let response = client
            .get(format!("{}/control-room", platform.gateway_url))
            .send()
            .await
            .unwrap();
        if response.status().as_u16() == 429 {
            limited += 1;
            retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .map(|v| v.to_str().unwrap().to_owned());
            assert!(
                response.text().await.unwrap().contains("Too many refused"),
                "a 429 says why"
            );
        }
    }
    assert!(limited > 0, "200 anonymous requests and never a 429");
    assert!(retry_after.is_some(), "429 without Retry-After");

    // Every refusal is accounted for: records one by one within the budget,
    // the rest in aggregate records with their count (flushed periodically).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let records = audit_records(&platform).await;
        let refusals: Vec<&Value> = records[before..]
            .iter()
            .map(|(_, r)| r)
            .filter(|r| r["action"] == "control_room.view")
            .collect();
        let counted: u64 = refusals
            .iter()
            .map(|r| r["repeated"].as_u64().unwrap_or(1))
            .sum();
        if counted >= 200 {
            assert_eq!(counted, 200, "{refusals:?}");
            assert!(
                refusals.len() < 100,
                "{} records for 200 refusals",
                refusals.len()
            );
            let aggregated: u64 = refusals.iter().filter_map(|r| r["repeated"].as_u64()).sum();
            assert_eq!(aggregated, limited, "the aggregate counts every 429");
            assert!(refusals.iter().all(|r| r["actor"]["kind"] == "anonymous"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {counted} of 200 refusals are in the audit trail"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
