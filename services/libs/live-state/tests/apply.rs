//! The live state against a real redis-server: what applying an event
//! writes, that it is applied once, and what is no longer written.

use std::time::Duration;

use pf_hospital_model::{BedKind, BedState};
use pf_live_state::{
    Applied, BedUpdate, CareHomeUpdate, Change, CounterField, DischargeUpdate, Keys, LiveState,
    Update,
};
use pf_test_support::RedisServer;

async fn live(redis: &RedisServer) -> LiveState {
    LiveState::connect(&redis.url(), Keys::default(), Duration::from_secs(5))
        .await
        .expect("redis")
}

fn bed(version: u64, state: Option<BedState>) -> BedUpdate {
    BedUpdate {
        event_id: format!("event-{version}"),
        event_type: "bed.state_changed".into(),
        entity_version: version,
        site: "RWEAA".into(),
        ward: "WD15".into(),
        bed: "B01".into(),
        open: state.is_some(),
        state,
        kind: BedKind::GeneralAcute,
        escalation: false,
        reason: String::new(),
        // 2026-11-30 09:00 UTC, and a minute per version.
        occurred_at_ms: 1_764_493_200_000 + i64::try_from(version).expect("small") * 60_000,
    }
}

fn field(state: BedState) -> CounterField {
    CounterField::new(BedKind::GeneralAcute, state, false)
}

/// A day of bed events on 2 sites: beds opened, moved through their
/// states several times within one batch, withdrawn and reopened, with
/// duplicates and late older events mixed in, over several history buckets.
fn busy_day() -> Vec<BedUpdate> {
    let states = [
        Some(BedState::Available),
        Some(BedState::Occupied),
        Some(BedState::AwaitingClean),
        None,
    ];
    let mut versions = std::collections::HashMap::new();
    let mut events = Vec::new();
    let mut seed: u64 = 7;
    for i in 0..600_i64 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let pick = (seed >> 33) as usize;
        let site = if pick.is_multiple_of(2) {
            "RWEAA"
        } else {
            "RWE01"
        };
        let ward = format!("W{}", pick % 3);
        let bed_code = format!("B{}", (pick / 7) % 9);
        let version = versions
            .entry((site, ward.clone(), bed_code.clone()))
            .and_modify(|v| *v += 1)
            .or_insert(1_u64);
        let mut event = BedUpdate {
            event_id: format!("event-{i}"),
            event_type: "bed.state_changed".into(),
            entity_version: *version,
            site: site.into(),
            ward,
            bed: bed_code,
            open: false,
            state: states[(pick / 5) % 4],
            kind: if pick.is_multiple_of(11) {
                BedKind::AdultCriticalCare
            } else {
                BedKind::GeneralAcute
            },
            escalation: pick.is_multiple_of(13),
            reason: String::new(),
            // 20 s apart: about 15 events per 5-minute history bucket.
            occurred_at_ms: 1_764_493_200_000 + i * 20_000,
        };
        event.open = event.state.is_some();
        // Now and then the same event again, or one older than the bed's last.
        if pick.is_multiple_of(17) {
            events.push(event.clone());
        }
        if pick.is_multiple_of(19) && *version > 2 {
            let mut late = event.clone();
            late.entity_version = *version - 2;
            events.push(late);
        }
        events.push(event);
    }
    events
}

