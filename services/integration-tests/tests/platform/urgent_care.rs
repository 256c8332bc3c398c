//! ED attendances and ambulance arrivals on the wall: after a burst of
//! events folded into the live state, the wall's page and websocket show
//! the figures the one definition (`pf_live_state::urgent_care::figures`)
//! gives for that state, for the site and the system, and no attendance id.

use std::time::{Duration, Instant};

use pf_integration_tests::Platform;
use pf_live_state::urgent_care::{self, Departure, SYSTEM};
use pf_live_state::{AmbulanceUpdate, EdAttendanceUpdate, Keys, LiveState, Update};
use serde_json::Value;

const SITE: &str = "RWEAA";
const MIN: i64 = 60_000;

fn ed(
    now: i64,
    id: &str,
    version: u64,
    arrived_mins_ago: i64,
    dta: bool,
    departed: bool,
) -> Update {
    // Arrivals 5 s past the minute, so the figures do not move
    // while the test reads them.
    let arrived = now - arrived_mins_ago * MIN - 5_000;
    Update::Ed(Box::new(EdAttendanceUpdate {
        event_id: format!("ed-{id}-{version}"),
        event_type: "ed.test".into(),
        entity_version: version,
        site: SITE.into(),
        attendance: id.into(),
        arrived_at_ms: arrived,
        decided_to_admit_at_ms: dta.then_some(arrived + 60 * MIN),
        departed: departed.then_some((now, Departure::Admitted)),
        occurred_at_ms: now,
    }))
}

