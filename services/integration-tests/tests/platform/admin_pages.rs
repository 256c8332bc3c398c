//! The administration pages with the rest of the platform: a person
//! withdrawn from `/admin/people` loses their open control-room feed at the
//! gateway's next access check, as well as their session; and the audit
//! page answers "who opened this patient's record" for a record opened at
//! the discharges service.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::Duration;

use futures::StreamExt as _;
use pf_access::{Grant, Principal, Role};
use pf_discharge_model::NhsNumber;
use pf_identity::{Identity, IdentityConfig};
use pf_integration_tests::{Platform, dashboards_dir};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_util::sync::CancellationToken;

/// Signs `person` in at the demo sign-in page: the `Cookie` header value.
async fn sign_in(http: &reqwest::Client, identity: &str, person: &str) -> String {
    let page = http
        .get(format!("{identity}/sign-in"))
        .send()
        .await
        .unwrap();
    let csrf = page
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("pf_csrf="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let response = http
        .post(format!("{identity}/sign-in"))
        .header(COOKIE, format!("pf_csrf={csrf}"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("person", person),
            ("return_to", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let session = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("pf_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    format!("pf_session={session}")
}

/// The identity service on the platform's Redis and NATS (demo sign-in
/// on): its address. Stopped when `shutdown` is cancelled.
async fn identity(platform: &Platform, shutdown: &CancellationToken) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let identity = format!("http://{}", listener.local_addr().unwrap());
    let mut config = IdentityConfig::local(
        &platform.redis.url(),
        &platform.nats.url(),
        dashboards_dir(),
    );
    config.public_url = identity.clone();
    tokio::spawn(
        Identity::build(config)
            .await
            .unwrap()
            .serve(listener, shutdown.clone()),
    );
    identity
}

/// A client that does not follow redirects (the pages answer 303).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_withdrawn_from_the_admin_page_loses_their_live_feed() {
    let platform = Platform::start().await;
    let shutdown = CancellationToken::new();
    let identity = identity(&platform, &shutdown).await;
    let http = client();

    let viewer = sign_in(&http, &identity, "demo-control-room").await;
    let url = format!(
        "{}/ws/control-room",
        platform.gateway_url.replacen("http", "ws", 1)
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", viewer.parse().unwrap());
    let (mut live, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), live.next())
        .await
        .unwrap();
    assert!(
        matches!(first, Some(Ok(Message::Text(_)))),
        "the feed opens: {first:?}"
    );

    let admin = sign_in(&http, &identity, "demo-system-admin").await;
    let me: Value = http
        .get(format!("{identity}/api/v1/me"))
        .header(COOKIE, &admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = me["csrf_token"].as_str().unwrap();
    let withdrawn = http
        .post(format!("{identity}/admin/people"))
        .header(COOKIE, &admin)
        .form(&[
            ("csrf_token", csrf),
            ("person_id", "demo-control-room"),
            ("change", "revoke"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(withdrawn.status(), 303);

    // The gateway closes the feed as signed out (4401) at its next check.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let closed = loop {
        let message = tokio::time::timeout_at(deadline, live.next())
            .await
            .expect("the feed was not closed");
        match message {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break None,
        }
    };
    assert_eq!(closed, Some(4401));
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_page_says_who_opened_a_patients_record() {
    let platform = Platform::start().await;
    let shutdown = CancellationToken::new();
    let identity = identity(&platform, &shutdown).await;
    let http = client();

    // A coordinator adds a patient and another opens their record.
    let coordinator = |id: &str| {
        platform.token_for(
            &Principal::person(id, format!("Coordinator {id}"), None)
                .with_grant(Grant::parse(Role::DischargeCoordinator, &["RWE"]).unwrap()),
        )
    };
    let added = http
        .post(format!("{}/api/v1/discharges", platform.discharges_url))
        .bearer_auth(coordinator("idt-adds"))
        .json(&json!({
            "nhs_number": NhsNumber::test_number(41).as_str(),
            "sex": "female",
            "site": "RWEAA",
            "ward": "WD15",
            "discharge_ready_date": "2026-11-27",
            "pathway": 3,
            "care_needed": "residential",
            "search_postcode": "LE2 7LX",
            "delay_reason": "awaiting_care_home_place",
            "needs": "Walks with a frame"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let added: Value = added.json().await.unwrap();
    let id = added["discharge_id"].as_str().unwrap().to_owned();
    let opened = http
        .get(format!(
            "{}/api/v1/discharges/{id}",
            platform.discharges_url
        ))
        .bearer_auth(coordinator("idt-opens"))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 200);

    // The administrator asks the audit page who opened it.
    let admin = sign_in(&http, &identity, "demo-system-admin").await;
    let page = http
        .get(format!(
            "{identity}/admin/audit?entity=discharge%2F{id}&action=discharge.open"
        ))
        .header(COOKIE, &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let rows: Vec<&str> = page
        .split("<tr")
        .skip(2) // before the table, and its heading row
        .collect();
    assert!(
        rows.iter()
            .any(|row| row.contains("idt-opens") && row.contains("discharge.open")),
        "{page}"
    );
    assert!(
        rows.iter().all(|row| row.contains("discharge.open")),
        "only openings are listed: {page}"
    );
    assert!(
        !page.contains(NhsNumber::test_number(41).as_str()),
        "the page never shows the NHS number"
    );
    shutdown.cancel();
}
