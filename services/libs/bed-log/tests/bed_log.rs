//! [`BedLog`] against a real `nats-server -js`: what a non-HTTP producer
//! (a hospital feed) sees.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use async_nats::jetstream;
use pf_bed_log::{BedChange, BedChangeError, BedLog, BedLogError, BedRecord};
use pf_event_log::streams::{self, Durability};
use pf_hospital_model::catalogue::CatalogueBed;
use pf_hospital_model::{BedAddress, BedKind, BedState};
use pf_proto::v1::Actor;
use pf_test_support::NatsServer;
use time::macros::datetime;

fn bed() -> CatalogueBed {
    CatalogueBed {
        address: BedAddress::parse("RWEAA", "WD15", "B01").unwrap(),
        kind: BedKind::GeneralAcute,
        escalation: false,
    }
}

fn feed() -> Actor {
    Actor {
        id: "adt-feed".into(),
        ..Actor::default()
    }
}

#[tokio::test]
async fn a_change_is_stored_and_read_back_with_when_it_happened() {
    let server = NatsServer::start();
    let context = jetstream::new(async_nats::connect(server.url()).await.unwrap());
    streams::ensure(&context, Durability::default())
        .await
        .unwrap();
    let log = BedLog::new(context);
    let bed = bed();

    assert_eq!(
        log.current(&bed).await.unwrap(),
        (BedRecord::NEVER_OPENED, 0)
    );
    let opened = log
        .change(
            &bed,
            BedChange::Open {
                reason: "new bay".into(),
            },
            feed(),
            None,
            "adt-feed",
        )
        .await
        .unwrap();
    assert_eq!(opened.entity_version, 1);
    assert_eq!(opened.event_type, "bed.opened");
    assert_eq!(opened.state, Some(BedState::Available));

    let admitted_at = datetime!(2026-11-30 09:15:00 UTC);
    let occupied = log
        .change(
            &bed,
            BedChange::SetState {
                state: BedState::Occupied,
                reason: "admitted".into(),
            },
            feed(),
            Some(admitted_at),
            "adt-feed",
        )
        .await
        .unwrap();
    assert_eq!(occupied.entity_version, 2);
    assert!(occupied.stream_sequence > opened.stream_sequence);

    let (record, sequence) = log.current(&bed).await.unwrap();
    assert_eq!(
        record,
        BedRecord {
            open: true,
            state: Some(BedState::Occupied),
            version: 2,
            occurred_at: Some(admitted_at),
        }
    );
    assert_eq!(sequence, occupied.stream_sequence);

    let refused = log
        .change(
            &bed,
            BedChange::Withdraw {
                reason: String::new(),
            },
            feed(),
            None,
            "adt-feed",
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(BedLogError::Refused(
                BedChangeError::OccupiedCannotBeWithdrawn(_)
            ))
        ),
        "{refused:?}"
    );
    assert_eq!(
        log.current(&bed).await.unwrap(),
        (record, sequence),
        "a refused change stores nothing"
    );
}
