//! Organisation sign-in (OpenID Connect authorization code with PKCE,
//! state and nonce), against the demo issuer acting as the provider.
#![allow(clippy::unwrap_used)]

mod helpers;

use std::collections::HashMap;
use std::time::Duration;

use axum::routing::post;
use helpers::{App, DEMO_SECRET, cookie_value, demo, hidden_field, spawn, spawn_with};
use pf_access::{TokenVerifier, demo_principals};
use pf_identity::clients::DEMO_WEB_CLIENT;
use pf_identity::config::{ClientAuth, IdentityConfig, OidcClientConfig, Secret};
use pf_identity::pkce;
use reqwest::Url;
use reqwest::header::COOKIE;
use serde_json::{Value, json};

/// Organisation sign-in configured with this service as its own provider.
fn self_provider(config: &mut IdentityConfig) {
    config.oidc = Some(OidcClientConfig {
        issuer: config.public_url.clone(),
        client_id: DEMO_WEB_CLIENT.to_owned(),
        client_secret: Secret::new(DEMO_SECRET),
        client_auth: ClientAuth::Basic,
        client_key: None,
        redirect_url: format!("{}/sign-in/oidc/callback", config.public_url),
        authorization_url: None,
        token_url: None,
        jwks_url: None,
        scopes: pf_identity::config::DEFAULT_SCOPES.to_owned(),
        userinfo_url: None,
        claims: pf_access::ClaimMapping::default(),
    });
}

fn query(url: &str) -> HashMap<String, String> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// A started sign-in: where the provider is asked, and the browser cookie.
struct Started {
    authorize: String,
    browser: String,
}

impl Started {
    fn param(&self, name: &str) -> String {
        query(&self.authorize)[name].clone()
    }
}

