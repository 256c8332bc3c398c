//! Who needs to do what next: discharge tasks and system-call actions
//! through the real tasks, discharges and projection services, NATS and
//! Redis. Creating, assigning, completing, overdue items; who may see and
//! change which item; the team registers; the day's actions log; overdue
//! actions raising an alert.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::{Duration, Instant};

use pf_access::{Grant, OrgId, Principal, Role};
use pf_discharge_model::NhsNumber;
use pf_integration_tests::{Platform, demo};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn coordinator(id: &str, ods: &str) -> Principal {
    Principal::person(id, format!("Coordinator {id}"), OrgId::parse(ods).ok())
        .with_grant(Grant::parse(Role::DischargeCoordinator, &[ods]).unwrap())
}

fn lead() -> Principal {
    Principal::person("lead-1", "Control-room lead", OrgId::parse("QK1").ok())
        .with_grant(Grant::parse(Role::ControlRoomLead, &[]).unwrap())
}

/// A person of `ods` who may sign in (a person with no Patient Flow role
/// cannot: their token is refused), coordinating `ods`'s own discharges.
fn staff(id: &str, ods: &str) -> Principal {
    coordinator(id, ods)
}

async fn call(
    platform: &Platform,
    who: &Principal,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = platform
        .http
        .request(method, url)
        .bearer_auth(platform.token_for(who));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(platform: &Platform, who: &Principal, path: &str, body: Value) -> (u16, Value) {
    let url = format!("{}{path}", platform.tasks_url);
    call(platform, who, reqwest::Method::POST, url, Some(body)).await
}

async fn get(platform: &Platform, who: &Principal, path: &str) -> (u16, Value) {
    let url = format!("{}{path}", platform.tasks_url);
    call(platform, who, reqwest::Method::GET, url, None).await
}

/// Replaces `ods`'s team register as `who`; once accepted, waits until
/// the projection shows it (owners are checked against the live register).
async fn set_teams(platform: &Platform, who: &Principal, ods: &str, teams: &[&str]) -> u16 {
    let body = json!({"teams": teams.iter().map(|t| json!({"name": t, "description": ""})).collect::<Vec<_>>()});
    let url = format!("{}/api/v1/teams/{ods}", platform.tasks_url);
    let status = call(platform, who, reqwest::Method::PUT, url, Some(body))
        .await
        .0;
    if status == 200 {
        wait_until("the team register projected", || async {
            let (_, register) = get(platform, who, &format!("/api/v1/teams/{ods}")).await;
            register["teams"].as_array().map(Vec::len) == Some(teams.len())
        })
        .await;
    }
    status
}

fn at(offset: time::Duration) -> String {
    (OffsetDateTime::now_utc() + offset)
        .format(&Rfc3339)
        .unwrap()
}

async fn wait_until<F: Fn() -> Fut, Fut: std::future::Future<Output = bool>>(what: &str, check: F) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Items `who` sees at `query`, once the projection shows `count` of them.
async fn items_seen(platform: &Platform, who: &Principal, query: &str, count: usize) -> Vec<Value> {
    wait_until(&format!("{count} items at {query}"), || async {
        let (status, body) = get(platform, who, &format!("/api/v1/items{query}")).await;
        status == 200 && body["items"].as_array().map(Vec::len) == Some(count)
    })
    .await;
    let (_, body) = get(platform, who, &format!("/api/v1/items{query}")).await;
    body["items"].as_array().unwrap().clone()
}

/// A patient waiting on RWE's list; its discharge id once projected.
async fn patient(platform: &Platform, n: u32) -> String {
    let body = json!({
        "nhs_number": NhsNumber::test_number(n).as_str(),
        "sex": "female",
        "site": "RWEAA",
        "ward": "WD15",
        "discharge_ready_date": "2026-11-27",
        "pathway": 3,
        "care_needed": "residential",
        "search_postcode": "LE2 7LX",
        "delay_reason": "awaiting_care_home_place",
        "needs": "Walks with a frame"
    });
    let (status, created) = call(
        platform,
        &coordinator("idt-1", "RWE"),
        reqwest::Method::POST,
        format!("{}/api/v1/discharges", platform.discharges_url),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["discharge_id"].as_str().unwrap().to_owned();
    let live = platform.live_state("pf:").await;
    wait_until("the patient projected", || {
        let id = id.clone();
        let mut live = live.clone();
        async move { live.discharge_summary(&id).await.unwrap().is_some() }
    })
    .await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discharge_task_is_created_reassigned_and_done_by_its_owner_and_audited() {
    let platform = Platform::start().await;
    let admin = demo("demo-system-admin");
    assert_eq!(
        set_teams(&platform, &admin, "RWE", &["Discharge Hub", "Pharmacy"]).await,
        200
    );
    let discharge = patient(&platform, 1).await;
    let idt = coordinator("idt-1", "RWE");
    let (status, created) = post(
        &platform,
        &idt,
        "/api/v1/items",
        json!({
            "kind": "discharge_task",
            "task_type": "medicines_tto",
            "owner": {"organisation": "RWE", "team": "pharmacy"},
            "due": at(time::Duration::hours(4)),
            "discharge_id": discharge,
        }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["owner"]["display"], "Pharmacy (RWE)");
    assert_eq!(created["task_label"], "Medicines to take out");
    assert_eq!(created["blocking"], true);
    assert_eq!(created["state"], "open");
    let id = created["item_id"].as_str().unwrap().to_owned();
    let seen = items_seen(&platform, &idt, &format!("?discharge_id={discharge}"), 1).await;
    assert_eq!(seen[0]["item_id"], id.as_str());
    assert_eq!(seen[0]["overdue"], false);

    // Given to a person known to sign-in (a live session), who marks it
    // done; who and when are recorded.
    let pharmacist = staff("pharm-1", "RWE");
    platform
        .sign_in_store()
        .await
        .create_session(&pharmacist)
        .await
        .unwrap();
    let (status, assigned) = post(
        &platform,
        &idt,
        &format!("/api/v1/items/{id}/assign"),
        json!({"owner": {"organisation": "RWE", "person": "pharm-1"}}),
    )
    .await;
    assert_eq!(status, 200, "{assigned}");
    assert_eq!(assigned["owner"]["person"], "pharm-1");
    let (status, done) = post(
        &platform,
        &pharmacist,
        &format!("/api/v1/items/{id}/done"),
        json!({"note": "TTO ready on the ward"}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["state"], "done");
    assert_eq!(done["closed_by"], "pharm-1");
    assert!(done["closed_ms"].as_i64().unwrap() > 0);
    // Done again changes nothing; cancelling a done task is refused.
    let (status, _) = post(
        &platform,
        &pharmacist,
        &format!("/api/v1/items/{id}/done"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, refused) = post(
        &platform,
        &idt,
        &format!("/api/v1/items/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(status, 409, "{refused}");

    // Three events on the item's subject, each audited with its event id.
    let jetstream = platform.jetstream().await;
    let stream = jetstream.get_stream("PF_TASKS").await.unwrap();
    let last = stream
        .get_last_raw_message_by_subject(&format!("pf.tasks.items.{id}"))
        .await
        .unwrap();
    let event = pf_proto::v1::EventEnvelope::decode_checked(&last.payload).unwrap();
    assert_eq!(
        (event.event_type.as_str(), event.entity_version),
        ("item.done", 3)
    );
    let audit = pf_audit::AuditLog::new(jetstream);
    let records = audit
        .query(&pf_audit::AuditQuery {
            entity: Some(format!("item/{id}")),
            ..Default::default()
        })
        .await
        .unwrap();
    for action in ["item.create", "item.assign", "item.done"] {
        assert!(
            records
                .iter()
                .any(|r| r.action == action && r.event_id.is_some()),
            "{action} not audited: {records:?}"
        );
    }
    assert!(
        records
            .iter()
            .any(|r| r.action == "item.cancel" && r.actor.id == "idt-1"),
        "the refused cancel is audited too: {records:?}"
    );
    let seen = items_seen(
        &platform,
        &idt,
        &format!("?discharge_id={discharge}&state=done"),
        1,
    )
    .await;
    assert_eq!(seen[0]["closed_by"], "pharm-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_see_and_change_discharge_tasks() {
    let platform = Platform::start().await;
    let admin = demo("demo-system-admin");
    assert_eq!(
        set_teams(&platform, &admin, "RT5", &["Transfer of Care Hub"]).await,
        200
    );
    let discharge = patient(&platform, 2).await;
    let idt = coordinator("idt-1", "RWE");
    let (status, created) = post(
        &platform,
        &idt,
        "/api/v1/items",
        json!({
            "kind": "discharge_task",
            "task_type": "toc_hub_referral",
            "text": "Refer for a package of care",
            "owner": {"organisation": "RT5", "team": "Transfer of Care Hub"},
            "due": at(time::Duration::hours(2)),
            "discharge_id": discharge,
        }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["item_id"].as_str().unwrap().to_owned();
    items_seen(&platform, &idt, "", 1).await;

    // The owning team's organisation sees it and may mark it done, but not
    // cancel or reassign it; another trust's coordinators and the control
    // room see nothing; only RWE's coordinators create tasks for RWE's patients.
    let hub = staff("hub-1", "RT5");
    let other = coordinator("idt-9", "RT9");
    let viewer = demo("demo-control-room");
    assert_eq!(items_seen(&platform, &hub, "?mine=true", 1).await.len(), 1);
    assert_eq!(
        get(&platform, &other, "/api/v1/items").await.1["items"],
        json!([])
    );
    assert_eq!(
        get(&platform, &viewer, "/api/v1/items").await.1["items"],
        json!([])
    );
    let (status, refused) = post(
        &platform,
        &hub,
        &format!("/api/v1/items/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    let (status, _) = post(
        &platform,
        &other,
        &format!("/api/v1/items/{id}/done"),
        json!({}),
    )
    .await;
    assert_eq!(status, 404, "another trust is not told the item exists");
    let (status, refused) = post(
        &platform,
        &other,
        "/api/v1/items",
        json!({
            "kind": "discharge_task",
            "task_type": "transport",
            "owner": {"organisation": "RT9", "person": "idt-9"},
            "due": at(time::Duration::hours(2)),
            "discharge_id": discharge,
        }),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    let (status, done) = post(
        &platform,
        &hub,
        &format!("/api/v1/items/{id}/done"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{done}");

    // Owners are known: a team not in the register, a person who never
    // signed in, an unknown task type are refused with a reason.
    for (owner, task_type) in [
        (
            json!({"organisation": "RT5", "team": "Nobody's team"}),
            "transport",
        ),
        (
            json!({"organisation": "RWE", "person": "never-signed-in"}),
            "transport",
        ),
        (
            json!({"organisation": "RWE", "person": "idt-1"}),
            "teleporter",
        ),
    ] {
        let (status, refused) = post(
            &platform,
            &idt,
            "/api/v1/items",
            json!({"kind": "discharge_task", "task_type": task_type, "owner": owner,
                   "due": at(time::Duration::hours(1)), "discharge_id": discharge}),
        )
        .await;
        assert_eq!(status, 422, "{refused}");
        assert!(refused["error"].as_str().unwrap().len() > 20, "{refused}");
    }
    // Only the system administrator keeps team registers.
    assert_eq!(set_teams(&platform, &idt, "RWE", &["Mine"]).await, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overdue_tasks_are_flagged_and_overdue_actions_raise_an_alert() {
    let platform = Platform::start().await;
    let discharge = patient(&platform, 3).await;
    let idt = coordinator("idt-1", "RWE");
    let (status, task) = post(
        &platform,
        &idt,
        "/api/v1/items",
        json!({"kind": "discharge_task", "task_type": "transport",
               "owner": {"organisation": "RWE", "person": "idt-1"},
               "due": at(-time::Duration::minutes(30)), "discharge_id": discharge}),
    )
    .await;
    assert_eq!(status, 201, "{task}");
    let overdue = items_seen(&platform, &idt, "?overdue=true", 1).await;
    assert_eq!(overdue[0]["overdue"], true);

    let lead = lead();
    let (status, action) = post(
        &platform,
        &lead,
        "/api/v1/items",
        json!({"kind": "system_action", "text": "Open the discharge lounge early",
               "owner": {"organisation": "QK1", "person": "lead-1"},
               "due": at(-time::Duration::minutes(5))}),
    )
    .await;
    assert_eq!(status, 201, "{action}");
    let id = action["item_id"].as_str().unwrap().to_owned();
    let jetstream = platform.jetstream().await;
    let alerts = jetstream.get_stream("PF_ALERTS").await.unwrap();
    wait_until("the overdue alert", || {
        let alerts = alerts.clone();
        async move {
            alerts
                .get_last_raw_message_by_subject("pf.alerts.action_overdue")
                .await
                .is_ok()
        }
    })
    .await;
    let message = alerts
        .get_last_raw_message_by_subject("pf.alerts.action_overdue")
        .await
        .unwrap();
    let alert: Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(alert["kind"], "action_overdue");
    assert_eq!(alert["details"]["item_id"], id.as_str());
    assert!(
        alert["title"]
            .as_str()
            .unwrap()
            .contains("Open the discharge lounge early")
    );
    // Through the existing path to the wall: the gateway's alert list.
    let viewer = demo("demo-control-room");
    wait_until("the alert on the wall's list", || async {
        let response = platform
            .http
            .get(format!("{}/api/v1/opel", platform.gateway_url))
            .bearer_auth(platform.token_for(&viewer))
            .send()
            .await
            .unwrap();
        let board: Value = response.json().await.unwrap_or(Value::Null);
        board["alerts"].as_array().is_some_and(|alerts| {
            alerts
                .iter()
                .any(|a| a["kind"] == "action_overdue" && a["alert_id"] == alert["alert_id"])
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_call_actions_are_recorded_by_the_lead_shown_to_owners_and_logged() {
    let platform = Platform::start().await;
    let admin = demo("demo-system-admin");
    assert_eq!(
        set_teams(&platform, &admin, "RWE", &["Site team"]).await,
        200
    );
    let lead = lead();
    let viewer = demo("demo-control-room");

    // Only the lead records actions; identifying text is refused.
    let body = |text: &str| {
        json!({"kind": "system_action", "text": text,
               "owner": {"organisation": "RWE", "team": "Site team"},
               "due": at(time::Duration::hours(1))})
    };
    let (status, refused) = post(&platform, &viewer, "/api/v1/items", body("Open 4 beds")).await;
    assert_eq!(status, 403, "{refused}");
    let (status, refused) = post(
        &platform,
        &lead,
        "/api/v1/items",
        body("Find a bed for 943 476 5919"),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("NHS number"),
        "{refused}"
    );
    let (status, action) = post(
        &platform,
        &lead,
        "/api/v1/items",
        body("Open 4 escalation beds at LRI"),
    )
    .await;
    assert_eq!(status, 201, "{action}");
    let id = action["item_id"].as_str().unwrap().to_owned();

    // The wall's viewers and the owning organisation see it; a care home
    // (who does not see the control room) does not, and may not close it.
    assert_eq!(
        items_seen(&platform, &viewer, "?kind=system_action", 1)
            .await
            .len(),
        1
    );
    let site_manager = staff("site-1", "RWE");
    assert_eq!(
        items_seen(&platform, &site_manager, "?mine=true", 1)
            .await
            .len(),
        1
    );
    let stranger = demo("demo-care-home-editor");
    assert_eq!(
        get(&platform, &stranger, "/api/v1/items").await.1["items"],
        json!([])
    );
    let (status, _) = post(
        &platform,
        &stranger,
        &format!("/api/v1/items/{id}/done"),
        json!({}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, refused) = post(
        &platform,
        &viewer,
        &format!("/api/v1/items/{id}/due"),
        json!({"due": at(time::Duration::hours(3))}),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    let (status, moved) = post(
        &platform,
        &lead,
        &format!("/api/v1/items/{id}/due"),
        json!({"due": at(time::Duration::hours(3))}),
    )
    .await;
    assert_eq!(status, 200, "{moved}");

    // The owner closes it: who and when are kept, and the day's log says so.
    let (status, closed) = post(
        &platform,
        &site_manager,
        &format!("/api/v1/items/{id}/done"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{closed}");
    items_seen(&platform, &lead, "?kind=system_action&state=done", 1).await;
    let response = platform
        .http
        .get(format!("{}/api/v1/actions/log", platform.tasks_url))
        .bearer_auth(platform.token_for(&lead))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].contains("Open 4 escalation beds at LRI"), "{csv}");
    assert!(lines[1].contains(",done,site-1,"), "{csv}");
    let (status, _) = get(&platform, &viewer, "/api/v1/actions/log").await;
    assert_eq!(status, 403, "the log is the lead's to export");
}

/// The value of a counter on a service's `/metrics` (0 before its first sample).
async fn counter(platform: &Platform, url: &str, name: &str) -> u64 {
    let text = match platform.http.get(format!("{url}/metrics")).send().await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => return 0,
    };
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// How many overdue-action alerts `PF_ALERTS` holds.
async fn overdue_alerts_stored(jetstream: &async_nats::jetstream::Context) -> u64 {
    let stream = jetstream.get_stream("PF_ALERTS").await.unwrap();
    let mut consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: "pf.alerts.action_overdue".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    consumer.info().await.unwrap().num_pending
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_tasks_service_does_not_alert_an_overdue_action_again() {
    let platform = Platform::start().await;
    let lead = lead();
    let (status, action) = post(
        &platform,
        &lead,
        "/api/v1/items",
        json!({"kind": "system_action", "text": "Open the discharge lounge early",
               "owner": {"organisation": "QK1", "person": "lead-1"},
               "due": at(-time::Duration::minutes(5))}),
    )
    .await;
    assert_eq!(status, 201, "{action}");
    let jetstream = platform.jetstream().await;
    wait_until("the overdue alert", || {
        let jetstream = jetstream.clone();
        async move { overdue_alerts_stored(&jetstream).await == 1 }
    })
    .await;

    // JetStream's duplicate window (2 minutes by default) has passed, as
    // it has when a service restarts later or a second replica starts.
    let mut alerts = jetstream.get_stream("PF_ALERTS").await.unwrap();
    let mut config = alerts.info().await.unwrap().config.clone();
    config.duplicate_window = Duration::from_millis(200);
    jetstream.update_stream(config).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Another instance of the tasks service, with nothing in its memory.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sign_in =
        pf_sign_in::SignInSettings::local(platform.issuer.issuer_config(), &platform.redis.url());
    tokio::spawn(pf_tasks::run(
        listener,
        pf_tasks::TasksConfig::local(&platform.nats.url(), &platform.redis.url(), sign_in),
        shutdown.clone(),
    ));
    wait_until(
        "two looks for overdue actions by the new instance",
        || async { counter(&platform, &url, "pf_tasks_overdue_sweeps_total").await >= 2 },
    )
    .await;
    assert_eq!(
        overdue_alerts_stored(&jetstream).await,
        1,
        "the action was alerted again"
    );
    assert_eq!(
        counter(&platform, &url, "pf_tasks_overdue_alerts_total").await,
        0
    );
    shutdown.cancel();
}

/// A signed-in browser of `who` on the tasks pages: its session, the
/// session's CSRF token, and a client that does not follow redirects.
struct Browser {
    client: reqwest::Client,
    base: String,
    session: String,
    csrf: String,
}

impl Browser {
    async fn of(platform: &Platform, who: &Principal) -> Self {
        let session = platform
            .sign_in_store()
            .await
            .create_session(who)
            .await
            .unwrap();
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: platform.tasks_url.clone(),
            session: session.id,
            csrf: session.csrf_token,
        }
    }

    /// A page: its status and HTML.
    async fn page(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", format!("pf_session={}", self.session))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// A form as the page sends it (with the session's token unless
    /// `csrf` is `false`): its status, `Location` and HTML.
    async fn submit(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        csrf: bool,
    ) -> (u16, String, String) {
        let mut body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", pf_web::percent_encode(v)))
            .collect();
        if csrf {
            body.push(format!("csrf={}", pf_web::percent_encode(&self.csrf)));
        }
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", format!("pf_session={}", self.session))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.join("&"))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, location, response.text().await.unwrap())
    }
}

/// The form fields of a due time `offset` from now, on the UK clock.
fn due_fields(offset: time::Duration) -> [(&'static str, String); 4] {
    let at = OffsetDateTime::now_utc() + offset;
    let date = pf_web::uk_time::date(at);
    [
        ("due_day", date.day().to_string()),
        ("due_month", u8::from(date.month()).to_string()),
        ("due_year", date.year().to_string()),
        ("due_time", pf_web::uk_time::hh_mm(at)),
    ]
}

fn with<'a>(
    fields: &'a [(&'a str, &'a str)],
    due: &'a [(&'static str, String); 4],
) -> Vec<(&'a str, &'a str)> {
    fields
        .iter()
        .copied()
        .chain(due.iter().map(|(k, v)| (*k, v.as_str())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_forms_create_reassign_and_complete_with_the_apis_rules() {
    let platform = Platform::start().await;
    let admin = demo("demo-system-admin");
    assert_eq!(
        set_teams(&platform, &admin, "RWE", &["Discharge Hub"]).await,
        200
    );
    assert_eq!(
        set_teams(&platform, &admin, "RT5", &["Transfer of Care Hub"]).await,
        200
    );
    let discharge = patient(&platform, 5).await;
    let idt = coordinator("idt-1", "RWE");
    let coordinator_page = Browser::of(&platform, &idt).await;
    let patient_path = format!("/tasks?discharge_id={discharge}");

    // The patient's coordinators get the form.
    let (status, html) = coordinator_page.page(&patient_path).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Add a task"), "{html}");
    assert!(html.contains(&coordinator_page.csrf));

    // Without the session's token nothing is made.
    let due = due_fields(time::Duration::hours(3));
    let fields = [
        ("kind", "discharge_task"),
        ("discharge_id", discharge.as_str()),
        ("task_type", "transport"),
        ("text", "Stretcher needed"),
        ("organisation", "RWE"),
        ("team", "Discharge Hub"),
    ];
    let (status, _, html) = coordinator_page
        .submit("/tasks/new", &with(&fields, &due), false)
        .await;
    assert_eq!(status, 400);
    assert!(html.contains("This form has expired"), "{html}");

    // A date that is not one, and identifying text, are sentences in the
    // error summary beside what was typed.
    let mut bad_due = due.clone();
    bad_due[1].1 = "13".into();
    let (status, _, html) = coordinator_page
        .submit("/tasks/new", &with(&fields, &bad_due), true)
        .await;
    assert_eq!(status, 422);
    assert!(html.contains("There is a problem"), "{html}");
    assert!(html.contains("must be a real date"), "{html}");
    assert!(html.contains("Stretcher needed"));
    let nhs = format!("Call about {}", NhsNumber::test_number(6).as_str());
    let identifying = [
        ("kind", "discharge_task"),
        ("discharge_id", discharge.as_str()),
        ("task_type", "transport"),
        ("text", nhs.as_str()),
        ("organisation", "RWE"),
        ("team", "Discharge Hub"),
    ];
    let (status, _, html) = coordinator_page
        .submit("/tasks/new", &with(&identifying, &due), true)
        .await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("nhsuk-error-summary"), "{html}");

    // A control-room viewer may not add a task for the patient.
    let viewer_page = Browser::of(&platform, &demo("demo-control-room")).await;
    let (status, _, html) = viewer_page
        .submit("/tasks/new", &with(&fields, &due), true)
        .await;
    assert_eq!(status, 403, "{html}");

    // The coordinator adds it.
    let (status, location, html) = coordinator_page
        .submit("/tasks/new", &with(&fields, &due), true)
        .await;
    assert_eq!(status, 303, "{html}");
    assert_eq!(location, format!("{patient_path}&done=added"));
    let items = items_seen(&platform, &idt, &format!("?discharge_id={discharge}"), 1).await;
    let id = items[0]["item_id"].as_str().unwrap().to_owned();
    assert_eq!(items[0]["owner"]["display"], "Discharge Hub (RWE)");
    let item_path = format!("/tasks/items/{id}");

    // It goes to the transfer of care hub (another organisation).
    let (status, location, html) = coordinator_page
        .submit(
            &format!("{item_path}/assign"),
            &[("organisation", "RT5"), ("team", "Transfer of Care Hub")],
            true,
        )
        .await;
    assert_eq!(status, 303, "{html}");
    assert_eq!(location, format!("{item_path}?done=assigned"));
    wait_until("the new owner projected", || async {
        let (_, body) = get(
            &platform,
            &idt,
            &format!("/api/v1/items?discharge_id={discharge}"),
        )
        .await;
        body["items"][0]["owner"]["organisation"] == "RT5"
    })
    .await;

    // Another trust's coordinator and the control room do not see it.
    let other_page = Browser::of(&platform, &coordinator("idt-9", "RT9")).await;
    assert_eq!(other_page.page(&item_path).await.0, 404);
    let (status, _, _) = other_page
        .submit(&format!("{item_path}/done"), &[("note", "")], true)
        .await;
    assert_eq!(status, 404);
    assert_eq!(viewer_page.page(&item_path).await.0, 404);

    // The owning team sees it, may mark it done but not cancel it.
    let hub_page = Browser::of(&platform, &staff("hub-1", "RT5")).await;
    let (status, html) = hub_page.page(&item_path).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Mark as done"), "{html}");
    assert!(!html.contains("Cancel it"), "{html}");
    let (status, _, html) = hub_page
        .submit(
            &format!("{item_path}/cancel"),
            &[("note", "not ours")],
            true,
        )
        .await;
    assert_eq!(status, 403, "{html}");
    assert!(
        html.contains("Only the discharge coordinators of RWE"),
        "{html}"
    );
    let (status, location, html) = hub_page
        .submit(
            &format!("{item_path}/done"),
            &[("note", "Booked for 2pm")],
            true,
        )
        .await;
    assert_eq!(status, 303, "{html}");
    assert_eq!(location, format!("{item_path}?done=done"));
    let done = items_seen(
        &platform,
        &idt,
        &format!("?discharge_id={discharge}&state=done"),
        1,
    )
    .await;
    assert_eq!(done[0]["closed_by"], "hub-1");

    // A closed task does not change again: the sentence says so.
    let (status, _, html) = coordinator_page
        .submit(
            &format!("{item_path}/cancel"),
            &[("note", "no longer")],
            true,
        )
        .await;
    assert_eq!(status, 409, "{html}");
    assert!(html.contains("There is a problem"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_forms_are_the_leads_and_owners_mark_their_own_done() {
    let platform = Platform::start().await;
    let admin = demo("demo-system-admin");
    assert_eq!(
        set_teams(&platform, &admin, "RWE", &["Discharge Hub"]).await,
        200
    );
    let lead_page = Browser::of(&platform, &lead()).await;
    let viewer_page = Browser::of(&platform, &demo("demo-control-room")).await;
    let (status, html) = lead_page.page("/tasks").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Record an action agreed on the system call"),
        "{html}"
    );
    let (status, html) = viewer_page.page("/tasks").await;
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains("Record an action"), "{html}");

    let due = due_fields(-time::Duration::minutes(30));
    let fields = [
        ("kind", "system_action"),
        ("text", "Open the discharge lounge early"),
        ("organisation", "RWE"),
        ("team", "Discharge Hub"),
    ];
    // Only a control-room lead records one.
    let (status, _, html) = viewer_page
        .submit("/tasks/new", &with(&fields, &due), true)
        .await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("There is a problem"), "{html}");
    // An owner that is not in the register is a sentence.
    let unknown = [
        ("kind", "system_action"),
        ("text", "Open the discharge lounge early"),
        ("organisation", "RWE"),
        ("team", "Bed Bureau"),
    ];
    let (status, _, html) = lead_page
        .submit("/tasks/new", &with(&unknown, &due), true)
        .await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("RWE has no team called Bed Bureau"), "{html}");
    let (status, location, html) = lead_page
        .submit("/tasks/new", &with(&fields, &due), true)
        .await;
    assert_eq!(status, 303, "{html}");
    assert_eq!(location, "/tasks?done=recorded");
    let idt = coordinator("idt-1", "RWE");
    let mine = items_seen(&platform, &idt, "?mine=true", 1).await;
    let id = mine[0]["item_id"].as_str().unwrap().to_owned();
    assert_eq!(mine[0]["overdue"], true);

    // The owner's team sees it on their page, overdue, and marks it done;
    // the viewer may see it but not change it.
    let owner_page = Browser::of(&platform, &idt).await;
    let (_, html) = owner_page.page("/tasks").await;
    assert!(html.contains("Open the discharge lounge early"), "{html}");
    assert!(html.contains("Overdue"), "{html}");
    let item_path = format!("/tasks/items/{id}");
    let (status, html) = viewer_page.page(&item_path).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("only its owner or the people who manage it"),
        "{html}"
    );
    let (status, _, _) = viewer_page
        .submit(&format!("{item_path}/done"), &[("note", "")], true)
        .await;
    assert_eq!(status, 403);
    let (status, _, _) = owner_page
        .submit(
            &format!("{item_path}/assign"),
            &[("organisation", "RWE"), ("person", "idt-1")],
            true,
        )
        .await;
    assert_eq!(status, 403, "an owner does not give away the lead's action");
    let (status, _, html) = owner_page
        .submit(
            &format!("{item_path}/done"),
            &[("note", "Lounge open")],
            true,
        )
        .await;
    assert_eq!(status, 303, "{html}");
    let done = items_seen(&platform, &lead(), "?kind=system_action&state=done", 1).await;
    assert_eq!(done[0]["closed_by"], "idt-1");
}
