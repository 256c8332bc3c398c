//! The wall at England's size, end to end: every bed and care home of the
//! synthetic England (`pf_loadtest::england`: 42 ICSs, 1,500 sites, ~100,000
//! beds, 15,000 homes) published into JetStream and projected into one
//! Redis, as a national deployment holds them, and the platform started for
//! one ICS (its region data set, `PF_REGION_DIR`'s files). The snapshot a
//! wall receives lists that ICS's sites and localities only and counts its
//! beds and homes only, and stays small; a bed change elsewhere does not
//! reach the wall's deltas, one in the ICS does. Frame sizes are printed
//! (the README's figures come from `pf-england wall-sizes`, the same
//! model without the servers).

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::future::IntoFuture;
use std::time::Duration;

use async_nats::jetstream::context::PublishAckFuture;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use pf_integration_tests::{ControlRoomClient, Platform, site};
use pf_loadtest::england::{DEFAULT_SEED, England, EnglandEvents};
use serde_json::Value;

/// The ICS the platform serves (34 sites, 395 care homes, 3 localities).
const ICS: &str = "QB3";

/// Publishes `n` events, up to 1,024 acks outstanding.
async fn publish(js: &async_nats::jetstream::Context, events: &mut EnglandEvents, n: usize) {
    let mut pending: FuturesUnordered<<PublishAckFuture as IntoFuture>::IntoFuture> =
        FuturesUnordered::new();
    for _ in 0..n {
        if pending.len() >= 1024 {
            pending.next().await.unwrap().unwrap();
        }
        let planned = events.next_event();
        let envelope = planned.event.seal(time::OffsetDateTime::now_utc());
        pending.push(
            js.publish(planned.subject, envelope.to_bytes().into())
                .await
                .unwrap()
                .into_future(),
        );
    }
    while let Some(ack) = pending.next().await {
        ack.unwrap();
    }
}

/// Waits (at most 15 minutes: a debug build projects slowly) until the
/// projection has applied everything in the beds and care-homes streams.
async fn wait_until_projected(platform: &Platform) {
    for (stream, consumer) in [
        (pf_event_log::streams::BEDS.name, "projection"),
        (
            pf_event_log::streams::CARE_HOMES.name,
            "projection-PF_CARE_HOMES",
        ),
    ] {
        platform
            .wait_until_consumed(stream, consumer, Duration::from_secs(900))
            .await;
    }
}

fn codes(frame: &Value) -> Vec<String> {
    frame["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wall_of_one_ics_gets_its_own_figures_with_all_of_england_in_the_live_state() {
    let _turn = crate::one_at_a_time().await;
    let england = England::generate(DEFAULT_SEED);
    let ics = england.ics(ICS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    england.write_region(ICS, dir.path()).unwrap();
    let platform = Platform::start_in_region(pf_region::RegionFiles::dir(dir.path())).await;

    // Every bed of England opened, every home registered (no reports).
    let beds: usize = england
        .sites()
        .flat_map(|(_, s)| &s.wards)
        .map(|w| usize::from(w.beds).max(1))
        .sum();
    let homes = england.homes().count();
    let mut events = EnglandEvents::new(&england, 0);
    let js = platform.jetstream().await;
    publish(&js, &mut events, beds).await;
    let mut homes_only = EnglandEvents::new(&england, 1);
    publish(&js, &mut homes_only, homes).await;
    wait_until_projected(&platform).await;

    let mut client = ControlRoomClient::connect(&platform, None).await;
    let snapshot = client.next().await;
    assert_eq!(snapshot["type"], "snapshot");
    let snapshot_bytes = serde_json::to_string(&snapshot).unwrap().len();
    println!("wall of {ICS}, all of England in Redis: snapshot {snapshot_bytes} bytes");
    let own: Vec<String> = ics.sites().map(|s| s.code.to_string()).collect();
    let mut listed = codes(&snapshot);
    listed.sort();
    let mut wanted = own.clone();
    wanted.sort();
    assert_eq!(listed, wanted, "the ICS's sites, and no other");
    let own_beds: u64 = ics
        .sites()
        .flat_map(|s| &s.wards)
        .map(|w| u64::from(w.beds).max(1))
        .sum();
    assert_eq!(snapshot["system"]["total"].as_u64(), Some(own_beds));
    let localities: Vec<&str> = snapshot["care_homes"]["localities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["locality"].as_str().unwrap())
        .collect();
    let region_localities: Vec<&str> = ics
        .region
        .localities
        .iter()
        .map(|l| l.code.as_str())
        .collect();
    assert_eq!(localities, region_localities);
    assert_eq!(
        snapshot["care_homes"]["system"]["homes"].as_u64(),
        Some(ics.homes.len() as u64)
    );
    // 1.5 KB or so a site; England's 1,500 sites made it 2 MB.
    assert!(snapshot_bytes < 200_000, "{snapshot_bytes} bytes");

    // The next events: the first wards' beds move on (England's first
    // sites are another ICS's), then one of the ICS's own.
    let at = snapshot["version"].as_u64().unwrap();
    let elsewhere = england
        .sites()
        .find(|(i, _)| i.code() != ICS)
        .map(|(_, s)| s.code.to_string())
        .unwrap();
    publish(&js, &mut events, 1).await;
    let mut own_ward = pf_loadtest::beds::BedCycle::new(&own[0], "W1", 1);
    // Its first event opens B0001 (the England events used B0001 … too):
    // a bed opened twice is one change at most; the second moves it.
    let opened = own_ward.next_event();
    let moved = own_ward.next_event();
    for planned in [opened, moved] {
        let envelope = planned.event.seal(time::OffsetDateTime::now_utc());
        js.publish(planned.subject, envelope.to_bytes().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let mut largest_delta = 0;
    let mut version = at;
    loop {
        let delta = client.next().await;
        assert_eq!(delta["type"], "delta", "{delta}");
        assert_eq!(delta["from_version"].as_u64(), Some(version), "no gap");
        version = delta["version"].as_u64().unwrap();
        largest_delta = largest_delta.max(serde_json::to_string(&delta).unwrap().len());
        assert!(site(&delta, &elsewhere).is_none(), "{delta}");
        if site(&delta, &own[0]).is_some() {
            break;
        }
    }
    println!("wall of {ICS}, all of England in Redis: largest delta {largest_delta} bytes");
    assert!(largest_delta < 20_000, "{largest_delta} bytes");
}