#[tokio::test]
async fn a_batch_leaves_exactly_what_applying_the_events_one_by_one_leaves() {
    let events = busy_day();
    let (one_by_one_redis, batch_redis) = (RedisServer::start(), RedisServer::start());
    let mut one_by_one = live(&one_by_one_redis).await;
    let mut batched = live(&batch_redis).await;
    let mut expected = Vec::new();
    for event in &events {
        expected.extend(
            one_by_one
                .apply_beds(std::slice::from_ref(event))
                .await
                .expect("applied"),
        );
    }
    // In batches of 250, as the projection takes them.
    let mut outcomes = Vec::new();
    for chunk in events.chunks(250) {
        outcomes.extend(batched.apply_beds(chunk).await.expect("applied"));
    }
    assert_eq!(
        outcomes, expected,
        "the same events applied and the same skipped as stale"
    );
    assert!(expected.contains(&Applied::Stale));
    assert_eq!(
        batched.digest().await.expect("digest"),
        one_by_one.digest().await.expect("digest"),
        "every counter, bed and index the same"
    );
    assert_eq!(
        batched.version().await.expect("version"),
        one_by_one.version().await.expect("version")
    );
    assert_eq!(
        batched
            .changes_after(0, 10_000, None)
            .await
            .expect("changes"),
        one_by_one
            .changes_after(0, 10_000, None)
            .await
            .expect("changes"),
        "the same change log, version for version"
    );
    let (a, b) = (
        batched.whole_trend_history().await.expect("history"),
        one_by_one.whole_trend_history().await.expect("history"),
    );
    assert!(
        a.scopes["system"].len() > 10,
        "the day spans many history buckets"
    );
    assert_eq!(a, b, "the same occupancy history");
}

#[tokio::test]
async fn a_bed_moves_between_counters_once_and_an_older_event_changes_nothing() {
    let redis = RedisServer::start();
    let mut live = live(&redis).await;
    let applied = live
        .apply_beds(&[
            bed(1, Some(BedState::Available)),
            bed(2, Some(BedState::Occupied)),
        ])
        .await
        .expect("applied");
    assert_eq!(applied, vec![Applied::Changed(1), Applied::Changed(2)]);
    let before = live.digest().await.expect("digest");
    // A duplicate and an older event arriving late: nothing changes.
    let again = live
        .apply_beds(&[bed(2, Some(BedState::Occupied)), bed(1, None)])
        .await
        .expect("applied");
    assert_eq!(again, vec![Applied::Stale, Applied::Stale]);
    assert_eq!(live.digest().await.expect("digest"), before);
    assert_eq!(live.version().await.expect("version"), 2);

    let snapshot = live.snapshot().await.expect("snapshot");
    let ward = &snapshot.wards[&("RWEAA".to_owned(), "WD15".to_owned())];
    assert_eq!(ward.get(&field(BedState::Occupied)), Some(&1));
    assert_eq!(
        ward.get(&field(BedState::Available)).copied().unwrap_or(0),
        0
    );
    let moves: Vec<_> = live
        .changes_after(0, 10, None)
        .await
        .expect("changes")
        .into_iter()
        .map(|change| match change {
            Change::Bed { from, to, .. } => (from, to),
            other => panic!("a bed change, not {other:?}"),
        })
        .collect();
    assert_eq!(
        moves,
        vec![
            (None, Some(field(BedState::Available))),
            (
                Some(field(BedState::Available)),
                Some(field(BedState::Occupied))
            ),
        ]
    );
    // The history's newest figures are the counters'.
    let history = live.whole_trend_history().await.expect("history");
    let newest = history.scopes["system"].last().expect("a point");
    assert_eq!((newest.occupied, newest.usable), (1, 1));

    // Withdrawn: the bed leaves its counter and the occupancy.
    live.apply_beds(&[bed(3, None)]).await.expect("applied");
    let snapshot = live.snapshot().await.expect("snapshot");
    let ward = &snapshot.wards[&("RWEAA".to_owned(), "WD15".to_owned())];
    assert!(ward.values().all(|beds| *beds == 0), "{ward:?}");
    let history = live.whole_trend_history().await.expect("history");
    let newest = history.scopes["RWEAA"].last().expect("a point");
    assert_eq!((newest.occupied, newest.usable), (0, 0));
}

fn care_home() -> CareHomeUpdate {
    let record = serde_json::from_value(serde_json::json!({
        "registration": {
            "cqc_location_id": "1-000000001",
            "name": "Test House (demo)",
            "address": "1 Test Road, Leicester",
            "postcode": "LE2 1AA",
            "latitude": 52.6,
            "longitude": -1.1,
            "locality": "leicester_city",
            "registered_beds": 10,
            "categories": ["residential"]
        },
        "vacancies": [{ "category": "residential", "vacant": 2, "unavailable": 0, "sex": "either" }],
        "closure": null,
        "accepting_hospital_discharges": true,
        "note": "",
        "confirmed": null,
        "holds": []
    }))
    .expect("a care-home record");
    CareHomeUpdate {
        event_id: "home-1".into(),
        event_type: "care_home.vacancies_reported".into(),
        entity_version: 1,
        record,
        occurred_at_ms: 1_764_493_200_000,
    }
}

