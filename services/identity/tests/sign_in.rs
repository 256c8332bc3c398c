//! The demo sign-in page, CSRF, redirects, sign-out and edge hardening.
#![allow(clippy::unwrap_used)]

mod helpers;

use helpers::{cookie_value, hidden_field, set_cookie, spawn};
use reqwest::header::COOKIE;

#[tokio::test]
async fn the_demo_page_lists_every_person_and_sends_security_headers() {
    let app = spawn().await;
    let response = app.http.get(app.url("/sign-in")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    // Plain-http development: no HSTS.
    assert!(!headers.contains_key("strict-transport-security"));
    let csrf = set_cookie(&response, "pf_csrf").unwrap();
    assert!(
        csrf.contains("HttpOnly") && csrf.contains("SameSite=Strict"),
        "{csrf}"
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("Demo users — for trying Patient Flow, not for real patients"));
    for id in [
        "demo-care-home-editor",
        "demo-discharge-coordinator",
        "demo-control-room",
        "demo-system-admin",
    ] {
        assert!(html.contains(&format!("value=\"{id}\"")), "{id}");
    }
    assert!(html.contains("<legend") && html.contains("<fieldset"));
    assert!(
        !html.contains("value=\"simulator\""),
        "machines are not listed"
    );
}

#[tokio::test]
async fn signing_in_sets_an_http_only_cookie_and_the_audit_is_for_admins_only() {
    let app = spawn().await;
    let response = app
        .post_sign_in("demo-system-admin", "/control-room?x=1")
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/control-room?x=1");
    let cookie = set_cookie(&response, "pf_session").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "insecure cookies in local development"
    );
    let admin = format!(
        "pf_session={}",
        cookie_value(&response, "pf_session").unwrap()
    );

    let audit = app.get_with_cookie("/api/v1/audit", &admin).await;
    assert_eq!(audit.status(), 200);
    let records: Vec<serde_json::Value> = audit.json().await.unwrap();
    assert!(records.iter().any(|r| r["action"] == "identity.signed_in"
        && r["actor"]["id"] == "demo-system-admin"
        && r["outcome"]["result"] == "accepted"));

    let viewer = app.session_of("demo-control-room").await;
    assert_eq!(
        app.get_with_cookie("/api/v1/audit", &viewer).await.status(),
        403
    );
    assert_eq!(
        app.http
            .get(app.url("/api/v1/audit"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn a_sign_in_without_its_csrf_token_is_refused() {
    let app = spawn().await;
    let csrf = app.sign_in_form().await;
    // Field without cookie, cookie without field, and a mismatch.
    let attempts = [
        (None, Some(csrf.clone())),
        (Some(csrf.clone()), None),
        (Some(csrf.clone()), Some(pf_identity::csrf::new_token())),
    ];
    for (cookie, field) in attempts {
        let mut request = app.http.post(app.url("/sign-in"));
        if let Some(cookie) = &cookie {
            request = request.header(COOKIE, format!("pf_csrf={cookie}"));
        }
        let mut form = vec![("person", "demo-system-admin".to_owned())];
        if let Some(field) = field {
            form.push(("csrf_token", field));
        }
        let response = request.form(&form).send().await.unwrap();
        assert_eq!(response.status(), 403);
        assert!(set_cookie(&response, "pf_session").is_none());
        let html = response.text().await.unwrap();
        assert!(html.contains("There is a problem") && html.contains("<title>Error: "));
    }
    let refused = app.audit("entity=&person=").await;
    assert!(refused.iter().any(|r| r["action"] == "identity.signed_in"
        && r["outcome"]["result"] == "refused"
        && r["actor"]["kind"] == "anonymous"));
}

#[tokio::test]
async fn return_to_cannot_leave_the_site_and_errors_follow_the_nhs_pattern() {
    let app = spawn().await;
    for evil in ["//evil.example", "https://evil.example/", "/\\evil.example"] {
        let response = app.post_sign_in("demo-control-room", evil).await;
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()["location"], "/control-room", "{evil}");
    }
    // No one chosen: the error summary, the field error, the title prefix, the token kept.
    let csrf = app.sign_in_form().await;
    let response = app
        .http
        .post(app.url("/sign-in"))
        .header(COOKIE, format!("pf_csrf={csrf}"))
        .form(&[("csrf_token", csrf.as_str()), ("return_to", "/discharge")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let html = response.text().await.unwrap();
    assert!(html.contains("<title>Error: Sign in"));
    assert!(html.contains("There is a problem") && html.contains("href=\"#person\""));
    assert!(html.contains("id=\"person-error\""));
    assert_eq!(
        hidden_field(&html, "return_to").as_deref(),
        Some("/discharge")
    );
}

#[tokio::test]
async fn signing_out_needs_the_session_token_and_ends_the_session() {
    let app = spawn().await;
    let session = app.session_of("demo-discharge-coordinator").await;
    let me: serde_json::Value = app
        .get_with_cookie("/api/v1/me", &session)
        .await
        .json()
        .await
        .unwrap();
    let token = me["csrf_token"].as_str().unwrap().to_owned();

    let refused = app
        .http
        .post(app.url("/sign-out"))
        .header(COOKIE, &session)
        .form(&[("csrf_token", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        app.get_with_cookie("/api/v1/me", &session).await.status(),
        200
    );

    let response = app
        .http
        .post(app.url("/sign-out"))
        .header(COOKIE, &session)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/sign-in");
    assert!(
        set_cookie(&response, "pf_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        app.get_with_cookie("/api/v1/me", &session).await.status(),
        401
    );
}

/// Other services' pages link to `GET /sign-out`: it shows a form with the
/// session's token (following the link alone ends nothing); without a
/// session it leads to the sign-in page.
#[tokio::test]
async fn the_sign_out_link_leads_to_a_form_that_signs_out() {
    let app = spawn().await;
    let session = app.session_of("demo-discharge-coordinator").await;
    let page = app.get_with_cookie("/sign-out", &session).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<form method="post" action="&#x2f;sign-out""#)
            || html.contains(r#"<form method="post" action="/sign-out""#),
        "{html}"
    );
    let token = hidden_field(&html, "csrf_token").expect("the form carries the session's token");
    assert_eq!(
        app.get_with_cookie("/api/v1/me", &session).await.status(),
        200,
        "showing the page ends nothing"
    );
    let response = app
        .http
        .post(app.url("/sign-out"))
        .header(COOKIE, &session)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        app.get_with_cookie("/api/v1/me", &session).await.status(),
        401
    );
    let signed_out = app.get_with_cookie("/sign-out", &session).await;
    assert_eq!(signed_out.status(), 303);
    assert_eq!(signed_out.headers()["location"], "/sign-in");
}

#[tokio::test]
async fn bodies_over_16_kib_are_refused_and_ops_endpoints_answer() {
    let app = spawn().await;
    let big = "x".repeat(20 * 1024);
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type={big}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("pf_http_requests_total"), "{metrics}");
}
