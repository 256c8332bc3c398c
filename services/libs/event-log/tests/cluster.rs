//! Connecting to a NATS cluster with the whole server list, against three
//! real `nats-server` nodes.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use pf_event_log::NatsSettings;
use pf_test_support::NatsCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_connects_through_any_live_server_of_the_list() {
    let mut cluster = NatsCluster::start(3);
    let settings = NatsSettings::anonymous(cluster.url());
    let client = tokio::time::timeout(Duration::from_secs(20), settings.connect("cluster-test"))
        .await
        .expect("connected within 20 s")
        .expect("the server list is accepted");
    let context = jetstream::new(client);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let created = context
            .create_stream(stream::Config {
                name: "LIST".to_owned(),
                subjects: vec!["list.>".to_owned()],
                storage: stream::StorageType::File,
                num_replicas: 3,
                ..Default::default()
            })
            .await;
        match created {
            Ok(_) => break,
            Err(err) => {
                assert!(Instant::now() < deadline, "no R3 stream within 60 s: {err}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }

    // The first server of the list is dead: a service starting now
    // connects through the others and is acknowledged by the R3 stream.
    cluster.kill(0);
    let client = tokio::time::timeout(Duration::from_secs(20), settings.connect("cluster-test-2"))
        .await
        .expect("connected within 20 s with the first server dead")
        .expect("the server list is accepted");
    let context = jetstream::new(client);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let acked = match context.publish("list.a", "one".into()).await {
            Ok(ack) => ack.await.map(|ack| ack.sequence),
            Err(err) => Err(err),
        };
        match acked {
            Ok(sequence) => {
                assert!(sequence >= 1);
                break;
            }
            Err(err) => {
                assert!(
                    Instant::now() < deadline,
                    "not acknowledged within 60 s: {err}"
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}
