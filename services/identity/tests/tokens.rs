//! The demo issuer's endpoints: keys, discovery, client-credentials tokens.
#![allow(clippy::unwrap_used)]

mod helpers;

use helpers::{DEMO_SECRET, spawn_with};
use pf_access::{Role, TokenVerifier};
use serde_json::Value;

#[tokio::test]
async fn a_client_credentials_token_verifies_and_a_wrong_secret_is_invalid_client() {
    // Secure cookies: HSTS must be sent too.
    let app = spawn_with(|c| c.insecure_cookies = false).await;

    let discovery: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], app.base.as_str());
    assert_eq!(
        discovery["token_endpoint"],
        app.url("/oauth/token").as_str()
    );
    let jwks = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200);
    let jwks: Value = jwks.json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kid"], app.issuer.key_id());

    let response = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "simulator"),
            ("client_secret", DEMO_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let verifier = TokenVerifier::new(app.issuer.issuer_config()).unwrap();
    let principal = verifier
        .verify(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(principal.id, "simulator");
    assert!(principal.is_machine() && principal.has_role(Role::BedPublisher));

    // HTTP Basic works too.
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth("loadtest", Some(DEMO_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    for (id, secret) in [
        ("simulator", "wrong"),
        ("nobody", DEMO_SECRET),
        ("demo-system-admin", DEMO_SECRET),
    ] {
        let response = app
            .http
            .post(app.url("/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{id}");
        assert!(response.headers().contains_key("www-authenticate"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{id}");
    }

    let response = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "simulator"),
            ("client_secret", DEMO_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");

    // The issue and the refusals are in the audit trail.
    let records = app.audit("entity=client/").await;
    let outcome = |entity: &str, result: &str| {
        records
            .iter()
            .any(|r| r["entity"] == entity && r["outcome"]["result"] == result)
    };
    assert!(outcome("client/simulator", "accepted"), "{records:?}");
    assert!(outcome("client/simulator", "refused"), "{records:?}");
    assert!(outcome("client/nobody", "refused"), "{records:?}");
}

#[tokio::test]
async fn token_requests_are_rate_limited_per_client() {
    let app = spawn_with(|c| c.token_rate_per_minute = 2).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = app
            .http
            .post(app.url("/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "simulator"),
                ("client_secret", DEMO_SECRET),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
        }
    }
    assert_eq!(statuses, vec![200, 200, 429]);
}
