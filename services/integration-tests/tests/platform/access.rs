//! Who may do what, tried against the real services: every demo role, no
//! identity, an expired token, a forged signature, a token from another
//! issuer and a revoked session, against every route and the websocket.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::Duration;

use pf_access::{Grant, LocalIssuer, LocalIssuerConfig, Mode, Principal, Role};
use pf_integration_tests::{ControlRoomClient, Platform, demo};
use serde_json::json;

/// What a caller should get from each kind of route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expect {
    sites: u16,
    beds: u16,
    page: u16,
    websocket: u16,
}

const PUBLISHER: Expect = Expect {
    sites: 200,
    beds: 200,
    page: 403,
    websocket: 403,
};
const VIEWER: Expect = Expect {
    sites: 200,
    beds: 403,
    page: 200,
    websocket: 101,
};
const NEITHER: Expect = Expect {
    sites: 200,
    beds: 403,
    page: 403,
    websocket: 403,
};
const ADMIN: Expect = Expect {
    sites: 200,
    beds: 200,
    page: 200,
    websocket: 101,
};
const NOBODY: Expect = Expect {
    sites: 401,
    beds: 401,
    page: 303,
    websocket: 401,
};

async fn get_status(platform: &Platform, url: &str, token: Option<&str>) -> u16 {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let _ = platform;
    request.send().await.unwrap().status().as_u16()
}