async fn start(app: &App, return_to: &str) -> Started {
    let response = app
        .http
        .get(app.url("/sign-in/oidc"))
        .query(&[("return_to", return_to)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let authorize = location(&response);
    assert!(
        authorize.starts_with(&app.url("/oauth/authorize?")),
        "{authorize}"
    );
    let cookie = helpers::set_cookie(&response, "pf_oidc").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    Started {
        authorize,
        browser: format!("pf_oidc={}", cookie_value(&response, "pf_oidc").unwrap()),
    }
}

/// Chooses `person` on the demo provider's page: the callback address.
async fn choose(app: &App, started: &Started, person: &str) -> String {
    let page = app.http.get(&started.authorize).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csrf = cookie_value(&page, "pf_csrf").unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("value=\"{person}\"")), "{html}");
    let mut form: Vec<(String, String)> = [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    ]
    .into_iter()
    .map(|name| {
        let value = hidden_field(&html, name).unwrap();
        assert_eq!(value, started.param(name), "{name}");
        (name.to_owned(), value)
    })
    .collect();
    form.push(("person".to_owned(), person.to_owned()));
    form.push(("csrf_token".to_owned(), csrf.clone()));
    let response = app
        .http
        .post(app.url("/oauth/authorize"))
        .header(COOKIE, format!("pf_csrf={csrf}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    location(&response)
}

/// The provider's answer without a page, through `login_hint`.
async fn hinted(app: &App, authorize: &str, person: &str) -> String {
    let response = app
        .http
        .get(format!("{authorize}&login_hint={person}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    location(&response)
}

async fn follow(app: &App, url: &str, cookie: &str) -> reqwest::Response {
    app.http
        .get(url)
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
}

fn refusals(records: &[Value], action: &str) -> Vec<String> {
    records
        .iter()
        .filter(|r| r["action"] == action && r["outcome"]["result"] == "refused")
        .map(|r| {
            r["outcome"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn organisation_sign_in_round_trip_ends_in_a_working_session() {
    let app = spawn_with(self_provider).await;

    // The sign-in page offers it, carrying where to go afterwards.
    let page = app
        .http
        .get(app.url("/sign-in?return_to=/control-room%3Fsite%3DRWE"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Sign in with your organisation's account"),
        "{page}"
    );
    assert!(
        page.contains("href=\"&#x2f;sign-in&#x2f;oidc?return_to=%2Fcontrol-room%3Fsite%3DRWE\""),
        "{page}"
    );

    let started = start(&app, "/control-room?site=RWE").await;
    assert_eq!(started.param("response_type"), "code");
    assert_eq!(started.param("client_id"), DEMO_WEB_CLIENT);
    assert_eq!(started.param("scope"), "openid profile email");
    assert_eq!(started.param("code_challenge_method"), "S256");
    assert_eq!(
        started.param("redirect_uri"),
        app.url("/sign-in/oidc/callback")
    );
    assert!(started.param("state").len() > 43);
    assert_eq!(started.param("nonce").len(), 43);
    assert!(pkce::challenge_ok(&started.param("code_challenge")));

    let callback = choose(&app, &started, "demo-discharge-coordinator").await;
    assert!(
        callback.starts_with(&app.url("/sign-in/oidc/callback?")),
        "{callback}"
    );
    assert_eq!(query(&callback)["state"], started.param("state"));

    let signed_in = follow(&app, &callback, &started.browser).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(location(&signed_in), "/control-room?site=RWE");
    let cookie = helpers::set_cookie(&signed_in, "pf_session").unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    let session = format!(
        "pf_session={}",
        cookie_value(&signed_in, "pf_session").unwrap()
    );

    let me = app.get_with_cookie("/api/v1/me", &session).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["principal"]["id"], "demo-discharge-coordinator");
    assert_eq!(me["roles"], json!(["discharge_coordinator"]));
    assert!(me["csrf_token"].is_string(), "a browser session: {me}");

    let records = app.audit("entity=person/demo-discharge-coordinator").await;
    let accepted = |action: &str| {
        records.iter().any(|r| {
            r["action"] == action
                && r["actor"]["id"] == "demo-discharge-coordinator"
                && r["outcome"]["result"] == "accepted"
                && r["source"]["service"] == "identity"
        })
    };
    assert!(accepted("identity.signed_in"), "{records:?}");
    assert!(accepted("identity.token_issued"), "{records:?}");
}

#[tokio::test]
async fn a_reused_unknown_or_other_browsers_state_is_refused() {
    // The client secret in the form this time (client_secret_post).
    let app = spawn_with(|c| {
        self_provider(c);
        if let Some(oidc) = c.oidc.as_mut() {
            oidc.client_auth = ClientAuth::Post;
        }
    })
    .await;
    let started = start(&app, "/control-room").await;
    let callback = hinted(&app, &started.authorize, "demo-control-room").await;

    // Another browser (no pf_oidc cookie, or another one) cannot use it ...
    let elsewhere = follow(
        &app,
        &callback,
        "pf_oidc=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .await;
    assert_eq!(elsewhere.status(), 400);
    assert!(
        elsewhere
            .text()
            .await
            .unwrap()
            .contains("started somewhere else")
    );
    // ... and that used the state up: the right browser cannot either.
    let used = follow(&app, &callback, &started.browser).await;
    assert_eq!(used.status(), 400);
    assert!(
        used.text()
            .await
            .unwrap()
            .contains("This sign-in has expired")
    );

    // A completed sign-in cannot be replayed.
    let started = start(&app, "/control-room").await;
    let callback = hinted(&app, &started.authorize, "demo-control-room").await;
    assert_eq!(
        follow(&app, &callback, &started.browser).await.status(),
        303
    );
    let replayed = follow(&app, &callback, &started.browser).await;
    assert_eq!(replayed.status(), 400);
    assert!(helpers::set_cookie(&replayed, "pf_session").is_none());

    // A made-up state, and an answer without one.
    let made_up = app.url("/sign-in/oidc/callback?code=abc&state=not-a-state-we-made");
    assert_eq!(follow(&app, &made_up, &started.browser).await.status(), 400);
    let bare = app.url("/sign-in/oidc/callback?code=abc");
    assert_eq!(follow(&app, &bare, &started.browser).await.status(), 400);

    let reasons = refusals(&app.audit("").await, "identity.signed_in");
    assert!(
        reasons.iter().any(|r| r.contains("another browser")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .filter(|r| r.contains("unknown, expired or already used"))
            .count()
            >= 2,
        "{reasons:?}"
    );
    // The made-up state is not one this browser was given.
    assert!(
        reasons.iter().any(|r| r.contains("state was changed")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn the_token_endpoint_checks_pkce_redirect_and_single_use() {
    let app = spawn_with(self_provider).await;
    let redirect = app.url("/sign-in/oidc/callback");
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let authorize = |challenge: &str| {
        let mut url = Url::parse(&app.url("/oauth/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", DEMO_WEB_CLIENT)
            .append_pair("redirect_uri", &redirect)
            .append_pair("scope", "openid")
            .append_pair("state", "st")
            .append_pair("nonce", "nonce-123")
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        url.to_string()
    };
    let code = |callback: String| query(&callback)["code"].clone();
    let redeem = |code: String, verifier: &'static str, redirect: String| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/oauth/token"))
                .basic_auth(DEMO_WEB_CLIENT, Some(DEMO_SECRET))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &redirect),
                    ("code_verifier", verifier),
                ])
                .send()
                .await
                .unwrap()
        }
    };

    // A wrong verifier is refused, and the code is used up by the attempt.
    let first = code(
        hinted(
            &app,
            &authorize(&pkce::challenge(verifier)),
            "demo-system-admin",
        )
        .await,
    );
    let wrong = redeem(
        first.clone(),
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
        redirect.clone(),
    )
    .await;
    assert_eq!(wrong.status(), 400);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    let again = redeem(first, verifier, redirect.clone()).await;
    assert_eq!(again.status(), 400);

    // Another redirect URI than the authorization request's is refused.
    let second = code(
        hinted(
            &app,
            &authorize(&pkce::challenge(verifier)),
            "demo-system-admin",
        )
        .await,
    );
    let elsewhere = redeem(second, verifier, app.url("/elsewhere")).await;
    assert_eq!(elsewhere.status(), 400);

    // The right verifier gets an ID token for the client, with the nonce.
    let third = code(
        hinted(
            &app,
            &authorize(&pkce::challenge(verifier)),
            "demo-system-admin",
        )
        .await,
    );
    let ok = redeem(third.clone(), verifier, redirect.clone()).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["cache-control"], "no-store");
    let body: Value = ok.json().await.unwrap();
    let mut config = app.issuer.issuer_config();
    config.audience = DEMO_WEB_CLIENT.to_owned();
    let (principal, claims) = TokenVerifier::new(config)
        .unwrap()
        .verify_with_claims(body["id_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(principal, demo("demo-system-admin"));
    assert_eq!(claims["nonce"], "nonce-123");
    // The access token is for Patient Flow's APIs.
    let me = app
        .http
        .get(app.url("/api/v1/me"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    // A machine client cannot redeem codes; a web client needs its secret.
    let machine = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth("simulator", Some(DEMO_SECRET))
        .form(&[("grant_type", "authorization_code"), ("code", &third)])
        .send()
        .await
        .unwrap();
    assert_eq!(machine.status(), 401);

    // Requests the provider cannot send back are answered here, not redirected.
    let unknown = authorize(&pkce::challenge(verifier)).replace("oidc%2Fcallback", "evil");
    let refused = app.http.get(&unknown).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    // Without PKCE the client is told so.
    let plain = authorize(&pkce::challenge(verifier)).replace("S256", "plain");
    let told = app.http.get(&plain).send().await.unwrap();
    assert_eq!(told.status(), 303);
    let answer = query(&location(&told));
    assert_eq!(answer["error"], "invalid_request");
    assert_eq!(answer["state"], "st");

    let reasons = refusals(&app.audit("").await, "identity.token_issued");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("PKCE code verifier does not match")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    // A provider whose token endpoint answers with a properly signed ID
    // token carrying another nonce (a replayed token, for instance).
    let fake = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token_url = format!("http://{}/token", fake.local_addr().unwrap());
    let app = spawn_with(|c| {
        self_provider(c);
        if let Some(oidc) = c.oidc.as_mut() {
            oidc.token_url = Some(token_url.clone());
        }
    })
    .await;
    let issuer = app.issuer.clone();
    let fake_app = axum::Router::new().route(
        "/token",
        post(move || {
            let issuer = issuer.clone();
            async move {
                let person = demo_principals()
                    .into_iter()
                    .find(|p| p.id == "demo-system-admin")
                    .unwrap();
                let id_token = issuer
                    .issue_id_token(
                        &person,
                        DEMO_WEB_CLIENT,
                        Some("a-nonce-from-another-sign-in"),
                        Duration::from_secs(60),
                    )
                    .unwrap();
                axum::Json(json!({ "id_token": id_token, "token_type": "Bearer" }))
            }
        }),
    );
    tokio::spawn(async move { axum::serve(fake, fake_app).await });

    let started = start(&app, "/control-room").await;
    let callback = hinted(&app, &started.authorize, "demo-system-admin").await;
    let refused = follow(&app, &callback, &started.browser).await;
    assert_eq!(refused.status(), 400);
    assert!(helpers::set_cookie(&refused, "pf_session").is_none());
    let html = refused.text().await.unwrap();
    assert!(html.contains("You have not been signed in"), "{html}");

    let reasons = refusals(&app.audit("").await, "identity.signed_in");
    assert!(
        reasons.iter().any(|r| r.contains("nonce does not match")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn an_identity_provider_error_gives_a_plain_page_and_is_recorded() {
    let app = spawn_with(self_provider).await;

    // The person cancels at the provider.
    let started = start(&app, "/control-room").await;
    let state = started.param("state");
    let denied = app.url(&format!(
        "/sign-in/oidc/callback?error=access_denied&error_description=Zq-provider-text&state={state}"
    ));
    let page = follow(&app, &denied, &started.browser).await;
    assert_eq!(page.status(), 400);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("You have not been signed in"), "{html}");
    assert!(html.contains("href=\"/sign-in\""));
    assert!(
        !html.contains("Zq-provider-text"),
        "the provider's text is not echoed"
    );
    // The state was used up by the error.
    let late = app.url(&format!("/sign-in/oidc/callback?code=x&state={state}"));
    assert_eq!(follow(&app, &late, &started.browser).await.status(), 400);

    // A person whose access was withdrawn is turned away by the provider.
    let admin = app.token_for(&demo("demo-system-admin"));
    let revoked = app
        .http
        .post(app.url("/api/v1/access/revoke"))
        .bearer_auth(&admin)
        .json(&json!({ "person_id": "demo-care-home-editor" }))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let started = start(&app, "/control-room").await;
    let callback = hinted(&app, &started.authorize, "demo-care-home-editor").await;
    assert_eq!(query(&callback)["error"], "access_denied");
    let page = follow(&app, &callback, &started.browser).await;
    assert_eq!(page.status(), 400);
    assert!(helpers::set_cookie(&page, "pf_session").is_none());

    let reasons = refusals(&app.audit("").await, "identity.signed_in");
    assert!(
        reasons
            .iter()
            .filter(|r| r.contains("answered `access_denied`"))
            .count()
            >= 2,
        "{reasons:?}"
    );
}

#[tokio::test]
async fn organisation_sign_in_is_rate_limited_and_absent_unless_configured() {
    let app = spawn_with(|c| {
        self_provider(c);
        c.ip_rate_per_minute = 2;
    })
    .await;
    start(&app, "/control-room").await;
    start(&app, "/control-room").await;
    let limited = app.http.get(app.url("/sign-in/oidc")).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    let callback = app.url("/sign-in/oidc/callback?code=a&state=b");
    assert_eq!(app.http.get(&callback).send().await.unwrap().status(), 429);

    let plain = spawn().await;
    let page = plain.http.get(plain.url("/sign-in")).send().await.unwrap();
    assert!(!page.text().await.unwrap().contains("/sign-in/oidc"));
    let missing = plain
        .http
        .get(plain.url("/sign-in/oidc"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

/// A token endpoint standing in for a provider that, as RFC 6749 section
/// 2.3.1 requires, form-decodes the client id and secret of HTTP Basic (or
/// reads them from the form): it answers `invalid_client` unless they are
/// exactly `client_id` and `secret`, and an ID token otherwise.
async fn strict_token_endpoint(
    app_issuer: std::sync::Arc<pf_access::LocalIssuer>,
    client_id: &'static str,
    secret: &'static str,
) -> String {
    use axum::extract::Form;
    use axum::http::HeaderMap;
    use base64::Engine as _;
    let fake = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token_url = format!("http://{}/token", fake.local_addr().unwrap());
    let router = axum::Router::new().route(
        "/token",
        post(
            move |headers: HeaderMap, Form(form): Form<HashMap<String, String>>| {
                let issuer = app_issuer.clone();
                async move {
                    let basic = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("Basic "))
                        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
                        .and_then(|v| String::from_utf8(v).ok())
                        .and_then(|v| {
                            let (id, secret) = v.split_once(':')?;
                            let decode = |s: &str| {
                                form_urlencoded::parse(format!("x={s}").as_bytes())
                                    .next()
                                    .map(|(_, v)| v.into_owned())
                            };
                            Some((decode(id)?, decode(secret)?))
                        });
                    let presented = basic.or_else(|| {
                        Some((
                            form.get("client_id")?.clone(),
                            form.get("client_secret")?.clone(),
                        ))
                    });
                    if presented != Some((client_id.to_owned(), secret.to_owned())) {
                        return (
                            axum::http::StatusCode::UNAUTHORIZED,
                            axum::Json(json!({ "error": "invalid_client" })),
                        );
                    }
                    let person = demo_principals()
                        .into_iter()
                        .find(|p| p.id == "demo-control-room")
                        .unwrap();
                    // The nonce is not known here: the ID token is refused
                    // for it, after client authentication succeeded.
                    let id_token = issuer
                        .issue_id_token(&person, client_id, Some("n"), Duration::from_secs(60))
                        .unwrap();
                    (
                        axum::http::StatusCode::OK,
                        axum::Json(json!({ "id_token": id_token, "token_type": "Bearer" })),
                    )
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(fake, router).await });
    token_url
}

#[tokio::test]
async fn client_credentials_are_form_encoded_before_basic_authentication() {
    // RFC 6749 section 2.3.1: id and secret are form-encoded, then joined
    // by `:` and base64-encoded. A secret with `+`, `/`, `%` and `:` must
    // reach the provider unchanged, with either client authentication.
    const SECRET: &str = "a+b/c%2Fd:e f";
    const CLIENT: &str = "pf:web+1";
    for auth in [ClientAuth::Basic, ClientAuth::Post] {
        let fake_issuer = std::sync::Arc::new(
            pf_access::LocalIssuer::new(
                pf_access::Mode::Development,
                pf_access::LocalIssuerConfig {
                    issuer: "http://fake".to_owned(),
                    audience: "patient-flow".to_owned(),
                    key_id: None,
                },
            )
            .unwrap(),
        );
        let token_url = strict_token_endpoint(fake_issuer, CLIENT, SECRET).await;
        let app = spawn_with(|c| {
            self_provider(c);
            if let Some(oidc) = c.oidc.as_mut() {
                oidc.token_url = Some(token_url.clone());
                oidc.client_secret = Secret::new(SECRET);
                oidc.client_id = CLIENT.to_owned();
                oidc.client_auth = auth;
            }
        })
        .await;
        let started = start(&app, "/control-room").await;
        let callback = app.url(&format!(
            "/sign-in/oidc/callback?code=c0de&state={}",
            started.param("state")
        ));
        let page = follow(&app, &callback, &started.browser).await;
        assert_eq!(page.status(), 400, "{auth:?}");
        // Refused for the ID token (another issuer), never for the client.
        let reasons = refusals(&app.audit("").await, "identity.signed_in");
        assert!(
            reasons.iter().any(|r| r.contains("ID token was refused")),
            "{auth:?}: {reasons:?}"
        );
        assert!(
            !reasons.iter().any(|r| r.contains("invalid_client")),
            "{auth:?}: {reasons:?}"
        );
    }
}

#[tokio::test]
async fn the_demo_issuer_takes_form_encoded_and_plain_basic_credentials() {
    let app = spawn_with(|c| c.demo_client_secret = Some(Secret::new("s+e/c%r:et"))).await;
    for (id, secret) in [
        ("simulator", "s+e/c%r:et"),
        ("simulator", "s%2Be%2Fc%25r%3Aet"),
    ] {
        let answer = app
            .http
            .post(app.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{secret}");
    }
    let wrong = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth("simulator", Some("s e/c%r:et"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
}

#[tokio::test]
async fn a_tampered_state_says_so_and_not_that_it_expired() {
    let app = spawn_with(self_provider).await;
    let started = start(&app, "/control-room").await;
    let callback = hinted(&app, &started.authorize, "demo-control-room").await;
    let state = query(&callback)["state"].clone();
    // One character of the state changed on the way back.
    let mut changed: Vec<char> = state.chars().collect();
    changed[3] = if changed[3] == 'A' { 'B' } else { 'A' };
    let changed: String = changed.into_iter().collect();
    let tampered = callback.replace(&state, &changed);
    let page = follow(&app, &tampered, &started.browser).await;
    assert_eq!(page.status(), 400);
    assert!(helpers::set_cookie(&page, "pf_session").is_none());
    let html = page.text().await.unwrap();
    assert!(!html.contains("expired"), "{html}");
    assert!(html.contains("was changed"), "{html}");

    // The untouched answer still works once, then says it was used.
    let ok = follow(&app, &callback, &started.browser).await;
    assert_eq!(ok.status(), 303);
    let used = follow(&app, &callback, &started.browser).await;
    assert_eq!(used.status(), 400);
    let html = used.text().await.unwrap();
    assert!(html.contains("already been used"), "{html}");

    let reasons = refusals(&app.audit("").await, "identity.signed_in");
    assert!(
        reasons.iter().any(|r| r.contains("state was changed")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn the_scopes_asked_for_are_configured() {
    let app = spawn_with(|c| {
        self_provider(c);
        if let Some(oidc) = c.oidc.as_mut() {
            oidc.scopes =
                "openid profile nationalrbacaccess associatedorgs selectedrole".to_owned();
        }
    })
    .await;
    let started = start(&app, "/control-room").await;
    assert_eq!(
        started.param("scope"),
        "openid profile nationalrbacaccess associatedorgs selectedrole"
    );
}

#[tokio::test]
async fn roles_come_from_the_mapping_file_and_an_unmapped_person_is_told_what_to_ask() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mapping.json");
    std::fs::write(
        &file,
        r#"{
            "userinfo": "never",
            "rules": [
                {"provider_role": "control_room_viewer", "role": "discharge_coordinator", "organisations": ["RT5"]}
            ],
            "no_role_advice": "Ask the LLR identity team for the Patient Flow role."
        }"#,
    )
    .unwrap();
    let mapping = pf_access::ClaimMapping::from_file(&file).unwrap();
    let app = spawn_with(|c| {
        self_provider(c);
        if let Some(oidc) = c.oidc.as_mut() {
            oidc.claims = mapping;
        }
    })
    .await;

    // The provider's control-room role becomes, by the file alone, a
    // discharge coordinator of RT5.
    let started = start(&app, "/control-room").await;
    let callback = hinted(&app, &started.authorize, "demo-control-room").await;
    let signed_in = follow(&app, &callback, &started.browser).await;
    assert_eq!(signed_in.status(), 303);
    let session = format!(
        "pf_session={}",
        cookie_value(&signed_in, "pf_session").unwrap()
    );
    let me: Value = app
        .get_with_cookie("/api/v1/me", &session)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"], json!(["discharge_coordinator"]), "{me}");

    // A person whose provider roles the file does not map is told so, with
    // what they hold and what to ask for.
    let started = start(&app, "/control-room").await;
    let callback = hinted(&app, &started.authorize, "demo-system-admin").await;
    let refused = follow(&app, &callback, &started.browser).await;
    assert_eq!(refused.status(), 403);
    assert!(helpers::set_cookie(&refused, "pf_session").is_none());
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("You do not have a role on Patient Flow"),
        "{html}"
    );
    assert!(html.contains("system_admin"), "{html}");
    assert!(
        html.contains("Ask the LLR identity team for the Patient Flow role."),
        "{html}"
    );
    let reasons = refusals(&app.audit("").await, "identity.signed_in");
    assert!(
        reasons.iter().any(|r| r.contains("no mapped role")),
        "{reasons:?}"
    );
}
