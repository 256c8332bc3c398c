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

    // The websocket: a fresh snapshot once the feed has re-read the figures.
    let deadline = Instant::now() + Duration::from_secs(15);
    let snapshot = loop {
        let message = live.next_of(&["snapshot"]).await;
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
