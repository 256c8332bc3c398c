//! Kiosks for control-room wall screens: registering one, its single-use
//! setup link, the long control-room-only session it starts, listing and
//! revoking, against a real identity service, Redis and NATS.
#![allow(clippy::unwrap_used)]

mod helpers;

use std::time::Duration;

use helpers::{App, cookie_value, demo, set_cookie, spawn, spawn_with};
use pf_access::{Action, CqcLocationId, OdsCode, Principal, Role};
use reqwest::header::COOKIE;
use serde_json::{Value, json};

const CONTROL_ROOM: &str = "http://127.0.0.1:8080/control-room";
const NINETY_DAYS: u64 = 90 * 24 * 60 * 60;

/// Posts a kiosk request as the demo administrator: the status and answer.
async fn register(app: &App, body: Value) -> (u16, Value) {
    let admin = app.token_for(&demo("demo-system-admin"));
    let response = app
        .http
        .post(app.url("/api/v1/access/kiosks"))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Registers a kiosk: its setup link's path.
async fn setup_link(app: &App, kiosk_id: &str) -> String {
    let (status, body) = register(
        app,
        json!({ "kiosk_id": kiosk_id, "name": format!("Control room {kiosk_id}") }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["kiosk_id"], kiosk_id);
    assert_eq!(body["principal_id"], format!("kiosk:{kiosk_id}"));
    assert_eq!(body["expires_in"], 86_400);
    let link = body["link"].as_str().unwrap();
    link.strip_prefix(&app.base).unwrap().to_owned()
}

/// Sets a kiosk up: the `Cookie` header value of its session.
async fn set_up(app: &App, kiosk_id: &str) -> String {
    let path = setup_link(app, kiosk_id).await;
    let response = app.use_link(&path).await;
    assert_eq!(response.status(), 303);
    format!(
        "pf_session={}",
        cookie_value(&response, "pf_session").unwrap()
    )
}

/// `POST path` with a JSON body as the demo administrator: status and answer.
async fn admin_post(app: &App, path: &str, body: Value) -> (u16, Value) {
    let admin = app.token_for(&demo("demo-system-admin"));
    let response = app
        .http
        .post(app.url(path))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The kiosks as the administrator lists them.
async fn kiosks(app: &App) -> Vec<Value> {
    let admin = app.token_for(&demo("demo-system-admin"));
    let response = app
        .http
        .get(app.url("/api/v1/access/kiosks"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["kiosks"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_setup_link_works_once_and_opens_a_long_control_room_session() {
    let app = spawn().await;
    let path = setup_link(&app, "wall-1").await;
    assert!(path.starts_with("/sign-in/kiosk/"), "{path}");

    // Opening the page (as a link scanner would) does not use the link.
    for _ in 0..2 {
        let page = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let csp = page.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("form-action 'self' http://127.0.0.1:8080"),
            "the redirect to the control room is allowed: {csp}"
        );
        let html = page.text().await.unwrap();
        assert!(html.contains("Set up this screen for the control room"));
    }
    let listed = kiosks(&app).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "Control room wall-1");
    assert_eq!(listed[0]["set_up_at"], Value::Null, "not used yet");

    let response = app.use_link(&path).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], CONTROL_ROOM);
    let cookie = set_cookie(&response, "pf_session").unwrap();
    assert!(
        cookie.contains(&format!("Max-Age={NINETY_DAYS}")) && cookie.contains("HttpOnly"),
        "the kiosk keeps its cookie for 90 days: {cookie}"
    );
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
    assert_eq!(me["principal"]["id"], "kiosk:wall-1");
    assert_eq!(me["principal"]["kind"], "machine");
    assert_eq!(me["roles"], json!(["control_room_viewer"]));

    // Used up: a second use, on this screen or another, is refused.
    let again = app.use_link(&path).await;
    assert_eq!(again.status(), 410);
    assert!(again.text().await.unwrap().contains(
        "This sign-in link has expired or has already been used. Ask your administrator for a new one."
    ));
    // A care-home sign-in link's address does not take a kiosk's token.
    let token = path.rsplit('/').next().unwrap();
    assert_eq!(
        app.use_link(&format!("/sign-in/link/{token}"))
            .await
            .status(),
        410
    );

    let listed = kiosks(&app).await;
    assert_eq!(listed[0]["kiosk_id"], "wall-1");
    assert_eq!(listed[0]["principal_id"], "kiosk:wall-1");
    assert_eq!(listed[0]["created_by"], "demo-system-admin");
    assert_eq!(listed[0]["revoked"], false);
    assert!(listed[0]["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(listed[0]["set_up_at"].is_string(), "{listed:?}");
    assert!(listed[0]["last_used_at"].is_string(), "{listed:?}");

    let trail = app.audit("entity=kiosk/wall-1").await;
    for action in [
        "access.kiosk_issued",
        "identity.kiosk_set_up",
        "identity.signed_in",
    ] {
        assert!(
            trail
                .iter()
                .any(|r| r["action"] == action && r["outcome"]["result"] == "accepted"),
            "{action}: {trail:?}"
        );
    }
}

#[tokio::test]
async fn a_kiosk_session_outlives_the_policy_of_people_sessions() {
    // People's sessions end after 2 s here; a kiosk's after its own 90 days.
    let app = spawn_with(|config| {
        config.session_policy.idle = Duration::from_secs(1);
        config.session_policy.absolute = Duration::from_secs(2);
    })
    .await;
    let kiosk = set_up(&app, "wall-1").await;
    let person = app.session_of("demo-control-room").await;
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    assert_eq!(
        app.get_with_cookie("/api/v1/me", &person).await.status(),
        401,
        "a person's session ended"
    );
    assert_eq!(
        app.get_with_cookie("/api/v1/me", &kiosk).await.status(),
        200,
        "the kiosk is still signed in"
    );
}

#[tokio::test]
async fn revoking_a_kiosk_ends_its_session_for_good() {
    let app = spawn().await;
    let session = set_up(&app, "wall-1").await;
    assert_eq!(
        app.get_with_cookie("/api/v1/me", &session).await.status(),
        200
    );
    let (status, body) = admin_post(
        &app,
        "/api/v1/access/revoke",
        json!({ "kiosk_id": "wall-1" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sessions_ended"], 1);
    assert_eq!(body["kiosk_id"], "wall-1");
    assert_eq!(
        app.get_with_cookie("/api/v1/me", &session).await.status(),
        401
    );
    let listed = kiosks(&app).await;
    assert_eq!(listed[0]["revoked"], true);
    assert!(listed[0]["revoked_at"].is_string());
    assert_eq!(listed[0]["last_used_at"], Value::Null);

    // A revoked kiosk is not reinstated, and its id is not reused.
    let (status, body) = admin_post(
        &app,
        "/api/v1/access/reinstate",
        json!({ "kiosk_id": "wall-1" }),
    )
    .await;
    assert_eq!(status, 409);
    assert!(body["error"].as_str().unwrap().contains("new kiosk"));
    let (status, body) = register(&app, json!({ "kiosk_id": "wall-1", "name": "Again" })).await;
    assert_eq!(status, 409);
    assert!(body["error"].as_str().unwrap().contains("already exists"));

    // A kiosk revoked before its link is used is never set up, even once the
    // short-lived revocation of its tokens has run out.
    let unused = setup_link(&app, "wall-2").await;
    let (status, _) = admin_post(
        &app,
        "/api/v1/access/revoke",
        json!({ "person_id": "kiosk:wall-2" }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = admin_post(
        &app,
        "/api/v1/access/reinstate",
        json!({ "person_id": "kiosk:wall-2" }),
    )
    .await;
    assert_eq!(status, 409, "kiosk:wall-2 is a kiosk's principal");
    assert_eq!(app.use_link(&unused).await.status(), 410);

    // Revoking a kiosk by its bare id as a person_id revokes it too.
    let third = set_up(&app, "wall-3").await;
    let (status, body) = admin_post(
        &app,
        "/api/v1/access/revoke",
        json!({ "person_id": "wall-3" }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["kiosk_id"], "wall-3");
    assert_eq!(body["sessions_ended"], 1);
    assert_eq!(
        app.get_with_cookie("/api/v1/me", &third).await.status(),
        401
    );

    let trail = app.audit("entity=kiosk/wall-1").await;
    assert!(
        trail
            .iter()
            .any(|r| r["action"] == "access.revoked" && r["outcome"]["result"] == "accepted"),
        "{trail:?}"
    );
    assert!(
        app.audit("").await.iter().any(|r| {
            r["action"] == "identity.kiosk_set_up" && r["outcome"]["result"] == "refused"
        }),
        "the refused setup is audited"
    );
}

#[tokio::test]
async fn an_expired_setup_link_is_refused_and_replaced_under_the_same_id() {
    let app = spawn_with(|config| config.session_policy.link = Duration::from_secs(1)).await;
    let path = setup_link_expiring(&app).await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let response = app.use_link(&path).await;
    assert_eq!(response.status(), 410);
    assert!(cookie_value(&response, "pf_session").is_none());
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("expired or has already been used")
    );
    // The screen keeps its id: the administrator issues a new link.
    let (status, answer) = new_link(&app, "wall-1").await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["expires_in"], 1);
    assert_eq!(app.use_link(&path_of(&app, &answer)).await.status(), 303);
}

/// Registers `wall-1` where links last 1 s: its setup link's path.
async fn setup_link_expiring(app: &App) -> String {
    let (status, body) = register(app, json!({ "kiosk_id": "wall-1", "name": "Wall 1" })).await;
    assert_eq!(status, 201);
    assert_eq!(body["expires_in"], 1);
    let link = body["link"].as_str().unwrap();
    link.strip_prefix(&app.base).unwrap().to_owned()
}

#[tokio::test]
async fn only_administrators_register_kiosks_and_bad_requests_say_why() {
    let app = spawn().await;
    let body = json!({ "kiosk_id": "wall-1", "name": "Control room wall 1" });
    for (who, token) in [
        ("viewer", Some(app.token_for(&demo("demo-control-room")))),
        (
            "editor",
            Some(app.token_for(&demo("demo-care-home-editor"))),
        ),
        ("nobody", None),
    ] {
        for request in [
            app.http.post(app.url("/api/v1/access/kiosks")).json(&body),
            app.http.get(app.url("/api/v1/access/kiosks")),
        ] {
            let request = match &token {
                Some(token) => request.bearer_auth(token),
                None => request,
            };
            let status = request.send().await.unwrap().status();
            let want = if token.is_some() { 403 } else { 401 };
            assert_eq!(status, want, "{who}");
        }
    }
    assert!(kiosks(&app).await.is_empty(), "nothing was registered");
    let refused = app.audit("entity=kiosk/wall-1").await;
    assert!(
        refused
            .iter()
            .any(|r| r["actor"]["id"] == "demo-control-room"
                && r["action"] == "access.kiosk_issued"
                && r["outcome"]["result"] == "refused")
    );

    for (body, status, says) in [
        (
            json!({ "kiosk_id": "wall 1", "name": "Wall" }),
            422,
            "kiosk_id must be 1 to 64 letters",
        ),
        (json!({ "name": "Wall" }), 422, "kiosk_id must be"),
        (
            json!({ "kiosk_id": "wall-1" }),
            422,
            "Give the kiosk a name",
        ),
        (
            json!({ "kiosk_id": "wall-1", "name": " " }),
            422,
            "Give the kiosk a name",
        ),
        (json!("wall-1"), 400, "not the JSON this route expects"),
    ] {
        let (got, answer) = register(&app, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(says),
            "{body}: {answer}"
        );
    }
    let (got, answer) = admin_post(&app, "/api/v1/access/revoke", json!({})).await;
    assert_eq!(got, 422);
    assert!(answer["error"].as_str().unwrap().contains("kiosk_id"));
    let (got, _) = admin_post(
        &app,
        "/api/v1/access/revoke",
        json!({ "kiosk_id": "wall 1" }),
    )
    .await;
    assert_eq!(got, 422);
    assert!(kiosks(&app).await.is_empty());
}

#[tokio::test]
async fn a_kiosk_may_only_view_the_control_room() {
    let app = spawn().await;
    let session = set_up(&app, "wall-1").await;

    // Every administration route refuses the kiosk's session.
    for (path, post) in [
        ("/api/v1/access/kiosks", true),
        ("/api/v1/access/kiosks", false),
        ("/api/v1/access/links", true),
        ("/api/v1/access/revoke", true),
        ("/api/v1/audit", false),
    ] {
        let request = if post {
            app.http
                .post(app.url(path))
                .json(&json!({ "kiosk_id": "wall-9", "name": "x", "person_id": "x" }))
        } else {
            app.http.get(app.url(path))
        };
        let status = request
            .header(COOKIE, &session)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 403, "{path}");
    }

    // The policy every service applies to the principal its session carries.
    let me: Value = app
        .get_with_cookie("/api/v1/me", &session)
        .await
        .json()
        .await
        .unwrap();
    let kiosk: Principal = serde_json::from_value(me["principal"].clone()).unwrap();
    assert_eq!(kiosk.roles(), vec![Role::ControlRoomViewer]);
    assert!(kiosk.permits(&Action::ViewControlRoom).is_allowed());
    let ods = |code: &str| OdsCode::parse(code).unwrap();
    let cqc = CqcLocationId::parse("1-000000001").unwrap();
    for action in [
        Action::ManagePatients { ods: ods("RWE") },
        Action::ManagePatients { ods: ods("RT5") },
        Action::SearchVacancies,
        Action::ChangeCareHome { cqc: cqc.clone() },
        Action::AnswerHolds { cqc },
        Action::ChangeBeds { trust: ods("RWE") },
        Action::ReadAudit,
        Action::ManageAccess,
    ] {
        assert!(
            !kiosk.permits(&action).is_allowed(),
            "a kiosk may not {action}"
        );
    }
}

/// `POST /api/v1/access/kiosks/{kiosk_id}/link` as the demo administrator:
/// status and answer.
async fn new_link(app: &App, kiosk_id: &str) -> (u16, Value) {
    let admin = app.token_for(&demo("demo-system-admin"));
    let response = app
        .http
        .post(app.url(&format!("/api/v1/access/kiosks/{kiosk_id}/link")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A link's path from an answer with `link`.
fn path_of(app: &App, answer: &Value) -> String {
    let link = answer["link"].as_str().unwrap();
    link.strip_prefix(&app.base).unwrap().to_owned()
}

#[tokio::test]
async fn a_new_setup_link_replaces_the_earlier_one() {
    let app = spawn().await;
    let old = setup_link(&app, "wall-1").await;
    let (status, answer) = new_link(&app, "wall-1").await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["kiosk_id"], "wall-1");
    assert_eq!(answer["principal_id"], "kiosk:wall-1");
    assert_eq!(answer["name"], "Control room wall-1");
    assert_eq!(answer["expires_in"], 86_400);
    let new = path_of(&app, &answer);
    assert!(new.starts_with("/sign-in/kiosk/") && new != old, "{new}");

    assert_eq!(
        app.use_link(&old).await.status(),
        410,
        "the old link is void"
    );
    let response = app.use_link(&new).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], CONTROL_ROOM);
    assert_eq!(app.use_link(&new).await.status(), 410, "it works once");
    assert!(kiosks(&app).await[0]["set_up_at"].is_string());

    let trail = app.audit("entity=kiosk/wall-1").await;
    assert!(
        trail
            .iter()
            .any(|r| r["action"] == "access.kiosk_link_issued"
                && r["actor"]["id"] == "demo-system-admin"
                && r["outcome"]["result"] == "accepted"),
        "{trail:?}"
    );
}

#[tokio::test]
async fn a_revoked_or_unknown_kiosk_gets_no_new_setup_link() {
    let app = spawn().await;
    let unused = setup_link(&app, "wall-1").await;
    let (status, _) = admin_post(
        &app,
        "/api/v1/access/revoke",
        json!({ "kiosk_id": "wall-1" }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, answer) = new_link(&app, "wall-1").await;
    assert_eq!(status, 409, "{answer}");
    let says = answer["error"].as_str().unwrap();
    assert!(
        says.contains("was revoked") && says.contains("register it as a new kiosk"),
        "{says}"
    );
    assert_eq!(app.use_link(&unused).await.status(), 410);

    let (status, answer) = new_link(&app, "wall-9").await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("There is no kiosk with the id `wall-9`"),
        "{answer}"
    );

    let trail = app.audit("entity=kiosk/wall-1").await;
    assert!(
        trail
            .iter()
            .any(|r| r["action"] == "access.kiosk_link_issued"
                && r["outcome"]["result"] == "refused"),
        "{trail:?}"
    );
    assert!(
        app.audit("entity=kiosk/wall-9")
            .await
            .iter()
            .any(|r| r["action"] == "access.kiosk_link_issued"),
        "the unknown kiosk's refusal is recorded"
    );
}

#[tokio::test]
async fn only_administrators_reissue_setup_links() {
    let app = spawn().await;
    let link = setup_link(&app, "wall-1").await;
    let path = app.url("/api/v1/access/kiosks/wall-1/link");
    for (who, token) in [
        ("viewer", Some(app.token_for(&demo("demo-control-room")))),
        (
            "editor",
            Some(app.token_for(&demo("demo-care-home-editor"))),
        ),
        ("nobody", None),
    ] {
        let request = app.http.post(&path);
        let request = match &token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let status = request.send().await.unwrap().status();
        let want = if token.is_some() { 403 } else { 401 };
        assert_eq!(status, want, "{who}");
    }
    let refused = app.audit("entity=kiosk/wall-1").await;
    assert!(
        refused
            .iter()
            .any(|r| r["actor"]["id"] == "demo-control-room"
                && r["action"] == "access.kiosk_link_issued"
                && r["outcome"]["result"] == "refused"),
        "{refused:?}"
    );

    // A signed-in administrator's session: from another site, or not as
    // JSON (a plain cross-site form), refused; from our pages, accepted.
    let session = app.session_of("demo-system-admin").await;
    let cross_site = app
        .http
        .post(&path)
        .header(COOKIE, &session)
        .header("origin", "https://evil.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    let form = app
        .http
        .post(&path)
        .header(COOKIE, &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 403);
    assert_eq!(
        app.use_link(&link).await.status(),
        303,
        "nothing replaced it"
    );

    let link = setup_link(&app, "wall-2").await;
    let ours = app
        .http
        .post(app.url("/api/v1/access/kiosks/wall-2/link"))
        .header(COOKIE, &session)
        .header("origin", &app.base)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(ours.status(), 201);
    assert_eq!(app.use_link(&link).await.status(), 410);

    // The kiosk itself may not ask for one.
    let kiosk = app
        .use_link(&path_of(&app, &ours.json().await.unwrap()))
        .await;
    let kiosk = format!("pf_session={}", cookie_value(&kiosk, "pf_session").unwrap());
    let status = app
        .http
        .post(app.url("/api/v1/access/kiosks/wall-2/link"))
        .header(COOKIE, &kiosk)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 403);
}
