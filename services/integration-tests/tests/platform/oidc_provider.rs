//! Staff sign in through a real, standards-conforming OpenID provider (the
//! certified npm package `oidc-provider`, started by
//! `dashboards/oidc-provider/start.mjs`), shaped like NHS CIS2 (claims only
//! from userinfo, under custom scopes, national RBAC roles per
//! organisation, role selection) and like Microsoft Entra ID (app roles and
//! groups in the ID token). Roles come from the example mapping files in
//! `docs/sign-in/` alone. A discharge coordinator, a control-room viewer
//! and an administrator of each shape are signed in; the refusals (no
//! role, wrong organisation, changed state, replayed and expired codes)
//! are tested; the demo sign-in and the machine identities keep working in
//! the same identity service.
//!
//! The browser is played by an HTTP client that keeps cookies and follows
//! redirects one by one; the provider signs in the account the request's
//! `login_hint` names. Needs `node` and the dashboards' npm packages
//! (`scripts/test` installs both).

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::collections::BTreeMap;
use std::time::Duration;

use pf_identity::config::ClientAuth;
use pf_integration_tests::demo;
use pf_integration_tests::oidc_provider::{
    DEMO_SECRET, Provider, Service, identity, identity_of, streams,
};
use pf_test_support::{NatsServer, RedisServer};
use reqwest::Url;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::Value;