fn discharge() -> DischargeUpdate {
    use pf_discharge_model::{DelayReason, DischargeRecord, DischargeStatus, Funding, NhsNumber};
    let record = DischargeRecord {
        discharge_id: "d1".to_owned(),
        nhs_number: Some(NhsNumber::parse("9434765919").expect("valid")),
        sex: pf_care_home_model::SexAccepted::Female,
        trust: "RWE".to_owned(),
        site: "RWEAA".to_owned(),
        ward: "WD15".to_owned(),
        discharge_ready_date: time::macros::date!(2026 - 11 - 20),
        pathway: pf_discharge_model::Pathway::P1,
        care_needed: None,
        search_postcode: "LE1 5WW".to_owned(),
        place: None,
        funding: Funding::NotYetKnown,
        preferred_home: None,
        delay_reason: DelayReason::NotYetKnown,
        status: DischargeStatus::Ready,
        needs: "Walks with a frame".to_owned(),
        destination: None,
        destination_home: None,
        discharged_at: None,
        cancel_reason: String::new(),
        managed_by: "RWE".to_owned(),
        sealed: None,
    };
    DischargeUpdate {
        event_id: "discharge-1".into(),
        event_type: "discharge.patient_ready".into(),
        entity_version: 1,
        record,
        occurred_at_ms: 1_764_493_200_000,
    }
}

#[tokio::test]
async fn care_homes_and_discharges_write_no_totals_nobody_reads() {
    let redis = RedisServer::start();
    let mut live = live(&redis).await;
    let updates = [
        Update::CareHome(Box::new(care_home())),
        Update::Discharge(Box::new(discharge())),
    ];
    let applied = live.apply_through(&updates, None).await.expect("applied");
    assert_eq!(applied, vec![Applied::Changed(1), Applied::Changed(2)]);
    // Applied again: nothing changes.
    let before = live.digest().await.expect("digest");
    let again = live.apply_through(&updates, None).await.expect("applied");
    assert_eq!(again, vec![Applied::Stale, Applied::Stale]);
    assert_eq!(live.digest().await.expect("digest"), before);
    // What is read is there: the home's record, the discharge's record
    // (patient prefix) and its summary, one change each, one notice.
    assert!(live.care_home("1-000000001").await.expect("read").is_some());
    assert!(live.discharge("d1").await.expect("read").is_some());
    let snapshot = live.snapshot().await.expect("snapshot");
    assert_eq!(snapshot.care_homes.len(), 1);
    assert_eq!(snapshot.discharges["d1"].site, "RWEAA");
    let notices = live.patient_notices_after(0, 10).await.expect("notices");
    assert_eq!(notices.len(), 1);
    let near = live.care_homes_near(-1.1, 52.6, 1.0).await.expect("near");
    assert_eq!(near.len(), 1);
    // No totals: nothing read them.
    let names: Vec<&String> = before.keys().collect();
    assert!(
        names.iter().all(|name| !name.ends_with("totals")),
        "no totals are written: {names:?}"
    );
}

/// Scripts live in `.lua` files beside the crate's sources, not in Rust
/// strings.
#[test]
fn no_rust_file_holds_lua() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut holding = Vec::new();
    for entry in std::fs::read_dir(&src).expect("src") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("readable");
            if text.contains(concat!("redis", ".call")) {
                holding.push(path.display().to_string());
            }
        }
    }
    assert!(holding.is_empty(), "Lua in Rust strings: {holding:?}");
}