async fn websocket_status(platform: &Platform, token: Option<&str>) -> u16 {
    match ControlRoomClient::try_connect(&platform.gateway_url, token, None).await {
        Ok(client) => {
            client.close().await;
            101
        }
        Err(status) => status,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_identity_gets_exactly_what_its_role_allows() {
    let platform = Platform::start().await;
    // A hospital system's feed with only the bed-publisher role (the demo
    // simulator also coordinates discharges, which sees the control room).
    let bed_feed = Principal::machine("pas-feed", "Patient administration feed", None)
        .with_grant(Grant::parse(Role::BedPublisher, &["RWE", "RT5"]).unwrap());
    let other_trust = Principal::machine("rt5-pas", "LPT patient administration system", None)
        .with_grant(Grant::parse(Role::BedPublisher, &["RT5"]).unwrap());
    let forger = LocalIssuer::new(Mode::Development, LocalIssuerConfig::default()).unwrap();
    let stranger = LocalIssuer::new(
        Mode::Development,
        LocalIssuerConfig {
            issuer: "https://someone-else.example".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let expired = platform
        .issuer
        .issue_at(
            &demo("demo-system-admin"),
            std::time::SystemTime::now() - Duration::from_secs(2 * 3600),
            Duration::from_secs(600),
        )
        .unwrap();

    let cases: Vec<(&str, Option<String>, Expect)> = vec![
        (
            "bed feed (bed publisher for RWE and RT5)",
            Some(platform.token_for(&bed_feed)),
            PUBLISHER,
        ),
        (
            "bed publisher for another trust",
            Some(platform.token_for(&other_trust)),
            NEITHER,
        ),
        (
            "control-room viewer",
            Some(platform.token_for(&demo("demo-control-room"))),
            VIEWER,
        ),
        (
            "control-room lead",
            Some(platform.token_for(&demo("demo-control-room-lead"))),
            VIEWER,
        ),
        (
            "discharge coordinator",
            Some(platform.token_for(&demo("demo-discharge-coordinator"))),
            VIEWER,
        ),
        (
            "care-home editor",
            Some(platform.token_for(&demo("demo-care-home-editor"))),
            NEITHER,
        ),
        (
            "vacancy feed",
            Some(platform.token_for(&demo("demo-vacancy-feed"))),
            NEITHER,
        ),
        (
            "system admin",
            Some(platform.token_for(&demo("demo-system-admin"))),
            ADMIN,
        ),
        ("no identity", None, NOBODY),
        ("expired token", Some(expired), NOBODY),
        (
            "forged signature",
            Some(
                forger
                    .issue(&demo("demo-system-admin"), Duration::from_secs(600))
                    .unwrap(),
            ),
            NOBODY,
        ),
        (
            "token from another issuer",
            Some(
                stranger
                    .issue(&demo("demo-system-admin"), Duration::from_secs(600))
                    .unwrap(),
            ),
            NOBODY,
        ),
        ("not a token", Some("not-a-jwt".into()), NOBODY),
    ];

    for (n, (who, token, expect)) in cases.iter().enumerate() {
        let token = token.as_deref();
        let bed = format!("RWEAA/WD15/B{:02}", n + 1);
        let sites = get_status(
            &platform,
            &format!("{}/api/v1/sites", platform.beds_url),
            token,
        )
        .await;
        let read = get_status(
            &platform,
            &format!("{}/api/v1/beds/{bed}", platform.beds_url),
            token,
        )
        .await;
        let (open, _) = platform
            .post_as(token, &format!("/api/v1/beds/{bed}/open"), json!({}))
            .await;
        let (change, _) = platform
            .post_as(
                token,
                &format!("/api/v1/beds/{bed}/state"),
                json!({"state": "occupied"}),
            )
            .await;
        let page = get_status(
            &platform,
            &format!("{}/control-room", platform.gateway_url),
            token,
        )
        .await;
        let websocket = websocket_status(&platform, token).await;

        assert_eq!(sites, expect.sites, "{who}: GET /api/v1/sites");
        assert_eq!(read, expect.beds, "{who}: GET bed");
        let (want_open, want_change) = if expect.beds == 200 {
            (201, 200)
        } else {
            (expect.beds, expect.beds)
        };
        assert_eq!(open, want_open, "{who}: POST open");
        assert_eq!(change, want_change, "{who}: POST state");
        assert_eq!(page, expect.page, "{who}: GET /control-room");
        assert_eq!(websocket, expect.websocket, "{who}: websocket");
    }

    // The audit trail has the accepted changes and the refusals, with who made them.
    let audit = pf_audit::AuditLog::new(platform.jetstream().await);
    let records = audit.query(&pf_audit::AuditQuery::default()).await.unwrap();
    let accepted_by_feed = records
        .iter()
        .filter(|r| r.actor.id == "pas-feed" && r.is_accepted() && r.action == "bed.open")
        .count();
    assert_eq!(accepted_by_feed, 1);
    let refused_care_home = records
        .iter()
        .find(|r| {
            r.actor.id == "demo-care-home-editor" && !r.is_accepted() && r.action == "bed.open"
        })
        .expect("a refused attempt is audited");
    assert_eq!(refused_care_home.entity, "bed/RWEAA/WD15/B06");
    // The gateway records refused views too: a signed-in person without the
    // role, and callers without identity.
    let refused_views: Vec<_> = records
        .iter()
        .filter(|r| r.action == "control_room.view" && !r.is_accepted())
        .collect();
    assert!(
        refused_views
            .iter()
            .any(|r| r.actor.id == "demo-care-home-editor" && r.source.service == "gateway"),
        "a care-home editor's refused view is audited: {refused_views:?}"
    );
    assert!(
        refused_views.iter().any(|r| r.actor.id.is_empty()),
        "an anonymous refused view is audited"
    );
    let anonymous_refusals = records
        .iter()
        .filter(|r| !r.is_accepted() && r.actor.id.is_empty())
        .count();
    assert!(
        anonymous_refusals >= 5 * 4,
        "refusals without identity are audited too: {anonymous_refusals}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_person_loses_access_at_once() {
    let platform = Platform::start().await;
    let store = platform.sign_in_store().await;
    let viewer = demo("demo-control-room");
    let session = store.create_session(&viewer).await.unwrap();
    let token = platform.token_for(&viewer);
    let cookie = format!("pf_session={}", session.id);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = |cookie: String| {
        let client = client.clone();
        let url = format!("{}/control-room", platform.gateway_url);
        async move {
            client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(page(cookie.clone()).await, 200);
    let mut live = ControlRoomClient::try_connect(&platform.gateway_url, Some(&token), None)
        .await
        .unwrap();
    assert_eq!(live.next().await["type"], "snapshot");

    store.revoke(&viewer.id).await.unwrap();

    // The session is gone and the still-unexpired token is refused.
    assert_eq!(page(cookie).await, 303, "sent to sign in again");
    assert_eq!(websocket_status(&platform, Some(&token)).await, 401);
    // The open connection is closed with a reason at the next access check.
    assert_eq!(live.closed().await, Some(4401));
}

/// A signed-in browser (session cookie) changes beds only with JSON from
/// the platform's own pages: what another site's page can make it send is
/// refused and audited; machines with a bearer token are not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bed_changes_riding_on_a_session_cookie_need_json_from_our_pages() {
    let platform = Platform::start().await;
    let admin = demo("demo-system-admin");
    let session = platform
        .sign_in_store()
        .await
        .create_session(&admin)
        .await
        .unwrap();
    let cookie = format!("pf_session={}", session.id);
    let bed = "RWEAA/WD15/B20";
    let post = |path: String, headers: Vec<(&'static str, String)>, body: &'static str| {
        let mut request = platform
            .http
            .post(format!("{}{path}", platform.beds_url))
            .header("cookie", &cookie)
            .body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };
    let evil = || ("origin", "https://evil.example".to_owned());
    for (path, headers, body) in [
        (
            format!("/api/v1/beds/{bed}/open"),
            vec![("content-type", "text/plain".to_owned()), evil()],
            "",
        ),
        (format!("/api/v1/beds/{bed}/open"), vec![evil()], ""),
        (
            format!("/api/v1/beds/{bed}/open"),
            vec![("content-type", "application/json".to_owned())],
            "{}",
        ),
        (
            format!("/api/v1/beds/{bed}/state"),
            vec![("content-type", "text/plain".to_owned()), evil()],
            r#"{"state": "occupied"}"#,
        ),
    ] {
        let (status, answer) = post(path.clone(), headers.clone(), body).await;
        assert_eq!(status, 403, "{path} {headers:?}: {answer}");
        assert!(
            answer.contains("This request came from another site"),
            "{answer}"
        );
    }
    let read = platform
        .http
        .get(format!("{}/api/v1/beds/{bed}", platform.beds_url))
        .bearer_auth(&platform.publisher_token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let read: serde_json::Value = read.json().await.unwrap();
    assert_eq!(read["open"], false, "the bed was never opened: {read}");
    let audit = pf_audit::AuditLog::new(platform.jetstream().await);
    let refused = audit
        .query(&pf_audit::AuditQuery {
            person: Some("demo-system-admin".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "request.cross_site" && !r.is_accepted())
        .count();
    assert!(refused >= 4, "{refused} refusals audited");

    let (status, answer) = post(
        format!("/api/v1/beds/{bed}/open"),
        vec![
            ("content-type", "application/json".to_owned()),
            ("origin", platform.beds_url.clone()),
        ],
        "",
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    platform.open_bed("RWEAA/WD15/B19").await;
}
