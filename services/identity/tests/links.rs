//! Care-home sign-in links, revocation and the audit trail's export.
#![allow(clippy::unwrap_used)]

mod helpers;

use std::time::Duration;

use helpers::{App, cookie_value, demo, spawn, spawn_with};
use reqwest::header::COOKIE;
use serde_json::{Value, json};

/// Issues a link as the demo administrator: the link's path.
async fn issue_link(app: &App, person_id: &str) -> String {
    let admin = app.token_for(&demo("demo-system-admin"));
    let response = app
        .http
        .post(app.url("/api/v1/access/links"))
        .bearer_auth(admin)
        .json(&json!({ "name": "Jo Carer", "person_id": person_id, "care_homes": ["1-000000001"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 86_400);
    let link = body["link"].as_str().unwrap();
    link.strip_prefix(&app.base).unwrap().to_owned()
}

#[tokio::test]
async fn a_link_works_once_and_revocation_ends_the_session_at_once() {
    let app = spawn().await;
    let path = issue_link(&app, "jo.carer").await;
    assert!(path.starts_with("/sign-in/link/"));

    // Opening the page (as an email scanner would) does not use the link.
    for _ in 0..2 {
        assert_eq!(
            app.http.get(app.url(&path)).send().await.unwrap().status(),
            200
        );
    }
    let response = app.use_link(&path).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");
    let session = format!(
        "pf_session={}",
        cookie_value(&response, "pf_session").unwrap()
    );
    let me: Value = app
        .get_with_cookie("/api/v1/me", &session)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["principal"]["id"], "jo.carer");
    assert_eq!(me["roles"], json!(["care_home_editor"]));
    assert_eq!(
        app.get_with_cookie("/api/v1/audit", &session)
            .await
            .status(),
        403
    );

    let again = app.use_link(&path).await;
    assert_eq!(again.status(), 410);
    let html = again.text().await.unwrap();
    assert!(html.contains(
        "This sign-in link has expired or has already been used. Ask your administrator for a new one."
    ));

    // Unused when the person is revoked: void for good.
    let before = issue_link(&app, "jo.carer").await;
    let admin = app.token_for(&demo("demo-system-admin"));
    let revoked = app
        .http
        .post(app.url("/api/v1/access/revoke"))
        .bearer_auth(&admin)
        .json(&json!({ "person_id": "jo.carer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let body: Value = revoked.json().await.unwrap();
    assert_eq!(body["sessions_ended"], 1);
    assert_eq!(
        app.get_with_cookie("/api/v1/me", &session).await.status(),
        401
    );

    // A link issued while revoked does not work; after reinstating, only a
    // link issued since does.
    let while_revoked = issue_link(&app, "jo.carer").await;
    let unused_while_revoked = issue_link(&app, "jo.carer").await;
    assert_eq!(app.use_link(&while_revoked).await.status(), 410);
    let reinstated = app
        .http
        .post(app.url("/api/v1/access/reinstate"))
        .bearer_auth(&admin)
        .json(&json!({ "person_id": "jo.carer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(reinstated.status(), 200);
    assert_eq!(app.use_link(&before).await.status(), 410);
    assert_eq!(app.use_link(&unused_while_revoked).await.status(), 410);
    let fresh = issue_link(&app, "jo.carer").await;
    assert_eq!(app.use_link(&fresh).await.status(), 303);

    let trail = app.audit("person=demo-system-admin").await;
    for action in ["access.link_issued", "access.revoked", "access.reinstated"] {
        assert!(
            trail.iter().any(|r| r["action"] == action),
            "{action}: {trail:?}"
        );
    }
    let redeemed = app.audit("entity=person/jo.carer").await;
    assert!(
        redeemed.iter().any(
            |r| r["action"] == "identity.link_redeemed" && r["outcome"]["result"] == "accepted"
        )
    );
}

/// `POST path` with a JSON body as the demo administrator: the status.
async fn admin_post(app: &App, path: &str, body: Value) -> u16 {
    let admin = app.token_for(&demo("demo-system-admin"));
    let response = app
        .http
        .post(app.url(path))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn a_revocation_outlasts_every_lifetime_until_the_person_is_reinstated() {
    // Sessions and links last 1 s here; the revocation has no such limit.
    let app = spawn_with(|config| {
        config.session_policy.idle = Duration::from_secs(1);
        config.session_policy.absolute = Duration::from_secs(1);
        config.session_policy.link = Duration::from_secs(1);
    })
    .await;
    let person = demo("demo-care-home-editor");
    let token = app.token_for(&person);
    let me = |token: String| {
        let request = app.http.get(app.url("/api/v1/me")).bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(me(token.clone()).await, 200);
    let revoke = json!({ "person_id": person.id });
    assert_eq!(admin_post(&app, "/api/v1/access/revoke", revoke).await, 200);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(me(token.clone()).await, 401, "the token is still refused");
    assert_eq!(
        app.post_sign_in(&person.id, "/").await.status(),
        403,
        "signing in again is still refused"
    );
    let reinstate = json!({ "person_id": person.id });
    assert_eq!(
        admin_post(&app, "/api/v1/access/reinstate", reinstate).await,
        200
    );
    assert_eq!(me(app.token_for(&person)).await, 200);
}

#[tokio::test]
async fn nobody_is_reinstated_unless_the_attempt_is_in_the_audit_trail_first() {
    let app = spawn().await;
    let person = demo("demo-care-home-editor");
    let me = |token: String| {
        let request = app.http.get(app.url("/api/v1/me")).bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let revoke = json!({ "person_id": person.id });
    assert_eq!(admin_post(&app, "/api/v1/access/revoke", revoke).await, 200);

    // The audit trail is full: it holds exactly what it holds now.
    let jetstream = app.jetstream().await;
    let mut stream = jetstream.get_stream("PF_AUDIT").await.unwrap();
    let info = stream.info().await.unwrap().clone();
    let bound = |max_bytes: i64| {
        let mut config = info.config.clone();
        config.max_bytes = max_bytes;
        config
    };
    let held = i64::try_from(info.state.bytes).unwrap();
    jetstream.update_stream(bound(held)).await.unwrap();

    let reinstate = json!({ "person_id": person.id });
    assert_eq!(
        admin_post(&app, "/api/v1/access/reinstate", reinstate.clone()).await,
        503,
        "reinstated although the audit trail could not record it"
    );
    assert_eq!(
        me(app.token_for(&person)).await,
        401,
        "nothing was reinstated"
    );
    let now = stream.info().await.unwrap().state.clone();
    assert_eq!(
        (now.first_sequence, now.messages),
        (info.state.first_sequence, info.state.messages),
        "no old record was dropped to make room"
    );

    // With room again, the attempt comes first, then the outcome.
    jetstream
        .update_stream(bound(64 * 1024 * 1024))
        .await
        .unwrap();
    assert_eq!(
        admin_post(&app, "/api/v1/access/reinstate", reinstate).await,
        200
    );
    assert_eq!(me(app.token_for(&person)).await, 200);
    let last = stream.info().await.unwrap().state.last_sequence;
    let outcome = |sequence: u64| {
        let stream = stream.clone();
        async move {
            let message = stream.get_raw_message(sequence).await.unwrap();
            let record: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
            (
                record["action"].as_str().unwrap().to_owned(),
                record["outcome"]["result"].as_str().unwrap().to_owned(),
            )
        }
    };
    assert_eq!(
        (outcome(last - 1).await, outcome(last).await),
        (
            ("access.reinstated".to_owned(), "attempted".to_owned()),
            ("access.reinstated".to_owned(), "accepted".to_owned())
        )
    );
}

#[tokio::test]
async fn only_admins_issue_links_and_requests_are_checked() {
    let app = spawn().await;
    let viewer = app.token_for(&demo("demo-control-room"));
    let body = json!({ "name": "Jo", "person_id": "jo", "care_homes": ["1-000000001"] });
    let response = app
        .http
        .post(app.url("/api/v1/access/links"))
        .bearer_auth(viewer)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let nobody = app
        .http
        .post(app.url("/api/v1/access/links"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(nobody.status(), 401);
    let admin = app.token_for(&demo("demo-system-admin"));
    let bad = app
        .http
        .post(app.url("/api/v1/access/links"))
        .bearer_auth(&admin)
        .json(&json!({ "name": "Jo", "person_id": "jo", "care_homes": ["RWE"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    // A session cookie from another site's page is refused.
    let session = app.session_of("demo-system-admin").await;
    let cross_site = app
        .http
        .post(app.url("/api/v1/access/revoke"))
        .header(COOKIE, &session)
        .header("origin", "https://evil.example")
        .json(&json!({ "person_id": "jo" }))
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    let refused = app.audit("entity=person/jo").await;
    assert!(
        refused
            .iter()
            .any(|r| r["actor"]["id"] == "demo-control-room"
                && r["action"] == "access.link_issued"
                && r["outcome"]["result"] == "refused")
    );
}

#[tokio::test]
async fn the_audit_exports_as_csv_with_its_header() {
    let app = spawn().await;
    app.session_of("demo-care-home-editor").await;
    let admin = app.token_for(&demo("demo-system-admin"));
    let response = app
        .http
        .get(app.url("/api/v1/audit?format=csv&person=demo-care-home-editor"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"audit.csv\""
    );
    let csv = response.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(pf_audit::export::CSV_HEADER.join(",").as_str())
    );
    assert!(csv.contains("identity.signed_in"), "{csv}");
}

/// A state-changing request riding on an administrator's session cookie
/// must be JSON and come from our own pages: without an `Origin` (which
/// every browser sends with a post) it needs the session's CSRF token, and
/// a cross-site form is refused; each refusal is audited.
#[tokio::test]
async fn session_writes_need_json_and_our_origin_or_the_csrf_token() {
    let app = spawn().await;
    let session = app.session_of("demo-system-admin").await;
    let revoke = app.url("/api/v1/access/revoke");
    let no_origin = app
        .http
        .post(&revoke)
        .header(COOKIE, &session)
        .json(&json!({ "person_id": "jo" }))
        .send()
        .await
        .unwrap();
    assert_eq!(no_origin.status(), 403);
    let body: serde_json::Value = no_origin.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("This request came from another site"),
        "{body}"
    );
    let form = app
        .http
        .post(app.url("/api/v1/access/reinstate"))
        .header(COOKIE, &session)
        .header("origin", &app.base)
        .header("content-type", "text/plain")
        .body(r#"{"person_id": "jo"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 403);
    let refused = app.audit("person=demo-system-admin").await;
    assert!(
        refused
            .iter()
            .filter(|r| r["action"] == "request.cross_site" && r["outcome"]["result"] == "refused")
            .count()
            >= 2,
        "{refused:?}"
    );
    let ours = app
        .http
        .post(&revoke)
        .header(COOKIE, &session)
        .header("origin", &app.base)
        .json(&json!({ "person_id": "jo" }))
        .send()
        .await
        .unwrap();
    assert_eq!(ours.status(), 200);
}

/// Anonymous refusals of the admin API are limited (429) and kept as few
/// records with a count.
#[tokio::test]
async fn anonymous_refusals_of_the_admin_api_are_limited_and_counted() {
    let app = spawn().await;
    let mut limited = 0u64;
    for _ in 0..100 {
        let response = app
            .http
            .post(app.url("/api/v1/access/revoke"))
            .json(&json!({ "person_id": "someone" }))
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            401 => {}
            429 => {
                assert!(response.headers().contains_key("retry-after"));
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(limited > 0, "100 anonymous refusals and never a 429");
    // The individual records plus the aggregate's count are every refusal.
    let jetstream = app.jetstream().await;
    let mut stream = jetstream.get_stream("PF_AUDIT").await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let last = stream.info().await.unwrap().state.last_sequence;
        let mut counted = 0;
        let mut records = 0;
        for sequence in 1..=last {
            let message = stream.get_raw_message(sequence).await.unwrap();
            let record: Value = serde_json::from_slice(&message.payload).unwrap();
            if record["action"] == "access.revoked" {
                records += 1;
                counted += record["repeated"].as_u64().unwrap_or(1);
            }
        }
        if counted == 100 {
            assert!(records < 50, "{records} records for 100 refusals");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {counted} of 100 refusals recorded"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