fn ambulance(
    now: i64,
    id: &str,
    version: u64,
    arrived_mins_ago: i64,
    handover: Option<i64>,
) -> Update {
    let arrived = now - arrived_mins_ago * MIN - 5_000;
    Update::Ambulance(Box::new(AmbulanceUpdate {
        event_id: format!("amb-{id}-{version}"),
        event_type: "ambulance.test".into(),
        entity_version: version,
        site: SITE.into(),
        arrival: id.into(),
        arrived_at_ms: arrived,
        handed_over_at_ms: handover.map(|m| arrived + m * MIN),
        cleared_at_ms: None,
        occurred_at_ms: now,
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wall_shows_the_ed_and_ambulance_figures_of_the_live_state() {
    let platform = Platform::start().await;
    let mut live = pf_integration_tests::ControlRoomClient::connect(&platform, None).await;
    live.next_of(&["snapshot"]).await;

    let now = time::OffsetDateTime::now_utc();
    let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap();
    let mut state = LiveState::connect(
        &platform.redis.url(),
        Keys::default(),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let burst = vec![
        ed(now_ms, "att-1", 1, 120, false, false),
        ed(now_ms, "att-2", 1, 300, true, false),
        ed(now_ms, "att-3", 1, 780, true, false),
        ed(now_ms, "att-4", 1, 600, false, false),
        ed(now_ms, "att-4", 2, 600, true, true),
        ambulance(now_ms, "amb-1", 1, 70, None),
        ambulance(now_ms, "amb-2", 1, 120, None),
        ambulance(now_ms, "amb-2", 2, 120, Some(45)),
    ];
    state.apply_through(&burst, None).await.unwrap();
    let read = state
        .urgent_care(pf_live_state::discharge_counts::uk_date(now))
        .await
        .unwrap();
    let expected = urgent_care::figures(&read, now_ms);
    assert_eq!(expected[SITE].in_department, 3, "the burst as folded");
    assert_eq!(expected[SITE].over_12h, 1);
    assert_eq!(expected[SITE].handovers_over_60, 1);
    let expected_site = serde_json::to_value(&expected[SITE]).unwrap();
    let expected_system = serde_json::to_value(&expected[SYSTEM]).unwrap();

    // The websocket: a delta once the feed has re-read the figures (it
    // carries the system, the sites touched and their trusts).
    let deadline = Instant::now() + Duration::from_secs(15);
    let snapshot = loop {
        let message = live.next_of(&["snapshot", "delta"]).await;
        if message["system"]["in_department"] == 3 {
            break message;
        }
        assert!(
            Instant::now() < deadline,
            "no ED figures on the websocket: {message}"
        );
    };
    let site = snapshot["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["code"] == SITE)
        .unwrap();
    for (field, value) in expected_site.as_object().unwrap() {
        assert_eq!(&site[field], value, "the site's {field}: {site}");
    }
    for (field, value) in expected_system.as_object().unwrap() {
        assert_eq!(&snapshot["system"][field], value, "the system's {field}");
    }
    let trust = snapshot["trusts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["code"] == "UHL")
        .unwrap();
    assert_eq!(trust["in_department"], 3, "{trust}");
    live.close().await;

    // The page: the same figures, and no attendance or arrival id.
    let page = platform
        .http
        .get(format!("{}/control-room", platform.gateway_url))
        .bearer_auth(&platform.viewer_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (key, figures) in [("system", &expected_system), (SITE, &expected_site)] {
        for field in [
            "in_department",
            "over_4h",
            "over_12h",
            "waiting_for_bed",
            "longest_wait_mins",
            "vehicles_waiting",
            "handovers_over_60",
            "hours_lost",
        ] {
            let shown = match &figures[field] {
                Value::Number(n) => n.to_string(),
                other => panic!("{field}: {other}"),
            };
            let cell = format!(r#"data-site="{key}" data-field="{field}">{shown}<"#);
            assert!(page.contains(&cell), "the page shows {cell}");
        }
    }
    assert!(!page.contains("att-"), "no attendance id on the wall");
    assert!(
        !page.contains("amb-1"),
        "no ambulance arrival id on the wall"
    );
}

/// POSTs `body` to the urgent-care service at `path` with `token`.
async fn send(platform: &Platform, token: Option<&str>, path: &str, body: Value) -> (u16, Value) {
    let mut request = platform
        .http
        .post(format!("{}{path}", platform.urgent_care_url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .json(&body)
        .send()
        .await
        .expect("the urgent-care service answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn ago(now: time::OffsetDateTime, minutes: i64) -> String {
    // 5 s past the minute, so the figures do not move while the test reads them.
    (now - time::Duration::minutes(minutes) - time::Duration::seconds(5))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a time now can be written in RFC 3339")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_posted_by_the_feeds_reach_the_walls_figures() {
    let platform = Platform::start().await;
    let mut live = pf_integration_tests::ControlRoomClient::connect(&platform, None).await;
    live.next_of(&["snapshot"]).await;
    let feed = Some(platform.publisher_token.as_str());
    let now = time::OffsetDateTime::now_utc();
    let ed = |id: &str, step: &str| format!("/api/v1/ed/{SITE}/{id}/{step}");
    let amb = |id: &str, step: &str| format!("/api/v1/ambulance/{SITE}/{id}/{step}");
    let at = |minutes: i64| serde_json::json!({ "occurred_at": ago(now, minutes) });

    // Three attendances: one 5 h in the department, one 13 h with a
    // decision to admit, one seen and discharged.
    for (path, body, want) in [
        (ed("att-5h", "arrival"), at(300), 201),
        (ed("att-13h", "arrival"), at(780), 201),
        (ed("att-13h", "decision-to-admit"), at(720), 200),
        (ed("att-gone", "arrival"), at(90), 201),
        (
            ed("att-gone", "departure"),
            serde_json::json!({ "outcome": "discharged", "occurred_at": ago(now, 10) }),
            200,
        ),
        // Two vehicles: one waiting 70 min, one handed over after 45 min
        // and clear.
        (amb("veh-70", "arrival"), at(70), 201),
        (amb("veh-45", "arrival"), at(120), 201),
        (amb("veh-45", "handover"), at(75), 200),
        (amb("veh-45", "clear"), at(60), 200),
    ] {
        let (status, answer) = send(&platform, feed, &path, body).await;
        assert_eq!(status, want, "{path}: {answer}");
        assert!(answer["event_id"].is_string(), "{path}: {answer}");
    }
    // A feed re-sending the same change after a lost answer stores nothing.
    let (status, answer) = send(&platform, feed, &ed("att-5h", "arrival"), at(300)).await;
    assert_eq!(status, 201, "{answer}");
    assert!(answer["event_id"].is_null(), "a repeat: {answer}");

    // A handover counts on its vehicle's UK arrival day: in the first two
    // hours after UK midnight, veh-45 (and its 45-minute wait, over 30)
    // counts on yesterday's and today has no handover.
    let uk_date = pf_live_state::discharge_counts::uk_date;
    let arrived = now - time::Duration::minutes(120) - time::Duration::seconds(5);
    let handovers_today = i64::from(uk_date(arrived) == uk_date(now));

    // The websocket shows what the projection folded from those events.
    let deadline = Instant::now() + Duration::from_secs(30);
    let snapshot = loop {
        // Heartbeats keep coming without a snapshot: bound the wait.
        let left = deadline.saturating_duration_since(Instant::now());
        // The figures come in deltas (and snapshots): both carry the system and the sites touched.
        let message = tokio::time::timeout(left, live.next_of(&["snapshot", "delta"]))
            .await
            .unwrap_or_else(|_| panic!("the posted events did not reach the wall's websocket"));
        if message["system"]["in_department"] == 2
            && message["system"]["handovers_over_60"] == 1
            && message["system"]["handovers"] == handovers_today
        {
            break message;
        }
        assert!(
            Instant::now() < deadline,
            "the posted events did not reach the wall: {message}"
        );
    };
    let mut state = LiveState::connect(
        &platform.redis.url(),
        Keys::default(),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let read = state
        .urgent_care(pf_live_state::discharge_counts::uk_date(now))
        .await
        .unwrap();
    let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap();
    let expected = urgent_care::figures(&read, now_ms);
    let site = snapshot["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["code"] == SITE)
        .unwrap();
    for (field, want) in [
        ("in_department", 2),
        ("over_4h", 2),
        ("over_12h", 1),
        ("waiting_for_bed", 1),
        ("vehicles_waiting", 1),
        ("handovers", handovers_today),
        ("handovers_over_30", 1 + handovers_today),
        ("handovers_over_60", 1),
    ] {
        assert_eq!(site[field], want, "the site's {field}: {site}");
        assert_eq!(snapshot["system"][field], want, "the system's {field}");
    }
    let expected_site = serde_json::to_value(&expected[SITE]).unwrap();
    for field in [
        "in_department",
        "waiting_for_bed",
        "vehicles_waiting",
        "handovers",
    ] {
        assert_eq!(
            site[field], expected_site[field],
            "as the live state: {field}"
        );
    }
    assert!(
        !snapshot.to_string().contains("att-") && !snapshot.to_string().contains("veh-"),
        "no attendance or vehicle id on the wall"
    );
    live.close().await;

    // Bad input: a 4xx with a sentence, and nothing stored.
    let other_trust = platform.token_for(
        &pf_access::Principal::person("lpt-feed", "LPT's feed", None)
            .with_grant(pf_access::Grant::parse(pf_access::Role::BedPublisher, &["RT5"]).unwrap()),
    );
    for (token, path, body, want, words) in [
        (
            feed,
            ed("att-5h", "departure"),
            serde_json::json!({ "outcome": "home" }),
            422,
            "admitted, discharged, transferred",
        ),
        (
            feed,
            ed("att-new", "departure"),
            serde_json::json!({ "outcome": "admitted" }),
            409,
            "send its arrival first",
        ),
        (
            feed,
            ed("att-13h", "departure"),
            serde_json::json!({ "outcome": "admitted", "occurred_at": ago(now, 900) }),
            409,
            "before the arrival",
        ),
        (feed, amb("veh-70", "clear"), at(1), 409, "handover first"),
        (
            feed,
            amb("veh-1", "arrival"),
            serde_json::json!({ "occurred_at": "yesterday" }),
            422,
            "date and time",
        ),
        (feed, ed("9434765919", "arrival"), at(1), 422, "NHS number"),
        (
            feed,
            ed("att-x", "arrival"),
            serde_json::json!({ "nhs_number": "9434765919" }),
            400,
            "unknown field",
        ),
        (
            feed,
            "/api/v1/ed/XXXXX/att-x/arrival".to_owned(),
            at(1),
            404,
            "no site",
        ),
        (None, ed("att-x", "arrival"), at(1), 401, ""),
        (
            Some(other_trust.as_str()),
            ed("att-x", "arrival"),
            at(1),
            403,
            "feeds",
        ),
    ] {
        let (status, answer) = send(&platform, token, &path, body).await;
        assert_eq!(status, want, "{path}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(words) && (want == 401 || error.len() > 20),
            "{path}: a sentence saying `{words}`: {answer}"
        );
    }
}

/// PUTs `body` to the urgent-care service at `path` with `token`.
async fn put(platform: &Platform, token: Option<&str>, path: &str, body: Value) -> (u16, Value) {
    let mut request = platform
        .http
        .put(format!("{}{path}", platform.urgent_care_url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .json(&body)
        .send()
        .await
        .expect("the urgent-care service answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Every message in `stream` under `subject`, as raw bytes.
async fn stored(platform: &Platform, stream: &str, subject: &str) -> Vec<Vec<u8>> {
    use futures::StreamExt as _;
    let js = platform.jetstream().await;
    let stream = js.get_stream(stream).await.expect("the stream");
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: subject.to_owned(),
            ..Default::default()
        })
        .await
        .expect("a consumer");
    let pending = consumer.clone().info().await.expect("info").num_pending;
    let mut out = Vec::new();
    if pending == 0 {
        return out;
    }
    let mut messages = consumer
        .fetch()
        .max_messages(pending as usize)
        .messages()
        .await
        .expect("messages");
    while let Some(message) = messages.next().await {
        out.push(message.expect("a message").payload.to_vec());
    }
    out
}

/// The ambulance service's feed sets the service's own escalation level:
/// refused with a reason when off its scale or from a client not granted
/// the service, audited, stored as an event on its stream, folded into the
/// live state and shown among the wall's system figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ambulance_services_feed_sets_its_escalation_level_for_the_wall() {
    let platform = Platform::start().await;
    let mut live = pf_integration_tests::ControlRoomClient::connect(&platform, None).await;
    live.next_of(&["snapshot"]).await;
    let feed = pf_access::Principal::machine("emas-feed", "EMAS CAD feed", None).with_grant(
        pf_access::Grant::parse(pf_access::Role::BedPublisher, &["RX9"]).expect("a grant"),
    );
    let feed = platform.token_for(&feed);
    let path = "/api/v1/ambulance-service/RX9/escalation";

    // Refusals, each with a sentence.
    for (token, body, want) in [
        (
            Some(feed.as_str()),
            serde_json::json!({ "scale": "reap", "level": 7 }),
            422,
        ),
        (
            Some(feed.as_str()),
            serde_json::json!({ "scale": "amber", "level": 2 }),
            422,
        ),
        (
            Some(feed.as_str()),
            serde_json::json!({ "scale": "opel", "level": 5 }),
            422,
        ),
        // A trust's feed is not the ambulance service's.
        (
            Some(platform.publisher_token.as_str()),
            serde_json::json!({ "scale": "reap", "level": 3 }),
            403,
        ),
        (
            None,
            serde_json::json!({ "scale": "reap", "level": 3 }),
            401,
        ),
    ] {
        let (status, answer) = put(&platform, token, path, body.clone()).await;
        assert_eq!(status, want, "{body}: {answer}");
        if want != 401 {
            assert!(
                answer["error"].as_str().is_some_and(|e| e.len() > 20),
                "{body}: {answer}"
            );
        }
    }

    let (status, answer) = put(
        &platform,
        Some(&feed),
        path,
        serde_json::json!({ "scale": "reap", "level": 4 }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["event_type"], "ambulance.escalation_set");
    let event_id = answer["event_id"].as_str().expect("an event id").to_owned();
    // The same level again (a resend after a lost answer) stores nothing.
    let (status, again) = put(
        &platform,
        Some(&feed),
        path,
        serde_json::json!({ "scale": "reap", "level": 4 }),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert!(again["event_id"].is_null(), "{again}");

    // One event on the urgent-care stream, by the feed.
    let events = stored(&platform, "PF_URGENT_CARE", "pf.urgent-care.escalation.RX9").await;
    assert_eq!(events.len(), 1);
    let envelope = pf_proto::v1::EventEnvelope::decode_checked(&events[0]).expect("an envelope");
    assert_eq!(envelope.event_id, event_id);
    assert_eq!(envelope.entity_id, "ambulance-service/RX9");
    assert_eq!(
        envelope.actor.as_ref().map(|a| a.id.as_str()),
        Some("emas-feed")
    );
    let Some(pf_proto::v1::event_envelope::Payload::AmbulanceEscalationSet(set)) = envelope.payload
    else {
        panic!("not an escalation level");
    };
    let level = set.escalation.expect("the level");
    assert_eq!((level.service.as_str(), level.level), ("RX9", 4));

    // Audited: the change, and the refusals.
    let audit = stored(&platform, "PF_AUDIT", "pf.audit.>").await;
    let mentions = |what: &str| {
        audit
            .iter()
            .filter(|r| String::from_utf8_lossy(r).contains(what))
            .count()
    };
    assert!(
        mentions("ambulance-service/RX9") >= 2,
        "the change and refusals audited"
    );
    assert!(
        mentions(&event_id) >= 1,
        "the accepted change names its event"
    );

    // Folded, and on the wall among the system's figures.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, live.next_of(&["snapshot", "delta"]))
            .await
            .unwrap_or_else(|_| panic!("the level never reached the wall's websocket"));
        if message["system"]["ambulance_level"] == "REAP 4" {
            assert_eq!(message["system"]["ambulance_escalation"]["level"], 4);
            break;
        }
    }
    let mut state = LiveState::connect(
        &platform.redis.url(),
        Keys::default(),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let read = state
        .urgent_care(pf_live_state::discharge_counts::uk_date(
            time::OffsetDateTime::now_utc(),
        ))
        .await
        .unwrap();
    assert_eq!(read.escalations["RX9"].level, 4);
    assert_eq!(read.escalations["RX9"].scale, "reap");
}