/// Two writers at once (a projection and one that has not yet seen that it
/// lost its lease, or a rebuild beside it): each batch is applied whole or
/// decided again, so the counters still add up to every bed's newest state,
/// exactly as one writer applying everything leaves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_at_once_leave_what_one_writer_leaves() {
    let events = busy_day();
    let (together_redis, alone_redis) = (RedisServer::start(), RedisServer::start());
    let alone = live(&alone_redis).await;
    let (first, second) = (live(&together_redis).await, live(&together_redis).await);
    // Both writers get every event, in batches of different sizes, so they
    // race on the same beds throughout.
    let run = |mut writer: LiveState, size: usize| {
        let events = events.clone();
        tokio::spawn(async move {
            for chunk in events.chunks(size) {
                writer.apply_beds(chunk).await.expect("applied");
            }
        })
    };
    let (a, b) = tokio::join!(run(first, 7), run(second, 11));
    a.expect("first writer");
    b.expect("second writer");
    let mut alone = alone;
    for chunk in events.chunks(250) {
        alone.apply_beds(chunk).await.expect("applied");
    }
    let mut together = live(&together_redis).await;
    assert_eq!(
        pf_live_state::differences(
            &alone.digest().await.expect("digest"),
            &together.digest().await.expect("digest")
        ),
        Vec::<String>::new(),
        "every counter, bed and index as one writer leaves them"
    );
}

/// The writer remembers what it wrote and reads only entities it does not
/// know, but never past a wipe: a wipe raises the generation before it
/// deletes anything, so a batch applied while the entities are gone (and
/// the change version not yet moved) is decided against what is there.
#[tokio::test]
async fn a_writer_that_remembers_its_beds_reads_them_again_once_a_wipe_has_begun() {
    let redis = RedisServer::start();
    let mut live = live(&redis).await;
    live.apply_beds(&[bed(1, Some(BedState::Occupied))])
        .await
        .expect("applied");
    // A wipe under way elsewhere: the generation raised, the state deleted,
    // the reset (which moves the change version) not yet announced.
    let client = redis::Client::open(redis.url()).expect("client");
    let mut other = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let _: u64 = redis::cmd("INCR")
        .arg("pf:generation")
        .query_async(&mut other)
        .await
        .expect("incr");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("pf:*")
        .query_async(&mut other)
        .await
        .expect("keys");
    for key in keys
        .iter()
        .filter(|k| !k.ends_with(":version") && !k.ends_with(":generation"))
    {
        let _: () = redis::cmd("DEL")
            .arg(key)
            .query_async(&mut other)
            .await
            .expect("del");
    }
    live.apply_beds(&[bed(2, Some(BedState::Available))])
        .await
        .expect("applied");
    let snapshot = live.snapshot().await.expect("snapshot");
    let ward = &snapshot.wards[&("RWEAA".to_owned(), "WD15".to_owned())];
    assert_eq!(ward.get(&field(BedState::Available)), Some(&1));
    assert_eq!(
        ward.get(&field(BedState::Occupied)).copied().unwrap_or(0),
        0,
        "the bed's occupied contribution was deleted with the state, not taken off again: {ward:?}"
    );
}

/// The projection takes batches that queued while Redis was busy as one:
/// two batches appended leave what the two applied one after the other
/// leave, and the later batch's watermark.
#[tokio::test]
async fn batches_appended_leave_what_they_leave_one_after_the_other() {
    let events: Vec<Update> = busy_day().into_iter().map(Update::Bed).collect();
    let (first, second) = events.split_at(events.len() / 2);
    let (apart_redis, together_redis) = (RedisServer::start(), RedisServer::start());
    let mut apart = live(&apart_redis).await;
    let mut together = live(&together_redis).await;
    let mut expected = apart
        .apply_through(first, Some(("PF_BEDS", 300)))
        .await
        .expect("applied");
    expected.extend(
        apart
            .apply_through(second, Some(("PF_BEDS", 600)))
            .await
            .expect("applied"),
    );
    let mut batch = together
        .prepare(first, Some(("PF_BEDS", 300)))
        .expect("folded")
        .expect("a batch");
    batch.append(
        together
            .prepare(second, Some(("PF_BEDS", 600)))
            .expect("folded")
            .expect("a batch"),
    );
    assert_eq!(batch.events(), events.len());
    let outcomes = together.apply_prepared(&batch).await.expect("applied");
    assert_eq!(outcomes, expected);
    assert_eq!(
        together.digest().await.expect("digest"),
        apart.digest().await.expect("digest")
    );
    assert_eq!(
        together
            .applied_through("PF_BEDS")
            .await
            .expect("watermark"),
        Some(600)
    );
}
