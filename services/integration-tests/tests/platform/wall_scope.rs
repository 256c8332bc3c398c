//! The wall shows its own region only: in a live state shared with other
//! regions (a national deployment, all of England in one Redis), another
//! region's sites and care homes reach neither the snapshot a wall receives
//! nor its deltas nor its occupancy trends, while the region's own do.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use pf_care_home_model::{CareCategory, CareHomeRecord, CqcLocationId, LocalityCode, Registration};
use pf_event_log::EventPublisher;
use pf_event_log::streams::{bed_subject, care_home_subject};
use pf_integration_tests::{ControlRoomClient, Platform, site};
use pf_proto::NewEvent;
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{self, Actor, ActorKind, BedOpened, BedRef, BedStateChanged, Source};
use serde_json::Value;

/// Another ICS's site (not in the LLR catalogue) and a home in a locality
/// LLR does not have.
const ELSEWHERE_SITE: &str = "RZZAA";
const ELSEWHERE_HOME: &str = "1-900000001";
const ELSEWHERE_LOCALITY: &str = "qb3_north";

fn seal(organisation: &str, entity_id: String, payload: Payload) -> v1::EventEnvelope {
    seal_version(organisation, entity_id, 1, payload)
}

fn seal_version(
    organisation: &str,
    entity_id: String,
    entity_version: u64,
    payload: Payload,
) -> v1::EventEnvelope {
    NewEvent {
        source: Source {
            organisation: organisation.into(),
            service: "test".into(),
        },
        entity_id,
        entity_version,
        occurred_at: None,
        actor: Actor {
            id: "test".into(),
            organisation: organisation.into(),
            kind: ActorKind::Machine as i32,
        },
        payload,
    }
    .seal(time::OffsetDateTime::now_utc())
}

fn bed_opened(site: &str, ward: &str, bed: &str) -> v1::EventEnvelope {
    seal(
        site,
        format!("bed/{site}/{ward}/{bed}"),
        Payload::BedOpened(BedOpened {
            bed: Some(BedRef {
                site: site.into(),
                ward: ward.into(),
                bed: bed.into(),
            }),
            kind: v1::BedKind::GeneralAcute as i32,
            escalation: false,
            reason: "test".into(),
        }),
    )
}

fn bed_occupied(site: &str, ward: &str, bed: &str) -> v1::EventEnvelope {
    seal_version(
        site,
        format!("bed/{site}/{ward}/{bed}"),
        2,
        Payload::BedStateChanged(BedStateChanged {
            bed: Some(BedRef {
                site: site.into(),
                ward: ward.into(),
                bed: bed.into(),
            }),
            kind: v1::BedKind::GeneralAcute as i32,
            escalation: false,
            previous_state: v1::BedState::Available as i32,
            state: v1::BedState::Occupied as i32,
            reason: "test".into(),
        }),
    )
}

fn home_registered(cqc: &str, locality: &str, postcode: &str) -> v1::EventEnvelope {
    let record = CareHomeRecord::registered(Registration {
        cqc_location_id: CqcLocationId::parse(cqc).unwrap(),
        name: "Scope Test (demo)".into(),
        address: "1 Test Road".into(),
        postcode: postcode.into(),
        latitude: 52.6,
        longitude: -1.1,
        locality: LocalityCode::parse(locality).unwrap(),
        registered_beds: 30,
        categories: vec![CareCategory::Nursing],
        phone: None,
    });
    seal(
        cqc,
        format!("care-home/{cqc}"),
        Payload::CareHomeRegistered(v1::CareHomeRegistered {
            home: Some(record.to_proto()),
        }),
    )
}

fn localities(frame: &Value) -> Vec<String> {
    frame["care_homes"]["localities"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|l| l["locality"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_regions_sites_and_homes_reach_neither_snapshot_nor_deltas() {
    let platform = Platform::start().await;
    let mut client = ControlRoomClient::connect(&platform, None).await;
    let snapshot = client.next().await;
    assert_eq!(snapshot["type"], "snapshot");
    let homes_before = snapshot["care_homes"]["system"]["homes"].as_u64().unwrap();
    let total_before = snapshot["system"]["total"].as_u64().unwrap();

    // Another region's bed and home first, then the region's own.
    let publisher = EventPublisher::new(platform.jetstream().await);
    let events = [
        (
            bed_subject(ELSEWHERE_SITE, "W1", "B01"),
            bed_opened(ELSEWHERE_SITE, "W1", "B01"),
        ),
        (
            bed_subject(ELSEWHERE_SITE, "W1", "B01"),
            bed_occupied(ELSEWHERE_SITE, "W1", "B01"),
        ),
        (
            care_home_subject(ELSEWHERE_HOME),
            home_registered(ELSEWHERE_HOME, ELSEWHERE_LOCALITY, "BA1 1AA"),
        ),
        (
            bed_subject("RWEAA", "WD15", "B03"),
            bed_opened("RWEAA", "WD15", "B03"),
        ),
        (
            care_home_subject("1-000000077"),
            home_registered("1-000000077", "rutland", "LE15 6AB"),
        ),
    ];
    for (subject, event) in &events {
        publisher
            .publish(subject.clone(), event, None)
            .await
            .unwrap();
    }
    platform.wait_for_version(5).await;
    let last = platform.base_version + 5;

    // The deltas up to the last change: the region's site and homes only.
    let mut at = snapshot["version"].as_u64().unwrap();
    let (mut saw_site, mut saw_homes) = (false, false);
    while at < last {
        let delta = client.next().await;
        assert_eq!(delta["type"], "delta", "{delta}");
        assert_eq!(delta["from_version"].as_u64(), Some(at), "no gap");
        at = delta["version"].as_u64().unwrap();
        assert!(site(&delta, ELSEWHERE_SITE).is_none(), "{delta}");
        saw_site |= site(&delta, "RWEAA").is_some();
        if delta.get("care_homes").is_some() {
            assert!(
                !localities(&delta).contains(&ELSEWHERE_LOCALITY.to_owned()),
                "{delta}"
            );
            saw_homes |= delta["care_homes"]["system"]["homes"].as_u64() == Some(homes_before + 1);
        }
    }
    assert!(saw_site, "the region's bed change reached the wall");
    assert!(saw_homes, "the region's new home reached the wall");

    // A wall connecting now: the region's figures only.
    let mut fresh = ControlRoomClient::connect(&platform, None).await;
    let snapshot = fresh.next().await;
    assert_eq!(snapshot["type"], "snapshot");
    assert!(site(&snapshot, ELSEWHERE_SITE).is_none(), "{snapshot}");
    assert!(site(&snapshot, "RWEAA").is_some());
    assert_eq!(snapshot["system"]["total"].as_u64(), Some(total_before + 1));
    assert_eq!(
        snapshot["care_homes"]["system"]["homes"].as_u64(),
        Some(homes_before + 1)
    );
    assert_eq!(
        localities(&snapshot),
        ["leicester_city", "leicestershire", "rutland"]
    );

    // The occupancy trends: the region's sites, and the region's system
    // (the other region's bed is fully occupied, the region's empty).
    let trends = loop {
        let trends = client.next_of(&["trends"]).await;
        if trends["scopes"].get("RWEAA").is_some() {
            break trends;
        }
    };
    assert!(trends["scopes"].get(ELSEWHERE_SITE).is_none(), "{trends}");
    assert_eq!(trends["scopes"]["RWEAA"]["now_pct"], 0.0, "{trends}");
    assert_eq!(
        trends["scopes"]["system"]["now_pct"], trends["scopes"]["RWEAA"]["now_pct"],
        "{trends}"
    );
}
