//! ED attendances and ambulance arrivals through the one fold against a
//! real redis-server: a burst of events, applied once, gives the figures
//! the wall and pressure show.

use std::time::Duration;

use pf_live_state::urgent_care::{self, Departure, SYSTEM};
use pf_live_state::{
    AmbulanceUpdate, Applied, Change, EdAttendanceUpdate, Keys, LiveState, Update,
};
use pf_test_support::RedisServer;

/// 2026-11-30 12:00 UTC (midday in the UK).
const NOON: i64 = 1_796_040_000_000;
const MIN: i64 = 60_000;

fn ed(
    id: &str,
    version: u64,
    arrived_mins_ago: i64,
    dta: Option<i64>,
    departed: Option<Departure>,
) -> Update {
    Update::Ed(Box::new(EdAttendanceUpdate {
        event_id: format!("ed-{id}-{version}"),
        event_type: "ed.test".into(),
        entity_version: version,
        site: "RWEAA".into(),
        attendance: id.into(),
        arrived_at_ms: NOON - arrived_mins_ago * MIN,
        decided_to_admit_at_ms: dta.map(|m| NOON - m * MIN),
        departed: departed.map(|d| (NOON, d)),
        occurred_at_ms: NOON,
    }))
}

fn ambulance(id: &str, version: u64, arrived_mins_ago: i64, handover_after: Option<i64>) -> Update {
    let arrived = NOON - arrived_mins_ago * MIN;
    Update::Ambulance(Box::new(AmbulanceUpdate {
        event_id: format!("amb-{id}-{version}"),
        event_type: "ambulance.test".into(),
        entity_version: version,
        site: "RWEAA".into(),
        arrival: id.into(),
        arrived_at_ms: arrived,
        handed_over_at_ms: handover_after.map(|m| arrived + m * MIN),
        cleared_at_ms: None,
        occurred_at_ms: NOON,
    }))
}

#[tokio::test]
async fn a_burst_of_ed_and_ambulance_events_gives_the_live_figures() {
    let redis = RedisServer::start();
    let mut live = LiveState::connect(&redis.url(), Keys::default(), Duration::from_secs(5))
        .await
        .expect("redis");
    let updates = vec![
        // In the department: 2 h, 5 h (decision to admit), 13 h (DTA).
        ed("a1", 1, 120, None, None),
        ed("a2", 1, 300, None, None),
        ed("a2", 2, 300, Some(60), None),
        ed("a3", 1, 780, Some(200), None),
        // Arrived and left: not in the department any more.
        ed("a4", 1, 600, None, None),
        ed("a4", 2, 600, Some(100), Some(Departure::Admitted)),
        // Vehicles: one waiting 70 minutes, one 20; two handed over today
        // after 45 and 10 minutes.
        ambulance("v1", 1, 70, None),
        ambulance("v2", 1, 20, None),
        ambulance("v3", 1, 120, None),
        ambulance("v3", 2, 120, Some(45)),
        ambulance("v4", 1, 30, Some(10)),
    ];
    let applied = live.apply_through(&updates, None).await.expect("applied");
    assert!(applied.iter().all(|a| matches!(a, Applied::Changed(_))));
    // The same burst again (a redelivery) changes nothing.
    let before = live.digest().await.expect("digest");
    let again = live.apply_through(&updates, None).await.expect("applied");
    assert!(again.iter().all(|a| *a == Applied::Stale));
    assert_eq!(live.digest().await.expect("digest"), before);

    let today = time::macros::date!(2026 - 11 - 30);
    let state = live.urgent_care(today).await.expect("read");
    let figures = urgent_care::figures(&state, NOON);
    let site = &figures["RWEAA"];
    assert_eq!(site.in_department, 3);
    assert_eq!((site.over_4h, site.over_12h), (2, 1));
    assert_eq!(site.waiting_for_bed, 2);
    assert_eq!(site.longest_wait_mins, 780);
    assert_eq!(site.vehicles_waiting, 2);
    assert_eq!(site.handovers, 2);
    // Over 30: v1 (waiting 70) and v3 (45); over 60: v1.
    assert_eq!((site.handovers_over_30, site.handovers_over_60), (2, 1));
    // Lost beyond 15 minutes: v1 55 + v2 5 + v3 30 = 90 minutes.
    assert_eq!(site.hours_lost, 1.5);
    assert_eq!(figures[SYSTEM].in_department, 3);

    // The count feed says which site changed and carries no record.
    let changes = live.changes_after(0, 100, None).await.expect("changes");
    assert_eq!(changes.len(), updates.len());
    assert!(changes.iter().all(|c| matches!(
        c,
        Change::UrgentCare { site, .. } if site == "RWEAA"
    )));
}
