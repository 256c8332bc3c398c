//! Nothing secret reaches the logs: not tokens, client secrets, session or
//! CSRF cookies, nor sign-in link tokens.
#![allow(clippy::unwrap_used)]

mod helpers;

use std::io::Write;
use std::sync::{Arc, Mutex};

use helpers::{DEMO_SECRET, cookie_value, demo, spawn};
use reqwest::header::COOKIE;
use serde_json::{Value, json};

/// Collects everything the service logs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(
            "pf_identity=trace,pf_sign_in=trace,pf_access=trace,pf_audit=trace,tower_http=trace,axum=trace",
        )
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let app = spawn().await;
    let mut secrets = vec![DEMO_SECRET.to_owned()];

    let token: Value = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "simulator"),
            ("client_secret", DEMO_SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(token["access_token"].as_str().unwrap().to_owned());

    let csrf = app.sign_in_form().await;
    secrets.push(csrf.clone());
    let response = app.post_sign_in("demo-system-admin", "/").await;
    secrets.push(cookie_value(&response, "pf_session").unwrap());

    let admin = app.token_for(&demo("demo-system-admin"));
    secrets.push(admin.clone());
    let link: Value = app
        .http
        .post(app.url("/api/v1/access/links"))
        .bearer_auth(&admin)
        .json(&json!({ "name": "Sam", "person_id": "sam", "care_homes": ["1-000000001"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = link["link"].as_str().unwrap().to_owned();
    let link_token = link.rsplit('/').next().unwrap().to_owned();
    secrets.push(link_token.clone());
    let path = format!("/sign-in/link/{link_token}");
    let page = app.http.get(app.url(&path)).send().await.unwrap();
    let link_csrf = cookie_value(&page, "pf_csrf").unwrap();
    let redeemed = app
        .http
        .post(app.url(&path))
        .header(COOKIE, format!("pf_csrf={link_csrf}"))
        .form(&[("csrf_token", link_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(redeemed.status(), 303);
    secrets.push(cookie_value(&redeemed, "pf_session").unwrap());

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("issued a sign-in link"),
        "the capture works: {logs}"
    );
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret was logged:\n{logs}"
        );
    }
}
