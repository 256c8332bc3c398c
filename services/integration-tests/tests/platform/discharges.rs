//! Discharge teams find, hold and confirm a care-home bed: against the real
//! discharges, care-homes, projection and gateway services, NATS and Redis.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::{Duration, Instant};

use pf_access::{Grant, Principal, Role};
use pf_discharge_model::NhsNumber;
use pf_integration_tests::{ControlRoomClient, Platform};
use serde_json::{Value, json};

const HOME_A: &str = "1-000000001"; // Leicester City: residential, residential dementia; 30 beds
const HOME_B: &str = "1-000000002"; // Leicestershire: nursing, nursing dementia

fn coordinator(id: &str, ods: &str) -> Principal {
    Principal::person(id, format!("Coordinator {id}"), None)
        .with_grant(Grant::parse(Role::DischargeCoordinator, &[ods]).unwrap())
}

struct Api<'a> {
    platform: &'a Platform,
    token: String,
}

impl Api<'_> {
    async fn send(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .platform
            .http
            .request(method, url)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{path}", self.platform.discharges_url);
        self.send(reqwest::Method::POST, url, Some(body)).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.platform.discharges_url);
        self.send(reqwest::Method::GET, url, None).await
    }

    async fn care_home(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.platform.care_homes_url);
        self.send(method, url, body).await
    }
}

fn referral(n: u32) -> Value {
    json!({
        "nhs_number": NhsNumber::test_number(n).as_str(),
        "sex": if n.is_multiple_of(2) { "female" } else { "male" },
        "site": "RWEAA",
        "ward": "WD15",
        "discharge_ready_date": "2026-11-27",
        "pathway": 3,
        "care_needed": "residential",
        "search_postcode": "LE2 7LX",
        "delay_reason": "awaiting_care_home_place",
        "needs": "Walks with a frame"
    })
}

