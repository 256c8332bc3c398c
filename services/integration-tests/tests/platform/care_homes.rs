//! Care homes keep their vacancies live: the API and the form against the
//! real care-homes service, projection and gateway, NATS and Redis.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::Instant;

use pf_access::{Grant, Principal, Role};
use pf_integration_tests::{ControlRoomClient, Platform, demo};
use serde_json::{Value, json};

const HOME_A: &str = "1-000000001";
const HOME_B: &str = "1-000000002";

/// A care-home editor of `homes` only.
fn editor(id: &str, homes: &[&str]) -> Principal {
    Principal::person(id, format!("Editor {id}"), None)
        .with_grant(Grant::parse(Role::CareHomeEditor, homes).unwrap())
}

fn report(residential: u32, dementia: u32) -> Value {
    json!({
        "vacancies": {
            "residential": { "vacant": residential, "unavailable": 0, "sex": "either" },
            "residential_dementia": { "vacant": dementia, "sex": "female" }
        },
        "accepting_hospital_discharges": true,
        "note": "Ground-floor room free"
    })
}

async fn put(
    platform: &Platform,
    token: Option<&str>,
    home: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut request = platform
        .http
        .put(format!(
            "{}/api/v1/care-homes/{home}/vacancies",
            platform.care_homes_url
        ))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(platform: &Platform, token: &str, path: &str) -> (u16, Value) {
    let response = platform
        .http
        .get(format!("{}{path}", platform.care_homes_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Events stored for one home.
async fn events_of(platform: &Platform, home: &str) -> Vec<pf_proto::v1::EventEnvelope> {
    use futures::StreamExt as _;
    let js = platform.jetstream().await;
    let stream = js.get_stream("PF_CARE_HOMES").await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            filter_subject: format!("pf.care-homes.{home}"),
            ..Default::default()
        })
        .await
        .unwrap();
    let pending = consumer.clone().info().await.unwrap().num_pending;
    let mut messages = consumer.messages().await.unwrap();
    let mut events = Vec::new();
    for _ in 0..pending {
        let message = messages.next().await.unwrap().unwrap();
        events.push(pf_proto::v1::EventEnvelope::decode_checked(&message.payload).unwrap());
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_is_saved_once_however_often_it_is_sent_and_reaches_the_control_room() {
    let platform = Platform::start().await;
    let token = platform.token_for(&editor("nurse-a", &[HOME_A]));
    let mut room = ControlRoomClient::connect(&platform, None).await;
    let snapshot = room.next().await;
    assert_eq!(snapshot["care_homes"]["system"]["homes"], 3);
    assert_eq!(
        snapshot["care_homes"]["system"]["stale"], 3,
        "no home has reported yet"
    );

    let sent = Instant::now();
    let (status, first) = put(
        &platform,
        Some(&token),
        HOME_A,
        Some("key-0001-aaaa"),
        &report(2, 1),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["saved"]["replayed"], false);
    assert_eq!(first["saved"]["event_type"], "care_home.vacancies_reported");
    assert_eq!(first["home"]["vacancies"][0]["available"], 2);
    assert_eq!(first["home"]["last_updated_by"], "Editor nurse-a");
    assert_eq!(first["home"]["stale"], false);

    // The control room hears of it.
    let delta = loop {
        let message = room.next().await;
        if message["care_homes"].is_object() {
            break message;
        }
    };
    println!(
        "care-home update reached a websocket client in {:?}",
        sent.elapsed()
    );
    let care_homes = &delta["care_homes"];
    assert_eq!(care_homes["system"]["available"], 3);
    assert_eq!(care_homes["system"]["stale"], 2);
    let city = care_homes["localities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["locality"] == "leicester_city")
        .unwrap();
    assert_eq!(city["available"], 3);

    // A double tap, a resend after a lost answer: the first answer, nothing new stored.
    for _ in 0..3 {
        let (status, again) = put(
            &platform,
            Some(&token),
            HOME_A,
            Some("key-0001-aaaa"),
            &report(2, 1),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(again["saved"]["replayed"], true);
        assert_eq!(again["saved"]["event_id"], first["saved"]["event_id"]);
    }
    // The same key with other figures is a client bug: refused, nothing changes.
    let (status, refused) = put(
        &platform,
        Some(&token),
        HOME_A,
        Some("key-0001-aaaa"),
        &report(5, 5),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("already used"));

    // Two requests with one key at the same moment store one event.
    let same = report(1, 1);
    let (a, b) = tokio::join!(
        put(
            &platform,
            Some(&token),
            HOME_A,
            Some("key-0002-bbbb"),
            &same
        ),
        put(
            &platform,
            Some(&token),
            HOME_A,
            Some("key-0002-bbbb"),
            &same
        ),
    );
    assert_eq!((a.0, b.0), (200, 200));
    assert_eq!(a.1["saved"]["event_id"], b.1["saved"]["event_id"]);

    // "Nothing has changed" counts as an update.
    let response = platform
        .http
        .post(format!(
            "{}/api/v1/care-homes/{HOME_A}/confirmation",
            platform.care_homes_url
        ))
        .bearer_auth(&token)
        .header("Idempotency-Key", "key-0003-cccc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["home"]["vacancies"][0]["vacant"], 1, "figures kept");

    let events = events_of(&platform, HOME_A).await;
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        vec![
            "care_home.registered",
            "care_home.vacancies_reported",
            "care_home.vacancies_reported",
            "care_home.vacancies_reported"
        ],
        "one event per distinct update"
    );

    // Closing to admissions is an event of its own, and leaves no bed free to hold.
    let mut closing = report(1, 1);
    closing["closed_to_admissions"] = json!(true);
    closing["closure_reason"] = json!("outbreak");
    closing["closure_detail"] = json!("Norovirus, first floor");
    let (status, closed) = put(
        &platform,
        Some(&token),
        HOME_A,
        Some("key-0004-dddd"),
        &closing,
    )
    .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(
        closed["saved"]["event_type"],
        "care_home.closed_to_admissions"
    );
    platform.wait_until_projected().await;
    let mut live = platform.live_state("pf:").await;
    let record = live.care_home(HOME_A).await.unwrap().unwrap();
    assert!(record.closure.is_some());
    let residential = record
        .vacancies
        .iter()
        .find(|v| v.category.as_str() == "residential")
        .unwrap();
    assert_eq!(residential.vacant, 1, "the beds reported stay");
    assert_eq!(record.free_beds(residential.category), 0);
    assert_eq!(record.note, "Ground-floor room free");

    // The audit trail names who changed what.
    let audit = pf_audit::AuditLog::new(platform.jetstream().await);
    let records = audit
        .query(&pf_audit::AuditQuery {
            entity: Some(format!("care-home/{HOME_A}")),
            ..Default::default()
        })
        .await
        .unwrap();
    let accepted = records.iter().filter(|r| r.is_accepted()).count();
    assert_eq!(accepted, 4, "each stored update once: {records:?}");
    assert!(
        records
            .iter()
            .any(|r| !r.is_accepted() && r.actor.id == "nurse-a")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reports_are_refused_with_reasons_and_change_nothing() {
    let platform = Platform::start().await;
    let token = platform.token_for(&editor("nurse-a", &[HOME_A]));
    let good = report(2, 1);
    let (status, _) = put(
        &platform,
        Some(&token),
        HOME_A,
        Some("good-key-0001"),
        &good,
    )
    .await;
    assert_eq!(status, 200);
    let before = events_of(&platform, HOME_A).await.len();

    let cases: Vec<(&str, Value, Option<&str>, u16, &str)> = vec![
        (
            "negative",
            json!({"vacancies": {"residential": {"vacant": -1}, "residential_dementia": {"vacant": 0}}}),
            Some("bad-key-0001"),
            422,
            "Vacant residential beds must be 0 or more",
        ),
        (
            "fraction",
            json!({"vacancies": {"residential": {"vacant": 2.5}, "residential_dementia": {"vacant": 0}}}),
            Some("bad-key-0002"),
            422,
            "must be a whole number",
        ),
        (
            "text",
            json!({"vacancies": {"residential": {"vacant": "lots"}, "residential_dementia": {"vacant": 0}}}),
            Some("bad-key-0003"),
            422,
            "must be a whole number",
        ),
        (
            "over registered",
            json!({"vacancies": {"residential": {"vacant": 31}, "residential_dementia": {"vacant": 0}}}),
            Some("bad-key-0004"),
            422,
            "30 or fewer",
        ),
        (
            "sum over registered",
            json!({"vacancies": {"residential": {"vacant": 20}, "residential_dementia": {"vacant": 20}}}),
            Some("bad-key-0005"),
            422,
            "add up to 40",
        ),
        (
            "unavailable over vacant",
            json!({"vacancies": {"residential": {"vacant": 1, "unavailable": 2}, "residential_dementia": {"vacant": 0}}}),
            Some("bad-key-0006"),
            422,
            "no more than the vacant ones",
        ),
        (
            "missing category",
            json!({"vacancies": {"residential": {"vacant": 1}}}),
            Some("bad-key-0007"),
            422,
            "Enter the number of vacant residential dementia beds",
        ),
        (
            "other home's category",
            json!({"vacancies": {"residential": {"vacant": 1}, "residential_dementia": {"vacant": 0}, "nursing": {"vacant": 1}}}),
            Some("bad-key-0008"),
            422,
            "not one of this home's registered categories",
        ),
        (
            "unknown category",
            json!({"vacancies": {"residential": {"vacant": 1}, "residential_dementia": {"vacant": 0}, "hotel": {"vacant": 1}}}),
            Some("bad-key-0009"),
            422,
            "`hotel` is not a care category",
        ),
        (
            "closing without reason",
            json!({"vacancies": {"residential": {"vacant": 1}, "residential_dementia": {"vacant": 0}}, "closed_to_admissions": true}),
            Some("bad-key-0010"),
            422,
            "Select why the home is closed",
        ),
        (
            "bad sex",
            json!({"vacancies": {"residential": {"vacant": 1, "sex": "any"}, "residential_dementia": {"vacant": 0}}}),
            Some("bad-key-0011"),
            422,
            "for men, women or either",
        ),
        (
            "long note",
            json!({"vacancies": {"residential": {"vacant": 1}, "residential_dementia": {"vacant": 0}}, "note": "x".repeat(501)}),
            Some("bad-key-0012"),
            422,
            "500 characters or fewer",
        ),
        (
            "unknown field",
            json!({"vacancies": {}, "beds": 3}),
            Some("bad-key-0013"),
            400,
            "unknown field",
        ),
        (
            "not an object",
            json!([1, 2]),
            Some("bad-key-0014"),
            400,
            "not a valid report",
        ),
        (
            "no key",
            good.clone(),
            None,
            400,
            "Idempotency-Key header is required",
        ),
        (
            "bad key",
            good.clone(),
            Some("no"),
            400,
            "idempotency key must be",
        ),
    ];
    for (name, body, key, status, message) in cases {
        let (got, answer) = put(&platform, Some(&token), HOME_A, key, &body).await;
        assert_eq!(got, status, "{name}: {answer}");
        assert!(answer.to_string().contains(message), "{name}: {answer}");
    }
    // Not JSON at all, and an oversized body.
    let response = platform
        .http
        .put(format!(
            "{}/api/v1/care-homes/{HOME_A}/vacancies",
            platform.care_homes_url
        ))
        .bearer_auth(&token)
        .header("Idempotency-Key", "bad-key-0015")
        .header("Content-Type", "text/plain")
        .body("residential=3")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = platform
        .http
        .put(format!(
            "{}/api/v1/care-homes/{HOME_A}/vacancies",
            platform.care_homes_url
        ))
        .bearer_auth(&token)
        .header("Idempotency-Key", "bad-key-0016")
        .header("Content-Type", "application/json")
        .body(format!("{{\"note\": \"{}\"}}", "x".repeat(64 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    assert_eq!(
        events_of(&platform, HOME_A).await.len(),
        before,
        "nothing was stored"
    );
    let (_, home) = get(&platform, &token, &format!("/api/v1/care-homes/{HOME_A}")).await;
    assert_eq!(
        home["vacancies"][0]["vacant"], 2,
        "the figures are unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_care_home_cannot_touch_another_homes_figures_by_any_route() {
    let platform = Platform::start().await;
    let nurse_a = platform.token_for(&editor("nurse-a", &[HOME_A]));
    let feed_a = platform.token_for(
        &Principal::machine("feed-a", "Care records of home A", None)
            .with_grant(Grant::parse(Role::VacancyPublisher, &[HOME_A]).unwrap()),
    );
    let nurse_b = platform.token_for(&editor("nurse-b", &[HOME_B]));
    let body = json!({"vacancies": {"nursing": {"vacant": 1}, "nursing_dementia": {"vacant": 0}}});
    for (who, token) in [("editor of A", &nurse_a), ("feed of A", &feed_a)] {
        let (status, answer) = put(
            &platform,
            Some(token),
            HOME_B,
            Some("cross-key-0001"),
            &body,
        )
        .await;
        assert_eq!(status, 403, "{who}: {answer}");
        let (status, _) = get(&platform, token, &format!("/api/v1/care-homes/{HOME_B}")).await;
        assert_eq!(status, 403, "{who} reads B");
        let response = platform
            .http
            .post(format!(
                "{}/api/v1/care-homes/{HOME_B}/confirmation",
                platform.care_homes_url
            ))
            .bearer_auth(token)
            .header("Idempotency-Key", "cross-key-0002")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{who} confirms B");
        // B is not in A's list of homes.
        let (_, list) = get(&platform, token, "/api/v1/care-homes").await;
        let homes: Vec<&str> = list["homes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["cqc_location_id"].as_str().unwrap())
            .collect();
        assert_eq!(homes, vec![HOME_A], "{who}");
    }
    // Crafted addresses do not reach B either.
    for path in [
        format!("/api/v1/care-homes/{HOME_A}%2F..%2F{HOME_B}/vacancies"),
        format!("/api/v1/care-homes/{HOME_B}%00/vacancies"),
        "/api/v1/care-homes/1-000000002 /vacancies".to_owned(),
    ] {
        let response = platform
            .http
            .put(format!("{}{path}", platform.care_homes_url))
            .bearer_auth(&nurse_a)
            .header("Idempotency-Key", "cross-key-0003")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            [403, 404].contains(&response.status().as_u16()),
            "{path}: {}",
            response.status()
        );
    }
    // The form: A's session posting to B's form.
    let store = platform.sign_in_store().await;
    let session = store
        .create_session(&editor("nurse-a", &[HOME_A]))
        .await
        .unwrap();
    let response = platform
        .http
        .post(format!("{}/care-homes/{HOME_B}", platform.care_homes_url))
        .header("Cookie", format!("pf_session={}", session.id))
        .form(&[
            ("csrf", session.csrf_token.as_str()),
            ("idempotency_key", "cross-key-0004"),
            ("vacancies.nursing.vacant", "3"),
            ("vacancies.nursing_dementia.vacant", "0"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // No identity, and B's own editor still can.
    let (status, _) = put(&platform, None, HOME_B, Some("cross-key-0005"), &body).await;
    assert_eq!(status, 401);
    let (status, answer) = put(
        &platform,
        Some(&nurse_b),
        HOME_B,
        Some("cross-key-0006"),
        &body,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    // Only B's own editor's update is stored.
    let events = events_of(&platform, HOME_B).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].actor.as_ref().unwrap().id, "nurse-b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_works_without_javascript() {
    let platform = Platform::start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("{}/care-homes/{HOME_A}", platform.care_homes_url);
    // Not signed in: sent to sign in, coming back here.
    let response = http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains("return_to=http%3A%2F%2F127.0.0.1"),
        "{location}"
    );

    let store = platform.sign_in_store().await;
    let session = store
        .create_session(&demo("demo-care-home-editor"))
        .await
        .unwrap();
    let cookie = format!("pf_session={}", session.id);
    let page = http
        .get(&url)
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!csp.contains("unsafe-inline"));
    let html = page.text().await.unwrap();
    assert!(html.contains("Alder House (demo)"));
    assert!(html.contains("No figures yet"));
    assert!(html.contains(&session.csrf_token));

    let fields = |key: &'static str, vacant: &'static str| {
        vec![
            ("csrf", session.csrf_token.clone()),
            ("idempotency_key", key.to_owned()),
            ("maximum_capacity", "30".to_owned()),
            (
                "occupied",
                (30 - 1 - vacant.parse::<i64>().unwrap_or(0).max(0)).to_string(),
            ),
            ("vacancies.residential.accepting", vacant.to_owned()),
            ("vacancies.residential.reserved", "0".to_owned()),
            ("vacancies.residential.sex", "either".to_owned()),
            ("vacancies.residential_dementia.accepting", "1".to_owned()),
            ("closed_to_admissions", "no".to_owned()),
            ("accepting_hospital_discharges", "yes".to_owned()),
            ("note", "Room 4 free".to_owned()),
            ("action", "save".to_owned()),
        ]
    };
    // A mistake: the page comes back with the error summary and what was typed.
    let response = http
        .post(&url)
        .header("Cookie", &cookie)
        .form(&fields("form-key-0001", "-2"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("There is a problem"));
    assert!(html.contains("href=\"#vacancies-residential-accepting\""));
    assert!(html.contains("value=\"-2\""), "what was typed is kept");
    assert!(html.contains("Room 4 free"));

    // Saved: redirected to the page, which confirms it.
    let response = http
        .post(&url)
        .header("Cookie", &cookie)
        .form(&fields("form-key-0002", "3"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!("/care-homes/{HOME_A}?saved=form-key-0002")
    );
    let html = http
        .get(format!("{}{location}", platform.care_homes_url))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Your update was saved at"));
    assert!(html.contains("Last updated at"));
    assert!(html.contains("value=\"3\""));
    assert!(html.contains("value=\"26\""), "the occupied beds are shown");

    // A browser resend of the same form is applied once.
    let response = http
        .post(&url)
        .header("Cookie", &cookie)
        .form(&fields("form-key-0002", "3"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(events_of(&platform, HOME_A).await.len(), 2);

    // A confirmation only for keys that were saved for this home.
    let html = http
        .get(format!("{url}?saved=form-key-0001"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("Your update was saved"));

    // A forged form (no or another session's token) is refused.
    let mut forged = fields("form-key-0003", "9");
    forged[0].1 = "not-the-token".to_owned();
    let response = http
        .post(&url)
        .header("Cookie", &cookie)
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(events_of(&platform, HOME_A).await.len(), 2);

    // "Nothing has changed" is one tap.
    let response = http
        .post(&url)
        .header("Cookie", &cookie)
        .form(&[
            ("csrf", session.csrf_token.as_str()),
            ("idempotency_key", "form-key-0004"),
            ("action", "unchanged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let html = http
        .get(format!("{url}?saved=form-key-0004"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Figures confirmed unchanged at"),
        "a confirmation in its own words"
    );
    assert!(!html.contains("Your update was saved"));
    let events = events_of(&platform, HOME_A).await;
    assert_eq!(events.len(), 3);
    match &events[2].payload {
        Some(pf_proto::v1::event_envelope::Payload::VacanciesReported(p)) => {
            assert!(p.confirmed_unchanged);
            assert_eq!(p.home.as_ref().unwrap().vacancies[0].vacant, 3);
        }
        other => panic!("unexpected {other:?}"),
    }

    // Signing out goes to the identity service, the only one that may end
    // a session: the page's form posts there with the session's token, and
    // the page's policy lets a form post there and nowhere else.
    let page = http
        .get(&url)
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("form-action 'self' http://127.0.0.1:8083;"),
        "{policy}"
    );
    let html = page.text().await.unwrap();
    // (The page escapes `/` in attributes; browsers read it back.)
    assert!(
        html.replace("&#x2f;", "/").contains(
            r#"<form method="post" action="http://127.0.0.1:8083/sign-out" class="pf-sign-out">"#
        ),
        "{html}"
    );
    assert!(html.contains(&format!(
        r#"<input type="hidden" name="csrf_token" value="{}">"#,
        session.csrf_token
    )));
    let own = http
        .post(format!("{}/sign-out", platform.care_homes_url))
        .header("Cookie", &cookie)
        .form(&[("csrf", session.csrf_token.as_str())])
        .send()
        .await
        .unwrap();
    assert!(
        own.status() == 404 || own.status() == 405,
        "care-homes ends no session itself: {}",
        own.status()
    );
    let again = http
        .get(&url)
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200, "the session is identity's to end");
}

/// Every operation of `services/care-homes/openapi.json` exists on the
/// running service and answers with the documented status and schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_file_describes_the_running_service() {
    let platform = Platform::start().await;
    let spec: Value =
        serde_json::from_str(include_str!("../../../care-homes/openapi.json")).unwrap();
    let token = platform.token_for(&editor("feed", &[HOME_A]));
    let check = |operation: &str, status: u16, body: &Value| {
        let (path, method) = match operation {
            "listHomes" => ("/api/v1/care-homes", "get"),
            "getHome" => ("/api/v1/care-homes/{cqc}", "get"),
            "reportVacancies" => ("/api/v1/care-homes/{cqc}/vacancies", "put"),
            "confirmUnchanged" => ("/api/v1/care-homes/{cqc}/confirmation", "post"),
            other => panic!("unknown operation {other}"),
        };
        let op = &spec["paths"][path][method];
        assert_eq!(op["operationId"], operation);
        let response = &op["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{operation}: status {status} is not documented"
        );
        let schema = &response["content"]["application/json"]["schema"];
        if schema.is_null() {
            return;
        }
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": "#/$defs/answer",
            "$defs": { "answer": schema },
            "components": spec["components"],
        });
        let validator = jsonschema::validator_for(&root).unwrap();
        let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{operation} {status}: {errors:?}\n{body}"
        );
    };
    let (status, body) = get(&platform, &token, "/api/v1/care-homes").await;
    check("listHomes", status, &body);
    // Someone who may update no home is told so, not shown an empty list.
    let viewer = platform.token_for(&demo("demo-control-room"));
    let (status, body) = get(&platform, &viewer, "/api/v1/care-homes").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not registered with any care home"),
        "{body}"
    );
    check("listHomes", status, &body);
    let (status, body) = get(&platform, &token, &format!("/api/v1/care-homes/{HOME_A}")).await;
    check("getHome", status, &body);
    let (status, body) = get(&platform, &token, &format!("/api/v1/care-homes/{HOME_B}")).await;
    check("getHome", status, &body);
    let (status, body) = get(&platform, &token, "/api/v1/care-homes/1-999999999").await;
    assert_eq!(
        status, 403,
        "a home the caller does not have is refused before it is looked up"
    );
    check("getHome", status, &body);
    let example = spec["components"]["schemas"]["VacancyReport"]["examples"][0].clone();
    let (status, body) = put(
        &platform,
        Some(&token),
        HOME_A,
        Some("spec-key-0001"),
        &report(1, 1),
    )
    .await;
    check("reportVacancies", status, &body);
    let (status, body) = put(
        &platform,
        Some(&token),
        HOME_A,
        Some("spec-key-0001"),
        &report(1, 1),
    )
    .await;
    check("reportVacancies", status, &body);
    let (status, body) = put(
        &platform,
        Some(&token),
        HOME_A,
        Some("spec-key-0002"),
        &example,
    )
    .await;
    assert_eq!(
        status, 422,
        "the example is another home's categories: {body}"
    );
    check("reportVacancies", status, &body);
    let (status, body) = put(
        &platform,
        None,
        HOME_A,
        Some("spec-key-0003"),
        &report(1, 1),
    )
    .await;
    check("reportVacancies", status, &body);
    let (status, body) = put(&platform, Some(&token), HOME_A, None, &report(1, 1)).await;
    check("reportVacancies", status, &body);
    let (status, body) = put(
        &platform,
        Some(&token),
        HOME_A,
        Some("spec-key-0001"),
        &report(4, 4),
    )
    .await;
    check("reportVacancies", status, &body);
    let response = platform
        .http
        .post(format!(
            "{}/api/v1/care-homes/{HOME_A}/confirmation",
            platform.care_homes_url
        ))
        .bearer_auth(&token)
        .header("Idempotency-Key", "spec-key-0004")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    check("confirmUnchanged", status, &response.json().await.unwrap());
}

/// Care-home events written before the Capacity Tracker's figures existed
/// (a record with no payload version and no capacity, as the service wrote
/// them) still replay: a rebuild from the stream equals the live state, the
/// home reads as it did (vacant 3 of which 1 unavailable is 2 accepting
/// admissions and 1 reserved, capacity not given), and events of both shapes
/// together replay alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_written_in_the_older_shape_replay_to_the_same_live_state() {
    use pf_care_home_model::{CareHomeRecord, Confirmation, CqcLocationId, SexAccepted, Vacancy};
    use pf_event_log::{ContentionLimit, Decision};
    use pf_proto::v1::VacanciesReported;
    use pf_proto::v1::event_envelope::Payload;

    let platform = Platform::start().await;
    platform.wait_until_projected().await;
    let log = pf_care_home_log::HomeLog::new(platform.jetstream().await, "care-homes");
    let cqc = CqcLocationId::parse(HOME_A).unwrap();
    let older = editor("older-writer", &[HOME_A]);
    for (n, (residential, unavailable, dementia)) in
        [(3u32, 1u32, 2u32), (4, 2, 1)].into_iter().enumerate()
    {
        log.change(&cqc, ContentionLimit::Attempts(3), |current| {
            let current = current.expect("registered");
            let mut record: CareHomeRecord = current.record.clone();
            record.vacancies = vec![
                Vacancy {
                    category: pf_care_home_model::CareCategory::Residential,
                    vacant: residential,
                    unavailable,
                    sex: SexAccepted::Either,
                },
                Vacancy {
                    category: pf_care_home_model::CareCategory::ResidentialDementia,
                    vacant: dementia,
                    unavailable: 0,
                    sex: SexAccepted::Female,
                },
            ];
            record.confirmed = Some(Confirmation {
                at: time::OffsetDateTime::now_utc(),
                by_id: older.id.clone(),
                by_name: older.name.clone(),
            });
            // The older shape: what `to_proto` wrote before payload version 2.
            let mut home = record.to_proto();
            home.capacity = None;
            home.payload_version = 0;
            let payload = Payload::VacanciesReported(VacanciesReported {
                home: Some(home),
                confirmed_unchanged: false,
                idempotency_key: format!("older-shape-{n}"),
            });
            Ok::<_, std::convert::Infallible>(Decision::Publish {
                event: log.next_event(
                    &cqc,
                    Some(current),
                    pf_care_home_log::actor(&older),
                    payload,
                ),
                outcome: (),
            })
        })
        .await
        .unwrap();
    }
    platform.wait_until_projected().await;

    // The home reads as it did, in both vocabularies.
    let token = platform.token_for(&editor("reader", &[HOME_A, HOME_B]));
    let (status, home) = get(&platform, &token, &format!("/api/v1/care-homes/{HOME_A}")).await;
    assert_eq!(status, 200, "{home}");
    let residential = &home["vacancies"][0];
    assert_eq!(residential["vacant"], 4);
    assert_eq!(residential["unavailable"], 2);
    assert_eq!(residential["available"], 2);
    assert_eq!(residential["accepting_admissions"], 2);
    assert_eq!(residential["reserved"], 2);
    assert_eq!(
        home["maximum_capacity"],
        Value::Null,
        "not given in the older shape"
    );
    assert_eq!(home["occupied"], Value::Null);

    // A rebuild from the stream equals the live state.
    let js = platform.jetstream().await;
    let live_digest = platform.live_state("pf:").await.digest().await.unwrap();
    let mut scratch = platform.live_state("scratch-older:").await;
    pf_projection::replay::rebuild(&js, &mut scratch, 4)
        .await
        .unwrap();
    assert_eq!(scratch.digest().await.unwrap(), live_digest);

    // A newer update, in the national shape, on top: both shapes replay alike.
    let (status, body) = put(
        &platform,
        Some(&token),
        HOME_A,
        Some("national-shape-1"),
        &json!({
            "maximum_capacity": 28,
            "occupied": 24,
            "vacancies": {
                "residential": { "accepting_admissions": 2, "reserved": 1 },
                "residential_dementia": { "accepting_admissions": 1, "sex": "female" }
            }
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, home) = get(&platform, &token, &format!("/api/v1/care-homes/{HOME_A}")).await;
    assert_eq!(home["maximum_capacity"], 28);
    assert_eq!(home["occupied"], 24);
    assert_eq!(home["vacancies"][0]["vacant"], 3);
    assert_eq!(home["vacancies"][0]["available"], 2);
    let events = events_of(&platform, HOME_A).await;
    let newest = match &events.last().unwrap().payload {
        Some(Payload::VacanciesReported(p)) => p.home.clone().unwrap(),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(newest.payload_version, pf_care_home_model::PAYLOAD_VERSION);
    platform.wait_until_projected().await;
    let live_digest = platform.live_state("pf:").await.digest().await.unwrap();
    let mut scratch = platform.live_state("scratch-both:").await;
    pf_projection::replay::rebuild(&js, &mut scratch, 4)
        .await
        .unwrap();
    assert_eq!(scratch.digest().await.unwrap(), live_digest);

    // Figures that count two ways are refused, in words.
    let (status, body) = put(
        &platform,
        Some(&token),
        HOME_A,
        Some("national-shape-2"),
        &json!({
            "maximum_capacity": 28,
            "occupied": 20,
            "vacancies": {
                "residential": { "accepting_admissions": 2, "reserved": 1 },
                "residential_dementia": { "accepting_admissions": 1 }
            }
        }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["problems"][0]["field"], "occupied");

    // The export in the Capacity Tracker's shape.
    let csv = platform
        .http
        .get(format!(
            "{}/api/v1/care-homes/capacity-tracker.csv",
            platform.care_homes_url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with(HOME_A) && l.ends_with(",28,24,Residential,2,1,No,,Yes")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with(HOME_B) && l.ends_with(",No")),
        "a home that never gave its capacity says so: {text}"
    );
}
