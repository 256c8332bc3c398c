//! Several trusted issuers side by side: the built-in issuer of machine
//! identities and a trust's staff provider with its own claim mapping.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use pf_access::{
    ClaimMapping, LocalIssuer, LocalIssuerConfig, Mode, Role, TokenError, TokenVerifier,
    TrustedIssuers, demo_principals,
};
use pf_sign_in::{AuthError, Authenticator, SessionPolicy, SignInStore};
use pf_test_support::RedisServer;
use serde_json::json;

fn issuer(iss: &str, kid: &str) -> LocalIssuer {
    LocalIssuer::new(
        Mode::Development,
        LocalIssuerConfig {
            issuer: iss.to_owned(),
            audience: "patient-flow".to_owned(),
            key_id: Some(kid.to_owned()),
        },
    )
    .unwrap()
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

#[tokio::test]
async fn machine_tokens_and_a_staff_providers_tokens_are_both_accepted_each_by_its_rules() {
    let redis = RedisServer::start();
    let machines = issuer("http://127.0.0.1:8083", "built-in");
    let staff = issuer("https://login.example-trust.nhs.uk", "trust");
    let stranger = issuer("https://elsewhere.example", "other");

    // The staff provider's app roles mean something only through its mapping.
    let mut staff_config = staff.issuer_config();
    staff_config.claims = ClaimMapping::from_json(
        r#"{"rules": [{"provider_role": "PatientFlow.Discharge", "role": "discharge_coordinator", "organisations": ["RWE"]}]}"#,
    )
    .unwrap();
    let issuers = TrustedIssuers::new(vec![
        TokenVerifier::new(machines.issuer_config()).unwrap(),
        TokenVerifier::new(staff_config).unwrap(),
    ])
    .unwrap();
    let store = SignInStore::connect(&redis.url(), "test:auth:", SessionPolicy::default())
        .await
        .unwrap();
    let authenticator = Authenticator::with_issuers(issuers, store);

    // The simulator's client-credentials token, from the built-in issuer.
    let simulator = demo_principals()
        .into_iter()
        .find(|p| p.id == "simulator")
        .unwrap();
    let token = machines
        .issue(&simulator, Duration::from_secs(600))
        .unwrap();
    let (principal, _) = authenticator.authenticate(&bearer(&token)).await.unwrap();
    assert_eq!(principal, simulator);

    // A person's access token from the staff provider, roles by its mapping.
    let now = jsonwebtoken_now();
    let person = staff
        .sign(&json!({
            "iss": staff.issuer(), "aud": "patient-flow", "sub": "entra-oid-7",
            "name": "Sam Jones", "roles": ["PatientFlow.Discharge"],
            "iat": now, "nbf": now, "exp": now + 600,
        }))
        .unwrap();
    let (principal, _) = authenticator.authenticate(&bearer(&person)).await.unwrap();
    assert_eq!(principal.roles(), vec![Role::DischargeCoordinator]);
    assert_eq!(principal.name, "Sam Jones");

    // The staff mapping is the staff provider's alone: the same claims
    // under the built-in issuer give no role ...
    let unmapped = machines
        .sign(&json!({
            "iss": machines.issuer(), "aud": "patient-flow", "sub": "x",
            "roles": ["PatientFlow.Discharge"],
            "iat": now, "nbf": now, "exp": now + 600,
        }))
        .unwrap();
    assert!(matches!(
        authenticator.authenticate(&bearer(&unmapped)).await,
        Err(AuthError::Token(TokenError::NoRoles))
    ));
    // ... a token naming the staff issuer but signed by another key fails ...
    let forged = machines
        .sign(&json!({
            "iss": staff.issuer(), "aud": "patient-flow", "sub": "entra-oid-7",
            "roles": ["PatientFlow.Discharge"],
            "iat": now, "nbf": now, "exp": now + 600,
        }))
        .unwrap();
    assert!(matches!(
        authenticator.authenticate(&bearer(&forged)).await,
        Err(AuthError::Token(TokenError::UnknownKey { .. }))
    ));
    // ... and an issuer nobody configured is refused.
    let other = stranger
        .issue(&simulator, Duration::from_secs(600))
        .unwrap();
    assert!(matches!(
        authenticator.authenticate(&bearer(&other)).await,
        Err(AuthError::Token(TokenError::WrongIssuer))
    ));
}

#[test]
fn the_staff_provider_is_read_from_the_environment_with_its_mapping_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("entra.json");
    std::fs::write(
        &file,
        r#"{"rules": [{"provider_role": "PatientFlow.ControlRoom", "role": "control_room_viewer"}]}"#,
    )
    .unwrap();
    let path = file.display().to_string();
    let env = |pairs: Vec<(&'static str, String)>| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        }
    };
    assert!(
        pf_sign_in::settings::staff_issuer_from(env(vec![]), "patient-flow")
            .unwrap()
            .is_none()
    );
    let staff = pf_sign_in::settings::staff_issuer_from(
        env(vec![
            (
                "PF_STAFF_ISSUER",
                "https://login.example/tenant/v2.0/".to_owned(),
            ),
            ("PF_STAFF_AUDIENCE", "api://patient-flow".to_owned()),
            ("PF_STAFF_CLAIMS_FILE", path.clone()),
        ]),
        "patient-flow",
    )
    .unwrap()
    .unwrap();
    assert_eq!(staff.issuer, "https://login.example/tenant/v2.0");
    assert_eq!(staff.audience, "api://patient-flow");
    assert_eq!(staff.claims.rules.len(), 1);
    std::fs::write(&file, r#"{"rule": []}"#).unwrap();
    let misspelt = pf_sign_in::settings::staff_issuer_from(
        env(vec![
            ("PF_STAFF_ISSUER", "https://login.example".to_owned()),
            ("PF_STAFF_CLAIMS_FILE", path),
        ]),
        "patient-flow",
    );
    assert!(misspelt.is_err());
}

fn jsonwebtoken_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
