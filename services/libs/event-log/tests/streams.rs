//! The platform's streams against a real `nats-server -js`.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use pf_event_log::streams::{self, ALERTS, BEDS, DEAD_LETTERS, Durability};
use pf_test_support::NatsServer;

async fn message_count(context: &jetstream::Context, name: &str) -> u64 {
    let mut stream = context.get_stream(name).await.unwrap();
    stream.info().await.unwrap().state.messages
}

#[tokio::test]
async fn alerts_expire_while_events_are_kept_for_replay() {
    let server = NatsServer::start();
    let context = jetstream::new(async_nats::connect(server.url()).await.unwrap());
    // An alerts stream made by an older version, which kept alerts forever.
    context
        .create_stream(stream::Config {
            name: ALERTS.name.to_owned(),
            subjects: vec!["pf.alerts.>".to_owned()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .unwrap();

    let durability = Durability {
        alerts_kept: Duration::from_secs(1),
        ..Durability::default()
    };
    streams::ensure(&context, durability).await.unwrap();
    streams::ensure(&context, durability).await.unwrap();
    let alerts = context
        .get_stream(ALERTS.name)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .config
        .max_age;
    assert_eq!(alerts, Duration::from_secs(1), "brought in line");

    for subject in [
        streams::alert_subject("opel_level_changed"),
        streams::bed_subject("RWES1", "W1", "B1"),
    ] {
        context
            .publish(subject, "{}".into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    assert_eq!(message_count(&context, ALERTS.name).await, 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while message_count(&context, ALERTS.name).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the alert outlived its retention"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        message_count(&context, BEDS.name).await,
        1,
        "bed events are never aged out: replaying them rebuilds the live state"
    );
}

#[tokio::test]
async fn dead_letters_which_may_hold_patient_identifiers_expire_after_their_retention() {
    let server = NatsServer::start();
    let context = jetstream::new(async_nats::connect(server.url()).await.unwrap());
    // Made by an older version, which kept refused messages forever.
    context
        .create_stream(stream::Config {
            name: DEAD_LETTERS.name.to_owned(),
            subjects: vec!["pf.deadletter.>".to_owned()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .unwrap();
    let durability = Durability {
        dead_letters_kept: Duration::from_secs(1),
        ..Durability::default()
    };
    streams::ensure(&context, durability).await.unwrap();
    context
        .publish("pf.deadletter.adt", "PID|||9990000018^^^NHS^NH".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while message_count(&context, DEAD_LETTERS.name).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a refused message outlived its retention"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        Durability::default().dead_letters_kept,
        Duration::from_secs(14 * 24 * 60 * 60),
        "14 days unless configured"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_starting_at_the_same_moment_all_get_the_streams() {
    // Every service ensures the streams at start-up; on a fresh server they
    // race to create them.
    for round in 0..20 {
        let server = NatsServer::start();
        let mut starting = Vec::new();
        for _ in 0..6 {
            let url = server.url();
            starting.push(tokio::spawn(async move {
                let context = jetstream::new(async_nats::connect(url).await.unwrap());
                streams::ensure(&context, Durability::default()).await
            }));
        }
        for service in starting {
            if let Err(err) = service.await.unwrap() {
                panic!("round {round}: {err}");
            }
        }
    }
}