/// A home's figures through the care-homes API, as its care-record system would send them.
async fn report(platform: &Platform, home: &str, body: Value) {
    let feed = Api {
        platform,
        token: platform.token_for(
            &Principal::machine("feed", "Care records", None)
                .with_grant(Grant::parse(Role::VacancyPublisher, &[HOME_A, HOME_B]).unwrap()),
        ),
    };
    let response = platform
        .http
        .put(format!(
            "{}/api/v1/care-homes/{home}/vacancies",
            platform.care_homes_url
        ))
        .bearer_auth(&feed.token)
        .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

async fn wait_until<F: Fn() -> Fut, Fut: std::future::Future<Output = bool>>(what: &str, check: F) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn free_beds(platform: &Platform, home: &str, category: &str) -> u32 {
    let mut live = platform.live_state("pf:").await;
    let record = live.care_home(home).await.unwrap().unwrap();
    record.free_beds(category.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_coordinators_racing_for_three_beds_get_exactly_three_holds() {
    let platform = Platform::start().await;
    report(
        &platform,
        HOME_A,
        json!({"vacancies": {"residential": {"vacant": 3}, "residential_dementia": {"vacant": 0}}}),
    )
    .await;
    let api = Api {
        platform: &platform,
        token: platform.token_for(&coordinator("idt-1", "RWE")),
    };
    let mut patients = Vec::new();
    for n in 0..50 {
        let (status, body) = api.post("/api/v1/discharges", referral(n)).await;
        assert_eq!(status, 201, "{body}");
        assert!(
            body["nhs_number"].as_str().unwrap().starts_with("999 "),
            "opened on creation"
        );
        patients.push(body["discharge_id"].as_str().unwrap().to_owned());
    }
    platform.wait_until_projected().await;

    // The search finds the home, with its free beds and how fresh they are.
    let (status, found) = api
        .get(&format!("/api/v1/discharges/{}/matches", patients[0]))
        .await;
    assert_eq!(status, 200, "{found}");
    let home = &found["homes"][0];
    assert_eq!(home["cqc_location_id"], HOME_A);
    assert_eq!(home["free_beds"], 3);
    assert_eq!(home["stale"], false);

    // Fifty coordinators hold at once.
    let paths: Vec<String> = patients
        .iter()
        .map(|id| format!("/api/v1/discharges/{id}/holds"))
        .collect();
    let holds = futures::future::join_all(
        paths
            .iter()
            .map(|path| api.post(path, json!({"cqc_location_id": HOME_A}))),
    )
    .await;
    let held: Vec<&Value> = holds
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b)
        .collect();
    let refused: Vec<&Value> = holds
        .iter()
        .filter(|(s, _)| *s == 409)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(held.len(), 3, "{holds:?}");
    assert_eq!(refused.len(), 47, "{holds:?}");
    assert!(
        refused.iter().all(|b| b["error"]
            .as_str()
            .unwrap()
            .contains("no Residential bed is free")),
        "{refused:?}"
    );
    platform.wait_until_projected().await;
    assert_eq!(free_beds(&platform, HOME_A, "residential").await, 0);
    let (_, found) = api
        .get(&format!("/api/v1/discharges/{}/matches", patients[49]))
        .await;
    assert_eq!(
        found["homes"].as_array().unwrap().len(),
        0,
        "a held bed disappears from the search"
    );

    // The home declines one: its bed is free again.
    let home_staff = Api {
        platform: &platform,
        token: platform.token_for(
            &Principal::person("matron-a", "Matron", None)
                .with_grant(Grant::parse(Role::CareHomeEditor, &[HOME_A]).unwrap()),
        ),
    };
    let first = held[0]["hold_id"].as_str().unwrap();
    let (status, body) = home_staff
        .care_home(
            reqwest::Method::POST,
            &format!("/api/v1/care-homes/{HOME_A}/holds/{first}/decline"),
            Some(json!({"reason": "cannot meet needs"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    platform.wait_until_projected().await;
    assert_eq!(free_beds(&platform, HOME_A, "residential").await, 1);

    // Holds nobody answers end when their time is up, not before: the clock is moved, not waited for.
    platform.clock.advance(time::Duration::hours(3));
    tokio::time::sleep(Duration::from_millis(400)).await;
    platform.wait_until_projected().await;
    assert_eq!(
        free_beds(&platform, HOME_A, "residential").await,
        1,
        "not expired after 3 hours"
    );
    platform
        .clock
        .advance(time::Duration::hours(1) + time::Duration::seconds(1));
    wait_until("the holds to expire", || async {
        platform.wait_until_projected().await;
        free_beds(&platform, HOME_A, "residential").await == 3
    })
    .await;
    let (_, list) = api.get("/api/v1/discharges").await;
    assert!(
        list["patients"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["hold"].is_null())
    );
    assert!(
        list["patients"][0]["nhs_number"]
            .as_str()
            .unwrap()
            .starts_with("*** *** "),
        "masked in the list"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_is_accepted_and_the_discharge_takes_the_vacancy_away() {
    let platform = Platform::start().await;
    report(
        &platform,
        HOME_A,
        json!({"vacancies": {"residential": {"vacant": 2}, "residential_dementia": {"vacant": 1}}}),
    )
    .await;
    let api = Api {
        platform: &platform,
        token: platform.token_for(&coordinator("idt-1", "RWE")),
    };
    let (_, patient) = api.post("/api/v1/discharges", referral(7)).await;
    let id = patient["discharge_id"].as_str().unwrap().to_owned();
    platform.wait_until_projected().await;
    let mut room = ControlRoomClient::connect(&platform, None).await;
    let snapshot = room.next().await;
    assert_eq!(snapshot["care_homes"]["system"]["available"], 3);

    let (status, hold) = api
        .post(
            &format!("/api/v1/discharges/{id}/holds"),
            json!({"cqc_location_id": HOME_A}),
        )
        .await;
    assert_eq!(status, 201, "{hold}");
    let hold_id = hold["hold_id"].as_str().unwrap();
    // A second hold for the same patient is refused.
    let (status, body) = api
        .post(
            &format!("/api/v1/discharges/{id}/holds"),
            json!({"cqc_location_id": HOME_A, "category": "residential_dementia"}),
        )
        .await;
    platform.wait_until_projected().await;
    assert!(status == 409 || status == 201, "{body}");
    let (status, body) = api
        .post(
            &format!("/api/v1/discharges/{id}/discharge"),
            json!({"destination": "care_home"}),
        )
        .await;
    assert_eq!(status, 409, "not before the home accepted: {body}");

    let matron = Api {
        platform: &platform,
        token: platform.token_for(
            &Principal::person("matron-a", "Matron", None)
                .with_grant(Grant::parse(Role::CareHomeEditor, &[HOME_A]).unwrap()),
        ),
    };
    let (_, home) = matron
        .care_home(
            reqwest::Method::GET,
            &format!("/api/v1/care-homes/{HOME_A}"),
            None,
        )
        .await;
    let request = home["holds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hold_id"] == hold_id)
        .unwrap();
    assert_eq!(request["needs"], "Walks with a frame");
    assert!(
        !request
            .to_string()
            .contains(NhsNumber::test_number(7).as_str()),
        "no NHS number goes to the home"
    );
    let (status, body) = matron
        .care_home(
            reqwest::Method::POST,
            &format!("/api/v1/care-homes/{HOME_A}/holds/{hold_id}/accept"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    platform.wait_until_projected().await;
    let (_, opened) = api.get(&format!("/api/v1/discharges/{id}")).await;
    assert_eq!(opened["hold"]["state"], "accepted");
    assert_eq!(opened["next_action"], "Confirm the discharge");

    let (status, body) = api
        .post(
            &format!("/api/v1/discharges/{id}/discharge"),
            json!({"destination": "care_home", "destination_home": HOME_A}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    platform.wait_until_projected().await;
    let mut live = platform.live_state("pf:").await;
    let record = live.care_home(HOME_A).await.unwrap().unwrap();
    assert_eq!(
        record.vacancy("residential".parse().unwrap()).vacant,
        1,
        "the vacancy was taken away"
    );
    assert!(record.holds.is_empty());
    // The control room sees the home's vacancy drop.
    loop {
        let message = room.next().await;
        if message["care_homes"]["system"]["available"] == 2 {
            break;
        }
    }
    let (_, list) = api.get("/api/v1/discharges").await;
    assert!(
        list["patients"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["discharge_id"] != id.as_str()),
        "no longer waiting"
    );

    // Opening a patient is audited, once per person and patient in a
    // window: re-reading the open patient again and again (as the live
    // dashboard does on every notice) adds no entry.
    for _ in 0..3 {
        let (status, _) = api.get(&format!("/api/v1/discharges/{id}")).await;
        assert_eq!(status, 200);
    }
    let audit = pf_audit::AuditLog::new(platform.jetstream().await);
    let records = audit
        .query(&pf_audit::AuditQuery {
            entity: Some(format!("discharge/{id}")),
            ..Default::default()
        })
        .await
        .unwrap();
    let opened = records
        .iter()
        .filter(|r| r.action == "discharge.open" && r.actor.id == "idt-1")
        .count();
    assert_eq!(opened, 1, "{records:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_a_reason_and_change_nothing() {
    let platform = Platform::start().await;
    report(
        &platform,
        HOME_A,
        json!({"vacancies": {"residential": {"vacant": 2}, "residential_dementia": {"vacant": 1}}}),
    )
    .await;
    let mut closed =
        json!({"vacancies": {"nursing": {"vacant": 2}, "nursing_dementia": {"vacant": 0}}});
    closed["closed_to_admissions"] = json!(true);
    closed["closure_reason"] = json!("outbreak");
    report(&platform, HOME_B, closed).await;
    let api = Api {
        platform: &platform,
        token: platform.token_for(&coordinator("idt-1", "RWE")),
    };
    let (_, patient) = api.post("/api/v1/discharges", referral(3)).await;
    let id = patient["discharge_id"].as_str().unwrap().to_owned();
    platform.wait_until_projected().await;
    let versions = platform.live_state("pf:").await.version().await.unwrap();

    let mut bad = referral(4);
    bad["nhs_number"] = json!("943 476 5918");
    let (status, body) = api.post("/api/v1/discharges", bad).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["problems"][0]["field"], "nhs_number");
    assert!(
        body["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not a valid NHS number")
    );

    let cases = [
        (
            json!({"cqc_location_id": "1-999999999"}),
            404,
            "not on the register",
        ),
        (
            json!({"cqc_location_id": "not-a-home"}),
            404,
            "not a care home",
        ),
        (
            json!({"cqc_location_id": HOME_B, "category": "nursing"}),
            422,
            "closed to admissions",
        ),
        (
            json!({"cqc_location_id": HOME_A, "category": "nursing"}),
            422,
            "does not offer Nursing",
        ),
        (
            json!({"cqc_location_id": HOME_A, "category": "hotel"}),
            422,
            "not a known care category",
        ),
        (json!({"home": HOME_A}), 400, "unknown field"),
    ];
    for (body, status, message) in cases {
        let (got, answer) = api
            .post(&format!("/api/v1/discharges/{id}/holds"), body.clone())
            .await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap_or_default()
                .contains(message),
            "{body}: {answer}"
        );
    }
    // Another organisation's coordinator cannot see or touch the patient.
    let other = Api {
        platform: &platform,
        token: platform.token_for(&coordinator("idt-lpt", "RT5")),
    };
    let (status, _) = other.get(&format!("/api/v1/discharges/{id}")).await;
    assert_eq!(status, 403);
    let (status, _) = other
        .post(
            &format!("/api/v1/discharges/{id}/holds"),
            json!({"cqc_location_id": HOME_A}),
        )
        .await;
    assert_eq!(status, 403);
    let (_, list) = other.get("/api/v1/discharges").await;
    assert_eq!(list["patients"].as_array().unwrap().len(), 0);
    // A care-home editor cannot put patients on the list.
    let editor = Api {
        platform: &platform,
        token: platform.token_for(
            &Principal::person("m", "M", None)
                .with_grant(Grant::parse(Role::CareHomeEditor, &[HOME_A]).unwrap()),
        ),
    };
    let (status, _) = editor.post("/api/v1/discharges", referral(5)).await;
    assert_eq!(status, 403);
    // Nor see the list: an empty list would read as "nobody is waiting".
    let (status, body) = editor.get("/api/v1/discharges").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("for discharge coordinators"),
        "{body}"
    );

    platform.wait_until_projected().await;
    assert_eq!(
        platform.live_state("pf:").await.version().await.unwrap(),
        versions,
        "nothing changed"
    );
}

/// A cookie-riding request to the discharges or care-homes API, as a page
/// of some site could make a signed-in person's browser send it.
async fn with_cookie(
    platform: &Platform,
    url: String,
    cookie: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let mut request = platform
        .http
        .post(url)
        .header("cookie", cookie)
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn refusals(platform: &Platform, action: &str, actor: &str) -> usize {
    let audit = pf_audit::AuditLog::new(platform.jetstream().await);
    audit
        .query(&pf_audit::AuditQuery {
            person: Some(actor.to_owned()),
            ..Default::default()
        })
        .await
        .unwrap()
        .iter()
        .filter(|r| r.action == action && !r.is_accepted())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_browser_changes_patients_only_with_json_from_our_pages() {
    let platform = Platform::start().await;
    report(
        &platform,
        HOME_A,
        json!({"vacancies": {"residential": {"vacant": 2}, "residential_dementia": {"vacant": 1}}}),
    )
    .await;
    let person = coordinator("idt-cookie", "RWE");
    let api = Api {
        platform: &platform,
        token: platform.token_for(&person),
    };
    let session = platform
        .sign_in_store()
        .await
        .create_session(&person)
        .await
        .unwrap();
    let cookie = format!("pf_session={}", session.id);
    let (_, patient) = api.post("/api/v1/discharges", referral(21)).await;
    let id = patient["discharge_id"].as_str().unwrap().to_owned();
    let cancel = format!("{}/api/v1/discharges/{id}/cancel", platform.discharges_url);
    let delay = format!(
        "{}/api/v1/discharges/{id}/delay-reason",
        platform.discharges_url
    );
    let own = platform.discharges_url.as_str();
    let json_type = ("content-type", "application/json");

    // What another site's page can make a browser send: refused, changing nothing.
    for (url, headers, body) in [
        (
            &cancel,
            vec![
                ("content-type", "text/plain"),
                ("origin", "https://evil.example"),
            ],
            "",
        ),
        (&cancel, vec![("origin", "https://evil.example")], ""),
        (&cancel, vec![], ""),
        (
            &cancel,
            vec![json_type, ("origin", "https://evil.example")],
            "{}",
        ),
        (&cancel, vec![json_type, ("origin", "null")], "{}"),
        (&cancel, vec![json_type], "{}"),
        (
            &cancel,
            vec![json_type, ("x-csrf-token", "not-the-token")],
            "{}",
        ),
        (
            &cancel,
            vec![("content-type", "text/plain"), ("origin", own)],
            "",
        ),
        (
            &delay,
            vec![
                ("content-type", "text/plain"),
                ("origin", "https://evil.example"),
            ],
            r#"{"delay_reason": "awaiting_assessment"}"#,
        ),
    ] {
        let (status, answer) = with_cookie(&platform, url.clone(), &cookie, &headers, body).await;
        assert_eq!(status, 403, "{url} {headers:?}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap_or_default()
                .starts_with("This request came from another site"),
            "{answer}"
        );
    }
    let (_, opened) = api.get(&format!("/api/v1/discharges/{id}")).await;
    assert_eq!(opened["status"], "ready", "{opened}");
    assert_eq!(opened["delay_reason"], "awaiting_care_home_place");
    assert!(refusals(&platform, "request.cross_site", "idt-cookie").await >= 9);

    // From our own pages (JSON, our Origin), or without Origin but with the
    // session's CSRF token: accepted.
    let (status, answer) = with_cookie(
        &platform,
        delay.clone(),
        &cookie,
        &[json_type, ("x-csrf-token", &session.csrf_token)],
        r#"{"delay_reason": "awaiting_assessment"}"#,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = with_cookie(
        &platform,
        cancel.clone(),
        &cookie,
        &[json_type, ("origin", own)],
        "",
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "cancelled");

    // Machines with a bearer token are not affected (no Origin, empty body).
    let (_, patient) = api.post("/api/v1/discharges", referral(22)).await;
    let other = patient["discharge_id"].as_str().unwrap();
    let response = platform
        .http
        .post(format!(
            "{}/api/v1/discharges/{other}/cancel",
            platform.discharges_url
        ))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_answers_holds_from_a_browser_only_with_json_from_our_pages() {
    let platform = Platform::start().await;
    report(
        &platform,
        HOME_A,
        json!({"vacancies": {"residential": {"vacant": 2}, "residential_dementia": {"vacant": 1}}}),
    )
    .await;
    let api = Api {
        platform: &platform,
        token: platform.token_for(&coordinator("idt-1", "RWE")),
    };
    let (_, patient) = api.post("/api/v1/discharges", referral(23)).await;
    let id = patient["discharge_id"].as_str().unwrap().to_owned();
    platform.wait_until_projected().await;
    let (status, hold) = api
        .post(
            &format!("/api/v1/discharges/{id}/holds"),
            json!({"cqc_location_id": HOME_A}),
        )
        .await;
    assert_eq!(status, 201, "{hold}");
    let hold_id = hold["hold_id"].as_str().unwrap();
    let matron = Principal::person("matron-cookie", "Matron", None)
        .with_grant(Grant::parse(Role::CareHomeEditor, &[HOME_A]).unwrap());
    let session = platform
        .sign_in_store()
        .await
        .create_session(&matron)
        .await
        .unwrap();
    let cookie = format!("pf_session={}", session.id);
    let accept = format!(
        "{}/api/v1/care-homes/{HOME_A}/holds/{hold_id}/accept",
        platform.care_homes_url
    );
    for headers in [
        vec![
            ("content-type", "text/plain"),
            ("origin", "https://evil.example"),
        ],
        vec![("origin", "https://evil.example")],
        vec![
            ("content-type", "application/json"),
            ("origin", "https://evil.example"),
        ],
        vec![("content-type", "application/json")],
    ] {
        let (status, answer) = with_cookie(&platform, accept.clone(), &cookie, &headers, "").await;
        assert_eq!(status, 403, "{headers:?}: {answer}");
    }
    platform.wait_until_projected().await;
    let (_, opened) = api.get(&format!("/api/v1/discharges/{id}")).await;
    assert_eq!(opened["hold"]["state"], "requested", "{opened}");
    assert!(refusals(&platform, "request.cross_site", "matron-cookie").await >= 4);

    let own = platform.care_homes_url.as_str();
    let (status, answer) = with_cookie(
        &platform,
        accept,
        &cookie,
        &[("content-type", "application/json"), ("origin", own)],
        "",
    )
    .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_in_text_for_care_homes_are_refused_however_written() {
    let platform = Platform::start().await;
    report(
        &platform,
        HOME_A,
        json!({"vacancies": {"residential": {"vacant": 2}, "residential_dementia": {"vacant": 1}}}),
    )
    .await;
    let api = Api {
        platform: &platform,
        token: platform.token_for(&coordinator("idt-1", "RWE")),
    };
    for needs in [
        "Hoist; patient 999-424-2423",
        "NHS 999.424.2423",
        "DOB 01/02/1950",
        "born 1-2-50, hoist",
        "date of birth 1950-02-01",
    ] {
        let mut referral = referral(24);
        referral["needs"] = json!(needs);
        let (status, body) = api.post("/api/v1/discharges", referral).await;
        assert_eq!(status, 422, "{needs}: {body}");
        assert_eq!(body["problems"][0]["field"], "needs", "{body}");
        assert_eq!(
            body["problems"][0]["message"],
            "Care needs are shared with care homes: leave out NHS numbers, dates of birth and other identifiers"
        );
    }
    let mut ordinary = referral(24);
    ordinary["needs"] = json!("Hoist for transfers, two carers at night");
    let (status, patient) = api.post("/api/v1/discharges", ordinary).await;
    assert_eq!(status, 201, "{patient}");
    let id = patient["discharge_id"].as_str().unwrap().to_owned();
    platform.wait_until_projected().await;
    let (status, hold) = api
        .post(
            &format!("/api/v1/discharges/{id}/holds"),
            json!({"cqc_location_id": HOME_A}),
        )
        .await;
    assert_eq!(status, 201, "{hold}");
    let hold_id = hold["hold_id"].as_str().unwrap();
    // The release reason goes to the home with the hold's end.
    let release = format!("/api/v1/discharges/{id}/holds/{hold_id}/release");
    let (status, body) = api
        .post(&release, json!({"reason": "wrong patient, DOB 3/4/49"}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("leave out NHS numbers"),
        "{body}"
    );
    let (_, opened) = api.get(&format!("/api/v1/discharges/{id}")).await;
    assert_eq!(opened["hold"]["hold_id"], hold_id, "still held: {opened}");
    let (status, body) = api
        .post(&release, json!({"reason": "family chose another home"}))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discharge_records_live_apart_from_the_counts_and_replay_checks_both() {
    let platform = Platform::start().await;
    let api = Api {
        platform: &platform,
        token: platform.token_for(&coordinator("idt-1", "RWE")),
    };
    let (status, patient) = api.post("/api/v1/discharges", referral(8)).await;
    assert_eq!(status, 201, "{patient}");
    let id = patient["discharge_id"].as_str().unwrap().to_owned();
    platform.wait_until_projected().await;
    let nhs_number = NhsNumber::test_number(8);

    // The record is under the patient prefix; the live prefix has its
    // summary, and neither it nor the count feed has the NHS number.
    let mut live = platform.live_state("pf:").await;
    let digest = live.digest().await.unwrap();
    // The record is there with the patient's fields sealed (pf-patient-keys):
    // not even the patient prefix holds the NHS number in the clear.
    let record = &digest[&format!("patient:discharge:{id}")];
    assert!(
        record.contains("\"sealed\"") && !record.contains(nhs_number.as_str()),
        "{digest:?}"
    );
    let counts: Vec<(&String, &String)> = digest
        .iter()
        .filter(|(key, _)| !key.starts_with("patient:"))
        .collect();
    assert!(
        counts
            .iter()
            .all(|(_, value)| !value.contains(nhs_number.as_str())),
        "{counts:?}"
    );
    assert!(digest["discharges:summary"].contains(&id));
    let changes = live.changes_after(0, 1000, None).await.unwrap();
    let summary = changes
        .iter()
        .find_map(|change| match change {
            pf_live_state::Change::Discharge {
                id: changed,
                summary,
                ..
            } if *changed == id => Some(summary.clone()),
            _ => None,
        })
        .expect("the count feed has the change");
    assert_eq!(
        (summary.site.as_str(), summary.managed_by.as_str()),
        ("RWEAA", "RWE")
    );
    let notices = live.patient_notices_after(0, 1000).await.unwrap();
    assert!(
        notices.iter().any(|notice| matches!(
            notice,
            pf_live_state::PatientNotice::Discharge { id: noticed, managed_by, .. }
                if *noticed == id && managed_by == "RWE"
        )),
        "{notices:?}"
    );

    // `pf-projection check`: a replay into a scratch copy of both prefixes
    // equals the live state, and the copy is gone afterwards.
    let js = platform.jetstream().await;
    let mut scratch = platform.live_state("pf-check-test:").await;
    assert_eq!(scratch.keys().patient_prefix(), "pf-check-test-patient:");
    let report = pf_projection::replay::check(&js, &mut live, &mut scratch, 100)
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{:?}", report.differences);
    assert!(scratch.digest().await.unwrap().is_empty());
    // A rebuild in place keeps the record and its summary.
    pf_projection::replay::rebuild(&js, &mut live, 100)
        .await
        .unwrap();
    assert_eq!(live.digest().await.unwrap(), digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projection_starting_over_the_old_layout_moves_discharge_records_out_of_the_counts() {
    let platform = Platform::start().await;
    let api = Api {
        platform: &platform,
        token: platform.token_for(&coordinator("idt-1", "RWE")),
    };
    let (status, patient) = api.post("/api/v1/discharges", referral(9)).await;
    assert_eq!(status, 201, "{patient}");
    let id = patient["discharge_id"].as_str().unwrap().to_owned();
    platform.wait_until_projected().await;
    let mut live = platform.live_state("pf:").await;
    let before = live.digest().await.unwrap();

    // The state as the previous layout left it: the record under `pf:`,
    // beside the counts the gateway reads, and no layout mark.
    let client = redis::Client::open(platform.redis.url()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let record: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(format!("pf-patient:discharge:{id}"))
        .query_async(&mut redis)
        .await
        .unwrap();
    let mut old = redis::cmd("HSET");
    old.arg(format!("pf:discharge:{id}"));
    for (field, value) in &record {
        old.arg(field).arg(value);
    }
    let _: () = redis::pipe()
        .add_command(old)
        .ignore()
        .cmd("SADD")
        .arg("pf:index:discharges")
        .arg(&id)
        .ignore()
        .cmd("DEL")
        .arg("pf:layout")
        .arg(format!("pf-patient:discharge:{id}"))
        .arg("pf-patient:index:discharges")
        .arg("pf:discharges:summary")
        .ignore()
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_ne!(live.digest().await.unwrap(), before);

    // A projection that starts now rebuilds the state in the new layout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config =
        pf_projection::ProjectionConfig::local(&platform.nats.url(), &platform.redis.url());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let projection = tokio::spawn(pf_projection::run(
        listener,
        config,
        false,
        shutdown.clone(),
    ));
    wait_until("the state rebuilt in the new layout", || {
        let mut live = live.clone();
        let before = before.clone();
        async move { live.digest().await.unwrap() == before }
    })
    .await;
    let left: Vec<String> = redis::cmd("KEYS")
        .arg("pf:discharge*")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        left.iter()
            .all(|key| key.as_str() == "pf:discharges:summary"),
        "nothing of the old layout is left under pf: {left:?}"
    );
    let layout: Option<u64> = redis::cmd("GET")
        .arg("pf:layout")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(layout, Some(pf_live_state::LAYOUT));
    shutdown.cancel();
    projection.await.unwrap().unwrap();
}

/// The trust's ADT feed as its machine identity: it may record the trust's
/// PAS discharges and nothing else of the list.
fn pas_feed() -> Principal {
    Principal::machine(
        "adt-feed",
        "ADT feed",
        Some(pf_access::OrgId::parse("RWE").unwrap()),
    )
    .with_grant(Grant::parse(Role::BedPublisher, &["RWE"]).unwrap())
}

/// What the ADT feed sends when the PAS says patient `n` left hospital.
fn pas_discharged(n: u32, destination: &str) -> Value {
    json!({
        "nhs_number": NhsNumber::test_number(n).as_str(),
        "organisation": "RWE",
        "discharged_at": "2026-11-28T10:00:00Z",
        "destination": destination
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pas_discharge_gives_back_the_held_bed_or_takes_it_up_at_the_home() {
    let platform = Platform::start().await;
    report(
        &platform,
        HOME_A,
        json!({"vacancies": {"residential": {"vacant": 2}, "residential_dementia": {"vacant": 0}}}),
    )
    .await;
    let api = Api {
        platform: &platform,
        token: platform.token_for(&coordinator("idt-1", "RWE")),
    };
    let matron = Api {
        platform: &platform,
        token: platform.token_for(
            &Principal::person("matron-a", "Matron", None)
                .with_grant(Grant::parse(Role::CareHomeEditor, &[HOME_A]).unwrap()),
        ),
    };
    let pas = Api {
        platform: &platform,
        token: platform.token_for(&pas_feed()),
    };
    // Three patients; a residential bed is held for each of the first two
    // (the home's last two), and the home accepts the first.
    let mut patients = Vec::new();
    for n in [21, 22, 23] {
        let (status, body) = api.post("/api/v1/discharges", referral(n)).await;
        assert_eq!(status, 201, "{body}");
        patients.push(body["discharge_id"].as_str().unwrap().to_owned());
    }
    platform.wait_until_projected().await;
    let mut holds = Vec::new();
    for id in &patients[..2] {
        let (status, hold) = api
            .post(
                &format!("/api/v1/discharges/{id}/holds"),
                json!({"cqc_location_id": HOME_A}),
            )
            .await;
        assert_eq!(status, 201, "{hold}");
        holds.push(hold["hold_id"].as_str().unwrap().to_owned());
    }
    let (status, body) = matron
        .care_home(
            reqwest::Method::POST,
            &format!("/api/v1/care-homes/{HOME_A}/holds/{}/accept", holds[0]),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    platform.wait_until_projected().await;
    let matches = format!("/api/v1/discharges/{}/matches", patients[2]);
    let (_, found) = api.get(&matches).await;
    assert_eq!(
        found["homes"].as_array().unwrap().len(),
        0,
        "both beds are held: {found}"
    );

    // The PAS says the second patient went home: the bed held for them is
    // offered again to the next patient's search, and the home no longer
    // sees the hold.
    let (status, body) = pas
        .post(
            "/api/v1/discharges/pas/discharged",
            pas_discharged(22, "usual_residence"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "discharged", "{body}");
    platform.wait_until_projected().await;
    let (_, found) = api.get(&matches).await;
    assert_eq!(found["homes"][0]["cqc_location_id"], HOME_A, "{found}");
    assert_eq!(found["homes"][0]["free_beds"], 1, "{found}");
    let (_, home) = matron
        .care_home(
            reqwest::Method::GET,
            &format!("/api/v1/care-homes/{HOME_A}"),
            None,
        )
        .await;
    let held: Vec<&str> = home["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hold_id"].as_str().unwrap())
        .collect();
    assert_eq!(held, [holds[0].as_str()], "{home}");

    // The PAS says the first patient went to a care home: the bed the home
    // accepted them into is taken up, as when the team records it.
    let (status, body) = pas
        .post(
            "/api/v1/discharges/pas/discharged",
            pas_discharged(21, "care_home"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    platform.wait_until_projected().await;
    let mut live = platform.live_state("pf:").await;
    let record = live.care_home(HOME_A).await.unwrap().unwrap();
    assert!(record.holds.is_empty(), "{:?}", record.holds);
    assert_eq!(
        record.vacancy("residential".parse().unwrap()).vacant,
        1,
        "the patient's bed is no longer vacant"
    );
    let (_, found) = api.get(&matches).await;
    assert_eq!(found["homes"][0]["free_beds"], 1, "{found}");

    // Each PAS discharge is in the audit trail, made by the feed.
    let audit = pf_audit::AuditLog::new(platform.jetstream().await);
    for id in &patients[..2] {
        let records = audit
            .query(&pf_audit::AuditQuery {
                entity: Some(format!("discharge/{id}")),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(
            records
                .iter()
                .any(|r| r.action == "discharge.pas_discharged"
                    && r.actor.id == "adt-feed"
                    && r.outcome == pf_audit::Outcome::Accepted
                    && r.event_id.is_some()),
            "{records:?}"
        );
    }
}