/// A browser: cookies by name (the provider and identity share the host,
/// and cookies ignore ports), redirects followed one at a time.
struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    async fn get(&mut self, url: &str) -> reqwest::Response {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = self
            .http
            .get(url)
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap();
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || text.to_ascii_lowercase().contains("max-age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        response
    }

    /// Where a redirect goes, resolved against the request's address.
    fn location(from: &str, response: &reqwest::Response) -> String {
        let to = response.headers()[LOCATION].to_str().unwrap();
        Url::parse(from).unwrap().join(to).unwrap().to_string()
    }

    /// Starts a sign-in at identity and signs in as `account` at the
    /// provider: the address the provider sends the browser back to.
    async fn sign_in_at_provider(&mut self, service: &Service, account: &str) -> String {
        let start = format!("{}/sign-in/oidc?return_to=/control-room", service.base);
        let response = self.get(&start).await;
        assert_eq!(response.status(), 303, "start");
        let mut url = Self::location(&start, &response);
        let authorize = Url::parse(&url).unwrap();
        let asked: BTreeMap<String, String> = authorize.query_pairs().into_owned().collect();
        assert_eq!(asked["code_challenge_method"], "S256");
        url.push_str(&format!("&login_hint={account}"));
        let callback = format!("{}/sign-in/oidc/callback", service.base);
        for _ in 0..10 {
            let response = self.get(&url).await;
            assert!(
                response.status().is_redirection(),
                "the provider answered {} at {url}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
            url = Self::location(&url, &response);
            if url.starts_with(&callback) {
                return url;
            }
        }
        panic!("the provider never sent the browser back");
    }

    /// Follows the callback: the page (refused) or the session (signed in).
    async fn finish(&mut self, callback: &str) -> reqwest::Response {
        self.get(callback).await
    }

    async fn me(&mut self, service: &Service) -> Value {
        let response = self.get(&format!("{}/api/v1/me", service.base)).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

/// Signs `account` in; their roles and organisations, as identity sees them.
async fn signed_in(service: &Service, account: &str) -> (Vec<String>, Vec<String>, Value) {
    let mut browser = Browser::new();
    let callback = browser.sign_in_at_provider(service, account).await;
    let done = browser.finish(&callback).await;
    let status = done.status();
    assert_eq!(
        status,
        303,
        "{account}: {}",
        done.text().await.unwrap_or_default()
    );
    assert!(browser.cookies.contains_key("pf_session"), "{account}");
    let me = browser.me(service).await;
    let roles = me["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    let orgs = me["principal"]["grants"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["organisations"].as_array().cloned().unwrap_or_default())
        .map(|o| o.as_str().unwrap().to_owned())
        .collect();
    (roles, orgs, me)
}

/// Signs `account` in and expects a refusal page: its status and text.
async fn refused(service: &Service, account: &str) -> (u16, String) {
    let mut browser = Browser::new();
    let callback = browser.sign_in_at_provider(service, account).await;
    let page = browser.finish(&callback).await;
    let status = page.status().as_u16();
    assert!(!browser.cookies.contains_key("pf_session"), "{account}");
    (status, page.text().await.unwrap())
}

async fn audit_refusals(service: &Service) -> Vec<String> {
    let admin = service
        .issuer
        .issue(&demo("demo-system-admin"), Duration::from_secs(300))
        .unwrap();
    let records: Vec<Value> = reqwest::Client::new()
        .get(format!("{}/api/v1/audit", service.base))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    records
        .iter()
        .filter(|r| r["action"] == "identity.signed_in" && r["outcome"]["result"] == "refused")
        .map(|r| {
            r["outcome"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// The demo sign-in and a machine identity work beside the staff provider.
async fn demo_and_machines_still_work(service: &Service) {
    let http = reqwest::Client::new();
    let page = http
        .get(format!("{}/sign-in", service.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("demo-discharge-coordinator"), "{page}");
    assert!(page.contains("Sign in with your organisation"), "{page}");
    let token: Value = http
        .post(format!("{}/oauth/token", service.base))
        .basic_auth("simulator", Some(DEMO_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let me = http
        .get(format!("{}/api/v1/me", service.base))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["principal"]["id"], "simulator");
}

#[tokio::test]
async fn cis2_shaped_provider_signs_staff_in_with_roles_from_the_mapping_file() {
    let redis = RedisServer::start();
    let nats = NatsServer::start();
    streams(&nats).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect = format!(
        "http://{}/sign-in/oidc/callback",
        listener.local_addr().unwrap()
    );
    let provider = Provider::start("cis2", "client_secret_basic", &redirect);
    let service = identity(
        &redis,
        &nats,
        listener,
        &provider,
        ClientAuth::Basic,
        "openid profile nationalrbacaccess associatedorgs selectedrole",
        "cis2.json",
    )
    .await;

    // National RBAC roles from userinfo, mapped per organisation.
    let (roles, orgs, me) = signed_in(&service, "cis2-coordinator").await;
    assert_eq!(roles, ["discharge_coordinator"], "{me}");
    assert_eq!(orgs, ["RWE"], "{me}");
    assert_eq!(me["principal"]["name"], "Asha Coordinator (test)");
    let (roles, _, me) = signed_in(&service, "cis2-viewer").await;
    assert_eq!(roles, ["control_room_viewer"], "{me}");
    let (roles, _, me) = signed_in(&service, "cis2-admin").await;
    assert_eq!(roles, ["system_admin"], "{me}");
    // Two roles: only the one selected at sign-in counts.
    let (roles, _, me) = signed_in(&service, "cis2-two-roles").await;
    assert_eq!(roles, ["control_room_viewer"], "{me}");

    // No mapped role, or the role at an organisation the mapping does not name.
    let (status, page) = refused(&service, "cis2-no-role").await;
    assert_eq!(status, 403);
    assert!(
        page.contains("You do not have a role on Patient Flow"),
        "{page}"
    );
    assert!(page.contains("S8000:G8000:R8000 at RWE"), "{page}");
    assert!(page.contains("Registration Authority"), "{page}");
    let (status, page) = refused(&service, "cis2-wrong-org").await;
    assert_eq!(status, 403);
    assert!(page.contains("R8001 at RXX"), "{page}");

    // A state changed on the way back.
    let mut browser = Browser::new();
    let callback = browser
        .sign_in_at_provider(&service, "cis2-coordinator")
        .await;
    let url = Url::parse(&callback).unwrap();
    let state: String = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let mut changed: Vec<char> = state.chars().collect();
    changed[3] = if changed[3] == 'A' { 'B' } else { 'A' };
    let changed: String = changed.into_iter().collect();
    let page = browser.finish(&callback.replace(&state, &changed)).await;
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("was changed"));

    // A code used once cannot be used again with a new sign-in's state.
    let signed = browser.finish(&callback).await;
    assert_eq!(signed.status(), 303);
    let code: String = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let mut other = Browser::new();
    let fresh = other
        .sign_in_at_provider(&service, "cis2-coordinator")
        .await;
    let fresh_code: String = Url::parse(&fresh)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let replayed = other.finish(&fresh.replace(&fresh_code, &code)).await;
    assert_eq!(replayed.status(), 400);
    assert!(!other.cookies.contains_key("pf_session"));

    // A code that expired before it was used.
    let mut slow = Browser::new();
    let late = slow.sign_in_at_provider(&service, "slow-code").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let expired = slow.finish(&late).await;
    assert_eq!(expired.status(), 400);
    assert!(!slow.cookies.contains_key("pf_session"));

    // The assurance level CIS2 sent is in the sign-in's audit record.
    let admin = service
        .issuer
        .issue(&demo("demo-system-admin"), Duration::from_secs(300))
        .unwrap();
    let records: Vec<Value> = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/audit?entity=person/cis2-coordinator",
            service.base
        ))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        records.iter().any(|r| r["action"] == "identity.signed_in"
            && r["outcome"]["result"] == "accepted"
            && r["assurance"] == "authentication_assurance_level=3; id_assurance_level=3"),
        "{records:?}"
    );

    let reasons = audit_refusals(&service).await;
    for expected in [
        "no mapped role; the person holds: S8000:G8000:R8000 at RWE",
        "R8001 at RXX",
        "state was changed",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(expected)),
            "{expected}: {reasons:?}"
        );
    }
    assert!(
        reasons
            .iter()
            .filter(|r| r.contains("refused the code (invalid_grant)"))
            .count()
            >= 2,
        "the replayed and the expired code: {reasons:?}"
    );

    demo_and_machines_still_work(&service).await;
}

#[tokio::test]
async fn entra_shaped_provider_signs_staff_in_with_app_roles_and_groups_from_the_mapping_file() {
    let redis = RedisServer::start();
    let nats = NatsServer::start();
    streams(&nats).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect = format!(
        "http://{}/sign-in/oidc/callback",
        listener.local_addr().unwrap()
    );
    let provider = Provider::start("entra", "client_secret_post", &redirect);
    let service = identity(
        &redis,
        &nats,
        listener,
        &provider,
        ClientAuth::Post,
        "openid profile email",
        "entra.json",
    )
    .await;

    let (roles, orgs, me) = signed_in(&service, "entra-coordinator").await;
    assert_eq!(roles, ["discharge_coordinator"], "{me}");
    assert_eq!(orgs, ["RWE"], "{me}");
    let (roles, _, me) = signed_in(&service, "entra-viewer").await;
    assert_eq!(roles, ["control_room_viewer"], "{me}");
    // An administrator by group membership.
    let (roles, _, me) = signed_in(&service, "entra-admin").await;
    assert_eq!(roles, ["system_admin"], "{me}");

    let (status, page) = refused(&service, "entra-no-role").await;
    assert_eq!(status, 403);
    assert!(page.contains("Finance.Reader"), "{page}");
    assert!(page.contains("app role in Microsoft Entra ID"), "{page}");

    demo_and_machines_still_work(&service).await;
}

/// A new P-256 private key as PKCS#8 PEM.
fn new_client_key_pem() -> String {
    use base64::Engine as _;
    use p256::elliptic_curve::Generate as _;
    use p256::pkcs8::EncodePrivateKey as _;
    let der = p256::ecdsa::SigningKey::try_generate()
        .unwrap()
        .to_pkcs8_der()
        .unwrap();
    let body = base64::engine::general_purpose::STANDARD.encode(der.as_bytes());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn a_signed_client_assertion_authenticates_us_and_another_key_does_not() {
    let redis = RedisServer::start();
    let nats = NatsServer::start();
    streams(&nats).await;
    let ours =
        pf_identity::oidc::assertion::ClientKey::from_pem(&new_client_key_pem(), None).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect = format!(
        "http://{}/sign-in/oidc/callback",
        listener.local_addr().unwrap()
    );
    let port = pf_test_support::free_port();
    let service = identity_of(
        &redis,
        &nats,
        listener,
        &format!("http://127.0.0.1:{port}"),
        ClientAuth::PrivateKeyJwt,
        Some(ours),
        "openid profile nationalrbacaccess associatedorgs selectedrole",
        "cis2.json",
    )
    .await;
    // The provider is registered with the public key identity publishes.
    let published = reqwest::get(format!("{}/sign-in/oidc/client-jwks.json", service.base))
        .await
        .unwrap();
    assert_eq!(published.status(), 200);
    let published = published.text().await.unwrap();
    assert!(!published.contains("\"d\""), "no private part: {published}");
    let provider = Provider::start_on(port, "cis2", "private_key_jwt", &redirect, Some(&published));
    let (roles, orgs, me) = signed_in(&service, "cis2-coordinator").await;
    assert_eq!(roles, ["discharge_coordinator"], "{me}");
    assert_eq!(orgs, ["RWE"], "{me}");
    drop(provider);

    // Registered with another key, the provider refuses our assertions.
    let other =
        pf_identity::oidc::assertion::ClientKey::from_pem(&new_client_key_pem(), None).unwrap();
    let other_jwks = serde_json::to_string(&other.public_jwks()).unwrap();
    let _provider = Provider::start_on(
        port,
        "cis2",
        "private_key_jwt",
        &redirect,
        Some(&other_jwks),
    );
    let (status, _) = refused(&service, "cis2-coordinator").await;
    assert_eq!(status, 400);
    let reasons = audit_refusals(&service).await;
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("refused the code (invalid_client)")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn an_opaque_access_token_is_introspected_and_a_made_up_one_is_refused() {
    use pf_access::{ClaimMapping, Introspection, IssuerConfig, JwksSource, TokenError};
    use pf_integration_tests::oidc_provider::{CLIENT_ID, CLIENT_SECRET, repo};
    use pf_sign_in::{AuthError, Authenticator, SessionPolicy, SignInStore};

    let redis = RedisServer::start();
    let redirect = "http://127.0.0.1:9/callback";
    let provider = Provider::start("cis2", "client_secret_basic", redirect);

    // An access token for a CIS2 discharge coordinator, as an app calling
    // Patient Flow's APIs would hold it (the provider's tokens are opaque).
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let mut authorize = Url::parse(&format!("{}/auth", provider.issuer)).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", redirect)
        .append_pair(
            "scope",
            "openid profile nationalrbacaccess associatedorgs selectedrole",
        )
        .append_pair("state", "s")
        .append_pair("nonce", "n")
        .append_pair("code_challenge", &pf_identity::pkce::challenge(verifier))
        .append_pair("code_challenge_method", "S256")
        .append_pair("login_hint", "cis2-coordinator");
    let mut browser = Browser::new();
    let mut url = authorize.to_string();
    while !url.starts_with(redirect) {
        let response = browser.get(&url).await;
        assert!(response.status().is_redirection(), "{url}");
        url = Browser::location(&url, &response);
    }
    let code: String = Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let tokens: Value = reqwest::Client::new()
        .post(format!("{}/token", provider.issuer))
        .basic_auth(
            pf_identity::oidc::client::form_encoded(CLIENT_ID),
            Some(pf_identity::oidc::client::form_encoded(CLIENT_SECRET)),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    assert_ne!(access_token.split('.').count(), 3, "an opaque token");

    let mut staff = IssuerConfig::new(provider.issuer.clone(), CLIENT_ID, JwksSource::Discovery);
    staff.claims = ClaimMapping::from_file(&repo().join("docs/sign-in/cis2.json")).unwrap();
    let store = SignInStore::connect(&redis.url(), "test:auth:", SessionPolicy::default())
        .await
        .unwrap();
    let bearer = |token: &str| {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        headers
    };

    // Without introspection an opaque token is refused, saying why.
    let plain = Authenticator::new(
        Some(pf_access::TokenVerifier::new(staff.clone()).unwrap()),
        store.clone(),
    );
    assert!(matches!(
        plain.authenticate(&bearer(&access_token)).await,
        Err(AuthError::Token(TokenError::Opaque))
    ));

    // With it, the provider vouches for the token and userinfo gives the roles.
    staff.introspection = Some(Introspection {
        url: format!("{}/token/introspection", provider.issuer),
        client_id: CLIENT_ID.to_owned(),
        client_secret: CLIENT_SECRET.to_owned(),
        userinfo_url: Some(format!("{}/me", provider.issuer)),
    });
    let introspecting =
        Authenticator::new(Some(pf_access::TokenVerifier::new(staff).unwrap()), store);
    let (principal, _) = introspecting
        .authenticate(&bearer(&access_token))
        .await
        .unwrap();
    assert_eq!(principal.id, "cis2-coordinator");
    assert_eq!(
        principal.roles(),
        vec![pf_access::Role::DischargeCoordinator]
    );
    // Asked again: the same answer (from the cache).
    let (again, _) = introspecting
        .authenticate(&bearer(&access_token))
        .await
        .unwrap();
    assert_eq!(again, principal);
    // A made-up opaque token is not active.
    assert!(matches!(
        introspecting
            .authenticate(&bearer("made-up-opaque-token-0123456789"))
            .await,
        Err(AuthError::Token(TokenError::Inactive))
    ));
}
